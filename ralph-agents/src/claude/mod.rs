//! [`ClaudeAgent`]: Claude Code (`@anthropic-ai/claude-code`, tested with 2.1.197) in headless mode.
//!
//! Each run is `claude -p --output-format stream-json --verbose --dangerously-skip-permissions
//! [--model M] [extra args...]` in the workspace, with the prompt written to stdin (no argument-length
//! limit; Claude has no `--prompt-file`). `--continue` is refused: it would pick up the most recent session
//! in the directory, possibly the user's own, while every ralph iteration must start fresh.

mod classify;
mod stream;

pub use stream::ClaudeStream;

use crate::cli_options::CliOptions;
use crate::error::Error;
use crate::process::{Deadlines, StdinSource, run_supervised};
use crate::secrets::{mask_argv, resolve_key};
use async_trait::async_trait;
use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The agent name.
pub const CLAUDE: &str = "claude";
/// How to install Claude Code.
pub const CLAUDE_INSTALL: &str = "npm install -g @anthropic-ai/claude-code";

/// The fixed part of the headless invocation (after the program).
const HEADLESS_ARGS: &[&str] = &[
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--dangerously-skip-permissions",
];

/// Claude Code run once per iteration. Build it with [`ClaudeAgent::new`] and the `with_*` methods.
///
/// ```
/// use ralph_agents::ClaudeAgent;
/// let agent = ClaudeAgent::new().with_model(Some("claude-sonnet-4-5".into()));
/// assert_eq!(
///     agent.argv().join(" "),
///     "claude -p --output-format stream-json --verbose --dangerously-skip-permissions --model claude-sonnet-4-5"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct ClaudeAgent {
    /// Program, model, extra arguments, environment and grace period.
    opts: CliOptions,
}

impl Default for ClaudeAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaudeAgent {
    /// `claude` from `PATH`, default model, no extra arguments, 5 s grace period.
    pub fn new() -> Self {
        ClaudeAgent {
            opts: CliOptions::new(CLAUDE),
        }
    }

    crate::cli_options::cli_builder_methods!(
        command: " Runs `command` (program and leading arguments) instead of \
                  `claude`. An empty list keeps `claude`.",
        model: " Passes `--model M` when `model` is set.",
    );

    /// Appends `args` after the headless flags (the arguments after `--` on ralph's command line).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for `--continue` / `-c`, which would resume someone else's session.
    pub fn with_args(mut self, args: Vec<String>) -> Result<Self, Error> {
        self.opts.set_args(CLAUDE, args, &|a, _| {
            (a == "--continue" || a == "-c").then_some(
                "it resumes the most recent session in the directory, possibly your own; ralph starts a \
                 fresh session every iteration (use `--resume ID` for a specific one)",
            )
        })?;
        Ok(self)
    }

    /// The full argv of a run (program first), without secrets to mask: the prompt goes on stdin.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.opts.head(HEADLESS_ARGS, "--model");
        argv.extend(self.opts.extra_args.iter().cloned());
        argv
    }

    /// The variables added to the agent's environment (values unmasked: never log this).
    pub fn env_additions(&self) -> BTreeMap<String, String> {
        claude_env(
            &|k| std::env::var(k).ok(),
            nix::unistd::geteuid().is_root(),
            &self.opts.env,
        )
    }
}

/// Environment additions for Claude Code, from the environment `lookup`:
/// - `ANTHROPIC_API_KEY` from `CLAUDE_API_KEY` (or from `ANTHROPIC_API_KEY_FILE` / `CLAUDE_API_KEY_FILE`)
///   when `ANTHROPIC_API_KEY` itself is unset;
/// - `IS_SANDBOX=1` when running as root, unless it is `1` already (or `CLAUDE_CODE_BUBBLEWRAP` is
///   set): Claude refuses `--dangerously-skip-permissions` as root otherwise (containers and CI run as
///   root);
/// - then the configured `extra` variables, which win.
fn claude_env(
    lookup: &dyn Fn(&str) -> Option<String>,
    is_root: bool,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let has_key = lookup("ANTHROPIC_API_KEY").is_some_and(|v| !v.is_empty());
    if !has_key {
        let key = resolve_key("ANTHROPIC_API_KEY", lookup)
            .or_else(|| resolve_key("CLAUDE_API_KEY", lookup));
        if let Some(key) = key {
            env.insert("ANTHROPIC_API_KEY".to_string(), key);
        }
    }
    // Claude 2.1.197 checks `IS_SANDBOX === "1"` exactly: "yes" or "true" do not count.
    let sandboxed =
        lookup("IS_SANDBOX").as_deref() == Some("1") || lookup("CLAUDE_CODE_BUBBLEWRAP").is_some();
    if is_root && !sandboxed {
        env.insert("IS_SANDBOX".to_string(), "1".to_string());
    }
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

#[async_trait]
impl Agent for ClaudeAgent {
    fn name(&self) -> &str {
        CLAUDE
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        self.opts.preflight(CLAUDE, CLAUDE_INSTALL)
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
        let mut handler = ClaudeStream::new(request.workspace);
        Ok(run_supervised(
            &spec,
            deadlines,
            &mut handler,
            &events,
            &cancel,
            Some(CLAUDE_INSTALL),
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)], is_root: bool) -> BTreeMap<String, String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        claude_env(&|k| vars.get(k).cloned(), is_root, &BTreeMap::new())
    }

    #[test]
    fn argv_golden() {
        let plain = ClaudeAgent::new().argv();
        let full = ClaudeAgent::new()
            .with_model(Some("claude-sonnet-4-5".into()))
            .with_args(vec!["--max-turns".into(), "30".into()])
            .unwrap()
            .argv();
        let custom = ClaudeAgent::new()
            .with_command(vec!["/opt/claude/bin/claude".into()])
            .argv();
        insta::assert_json_snapshot!("claude_argv", [plain, full, custom]);
    }

    #[test]
    fn continue_is_refused() {
        let err = ClaudeAgent::new()
            .with_args(vec!["--continue".into()])
            .unwrap_err();
        assert!(err.to_string().contains("--continue"));
    }

    #[test]
    fn claude_api_key_becomes_anthropic_api_key() {
        let env = env_of(&[("CLAUDE_API_KEY", "k1")], false);
        assert_eq!(env.get("ANTHROPIC_API_KEY").map(String::as_str), Some("k1"));
    }

    #[test]
    fn an_existing_anthropic_api_key_is_left_alone() {
        let env = env_of(
            &[("CLAUDE_API_KEY", "k1"), ("ANTHROPIC_API_KEY", "k0")],
            false,
        );
        assert_eq!(env.get("ANTHROPIC_API_KEY"), None);
    }

    #[test]
    fn root_gets_is_sandbox_1_unless_already_1() {
        let sandbox = |vars: &[(&str, &str)]| env_of(vars, true).get("IS_SANDBOX").cloned();
        assert_eq!(sandbox(&[]).as_deref(), Some("1"));
        // Claude accepts only the exact value "1".
        assert_eq!(sandbox(&[("IS_SANDBOX", "yes")]).as_deref(), Some("1"));
        assert_eq!(sandbox(&[("IS_SANDBOX", "1")]), None);
        assert_eq!(env_of(&[], false).get("IS_SANDBOX"), None);
    }
}
