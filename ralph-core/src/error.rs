//! The one error type of `ralph-core`.

use std::path::PathBuf;

/// Errors of the engine and of the traits it defines ([`crate::Agent`], [`crate::Checkpointer`],
/// [`crate::StateStore`]). Implementations in other crates convert their own errors into these variants.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The agent cannot be run at all: its program is not installed or not executable.
    #[error("agent `{agent}` is not available: {message}")]
    AgentUnavailable {
        /// Agent name.
        agent: String,
        /// What is wrong and how to fix it (for example the install command).
        message: String,
    },
    /// The agent failed in a way that is not an outcome of the run (I/O on its pipes, ...).
    #[error("agent `{agent}`: {message}")]
    Agent {
        /// Agent name.
        agent: String,
        /// What happened.
        message: String,
        /// Underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The prompt could not be read or is unusable.
    #[error("prompt {path}: {message}")]
    Prompt {
        /// The prompt file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
        /// Underlying I/O error.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Reading or writing ralph's state failed.
    #[error("state {path}: {message}")]
    State {
        /// The file or directory concerned.
        path: PathBuf,
        /// What failed.
        message: String,
        /// Underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A checkpoint could not be made.
    #[error("checkpoint: {message}")]
    Checkpoint {
        /// What failed.
        message: String,
        /// Underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another live process holds the workspace's run lock.
    #[error("{}", locked_message(path, *pid))]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid, if it wrote one.
        pid: Option<u32>,
    },
    /// The loop configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The text of [`Error::Locked`]: a lock held by this very process is a second engine of this program on
/// the same state directory, not another ralph to wait for.
fn locked_message(path: &std::path::Path, pid: Option<u32>) -> String {
    match pid {
        Some(p) if p == std::process::id() => format!(
            "this process already runs a loop on this state directory (pid {p}; lock file {}); give \
             each concurrent engine its own workspace or state directory",
            path.display()
        ),
        _ => format!(
            "another ralph run is active in this workspace (pid {}; lock file {}); wait for it to \
             finish or stop it",
            pid.map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into()),
            path.display()
        ),
    }
}

impl Error {
    /// An [`Error::Agent`] of agent `agent` caused by `source`: its text is the message, and it is kept
    /// as the [`std::error::Error::source`].
    ///
    /// ```
    /// let e = ralph_core::Error::agent("my-agent", std::io::Error::other("pipe closed"));
    /// assert_eq!(e.to_string(), "agent `my-agent`: pipe closed");
    /// ```
    pub fn agent(
        agent: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Agent {
            agent: agent.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// An [`Error::Checkpoint`] caused by `source` (for a custom [`crate::Checkpointer`]).
    pub fn checkpoint(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Checkpoint {
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// An [`Error::State`] about `path` caused by `source` (for a custom [`crate::StateStore`]).
    pub fn state(
        path: impl Into<PathBuf>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::State {
            path: path.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }
}
