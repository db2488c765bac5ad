//! What the routes and socket handlers share: the Leptos options (for
//! rendering pages and serving files), the chat room, the store, and the
//! transport limits.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::Config;
use crate::chat::Room;
use crate::store::{Retention, Store, StoreError};

/// Shared by every route and socket handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where the built site lives and what its files are called.
    pub leptos_options: LeptosOptions,
    /// Who is online, under which name.
    pub room: Room,
    /// The conversation, kept.
    pub store: Store,
    /// How long the conversation is kept.
    pub retention: Retention,
    /// Largest Engine.IO payload a client may send, in bytes.
    pub max_payload: u64,
}

impl AppState {
    /// The state for a server configured by `config`: opens (and if need be
    /// creates and migrates) its store.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        let store = Store::open(config.database_url.as_deref(), &config.data_dir).await?;
        let leptos_options = LeptosOptions::builder()
            .output_name(config.output_name.as_str())
            .site_root(config.site_root.as_str())
            .site_pkg_dir(config.site_pkg_dir.as_str())
            .site_addr(config.addr)
            .reload_port(config.reload_port)
            .build();
        Ok(Self {
            leptos_options,
            room: Room::default(),
            store,
            retention: config.retention(),
            max_payload: config.max_payload,
        })
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
