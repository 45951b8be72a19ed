//! [`ClaudeAgent`]: Claude Code (`@anthropic-ai/claude-code`, tested with 2.1.197) in headless mode.
//!
//! Each run is `claude -p --output-format stream-json --verbose --dangerously-skip-permissions
//! [--model M] [extra args...]` in the workspace, with the prompt written to stdin (no argument-length
//! limit; Claude has no `--prompt-file`). `--continue` is refused: it would pick up the most recent session
//! in the directory, possibly the user's own, while every ralph iteration must start fresh.

mod classify;
mod stream;

pub use stream::ClaudeStream;
pub(crate) use stream::ContentBlock;

use crate::cli_agent::{CliAgent, Dialect, Invocation};
use crate::cli_options::CliOptions;
use crate::registry::AgentSpec;
use crate::secrets::mask_argv;
use std::collections::BTreeMap;
use std::path::Path;

/// Claude Code's dialect: `stream-json` on stdout, the prompt on stdin, `IS_SANDBOX=1` as root.
#[derive(Debug, Clone, Copy, Default)]
pub struct Claude;

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
pub type ClaudeAgent = CliAgent<Claude>;

impl ClaudeAgent {
    /// The full argv of a run (program first), without secrets to mask: the prompt goes on stdin.
    pub fn argv(&self) -> Vec<String> {
        self.opts.head_and_args(&crate::registry::CLAUDE)
    }
}

impl Dialect for Claude {
    type Stream = ClaudeStream;

    fn spec(&self) -> &'static AgentSpec {
        &crate::registry::CLAUDE
    }

    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation {
        Invocation::with_stdin(opts.head_and_args(self.spec()), prompt.as_bytes().to_vec())
    }

    fn display_argv(&self, opts: &CliOptions) -> Vec<String> {
        mask_argv(&opts.head_and_args(self.spec()))
    }

    fn stream(&self, _: &CliOptions, workspace: &Path) -> ClaudeStream {
        ClaudeStream::new(workspace)
    }

    /// `IS_SANDBOX=1` when running as root, unless it is `1` already: Claude refuses
    /// `--dangerously-skip-permissions` as root otherwise.
    fn env_extras(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        env: &mut BTreeMap<String, String>,
    ) {
        sandbox(lookup, nix::unistd::geteuid().is_root(), env);
    }
}

/// Sets `IS_SANDBOX=1` when running as root, unless it is `1` already (or `CLAUDE_CODE_BUBBLEWRAP` is
/// set): Claude refuses `--dangerously-skip-permissions` as root otherwise (containers and CI run as
/// root).
fn sandbox(
    lookup: &dyn Fn(&str) -> Option<String>,
    is_root: bool,
    env: &mut BTreeMap<String, String>,
) {
    // Claude 2.1.197 checks `IS_SANDBOX === "1"` exactly: "yes" or "true" do not count.
    let sandboxed =
        lookup("IS_SANDBOX").as_deref() == Some("1") || lookup("CLAUDE_CODE_BUBBLEWRAP").is_some();
    if is_root && !sandboxed {
        env.insert("IS_SANDBOX".to_string(), "1".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment additions when ralph's environment is `vars`, as root or not.
    fn env_of(vars: &[(&str, &str)], is_root: bool) -> BTreeMap<String, String> {
        let mut env = crate::cli_agent::key_env(&crate::registry::CLAUDE, &|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        sandbox(
            &|k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            },
            is_root,
            &mut env,
        );
        env
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
