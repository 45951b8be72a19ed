//! The [`Agent`] trait: one agent run per loop iteration.
//!
//! An implementation starts a fresh agent (usually a CLI process), hands it the assembled prompt, streams
//! what it does as [`AgentEvent`]s and returns a classified [`AgentOutcome`]. A run that *happened* but went
//! wrong (non-zero exit, API error, timeout, rate limit) is an `Ok(AgentOutcome)` with the matching
//! [`OutcomeStatus`]; `Err(Error)` means the agent could not be run at all (binary missing) or its output
//! could not be understood.

use crate::error::Error;
use crate::usage::{Cost, Usage};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Everything an agent needs for one iteration.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    /// The assembled prompt (preamble, user prompt, feedback). May be many megabytes.
    pub prompt: String,
    /// Directory the agent works in.
    pub workspace: PathBuf,
    /// ralph's state directory (absolute), for agents that must pass large prompts through a file.
    pub state_dir: PathBuf,
    /// Run id, for labelling.
    pub run_id: String,
    /// 1-based iteration number.
    pub iteration: u64,
    /// Instant by which the agent must have finished (the earlier of the iteration timeout and the run's
    /// runtime limit). The agent is stopped at this instant and the outcome is
    /// [`OutcomeStatus::TimedOut`].
    pub deadline: Option<Instant>,
    /// Which limit the deadline comes from, reported back in [`OutcomeStatus::TimedOut`].
    pub deadline_kind: TimeoutKind,
    /// Longest silence (no output line on stdout or stderr) tolerated before the agent counts as hung.
    pub idle_timeout: Option<Duration>,
}

impl AgentRequest {
    /// A request to run `prompt` in `workspace` as iteration 1 of an unnamed run, with the state
    /// directory `workspace/.agent` and no deadline or idle timeout: for calling an agent yourself (in
    /// a test). The engine fills every field itself.
    pub fn new(prompt: impl Into<String>, workspace: impl Into<PathBuf>) -> Self {
        let workspace = workspace.into();
        AgentRequest {
            prompt: prompt.into(),
            state_dir: workspace.join(crate::defaults::STATE_DIR),
            workspace,
            run_id: String::new(),
            iteration: 1,
            deadline: None,
            deadline_kind: TimeoutKind::Iteration,
            idle_timeout: None,
        }
    }
}

/// Something the agent did, streamed while it runs.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// The agent process started.
    Started {
        /// OS process id.
        pid: Option<u32>,
        /// Program and arguments, with secrets masked.
        argv: Vec<String>,
    },
    /// The agent's session started (model and session id as the agent reports them).
    Session {
        /// The agent's session id.
        session_id: Option<String>,
        /// Model name.
        model: Option<String>,
    },
    /// Assistant text (a whole message or a chunk of one).
    Text {
        /// The text.
        text: String,
    },
    /// The agent called a tool.
    ToolUse {
        /// Tool name (`Write`, `Bash`, ...).
        name: String,
        /// One-line summary of the tool input (a file path, a command), truncated.
        summary: String,
    },
    /// Usage so far in this iteration (cumulative for the iteration, not a delta).
    Usage {
        /// Tokens by kind so far.
        usage: Usage,
        /// Cost so far, when known.
        cost: Option<Cost>,
    },
    /// The agent is retrying an API call (for example after an overload).
    Retry {
        /// Attempt number as the agent counts it.
        attempt: u32,
        /// Human-readable detail.
        message: String,
    },
    /// A line the agent wrote to stderr (truncated).
    Stderr {
        /// The line, without the newline.
        line: String,
    },
}

/// Which time limit ended an agent run.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The per-iteration wall-clock timeout.
    #[default]
    Iteration,
    /// No output for longer than the idle timeout.
    Idle,
    /// The run's `max_runtime` ran out during the iteration.
    Runtime,
}

/// Why a run that happened did not succeed.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The process exited non-zero (or was killed by a signal) without a more specific cause.
    ExitCode,
    /// The agent reported an error result (Claude's `is_error: true`, Codex's `turn.failed`).
    ErrorResult,
    /// Not logged in, or the API key was rejected (HTTP 401/403).
    Auth,
    /// The model API failed (HTTP 5xx, 529 overloaded, ...).
    Api,
    /// The agent stopped at its own turn limit (Claude's `error_max_turns`).
    MaxTurns,
    /// The process could not be started.
    Spawn,
    /// The output could not be understood (no final result, garbage).
    Protocol,
}

/// How an agent run ended.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutcomeStatus {
    /// The agent finished its turn normally.
    Success,
    /// The agent ran and failed.
    Failed {
        /// Classified cause.
        kind: FailureKind,
        /// HTTP status of the model API error, when the agent reports one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_status: Option<u16>,
    },
    /// The agent was stopped by a timeout. Never reported as a rate limit.
    TimedOut {
        /// Which timeout.
        kind: TimeoutKind,
    },
    /// The model API refused for rate or usage limits (HTTP 429, "usage limit reached").
    RateLimited {
        /// When the limit resets, as Unix seconds, if the agent said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reset_at_unix: Option<u64>,
    },
    /// The run was stopped by ralph (interrupt, token or cost limit reached mid-iteration).
    Cancelled,
}

impl OutcomeStatus {
    /// True for [`OutcomeStatus::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, OutcomeStatus::Success)
    }

    /// A short lowercase label: `success`, `failed`, `timed_out`, `rate_limited`, `cancelled`.
    pub fn label(&self) -> &'static str {
        match self {
            OutcomeStatus::Success => "success",
            OutcomeStatus::Failed { .. } => "failed",
            OutcomeStatus::TimedOut { .. } => "timed_out",
            OutcomeStatus::RateLimited { .. } => "rate_limited",
            OutcomeStatus::Cancelled => "cancelled",
        }
    }
}

/// The classified result of one agent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentOutcome {
    /// How the run ended.
    #[serde(flatten)]
    pub status: OutcomeStatus,
    /// The agent's final answer (Claude's `result` text; the last assistant message otherwise). Only this
    /// text is searched for the completion promise.
    pub final_text: Option<String>,
    /// A one-line human explanation for a non-success status ("HTTP 401: invalid x-api-key"), secrets masked.
    pub message: Option<String>,
    /// Tokens used by this run, by kind.
    pub usage: Usage,
    /// Cost of this run, if reported or estimated.
    pub cost: Option<Cost>,
    /// Process exit code (`None` when killed by a signal or not a process).
    pub exit_code: Option<i32>,
    /// The agent's session id, if it reported one.
    pub session_id: Option<String>,
    /// The model that served the run, if reported.
    pub model: Option<String>,
    /// The agent's raw stdout, capped by the agent (ralph-agents keeps the first 4 MiB), for the
    /// per-iteration transcript in the state directory. Not serialised.
    #[serde(skip)]
    pub transcript: Vec<u8>,
}

impl AgentOutcome {
    /// An outcome with the given status and nothing else.
    pub fn new(status: OutcomeStatus) -> Self {
        AgentOutcome {
            status,
            final_text: None,
            message: None,
            usage: Usage::default(),
            cost: None,
            exit_code: None,
            session_id: None,
            model: None,
            transcript: Vec::new(),
        }
    }

    /// A successful outcome with the given final answer.
    pub fn success(final_text: impl Into<String>) -> Self {
        AgentOutcome {
            final_text: Some(final_text.into()),
            ..AgentOutcome::new(OutcomeStatus::Success)
        }
    }
}

/// Sender half on which an agent streams [`AgentEvent`]s (a tokio unbounded channel): `events.send(e)`
/// never blocks; ignore its error, which only says the engine stopped listening.
pub type EventSender = mpsc::UnboundedSender<AgentEvent>;

/// Receiver half of an [`EventSender`], for calling an [`Agent`] yourself (in a test): `recv().await`
/// or `try_recv()`.
pub type EventReceiver = mpsc::UnboundedReceiver<AgentEvent>;

/// A new channel for [`Agent::run`]'s events, as the engine makes one per iteration. Lets a program or
/// a test call an agent directly without naming tokio.
pub fn event_channel() -> (EventSender, EventReceiver) {
    mpsc::unbounded_channel()
}

/// A coding agent that ralph runs once per iteration.
///
/// Implementations must be cancel-safe: when `cancel` fires they stop the agent (and everything it
/// started) promptly and return [`OutcomeStatus::Cancelled`]. They must honour
/// [`AgentRequest::deadline`] and [`AgentRequest::idle_timeout`] themselves and return
/// [`OutcomeStatus::TimedOut`] when either passes.
///
/// ```
/// use ralph_core::{Agent, AgentOutcome, AgentRequest, EventSender, Error};
/// use ralph_core::CancellationToken;
///
/// struct Done;
///
/// #[ralph_core::async_trait]
/// impl Agent for Done {
///     fn name(&self) -> &str { "done" }
///     async fn run(&self, _req: AgentRequest, _events: EventSender, _cancel: CancellationToken)
///         -> Result<AgentOutcome, Error> {
///         Ok(AgentOutcome::success("LOOP_COMPLETE"))
///     }
/// }
/// ```
///
/// To mock it in tests with [`mockall`](https://docs.rs/mockall) (a dev-dependency of yours), put the
/// re-exported attribute inside `mock!`, at module level (the mock's module imports the types from
/// there); [`Agent::preflight`] has a default and can be left out:
///
/// ```
/// use ralph_core::prompt::PromptSource;
/// use ralph_core::{Agent, AgentOutcome, AgentRequest, CancellationToken, Error, EventSender};
/// use ralph_core::{Engine, EngineConfig, StopHandle, StopReason};
///
/// mockall::mock! {
///     pub Agent {}
///     #[ralph_core::async_trait]
///     impl Agent for Agent {
///         fn name(&self) -> &str;
///         async fn run(&self, request: AgentRequest, events: EventSender, cancel: CancellationToken)
///             -> Result<AgentOutcome, Error>;
///     }
/// }
///
/// # fn main() { tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut agent = MockAgent::new();
/// agent.expect_name().return_const("mock".to_string());
/// agent.expect_run().times(1).returning(|_, _, _| Ok(AgentOutcome::success("LOOP_COMPLETE")));
/// let config = EngineConfig::new(PromptSource::Text("Write hello.txt".into()), ".".into());
/// let summary = Engine::new(config, Box::new(agent)).run(StopHandle::new()).await;
/// assert!(matches!(summary.reason, StopReason::Completed { iteration: 1, .. }));
/// # }) }
/// ```
#[async_trait]
pub trait Agent: Send + Sync {
    /// Short name (`claude`, `command`, ...), used in logs, state and metrics.
    fn name(&self) -> &str;

    /// Checks, before the first iteration, that the agent can be run at all (binary installed).
    ///
    /// # Errors
    /// [`Error::AgentUnavailable`] with a message that says how to install it.
    async fn preflight(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Runs the agent once on `request`, streaming events to `events`.
    ///
    /// # Errors
    /// Only when the agent could not be run at all ([`Error::AgentUnavailable`], [`Error::Agent`]).
    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error>;
}
