//! The entry form: the name to enter the room under.

use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;

use super::focus_on_mount;
use crate::chat::Chat;

/// Asks for a name and enters the room; shows the server's reason when it
/// refuses (a name taken, too long, …).
#[component]
pub fn EntryForm(chat: Chat) -> impl IntoView {
    let name = RwSignal::new(chat.wanted_name.get_untracked().unwrap_or_default());
    let input = NodeRef::<Input>::new();
    focus_on_mount(input);
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        chat.enter(name.get_untracked());
    };
    view! {
        <main id="entry-page">
            <form id="entry" on:submit=on_submit>
                <h2>"Join the conversation"</h2>
                <label for="name">"Your name"</label>
                <input
                    id="name"
                    name="name"
                    autocomplete="nickname"
                    required
                    node_ref=input
                    prop:value=name
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
                <button type="submit" disabled=move || chat.entering.get()>"Enter"</button>
                <p id="entry-error" role="alert">{move || chat.entry_error.get()}</p>
            </form>
        </main>
    }
}
