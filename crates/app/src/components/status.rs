//! The connection status in the header: "online", "connecting…",
//! "reconnecting in 4 s".

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
