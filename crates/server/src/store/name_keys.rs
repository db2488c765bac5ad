//! Accounts' name keys: each account's `name_key` is `protocol::name_key`
//! of its name, made under the rule `protocol::name_key_rule` names, and
//! unique, so no new account can take a name that looks like an existing
//! one. Keys made under another rule (the lower-cased names of databases
//! from before it, or an older confusables table) are remade when the store
//! opens, since SQL cannot compute a skeleton.
//!
//! Two existing accounts may share a key under the new rule ("alice" and
//! "аlice" with a Cyrillic а, both registered while keys were lower-cased).
//! Both stay: their ids, tokens and history are untouched. The older one
//! (lower id) gets the key, so new names like theirs are refused; the newer
//! one is "set aside": its key becomes its exact name behind a marker no
//! real key has, so it still logs in by typing its name exactly as it was
//! registered, and it can never collide with any key.

/// What a set-aside account's key starts with: a control character, which
/// no name (so no key made from one) can hold.
const SET_ASIDE: char = '\u{1}';

/// The key a set-aside account has: its exact name, behind [`SET_ASIDE`].
pub fn set_aside_key(username: &str) -> String {
    format!("{SET_ASIDE}{username}")
}

/// The new keys of accounts keyed under an older rule (`stale`: id and
/// name, in id order), given the keys other accounts hold (`kept`): each
/// gets its name's key unless an account kept or older has it; then it is
/// set aside. Names were unique exactly under every rule so far (a rule
/// never tells apart two names that are equal), so set-aside keys are
/// unique too.
pub fn plan(stale: Vec<(i64, String)>, kept: Vec<String>) -> Vec<(i64, String)> {
    let mut taken: std::collections::HashSet<String> = kept.into_iter().collect();
    stale
        .into_iter()
        .map(|(id, username)| {
            let key = protocol::name_key(&username);
            if taken.insert(key.clone()) {
                (id, key)
            } else {
                tracing::warn!(
                    id,
                    user = %username,
                    "an older account's name looks like this one's: it keeps logging in by its exact name, and no new name may look like it"
                );
                (id, set_aside_key(&username))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_older_of_two_look_alikes_keeps_the_key() {
        let stale = vec![
            (1, "Alice".to_owned()),
            (2, "bob".to_owned()),
            (3, "\u{430}lice".to_owned()),
            (4, "b0b".to_owned()),
        ];
        let keys = plan(stale, vec![protocol::name_key("carol")]);
        assert_eq!(
            keys,
            [
                (1, protocol::name_key("alice")),
                (2, protocol::name_key("bob")),
                (3, "\u{1}\u{430}lice".to_owned()),
                (4, "\u{1}b0b".to_owned()),
            ]
        );
    }

    #[test]
    fn a_key_already_held_under_the_rule_wins() {
        let keys = plan(
            vec![(1, "alice".to_owned())],
            vec![protocol::name_key("ALICE")],
        );
        assert_eq!(keys, [(1, "\u{1}alice".to_owned())]);
    }
}
