//! `ralph init`: a `PROMPT.md` template, a `ralph.yml` with every key at its default, and the state
//! directory. Existing files are never overwritten.

use crate::exit_codes;
use std::path::Path;

/// The `PROMPT.md` template. It explains the completion promise in a sentence, never on a line of its
/// own, and its `TASK_COMPLETE` checkbox is unchecked: a fresh project is never "complete" before
/// iteration 1.
pub const PROMPT_TEMPLATE: &str = "\
# Task

Describe what you want done: the goal, the constraints, and how to check that it is done (for example
\"all tests pass with `cargo test`\"). ralph sends this file, unchanged, to a fresh agent in every
iteration, after a short preamble that tells the agent to do one focused piece of work, keep notes in
.agent/scratchpad.md, and print the completion promise (LOOP_COMPLETE unless you change
`completion_promise`) on a line of its own only when the whole task is done and verified.

## Done when

- [ ] the first thing that must be true
- [ ] the second thing that must be true

To stop the loop yourself at the next iteration, tick this box:

- [ ] TASK_COMPLETE
";

/// A line of [`PROMPT_TEMPLATE`] that a real task replaces; `ralph run` warns while it is still there.
pub const TEMPLATE_PLACEHOLDER: &str = "- [ ] the first thing that must be true";

/// The `ralph.yml` template: every key at its default. Flags and `RALPH_*` variables override it.
pub const CONFIG_TEMPLATE: &str = "\
# ralph.yml: every setting at its default. Precedence: flag > RALPH_* environment variable > this file.
agent: auto                    # claude, command, auto (first installed), or a comma list (fallback chain)
prompt_file: PROMPT.md         # re-read every iteration
# prompt_text: \"...\"           # inline prompt instead of prompt_file
max_iterations: 100            # agent runs per run; 0 = no limit
max_runtime: 14400             # seconds (or 30m, 4h); 0 = no limit
max_tokens: 1000000            # input + cache writes + output tokens; 0 = no limit
max_cost: 50.0                 # USD; 0 = no limit
checkpoint_interval: 5         # git checkpoint every N iterations; 0 = off
no_git: false
checkpoint_ref: false          # true: commit to refs/ralph/checkpoints/<run>, leave the branch alone
git_init: false                # true: create a git repository when the workspace has none
completion_promise: LOOP_COMPLETE
min_iterations: 0
verify: \"\"                     # shell command that must exit 0 for a completion claim to count; \"\" = none
retry_delay: 2                 # seconds, base of the exponential backoff
max_retries: 5                 # consecutive failed iterations tolerated
iteration_timeout: 1800        # seconds for one agent run; 0 = none
idle_timeout: 600              # seconds without agent output = hung; 0 = none
stall_iterations: 0            # stop after N successful iterations in a row that change nothing; 0 = off
loop_detection: 0              # stop after N near-identical final answers in a row; 0 = off
rate_limit_wait: 60            # seconds to wait on a usage limit with no reset time (doubles, max 30 min)
verbose: false
dry_run: false
fresh: false
no_preamble: false
enable_metrics: false
metrics_port: 8080
metrics_addr: 127.0.0.1
notify: []                     # URLs POSTed a JSON summary when a run ends or waits on a usage limit
log_level: info
log_format: text               # text or json
state_dir: .agent
workspace: .
# adapters:
#   claude:
#     enabled: true
#     model: claude-sonnet-4-5
#     args: [\"--max-turns\", \"40\"]
#     env: {}
#     timeout: 1800
#   command:
#     command: [\"./my-agent\", \"--flag\"]
";

/// Writes the templates into `dir` (skipping files that exist) and creates the state directory.
pub fn init(dir: &Path) -> u8 {
    let mut created = Vec::new();
    for (name, content) in [
        ("PROMPT.md", PROMPT_TEMPLATE),
        ("ralph.yml", CONFIG_TEMPLATE),
    ] {
        let path = dir.join(name);
        if path.exists() {
            crate::say!("kept {} (exists)", path.display());
            continue;
        }
        if let Err(e) = std::fs::write(&path, content) {
            eprintln!("ralph: error: cannot write {}: {e}", path.display());
            return exit_codes::USAGE;
        }
        created.push(name);
        crate::say!("wrote {}", path.display());
    }
    match ralph_core::state::FileStateStore::open(dir.join(".agent")) {
        Ok(_) => crate::say!("state directory {}", dir.join(".agent").display()),
        Err(e) => {
            eprintln!("ralph: error: {e}");
            return exit_codes::USAGE;
        }
    }
    if created.contains(&"PROMPT.md") {
        crate::say!(
            "next: describe the task in PROMPT.md, then `ralph run --dry-run` and `ralph run`"
        );
    }
    exit_codes::COMPLETED
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SETTINGS;

    #[test]
    fn the_prompt_template_never_completes_a_run_by_itself() {
        assert!(!ralph_core::completion::prompt_marks_complete(
            PROMPT_TEMPLATE
        ));
        assert!(ralph_core::completion::find_promise(PROMPT_TEMPLATE, "LOOP_COMPLETE").is_none());
    }

    #[test]
    fn the_config_template_lists_every_setting_and_parses_to_the_defaults() {
        for s in SETTINGS {
            assert!(
                CONFIG_TEMPLATE.contains(&format!("{}:", s.key)),
                "{} missing",
                s.key
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ralph.yml"), CONFIG_TEMPLATE).unwrap();
        let args = crate::cli::RunArgs {
            config: Some(dir.path().join("ralph.yml")),
            ..Default::default()
        };
        let from_file = crate::settings::resolve(&args, &|_| None, dir.path()).unwrap();
        let defaults =
            crate::settings::resolve(&Default::default(), &|_| None, dir.path()).unwrap();
        assert_eq!(from_file.max_iterations, defaults.max_iterations);
        assert_eq!(from_file.max_cost, defaults.max_cost);
        assert_eq!(from_file.retry_delay, defaults.retry_delay);
        assert_eq!(from_file.idle_timeout, defaults.idle_timeout);
        assert_eq!(from_file.state_dir, defaults.state_dir);
        assert_eq!(from_file.completion_promise, defaults.completion_promise);
    }

    #[test]
    fn init_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("PROMPT.md"), "mine").unwrap();
        assert_eq!(init(dir.path()), 0);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("PROMPT.md")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ralph.yml")).unwrap(),
            CONFIG_TEMPLATE
        );
        assert!(dir.path().join(".agent/.gitignore").exists());
    }
}
