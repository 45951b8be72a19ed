//! Run state: what survives a crash or restart, and the per-iteration record.
//!
//! [`FileStateStore`] keeps it in the state directory (`.agent/` by default):
//!
//! ```text
//! .agent/.gitignore                         ignores the runtime files below
//! .agent/state.json                         RunState: a snapshot, replaced atomically as each iteration starts
//! .agent/runs/<run-id>/iterations.jsonl     one IterationRecord per line: the journal, synced per line, never pruned
//! .agent/runs/<run-id>/prompts/<sha256>.md  each distinct user prompt (PROMPT.md) once, named by its
//!                                           SHA-256, which IterationRecord::prompt_sha256 names
//! .agent/runs/<run-id>/<n>.prompt.md        the prompt sent in iteration n (size-capped)
//! .agent/runs/<run-id>/<n>.output.jsonl     the agent's raw stdout in iteration n (size-capped)
//! ```
//!
//! The transcripts (`<n>.prompt.md`, `<n>.output.jsonl`) are kept for the last
//! [`FileStateStore::with_keep_transcripts`] iterations only ([`defaults::KEEP_TRANSCRIPTS`] unless set):
//! writing iteration `n`'s deletes iteration `n - N`'s, so a run of any length holds at most `N` pairs.
//! The records, the state and the prompts are never pruned.
//!
//! # Durability
//!
//! One `fdatasync` per iteration: the iteration record appended to `iterations.jsonl` (the journal) is the
//! durable fact. Between iterations `state.json` is replaced atomically (a temporary file renamed over it)
//! without syncing ([`StateStore::save_snapshot`]; the engine writes it once per iteration, as the next one
//! starts, and on its own only before a wait, a verification or the end), so a crash of the process at any moment leaves the
//! previous or the new snapshot, and after a power loss a snapshot that lags the journal is brought up to
//! date from the records it does not hold yet ([`StateStore::records_after`], folded in when the run
//! resumes). The snapshot that starts a run, the one that finishes it and the one written by a crash
//! recovery are synced ([`StateStore::save`]). What a power loss can cost: the iteration that was running
//! (its start is in an unsynced snapshot) is not counted and runs again.

use crate::agent::OutcomeStatus;
use crate::defaults;
use crate::error::Error;
use crate::limits::{Limits, StopReason};
use crate::lock::RunLock;
use crate::usage::Usage;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod memory;

pub use memory::MemoryStateStore;

/// Version of the `state.json` format.
pub const STATE_VERSION: u32 = 1;

/// Whether a run is still going.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (a crash leaves this behind; the next run resumes it).
    Running,
    /// Finished for the given reason.
    Finished,
}

/// The state of one run (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Format version, [`STATE_VERSION`].
    pub version: u32,
    /// Run id.
    pub run_id: String,
    /// SHA-256 (hex) of the user prompt when the run started.
    pub prompt_sha256: String,
    /// Iterations started.
    pub iteration: u64,
    /// Tokens used, by kind.
    pub usage: Usage,
    /// [`Usage::billable_total`] of `usage` (what `max_tokens` limits), tokens.
    pub tokens_total: u64,
    /// Cost so far, USD.
    pub cost_usd: f64,
    /// True when any part of the cost was estimated from a price table.
    pub cost_estimated: bool,
    /// Wall-clock time used, seconds (summed over restarts).
    pub runtime_secs: f64,
    /// Failed iterations in a row.
    pub consecutive_failures: u32,
    /// Running or finished.
    pub status: RunStatus,
    /// Why the run stopped, once finished.
    pub stop_reason: Option<StopReason>,
    /// Outcome label of the last iteration (`success`, `failed`, ...).
    pub last_outcome: Option<String>,
    /// Name of the agent.
    pub agent: String,
    /// Unix seconds when the run started.
    pub started_at_unix: u64,
    /// Unix seconds of the last save.
    pub updated_at_unix: u64,
    /// The iteration that was running at the last save, if one was: set when an iteration starts and
    /// cleared when it is recorded, so a resume after `kill -9` knows an iteration was cut short.
    #[serde(default)]
    pub in_progress: Option<u64>,
    /// The limits in force, written when the run starts or resumes (`None` in state written by ralph
    /// versions before limits were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RunLimits>,
    /// Agent runs started, counting rate-limited attempts, which do not use up an iteration (see
    /// [`IterationRecord::attempt`]). 0 in state written before attempts were counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The limits a run had, as saved in `state.json` (`None` = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RunLimits {
    /// Agent runs per run.
    pub max_iterations: Option<u64>,
    /// Wall-clock time per run, seconds.
    pub max_runtime_secs: Option<f64>,
    /// Tokens per run ([`Usage::billable_total`]).
    pub max_tokens: Option<u64>,
    /// USD per run.
    pub max_cost_usd: Option<f64>,
    /// Consecutive failed iterations tolerated.
    pub max_retries: u32,
}

impl From<&Limits> for RunLimits {
    fn from(l: &Limits) -> Self {
        RunLimits {
            max_iterations: l.max_iterations,
            max_runtime_secs: l.max_runtime.map(|d| d.as_secs_f64()),
            max_tokens: l.max_tokens,
            max_cost_usd: l.max_cost_usd,
            max_retries: l.max_retries,
        }
    }
}

/// One line of `iterations.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 1-based iteration number.
    pub iteration: u64,
    /// Agent name.
    pub agent: String,
    /// Unix seconds at start.
    pub started_at_unix: u64,
    /// Seconds the agent ran.
    pub duration_secs: f64,
    /// How it ended.
    pub outcome: OutcomeStatus,
    /// Failure explanation, if any.
    pub message: Option<String>,
    /// Tokens used in this iteration, by kind.
    pub usage: Usage,
    /// Cost of this iteration, USD (0 when unknown).
    pub cost_usd: f64,
    /// True when the cost was estimated.
    pub cost_estimated: bool,
    /// Process exit code.
    pub exit_code: Option<i32>,
    /// True when this iteration completed the task.
    pub completed: bool,
    /// Checkpoint made after this iteration, if any.
    pub checkpoint: Option<String>,
    /// Which agent run of the run this was (1-based, [`RunState::attempts`] when it started). A
    /// rate-limited attempt is recorded under the iteration number it retries, so one iteration can have
    /// several records; the attempt number tells them apart. 0 in records written before attempts were
    /// counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u64,
    /// SHA-256 (hex) of the user prompt this iteration ran on; the text is kept in
    /// `runs/<run-id>/prompts/<sha256>.md` ([`StateStore::keep_prompt`]), also after the iteration's
    /// transcript was dropped. Empty in records written before it was recorded and in the record of an
    /// iteration cut short by a crash.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt_sha256: String,
}

/// Where the engine keeps its state. Implementations must make [`StateStore::save`] atomic: after a crash
/// at any moment, [`StateStore::load`] returns either the previous or the new state.
pub trait StateStore: Send + Sync {
    /// The saved state, if there is one.
    ///
    /// # Errors
    /// [`Error::State`] when the state exists but cannot be read or parsed.
    fn load(&self) -> Result<Option<RunState>, Error>;

    /// Saves `state` atomically.
    ///
    /// # Errors
    /// [`Error::State`] when it cannot be written; the previous state stays intact.
    fn save(&self, state: &RunState) -> Result<(), Error>;

    /// Saves `state` at an iteration boundary (an iteration starting, or recorded), where its progress is
    /// also in the iteration records: atomic like [`StateStore::save`] (after a crash of the process,
    /// [`StateStore::load`] returns the previous or the new state) but it need not survive a power loss,
    /// because a resumed run folds in the records the loaded state lacks ([`StateStore::records_after`]).
    /// [`FileStateStore`] replaces `state.json` without `fsync`. The default calls [`StateStore::save`]; a
    /// store that wraps another must forward this call.
    ///
    /// # Errors
    /// [`Error::State`] when it cannot be written; the previous state stays intact.
    fn save_snapshot(&self, state: &RunState) -> Result<(), Error> {
        self.save(state)
    }

    /// Appends one iteration record. This is the durable write of an iteration: [`FileStateStore`]
    /// syncs the line to disk before returning.
    ///
    /// # Errors
    /// [`Error::State`] when it cannot be written.
    fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error>;

    /// The last iteration record of `run_id`, if any (used to recover after a crash between writing the
    /// record and saving the state). The default returns `None`.
    fn last_record(&self, _run_id: &str) -> Option<IterationRecord> {
        None
    }

    /// The records of `run_id` with an attempt number above `attempt` ([`IterationRecord::attempt`]),
    /// oldest first: what a state saved after attempt `attempt` was recorded does not hold yet. Records
    /// without an attempt number (0, written by older versions) are never returned. The default returns
    /// [`StateStore::last_record`] when it qualifies, which is enough for stores whose saves are durable;
    /// a store that wraps another must forward this call.
    fn records_after(&self, run_id: &str, attempt: u64) -> Vec<IterationRecord> {
        self.last_record(run_id)
            .filter(|r| r.attempt > attempt)
            .into_iter()
            .collect()
    }

    /// Keeps the prompt sent in an iteration and the agent's raw output. Best effort; the default does
    /// nothing.
    fn keep_transcript(&self, _run_id: &str, _iteration: u64, _prompt: &str, _output: &[u8]) {}

    /// Keeps the user prompt an iteration ran on (the prompt file's text, without ralph's preamble and
    /// feedback), once per distinct `sha256` (its SHA-256, lowercase hex, as in
    /// [`IterationRecord::prompt_sha256`]). The engine calls it before every
    /// [`StateStore::keep_transcript`]. Best effort; the default does nothing.
    fn keep_prompt(&self, _run_id: &str, _sha256: &str, _prompt: &str) {}

    /// Takes this store's exclusive hold for one run in `workspace`, so that two engines (in one process
    /// or two) cannot run on the same state at once. The engine calls it when its run starts (unless it
    /// was given a lock with [`crate::Engine::with_run_lock`]) and keeps the returned lock until the run
    /// ends; dropping it releases the hold.
    ///
    /// The default takes no lock (`Ok(None)`): right for stores that keep nothing or that a single
    /// engine owns. [`FileStateStore`] takes the `flock` of [`RunLock::acquire_for`] in its directory and
    /// on the workspace. A store that wraps another must forward this call.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder's pid when another run holds it; [`Error::State`] when the
    /// lock file cannot be opened or written.
    fn lock(&self, _workspace: &Path) -> Result<Option<RunLock>, Error> {
        Ok(None)
    }
}

/// A [`StateStore`] that keeps nothing: no resume, no records (for tests and embedding; the engine's
/// default). [`MemoryStateStore`] keeps the state in memory instead.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoState;

impl StateStore for NoState {
    fn load(&self) -> Result<Option<RunState>, Error> {
        Ok(None)
    }
    fn save(&self, _state: &RunState) -> Result<(), Error> {
        Ok(())
    }
    fn record_iteration(&self, _run_id: &str, _record: &IterationRecord) -> Result<(), Error> {
        Ok(())
    }
}

/// Largest prompt or output kept per iteration by [`FileStateStore::keep_transcript`], bytes.
pub const TRANSCRIPT_CAP_BYTES: usize = 4 * 1024 * 1024;

/// The `.gitignore` written into the state directory: runtime files are ignored, the agent's
/// `scratchpad.md` is not (it is worth checkpointing).
pub const STATE_GITIGNORE: &str = "# Written by ralph: its runtime files are not part of your project.\n*\n!.gitignore\n!scratchpad.md\n";

/// The first line of every `.gitignore` ralph writes; a file that starts otherwise is not ralph's.
const STATE_GITIGNORE_HEADER: &str = "# Written by ralph";

/// A [`StateStore`] in a directory (see the module docs for the layout).
#[derive(Debug, Clone)]
pub struct FileStateStore {
    dir: PathBuf,
    /// Iterations whose transcripts are kept; `None` = all.
    keep_transcripts: Option<u64>,
    /// The run whose transcripts older than the window were last swept (once per run and store, see
    /// [`StateStore::keep_transcript`]); shared by clones.
    swept: Arc<Mutex<Option<String>>>,
}

impl FileStateStore {
    /// Opens (creating if needed) the state directory `dir` and writes its `.gitignore`.
    ///
    /// # Errors
    /// [`Error::State`] when the directory cannot be created or written.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| state_err(&dir, "cannot create the state directory", e))?;
        // Write our .gitignore when there is none, or refresh our own; never replace someone else's
        // (a state dir pointed at an existing directory must not lose its ignore rules).
        let gi = dir.join(".gitignore");
        match std::fs::read_to_string(&gi) {
            Ok(text) if text == STATE_GITIGNORE => {}
            Ok(text) if text.starts_with(STATE_GITIGNORE_HEADER) => {
                write_atomic(&gi, STATE_GITIGNORE.as_bytes())?
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomic(&gi, STATE_GITIGNORE.as_bytes())?
            }
            Err(e) => return Err(state_err(&gi, "cannot read", e)),
        }
        Ok(FileStateStore::existing(dir))
    }

    /// A store over an existing directory, creating and writing nothing (for read-only commands such as
    /// `ralph status`).
    pub fn existing(dir: impl Into<PathBuf>) -> Self {
        FileStateStore {
            dir: dir.into(),
            keep_transcripts: Some(defaults::KEEP_TRANSCRIPTS),
            swept: Arc::default(),
        }
    }

    /// Keeps the transcripts (`<n>.prompt.md`, `<n>.output.jsonl`) of the last `keep` iterations of a
    /// run and deletes older ones; `None` keeps all, `Some(0)` none (the records, the state and the
    /// user prompts are kept whatever `keep` is). Default: [`defaults::KEEP_TRANSCRIPTS`].
    ///
    /// Writing iteration `n`'s transcript deletes iteration `n - keep`'s; the first transcript a store
    /// writes for a run also deletes every older one outside the window once (a run resumed with a
    /// smaller `keep`). Deleting is best effort: a failure is logged, never an error.
    #[must_use]
    pub fn with_keep_transcripts(mut self, keep: Option<u64>) -> Self {
        self.keep_transcripts = keep;
        self
    }

    /// How many iterations' transcripts are kept per run; `None` = all.
    pub fn keep_transcripts(&self) -> Option<u64> {
        self.keep_transcripts
    }

    /// Where the user prompt with SHA-256 `sha256` (hex) of run `run_id` is kept
    /// ([`StateStore::keep_prompt`]): `runs/<run-id>/prompts/<sha256>.md`.
    pub fn prompt_path(&self, run_id: &str, sha256: &str) -> PathBuf {
        self.run_dir(run_id)
            .join("prompts")
            .join(format!("{sha256}.md"))
    }

    /// The ids of the runs that have a directory under `runs/`, sorted. Only names shaped like a run id
    /// (`YYYYMMDD-HHMMSS-xxxx`) count: anything else there is not ralph's.
    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.dir.join("runs"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| is_run_id(name))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `state.json`'s path.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The directory of one run's records.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join("runs").join(run_id)
    }
}

/// True for names shaped like the run ids ralph makes: `YYYYMMDD-HHMMSS-xxxx` (hex).
pub fn is_run_id(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    matches!(parts.as_slice(), [d, t, r]
        if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())
            && t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit())
            && r.len() == 4 && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn state_err(
    path: &Path,
    message: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::State {
        path: path.to_path_buf(),
        message: format!("{message}: {e}"),
        source: Some(Box::new(e)),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename, fsync of
/// the directory.
///
/// # Errors
/// [`Error::State`]; on error `path` is untouched and the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    replace_file(path, bytes, true)
}

/// Rewrites a small advisory file in place (for `heartbeat.json`, `agent.pid`): `bytes` in one positional
/// write at offset 0, padded with spaces to the file's previous length so that no old byte survives
/// without a truncation. Unlike [`write_atomic`] it creates no file after the first call: creating one
/// (an inode and a directory entry per write) costs about 0.5 ms on some virtual disks against a few
/// microseconds for this. A crash of the process leaves the old or the new content (one system call);
/// a reader racing the write may, rarely, see a mix of both and should read again when the content does
/// not parse. Nothing is synced. The content must allow trailing spaces (JSON, whitespace-separated
/// fields) and should fit in a page (4 KiB).
///
/// # Errors
/// The I/O error of opening or writing `path`.
pub fn rewrite_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let old_len = usize::try_from(f.metadata()?.len()).unwrap_or(usize::MAX);
    if old_len <= bytes.len() {
        return f.write_all_at(bytes, 0);
    }
    let mut padded = Vec::with_capacity(old_len);
    padded.extend_from_slice(bytes);
    padded.resize(old_len, b' ');
    f.write_all_at(&padded, 0)
}

/// Replaces `path` with `bytes` through a temporary file in the same directory renamed over it, so
/// readers and a crash of the process see the old or the new content, never a mix; with `sync`, the file
/// and the directory are synced too (the new content survives a power loss).
fn replace_file(path: &Path, bytes: &[u8], sync: bool) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if sync && let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        state_err(path, "cannot write", e)
    })
}

impl FileStateStore {
    fn encode(&self, state: &RunState) -> Result<Vec<u8>, Error> {
        let mut json = serde_json::to_vec_pretty(state)
            .map_err(|e| state_err(&self.state_path(), "cannot encode", e))?;
        json.push(b'\n');
        Ok(json)
    }
}

/// Reads `path` backwards in growing chunks and returns the records after `attempt`, oldest first,
/// stopping at the first record (from the end) at or below it: a resume reads only the journal's tail.
fn journal_records_after(path: &Path, attempt: u64) -> Vec<IterationRecord> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut chunk: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(chunk);
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        // The first line of a chunk that does not start the file may be cut: it is skipped, and the
        // chunk grows when the records wanted reach back that far.
        let mut lines = buf.split(|&b| b == b'\n').collect::<Vec<_>>();
        if start > 0 {
            lines.remove(0);
        }
        let mut newer = Vec::new();
        let mut reached = false;
        for line in lines.iter().rev() {
            // A line cut short by a crash does not parse and is skipped.
            let Ok(rec) = serde_json::from_slice::<IterationRecord>(line) else {
                continue;
            };
            if rec.attempt == 0 {
                continue;
            }
            if rec.attempt <= attempt {
                reached = true;
                break;
            }
            newer.push(rec);
        }
        if reached || start == 0 {
            newer.reverse();
            return newer;
        }
        chunk = chunk.saturating_mul(4);
    }
}

impl StateStore for FileStateStore {
    /// The run lock in the state directory and on `workspace` ([`RunLock::acquire_for`]).
    fn lock(&self, workspace: &Path) -> Result<Option<RunLock>, Error> {
        RunLock::acquire_for(&self.dir, workspace).map(Some)
    }

    fn load(&self) -> Result<Option<RunState>, Error> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| state_err(&path, "cannot parse; move it away or run with --fresh", e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(state_err(&path, "cannot read", e)),
        }
    }

    fn save(&self, state: &RunState) -> Result<(), Error> {
        replace_file(&self.state_path(), &self.encode(state)?, true)
    }

    /// Replaces `state.json` atomically without `fsync` (see the module docs on durability).
    fn save_snapshot(&self, state: &RunState) -> Result<(), Error> {
        replace_file(&self.state_path(), &self.encode(state)?, false)
    }

    fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error> {
        let dir = self.run_dir(run_id);
        std::fs::create_dir_all(&dir).map_err(|e| state_err(&dir, "cannot create", e))?;
        let path = dir.join("iterations.jsonl");
        let mut line =
            serde_json::to_vec(record).map_err(|e| state_err(&path, "cannot encode", e))?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| state_err(&path, "cannot open", e))?;
        f.write_all(&line)
            .and_then(|_| f.sync_data())
            .map_err(|e| state_err(&path, "cannot append", e))
    }

    fn last_record(&self, run_id: &str) -> Option<IterationRecord> {
        let text = std::fs::read_to_string(self.run_dir(run_id).join("iterations.jsonl")).ok()?;
        // A line cut short by a crash does not parse and is skipped.
        text.lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
    }

    fn records_after(&self, run_id: &str, attempt: u64) -> Vec<IterationRecord> {
        journal_records_after(&self.run_dir(run_id).join("iterations.jsonl"), attempt)
    }

    /// Writes the transcript unless the window is 0, then drops the one that left the window (and, the
    /// first time for `run_id`, every older one: see [`FileStateStore::with_keep_transcripts`]).
    fn keep_transcript(&self, run_id: &str, iteration: u64, prompt: &str, output: &[u8]) {
        let dir = self.run_dir(run_id);
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        if self.keep_transcripts != Some(0) {
            let _ = std::fs::write(
                dir.join(format!("{iteration}.prompt.md")),
                cap_prompt(prompt),
            );
            let _ = std::fs::write(
                dir.join(format!("{iteration}.output.jsonl")),
                cap_output(output),
            );
        }
        let Some(keep) = self.keep_transcripts else {
            return;
        };
        // Iterations up to `last_dropped` are outside the window.
        let Some(last_dropped) = iteration.checked_sub(keep).filter(|n| *n > 0) else {
            return;
        };
        let first_for_run = {
            let mut swept = self.swept.lock().unwrap_or_else(|e| e.into_inner());
            if swept.as_deref() == Some(run_id) {
                false
            } else {
                *swept = Some(run_id.to_string());
                true
            }
        };
        if first_for_run {
            drop_transcripts_up_to(&dir, last_dropped);
        } else {
            drop_transcript(&dir, last_dropped);
        }
    }

    /// Writes `runs/<run-id>/prompts/<sha256>.md` when it does not exist yet (atomically, so a crash
    /// never leaves a partial prompt under a name that claims its hash). `sha256` must be hex.
    fn keep_prompt(&self, run_id: &str, sha256: &str, prompt: &str) {
        if sha256.is_empty() || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return;
        }
        let path = self.prompt_path(run_id, sha256);
        if path.exists() {
            return;
        }
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| state_err(&path, "cannot create the directory of", e))
            .and_then(|()| write_atomic(&path, prompt.as_bytes()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot keep the prompt");
        }
    }
}

/// The names of iteration `n`'s transcript files.
fn transcript_names(n: u64) -> [String; 2] {
    [format!("{n}.prompt.md"), format!("{n}.output.jsonl")]
}

/// The iteration a transcript file in a run directory belongs to, from its name.
fn transcript_iteration(name: &str) -> Option<u64> {
    let n = name
        .strip_suffix(".prompt.md")
        .or_else(|| name.strip_suffix(".output.jsonl"))?;
    // Only ralph's names: digits, without sign or leading zero.
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// Deletes iteration `n`'s transcript in `dir`; a file already gone is fine, any other failure is
/// logged.
fn drop_transcript(dir: &Path, n: u64) {
    for name in transcript_names(n) {
        remove_transcript_file(&dir.join(name));
    }
}

/// Deletes every transcript in `dir` of iterations up to `last` (one pass over the directory).
fn drop_transcripts_up_to(dir: &Path, last: u64) {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list old transcripts");
            return;
        }
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if transcript_iteration(&name.to_string_lossy()).is_some_and(|n| n <= last) {
            remove_transcript_file(&entry.path());
        }
    }
}

fn remove_transcript_file(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete an old transcript")
        }
    }
}

/// Room kept below [`TRANSCRIPT_CAP_BYTES`] for the record or note that says what was left out.
const MARKER_ROOM: usize = 256;

/// The prompt, cut on a character boundary when over [`TRANSCRIPT_CAP_BYTES`], with a closing note
/// `<!-- ralph_truncated: original_bytes=N kept_bytes=M -->`.
fn cap_prompt(prompt: &str) -> Vec<u8> {
    if prompt.len() <= TRANSCRIPT_CAP_BYTES {
        return prompt.as_bytes().to_vec();
    }
    let mut keep = TRANSCRIPT_CAP_BYTES - MARKER_ROOM;
    while !prompt.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut out = prompt.as_bytes()[..keep].to_vec();
    out.extend_from_slice(
        format!(
            "\n<!-- ralph_truncated: original_bytes={} kept_bytes={keep} -->\n",
            prompt.len()
        )
        .as_bytes(),
    );
    out
}

/// The output (NDJSON) when within [`TRANSCRIPT_CAP_BYTES`]; otherwise its whole lines that fit and a
/// closing record `{"ralph_truncated":{"dropped_lines":L,"dropped_bytes":B}}` for the rest. The agent
/// supervisor already caps the output with the same records (see `ralph_agents::transcript`); this only
/// acts when redaction made it longer.
fn cap_output(output: &[u8]) -> Vec<u8> {
    if output.len() <= TRANSCRIPT_CAP_BYTES {
        return output.to_vec();
    }
    let limit = TRANSCRIPT_CAP_BYTES - MARKER_ROOM;
    let keep = output[..limit]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let rest = &output[keep..];
    let dropped_lines = rest
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let mut out = output[..keep].to_vec();
    let record = serde_json::json!({"ralph_truncated": {
        "dropped_lines": dropped_lines,
        "dropped_bytes": rest.len(),
    }});
    out.extend_from_slice(record.to_string().as_bytes());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Signal;

    fn sample() -> RunState {
        RunState {
            version: STATE_VERSION,
            run_id: "r1".into(),
            prompt_sha256: "00".into(),
            iteration: 2,
            usage: Usage {
                input_tokens: 5,
                ..Default::default()
            },
            tokens_total: 5,
            cost_usd: 0.25,
            cost_estimated: false,
            runtime_secs: 1.5,
            consecutive_failures: 0,
            status: RunStatus::Running,
            stop_reason: None,
            last_outcome: Some("success".into()),
            agent: "claude".into(),
            started_at_unix: 1,
            updated_at_unix: 2,
            in_progress: None,
            limits: Some(RunLimits::from(&Limits::default())),
            attempts: 0,
        }
    }

    #[test]
    fn transcripts_over_the_cap_say_what_was_left_out() {
        let line = format!("{{\"t\":\"{}\"}}\n", "a".repeat(1000));
        let output = line.repeat(TRANSCRIPT_CAP_BYTES / line.len() + 10);
        let capped = cap_output(output.as_bytes());
        assert!(capped.len() <= TRANSCRIPT_CAP_BYTES);
        let text = std::str::from_utf8(&capped).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let kept = text.lines().count() - 1;
        let dropped = last["ralph_truncated"]["dropped_lines"].as_u64().unwrap();
        assert_eq!(kept as u64 + dropped, (output.len() / line.len()) as u64);
        assert_eq!(
            last["ralph_truncated"]["dropped_bytes"],
            output.len() - kept * line.len()
        );
        assert!(text.lines().take(kept).all(|l| l.len() == line.len() - 1));

        let prompt = "é".repeat(TRANSCRIPT_CAP_BYTES);
        let capped = String::from_utf8(cap_prompt(&prompt)).expect("cut on a char boundary");
        assert!(capped.len() <= TRANSCRIPT_CAP_BYTES);
        assert!(capped.ends_with(&format!(
            "<!-- ralph_truncated: original_bytes={} kept_bytes={} -->\n",
            prompt.len(),
            capped.find('\n').unwrap()
        )));
        assert_eq!(cap_prompt("short"), b"short");
    }

    #[test]
    fn state_without_limits_from_older_versions_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        // state.json as written before `limits` existed.
        let old = r#"{"version":1,"run_id":"20261130-074356-7602","prompt_sha256":"00","iteration":3,
            "usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0},
            "tokens_total":3,"cost_usd":0.5,"cost_estimated":false,"runtime_secs":2.0,"consecutive_failures":0,
            "status":"finished","stop_reason":{"reason":"max_iterations","limit":3},"last_outcome":"success",
            "agent":"command","started_at_unix":1,"updated_at_unix":2}"#;
        std::fs::write(store.state_path(), old).unwrap();
        let state = store.load().unwrap().expect("loads");
        assert_eq!(state.iteration, 3);
        assert_eq!(state.limits, None);
        // And limits round-trip once written.
        let mut with = state.clone();
        with.limits = Some(RunLimits {
            max_iterations: Some(3),
            max_runtime_secs: None,
            max_tokens: Some(10),
            max_cost_usd: Some(1.5),
            max_retries: 2,
        });
        store.save(&with).unwrap();
        assert_eq!(store.load().unwrap(), Some(with));
    }

    #[test]
    fn an_interrupted_run_saved_before_signals_were_typed_still_loads_and_saves_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        // state.json as written when `StopReason::Interrupted` held the signal's name as a string.
        for (name, signal) in [
            ("SIGINT", Signal::Int),
            ("SIGTERM", Signal::Term),
            ("SIGHUP", Signal::Hup),
        ] {
            let old = format!(
                r#"{{"version":1,"run_id":"20261130-074356-7602","prompt_sha256":"00","iteration":2,
                "usage":{{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
                "reasoning_output_tokens":0}},
                "tokens_total":3,"cost_usd":0.5,"cost_estimated":false,"runtime_secs":2.0,"consecutive_failures":0,
                "status":"running","stop_reason":{{"reason":"interrupted","signal":"{name}"}},"last_outcome":"cancelled",
                "agent":"command","started_at_unix":1,"updated_at_unix":2,"in_progress":null,"attempts":2}}"#
            );
            std::fs::write(store.state_path(), &old).unwrap();
            let state = store.load().unwrap().expect("loads");
            assert_eq!(state.stop_reason, Some(StopReason::Interrupted { signal }));
            store.save(&state).unwrap();
            let saved = std::fs::read_to_string(store.state_path()).unwrap();
            let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
            assert_eq!(
                saved["stop_reason"],
                serde_json::json!({"reason": "interrupted", "signal": name}),
                "written as before"
            );
            assert_eq!(
                saved,
                serde_json::from_str::<serde_json::Value>(&old).unwrap()
            );
        }
    }

    #[test]
    fn state_round_trips_through_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path().join(".agent")).unwrap();
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample()));
        let gi = std::fs::read_to_string(dir.path().join(".agent/.gitignore")).unwrap();
        assert_eq!(gi, STATE_GITIGNORE);
    }

    #[test]
    fn a_failed_save_is_a_clear_error_and_keeps_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        store.save(&sample()).unwrap();
        // Make the temporary file impossible to create, as a full or read-only disk would.
        let tmp = dir
            .path()
            .join(format!(".state.json.tmp.{}", std::process::id()));
        std::fs::create_dir(&tmp).unwrap();
        let mut next = sample();
        next.iteration = 3;
        let msg = store.save(&next).unwrap_err().to_string();
        assert!(
            msg.contains("state.json") && msg.contains("cannot write"),
            "{msg}"
        );
        assert_eq!(store.load().unwrap(), Some(sample()));
    }

    #[test]
    fn an_existing_gitignore_that_is_not_ralphs_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "node_modules/\n").unwrap();
        FileStateStore::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
            "node_modules/\n"
        );
    }

    #[test]
    fn only_run_id_shaped_directories_are_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        for name in [
            "20261130-074356-7602",
            "important-data",
            "20261130-074356-zzzz",
        ] {
            std::fs::create_dir_all(store.run_dir(name)).unwrap();
        }
        assert_eq!(store.run_ids(), vec!["20261130-074356-7602".to_string()]);
    }

    #[test]
    fn corrupt_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        std::fs::write(store.state_path(), "{not json").unwrap();
        let msg = store.load().unwrap_err().to_string();
        assert!(msg.contains("state.json"), "{msg}");
    }

    #[test]
    fn the_journal_is_read_back_from_its_tail_past_cut_and_old_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        // Long enough that 2,000 records need several chunks of the backwards read.
        let record = |attempt: u64| IterationRecord {
            message: Some("x".repeat(200)),
            ..record(attempt)
        };
        store.record_iteration("r", &record(0)).unwrap();
        for a in 1..=2_000 {
            store.record_iteration("r", &record(a)).unwrap();
        }
        let path = store.run_dir("r").join("iterations.jsonl");
        // A record cut short by a crash at the end.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"iteration":2001,"agent":"#).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 4 * 64 * 1024);

        let attempts = |after| {
            store
                .records_after("r", after)
                .iter()
                .map(|r| r.attempt)
                .collect::<Vec<_>>()
        };
        assert_eq!(attempts(2_000), Vec::<u64>::new());
        assert_eq!(attempts(1_997), vec![1_998, 1_999, 2_000]);
        assert_eq!(
            attempts(0),
            (1..=2_000).collect::<Vec<_>>(),
            "0 = older format, never returned"
        );
        assert_eq!(store.records_after("no-such-run", 0), vec![]);
    }

    #[test]
    fn a_rewrite_in_place_leaves_no_old_byte_and_keeps_the_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heartbeat.json");
        rewrite_in_place(&path, br#"{"iteration":1000,"phase":"agent"}"#).unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        rewrite_in_place(&path, br#"{"iteration":7}"#).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim_end(), r#"{"iteration":7}"#);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["iteration"], 7);
        rewrite_in_place(&path, b"").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().trim().is_empty());
        assert_eq!(
            std::fs::metadata(&path).unwrap().ino(),
            inode,
            "no new file"
        );
    }

    #[test]
    fn a_snapshot_save_replaces_the_state_like_a_synced_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        let mut s = sample();
        store.save(&s).unwrap();
        s.iteration += 1;
        store.save_snapshot(&s).unwrap();
        assert_eq!(store.load().unwrap(), Some(s));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn iteration_records_append_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        let rec = IterationRecord {
            attempt: 0,
            ..record(1)
        };
        store.record_iteration("r", &rec).unwrap();
        store
            .record_iteration(
                "r",
                &IterationRecord {
                    iteration: 2,
                    ..rec.clone()
                },
            )
            .unwrap();
        let text = std::fs::read_to_string(store.run_dir("r").join("iterations.jsonl")).unwrap();
        let lines: Vec<IterationRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines.iter().map(|r| r.iteration).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    fn record(n: u64) -> IterationRecord {
        IterationRecord {
            iteration: n,
            agent: "a".into(),
            started_at_unix: 0,
            duration_secs: 0.5,
            outcome: OutcomeStatus::Success,
            message: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            cost_estimated: false,
            exit_code: Some(0),
            completed: false,
            checkpoint: None,
            attempt: n,
            prompt_sha256: "ab".repeat(32),
        }
    }

    /// Records and keeps the transcripts of iterations `from..=to` of run `run`.
    fn iterate(store: &FileStateStore, run: &str, from: u64, to: u64) {
        for n in from..=to {
            store.record_iteration(run, &record(n)).unwrap();
            store.keep_transcript(
                run,
                n,
                &format!("prompt {n}"),
                format!("{{\"n\":{n}}}\n").as_bytes(),
            );
        }
    }

    /// The iterations with a transcript file in `run`'s directory, sorted, each listed once per file.
    fn transcripts(store: &FileStateStore, run: &str) -> Vec<u64> {
        let mut found: Vec<u64> = std::fs::read_dir(store.run_dir(run))
            .unwrap()
            .filter_map(|e| transcript_iteration(&e.unwrap().file_name().to_string_lossy()))
            .collect();
        found.sort();
        found
    }

    fn records_of(store: &FileStateStore, run: &str) -> Vec<u64> {
        std::fs::read_to_string(store.run_dir(run).join("iterations.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<IterationRecord>(l)
                    .unwrap()
                    .iteration
            })
            .collect()
    }

    #[test]
    fn only_the_last_n_transcripts_are_kept_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path())
            .unwrap()
            .with_keep_transcripts(Some(3));
        store.save(&sample()).unwrap();
        let state_before = std::fs::read(store.state_path()).unwrap();
        // Another run's transcripts, and files in this run's directory that are not transcripts.
        iterate(&store.clone().with_keep_transcripts(None), "other", 1, 2);
        let run_dir = store.run_dir("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        for name in [
            "notes.txt",
            "01.prompt.md",
            "x.output.jsonl",
            "1.prompt.md.bak",
        ] {
            std::fs::write(run_dir.join(name), "mine").unwrap();
        }

        iterate(&store, "run", 1, 12);

        assert_eq!(transcripts(&store, "run"), vec![10, 10, 11, 11, 12, 12]);
        assert_eq!(
            std::fs::read_to_string(run_dir.join("12.prompt.md")).unwrap(),
            "prompt 12"
        );
        assert_eq!(
            std::fs::read_to_string(run_dir.join("10.output.jsonl")).unwrap(),
            "{\"n\":10}\n"
        );
        assert_eq!(records_of(&store, "run"), (1..=12).collect::<Vec<_>>());
        assert_eq!(std::fs::read(store.state_path()).unwrap(), state_before);
        assert_eq!(transcripts(&store, "other"), vec![1, 1, 2, 2]);
        for name in [
            "notes.txt",
            "01.prompt.md",
            "x.output.jsonl",
            "1.prompt.md.bak",
        ] {
            assert!(run_dir.join(name).exists(), "{name} was deleted");
        }
    }

    #[test]
    fn keep_all_keeps_every_transcript_and_keep_zero_none() {
        let dir = tempfile::tempdir().unwrap();
        let all = FileStateStore::open(dir.path())
            .unwrap()
            .with_keep_transcripts(None);
        iterate(&all, "run", 1, 12);
        assert_eq!(transcripts(&all, "run").len(), 24);

        let none = all.clone().with_keep_transcripts(Some(0));
        iterate(&none, "other", 1, 5);
        assert_eq!(transcripts(&none, "other"), Vec::<u64>::new());
        assert_eq!(records_of(&none, "other"), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_default_keeps_the_default_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        assert_eq!(store.keep_transcripts(), Some(defaults::KEEP_TRANSCRIPTS));
        let n = defaults::KEEP_TRANSCRIPTS;
        iterate(&store, "run", 1, n + 2);
        let kept = transcripts(&store, "run");
        assert_eq!(kept.len() as u64, 2 * n);
        assert_eq!((kept[0], kept[kept.len() - 1]), (3, n + 2));
    }

    #[test]
    fn a_run_resumed_with_a_smaller_window_drops_the_older_transcripts_once() {
        let dir = tempfile::tempdir().unwrap();
        let before = FileStateStore::open(dir.path())
            .unwrap()
            .with_keep_transcripts(None);
        iterate(&before, "run", 1, 20);
        // The resumed run, in a new process: a new store with a smaller window.
        let after = FileStateStore::existing(dir.path()).with_keep_transcripts(Some(4));
        iterate(&after, "run", 21, 21);
        assert_eq!(
            transcripts(&after, "run"),
            vec![18, 18, 19, 19, 20, 20, 21, 21]
        );
        iterate(&after, "run", 22, 23);
        assert_eq!(
            transcripts(&after, "run"),
            vec![20, 20, 21, 21, 22, 22, 23, 23]
        );
        assert_eq!(records_of(&after, "run"), (1..=23).collect::<Vec<_>>());
    }

    #[test]
    fn a_retried_iteration_keeps_its_latest_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path())
            .unwrap()
            .with_keep_transcripts(Some(2));
        iterate(&store, "run", 1, 3);
        // A rate-limited attempt is retried under the same number.
        store.keep_transcript("run", 3, "again", b"{}\n");
        assert_eq!(transcripts(&store, "run"), vec![2, 2, 3, 3]);
        assert_eq!(
            std::fs::read_to_string(store.run_dir("run").join("3.prompt.md")).unwrap(),
            "again"
        );
    }

    #[test]
    fn each_distinct_prompt_is_kept_once_under_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        store.keep_prompt("run", &a, "task A");
        store.keep_prompt("run", &a, "not written: a file with this hash exists");
        store.keep_prompt("run", &b, "task B");
        let prompts = store.run_dir("run").join("prompts");
        let mut names: Vec<String> = std::fs::read_dir(&prompts)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![format!("{a}.md"), format!("{b}.md")]);
        assert_eq!(
            std::fs::read_to_string(store.prompt_path("run", &a)).unwrap(),
            "task A"
        );
        assert_eq!(
            std::fs::read_to_string(store.prompt_path("run", &b)).unwrap(),
            "task B"
        );
        // A name that is not a hash never becomes a path.
        store.keep_prompt("run", "../../escape", "no");
        store.keep_prompt("run", "", "no");
        assert!(!dir.path().join("escape.md").exists());
        assert_eq!(std::fs::read_dir(&prompts).unwrap().count(), 2);
        assert!(!prompts.join(".md").exists());
    }

    #[test]
    fn records_name_their_prompt_and_older_records_without_it_still_load() {
        let rec = record(1);
        let line = serde_json::to_string(&rec).unwrap();
        assert!(line.contains(&format!("\"prompt_sha256\":\"{}\"", rec.prompt_sha256)));
        assert_eq!(serde_json::from_str::<IterationRecord>(&line).unwrap(), rec);
        let old = IterationRecord {
            prompt_sha256: String::new(),
            ..rec
        };
        let line = serde_json::to_string(&old).unwrap();
        assert!(!line.contains("prompt_sha256"), "{line}");
        assert_eq!(serde_json::from_str::<IterationRecord>(&line).unwrap(), old);
    }
}
