//! The login and register forms (one form, two modes): the way into the
//! room. The server's reasons show inline; the button waits while a request
//! is on its way.
//!
//! The forms work before the page hydrates and without JavaScript: the form
//! posts (never a GET, so a password never lands in a URL) to the server's
//! `/login` or `/register`, which sets the cookie and redirects; the mode
//! buttons are links in disguise (they submit a tiny GET form holding only
//! the mode). Once hydrated, both are handled in the page instead.

use leptos::ev::{MouseEvent, SubmitEvent};
use leptos::html::Input;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{focus_on_mount, typed_before_hydration};
use crate::chat::{AuthMode, Chat};

/// How the server opens the form, for the first render (shared with the
/// hydrating page): the register form (`/?mode=register`), and the reason
/// a form post without JavaScript was refused, shown once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthStart {
    /// Open on the register form.
    pub register: bool,
    /// Why the last form post was refused.
    pub error: Option<String>,
}

/// Log in, or create an account.
#[component]
pub fn AuthForm(chat: Chat) -> impl IntoView {
    // Provided by the server per request; read back from the page when it
    // hydrates, so both render the same; a default after a logout.
    let start = SharedValue::new(|| use_context::<AuthStart>().unwrap_or_default()).into_inner();
    if start.error.is_some() {
        chat.auth_error.set(start.error);
    }
    let mode = RwSignal::new(if start.register {
        AuthMode::Register
    } else {
        AuthMode::Login
    });
    // Whatever was typed while the WASM loaded is kept.
    let username = RwSignal::new(typed_before_hydration("username"));
    let password = RwSignal::new(typed_before_hydration("password"));
    let input = NodeRef::<Input>::new();
    focus_on_mount(move || input.get().map(Into::into));
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        chat.authenticate(
            mode.get_untracked(),
            username.get_untracked(),
            password.get_untracked(),
        );
    };
    let switch = move |to: AuthMode| {
        move |ev: MouseEvent| {
            // Hydrated: switch in place instead of loading the other form.
            ev.prevent_default();
            mode.set(to);
            chat.auth_error.set(None);
        }
    };
    let is = move |m: AuthMode| move || mode.get() == m;
    let action = move || match mode.get() {
        AuthMode::Login => "/login",
        AuthMode::Register => "/register",
    };
    view! {
        <main id="auth-page">
            // The mode buttons' own form: it sends only `mode`, never the
            // fields of the form below.
            <form id="auth-mode" method="get" action="/"></form>
            <form id="auth" method="post" action=action on:submit=on_submit>
                <div class="modes" role="group" aria-label="Log in or register">
                    <button type="submit" form="auth-mode" name="mode" value="login" id="show-login" aria-pressed=move || is(AuthMode::Login)().to_string() on:click=switch(AuthMode::Login)>"Log in"</button>
                    <button type="submit" form="auth-mode" name="mode" value="register" id="show-register" aria-pressed=move || is(AuthMode::Register)().to_string() on:click=switch(AuthMode::Register)>"Register"</button>
                </div>
                <h2>{move || if is(AuthMode::Login)() { "Log in to the room" } else { "Create an account" }}</h2>
                <p id="auth-notice" role="status">{move || chat.auth_notice.get()}</p>
                <label for="username">"Name"</label>
                <input
                    id="username"
                    name="username"
                    autocomplete="username"
                    required
                    node_ref=input
                    prop:value=username
                    on:input=move |ev| username.set(event_target_value(&ev))
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    required
                    autocomplete=move || if is(AuthMode::Login)() { "current-password" } else { "new-password" }
                    prop:value=password
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                <button type="submit" id="auth-submit" disabled=move || chat.auth_busy.get()>
                    {move || if is(AuthMode::Login)() { "Log in" } else { "Create account" }}
                </button>
                <p id="auth-error" role="alert">{move || chat.auth_error.get()}</p>
            </form>
        </main>
    }
}

/// Who is logged in, and the ways out: this session, or every session of
/// the account on every device. Each button is a form posting to the
/// server's `/logout` or `/logout-all`, so it works before the page has
/// hydrated; once hydrated, the page logs out in place.
#[component]
pub fn Account(chat: Chat) -> impl IntoView {
    let submit = move |everywhere: bool| {
        move |ev: SubmitEvent| {
            ev.prevent_default();
            if everywhere {
                chat.logout_all();
            } else {
                chat.logout();
            }
        }
    };
    view! {
        <Show when=move || chat.account.with(Option::is_some)>
            <div class="account">
                <bdi id="whoami" title=move || chat.account.with(|a| a.as_ref().map(|a| a.username.clone()))>
                    {move || chat.account.with(|a| a.as_ref().map(|a| a.username.clone()))}
                </bdi>
                <form method="post" action="/logout" on:submit=submit(false)>
                    <button type="submit" id="logout">"Log out"</button>
                </form>
                <form method="post" action="/logout-all" on:submit=submit(true)>
                    <button type="submit" id="logout-all" title="End this account's sessions on every device">"Log out everywhere"</button>
                </form>
            </div>
        </Show>
    }
}
