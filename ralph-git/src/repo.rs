//! Finding, opening and creating the repository around a workspace, and what `HEAD` points to.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice, ByteVec};

use crate::error::{Error, GixResultExt};

/// An opened repository plus where the workspace sits in it.
pub(crate) struct Workspace {
    /// The repository, opened afresh for each operation so it sees what the agent did to it.
    pub repo: gix::Repository,
    /// The repository's working tree root (canonical).
    pub workdir: PathBuf,
    /// The part of the working tree that belongs to the workspace.
    pub scope: Scope,
}

/// The repository-relative directory the workspace covers: empty for the whole working tree, `sub/dir` when the
/// workspace is a subdirectory of a larger repository (a monorepo package, or a project inside a dotfiles
/// repository in `$HOME`). Only paths inside it are ever staged, committed or restored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    prefix: BString,
}

impl Scope {
    /// True when `path` (repository-relative, `/`-separated) is inside the workspace.
    pub fn contains(&self, path: &BStr) -> bool {
        self.prefix.is_empty()
            || path == self.prefix.as_bstr()
            || (path.starts_with(self.prefix.as_bytes())
                && path.get(self.prefix.len()) == Some(&b'/'))
    }

    /// The pathspecs that limit a status to the workspace (none for the whole working tree). `top` makes the
    /// spec independent of the process's current directory, `literal` keeps `*` or `[` in names literal.
    pub fn pathspecs(&self) -> Vec<BString> {
        if self.prefix.is_empty() {
            return Vec::new();
        }
        let mut spec = BString::from(":(top,literal)");
        spec.push_str(&self.prefix);
        vec![spec]
    }

    /// The workspace's repository-relative directory (empty for the whole working tree).
    pub fn prefix(&self) -> &BStr {
        self.prefix.as_bstr()
    }
}

/// What `HEAD` points to.
#[derive(Debug, Clone)]
pub(crate) struct HeadState {
    /// The commit, `None` on an unborn branch.
    pub commit: Option<ObjectId>,
    /// The commit's tree, or the empty tree on an unborn branch.
    pub tree: ObjectId,
    /// The branch `HEAD` refers to (possibly unborn), `None` when detached.
    pub branch: Option<String>,
}

impl HeadState {
    /// True when `HEAD` points at a commit directly.
    pub fn is_detached(&self) -> bool {
        self.branch.is_none()
    }

    /// What to call the place a commit went: the branch's full name, or `HEAD` when detached.
    pub fn describe(&self) -> String {
        self.branch.clone().unwrap_or_else(|| "HEAD".to_owned())
    }
}

/// Reads `HEAD`: its commit and tree, and the branch it refers to.
pub(crate) fn head_state(repo: &gix::Repository) -> Result<HeadState, Error> {
    let head = repo.head().ctx("read HEAD")?;
    let branch = head
        .referent_name()
        .map(|name| name.as_bstr().to_str_lossy().into_owned());
    let mut head = head;
    if head.is_unborn() {
        return Ok(HeadState {
            commit: None,
            tree: ObjectId::empty_tree(repo.object_hash()),
            branch,
        });
    }
    let commit = head
        .peel_to_commit()
        .ctx("read the commit HEAD points to")?;
    let tree = commit.tree_id().ctx("read HEAD's tree")?.detach();
    Ok(HeadState {
        commit: Some(commit.id),
        tree,
        branch,
    })
}

/// Opens the repository containing `workspace` (searching upwards like git does) and works out the workspace's
/// place in it.
///
/// # Errors
/// [`Error::NotARepository`] when there is none, [`Error::BareRepository`] when it has no working tree,
/// [`Error::Io`] when `workspace` does not exist, [`Error::Git`] when it cannot be opened.
pub(crate) fn open(workspace: &Path) -> Result<Workspace, Error> {
    let workspace = workspace
        .canonicalize()
        .map_err(|e| Error::io("open the workspace", workspace, e))?;
    let repo = match gix::discover(&workspace) {
        Ok(repo) => repo,
        Err(err) if is_not_found(&err) => return Err(Error::NotARepository { path: workspace }),
        Err(err) => {
            return Err(Error::git(
                format!("open the repository at {}", workspace.display()),
                err,
            ));
        }
    };
    let Some(workdir) = repo.workdir() else {
        return Err(Error::BareRepository {
            path: repo.git_dir().to_owned(),
        });
    };
    let workdir = workdir
        .canonicalize()
        .map_err(|e| Error::io("open the working tree", workdir, e))?;
    let prefix = workspace
        .strip_prefix(&workdir)
        .map(crate::paths::to_repo)
        .unwrap_or_default();
    Ok(Workspace {
        repo,
        workdir,
        scope: Scope { prefix },
    })
}

/// True when `err` says no repository was found (as opposed to one that is broken or unreadable).
fn is_not_found(err: &gix::Error) -> bool {
    use gix::discover::upwards::Error as Upwards;
    matches!(
        err.downcast_any_ref::<Upwards>(),
        Some(
            Upwards::NoGitRepository { .. }
                | Upwards::NoGitRepositoryWithinCeiling { .. }
                | Upwards::NoGitRepositoryWithinFs { .. }
        )
    )
}

/// Returns the root of the working tree of the repository that contains `workspace`, or `None` when `workspace`
/// is not inside a git repository (the CLI then warns once and runs without checkpoints).
///
/// # Errors
/// [`Error::Io`] when `workspace` does not exist; [`Error::Git`] when a repository was found but cannot be
/// opened; [`Error::BareRepository`] when it has no working tree.
pub fn discover_repository(workspace: &Path) -> Result<Option<PathBuf>, Error> {
    match open(workspace) {
        Ok(ws) => Ok(Some(ws.workdir)),
        Err(Error::NotARepository { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Creates a git repository in `path` (`--git-init`) unless `path` is already inside one. The new repository
/// has an unborn branch (`init.defaultBranch`, else `main`); the first checkpoint becomes its root commit.
///
/// Returns `true` when a repository was created, `false` when `path` already was inside one.
///
/// # Errors
/// [`Error::Io`] when `path` does not exist, [`Error::Git`] when the repository cannot be created.
pub fn init_repository(path: &Path) -> Result<bool, Error> {
    if discover_repository(path)?.is_some() {
        return Ok(false);
    }
    gix::init(path).ctx(&format!("create a repository in {}", path.display()))?;
    Ok(true)
}
