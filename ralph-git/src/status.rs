//! What `git add -A` would stage: the status (HEAD→index, index→worktree, untracked files one by one, ignored
//! files and submodules left out) turned into per-path edits, with the working-tree files stored as blobs.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Mode, Stat};
use gix::objs::tree::EntryKind;
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};

use crate::error::{Error, GixResultExt};
use crate::repo::Workspace;
use crate::safety::{Filter, SkipFileReason, SkippedFile};
use crate::worktree::{self, ExecBit, Found};

/// The new state of one path in the checkpoint tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edit {
    /// The path is gone.
    Remove,
    /// The path holds this entry.
    Upsert {
        /// Blob, executable, link, or (staged gitlinks only) commit.
        kind: EntryKind,
        /// The object.
        id: ObjectId,
        /// The working-tree file's stat when the blob was read from it: the index entry must be updated.
        stat: Option<Stat>,
    },
}

/// Everything a checkpoint changes relative to `HEAD`, per repository-relative path.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// HEAD→index: what is staged already.
    pub staged: BTreeMap<BString, Edit>,
    /// index→worktree and untracked files: applied over `staged`.
    pub worktree: BTreeMap<BString, Edit>,
    /// Unchanged files whose index stat is stale (refreshing it saves git from hashing them again).
    pub refreshed: Vec<(BString, Stat)>,
    /// Files deliberately left out, sorted by path.
    pub skipped: BTreeMap<BString, SkipFileReason>,
}

impl Changes {
    /// The final edit of every path: the working tree's where there is one, else the staged one.
    pub fn merged(&self) -> BTreeMap<&BStr, &Edit> {
        let mut merged: BTreeMap<&BStr, &Edit> =
            self.staged.iter().map(|(p, e)| (p.as_bstr(), e)).collect();
        merged.extend(self.worktree.iter().map(|(p, e)| (p.as_bstr(), e)));
        merged
    }

    /// The skipped files, for reports.
    pub fn skipped_files(&self) -> Vec<SkippedFile> {
        self.skipped
            .iter()
            .map(|(path, reason)| SkippedFile {
                path: crate::paths::to_native(path.as_bstr()),
                reason: reason.clone(),
            })
            .collect()
    }
}

/// Computes the changes of the workspace relative to `head_tree`, given the `index` as read under the lock.
pub(crate) fn collect(
    ws: &Workspace,
    index: &gix::worktree::Index,
    head_tree: ObjectId,
    filter: &Filter,
) -> Result<Changes, Error> {
    let repo = &ws.repo;
    let trust_exec_bit = repo
        .config_snapshot()
        .boolean("core.fileMode")
        .unwrap_or(true);
    let iter = repo
        .status(gix::progress::Discard)
        .ctx("start the status")?
        .index(index.clone().into())
        .head_tree(head_tree)
        .untracked_files(gix::status::UntrackedFiles::Files)
        // `None` means "ignore submodules entirely": their content is theirs to commit.
        .index_worktree_submodules(None)
        .index_worktree_rewrites(None)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        .into_iter(ws.scope.pathspecs())
        .ctx("compute the status")?;

    let mut changes = Changes::default();
    for item in iter {
        let item = item.ctx("compute the status")?;
        match item {
            gix::status::Item::TreeIndex(change) => staged(&mut changes, ws, filter, &change),
            gix::status::Item::IndexWorktree(item) => {
                worktree_item(&mut changes, ws, filter, item, trust_exec_bit)?
            }
        }
    }
    Ok(changes)
}

/// Records a HEAD→index change: the index's version is what `git add -A` starts from.
fn staged(
    changes: &mut Changes,
    ws: &Workspace,
    filter: &Filter,
    change: &gix::diff::index::Change,
) {
    let (path, _, mode, id) = change.fields();
    if !ws.scope.contains(path) {
        return;
    }
    if filter.is_state_file(path) {
        changes
            .skipped
            .insert(path.to_owned(), SkipFileReason::StateDir);
        return;
    }
    let edit = match change {
        gix::diff::index::ChangeRef::Deletion { .. } => Edit::Remove,
        _ => match mode.to_tree_entry_mode() {
            Some(mode) => Edit::Upsert {
                kind: mode.kind(),
                id: id.to_owned(),
                stat: None,
            },
            None => return,
        },
    };
    changes.staged.insert(path.to_owned(), edit);
}

/// Records an index→worktree change or an untracked file, storing the file's content as a blob.
fn worktree_item(
    changes: &mut Changes,
    ws: &Workspace,
    filter: &Filter,
    item: WorktreeItem,
    trust_exec_bit: bool,
) -> Result<(), Error> {
    match item {
        WorktreeItem::Modification {
            entry,
            rela_path,
            status,
            ..
        } => {
            // Submodules are left alone, and so are paths outside the workspace.
            if entry.mode == Mode::COMMIT || !ws.scope.contains(rela_path.as_bstr()) {
                return Ok(());
            }
            let store = match status {
                EntryStatus::Change(Change::Removed) => false,
                EntryStatus::Change(Change::Modification { .. } | Change::Type { .. })
                | EntryStatus::IntentToAdd => true,
                EntryStatus::NeedsUpdate(stat) => {
                    changes.refreshed.push((rela_path, stat));
                    return Ok(());
                }
                EntryStatus::Change(Change::SubmoduleModification(_))
                | EntryStatus::Conflict { .. } => return Ok(()),
            };
            if filter.is_state_file(rela_path.as_bstr()) {
                changes.skipped.insert(rela_path, SkipFileReason::StateDir);
                return Ok(());
            }
            let found = if store {
                let previous = entry.mode.to_tree_entry_mode().map(|m| m.kind());
                let exec = ExecBit {
                    trusted: trust_exec_bit,
                    previous,
                };
                worktree::store(&ws.repo, &ws.workdir, rela_path.as_bstr(), exec)?
            } else {
                Found::Missing
            };
            let edit = match found {
                Found::Stored(file) => Edit::Upsert {
                    kind: file.kind,
                    id: file.id,
                    stat: Some(file.stat),
                },
                // A directory in place of the file: the files inside come as untracked entries.
                Found::Missing | Found::Directory => Edit::Remove,
                Found::Unsupported => {
                    changes
                        .skipped
                        .insert(rela_path, SkipFileReason::Unsupported);
                    return Ok(());
                }
            };
            changes.worktree.insert(rela_path, edit);
        }
        WorktreeItem::DirectoryContents { entry, .. } => {
            if entry.status != gix::dir::entry::Status::Untracked
                || !ws.scope.contains(entry.rela_path.as_bstr())
            {
                return Ok(());
            }
            untracked(changes, ws, filter, entry, trust_exec_bit)?;
        }
        // Rename tracking is off, so there are no rewrites.
        WorktreeItem::Rewrite { .. } => {}
    }
    Ok(())
}

/// Records an untracked file unless the filter says to skip it.
fn untracked(
    changes: &mut Changes,
    ws: &Workspace,
    filter: &Filter,
    entry: gix::dir::Entry,
    trust_exec_bit: bool,
) -> Result<(), Error> {
    use gix::dir::entry::Kind;
    let path = entry.rela_path;
    match entry.disk_kind {
        Some(Kind::Repository) => {
            changes
                .skipped
                .insert(path, SkipFileReason::EmbeddedRepository);
            return Ok(());
        }
        Some(Kind::Untrackable) => {
            changes.skipped.insert(path, SkipFileReason::Unsupported);
            return Ok(());
        }
        Some(Kind::Directory) => return Ok(()),
        Some(Kind::File | Kind::Symlink) | None => {}
    }
    let Some(size) = worktree::size(&ws.workdir, path.as_bstr())? else {
        return Ok(());
    };
    if let Some(reason) = filter.untracked_skip_reason(path.as_bstr(), size) {
        changes.skipped.insert(path, reason);
        return Ok(());
    }
    let exec = ExecBit {
        trusted: trust_exec_bit,
        previous: None,
    };
    match worktree::store(&ws.repo, &ws.workdir, path.as_bstr(), exec)? {
        Found::Stored(file) => {
            changes.worktree.insert(
                path,
                Edit::Upsert {
                    kind: file.kind,
                    id: file.id,
                    stat: Some(file.stat),
                },
            );
        }
        Found::Unsupported => {
            changes.skipped.insert(path, SkipFileReason::Unsupported);
        }
        Found::Missing | Found::Directory => {}
    }
    Ok(())
}

/// The paths of `index` (within the workspace) that have conflict stages, sorted.
pub(crate) fn conflicts(ws: &Workspace, index: &gix::index::State) -> Vec<BString> {
    let mut paths: Vec<BString> = index
        .entries()
        .iter()
        .filter(|e| e.stage() != gix::index::entry::Stage::Unconflicted)
        .map(|e| e.path(index).to_owned())
        .filter(|p| ws.scope.contains(p.as_bstr()))
        .collect();
    paths.dedup();
    paths
}
