//! Replays of streams recorded from the real Gemini CLI 0.61.0 (`tests/fixtures/gemini/`, see the README
//! there): the events each produces and the classified outcome.

use super::*;
use ralph_core::{FailureKind, OutcomeStatus};
use serde::Serialize;

/// What a replay produced: every event, then the outcome.
#[derive(Debug, Serialize)]
struct Replay {
    events: Vec<AgentEvent>,
    outcome: AgentOutcome,
}

fn fixture(name: &str, ext: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/gemini/{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Feeds the fixture's stdout and stderr to a [`GeminiStream`] as the supervisor would, with `exit_code`
/// (`None`: killed by SIGKILL).
fn replay(name: &str, exit_code: Option<i32>) -> Replay {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = GeminiStream::new("/tmp/rec-ws");
    for line in lines(&fixture(name, "jsonl")) {
        stream.on_stdout(Line::new(line), &tx);
    }
    let stderr = fixture(name, "stderr");
    let stderr_tail: Vec<String> = lines(&stderr)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    for line in &stderr_tail {
        stream.on_stderr(line, &tx);
    }
    let outcome = stream.finish(&ProcessExit {
        exit_code,
        signal: if exit_code.is_none() { Some(9) } else { None },
        stderr_tail,
        ..ProcessExit::default()
    });
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Replay { events, outcome }
}

fn failed(kind: FailureKind, api_status: Option<u16>) -> OutcomeStatus {
    OutcomeStatus::Failed { kind, api_status }
}

macro_rules! snapshot {
    ($name:literal, $exit:expr, $status:expr) => {{
        let r = replay($name, $exit);
        assert_eq!(
            r.outcome.status, $status,
            "{}: {:?}",
            $name, r.outcome.message
        );
        insta::assert_json_snapshot!($name, r);
        r
    }};
}

#[test]
fn success() {
    let r = snapshot!("success", Some(0), OutcomeStatus::Success);
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE")
    );
    assert_eq!(r.outcome.usage.input_tokens, 120);
    assert_eq!(r.outcome.usage.output_tokens, 45);
    let cost = r.outcome.cost.expect("gemini-2.5-flash has a price");
    assert!(cost.estimated);
    // $0.30 per million input tokens, $2.50 per million output tokens.
    assert!((cost.usd - (120.0 * 0.3 + 45.0 * 2.5) / 1e6).abs() < 1e-12);
}

#[test]
fn tools_are_summarised_usage_counts_cache_and_thinking_and_tool_output_is_not_a_limit() {
    let r = snapshot!("tools", Some(0), OutcomeStatus::Success);
    let tools: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolUse { name, summary } => Some(format!("{name}: {summary}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        tools,
        [
            "write_file: hello.txt",
            "run_shell_command: echo built > out.txt && cat hello.txt && echo usage limit reached"
        ]
    );
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE"),
        "only the text after the last tool call is the answer"
    );
    // Three turns: prompt 1000 + 1200 + 1400 (cached 300 + 450), candidates 40 + 30 + 9, thinking 60.
    let u = r.outcome.usage;
    assert_eq!(
        (u.input_tokens, u.cache_read_input_tokens),
        (3600 - 750, 750)
    );
    assert_eq!((u.output_tokens, u.reasoning_output_tokens), (79 + 60, 60));
}

#[test]
fn auth_invalid_key_400() {
    let r = snapshot!(
        "auth_invalid_key_400",
        Some(144),
        failed(FailureKind::Auth, Some(400))
    );
    assert!(
        r.outcome.message.unwrap().contains("API key not valid"),
        "the cause is named"
    );
}

#[test]
fn auth_403() {
    snapshot!("auth_403", Some(147), failed(FailureKind::Auth, Some(403)));
}

#[test]
fn no_api_key_exit_41() {
    let r = snapshot!("no_api_key", Some(41), failed(FailureKind::Auth, None));
    assert!(
        r.outcome.message.unwrap().contains("GEMINI_API_KEY"),
        "the message says what is missing"
    );
}

#[test]
fn rate_limit_429_daily_quota() {
    let r = replay("rate_limit_429_daily_quota", Some(173));
    let OutcomeStatus::RateLimited {
        reset_at_unix: Some(reset),
    } = r.outcome.status
    else {
        panic!("not a rate limit with a reset time: {:?}", r.outcome.status);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // "Please retry in 37.5s." (rounded up), from the error Gemini CLI printed on stderr.
    assert!((now + 37..=now + 39).contains(&reset), "{reset} vs {now}");
    let mut r = r;
    // The snapshot shows the delay instead of a clock-dependent time.
    r.outcome.status = OutcomeStatus::RateLimited {
        reset_at_unix: Some(reset - now),
    };
    insta::assert_json_snapshot!("rate_limit_429_daily_quota", r);
}

#[test]
fn server_error_500() {
    snapshot!(
        "server_error_500",
        Some(244),
        failed(FailureKind::Api, Some(500))
    );
}

#[test]
fn connection_refused() {
    snapshot!(
        "connection_refused",
        Some(1),
        failed(FailureKind::Api, None)
    );
}

#[test]
fn max_turns() {
    snapshot!("max_turns", Some(53), failed(FailureKind::MaxTurns, None));
}

#[test]
fn a_model_stream_cut_short_is_an_api_failure() {
    let r = snapshot!("stream_cut", Some(1), failed(FailureKind::Api, None));
    assert_eq!(r.outcome.final_text, None);
}

#[test]
fn the_router_model_is_counted_and_the_served_model_reported() {
    let r = snapshot!("auto_router", Some(0), OutcomeStatus::Success);
    // Router request (5 + 5 tokens, gemini-3.5-flash-lite) and the answer (100 + 20).
    assert_eq!(r.outcome.usage.input_tokens, 105);
    assert_eq!(r.outcome.usage.output_tokens, 25);
}

#[test]
fn truncated_stream_of_a_killed_agent_is_an_exit_failure() {
    let r = snapshot!("truncated", None, failed(FailureKind::ExitCode, None));
    assert_eq!(r.outcome.final_text, None);
}

#[test]
fn truncated_stream_with_exit_zero_is_a_protocol_failure() {
    let r = replay("truncated", Some(0));
    assert_eq!(r.outcome.status, failed(FailureKind::Protocol, None));
}

#[test]
fn retries_on_stderr_become_retry_events() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = GeminiStream::new("/ws");
    stream.on_stderr(
        "Attempt 2 failed with status 429. Retrying with backoff... _ApiError: {\"error\":{}}",
        &tx,
    );
    stream.on_stderr("Ripgrep is not available. Falling back to GrepTool.", &tx);
    assert_eq!(
        rx.try_recv().unwrap(),
        AgentEvent::Retry {
            attempt: 2,
            message: "attempt 2 failed with status 429. Retrying with backoff...".into()
        }
    );
    assert!(rx.try_recv().is_err());
}

#[test]
fn non_json_lines_are_skipped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = GeminiStream::new("/ws");
    stream.on_stdout(Line::new(&b"\xff not json"[..]), &tx);
    stream.on_stdout(Line::new(&br#"{"type":"future_event","x":1}"#[..]), &tx);
    assert!(rx.try_recv().is_err());
    let o = stream.finish(&ProcessExit {
        exit_code: Some(0),
        ..ProcessExit::default()
    });
    assert_eq!(o.status, failed(FailureKind::Protocol, None));
}
