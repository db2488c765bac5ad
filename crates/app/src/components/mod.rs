//! The page's parts. Each takes the [`Chat`](crate::chat::Chat) state as a
//! prop, renders from its signals, and calls its actions. Everything a user
//! typed is rendered as text nodes, never as HTML.

mod auth;
mod composer;
mod drawer;
mod messages;
mod pending;
mod side_panel;
mod status;
mod theme;

pub use auth::{Account, AuthForm, AuthStart};
pub use composer::Composer;
pub use drawer::{Drawer, OnlineToggle};
pub use messages::{MessageList, TypingIndicator};
pub use pending::PendingMessages;
pub use side_panel::SidePanel;
pub use status::ConnectionStatus;
pub use theme::{ThemeToggle, theme_script};

/// Puts the keyboard in `input` once it is on the page, so a keyboard user
/// can type at once.
fn focus_on_mount(input: leptos::prelude::NodeRef<leptos::html::Input>) {
    use leptos::prelude::*;
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            // Focus can only fail on a detached element; then there is
            // nothing to type into anyway.
            let _ = input.focus();
        }
    });
}

/// A line that mentions users, each name in a `<bdi>`: a right-to-left
/// name cannot reorder the words around it or the next name.
fn line_view(pieces: Vec<crate::room::Piece>) -> impl leptos::prelude::IntoView {
    use crate::room::Piece;
    use leptos::prelude::*;
    pieces
        .into_iter()
        .map(|piece| match piece {
            Piece::Name(name) => view! { <bdi class="name">{name}</bdi> }.into_any(),
            Piece::Text(text) => text.into_any(),
        })
        .collect_view()
}
