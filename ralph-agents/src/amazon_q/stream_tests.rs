//! Replays of **hand-made** `q chat --no-interactive` outputs (`tests/fixtures/q/`, written from the CLI's
//! documentation and source, see the README there; the real CLI could not be installed here).

use super::*;
use serde::Serialize;

/// 2026-11-30T08:04:00Z.
const NOW: i64 = 1_796_025_840;

#[derive(Debug, Serialize)]
struct Replay {
    events: Vec<AgentEvent>,
    outcome: AgentOutcome,
}

fn read(name: &str, ext: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/q/{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Feeds `<name>.stderr` then `<name>.stdout` (the order does not matter to the handler) and finishes
/// with `exit_code`.
fn replay(name: &str, exit_code: i32) -> Replay {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream =
        AmazonQStream::new(AmazonQFlavor::Q).with_now(Timestamp::from_second(NOW).unwrap());
    let stderr = read(name, "stderr");
    let mut tail = Vec::new();
    for line in String::from_utf8_lossy(&stderr).lines() {
        stream.on_stderr(line, &tx);
        tail.push(line.to_string());
    }
    for line in read(name, "stdout").split(|&b| b == b'\n') {
        stream.on_stdout(Line::new(line), &tx);
    }
    let outcome = stream.finish(&ProcessExit {
        exit_code: Some(exit_code),
        stderr_tail: tail,
        ..ProcessExit::default()
    });
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Replay { events, outcome }
}

fn failed(kind: FailureKind) -> OutcomeStatus {
    OutcomeStatus::Failed {
        kind,
        api_status: None,
    }
}

macro_rules! snapshot {
    ($name:literal, $exit:expr, $status:expr) => {{
        let r = replay($name, $exit);
        assert_eq!(r.outcome.status, $status, "{}", $name);
        insta::assert_json_snapshot!(concat!("q_", $name), r);
        r
    }};
}

#[test]
fn success_strips_colours_and_the_prompt_marker_and_ignores_tool_output() {
    let r = snapshot!("success", 0, OutcomeStatus::Success);
    let text = r.outcome.final_text.unwrap();
    assert!(text.starts_with("I created `hello.txt`"), "{text:?}");
    assert!(text.lines().any(|l| l == "LOOP_COMPLETE"), "{text:?}");
    let tools: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolUse { name, summary } => Some(format!("{name} {summary}")),
            _ => None,
        })
        .collect();
    assert_eq!(tools, ["fs_write trusted", "execute_bash trusted"]);
}

#[test]
fn not_logged_in() {
    let r = snapshot!("not_logged_in", 1, failed(FailureKind::Auth));
    assert_eq!(
        r.outcome.message.as_deref(),
        Some("error: You are not logged in, please log in with q login")
    );
}

#[test]
fn monthly_limit_with_exit_zero_is_a_rate_limit_with_the_reset_day() {
    // 2026-12-01T00:00:00Z
    snapshot!(
        "monthly_limit",
        0,
        OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_796_083_200)
        }
    );
}

#[test]
fn throttling_is_a_rate_limit() {
    snapshot!(
        "throttled",
        1,
        OutcomeStatus::RateLimited {
            reset_at_unix: None
        }
    );
}

#[test]
fn an_expired_token_is_an_auth_failure() {
    snapshot!("expired_token", 1, failed(FailureKind::Auth));
}

#[test]
fn an_overloaded_model_is_an_api_failure() {
    snapshot!("overloaded", 1, failed(FailureKind::Api));
}

#[test]
fn ansi_sequences_and_overwritten_spinners_are_removed() {
    assert_eq!(strip_ansi("\u{1b}[1m\u{1b}[31mred\u{1b}[0m"), "red");
    assert_eq!(strip_ansi("⠋ Thinking...\r\u{1b}[2Kanswer"), "answer");
    assert_eq!(
        strip_ansi("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\"),
        "link"
    );
}

#[test]
fn a_plain_failure_reports_the_stderr_tail() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = AmazonQStream::new(AmazonQFlavor::Kiro);
    stream.on_stderr("error: unexpected argument '--bogus' found", &tx);
    let o = stream.finish(&ProcessExit {
        exit_code: Some(2),
        stderr_tail: vec!["error: unexpected argument '--bogus' found".into()],
        ..ProcessExit::default()
    });
    assert_eq!(o.status, failed(FailureKind::ExitCode));
    assert_eq!(
        o.message.as_deref(),
        Some("exit code 2: error: unexpected argument '--bogus' found")
    );
}
