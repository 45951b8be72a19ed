//! Reading working-tree files into blobs, and writing blobs back into the working tree (for rollback).
//!
//! Content is taken byte for byte: no end-of-line conversion, no `.gitattributes` filters (LFS, `ident`,
//! `working-tree-encoding`). In a repository that relies on such filters a checkpoint stores the file as it is on
//! disk, where `git add` would have stored the filtered form.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};
use gix::index::entry::Stat;
use gix::objs::tree::EntryKind;

use crate::error::{Error, GixResultExt};

/// A working-tree file written to the object database.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    /// Blob, executable blob or symbolic link.
    pub kind: EntryKind,
    /// The blob's id.
    pub id: ObjectId,
    /// The file's stat as taken *before* reading it: if the file changes while it is read, git sees a different
    /// stat and looks at the content again instead of trusting the index.
    pub stat: Stat,
}

/// What was found at a working-tree path.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// A file or symbolic link, now stored as a blob.
    Stored(StoredFile),
    /// Nothing: the path was deleted.
    Missing,
    /// A directory: a tracked file was replaced by a directory (whose files are listed as untracked).
    Directory,
    /// Something git cannot store (named pipe, socket, device).
    Unsupported,
}

/// How to decide whether a file is executable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecBit {
    /// `core.fileMode`: when false the file system's executable bit is not trusted.
    pub trusted: bool,
    /// The mode the index has for this path, if any (kept when the bit is not trusted).
    pub previous: Option<EntryKind>,
}

/// Returns the size of the file at `rela_path` without following symbolic links (a symlink's size is its
/// target's length), or `None` when it does not exist.
pub(crate) fn size(workdir: &Path, rela_path: &BStr) -> Result<Option<u64>, Error> {
    let path = full_path(workdir, rela_path);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if is_gone(&e) => Ok(None),
        Err(e) => Err(Error::io("read the metadata of", path, e)),
    }
}

/// True when an error means the path does not exist (also when a parent became a file).
fn is_gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Stores the file at `rela_path` as a blob and returns its id, entry kind and stat.
pub(crate) fn store(
    repo: &gix::Repository,
    workdir: &Path,
    rela_path: &BStr,
    exec: ExecBit,
) -> Result<Found, Error> {
    let path = full_path(workdir, rela_path);
    let meta = match gix::index::fs::Metadata::from_path_no_follow(&path) {
        Ok(meta) => meta,
        Err(e) if is_gone(&e) => return Ok(Found::Missing),
        Err(e) => return Err(Error::io("read the metadata of", path, e)),
    };
    let stat = Stat::from_fs(&meta).unwrap_or_default();
    let (kind, data) = if meta.is_symlink() {
        let target = match std::fs::read_link(&path) {
            Ok(target) => target,
            Err(e) if is_gone(&e) => return Ok(Found::Missing),
            Err(e) => return Err(Error::io("read the symbolic link", path, e)),
        };
        let target = crate::paths::to_repo(&target);
        (EntryKind::Link, target.into())
    } else if meta.is_file() {
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(e) if is_gone(&e) => return Ok(Found::Missing),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let executable = if exec.trusted {
            meta.is_executable()
        } else {
            exec.previous == Some(EntryKind::BlobExecutable)
        };
        let kind = if executable {
            EntryKind::BlobExecutable
        } else {
            EntryKind::Blob
        };
        (kind, data)
    } else if meta.is_dir() {
        return Ok(Found::Directory);
    } else {
        return Ok(Found::Unsupported);
    };
    let id = repo
        .write_blob(&data)
        .ctx(&format!("store {}", path.display()))?
        .detach();
    Ok(Found::Stored(StoredFile { kind, id, stat }))
}

/// Writes the blob `id` to `rela_path` as `kind` (replacing what is there) and returns the new file's stat.
///
/// Only called by rollback on a working tree whose content is all committed, so nothing is lost.
pub(crate) fn checkout(
    repo: &gix::Repository,
    workdir: &Path,
    rela_path: &BStr,
    kind: EntryKind,
    id: ObjectId,
) -> Result<Stat, Error> {
    let path = full_path(workdir, rela_path);
    let blob = repo
        .find_blob(id)
        .ctx(&format!("read blob {id} for {}", path.display()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io("create the directory", parent, e))?;
    }
    remove_file_if_present(&path)?;
    match kind {
        EntryKind::Link => {
            let target = crate::paths::to_native(blob.data.as_bstr());
            symlink(&target, &path).map_err(|e| Error::io("create the symbolic link", &path, e))?;
        }
        _ => {
            std::fs::write(&path, &blob.data).map_err(|e| Error::io("write", &path, e))?;
            set_executable(&path, kind == EntryKind::BlobExecutable)?;
        }
    }
    let meta = gix::index::fs::Metadata::from_path_no_follow(&path)
        .map_err(|e| Error::io("read the metadata of", &path, e))?;
    Ok(Stat::from_fs(&meta).unwrap_or_default())
}

/// Deletes the file at `rela_path`, then the directories above it that this left empty (as `git rm` does).
pub(crate) fn remove(workdir: &Path, rela_path: &BStr) -> Result<(), Error> {
    let path = full_path(workdir, rela_path);
    remove_file_if_present(&path)?;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == workdir || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// `workdir` joined with the repository-relative `rela_path`.
pub(crate) fn full_path(workdir: &Path, rela_path: &BStr) -> PathBuf {
    workdir.join(crate::paths::to_native(rela_path))
}

fn remove_file_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            // A directory where a file must go: only an empty one may be removed, never files inside it.
            std::fs::remove_dir(path).map_err(|e| Error::io("replace the directory", path, e))
        }
        Ok(_) => std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("read the metadata of", path, e)),
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    // Without symlink support git itself writes the target into a plain file (`core.symlinks=false`).
    std::fs::write(link, crate::paths::to_repo(target))
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read the metadata of", path, e))?;
    let mode = meta.permissions().mode();
    // Like git: executable files get x wherever r is set; others lose every x bit.
    let new_mode = if executable {
        mode | ((mode & 0o444) >> 2)
    } else {
        mode & !0o111
    };
    if new_mode != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(new_mode))
            .map_err(|e| Error::io("set the permissions of", path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_path: &Path, _executable: bool) -> Result<(), Error> {
    Ok(())
}
