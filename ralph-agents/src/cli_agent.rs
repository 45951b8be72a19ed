//! [`CliAgent`]: one agent CLI run once per iteration, generic over its [`Dialect`]. The spawning, the
//! environment (keys from the [registry](crate::registry)), the prompt file beyond the argument limit,
//! refused arguments and the stream plumbing are written once here; a dialect adds what really differs
//! between agents: its argv quirks, its stream handler (event mapping and outcome classification) and
//! the environment variables that are not keys.

use crate::cli_options::CliOptions;
use crate::command::{MAX_PROMPT_ARG, PROMPT_FILE_NAME};
use crate::error::Error;
use crate::process::{Deadlines, StdinSource, StreamHandler, run_supervised};
use crate::registry::{AgentSpec, PromptPassing};
use crate::secrets::{mask_argv, resolve_key};
use async_trait::async_trait;
use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender, FailureKind, OutcomeStatus};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Stands for the prompt in argv shown before a run (`--dry-run`).
pub(crate) const PROMPT_SHOWN: &str = "<prompt>";

/// How one run starts: its argv (program first), the argv shown to people, and what goes to stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Program and arguments as shown ([`AgentEvent::Started`](ralph_core::AgentEvent)), secrets
    /// masked and the prompt left out.
    pub display_argv: Vec<String>,
    /// Bytes written to stdin (then closed); `None` closes stdin at once.
    pub stdin: Option<Vec<u8>>,
}

impl Invocation {
    /// `argv` with the prompt on stdin (`stdin` = the prompt's bytes), shown masked.
    pub fn with_stdin(argv: Vec<String>, stdin: Vec<u8>) -> Self {
        Invocation {
            display_argv: mask_argv(&argv),
            argv,
            stdin: Some(stdin),
        }
    }
}

/// What differs between agent CLIs beyond their [`AgentSpec`]: each agent module implements it once.
pub trait Dialect: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// Reads the agent's output: events, then the classified outcome.
    type Stream: StreamHandler;

    /// The agent's registry entry.
    fn spec(&self) -> &'static AgentSpec;

    /// How a run with `prompt` starts. `prompt` is at most [`MAX_PROMPT_ARG`] bytes for
    /// [`PromptPassing::ArgumentElseFile`] (a longer one is replaced by a request to read the prompt
    /// file before this is called).
    fn invocation(&self, opts: &CliOptions, prompt: &str) -> Invocation;

    /// The argv shown before a run (`--dry-run`): `<prompt>` for a prompt argument, secrets masked.
    fn display_argv(&self, opts: &CliOptions) -> Vec<String>;

    /// The handler of a run in `workspace`.
    fn stream(&self, opts: &CliOptions, workspace: &Path) -> Self::Stream;

    /// Why `arg` (followed by `next`) is refused beyond [`AgentSpec::refused_args`]; `None` allows it.
    fn refusal(&self, arg: &str, next: Option<&str>) -> Option<&'static str> {
        let _ = (arg, next);
        None
    }

    /// Variables added to the agent's environment besides its keys (before the configured ones, which
    /// win), from the environment `lookup`.
    fn env_extras(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        env: &mut BTreeMap<String, String>,
    ) {
        let _ = (lookup, env);
    }
}

/// An agent CLI with dialect `D`, run once per iteration. Build it with the agent's constructor (e.g.
/// [`ClaudeAgent::new`](crate::ClaudeAgent::new)) and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct CliAgent<D: Dialect> {
    pub(crate) dialect: D,
    /// Program, model, extra arguments, environment and grace period.
    pub(crate) opts: CliOptions,
}

impl<D: Dialect + Default> Default for CliAgent<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Dialect + Default> CliAgent<D> {
    /// The agent's program from `PATH`, default model, no extra arguments, 5 s grace period.
    pub fn new() -> Self {
        Self::with_dialect(D::default())
    }
}

impl<D: Dialect> CliAgent<D> {
    /// The agent of `dialect`: its program from `PATH`, default model, no extra arguments, 5 s grace.
    pub fn with_dialect(dialect: D) -> Self {
        CliAgent {
            opts: CliOptions::new(dialect.spec().program),
            dialect,
        }
    }

    /// The agent `settings` describe (`adapters.<name>` and the arguments after `--`).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for refused arguments (see [`CliAgent::with_args`]).
    pub fn from_settings(dialect: D, settings: &crate::AgentSettings) -> Result<Self, Error> {
        let mut agent = Self::with_dialect(dialect);
        agent.opts.apply_settings(settings);
        agent.with_args(settings.args.clone())
    }

    /// The dialect.
    pub fn dialect(&self) -> &D {
        &self.dialect
    }

    /// The agent's registry entry.
    pub fn spec(&self) -> &'static AgentSpec {
        self.dialect.spec()
    }

    /// Runs `command` (program and leading arguments) instead of the agent's program. An empty list
    /// keeps it.
    pub fn with_command(mut self, command: Vec<String>) -> Self {
        self.opts.set_command(command);
        self
    }

    /// Passes the model with the agent's model flag ([`AgentSpec::model_flag`]) when `model` is set.
    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.opts.model = model;
        self
    }

    /// Adds (or overrides) environment variables of the agent process.
    pub fn with_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.opts.env = env;
        self
    }

    /// Time between SIGTERM and SIGKILL when the run is stopped.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.opts.grace = grace;
        self
    }

    /// Adds `args` after the agent's flags (the arguments after `--` on ralph's command line).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for an argument of [`AgentSpec::refused_args`] or one the dialect
    /// refuses (both would resume someone else's session, wait for a person, or change what ralph
    /// sets itself).
    pub fn with_args(mut self, args: Vec<String>) -> Result<Self, Error> {
        let spec = self.dialect.spec();
        let dialect = &self.dialect;
        self.opts.set_args(spec.name, args, &|arg, next| {
            spec.refusal(arg).or_else(|| dialect.refusal(arg, next))
        })?;
        Ok(self)
    }

    /// The argv as shown before a run (`--dry-run`): `<prompt>` in place of a prompt argument, secrets
    /// masked.
    pub fn display_argv(&self) -> Vec<String> {
        self.dialect.display_argv(&self.opts)
    }

    /// The variables added to the agent's environment (values unmasked: never log this).
    pub fn env_additions(&self) -> BTreeMap<String, String> {
        agent_env(&self.dialect, &|k| std::env::var(k).ok(), &self.opts.env)
    }
}

/// The keys of `spec` the agent would not see otherwise: for each [`KeyVar`](crate::registry::KeyVar)
/// that is unset (or empty) in `lookup`, the first of its sources that resolves (the variable, else its
/// `NAME_FILE`).
pub(crate) fn key_env(
    spec: &AgentSpec,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in spec.keys {
        if lookup(key.var).is_some_and(|v| !v.is_empty()) {
            continue;
        }
        if let Some(value) = key.from.iter().find_map(|from| resolve_key(from, lookup)) {
            env.insert(key.var.to_string(), value);
        }
    }
    env
}

/// The environment additions of `dialect`'s agent: its keys ([`key_env`]), its extras, then the
/// configured `extra` variables, which win.
pub(crate) fn agent_env<D: Dialect>(
    dialect: &D,
    lookup: &dyn Fn(&str) -> Option<String>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = key_env(dialect.spec(), lookup);
    dialect.env_extras(lookup, &mut env);
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The environment additions of `dialect`'s agent when ralph's environment is `vars` (for tests).
#[cfg(test)]
pub(crate) fn env_given<D: Dialect>(
    dialect: &D,
    vars: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let lookup = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    agent_env(dialect, &lookup, &BTreeMap::new())
}

/// Writes a prompt too long for an argument to `<state dir>/agent-prompt.md`; returns the argument that
/// asks the agent to read it.
async fn prompt_file(request: &AgentRequest) -> Result<String, String> {
    let path = request.state_dir.join(PROMPT_FILE_NAME);
    tokio::fs::create_dir_all(&request.state_dir)
        .await
        .and(tokio::fs::write(&path, &request.prompt).await)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(format!(
        "Your task is in the file {} (too long to pass as an argument). Read it and follow it.",
        path.display()
    ))
}

#[async_trait]
impl<D: Dialect> Agent for CliAgent<D> {
    fn name(&self) -> &str {
        self.dialect.spec().name
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        let spec = self.dialect.spec();
        self.opts.preflight(spec.name, spec.install)
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let spec = self.dialect.spec();
        let file_prompt;
        let prompt = if spec.prompt == PromptPassing::ArgumentElseFile
            && request.prompt.len() > MAX_PROMPT_ARG
        {
            match prompt_file(&request).await {
                Ok(p) => {
                    file_prompt = p;
                    &file_prompt
                }
                Err(message) => {
                    let mut outcome = AgentOutcome::new(OutcomeStatus::Failed {
                        kind: FailureKind::Spawn,
                        api_status: None,
                    });
                    outcome.message = Some(message);
                    return Ok(outcome);
                }
            }
        } else {
            &request.prompt
        };
        let invocation = self.dialect.invocation(&self.opts, prompt);
        let mut spec_ = self.opts.spec(
            &invocation.argv,
            &request.workspace,
            invocation.display_argv,
            self.env_additions(),
        );
        if let Some(stdin) = invocation.stdin {
            spec_.stdin = StdinSource::Bytes(Arc::from(stdin));
        }
        let deadlines = Deadlines::from_request(&request);
        let mut handler = self.dialect.stream(&self.opts, &request.workspace);
        Ok(run_supervised(
            &spec_,
            deadlines,
            &mut handler,
            &events,
            &cancel,
            Some(spec.install),
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::AGENTS;

    #[test]
    fn keys_come_from_their_sources_and_files_only_when_unset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k");
        std::fs::write(&file, "from-file\n").unwrap();
        let file = file.display().to_string();
        let lookup = |k: &str| match k {
            "Q_API_KEY_FILE" => Some(file.clone()),
            "OPENAI_API_KEY" => Some("sk-env".to_string()),
            _ => None,
        };
        let kiro = key_env(&crate::registry::KIRO, &lookup);
        assert_eq!(kiro["Q_API_KEY"], "from-file");
        assert_eq!(kiro["KIRO_API_KEY"], "from-file");
        let codex = key_env(&crate::registry::CODEX, &lookup);
        assert_eq!(codex.get("OPENAI_API_KEY"), None, "set already");
        assert_eq!(codex["CODEX_API_KEY"], "sk-env");
        for spec in AGENTS {
            assert!(key_env(spec, &|_| None).is_empty(), "{}", spec.name);
        }
    }
}
