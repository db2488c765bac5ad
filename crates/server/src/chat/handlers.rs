//! One handler per client event, named after it. Who sent an event comes
//! from the connection (the room knows which name each socket entered under),
//! what they sent from the payload, and the answer goes back as an
//! acknowledgement: the result, or an error with a reason. A refused event
//! changes nothing and leaves the connection up.
//!
//! Messages, joins and leaves are stored before anyone hears of them, and a
//! sender's acknowledgement comes after the write is durable.
//!
//! Every handler takes a [`Turn`] first: the event's place in its
//! connection's order, or its refusal for a limit (see [`super::turn`]). A
//! handler waits for its turn before it reads or changes the room, so one
//! connection's events are handled, stored and delivered in the order it
//! sent them, while different connections' events still commit together.

use protocol::{
    Ack, AckError, AddUser, CatchUp, ErrorCode, HISTORY_PAGE, History, HistoryItem, HistoryPage,
    Login, MessagePayload, Notice, ServerEvent, event, validate_client_id, validate_message,
    validate_username,
};
use serde::Serialize;
use socketioxide::extract::{AckSender, Event, MaybeExtension, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;

use super::room::{Leaving, NotInRoom};
use super::turn::{
    Admitted, Connection, EntryEvent, EventClass, MessageEvent, OtherEvent, ReadEvent, Turn,
};
use super::{ExpiryTimer, Identity, Room};
use crate::store::{ClientKey, NewItem, Store, StoreError};

/// `add user`: enter the room under a name.
pub async fn add_user(
    s: SocketRef,
    turn: Turn<EntryEvent>,
    State(room): State<Room>,
    State(store): State<Store>,
    MaybeExtension(identity): MaybeExtension<Identity>,
    TryData(name): TryData<AddUser>,
    ack: AckSender,
) {
    // The whole entry is one turn: what the connection sends next is
    // handled once it is in the room (or was refused).
    let Some((_turn, ack)) = my_turn(&s, turn, ack, event::ADD_USER).await else {
        return;
    };
    let result = match name {
        Ok(AddUser(name)) => match validate_username(&name) {
            Ok(name) => enter(&s, &room, &store, identity, &name).await,
            Err(error) => Err(error),
        },
        Err(_) => Err(invalid_payload("add user expects the name as a string")),
    };
    let entered = match result {
        Ok(entered) => entered,
        Err(error) => return refuse(&s, ack, event::ADD_USER, error),
    };
    // It hears the room from now on, after the login below, which says who
    // is online and what was said up to now.
    room.listen(s.clone());
    let joined = if entered.first_connection {
        let join = NewItem::Joined {
            username: entered.username.clone(),
            num_users: entered.num_users,
        };
        match store.append(join, Some(s.id)).await {
            Ok(joined) => Some(joined),
            Err(error) => {
                room.leave(s.id, Leaving::AtOnce).await;
                return refuse(&s, ack, event::ADD_USER, internal(&error));
            }
        }
    } else {
        None
    };
    let history = match store.recent(HISTORY_PAGE).await {
        Ok(history) => history,
        Err(error) => {
            tracing::error!(%error, "could not read the recent history");
            HistoryPage {
                items: joined.iter().cloned().collect(),
                more: true,
            }
        }
    };
    tracing::info!(socket = %s.id, user = %entered.username, first = entered.first_connection, "entered the room");
    let mut users = room.users().await;
    if !users.contains(&entered.username) {
        // Presence did not answer: the user is online all the same.
        users.push(entered.username.clone());
    }
    let login = Login {
        num_users: users.len(),
        username: entered.username,
        users,
        history,
    };
    room.greet(s.id, || {
        reply(&s, ack, &Ack::Ok(&login));
        emit(&s, &ServerEvent::Login(login));
    });
}

/// Enters a connection under `name`: a logged-in user under their account's
/// name only (all their connections are one user); a guest under a name that
/// no account owns.
async fn enter(
    s: &SocketRef,
    room: &Room,
    store: &Store,
    identity: Option<Identity>,
    name: &str,
) -> Result<super::room::Entered, AckError> {
    match identity {
        Some(Identity::User { id, username }) => {
            if protocol::name_key(&username) != protocol::name_key(name) {
                return Err(AckError::new(
                    ErrorCode::NameMismatch,
                    format!("you are logged in as “{username}”"),
                ));
            }
            room.enter(s.id, &username, Some(&format!("user:{id}")))
                .await
        }
        Some(Identity::Guest { client_id }) => {
            match store.user_by_name(name).await {
                Ok(None) => {}
                Ok(Some(account)) if protocol::looks_alike(name, &account.username) => {
                    return Err(AckError::new(
                        ErrorCode::NameTaken,
                        protocol::too_similar(name),
                    ));
                }
                Ok(Some(_)) => {
                    return Err(AckError::new(
                        ErrorCode::NameTaken,
                        format!("“{name}” belongs to a registered user; log in to use it"),
                    ));
                }
                Err(error) => return Err(internal(&error)),
            }
            let client_id = client_id.as_deref().map(|c| format!("guest:{c}"));
            room.enter(s.id, name, client_id.as_deref()).await
        }
        None => Err(AckError::new(ErrorCode::NotJoined, "login required")),
    }
}

/// `new message`: say something to everyone in the room. A message sent
/// with a client id is stored once per sender and id: a repeat is answered
/// with the stored message, and nobody hears it again.
pub async fn new_message(
    s: SocketRef,
    turn: Turn<MessageEvent>,
    State(room): State<Room>,
    State(store): State<Store>,
    MaybeExtension(identity): MaybeExtension<Identity>,
    TryData(payload): TryData<MessagePayload>,
    ack: AckSender,
) {
    let Some((mut turn, ack)) = my_turn(&s, turn, ack, event::NEW_MESSAGE).await else {
        return;
    };
    let result = joined(&room, &s).and_then(|username| {
        let (text, client_id) = payload
            .map_err(|_| {
                invalid_payload(
                    "new message expects the text as a string, or {\"message\": text, \"clientId\": id}",
                )
            })?
            .into_parts();
        let message = validate_message(&text)?.to_owned();
        let key = match client_id {
            Some(client_id) => {
                validate_client_id(&client_id)?;
                let sender = sender(identity.as_ref(), &username);
                Some(ClientKey { sender, client_id })
            }
            None => None,
        };
        Ok(NewItem::Message {
            username,
            message,
            key,
        })
    });
    let item = match result {
        Ok(item) => item,
        Err(error) => return refuse(&s, ack, event::NEW_MESSAGE, error),
    };
    // Queued for the writer in the connection's order; the next event may
    // go while this one's batch commits.
    let submitted = store.submit(item, Some(s.id));
    turn.pass().await;
    let pending = match submitted {
        Ok(pending) => pending,
        Err(StoreError::Busy) => {
            let error = AckError::retry_after(
                ErrorCode::Busy,
                "the server is busy; try again in a moment",
                BUSY_RETRY,
            );
            return refuse(&s, ack, event::NEW_MESSAGE, error);
        }
        Err(error) => return refuse(&s, ack, event::NEW_MESSAGE, internal(&error)),
    };
    // The others clear this user's typing line when the message arrives.
    room.sent_message(s.id);
    let message = match pending.stored().await {
        Ok(HistoryItem::Message(message)) => message,
        Ok(other) => {
            tracing::error!(?other, "the store returned something else than the message");
            return;
        }
        Err(error) => return refuse(&s, ack, event::NEW_MESSAGE, internal(&error)),
    };
    reply(&s, ack, &Ack::Ok(&message));
}

/// Whose client ids a message's is one of: the account's, or a guest's
/// name's (all of one user's tabs and nodes agree on either).
fn sender(identity: Option<&Identity>, username: &str) -> String {
    match identity {
        Some(Identity::User { id, .. }) => format!("user:{id}"),
        Some(Identity::Guest { .. }) | None => format!("name:{}", protocol::name_key(username)),
    }
}

/// How long a sender refused as `busy` should wait: a few commits' time.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// `history`: the page of the conversation before an id (scrollback).
pub async fn history(
    s: SocketRef,
    turn: Turn<ReadEvent>,
    State(room): State<Room>,
    State(store): State<Store>,
    TryData(request): TryData<History>,
    ack: AckSender,
) {
    let Some((mut turn, ack)) = my_turn(&s, turn, ack, event::HISTORY).await else {
        return;
    };
    let checked = joined(&room, &s)
        .and_then(|_| request.map_err(|_| invalid_payload("history expects {\"before\": id}")));
    // Reading changes nothing: later events need not wait for it.
    turn.pass().await;
    let page = match checked {
        Ok(History { before }) => store.before(before, HISTORY_PAGE).await,
        Err(error) => return refuse(&s, ack, event::HISTORY, error),
    };
    reply_page(&s, ack, event::HISTORY, page);
}

/// `catch up`: everything after an id, a page at a time (after a reconnection).
pub async fn catch_up(
    s: SocketRef,
    turn: Turn<ReadEvent>,
    State(room): State<Room>,
    State(store): State<Store>,
    TryData(request): TryData<CatchUp>,
    ack: AckSender,
) {
    let Some((mut turn, ack)) = my_turn(&s, turn, ack, event::CATCH_UP).await else {
        return;
    };
    let checked = joined(&room, &s)
        .and_then(|_| request.map_err(|_| invalid_payload("catch up expects {\"after\": id}")));
    turn.pass().await;
    let page = match checked {
        Ok(CatchUp { after }) => store.after(after, HISTORY_PAGE).await,
        Err(error) => return refuse(&s, ack, event::CATCH_UP, error),
    };
    reply_page(&s, ack, event::CATCH_UP, page);
}

/// Answers a history request with its page, or with why the store failed.
fn reply_page(s: &SocketRef, ack: AckSender, event: &str, page: Result<HistoryPage, StoreError>) {
    match page {
        Ok(page) => reply(s, ack, &Ack::Ok(&page)),
        Err(error) => refuse(s, ack, event, internal(&error)),
    }
}

/// `typing`: tell the others this user is typing; at most once every few
/// seconds per user, however often their pages say so (see
/// [`Room::typing`]).
pub async fn typing(
    s: SocketRef,
    turn: Turn<OtherEvent>,
    State(room): State<Room>,
    ack: AckSender,
) {
    let Some((_turn, ack)) = my_turn(&s, turn, ack, event::TYPING).await else {
        return;
    };
    match room.typing(s.id) {
        // A client that asked for an answer gets one, told or coalesced.
        Ok(()) => reply(&s, ack, &Ack::Ok(())),
        Err(NotInRoom) => refuse(&s, ack, event::TYPING, not_joined()),
    }
}

/// `stop typing`: tell the others this user stopped typing (if they were
/// told it started).
pub async fn stop_typing(
    s: SocketRef,
    turn: Turn<OtherEvent>,
    State(room): State<Room>,
    ack: AckSender,
) {
    let Some((_turn, ack)) = my_turn(&s, turn, ack, event::STOP_TYPING).await else {
        return;
    };
    match room.stop_typing(s.id) {
        Ok(()) => reply(&s, ack, &Ack::Ok(())),
        Err(NotInRoom) => refuse(&s, ack, event::STOP_TYPING, not_joined()),
    }
}

/// Any other event: refused, so a client asking for an ack hears why.
pub async fn unknown_event(
    s: SocketRef,
    turn: Turn<OtherEvent>,
    Event(name): Event,
    ack: AckSender,
) {
    let Some((_turn, ack)) = my_turn(&s, turn, ack, &name).await else {
        return;
    };
    let error = AckError::new(ErrorCode::UnknownEvent, format!("unknown event “{name}”"));
    refuse(&s, ack, &name, error);
}

/// The connection closed: if it was its user's last, the others hear `user
/// left`; at once when it closed on purpose, after the grace period when it
/// dropped (see [`crate::presence`]).
pub async fn disconnect(
    s: SocketRef,
    State(room): State<Room>,
    State(store): State<Store>,
    reason: DisconnectReason,
) {
    if let Some(ExpiryTimer(timer)) = s.extensions.get::<ExpiryTimer>() {
        timer.abort();
    }
    // What the connection sent before it closed is handled first: an
    // `add user` still waiting on the database enters, and then leaves
    // here, rather than entering after this and staying online for ever.
    if let Some(connection) = s.extensions.get::<Connection>() {
        connection.settled().await;
    }
    let user = room.username(s.id);
    tracing::info!(socket = %s.id, user = user.as_deref().unwrap_or("-"), ?reason, "disconnected");
    let how = match reason {
        // The client said goodbye, or the server closed it on purpose (a
        // logout, a refusal, a frame it broke the protocol with).
        DisconnectReason::ClientNSDisconnect
        | DisconnectReason::ServerNSDisconnect
        | DisconnectReason::PacketParsingError
        | DisconnectReason::MultipleHttpPollingError => Leaving::AtOnce,
        DisconnectReason::ClosingServer => Leaving::NodeStopping,
        _ => Leaving::Dropped,
    };
    if let Some(left) = room.leave(s.id, how).await {
        store_leave(&store, left).await;
    }
}

/// Stores (and so tells everyone) that a user left.
pub async fn store_leave(store: &Store, left: super::room::Left) {
    let item = NewItem::Left {
        username: left.username,
        num_users: left.num_users,
    };
    match store.append(item, None).await {
        Ok(HistoryItem::Left(_)) => {}
        Ok(other) => tracing::error!(?other, "the store returned something else than the leave"),
        Err(error) => tracing::error!(%error, "could not store a leave"),
    }
}

/// Waits for the event's turn in its connection's order and hands back the
/// ack sender; or answers the event's refusal for a limit, disconnects a
/// connection that ignores its refusals, and returns `None`.
async fn my_turn<C: EventClass>(
    s: &SocketRef,
    turn: Turn<C>,
    ack: AckSender,
    event: &str,
) -> Option<(Admitted, AckSender)> {
    crate::metrics::event_received(event);
    match turn.admitted().await {
        Ok(mut admitted) => {
            admitted.wait().await;
            Some((admitted, ack))
        }
        Err(refused) => {
            refuse(s, ack, event, refused.error);
            if refused.flooding {
                disconnect_flooding(s);
            }
            None
        }
    }
}

/// Tells a connection that kept sending after its refusals why it goes,
/// and disconnects it. (Its account's new connections are refused for the
/// cool-down: see [`super::limits::Limits::cool_down`].)
fn disconnect_flooding(s: &SocketRef) {
    crate::metrics::flooding_disconnect();
    tracing::warn!(socket = %s.id, "too many refused events: disconnecting");
    let notice = ServerEvent::Flooding(Notice {
        message: "disconnected: too many events, too fast; wait a little before reconnecting"
            .to_owned(),
    });
    emit(s, &notice);
    if let Err(error) = s.clone().disconnect() {
        tracing::debug!(socket = %s.id, %error, "a flooding socket was already gone");
    }
}

/// The name this connection entered under, or the refusal for events that
/// need one.
fn joined(room: &Room, s: &SocketRef) -> Result<String, AckError> {
    room.username(s.id).ok_or_else(not_joined)
}

/// The refusal for an event that needs the connection to be in the room.
fn not_joined() -> AckError {
    AckError::new(ErrorCode::NotJoined, "enter the room with add user first")
}

fn invalid_payload(reason: &str) -> AckError {
    AckError::new(ErrorCode::InvalidPayload, reason)
}

/// The store failed: logged here with its details, which the client never sees.
fn internal(error: &StoreError) -> AckError {
    tracing::error!(%error, "store failed");
    AckError::new(
        ErrorCode::Internal,
        "the server could not store that; try again",
    )
}

/// Answers a refused event with its reason (if the client asked for an ack).
fn refuse(s: &SocketRef, ack: AckSender, event: &str, error: AckError) {
    tracing::debug!(socket = %s.id, event, code = ?error.code, reason = %error.message, "refused");
    crate::metrics::refused(event, error.code);
    reply(s, ack, &Ack::<()>::Err(error));
}

fn reply<T: Serialize>(s: &SocketRef, ack: AckSender, answer: &Ack<T>) {
    // Debug, not warn: a flooding client's full queue would fill the log.
    if let Err(error) = ack.send(answer) {
        tracing::debug!(socket = %s.id, %error, "could not send an acknowledgement");
    }
}

/// Emits an event to this connection only.
fn emit(s: &SocketRef, event: &ServerEvent) {
    if let Err(error) = s.emit(event.name(), event) {
        tracing::warn!(socket = %s.id, event = event.name(), %error, "could not emit");
    }
}
