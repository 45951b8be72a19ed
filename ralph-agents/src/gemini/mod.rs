//! [`GeminiAgent`]: Gemini CLI (`@google/gemini-cli`, tested with 0.61.0) in headless `stream-json` mode.
//!
//! Each run is `gemini -p PROMPT --output-format stream-json --yolo [-m M] [extra args...]` in the
//! workspace, stdin closed. The prompt is an argument. The OS limits one argument to about 128 KiB, so a
//! prompt over [`MAX_PROMPT_ARG`] bytes is cut at spaces into several positional arguments
//! (`gemini --output-format stream-json --yolo ... PART1 PART2 ...`): Gemini CLI 0.61.0 declares
//! `$0 [query..]`, joins the parts with one space (which gives the prompt back byte for byte) and, with
//! stdout not a terminal, runs it headless like `-p`. yargs would read a part that starts with `-` as
//! flags (and after `--` Gemini CLI ignores positionals), and parts like `1e3` or `0x10` as numbers:
//! cuts are chosen so that no part is either.
//!
//! Stdin is the last resort, for prompts over [`GEMINI_ARGV_PROMPT_MAX`] (the kernel limits all
//! arguments and the environment together to 2 MiB by default), prompts that start with `-` (ralph's
//! preamble comes first, so only with `--no-preamble`) or without spaces to cut at: `-p ""`
//! and the prompt on stdin, which Gemini CLI joins as `STDIN\n\nTEXT`. It is unreliable under load:
//! Gemini CLI's `readStdin` gives up when no data has been *handled* within 500 ms of its call, and a
//! busy event loop (loading its large bundle) misses that window although the data waits in the pipe;
//! the run then gets an empty prompt. ralph logs a warning when it has to use stdin. Gemini CLI reads at
//! most [`GEMINI_STDIN_MAX`] bytes of stdin and drops the rest.
//!
//! Environment: `GEMINI_API_KEY` (also from `GEMINI_API_KEY_FILE`, the Docker secrets convention) and
//! `GEMINI_CLI_TRUST_WORKSPACE=true`, without which Gemini CLI silently downgrades `--yolo` to asking for
//! approval in a folder it does not trust. With only `GEMINI_API_KEY` set, Gemini CLI selects API-key
//! authentication itself; with `GOOGLE_GEMINI_BASE_URL` it needs
//! `{"security":{"auth":{"selectedType":"gemini-api-key"}}}` in `~/.gemini/settings.json` (else exit 41).
//!
//! Exit codes of Gemini CLI 0.61.0: 0 success; 41 no or invalid authentication; 42 bad input; 52 bad
//! configuration; 53 turn limit (`model.maxSessionTurns`); 55 untrusted workspace; 130 cancelled; after
//! an API error the HTTP status modulo 256 (400 → 144, 429 → 173, 500 → 244); 1 otherwise. Stream
//! events and outcome rules are in the `stream` and `classify` modules.

mod classify;
mod stream;

pub use stream::GeminiStream;

use crate::cli_agent::{CliAgent, Dialect, Invocation, PROMPT_SHOWN};
use crate::cli_options::CliOptions;
use crate::command::MAX_PROMPT_ARG;
use crate::registry::AgentSpec;
use crate::secrets::mask_argv;
use std::collections::BTreeMap;
use std::path::Path;

/// Most bytes of stdin Gemini CLI 0.61.0 reads (`readStdin`: 8 MiB); the rest is dropped.
pub const GEMINI_STDIN_MAX: usize = 8 * 1024 * 1024;
/// Largest prompt passed as arguments, in bytes (1 MiB): the kernel's limit on all arguments and the
/// environment together is 2 MiB by default, and Gemini CLI starts itself again with the same arguments.
pub const GEMINI_ARGV_PROMPT_MAX: usize = 1024 * 1024;

/// Gemini CLI's dialect: `stream-json` on stdout, the prompt after `-p` (or cut into positional
/// arguments, or on stdin), `GEMINI_CLI_TRUST_WORKSPACE=true`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gemini;

/// Gemini CLI run once per iteration. Build it with [`GeminiAgent::new`] and the `with_*` methods.
///
/// ```
/// use ralph_agents::GeminiAgent;
/// let agent = GeminiAgent::new().with_model(Some("gemini-2.5-flash".into()));
/// assert_eq!(
///     agent.argv("Fix the tests.").join(" "),
///     "gemini -p Fix the tests. --output-format stream-json --yolo -m gemini-2.5-flash"
/// );
/// ```
pub type GeminiAgent = CliAgent<Gemini>;

/// How the prompt reaches Gemini CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PromptVia<'a> {
    /// As the value of `-p`.
    Argument,
    /// As positional arguments, which Gemini CLI joins with a space.
    Parts(Vec<&'a str>),
    /// On stdin, with `-p ""`.
    Stdin,
}

fn prompt_via(prompt: &str) -> PromptVia<'_> {
    if prompt.len() <= MAX_PROMPT_ARG {
        PromptVia::Argument
    } else if let Some(parts) = split_at_spaces(prompt, MAX_PROMPT_ARG, GEMINI_ARGV_PROMPT_MAX) {
        PromptVia::Parts(parts)
    } else {
        PromptVia::Stdin
    }
}

/// Cuts `prompt` at single spaces into parts of at most `max_part` bytes that give `prompt` back when
/// joined with `" "`. `None` when `prompt` is over `max_total` bytes or starts with `-`, or no cut avoids
/// a part that is empty, starts with `-` (a flag to yargs) or that yargs would parse as a number.
fn split_at_spaces(prompt: &str, max_part: usize, max_total: usize) -> Option<Vec<&str>> {
    if prompt.len() > max_total || prompt.starts_with('-') {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = prompt;
    while rest.len() > max_part {
        // A space is ASCII, so every index found is a character boundary.
        let window = &rest.as_bytes()[..=max_part];
        let cut = window
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, b)| **b == b' ')
            .map(|(i, _)| i)
            .find(|&i| {
                i > 0 && !yargs_number_like(&rest[..i]) && !rest[i + 1..].starts_with('-')
            })?;
        parts.push(&rest[..cut]);
        rest = &rest[cut + 1..];
    }
    if rest.is_empty() || yargs_number_like(rest) {
        return None;
    }
    parts.push(rest);
    Some(parts)
}

/// True for text that yargs-parser could turn into a number (`42`, `-1.5e3`, `0x1F`): a superset of its
/// `isNumber` test, so such a part is never passed.
fn yargs_number_like(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'x' | b'X' | b'.' | b'+' | b'-'))
}

impl GeminiAgent {
    /// The full argv (program first) of a run with `prompt`: the prompt itself after `-p` when it fits in
    /// [`MAX_PROMPT_ARG`] bytes (as `--prompt=TEXT` when it starts with `-`), else its parts as
    /// positional arguments (see the module docs), else `-p ""` (the prompt then goes to stdin).
    pub fn argv(&self, prompt: &str) -> Vec<String> {
        argv(&self.opts, prompt)
    }
}

/// See [`GeminiAgent::argv`].
fn argv(opts: &CliOptions, prompt: &str) -> Vec<String> {
    match prompt_via(prompt) {
        PromptVia::Argument => argv_with(opts, prompt),
        PromptVia::Parts(parts) => argv_with_parts(opts, &parts),
        PromptVia::Stdin => argv_with(opts, ""),
    }
}

/// The headless flags, then the prompt's parts as positional arguments.
fn argv_with_parts(opts: &CliOptions, parts: &[&str]) -> Vec<String> {
    let mut argv = opts.head_and_args(&crate::registry::GEMINI);
    argv.extend(parts.iter().map(|p| p.to_string()));
    argv
}

/// `-p PROMPT_ARG` (or `--prompt=PROMPT_ARG`), then the headless flags.
fn argv_with(opts: &CliOptions, prompt_arg: &str) -> Vec<String> {
    let spec = &crate::registry::GEMINI;
    let mut argv = opts.command.clone();
    if prompt_arg.starts_with('-') {
        // `-p -x` would read `-x` as a flag (yargs); the `=` form takes any text.
        argv.push(format!("--prompt={prompt_arg}"));
    } else {
        argv.push("-p".into());
        argv.push(prompt_arg.into());
    }
    argv.extend(spec.fixed_args.iter().map(|s| s.to_string()));
    opts.push_model(&mut argv, spec.model_flag);
    argv.extend(opts.extra_args.iter().cloned());
    argv
}

impl Dialect for Gemini {
    type Stream = GeminiStream;

    fn spec(&self) -> &'static AgentSpec {
        &crate::registry::GEMINI
    }

    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation {
        let argv = argv(opts, prompt);
        match prompt_via(prompt) {
            PromptVia::Argument => Invocation {
                argv,
                display_argv: self.display_argv(opts),
                stdin: None,
            },
            PromptVia::Parts(_) => Invocation {
                argv,
                display_argv: mask_argv(&argv_with_parts(opts, &[PROMPT_SHOWN])),
                stdin: None,
            },
            PromptVia::Stdin => {
                tracing::warn!(
                    bytes = prompt.len(),
                    "the prompt is too large for arguments (over 1 MiB, or no spaces to cut at) and goes to \
                     stdin, which Gemini CLI may miss under load (it waits only 500 ms for it)"
                );
                if prompt.len() > GEMINI_STDIN_MAX {
                    tracing::warn!(
                        bytes = prompt.len(),
                        "the prompt is larger than the 8 MiB Gemini CLI reads from stdin; it will see only the start"
                    );
                }
                Invocation::with_stdin(argv, prompt.as_bytes().to_vec())
            }
        }
    }

    fn display_argv(&self, opts: &CliOptions) -> Vec<String> {
        mask_argv(&argv_with(opts, PROMPT_SHOWN))
    }

    fn stream(&self, _: &CliOptions, workspace: &Path) -> GeminiStream {
        GeminiStream::new(workspace)
    }

    /// `--resume latest` (another session's history).
    fn refusal(&self, arg: &str, next: Option<&str>) -> Option<&'static str> {
        let flag = arg.split('=').next().unwrap_or(arg);
        let resumes_latest = (flag == "-r" || flag == "--resume")
            && (arg.ends_with("=latest") || next == Some("latest"));
        resumes_latest.then_some(
            "it resumes the most recent session in the directory, possibly your own; ralph \
             starts a fresh session every iteration",
        )
    }

    /// `GEMINI_CLI_TRUST_WORKSPACE=true` unless the variable is set already.
    fn env_extras(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        env: &mut BTreeMap<String, String>,
    ) {
        if lookup("GEMINI_CLI_TRUST_WORKSPACE").is_none() {
            env.insert("GEMINI_CLI_TRUST_WORKSPACE".to_string(), "true".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        crate::cli_agent::env_given(&Gemini, vars)
    }

    #[test]
    fn argv_golden() {
        let plain = GeminiAgent::new().argv("Do the task.");
        let with_model = GeminiAgent::new()
            .with_model(Some("gemini-2.5-flash".into()))
            .argv("Do the task.");
        let with_extra = GeminiAgent::new()
            .with_model(Some("gemini-2.5-pro".into()))
            .with_args(vec!["--include-directories".into(), "../lib".into()])
            .unwrap()
            .argv("Do the task.");
        let large_prompt = GeminiAgent::new().argv(&"x".repeat(MAX_PROMPT_ARG + 1));
        let dash = GeminiAgent::new().argv("- [ ] first task");
        let custom = GeminiAgent::new()
            .with_command(vec!["npx".into(), "@google/gemini-cli".into()])
            .argv("Do the task.");
        let shown = GeminiAgent::new()
            .with_args(vec!["--api-key".into(), "secret".into()])
            .unwrap()
            .display_argv();
        insta::assert_json_snapshot!(
            "gemini_argv",
            [
                plain,
                with_model,
                with_extra,
                large_prompt,
                dash,
                custom,
                shown
            ]
        );
    }

    #[test]
    fn a_large_prompt_is_cut_at_spaces_into_parts_that_join_back() {
        let prompt = format!("first {} 42", "word -dash γάμμα ".repeat(20_000));
        let argv = GeminiAgent::new().argv(&prompt);
        let yolo = argv.iter().position(|a| a == "--yolo").unwrap();
        assert!(!argv.contains(&"-p".to_string()) && !argv.contains(&"--".to_string()));
        let parts = &argv[yolo + 1..];
        assert!(parts.len() > 2);
        assert!(
            parts
                .iter()
                .all(|p| p.len() <= MAX_PROMPT_ARG && !p.is_empty())
        );
        assert!(
            parts.iter().all(|p| !p.starts_with('-')),
            "yargs reads those as flags"
        );
        assert_eq!(parts.join(" "), prompt);
        // The last part is never a bare number (yargs would parse `42` into 42).
        assert!(!yargs_number_like(parts.last().unwrap()));
    }

    #[test]
    fn prompts_that_cannot_be_cut_go_to_stdin() {
        let no_spaces = "x".repeat(MAX_PROMPT_ARG + 1);
        assert_eq!(prompt_via(&no_spaces), PromptVia::Stdin);
        let too_large = "word ".repeat(GEMINI_ARGV_PROMPT_MAX / 5 + 1);
        assert_eq!(prompt_via(&too_large), PromptVia::Stdin);
        assert_eq!(split_at_spaces("abc 1e3", 4, 100), None);
        assert_eq!(split_at_spaces("- starts with a dash", 8, 100), None);
        assert_eq!(
            split_at_spaces("ab -cd gh", 6, 100),
            Some(vec!["ab -cd", "gh"])
        );
        assert_eq!(
            split_at_spaces("abcd ef gh", 7, 100),
            Some(vec!["abcd ef", "gh"])
        );
    }

    #[test]
    fn a_prompt_at_the_argument_limit_is_still_an_argument() {
        let prompt = "y".repeat(MAX_PROMPT_ARG);
        assert_eq!(GeminiAgent::new().argv(&prompt)[2], prompt);
    }

    #[test]
    fn flags_ralph_sets_and_resuming_the_latest_session_are_refused() {
        for args in [
            vec!["-p", "x"],
            vec!["--prompt=x"],
            vec!["-i", "x"],
            vec!["--output-format", "json"],
            vec!["--resume", "latest"],
            vec!["-r=latest"],
        ] {
            let args = args.into_iter().map(String::from).collect();
            let err = GeminiAgent::new().with_args(args).unwrap_err().to_string();
            assert!(err.contains("is not allowed"), "{err}");
        }
        assert!(
            GeminiAgent::new()
                .with_args(vec!["--resume".into(), "3f2a".into()])
                .is_ok()
        );
    }

    #[test]
    fn the_workspace_is_trusted_unless_the_user_says_otherwise() {
        assert_eq!(
            env_of(&[])
                .get("GEMINI_CLI_TRUST_WORKSPACE")
                .map(String::as_str),
            Some("true")
        );
        assert_eq!(
            env_of(&[("GEMINI_CLI_TRUST_WORKSPACE", "false")]).get("GEMINI_CLI_TRUST_WORKSPACE"),
            None
        );
    }

    #[test]
    fn the_key_file_is_read_when_the_key_is_not_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gemini-key");
        std::fs::write(&file, "from-file\n").unwrap();
        let file = file.display().to_string();
        let env = env_of(&[("GEMINI_API_KEY_FILE", &file)]);
        assert_eq!(
            env.get("GEMINI_API_KEY").map(String::as_str),
            Some("from-file")
        );
        let env = env_of(&[("GEMINI_API_KEY", "set"), ("GEMINI_API_KEY_FILE", &file)]);
        assert_eq!(env.get("GEMINI_API_KEY"), None, "the variable itself wins");
    }
}
