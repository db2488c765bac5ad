//! The HTML shell and the app's one page: the login form until the user is
//! logged in, then the room. The server always renders the login form; the
//! room exists only in a browser that proved its login.

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};

use crate::chat::Chat;
use crate::components::{
    Account, AuthForm, Composer, ConnectionStatus, MessageList, SidePanel, TypingIndicator,
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
    let chat = Chat::new();
    // Effects run only in the browser: the server never opens a socket.
    Effect::new(move |_| chat.start());

    let logged_in = move || chat.account.with(Option::is_some);
    view! {
        <Title text="Chatroom"/>
        <header class="top">
            <h1>"Chatroom"</h1>
            <div class="status">
                <ConnectionStatus chat/>
                <Account chat/>
            </div>
        </header>
        <Show when=logged_in fallback=move || view! { <AuthForm chat/> }>
            <main id="room">
                <section class="stream">
                    <MessageList chat/>
                    <TypingIndicator chat/>
                    <Composer chat/>
                </section>
                <SidePanel chat/>
            </main>
        </Show>
    }
}
