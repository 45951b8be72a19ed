use super::*;
use ralph_core::Usage;
use ralph_core::state::{FileStateStore, RunState, RunStatus, STATE_VERSION, StateStore};

fn finished(outcome: OutcomeStatus, secs: f64, cost: f64, estimated: bool) -> LoopEvent {
    LoopEvent::IterationFinished {
        iteration: 1,
        outcome,
        message: None,
        duration_secs: secs,
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_creation_input_tokens: 2,
            cache_read_input_tokens: 100,
            reasoning_output_tokens: 0,
        },
        cost_usd: cost,
        cost_estimated: estimated,
        total_tokens: 0,
        total_cost_usd: 0.0,
        completed: false,
    }
}

fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn events_feed_the_series_by_outcome_kind_and_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, registry) = Metrics::new(dir.path(), LimitValues::default());
    m.on_event(&LoopEvent::RunStarted {
        run_id: "20260101-000000-abcd".into(),
        agent: "claude".into(),
        resumed: false,
        iterations_done: 0,
    });
    m.on_event(&finished(OutcomeStatus::Success, 2.5, 0.25, false));
    m.on_event(&finished(
        OutcomeStatus::Failed {
            kind: ralph_core::FailureKind::ExitCode,
            api_status: None,
        },
        40.0,
        0.5,
        true,
    ));
    m.on_event(&LoopEvent::Backoff {
        delay_secs: 2.0,
        consecutive_failures: 1,
    });
    m.on_event(&LoopEvent::Checkpoint {
        iteration: 2,
        id: Some("abc".into()),
        is_final: false,
    });
    let text = encode(&registry, false);
    let v = |s: &str| value(&text, s);
    assert_eq!(v("ralph_iterations_total{outcome=\"success\"}"), Some(1.0));
    assert_eq!(v("ralph_iterations_total{outcome=\"failed\"}"), Some(1.0));
    assert_eq!(v("ralph_tokens_total{kind=\"input\"}"), Some(20.0));
    assert_eq!(v("ralph_tokens_total{kind=\"cache_read\"}"), Some(200.0));
    assert_eq!(v("ralph_cost_usd_total{estimated=\"false\"}"), Some(0.25));
    assert_eq!(v("ralph_cost_usd_total{estimated=\"true\"}"), Some(0.5));
    assert_eq!(v("ralph_iteration_duration_seconds_count"), Some(2.0));
    assert_eq!(
        v("ralph_iteration_duration_seconds_bucket{le=\"5\"}"),
        Some(1.0)
    );
    assert_eq!(
        v("ralph_iteration_duration_seconds_bucket{le=\"60\"}"),
        Some(2.0)
    );
    assert_eq!(v("ralph_consecutive_failures"), Some(1.0));
    assert_eq!(v("ralph_retries_total"), Some(1.0));
    assert_eq!(v("ralph_checkpoints_total{result=\"created\"}"), Some(1.0));
    assert_eq!(v("ralph_run_status{status=\"running\"}"), Some(1.0));
    assert!(
        text.contains("ralph_run_info{run_id=\"20260101-000000-abcd\",agent=\"claude\""),
        "{text}"
    );

    m.on_event(&LoopEvent::RunFinished {
        reason: StopReason::MaxIterations { limit: 2 },
        iterations: 2,
        usage: Usage::default(),
        cost_usd: 0.75,
        cost_estimated: true,
        elapsed_secs: 50.0,
    });
    let text = encode(&registry, true);
    assert_eq!(
        value(&text, "ralph_run_status{status=\"limit_reached\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "ralph_run_status{status=\"running\"}"),
        Some(0.0)
    );
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
}

#[test]
fn run_totals_and_limit_ratios_come_from_the_saved_state() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LimitValues {
        iterations: Some(10),
        runtime_secs: None,
        tokens: Some(1000),
        cost_usd: Some(2.0),
        max_retries: 3,
    };
    let (_m, registry) = Metrics::new(dir.path(), limits);
    assert!(
        !encode(&registry, false).contains("ralph_run_iterations"),
        "no state, no totals"
    );
    let store = FileStateStore::open(dir.path()).unwrap();
    store
        .save(&RunState {
            version: STATE_VERSION,
            run_id: "r".into(),
            prompt_sha256: String::new(),
            iteration: 4,
            usage: Usage {
                input_tokens: 100,
                output_tokens: 150,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 7,
                reasoning_output_tokens: 0,
            },
            tokens_total: 250,
            cost_usd: 0.5,
            cost_estimated: false,
            runtime_secs: 12.0,
            consecutive_failures: 2,
            status: RunStatus::Finished,
            stop_reason: None,
            last_outcome: None,
            agent: "claude".into(),
            started_at_unix: 0,
            updated_at_unix: 0,
            in_progress: None,
            limits: None,
            attempts: 0,
        })
        .unwrap();
    let text = encode(&registry, false);
    let v = |s: &str| value(&text, s);
    assert_eq!(v("ralph_run_iterations"), Some(4.0));
    assert_eq!(v("ralph_run_tokens{kind=\"output\"}"), Some(150.0));
    assert_eq!(v("ralph_run_cost_usd"), Some(0.5));
    assert_eq!(v("ralph_run_runtime_seconds"), Some(12.0));
    assert_eq!(
        v("ralph_limit_usage_ratio{limit=\"iterations\"}"),
        Some(0.4)
    );
    assert_eq!(v("ralph_limit_usage_ratio{limit=\"tokens\"}"), Some(0.25));
    assert_eq!(v("ralph_limit_usage_ratio{limit=\"cost\"}"), Some(0.25));
    assert_eq!(v("ralph_limit_usage_ratio{limit=\"failures\"}"), Some(0.5));
    assert_eq!(
        v("ralph_limit_usage_ratio{limit=\"runtime\"}"),
        None,
        "no runtime limit"
    );
}

#[test]
fn verifications_are_counted_by_result_and_every_result_is_exported_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, registry) = Metrics::new(dir.path(), LimitValues::default());
    let text = encode(&registry, false);
    for r in VERIFY_RESULTS {
        assert_eq!(
            value(
                &text,
                &format!("ralph_verifications_total{{result=\"{r}\"}}")
            ),
            Some(0.0),
            "{text}"
        );
    }
    for result in [
        ralph_core::VerifyResult::Failed,
        ralph_core::VerifyResult::Failed,
        ralph_core::VerifyResult::Passed,
    ] {
        m.on_event(&LoopEvent::Verification {
            iteration: 1,
            result,
            exit_code: None,
            summary: String::new(),
            duration_secs: 0.1,
            output_tail: String::new(),
        });
    }
    let text = encode(&registry, false);
    assert_eq!(
        value(&text, "ralph_verifications_total{result=\"failed\"}"),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "ralph_verifications_total{result=\"passed\"}"),
        Some(1.0)
    );
}
