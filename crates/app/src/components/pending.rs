//! The messages this page wrote that the server has not stored yet (the
//! outbox), under the stream: greyed, "sending…", in the order they go out.
//! One the server refused shows why, with buttons to edit or discard it.
//! Once stored, a message leaves this list and appears in the stream.

use leptos::prelude::*;

use crate::chat::Chat;
use crate::outbox::Outgoing;

/// The outbox, as a list after the message stream.
#[component]
pub fn PendingMessages(chat: Chat) -> impl IntoView {
    let me = move || {
        chat.view
            .with_untracked(|v| v.me.clone())
            .unwrap_or_default()
    };
    view! {
        <ol id="pending" aria-label="Messages not sent yet">
            <For
                each=move || chat.outbox.with(|o| o.items.clone())
                // A refusal changes the item: it is drawn again.
                key=|item| (item.client_id.clone(), item.refused.clone())
                children=move |item| view! { <PendingItem chat item me=me()/> }
            />
        </ol>
    }
}

/// One message on its way, or refused.
#[component]
fn PendingItem(chat: Chat, item: Outgoing, me: String) -> impl IntoView {
    let Outgoing {
        client_id,
        text,
        refused,
    } = item;
    let state = match refused {
        None => view! { <span class="state">"sending…"</span> }.into_any(),
        Some(reason) => {
            let (edit_id, discard_id) = (client_id.clone(), client_id.clone());
            view! {
                <span class="state">"not sent: "</span>
                <span class="reason" role="alert">{reason}</span>
                <button type="button" class="edit" on:click=move |_| chat.edit(&edit_id)>
                    "Edit"
                </button>
                <button type="button" class="discard" on:click=move |_| chat.discard(&discard_id)>
                    "Discard"
                </button>
            }
            .into_any()
        }
    };
    view! {
        <li class="pending" data-client-id=client_id>
            <bdi class="author">{me}</bdi>
            " "
            {state}
            <p class="text" dir="auto">{text}</p>
        </li>
    }
}
