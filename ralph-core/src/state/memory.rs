//! [`MemoryStateStore`]: run state kept in memory, for embedding the loop without touching disk.

use super::{IterationRecord, RunState, StateStore};
use crate::error::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A [`StateStore`] that keeps the run state and the iteration records in memory: nothing is written to
/// disk, and nothing survives the process.
///
/// Clones share the same memory, so keep a clone to read the state after the run, or give clones to
/// successive engines in one process: a run stopped with [`crate::StopHandle::request_stop`] is resumed
/// by the next engine given the same store and prompt, as [`FileStateStore`](super::FileStateStore) resumes across
/// processes. Transcripts (the prompt and raw output of each iteration) are not kept. It takes no lock:
/// two engines running at once on one `MemoryStateStore` would interleave their state (give each its own).
///
/// ```
/// use ralph_core::state::{MemoryStateStore, StateStore};
///
/// let store = MemoryStateStore::new();
/// let for_engine: Box<dyn StateStore> = Box::new(store.clone()); // `Engine::with_state_store`
/// # drop(for_engine);
/// // ... after the run:
/// if let Some(state) = store.state() {
///     println!("run {} did {} iterations", state.run_id, state.iteration);
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStateStore {
    inner: Arc<Mutex<Memory>>,
}

#[derive(Debug, Default)]
struct Memory {
    state: Option<RunState>,
    records: HashMap<String, Vec<IterationRecord>>,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The run state last saved, if any.
    pub fn state(&self) -> Option<RunState> {
        self.memory().state.clone()
    }

    /// The iteration records of `run_id`, oldest first (empty for an unknown run).
    pub fn records(&self, run_id: &str) -> Vec<IterationRecord> {
        self.memory()
            .records
            .get(run_id)
            .cloned()
            .unwrap_or_default()
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateStore for MemoryStateStore {
    fn load(&self) -> Result<Option<RunState>, Error> {
        Ok(self.state())
    }

    fn save(&self, state: &RunState) -> Result<(), Error> {
        self.memory().state = Some(state.clone());
        Ok(())
    }

    fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error> {
        self.memory()
            .records
            .entry(run_id.to_string())
            .or_default()
            .push(record.clone());
        Ok(())
    }

    fn last_record(&self, run_id: &str) -> Option<IterationRecord> {
        self.memory().records.get(run_id)?.last().cloned()
    }

    fn records_after(&self, run_id: &str, attempt: u64) -> Vec<IterationRecord> {
        self.records(run_id)
            .into_iter()
            .filter(|r| r.attempt > attempt)
            .collect()
    }
}
