//! Process behaviour of the agents, with fake agent executables (small shell scripts in a temporary
//! directory): exit codes, timeouts, stopping process groups, leftover grandchildren, huge lines, large
//! prompts, cancellation, and Claude's pipeline end to end on recorded streams.
//!
//! Scripts are run as `sh SCRIPT` rather than executed directly: executing a file this process has just
//! written races with forks in parallel tests ("Text file busy").

use ralph_agents::lines::Line;
use ralph_agents::process::StopCause;
use ralph_agents::process::{
    Deadlines, ProcessExit, ProcessSpec, StdinSource, StreamHandler, supervise,
};
use ralph_agents::{ClaudeAgent, CodexAgent, CommandAgent, GeminiAgent, OpenCodeAgent, QwenAgent};
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, EventSender, FailureKind, OutcomeStatus,
    TimeoutKind,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// A temporary workspace with a fake agent script in it.
struct Fake {
    dir: TempDir,
    script: PathBuf,
}

fn fake(body: &str) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("agent.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    Fake { dir, script }
}

impl Fake {
    fn command(&self) -> CommandAgent {
        CommandAgent::new(vec!["sh".into(), self.script.display().to_string()])
            .unwrap()
            .with_grace(Duration::from_millis(300))
    }

    fn request(&self) -> AgentRequest {
        AgentRequest {
            prompt: "do the task".into(),
            workspace: self.dir.path().to_path_buf(),
            state_dir: self.dir.path().join(".agent"),
            run_id: "test".into(),
            iteration: 1,
            deadline: Some(Instant::now() + Duration::from_secs(20)),
            deadline_kind: TimeoutKind::Iteration,
            idle_timeout: None,
        }
    }
}

/// Runs `agent` and returns the outcome and every event it sent.
async fn run(
    agent: &dyn Agent,
    request: AgentRequest,
    cancel: CancellationToken,
) -> (AgentOutcome, Vec<AgentEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // A broken supervisor hangs rather than fails: bound every run.
    let outcome = tokio::time::timeout(Duration::from_secs(20), agent.run(request, tx, cancel))
        .await
        .expect("the run did not end within 20 s")
        .unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (outcome, events)
}

fn texts(events: &[AgentEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Text { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The pids a fake agent printed on lines of the form `pid N`.
fn printed_pids(events: &[AgentEvent]) -> Vec<i32> {
    texts(events)
        .iter()
        .filter_map(|t| t.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()))
        .collect()
}

/// True while `pid` is a live (not zombie) process.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn assert_all_gone(pids: &[i32]) {
    assert!(!pids.is_empty(), "the fake agent printed no pid");
    let until = Instant::now() + Duration::from_millis(500);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "processes survived the run: {left:?}");
}

fn failed(kind: FailureKind) -> OutcomeStatus {
    OutcomeStatus::Failed {
        kind,
        api_status: None,
    }
}

#[tokio::test]
async fn exit_code_is_a_failure_with_the_stderr_tail() {
    let f = fake("echo working; echo 'fatal: no such task' >&2; exit 3");
    let (o, events) = run(&f.command(), f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, failed(FailureKind::ExitCode));
    assert_eq!(o.exit_code, Some(3));
    assert_eq!(
        o.message.as_deref(),
        Some("exit code 3: fatal: no such task")
    );
    assert!(matches!(
        events.first(),
        Some(AgentEvent::Started { pid: Some(_), .. })
    ));
    assert!(events.contains(&AgentEvent::Stderr {
        line: "fatal: no such task".into()
    }));
}

#[tokio::test]
async fn exit_zero_succeeds_with_the_whole_stdout_as_final_text() {
    let f = fake("cat > /dev/null; echo 'all done'; echo LOOP_COMPLETE");
    let (o, _) = run(&f.command(), f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success);
    assert_eq!(o.exit_code, Some(0));
    assert_eq!(o.final_text.as_deref(), Some("all done\nLOOP_COMPLETE"));
    assert_eq!(o.transcript, b"all done\nLOOP_COMPLETE\n");
}

#[tokio::test]
async fn deadline_stops_the_whole_group() {
    let f = fake("sleep 1000 & echo \"pid $!\"; echo \"pid $$\"; sleep 1000");
    let mut req = f.request();
    req.deadline = Some(Instant::now() + Duration::from_millis(400));
    req.deadline_kind = TimeoutKind::Runtime;
    let started = Instant::now();
    let (o, events) = run(&f.command(), req, CancellationToken::new()).await;
    assert_eq!(
        o.status,
        OutcomeStatus::TimedOut {
            kind: TimeoutKind::Runtime
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_all_gone(&printed_pids(&events));
}

#[tokio::test]
async fn an_agent_ignoring_sigterm_is_killed_after_the_grace_period() {
    // Ignored signals stay ignored across exec, so the `sleep` children ignore SIGTERM too.
    let f = fake("trap '' TERM; echo \"pid $$\"; while :; do sleep 0.05; done");
    let mut req = f.request();
    req.deadline = Some(Instant::now() + Duration::from_millis(200));
    let started = Instant::now();
    let (o, events) = run(&f.command(), req, CancellationToken::new()).await;
    let took = started.elapsed();
    assert_eq!(
        o.status,
        OutcomeStatus::TimedOut {
            kind: TimeoutKind::Iteration
        }
    );
    assert!(
        took >= Duration::from_millis(450),
        "SIGKILL came before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_all_gone(&printed_pids(&events));
}

#[tokio::test]
async fn a_grandchild_holding_stdout_does_not_hang_the_run() {
    let f = fake("sleep 1000 & echo \"pid $!\"; exit 0");
    let started = Instant::now();
    let (o, events) = run(&f.command(), f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_all_gone(&printed_pids(&events));
}

#[tokio::test]
async fn background_processes_left_by_a_successful_agent_are_killed() {
    let f = fake("sleep 1000 > /dev/null 2>&1 & echo \"pid $!\"; exit 0");
    let started = Instant::now();
    let (o, events) = run(&f.command(), f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_all_gone(&printed_pids(&events));
}

#[tokio::test]
async fn silence_beyond_the_idle_timeout_is_a_timeout() {
    let f = fake("echo \"pid $$\"; sleep 1000");
    let mut req = f.request();
    req.idle_timeout = Some(Duration::from_millis(300));
    let (o, events) = run(&f.command(), req, CancellationToken::new()).await;
    assert_eq!(
        o.status,
        OutcomeStatus::TimedOut {
            kind: TimeoutKind::Idle
        }
    );
    assert_eq!(
        o.message.as_deref(),
        Some("timed out: no output for 0.3 s (idle timeout)")
    );
    assert_all_gone(&printed_pids(&events));
}

#[tokio::test]
async fn steady_output_keeps_the_idle_timeout_away() {
    let f = fake(
        "for i in 1 2 3 4 5 6; do echo tick; sleep 0.1; done; echo tock >&2; sleep 0.1; echo done",
    );
    let mut req = f.request();
    req.idle_timeout = Some(Duration::from_millis(350));
    let (o, _) = run(&f.command(), req, CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success);
}

#[tokio::test]
async fn cancellation_stops_the_run() {
    let f = fake("echo \"pid $$\"; sleep 1000");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let (o, events) = run(&f.command(), f.request(), cancel).await;
    assert_eq!(o.status, OutcomeStatus::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_all_gone(&printed_pids(&events));
}

#[tokio::test]
async fn a_ten_megabyte_prompt_arrives_intact_while_the_agent_floods_stdout() {
    // The agent writes 3 MB before reading stdin: writing the prompt inline would deadlock.
    let f = fake(
        "head -c 3000000 /dev/zero | tr '\\0' x; echo; \
         f=$(mktemp); cat > \"$f\"; wc -c < \"$f\"; head -c 10 \"$f\"; echo; tail -c 13 \"$f\"; echo; rm -f \"$f\"",
    );
    let mut req = f.request();
    let mut prompt = "0123456789".repeat(1_048_576 - 2);
    prompt.push_str("abcdefg");
    prompt.push_str("END-OF-PROMPT");
    assert_eq!(prompt.len(), 10 * 1024 * 1024);
    req.prompt = prompt;
    let (o, events) = run(&f.command(), req, CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success, "{:?}", o.message);
    let lines = texts(&events);
    let tail: Vec<&str> = lines.iter().rev().take(3).rev().map(|s| s.trim()).collect();
    assert_eq!(tail, ["10485760", "0123456789", "END-OF-PROMPT"]);
}

#[tokio::test]
async fn a_large_prompt_for_an_argument_goes_through_a_file() {
    let f = fake("printf '%s\\n' \"$1\"; wc -c < \"$2\"");
    let agent = CommandAgent::new(vec![
        "sh".into(),
        f.script.display().to_string(),
        "{prompt}".into(),
        "{prompt_file}".into(),
    ])
    .unwrap();
    let mut req = f.request();
    req.prompt = "y".repeat(300 * 1024);
    let (o, events) = run(&agent, req, CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success, "{:?}", o.message);
    let lines = texts(&events);
    assert!(
        lines[0].starts_with("Your task is in the file "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("agent-prompt.md"));
    assert_eq!(lines[1].trim(), "307200");
}

#[tokio::test]
async fn a_small_prompt_is_substituted_into_the_argument() {
    let f = fake("printf '[%s]\\n' \"$1\"");
    let agent = CommandAgent::new(vec![
        "sh".into(),
        f.script.display().to_string(),
        "{prompt}".into(),
    ])
    .unwrap();
    let (o, _) = run(&agent, f.request(), CancellationToken::new()).await;
    assert_eq!(o.final_text.as_deref(), Some("[do the task]"));
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_failure() {
    let f = fake("");
    let agent = CommandAgent::new(vec!["/nonexistent/agent".into()]).unwrap();
    let (o, _) = run(&agent, f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, failed(FailureKind::Spawn));
    assert!(
        o.message
            .unwrap()
            .starts_with("cannot start `/nonexistent/agent`")
    );
}

/// Records what the supervisor hands to a stream handler.
#[derive(Default)]
struct Recorder {
    lines: Vec<(usize, bool, u64, String)>,
}

impl StreamHandler for Recorder {
    fn on_stdout(&mut self, line: Line, _: &EventSender) {
        let head: String = line.text().chars().take(12).collect();
        self.lines.push((
            line.as_bytes().len(),
            line.is_truncated(),
            line.original_len(),
            head,
        ));
    }
    fn finish(&mut self, _: &ProcessExit) -> AgentOutcome {
        AgentOutcome::new(OutcomeStatus::Success)
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn huge_lines_and_invalid_utf8_are_bounded_data() {
    let f = fake(
        "head -c 67108864 /dev/zero | tr '\\0' a; echo; printf '\\377\\376 bad\\n'; echo after",
    );
    let mut spec = ProcessSpec::new("sh", f.dir.path());
    spec.args = vec![f.script.display().to_string()];
    let mut recorder = Recorder::default();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let before = peak_rss_kib();
    let exit = supervise(
        &spec,
        Deadlines::default(),
        &mut recorder,
        &tx,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(exit.succeeded());
    let max = ralph_agents::lines::DEFAULT_MAX_LINE;
    assert_eq!(
        recorder.lines[0],
        (max, true, 64 * 1024 * 1024, "a".repeat(12))
    );
    assert_eq!(recorder.lines[1].3, "\u{fffd}\u{fffd} bad");
    assert_eq!(recorder.lines[2].3, "after");
    // A 64 MiB line held whole would grow the peak by at least 64 MiB; the cap is 8 MiB.
    assert!(grown_mib < 40, "peak memory grew by {grown_mib} MiB");
}

#[tokio::test]
async fn stdin_is_closed_when_no_prompt_is_piped() {
    let f = fake("cat; echo eof");
    let mut spec = ProcessSpec::new("sh", f.dir.path());
    spec.args = vec![f.script.display().to_string()];
    spec.stdin = StdinSource::Null;
    let mut recorder = Recorder::default();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let deadlines = Deadlines {
        deadline: Some((
            Instant::now() + Duration::from_secs(5),
            TimeoutKind::Iteration,
        )),
        idle: None,
    };
    let exit = supervise(
        &spec,
        deadlines,
        &mut recorder,
        &tx,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(exit.stopped_by, None);
    assert_eq!(recorder.lines[0].3, "eof");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/claude/{name}.jsonl"))
}

/// A fake `claude` that records its argv and environment, swallows the prompt, replays a recorded stream,
/// then runs `after`.
fn fake_claude(stream: &str, after: &str) -> (Fake, ClaudeAgent) {
    let f = fake(&format!(
        "printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv\"; env > \"$(dirname \"$0\")/env\"; \
         cat > \"$(dirname \"$0\")/prompt\"; cat '{}'; {after}",
        fixture(stream).display()
    ));
    let agent = ClaudeAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_model(Some("claude-sonnet-4-5".into()))
        .with_env(BTreeMap::from([(
            "RALPH_TEST".to_string(),
            "1".to_string(),
        )]))
        .with_grace(Duration::from_millis(300));
    (f, agent)
}

#[tokio::test]
async fn claude_success_runs_headless_with_the_prompt_on_stdin() {
    let (f, agent) = fake_claude("success", "exit 0");
    let (o, events) = run(&agent, f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, OutcomeStatus::Success);
    assert_eq!(o.final_text.as_deref(), Some("All done.\nLOOP_COMPLETE"));
    assert!(o.cost.is_some_and(|c| c.usd > 0.0 && !c.estimated));
    let argv = std::fs::read_to_string(f.dir.path().join("argv")).unwrap();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--model",
            "claude-sonnet-4-5"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(f.dir.path().join("prompt")).unwrap(),
        "do the task"
    );
    let env = std::fs::read_to_string(f.dir.path().join("env")).unwrap();
    assert!(env.lines().any(|l| l == "RALPH_TEST=1"));
    if nix::unistd::geteuid().is_root() {
        assert!(env.lines().any(|l| l == "IS_SANDBOX=1"));
    }
    assert!(matches!(events.get(1), Some(AgentEvent::Session { .. })));
}

#[tokio::test]
async fn claude_auth_failure_is_classified_from_the_stream() {
    let (f, agent) = fake_claude("auth_401", "exit 1");
    let (o, _) = run(&agent, f.request(), CancellationToken::new()).await;
    assert_eq!(
        o.status,
        OutcomeStatus::Failed {
            kind: FailureKind::Auth,
            api_status: Some(401)
        }
    );
    assert_eq!(o.exit_code, Some(1));
}

/// A Claude that hangs before its `result` event, after a synthetic rate-limit message: the timeout stands.
/// (Once the `result` is in, its classification stands instead: see the `lingering` tests.)
#[tokio::test]
async fn a_hung_claude_times_out_and_is_never_a_rate_limit() {
    let f = fake(&format!(
        "cat > /dev/null; grep -v '\"type\":\"result\"' '{}'; sleep 1000",
        fixture("rate_limit_429").display()
    ));
    let agent = ClaudeAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    let mut req = f.request();
    req.deadline = Some(Instant::now() + Duration::from_millis(300));
    let (o, _) = run(&agent, req, CancellationToken::new()).await;
    assert_eq!(
        o.status,
        OutcomeStatus::TimedOut {
            kind: TimeoutKind::Iteration
        }
    );
}

#[tokio::test]
async fn a_missing_claude_is_a_spawn_failure_naming_the_install_command() {
    let f = fake("");
    let agent = ClaudeAgent::new().with_command(vec!["/nonexistent/claude".into()]);
    let (o, _) = run(&agent, f.request(), CancellationToken::new()).await;
    assert_eq!(o.status, failed(FailureKind::Spawn));
    assert!(
        o.message
            .unwrap()
            .contains("npm install -g @anthropic-ai/claude-code")
    );
    let err = agent.preflight().await.unwrap_err();
    assert!(matches!(err, ralph_core::Error::AgentUnavailable { .. }));
    assert!(
        err.to_string()
            .contains("npm install -g @anthropic-ai/claude-code"),
        "{err}"
    );
}

/// A fake agent CLI that swallows its stdin, replays the recorded stream `tests/fixtures/{dir}/{name}.jsonl`
/// and then does not exit: the shell waits for a child that holds stdout open (as a hook, an MCP server
/// or `sleep 600 &` run by a tool would). Both pids go to the file `pids` in the workspace.
fn lingering_after(dir: &str, name: &str) -> Fake {
    let stream =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{dir}/{name}.jsonl"));
    fake(&format!(
        "cat > /dev/null; cat '{}'; d=\"$(dirname \"$0\")\"; echo $$ > \"$d/pids\"; \
         sleep 600 & echo $! >> \"$d/pids\"; wait",
        stream.display()
    ))
}

/// Runs an agent whose CLI lingers after its final event, under an iteration limit far beyond [`run`]'s
/// 20 s bound: the run must end on its own after the final-event grace, keep the final answer, and leave
/// no process behind.
async fn assert_completes_despite_lingering(agent: &dyn Agent, f: &Fake) -> AgentOutcome {
    let mut req = f.request();
    req.deadline = Some(Instant::now() + Duration::from_secs(600));
    let (o, _) = run(agent, req, CancellationToken::new()).await;
    let pids: Vec<i32> = std::fs::read_to_string(f.dir.path().join("pids"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert_all_gone(&pids);
    o
}

fn assert_completed(o: &AgentOutcome) {
    assert_eq!(o.status, OutcomeStatus::Success, "{:?}", o.message);
    assert!(
        o.final_text
            .as_deref()
            .is_some_and(|t| t.contains("LOOP_COMPLETE")),
        "{:?}",
        o.final_text
    );
}

#[tokio::test]
async fn claude_lingering_after_its_result_keeps_the_completion() {
    let f = lingering_after("claude", "success");
    let agent = ClaudeAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    let o = assert_completes_despite_lingering(&agent, &f).await;
    assert_completed(&o);
    assert!(o.cost.is_some());
}

#[tokio::test]
async fn claude_lingering_after_an_error_result_keeps_the_error() {
    let f = lingering_after("claude", "auth_401");
    let agent = ClaudeAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    let o = assert_completes_despite_lingering(&agent, &f).await;
    assert!(
        matches!(
            o.status,
            OutcomeStatus::Failed {
                kind: FailureKind::Auth,
                ..
            }
        ),
        "{:?}",
        o.status
    );
}

#[tokio::test]
async fn gemini_lingering_after_its_result_keeps_the_completion() {
    let f = lingering_after("gemini", "success");
    let agent = GeminiAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    assert_completed(&assert_completes_despite_lingering(&agent, &f).await);
}

#[tokio::test]
async fn qwen_lingering_after_its_result_keeps_the_completion() {
    let f = lingering_after("qwen", "success");
    let agent = QwenAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    assert_completed(&assert_completes_despite_lingering(&agent, &f).await);
}

#[tokio::test]
async fn codex_lingering_after_turn_completed_keeps_the_completion() {
    let f = lingering_after("codex", "success");
    let agent = CodexAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    assert_completed(&assert_completes_despite_lingering(&agent, &f).await);
}

#[tokio::test]
async fn opencode_lingering_after_its_last_step_keeps_the_completion() {
    let f = lingering_after("opencode", "success");
    let agent = OpenCodeAgent::new()
        .with_command(vec!["sh".into(), f.script.display().to_string()])
        .with_grace(Duration::from_millis(300));
    assert_completed(&assert_completes_despite_lingering(&agent, &f).await);
}

/// Says the run is over after a line `FINAL`.
#[derive(Default)]
struct FinalAfterLine {
    seen: bool,
}

impl StreamHandler for FinalAfterLine {
    fn on_stdout(&mut self, line: Line, _: &EventSender) {
        self.seen |= line.text() == "FINAL";
    }
    fn final_event_seen(&self) -> bool {
        self.seen
    }
    fn finish(&mut self, _: &ProcessExit) -> AgentOutcome {
        AgentOutcome::new(OutcomeStatus::Success)
    }
}

#[tokio::test]
async fn a_time_limit_after_the_final_event_is_not_a_timeout() {
    let f = fake("echo FINAL; sleep 600");
    let mut spec = ProcessSpec::new("sh", f.dir.path());
    spec.args = vec![f.script.display().to_string()];
    //GRACE
    spec.grace = Duration::from_millis(300);
    let deadlines = Deadlines {
        deadline: Some((
            Instant::now() + Duration::from_millis(500),
            TimeoutKind::Iteration,
        )),
        idle: None,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let exit = supervise(
        &spec,
        deadlines,
        &mut FinalAfterLine::default(),
        &tx,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(exit.stopped_by, Some(StopCause::AfterFinal));
}

#[tokio::test]
async fn an_agent_that_exits_after_its_final_event_is_not_stopped() {
    let f = fake("echo FINAL; exit 0");
    let mut spec = ProcessSpec::new("sh", f.dir.path());
    spec.args = vec![f.script.display().to_string()];
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let exit = supervise(
        &spec,
        Deadlines::default(),
        &mut FinalAfterLine::default(),
        &tx,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(exit.stopped_by, None);
    assert!(exit.succeeded());
}

#[tokio::test]
async fn an_over_long_line_leaves_a_marker_in_the_transcript() {
    // 5 MiB line: more than the 4 MiB transcript holds.
    let f = fake(
        "echo '{\"a\":1}'; printf '{\"big\":\"'; head -c 5242880 /dev/zero | tr '\\0' x; echo '\"}'; \
         echo '{\"b\":2}'",
    );
    let (o, _) = run(&f.command(), f.request(), CancellationToken::new()).await;
    assert!(o.transcript.len() <= ralph_agents::process::TRANSCRIPT_CAP);
    let records: Vec<serde_json::Value> = std::str::from_utf8(&o.transcript)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0], serde_json::json!({"a": 1}));
    let marker = &records[1]["ralph_truncated"];
    assert_eq!(marker["original_bytes"], 5 * 1024 * 1024 + 10);
    let kept = marker["kept"].as_str().unwrap();
    assert!(kept.starts_with("{\"big\":\"xxx") && kept.len() > 1024 * 1024);
    assert_eq!(marker["kept_bytes"], kept.len());
    // The line after it no longer fits: it is counted, not silently lost.
    assert_eq!(
        records.last().unwrap()["ralph_truncated"]["dropped_lines"],
        1
    );
}

/// `node`, or `None` (skipped locally; under CI, where the agent CLIs need it, a missing node fails).
fn node() -> Option<&'static str> {
    let found = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "node is missing: install Node.js 20+ (apt-get install -y nodejs)"
        );
        eprintln!("skipped: node is not installed");
        return None;
    }
    Some("node")
}

/// Node.js writes to a pipe asynchronously and `process.exit()` drops what the pipe has not taken yet,
/// as Claude Code, Gemini CLI and Qwen Code do after their final event: a large event followed by the
/// final one must still arrive whole.
#[tokio::test]
async fn a_node_agent_exiting_right_after_large_output_loses_nothing() {
    let Some(node) = node() else { return };
    let f = fake("");
    std::fs::write(
        f.dir.path().join("agent.js"),
        r#"process.stdout.write(JSON.stringify({echo: "x".repeat(800000)}) + "\n");
process.stdout.write(JSON.stringify({type: "result", result: "LOOP_COMPLETE"}) + "\n");
process.exit(0);"#,
    )
    .unwrap();
    let agent = CommandAgent::new(vec![
        node.into(),
        f.dir.path().join("agent.js").display().to_string(),
    ])
    .unwrap();
    let (o, _) = run(&agent, f.request(), CancellationToken::new()).await;
    let text = o.final_text.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "lines lost: {} bytes arrived", text.len());
    assert_eq!(lines[0].len(), 800_000 + r#"{"echo":""}"#.len());
    assert_eq!(lines[1], r#"{"type":"result","result":"LOOP_COMPLETE"}"#);
}
