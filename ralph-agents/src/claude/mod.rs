//! [`ClaudeAgent`]: Claude Code (`@anthropic-ai/claude-code`, tested with 2.1.197) in headless mode.
//!
//! Each run is `claude -p --output-format stream-json --verbose --dangerously-skip-permissions
//! [--model M] [extra args...]` in the workspace, with the prompt written to stdin (no argument-length
//! limit; Claude has no `--prompt-file`). `--continue` is refused: it would pick up the most recent session
//! in the directory, possibly the user's own, while every ralph iteration must start fresh.

mod classify;
mod stream;

pub use stream::ClaudeStream;

use crate::error::Error;
use crate::process::{Deadlines, ProcessSpec, StdinSource, run_supervised};
use crate::secrets::{mask_argv, resolve_key};
use async_trait::async_trait;
use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
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
    /// Program and leading arguments (`["claude"]`, or e.g. `["npx", "claude"]` from `adapters.claude.command`).
    command: Vec<String>,
    model: Option<String>,
    extra_args: Vec<String>,
    env: BTreeMap<String, String>,
    grace: Duration,
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
            command: vec![CLAUDE.to_string()],
            model: None,
            extra_args: Vec::new(),
            env: BTreeMap::new(),
            grace: crate::process::DEFAULT_GRACE,
        }
    }

    /// Runs `command` (program and leading arguments) instead of `claude`. An empty list keeps `claude`.
    pub fn with_command(mut self, command: Vec<String>) -> Self {
        if !command.is_empty() {
            self.command = command;
        }
        self
    }

    /// Passes `--model M` when `model` is set.
    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// Appends `args` after the headless flags (the arguments after `--` on ralph's command line).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for `--continue` / `-c`, which would resume someone else's session.
    pub fn with_args(mut self, args: Vec<String>) -> Result<Self, Error> {
        if let Some(bad) = args.iter().find(|a| *a == "--continue" || *a == "-c") {
            return Err(Error::InvalidSettings {
                agent: CLAUDE.into(),
                message: format!(
                    "`{bad}` is not allowed: it resumes the most recent session in the directory, possibly \
                     your own; ralph starts a fresh session every iteration (use `--resume ID` for a specific one)"
                ),
            });
        }
        self.extra_args = args;
        Ok(self)
    }

    /// Adds (or overrides) environment variables of the agent process.
    pub fn with_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.env = env;
        self
    }

    /// Time between SIGTERM and SIGKILL when the run is stopped.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The full argv of a run (program first), without secrets to mask: the prompt goes on stdin.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.command.clone();
        argv.extend(HEADLESS_ARGS.iter().map(|s| s.to_string()));
        if let Some(m) = &self.model {
            argv.push("--model".into());
            argv.push(m.clone());
        }
        argv.extend(self.extra_args.iter().cloned());
        argv
    }

    /// The variables added to the agent's environment (values unmasked: never log this).
    pub fn env_additions(&self) -> BTreeMap<String, String> {
        claude_env(
            &|k| std::env::var(k).ok(),
            nix::unistd::geteuid().is_root(),
            &self.env,
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
        crate::detect::check_program(CLAUDE, &self.command[0], CLAUDE_INSTALL)
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let argv = self.argv();
        let mut spec = ProcessSpec::new(PathBuf::from(&argv[0]), &request.workspace);
        spec.display_argv = mask_argv(&argv);
        spec.args = argv[1..].to_vec();
        spec.env = self.env_additions();
        spec.grace = self.grace;
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
