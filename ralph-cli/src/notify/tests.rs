use super::*;
use ralph_core::completion::CompletionSource;

fn settings(urls: &[&str], dir: &std::path::Path) -> RunSettings {
    let args = <crate::cli::Cli as clap::Parser>::parse_from(["ralph", "--agent", "command"]).run;
    let mut s = crate::settings::resolve(&args, &|_| None, dir).unwrap();
    s.notify = urls.iter().map(|u| u.to_string()).collect();
    s
}

fn redactor(key: &str) -> Arc<Redactor> {
    let key = key.to_string();
    Arc::new(Redactor::from_env(&move |k| {
        (k == "ANTHROPIC_API_KEY").then(|| key.clone())
    }))
}

fn usage() -> Usage {
    Usage {
        input_tokens: 10,
        output_tokens: 5,
        cache_creation_input_tokens: 3,
        cache_read_input_tokens: 100,
        reasoning_output_tokens: 0,
    }
}

#[test]
fn urls_are_masked_credentials_query_values_and_token_segments() {
    assert_eq!(
        mask_url("https://user:pa55word@hooks.example.com/hook?token=abc&x=1#frag"),
        "https://****@hooks.example.com/hook?token=****&x=****#****"
    );
    assert_eq!(
        mask_url("https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx"),
        "https://hooks.slack.com/services/****/****/****"
    );
    assert_eq!(
        mask_url("http://127.0.0.1:8080/hook"),
        "http://127.0.0.1:8080/hook"
    );
    // Not a URL at all: still no credentials.
    assert_eq!(mask_url("ftp//a:b@c"), "****@c");
    assert_eq!(describe_targets(&[]), "none");
    assert_eq!(
        describe_targets(&["https://u:p@h.example/x".into(), "http://h2/y".into()]),
        "POST to https://****@h.example/x, http://h2/y"
    );
}

#[test]
fn outcomes_follow_the_stop_reason() {
    let completed = StopReason::Completed {
        iteration: 1,
        source: CompletionSource::PromiseLine,
    };
    assert_eq!(outcome(&completed), "completed");
    assert_eq!(
        outcome(&StopReason::MaxIterations { limit: 2 }),
        "limit_reached"
    );
    assert_eq!(
        outcome(&StopReason::RateLimited {
            message: "x".into()
        }),
        "limit_reached"
    );
    assert_eq!(
        outcome(&StopReason::Interrupted {
            signal: ralph_core::Signal::Term
        }),
        "interrupted"
    );
    assert_eq!(
        outcome(&StopReason::TooManyFailures {
            failures: 3,
            last_failure: "x".into()
        }),
        "failed"
    );
    assert_eq!(
        outcome(&StopReason::AgentUnavailable {
            message: "x".into()
        }),
        "failed"
    );
}

#[tokio::test]
async fn run_finished_payload_carries_the_run_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-ant-api03-planted-secret-value-0123456789";
    let (mut n, _pending) = Notifier::new(
        &settings(&["http://127.0.0.1:9/hook"], dir.path()),
        redactor(key),
    );
    n.track(&LoopEvent::RunStarted {
        run_id: "20260101-000000-abcd".into(),
        agent: "claude".into(),
        resumed: false,
        iterations_done: 0,
    });
    n.track(&LoopEvent::Checkpoint {
        iteration: 1,
        id: Some("0123abcd".into()),
        is_final: false,
    });
    // A final checkpoint with nothing to commit keeps the last id.
    n.track(&LoopEvent::Checkpoint {
        iteration: 2,
        id: None,
        is_final: true,
    });
    let event = LoopEvent::RunFinished {
        reason: StopReason::TooManyFailures {
            failures: 1,
            last_failure: format!("exit 1: key={key}"),
        },
        iterations: 2,
        usage: usage(),
        cost_usd: 0.25,
        cost_estimated: true,
        elapsed_secs: 12.5,
    };
    let p = n.payload(&event).unwrap();
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["event"], "run_finished");
    assert_eq!(json["run_id"], "20260101-000000-abcd");
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["iterations"], 2);
    assert_eq!(
        json["tokens"],
        serde_json::json!({"input": 10, "output": 5, "cache_creation": 3, "cache_read": 100, "total": 18})
    );
    assert_eq!(json["cost_usd"], 0.25);
    assert_eq!(json["cost_estimated"], true);
    assert_eq!(json["runtime_secs"], 12.5);
    assert_eq!(json["last_checkpoint"], "0123abcd");
    assert_eq!(json["agent"], "claude");
    assert!(json.get("wait_secs").is_none());
    let body = json.to_string();
    assert!(!body.contains(key), "{body}");
    assert!(json["reason"].as_str().unwrap().contains("****"), "{body}");
    // Other events are not notified.
    assert!(
        n.payload(&LoopEvent::Warning {
            message: "x".into()
        })
        .is_none()
    );
}

#[tokio::test]
async fn rate_limit_payload_takes_the_totals_saved_in_state_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&["http://127.0.0.1:9/hook"], dir.path());
    let (mut n, _pending) = Notifier::new(&s, redactor("unused-key-123456"));
    n.track(&LoopEvent::RunStarted {
        run_id: "20260101-000000-abcd".into(),
        agent: "claude".into(),
        resumed: true,
        iterations_done: 4,
    });
    n.track(&LoopEvent::IterationFinished {
        iteration: 5,
        outcome: ralph_core::agent::OutcomeStatus::Success,
        message: None,
        duration_secs: 1.0,
        usage: usage(),
        cost_usd: 0.1,
        cost_estimated: false,
        total_tokens: 90,
        total_cost_usd: 0.5,
        completed: false,
    });
    let wait = LoopEvent::RateLimitWait {
        wait_secs: 60.0,
        reset_at_unix: Some(1_900_000_000),
    };
    // Without state.json: this process's figures.
    let p = n.payload(&wait).unwrap();
    assert_eq!(p.event, "rate_limit_wait");
    assert_eq!((p.iterations, p.tokens.total, p.cost_usd), (5, 90, 0.5));
    assert_eq!(p.tokens.input, 10);
    assert_eq!(p.wait_secs, Some(60.0));
    assert_eq!(p.reset_at_unix, Some(1_900_000_000));
    let json = serde_json::to_value(&p).unwrap();
    assert!(json.get("outcome").is_none() && json.get("exit_code").is_none());

    // With state.json of this run: the run's totals.
    let state = serde_json::json!({
        "version": 1, "run_id": "20260101-000000-abcd", "prompt_sha256": "x", "iteration": 5,
        "usage": {"input_tokens": 50, "output_tokens": 25, "cache_creation_input_tokens": 15, "cache_read_input_tokens": 7},
        "tokens_total": 90, "cost_usd": 0.5, "cost_estimated": false, "runtime_secs": 33.0,
        "consecutive_failures": 0, "status": "running", "stop_reason": null, "last_outcome": "success",
        "agent": "claude", "started_at_unix": 1, "updated_at_unix": 2
    });
    std::fs::create_dir_all(&s.state_dir).unwrap();
    std::fs::write(s.state_dir.join("state.json"), state.to_string()).unwrap();
    let p = n.payload(&wait).unwrap();
    assert_eq!(
        p.tokens,
        Tokens {
            input: 50,
            output: 25,
            cache_creation: 15,
            cache_read: 7,
            total: 90
        }
    );
    assert_eq!(p.runtime_secs, 33.0);
}

#[tokio::test]
async fn a_notifier_without_urls_sends_nothing_and_finishes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut n, pending) = Notifier::new(&settings(&[], dir.path()), redactor("k"));
    assert!(n.shared.is_none());
    n.on_event(&LoopEvent::RunFinished {
        reason: StopReason::MaxIterations { limit: 1 },
        iterations: 1,
        usage: Usage::default(),
        cost_usd: 0.0,
        cost_estimated: false,
        elapsed_secs: 1.0,
    });
    pending.finish_within(Duration::ZERO).await;
}

#[test]
fn webhook_paths_are_masked_after_their_first_segment() {
    assert_eq!(
        mask_url("https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXX"),
        "https://hooks.slack.com/services/****/****/****"
    );
    assert_eq!(
        mask_url("http://127.0.0.1:9/hook"),
        "http://127.0.0.1:9/hook"
    );
}
