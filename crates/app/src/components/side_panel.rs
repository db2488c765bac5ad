//! The side panel: who is online, and the activity log (joins and leaves).
//! Beside the stream on a wide screen; a drawer on a phone (see
//! [`Drawer`]).

use leptos::prelude::*;

use super::drawer::Drawer;
use super::line_view;
use crate::chat::Chat;
use crate::format::{iso_utc, local_time, name_class};
use crate::room::{Entry, activity_line};

/// How many joins and leaves the panel lists (the stream has them all).
const ACTIVITY_SHOWN: usize = 30;

/// Online users with their count, and the recent activity.
#[component]
pub fn SidePanel(chat: Chat) -> impl IntoView {
    let activity = move || chat.view.with(|v| v.recent_activity(ACTIVITY_SHOWN));
    let drawer = Drawer::get();
    let (backdrop, close) = drawer.parts();
    view! {
        {backdrop}
        <aside id="side-panel" class="side" class:open=move || drawer.is_open() aria-label="People and activity" on:focusout=move |ev| drawer.focus_moved(ev.related_target())>
            {close}
            <section id="online" aria-labelledby="online-count">
                <h2 id="online-count">{move || chat.view.with(|v| v.online_text())}</h2>
                <ul>
                    <For
                        each=move || chat.view.with(|v| v.users.clone())
                        key=|name| name.clone()
                        children=move |name| {
                            let me = chat.view.with_untracked(|v| v.me.as_deref() == Some(name.as_str()));
                            let class = name_class(&name);
                            // The whole name on hover: a long one is cut short.
                            let title = name.clone();
                            view! { <li class=class class:me=me title=title><bdi>{name}</bdi></li> }
                        }
                    />
                </ul>
            </section>
            <section id="activity-log" aria-label="Activity">
                <h2>"Activity"</h2>
                <ul>
                    <For
                        each=activity
                        key=Entry::id
                        children=move |entry| {
                            let ts = entry.timestamp();
                            view! {
                                <li>
                                    <span>{activity_line(&entry).map(line_view)}</span>
                                    " "
                                    <time datetime=iso_utc(ts)>{local_time(ts)}</time>
                                </li>
                            }
                        }
                    />
                </ul>
            </section>
        </aside>
    }
}
