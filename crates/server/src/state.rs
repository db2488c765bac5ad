//! What the routes and socket handlers share: the Leptos options (for
//! rendering pages and serving files), the chat room, and the transport limits.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::Config;
use crate::chat::Room;

/// Shared by every route and socket handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where the built site lives and what its files are called.
    pub leptos_options: LeptosOptions,
    /// Who is online, and the id sequence of messages and joins/leaves.
    pub room: Room,
    /// Largest Engine.IO payload a client may send, in bytes.
    pub max_payload: u64,
}

impl AppState {
    /// A fresh state for a server configured by `config`.
    pub fn new(config: &Config) -> Self {
        let leptos_options = LeptosOptions::builder()
            .output_name(config.output_name.as_str())
            .site_root(config.site_root.as_str())
            .site_pkg_dir(config.site_pkg_dir.as_str())
            .site_addr(config.addr)
            .reload_port(config.reload_port)
            .build();
        Self {
            leptos_options,
            room: Room::default(),
            max_payload: config.max_payload,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
