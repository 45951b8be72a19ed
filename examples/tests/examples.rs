//! Every example in `examples/examples/` runs and does what its top comment says. Each example's
//! `run` function is compiled into this test from the example's own file (its `main` only parses the
//! command line and prints), so what is checked here is exactly what `cargo run --example NAME` runs.
//! `claude_git` needs the real Claude Code CLI and runs as a process: see `tests/claude_git.rs`.

use ralph_core::{RunSummary, StopReason};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

// Each example's `main` is unused here: `allow(dead_code)`.
#[allow(dead_code)]
#[path = "../examples/custom_agent.rs"]
mod custom_agent;
#[allow(dead_code)]
#[path = "../examples/custom_checkpointer.rs"]
mod custom_checkpointer;
#[allow(dead_code)]
#[path = "../examples/custom_limit.rs"]
mod custom_limit;
#[allow(dead_code)]
#[path = "../examples/json_observer.rs"]
mod json_observer;
#[allow(dead_code)]
#[path = "../examples/stop_from_task.rs"]
mod stop_from_task;
#[allow(dead_code)]
#[path = "../examples/two_loops.rs"]
mod two_loops;

/// The examples tested here, plus `claude_git` (tests/claude_git.rs).
const TESTED: [&str; 7] = [
    "claude_git",
    "custom_agent",
    "custom_checkpointer",
    "custom_limit",
    "json_observer",
    "stop_from_task",
    "two_loops",
];

#[test]
fn every_example_is_tested_and_says_how_to_run_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, TESTED, "a new example needs a test here");
    for name in names {
        let text = read(&dir, &format!("{name}.rs"));
        let run = format!("`cargo run -p ralph-examples --example {name}");
        assert!(text.starts_with("//! "), "{name}: top comment");
        assert!(text.contains(&run), "{name}: says `{run}`");
    }
}

fn read(dir: &Path, rel: &str) -> String {
    let path = dir.join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn assert_completed_in(summary: &RunSummary, iteration: u64) {
    assert!(
        matches!(summary.reason, StopReason::Completed { iteration: i, .. } if i == iteration),
        "{summary:?}"
    );
    assert_eq!(summary.iterations, iteration, "{summary:?}");
}

#[tokio::test]
async fn custom_agent_counts_to_three_in_three_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let summary = custom_agent::run(dir.path()).await;
    assert_completed_in(&summary, 3);
    assert_eq!(read(dir.path(), "count.txt"), "3\n");
}

#[tokio::test]
async fn custom_limit_stops_the_run_once_the_output_budget_is_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let summary = custom_limit::run(dir.path()).await;
    assert_eq!(
        summary.reason,
        StopReason::Custom {
            policy: "output_budget".into(),
            message: "1200 output tokens, budget 1000".into(),
        }
    );
    assert_eq!(summary.iterations, 3);
    assert_eq!(summary.usage.output_tokens, 1200);
}

/// A `Write` whose bytes the test reads after the engine (which owns the observer) is gone.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn json_observer_prints_one_json_object_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = Shared::default();
    let summary = json_observer::run(dir.path(), out.clone()).await;
    assert_completed_in(&summary, 1);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "iteration_started",
            "iteration_finished",
            "checkpoint",
            "run_finished"
        ],
        "{text}"
    );
    assert_eq!(events[0]["run_id"], summary.run_id.as_str());
    assert_eq!(events[4]["reason"]["reason"], "completed");
    assert_eq!(events[4]["reason"]["source"], "promise_tag");
}

#[tokio::test]
async fn custom_checkpointer_snapshots_each_iteration_and_skips_an_unchanged_final_one() {
    let dir = tempfile::tempdir().unwrap();
    let summary = custom_checkpointer::run(dir.path()).await;
    assert_completed_in(&summary, 2);
    let snapshots = dir.path().join(".snapshots");
    let mut taken: Vec<String> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    taken.sort();
    assert_eq!(taken, ["1", "2"], "the final checkpoint changed nothing");
    let files = |n: &str| {
        let mut names: Vec<String> = std::fs::read_dir(snapshots.join(n))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files("1"), ["step-1.txt"]);
    assert_eq!(files("2"), ["step-1.txt", "step-2.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loops_run_at_once_and_both_complete_with_their_own_run_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let (first, second) = two_loops::run(&a, &b).await;
    assert_completed_in(&first, 2);
    assert_completed_in(&second, 2);
    assert_ne!(first.run_id, second.run_id);
    assert_eq!(
        read(&a, "hello.txt"),
        format!("hello from run {}\n", first.run_id)
    );
    assert_eq!(
        read(&b, "hello.txt"),
        format!("hello from run {}\n", second.run_id)
    );
}

#[tokio::test]
async fn stop_from_task_ends_the_run_with_the_watchers_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, seen) = stop_from_task::run(dir.path()).await;
    assert_eq!(seen, 5);
    assert_eq!(
        summary.reason,
        StopReason::Requested {
            by: "watcher: stopped after 5 agent events".into(),
        }
    );
    assert!(summary.reason.is_resumable());
    assert_eq!(
        summary.iterations, 1,
        "the agent of iteration 1 was cancelled"
    );
}
