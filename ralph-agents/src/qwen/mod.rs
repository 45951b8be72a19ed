//! [`QwenAgent`]: Qwen Code (`@qwen-code/qwen-code`, tested with 0.15.10), a Gemini CLI fork that talks to
//! OpenAI-compatible APIs, in headless `stream-json` mode.
//!
//! Each run is `qwen --yolo -o stream-json [-m M] [--auth-type openai] [extra args...] PROMPT` in the
//! workspace, stdin closed. The prompt is the positional argument (as `--prompt=PROMPT` when it starts
//! with `-`, which the argument parser would take for a flag). A prompt over [`MAX_PROMPT_ARG`] bytes goes
//! to stdin instead, as one stream-json user message (`--input-format stream-json`, no positional
//! prompt): `{"type":"user","message":{"role":"user","content":PROMPT},"parent_tool_use_id":null}`.
//! Qwen Code's stream-json input reader waits for its input, while its plain-text stdin reader
//! (`readStdin`) gives up when no data has been handled within 500 ms of its call, which a busy event
//! loop misses under load although the data waits in the pipe (the run then had no prompt). The message
//! content arrives byte for byte; stdin is closed after it, and Qwen Code exits after answering.
//!
//! Authentication, as a user of an OpenAI-compatible endpoint sets it up: `OPENAI_API_KEY` (also from
//! `OPENAI_API_KEY_FILE`), `OPENAI_BASE_URL` and optionally `OPENAI_MODEL` in the environment, which Qwen
//! Code reads itself. Headless Qwen Code refuses to run without an auth type ("No auth type is
//! selected"), so ralph adds `--auth-type openai` when an OpenAI key is available and the arguments do not
//! choose an auth type already; pass `-- --auth-type qwen-oauth` (or set `security.auth.selectedType` and
//! unset the key) to use another method. The equivalent flags (`--openai-api-key`, `--openai-base-url`)
//! work too, and are masked in everything ralph prints.
//!
//! Exit codes of Qwen Code 0.15.10: 0 for a finished turn, also when the model API failed (the error is
//! then the text of the `result` event, see the `classify` module); 1 for errors before the first turn
//! (no key, no auth type); 53 at `--max-session-turns`. HTTP 429 answers are retried silently and
//! without end (exponential backoff, nothing printed): only ralph's iteration or idle timeout ends such
//! a run, and it is then reported as a timeout, never as a rate limit.

mod classify;
mod stream;

pub use stream::QwenStream;

use crate::cli_agent::{CliAgent, Dialect, Invocation, PROMPT_SHOWN};
use crate::cli_options::CliOptions;
use crate::command::MAX_PROMPT_ARG;
use crate::registry::AgentSpec;
use crate::secrets::{mask_argv, resolve_key};
use std::path::Path;

/// Qwen Code's dialect: `stream-json` on stdout, the prompt as the positional argument (or a
/// stream-json message on stdin), `--auth-type openai` when an OpenAI key is available.
#[derive(Debug, Clone, Copy, Default)]
pub struct Qwen;

/// Qwen Code run once per iteration. Build it with [`QwenAgent::new`] and the `with_*` methods.
///
/// ```
/// use ralph_agents::QwenAgent;
/// let agent = QwenAgent::new().with_model(Some("qwen3-coder-plus".into()));
/// assert_eq!(
///     agent.argv_with_env("Fix the tests.", &|_| None).join(" "),
///     "qwen --yolo -o stream-json -m qwen3-coder-plus Fix the tests."
/// );
/// ```
pub type QwenAgent = CliAgent<Qwen>;

impl QwenAgent {
    /// The full argv (program first) of a run with `prompt`, with ralph's own environment.
    pub fn argv(&self, prompt: &str) -> Vec<String> {
        self.argv_with_env(prompt, &|k| std::env::var(k).ok())
    }

    /// The full argv of a run with `prompt` when the environment is `lookup` (which decides on
    /// `--auth-type openai`, see the module docs). A prompt over [`MAX_PROMPT_ARG`] bytes is left out
    /// and `--input-format stream-json` added (it goes to stdin as a stream-json user message, see the
    /// module docs).
    pub fn argv_with_env(
        &self,
        prompt: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        argv_with_env(&self.opts, prompt, lookup)
    }
}

/// See [`QwenAgent::argv_with_env`].
fn argv_with_env(
    opts: &CliOptions,
    prompt: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut argv = options(opts, lookup);
    if prompt.len() <= MAX_PROMPT_ARG {
        if prompt.starts_with('-') {
            argv.push(format!("--prompt={prompt}"));
        } else {
            argv.push(prompt.to_string());
        }
    } else {
        argv.push("--input-format".into());
        argv.push("stream-json".into());
    }
    argv
}

/// The program, the headless flags and model, `--auth-type openai` when a key is available and the
/// arguments choose no auth type, then the extra arguments.
fn options(opts: &CliOptions, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut argv = opts.head(&crate::registry::QWEN);
    let chooses_auth = opts
        .extra_args
        .iter()
        .any(|a| a == "--auth-type" || a.starts_with("--auth-type="));
    let has_key = opts
        .extra_args
        .iter()
        .any(|a| a == "--openai-api-key" || a.starts_with("--openai-api-key="))
        || opts.env.contains_key("OPENAI_API_KEY")
        || resolve_key("OPENAI_API_KEY", lookup).is_some();
    if has_key && !chooses_auth {
        argv.push("--auth-type".into());
        argv.push("openai".into());
    }
    argv.extend(opts.extra_args.iter().cloned());
    argv
}

impl Dialect for Qwen {
    type Stream = QwenStream;

    fn spec(&self) -> &'static AgentSpec {
        &crate::registry::QWEN
    }

    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation {
        let argv = argv_with_env(opts, prompt, &|k| std::env::var(k).ok());
        if prompt.len() > MAX_PROMPT_ARG {
            Invocation::with_stdin(argv, stdin_message(prompt))
        } else {
            Invocation {
                argv,
                display_argv: self.display_argv(opts),
                stdin: None,
            }
        }
    }

    fn display_argv(&self, opts: &CliOptions) -> Vec<String> {
        let mut argv = options(opts, &|k| std::env::var(k).ok());
        argv.push(PROMPT_SHOWN.to_string());
        mask_argv(&argv)
    }

    fn stream(&self, _: &CliOptions, workspace: &Path) -> QwenStream {
        QwenStream::new(workspace)
    }
}

/// The stream-json input line that carries `prompt` (`--input-format stream-json`), newline included.
fn stdin_message(prompt: &str) -> Vec<u8> {
    let mut line = serde_json::json!({
        "type": "user",
        "message": {"role": "user", "content": prompt},
        "parent_tool_use_id": null,
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn with_key(k: &str) -> Option<String> {
        (k == "OPENAI_API_KEY").then(|| "sk-test".to_string())
    }

    #[test]
    fn a_large_prompt_is_one_stream_json_user_message_on_stdin() {
        let prompt = format!("- {}\n\"quoted\" γάμμα\n", "x".repeat(MAX_PROMPT_ARG));
        let argv = QwenAgent::new().argv_with_env(&prompt, &no_env);
        assert_eq!(argv[argv.len() - 2..], ["--input-format", "stream-json"]);
        let line = stdin_message(&prompt);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["type"], "user");
        assert_eq!(v["message"]["content"], prompt);
    }

    #[test]
    fn argv_golden() {
        let plain = QwenAgent::new().argv_with_env("Do the task.", &no_env);
        let with_model = QwenAgent::new()
            .with_model(Some("qwen3-coder-plus".into()))
            .argv_with_env("Do the task.", &no_env);
        let with_key_in_env = QwenAgent::new()
            .with_model(Some("qwen3-coder-plus".into()))
            .argv_with_env("Do the task.", &with_key);
        let with_flags = QwenAgent::new()
            .with_args(
                [
                    "--auth-type",
                    "openai",
                    "--openai-api-key",
                    "sk-secret-1234567890abcdefghij",
                    "--openai-base-url",
                    "http://127.0.0.1:8000/v1",
                ]
                .map(String::from)
                .to_vec(),
            )
            .unwrap()
            .argv_with_env("Do the task.", &with_key);
        let large_prompt = QwenAgent::new().argv_with_env(&"x".repeat(MAX_PROMPT_ARG + 1), &no_env);
        let dash = QwenAgent::new().argv_with_env("- [ ] first task", &no_env);
        let masked = mask_argv(&with_flags);
        insta::assert_json_snapshot!(
            "qwen_argv",
            [
                plain,
                with_model,
                with_key_in_env,
                with_flags,
                large_prompt,
                dash,
                masked
            ]
        );
    }

    #[test]
    fn continuing_a_session_and_flags_ralph_sets_are_refused() {
        for arg in ["-c", "--continue", "-p", "--prompt=x", "-o", "-i"] {
            let err = QwenAgent::new()
                .with_args(vec![arg.into()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not allowed"), "{err}");
        }
    }

    #[test]
    fn the_key_file_becomes_openai_api_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k");
        std::fs::write(&file, "from-file\n").unwrap();
        let file = file.display().to_string();
        let lookup = |k: &str| (k == "OPENAI_API_KEY_FILE").then(|| file.clone());
        let env = crate::cli_agent::agent_env(&Qwen, &lookup, &Default::default());
        assert_eq!(
            env.get("OPENAI_API_KEY").map(String::as_str),
            Some("from-file")
        );
        let argv = QwenAgent::new().argv_with_env("p", &lookup);
        assert!(argv.windows(2).any(|w| w == ["--auth-type", "openai"]));
    }
}
