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

use crate::cli_agent::{CliAgent, Dialect, Invocation};
use crate::cli_options::{CliOptions, model_in_args};
use crate::registry::AgentSpec;
use crate::secrets::mask_argv;
use std::path::{Path, PathBuf};

/// Codex's dialect: `exec --json` events on stdout, the prompt on stdin (the final `-`), tokens priced
/// by ralph.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codex;

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
pub type CodexAgent = CliAgent<Codex>;

impl CodexAgent {
    /// The full argv of a run (program first). The prompt goes on stdin (the final `-`), so nothing in it
    /// needs masking; show it with [`mask_argv`] anyway, extra arguments may hold secrets.
    pub fn argv(&self) -> Vec<String> {
        argv(&self.opts)
    }

    /// The model the run will use, for pricing: `-m`, else `-m`/`--model`/`-c model=` in the extra
    /// arguments, else `model = "..."` in `$CODEX_HOME/config.toml` (default `~/.codex`).
    pub fn effective_model(&self) -> Option<String> {
        effective_model(&self.opts)
    }
}

/// Codex's flags that set a configuration value (`-c model=M`).
const CONFIG_FLAGS: &[&str] = &["-c", "--config"];

/// See [`CodexAgent::argv`].
fn argv(opts: &CliOptions) -> Vec<String> {
    let mut argv = opts.head_and_args(&crate::registry::CODEX);
    argv.push("-".into());
    argv
}

/// See [`CodexAgent::effective_model`].
fn effective_model(opts: &CliOptions) -> Option<String> {
    opts.model
        .clone()
        .or_else(|| model_in_args(&opts.extra_args, CONFIG_FLAGS))
        .or_else(|| {
            let env = |k: &str| opts.env_var(k);
            let home = env("CODEX_HOME")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| Path::new(&h).join(".codex")))?;
            let text = std::fs::read_to_string(home.join("config.toml")).ok()?;
            model_in_config(&text)
        })
}

impl Dialect for Codex {
    type Stream = CodexStream;

    fn spec(&self) -> &'static AgentSpec {
        &crate::registry::CODEX
    }

    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation {
        Invocation::with_stdin(argv(opts), prompt.as_bytes().to_vec())
    }

    fn display_argv(&self, opts: &CliOptions) -> Vec<String> {
        mask_argv(&argv(opts))
    }

    fn stream(&self, opts: &CliOptions, workspace: &Path) -> CodexStream {
        CodexStream::new(workspace, effective_model(opts))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env_of(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        crate::cli_agent::env_given(&Codex, vars)
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
        let args = |a: &[&str]| {
            model_in_args(
                &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                CONFIG_FLAGS,
            )
        };
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
