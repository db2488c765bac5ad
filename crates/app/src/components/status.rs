//! The connection status in the header, while logged in: "online",
//! "connecting…", "reconnecting in 4 s", "offline". Logged out it is empty
//! (but stays on the page, so screen readers keep following the live
//! region).

use leptos::prelude::*;

use crate::chat::Chat;

/// Shows how the connection to the server is doing.
#[component]
pub fn ConnectionStatus(chat: Chat) -> impl IntoView {
    view! {
        <p id="connection" role="status" data-state=move || chat.connection_key()>
            {move || chat.connection_text()}
        </p>
    }
}
