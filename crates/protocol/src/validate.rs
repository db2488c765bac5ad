//! The input limits for names and messages, shared by the browser (which
//! refuses early, with the server's words) and the server (which enforces).

use unicode_normalization::UnicodeNormalization;

use crate::names::{is_bidi_control, is_default_ignorable, is_visible, normalize};
use crate::{AckError, ErrorCode};

/// The longest name, in characters after normalizing and trimming.
pub const USERNAME_MAX_CHARS: usize = 32;

/// The longest message, in characters after trimming.
pub const MESSAGE_MAX_CHARS: usize = 2_000;

/// The most lines one message may have.
pub const MESSAGE_MAX_LINES: usize = 100;

/// The most combining marks (accents and the like) one character may carry,
/// in names and messages. Real writing needs two or three (Vietnamese "ệ"
/// decomposed has two); more is "Zalgo" text, stacked to paint over the
/// lines around it.
pub const MAX_COMBINING_MARKS: usize = 3;

/// Checks a name and returns it as it is stored and shown: normalized
/// (NFKC) and trimmed, 1 to [`USERNAME_MAX_CHARS`] characters, at least one
/// of them visible, with no control, bidirectional control or other
/// invisible characters, and at most [`MAX_COMBINING_MARKS`] marks on a
/// character. Names are compared by [`crate::name_key`].
pub fn validate_username(raw: &str) -> Result<String, AckError> {
    let name = normalize(raw);
    let refuse = |reason: String| Err(AckError::new(ErrorCode::InvalidName, reason));
    if name.is_empty() {
        return refuse("the name is empty".into());
    }
    let chars = name.chars().count();
    if chars > USERNAME_MAX_CHARS {
        return refuse(format!(
            "the name is {chars} characters long; the limit is {USERNAME_MAX_CHARS}"
        ));
    }
    // Checked as typed (so the reason names the character typed) and as
    // normalized (in case a compatibility mapping made one).
    if let Some(reason) = refused_character(raw.trim()).or_else(|| refused_character(&name)) {
        return refuse(reason);
    }
    if !name.chars().any(is_visible) {
        return refuse("the name has no visible character".into());
    }
    let marks = most_marks_on_a_character(&name);
    if marks > MAX_COMBINING_MARKS {
        return refuse(format!(
            "the name has {marks} combining marks on one character; the limit is {MAX_COMBINING_MARKS}"
        ));
    }
    Ok(name)
}

/// Checks a message and returns it trimmed: 1 to [`MESSAGE_MAX_CHARS`]
/// characters on at most [`MESSAGE_MAX_LINES`] lines, at most
/// [`MAX_COMBINING_MARKS`] marks on a character; line breaks and tabs are
/// kept, other control characters refused. Right-to-left text and its
/// controls are kept too: the page shows every message in a box of its own
/// that its text cannot reorder or paint out of.
pub fn validate_message(raw: &str) -> Result<&str, AckError> {
    let text = raw.trim();
    let refuse = |reason: String| Err(AckError::new(ErrorCode::InvalidMessage, reason));
    if text.is_empty() {
        return refuse("the message is empty".into());
    }
    let chars = text.chars().count();
    if chars > MESSAGE_MAX_CHARS {
        return refuse(format!(
            "the message is {chars} characters long; the limit is {MESSAGE_MAX_CHARS}"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return refuse("the message has control characters".into());
    }
    // U+2028 and U+2029 break lines as well as "\n" does.
    let lines = 1 + text
        .chars()
        .filter(|&c| matches!(c, '\n' | '\u{2028}' | '\u{2029}'))
        .count();
    if lines > MESSAGE_MAX_LINES {
        return refuse(format!(
            "the message has {lines} lines; the limit is {MESSAGE_MAX_LINES}"
        ));
    }
    let marks = most_marks_on_a_character(text);
    if marks > MAX_COMBINING_MARKS {
        return refuse(format!(
            "the message has {marks} combining marks on one character; the limit is {MAX_COMBINING_MARKS}"
        ));
    }
    Ok(text)
}

/// The longest client id of a message ([`crate::NewMessageWithId`]).
pub const CLIENT_ID_MAX_CHARS: usize = 64;

/// Checks a message's client id: 1 to [`CLIENT_ID_MAX_CHARS`] characters of
/// `A-Z a-z 0-9 _ -` (a UUID, or base64url of random bytes, fits). The id is
/// stored with the message and compared byte for byte, so nothing that
/// normalizes or looks alike is let in.
pub fn validate_client_id(id: &str) -> Result<&str, AckError> {
    let refuse = |reason: String| Err(AckError::new(ErrorCode::InvalidPayload, reason));
    if id.is_empty() {
        return refuse("the clientId is empty".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return refuse("the clientId may only hold A-Z, a-z, 0-9, _ and -".into());
    }
    // ASCII only by now: bytes are characters.
    if id.len() > CLIENT_ID_MAX_CHARS {
        return refuse(format!(
            "the clientId is {} characters long; the limit is {CLIENT_ID_MAX_CHARS}",
            id.len()
        ));
    }
    Ok(id)
}

/// Why a name may not hold one of its characters, if so.
fn refused_character(name: &str) -> Option<String> {
    // Line and paragraph separators are not control characters to Unicode,
    // but break a name across lines all the same.
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Some("the name has control characters".into());
    }
    if let Some(c) = name.chars().find(|&c| is_bidi_control(c)) {
        return Some(format!(
            "the name has a bidirectional control character ({})",
            code_point(c)
        ));
    }
    // The presentation selectors are dropped by `normalize`, not refused.
    let invisible = |c: char| is_default_ignorable(c) && !matches!(c, '\u{FE0E}' | '\u{FE0F}');
    name.chars()
        .find(|&c| invisible(c))
        .map(|c| format!("the name has an invisible character ({})", code_point(c)))
}

/// The most combining marks on one base character, counted in the
/// decomposed form (so "é" typed as one code point carries one mark). Invisible characters between marks
/// (a zero-width joiner, say) neither count nor end the run: the marks
/// after them still stack on the same character.
fn most_marks_on_a_character(text: &str) -> usize {
    let (mut most, mut run) = (0, 0);
    for c in text.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            run += 1;
            most = most.max(run);
        } else if !is_default_ignorable(c) {
            run = 0;
        }
    }
    most
}

/// "U+202E": how a reason names a character nobody can see.
fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_refusal(raw: &str) -> String {
        let error = validate_username(raw).expect_err(raw);
        assert_eq!(error.code, ErrorCode::InvalidName, "{raw:?}");
        error.message
    }

    fn message_refusal(raw: &str) -> String {
        let error = validate_message(raw).expect_err(raw);
        assert_eq!(error.code, ErrorCode::InvalidMessage, "{raw:?}");
        error.message
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_username("  alice \n").as_deref(), Ok("alice"));
        assert_eq!(validate_username(&"é".repeat(32)), Ok("é".repeat(32)));
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(33)] {
            name_refusal(bad);
        }
        assert_eq!(
            name_refusal(&"x".repeat(33)),
            "the name is 33 characters long; the limit is 32"
        );
        assert_eq!(
            name_refusal("a\u{2028}b"),
            "the name has control characters"
        );
    }

    #[test]
    fn names_are_normalized() {
        // NFD in, NFC out: 32 decomposed "é" are 64 code points, but 32
        // characters once composed.
        assert_eq!(validate_username("Zoe\u{308}").as_deref(), Ok("Zo\u{EB}"));
        assert_eq!(
            validate_username(&"e\u{301}".repeat(32)),
            Ok("é".repeat(32))
        );
        assert_eq!(validate_username("ａｌｉｃｅ").as_deref(), Ok("alice"));
        // The emoji presentation selector is dropped, not refused.
        assert_eq!(
            validate_username("sam\u{2764}\u{FE0F}").as_deref(),
            Ok("sam\u{2764}")
        );
    }

    #[test]
    fn names_with_bidi_controls_are_refused() {
        assert_eq!(
            name_refusal("\u{202E}ecila"),
            "the name has a bidirectional control character (U+202E)"
        );
        for c in [
            '\u{202A}', '\u{202D}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{61C}',
        ] {
            let name = format!("al{c}ice");
            assert!(
                name_refusal(&name).contains("bidirectional control"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn names_with_invisible_characters_are_refused() {
        assert_eq!(
            name_refusal("al\u{200B}ice"),
            "the name has an invisible character (U+200B)"
        );
        for c in [
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{AD}',
            '\u{34F}',
            '\u{E0041}',
        ] {
            let name = format!("al{c}ice");
            assert!(
                name_refusal(&name).contains("invisible character"),
                "{name:?}"
            );
        }
        // Names of nothing but invisible characters.
        assert_eq!(
            name_refusal("\u{200B}\u{200D}"),
            "the name has an invisible character (U+200B)"
        );
        assert_eq!(
            name_refusal("\u{3164}"),
            "the name has an invisible character (U+3164)"
        );
        assert_eq!(
            name_refusal("\u{2800}\u{2800}"),
            "the name has no visible character"
        );
        assert_eq!(name_refusal("\u{301}"), "the name has no visible character");
        // Blanks NFKC turns into spaces are trimmed away.
        assert_eq!(name_refusal("\u{3000}\u{2003}"), "the name is empty");
    }

    #[test]
    fn right_to_left_and_other_scripts_are_names() {
        for name in [
            "سارا",
            "שרה",
            "Zoë",
            "Алиса",
            "李小龙",
            "Ngọc",
            "अनीता",
            "a b",
        ] {
            let normalized: String =
                unicode_normalization::UnicodeNormalization::nfc(name).collect();
            assert_eq!(validate_username(name), Ok(normalized), "{name:?}");
        }
    }

    #[test]
    fn names_carry_at_most_three_marks_a_character() {
        assert!(validate_username("a\u{301}\u{302}\u{303}").is_ok());
        assert_eq!(
            name_refusal("a\u{301}\u{302}\u{303}\u{304}"),
            "the name has 4 combining marks on one character; the limit is 3"
        );
    }

    #[test]
    fn client_ids_are_short_and_plain() {
        let refusal = |id: &str| validate_client_id(id).map(drop).unwrap_err();
        assert_eq!(validate_client_id("a-Z_09"), Ok("a-Z_09"));
        let longest = "x".repeat(CLIENT_ID_MAX_CHARS);
        assert_eq!(validate_client_id(&longest), Ok(longest.as_str()));
        assert_eq!(refusal("").message, "the clientId is empty");
        assert_eq!(
            refusal(&"x".repeat(65)).message,
            "the clientId is 65 characters long; the limit is 64"
        );
        for bad in ["a b", "é", "a.b", "a\nb", "ａ", "a/b"] {
            let error = refusal(bad);
            assert_eq!(error.code, ErrorCode::InvalidPayload, "{bad:?}");
            assert_eq!(
                error.message, "the clientId may only hold A-Z, a-z, 0-9, _ and -",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_are_trimmed_and_bounded() {
        assert_eq!(validate_message(" hi "), Ok("hi"));
        assert_eq!(validate_message("two\nlines"), Ok("two\nlines"));
        assert_eq!(validate_message("a\tb"), Ok("a\tb"));
        assert_eq!(
            validate_message(&"m".repeat(2_000)).map(str::len),
            Ok(2_000)
        );
        for bad in ["", " \n ", "bell\u{7}", &"m".repeat(2_001)] {
            message_refusal(bad);
        }
    }

    #[test]
    fn messages_keep_right_to_left_text() {
        for text in [
            "مرحبا بالجميع",
            "\u{202E}txet desrever",
            "a \u{2067}שלום\u{2069} b",
        ] {
            assert_eq!(validate_message(text), Ok(text));
        }
    }

    #[test]
    fn messages_have_at_most_a_hundred_lines() {
        let hundred = vec!["line"; 100].join("\n");
        assert_eq!(validate_message(&hundred), Ok(hundred.as_str()));
        assert_eq!(
            message_refusal(&vec!["line"; 101].join("\n")),
            "the message has 101 lines; the limit is 100"
        );
        assert_eq!(
            message_refusal(&vec!["line"; 101].join("\u{2028}")),
            "the message has 101 lines; the limit is 100"
        );
    }

    #[test]
    fn messages_carry_at_most_three_marks_a_character() {
        // Vietnamese, decomposed: two marks on one letter.
        assert!(validate_message("Vie\u{323}\u{302}t Nam").is_ok());
        assert!(validate_message("a\u{301}\u{302}\u{303} b\u{301}\u{302}\u{303}").is_ok());
        let zalgo = format!("h{}i", "\u{336}\u{337}\u{338}\u{339}\u{33A}");
        assert_eq!(
            message_refusal(&zalgo),
            "the message has 5 combining marks on one character; the limit is 3"
        );
        // A zero-width joiner between marks does not start a new character.
        assert_eq!(
            message_refusal("a\u{301}\u{302}\u{200D}\u{303}\u{304}"),
            "the message has 4 combining marks on one character; the limit is 3"
        );
    }
}
