//! [`GeminiAgent`]: Gemini CLI (`@google/gemini-cli`, tested with 0.61.0) in headless `stream-json` mode.
//!
//! Each run is `gemini -p PROMPT --output-format stream-json --yolo [-m M] [extra args...]` in the
//! workspace, stdin closed. The prompt is an argument, so a prompt over [`MAX_PROMPT_ARG`] bytes (the OS
//! limits one argument to about 128 KiB) goes to stdin instead with `-p ""`: Gemini CLI 0.61.0 reads
//! piped stdin in headless mode and joins it with the `-p` text as `STDIN\n\nTEXT`, so an empty `-p`
//! gives the prompt byte for byte (verified with a 256 KB prompt). Gemini CLI reads at most
//! [`GEMINI_STDIN_MAX`] bytes of stdin and drops the rest with a warning; larger prompts are sent anyway
//! and ralph logs a warning (no Gemini model takes that many tokens).
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

use crate::cli_options::{CliOptions, refused_flag};
use crate::command::MAX_PROMPT_ARG;
use crate::error::Error;
use crate::process::{Deadlines, StdinSource, run_supervised};
use crate::secrets::{mask_argv, resolve_key};
use async_trait::async_trait;
use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The agent name.
pub const GEMINI: &str = "gemini";
/// How to install Gemini CLI.
pub const GEMINI_INSTALL: &str = "npm install -g @google/gemini-cli";
/// Most bytes of stdin Gemini CLI 0.61.0 reads (`readStdin`: 8 MiB); the rest is dropped.
pub const GEMINI_STDIN_MAX: usize = 8 * 1024 * 1024;
/// Stands for the prompt in argv shown before a run (`--dry-run`).
pub(crate) const PROMPT_SHOWN: &str = "<prompt>";

/// The fixed part of the headless invocation, after `-p TEXT`.
const HEADLESS_ARGS: &[&str] = &["--output-format", "stream-json", "--yolo"];

/// Arguments ralph sets itself, or that would make a run wait for a person or resume an old session.
const REFUSED_ARGS: &[(&str, &str)] = &[
    ("-p", "ralph passes the prompt itself"),
    ("--prompt", "ralph passes the prompt itself"),
    ("-i", "an interactive session would wait for a person"),
    (
        "--prompt-interactive",
        "an interactive session would wait for a person",
    ),
    ("-o", "ralph reads --output-format stream-json"),
    ("--output-format", "ralph reads --output-format stream-json"),
];

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
#[derive(Debug, Clone)]
pub struct GeminiAgent {
    /// Program, model, extra arguments, environment and grace period.
    opts: CliOptions,
}

impl Default for GeminiAgent {
    fn default() -> Self {
        Self::new()
    }
}

/// How the prompt reaches Gemini CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromptVia {
    /// As the value of `-p`.
    Argument,
    /// On stdin, with `-p ""`.
    Stdin,
}

fn prompt_via(prompt: &str) -> PromptVia {
    if prompt.len() <= MAX_PROMPT_ARG {
        PromptVia::Argument
    } else {
        PromptVia::Stdin
    }
}

impl GeminiAgent {
    /// `gemini` from `PATH`, default model, no extra arguments, 5 s grace period.
    pub fn new() -> Self {
        GeminiAgent {
            opts: CliOptions::new(GEMINI),
        }
    }

    crate::cli_options::cli_builder_methods!(
        command: " Runs `command` (program and leading arguments) instead of \
                  `gemini`. An empty list keeps `gemini`.",
        model: " Passes `-m M` when `model` is set.",
    );

    /// Appends `args` after the headless flags (the arguments after `--` on ralph's command line).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for `-p`/`--prompt`, `-i`/`--prompt-interactive` and
    /// `-o`/`--output-format` (ralph sets these), and `--resume latest` (another session's history).
    pub fn with_args(mut self, args: Vec<String>) -> Result<Self, Error> {
        self.opts.set_args(GEMINI, args, &|arg, next| {
            let flag = arg.split('=').next().unwrap_or(arg);
            let resumes_latest = (flag == "-r" || flag == "--resume")
                && (arg.ends_with("=latest") || next == Some("latest"));
            refused_flag(REFUSED_ARGS, arg).or(resumes_latest.then_some(
                "it resumes the most recent session in the directory, possibly your own; ralph \
                 starts a fresh session every iteration",
            ))
        })?;
        Ok(self)
    }

    /// The full argv (program first) of a run with `prompt`: the prompt itself after `-p` when it fits in
    /// [`MAX_PROMPT_ARG`] bytes (as `--prompt=TEXT` when it starts with `-`), else `-p ""` (the prompt
    /// then goes to stdin).
    pub fn argv(&self, prompt: &str) -> Vec<String> {
        let text = match prompt_via(prompt) {
            PromptVia::Argument => prompt,
            PromptVia::Stdin => "",
        };
        self.argv_with(text)
    }

    /// The argv as shown before a run (`--dry-run`): `<prompt>` in place of the prompt, secrets masked.
    pub fn display_argv(&self) -> Vec<String> {
        mask_argv(&self.argv_with(PROMPT_SHOWN))
    }

    fn argv_with(&self, prompt_arg: &str) -> Vec<String> {
        let mut argv = self.opts.command.clone();
        if prompt_arg.starts_with('-') {
            // `-p -x` would read `-x` as a flag (yargs); the `=` form takes any text.
            argv.push(format!("--prompt={prompt_arg}"));
        } else {
            argv.push("-p".into());
            argv.push(prompt_arg.into());
        }
        argv.extend(HEADLESS_ARGS.iter().map(|s| s.to_string()));
        self.opts.push_model(&mut argv, "-m");
        argv.extend(self.opts.extra_args.iter().cloned());
        argv
    }

    /// The variables added to the agent's environment (values unmasked: never log this).
    pub fn env_additions(&self) -> BTreeMap<String, String> {
        gemini_env(&|k| std::env::var(k).ok(), &self.opts.env)
    }
}

/// Environment additions for Gemini CLI, from the environment `lookup`:
/// - `GEMINI_API_KEY` from the file named by `GEMINI_API_KEY_FILE` when `GEMINI_API_KEY` itself is unset;
/// - `GEMINI_CLI_TRUST_WORKSPACE=true` unless the variable is set already;
/// - then the configured `extra` variables, which win.
fn gemini_env(
    lookup: &dyn Fn(&str) -> Option<String>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if lookup("GEMINI_API_KEY").is_none_or(|v| v.is_empty())
        && let Some(key) = resolve_key("GEMINI_API_KEY", lookup)
    {
        env.insert("GEMINI_API_KEY".to_string(), key);
    }
    if lookup("GEMINI_CLI_TRUST_WORKSPACE").is_none() {
        env.insert("GEMINI_CLI_TRUST_WORKSPACE".to_string(), "true".to_string());
    }
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The agent `settings` describe (`adapters.gemini` and the arguments after `--`).
///
/// # Errors
/// [`Error::InvalidSettings`] for refused arguments (see [`GeminiAgent::with_args`]).
pub(crate) fn from_settings(settings: &crate::AgentSettings) -> Result<GeminiAgent, Error> {
    let mut agent = GeminiAgent::new();
    agent.opts.apply_settings(settings);
    agent.with_args(settings.args.clone())
}

#[async_trait]
impl Agent for GeminiAgent {
    fn name(&self) -> &str {
        GEMINI
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        self.opts.preflight(GEMINI, GEMINI_INSTALL)
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let deadlines = Deadlines::from_request(&request);
        let argv = self.argv(&request.prompt);
        let display = match prompt_via(&request.prompt) {
            PromptVia::Argument => self.display_argv(),
            PromptVia::Stdin => mask_argv(&argv),
        };
        let mut spec = self
            .opts
            .spec(&argv, &request.workspace, display, self.env_additions());
        if prompt_via(&request.prompt) == PromptVia::Stdin {
            if request.prompt.len() > GEMINI_STDIN_MAX {
                tracing::warn!(
                    bytes = request.prompt.len(),
                    "the prompt is larger than the 8 MiB Gemini CLI reads from stdin; it will see only the start"
                );
            }
            spec.stdin = StdinSource::Bytes(Arc::from(request.prompt.into_bytes()));
        }
        let mut handler = GeminiStream::new(request.workspace);
        Ok(run_supervised(
            &spec,
            deadlines,
            &mut handler,
            &events,
            &cancel,
            Some(GEMINI_INSTALL),
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        gemini_env(&|k| vars.get(k).cloned(), &BTreeMap::new())
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
