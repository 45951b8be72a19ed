//! The `ralph` binary with shell-script agents (`--agent command`): exit codes, messages, state, signals.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");

use ralph_testkit::workspace::Workspace;

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run ralph")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A counting agent: appends to runs.txt, prints the promise on run `n`.
/// A bad-input case: flags, environment variables, and the text stderr must contain.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

/// Runs ralph in `ws` for each case (its flags, then `tail`; its variables) and asserts exit code 2 with the
/// expected text; with `dry_run_too`, again with `--dry-run` added.
fn assert_exit_2(ws: &Workspace, cases: Vec<Case>, tail: &[&str], dry_run_too: bool) {
    for (args, env, expected) in cases {
        let mut cmd = ws.ralph();
        cmd.args(&args).args(tail);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let modes: &[bool] = if dry_run_too {
            &[false, true]
        } else {
            &[false]
        };
        for &dry_run in modes {
            if dry_run {
                cmd.arg("--dry-run");
            }
            let out = run(&mut cmd);
            assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
            assert!(
                stderr(&out).contains(expected),
                "{args:?} {env:?}: {}",
                stderr(&out)
            );
        }
    }
}

fn counter(ws: &Workspace, complete_on: u32) -> PathBuf {
    ws.script(
        "agent.sh",
        &format!(
            "cat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\nif [ \"$n\" -ge {complete_on} ]; then printf 'done\\nLOOP_COMPLETE\\n'; else echo \"working $n\"; fi"
        ),
    )
}

fn runs(ws: &Workspace) -> usize {
    std::fs::read_to_string(ws.path.join("runs.txt"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn completes_when_the_agent_prints_the_promise_and_exits_0() {
    let ws = Workspace::new(RALPH, "Count to three.");
    let agent = counter(&ws, 3);
    let out = run(ws
        .ralph()
        .args(["--agent", "command", "--retry-delay", "0", "--"])
        .arg(&agent));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(runs(&ws), 3);
    assert_eq!(ws.state()["status"], "finished");
    assert_eq!(ws.records().len(), 3);
    let err = stderr(&out);
    assert!(
        err.contains("iteration 1/100 success") && err.contains("completed in iteration 3"),
        "{err}"
    );
}

#[test]
fn max_iterations_stops_with_exit_3_and_a_finished_run_is_not_started_again() {
    let ws = Workspace::new(RALPH, "Never done.");
    let agent = counter(&ws, 99);
    let out = run(ws
        .ralph()
        .args(["run", "--agent", "command", "-i", "2", "--"])
        .arg(&agent));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(runs(&ws), 2);
    // Same prompt again: nothing runs, same exit code (restart policies must not re-spend).
    let again = run(ws
        .ralph()
        .args(["run", "--agent", "command", "-i", "2", "--"])
        .arg(&agent));
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(runs(&ws), 2);
    assert!(
        stderr(&again).contains("already finished"),
        "{}",
        stderr(&again)
    );
    // A changed prompt starts a new run.
    std::fs::write(ws.path.join("PROMPT.md"), "Never done, really.").unwrap();
    let changed = run(ws
        .ralph()
        .args(["run", "--agent", "command", "-i", "1", "--"])
        .arg(&agent));
    assert_eq!(changed.status.code(), Some(3));
    assert_eq!(runs(&ws), 3);
}

#[test]
fn consecutive_failures_exit_1_naming_the_cause() {
    let ws = Workspace::new(RALPH, "Fail.");
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\necho 'boom: model refused' >&2\nexit 7",
    );
    let out = run(ws
        .ralph()
        .args([
            "--agent",
            "command",
            "--max-retries",
            "2",
            "--retry-delay",
            "0",
            "--",
        ])
        .arg(&agent));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(runs(&ws), 3);
    let err = stderr(&out);
    assert!(
        err.contains("3 consecutive failed iterations") && err.contains("boom: model refused"),
        "{err}"
    );
}

#[test]
fn a_missing_prompt_file_exits_2_before_anything_runs() {
    let ws = Workspace::new(RALPH, "x");
    let agent = counter(&ws, 1);
    let out = run(ws
        .ralph()
        .args(["--agent", "command", "--prompt", "nope.md", "--"])
        .arg(&agent));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nope.md: file not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(runs(&ws), 0);
    assert!(
        !ws.path.join(".agent").exists(),
        "nothing is created before the inputs are valid"
    );
}

#[test]
fn a_missing_agent_cli_exits_2_with_the_install_command() {
    let ws = Workspace::new(RALPH, "x");
    let out = run(ws
        .ralph()
        .args(["--agent", "claude"])
        .env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("npm install -g @anthropic-ai/claude-code"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_settings_exit_2_naming_their_source() {
    let ws = Workspace::new(RALPH, "x");
    let cases: Vec<Case> = vec![
        (
            vec![],
            vec![("RALPH_MAX_ITERATIONS", "abc")],
            "RALPH_MAX_ITERATIONS: `abc` is not valid",
        ),
        (
            vec!["--max-cost", "-1"],
            vec![],
            "--max-cost: `-1` is not valid",
        ),
        (
            vec!["--retry-delay", "soon"],
            vec![],
            "--retry-delay: `soon` is not valid",
        ),
        (
            vec!["--log-format", "xml"],
            vec![],
            "--log-format: `xml` is not a log format",
        ),
        (
            vec![],
            vec![("RALPH_VERBOSE", "perhaps")],
            "RALPH_VERBOSE: `perhaps` is not valid",
        ),
    ];
    assert_exit_2(&ws, cases, &["--agent", "command", "--", "true"], false);
    std::fs::write(
        ws.path.join("ralph.yml"),
        "agent: command\nmax_iteratons: 3\n",
    )
    .unwrap();
    let out = run(ws.ralph().args(["--", "true"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("ralph.yml:2: unknown key `max_iteratons`; did you mean `max_iterations`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn only_the_last_keep_transcripts_iterations_keep_their_transcripts() {
    let ws = Workspace::new(RALPH, "Keep going.");
    let out = run(ws.ralph().args([
        "--agent",
        "command",
        "--no-git",
        "-i",
        "12",
        "--keep-transcripts",
        "3",
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let state = ws.state();
    let run_dir = ws
        .path
        .join(".agent/runs")
        .join(state["run_id"].as_str().unwrap());
    let mut files: Vec<String> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "10.output.jsonl",
            "10.prompt.md",
            "11.output.jsonl",
            "11.prompt.md",
            "12.output.jsonl",
            "12.prompt.md",
            "iterations.jsonl",
            "prompts",
        ]
    );
    assert!(ws.run_file("12.prompt.md").contains("Keep going."));
    let records = ws.records();
    assert_eq!(
        records
            .iter()
            .map(|r| r["iteration"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    let sha = state["prompt_sha256"].as_str().unwrap();
    assert!(records.iter().all(|r| r["prompt_sha256"] == sha));
    let prompts: Vec<_> = std::fs::read_dir(run_dir.join("prompts"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(prompts, [std::ffi::OsString::from(format!("{sha}.md"))]);
    assert_eq!(ws.run_file(&format!("prompts/{sha}.md")), "Keep going.");

    // A bad value is a usage error naming the setting.
    let cases: Vec<Case> = vec![
        (
            vec!["--keep-transcripts", "-3"],
            vec![],
            "--keep-transcripts: `-3` is not valid",
        ),
        (
            vec![],
            vec![("RALPH_KEEP_TRANSCRIPTS", "abc")],
            "RALPH_KEEP_TRANSCRIPTS: `abc` is not valid",
        ),
    ];
    assert_exit_2(&ws, cases, &["--agent", "command", "--", "true"], true);
}

#[test]
fn empty_agent_prompt_file_and_bad_adapter_commands_exit_2_naming_their_source() {
    let ws = Workspace::new(RALPH, "x");
    // Flags and environment variables: an empty agent (or a list of nothing) and an empty prompt file.
    let cases: Vec<Case> = vec![
        (
            vec![],
            vec![("RALPH_AGENT", "")],
            "environment variable RALPH_AGENT: the agent name is empty; accepted: auto, claude, command, gemini",
        ),
        (
            vec!["--agent", " , "],
            vec![],
            "--agent: the agent name is empty",
        ),
        (
            vec!["--agent", "command"],
            vec![("RALPH_PROMPT_FILE", " ")],
            "environment variable RALPH_PROMPT_FILE: the file name is empty",
        ),
    ];
    assert_exit_2(&ws, cases, &["--", "true"], true);
    // The same in ralph.yml, with the file and line; a `command` of the wrong type is described in
    // words, not as serde's "untagged enum".
    for (yaml, expected) in [
        (
            "agent: ''\n",
            "ralph.yml:1 (`agent`): the agent name is empty",
        ),
        (
            "agent: command\nprompt_file: ''\n",
            "ralph.yml:2 (`prompt_file`): the file name is empty",
        ),
        (
            "agent: command\nadapters:\n  command:\n    command: 5\n",
            "ralph.yml:3: `adapters.command`: `command` must be a program (a string) or a list",
        ),
    ] {
        std::fs::write(ws.path.join("ralph.yml"), yaml).unwrap();
        let out = run(ws.ralph().args(["--", "true"]));
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{yaml}: {err}");
        assert!(!err.contains("untagged"), "{yaml}: {err}");
    }
    assert!(!ws.path.join(".agent").exists(), "nothing ran");
}

#[test]
fn settings_from_ralph_yml_and_environment_apply_with_flags_winning() {
    let ws = Workspace::new(RALPH, "Never done.");
    let agent = counter(&ws, 99);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!(
            "agent: command\nmax_iterations: 5\nadapters:\n  command:\n    command: {}\n",
            agent.display()
        ),
    )
    .unwrap();
    let out = run(ws.ralph().env("RALPH_MAX_ITERATIONS", "3"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(runs(&ws), 3, "the environment beats the file");
    let out = run(ws
        .ralph()
        .args(["--fresh", "--max-iterations", "1"])
        .env("RALPH_MAX_ITERATIONS", "3"));
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(runs(&ws), 4, "the flag beats the environment");
}

#[test]
fn dry_run_prints_the_plan_masks_keys_and_runs_nothing() {
    let ws = Workspace::new(RALPH, "x");
    let out = run(ws
        .ralph()
        .args([
            "--dry-run",
            "--agent",
            "claude",
            "--max-iterations",
            "7",
            "--",
            "--model",
            "claude-sonnet-4-5",
        ])
        .env("PATH", "/usr/bin:/bin")
        .env("CLAUDE_API_KEY", "sk-ant-very-secret-value"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout).replace(ws.path.to_str().unwrap(), "[WS]");
    assert!(!plan.contains("very-secret"), "{plan}");
    insta::assert_snapshot!("dry_run_plan", plan);
    assert!(!ws.path.join(".agent").exists());
}

#[test]
fn help_lists_the_seed_flags() {
    let out = run(Command::new(RALPH).arg("--help"));
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("help", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_second_run_in_the_same_workspace_fails_fast_naming_the_holder() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script("slow.sh", "cat > /dev/null\nsleep 30");
    let mut first = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| {
        ws.path
            .join(".agent/lock")
            .metadata()
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    });
    let began = Instant::now();
    let second = run(ws.ralph().args(["--agent", "command", "--"]).arg(&agent));
    assert!(began.elapsed() < Duration::from_secs(5));
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr(&second).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&second)
    );
    let status = run(ws.ralph().args(["status", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (v["active"].as_bool(), v["pid"].as_u64()),
        (Some(true), Some(u64::from(first.id())))
    );
    signal(first.id(), "TERM");
    assert_eq!(first.wait().unwrap().code(), Some(143));
}

#[test]
fn sigint_stops_gracefully_with_130_kills_the_agent_tree_and_the_run_resumes() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\n(sleep 300; echo leaked > leaked.txt) &\nsleep 300",
    );
    let child = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| runs(&ws) == 1);
    signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        no_process_mentions(&ws.path),
        "no process of the agent's tree may survive"
    );
    assert_eq!(
        ws.state()["status"],
        "running",
        "an interrupted run stays resumable"
    );
    let done = counter(&ws, 2);
    let out = run(ws.ralph().args(["--agent", "command", "--"]).arg(&done));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        ws.state()["iteration"],
        2,
        "the resumed run continues the count"
    );
    assert!(stderr(&out).contains("resuming run"), "{}", stderr(&out));
}

#[test]
fn status_and_clean_report_and_keep_the_current_run() {
    let ws = Workspace::new(RALPH, "Never done.");
    let agent = counter(&ws, 99);
    run(ws
        .ralph()
        .args(["--agent", "command", "-i", "1", "--"])
        .arg(&agent));
    let old = ws.state()["run_id"].as_str().unwrap().to_string();
    run(ws
        .ralph()
        .args(["--agent", "command", "-i", "1", "--fresh", "--"])
        .arg(&agent));
    let current = ws.state()["run_id"].as_str().unwrap().to_string();
    assert_ne!(old, current);
    let status = run(ws.ralph().arg("status"));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&current) && text.contains("max iterations reached (1)"),
        "{text}"
    );
    let clean = run(ws.ralph().arg("clean"));
    assert_eq!(clean.status.code(), Some(0));
    assert!(!ws.path.join(".agent/runs").join(&old).exists());
    assert!(ws.path.join(".agent/runs").join(&current).exists());
}

#[test]
fn status_health_report_and_clean_find_the_state_dir_set_in_ralph_yml() {
    let ws = Workspace::new(RALPH, "Never done.");
    let agent = counter(&ws, 99);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!(
            "agent: command\nstate_dir: .ralph-state\nadapters:\n  command:\n    command: {}\n",
            agent.display()
        ),
    )
    .unwrap();
    let out = run(ws.ralph().args(["-i", "1"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!ws.path.join(".agent").exists());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path.join(".ralph-state/state.json")).unwrap())
            .unwrap();
    let id = state["run_id"].as_str().unwrap().to_string();

    let status = run(ws.ralph().arg("status"));
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(
        text.contains(&id) && text.contains("max iterations reached (1)"),
        "{text}"
    );
    let health = run(ws.ralph().arg("health"));
    let line = String::from_utf8_lossy(&health.stdout);
    assert!(line.contains(&format!("run {id} finished")), "{line}");
    let report = run(ws.ralph().args(["report", "--format", "json"]));
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    assert!(String::from_utf8_lossy(&report.stdout).contains(&id));
    let clean = run(ws.ralph().args(["clean", "--dry-run"]));
    assert!(String::from_utf8_lossy(&clean.stdout).contains(&id));
    // The flag and the environment still win over the file.
    let status = run(ws.ralph().args(["status", "--state-dir", ".agent"]));
    assert_eq!(status.status.code(), Some(2));
    let status = run(ws.ralph().arg("status").env("RALPH_STATE_DIR", ".agent"));
    assert_eq!(status.status.code(), Some(2));
    // A ralph.yml that does not parse is named, and the default place is used.
    std::fs::write(ws.path.join("ralph.yml"), "state_dirr: x\n").unwrap();
    let status = run(ws.ralph().arg("status"));
    assert_eq!(status.status.code(), Some(2));
    assert!(
        stderr(&status).contains("ralph.yml:1: unknown key `state_dirr`"),
        "{}",
        stderr(&status)
    );
}

fn signal(pid: u32, sig: &str) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

fn wait_for(cond: impl Fn() -> bool) {
    let began = Instant::now();
    while !cond() {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "timed out waiting"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when no process has `dir` as its working directory (the agent and its children run there).
fn no_process_mentions(dir: &Path) -> bool {
    let began = Instant::now();
    loop {
        let alive = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .chars()
                    .all(|c| c.is_ascii_digit())
            })
            .any(|e| {
                std::fs::read_link(e.path().join("cwd"))
                    .map(|c| c.starts_with(dir))
                    .unwrap_or(false)
            });
        if !alive {
            return true;
        }
        if began.elapsed() > Duration::from_secs(3) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn agents_lists_installed_clis_with_versions_and_keys_without_showing_them() {
    let ws = Workspace::new(RALPH, "x");
    let bin = ws.path.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("claude");
    std::fs::write(&fake, "#!/bin/sh\necho '2.1.197 (Claude Code)'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = ws.path.join("claude_key");
    std::fs::write(&secret, "sk-ant-from-a-secret-file\n").unwrap();
    let out = run(ws
        .ralph()
        .args(["agents", "--json"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("CLAUDE_API_KEY_FILE", &secret));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("from-a-secret-file"), "{text}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let claude = list.iter().find(|a| a["name"] == "claude").unwrap();
    assert_eq!(claude["version"], "2.1.197 (Claude Code)");
    assert_eq!(claude["key"], "CLAUDE_API_KEY");
    assert_eq!(claude["path"], fake.display().to_string());
    assert_eq!(list[0]["name"], "claude", "listed in auto priority order");
}

#[test]
fn doctor_names_each_problem_with_its_fix() {
    let ws = Workspace::new(RALPH, "x");
    std::fs::remove_file(ws.path.join("PROMPT.md")).unwrap();
    let out = run(ws
        .ralph()
        .args(["doctor", "--json", "--agent", "claude"])
        .env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.status.code(), Some(1));
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| {
        checks
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n}: {checks:?}"))
            .clone()
    };
    assert_eq!(by_name("prompt")["status"], "error");
    assert_eq!(by_name("agent claude")["status"], "error");
    assert_eq!(
        by_name("agent claude")["fix"],
        "npm install -g @anthropic-ai/claude-code"
    );
    assert_eq!(by_name("git")["status"], "warn");
    assert_eq!(by_name("state dir")["status"], "ok");

    std::fs::write(ws.path.join("PROMPT.md"), "x").unwrap();
    let ok = run(ws
        .ralph()
        .args(["doctor", "--agent", "command", "--no-git", "--", "true"]));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

#[test]
fn a_second_sigint_stops_at_once_and_still_leaves_no_agent_process() {
    let ws = Workspace::new(RALPH, "x");
    // An agent that ignores SIGTERM: the graceful stop would wait out the grace period.
    let agent = ws.script("stubborn.sh", "cat > /dev/null\necho run >> runs.txt\ntrap '' TERM\n(trap '' TERM; sleep 300) &\nsleep 300");
    let child = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| runs(&ws) == 1);
    std::thread::sleep(Duration::from_millis(200));
    signal(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "the second Ctrl-C does not wait for the grace period"
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("again: stopping now"),
        "{}",
        stderr(&out)
    );
    assert!(
        no_process_mentions(&ws.path),
        "the hard stop kills the agent's group too"
    );
}

#[test]
fn a_second_sigint_also_kills_what_the_agent_started_with_setsid() {
    let ws = Workspace::new(RALPH, "x");
    // The agent ignores SIGTERM and is still running when the second Ctrl-C comes, so its `setsid`
    // daemon is in no group ralph supervises and not yet ralph's child (ralph adopts orphans only).
    let agent = ws.script(
        "daemonising.sh",
        "cat > /dev/null\ntrap '' TERM\nsetsid sh -c 'echo $$ > daemon.pid; trap \"\" TERM; exec sleep 300' </dev/null >/dev/null 2>&1 &\nsleep 300",
    );
    let child = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let daemon = pid_in(&ws, "daemon.pid");
    signal(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // SIGKILL is sent before ralph exits; the kernel takes a moment to end the process.
    let began = Instant::now();
    while !exited(daemon) && began.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let gone = exited(daemon);
    if !gone {
        signal(daemon as u32, "KILL");
    }
    assert!(
        gone,
        "the daemon is killed before ralph exits, not left for the next run"
    );
    assert!(
        std::fs::read_to_string(ws.path.join(".agent/agent.pid"))
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "no group is left to kill"
    );
}

#[test]
fn the_same_signal_twice_at_once_is_one_graceful_stop_as_timeout_sends_it() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\nsleep 300",
    );
    let child = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| runs(&ws) == 1);
    // What coreutils `timeout` does: the signal to ralph, then to its process group (ralph again).
    Command::new("sh")
        .args(["-c", "kill -TERM $1; kill -TERM $1", "sh"])
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("again: stopping now"), "{err}");
    assert!(err.contains("ralph: interrupted by SIGTERM"), "{err}");
    assert_eq!(ws.state()["stop_reason"]["signal"], "SIGTERM");
    assert!(no_process_mentions(&ws.path));
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over_with_a_warning() {
    let ws = Workspace::new(RALPH, "x");
    std::fs::create_dir_all(ws.path.join(".agent")).unwrap();
    std::fs::write(ws.path.join(".agent/lock"), "999999\n").unwrap();
    let agent = counter(&ws, 1);
    let out = run(ws.ralph().args(["--agent", "command", "--"]).arg(&agent));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("999999"), "{}", stderr(&out));
}

#[test]
fn an_emptied_prompt_file_stops_the_run_with_a_clear_error() {
    let ws = Workspace::new(RALPH, "Do it.");
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\n: > PROMPT.md\necho working",
    );
    let out = run(ws.ralph().args(["--agent", "command", "--"]).arg(&agent));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the prompt is empty"),
        "{}",
        stderr(&out)
    );
    assert_eq!(runs(&ws), 1);
}

#[test]
fn keys_never_reach_the_terminal_or_the_state_dir() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "leaky.sh",
        "cat > /dev/null\necho \"my key is $OPENAI_API_KEY\"\necho 'LOOP_COMPLETE'",
    );
    let key = "sk-proj-0123456789abcdefghijklmnop";
    let out = run(ws
        .ralph()
        .args(["--agent", "command", "--verbose", "--"])
        .arg(&agent)
        .env("OPENAI_API_KEY", key));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("my key is ****"), "{}", stderr(&out));
    let mut leaked = Vec::new();
    for entry in walk(&ws.path.join(".agent")) {
        if std::fs::read_to_string(&entry)
            .unwrap_or_default()
            .contains(key)
        {
            leaked.push(entry);
        }
    }
    assert!(leaked.is_empty(), "the key was written to {leaked:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_key_quoted_in_a_failure_never_reaches_state_json_or_status() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "fails.sh",
        "cat > /dev/null\necho \"$OPENAI_API_KEY\" >&2\nexit 1",
    );
    let key = "hunter2-not-a-pattern-secret";
    let out = run(ws
        .ralph()
        .args(["--agent", "command", "--max-retries", "0", "--"])
        .arg(&agent)
        .env("OPENAI_API_KEY", key));
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains(key), "{}", stderr(&out));
    let state = std::fs::read_to_string(ws.path.join(".agent/state.json")).unwrap();
    assert!(!state.contains(key) && state.contains("****"), "{state}");
    let again = run(ws.ralph().args(["--agent", "command", "--"]).arg(&agent));
    assert!(
        !stderr(&again).contains(key)
            && !String::from_utf8_lossy(&run(ws.ralph().arg("status")).stdout).contains(key)
    );
}

#[test]
fn sighup_stops_gracefully_with_129_and_leaves_no_agent_process() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\nsleep 300",
    );
    // SIGHUP at its default disposition, even when the test itself runs under `nohup`.
    let mut env = Command::new("env");
    env.arg("--default-signal=HUP");
    let child = wrapped(&ws, env)
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| runs(&ws) == 1);
    signal(child.id(), "HUP");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(129), "{}", stderr(&out));
    assert!(no_process_mentions(&ws.path));
}

/// `wrapper` (a program that ends by exec'ing its arguments) running ralph with the workspace's
/// environment; more arguments for ralph may follow.
fn wrapped(ws: &Workspace, mut wrapper: Command) -> Command {
    let ralph = ws.ralph();
    wrapper
        .arg(ralph.get_program())
        .current_dir(&ws.path)
        .stdin(Stdio::null());
    for (k, v) in ralph.get_envs() {
        match v {
            Some(v) => wrapper.env(k, v),
            None => wrapper.env_remove(k),
        };
    }
    wrapper
}

#[test]
fn under_nohup_a_hangup_is_ignored_and_the_run_goes_on() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\nwhile [ ! -e gate ]; do sleep 0.05; done\necho LOOP_COMPLETE",
    );
    // What `nohup` does: start ralph with SIGHUP ignored.
    let mut sh = Command::new("sh");
    sh.arg("-c").arg("trap '' HUP; exec \"$@\"").arg("sh");
    let child = wrapped(&ws, sh)
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| runs(&ws) == 1);
    signal(child.id(), "HUP");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(ws.path.join("gate"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn processes_that_leave_the_agents_group_are_stopped_when_the_iteration_ends() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script("daemon.sh", "cat > /dev/null\nsetsid sleep 300 > /dev/null 2>&1 < /dev/null &\nsleep 0.2\necho LOOP_COMPLETE");
    let out = run(ws.ralph().args(["--agent", "command", "--"]).arg(&agent));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        no_process_mentions(&ws.path),
        "the setsid child must not outlive the run"
    );
}

/// Process `pid` has exited (gone, or a zombie waiting for its reaper).
fn exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            matches!(
                s[s.rfind(')').unwrap() + 2..].chars().next(),
                Some('Z' | 'X')
            )
        })
        .unwrap_or(true)
}

fn pid_in(ws: &Workspace, name: &str) -> i32 {
    wait_for(|| {
        std::fs::read_to_string(ws.path.join(name)).is_ok_and(|s| s.trim().parse::<i32>().is_ok())
    });
    std::fs::read_to_string(ws.path.join(name))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn kill_9_of_ralph_kills_the_agent_at_once_and_the_next_run_kills_what_it_left() {
    let ws = Workspace::new(RALPH, "x");
    // First run: the agent leaves a child in its group and a daemon outside it, then waits.
    // Once `again` exists: a plain agent that completes.
    let agent = ws.script(
        "agent.sh",
        "cat > /dev/null
if [ -e again ]; then echo LOOP_COMPLETE; exit 0; fi
echo $$ > leader.pid
sleep 300 &
echo $! > child.pid
setsid sh -c 'echo $$ > daemon.pid; exec sleep 300' < /dev/null > /dev/null 2>&1 &
wait",
    );
    let mut ralph = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (leader, child, daemon) = (
        pid_in(&ws, "leader.pid"),
        pid_in(&ws, "child.pid"),
        pid_in(&ws, "daemon.pid"),
    );
    ralph.kill().unwrap(); // SIGKILL
    ralph.wait().unwrap();
    let began = Instant::now();
    while !exited(leader) {
        assert!(
            began.elapsed() < Duration::from_secs(3),
            "the agent dies with ralph (parent-death signal)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !exited(child) && !exited(daemon),
        "what the agent started is left for the next run"
    );
    std::fs::write(ws.path.join("again"), "").unwrap();
    let out = run(ws.ralph().args(["--agent", "command", "--"]).arg(&agent));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("left running by an earlier ralph that was killed"),
        "{}",
        stderr(&out)
    );
    assert!(
        no_process_mentions(&ws.path),
        "the next run kills the group and the daemon"
    );
}

#[test]
fn absurd_durations_and_a_state_dir_that_is_the_workspace_are_rejected() {
    let ws = Workspace::new(RALPH, "x");
    for args in [
        vec!["--max-runtime", "1e300"],
        vec!["--idle-timeout", "1e19"],
        vec!["--retry-delay", "1e20"],
        vec!["--iteration-timeout", "1e300", "--dry-run"],
        vec!["--state-dir", "."],
    ] {
        let out = run(ws
            .ralph()
            .args(&args)
            .args(["--agent", "command", "--", "true"]));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("ralph: error:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    std::fs::write(
        ws.path.join("ralph.yml"),
        "adapters:\n  command:\n    timeout: -5\n",
    )
    .unwrap();
    let out = run(ws.ralph().args(["--agent", "command", "--", "true"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("adapters.command.timeout"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        ws.path.join("ralph.yml"),
        "adapters:\n  comand:\n    model: x\n",
    )
    .unwrap();
    let out = run(ws.ralph().args(["--agent", "command", "--", "true"]));
    assert!(
        stderr(&out).contains("did you mean `command`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_runs_with_different_state_dirs_cannot_share_a_workspace() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script("slow.sh", "cat > /dev/null\necho run >> runs.txt\nsleep 30");
    let mut first = ws
        .ralph()
        .args(["--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| runs(&ws) == 1);
    let second = run(ws
        .ralph()
        .args(["--agent", "command", "--state-dir", ".agent2", "--"])
        .arg(&agent));
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another ralph run is active"),
        "{}",
        stderr(&second)
    );
    signal(first.id(), "TERM");
    first.wait().unwrap();
}

/// A fake Claude Code that reports an API retry for HTTP `status` and then keeps retrying (sleeps).
fn retrying_claude(ws: &Workspace, status: u16) -> PathBuf {
    ws.script(
        "fake-claude",
        &format!(
            "cat > /dev/null\necho run >> claude-runs.txt\necho '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"m\",\"tools\":[]}}'\necho '{{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,\"max_retries\":10,\"retry_delay_ms\":2000,\"error_status\":{status},\"error\":\"x\"}}'\nsleep 300"
        ),
    )
}

#[test]
fn claude_retrying_a_rejected_key_is_stopped_at_once_as_an_auth_failure() {
    let ws = Workspace::new(RALPH, "x");
    let fake = retrying_claude(&ws, 401);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!("adapters:\n  claude:\n    command: {}\n", fake.display()),
    )
    .unwrap();
    let began = Instant::now();
    let out = run(ws.ralph().args(["--agent", "claude", "--max-retries", "0"]));
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "not minutes of retries"
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert_eq!(ws.records()[0]["outcome"]["kind"], "auth");
    assert!(no_process_mentions(&ws.path));
}

#[test]
fn claude_rate_limited_falls_back_to_the_next_agent() {
    let ws = Workspace::new(RALPH, "x");
    let fake = retrying_claude(&ws, 429);
    let done = counter(&ws, 1);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!(
            "adapters:\n  claude:\n    command: {}\n  command:\n    command: {}\n",
            fake.display(),
            done.display()
        ),
    )
    .unwrap();
    let out = run(ws.ralph().args(["--agent", "claude,command"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(runs(&ws), 1, "the command agent completed the task");
    assert!(no_process_mentions(&ws.path));
}

#[test]
fn doctor_and_run_agree_on_adapter_settings_and_key_files() {
    let ws = Workspace::new(RALPH, "x");
    let bin = ws.path.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("claude"),
        "#!/bin/sh\necho '2.1.197 (Claude Code)'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("claude"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());

    // A configured command that does not exist: both refuse.
    std::fs::write(
        ws.path.join("ralph.yml"),
        "adapters:\n  claude:\n    command: /nope/claude\n",
    )
    .unwrap();
    let doctor = run(ws
        .ralph()
        .args(["doctor", "--agent", "claude"])
        .env("PATH", &path));
    assert_eq!(
        doctor.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("/nope/claude"));
    assert_eq!(
        run(ws.ralph().args(["--agent", "claude"]).env("PATH", &path))
            .status
            .code(),
        Some(2)
    );

    // A disabled agent is not picked by `auto`.
    std::fs::write(
        ws.path.join("ralph.yml"),
        "adapters:\n  claude:\n    enabled: false\n",
    )
    .unwrap();
    let plan = run(ws.ralph().args(["--dry-run"]).env("PATH", &path));
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("disabled"),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
    assert_eq!(
        run(ws.ralph().args(["doctor"]).env("PATH", &path))
            .status
            .code(),
        Some(1)
    );

    // A key file that cannot be read is an error before anything runs.
    std::fs::remove_file(ws.path.join("ralph.yml")).unwrap();
    let out = run(ws
        .ralph()
        .args(["--agent", "claude"])
        .env("PATH", &path)
        .env("ANTHROPIC_API_KEY_FILE", "/nonexistent"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ANTHROPIC_API_KEY_FILE=/nonexistent"),
        "{}",
        stderr(&out)
    );
    let doctor = run(ws
        .ralph()
        .args(["doctor", "--agent", "claude"])
        .env("PATH", &path)
        .env("ANTHROPIC_API_KEY_FILE", "/nonexistent"));
    assert_eq!(doctor.status.code(), Some(1));

    // An empty key file is no key: a secret that has to exist for Compose or Kubernetes, left empty.
    let empty = ws.path.join("empty_key");
    std::fs::write(&empty, "").unwrap();
    let plan = run(ws
        .ralph()
        .args(["--dry-run", "--agent", "claude"])
        .env("PATH", &path)
        .env("GEMINI_API_KEY_FILE", &empty));
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
}

/// An agent that hits a usage limit without a reset time on its first `limited` runs, then does a step.
fn limited_agent(ws: &Workspace, limited: u32) -> PathBuf {
    ws.script(
        "limited.sh",
        &format!(
            "cat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\nif [ \"$n\" -le {limited} ]; then echo 'Claude AI usage limit reached' >&2; exit 1; fi\necho \"step $n\""
        ),
    )
}

#[test]
fn a_usage_limit_wait_longer_than_the_runtime_left_stops_at_once_with_exit_3() {
    let ws = Workspace::new(RALPH, "x");
    let agent = limited_agent(&ws, 100);
    let began = Instant::now();
    let out = run(ws
        .ralph()
        .args([
            "--agent",
            "command",
            "--no-git",
            "--max-runtime",
            "2",
            "--rate-limit-wait",
            "60",
            "--",
        ])
        .arg(&agent));
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "ralph slept the 60 s wait with 2 s of runtime"
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("rate limited"), "{err}");
    assert_eq!(runs(&ws), 1);
    let state = ws.state();
    assert_eq!(state["stop_reason"]["reason"], "rate_limited");
    assert_eq!(
        state["iteration"], 0,
        "a rate-limited attempt is no iteration"
    );
    assert_eq!(state["attempts"], 1);
}

#[test]
fn rate_limited_attempts_do_not_use_up_iterations() {
    let ws = Workspace::new(RALPH, "x");
    let agent = limited_agent(&ws, 2);
    let out = run(ws
        .ralph()
        .args([
            "--agent",
            "command",
            "--no-git",
            "-i",
            "1",
            "--rate-limit-wait",
            "0",
            "--",
        ])
        .arg(&agent));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(runs(&ws), 3, "two rate-limited attempts, then iteration 1");
    let records: Vec<(u64, u64, String)> = ws
        .records()
        .iter()
        .map(|r| {
            (
                r["iteration"].as_u64().unwrap(),
                r["attempt"].as_u64().unwrap(),
                r["outcome"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|r| r.0 == 1), "{records:?}");
    assert_eq!(
        records.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(ws.state()["iteration"], 1);
}

#[test]
fn stall_iterations_stops_a_run_whose_iterations_change_nothing() {
    let ws = Workspace::new(RALPH, "x");
    // Run 1 writes a file; later runs only look around (their counter lives in the state dir).
    let agent = ws.script(
        "idle.sh",
        "cat > /dev/null\necho run >> .agent/runs.txt\nn=$(wc -l < .agent/runs.txt)\nif [ \"$n\" -eq 1 ]; then echo draft > notes.txt; fi\necho \"looked at the code ($n)\"",
    );
    let out = run(ws
        .ralph()
        .args([
            "--agent",
            "command",
            "--git-init",
            "--checkpoint-interval",
            "1",
            "--stall-iterations",
            "2",
            "--",
        ])
        .arg(&agent));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let state = ws.state();
    assert_eq!(state["stop_reason"]["reason"], "custom", "{state}");
    assert_eq!(state["stop_reason"]["policy"], "stall_iterations");
    assert!(err.contains("no progress"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ws.path.join(".agent/runs.txt"))
            .unwrap()
            .lines()
            .count(),
        3,
        "iteration 1 changed the workspace (its checkpoint commit is not progress of iteration 2)"
    );
}

#[test]
fn loop_detection_stops_after_near_identical_answers() {
    let ws = Workspace::new(RALPH, "x");
    let agent = ws.script(
        "same.sh",
        "cat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\necho \"All $n tests pass; nothing left to do.\"",
    );
    let out = run(ws
        .ralph()
        .args([
            "--agent",
            "command",
            "--no-git",
            "--loop-detection",
            "3",
            "--",
        ])
        .arg(&agent));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(ws.state()["stop_reason"]["policy"], "loop_detection");
    assert_eq!(runs(&ws), 3);
}

#[test]
fn loop_detection_of_1_is_refused_with_the_accepted_range() {
    let ws = Workspace::new(RALPH, "x");
    let out = run(ws
        .ralph()
        .args(["--agent", "command", "--loop-detection", "1", "--", "true"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--loop-detection") && err.contains("from 2"),
        "{err}"
    );
}
