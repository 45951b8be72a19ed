//! `ralph report`: one run as a self-contained HTML page (totals, limits, charts, iterations,
//! checkpoints) or as JSON, read from the state directory and git.
//!
//! [`model`] gathers and redacts the data, [`chart`] draws the inline SVG charts, [`html`] lays out the page.

pub mod chart;
pub mod html;
pub mod model;

use crate::cli::{ReportArgs, ReportFormat};
use crate::exit_codes;
use crate::redact::Redactor;
use model::{CheckpointRow, Report, Sources};
use ralph_core::lock::RunLock;
use ralph_core::state::{FileStateStore, IterationRecord, StateStore};
use std::io::Write as _;
use std::path::Path;

/// `ralph report [RUN] [-o FILE] [--format html|json]`. Exit 0, or 2 for an unknown run, no state, or an
/// output file that cannot be written.
pub fn report(args: &ReportArgs) -> u8 {
    let dir = crate::inspect::state_dir(&args.workspace, &args.state_dir);
    let workspace = crate::git::workspace(args.workspace.clone());
    let redactor = Redactor::from_env(&|k| std::env::var(k).ok());
    let report = match load(&dir, &workspace, args.run.as_deref(), &redactor) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("ralph: error: {}", redactor.text(&message));
            return exit_codes::USAGE;
        }
    };
    let (bytes, default_name) = match args.format {
        ReportFormat::Html => (
            html::render(&report).into_bytes(),
            // In the state dir (ignored by git), so the next checkpoint does not commit it.
            Some(dir.join(format!("report-{}.html", report.run.run_id))),
        ),
        ReportFormat::Json => {
            let mut json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            json.push(b'\n');
            (json, None)
        }
    };
    let target = match (&args.output, default_name) {
        (Some(p), _) if p.as_os_str() == "-" => None,
        (Some(p), _) => Some(p.clone()),
        (None, Some(path)) => Some(path),
        (None, None) => None,
    };
    match target {
        None => {
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
        Some(path) => {
            if let Err(e) = std::fs::write(&path, &bytes) {
                eprintln!(
                    "ralph: error: cannot write the report to {}: {e}; pass another -o FILE (or -o - for stdout)",
                    path.display()
                );
                return exit_codes::USAGE;
            }
            crate::say!(
                "wrote {} (run {}, {} iterations)",
                path.display(),
                report.run.run_id,
                report.iterations.len()
            );
        }
    }
    exit_codes::COMPLETED
}

/// Gathers run `run` (default: the current run in `state.json`) from state directory `dir`.
///
/// # Errors
/// A message for the user: no state, an unknown run (listing the known ones), an unreadable file.
pub fn load(
    dir: &Path,
    workspace: &Path,
    run: Option<&str>,
    redactor: &Redactor,
) -> Result<Report, String> {
    let store = FileStateStore::existing(dir);
    let state = store.load().map_err(|e| e.to_string())?;
    let known = {
        let mut ids = store.run_ids();
        if let Some(s) = &state
            && !ids.contains(&s.run_id)
        {
            ids.push(s.run_id.clone());
            ids.sort();
        }
        ids
    };
    let run_id = match (run, &state) {
        (Some(r), _) => r.to_string(),
        (None, Some(s)) => s.run_id.clone(),
        (None, None) => {
            return Err(format!(
                "no run in {} (nothing has run in this workspace yet; pass -C DIR or --state-dir DIR to point at another)",
                dir.display()
            ));
        }
    };
    if !known.contains(&run_id) {
        return Err(format!(
            "unknown run `{run_id}` in {}; known runs: {}",
            dir.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    let state = state.filter(|s| s.run_id == run_id);
    let records = read_records(&store.run_dir(&run_id).join("iterations.jsonl"))?;
    let active = state.is_some() && RunLock::holder(dir).is_some();
    let git_checkpoints = ralph_git::list_checkpoints(workspace, Some(&run_id))
        .map(|list| {
            list.into_iter()
                .map(|c| CheckpointRow {
                    id: c.id.0,
                    iteration: c.iteration,
                    is_final: c.is_final,
                    time_unix: Some(c.time),
                    files_changed: Some(c.files_changed),
                    reference: Some(c.reference),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(model::build(
        Sources {
            state: state.as_ref(),
            run_id: &run_id,
            records: &records,
            git_checkpoints,
            active,
            now_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        },
        redactor,
    ))
}

/// The records of `iterations.jsonl` (none when it does not exist). A line that does not parse (cut
/// short by a crash) is skipped; a repeated iteration number keeps its last record.
fn read_records(path: &Path) -> Result<Vec<IterationRecord>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut records: Vec<IterationRecord> = Vec::new();
    for line in text.lines() {
        let Ok(r) = serde_json::from_str::<IterationRecord>(line) else {
            continue;
        };
        match records.iter_mut().find(|x| x.iteration == r.iteration) {
            Some(x) => *x = r,
            None => records.push(r),
        }
    }
    records.sort_by_key(|r| r.iteration);
    Ok(records)
}
