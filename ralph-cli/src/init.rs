//! `ralph init`: a `PROMPT.md` template, a `ralph.yml` with every key at its default (made from the
//! settings' definitions by [`crate::settings::docs::config_template`]), and the state directory.
//! Existing files are never overwritten.

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

/// Writes the templates into `dir` (skipping files that exist) and creates the state directory.
pub fn init(dir: &Path) -> u8 {
    let mut created = Vec::new();
    let config = crate::settings::docs::config_template();
    for (name, content) in [
        ("PROMPT.md", PROMPT_TEMPLATE),
        ("ralph.yml", config.as_str()),
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
    use crate::settings::docs::config_template;

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
                config_template().contains(&format!("{}:", s.key)),
                "{} missing",
                s.key
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ralph.yml"), config_template()).unwrap();
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
            config_template()
        );
        assert!(dir.path().join(".agent/.gitignore").exists());
    }
}
