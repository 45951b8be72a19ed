//! One run per workspace: an advisory lock on `<state dir>/lock` holding the owner's pid.
//!
//! The lock is an OS file lock (`flock`), so it is released by the kernel when its holder dies, even by
//! `kill -9`: a lock file left by a dead process is simply taken over (with a warning naming the dead pid).
//! The file itself is never deleted, so two processes can never end up locking different files.

use crate::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Holds the workspace's run lock until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    /// A lock on the workspace directory itself, so that two runs with different state directories
    /// cannot share one workspace either.
    workspace: Option<File>,
    path: PathBuf,
    /// The pid found in a lock file whose holder had died, if any.
    pub stale_pid: Option<u32>,
}

impl RunLock {
    /// Takes the lock in `state_dir` without waiting.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder's pid when another live process holds it; [`Error::State`] when
    /// the file cannot be opened or written.
    pub fn acquire(state_dir: &Path) -> Result<RunLock, Error> {
        let path = state_dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::State {
                path: path.clone(),
                message: format!("cannot open the lock file: {e}"),
                source: Some(Box::new(e)),
            })?;
        let previous = read_pid(&mut file);
        match try_lock_briefly(&file) {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path,
                    pid: read_pid(&mut file).or(previous),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::State {
                    path,
                    message: format!("cannot lock: {e}"),
                    source: Some(Box::new(e)),
                });
            }
        }
        let stale_pid = previous.filter(|p| *p != std::process::id());
        let write = (|| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_data()
        })();
        write.map_err(|e| Error::State {
            path: path.clone(),
            message: format!("cannot write the lock file: {e}"),
            source: Some(Box::new(e)),
        })?;
        Ok(RunLock {
            file,
            workspace: None,
            path,
            stale_pid,
        })
    }

    /// Takes the lock in `state_dir` and a lock on the `workspace` directory, without waiting.
    ///
    /// # Errors
    /// As [`RunLock::acquire`]; [`Error::Locked`] (pid unknown) when another run uses the same workspace
    /// with another state directory.
    pub fn acquire_for(state_dir: &Path, workspace: &Path) -> Result<RunLock, Error> {
        let mut lock = RunLock::acquire(state_dir)?;
        let dir = File::open(workspace).map_err(|e| Error::State {
            path: workspace.to_path_buf(),
            message: format!("cannot open the workspace: {e}"),
            source: Some(Box::new(e)),
        })?;
        match dir.try_lock() {
            Ok(()) => {
                lock.workspace = Some(dir);
                Ok(lock)
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                path: workspace.to_path_buf(),
                pid: None,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::State {
                path: workspace.to_path_buf(),
                message: format!("cannot lock the workspace: {e}"),
                source: Some(Box::new(e)),
            }),
        }
    }

    /// `Some` when a live process holds the lock in `state_dir` (for `ralph status` and `ralph health`),
    /// with the holder's pid if it wrote one; `None` when nobody does.
    ///
    /// The probe opens the file read-only and takes a *shared* lock for an instant, so it works on a
    /// read-only state directory; a run starting at that very instant retries for
    /// [`ACQUIRE_RETRY`] instead of reporting the probe as another run.
    pub fn holder(state_dir: &Path) -> Option<Option<u32>> {
        let path = state_dir.join("lock");
        let mut file = OpenOptions::new().read(true).open(path).ok()?;
        let pid = read_pid(&mut file);
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(_) => Some(pid),
        }
    }

    /// The pid written in the lock file of `state_dir`, whoever holds it (a holder that died without
    /// releasing the run leaves its pid behind; a clean exit clears it).
    pub fn recorded_pid(state_dir: &Path) -> Option<u32> {
        let mut file = File::open(state_dir.join("lock")).ok()?;
        read_pid(&mut file)
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Leave the file in place (see the module docs); clear the pid so nobody reports a stale holder.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        if let Some(dir) = &self.workspace {
            let _ = dir.unlock();
        }
    }
}

/// How long [`RunLock::acquire`] retries a lock held by someone else: long enough to outlast a
/// [`RunLock::holder`] probe, short enough to fail fast when another run holds it.
pub const ACQUIRE_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

fn try_lock_briefly(file: &File) -> Result<(), std::fs::TryLockError> {
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < ACQUIRE_RETRY => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        match RunLock::acquire(dir.path()) {
            Err(Error::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        assert_eq!(RunLock::holder(dir.path()), Some(Some(std::process::id())));
        drop(first);
        assert_eq!(RunLock::holder(dir.path()), None);
        RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn two_state_dirs_cannot_share_one_workspace() {
        let ws = tempfile::tempdir().unwrap();
        let _first = RunLock::acquire_for(&ws.path().join("a"), ws.path()).or_else(|_| {
            std::fs::create_dir_all(ws.path().join("a")).unwrap();
            RunLock::acquire_for(&ws.path().join("a"), ws.path())
        });
        std::fs::create_dir_all(ws.path().join("b")).unwrap();
        assert!(matches!(
            RunLock::acquire_for(&ws.path().join("b"), ws.path()),
            Err(Error::Locked { .. })
        ));
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lock"), "999999\n").unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.stale_pid, Some(999_999));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("lock"))
                .unwrap()
                .trim(),
            std::process::id().to_string()
        );
    }
}
