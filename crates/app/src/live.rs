//! The browser's side of [`Chat`]: the account API calls, one Socket.IO
//! connection per login, whose state and events feed the signals, and the
//! actions that go out over it. Compiled only for the browser (`hydrate`).
//!
//! The login token lives in an HttpOnly cookie that this code never sees: the
//! browser sends it with the API calls and the WebSocket handshake.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::{
    Account, AddUser, ApiError, CatchUp, ClientEvent, ConnectAuth, Credentials, ErrorCode, EventId,
    History, HistoryItem, NewMessageWithId, ServerEvent, Session, StopTyping, Typing,
};
use sio_client::{Client, ClientOptions, ConnectionState, Handlers, RequestError};

use crate::chat::{AuthMode, Chat, NotSent};
use crate::keep;
use crate::outbox::Outbox;
use crate::room::RoomView;
use crate::room::TYPING_TIMEOUT_MS;

/// A typist who has not touched the keyboard for this long has stopped (ms).
const TYPING_IDLE_MS: f64 = 3_000.0;

/// While typing goes on, `typing` is repeated this often (ms), well before
/// the others' indicator times out.
const TYPING_REPEAT_MS: f64 = TYPING_TIMEOUT_MS / 2.0;

/// Where the browser keeps its client id (see `protocol::ConnectAuth`).
const CLIENT_ID_KEY: &str = "chatroom.clientId";

/// This user's typing, while it lasts.
#[derive(Debug, Clone, Copy)]
struct Typist {
    /// The last keystroke (ms).
    last_input: f64,
    /// When `typing` last went out (ms).
    last_sent: f64,
}

/// What the composer hears of a message it sent, once.
type Done = Box<dyn FnOnce(Result<(), NotSent>)>;

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
    static TYPIST: Cell<Option<Typist>> = const { Cell::new(None) };
    /// The outbox is being sent (one message at a time, so one sender).
    static DELIVERING: Cell<bool> = const { Cell::new(false) };
    /// The composer's answer for messages that went out at once, by client
    /// id: a refusal gives the text back to the composer, as it always did.
    /// A message that has to wait (offline, or dropped on the way) is
    /// answered `Ok` and stays pending in the outbox instead.
    static WAITING: RefCell<HashMap<String, Done>> = RefCell::new(HashMap::new());
    /// Server events heard and not yet applied to the view (see [`hear`]).
    static HEARD: RefCell<Vec<ServerEvent>> = const { RefCell::new(Vec::new()) };
}

/// The longest a heard event waits for a frame before it is applied anyway
/// (a hidden tab draws no frames; its timers still run, if slowed).
const HEARD_WAIT: Duration = Duration::from_millis(100);

fn now() -> f64 {
    js_sys::Date::now()
}

fn client() -> Option<Client> {
    CLIENT.with_borrow(Clone::clone)
}

/// At page start: the clock that expires typing, and the room at once if the
/// server rendered the page for a login (its cookie held then; if it no
/// longer does, the connection is refused and the page returns to the form).
pub fn resume(chat: Chat) {
    set_interval(move || tick(chat), Duration::from_secs(1));
    keep::watch(chat);
    if let Some(account) = chat.account.get_untracked() {
        logged_in(chat, account);
    }
}

/// Logs in or registers through the API, then goes into the room.
pub fn authenticate(chat: Chat, mode: AuthMode, username: String, password: String) {
    chat.auth_busy.set(true);
    spawn_local(async move {
        let path = match mode {
            AuthMode::Login => "/api/login",
            AuthMode::Register => "/api/register",
        };
        let result = async {
            let response = gloo_net::http::Request::post(path)
                .json(&Credentials { username, password })?
                .send()
                .await?;
            if response.ok() {
                Ok(Ok(response.json::<Session>().await?))
            } else {
                let error = response.json::<ApiError>().await.map(|e| e.error);
                Ok(Err(error.unwrap_or_else(|_| {
                    format!("the server answered {}", response.status())
                })))
            }
        }
        .await;
        chat.auth_busy.set(false);
        match result {
            Ok(Ok(session)) => logged_in(chat, session.user),
            Ok(Err(reason)) => chat.auth_error.set(Some(reason)),
            Err(error) => {
                let error: gloo_net::Error = error;
                chat.auth_error
                    .set(Some(format!("could not reach the server: {error}")));
            }
        }
    });
}

/// Logs out: the server ends this session and forgets the cookie (and
/// disconnects this login's sockets); the page goes back to the login form.
pub fn logout(chat: Chat) {
    end_sessions(chat, "/api/logout");
}

/// Logs out everywhere: the server ends every session of the account and
/// disconnects all its sockets (the other pages land on their login forms).
pub fn logout_all(chat: Chat) {
    end_sessions(chat, "/api/logout-all");
}

fn end_sessions(chat: Chat, path: &'static str) {
    spawn_local(async move {
        if let Err(error) = gloo_net::http::Request::post(path).send().await {
            leptos::logging::debug_warn!("{path} request failed: {error}");
        }
        // Logged out on purpose: what was not sent is dropped, here too.
        if let Some(account) = chat.account.with_untracked(|a| a.as_ref().map(|a| a.id)) {
            keep::forget(account);
        }
        session_over(chat, None);
    });
}

/// Back to the login form, with why (an expired session) if there is a why.
fn session_over(chat: Chat, notice: Option<String>) {
    if let Some(client) = CLIENT.take() {
        client.close();
    }
    TYPIST.set(None);
    HEARD.take();
    // What this login had not sent is not sent for the next one (the tab
    // keeps it for the same account's next login, unless it logged out).
    WAITING.with_borrow_mut(HashMap::clear);
    chat.outbox.set(Outbox::default());
    chat.draft.set(String::new());
    chat.in_room.set(false);
    chat.account.set(None);
    chat.view.set(RoomView::default());
    chat.auth_notice.set(notice);
}

/// Logged in: into the room, over a new connection.
fn logged_in(chat: Chat, account: Account) {
    chat.auth_error.set(None);
    chat.auth_notice.set(None);
    let id = account.id;
    chat.account.set(Some(account));
    keep::restore(chat, id);
    connect(chat);
}

/// Opens the connection for the logged-in user.
fn connect(chat: Chat) {
    if let Some(old) = CLIENT.take() {
        old.close();
    }
    let client_id = client_id();
    let handlers = Handlers {
        auth: Rc::new(move || ConnectAuth {
            // The browser's login travels in its cookie, not here.
            token: None,
            client_id: client_id.clone(),
        }),
        on_state: Rc::new(move |state| {
            let online = state == ConnectionState::Online;
            let refused = match &state {
                ConnectionState::Refused { reason } => Some(reason.clone()),
                _ => None,
            };
            let t = now();
            chat.connection.set(state);
            chat.connection_since.set(t);
            chat.now.set(t);
            // A new connection is not in the room until it enters again.
            chat.in_room.set(false);
            TYPIST.set(None);
            if online {
                // Back online: re-enter under the same name.
                enter(chat);
            } else if let Some(reason) = refused {
                // Refused at the door: the login is gone ("session expired",
                // "login required").
                session_over(chat, Some(notice_for(&reason)));
            }
        }),
        on_event: Rc::new(move |event| match event {
            ServerEvent::SessionExpired(notice) => {
                session_over(chat, Some(notice_for(&notice.message)))
            }
            event => hear(chat, event),
        }),
    };
    let options = ClientOptions {
        url: socket_url(),
        ..ClientOptions::default()
    };
    CLIENT.set(Some(Client::connect(options, handlers)));
}

/// Queues an event from the server for the view, applied with the others
/// heard meanwhile at the next frame: in a flood, everything that reads the
/// room (the stream, the side panel, the unread count) runs once a frame,
/// not once a message. Events keep the order they were heard in.
fn hear(chat: Chat, event: ServerEvent) {
    let first = HEARD.with_borrow_mut(|heard| {
        heard.push(event);
        heard.len() == 1
    });
    if first {
        request_animation_frame(move || apply_heard(chat));
        set_timeout(move || apply_heard(chat), HEARD_WAIT);
    }
}

/// Applies the events heard so far, in order, in one update of the view.
fn apply_heard(chat: Chat) {
    let heard = HEARD.take();
    if heard.is_empty() {
        return;
    }
    let t = now();
    chat.view.update(|v| {
        for event in heard {
            v.apply(event, t);
        }
    });
}

/// What the login form says after a session ended on the server's word.
fn notice_for(reason: &str) -> String {
    if reason.starts_with("session expired") {
        "Your session expired. Log in again.".to_owned()
    } else if reason.starts_with("logged out") {
        "You were logged out. Log in again.".to_owned()
    } else {
        format!("You were logged out ({reason}). Log in again.")
    }
}

/// Once a second: the countdown clock, and typing that went quiet.
fn tick(chat: Chat) {
    let t = now();
    chat.now.set(t);
    let stale = chat.view.with_untracked(|v| {
        v.typing
            .iter()
            .any(|(_, seen)| t - seen >= TYPING_TIMEOUT_MS)
    });
    if stale {
        chat.view.update(|v| {
            v.expire_typing(t);
        });
    }
    if let Some(typist) = TYPIST.get()
        && t - typist.last_input >= TYPING_IDLE_MS
    {
        TYPIST.set(None);
        emit(&StopTyping);
    }
}

/// Sends `add user` with the wanted name, if there is one and the connection
/// is up; otherwise the next `Online` does. Back in the room after a
/// reconnection, it fetches everything missed since the newest item shown.
pub fn enter(chat: Chat) {
    let name = chat
        .account
        .with_untracked(|a| a.as_ref().map(|a| a.username.clone()));
    let (Some(client), Some(name)) = (client(), name) else {
        return;
    };
    if client.state() != ConnectionState::Online || chat.entering.get_untracked() {
        return;
    }
    chat.entering.set(true);
    spawn_local(async move {
        let shown_until = chat.view.with_untracked(|v| v.last_id());
        let result = client.request(&AddUser(name)).await;
        chat.entering.set(false);
        match result {
            Ok(login) => {
                // What was heard before the answer is older than it.
                apply_heard(chat);
                chat.view.update(|v| v.logged_in(login));
                if let Some(after) = shown_until {
                    catch_up(&client, chat, after).await;
                }
                // Back in the room, with what was missed: what was written
                // meanwhile goes now.
                if client.state() == ConnectionState::Online {
                    chat.in_room.set(true);
                    deliver(chat);
                }
            }
            // Busy (the cluster's presence unreachable) or over the entry
            // limit: enter again when the server says.
            Err(error) if waited_out(&error).await => enter(chat),
            Err(RequestError::Refused(error)) => {
                session_over(
                    chat,
                    Some(format!("Could not enter the room: {}", error.message)),
                );
            }
            // The connection dropped meanwhile: the next `Online` re-sends,
            // unless it came while this request was still waiting.
            Err(RequestError::Disconnected | RequestError::NotConnected) => {
                if client.state() == ConnectionState::Online {
                    enter(chat);
                }
            }
            Err(other) => leptos::logging::debug_warn!("could not enter the room: {other}"),
        }
    });
}

/// Fetches everything after `after`, page by page, into the view (which
/// shows each item once, however it arrived).
async fn catch_up(client: &Client, chat: Chat, mut after: EventId) {
    loop {
        match client.request(&CatchUp { after }).await {
            Ok(page) => {
                let last = page.items.last().map(HistoryItem::id);
                let more = page.more;
                chat.view.update(|v| v.merge(page.items));
                match (more, last) {
                    (true, Some(last)) => after = last,
                    _ => return,
                }
            }
            Err(error) if waited_out(&error).await => {}
            Err(error) => {
                // The next reconnection catches up again from what is shown.
                leptos::logging::debug_warn!("catching up stopped: {error}");
                return;
            }
        }
    }
}

/// Loads the page of history before the oldest item shown.
pub fn load_older(chat: Chat) {
    let (Some(client), Some(before)) = (client(), chat.view.with_untracked(|v| v.first_id()))
    else {
        return;
    };
    chat.loading_older.set(true);
    spawn_local(async move {
        loop {
            match client.request(&History { before }).await {
                Ok(page) => chat.view.update(|v| v.older(page)),
                Err(error) if waited_out(&error).await => continue,
                Err(error) => {
                    leptos::logging::debug_warn!("could not load older history: {error}")
                }
            }
            break;
        }
        chat.loading_older.set(false);
    });
}

/// Sends a message through the outbox, under a client id of its own. The
/// sender shows it from the server's acknowledgement, so every screen shows
/// the same text, id and time; until then it is pending.
pub fn send(chat: Chat, text: String, done: impl FnOnce(Result<(), NotSent>) + 'static) {
    let Some(client_id) = random_id() else {
        return done(Err(NotSent::Refused(
            "this browser cannot make random ids".to_owned(),
        )));
    };
    let at_once = ready(chat).is_some() && !chat.outbox.with_untracked(Outbox::has_unsent);
    chat.outbox.update(|o| o.push(client_id.clone(), text));
    if at_once {
        WAITING.with_borrow_mut(|w| w.insert(client_id, Box::new(done)));
    } else {
        done(Ok(()));
    }
    deliver(chat);
}

/// The connection, if it is up and in the room (so messages may go).
fn ready(chat: Chat) -> Option<Client> {
    let client = client()?;
    (client.state() == ConnectionState::Online && chat.in_room.get_untracked()).then_some(client)
}

/// Answers the composer for a message, if it is still waiting to hear.
fn answer(client_id: &str, result: Result<(), NotSent>) {
    if let Some(done) = WAITING.with_borrow_mut(|w| w.remove(client_id)) {
        done(result);
    }
}

/// Sends the outbox, oldest first, one message at a time (the next once the
/// previous is acknowledged), while the connection is in the room; the next
/// `login` starts it again.
fn deliver(chat: Chat) {
    if DELIVERING.get() || ready(chat).is_none() {
        return;
    }
    DELIVERING.set(true);
    spawn_local(async move {
        while let Some(client) = ready(chat) {
            let Some(item) = chat.outbox.with_untracked(|o| o.next().cloned()) else {
                break;
            };
            let request = NewMessageWithId {
                message: item.text,
                client_id: item.client_id,
            };
            let id = request.client_id.as_str();
            let result = client.request(&request).await;
            let at_once = WAITING.with_borrow(|w| w.contains_key(id));
            match result {
                Ok(message) => {
                    chat.view.update(|v| v.sent(message));
                    chat.outbox.update(|o| {
                        o.take(id);
                    });
                    answer(id, Ok(()));
                }
                // Just written, over the rate limit: back to the composer,
                // which counts down to when it may go.
                Err(RequestError::Refused(error))
                    if at_once && error.code == ErrorCode::RateLimited =>
                {
                    chat.outbox.update(|o| {
                        o.take(id);
                    });
                    let wait = error.retry_after_ms.unwrap_or(1_000) as f64;
                    answer(
                        id,
                        Err(NotSent::SlowDown {
                            until: now() + wait,
                        }),
                    );
                }
                // Over the limit or busy: the same id again when the server
                // says.
                Err(error) if waited_out(&error).await => {}
                // The connection came back and has not entered yet: the
                // next `login` sends it.
                Err(RequestError::Refused(error)) if error.code == ErrorCode::NotJoined => {
                    answer(id, Ok(()));
                    chat.in_room.set(false);
                    break;
                }
                Err(RequestError::Refused(error)) if at_once => {
                    chat.outbox.update(|o| {
                        o.take(id);
                    });
                    answer(id, Err(NotSent::Refused(error.message)));
                }
                Err(RequestError::Refused(error)) => {
                    chat.outbox.update(|o| o.refuse(id, error.message));
                }
                Err(RequestError::BadReply(reason)) => {
                    chat.outbox.update(|o| o.refuse(id, reason));
                    answer(id, Ok(()));
                }
                // No answer in time, or the connection dropped: it may have
                // been stored. It stays pending and goes again under the same
                // id (now, or after the next `login`), and the server answers
                // with what it stored, if it did.
                Err(RequestError::Timeout) => answer(id, Ok(())),
                Err(RequestError::Disconnected | RequestError::NotConnected) => {
                    answer(id, Ok(()));
                    break;
                }
            }
        }
        DELIVERING.set(false);
        // Back in the room while the last request was still waiting.
        if chat.outbox.with_untracked(Outbox::has_unsent) {
            deliver(chat);
        }
    });
}

/// Over a rate limit, or refused while the server is busy, a request waits
/// as long as the server says and goes again; `true` when it waited (so the
/// caller should retry).
async fn waited_out(error: &RequestError) -> bool {
    match error {
        RequestError::Refused(error)
            if matches!(error.code, ErrorCode::RateLimited | ErrorCode::Busy) =>
        {
            let wait = error.retry_after_ms.unwrap_or(1_000);
            gloo_timers::future::sleep(Duration::from_millis(wait)).await;
            true
        }
        _ => false,
    }
}

/// The composer changed: `typing` on the first keystroke (and again while it
/// goes on), `stop typing` when the box is emptied.
pub fn typed(draft_empty: bool) {
    let t = now();
    match (TYPIST.get(), draft_empty) {
        (Some(_), true) => {
            TYPIST.set(None);
            emit(&StopTyping);
        }
        (None, true) => {}
        (Some(typist), false) if t - typist.last_sent < TYPING_REPEAT_MS => {
            TYPIST.set(Some(Typist {
                last_input: t,
                ..typist
            }));
        }
        (_, false) => {
            TYPIST.set(Some(Typist {
                last_input: t,
                last_sent: t,
            }));
            emit(&Typing);
        }
    }
}

/// Emits an event that needs no answer. Typing news is worthless once late,
/// so an emit while offline is dropped, not queued.
fn emit<E: ClientEvent>(event: &E) {
    if let Some(client) = client()
        && let Err(error) = client.emit(event)
    {
        leptos::logging::debug_warn!("{} not sent: {error}", E::NAME);
    }
}

/// `ws://host/socket.io/` (or `wss://` on an https page).
fn socket_url() -> String {
    let location = window().location();
    let secure = location.protocol().is_ok_and(|p| p == "https:");
    let host = location.host().unwrap_or_default();
    format!("{}://{host}/socket.io/", if secure { "wss" } else { "ws" })
}

/// 128 random bits from the browser's CSPRNG, as 32 hex digits (a valid
/// `protocol::validate_client_id`).
fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    let crypto = window().crypto().ok()?;
    crypto.get_random_values_with_u8_array(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// This browser's client id: made once, kept in local storage, shared by its
/// tabs. Without storage, the page gets one of its own.
fn client_id() -> Option<String> {
    let storage = window().local_storage().ok().flatten();
    if let Some(id) = storage
        .as_ref()
        .and_then(|s| s.get_item(CLIENT_ID_KEY).ok().flatten())
    {
        return Some(id);
    }
    let id = random_id()?;
    if let Some(storage) = storage
        && let Err(error) = storage.set_item(CLIENT_ID_KEY, &id)
    {
        leptos::logging::debug_warn!("could not keep the client id: {error:?}");
    }
    Some(id)
}
