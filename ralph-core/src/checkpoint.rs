//! The [`Checkpointer`] trait: saving the workspace between iterations (git commits in `ralph-git`).

use crate::error::Error;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a checkpoint is for: labels that end up in the commit message and trailers.
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
}

/// Identifies a checkpoint (for git: the commit id in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointId(pub String);

impl std::fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Saves the state of the workspace.
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
