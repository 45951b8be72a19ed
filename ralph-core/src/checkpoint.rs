//! The [`Checkpointer`] trait: saving the workspace between iterations (git commits in `ralph-git`).

use crate::error::Error;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a checkpoint is for: labels that end up in the commit message and trailers, and the state
/// directory to leave out. Built by the engine; build one with [`CheckpointRequest::new`] to call a
/// checkpointer yourself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRequest {
    /// Run id.
    pub run_id: String,
    /// Iteration just finished (1-based; 0 when no iteration ran).
    pub iteration: u64,
    /// Name of the agent that ran the iteration.
    pub agent: String,
    /// Cost of the run so far, USD.
    pub cost_usd: f64,
    /// True for the checkpoint taken when the run ends.
    pub is_final: bool,
    /// ralph's state directory, absolute ([`crate::EngineConfig::state_dir`] as the engine resolved
    /// it): its runtime files must not be saved with the workspace. The engine always sets it, so a
    /// checkpointer needs no state directory of its own; `None` (a request built by hand) leaves the
    /// checkpointer's own default in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
}

impl CheckpointRequest {
    /// A request for `run_id` after `iteration` run by `agent`: cost 0, not final, no state directory.
    pub fn new(run_id: impl Into<String>, iteration: u64, agent: impl Into<String>) -> Self {
        CheckpointRequest {
            run_id: run_id.into(),
            iteration,
            agent: agent.into(),
            cost_usd: 0.0,
            is_final: false,
            state_dir: None,
        }
    }

    /// The same request naming `state_dir` as ralph's state directory.
    pub fn with_state_dir(mut self, state_dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(state_dir.into());
        self
    }
}

/// Identifies a checkpoint (for git: the commit id in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointId(pub String);

impl std::fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Saves the state of the workspace. Object-safe: the engine holds a `Box<dyn Checkpointer>`; implement
/// it with [`crate::async_trait`].
#[async_trait]
pub trait Checkpointer: Send + Sync {
    /// Saves the workspace; `Ok(None)` when nothing changed since the last checkpoint, or when this
    /// checkpoint was skipped for a reason already logged (merge in progress, lock held).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when saving failed; the engine logs it and carries on.
    async fn checkpoint(&self, request: &CheckpointRequest) -> Result<Option<CheckpointId>, Error>;
}

/// A [`Checkpointer`] that never saves anything (`--no-git`, or a workspace that is not a repository).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCheckpoints;

#[async_trait]
impl Checkpointer for NoCheckpoints {
    async fn checkpoint(
        &self,
        _request: &CheckpointRequest,
    ) -> Result<Option<CheckpointId>, Error> {
        Ok(None)
    }
}
