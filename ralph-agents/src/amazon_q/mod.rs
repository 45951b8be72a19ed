//! [`AmazonQAgent`]: the Amazon Q Developer CLI (`q`) and its successor the Kiro CLI (`kiro-cli`), which
//! share one plain-text adapter.
//!
//! **Not tested against the real CLIs**: neither is distributed on npm, and neither can be installed or
//! logged in here. The adapter is built from their documentation and published source (the
//! `aws/amazon-q-developer-cli` repository: `crates/chat-cli/src/cli/chat/mod.rs`, `api_client/error.rs`)
//! and from reports of Kiro CLI's output by its users, and it is tested with fake executables that print
//! that documented text (`tests/fixtures/q/`, `tests/e2e_q_kiro.rs`).
//!
//! Each run is `q chat --no-interactive --trust-all-tools [--model M] [extra args...] PROMPT` (Kiro:
//! `kiro-cli chat ...`) in the workspace, stdin closed. `--no-interactive` prints the first answer to
//! stdout and exits; `--trust-all-tools` lets it use its tools without asking (it would fail otherwise).
//! The prompt is the last argument (after `--` when it starts with `-`). A prompt over
//! [`MAX_PROMPT_ARG`] bytes (Linux refuses single arguments over 128 KiB) is written to
//! `<state dir>/agent-prompt.md` and the argument asks the agent to read that file, as the `command`
//! agent does. `-r`/`--resume` is refused: every iteration starts a fresh conversation.
//!
//! Authentication is the CLI's own login (`q login`, `kiro-cli login`). `Q_API_KEY` (also from
//! `Q_API_KEY_FILE`) is passed through for setups that read it; Kiro also gets it as `KIRO_API_KEY` (Kiro's
//! headless API-key variable) unless `KIRO_API_KEY` or `KIRO_API_KEY_FILE` is set. `NO_COLOR=1` is set,
//! and ANSI sequences that get through anyway are removed before the answer is searched for the
//! completion promise. Neither CLI reports tokens or cost.

mod stream;

pub use stream::AmazonQStream;

use crate::cli_options::CliOptions;
use crate::command::{MAX_PROMPT_ARG, PROMPT_FILE_NAME};
use crate::error::Error;
use crate::process::{Deadlines, run_supervised};
use crate::secrets::{mask_argv, resolve_key};
use async_trait::async_trait;
use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender, FailureKind, OutcomeStatus};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// The agent name of the Amazon Q Developer CLI.
pub const Q: &str = "q";
/// The agent name of the Kiro CLI.
pub const KIRO: &str = "kiro";
/// How to install the Amazon Q Developer CLI.
pub const Q_INSTALL: &str = "install the Amazon Q Developer CLI (not distributed on npm): \
     https://docs.aws.amazon.com/amazonq/latest/qdeveloper-ug/command-line-installing.html";
/// How to install the Kiro CLI.
pub const KIRO_INSTALL: &str =
    "install the Kiro CLI (not distributed on npm): https://kiro.dev/docs/cli/installation/";

/// The fixed part of the invocation (after the program).
const CHAT_ARGS: &[&str] = &["chat", "--no-interactive", "--trust-all-tools"];
/// Shown in place of the prompt before a run.
const PROMPT_SHOWN: &str = "<prompt>";

/// Which of the two CLIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmazonQFlavor {
    /// Amazon Q Developer CLI, program `q`.
    Q,
    /// Kiro CLI, program `kiro-cli`.
    Kiro,
}

impl AmazonQFlavor {
    /// The agent name: `q` or `kiro`.
    pub fn name(self) -> &'static str {
        match self {
            AmazonQFlavor::Q => Q,
            AmazonQFlavor::Kiro => KIRO,
        }
    }

    /// The program: `q` or `kiro-cli`.
    pub fn program(self) -> &'static str {
        match self {
            AmazonQFlavor::Q => "q",
            AmazonQFlavor::Kiro => "kiro-cli",
        }
    }

    /// How to install it.
    pub fn install(self) -> &'static str {
        match self {
            AmazonQFlavor::Q => Q_INSTALL,
            AmazonQFlavor::Kiro => KIRO_INSTALL,
        }
    }
}

/// `q chat` or `kiro-cli chat` run once per iteration. Build it with [`AmazonQAgent::q`] or
/// [`AmazonQAgent::kiro`] and the `with_*` methods.
///
/// ```
/// use ralph_agents::AmazonQAgent;
/// assert_eq!(
///     AmazonQAgent::kiro().argv("Fix the tests.").join(" "),
///     "kiro-cli chat --no-interactive --trust-all-tools Fix the tests."
/// );
/// ```
#[derive(Debug, Clone)]
pub struct AmazonQAgent {
    flavor: AmazonQFlavor,
    /// Program, model, extra arguments, environment and grace period.
    opts: CliOptions,
}

impl AmazonQAgent {
    /// The Amazon Q Developer CLI: `q` from `PATH`, default model, no extra arguments, 5 s grace period.
    pub fn q() -> Self {
        Self::new(AmazonQFlavor::Q)
    }

    /// The Kiro CLI: `kiro-cli` from `PATH`, default model, no extra arguments, 5 s grace period.
    pub fn kiro() -> Self {
        Self::new(AmazonQFlavor::Kiro)
    }

    /// The CLI of `flavor` with default settings.
    pub fn new(flavor: AmazonQFlavor) -> Self {
        AmazonQAgent {
            flavor,
            opts: CliOptions::new(flavor.program()),
        }
    }

    /// Which CLI this is.
    pub fn flavor(&self) -> AmazonQFlavor {
        self.flavor
    }

    crate::cli_options::cli_builder_methods!(
        command: " Runs `command` (program and leading arguments) instead of \
                  the default program. An empty list keeps it.",
        model: " Passes `--model M` when `model` is set.",
    );

    /// Appends `args` after the chat flags, before the prompt (the arguments after `--` on ralph's
    /// command line, e.g. `--agent my-agent`).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for `-r`/`--resume`, which continues the directory's last conversation.
    pub fn with_args(mut self, args: Vec<String>) -> Result<Self, Error> {
        self.opts.set_args(self.flavor.name(), args, &|a, _| {
            (a == "-r" || a == "--resume").then_some(
                "it continues the last conversation in the directory, and ralph starts a fresh one every \
                 iteration",
            )
        })?;
        Ok(self)
    }

    /// The full argv (program first) of a run whose prompt argument is `prompt`.
    pub fn argv(&self, prompt: &str) -> Vec<String> {
        let mut argv = self.opts.head(CHAT_ARGS, "--model");
        argv.extend(self.opts.extra_args.iter().cloned());
        if prompt.starts_with('-') {
            argv.push("--".into());
        }
        argv.push(prompt.to_string());
        argv
    }

    /// The argv as shown before a run (`--dry-run`): `<prompt>` in place of the prompt, secrets masked.
    pub fn display_argv(&self) -> Vec<String> {
        mask_argv(&self.argv(PROMPT_SHOWN))
    }

    /// The variables added to the agent's environment (values unmasked: never log this).
    pub fn env_additions(&self) -> BTreeMap<String, String> {
        amazon_q_env(self.flavor, &|k| std::env::var(k).ok(), &self.opts.env)
    }
}

/// Environment additions: `NO_COLOR=1`; `Q_API_KEY` from `Q_API_KEY_FILE` when unset; for Kiro,
/// `KIRO_API_KEY` from `KIRO_API_KEY_FILE`, else from the Q key, when unset; then the configured `extra`
/// variables, which win.
fn amazon_q_env(
    flavor: AmazonQFlavor,
    lookup: &dyn Fn(&str) -> Option<String>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("NO_COLOR".to_string(), "1".to_string())]);
    let unset = |k: &str| lookup(k).is_none_or(|v| v.is_empty());
    let q_key = resolve_key("Q_API_KEY", lookup);
    if unset("Q_API_KEY")
        && let Some(key) = &q_key
    {
        env.insert("Q_API_KEY".to_string(), key.clone());
    }
    if flavor == AmazonQFlavor::Kiro
        && unset("KIRO_API_KEY")
        && let Some(key) = resolve_key("KIRO_API_KEY", lookup).or(q_key)
    {
        env.insert("KIRO_API_KEY".to_string(), key);
    }
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The agent `settings` describe (`adapters.q` / `adapters.kiro` and the arguments after `--`).
///
/// # Errors
/// [`Error::InvalidSettings`] for refused arguments (see [`AmazonQAgent::with_args`]).
pub(crate) fn from_settings(
    flavor: AmazonQFlavor,
    settings: &crate::AgentSettings,
) -> Result<AmazonQAgent, Error> {
    let mut agent = AmazonQAgent::new(flavor);
    agent.opts.apply_settings(settings);
    agent.with_args(settings.args.clone())
}

#[async_trait]
impl Agent for AmazonQAgent {
    fn name(&self) -> &str {
        self.flavor.name()
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        self.opts
            .preflight(self.flavor.name(), self.flavor.install())
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let prompt = if request.prompt.len() > MAX_PROMPT_ARG {
            let path = request.state_dir.join(PROMPT_FILE_NAME);
            let written = tokio::fs::create_dir_all(&request.state_dir)
                .await
                .and(tokio::fs::write(&path, &request.prompt).await);
            if let Err(e) = written {
                let mut outcome = AgentOutcome::new(OutcomeStatus::Failed {
                    kind: FailureKind::Spawn,
                    api_status: None,
                });
                outcome.message = Some(format!("cannot write {}: {e}", path.display()));
                return Ok(outcome);
            }
            format!(
                "Your task is in the file {} (too long to pass as an argument). Read it and follow it.",
                path.display()
            )
        } else {
            request.prompt.clone()
        };
        let argv = self.argv(&prompt);
        let spec = self.opts.spec(
            &argv,
            &request.workspace,
            self.display_argv(),
            self.env_additions(),
        );
        let deadlines = Deadlines::from_request(&request);
        let mut handler = AmazonQStream::new(self.flavor);
        Ok(run_supervised(
            &spec,
            deadlines,
            &mut handler,
            &events,
            &cancel,
            Some(self.flavor.install()),
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_golden() {
        let q = AmazonQAgent::q().argv("Fix the tests.");
        let kiro = AmazonQAgent::kiro()
            .with_model(Some("claude-sonnet-4".into()))
            .argv("Fix the tests.");
        let extra = AmazonQAgent::q()
            .with_args(vec!["--agent".into(), "ralph".into()])
            .unwrap()
            .argv("- [ ] first task");
        let shown = AmazonQAgent::kiro().display_argv();
        insta::assert_json_snapshot!("amazon_q_argv", [q, kiro, extra, shown]);
    }

    #[test]
    fn resume_is_refused() {
        for arg in ["-r", "--resume"] {
            let err = AmazonQAgent::q()
                .with_args(vec![arg.into()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not allowed"), "{err}");
        }
    }

    #[test]
    fn q_key_files_are_exported_and_kiro_gets_its_own_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "q-from-file\n").unwrap();
        let file = file.display().to_string();
        let lookup = |k: &str| (k == "Q_API_KEY_FILE").then(|| file.clone());
        let q = amazon_q_env(AmazonQFlavor::Q, &lookup, &BTreeMap::new());
        assert_eq!(q.get("Q_API_KEY").map(String::as_str), Some("q-from-file"));
        assert_eq!(q.get("KIRO_API_KEY"), None);
        assert_eq!(q.get("NO_COLOR").map(String::as_str), Some("1"));
        let kiro = amazon_q_env(AmazonQFlavor::Kiro, &lookup, &BTreeMap::new());
        assert_eq!(
            kiro.get("KIRO_API_KEY").map(String::as_str),
            Some("q-from-file")
        );
    }
}
