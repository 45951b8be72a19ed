//! Reading HTTP statuses and retry delays out of the error texts that Gemini CLI and Qwen Code print.
//!
//! Both CLIs report a failed model call as a text, not as fields: Gemini CLI 0.61.0 as `[API Error:
//! {"error":{"code":400,"message":...,"status":"INVALID_ARGUMENT",...}}]` (the Google API error JSON) or
//! `[API Error: You have exhausted your daily quota on this model.]`; Qwen Code 0.15.10 as `[API Error: 401
//! Incorrect API key provided: ...]` (the OpenAI SDK's message, which starts with the status). Google's
//! quota errors say when to retry: "Please retry in 37.5s." in the message, `"retryDelay": "37s"` in the
//! details, or "Suggested retry after 60s." in Gemini CLI's own wording.
//!
//! These functions are only applied to what the agent says about the API (its error result, its stderr),
//! never to tool output.

/// The HTTP status an API error text names: a `"code": NNN` field of an embedded JSON error, else a
/// three-digit number right after `API Error:`, else "status NNN" / "HTTP NNN". Only 400–599 count.
pub(crate) fn status_in(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    let after = |marker: &str| -> Option<u16> {
        lower.match_indices(marker).find_map(|(i, _)| {
            let rest = lower[i + marker.len()..].trim_start_matches([' ', ':', '"', '\\']);
            leading_status(rest)
        })
    };
    after("\"code\"")
        .or_else(|| after("code\\\""))
        .or_else(|| after("api error:"))
        .or_else(|| after("status"))
        .or_else(|| after("http"))
}

/// A status of 400–599 at the start of `s` (exactly three digits, not followed by another digit).
fn leading_status(s: &str) -> Option<u16> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() != 3 {
        return None;
    }
    digits
        .parse::<u16>()
        .ok()
        .filter(|n| (400..600).contains(n))
}

/// The delay an API error asks for before retrying, in seconds (rounded up): "retry in 37.5s", "retry in
/// 500ms", "retry after 60s", `"retryDelay": "37s"`.
pub(crate) fn retry_delay_in(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    for marker in ["retry in ", "retry after ", "\"retrydelay\":"] {
        for (i, _) in lower.match_indices(marker) {
            let rest = lower[i + marker.len()..].trim_start_matches([' ', '"', '\\']);
            if let Some(secs) = duration_secs(rest) {
                return Some(secs);
            }
        }
    }
    None
}

/// `37.5s`, `500ms`, `2m` at the start of `s`, in whole seconds rounded up.
fn duration_secs(s: &str) -> Option<u64> {
    let number: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let value: f64 = number.parse().ok()?;
    let unit = &s[number.len()..];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_embedded_json_or_the_leading_number() {
        assert_eq!(
            status_in(r#"[API Error: {"error":{"code":400,"message":"API key not valid"}}]"#),
            Some(400)
        );
        assert_eq!(
            status_in(r#"{\"error\":{\"code\":403,\"status\":\"PERMISSION_DENIED\"}}"#),
            Some(403)
        );
        assert_eq!(
            status_in("[API Error: 401 Incorrect API key provided: dummy.]"),
            Some(401)
        );
        assert_eq!(
            status_in("Attempt 1 failed with status 429. Retrying"),
            Some(429)
        );
        assert_eq!(status_in("[API Error: Model stream ended early.]"), None);
        assert_eq!(status_in("code 4000 and HTTP 200"), None);
    }

    #[test]
    fn retry_delays_in_google_and_gemini_wordings() {
        assert_eq!(
            retry_delay_in("... limit: 250\nPlease retry in 37.5s."),
            Some(38)
        );
        assert_eq!(retry_delay_in("Suggested retry after 60s."), Some(60));
        assert_eq!(retry_delay_in(r#""retryDelay": "7s""#), Some(7));
        assert_eq!(retry_delay_in("please retry in 500ms"), Some(1));
        assert_eq!(retry_delay_in("retry in a moment"), None);
    }
}
