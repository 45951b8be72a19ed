//! Git wiring: which checkpointer a run uses, and `ralph checkpoints` / `ralph rollback`.

use crate::exit_codes;
use crate::settings::RunSettings;
use ralph_core::{Checkpointer, NoCheckpoints};
use ralph_git::{CheckpointMode, CheckpointOptions, GitCheckpointer, RollbackOptions};
use std::path::{Path, PathBuf};

/// The checkpointer for a run: none with `--no-git` or `checkpoint_interval: 0`; none (with one warning)
/// outside a git repository unless `--git-init` creates one; else git checkpoints on the branch or, with
/// `--checkpoint-ref`, on `refs/ralph/checkpoints/<run>`.
///
/// # Errors
/// A message for the user when the repository cannot be opened or created (exit code 2).
pub fn checkpointer(s: &RunSettings) -> Result<Box<dyn Checkpointer>, String> {
    if s.no_git || s.checkpoint_interval == 0 {
        return Ok(Box::new(NoCheckpoints));
    }
    let options = CheckpointOptions {
        mode: if s.checkpoint_ref {
            CheckpointMode::Ref
        } else {
            CheckpointMode::Branch
        },
        // The state directory to leave out comes from the engine, in each checkpoint request.
        ..CheckpointOptions::default()
    };
    if s.git_init {
        match ralph_git::init_repository(&s.workspace) {
            Ok(true) => tracing::info!("created a git repository in {}", s.workspace.display()),
            Ok(false) => {}
            Err(e) => return Err(format!("--git-init: {e}")),
        }
    }
    match GitCheckpointer::open(&s.workspace, options) {
        Ok(git) => {
            warn_on_index_lock(&s.workspace);
            Ok(Box::new(git))
        }
        Err(e) if e.is_not_a_repository() => {
            tracing::warn!(
                "{} is not in a git repository: running without checkpoints (pass --git-init to create one, or --no-git to silence this)",
                s.workspace.display()
            );
            Ok(Box::new(NoCheckpoints))
        }
        Err(e) => Err(format!(
            "git checkpoints: {e}; pass --no-git to run without them"
        )),
    }
}

/// The `.git/index.lock` of the repository around `workspace`, if one exists now.
pub fn index_lock(workspace: &Path) -> Option<PathBuf> {
    let git = workspace
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.exists())?;
    let lock = git.join("index.lock");
    lock.exists().then_some(lock)
}

/// A lock left by a git process killed mid-write (or a ralph killed during a checkpoint) blocks every
/// checkpoint, and ralph never deletes lock files: say so once, with the fix.
fn warn_on_index_lock(workspace: &Path) {
    if let Some(lock) = index_lock(workspace) {
        tracing::warn!(
            "{} exists: checkpoints are skipped while it does. If no git process is running (for example ralph or git was killed during a commit), remove it: rm {}",
            lock.display(),
            lock.display()
        );
    }
}

/// The workspace from `-C` or `RALPH_WORKSPACE`, else the current directory.
pub(crate) fn workspace(dir: Option<PathBuf>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    dir.or_else(|| std::env::var_os("RALPH_WORKSPACE").map(PathBuf::from))
        .map(|d| cwd.join(d))
        .unwrap_or(cwd)
}

/// `ralph checkpoints [--run ID] [--json]`.
pub fn list(dir: Option<PathBuf>, run: Option<&str>, json: bool) -> u8 {
    let ws = workspace(dir);
    let list = match ralph_git::list_checkpoints(&ws, run) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ralph: error: {e}");
            return exit_codes::USAGE;
        }
    };
    if json {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id.0, "run_id": c.run_id, "iteration": c.iteration, "agent": c.agent,
                    "cost_usd": c.cost_usd, "final": c.is_final, "time_unix": c.time,
                    "files_changed": c.files_changed, "ref": c.reference, "message": c.message,
                })
            })
            .collect();
        crate::say!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
        return exit_codes::COMPLETED;
    }
    if list.is_empty() {
        crate::say!("no checkpoints in {}", ws.display());
        return exit_codes::COMPLETED;
    }
    crate::say!(
        "{:<12} {:<22} {:>9} {:<20} {:>5}  ref",
        "id",
        "run",
        "iteration",
        "time (UTC)",
        "files"
    );
    for c in &list {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.time.max(0) as u64);
        let time = humantime::format_rfc3339_seconds(time)
            .to_string()
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_string();
        let fin = if c.is_final { " (final)" } else { "" };
        crate::say!(
            "{:<12} {:<22} {:>9} {:<20} {:>5}  {}{fin}",
            &c.id.0[..c.id.0.len().min(12)],
            c.run_id,
            c.iteration,
            time,
            c.files_changed,
            c.reference
        );
    }
    exit_codes::COMPLETED
}

/// `ralph rollback <id> [--checkpoint-first]`. Refused while a run holds the workspace.
pub fn rollback(dir: Option<PathBuf>, id: &str, checkpoint_first: bool) -> u8 {
    let ws = workspace(dir);
    let state_dir = options_for(&ws).state_dir;
    let lock = ralph_core::state::FileStateStore::open(&state_dir)
        .and_then(|_| ralph_core::lock::RunLock::acquire_for(&state_dir, &ws));
    let _lock = match lock {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("ralph: error: {e}; rollback would change files under the running agent");
            return exit_codes::USAGE;
        }
    };
    let options = RollbackOptions {
        checkpoint_first,
        checkpoint: options_for(&ws),
    };
    match ralph_git::rollback(&ws, id, &options) {
        Ok(commit) => {
            crate::say!("restored checkpoint {id} as new commit {commit}");
            exit_codes::COMPLETED
        }
        Err(e) => {
            eprintln!("ralph: error: {e}");
            exit_codes::USAGE
        }
    }
}

fn options_for(ws: &Path) -> CheckpointOptions {
    let state_dir = std::env::var_os("RALPH_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".agent"));
    CheckpointOptions {
        state_dir: ws.join(state_dir),
        ..CheckpointOptions::default()
    }
}
