//! `--verify CMD`: a completion claim counts only when CMD exits 0 in the workspace; otherwise the run
//! goes on and CMD's output tail is fed back in the next iteration's prompt.

use std::path::{Path, PathBuf};
use std::process::Output;

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");

use ralph_testkit::workspace::Workspace;

const PROMPT: &str = "Make the widget tests pass.\n";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An agent that claims completion every iteration.
fn claimer(ws: &Workspace) -> PathBuf {
    ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\nprintf 'all done\\nLOOP_COMPLETE\\n'",
    )
}

/// A check that fails with a reason on its first run and passes afterwards.
fn fails_once(ws: &Workspace) -> PathBuf {
    ws.script(
        "check.sh",
        "echo check >> checks.txt\nif [ \"$(wc -l < checks.txt)\" -le 1 ]; then\n  echo 'running widget tests'\n  echo 'FAIL: widget_test expected 3 widgets, got 2' >&2\n  exit 1\nfi\necho 'all widget tests passed'",
    )
}

fn run_with(ws: &Workspace, extra: &[&str], agent: &Path) -> Output {
    ws.ralph()
        .args(["--agent", "command", "--no-git"])
        .args(extra)
        .arg("--")
        .arg(agent)
        .output()
        .expect("run ralph")
}

#[test]
fn a_failed_check_rejects_the_claim_and_its_output_reaches_the_next_prompt() {
    let ws = Workspace::new(RALPH, PROMPT);
    let agent = claimer(&ws);
    fails_once(&ws);
    let out = run_with(&ws, &["-i", "5", "--verify", "./check.sh"], &agent);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(ws.count("runs.txt"), 2, "{err}");
    assert_eq!(ws.count("checks.txt"), 2, "{err}");
    let state = ws.state();
    assert_eq!(state["stop_reason"]["reason"], "completed");
    assert_eq!(state["stop_reason"]["iteration"], 2);
    assert!(err.contains("completion not accepted"), "{err}");

    let first = ws.run_file("1.prompt.md");
    let second = ws.run_file("2.prompt.md");
    assert!(!first.contains("widget_test"), "{first}");
    assert!(
        second.contains("FAIL: widget_test expected 3 widgets, got 2")
            && second.contains("running widget tests")
            && second.contains("./check.sh"),
        "{second}"
    );
    let task = second.find("Make the widget tests pass.").unwrap();
    assert!(
        task < second.find("FAIL: widget_test").unwrap(),
        "the feedback comes after the task: {second}"
    );
}

#[test]
fn the_check_comes_from_the_environment_and_ralph_yml_too() {
    let ws = Workspace::new(RALPH, PROMPT);
    let agent = claimer(&ws);
    fails_once(&ws);
    let out = ws
        .ralph()
        .args(["--agent", "command", "--no-git", "-i", "5", "--"])
        .arg(&agent)
        .env("RALPH_VERIFY", "./check.sh")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ws.count("checks.txt"), 2);

    let ws = Workspace::new(RALPH, PROMPT);
    let agent = claimer(&ws);
    ws.script(
        "never.sh",
        "echo check >> checks.txt\necho 'still broken'\nexit 1",
    );
    std::fs::write(ws.path.join("ralph.yml"), "verify: ./never.sh\n").unwrap();
    let out = run_with(&ws, &["-i", "3"], &agent);
    assert_eq!(
        out.status.code(),
        Some(3),
        "claims that never pass run into max_iterations: {}",
        stderr(&out)
    );
    assert_eq!(ws.count("checks.txt"), 3);
    assert_eq!(ws.state()["stop_reason"]["reason"], "max_iterations");
}

#[test]
fn min_iterations_still_holds_and_the_check_runs_only_when_a_claim_may_count() {
    let ws = Workspace::new(RALPH, PROMPT);
    let agent = claimer(&ws);
    ws.script("ok.sh", "echo check >> checks.txt");
    let out = run_with(
        &ws,
        &["--verify", "./ok.sh", "--min-iterations", "2"],
        &agent,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ws.count("runs.txt"), 2);
    assert_eq!(
        ws.count("checks.txt"),
        1,
        "iteration 1's claim is refused before any check"
    );
}

#[test]
fn the_dry_run_shows_the_check() {
    let ws = Workspace::new(RALPH, PROMPT);
    let agent = claimer(&ws);
    let out = run_with(
        &ws,
        &["--verify", "cargo test --quiet", "--dry-run"],
        &agent,
    );
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("verify") && l.contains("cargo test --quiet")),
        "{text}"
    );
    assert_eq!(ws.count("runs.txt"), 0);
}
