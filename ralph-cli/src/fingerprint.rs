//! The workspace fingerprint behind `--stall-iterations`: git's view when the workspace is in a repository
//! and git is allowed (`HEAD` plus the tree a checkpoint would commit, see
//! [`ralph_git::workspace_fingerprint`]), else a SHA-256 over every file's path, kind and content, with
//! `.git` and the state directory left out.

use async_trait::async_trait;
use ralph_git::CheckpointOptions;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Fingerprints the workspace for [`ralph_core::progress::StallDetection`].
#[derive(Debug, Clone)]
pub struct WorkspaceFingerprint {
    state_dir: PathBuf,
    use_git: bool,
}

impl WorkspaceFingerprint {
    /// A fingerprint that leaves out `state_dir`; `use_git` false (`--no-git`) never opens the repository.
    pub fn new(state_dir: PathBuf, use_git: bool) -> Self {
        WorkspaceFingerprint { state_dir, use_git }
    }

    /// The fingerprint, blocking.
    pub fn take(&self, workspace: &Path) -> Option<String> {
        if self.use_git {
            let options = CheckpointOptions {
                state_dir: self.state_dir.clone(),
                ..CheckpointOptions::default()
            };
            match ralph_git::workspace_fingerprint(workspace, &options) {
                Ok(fp) => return fp.map(|f| format!("git:{f}")),
                Err(e) if e.is_not_a_repository() => {}
                Err(e) => {
                    tracing::debug!("workspace fingerprint: {e}");
                    return None;
                }
            }
        }
        files_fingerprint(workspace, &self.state_dir).map(|f| format!("files:{f}"))
    }
}

#[async_trait]
impl ralph_core::Fingerprint for WorkspaceFingerprint {
    async fn fingerprint(&self, workspace: &Path) -> Option<String> {
        let this = self.clone();
        let workspace = workspace.to_path_buf();
        tokio::task::spawn_blocking(move || this.take(&workspace))
            .await
            .ok()
            .flatten()
    }
}

/// SHA-256 (hex) over the sorted paths under `root` with their kind and content (a symlink's target,
/// not what it points to), skipping `.git` and `skip`. `None` when a directory cannot be read.
pub fn files_fingerprint(root: &Path, skip: &Path) -> Option<String> {
    let skip = skip.canonicalize().unwrap_or_else(|_| skip.to_path_buf());
    let mut hasher = Sha256::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if entry.file_name() == ".git" || path == skip {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            hasher.update(rel.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            if kind.is_dir() {
                hasher.update(b"d");
                stack.push(path);
            } else if kind.is_symlink() {
                hasher.update(b"l");
                if let Ok(target) = std::fs::read_link(&path) {
                    hasher.update(target.as_os_str().as_encoded_bytes());
                }
            } else {
                use std::os::unix::fs::PermissionsExt;
                let exec = entry
                    .metadata()
                    .map(|m| m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false);
                hasher.update(if exec { b"x" } else { b"f" });
                if let Ok(mut file) = std::fs::File::open(&path) {
                    let _ = std::io::copy(&mut file, &mut hasher);
                }
            }
            hasher.update([0]);
        }
    }
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_hashes_change_with_content_and_names_but_not_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let state = root.join(".agent");
        std::fs::create_dir(&state).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        let fp = || files_fingerprint(root, &state).unwrap();
        let start = fp();
        assert_eq!(fp(), start);
        std::fs::write(state.join("state.json"), "{}").unwrap();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/HEAD"), "x").unwrap();
        assert_eq!(fp(), start, "state dir and .git are left out");
        std::fs::write(root.join("a.txt"), "b").unwrap();
        assert_ne!(fp(), start, "content");
        std::fs::write(root.join("a.txt"), "a").unwrap();
        assert_eq!(fp(), start);
        std::fs::rename(root.join("a.txt"), root.join("b.txt")).unwrap();
        assert_ne!(fp(), start, "names");
    }
}
