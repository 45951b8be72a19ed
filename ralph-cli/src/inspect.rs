//! `ralph status` and `ralph clean`: read-only and housekeeping commands over the state directory.

use crate::cli::{CleanArgs, StatusArgs};
use crate::exit_codes;
use crate::health::{self, Liveness};
use ralph_core::state::{FileStateStore, RunStatus, StateStore};
use std::path::{Path, PathBuf};

/// The state directory from `-C`/`--state-dir`, else `RALPH_WORKSPACE`/`RALPH_STATE_DIR`, else the
/// `workspace`/`state_dir` of `./ralph.yml`, else the current directory and `.agent`: the precedence of
/// `ralph run`. A `./ralph.yml` that cannot be read is named in a warning and left out.
pub fn state_dir(workspace: &Option<PathBuf>, state_dir: &Option<PathBuf>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let from_file = || {
        crate::settings::file_location().unwrap_or_else(|e| {
            eprintln!("ralph: warning: {e}; looking for the run without it");
            (None, None)
        })
    };
    let (mut file_workspace, mut file_state_dir) = (None, None);
    if workspace.is_none() && env("RALPH_WORKSPACE").is_none()
        || state_dir.is_none() && env("RALPH_STATE_DIR").is_none()
    {
        (file_workspace, file_state_dir) = from_file();
    }
    let workspace = workspace
        .clone()
        .or_else(|| env("RALPH_WORKSPACE"))
        .or(file_workspace)
        .map(|w| cwd.join(w))
        .unwrap_or(cwd);
    let dir = state_dir
        .clone()
        .or_else(|| env("RALPH_STATE_DIR"))
        .or(file_state_dir)
        .unwrap_or_else(|| PathBuf::from(ralph_core::defaults::STATE_DIR));
    workspace.join(dir)
}

/// `ralph status`: prints the saved run state and whether a run is alive. The workspace lock is the truth
/// for "alive" (see [`crate::health`]): a run that holds it but has not saved its state yet is
/// "starting", and a run whose process died without releasing it is named with its pid. Exit 0, or 2
/// when there is no run at all (or the state cannot be read).
pub fn status(args: &StatusArgs) -> u8 {
    let dir = state_dir(&args.workspace, &args.state_dir);
    let live = health::liveness(&dir);
    let (active, pid) = match &live {
        Liveness::Alive { pid, .. } => (true, *pid),
        _ => (false, None),
    };
    let state = match FileStateStore::existing(&dir).load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ralph: error: {e}");
            return exit_codes::USAGE;
        }
    };
    let Some(state) = state else {
        if args.json {
            crate::say!(
                "{}",
                serde_json::json!({
                    "run_id": null,
                    "active": active,
                    "pid": pid,
                    "health": health::check(&dir, health::unix_now()).is_ok(),
                })
            );
            return exit_codes::COMPLETED;
        }
        if active {
            crate::say!("status     starting (pid {})", health::pid_text(pid));
            return exit_codes::COMPLETED;
        }
        eprintln!(
            "ralph: no run in {} (nothing has run in this workspace yet)",
            dir.display()
        );
        return exit_codes::USAGE;
    };
    // The saved runtime is as of the last save; a live run has been running since.
    let runtime = if active && state.status == RunStatus::Running {
        state.runtime_secs + (health::unix_now() - state.updated_at_unix as f64).max(0.0)
    } else {
        state.runtime_secs
    };
    let verdict = health::check(&dir, health::unix_now());
    if args.json {
        let mut v = serde_json::to_value(&state).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            // `status` tells the truth from the lock: running only while a live process holds the run.
            let status = match (&state.status, &live) {
                (_, Liveness::Alive { .. }) => "running",
                (RunStatus::Finished, _) => "finished",
                (RunStatus::Running, _) => "stopped",
            };
            o.insert("status".into(), status.into());
            o.insert("active".into(), active.into());
            o.insert("pid".into(), pid.into());
            let dead = match live {
                Liveness::Dead { pid } => Some(pid),
                _ => None,
            };
            o.insert("dead_pid".into(), dead.into());
            o.insert("health".into(), verdict.is_ok().into());
            let reason = match &verdict {
                Ok(line) | Err(line) => line.clone(),
            };
            o.insert("health_reason".into(), reason.into());
            o.insert("runtime_secs".into(), runtime.into());
            o.insert("state_dir_bytes".into(), dir_size(&dir).into());
        }
        crate::say!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return exit_codes::COMPLETED;
    }
    let status = match (&state.status, &live) {
        (_, Liveness::Alive { pid, .. }) => format!("running (pid {})", health::pid_text(*pid)),
        (RunStatus::Finished, _) => match &state.stop_reason {
            Some(r) => format!("finished: {r}"),
            None => "finished".into(),
        },
        (RunStatus::Running, Liveness::Dead { pid }) => format!(
            "stopped before finishing: process {pid} died (the next `ralph run` resumes it)"
        ),
        (RunStatus::Running, _) => {
            "stopped before finishing (the next `ralph run` resumes it)".into()
        }
    };
    crate::say!("run        {}", state.run_id);
    crate::say!("status     {status}");
    if let Liveness::Alive { .. } = live {
        let (Ok(line) | Err(line)) = &verdict;
        crate::say!("health     {line}");
    }
    crate::say!("agent      {}", state.agent);
    crate::say!("iteration  {}", state.iteration);
    crate::say!(
        "tokens     {} (input {}, cache write {}, output {}; cache read {})",
        state.tokens_total,
        state.usage.input_tokens,
        state.usage.cache_creation_input_tokens,
        state.usage.output_tokens,
        state.usage.cache_read_input_tokens
    );
    let est = if state.cost_estimated {
        " (estimated)"
    } else {
        ""
    };
    crate::say!("cost       ${:.4}{est}", state.cost_usd);
    crate::say!("runtime    {runtime:.1}s");
    if let Some(o) = &state.last_outcome {
        crate::say!("last       {o}");
    }
    let size = dir_size(&dir);
    crate::say!(
        "state dir  {} ({}, {size} bytes)",
        dir.display(),
        indicatif::HumanBytes(size)
    );
    exit_codes::COMPLETED
}

/// `ralph clean`: removes `runs/<id>` directories of runs other than the current one.
pub fn clean(args: &CleanArgs) -> u8 {
    let dir = state_dir(&args.workspace, &args.state_dir);
    let store = FileStateStore::existing(&dir);
    let current = match store.load() {
        Ok(s) => s.map(|s| s.run_id),
        Err(e) => {
            eprintln!("ralph: error: {e}; not cleaning while the current run is unknown");
            return exit_codes::USAGE;
        }
    };
    let mut removed = 0u64;
    let mut bytes = 0u64;
    for id in store.run_ids() {
        if Some(&id) == current.as_ref() {
            continue;
        }
        let path = store.run_dir(&id);
        let size = dir_size(&path);
        if args.dry_run {
            crate::say!("would remove {} ({size} bytes)", path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&path) {
            eprintln!("ralph: cannot remove {}: {e}", path.display());
            return exit_codes::FAILED;
        } else {
            crate::say!("removed {} ({size} bytes)", path.display());
        }
        removed += 1;
        bytes += size;
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    crate::say!(
        "{verb} {removed} earlier run(s), {bytes} bytes; kept the current run{}",
        current.map(|c| format!(" {c}")).unwrap_or_default()
    );
    exit_codes::COMPLETED
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
