//! [`OpenCodeAgent`]: OpenCode (`opencode-ai`, tested with 1.18.33) in `run --format json` mode.
//!
//! Each run is `opencode run --format json --auto [--model provider/model] [extra args...]` in the
//! workspace, with the prompt written to stdin. OpenCode 1.18.33 reads piped stdin when no message is
//! given on the command line and sends it to the model verbatim; a message given as arguments would be
//! re-quoted (`"…"` around every argument holding a space), which rewrites the prompt. `--auto` approves
//! permission requests that the configuration does not deny: without it `run` rejects them ("permission
//! requested: …; auto-rejecting"), which an unattended loop cannot answer. `-c`/`--continue`,
//! `-s`/`--session` and `--fork` are refused (every iteration starts a fresh session), and so are
//! `--format` and `-i`/`--interactive`, which ralph decides.
//!
//! Authentication is OpenCode's own (`opencode auth login`, or the provider's variable such as
//! `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`). ralph exports the keys it knows from their `NAME_FILE`
//! variants (and `CLAUDE_API_KEY` as `ANTHROPIC_API_KEY`) when the variable itself is unset.
//!
//! OpenCode retries rate-limited and failed model calls itself, honouring `retry-after`, and prints
//! nothing while it waits (an `insufficient_quota` 429 is retried without end): only ralph's iteration
//! deadline and idle timeout bound such a run, and it is reported as a timeout, never as a rate limit.
//! It also ignores SIGTERM while a tool runs; ralph's SIGKILL after the grace period ends it.
//!
//! Cost: OpenCode's own figure (`step_finish.part.cost`, from the model's configured or models.dev price)
//! when it is above zero; otherwise ralph's estimate for the model (from `--model`, the arguments after
//! `--`, or `model` in `opencode.json` of the workspace or `$XDG_CONFIG_HOME/opencode/`).

mod classify;
mod stream;

pub use stream::OpenCodeStream;

use crate::cli_agent::{CliAgent, Dialect, Invocation};
use crate::cli_options::{CliOptions, model_in_args};
use crate::registry::AgentSpec;
use crate::secrets::mask_argv;
use std::path::{Path, PathBuf};

/// OpenCode's dialect: `run --format json` events on stdout, the prompt on stdin, its own cost figure
/// or ralph's estimate.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenCode;

/// OpenCode run once per iteration. Build it with [`OpenCodeAgent::new`] and the `with_*` methods.
///
/// ```
/// use ralph_agents::OpenCodeAgent;
/// let agent = OpenCodeAgent::new().with_model(Some("openai/gpt-5".into()));
/// assert_eq!(
///     agent.argv().join(" "),
///     "opencode run --format json --auto --model openai/gpt-5"
/// );
/// ```
pub type OpenCodeAgent = CliAgent<OpenCode>;

impl OpenCodeAgent {
    /// The full argv of a run (program first); the prompt goes on stdin.
    pub fn argv(&self) -> Vec<String> {
        self.opts.head_and_args(&crate::registry::OPENCODE)
    }

    /// The `provider/model` a run in `workspace` uses, for pricing: `--model`, else `-m`/`--model` in the
    /// extra arguments, else `model` in `workspace/opencode.json`, `$OPENCODE_CONFIG` or
    /// `$XDG_CONFIG_HOME/opencode/opencode.json` (default `~/.config`). Files with comments (JSONC) are
    /// not read.
    pub fn effective_model(&self, workspace: &Path) -> Option<String> {
        effective_model(&self.opts, workspace)
    }
}

/// See [`OpenCodeAgent::effective_model`].
fn effective_model(opts: &CliOptions, workspace: &Path) -> Option<String> {
    if let Some(m) = opts
        .model
        .clone()
        .or_else(|| model_in_args(&opts.extra_args, &[]))
    {
        return Some(m);
    }
    let env = |k: &str| opts.env_var(k);
    let config_home = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")));
    let candidates = [
        Some(workspace.join("opencode.json")),
        env("OPENCODE_CONFIG").map(PathBuf::from),
        config_home.map(|c| c.join("opencode").join("opencode.json")),
    ];
    candidates.into_iter().flatten().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json.get("model")?
            .as_str()
            .map(str::to_string)
            .filter(|m| !m.is_empty())
    })
}

impl Dialect for OpenCode {
    type Stream = OpenCodeStream;

    fn spec(&self) -> &'static AgentSpec {
        &crate::registry::OPENCODE
    }

    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation {
        Invocation::with_stdin(opts.head_and_args(self.spec()), prompt.as_bytes().to_vec())
    }

    fn display_argv(&self, opts: &CliOptions) -> Vec<String> {
        mask_argv(&opts.head_and_args(self.spec()))
    }

    fn stream(&self, opts: &CliOptions, workspace: &Path) -> OpenCodeStream {
        OpenCodeStream::new(workspace, effective_model(opts, workspace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env_of(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        crate::cli_agent::env_given(&OpenCode, vars)
    }

    #[test]
    fn argv_golden() {
        let plain = OpenCodeAgent::new().argv();
        let with_model = OpenCodeAgent::new()
            .with_model(Some("openai/gpt-5".into()))
            .argv();
        let with_extra = OpenCodeAgent::new()
            .with_args(
                ["--agent", "build", "--print-logs"]
                    .map(String::from)
                    .to_vec(),
            )
            .unwrap()
            .argv();
        let custom = OpenCodeAgent::new()
            .with_command(vec!["npx".into(), "opencode-ai".into()])
            .with_model(Some("anthropic/claude-sonnet-4-5".into()))
            .argv();
        insta::assert_json_snapshot!("opencode_argv", [plain, with_model, with_extra, custom]);
    }

    #[test]
    fn old_sessions_and_flags_ralph_sets_are_refused() {
        for arg in [
            "-c",
            "--continue",
            "-s",
            "--session=ses_1",
            "--fork",
            "--format=default",
            "-i",
        ] {
            let err = OpenCodeAgent::new()
                .with_args(vec![arg.into()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not allowed"), "{err}");
        }
    }

    #[test]
    fn key_files_become_the_provider_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "sk-from-file\n").unwrap();
        let file = file.display().to_string();
        let env = env_of(&[
            ("OPENAI_API_KEY_FILE", &file),
            ("CLAUDE_API_KEY", "sk-ant-1"),
        ]);
        assert_eq!(
            env.get("OPENAI_API_KEY").map(String::as_str),
            Some("sk-from-file")
        );
        assert_eq!(
            env.get("ANTHROPIC_API_KEY").map(String::as_str),
            Some("sk-ant-1")
        );
        let set = env_of(&[("OPENAI_API_KEY", "sk-0"), ("OPENAI_API_KEY_FILE", &file)]);
        assert_eq!(set.get("OPENAI_API_KEY"), None, "already set: left alone");
    }

    #[test]
    fn the_model_comes_from_flags_args_or_the_workspace_config() {
        let ws = tempfile::tempdir().unwrap();
        let agent = OpenCodeAgent::new().with_env(BTreeMap::from([(
            "XDG_CONFIG_HOME".to_string(),
            "/nonexistent".to_string(),
        )]));
        assert_eq!(agent.effective_model(ws.path()), None);
        std::fs::write(
            ws.path().join("opencode.json"),
            r#"{"model": "openai/gpt-5-mini"}"#,
        )
        .unwrap();
        assert_eq!(
            agent.effective_model(ws.path()).as_deref(),
            Some("openai/gpt-5-mini")
        );
        let flagged = agent
            .clone()
            .with_args(vec!["-m".into(), "openai/o3".into()])
            .unwrap();
        assert_eq!(
            flagged.effective_model(ws.path()).as_deref(),
            Some("openai/o3")
        );
    }
}
