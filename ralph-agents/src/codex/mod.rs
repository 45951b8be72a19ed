//! [`CodexAgent`]: OpenAI Codex CLI (`@openai/codex`, tested with 0.171.0) in `exec --json` mode.
//!
//! Each run is `codex exec --json --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check [-m M]
//! [extra args...] -` in the workspace, with the prompt written to stdin (`-` makes Codex 0.171.0 read the
//! instructions from stdin: no argument-length limit, and stdin is closed after the prompt so Codex never
//! waits for more). `--full-auto` no longer exists in 0.171; `--skip-git-repo-check` lets it run outside a
//! git repository. `resume`, `fork` and `--last` are refused: every ralph iteration starts a fresh thread.
//!
//! Authentication: `codex exec` 0.171.0 reads an API key from `CODEX_API_KEY` (verified: a run with only
//! `OPENAI_API_KEY` set sends no `Authorization` header to OpenAI), else from its login (`codex login`,
//! `$CODEX_HOME/auth.json`). ralph therefore passes `OPENAI_API_KEY` (also read from
//! `OPENAI_API_KEY_FILE`) to Codex as `CODEX_API_KEY` when that is not set, and sets `OPENAI_API_KEY`
//! itself from the file for custom providers whose `env_key` names it.
//!
//! Codex retries transport errors for minutes (its "Reconnecting... n/5" events, and without a network it
//! waits "for network" with no end): only ralph's iteration deadline and idle timeout bound a run, and such
//! a run is reported as a timeout, never as a rate limit. Codex reports no cost: ralph prices the tokens
//! with [`crate::pricing`] when it knows the model (from `-m`, the arguments after `--`, or `model = ...`
//! in `$CODEX_HOME/config.toml`), labelled an estimate.

mod classify;
mod stream;

pub use stream::CodexStream;

use crate::cli_options::CliOptions;
use crate::error::Error;
use crate::process::{Deadlines, StdinSource, run_supervised};
use crate::secrets::{mask_argv, resolve_key};
use async_trait::async_trait;
use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The agent name.
pub const CODEX: &str = "codex";
/// How to install Codex.
pub const CODEX_INSTALL: &str = "npm install -g @openai/codex";

/// The fixed part of the invocation (after the program), before the model and extra arguments.
const EXEC_ARGS: &[&str] = &[
    "exec",
    "--json",
    "--dangerously-bypass-approvals-and-sandbox",
    "--skip-git-repo-check",
];

/// Arguments that would resume an old thread instead of starting a fresh one.
const REFUSED_ARGS: &[&str] = &["resume", "fork", "--last"];

/// Codex run once per iteration. Build it with [`CodexAgent::new`] and the `with_*` methods.
///
/// ```
/// use ralph_agents::CodexAgent;
/// let agent = CodexAgent::new().with_model(Some("gpt-5.5".into()));
/// assert_eq!(
///     agent.argv().join(" "),
///     "codex exec --json --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check -m gpt-5.5 -"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct CodexAgent {
    /// Program, model, extra arguments, environment and grace period.
    opts: CliOptions,
}

impl Default for CodexAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl CodexAgent {
    /// `codex` from `PATH`, default model, no extra arguments, 5 s grace period.
    pub fn new() -> Self {
        CodexAgent {
            opts: CliOptions::new(CODEX),
        }
    }

    crate::cli_options::cli_builder_methods!(
        command: " Runs `command` (program and leading arguments) instead of \
                  `codex`. An empty list keeps `codex`.",
        model: " Passes `-m M` when `model` is set.",
    );

    /// Adds `args` after the exec flags and before the final `-` (the arguments after `--` on ralph's
    /// command line, e.g. `-c model_provider=...` or `--disable plugins`).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for `resume`, `fork` and `--last`, which continue an old thread.
    pub fn with_args(mut self, args: Vec<String>) -> Result<Self, Error> {
        self.opts.set_args(CODEX, args, &|a, _| {
            REFUSED_ARGS.contains(&a).then_some(
                "it continues an earlier Codex thread, and ralph starts a fresh one every iteration",
            )
        })?;
        Ok(self)
    }

    /// The full argv of a run (program first). The prompt goes on stdin (the final `-`), so nothing in it
    /// needs masking; show it with [`mask_argv`] anyway, extra arguments may hold secrets.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.opts.head(EXEC_ARGS, "-m");
        argv.extend(self.opts.extra_args.iter().cloned());
        argv.push("-".into());
        argv
    }

    /// The argv as shown to people (`--dry-run`, the `Started` event): [`CodexAgent::argv`], masked.
    pub fn display_argv(&self) -> Vec<String> {
        mask_argv(&self.argv())
    }

    /// The variables added to the agent's environment (values unmasked: never log this).
    pub fn env_additions(&self) -> BTreeMap<String, String> {
        codex_env(&|k| std::env::var(k).ok(), &self.opts.env)
    }

    /// The model the run will use, for pricing: `-m`, else `-m`/`--model`/`-c model=` in the extra
    /// arguments, else `model = "..."` in `$CODEX_HOME/config.toml` (default `~/.codex`).
    pub fn effective_model(&self) -> Option<String> {
        self.opts
            .model
            .clone()
            .or_else(|| model_in_args(&self.opts.extra_args))
            .or_else(|| {
                let env = |k: &str| self.opts.env_var(k);
                let home = env("CODEX_HOME")
                    .map(PathBuf::from)
                    .or_else(|| env("HOME").map(|h| Path::new(&h).join(".codex")))?;
                let text = std::fs::read_to_string(home.join("config.toml")).ok()?;
                model_in_config(&text)
            })
    }
}

/// Environment additions for Codex: `OPENAI_API_KEY` from `OPENAI_API_KEY_FILE` when unset, the same key
/// as `CODEX_API_KEY` when that is unset (also readable from `CODEX_API_KEY_FILE`), then the configured
/// `extra` variables, which win.
fn codex_env(
    lookup: &dyn Fn(&str) -> Option<String>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let unset = |k: &str| lookup(k).is_none_or(|v| v.is_empty());
    let openai = resolve_key("OPENAI_API_KEY", lookup);
    if unset("OPENAI_API_KEY")
        && let Some(key) = &openai
    {
        env.insert("OPENAI_API_KEY".to_string(), key.clone());
    }
    if unset("CODEX_API_KEY")
        && let Some(key) = resolve_key("CODEX_API_KEY", lookup).or(openai)
    {
        env.insert("CODEX_API_KEY".to_string(), key);
    }
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The model named by `-m M`, `--model M`, `--model=M` or `-c model=M` in `args`.
fn model_in_args(args: &[String]) -> Option<String> {
    let mut found = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-m" || arg == "--model" {
            found = iter.next().cloned();
        } else if let Some(m) = arg.strip_prefix("--model=") {
            found = Some(m.to_string());
        } else if (arg == "-c" || arg == "--config")
            && let Some(m) = iter.next().and_then(|kv| kv.strip_prefix("model="))
        {
            found = Some(m.trim_matches(['"', '\'']).to_string());
        }
    }
    found.filter(|m| !m.is_empty())
}

/// `model = "..."` among the top-level keys of a Codex `config.toml` (before the first `[table]`).
fn model_in_config(toml: &str) -> Option<String> {
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "model" {
            let value = value.split('#').next().unwrap_or("").trim();
            return Some(value.trim_matches(['"', '\'']).to_string()).filter(|m| !m.is_empty());
        }
    }
    None
}

/// The agent `settings` describe (`adapters.codex` and the arguments after `--`).
///
/// # Errors
/// [`Error::InvalidSettings`] for refused arguments (see [`CodexAgent::with_args`]).
pub(crate) fn from_settings(settings: &crate::AgentSettings) -> Result<CodexAgent, Error> {
    let mut agent = CodexAgent::new();
    agent.opts.apply_settings(settings);
    agent.with_args(settings.args.clone())
}

#[async_trait]
impl Agent for CodexAgent {
    fn name(&self) -> &str {
        CODEX
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        self.opts.preflight(CODEX, CODEX_INSTALL)
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let argv = self.argv();
        let mut spec = self.opts.spec(
            &argv,
            &request.workspace,
            mask_argv(&argv),
            self.env_additions(),
        );
        let deadlines = Deadlines::from_request(&request);
        spec.stdin = StdinSource::Bytes(Arc::from(request.prompt.into_bytes()));
        let mut handler = CodexStream::new(request.workspace, self.effective_model());
        Ok(run_supervised(
            &spec,
            deadlines,
            &mut handler,
            &events,
            &cancel,
            Some(CODEX_INSTALL),
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
        codex_env(&|k| vars.get(k).cloned(), &BTreeMap::new())
    }

    #[test]
    fn argv_golden() {
        let plain = CodexAgent::new().argv();
        let with_model = CodexAgent::new().with_model(Some("gpt-5.5".into())).argv();
        let with_extra = CodexAgent::new()
            .with_model(Some("gpt-5.5".into()))
            .with_args(
                [
                    "--disable",
                    "plugins",
                    "-c",
                    "model_reasoning_effort=\"high\"",
                ]
                .map(String::from)
                .to_vec(),
            )
            .unwrap()
            .argv();
        let custom = CodexAgent::new()
            .with_command(vec!["npx".into(), "@openai/codex".into()])
            .argv();
        let masked = CodexAgent::new()
            .with_args(
                ["-c", "model_providers.x.api_key=sk-proj-abcdefghijklmnop"]
                    .map(String::from)
                    .to_vec(),
            )
            .unwrap()
            .display_argv();
        insta::assert_json_snapshot!(
            "codex_argv",
            [plain, with_model, with_extra, custom, masked]
        );
    }

    #[test]
    fn resuming_a_thread_is_refused() {
        for arg in ["resume", "fork", "--last"] {
            let err = CodexAgent::new()
                .with_args(vec![arg.into()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not allowed"), "{err}");
        }
    }

    #[test]
    fn openai_key_is_passed_as_codex_api_key() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-1")]);
        assert_eq!(env.get("CODEX_API_KEY").map(String::as_str), Some("sk-1"));
        assert_eq!(env.get("OPENAI_API_KEY"), None, "already set: left alone");
        let own = env_of(&[("OPENAI_API_KEY", "sk-1"), ("CODEX_API_KEY", "ck-2")]);
        assert_eq!(
            own.get("CODEX_API_KEY"),
            None,
            "an explicit CODEX_API_KEY wins"
        );
    }

    #[test]
    fn the_key_file_becomes_both_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "sk-from-file\n").unwrap();
        let env = env_of(&[("OPENAI_API_KEY_FILE", &file.display().to_string())]);
        assert_eq!(
            env.get("OPENAI_API_KEY").map(String::as_str),
            Some("sk-from-file")
        );
        assert_eq!(
            env.get("CODEX_API_KEY").map(String::as_str),
            Some("sk-from-file")
        );
        assert!(env_of(&[]).is_empty());
    }

    #[test]
    fn the_model_comes_from_flags_args_or_config() {
        let args = |a: &[&str]| model_in_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(args(&["-m", "o3"]).as_deref(), Some("o3"));
        assert_eq!(args(&["--model=gpt-5"]).as_deref(), Some("gpt-5"));
        assert_eq!(
            args(&["-c", "model=\"gpt-5-mini\""]).as_deref(),
            Some("gpt-5-mini")
        );
        assert_eq!(args(&["-c", "model_provider=test"]), None);
        let config = "# comment\nmodel = \"gpt-5.5\" # default\nmodel_provider = \"test\"\n[profiles.x]\nmodel = \"o3\"\n";
        assert_eq!(model_in_config(config).as_deref(), Some("gpt-5.5"));
        assert_eq!(model_in_config("[x]\nmodel = \"o3\"\n"), None);
    }
}
