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

use crate::cli_agent::{CliAgent, Dialect, Invocation, PROMPT_SHOWN};
use crate::cli_options::CliOptions;
use crate::registry::AgentSpec;
use crate::secrets::mask_argv;
use std::collections::BTreeMap;
use std::path::Path;

/// Which of the two CLIs: the dialect they share (plain text on stdout, the prompt as the last
/// argument or in a file, `NO_COLOR=1`).
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
        self.spec().name
    }

    /// The program: `q` or `kiro-cli`.
    pub fn program(self) -> &'static str {
        self.spec().program
    }

    /// How to install it.
    pub fn install(self) -> &'static str {
        self.spec().install
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
pub type AmazonQAgent = CliAgent<AmazonQFlavor>;

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
        CliAgent::with_dialect(flavor)
    }

    /// Which CLI this is.
    pub fn flavor(&self) -> AmazonQFlavor {
        self.dialect
    }

    /// The full argv (program first) of a run whose prompt argument is `prompt`.
    pub fn argv(&self, prompt: &str) -> Vec<String> {
        argv(self.dialect, &self.opts, prompt)
    }
}

/// See [`AmazonQAgent::argv`]: the prompt last, after `--` when it starts with `-`.
fn argv(flavor: AmazonQFlavor, opts: &CliOptions, prompt: &str) -> Vec<String> {
    let mut argv = opts.head_and_args(flavor.spec());
    if prompt.starts_with('-') {
        argv.push("--".into());
    }
    argv.push(prompt.to_string());
    argv
}

impl Dialect for AmazonQFlavor {
    type Stream = AmazonQStream;

    fn spec(&self) -> &'static AgentSpec {
        match self {
            AmazonQFlavor::Q => &crate::registry::Q,
            AmazonQFlavor::Kiro => &crate::registry::KIRO,
        }
    }

    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation {
        Invocation {
            argv: argv(*self, opts, prompt),
            display_argv: self.display_argv(opts),
            stdin: None,
        }
    }

    fn display_argv(&self, opts: &CliOptions) -> Vec<String> {
        mask_argv(&argv(*self, opts, PROMPT_SHOWN))
    }

    fn stream(&self, _: &CliOptions, _: &Path) -> AmazonQStream {
        AmazonQStream::new(*self)
    }

    /// `NO_COLOR=1`.
    fn env_extras(&self, _: &dyn Fn(&str) -> Option<String>, env: &mut BTreeMap<String, String>) {
        env.insert("NO_COLOR".to_string(), "1".to_string());
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
        let q = crate::cli_agent::agent_env(&AmazonQFlavor::Q, &lookup, &BTreeMap::new());
        assert_eq!(q.get("Q_API_KEY").map(String::as_str), Some("q-from-file"));
        assert_eq!(q.get("KIRO_API_KEY"), None);
        assert_eq!(q.get("NO_COLOR").map(String::as_str), Some("1"));
        let kiro = crate::cli_agent::agent_env(&AmazonQFlavor::Kiro, &lookup, &BTreeMap::new());
        assert_eq!(
            kiro.get("KIRO_API_KEY").map(String::as_str),
            Some("q-from-file")
        );
    }
}
