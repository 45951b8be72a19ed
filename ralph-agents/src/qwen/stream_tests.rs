//! Replays of streams recorded from the real Qwen Code 0.15.10 (`tests/fixtures/qwen/`, see the README
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
        "{}/tests/fixtures/qwen/{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Feeds the fixture's stdout and stderr to a [`QwenStream`] as the supervisor would, with `exit_code`
/// (`None`: killed by SIGKILL).
fn replay(name: &str, exit_code: Option<i32>) -> Replay {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = QwenStream::new("/tmp/rec-ws");
    for line in lines(&fixture(name, "jsonl")) {
        stream.on_stdout(Line::new(line), &tx);
    }
    let stderr = fixture(name, "stderr");
    let stderr_tail: Vec<String> = lines(&stderr)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
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
    assert_eq!(r.outcome.model.as_deref(), Some("qwen3-coder-plus"));
    let cost = r.outcome.cost.expect("qwen3-coder-plus has a price");
    assert!(cost.estimated);
    // $1 per million input tokens, $5 per million output tokens.
    assert!((cost.usd - (120.0 * 1.0 + 45.0 * 5.0) / 1e6).abs() < 1e-12);
}

#[test]
fn tools_are_summarised_cached_input_is_split_out_and_tool_output_is_not_a_limit() {
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
    // Prompt tokens 1000 + 1200 + 1400 of which 300 + 450 cached; completion 40 + 30 + 9.
    let u = r.outcome.usage;
    assert_eq!(
        (u.input_tokens, u.cache_read_input_tokens, u.output_tokens),
        (3600 - 750, 750, 79)
    );
}

#[test]
fn auth_401_reported_as_a_successful_result_is_an_auth_failure() {
    let r = snapshot!("auth_401", Some(0), failed(FailureKind::Auth, Some(401)));
    assert!(r.outcome.message.unwrap().contains("Incorrect API key"));
    assert_eq!(r.outcome.final_text, None, "an error text is not an answer");
}

#[test]
fn no_api_key() {
    let r = snapshot!("no_api_key", Some(1), failed(FailureKind::Auth, None));
    assert!(r.outcome.message.unwrap().contains("OPENAI_API_KEY"));
}

#[test]
fn max_turns() {
    snapshot!("max_turns", Some(53), failed(FailureKind::MaxTurns, None));
}

#[test]
fn a_model_stream_cut_short_is_an_api_failure() {
    snapshot!("stream_cut", Some(0), failed(FailureKind::Api, None));
}

#[test]
fn truncated_stream_of_a_killed_agent_is_an_exit_failure() {
    let r = snapshot!("truncated", None, failed(FailureKind::ExitCode, None));
    assert_eq!(r.outcome.final_text, None);
    assert!(r.outcome.usage.input_tokens > 0, "usage so far is kept");
}

#[test]
fn a_run_stuck_retrying_429s_and_then_killed_is_not_a_rate_limit() {
    // What ralph sees of a 429 storm: the init event, then silence until its timeout kills the agent
    // (the supervisor then reports the timeout; the handler must not have guessed a limit).
    let r = snapshot!(
        "rate_limit_429_retrying",
        None,
        failed(FailureKind::ExitCode, None)
    );
    assert!(!matches!(
        r.outcome.status,
        OutcomeStatus::RateLimited { .. }
    ));
}
