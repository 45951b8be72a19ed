//! Fault injection: `kill -9` of ralph at random moments, then resume; broken state directories; a prompt
//! file that disappears mid-run; ralph as PID 1.
//!
//! The agent is a fake Claude Code (a shell script speaking Claude's stream-json) so that tokens and cost
//! flow through the real parser and budgets can be checked exactly: every run of it reports 10 input
//! tokens, 5 output tokens and $0.01.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");
const MAX_ITERATIONS: u64 = 6;

/// Claude Code stream-json for one successful turn, after a random pause of up to `max_ms` milliseconds.
/// Each run appends a line to `runs.txt` first, and leaves a grandchild sleeping in the background, so
/// orphans are noticed.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
cat > /dev/null
echo run >> runs.txt
(sleep 120) >/dev/null 2>&1 &
ms=$(( $(od -An -N2 -tu2 /dev/urandom) % ${FAKE_MAX_MS:-60} ))
sleep "$(printf '0.%03d' "$ms")"
echo '{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5","tools":[]}'
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"did a step"}],"usage":{"input_tokens":10,"output_tokens":5}}}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"did a step","num_turns":1,"total_cost_usd":0.01,"usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0},"session_id":"s"}'
"#;

struct Ws {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        std::fs::write(path.join("PROMPT.md"), "Do the next step.\n").unwrap();
        let fake = path.join("fake-claude");
        std::fs::write(&fake, FAKE_CLAUDE).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            path.join("ralph.yml"),
            format!(
                "agent: claude\nmax_iterations: {MAX_ITERATIONS}\nretry_delay: 0\ncheckpoint_interval: 1\nadapters:\n  claude:\n    command: {}\n",
                fake.display()
            ),
        )
        .unwrap();
        // A git repository, checkpointed after every iteration, so kills also land during checkpoints.
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["add", "-A"],
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@localhost",
                "commit",
                "-q",
                "-m",
                "start",
            ],
        ] {
            let ok = Command::new("git")
                .args(args)
                .current_dir(&path)
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        }
        Ws { _dir: dir, path }
    }

    /// `git fsck --strict` passes: no kill left the repository corrupt.
    fn fsck(&self) -> Result<(), String> {
        let out = Command::new("git")
            .args(["fsck", "--strict"])
            .current_dir(&self.path)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn ralph(&self) -> Command {
        let mut c = Command::new(RALPH);
        c.current_dir(&self.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("RALPH_") || k.ends_with("_API_KEY") {
                c.env_remove(k);
            }
        }
        c
    }

    fn state(&self) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.path.join(".agent/state.json")).ok()?;
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("state.json must always parse: {e}")),
        )
    }

    fn records(&self) -> Vec<serde_json::Value> {
        let run = self.state().unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::read_to_string(
            self.path
                .join(".agent/runs")
                .join(run)
                .join("iterations.jsonl"),
        )
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every record line parses"))
        .collect()
    }

    fn agent_runs(&self) -> usize {
        std::fs::read_to_string(self.path.join("runs.txt"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

/// Processes whose working directory is inside `dir` (the agent and everything it started run there).
fn processes_in(dir: &Path) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .map(|c| c.starts_with(dir))
                .unwrap_or(false)
        })
        .collect()
}

fn wait_gone(dir: &Path) -> Vec<i32> {
    let began = Instant::now();
    loop {
        let left = processes_in(dir);
        if left.is_empty() || began.elapsed() > Duration::from_secs(3) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// One trial: start ralph and `kill -9` it after a random delay, `kills` times, then let it finish.
/// Returns (kills that hit a running ralph, orphans left after the final run).
fn trial(seed: u64, kills: usize) -> (usize, usize, usize) {
    let ws = Ws::new();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut hits = 0;
    let mut lock_left = false;
    for _ in 0..kills {
        let mut child = ws.ralph().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(0..250)));
        if child.try_wait().unwrap().is_none() {
            hits += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        ws.state(); // must parse whenever it exists
        lock_left |= ws.path.join(".git/index.lock").exists();
    }
    let out: Output = ws.ralph().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "seed {seed}: the run ends at max_iterations: {stderr}\nstate: {:?}\nrecords:\n{}",
        ws.state(),
        std::fs::read_dir(ws.path.join(".agent/runs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(
                |run| std::fs::read_to_string(run.path().join("iterations.jsonl"))
                    .unwrap_or_default()
            )
            .collect::<String>()
    );

    let state = ws.state().unwrap();
    let records = ws.records();
    let numbers: Vec<u64> = records
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=MAX_ITERATIONS).collect::<Vec<_>>(),
        "seed {seed}: no lost or repeated iteration: {stderr}"
    );
    assert_eq!(state["iteration"], MAX_ITERATIONS, "seed {seed}");
    let sum = |key: &str| {
        records
            .iter()
            .map(|r| r["usage"][key].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        state["usage"]["input_tokens"].as_u64().unwrap(),
        sum("input_tokens"),
        "seed {seed}: tokens counted once"
    );
    assert_eq!(
        state["usage"]["output_tokens"].as_u64().unwrap(),
        sum("output_tokens"),
        "seed {seed}"
    );
    let cost: f64 = records
        .iter()
        .map(|r| r["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(
        (state["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9,
        "seed {seed}: cost counted once"
    );
    let successes = records
        .iter()
        .filter(|r| r["outcome"]["status"] == "success")
        .count();
    assert!(
        successes <= ws.agent_runs() && ws.agent_runs() <= records.len(),
        "seed {seed}: agent runs {} vs records {}",
        ws.agent_runs(),
        records.len()
    );
    ws.fsck()
        .unwrap_or_else(|e| panic!("seed {seed}: repository corrupt: {e}"));
    let worktree = std::fs::read_to_string(ws.path.join("runs.txt")).unwrap();
    let committed = Command::new("git")
        .args(["show", "HEAD:runs.txt"])
        .current_dir(&ws.path)
        .output()
        .unwrap();
    if committed.status.success() {
        let committed = String::from_utf8_lossy(&committed.stdout);
        assert!(
            worktree.starts_with(committed.as_ref()),
            "seed {seed}: a checkpoint never loses or rewrites work"
        );
    }
    (hits, wait_gone(&ws.path).len(), usize::from(lock_left))
}

#[test]
fn kill_9_at_random_moments_loses_and_double_counts_nothing() {
    let trials: u64 = std::env::var("RALPH_FAULT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let handles: Vec<_> = (0..4)
        .map(|worker| {
            std::thread::spawn(move || {
                let mut totals = (0, 0, 0);
                for t in (worker..trials).step_by(4) {
                    let (h, o, l) = trial(0x5eed + t, 3);
                    totals = (totals.0 + h, totals.1 + o, totals.2 + l);
                }
                totals
            })
        })
        .collect();
    let (mut hits, mut orphans, mut in_checkpoint) = (0, 0, 0);
    for h in handles {
        let (a, b, c) = h.join().unwrap();
        hits += a;
        orphans += b;
        in_checkpoint += c;
    }
    eprintln!(
        "fault injection: {trials} trials, {hits} kill -9 of a running ralph ({in_checkpoint} trials with a kill inside a git checkpoint), lost iterations: 0, orphan processes: {orphans}"
    );
    assert!(
        hits >= trials as usize,
        "most kills must hit a running ralph ({hits})"
    );
    assert_eq!(orphans, 0, "no process of an agent's tree survives");
}

#[test]
fn an_unwritable_state_dir_is_a_clear_error_before_anything_runs() {
    let ws = Ws::new();
    // Nothing can be created under /proc, not even by root.
    let out = ws
        .ralph()
        .env("RALPH_STATE_DIR", "/proc/ralph-no-such-dir")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/proc/ralph-no-such-dir") && stderr.contains("--state-dir"),
        "{stderr}"
    );
    assert_eq!(ws.agent_runs(), 0);
}

#[test]
fn a_prompt_file_deleted_during_the_run_gives_a_clear_outcome() {
    let ws = Ws::new();
    let yml = std::fs::read_to_string(ws.path.join("ralph.yml"))
        .unwrap()
        .replace("max_iterations: 6", "max_iterations: 50");
    std::fs::write(ws.path.join("ralph.yml"), yml).unwrap();
    let child = ws.ralph().env("FAKE_MAX_MS", "300").spawn().unwrap();
    let began = Instant::now();
    while ws.agent_runs() < 1 {
        assert!(began.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_file(ws.path.join("PROMPT.md")).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PROMPT.md: file not found"), "{stderr}");
    assert_eq!(
        ws.state().unwrap()["status"],
        "running",
        "resumable once the prompt is back"
    );
    assert!(wait_gone(&ws.path).is_empty());
}

#[test]
fn as_pid_1_ralph_reaps_orphans_and_stops_gracefully_on_sigterm() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        eprintln!("skipped: unshare --pid is not permitted here");
        return;
    }
    let ws = Ws::new();
    let yml = std::fs::read_to_string(ws.path.join("ralph.yml"))
        .unwrap()
        .replace("max_iterations: 6", "max_iterations: 1000");
    std::fs::write(ws.path.join("ralph.yml"), yml).unwrap();
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(RALPH)
        .current_dir(&ws.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while ws.agent_runs() < 5 {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the loop runs under PID 1"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every iteration left a `sleep 120` grandchild whose group was killed; as PID 1 ralph must reap them:
    // no zombie may accumulate inside the namespace. One killed a moment ago is a zombie until PID 1 has
    // handled its SIGCHLD (a loaded machine makes that moment long): wait for the count to reach 0.
    let reaping = Instant::now();
    let mut zombies = processes_zombie_under(child.id());
    while zombies > 0 && reaping.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        zombies = processes_zombie_under(child.id());
    }
    assert_eq!(zombies, 0, "zombies under PID 1 for 10 s: not reaped");
    // SIGTERM to PID 1 of the namespace, as `docker stop` does.
    let init = find_namespace_init(child.id()).expect("ralph as PID 1");
    Command::new("kill")
        .args(["-TERM", &init.to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert_eq!(ws.state().unwrap()["stop_reason"]["signal"], "SIGTERM");
    assert!(wait_gone(&ws.path).is_empty());
}

/// The pid (in our namespace) of the process that is PID 1 inside the namespace created by `unshare`.
fn find_namespace_init(unshare_pid: u32) -> Option<i32> {
    children_of(unshare_pid as i32).into_iter().next()
}

fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn processes_zombie_under(root: u32) -> usize {
    let mut stack = vec![root as i32];
    let mut zombies = 0;
    while let Some(p) = stack.pop() {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat"))
            && stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        {
            zombies += 1;
        }
        stack.extend(children_of(p));
    }
    zombies
}
