//! The page's parts. Each takes the [`Chat`](crate::chat::Chat) state as a
//! prop, renders from its signals, and calls its actions. Everything a user
//! typed is rendered as text nodes, never as HTML.

mod composer;
mod entry;
mod messages;
mod side_panel;
mod status;

pub use composer::Composer;
pub use entry::EntryForm;
pub use messages::{MessageList, TypingIndicator};
pub use side_panel::SidePanel;
pub use status::ConnectionStatus;

/// The inline style that gives a name its colour (see `style/main.css`).
fn hue_style(name: &str) -> String {
    format!("--hue: {}", crate::format::name_hue(name))
}
