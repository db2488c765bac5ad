//! The login and register forms (one form, two modes): the way into the
//! room. The server's reasons show inline; the button waits while a request
//! is on its way.

use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;

use super::focus_on_mount;
use crate::chat::{AuthMode, Chat};

/// Log in, or create an account.
#[component]
pub fn AuthForm(chat: Chat) -> impl IntoView {
    let mode = RwSignal::new(AuthMode::Login);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let input = NodeRef::<Input>::new();
    focus_on_mount(input);
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        chat.authenticate(
            mode.get_untracked(),
            username.get_untracked(),
            password.get_untracked(),
        );
    };
    let switch = move |to: AuthMode| {
        move |_| {
            mode.set(to);
            chat.auth_error.set(None);
        }
    };
    let is = move |m: AuthMode| move || mode.get() == m;
    view! {
        <main id="auth-page">
            <form id="auth" on:submit=on_submit>
                <div class="modes" role="group" aria-label="Log in or register">
                    <button type="button" id="show-login" aria-pressed=move || is(AuthMode::Login)().to_string() on:click=switch(AuthMode::Login)>"Log in"</button>
                    <button type="button" id="show-register" aria-pressed=move || is(AuthMode::Register)().to_string() on:click=switch(AuthMode::Register)>"Register"</button>
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

/// Who is logged in, and the way out.
#[component]
pub fn Account(chat: Chat) -> impl IntoView {
    view! {
        <Show when=move || chat.account.with(Option::is_some)>
            <div class="account">
                <bdi id="whoami" title=move || chat.account.with(|a| a.as_ref().map(|a| a.username.clone()))>
                    {move || chat.account.with(|a| a.as_ref().map(|a| a.username.clone()))}
                </bdi>
                <button type="button" id="logout" on:click=move |_| chat.logout()>"Log out"</button>
            </div>
        </Show>
    }
}
