//! A fingerprint of the workspace for stall detection: what `HEAD` points to and the tree `git add -A`
//! would commit, with the same exclusions as a checkpoint (the state directory, secrets, oversized
//! untracked files, ignored files).

use crate::checkpoint::snapshot;
use crate::error::Error;
use crate::options::CheckpointOptions;
use crate::repo;
use crate::safety::Filter;
use std::path::Path;

/// `<HEAD commit or "unborn">:<worktree tree id>` for the repository containing `workspace`; equal values
/// mean neither the files (as a checkpoint would see them) nor `HEAD` changed. `Ok(None)` when the
/// repository is in a state a checkpoint would skip (conflicts, a merge in progress). Blocking; writes the
/// working tree's new blobs and trees into the object database, as `git write-tree` would, but never
/// touches refs or the index.
///
/// # Errors
/// As [`crate::GitCheckpointer::open`]: not a repository, a bare one, or one that cannot be read.
pub fn workspace_fingerprint(
    workspace: &Path,
    options: &CheckpointOptions,
) -> Result<Option<String>, Error> {
    let ws = repo::open(workspace)?;
    let filter = Filter::new(options, &ws);
    Ok(snapshot(&ws, &filter)?.ok().map(|(snap, _)| {
        let head = snap
            .head
            .commit
            .map(|c| c.to_string())
            .unwrap_or_else(|| "unborn".into());
        format!("{head}:{}", snap.tree)
    }))
}
