//! The stream: messages, joins and leaves in order, kept scrolled to the
//! newest unless the reader scrolled up; and the typing indicator under it.

use leptos::html::Ol;
use leptos::prelude::*;

use super::hue_style;
use crate::chat::Chat;
use crate::format::{iso_utc, local_time};
use crate::room::Entry;

/// How close to the bottom (px) still counts as "reading the newest".
const STICK_DISTANCE_PX: i32 = 48;

/// The message stream, an `aria-live` log so screen readers announce new items.
#[component]
pub fn MessageList(chat: Chat) -> impl IntoView {
    let list = NodeRef::<Ol>::new();
    // The list's height before the latest items came: whether the reader was
    // at the bottom is read from it and the scroll position as they are now,
    // so a scroll whose event has not fired yet still counts.
    let height_before = StoredValue::new(0);
    Effect::new(move |_| {
        chat.view.with(|v| v.entries.len());
        if let Some(el) = list.get() {
            let gap = height_before.get_value() - el.scroll_top() - el.client_height();
            if gap <= STICK_DISTANCE_PX {
                el.set_scroll_top(el.scroll_height());
            }
            height_before.set_value(el.scroll_height());
        }
    });
    view! {
        <ol id="messages" role="log" aria-live="polite" aria-label="Messages" node_ref=list>
            <For
                each=move || chat.view.with(|v| v.entries.clone())
                key=Entry::id
                children=move |entry| view! { <EntryItem entry/> }
            />
        </ol>
    }
}

/// One item of the stream.
#[component]
fn EntryItem(entry: Entry) -> impl IntoView {
    let id = entry.id();
    let time =
        view! { <time datetime=iso_utc(entry.timestamp())>{local_time(entry.timestamp())}</time> };
    match entry {
        Entry::Message { message, own } => {
            let style = hue_style(&message.username);
            view! {
            <li class="message" class:own=own data-id=id style=style>
                <span class="author">{message.username}</span>
                " "
                {time}
                <p class="text">{message.message}</p>
            </li>
            }
            .into_any()
        }
        activity => view! {
            <li class="activity" data-id=id>
                <span>{activity.activity_text()}</span>
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
            {move || chat.view.with(|v| v.typing_text()).unwrap_or_default()}
        </p>
    }
}
