//! Validating setting values; every error names the source and the accepted values.

use super::{Raw, SettingsError};
use std::time::Duration;

pub(super) fn parse_u64(r: &Raw, accepted: &str) -> Result<u64, SettingsError> {
    r.value.trim().parse::<u64>().map_err(|_| {
        SettingsError::new(format!(
            "{}: `{}` is not valid; accepted: {accepted}",
            r.source, r.value
        ))
    })
}

pub(super) fn parse_f64(r: &Raw) -> Result<f64, SettingsError> {
    match r.value.trim().trim_start_matches('$').parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(SettingsError::new(format!(
            "{}: `{}` is not valid; accepted: an amount in USD >= 0, e.g. 12.5 (0 = no limit)",
            r.source, r.value
        ))),
    }
}

/// Seconds as a number (`90`, `0.5`) or a duration with units (`90s`, `30m`, `4h`, `1h 30m`).
/// The longest duration any setting accepts: 10 years, in seconds. Larger values would overflow clock
/// arithmetic and mean "no limit" anyway (use 0 for that).
pub const MAX_DURATION_SECS: f64 = 10.0 * 365.0 * 86_400.0;

pub(super) fn parse_duration(r: &Raw) -> Result<Duration, SettingsError> {
    let v = r.value.trim();
    let err = || {
        SettingsError::new(format!(
            "{}: `{}` is not valid; accepted: seconds from 0 to {MAX_DURATION_SECS} (e.g. 90 or 0.5) or a duration like 90s, 30m, 4h",
            r.source, r.value
        ))
    };
    let d = match v.parse::<f64>() {
        Ok(secs) => duration_from_secs(secs).ok_or_else(err)?,
        Err(_) => humantime::parse_duration(v).map_err(|_| err())?,
    };
    if d.as_secs_f64() > MAX_DURATION_SECS {
        return Err(err());
    }
    Ok(d)
}

/// `secs` as a duration when it is finite and within 0..=[`MAX_DURATION_SECS`].
pub fn duration_from_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..=MAX_DURATION_SECS).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}

pub(super) fn parse_bool(r: &Raw) -> Result<bool, SettingsError> {
    match r.value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(SettingsError::new(format!(
            "{}: `{}` is not valid; accepted: true or false (also 1/0, yes/no, on/off)",
            r.source, r.value
        ))),
    }
}

/// A level name in any case (`DEBUG`, `debug`, `Warning`) or a tracing filter (`ralph=debug,info`).
pub(super) fn parse_log_level(r: &Raw) -> Result<String, SettingsError> {
    let v = r.value.trim().to_ascii_lowercase();
    let v = match v.as_str() {
        "warning" => "warn".to_string(),
        "critical" | "fatal" => "error".to_string(),
        _ => v,
    };
    let ok = matches!(
        v.as_str(),
        "error" | "warn" | "info" | "debug" | "trace" | "off"
    ) || (v.contains('=') && tracing_subscriber::EnvFilter::try_new(&v).is_ok());
    if ok {
        Ok(v)
    } else {
        Err(SettingsError::new(format!(
            "{}: `{}` is not a log level; accepted: error, warn, info, debug, trace (any case)",
            r.source, r.value
        )))
    }
}

/// Notification URLs: `r.value` holds one or more URLs separated by commas or whitespace (a comma inside
/// a URL must be written `%2C`). Each must be an absolute `http` or `https` URL with a host. An empty
/// value means no notifications. Errors name the source and show the URL with its secrets masked.
pub(super) fn parse_notify(r: &Raw) -> Result<Vec<String>, SettingsError> {
    let mut out: Vec<String> = Vec::new();
    if r.value.trim().is_empty() && matches!(r.source, super::Source::Flag(_)) {
        return Err(SettingsError::new(format!(
            "{}: the URL is empty; accepted: http:// or https:// URLs",
            r.source
        )));
    }
    for item in r
        .value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let accepted = "accepted: http:// or https:// URLs, several separated by commas or spaces";
        let masked = crate::notify::mask_url(item);
        let url = reqwest::Url::parse(item).map_err(|e| {
            SettingsError::new(format!(
                "{}: `{masked}` is not a valid URL ({e}); {accepted}",
                r.source
            ))
        })?;
        // `http:///x` parses with host `x`: a URL without a host between `//` and `/` is a typo.
        let hostless = item
            .split_once("://")
            .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with('/'));
        if hostless
            || !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none_or(str::is_empty)
        {
            return Err(SettingsError::new(format!(
                "{}: `{masked}` is not an http or https URL with a host; {accepted}",
                r.source
            )));
        }
        if !out.iter().any(|u| u == item) {
            out.push(item.to_string());
        }
    }
    Ok(out)
}
