//! How names and times look: a stable colour per name, and times as the
//! reader's local clock shows them.

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

    #[cfg(not(feature = "hydrate"))]
    #[test]
    fn server_side_times_are_utc() {
        assert_eq!(local_time(951_827_696_789), "12:34");
    }
}
