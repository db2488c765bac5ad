//! The input limits for names and messages, shared by the browser (which
//! refuses early, with the server's words) and the server (which enforces).

use crate::{AckError, ErrorCode};

/// The longest name, in characters after trimming.
pub const USERNAME_MAX_CHARS: usize = 32;

/// The longest message, in characters after trimming.
pub const MESSAGE_MAX_CHARS: usize = 2_000;

/// Checks a name and returns it trimmed: 1 to [`USERNAME_MAX_CHARS`]
/// characters, none of them control characters.
pub fn validate_username(raw: &str) -> Result<&str, AckError> {
    let name = raw.trim();
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
    if name.chars().any(char::is_control) {
        return refuse("the name has control characters".into());
    }
    Ok(name)
}

/// Checks a message and returns it trimmed: 1 to [`MESSAGE_MAX_CHARS`]
/// characters; line breaks and tabs are kept, other control characters refused.
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
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_username("  alice \n"), Ok("alice"));
        assert_eq!(
            validate_username(&"é".repeat(32)),
            Ok("é".repeat(32).as_str())
        );
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(33)] {
            let err = validate_username(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidName, "{bad:?}");
        }
        assert_eq!(
            validate_username(&"x".repeat(33)).map_err(|e| e.message),
            Err("the name is 33 characters long; the limit is 32".to_owned())
        );
    }

    #[test]
    fn messages_are_trimmed_and_bounded() {
        assert_eq!(validate_message(" hi "), Ok("hi"));
        assert_eq!(validate_message("two\nlines"), Ok("two\nlines"));
        assert_eq!(
            validate_message(&"m".repeat(2_000)).map(str::len),
            Ok(2_000)
        );
        for bad in ["", " \n ", "bell\u{7}", &"m".repeat(2_001)] {
            let err = validate_message(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidMessage, "{bad:?}");
        }
    }
}
