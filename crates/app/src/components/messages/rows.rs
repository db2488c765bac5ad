//! How each row of the stream looks: day dividers, the "New messages"
//! divider, messages (the first of a run with its author and time, long ones
//! folded behind "Show more", links clickable), and runs of joins and leaves
//! in one line that opens to list them. Every row carries a `data-key` that
//! survives re-rendering, so the list can keep the reader's place.

use leptos::prelude::*;
use protocol::Timestamp;

use crate::components::line_view;
use crate::format::{TextPiece, clock_time, full_time, iso_utc, linkify, name_class};
use crate::room::stream::{Row, RowKey, activity_summary};
use crate::room::{Entry, activity_line};

/// One row; times on the reader's clock once `local` is set.
pub fn row_view(row: Row, local: RwSignal<bool>) -> AnyView {
    let key = match row.key() {
        RowKey::Day(day, _) => format!("d{day}"),
        RowKey::Unread(_) => "unread".to_owned(),
        RowKey::Message(id, _) => format!("m{id}"),
        RowKey::Activity(first, _) => format!("a{first}"),
    };
    match row {
        Row::Day { label, .. } => view! {
            <li class="day" data-key=key><span>{label}</span></li>
        }
        .into_any(),
        Row::Unread { .. } => view! {
            <li class="unread" id="new-messages" data-key=key><span>"New messages"</span></li>
        }
        .into_any(),
        Row::Message {
            message,
            head,
            own,
            long,
        } => {
            let class = format!("message {}", name_class(&message.username));
            let open = RwSignal::new(false);
            // Under a run's name the author is not shown again, but a
            // screen reader reading one message still hears who said it.
            let author = if head {
                view! { <bdi class="author">{message.username}</bdi>" " }.into_any()
            } else {
                view! { <bdi class="visually-hidden">{message.username}": "</bdi> }.into_any()
            };
            let fold = long.then(|| {
                view! {
                    <button
                        type="button"
                        class="fold"
                        aria-expanded=move || open.get().to_string()
                        on:click=move |_| open.update(|o| *o = !*o)
                    >
                        {move || if open.get() { "Show less" } else { "Show more" }}
                    </button>
                }
            });
            view! {
                <li class=class class:own=own class:cont=!head data-id=message.id data-key=key>
                    <div class="meta">{author}{time_view(message.timestamp, local)}</div>
                    <p class="text" dir="auto" class:folded=move || long && !open.get()>
                        {text_view(&message.message)}
                    </p>
                    {fold}
                </li>
            }
            .into_any()
        }
        Row::Activity { events } => activity_view(events, key, local),
    }
}

/// A run of joins and leaves: one line, or for several a summary that opens
/// to the list.
fn activity_view(events: Vec<Entry>, key: String, local: RwSignal<bool>) -> AnyView {
    let first = events.first().map_or(0, Entry::id);
    let last_time = events.last().map_or(0, Entry::timestamp);
    if let [single] = events.as_slice() {
        return view! {
            <li class="activity" data-id=first data-key=key>
                <span>{activity_line(single).map(line_view)}</span>
                " "
                {time_view(single.timestamp(), local)}
            </li>
        }
        .into_any();
    }
    let summary = line_view(activity_summary(&events));
    let items = events
        .into_iter()
        .map(|e| {
            view! {
                <li>
                    <span>{activity_line(&e).map(line_view)}</span>
                    " "
                    {time_view(e.timestamp(), local)}
                </li>
            }
        })
        .collect_view();
    view! {
        <li class="activity run" data-id=first data-key=key>
            <details>
                <summary><span>{summary}</span>" "{time_view(last_time, local)}</summary>
                <ul class="run-items">{items}</ul>
            </details>
        </li>
    }
    .into_any()
}

/// "14:05", with the full date and time on hover.
fn time_view(ms: Timestamp, local: RwSignal<bool>) -> impl IntoView {
    view! {
        <time datetime=iso_utc(ms) title=move || full_time(ms, local.get())>
            {move || clock_time(ms, local.get())}
        </time>
    }
}

/// A message's text as text nodes, its `http(s)` addresses as links that
/// open apart from the room (and tell the other site nothing of it).
fn text_view(text: &str) -> impl IntoView + use<> {
    linkify(text)
        .into_iter()
        .map(|piece| match piece {
            TextPiece::Text(text) => text.into_any(),
            TextPiece::Link(url) => {
                let href = url.clone();
                view! { <a href=href target="_blank" rel="noopener noreferrer">{url}</a> }
                    .into_any()
            }
        })
        .collect_view()
}
