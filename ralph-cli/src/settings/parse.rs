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

// One parser per kind of setting, as named in the setting's definition (`defs.rs`). Each takes the
// value that won (a given one or the default) and returns the setting's type.

/// Text as given, untrimmed (an inline prompt keeps its whitespace).
pub(super) fn some_text(r: &Raw) -> Result<Option<String>, SettingsError> {
    Ok(Some(r.value.clone()))
}

/// Text, trimmed; empty means none.
pub(super) fn optional_text(r: &Raw) -> Result<Option<String>, SettingsError> {
    Ok(Some(r.value.trim().to_string()).filter(|v| !v.is_empty()))
}

/// A path as given; made absolute in `resolve`.
pub(super) fn path(r: &Raw) -> Result<std::path::PathBuf, SettingsError> {
    Ok(r.value.clone().into())
}

/// A file path as given, not empty (an empty one would name the workspace directory itself).
pub(super) fn file_path(r: &Raw) -> Result<std::path::PathBuf, SettingsError> {
    if r.value.trim().is_empty() {
        return Err(SettingsError::new(format!(
            "{}: the file name is empty; accepted: a file such as PROMPT.md (or an inline prompt_text)",
            r.source
        )));
    }
    path(r)
}

/// An agent name or a comma list with at least one name.
pub(super) fn agent(r: &Raw) -> Result<String, SettingsError> {
    let agent = r.value.trim().to_string();
    if agent.split(',').all(|name| name.trim().is_empty()) {
        return Err(SettingsError::new(format!(
            "{}: the agent name is empty; accepted: {}, or a comma list of them",
            r.source,
            ralph_agents::agent_names()
        )));
    }
    Ok(agent)
}

/// The completion promise, trimmed; one line.
pub(super) fn promise(r: &Raw) -> Result<String, SettingsError> {
    let promise = r.value.trim().to_string();
    if promise.contains('\n') {
        return Err(SettingsError::new(format!(
            "{}: the completion promise must be a single line",
            r.source
        )));
    }
    Ok(promise)
}

/// A count where 0 means no limit.
pub(super) fn limit_u64(r: &Raw) -> Result<Option<u64>, SettingsError> {
    Ok(Some(parse_u64(r, "a whole number >= 0 (0 = no limit)")?).filter(|n| *n > 0))
}

/// A duration where 0 means no limit.
pub(super) fn limit_duration(r: &Raw) -> Result<Option<Duration>, SettingsError> {
    Ok(Some(parse_duration(r)?).filter(|d| !d.is_zero()))
}

/// USD where 0 means no limit.
pub(super) fn limit_usd(r: &Raw) -> Result<Option<f64>, SettingsError> {
    Ok(Some(parse_f64(r)?).filter(|c| *c > 0.0))
}

/// A number of things to keep: a whole number, or `all` (any case) for no limit (`None`). 0 keeps none.
pub(super) fn keep_count(r: &Raw) -> Result<Option<u64>, SettingsError> {
    if r.value.trim().eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    parse_u64(r, "a whole number >= 0, or `all` (0 = keep none)").map(Some)
}

/// An interval where 0 means off.
pub(super) fn interval(r: &Raw) -> Result<u64, SettingsError> {
    parse_u64(r, "a whole number >= 0 (0 = off)")
}

/// A whole number >= 0.
pub(super) fn whole(r: &Raw) -> Result<u64, SettingsError> {
    parse_u64(r, "a whole number >= 0")
}

/// A duration.
pub(super) fn duration(r: &Raw) -> Result<Duration, SettingsError> {
    parse_duration(r)
}

/// A boolean.
pub(super) fn boolean(r: &Raw) -> Result<bool, SettingsError> {
    parse_bool(r)
}

/// Retries: 0 to 1000.
pub(super) fn retries(r: &Raw) -> Result<u32, SettingsError> {
    let n = parse_u64(r, "a whole number from 0 to 1000")?;
    if n > 1000 {
        return Err(SettingsError::new(format!(
            "{}: {n} is out of range; accepted: a whole number from 0 to 1000",
            r.source
        )));
    }
    Ok(n as u32)
}

/// A count of iterations in a row, 0 = off, else `min` to 10 000.
fn count(r: &Raw, min: u64) -> Result<u32, SettingsError> {
    let accepted = format!("0 (off) or a whole number from {min} to 10000");
    let n = parse_u64(r, &accepted)?;
    if n != 0 && !(min..=10_000).contains(&n) {
        return Err(SettingsError::new(format!(
            "{}: {n} is out of range; accepted: {accepted}",
            r.source
        )));
    }
    Ok(n as u32)
}

/// Unchanged iterations in a row: 0 = off, else 1 to 10 000.
pub(super) fn stall_count(r: &Raw) -> Result<u32, SettingsError> {
    count(r, 1)
}

/// Near-identical answers in a row: 0 = off, else 2 to 10 000 (one answer is never a loop).
pub(super) fn loop_count(r: &Raw) -> Result<u32, SettingsError> {
    count(r, 2)
}

/// A TCP port, 1 to 65535.
pub(super) fn port(r: &Raw) -> Result<u16, SettingsError> {
    let n = parse_u64(r, "a port number from 1 to 65535")?;
    u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| {
        SettingsError::new(format!(
            "{}: {n} is not a port; accepted: a port number from 1 to 65535",
            r.source
        ))
    })
}

/// An IP address, kept as written.
pub(super) fn ip_addr(r: &Raw) -> Result<String, SettingsError> {
    r.value.parse::<std::net::IpAddr>().map_err(|_| {
        SettingsError::new(format!(
            "{}: `{}` is not an IP address; accepted: e.g. 127.0.0.1 or 0.0.0.0",
            r.source, r.value
        ))
    })?;
    Ok(r.value.clone())
}

/// `text` or `json`, any case.
pub(super) fn log_format(r: &Raw) -> Result<super::LogFormat, SettingsError> {
    match r.value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(super::LogFormat::Text),
        "json" => Ok(super::LogFormat::Json),
        _ => Err(SettingsError::new(format!(
            "{}: `{}` is not a log format; accepted: text, json",
            r.source, r.value
        ))),
    }
}
