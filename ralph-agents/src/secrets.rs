//! Keeping API keys out of everything ralph shows: argv, environment listings, error messages.
//!
//! Masking is deliberately greedy: a value is masked when its *name* looks secret (`*_KEY`, `*_TOKEN`,
//! `*SECRET*`, `*PASSWORD*`, `api-key`, ...) or when the value itself looks like a key (`sk-ant-...`,
//! `sk-...`, `AIza...`, `ghp_...`, `Bearer ...`). Names ending in `_FILE`, `_PATH`, `_DIR` or `_URL` hold
//! locations, not secrets, and are shown.

use std::collections::BTreeMap;

/// What replaces a secret value.
pub const MASK: &str = "****";

/// Prefixes of well-known key formats, and the least number of characters after them for a match.
const KEY_PREFIXES: &[(&str, usize)] = &[
    ("sk-ant-", 8),
    ("sk-proj-", 8),
    ("sk-", 20),
    ("AIza", 20),
    ("ghp_", 20),
    ("gho_", 20),
    ("github_pat_", 20),
    ("xoxb-", 12),
    ("xoxp-", 12),
    ("glpat-", 12),
];

/// True when a variable or flag called `name` holds a secret (`ANTHROPIC_API_KEY`, `--api-key`,
/// `GITHUB_TOKEN`, `apiKey`), and not a location (`CLAUDE_API_KEY_FILE`).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.trim_start_matches('-').to_ascii_uppercase();
    let parts: Vec<&str> = upper
        .split(['_', '-', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    let location = |last: &&str| {
        matches!(
            *last,
            "FILE" | "PATH" | "DIR" | "URL" | "ID" | "TYPE" | "SOURCE"
        )
    };
    if parts.last().is_some_and(location) {
        return false;
    }
    let secret_part = |p: &&str| {
        matches!(
            *p,
            "KEY"
                | "APIKEY"
                | "TOKEN"
                | "SECRET"
                | "PASSWORD"
                | "PASSWD"
                | "CREDENTIAL"
                | "CREDENTIALS"
        )
    };
    parts.iter().any(secret_part) || upper.contains("APIKEY") || upper.ends_with("SECRET")
}

/// `text` with every secret-looking value replaced by [`MASK`]: values of secret-named assignments
/// (`ANTHROPIC_API_KEY=...`, `"api_key": "..."`, `x-api-key: ...`), bearer tokens and well-known key
/// formats.
///
/// ```
/// assert_eq!(
///     ralph_agents::mask_secrets("ANTHROPIC_API_KEY=sk-ant-api03-abcdefgh is set"),
///     "ANTHROPIC_API_KEY=**** is set"
/// );
/// assert_eq!(ralph_agents::mask_secrets("RALPH_MAX_TOKENS=1000"), "RALPH_MAX_TOKENS=1000");
/// ```
pub fn mask_secrets(text: &str) -> String {
    mask_key_formats(&mask_bearer(&mask_assignments(text)))
}

/// `argv` as it may be shown: the value after a secret-named flag (`--api-key X`), the value of
/// `--flag=secret` and of `NAME=secret`, and key-looking arguments are masked.
pub fn mask_argv(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for arg in argv {
        if hide_next && !arg.starts_with('-') {
            out.push(MASK.to_string());
            hide_next = false;
            continue;
        }
        hide_next = arg.starts_with('-') && !arg.contains('=') && is_secret_name(arg);
        out.push(mask_secrets(arg));
    }
    out
}

/// `env` as it may be shown: values of secret-named variables are [`MASK`], other values pass through
/// [`mask_secrets`].
pub fn mask_env(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| {
            let v = if is_secret_name(k) {
                MASK.to_string()
            } else {
                mask_secrets(v)
            };
            (k.clone(), v)
        })
        .collect()
}

/// Which API keys of the [registry](crate::registry::key_vars) are provided, without their values: for example
/// `ANTHROPIC_API_KEY=****, GEMINI_API_KEY_FILE=/run/secrets/gemini`, or `none`.
/// `env` looks a variable up (pass `&|k| std::env::var(k).ok()`).
pub fn describe_keys(env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut found = Vec::new();
    for name in crate::registry::key_vars() {
        if env(name).is_some_and(|v| !v.is_empty()) {
            found.push(format!("{name}={MASK}"));
        }
        let file = format!("{name}_FILE");
        if let Some(path) = env(&file).filter(|v| !v.is_empty()) {
            found.push(format!("{file}={path}"));
        }
    }
    if found.is_empty() {
        "none".into()
    } else {
        found.join(", ")
    }
}

/// The value of the key variable `name`, or else the content of the file named by `name_FILE` (trailing
/// whitespace removed). Empty values count as unset. An unreadable file is reported with a warning (its
/// path only) and counts as unset.
pub fn resolve_key(name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(v) = env(name).filter(|v| !v.is_empty()) {
        return Some(v);
    }
    let path = env(&format!("{name}_FILE")).filter(|v| !v.is_empty())?;
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s.trim_end().to_string()).filter(|s| !s.is_empty()),
        Err(e) => {
            tracing::warn!(variable = %format!("{name}_FILE"), %path, error = %e, "cannot read the key file");
            None
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn value_end(text: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < text.len()
        && !matches!(
            text[end],
            b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b',' | b';' | b'}' | b'&'
        )
    {
        end += 1;
    }
    end
}

/// Masks the value in `NAME=value`, `NAME: value` and `"NAME": "value"` when `NAME` is secret-named.
fn mask_assignments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !is_name_byte(b[i]) || (i > 0 && is_name_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_name_byte(b[j]) {
            j += 1;
        }
        let name = &text[i..j];
        let mut k = j;
        if k < b.len() && b[k] == b'"' {
            k += 1;
        }
        let sep = k < b.len() && (b[k] == b'=' || b[k] == b':');
        if !sep || !is_secret_name(name) {
            i = j;
            continue;
        }
        k += 1;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if k < b.len() && (b[k] == b'"' || b[k] == b'\'') {
            k += 1;
        }
        let end = value_end(b, k);
        if end > k {
            out.push_str(&text[copied..k]);
            out.push_str(MASK);
            copied = end;
        }
        i = end.max(j);
    }
    out.push_str(&text[copied..]);
    out
}

/// Masks the token after `Bearer `.
fn mask_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("Bearer ") {
        let after = pos + "Bearer ".len();
        out.push_str(&rest[..after]);
        let end = value_end(rest.as_bytes(), after);
        if end > after {
            out.push_str(MASK);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Masks words that look like keys of a well-known format (keeping the prefix, e.g. `sk-ant-****`).
fn mask_key_formats(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !is_name_byte(b[i]) || (i > 0 && is_name_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_name_byte(b[j]) {
            j += 1;
        }
        let word = &text[i..j];
        if let Some((prefix, _)) = KEY_PREFIXES
            .iter()
            .find(|(p, min)| word.starts_with(p) && word.len() >= p.len() + min)
        {
            out.push_str(&text[copied..i]);
            out.push_str(prefix);
            out.push_str(MASK);
            copied = j;
        }
        i = j;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised_and_locations_are_not() {
        for name in [
            "ANTHROPIC_API_KEY",
            "--api-key",
            "--openai-api-key",
            "GITHUB_TOKEN",
            "apiKey",
            "x-api-key",
            "DB_PASSWORD",
            "CLIENT_SECRET",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "CLAUDE_API_KEY_FILE",
            "RALPH_MAX_TOKENS",
            "HOME",
            "--model",
            "KEYBOARD",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn assignments_and_headers_are_masked() {
        assert_eq!(
            mask_secrets(r#"{"api_key": "abc123", "model": "m"}"#),
            r#"{"api_key": "****", "model": "m"}"#
        );
        assert_eq!(mask_secrets("x-api-key: abc123"), "x-api-key: ****");
        assert_eq!(
            mask_secrets("Authorization: Bearer abcdefgh1234"),
            "Authorization: Bearer ****"
        );
        assert_eq!(
            mask_secrets("GEMINI_API_KEY='secret' rest"),
            "GEMINI_API_KEY='****' rest"
        );
    }

    #[test]
    fn key_formats_are_masked_in_free_text() {
        assert_eq!(
            mask_secrets("HTTP 401: invalid x-api-key sk-ant-api03-AbCdEfGhIjKl"),
            "HTTP 401: invalid x-api-key sk-ant-****"
        );
        assert_eq!(mask_secrets("pip install sk-learn"), "pip install sk-learn");
    }

    #[test]
    fn argv_hides_the_value_after_a_secret_flag() {
        let argv: Vec<String> = [
            "qwen",
            "--openai-api-key",
            "dummy",
            "--model",
            "m",
            "--token=t0k",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            mask_argv(&argv),
            [
                "qwen",
                "--openai-api-key",
                "****",
                "--model",
                "m",
                "--token=****"
            ]
        );
    }

    #[test]
    fn describe_keys_never_shows_values() {
        let env = |k: &str| match k {
            "ANTHROPIC_API_KEY" => Some("sk-ant-secret".to_string()),
            "GEMINI_API_KEY_FILE" => Some("/run/secrets/gemini".to_string()),
            _ => None,
        };
        assert_eq!(
            describe_keys(&env),
            "ANTHROPIC_API_KEY=****, GEMINI_API_KEY_FILE=/run/secrets/gemini"
        );
        assert_eq!(describe_keys(&|_| None), "none");
    }

    #[test]
    fn resolve_key_reads_the_file_variant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-file\n").unwrap();
        let path = path.display().to_string();
        let env = |k: &str| (k == "CLAUDE_API_KEY_FILE").then(|| path.clone());
        assert_eq!(
            resolve_key("CLAUDE_API_KEY", &env).as_deref(),
            Some("from-file")
        );
        assert_eq!(resolve_key("ANTHROPIC_API_KEY", &env), None);
    }
}
