//! The page's state and the actions the components call. The state is a
//! handful of signals ([`Chat`], `Copy`, handed to every component); the
//! actions go to the API and the Socket.IO connection in the browser
//! (`live`) and do nothing on the server, which only renders the first view:
//! the room with its recent history for a visitor whose login cookie holds
//! ([`RoomStart`]), the login form for anyone else.

use leptos::prelude::*;
use protocol::{Account, Login};
use serde::{Deserialize, Serialize};
use sio_client::ConnectionState;

/// Which of the two forms the user is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Log in to an existing account.
    Login,
    /// Create an account (and log in).
    Register,
}

use crate::outbox::Outbox;
use crate::room::RoomView;

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq)]
pub enum NotSent {
    /// Refused, for this reason (for people).
    Refused(String),
    /// Over the sender's rate limit: it may go at this time (ms, the page's
    /// clock).
    SlowDown {
        /// When sending works again.
        until: f64,
    },
}

/// What the server knows when it renders the page for a visitor whose login
/// cookie holds: who they are, and the room as they would find it on
/// entering (who is online, the recent history). The first render shows the
/// room from it, and the hydrating page starts from the same data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStart {
    /// The logged-in account.
    pub account: Account,
    /// The room as an `add user` would answer it (`username` is the
    /// account's name).
    pub room: Login,
}

/// Everything the components read, as signals.
#[derive(Debug, Clone, Copy)]
pub struct Chat {
    /// Who is logged in; `None` shows the login form.
    pub account: RwSignal<Option<Account>>,
    /// Why the last login or registration was refused.
    pub auth_error: RwSignal<Option<String>>,
    /// Why the user is on the login form again ("Your session expired…").
    pub auth_notice: RwSignal<Option<String>>,
    /// A login or registration is on its way.
    pub auth_busy: RwSignal<bool>,
    /// The room as this page sees it.
    pub view: RwSignal<RoomView>,
    /// The connection to the server.
    pub connection: RwSignal<ConnectionState>,
    /// When the connection state last changed (ms, the page's clock), to
    /// count down "reconnecting in 4 s".
    pub connection_since: RwSignal<f64>,
    /// The page's clock, ticking once a second (ms).
    pub now: RwSignal<f64>,
    /// An `add user` is on its way.
    pub entering: RwSignal<bool>,
    /// A page of older history is on its way.
    pub loading_older: RwSignal<bool>,
    /// This connection is in the room (its `add user` was answered): the
    /// outbox may go.
    pub in_room: RwSignal<bool>,
    /// Messages written and not yet stored, shown as pending.
    pub outbox: RwSignal<Outbox>,
    /// The composer's text (a refused message comes back here to edit).
    pub draft: RwSignal<String>,
}

impl Default for Chat {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Chat {
    /// The state of a page's first render: in the room as `start` says, or
    /// on the login form without one.
    pub fn new(start: Option<RoomStart>) -> Self {
        let (account, view) = match start {
            Some(RoomStart { account, room }) => {
                let mut view = RoomView::default();
                view.logged_in(room);
                (Some(account), view)
            }
            None => (None, RoomView::default()),
        };
        Self {
            account: RwSignal::new(account),
            auth_error: RwSignal::new(None),
            auth_notice: RwSignal::new(None),
            auth_busy: RwSignal::new(false),
            view: RwSignal::new(view),
            connection: RwSignal::new(ConnectionState::Connecting),
            connection_since: RwSignal::new(0.0),
            now: RwSignal::new(0.0),
            entering: RwSignal::new(false),
            loading_older: RwSignal::new(false),
            in_room: RwSignal::new(false),
            outbox: RwSignal::new(Outbox::default()),
            draft: RwSignal::new(String::new()),
        }
    }

    /// In the browser: into the room over a new connection if the server
    /// rendered the page for a login. Nothing on the server.
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        crate::live::resume(self);
    }

    /// Logs in or registers, then goes into the room; a refusal shows on the
    /// form. Checked here first with the server's own rules and words.
    pub fn authenticate(self, mode: AuthMode, username: String, password: String) {
        if let Err(error) = protocol::validate_username(&username) {
            return self.auth_error.set(Some(error.message));
        }
        if mode == AuthMode::Register && password.chars().count() < protocol::PASSWORD_MIN_CHARS {
            return self.auth_error.set(Some(format!(
                "the password must have at least {} characters",
                protocol::PASSWORD_MIN_CHARS
            )));
        }
        self.auth_error.set(None);
        #[cfg(feature = "hydrate")]
        crate::live::authenticate(self, mode, username, password);
        #[cfg(not(feature = "hydrate"))]
        let _ = password;
    }

    /// Logs out: forgets the login and leaves the room.
    pub fn logout(self) {
        #[cfg(feature = "hydrate")]
        crate::live::logout(self);
    }

    /// Logs out everywhere: ends every session of the account, on every
    /// device, and leaves the room.
    pub fn logout_all(self) {
        #[cfg(feature = "hydrate")]
        crate::live::logout_all(self);
    }

    /// Sends a message through the outbox; `done` hears whether the server
    /// took it or why not, or, when it cannot go at once (offline, messages
    /// ahead of it), `Ok` as soon as it waits in the outbox, shown pending.
    pub fn send(self, text: String, done: impl FnOnce(Result<(), NotSent>) + 'static) {
        if let Err(error) = protocol::validate_message(&text) {
            return done(Err(NotSent::Refused(error.message)));
        }
        #[cfg(feature = "hydrate")]
        crate::live::send(self, text, done);
        #[cfg(not(feature = "hydrate"))]
        done(Err(NotSent::Refused("not connected".to_owned())));
    }

    /// Loads the page of history before the oldest item shown, unless the
    /// beginning is reached or a page is already on its way.
    pub fn load_older(self) {
        let busy = self.loading_older.get_untracked() || self.view.with_untracked(|v| v.complete);
        #[cfg(feature = "hydrate")]
        if !busy {
            crate::live::load_older(self);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = busy;
    }

    /// Takes a refused message out of the outbox.
    pub fn discard(self, client_id: &str) {
        self.outbox.update(|o| {
            o.take(client_id);
        });
    }

    /// Takes a refused message out of the outbox and into the composer, to
    /// fix and send again (as a new message).
    pub fn edit(self, client_id: &str) {
        let taken = self.outbox.try_update(|o| o.take(client_id)).flatten();
        if let Some(item) = taken {
            self.draft.set(item.text);
        }
    }

    /// The composer's text changed: tells the others this user is typing, or
    /// stopped (an empty box).
    pub fn typed(self, draft_empty: bool) {
        #[cfg(feature = "hydrate")]
        crate::live::typed(draft_empty);
        #[cfg(not(feature = "hydrate"))]
        let _ = draft_empty;
    }

    /// The connection status as a short word for styling and tests:
    /// "none" when logged out, when there is no connection to speak of.
    pub fn connection_key(&self) -> &'static str {
        if self.account.with(Option::is_none) {
            return "none";
        }
        self.connection.with(|state| match state {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Online => "online",
            ConnectionState::Reconnecting { .. } => "reconnecting",
            ConnectionState::Refused { .. } | ConnectionState::Closed => "offline",
        })
    }

    /// The connection status for people, counting down a reconnection;
    /// nothing when logged out. (A refusal sends the user to the login
    /// form, which says why.)
    pub fn connection_text(&self) -> String {
        if self.account.with(Option::is_none) {
            return String::new();
        }
        self.connection.with(|state| match state {
            ConnectionState::Reconnecting { attempt, delay_ms } => {
                let waited = self.now.get() - self.connection_since.get();
                let left = ((f64::from(*delay_ms) - waited) / 1000.0).ceil().max(0.0);
                if left == 0.0 {
                    return "reconnecting…".to_owned();
                }
                ConnectionState::Reconnecting {
                    attempt: *attempt,
                    delay_ms: (left * 1000.0) as u32,
                }
                .to_string()
            }
            ConnectionState::Refused { .. } | ConnectionState::Closed => "offline".to_owned(),
            other => other.to_string(),
        })
    }
}
