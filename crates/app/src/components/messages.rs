//! The stream: messages, joins and leaves in order, kept scrolled to the
//! newest unless the reader scrolled up; and the typing indicator under it.

use leptos::html::Ol;
use leptos::prelude::*;

use super::line_view;
use crate::chat::Chat;
use crate::format::{iso_utc, local_time, name_class};
use crate::room::{Entry, activity_line};

/// How close to the bottom (px) still counts as "reading the newest".
const STICK_DISTANCE_PX: i32 = 48;

/// How close to the top (px) starts loading older messages.
const LOAD_OLDER_DISTANCE_PX: i32 = 80;

/// The message stream, an `aria-live` log so screen readers announce new
/// items. Scrolling to its top loads older pages (so does the button there,
/// for keyboards), keeping the reading position.
#[component]
pub fn MessageList(chat: Chat) -> impl IntoView {
    let list = NodeRef::<Ol>::new();
    // The list's height and first item before the latest change: whether the
    // reader was at the bottom is read from them and the scroll position as
    // it is now, so a scroll whose event has not fired yet still counts.
    let height_before = StoredValue::new(0);
    let first_before = StoredValue::new(None);
    Effect::new(move |_| {
        let (first, _) = chat.view.with(|v| (v.first_id(), v.entries.len()));
        if let Some(el) = list.get() {
            let grown = el.scroll_height() - height_before.get_value();
            let prepended =
                matches!((first, first_before.get_value()), (Some(f), Some(b)) if f < b);
            if prepended {
                // Older items above: keep the reader on what they were reading.
                el.set_scroll_top(el.scroll_top() + grown);
            } else if height_before.get_value() - el.scroll_top() - el.client_height()
                <= STICK_DISTANCE_PX
            {
                el.set_scroll_top(el.scroll_height());
            }
            height_before.set_value(el.scroll_height());
            first_before.set_value(first);
        }
    });
    let on_scroll = move |_| {
        if list
            .get()
            .is_some_and(|el| el.scroll_top() < LOAD_OLDER_DISTANCE_PX)
        {
            chat.load_older();
        }
    };
    let complete = move || chat.view.with(|v| v.complete);
    view! {
        <ol id="messages" role="log" aria-live="polite" aria-label="Messages" node_ref=list on:scroll=on_scroll>
            <li class="history-edge">
                <Show
                    when=complete
                    fallback=move || view! {
                        <button type="button" id="load-older" disabled=move || chat.loading_older.get() on:click=move |_| chat.load_older()>
                            {move || if chat.loading_older.get() { "Loading earlier messages…" } else { "Load earlier messages" }}
                        </button>
                    }
                >
                    <span id="beginning">"This is the beginning of the conversation."</span>
                </Show>
            </li>
            <For
                each=move || chat.view.with(|v| v.entries.clone())
                key=Entry::id
                children=move |entry| {
                    let own = chat.view.with_untracked(|v| match &entry {
                        Entry::Message(m) => v.is_me(&m.username),
                        _ => false,
                    });
                    view! { <EntryItem entry own/> }
                }
            />
        </ol>
    }
}

/// One item of the stream; `own` for the viewer's own messages.
#[component]
fn EntryItem(entry: Entry, own: bool) -> impl IntoView {
    let id = entry.id();
    let time =
        view! { <time datetime=iso_utc(entry.timestamp())>{local_time(entry.timestamp())}</time> };
    match entry {
        Entry::Message(message) => {
            let class = format!("message {}", name_class(&message.username));
            view! {
            <li class=class class:own=own data-id=id>
                <bdi class="author">{message.username}</bdi>
                " "
                {time}
                <p class="text" dir="auto">{message.message}</p>
            </li>
            }
            .into_any()
        }
        activity => view! {
            <li class="activity" data-id=id>
                <span>{activity_line(&activity).map(line_view)}</span>
                " "
                {time}
            </li>
        }
        .into_any(),
    }
}

/// "alice is typing…", under the stream.
#[component]
pub fn TypingIndicator(chat: Chat) -> impl IntoView {
    view! {
        <p id="typing" aria-live="polite">
            {move || chat.view.with(|v| v.typing_line()).map(line_view)}
        </p>
    }
}
