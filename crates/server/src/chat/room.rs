//! The room as the handlers see it: one front over presence (who is online,
//! [`crate::presence`]), this node's fan-out ([`crate::fanout`]), typing
//! ([`super::typing`]) and the relay to other nodes ([`crate::relay`]).
//! The handlers call it the same way on a single node and in a cluster.

use protocol::{AckError, ServerEvent, UserTyping};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::typing::Typing;
use crate::fanout::Fanout;
use crate::presence::Presence;
pub use crate::presence::{Entered, Leaving, Left, NotInRoom};
use crate::relay::{Relay, Signal};

/// The chat room; cheap to clone, every clone is the same room.
#[derive(Debug, Clone)]
pub struct Room {
    presence: Presence,
    fanout: Fanout,
    typing: Typing,
    relay: Relay,
}

impl Room {
    /// The room over these parts.
    pub fn new(presence: Presence, fanout: Fanout, relay: Relay) -> Self {
        Self {
            presence,
            fanout,
            typing: Typing::default(),
            relay,
        }
    }

    /// Who is online.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// This node's listening connections.
    pub fn fanout(&self) -> &Fanout {
        &self.fanout
    }

    /// Enters connection `sid` into the room as `username` (already
    /// validated). Refused when the connection is already in, or someone
    /// else online has the name.
    pub async fn enter(
        &self,
        sid: Sid,
        username: &str,
        client_id: Option<&str>,
    ) -> Result<Entered, AckError> {
        self.presence.enter(sid, username, client_id).await
    }

    /// Connection `socket` (which entered) hears the room's events from now
    /// on, after its `login` (see [`Room::greet`]).
    pub fn listen(&self, socket: SocketRef) {
        self.fanout.listen(socket);
    }

    /// Sends connection `sid` its `login` with `greet`, then what the room
    /// said since it started listening.
    pub fn greet(&self, sid: Sid, greet: impl FnOnce()) {
        self.fanout.entered(sid, greet);
    }

    /// Who is online, in the order they came.
    pub async fn users(&self) -> Vec<String> {
        self.presence.users().await
    }

    /// Takes connection `sid` out of the room. Returns who left when it was
    /// its user's last connection and they leave now.
    pub async fn leave(&self, sid: Sid, how: Leaving) -> Option<Left> {
        self.fanout.forget(sid);
        let seat = self.presence.seat(sid).ok();
        let left = self.presence.leave(sid, how).await;
        if let Some(seat) = seat
            && !self.presence.has_user(&seat.key)
        {
            self.typing.forget(&seat.key);
        }
        left
    }

    /// Connection `sid`'s user is typing: the others hear it, at most once
    /// every few seconds (see [`super::typing`]).
    pub fn typing(&self, sid: Sid) -> Result<(), NotInRoom> {
        let seat = self.presence.seat(sid)?;
        if self.typing.start(&seat.key) {
            let username = seat.name;
            self.fanout.broadcast(
                Some(sid),
                &ServerEvent::Typing(UserTyping {
                    username: username.clone(),
                }),
            );
            self.relay.send(Signal::Typing { username });
        }
        Ok(())
    }

    /// Connection `sid`'s user stopped typing: the others hear it if they
    /// were told it started.
    pub fn stop_typing(&self, sid: Sid) -> Result<(), NotInRoom> {
        let seat = self.presence.seat(sid)?;
        if self.typing.stop(&seat.key) {
            let username = seat.name;
            self.fanout.broadcast(
                Some(sid),
                &ServerEvent::StopTyping(UserTyping {
                    username: username.clone(),
                }),
            );
            self.relay.send(Signal::StopTyping { username });
        }
        Ok(())
    }

    /// Connection `sid`'s user sent a message, which ends their typing line
    /// on every page.
    pub fn sent_message(&self, sid: Sid) {
        if let Ok(seat) = self.presence.seat(sid) {
            self.typing.sent_message(&seat.key);
        }
    }

    /// The name connection `sid` is in the room under, if it has entered.
    pub fn username(&self, sid: Sid) -> Option<String> {
        self.presence.username(sid)
    }

    /// How many users are online (`None` when presence does not answer).
    pub async fn num_users(&self) -> Option<usize> {
        self.presence.num_users().await
    }
}
