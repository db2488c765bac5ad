//! The stream: messages, joins and leaves in order, kept scrolled to the
//! newest unless the reader scrolled up; and the typing indicator under it.
//!
//! Only a window of the room's items is on the page (the newest
//! [`FOLLOW_ITEMS`](crate::room::stream::FOLLOW_ITEMS) while following, more
//! as the reader scrolls back), rendered as keyed rows: a new message adds
//! one row and drops one, whatever the conversation's length. The rows
//! themselves (grouping, days, runs of joins) are computed in
//! [`crate::room::stream`]; how each looks is in [`rows`].

mod rows;

use leptos::html::{Div, Ol};
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys;
use protocol::EventId;

use super::line_view;
use crate::chat::Chat;
use crate::format::day_of;
use crate::room::Entry;
use crate::room::stream::{self, Layout, Row, Span, Window};

/// How close to the bottom (px) still counts as "reading the newest".
const STICK_DISTANCE_PX: i32 = 48;

/// How close to the top (px) brings back older items.
const LOAD_OLDER_DISTANCE_PX: i32 = 80;

/// What came while the reader was not looking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Unread {
    /// The first of them: "New messages" goes above it.
    from: Option<EventId>,
    /// How many messages, for the jump button and the tab's title.
    count: usize,
}

/// The row the reader is looking at (the first one visible) and how far from
/// the top of the list's box it is, to keep it there while rows come and go
/// above it.
#[derive(Debug, Clone)]
struct Anchor {
    key: String,
    offset: i32,
}

/// The message stream: a focusable, scrollable `role="log"` region (screen
/// readers announce new items; PageUp/PageDown/Home/End scroll it; Ctrl+Home
/// goes to the top and loads older pages, as scrolling to the top and the
/// button there do, keeping the reading position), with a jump-to-newest
/// button when the reader scrolled up.
#[component]
pub fn MessageList(chat: Chat) -> impl IntoView {
    let scroller = NodeRef::<Div>::new();
    let list = NodeRef::<Ol>::new();
    let window = RwSignal::new(Window::follow());
    // The reader is at the bottom, following the newest.
    let following = RwSignal::new(true);
    let unread = RwSignal::new(Unread::default());
    // The tab is hidden (`document.visibilityState`).
    let hidden = RwSignal::new(false);
    // Times and days on the reader's clock: only once hydrated, so the
    // browser's first render matches the server's (UTC).
    let local = RwSignal::new(false);
    let mounted_at = RwSignal::new(0.0_f64);
    // The scroll height when the list last stuck to the bottom: rows added
    // since do not make the reader "scrolled up".
    let stuck_height = StoredValue::new(0);
    let anchor = StoredValue::new(None::<Anchor>);
    let frame_pending = StoredValue::new(false);
    // The reader reached the top and a page of older items is on its way.
    let wants_older = StoredValue::new(false);
    // The load button has the focus: when it goes (the beginning reached),
    // focus must not fall to the page's body.
    let keep_focus = StoredValue::new(false);

    let today = Memo::new(move |_| {
        let now = chat.now.get().max(mounted_at.get());
        #[allow(clippy::cast_possible_truncation)] // ms since 1970 fit an i64
        day_of(now as i64, local.get())
    });
    let span = Memo::new(move |_| {
        let window = window.get();
        chat.view.with(|v| window.span(&v.entries))
    });
    let rows = Memo::new(move |_| {
        let Span { from, to, .. } = span.get();
        let unread_from = unread.with(|u| u.from);
        let (today, local) = (today.get(), local.get());
        chat.view.with(|v| {
            let day = move |ms| day_of(ms, local);
            let layout = Layout {
                me: v.me.as_deref(),
                unread_from,
                today,
                day_of: &day,
            };
            stream::rows(v.entries.range(from..to), &layout)
        })
    });

    let ends = Memo::new(move |_| chat.view.with(|v| (v.first_id(), v.last_id())));
    // The rows on the page: updated at most once a frame, so a flood of
    // messages costs one diff per frame, not one per message.
    let shown = RwSignal::new(rows.get_untracked());

    // After the rows changed: keep to the bottom, or keep the row being read
    // where it was. (The list may have gone, logged out, before the frame
    // came: then nothing.)
    let settle = move || {
        let Some(el) = scroller.try_get_untracked().flatten() else {
            return;
        };
        if following.try_get_untracked() == Some(true) {
            el.set_scroll_top(el.scroll_height());
            stuck_height.try_set_value(el.scroll_height());
        } else if let Some(Anchor { key, offset }) = anchor.try_get_value().flatten()
            && let Some(row) = find_row(&el, &key)
        {
            // Only if rows above it moved: a smooth scroll (End, PageDown)
            // runs on the compositor, and setting the position it already
            // has would cut it short.
            let kept = row.offset_top() - offset;
            if kept != el.scroll_top() {
                el.set_scroll_top(kept);
            }
        }
    };
    let render = move || {
        if frame_pending.try_set_value(false).is_some() {
            return;
        }
        // The row being read, where it is now, just before the rows change:
        // the last scroll event's position may be a frame behind a smooth
        // scroll, and restoring that would pull the reader back.
        if anchor.get_value().is_some()
            && let (Some(el), Some(ol)) = (scroller.get_untracked(), list.get_untracked())
        {
            anchor.set_value(first_visible(&ol, el.scroll_top()));
        }
        shown.set(rows.get_untracked());
        leptos::task::spawn_local(async move {
            // Once the list has been updated.
            leptos::task::tick().await;
            settle();
        });
    };
    Effect::new(move |first: Option<()>| {
        // What the rows depend on, without computing them: the window, and
        // its items (past MAX_ENTRIES the span's indices stay the same while
        // the items in it change).
        span.track();
        ends.track();
        unread.track();
        local.track();
        today.track();
        if first.is_none() {
            request_animation_frame(settle); // the first render, maybe the server's
        } else if !frame_pending.get_value() {
            frame_pending.set_value(true);
            request_animation_frame(render);
        }
    });

    // Older items arrived from the server after the reader reached the top:
    // bring them into the window.
    Effect::new(move |_| {
        if span.get().hidden_above() > 0 && wants_older.get_value() {
            wants_older.set_value(false);
            chat.view
                .with_untracked(|v| window.update(|w| *w = w.earlier(&v.entries)));
        }
    });

    // Counts what arrives while the reader is scrolled up or away; the
    // reader's own message brings them back to the newest.
    let last_seen = StoredValue::new(None::<EventId>);
    let jump = move || {
        wants_older.set_value(false);
        window.set(Window::follow());
        following.set(true);
        anchor.set_value(None);
        read_all(unread);
        // To the bottom at once, and again once the rows are updated. At
        // once, because a scroll event already on its way (a browser sends
        // it before the next frame's callbacks) must find the list at the
        // bottom: measured against the old bottom, it would take the reader
        // for scrolled up and stop following.
        settle();
        request_animation_frame(settle);
    };
    Effect::new(move |_| {
        let (fresh, first, own) = chat.view.with(|v| {
            let seen = last_seen.get_value();
            last_seen.set_value(v.last_id().or(seen));
            let Some(seen) = seen else {
                return (0, None, false); // what the page opened with is not news
            };
            let (mut fresh, mut first, mut own) = (0, None, false);
            for entry in v.entries.iter().rev().take_while(|e| e.id() > seen) {
                if let Entry::Message(m) = entry {
                    if v.is_me(&m.username) {
                        own = true;
                    } else {
                        fresh += 1;
                        first = Some(m.id);
                    }
                }
            }
            (fresh, first, own)
        });
        if own {
            unread.set(Unread::default());
            if !following.get_untracked() {
                jump();
            }
        } else if fresh > 0 && (!following.get_untracked() || hidden.get_untracked()) {
            unread.update(|u| {
                if u.count == 0 {
                    u.from = first;
                }
                u.count += fresh;
            });
        }
    });

    #[cfg(feature = "hydrate")]
    browser_only(hidden, local, mounted_at, following, unread);

    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let span = span.get_untracked();
        let height = if following.get_untracked() {
            stuck_height.get_value()
        } else {
            el.scroll_height()
        };
        let at_bottom = height - el.scroll_top() - el.client_height() <= STICK_DISTANCE_PX;
        if at_bottom && span.hidden_below() > 0 {
            chat.view
                .with_untracked(|v| window.update(|w| *w = w.hold(&v.entries).later(&v.entries)));
        } else if at_bottom {
            if !following.get_untracked() {
                // The bottom as it is now: a scroll event still to come (the
                // rest of a smooth scroll) is measured against it.
                stuck_height.set_value(el.scroll_height());
                following.set(true);
                wants_older.set_value(false);
                window.set(Window::follow());
            }
            if !hidden.get_untracked() {
                read_all(unread);
            }
        } else if following.get_untracked() {
            following.set(false);
            chat.view
                .with_untracked(|v| window.update(|w| *w = w.hold(&v.entries)));
        }
        if !following.get_untracked() {
            anchor.set_value(
                list.get_untracked()
                    .and_then(|ol| first_visible(&ol, el.scroll_top())),
            );
        }
        if el.scroll_top() < LOAD_OLDER_DISTANCE_PX {
            older(chat, window, span, wants_older);
        }
    };

    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        match ev.key().as_str() {
            // Ctrl+Home: to the top of everything in memory, and the page
            // before it from the server.
            "Home" if ev.ctrl_key() || ev.meta_key() => {
                ev.prevent_default();
                following.set(false);
                chat.view.with_untracked(|v| {
                    window.update(|w| {
                        let mut held = w.hold(&v.entries);
                        while held.span(&v.entries).hidden_above() > 0 {
                            held = held.earlier(&v.entries);
                        }
                        *w = held;
                    });
                });
                anchor.set_value(None);
                request_animation_frame(move || {
                    el.set_scroll_top(0);
                });
                if !chat.view.with_untracked(|v| v.complete) {
                    wants_older.set_value(true);
                    chat.load_older();
                }
            }
            "End" if ev.ctrl_key() || ev.meta_key() => {
                ev.prevent_default();
                jump();
            }
            _ => {}
        }
    };

    let at_beginning_memo =
        Memo::new(move |_| chat.view.with(|v| v.complete) && span.get().hidden_above() == 0);
    // The load button: while loading it stays focusable (a disabled button
    // loses focus); when the beginning is reached it goes, and focus moves to
    // the list instead of the page's body.
    Effect::new(move |_| {
        let done = !chat.loading_older.get();
        at_beginning_memo.track();
        if done && keep_focus.get_value() {
            // Once the page has been updated (the button may be gone).
            request_animation_frame(move || {
                let lost = document()
                    .active_element()
                    .is_none_or(|e| e.tag_name().eq_ignore_ascii_case("body"));
                if lost && let Some(el) = scroller.try_get_untracked().flatten() {
                    keep_focus.try_set_value(false);
                    // Focus fails only on a detached element: nothing to do then.
                    let _ = el.focus();
                }
            });
        }
    });
    let load_button = move |_| {
        keep_focus.set_value(true);
        if !chat.loading_older.get_untracked() {
            older(chat, window, span.get_untracked(), wants_older);
        }
    };

    let at_beginning = move || at_beginning_memo.get();
    let show_jump = move || !following.get() || span.get().hidden_below() > 0;
    let jump_text = move || match unread.with(|u| u.count) {
        0 => "Jump to the newest".to_owned(),
        1 => "1 new message".to_owned(),
        n => format!("{n} new messages"),
    };
    let on_jump = move |_| {
        jump();
        if let Some(el) = scroller.get_untracked() {
            // Focus fails only on a detached element: nothing to do then.
            let _ = el.focus();
        }
    };
    view! {
        <div class="stream-view">
            <div
                id="messages"
                role="log"
                aria-live="polite"
                aria-label="Messages"
                tabindex="0"
                node_ref=scroller
                on:scroll=on_scroll
                on:keydown=on_keydown
            >
                <ol class="entries" node_ref=list>
                    <li class="history-edge">
                        <Show
                            when=at_beginning
                            fallback=move || view! {
                                <button
                                    type="button"
                                    id="load-older"
                                    aria-disabled=move || chat.loading_older.get().to_string()
                                    on:click=load_button
                                    on:focus=move |_| keep_focus.set_value(true)
                                    on:blur=move |ev: leptos::ev::FocusEvent| {
                                        // Focus moved elsewhere (not: the button went).
                                        if ev.related_target().is_some() {
                                            keep_focus.set_value(false);
                                        }
                                    }
                                >
                                    {move || if chat.loading_older.get() { "Loading earlier messages…" } else { "Load earlier messages" }}
                                </button>
                            }
                        >
                            <span id="beginning">"This is the beginning of the conversation."</span>
                        </Show>
                    </li>
                    <For
                        each=move || shown.get()
                        key=Row::key
                        children=move |row| rows::row_view(row, local)
                    />
                </ol>
            </div>
            <Show when=show_jump>
                <button type="button" id="jump-to-bottom" on:click=on_jump>
                    <span aria-hidden="true">"↓ "</span>
                    {jump_text}
                </button>
            </Show>
        </div>
    }
}

/// The reader has seen the news: the count goes (the marker stays). Only a
/// change notifies, so scrolling at the bottom re-renders nothing.
fn read_all(unread: RwSignal<Unread>) {
    if unread.with_untracked(|u| u.count) != 0 {
        unread.update(|u| u.count = 0);
    }
}

/// Brings back older items: from memory if the window stops short of it,
/// otherwise the page before from the server (unless the beginning is
/// shown).
fn older(chat: Chat, window: RwSignal<Window>, span: Span, wants_older: StoredValue<bool>) {
    if span.hidden_above() > 0 {
        chat.view
            .with_untracked(|v| window.update(|w| *w = w.hold(&v.entries).earlier(&v.entries)));
    } else if !chat.view.with_untracked(|v| v.complete) {
        wants_older.set_value(true);
        chat.load_older();
    }
}

/// The row `key` (its `data-key`), if rendered.
fn find_row(scroller: &web_sys::HtmlDivElement, key: &str) -> Option<web_sys::HtmlElement> {
    scroller
        .query_selector(&format!("[data-key=\"{key}\"]"))
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into().ok())
}

/// The first item at least partly below `scroll_top`, found by bisection
/// (rows are in order): the one the reader is looking at.
fn first_visible(list: &web_sys::HtmlOListElement, scroll_top: i32) -> Option<Anchor> {
    let rows = list.children();
    let row = |i: u32| {
        rows.item(i)
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    };
    let (mut lo, mut hi) = (0, rows.length());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let bottom = row(mid).map_or(0, |r| r.offset_top() + r.offset_height());
        if bottom <= scroll_top {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    // A message or a run of joins, not a divider: dividers stay at the top
    // when older items come in above them.
    (lo..rows.length()).find_map(|i| {
        let r = row(i)?;
        r.get_attribute("data-id")?;
        let key = r.get_attribute("data-key")?;
        Some(Anchor {
            key,
            offset: r.offset_top() - scroll_top,
        })
    })
}

/// The browser's part: the reader's clock, and the tab's visibility with
/// the unread count in its title.
#[cfg(feature = "hydrate")]
fn browser_only(
    hidden: RwSignal<bool>,
    local: RwSignal<bool>,
    mounted_at: RwSignal<f64>,
    following: RwSignal<bool>,
    unread: RwSignal<Unread>,
) {
    let is_hidden = || {
        js_sys::Reflect::get(&document(), &"visibilityState".into())
            .ok()
            .and_then(|v| v.as_string())
            .is_some_and(|v| v == "hidden")
    };
    Effect::new(move |_| {
        local.set(true);
        mounted_at.set(js_sys::Date::now());
        hidden.set(is_hidden());
    });
    let listener = window_event_listener_untyped("visibilitychange", move |_| {
        let now_hidden = is_hidden();
        hidden.set(now_hidden);
        if !now_hidden && following.get_untracked() {
            read_all(unread);
        }
    });
    on_cleanup(move || listener.remove());
    // "(3) Chatroom" while hidden with news; the plain title otherwise.
    let base = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        let count = unread.with(|u| u.count);
        let hidden = hidden.get();
        let doc = document();
        let plain = base.get_value().unwrap_or_else(|| {
            let title = doc.title();
            let plain = strip_count(&title).to_owned();
            base.set_value(Some(plain.clone()));
            plain
        });
        let title = if hidden && count > 0 {
            format!("({count}) {plain}")
        } else {
            plain
        };
        if doc.title() != title {
            doc.set_title(&title);
        }
    });
    on_cleanup(move || {
        if let Some(plain) = base.get_value() {
            document().set_title(&plain);
        }
    });
}

/// "Chatroom" from "(3) Chatroom".
#[cfg(feature = "hydrate")]
fn strip_count(title: &str) -> &str {
    title
        .strip_prefix('(')
        .and_then(|rest| rest.split_once(") "))
        .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        .map_or(title, |(_, plain)| plain)
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
