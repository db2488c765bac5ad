//! How names and times look: a stable colour per name, and times as the
//! reader's local clock shows them.

use protocol::Timestamp;

/// A hue (0–359) derived from the name, so a name has the same colour on
/// every screen and every visit.
pub fn name_hue(name: &str) -> u32 {
    // FNV-1a: tiny, stable across platforms and versions.
    let hash = name.to_lowercase().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % 360
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
    fn hues_are_stable_and_case_blind() {
        assert_eq!(name_hue("alice"), name_hue("Alice"));
        assert_ne!(name_hue("alice"), name_hue("bob"));
        assert!(name_hue("anyone at all") < 360);
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
