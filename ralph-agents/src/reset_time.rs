//! When a usage limit resets, read from what an agent CLI says about it.
//!
//! The wordings (only ever read from the agent's own error events and stderr, never from tool output):
//!
//! - Codex 0.171.0 (`turn.failed` / `error` message of a `usage_limit_reached` answer): "You've hit your
//!   usage limit. … try again at Jan 1st, 2030 12:00 AM." when the reset is on another day, "… try again
//!   at 9:04 AM." when it is later today; the time is in Codex's local time zone, which is ralph's (the
//!   agent inherits ralph's `TZ`). Codex formats it with chrono as `%b %-d<st|nd|rd|th>, %Y %-I:%M %p` and
//!   `%-I:%M %p`.
//! - The OpenAI API's rate-limit message, passed through by Codex and OpenCode: "… Please try again in
//!   1.5s." (also `20ms`, `2m`, `1h`).
//! - Amazon Q Developer CLI and Kiro CLI: "Monthly request limit reached" followed by "The limits reset on
//!   12/01." (month/day; Q computes it in UTC as the first day of next month).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Month abbreviations as chrono's `%b` prints them.
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The reset time in Codex's "try again at …" wording, as Unix seconds: an absolute date and time
/// ("Jan 1st, 2030 12:00 AM"), or a time of day ("9:04 AM") meaning its next occurrence after `now`.
/// Both are read in `tz`.
pub(crate) fn try_again_at(text: &str, now: Timestamp, tz: &TimeZone) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("try again at ")? + "try again at ".len();
    let rest = &lower[start..];
    let unix = match parse_month_day_year(rest) {
        Some((date, after)) => {
            let time = parse_clock(after.trim_start())?;
            tz.to_zoned(date.to_datetime(time)).ok()?.timestamp()
        }
        None => {
            let time = parse_clock(rest)?;
            let today = tz.to_datetime(now).date();
            let at = tz.to_zoned(today.to_datetime(time)).ok()?.timestamp();
            if at > now {
                at
            } else {
                tz.to_zoned(today.tomorrow().ok()?.to_datetime(time))
                    .ok()?
                    .timestamp()
            }
        }
    };
    u64::try_from(unix.as_second()).ok()
}

/// `jan 1st, 2030` at the start of `s` (lower case): the date and what follows it.
fn parse_month_day_year(s: &str) -> Option<(Date, &str)> {
    let month = MONTHS.iter().position(|m| s.starts_with(m))? + 1;
    let rest = s.get(3..)?.trim_start();
    let (day, rest) = leading_number(rest)?;
    let rest = rest
        .strip_prefix("st")
        .or_else(|| rest.strip_prefix("nd"))
        .or_else(|| rest.strip_prefix("rd"))
        .or_else(|| rest.strip_prefix("th"))
        .unwrap_or(rest);
    let rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    let (year, rest) = leading_number(rest)?;
    let date = Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    Some((date, rest))
}

/// `12:00 am` / `9:04 pm` at the start of `s` (lower case).
fn parse_clock(s: &str) -> Option<Time> {
    let (hour, rest) = leading_number(s)?;
    let rest = rest.strip_prefix(':')?;
    let (minute, rest) = leading_number(rest)?;
    let rest = rest.trim_start();
    let hour = match (hour, rest.get(..2)) {
        (1..=11, Some("am")) => hour,
        (12, Some("am")) => 0,
        (1..=11, Some("pm")) => hour + 12,
        (12, Some("pm")) => 12,
        (0..=23, _) if !rest.starts_with(['a', 'p']) => hour,
        _ => return None,
    };
    Time::new(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).ok()
}

/// The decimal number at the start of `s` and the rest.
fn leading_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// The delay in "try again in 1.5s" / "retry in 20s" / "retry after 2m", in whole seconds rounded up.
pub(crate) fn try_again_in(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    ["try again in ", "retry in ", "retry after "]
        .iter()
        .flat_map(|marker| lower.match_indices(marker).map(|(i, m)| i + m.len()))
        .find_map(|start| duration_secs(&lower[start..]))
}

/// `1.5s`, `20ms`, `2m`, `1h` at the start of `s`, in whole seconds rounded up.
fn duration_secs(s: &str) -> Option<u64> {
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let value: f64 = s[..end].parse().ok()?;
    let unit = s[end..].trim_start();
    let secs = if unit.starts_with("ms") {
        value / 1000.0
    } else if unit.starts_with('s') {
        value
    } else if unit.starts_with('m') {
        value * 60.0
    } else if unit.starts_with('h') {
        value * 3600.0
    } else {
        return None;
    };
    (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
}

/// The reset in Amazon Q's "The limits reset on 12/01." as Unix seconds: midnight UTC of that month and
/// day, in the year that puts it after `now` (this year, else next year).
pub(crate) fn limits_reset_on(text: &str, now: Timestamp) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("reset on ")? + "reset on ".len();
    let (month, rest) = leading_number(&lower[start..])?;
    let (day, _) = leading_number(rest.strip_prefix('/')?)?;
    let (month, day) = (i8::try_from(month).ok()?, i8::try_from(day).ok()?);
    let this_year = TimeZone::UTC.to_datetime(now).date().year();
    [this_year, this_year.checked_add(1)?]
        .into_iter()
        .filter_map(|year| Date::new(year, month, day).ok())
        .filter_map(|date| {
            TimeZone::UTC
                .to_zoned(date.to_datetime(Time::midnight()))
                .ok()
        })
        .map(|z| z.timestamp())
        .find(|at| *at > now)
        .and_then(|at| u64::try_from(at.as_second()).ok())
}

/// `now` plus `secs`, as Unix seconds.
pub(crate) fn after(now: Timestamp, secs: u64) -> Option<u64> {
    let later = now.checked_add(i64::try_from(secs).ok()?.seconds()).ok()?;
    u64::try_from(later.as_second()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(unix: i64) -> Timestamp {
        Timestamp::from_second(unix).unwrap()
    }

    /// 2026-11-30 08:04:00 UTC.
    const NOW: i64 = 1_796_025_840;

    #[test]
    fn codex_absolute_reset_is_read_in_the_local_zone() {
        let text = "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit \
                    https://chatgpt.com/settings/usage to purchase more credits or try again at Jan 1st, 2030 \
                    12:00 AM.";
        assert_eq!(
            try_again_at(text, ts(NOW), &TimeZone::UTC),
            Some(1_893_456_000)
        );
        let new_york = TimeZone::fixed(jiff::tz::offset(-5));
        assert_eq!(
            try_again_at(text, ts(NOW), &new_york),
            Some(1_893_456_000 + 5 * 3600)
        );
        assert_eq!(
            try_again_at(
                "try again at Mar 22nd, 2031 3:45 PM.",
                ts(NOW),
                &TimeZone::UTC
            ),
            Some(1_931_960_700)
        );
    }

    #[test]
    fn codex_time_of_day_is_its_next_occurrence() {
        let later_today = "… or try again at 9:04 AM.";
        assert_eq!(
            try_again_at(later_today, ts(NOW), &TimeZone::UTC),
            Some(NOW as u64 + 3600)
        );
        let passed = "try again at 8:03 AM.";
        assert_eq!(
            try_again_at(passed, ts(NOW), &TimeZone::UTC),
            Some(NOW as u64 + 24 * 3600 - 60)
        );
        assert_eq!(
            try_again_at("try again at 12:30 AM", ts(NOW), &TimeZone::UTC),
            Some(NOW as u64 + 16 * 3600 + 26 * 60)
        );
    }

    #[test]
    fn unreadable_times_give_none() {
        for text in [
            "You've hit your usage limit. Try again later.",
            "try again at noon",
            "try again at Foo 1st, 2030 12:00 AM",
            "try again at Feb 30th, 2030 12:00 AM",
            "try again at 13:00 PM",
        ] {
            assert_eq!(try_again_at(text, ts(NOW), &TimeZone::UTC), None, "{text}");
        }
    }

    #[test]
    fn openai_retry_delays() {
        assert_eq!(
            try_again_in("Rate limit reached ... Please try again in 1.5s."),
            Some(2)
        );
        assert_eq!(try_again_in("Please try again in 20ms."), Some(1));
        assert_eq!(try_again_in("please try again in 2m"), Some(120));
        assert_eq!(try_again_in("try again in a moment"), None);
        assert_eq!(after(ts(NOW), 2), Some(NOW as u64 + 2));
    }

    #[test]
    fn amazon_q_reset_day_is_the_next_such_date_at_midnight_utc() {
        // 2026-12-01T00:00:00Z
        assert_eq!(
            limits_reset_on("The limits reset on 12/01.", ts(NOW)),
            Some(1_796_083_200)
        );
        // Already past this year: next year.
        assert_eq!(
            limits_reset_on("The limits reset on 11/01.", ts(NOW)),
            Some(1_825_027_200)
        );
        assert_eq!(limits_reset_on("The limits reset on 13/01.", ts(NOW)), None);
        assert_eq!(limits_reset_on("no date here", ts(NOW)), None);
    }
}
