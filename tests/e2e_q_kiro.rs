//! End-to-end tests of `ralph run --agent q` and `--agent kiro` with **fake** `q` and `kiro-cli`
//! executables: neither the Amazon Q Developer CLI nor the Kiro CLI is distributed on npm, and neither can
//! be installed or logged in here. The fakes are shell scripts that check the documented argv (`chat
//! --no-interactive --trust-all-tools PROMPT`), do the iteration's file edits themselves and print the text
//! the real CLIs are documented to print (answer on stdout behind a `> ` marker and colour codes; tool
//! calls, tool output and errors on stderr). What this proves is ralph's side: argv, environment, plain-text
//! parsing and classification; not that the real CLIs still print this.
//!
//! Also here, because they need no agent CLI at all: `ralph run --dry-run` for codex, opencode, q and kiro.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ralph_testkit::{
    HermeticEnv, RalphRun, RunOutput, TASK_PROMPT, TestDir, assert_no_survivors, assert_not_leaked,
    assert_task_files, run_with_timeout, state,
};

/// Wall-clock limit for one `ralph` run.
const RALPH_TIMEOUT: Duration = Duration::from_secs(30);

/// The fake CLI. `FAKE_MODE` picks the behaviour; `$HOME/fake-calls` counts the runs (one line each, the
/// argv before the prompt), which decides what iteration 1, 2 and 3 do.
const FAKE_CLI: &str = r#"#!/bin/sh
# Fake Amazon Q Developer CLI / Kiro CLI for ralph's tests: prints their documented plain-text output.
name=$(basename "$0")
if [ "$name" = "kiro-cli" ]; then login="kiro-cli login"; who="Kiro"; else login="q login"; who="Amazon Q"; fi
if [ "$1" != "chat" ] || [ "$2" != "--no-interactive" ] || [ "$3" != "--trust-all-tools" ]; then
  echo "error: unexpected arguments: $*" >&2
  exit 2
fi
for last in "$@"; do :; done
n=$#
options=$(for a in "$@"; do n=$((n - 1)); [ "$n" -gt 0 ] && printf '%s ' "$a"; done)
printf '%s\n' "$options" >> "$HOME/fake-calls"
printf '%s' "$last" > "$HOME/fake-last-prompt"
run=$(wc -l < "$HOME/fake-calls")
case "${FAKE_MODE:-task}" in
  not_logged_in)
    printf 'error: You are not logged in, please log in with \033[1m%s\033[0m\n' "$login" >&2
    exit 1 ;;
  done)
    printf '> Done.\nLOOP_COMPLETE\n'
    exit 0 ;;
  monthly_limit)
    printf '\033[33mMonthly request limit reached\033[39m\n\nThe limits reset on 12/01.\n\n' >&2
    exit 0 ;;
esac
printf '\033[38;5;8m%s\033[0m\n\n' "Welcome to $who" >&2
case "$run" in
  1)
    printf '\360\237\233\240\357\270\217  Using tool: fs_write (trusted)\n \342\227\217 Path: hello.txt\n' >&2
    printf 'hello from iteration 1\n' > hello.txt
    printf '\033[38;5;10m> \033[0mCreated hello.txt.\n' ;;
  2)
    printf '\360\237\233\240\357\270\217  Using tool: execute_bash (trusted)\n' >&2
    echo scripted >> hello.txt && echo built > out.txt
    echo "Monthly request limit reached in the build log, says the tool" >&2
    printf '> Recorded the build.\n' ;;
  *)
    printf '> Everything is done and verified.\nLOOP_COMPLETE\n' ;;
esac
"#;

/// Writes the fake as `q` and `kiro-cli` into `home/fake-bin` and returns that directory.
fn install_fakes(home: &Path) -> PathBuf {
    let bin = home.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["q", "kiro-cli"] {
        let path = bin.join(name);
        std::fs::write(&path, FAKE_CLI).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Runs `ralph run --agent <agent>` with the fakes first on `PATH` and `FAKE_MODE=mode`.
fn ralph(dir: &TestDir, agent: &str, mode: &str, max_retries: u32) -> RunOutput {
    let bin = install_fakes(dir.home());
    let key_file = dir.home().join("q-key");
    std::fs::write(&key_file, "q-secret-key-from-file\n").unwrap();
    let env = HermeticEnv::base(dir.home())
        .with_path_first(&bin)
        .set("FAKE_MODE", mode)
        .set("Q_API_KEY_FILE", &key_file);
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), agent, dir, env)
        .max_retries(max_retries)
        .iteration_timeout(20)
        .without_idle_timeout()
        .max_runtime(60)
        .timeout(RALPH_TIMEOUT)
        .run()
}

fn calls(dir: &TestDir) -> Vec<String> {
    std::fs::read_to_string(dir.home().join("fake-calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn three_iterations_complete(agent: &str) {
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);

    let out = ralph(&dir, agent, "task", 0);

    assert_eq!(out.code(), 0, "{}", out.dump());
    assert_eq!(calls(&dir).len(), 3, "{:#?}", calls(&dir));
    assert_task_files(&dir);
    let prompt = std::fs::read_to_string(dir.home().join("fake-last-prompt")).unwrap();
    assert!(
        prompt.contains("Create hello.txt, then record the build in it, then finish."),
        "the prompt is the last argument: {prompt:?}"
    );
    let state = state(&dir);
    assert_eq!(state["stop_reason"]["reason"], "completed", "{state:#}");
    assert_eq!(state["iteration"], 3, "{state:#}");
    assert_eq!(
        state["tokens_total"], 0,
        "q and kiro report no tokens: {state:#}"
    );
    assert_not_leaked("q-secret-key-from-file", &dir, &out);
    assert_no_survivors(&dir);
}

#[test]
fn q_completes_a_three_iteration_task() {
    three_iterations_complete("q");
}

#[test]
fn kiro_completes_a_three_iteration_task() {
    three_iterations_complete("kiro");
}

#[test]
fn not_logged_in_stops_after_max_retries_with_the_cause() {
    for agent in ["q", "kiro"] {
        let dir = TestDir::new();
        dir.write("PROMPT.md", "Do something.\n");

        let out = ralph(&dir, agent, "not_logged_in", 1);

        assert_eq!(out.code(), 1, "{agent}: {}", out.dump());
        assert_eq!(calls(&dir).len(), 2, "{agent}: one run and one retry");
        assert!(
            out.stderr.contains("not logged in"),
            "{agent}: stderr does not name the cause:\n{}",
            out.stderr
        );
        assert_eq!(state(&dir)["stop_reason"]["reason"], "too_many_failures");
    }
}

#[test]
fn kiro_monthly_limit_with_exit_zero_stops_the_run_as_rate_limited() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");

    let out = ralph(&dir, "kiro", "monthly_limit", 3);

    assert_eq!(out.code(), 3, "a limit, not a failure: {}", out.dump());
    assert_eq!(calls(&dir).len(), 1, "the reset is weeks away: no retry");
    let state = state(&dir);
    assert_eq!(state["stop_reason"]["reason"], "rate_limited", "{state:#}");
    assert!(
        out.stderr.to_lowercase().contains("monthly request limit"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_prompt_too_long_for_an_argument_goes_through_a_file() {
    let dir = TestDir::new();
    let prompt = "Read every line of this long task.\n".repeat(6000);
    assert!(prompt.len() > 128 * 1024);
    dir.write("PROMPT.md", &prompt);

    let out = ralph(&dir, "q", "done", 0);

    assert_eq!(out.code(), 0, "{}", out.dump());
    let argument = std::fs::read_to_string(dir.home().join("fake-last-prompt")).unwrap();
    let file = dir.path(".agent/agent-prompt.md");
    assert!(
        argument.contains(&file.display().to_string()),
        "the argument names the prompt file: {argument:?}"
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains(&prompt));
}

/// `ralph run --dry-run --agent <agent> -- <args>` with no agent CLI installed and no key.
fn dry_run(agent: &str, args: &[&str]) -> RunOutput {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ralph"));
    HermeticEnv::base(dir.home())
        .set("OPENAI_API_KEY", "sk-proj-dryrunsecret1234567890")
        .apply(&mut cmd)
        .current_dir(dir.workspace());
    cmd.args(["run", "--dry-run", "--agent", agent, "--"])
        .args(args);
    run_with_timeout(&mut cmd, None, RALPH_TIMEOUT, dir.root())
}

#[test]
fn dry_run_prints_each_argv_masked_without_a_cli_or_key() {
    let secret = "sk-proj-argsecret1234567890abcdef";
    let cases = [
        (
            "codex",
            vec!["-c", "model_providers.x.api_key=SECRET"],
            "codex exec --json --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check -c \
             'model_providers.x.api_key=****' -",
        ),
        (
            "opencode",
            vec!["--model", "openai/gpt-5"],
            "opencode run --format json --auto --model openai/gpt-5",
        ),
        (
            "q",
            vec!["--agent", "SECRET"],
            "q chat --no-interactive --trust-all-tools --agent 'sk-proj-****' <prompt>",
        ),
        (
            "kiro",
            vec![],
            "kiro-cli chat --no-interactive --trust-all-tools <prompt>",
        ),
    ];
    for (agent, args, argv) in cases {
        let args: Vec<String> = args.iter().map(|a| a.replace("SECRET", secret)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = dry_run(agent, &args);
        assert_eq!(out.code(), 0, "{agent}: {}", out.dump());
        assert!(
            out.stdout.contains(argv),
            "{agent}: no `{argv}` in\n{}",
            out.stdout
        );
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!all.contains(secret), "{agent}: secret printed:\n{all}");
        assert!(
            !all.contains("dryrunsecret"),
            "{agent}: key printed:\n{all}"
        );
    }
}
