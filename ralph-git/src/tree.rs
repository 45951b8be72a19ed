//! Building the checkpoint tree from `HEAD`'s tree and the per-path edits, and comparing trees.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::bstr::{BStr, BString};

use crate::error::{Error, GixResultExt};
use crate::status::Edit;

/// Applies `edits` to the tree `base` and writes the result; only the subtrees on edited paths are written.
pub(crate) fn build(
    repo: &gix::Repository,
    base: ObjectId,
    edits: &BTreeMap<&BStr, &Edit>,
) -> Result<ObjectId, Error> {
    let mut editor = repo.edit_tree(base).ctx("read HEAD's tree")?;
    // Removals first, so a file can take the place of a removed directory and the other way round.
    for (path, _) in edits.iter().filter(|(_, e)| matches!(e, Edit::Remove)) {
        editor
            .remove(*path)
            .ctx(&format!("remove {path} from the tree"))?;
    }
    for (path, edit) in edits {
        if let Edit::Upsert { kind, id, .. } = edit {
            editor
                .upsert(*path, *kind, *id)
                .ctx(&format!("add {path} to the tree"))?;
        }
    }
    Ok(editor.write().ctx("write the tree")?.detach())
}

/// One path whose entry differs between two trees (trees themselves are not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeChange {
    /// Repository-relative path.
    pub path: BString,
    /// The entry's kind in the old tree, `None` when the path was added.
    pub old: Option<gix::objs::tree::EntryKind>,
    /// The entry in the new tree, `None` when the path was deleted.
    pub new: Option<(gix::objs::tree::EntryKind, ObjectId)>,
}

/// The non-tree entries that differ from `old` to `new` (rename tracking off), sorted by path.
pub(crate) fn changes(
    repo: &gix::Repository,
    old: ObjectId,
    new: ObjectId,
) -> Result<Vec<TreeChange>, Error> {
    use gix::object::tree::diff::ChangeDetached;
    if old == new {
        return Ok(Vec::new());
    }
    let old_tree = repo.find_tree(old).ctx("read a tree")?;
    let new_tree = repo.find_tree(new).ctx("read a tree")?;
    let options = gix::diff::Options::default().with_rewrites(None);
    let detached = repo
        .diff_tree_to_tree(&old_tree, &new_tree, options)
        .ctx("compare two trees")?;
    let mut out: Vec<TreeChange> = detached
        .into_iter()
        .filter_map(|change| match change {
            ChangeDetached::Addition {
                location,
                entry_mode,
                id,
                ..
            } => (!entry_mode.is_tree()).then(|| TreeChange {
                path: location,
                old: None,
                new: Some((entry_mode.kind(), id)),
            }),
            ChangeDetached::Modification {
                location,
                previous_entry_mode,
                entry_mode,
                id,
                ..
            } => match (previous_entry_mode.is_tree(), entry_mode.is_tree()) {
                (was_tree, false) => Some(TreeChange {
                    path: location,
                    old: (!was_tree).then(|| previous_entry_mode.kind()),
                    new: Some((entry_mode.kind(), id)),
                }),
                // A file that became a directory: the file is deleted, the directory's files come as additions.
                (false, true) => Some(TreeChange {
                    path: location,
                    old: Some(previous_entry_mode.kind()),
                    new: None,
                }),
                (true, true) => None,
            },
            ChangeDetached::Deletion {
                location,
                entry_mode,
                ..
            } => (!entry_mode.is_tree()).then(|| TreeChange {
                path: location,
                old: Some(entry_mode.kind()),
                new: None,
            }),
            ChangeDetached::Rewrite { .. } => None,
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The tree of commit `id`.
pub(crate) fn of_commit(repo: &gix::Repository, id: ObjectId) -> Result<ObjectId, Error> {
    let commit = repo.find_commit(id).ctx(&format!("read commit {id}"))?;
    Ok(commit
        .tree_id()
        .ctx(&format!("read the tree of commit {id}"))?
        .detach())
}
