//! The composer: type, press Enter, and the message goes out; the others see
//! "… is typing" meanwhile.

use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;

use super::focus_on_mount;
use crate::chat::{Chat, NotSent};

/// The message box. Enter sends; the text comes back if the server refuses
/// it, and over the sender's rate limit a countdown says when it may go.
#[component]
pub fn Composer(chat: Chat) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    // When sending works again, after a `rate_limited` (ms, the page's clock).
    let slow_until = RwSignal::new(None::<f64>);
    let shown_error = move || {
        let left = slow_until
            .get()
            .map(|until| ((until - chat.now.get()) / 1000.0).ceil())
            .filter(|left| *left > 0.0);
        match left {
            Some(left) => Some(format!("Slow down: you can send again in {left} s")),
            None => error.get(),
        }
    };
    let input = NodeRef::<Input>::new();
    focus_on_mount(input);
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        draft.set(String::new());
        chat.typed(true);
        chat.send(text.clone(), move |result| {
            match result {
                Ok(()) => return error.set(None),
                Err(NotSent::Refused(reason)) => error.set(Some(reason)),
                Err(NotSent::SlowDown { until }) => {
                    error.set(None);
                    slow_until.set(Some(until));
                }
            }
            // Give the text back unless the user started a new one.
            if draft.get_untracked().is_empty() {
                draft.set(text);
            }
        });
    };
    view! {
        <form id="composer" on:submit=on_submit>
            <input
                id="message"
                aria-label="Message"
                placeholder="Type a message…"
                autocomplete="off"
                node_ref=input
                prop:value=draft
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    chat.typed(text.trim().is_empty());
                    draft.set(text);
                }
            />
            <button type="submit">"Send"</button>
            <p id="composer-error" role="alert">{shown_error}</p>
        </form>
    }
}
