//! How names, times and message text look: a stable colour per name, times
//! and days as the reader's local clock shows them, and the links in a
//! message's text.

use protocol::Timestamp;

/// How many name colours `style/main.css` defines (`.name-c0` to
/// `.name-c19`).
pub const NAME_COLOURS: u32 = 20;

/// The class that gives a name its colour, derived from the name so that a
/// name has the same colour on every screen and every visit. A class, not a
/// `style` attribute: the Content-Security-Policy allows styles only from
/// the stylesheet.
pub fn name_class(name: &str) -> String {
    // FNV-1a: tiny, stable across platforms and versions.
    let hash = name.to_lowercase().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("name-c{}", hash % NAME_COLOURS)
}

/// The timestamp as an ISO 8601 UTC string, for `<time datetime>`.
pub fn iso_utc(ms: Timestamp) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Hours and minutes on the reader's clock ("14:05"). In the browser that is
/// the local time zone; on the server, which never renders messages, UTC.
pub fn local_time(ms: Timestamp) -> String {
    #[cfg(feature = "hydrate")]
    {
        #[allow(clippy::cast_precision_loss)] // ms timestamps are far below 2^53
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let secs = ms.div_euclid(1000).rem_euclid(86_400);
        format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
    }
}

// == stream: days, full times and links ==

/// The months, for dates people read.
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The weekdays, Sunday first (1970-01-01 was a Thursday).
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A moment as a calendar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    /// Days since 1970-01-01 on that calendar.
    day: i64,
    year: i64,
    month: i64,
    date: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// `ms` on the reader's clock when `local` (in the browser), otherwise in
/// UTC. The server, and the browser until it has hydrated, use UTC, so the
/// hydrated page starts exactly as the server rendered it.
fn civil(ms: Timestamp, local: bool) -> Civil {
    #[cfg(feature = "hydrate")]
    if local {
        #[allow(clippy::cast_precision_loss)] // ms timestamps are far below 2^53
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        let (year, month, date) = (
            i64::from(d.get_full_year()),
            i64::from(d.get_month()) + 1,
            i64::from(d.get_date()),
        );
        return Civil {
            day: days_from_civil(year, month, date),
            year,
            month,
            date,
            hour: i64::from(d.get_hours()),
            minute: i64::from(d.get_minutes()),
            second: i64::from(d.get_seconds()),
        };
    }
    let _ = local;
    let secs = ms.div_euclid(1000);
    let (day, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, date) = civil_from_days(day);
    Civil {
        day,
        year,
        month,
        date,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
    }
}

/// "14:05", on the reader's clock when `local` (see [`civil`]).
pub fn clock_time(ms: Timestamp, local: bool) -> String {
    let c = civil(ms, local);
    format!("{:02}:{:02}", c.hour, c.minute)
}

/// The day of `ms` (days since 1970-01-01), on the reader's calendar when
/// `local`: messages of one day go under one divider.
pub fn day_of(ms: Timestamp, local: bool) -> i64 {
    civil(ms, local).day
}

/// "Friday 4 December 2026, 14:05:09" (the time's tooltip).
pub fn full_time(ms: Timestamp, local: bool) -> String {
    let c = civil(ms, local);
    format!(
        "{} {} {} {}, {:02}:{:02}:{:02}{}",
        weekday(c.day),
        c.date,
        month_name(c.month),
        c.year,
        c.hour,
        c.minute,
        c.second,
        if local && cfg!(feature = "hydrate") {
            ""
        } else {
            " UTC"
        }
    )
}

/// A day divider's words: "Today", "Yesterday", or "Friday 4 December 2026".
pub fn day_label(day: i64, today: i64) -> String {
    match today - day {
        0 => "Today".to_owned(),
        1 => "Yesterday".to_owned(),
        _ => {
            let (year, month, date) = civil_from_days(day);
            format!("{} {date} {} {year}", weekday(day), month_name(month))
        }
    }
}

fn weekday(day: i64) -> &'static str {
    WEEKDAYS[(day + 4).rem_euclid(7) as usize]
}

fn month_name(month: i64) -> &'static str {
    MONTHS[(month - 1).clamp(0, 11) as usize]
}

/// A piece of a message's text: words, or a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextPiece {
    /// Shown as it is (a text node).
    Text(String),
    /// An `http:` or `https:` address, shown as a link to itself.
    Link(String),
}

/// Splits a message into text and links. Only `http://` and `https://`
/// addresses become links (never `javascript:` or `data:`), starting at a
/// word's beginning; punctuation that ends a sentence ("see https://x.org.")
/// and a closing bracket without its opening one ("(https://x.org)") stay
/// text.
pub fn linkify(text: &str) -> Vec<TextPiece> {
    let mut pieces = Vec::new();
    let mut plain_from = 0;
    let mut at = 0;
    while let Some(found) = find_scheme(text, at) {
        let end = link_end(text, found);
        if end > found {
            if plain_from < found {
                pieces.push(TextPiece::Text(text[plain_from..found].to_owned()));
            }
            pieces.push(TextPiece::Link(text[found..end].to_owned()));
            plain_from = end;
            at = end;
        } else {
            // A bare "https://": not a link; look after it.
            at = found + 1;
        }
    }
    if plain_from < text.len() {
        pieces.push(TextPiece::Text(text[plain_from..].to_owned()));
    }
    pieces
}

/// The next `http://` or `https://` (any case) at or after `from` that
/// starts a word.
fn find_scheme(text: &str, from: usize) -> Option<usize> {
    let lower = text.get(from..)?.to_ascii_lowercase();
    let mut search = 0;
    while let Some(rel) = lower[search..].find("http") {
        let start = from + search + rel;
        let rest = &lower[search + rel..];
        let starts_word = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '/' && c != ':');
        if starts_word && (rest.starts_with("http://") || rest.starts_with("https://")) {
            return Some(start);
        }
        search += rel + 4;
    }
    None
}

/// Where the link starting at `start` ends: at white space or a character
/// that cannot be in an address, less trailing punctuation. Returns `start`
/// when nothing follows the scheme.
fn link_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let scheme_len = rest.find("://").map_or(0, |i| i + 3);
    let mut end = rest
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`'))
        .map_or(rest.len(), |(i, _)| i);
    loop {
        let link = &rest[..end];
        let Some(last) = link.chars().next_back() else {
            break;
        };
        let unbalanced = |open: char, close: char| {
            last == close && link.matches(open).count() < link.matches(close).count()
        };
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
        {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    if end <= scheme_len {
        start
    } else {
        start + end
    }
}

/// (year, month, day) to days since 1970-01-01, after Howard Hinnant's
/// `days_from_civil`. (The server counts days in UTC, from the timestamp.)
#[cfg(any(feature = "hydrate", test))]
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_colours_are_stable_and_case_blind() {
        assert_eq!(name_class("alice"), name_class("Alice"));
        assert_ne!(name_class("alice"), name_class("bob"));
        assert_eq!(name_class("alice"), name_class("alice"));
        let classes: std::collections::BTreeSet<String> =
            (0..1000).map(|i| name_class(&format!("user{i}"))).collect();
        let every: std::collections::BTreeSet<String> =
            (0..NAME_COLOURS).map(|i| format!("name-c{i}")).collect();
        assert_eq!(
            classes, every,
            "names spread over every colour, and only those"
        );
    }

    /// The stylesheet, where the colours are.
    const CSS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../style/main.css"));

    /// The backgrounds text is drawn on: the page, the header and side
    /// panel, a message bubble and one's own.
    const BACKGROUNDS: [&str; 4] = ["--bg", "--surface", "--bubble", "--bubble-own"];

    /// The light and dark `#rrggbb` values of `name: light-dark(#rrggbb,
    /// #rrggbb);` in the stylesheet.
    fn css_colours(name: &str) -> [[u8; 3]; 2] {
        let declaration = format!("{name}: light-dark(#");
        // At the start of a word: `--accent` is not the end of `--on-accent`.
        let (at, _) = CSS
            .match_indices(&declaration)
            .find(|(at, _)| CSS[..*at].ends_with(char::is_whitespace))
            .unwrap_or_else(|| panic!("{name}: light-dark(…) is not in main.css"));
        let start = at + declaration.len() - 1;
        let hex = |at: usize| {
            let byte = |i: usize| u8::from_str_radix(&CSS[at + i..at + i + 2], 16).unwrap();
            assert_eq!(&CSS[at..=at], "#", "{name}");
            [byte(1), byte(3), byte(5)]
        };
        assert_eq!(&CSS[start + 7..start + 10], ", #", "{name}");
        [hex(start), hex(start + 9)]
    }

    /// WCAG 2's contrast ratio of two sRGB colours.
    fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
        let luminance = |c: [u8; 3]| {
            let [r, g, b] = c.map(|v| {
                let v = f64::from(v) / 255.0;
                if v <= 0.040_45 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            });
            0.2126 * r + 0.7152 * g + 0.0722 * b
        };
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// Fails unless `colour` (a variable, or a name class's `--name`) has at
    /// least 4.5:1 (WCAG AA for text) on every background, in both themes.
    fn assert_readable(colour: &str) {
        let colours = css_colours(colour);
        for background in BACKGROUNDS {
            let backgrounds = css_colours(background);
            for (theme, (fg, bg)) in ["light", "dark"]
                .iter()
                .zip(colours.iter().zip(backgrounds))
            {
                let ratio = contrast(*fg, bg);
                assert!(
                    ratio >= 4.5,
                    "{colour} on {background} ({theme}): {ratio:.2}:1"
                );
            }
        }
    }

    #[test]
    fn the_contrast_ratio_is_wcags() {
        assert!((contrast([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 1e-9);
        assert!((contrast([255, 255, 255], [255, 255, 255]) - 1.0).abs() < 1e-9);
        // #777 on white is the classic just-fails grey: 4.48:1.
        let grey = contrast([0x77; 3], [255; 3]);
        assert!((4.47..4.49).contains(&grey), "{grey}");
    }

    #[test]
    fn every_name_colour_is_readable_on_every_background_in_both_themes() {
        for i in 0..NAME_COLOURS {
            assert_readable(&format!(".name-c{i} {{ --name"));
        }
        assert!(
            !CSS.contains(&format!(".name-c{NAME_COLOURS} ")),
            "more colours than NAME_COLOURS"
        );
    }

    #[test]
    fn the_palettes_text_is_readable_on_every_background() {
        for colour in ["--fg", "--muted", "--accent", "--danger"] {
            assert_readable(colour);
        }
        // Button labels, on the accent colour.
        for (theme, (label, button)) in ["light", "dark"].iter().zip(
            css_colours("--on-accent")
                .iter()
                .zip(css_colours("--accent")),
        ) {
            let ratio = contrast(*label, button);
            assert!(
                ratio >= 4.5,
                "--on-accent on --accent ({theme}): {ratio:.2}:1"
            );
        }
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_827_696_789), "2000-02-29T12:34:56Z");
        assert_eq!(iso_utc(1_795_478_400_000), "2026-11-24T00:00:00Z");
    }

    #[test]
    fn days_round_trip_and_are_named() {
        for day in [-1, 0, 10_957, 11_016, 20_426] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        let dec4 = day_of(1_796_425_200_000, false); // 2026-12-04T23:00Z
        assert_eq!(day_label(dec4, dec4), "Today");
        assert_eq!(day_label(dec4 - 1, dec4), "Yesterday");
        assert_eq!(day_label(dec4, dec4 + 2), "Friday 4 December 2026");
        assert_eq!(day_label(0, 5), "Thursday 1 January 1970");
        assert_eq!(
            full_time(951_827_696_789, false),
            "Tuesday 29 February 2000, 12:34:56 UTC"
        );
        assert_eq!(clock_time(951_827_696_789, false), "12:34");
    }

    fn link(s: &str) -> TextPiece {
        TextPiece::Link(s.to_owned())
    }

    fn text(s: &str) -> TextPiece {
        TextPiece::Text(s.to_owned())
    }

    #[test]
    fn links_are_found_in_text() {
        assert_eq!(linkify("no links here"), [text("no links here")]);
        assert_eq!(linkify(""), []);
        assert_eq!(
            linkify("see https://example.com/a?b=1#c now"),
            [
                text("see "),
                link("https://example.com/a?b=1#c"),
                text(" now")
            ]
        );
        assert_eq!(
            linkify("HTTP://X.ORG and http://y.org"),
            [link("HTTP://X.ORG"), text(" and "), link("http://y.org")]
        );
        assert_eq!(
            linkify("https://a.org\nhttps://b.org"),
            [link("https://a.org"), text("\n"), link("https://b.org")]
        );
    }

    #[test]
    fn only_http_and_https_become_links() {
        for s in [
            "javascript:alert(1)",
            "javascript://https://x.org",
            "data:text/html,<b>x</b>",
            "ftp://x.org",
            "xhttps://x.org",
            "https://",
            "https://.",
            "see https:// there",
        ] {
            assert!(
                linkify(s).iter().all(|p| matches!(p, TextPiece::Text(_))),
                "{s} made a link: {:?}",
                linkify(s)
            );
        }
        assert_eq!(
            linkify("a<https://x.org>\"https://y.org\""),
            [
                text("a<"),
                link("https://x.org"),
                text(">\""),
                link("https://y.org"),
                text("\"")
            ]
        );
    }

    #[test]
    fn trailing_punctuation_stays_text() {
        assert_eq!(
            linkify("go to https://x.org."),
            [text("go to "), link("https://x.org"), text(".")]
        );
        assert_eq!(
            linkify("(see https://x.org/a_(b)), ok?"),
            [text("(see "), link("https://x.org/a_(b)"), text("), ok?")]
        );
        assert_eq!(
            linkify("https://x.org/?q=1!?"),
            [link("https://x.org/?q=1"), text("!?")]
        );
        assert_eq!(
            linkify("[https://x.org/]"),
            [text("["), link("https://x.org/"), text("]")]
        );
        assert_eq!(
            linkify("https://x.org/é,"),
            [link("https://x.org/é"), text(",")]
        );
    }

    #[test]
    fn pieces_keep_every_character() {
        for s in [
            "a https://b.c. d",
            "ünï https://x.org/ü!) ok",
            "https://a.b https://c.d,",
        ] {
            let joined: String = linkify(s)
                .into_iter()
                .map(|p| match p {
                    TextPiece::Text(t) | TextPiece::Link(t) => t,
                })
                .collect();
            assert_eq!(joined, s);
        }
    }

    #[cfg(not(feature = "hydrate"))]
    #[test]
    fn server_side_times_are_utc() {
        assert_eq!(local_time(951_827_696_789), "12:34");
    }
}
