//! Replays of **hand-made** `q chat --no-interactive` outputs (`tests/fixtures/q/`, written from the CLI's
//! documentation and source, see the README there; the real CLI could not be installed here).

use super::*;
use crate::registry::AgentKind;
use crate::replay::{check, failed};

const AGENT: AgentKind = AgentKind::Q;

#[test]
fn success_strips_colours_and_the_prompt_marker_and_ignores_tool_output() {
    let r = check!("success", Some(0), OutcomeStatus::Success);
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
    let r = check!("not_logged_in", Some(1), failed(FailureKind::Auth, None));
    assert_eq!(
        r.outcome.message.as_deref(),
        Some("error: You are not logged in, please log in with q login")
    );
}

#[test]
fn monthly_limit_with_exit_zero_is_a_rate_limit_with_the_reset_day() {
    // 2026-12-01T00:00:00Z
    check!(
        "monthly_limit",
        Some(0),
        OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_796_083_200)
        }
    );
}

#[test]
fn throttling_is_a_rate_limit() {
    check!(
        "throttled",
        Some(1),
        OutcomeStatus::RateLimited {
            reset_at_unix: None
        }
    );
}

#[test]
fn an_expired_token_is_an_auth_failure() {
    check!("expired_token", Some(1), failed(FailureKind::Auth, None));
}

#[test]
fn an_overloaded_model_is_an_api_failure() {
    check!("overloaded", Some(1), failed(FailureKind::Api, None));
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
    assert_eq!(o.status, failed(FailureKind::ExitCode, None));
    assert_eq!(
        o.message.as_deref(),
        Some("exit code 2: error: unexpected argument '--bogus' found")
    );
}
