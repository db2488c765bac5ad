//! The HTML shell and the app's one page: the login form until the user is
//! logged in, then the room. The server renders whichever the visitor's
//! login cookie calls for ([`RoomStart`]), the room with its recent history,
//! so a logged-in reload never shows the login form, even before the WASM
//! has loaded.

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};

use crate::chat::{Chat, RoomStart};
use crate::components::{
    Account, AuthForm, Composer, ConnectionStatus, Drawer, MessageList, OnlineToggle,
    PendingMessages, SidePanel, ThemeToggle, TypingIndicator, theme_script,
};

/// The document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // The remembered theme, before the first paint (no flash).
                <script nonce=leptos::nonce::use_nonce() inner_html=theme_script()></script>
                <AutoReload options=options.clone()/>
                // The stylesheet under its content-hashed name (cargo-leptos
                // `hash-files`), cached for ever: see the server's `site`.
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The app: one page, the chat.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Provided by the server per request; read back from the page when it
    // hydrates, so both start from the same room.
    let start = SharedValue::new(use_context::<RoomStart>).into_inner();
    let chat = Chat::new(start);
    Drawer::provide();
    // Effects run only in the browser: the server never opens a socket.
    Effect::new(move |_| chat.start());

    let logged_in = move || chat.account.with(Option::is_some);
    view! {
        <Title text="Chatroom"/>
        <header class="top">
            <h1>"Chatroom"</h1>
            <div class="status">
                <ConnectionStatus chat/>
                <OnlineToggle chat/>
                <ThemeToggle/>
                <Account chat/>
            </div>
        </header>
        <Show when=logged_in fallback=move || view! { <AuthForm chat/> }>
            <main id="room">
                <section class="stream">
                    <MessageList chat/>
                    <PendingMessages chat/>
                    <TypingIndicator chat/>
                    <Composer chat/>
                </section>
                <SidePanel chat/>
            </main>
        </Show>
    }
}
