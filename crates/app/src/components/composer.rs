//! The composer: type, press Enter, and the message goes out; the others see
//! "… is typing" meanwhile. Shift+Enter starts a new line; the box grows
//! with its lines up to [`MAX_ROWS`], then scrolls.

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::html::Textarea;
use leptos::prelude::*;
use protocol::MESSAGE_MAX_CHARS;

use super::{focus_on_mount, hydrated, typed_before_hydration};
use crate::chat::{Chat, NotSent};

/// The most lines the box grows to before it scrolls.
const MAX_ROWS: usize = 8;

/// How close to the limit the counter appears (characters left): far enough
/// ahead to trim a long message, late enough to stay out of the way.
const COUNTER_FROM: usize = 200;

/// What the counter says for a message of `length` characters: nothing
/// until it nears the limit, then how many are left, or how many too many.
fn counter_text(length: usize) -> Option<String> {
    if length + COUNTER_FROM < MESSAGE_MAX_CHARS {
        return None;
    }
    Some(match MESSAGE_MAX_CHARS.checked_sub(length) {
        Some(left) => format!("{left} left"),
        None => format!("{} too many", length - MESSAGE_MAX_CHARS),
    })
}

/// The message box. Enter sends; the text comes back if the server refuses
/// it, and over the sender's rate limit a countdown says when it may go.
/// Near the length limit a counter says how much is left; past it the
/// message cannot be sent.
#[component]
pub fn Composer(chat: Chat) -> impl IntoView {
    let draft = chat.draft;
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
    // Counted as the server counts: trimmed, in characters.
    let length = Memo::new(move |_| draft.with(|d| d.trim().chars().count()));
    let too_long = move || length.get() > MESSAGE_MAX_CHARS;
    let counter = move || counter_text(length.get());
    let rows = move || draft.with(|d| d.split('\n').count().clamp(1, MAX_ROWS));
    let input = NodeRef::<Textarea>::new();
    focus_on_mount(move || input.get().map(Into::into));
    // Sending needs the WASM: until it runs, Send is disabled, and what was
    // typed meanwhile is kept.
    let hydrated = hydrated();
    let typed = typed_before_hydration("message");
    if !typed.is_empty() && draft.with_untracked(String::is_empty) {
        draft.set(typed);
    }
    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() || too_long() {
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
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        send();
    };
    let on_keydown = move |ev: KeyboardEvent| {
        // Enter while an input method is composing picks its candidate.
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    view! {
        <form id="composer" on:submit=on_submit>
            <textarea
                id="message"
                aria-label="Message"
                aria-describedby="composer-counter"
                placeholder="Type a message…"
                autocomplete="off"
                rows=rows
                node_ref=input
                prop:value=draft
                on:keydown=on_keydown
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    chat.typed(text.trim().is_empty());
                    draft.set(text);
                }
            ></textarea>
            <button type="submit" disabled=move || too_long() || !hydrated.get()>"Send"</button>
            <p id="composer-counter" class:over=too_long aria-live="polite">{counter}</p>
            <p id="composer-error" role="alert">{shown_error}</p>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_shows_from_1800_characters() {
        assert_eq!(counter_text(0), None);
        assert_eq!(counter_text(1_799), None);
        assert_eq!(counter_text(1_800).as_deref(), Some("200 left"));
        assert_eq!(counter_text(1_877).as_deref(), Some("123 left"));
        assert_eq!(counter_text(2_000).as_deref(), Some("0 left"));
        assert_eq!(counter_text(2_003).as_deref(), Some("3 too many"));
    }
}
