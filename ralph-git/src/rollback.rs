//! `ralph rollback <id>`: restore the workspace to a checkpoint as a new commit on top of `HEAD`. History is
//! never rewritten, and uncommitted work is never overwritten: the rollback refuses, or checkpoints it first.

use std::collections::BTreeMap;
use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::EntryKind;
use tracing::info;

use crate::checkpoint::{self, CheckpointOutcome, CommitId, Target};
use crate::commit::TRAILER_ROLLBACK;
use crate::error::{Error, GixResultExt};
use crate::index::{self, EntryUpdate, LockState};
use crate::list::{CheckpointInfo, list_checkpoints};
use crate::options::CheckpointOptions;
use crate::repo::{self, Workspace};
use crate::safety::Filter;
use crate::tree::{self, TreeChange};
use crate::worktree;

/// Options of [`rollback`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollbackOptions {
    /// Commit uncommitted changes first (a commit `ralph: save before rollback to <id>`) instead of refusing.
    pub checkpoint_first: bool,
    /// What counts as the workspace's content (state dir, secret and size filters, identity), as for
    /// checkpoints; `mode` is ignored: a rollback always commits on the current branch.
    pub checkpoint: CheckpointOptions,
}

/// At most this many dirty files are named in [`Error::DirtyWorkspace`].
const MAX_DIRTY_NAMED: usize = 20;

/// Restores the workspace containing `workspace` to checkpoint `id` (a full commit id, or an unambiguous prefix
/// of at least 4 hex digits, of a commit listed by [`list_checkpoints`]) and commits that as a new commit on
/// top of `HEAD`, returning its id. If the workspace already matches the checkpoint, returns `HEAD`'s id and
/// commits nothing.
///
/// Only files inside the workspace are restored; ignored files are left alone unless the checkpoint has a file
/// at their path, and submodules keep their checkouts (only their recorded commit changes).
///
/// # Errors
/// [`Error::UnknownCheckpoint`] / [`Error::AmbiguousCheckpoint`] for a bad `id`; [`Error::DirtyWorkspace`]
/// (naming the files) when there are uncommitted changes and `checkpoint_first` is false;
/// [`Error::Busy`] during a merge/rebase, with conflicts, or while another process holds `index.lock`;
/// [`Error::Io`] / [`Error::Git`] when files or objects cannot be read or written.
pub fn rollback(workspace: &Path, id: &str, options: &RollbackOptions) -> Result<CommitId, Error> {
    let target = resolve(workspace, id)?;
    let target_id = ObjectId::from_hex(target.id.0.as_bytes())
        .map_err(|e| Error::git("read the checkpoint id", gix::Error::from_error(e)))?;
    let short = &target.id.0[..12.min(target.id.0.len())];

    let ws = repo::open(workspace)?;
    busy_unless(checkpoint::operation_in_progress(&ws.repo))?;
    let (dirty, _) = dirty_files(&ws, &options.checkpoint, target_id)?;
    let ws = if dirty.is_empty() {
        ws
    } else if options.checkpoint_first {
        let message = format!(
            "ralph: save before rollback to {short}\n\nSaves uncommitted work before restoring checkpoint {}.\n",
            target.id
        );
        match checkpoint::save(&ws, &options.checkpoint, &Target::Head, &message)? {
            CheckpointOutcome::Skipped { reason } => {
                return Err(Error::Busy {
                    action: "roll back",
                    reason,
                });
            }
            CheckpointOutcome::Committed(saved) => {
                info!(commit = %saved.commit, "uncommitted changes saved before the rollback")
            }
            CheckpointOutcome::Unchanged { .. } => {}
        }
        // Reopen so the index and refs are read as the save left them.
        let ws = repo::open(workspace)?;
        let (dirty, _) = dirty_files(&ws, &options.checkpoint, target_id)?;
        if !dirty.is_empty() {
            return Err(dirty_error(dirty));
        }
        ws
    } else {
        return Err(dirty_error(dirty));
    };
    restore(&ws, &options.checkpoint, &target, target_id)
}

/// Restores the (clean) workspace to the checkpoint and commits it.
fn restore(
    ws: &Workspace,
    options: &CheckpointOptions,
    target: &CheckpointInfo,
    target_id: ObjectId,
) -> Result<CommitId, Error> {
    let repo = &ws.repo;
    let lock = match index::lock(repo, options.lock_timeout)? {
        LockState::Held(lock) => lock,
        LockState::Busy(lock) => {
            return Err(Error::Busy {
                action: "roll back",
                reason: crate::SkipReason::IndexLocked { lock },
            });
        }
    };
    // Checked again under the lock: nothing may have changed since the dirty check.
    let (dirty, snapshot) = dirty_files(ws, options, target_id)?;
    if !dirty.is_empty() {
        return Err(dirty_error(dirty));
    }
    let (snapshot, mut index_file) = snapshot;
    let head = snapshot.head;
    let new_tree = restored_tree(ws, head.tree, tree::of_commit(repo, target_id)?)?;
    let changes = tree::changes(repo, head.tree, new_tree)?;
    if changes.is_empty() {
        info!(checkpoint = %target.id, "the workspace already matches the checkpoint; nothing to roll back");
        return Ok(head.commit.unwrap_or(target_id).into());
    }

    let updates = write_worktree(ws, &changes)?;
    let message = format!(
        "ralph: rollback to checkpoint {} (run {})\n\nRestores the workspace to checkpoint {}.\n\n{TRAILER_ROLLBACK}: {}\n",
        target.iteration, target.run_id, target.id, target.id
    );
    let parents: Vec<ObjectId> = head.commit.into_iter().collect();
    let commit = crate::commit::commit(
        repo,
        "HEAD",
        &message,
        new_tree,
        &parents,
        &options.fallback_identity,
    )?;
    index::apply(&mut index_file, &updates);
    index::write(repo, &mut index_file, lock)?;
    info!(commit = %commit, checkpoint = %target.id, files = changes.len(), "rolled back");
    Ok(commit.into())
}

/// Writes the changes into the working tree (deletions first, so files and directories can trade places) and
/// returns the matching index updates. Submodule checkouts are not touched.
fn write_worktree(
    ws: &Workspace,
    changes: &[TreeChange],
) -> Result<BTreeMap<BString, EntryUpdate>, Error> {
    let mut updates = BTreeMap::new();
    for change in changes.iter().filter(|c| c.new.is_none()) {
        if change.old != Some(EntryKind::Commit) {
            worktree::remove(&ws.workdir, change.path.as_bstr())?;
        }
        updates.insert(change.path.clone(), EntryUpdate::Remove);
    }
    for change in changes {
        let Some((kind, id)) = change.new else {
            continue;
        };
        let stat = if kind == EntryKind::Commit {
            gix::index::entry::Stat::default()
        } else {
            worktree::checkout(&ws.repo, &ws.workdir, change.path.as_bstr(), kind, id)?
        };
        updates.insert(change.path.clone(), EntryUpdate::Set { kind, id, stat });
    }
    Ok(updates)
}

/// `head_tree` with the workspace's part replaced by the checkpoint's (the whole tree when the workspace is the
/// whole working tree).
fn restored_tree(
    ws: &Workspace,
    head_tree: ObjectId,
    checkpoint_tree: ObjectId,
) -> Result<ObjectId, Error> {
    let prefix = ws.scope.prefix();
    if prefix.is_empty() {
        return Ok(checkpoint_tree);
    }
    let repo = &ws.repo;
    let subtree = repo
        .find_tree(checkpoint_tree)
        .ctx("read the checkpoint's tree")?
        .lookup_entry_by_path(crate::paths::to_native(prefix))
        .ctx("read the checkpoint's tree")?
        .filter(|entry| entry.mode().is_tree())
        .map(|entry| entry.object_id());
    let mut editor = repo.edit_tree(head_tree).ctx("read HEAD's tree")?;
    match subtree {
        Some(id) => editor
            .upsert(prefix, EntryKind::Tree, id)
            .ctx("edit the tree")?,
        None => editor.remove(prefix).ctx("edit the tree")?,
    };
    Ok(editor.write().ctx("write the tree")?.detach())
}

type Snapshotted = (checkpoint::Snapshot, gix::index::File);

/// The uncommitted changes of the workspace (paths), including untracked or ignored files that the rollback
/// would overwrite, plus the snapshot they come from.
fn dirty_files(
    ws: &Workspace,
    options: &CheckpointOptions,
    target_id: ObjectId,
) -> Result<(Vec<String>, Snapshotted), Error> {
    let filter = Filter::new(options, ws);
    let (snapshot, index_file) = match checkpoint::snapshot(ws, &filter)? {
        Ok(found) => found,
        Err(reason) => {
            return Err(Error::Busy {
                action: "roll back",
                reason,
            });
        }
    };
    let mut dirty: Vec<String> = tree::changes(&ws.repo, snapshot.head.tree, snapshot.tree)?
        .into_iter()
        .map(|c| c.path.to_str_lossy().into_owned())
        .collect();
    let restored = restored_tree(
        ws,
        snapshot.head.tree,
        tree::of_commit(&ws.repo, target_id)?,
    )?;
    // A path the rollback adds must be free: a file there now is untracked (skipped as a secret, oversized, or
    // ignored), and overwriting it would lose it.
    for change in tree::changes(&ws.repo, snapshot.head.tree, restored)? {
        let adds = change.old.is_none() && change.new.is_some();
        if adds && worktree::size(&ws.workdir, change.path.as_bstr())?.is_some() {
            dirty.push(change.path.to_str_lossy().into_owned());
        }
    }
    dirty.sort();
    dirty.dedup();
    Ok((dirty, (snapshot, index_file)))
}

fn dirty_error(mut files: Vec<String>) -> Error {
    if files.len() > MAX_DIRTY_NAMED {
        let more = files.len() - MAX_DIRTY_NAMED;
        files.truncate(MAX_DIRTY_NAMED);
        files.push(format!("... and {more} more"));
    }
    Error::DirtyWorkspace { files }
}

fn busy_unless(reason: Option<crate::SkipReason>) -> Result<(), Error> {
    match reason {
        Some(reason) => Err(Error::Busy {
            action: "roll back",
            reason,
        }),
        None => Ok(()),
    }
}

/// Finds the checkpoint whose id is or starts with `id`.
fn resolve(workspace: &Path, id: &str) -> Result<CheckpointInfo, Error> {
    let wanted = id.trim().to_ascii_lowercase();
    if wanted.len() < 4 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::UnknownCheckpoint { id: id.to_owned() });
    }
    let mut matches: Vec<CheckpointInfo> = list_checkpoints(workspace, None)?
        .into_iter()
        .filter(|c| c.id.0.starts_with(&wanted))
        .collect();
    match matches.len() {
        0 => Err(Error::UnknownCheckpoint { id: id.to_owned() }),
        1 => Ok(matches.remove(0)),
        _ => Err(Error::AmbiguousCheckpoint {
            id: id.to_owned(),
            candidates: matches.into_iter().map(|c| c.id.0).collect(),
        }),
    }
}
