//! What makes two names one name. A name is normalized (NFKC) before it is
//! checked or stored, and names are compared by their key ([`name_key`]):
//! the confusable skeleton (Unicode TS #39) of the case-folded name, so
//! "Alice", "ALICE", "аlice" (with a Cyrillic а) and an NFD spelling of
//! "Zoë" next to its NFC one each share a key, and nobody can take a name
//! that looks like someone else's. The server keys accounts and the users
//! online with it; the page compares names with it too.
//!
//! Everything here is pure Rust with tables compiled in, so the browser
//! (wasm32) runs the very same rules as the server.

use unicode_normalization::UnicodeNormalization;

/// Bumped when [`name_key`] changes in a way its Unicode tables do not show.
const KEY_RULE_REVISION: u32 = 1;

/// A name as it is checked, stored and shown: NFKC, trimmed, without the
/// text/emoji presentation selectors.
pub(crate) fn normalize(raw: &str) -> String {
    // VS15 and VS16 only choose between the text and the emoji look of the
    // character before them, and phone keyboards add VS16 after a heart:
    // dropping them is kinder than refusing the name for an invisible
    // character, and changes no key (skeletons ignore them anyway).
    raw.nfkc()
        .filter(|&c| !matches!(c, '\u{FE0E}' | '\u{FE0F}'))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// THE comparison rule for names: two names are the same name when their
/// keys are equal. The key is the confusable skeleton (UTS #39) of the
/// case-folded NFKC name; it is only ever compared and stored, never shown.
pub fn name_key(name: &str) -> String {
    let folded = caseless::default_case_fold_str(&normalize(name));
    let skeleton: String = unicode_security::skeleton(&folded).collect();
    // Some prototypes are capitals (the digit 0's is "O"): folding again
    // makes "00" and "OO" meet, as they look alike.
    caseless::default_case_fold_str(&skeleton)
}

/// Names the rule [`name_key`] follows, with the Unicode version of its
/// confusables table: a store keeps it beside each key and recomputes the
/// keys made under any other rule (an upgrade of the tables included).
pub fn name_key_rule() -> String {
    let (major, minor, patch) = unicode_security::UNICODE_VERSION;
    format!("nfkc-casefold-skeleton/{KEY_RULE_REVISION} unicode {major}.{minor}.{patch}",)
}

/// Whether `wanted`, which has the key of `existing`, only looks like it,
/// rather than being the same name in other letter case; it is then
/// refused as [`too_similar`], not as taken.
pub fn looks_alike(wanted: &str, existing: &str) -> bool {
    let fold = |name: &str| {
        caseless::default_case_fold_str(&normalize(name))
            .nfc()
            .collect::<String>()
    };
    fold(wanted) != fold(existing)
}

/// The refusal of a name that looks like one already in use.
pub fn too_similar(name: &str) -> String {
    format!("“{name}” is too similar to an existing name")
}

/// The characters that reorder text around them (Unicode's bidirectional
/// controls): a name holding one can show as another name (U+202E makes
/// "ecila" look like "alice").
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Unicode's Default_Ignorable_Code_Point (zero-width spaces and joiners,
/// soft hyphens, fillers, variation selectors, tags...): characters a
/// renderer shows as nothing.
pub(crate) fn is_default_ignorable(c: char) -> bool {
    DEFAULT_IGNORABLE
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether a character leaves ink: not a space, not a control, not
/// default-ignorable, not a combining mark on its own, not a blank glyph.
pub(crate) fn is_visible(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || is_default_ignorable(c)
        || unicode_normalization::char::is_combining_mark(c)
        // Blank glyphs with no space property: the blank Braille pattern,
        // the Hangul fillers (those are default-ignorable too).
        || matches!(c, '\u{2800}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'))
}

/// Default_Ignorable_Code_Point from Unicode 18's DerivedCoreProperties.txt,
/// as sorted, non-overlapping ranges.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_normalization_forms_share_a_key() {
        assert_eq!(name_key("Alice"), name_key("alice"));
        assert_eq!(name_key("ALICE"), name_key("alice"));
        // "Zoë": NFC (one ë) and NFD (e + combining diaeresis).
        assert_eq!(name_key("Zo\u{EB}"), name_key("Zoe\u{308}"));
        // Compatibility forms: fullwidth letters, the "ﬁ" ligature.
        assert_eq!(name_key("ａｌｉｃｅ"), name_key("alice"));
        assert_eq!(name_key("ﬁona"), name_key("fiona"));
        // Full case folding: ß is "ss".
        assert_eq!(name_key("Strauß"), name_key("STRAUSS"));
        assert_ne!(name_key("alice"), name_key("bob"));
    }

    #[test]
    fn look_alikes_share_a_key() {
        // Cyrillic а (U+0430) and Latin a.
        assert_eq!(name_key("\u{430}lice"), name_key("alice"));
        // Greek capital omicron and Latin O; the digit 0 and the letter O.
        assert_eq!(name_key("B\u{39F}B"), name_key("bob"));
        assert_eq!(name_key("b0b"), name_key("BOB"));
        assert_eq!(name_key("00"), name_key("OO"));
        // "rn" reads as "m".
        assert_eq!(name_key("rnary"), name_key("mary"));
        // Invisible characters do not make a name another one.
        assert_eq!(name_key("al\u{200B}ice"), name_key("alice"));
        assert_eq!(name_key("  alice "), name_key("alice"));
    }

    #[test]
    fn keys_are_stable() {
        for name in ["alice", "\u{430}lice", "00", "Zoe\u{308}", "سارا", "Strauß"] {
            let key = name_key(name);
            assert_eq!(name_key(&key), key, "{name:?}");
        }
    }

    #[test]
    fn look_alikes_are_told_from_case_variants() {
        assert!(!looks_alike("ALICE", "alice"));
        assert!(!looks_alike("Zoe\u{308}", "zo\u{EB}"));
        assert!(looks_alike("\u{430}lice", "alice"));
        assert_eq!(
            too_similar("\u{430}lice"),
            "“\u{430}lice” is too similar to an existing name"
        );
    }

    #[test]
    fn the_rule_names_its_tables() {
        assert!(name_key_rule().starts_with("nfkc-casefold-skeleton/1 unicode "));
    }

    #[test]
    fn character_classes() {
        for c in ['\u{202E}', '\u{2066}', '\u{200F}', '\u{061C}'] {
            assert!(is_bidi_control(c), "{c:?}");
        }
        assert!(!is_bidi_control('a'));
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{AD}',
            '\u{E0041}',
        ] {
            assert!(is_default_ignorable(c), "{c:?}");
            assert!(!is_visible(c), "{c:?}");
        }
        for c in ['a', 'ا', '☃', '0'] {
            assert!(!is_default_ignorable(c), "{c:?}");
            assert!(is_visible(c), "{c:?}");
        }
        for c in [' ', '\u{3000}', '\u{2800}', '\u{301}'] {
            assert!(!is_visible(c), "{c:?}");
        }
        assert!(
            DEFAULT_IGNORABLE.windows(2).all(|w| w[0].1 < w[1].0),
            "sorted, no overlaps"
        );
    }
}
