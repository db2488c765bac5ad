//! The room in the page's first render: for a visitor whose login cookie
//! holds, the server renders the room itself (who is online, the recent
//! history) instead of the login form, so a logged-in reload shows the
//! conversation at once, before and without the WASM.
//!
//! [`find_visitor`] runs before each page render (it may wait on the store,
//! which the render's context functions cannot) and leaves an
//! [`app::RoomStart`] in the request's extensions; [`page_context`] hands it
//! to the app. A cookie that no longer holds (expired, logged out) renders
//! the login form, as no cookie does.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use protocol::{Account, HISTORY_PAGE, Login};

use crate::AppState;
use crate::auth::{self, Unidentified};

/// Page middleware: finds out who a page request's login cookie belongs to
/// and, if it holds, what the room looks like to them now.
pub async fn find_visitor(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // The cookie only: a page load never carries a bearer token.
    let token = (request.method() == Method::GET)
        .then(|| state.security.cookie.token(request.headers()))
        .flatten();
    if let Some(token) = token
        && let Some(start) = room_start(&state, &token).await
    {
        request.extensions_mut().insert(start);
    }
    next.run(request).await
}

/// The room as the cookie's account would find it, or `None` to render the
/// login form. A store that fails renders the form too (and is logged): the
/// page's own login then reports what is wrong.
async fn room_start(state: &AppState, token: &str) -> Option<app::RoomStart> {
    let user = match auth::identify(&state.tokens, &state.store, Some(token)).await {
        Ok((user, _)) => user,
        Err(Unidentified::Internal) => return None,
        Err(refused) => {
            tracing::debug!(%refused, "page rendered with the login form");
            return None;
        }
    };
    let (history, mut users) = tokio::join!(state.store.recent(HISTORY_PAGE), state.room.users());
    let history = match history {
        Ok(history) => history,
        Err(error) => {
            tracing::error!(%error, "could not read the recent history for a page");
            return None;
        }
    };
    // The visitor enters as soon as the page connects: shown online from
    // the first frame, as the room's own `login` will say.
    if !users.contains(&user.username) {
        users.push(user.username.clone());
    }
    Some(app::RoomStart {
        account: Account {
            id: user.id,
            username: user.username.clone(),
        },
        room: Login {
            num_users: users.len(),
            username: user.username,
            users,
            history,
        },
    })
}

/// Per rendered page: hands the app the room [`find_visitor`] found, if any.
pub fn page_context() {
    use leptos::prelude::{provide_context, use_context};
    let start = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<app::RoomStart>().cloned());
    if let Some(start) = start {
        provide_context(start);
    }
}
