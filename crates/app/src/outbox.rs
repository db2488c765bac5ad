//! The messages this page has sent that the server has not yet taken, in
//! the order they were written, as plain data (unit-tested natively).
//!
//! Every message gets a random client id when it is written. It stays here,
//! shown as pending, until the server acknowledges it; while the page is
//! offline, or not yet back in the room, messages wait here, and go out in
//! order, one at a time, once it is. A message whose acknowledgement was lost
//! goes again under the same id: the server answers a repeated id with the
//! message it stored the first time, so nobody sees it twice.
//!
//! The browser keeps the outbox of a tab across reloads (see `keep`), in the
//! JSON of [`Outbox::to_stored`], read back by [`Outbox::from_stored`].

use serde::{Deserialize, Serialize};

/// A message on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    /// The id the server stores it under once (see
    /// `protocol::NewMessageWithId`).
    pub client_id: String,
    /// What was written.
    pub text: String,
    /// Why the server refused it, if it did: it then waits for the user to
    /// edit or discard it, and the messages after it go on without it.
    pub refused: Option<String>,
}

/// The page's outgoing messages, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Outbox {
    /// The messages, in the order they were written.
    pub items: Vec<Outgoing>,
}

impl Outbox {
    /// Adds a message at the end.
    pub fn push(&mut self, client_id: String, text: String) {
        self.items.push(Outgoing {
            client_id,
            text,
            refused: None,
        });
    }

    /// The oldest message still to send (refused ones wait for the user).
    pub fn next(&self) -> Option<&Outgoing> {
        self.items.iter().find(|item| item.refused.is_none())
    }

    /// Whether anything is still to send.
    pub fn has_unsent(&self) -> bool {
        self.next().is_some()
    }

    /// Marks a message refused, with the server's reason.
    pub fn refuse(&mut self, client_id: &str, reason: String) {
        if let Some(item) = self.items.iter_mut().find(|i| i.client_id == client_id) {
            item.refused = Some(reason);
        }
    }

    /// Takes a message out: it was stored, discarded, or is being edited.
    pub fn take(&mut self, client_id: &str) -> Option<Outgoing> {
        let at = self.items.iter().position(|i| i.client_id == client_id)?;
        Some(self.items.remove(at))
    }

    /// The outbox as the browser keeps it: a JSON array of
    /// `{"clientId", "text", "refused"}`.
    pub fn to_stored(&self) -> String {
        // A Vec of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An outbox read back from [`Outbox::to_stored`]. Storage is the
    /// user's to edit: what is not an outbox gives an empty one, and an item
    /// whose client id the server would refuse, or that repeats one, is
    /// dropped (the server would otherwise answer it with another message).
    pub fn from_stored(json: &str) -> Self {
        let Ok(Outbox { items }) = serde_json::from_str::<Outbox>(json) else {
            return Self::default();
        };
        let mut kept: Vec<Outgoing> = Vec::with_capacity(items.len());
        for item in items {
            let valid = protocol::validate_client_id(&item.client_id).is_ok();
            if valid && !kept.iter().any(|k| k.client_id == item.client_id) {
                kept.push(item);
            }
        }
        Self { items: kept }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_in_order_and_a_refused_one_waits_aside() {
        let mut outbox = Outbox::default();
        assert!(!outbox.has_unsent());
        outbox.push("a".into(), "one".into());
        outbox.push("b".into(), "two".into());
        outbox.push("c".into(), "three".into());
        assert_eq!(outbox.next().map(|i| i.text.as_str()), Some("one"));

        outbox.refuse("a", "too long".into());
        assert_eq!(
            outbox.next().map(|i| i.text.as_str()),
            Some("two"),
            "the next goes on"
        );
        assert_eq!(outbox.items[0].refused.as_deref(), Some("too long"));

        assert_eq!(outbox.take("b").map(|i| i.text), Some("two".into()));
        assert_eq!(outbox.next().map(|i| i.client_id.as_str()), Some("c"));
        assert_eq!(outbox.take("c").map(|i| i.text), Some("three".into()));
        assert!(!outbox.has_unsent(), "only the refused one is left");
        assert_eq!(outbox.items.len(), 1);
        assert_eq!(outbox.take("gone"), None);
        assert_eq!(outbox.take("a").map(|i| i.text), Some("one".into()));
        assert!(outbox.items.is_empty());
    }

    #[test]
    fn the_stored_outbox_reads_back_whole_and_in_order() {
        let mut outbox = Outbox::default();
        outbox.push("a1".into(), "one\ntwo lines".into());
        outbox.push("b2".into(), "<b>not html</b> \u{202e}".into());
        outbox.refuse("a1", "too long".into());
        let stored = outbox.to_stored();
        assert_eq!(
            stored,
            concat!(
                r#"[{"clientId":"a1","text":"one\ntwo lines","refused":"too long"},"#,
                r#"{"clientId":"b2","text":"<b>not html</b> "#,
                "\u{202e}",
                r#"","refused":null}]"#
            )
        );
        assert_eq!(Outbox::from_stored(&stored), outbox);
        assert_eq!(Outbox::from_stored("[]"), Outbox::default());
    }

    #[test]
    fn a_damaged_stored_outbox_gives_what_can_be_sent() {
        for junk in ["", "null", "{}", "[1]", r#"[{"text":"no id"}]"#, "not json"] {
            assert_eq!(Outbox::from_stored(junk), Outbox::default(), "{junk}");
        }
        let stored = r#"[
            {"clientId":"ok","text":"kept","refused":null},
            {"clientId":"has space","text":"bad id","refused":null},
            {"clientId":"","text":"empty id","refused":null},
            {"clientId":"ok","text":"repeat","refused":null},
            {"clientId":"ok2","text":"also kept","refused":"why"}
        ]"#;
        let texts: Vec<_> = Outbox::from_stored(stored)
            .items
            .into_iter()
            .map(|i| i.text)
            .collect();
        assert_eq!(texts, ["kept", "also kept"]);
    }
}
