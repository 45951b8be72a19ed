//! Driver tests with scripted agents (no processes).

use super::*;
use crate::agent::{AgentEvent, AgentOutcome, AgentRequest, OutcomeStatus, TimeoutKind};
use crate::agent::{EventSender, FailureKind};
use crate::checkpoint::CheckpointRequest;
use crate::error::Error;
use crate::limits::Signal;
use crate::state::FileStateStore;
use crate::state::{IterationRecord, RunStatus};
use crate::usage::Cost;
use crate::verify::VerifyResult;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::time::Instant;

/// What a scripted agent does in one run.
#[derive(Clone)]
enum Step {
    Answer(&'static str, u64, f64),
    Fail,
    /// Writes the text into `work.txt` in the workspace, then answers it.
    AnswerWriting(&'static str),
    /// A usage limit without a reset time, having used this many input tokens.
    RateLimited(u64),
    /// Reports usage, then waits for cancellation.
    UsageThenHang(u64),
    Hang,
    /// Ignores its deadline; returns `Cancelled` when cancelled.
    IgnoresDeadline,
    /// Ignores its deadline and cancellation: never returns.
    Deaf,
}

struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    runs: Arc<Mutex<Vec<AgentRequest>>>,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> (Self, Arc<Mutex<Vec<AgentRequest>>>) {
        let runs = Arc::new(Mutex::new(Vec::new()));
        (
            Scripted {
                steps: Mutex::new(steps.into()),
                runs: runs.clone(),
            },
            runs,
        )
    }
}

#[async_trait]
impl Agent for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn run(
        &self,
        req: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        self.runs.lock().unwrap().push(req.clone());
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Answer("working", 0, 0.0));
        let deadline = req.deadline.map(tokio::time::Instant::from_std);
        let wait = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        match step {
            Step::Answer(text, tokens, usd) => Ok(AgentOutcome {
                usage: Usage {
                    input_tokens: tokens,
                    ..Default::default()
                },
                cost: Some(Cost {
                    usd,
                    estimated: false,
                }),
                ..AgentOutcome::success(text)
            }),
            Step::AnswerWriting(text) => {
                std::fs::write(req.workspace.join("work.txt"), text).unwrap();
                Ok(AgentOutcome::success(text))
            }
            Step::RateLimited(tokens) => Ok(AgentOutcome {
                message: Some("usage limit reached".into()),
                usage: Usage {
                    input_tokens: tokens,
                    ..Default::default()
                },
                ..AgentOutcome::new(OutcomeStatus::RateLimited {
                    reset_at_unix: None,
                })
            }),
            Step::Fail => Ok(AgentOutcome {
                message: Some("HTTP 401: invalid key".into()),
                ..AgentOutcome::new(OutcomeStatus::Failed {
                    kind: FailureKind::Auth,
                    api_status: Some(401),
                })
            }),
            Step::UsageThenHang(tokens) => {
                let usage = Usage {
                    output_tokens: tokens,
                    ..Default::default()
                };
                let _ = events.send(AgentEvent::Usage { usage, cost: None });
                tokio::select! {
                    _ = cancel.cancelled() => Ok(AgentOutcome { usage, ..AgentOutcome::new(OutcomeStatus::Cancelled) }),
                    _ = wait => Ok(AgentOutcome::new(OutcomeStatus::TimedOut { kind: req.deadline_kind })),
                }
            }
            Step::IgnoresDeadline => {
                cancel.cancelled().await;
                Ok(AgentOutcome::new(OutcomeStatus::Cancelled))
            }
            Step::Deaf => std::future::pending().await,
            Step::Hang => tokio::select! {
                _ = cancel.cancelled() => Ok(AgentOutcome::new(OutcomeStatus::Cancelled)),
                _ = wait => Ok(AgentOutcome::new(OutcomeStatus::TimedOut { kind: req.deadline_kind })),
            },
        }
    }
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(PromptSource::Text("Do the task.".into()), dir.to_path_buf());
    c.retry_delay = Duration::ZERO;
    c.jitter_seed = Some(1);
    c
}

fn collect(engine: Engine) -> (Engine, Arc<Mutex<Vec<LoopEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (
        engine.with_observer(Box::new(move |e: &LoopEvent| {
            sink.lock().unwrap().push(e.clone())
        })),
        events,
    )
}

#[tokio::test]
async fn runs_until_the_agent_prints_the_promise_and_sums_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![
        Step::Answer("wrote a file", 10, 0.5),
        Step::Answer("ran a command", 20, 0.25),
        Step::Answer("All done\nLOOP_COMPLETE", 30, 0.125),
    ]);
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let engine =
        Engine::new(config(dir.path()), Box::new(agent)).with_state_store(Box::new(store.clone()));
    let summary = engine.run(StopHandle::new()).await;
    assert!(
        matches!(summary.reason, StopReason::Completed { iteration: 3, .. }),
        "{:?}",
        summary.reason
    );
    assert_eq!(runs.lock().unwrap().len(), 3);
    assert_eq!(summary.usage.input_tokens, 60);
    assert!((summary.cost_usd - 0.875).abs() < 1e-9);
    let saved = store.load().unwrap().unwrap();
    assert_eq!(
        (saved.iteration, saved.status, saved.usage.input_tokens),
        (3, RunStatus::Finished, 60)
    );
    let prompts: Vec<String> = runs
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.prompt.clone())
        .collect();
    assert!(prompts.iter().all(|p| p.ends_with("Do the task.")));
}

#[tokio::test]
async fn every_record_names_the_prompt_it_ran_on_which_is_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    // The prompt file is the agent's `work.txt`: the first iteration rewrites it.
    std::fs::write(dir.path().join("work.txt"), "task A").unwrap();
    let (agent, _) = Scripted::new(vec![
        Step::AnswerWriting("task B"),
        Step::Answer("ok", 1, 0.0),
        Step::Answer("ok", 1, 0.0),
    ]);
    let mut c = config(dir.path());
    c.prompt = PromptSource::File(dir.path().join("work.txt"));
    c.limits.max_iterations = Some(3);
    let store = FileStateStore::open(dir.path().join(".agent"))
        .unwrap()
        .with_keep_transcripts(Some(1));
    let engine = Engine::new(c, Box::new(agent)).with_state_store(Box::new(store.clone()));
    engine.run(StopHandle::new()).await;
    let run_id = store.load().unwrap().unwrap().run_id;
    let records: Vec<IterationRecord> =
        std::fs::read_to_string(store.run_dir(&run_id).join("iterations.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let (a, b) = (
        run_state::sha256_hex("task A"),
        run_state::sha256_hex("task B"),
    );
    assert_eq!(
        records
            .iter()
            .map(|r| r.prompt_sha256.as_str())
            .collect::<Vec<_>>(),
        vec![a.as_str(), b.as_str(), b.as_str()]
    );
    assert_eq!(store.load().unwrap().unwrap().prompt_sha256, a);
    for (sha, text) in [(&a, "task A"), (&b, "task B")] {
        let kept = std::fs::read_to_string(store.prompt_path(&run_id, sha)).unwrap();
        assert_eq!(kept, text);
    }
    let prompts = std::fs::read_dir(store.run_dir(&run_id).join("prompts")).unwrap();
    assert_eq!(prompts.count(), 2);
    // One transcript kept: the last iteration's, whose prompt holds the task it ran on.
    let sent = std::fs::read_to_string(store.run_dir(&run_id).join("3.prompt.md")).unwrap();
    assert!(sent.contains("task B"));
    assert!(!store.run_dir(&run_id).join("2.prompt.md").exists());
}

#[tokio::test]
async fn consecutive_failures_stop_the_run_after_max_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![Step::Fail; 10]);
    let mut c = config(dir.path());
    c.limits.max_retries = 2;
    let (engine, events) = collect(Engine::new(c, Box::new(agent)));
    let summary = engine.run(StopHandle::new()).await;
    assert_eq!(runs.lock().unwrap().len(), 3);
    match summary.reason {
        StopReason::TooManyFailures {
            failures: 3,
            last_failure,
        } => assert!(last_failure.contains("401")),
        other => panic!("{other:?}"),
    }
    let backoffs = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, LoopEvent::Backoff { .. }))
        .count();
    assert_eq!(backoffs, 2);
}

#[tokio::test]
async fn token_limit_interrupts_the_running_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![Step::UsageThenHang(5_000)]);
    let mut c = config(dir.path());
    c.limits.max_tokens = Some(1_000);
    let summary = tokio::time::timeout(
        Duration::from_secs(10),
        Engine::new(c, Box::new(agent)).run(StopHandle::new()),
    )
    .await
    .expect("the engine must cancel the agent instead of waiting for it");
    assert_eq!(
        summary.reason,
        StopReason::MaxTokens {
            limit: 1_000,
            used: 5_000
        }
    );
    assert_eq!(runs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn runtime_limit_interrupts_the_running_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![Step::Hang]);
    let mut c = config(dir.path());
    c.limits.max_runtime = Some(Duration::from_millis(300));
    let began = Instant::now();
    let summary = Engine::new(c, Box::new(agent)).run(StopHandle::new()).await;
    assert_eq!(summary.reason, StopReason::MaxRuntime { limit_secs: 0 });
    assert!(began.elapsed() < Duration::from_secs(5));
    assert_eq!(runs.lock().unwrap()[0].deadline_kind, TimeoutKind::Runtime);
}

#[tokio::test]
async fn a_stop_request_cancels_the_agent_and_reports_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = Scripted::new(vec![Step::Hang]);
    let stop = StopHandle::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.stop(StopReason::Interrupted {
            signal: Signal::Term,
        });
    });
    let summary = Engine::new(config(dir.path()), Box::new(agent))
        .run(stop)
        .await;
    assert_eq!(
        summary.reason,
        StopReason::Interrupted {
            signal: Signal::Term
        }
    );
    assert_eq!(summary.iterations, 1);
}

#[tokio::test]
async fn an_unfinished_run_resumes_and_a_finished_one_is_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    // First invocation: interrupted after one iteration.
    let (agent, _) = Scripted::new(vec![Step::Answer("step", 7, 0.1), Step::Hang]);
    let stop = StopHandle::new();
    let trigger = stop.clone();
    let (engine, events) = collect(
        Engine::new(config(dir.path()), Box::new(agent)).with_state_store(Box::new(store.clone())),
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.stop(StopReason::Interrupted {
            signal: Signal::Int,
        });
    });
    let first = engine.run(stop).await;
    assert_eq!(first.iterations, 2);
    drop(events);
    // Mark it unfinished, as a crash would leave it.
    let mut saved = store.load().unwrap().unwrap();
    assert_eq!(
        saved.limits,
        Some(crate::state::RunLimits::from(&config(dir.path()).limits)),
        "the limits in force are saved with the run"
    );
    saved.status = RunStatus::Running;
    saved.stop_reason = None;
    store.save(&saved).unwrap();

    let (agent, runs) = Scripted::new(vec![Step::Answer("LOOP_COMPLETE", 3, 0.2)]);
    let mut resumed_config = config(dir.path());
    resumed_config.limits.max_tokens = Some(12_345);
    let second = Engine::new(resumed_config, Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(StopHandle::new())
        .await;
    assert_eq!(second.run_id, first.run_id);
    assert!(
        matches!(second.reason, StopReason::Completed { iteration: 3, .. }),
        "{:?}",
        second.reason
    );
    assert_eq!(second.usage.input_tokens, 10);
    assert_eq!(runs.lock().unwrap()[0].iteration, 3);
    assert_eq!(
        store.load().unwrap().unwrap().limits.unwrap().max_tokens,
        Some(12_345),
        "a resume records the limits it ran with"
    );

    let (agent, runs) = Scripted::new(vec![]);
    let third = Engine::new(config(dir.path()), Box::new(agent))
        .with_state_store(Box::new(store))
        .run(StopHandle::new())
        .await;
    assert!(third.already_finished);
    assert_eq!(third.reason, second.reason);
    assert!(runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_prompt_file_is_a_clear_error_before_any_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![]);
    let c = EngineConfig::new(
        PromptSource::File(dir.path().join("PROMPT.md")),
        dir.path().to_path_buf(),
    );
    let summary = Engine::new(c, Box::new(agent)).run(StopHandle::new()).await;
    match summary.reason {
        StopReason::Error { message } => assert!(message.contains("PROMPT.md"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_task_marker_in_the_prompt_file_completes_before_the_next_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("PROMPT.md");
    std::fs::write(&prompt, "# Task\nPrint LOOP_COMPLETE when done.\n").unwrap();
    let (agent, runs) = Scripted::new(vec![Step::Answer("working", 1, 0.0)]);
    let marker_writer = prompt.clone();
    let (engine, events) = collect(Engine::new(
        EngineConfig::new(PromptSource::File(prompt), dir.path().to_path_buf()),
        Box::new(agent),
    ));
    let engine = engine.with_observer(Box::new(move |e: &LoopEvent| {
        if matches!(e, LoopEvent::IterationFinished { .. }) {
            std::fs::write(&marker_writer, "# Task\n- [x] TASK_COMPLETE\n").unwrap();
        }
    }));
    let summary = engine.run(StopHandle::new()).await;
    assert_eq!(
        summary.reason,
        StopReason::Completed {
            iteration: 1,
            source: crate::completion::CompletionSource::TaskMarker
        }
    );
    assert_eq!(
        runs.lock().unwrap().len(),
        1,
        "the promise word in the prompt must not complete the run"
    );
    drop(events);
}

/// Runs again on `store` (resuming what it holds) with an agent that completes at once, having used
/// `tokens` input tokens and `usd`; returns the summary and the requests the agent got.
async fn resume_completing(
    store: &FileStateStore,
    dir: &std::path::Path,
    tokens: u64,
    usd: f64,
) -> (RunSummary, Arc<Mutex<Vec<AgentRequest>>>) {
    let (agent, runs) = Scripted::new(vec![Step::Answer("LOOP_COMPLETE", tokens, usd)]);
    let summary = Engine::new(config(dir), Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(StopHandle::new())
        .await;
    (summary, runs)
}

fn crashed_state(store: &FileStateStore, in_progress: u64) -> RunState {
    let mut s = store.load().unwrap().unwrap();
    s.status = RunStatus::Running;
    s.stop_reason = None;
    s.in_progress = Some(in_progress);
    s.iteration = in_progress;
    // Without rate limits the attempt started is the iteration's number.
    s.attempts = in_progress;
    store.save(&s).unwrap();
    s
}

#[tokio::test]
async fn a_recorded_iteration_is_saved_before_a_back_off_not_only_with_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let (agent, _) = Scripted::new(vec![Step::Fail, Step::Answer("LOOP_COMPLETE", 0, 0.0)]);
    let mut c = config(dir.path());
    c.retry_delay = Duration::from_secs(3600);
    let stop = StopHandle::new();
    let engine = Engine::new(c, Box::new(agent)).with_state_store(Box::new(store.clone()));
    let run = tokio::spawn(engine.run(stop.clone()));
    let began = Instant::now();
    let during_back_off = loop {
        let saved = store.load().unwrap();
        if let Some(s) = saved.filter(|s| s.last_outcome.is_some()) {
            break s;
        }
        assert!(began.elapsed() < Duration::from_secs(10), "no state saved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        (during_back_off.iteration, during_back_off.in_progress),
        (1, None),
        "the failed iteration is in state.json while ralph waits"
    );
    assert_eq!(during_back_off.consecutive_failures, 1);
    stop.stop(StopReason::Interrupted {
        signal: Signal::Int,
    });
    run.await.unwrap();
}

#[tokio::test]
async fn a_snapshot_that_lags_the_journal_is_brought_up_to_date_from_the_records() {
    // After a power loss, state.json (replaced without fsync between iterations) can be older than the
    // synced iteration records; the resume folds in every record it does not hold, each exactly once.
    for (in_progress, held) in [(None, 2), (Some(3), 2)] {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
        let steps = (0..5).map(|_| Step::Answer("step", 10, 0.1)).collect();
        let (agent, _) = Scripted::new(steps);
        let mut c = config(dir.path());
        c.limits.max_iterations = Some(5);
        Engine::new(c, Box::new(agent))
            .with_state_store(Box::new(store.clone()))
            .run(StopHandle::new())
            .await;
        // The snapshot after iteration 2 was recorded (or after iteration 3 started) is what the disk
        // kept; the records of iterations 3 to 5 reached it.
        let mut s = store.load().unwrap().unwrap();
        s.status = RunStatus::Running;
        s.stop_reason = None;
        s.iteration = in_progress.unwrap_or(held);
        s.attempts = in_progress.unwrap_or(held);
        s.in_progress = in_progress;
        s.usage.input_tokens = 10 * held;
        s.tokens_total = s.usage.billable_total();
        s.cost_usd = 0.1 * held as f64;
        store.save(&s).unwrap();

        let (summary, runs) = resume_completing(&store, dir.path(), 1, 0.0).await;
        assert_eq!(
            runs.lock().unwrap()[0].iteration,
            6,
            "{in_progress:?}: the recorded iterations 3 to 5 count once"
        );
        assert_eq!(summary.usage.input_tokens, 51, "{in_progress:?}");
        assert!(
            (summary.cost_usd - 0.5).abs() < 1e-9,
            "{}",
            summary.cost_usd
        );
        let records =
            std::fs::read_to_string(store.run_dir(&s.run_id).join("iterations.jsonl")).unwrap();
        assert_eq!(
            records.lines().count(),
            6,
            "no cut-short record is added for a recorded iteration"
        );
        let saved = store.load().unwrap().unwrap();
        assert_eq!((saved.iteration, saved.attempts), (6, 6));
    }
}

#[tokio::test]
async fn a_crash_during_an_iteration_counts_it_once_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let (agent, _) = Scripted::new(vec![Step::Answer("a", 5, 0.5)]);
    let mut c = config(dir.path());
    c.limits.max_iterations = Some(1);
    Engine::new(c, Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(StopHandle::new())
        .await;
    // As if ralph had been killed during iteration 2 (state saved at its start, no record).
    let before = crashed_state(&store, 2);

    let (summary, runs) = resume_completing(&store, dir.path(), 1, 0.25).await;
    assert_eq!(summary.run_id, before.run_id);
    assert_eq!(
        runs.lock().unwrap()[0].iteration,
        3,
        "the cut-short iteration 2 is counted, not repeated"
    );
    let text =
        std::fs::read_to_string(store.run_dir(&before.run_id).join("iterations.jsonl")).unwrap();
    let numbers: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<IterationRecord>(l)
                .unwrap()
                .iteration
        })
        .collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert!(
        (summary.cost_usd - 0.75).abs() < 1e-9,
        "{}",
        summary.cost_usd
    );
}

#[tokio::test]
async fn a_crash_after_the_record_but_before_the_state_save_is_recovered_from_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let (agent, _) = Scripted::new(vec![Step::Answer("a", 5, 0.5), Step::Answer("b", 7, 0.5)]);
    let mut c = config(dir.path());
    c.limits.max_iterations = Some(2);
    Engine::new(c, Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(StopHandle::new())
        .await;
    // Roll the state back to "iteration 2 started", keeping iteration 2's record.
    let mut s = crashed_state(&store, 2);
    s.usage.input_tokens = 5;
    s.cost_usd = 0.5;
    store.save(&s).unwrap();

    let (summary, _) = resume_completing(&store, dir.path(), 0, 0.0).await;
    assert_eq!(
        summary.usage.input_tokens, 12,
        "iteration 2's tokens counted exactly once"
    );
    assert!((summary.cost_usd - 1.0).abs() < 1e-9);
    assert_eq!(summary.iterations, 3);
}

#[tokio::test]
async fn an_interrupted_run_is_resumed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let (agent, _) = Scripted::new(vec![Step::Hang]);
    let stop = StopHandle::new();
    stop.stop(StopReason::Interrupted {
        signal: Signal::Term,
    });
    let first = Engine::new(config(dir.path()), Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(stop)
        .await;
    assert_eq!(
        first.reason,
        StopReason::Interrupted {
            signal: Signal::Term
        }
    );
    assert_eq!(store.load().unwrap().unwrap().status, RunStatus::Running);

    let (agent, _) = Scripted::new(vec![Step::Answer("LOOP_COMPLETE", 0, 0.0)]);
    let second = Engine::new(config(dir.path()), Box::new(agent))
        .with_state_store(Box::new(store))
        .run(StopHandle::new())
        .await;
    assert_eq!(second.run_id, first.run_id);
    assert!(second.reason.is_completed());
}

mockall::mock! {
    Store {}
    impl StateStore for Store {
        fn load(&self) -> Result<Option<RunState>, Error>;
        fn save(&self, state: &RunState) -> Result<(), Error>;
        fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error>;
    }
}

#[tokio::test]
async fn a_state_store_that_fails_stops_the_run_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MockStore::new();
    store.expect_load().returning(|| Ok(None));
    store.expect_record_iteration().returning(|_, _| Ok(()));
    let mut saves = 0;
    store.expect_save().times(4).returning(move |_| {
        saves += 1;
        // The new run's first save and "iteration 1 started" succeed; the end of iteration 1 fails.
        if saves <= 2 {
            Ok(())
        } else {
            Err(Error::State {
                path: "/state/state.json".into(),
                message: "cannot write: No space left on device".into(),
                source: None,
            })
        }
    });
    let (agent, runs) = Scripted::new(vec![Step::Answer("working", 1, 0.0)]);
    let summary = Engine::new(config(dir.path()), Box::new(agent))
        .with_state_store(Box::new(store))
        .run(StopHandle::new())
        .await;
    match summary.reason {
        StopReason::Error { message } => assert!(message.contains("No space left"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        runs.lock().unwrap().len(),
        1,
        "no further iteration runs without saved state"
    );
}

#[tokio::test]
async fn a_rate_limit_wait_beyond_the_runtime_stops_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![Step::RateLimited(0); 5]);
    let mut c = config(dir.path());
    c.limits.max_runtime = Some(Duration::from_secs(2));
    c.rate_limit_fallback_wait = Duration::from_secs(60);
    let began = Instant::now();
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        Engine::new(c, Box::new(agent)).run(StopHandle::new()),
    )
    .await
    .expect("the engine must not sleep the 60 s wait with 2 s of runtime");
    match &summary.reason {
        StopReason::RateLimited { message } => {
            assert!(message.contains("60 s"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(began.elapsed() < Duration::from_secs(60));
    assert_eq!(runs.lock().unwrap().len(), 1);
    assert_eq!(
        summary.iterations, 0,
        "a rate-limited attempt is no iteration"
    );
}

#[tokio::test]
async fn rate_limited_attempts_retry_the_same_iteration_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let (agent, runs) = Scripted::new(vec![
        Step::RateLimited(4),
        Step::RateLimited(4),
        Step::Answer("a", 1, 0.0),
        Step::Answer("b", 1, 0.0),
    ]);
    let mut c = config(dir.path());
    c.limits.max_iterations = Some(2);
    c.limits.max_retries = 0;
    c.rate_limit_fallback_wait = Duration::ZERO;
    let (engine, events) =
        collect(Engine::new(c, Box::new(agent)).with_state_store(Box::new(store.clone())));
    let summary = engine.run(StopHandle::new()).await;
    assert_eq!(summary.reason, StopReason::MaxIterations { limit: 2 });
    assert_eq!(summary.iterations, 2);
    assert_eq!(
        summary.usage.input_tokens, 10,
        "rate-limited attempts' tokens count"
    );
    let numbers: Vec<u64> = runs.lock().unwrap().iter().map(|r| r.iteration).collect();
    assert_eq!(numbers, vec![1, 1, 1, 2]);
    let text =
        std::fs::read_to_string(store.run_dir(&summary.run_id).join("iterations.jsonl")).unwrap();
    let records: Vec<(u64, u64, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<IterationRecord>(l).unwrap())
        .map(|r| (r.iteration, r.attempt, r.outcome.label().to_string()))
        .collect();
    assert_eq!(
        records,
        vec![
            (1, 1, "rate_limited".into()),
            (1, 2, "rate_limited".into()),
            (1, 3, "success".into()),
            (2, 4, "success".into())
        ]
    );
    let saved = store.load().unwrap().unwrap();
    assert_eq!((saved.iteration, saved.attempts), (2, 4));
    let waits = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, LoopEvent::RateLimitWait { .. }))
        .count();
    assert_eq!(waits, 2);
}

/// A run that stopped on a rate limit after one rate-limited attempt of iteration 1 (5 tokens).
async fn rate_limited_run(store: &FileStateStore, dir: &std::path::Path) -> RunSummary {
    let (agent, _) = Scripted::new(vec![Step::RateLimited(5)]);
    let mut c = config(dir);
    c.limits.max_runtime = Some(Duration::from_secs(30));
    c.rate_limit_fallback_wait = Duration::from_secs(3600);
    Engine::new(c, Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(StopHandle::new())
        .await
}

#[tokio::test]
async fn a_crash_during_the_retry_of_a_rate_limited_iteration_counts_the_attempt_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let first = rate_limited_run(&store, dir.path()).await;
    assert!(matches!(first.reason, StopReason::RateLimited { .. }));
    let saved = store.load().unwrap().unwrap();
    assert_eq!(
        (saved.iteration, saved.attempts, saved.usage.input_tokens),
        (0, 1, 5)
    );
    // As if ralph had been killed while retrying iteration 1 (attempt 2 started, not recorded).
    let mut s = crashed_state(&store, 1);
    s.attempts = 2;
    store.save(&s).unwrap();

    let (summary, runs) = resume_completing(&store, dir.path(), 1, 0.0).await;
    assert_eq!(
        summary.usage.input_tokens, 6,
        "the rate-limited attempt's tokens are not folded in twice"
    );
    assert_eq!(
        runs.lock().unwrap()[0].iteration,
        2,
        "the cut-short retry counts"
    );
}

#[tokio::test]
async fn a_crash_after_recording_a_rate_limited_attempt_gives_back_its_iteration_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    rate_limited_run(&store, dir.path()).await;
    // Roll back to "attempt 1 started": its record is written, the state after it is not.
    let mut s = crashed_state(&store, 1);
    s.usage = Usage::default();
    store.save(&s).unwrap();

    let (summary, runs) = resume_completing(&store, dir.path(), 1, 0.0).await;
    assert_eq!(
        summary.usage.input_tokens, 6,
        "folded in once from the record"
    );
    assert_eq!(runs.lock().unwrap()[0].iteration, 1);
    assert!(matches!(
        summary.reason,
        StopReason::Completed { iteration: 1, .. }
    ));
}

/// A verifier that fails with `output` for its first `fail_first` checks, then passes.
struct FlakyCheck {
    fail_first: u32,
    calls: Arc<Mutex<u32>>,
}

#[async_trait]
impl crate::verify::Verifier for FlakyCheck {
    fn describe(&self) -> String {
        "make check".into()
    }
    async fn verify(
        &self,
        req: crate::verify::VerifyRequest,
        _cancel: CancellationToken,
    ) -> crate::verify::Verification {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        assert!(req.timeout.is_some());
        if *calls <= self.fail_first {
            crate::verify::Verification::failed(Some(2), "error: test_parse failed at line 7\n")
        } else {
            crate::verify::Verification::passed("ok\n")
        }
    }
}

#[tokio::test]
async fn a_rejected_claim_feeds_the_verify_output_into_the_next_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![
        Step::Answer("done\nLOOP_COMPLETE", 1, 0.0),
        Step::Answer("fixed\nLOOP_COMPLETE", 1, 0.0),
    ]);
    let calls = Arc::new(Mutex::new(0));
    let (engine, events) = collect(
        Engine::new(config(dir.path()), Box::new(agent)).with_verifier(Box::new(FlakyCheck {
            fail_first: 1,
            calls: calls.clone(),
        })),
    );
    let summary = engine.run(StopHandle::new()).await;
    assert!(
        matches!(summary.reason, StopReason::Completed { iteration: 2, .. }),
        "{:?}",
        summary.reason
    );
    assert_eq!(*calls.lock().unwrap(), 2);
    let prompts: Vec<String> = runs
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.prompt.clone())
        .collect();
    assert!(!prompts[0].contains("test_parse"));
    assert!(
        prompts[1].contains("error: test_parse failed at line 7")
            && prompts[1].contains("`make check`"),
        "{}",
        prompts[1]
    );
    let events = events.lock().unwrap();
    let verdicts: Vec<VerifyResult> = events
        .iter()
        .filter_map(|e| match e {
            LoopEvent::Verification { result, .. } => Some(*result),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, vec![VerifyResult::Failed, VerifyResult::Passed]);
    assert!(events.iter().any(|e| matches!(
        e,
        LoopEvent::CompletionRejected { iteration: 1, reason } if reason.contains("make check")
    )));
}

/// Fingerprints the workspace by the content of `work.txt`.
struct WorkFile;

#[async_trait]
impl crate::progress::Fingerprint for WorkFile {
    async fn fingerprint(&self, workspace: &std::path::Path) -> Option<String> {
        Some(std::fs::read_to_string(workspace.join("work.txt")).unwrap_or_default())
    }
}

#[tokio::test]
async fn stall_detection_stops_after_n_iterations_that_changed_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![
        Step::AnswerWriting("first draft"),
        Step::AnswerWriting("second draft"),
        Step::Answer("looked around", 1, 0.0),
        Step::AnswerWriting("second draft"),
        Step::Answer("looked again", 1, 0.0),
        Step::AnswerWriting("third draft"),
    ]);
    let summary = Engine::new(config(dir.path()), Box::new(agent))
        .with_fingerprint(Box::new(WorkFile))
        .with_policy(Box::new(crate::progress::StallDetection(3)))
        .run(StopHandle::new())
        .await;
    match &summary.reason {
        StopReason::Custom { policy, message } => {
            assert_eq!(policy, "stall_iterations");
            assert!(message.contains("no progress"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        runs.lock().unwrap().len(),
        5,
        "iterations 3, 4 (rewrote the same content) and 5 changed nothing"
    );
}

#[tokio::test]
async fn loop_detection_stops_after_n_near_identical_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, runs) = Scripted::new(vec![
        Step::Answer("Implemented the parser.", 1, 0.0),
        Step::Answer("Everything looks fine; 12 tests pass.", 1, 0.0),
        Step::Answer("Everything looks fine;  13 tests pass.", 1, 0.0),
        Step::Answer("everything looks fine; 13 tests pass.", 1, 0.0),
        Step::Answer("Implemented the printer.", 1, 0.0),
    ]);
    let summary = Engine::new(config(dir.path()), Box::new(agent))
        .with_policy(Box::new(crate::progress::LoopDetection::new(3)))
        .run(StopHandle::new())
        .await;
    assert!(
        matches!(&summary.reason, StopReason::Custom { policy, .. } if policy == "loop_detection"),
        "{:?}",
        summary.reason
    );
    assert_eq!(runs.lock().unwrap().len(), 4);
}

/// Claims completion and, as it returns, asks the engine to stop (a SIGTERM racing the claim).
struct ClaimsAndStops(StopHandle);

#[async_trait]
impl Agent for ClaimsAndStops {
    fn name(&self) -> &str {
        "claims-and-stops"
    }
    async fn run(
        &self,
        _req: AgentRequest,
        _events: EventSender,
        _cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        self.0.stop(StopReason::Interrupted {
            signal: Signal::Term,
        });
        Ok(AgentOutcome::success("done\nLOOP_COMPLETE"))
    }
}

#[tokio::test]
async fn a_stop_racing_a_claim_under_verification_ends_the_run() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let stop = StopHandle::new();
        let calls = Arc::new(Mutex::new(0));
        let engine = Engine::new(config(dir.path()), Box::new(ClaimsAndStops(stop.clone())))
            .with_verifier(Box::new(FlakyCheck {
                fail_first: 0,
                calls,
            }));
        let summary = tokio::time::timeout(Duration::from_secs(10), engine.run(stop))
            .await
            .expect("the engine must not spin when a stop races a claim");
        assert!(
            matches!(
                summary.reason,
                StopReason::Completed { .. } | StopReason::Interrupted { .. }
            ),
            "{:?}",
            summary.reason
        );
    }
}

/// Names its checkpoints after their iteration: `cp-<iteration>` (`cp-final` for the final one).
struct NamedCheckpoints;

#[async_trait]
impl Checkpointer for NamedCheckpoints {
    async fn checkpoint(
        &self,
        request: &CheckpointRequest,
    ) -> Result<Option<crate::checkpoint::CheckpointId>, Error> {
        let name = match request.is_final {
            true => "cp-final".to_string(),
            false => format!("cp-{}", request.iteration),
        };
        Ok(Some(crate::checkpoint::CheckpointId(name)))
    }
}

#[tokio::test]
async fn an_interval_checkpoint_is_reported_after_its_iteration_and_named_in_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = Scripted::new(vec![
        Step::Answer("one", 1, 0.0),
        Step::Answer("two", 1, 0.0),
        Step::Answer("done\nLOOP_COMPLETE", 1, 0.0),
    ]);
    let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint_interval = 2;
    let (engine, events) = collect(
        Engine::new(cfg, Box::new(agent))
            .with_checkpointer(Box::new(NamedCheckpoints))
            .with_state_store(Box::new(store.clone())),
    );
    let summary = engine.run(StopHandle::new()).await;
    assert!(summary.reason.is_completed(), "{:?}", summary.reason);
    let order: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            LoopEvent::IterationFinished { iteration, .. } => {
                Some(format!("iteration {iteration}"))
            }
            LoopEvent::Checkpoint { id, .. } => id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        [
            "iteration 1",
            "iteration 2",
            "cp-2",
            "iteration 3",
            "cp-final"
        ],
        "a checkpoint line follows its iteration's line"
    );
    let records = std::fs::read_to_string(store.run_dir(&summary.run_id).join("iterations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<IterationRecord>(l).unwrap())
        .map(|r| (r.iteration, r.checkpoint))
        .collect::<Vec<_>>();
    assert_eq!(
        records,
        [(1, None), (2, Some("cp-2".to_string())), (3, None)],
        "the record of iteration 2 names its checkpoint"
    );
}

/// Counts the state writes made on the thread that runs the engine (a current-thread runtime).
struct ThreadCheckingStore {
    runtime_thread: std::thread::ThreadId,
    saves_on_runtime_thread: Arc<Mutex<u32>>,
}

impl StateStore for ThreadCheckingStore {
    fn load(&self) -> Result<Option<RunState>, Error> {
        Ok(None)
    }
    fn save(&self, _state: &RunState) -> Result<(), Error> {
        if std::thread::current().id() == self.runtime_thread {
            *self.saves_on_runtime_thread.lock().unwrap() += 1;
        }
        Ok(())
    }
    fn record_iteration(&self, _run_id: &str, _record: &IterationRecord) -> Result<(), Error> {
        if std::thread::current().id() == self.runtime_thread {
            *self.saves_on_runtime_thread.lock().unwrap() += 1;
        }
        Ok(())
    }
}

#[tokio::test]
async fn state_is_written_off_the_async_runtime_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = Scripted::new(vec![
        Step::Answer("one", 1, 0.0),
        Step::Answer("done\nLOOP_COMPLETE", 1, 0.0),
    ]);
    let on_runtime = Arc::new(Mutex::new(0));
    let store = ThreadCheckingStore {
        runtime_thread: std::thread::current().id(),
        saves_on_runtime_thread: on_runtime.clone(),
    };
    let summary = Engine::new(config(dir.path()), Box::new(agent))
        .with_state_store(Box::new(store))
        .run(StopHandle::new())
        .await;
    assert!(summary.reason.is_completed(), "{:?}", summary.reason);
    assert_eq!(
        *on_runtime.lock().unwrap(),
        0,
        "no save blocked the runtime's thread"
    );
}

/// Fails and, as it returns, asks the engine to stop (a Ctrl-C racing the failure).
struct FailsAndStops(StopHandle);

#[async_trait]
impl Agent for FailsAndStops {
    fn name(&self) -> &str {
        "fails-and-stops"
    }
    async fn run(
        &self,
        _req: AgentRequest,
        _events: EventSender,
        _cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        self.0.stop(StopReason::Interrupted {
            signal: Signal::Int,
        });
        Ok(AgentOutcome {
            message: Some("HTTP 500".into()),
            ..AgentOutcome::new(OutcomeStatus::Failed {
                kind: FailureKind::Api,
                api_status: Some(500),
            })
        })
    }
}

#[tokio::test]
async fn a_stop_racing_a_failure_records_it_and_ends_the_run_without_backing_off() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let stop = StopHandle::new();
        let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
        let mut cfg = config(dir.path());
        cfg.retry_delay = Duration::from_secs(60);
        let (engine, events) = collect(
            Engine::new(cfg, Box::new(FailsAndStops(stop.clone())))
                .with_state_store(Box::new(store.clone())),
        );
        let summary = tokio::time::timeout(Duration::from_secs(10), engine.run(stop))
            .await
            .expect("no back-off is waited after the stop");
        assert_eq!(
            summary.reason,
            StopReason::Interrupted {
                signal: Signal::Int
            }
        );
        let events = events.lock().unwrap();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, LoopEvent::Backoff { .. })),
            "{events:?}"
        );
        let saved = store.load().unwrap().unwrap();
        assert_eq!((saved.iteration, saved.in_progress), (1, None));
        assert_eq!(
            store.last_record(&saved.run_id).map(|r| r.iteration),
            Some(1),
            "the failed iteration is recorded"
        );
    }
}

/// Runs one iteration of `step` with a 60 s iteration timeout, on paused time; returns the recorded
/// outcome, its message, and how long the iteration took on the (virtual) clock.
async fn one_overrunning_iteration(step: Step) -> (OutcomeStatus, Option<String>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _) = Scripted::new(vec![step]);
    let mut c = config(dir.path());
    c.iteration_timeout = Some(Duration::from_secs(60));
    c.limits.max_iterations = Some(1);
    let store = crate::MemoryStateStore::new();
    let began = tokio::time::Instant::now();
    let summary = Engine::new(c, Box::new(agent))
        .with_state_store(Box::new(store.clone()))
        .run(StopHandle::new())
        .await;
    assert!(
        matches!(summary.reason, StopReason::MaxIterations { .. }),
        "{:?}",
        summary.reason
    );
    let records = store.records(&summary.run_id);
    (
        records[0].outcome.clone(),
        records[0].message.clone(),
        began.elapsed(),
    )
}

#[tokio::test(start_paused = true)]
async fn an_agent_that_ignores_its_deadline_is_cancelled_by_the_backstop_and_timed_out() {
    let (status, _, took) = one_overrunning_iteration(Step::IgnoresDeadline).await;
    assert_eq!(
        status,
        OutcomeStatus::TimedOut {
            kind: TimeoutKind::Iteration
        }
    );
    assert!(
        took >= Duration::from_secs(60) + DEADLINE_BACKSTOP,
        "{took:?}"
    );
    assert!(
        took < Duration::from_secs(60) + 2 * DEADLINE_BACKSTOP,
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_agent_that_ignores_cancellation_too_is_given_up_on() {
    let (status, message, took) = one_overrunning_iteration(Step::Deaf).await;
    assert_eq!(
        status,
        OutcomeStatus::TimedOut {
            kind: TimeoutKind::Iteration
        }
    );
    assert!(message.unwrap().contains("stopped waiting"));
    assert!(
        took >= Duration::from_secs(60) + 2 * DEADLINE_BACKSTOP,
        "{took:?}"
    );
}
