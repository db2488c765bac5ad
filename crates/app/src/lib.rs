//! The Chatroom web app, in Leptos: rendered on the server, then hydrated in
//! the browser as WASM, where it talks to the server over Socket.IO.
//!
//! - [`app`]: the HTML shell and the one page, the chat.
//! - [`chat`]: the page's state ([`chat::Chat`], shared through context) and
//!   the actions the components call (enter, send, typing).
//! - [`room`]: the room as plain data, updated by server events.
//! - [`outbox`]: the messages sent and not yet stored, as plain data.
//! - [`components`]: the entry form, message stream, composer, side panel and
//!   connection status.
//! - [`format`]: name colours and times.
//! - `live` (browser only): the Socket.IO connection behind [`chat::Chat`].
//! - `keep` (browser only): the outbox and draft a tab keeps across reloads.

pub mod app;
pub mod chat;
pub mod components;
pub mod format;
#[cfg(feature = "hydrate")]
mod keep;
#[cfg(feature = "hydrate")]
mod live;
pub mod outbox;
pub mod room;

pub use app::{App, shell};
pub use chat::RoomStart;
pub use components::AuthStart;

/// The WASM entry point: hydrates the server-rendered page, then marks the
/// body `data-hydrated` (clicks before that would be lost; tests wait for it).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
        && let Err(error) = body.set_attribute("data-hydrated", "true")
    {
        leptos::logging::error!("could not mark the page hydrated: {error:?}");
    }
}
