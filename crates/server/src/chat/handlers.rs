//! One handler per client event, named after it. Who sent an event comes
//! from the connection (the room knows which name each socket entered under),
//! what they sent from the payload, and the answer goes back as an
//! acknowledgement: the result, or an error with a reason. A refused event
//! changes nothing and leaves the connection up.

use protocol::{
    Ack, AckError, AddUser, ChatMessage, ErrorCode, NewMessage, ServerEvent, UserTyping,
    validate_message, validate_username,
};
use serde::Serialize;
use socketioxide::extract::{AckSender, Event, MaybeExtension, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;

use super::{ClientId, ROOM, Room};

/// `add user`: enter the room under a name.
pub async fn add_user(
    s: SocketRef,
    State(room): State<Room>,
    MaybeExtension(client_id): MaybeExtension<ClientId>,
    TryData(name): TryData<AddUser>,
    ack: AckSender,
) {
    let result = name
        .map_err(|_| invalid_payload("add user expects the name as a string"))
        .and_then(|AddUser(name)| {
            let name = validate_username(&name)?;
            let client_id = client_id.as_ref().and_then(|c| c.0.as_deref());
            room.enter(s.id, name, client_id)
        });
    let entered = match result {
        Ok(entered) => entered,
        Err(error) => return refuse(&s, ack, "add user", error),
    };
    s.join(ROOM);
    let login = entered.login;
    tracing::info!(socket = %s.id, user = %login.username, first = entered.first_connection, "entered the room");
    reply(&s, ack, &Ack::Ok(&login));
    let joined = entered.first_connection.then(|| login.joined());
    emit(&s, &ServerEvent::Login(login));
    if let Some(joined) = joined {
        broadcast(&s, ServerEvent::UserJoined(joined)).await;
    }
}

/// `new message`: say something to everyone in the room.
pub async fn new_message(
    s: SocketRef,
    State(room): State<Room>,
    TryData(text): TryData<NewMessage>,
    ack: AckSender,
) {
    let result = joined(&room, &s).and_then(|username| {
        let NewMessage(text) =
            text.map_err(|_| invalid_payload("new message expects the text as a string"))?;
        let message = validate_message(&text)?.to_owned();
        let (id, timestamp) = room.next_id();
        Ok(ChatMessage {
            username,
            message,
            id,
            timestamp,
        })
    });
    let message = match result {
        Ok(message) => message,
        Err(error) => return refuse(&s, ack, "new message", error),
    };
    broadcast(&s, ServerEvent::NewMessage(message.clone())).await;
    reply(&s, ack, &Ack::Ok(&message));
}

/// `typing`: tell the others this user is typing.
pub async fn typing(s: SocketRef, State(room): State<Room>, ack: AckSender) {
    match joined(&room, &s) {
        Ok(username) => broadcast(&s, ServerEvent::Typing(UserTyping { username })).await,
        Err(error) => refuse(&s, ack, "typing", error),
    }
}

/// `stop typing`: tell the others this user stopped typing.
pub async fn stop_typing(s: SocketRef, State(room): State<Room>, ack: AckSender) {
    match joined(&room, &s) {
        Ok(username) => broadcast(&s, ServerEvent::StopTyping(UserTyping { username })).await,
        Err(error) => refuse(&s, ack, "stop typing", error),
    }
}

/// Any other event: refused, so a client asking for an ack hears why.
pub async fn unknown_event(s: SocketRef, Event(name): Event, ack: AckSender) {
    let error = AckError::new(ErrorCode::UnknownEvent, format!("unknown event “{name}”"));
    refuse(&s, ack, "unknown", error);
}

/// The connection closed: if it was its user's last, the others hear `user left`.
pub async fn disconnect(s: SocketRef, State(room): State<Room>, reason: DisconnectReason) {
    let user = room.username(s.id);
    tracing::info!(socket = %s.id, user = user.as_deref().unwrap_or("-"), ?reason, "disconnected");
    if let Some(left) = room.leave(s.id) {
        broadcast(&s, ServerEvent::UserLeft(left)).await;
    }
}

/// The name this connection entered under, or the refusal for events that
/// need one.
fn joined(room: &Room, s: &SocketRef) -> Result<String, AckError> {
    room.username(s.id)
        .ok_or_else(|| AckError::new(ErrorCode::NotJoined, "enter the room with add user first"))
}

fn invalid_payload(reason: &str) -> AckError {
    AckError::new(ErrorCode::InvalidPayload, reason)
}

/// Answers a refused event with its reason (if the client asked for an ack).
fn refuse(s: &SocketRef, ack: AckSender, event: &str, error: AckError) {
    tracing::debug!(socket = %s.id, event, code = ?error.code, reason = %error.message, "refused");
    reply(s, ack, &Ack::<()>::Err(error));
}

fn reply<T: Serialize>(s: &SocketRef, ack: AckSender, answer: &Ack<T>) {
    if let Err(error) = ack.send(answer) {
        tracing::warn!(socket = %s.id, %error, "could not send an acknowledgement");
    }
}

/// Emits an event to this connection only.
fn emit(s: &SocketRef, event: &ServerEvent) {
    if let Err(error) = s.emit(event.name(), event) {
        tracing::warn!(socket = %s.id, event = event.name(), %error, "could not emit");
    }
}

/// Emits an event to everyone in the room but this connection.
async fn broadcast(s: &SocketRef, event: ServerEvent) {
    if let Err(error) = s.to(ROOM).emit(event.name(), &event).await {
        tracing::warn!(socket = %s.id, event = event.name(), %error, "broadcast failed");
    }
}
