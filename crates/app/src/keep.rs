//! What a tab keeps across a reload, in its session storage, per account:
//! the outbox (messages written and not yet stored) and the composer's
//! draft. A reload, or a crash of the page, loses nothing written; the
//! outbox goes out once the page is back in the room, under the same client
//! ids, so what had reached the server before is not stored twice.
//!
//! Session storage belongs to one tab and ends with it: two tabs of one
//! account never send each other's messages. An expired session keeps them
//! for the next login of the same account in the tab; logging out forgets
//! them. Browser only.

use leptos::prelude::*;

use crate::chat::Chat;
use crate::outbox::Outbox;

/// The outbox's key, before `.` and the account id.
const OUTBOX_KEY: &str = "chatroom.outbox";

/// The draft's key, before `.` and the account id.
const DRAFT_KEY: &str = "chatroom.draft";

fn storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

fn key(what: &str, account: i64) -> String {
    format!("{what}.{account}")
}

/// Fills the outbox, and the draft unless something is typed already, with
/// what this tab kept for `account`.
pub fn restore(chat: Chat, account: i64) {
    let Some(storage) = storage() else {
        return;
    };
    let read = |what| storage.get_item(&key(what, account)).ok().flatten();
    if let Some(stored) = read(OUTBOX_KEY) {
        chat.outbox.set(Outbox::from_stored(&stored));
    }
    if let Some(draft) = read(DRAFT_KEY)
        && chat.draft.with_untracked(String::is_empty)
    {
        chat.draft.set(draft);
    }
}

/// From now on, writes the outbox and the draft down whenever they change,
/// under the account logged in then (nothing while logged out).
pub fn watch(chat: Chat) {
    let account = move || chat.account.with_untracked(|a| a.as_ref().map(|a| a.id));
    Effect::new(move |_| {
        let stored = chat
            .outbox
            .with(|o| (!o.items.is_empty()).then(|| o.to_stored()));
        if let Some(account) = account() {
            write(&key(OUTBOX_KEY, account), stored.as_deref());
        }
    });
    Effect::new(move |_| {
        let draft = chat.draft.get();
        if let Some(account) = account() {
            write(
                &key(DRAFT_KEY, account),
                Some(draft.as_str()).filter(|d| !d.is_empty()),
            );
        }
    });
}

/// Forgets what this tab kept for `account` (it logged out).
pub fn forget(account: i64) {
    for what in [OUTBOX_KEY, DRAFT_KEY] {
        write(&key(what, account), None);
    }
}

/// Stores `value` under `key`, or removes the key for `None`. Storage that
/// is full or refused only costs the copy: the page still has it.
fn write(key: &str, value: Option<&str>) {
    let Some(storage) = storage() else {
        return;
    };
    let written = match value {
        Some(value) => storage.set_item(key, value),
        None => storage.remove_item(key),
    };
    if let Err(error) = written {
        leptos::logging::debug_warn!("could not keep {key}: {error:?}");
    }
}
