//! Embedding the loop as a downstream crate does, through the public API only: without touching disk,
//! with the lock of a file store, stopped from code.

use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error, EventSender,
    ExitClass, FileStateStore, MemoryStateStore, NoCheckpoints, StateStore, StopHandle, StopReason,
    async_trait,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Completes the task on its `n`th run.
struct DoneOn(u32, AtomicU32);

#[async_trait]
impl Agent for DoneOn {
    fn name(&self) -> &str {
        "done-on"
    }
    async fn run(
        &self,
        _: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        let run = self.1.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AgentOutcome::success(if run == self.0 {
            "LOOP_COMPLETE"
        } else {
            "working"
        }))
    }
}

/// Runs until cancelled.
struct Hang;

#[async_trait]
impl Agent for Hang {
    fn name(&self) -> &str {
        "hang"
    }
    async fn run(
        &self,
        _: AgentRequest,
        _: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        cancel.cancelled().await;
        Ok(AgentOutcome::new(ralph_core::OutcomeStatus::Cancelled))
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        }
        out.push(path);
    }
    out
}

#[tokio::test]
async fn a_full_loop_in_memory_writes_nothing_in_the_workspace() {
    let ws = tempfile::tempdir().unwrap();
    let store = MemoryStateStore::new();
    let config = EngineConfig::new(PromptSource::Text("task".into()), ws.path().into())
        .with_checkpoint_interval(1);
    let engine = Engine::new(config, Box::new(DoneOn(3, AtomicU32::new(0))))
        .with_checkpointer(Box::new(NoCheckpoints))
        .with_state_store(Box::new(store.clone()));
    let summary = engine.run(StopHandle::new()).await;
    assert!(matches!(
        summary.reason,
        StopReason::Completed { iteration: 3, .. }
    ));
    assert_eq!(files_under(ws.path()), Vec::<std::path::PathBuf>::new());
    let state = store.state().expect("the state is kept in memory");
    assert_eq!(state.run_id, summary.run_id);
    assert_eq!(state.iteration, 3);
    assert_eq!(store.records(&summary.run_id).len(), 3);
}

#[tokio::test]
async fn a_second_engine_on_the_same_state_dir_fails_naming_the_holder() {
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path().join(".agent");
    let engine = |agent: Box<dyn Agent>| {
        Engine::new(
            EngineConfig::new(PromptSource::Text("task".into()), ws.path().into()),
            agent,
        )
        .with_state_store(Box::new(FileStateStore::open(&dir).unwrap()))
    };
    let stop = StopHandle::new();
    let first = tokio::spawn(engine(Box::new(Hang)).run(stop.clone()));
    // Wait until the first run's agent runs (its state says so); nothing writes the state until it ends.
    let state = dir.join("state.json");
    let running = || {
        FileStateStore::existing(&dir)
            .load()
            .ok()
            .flatten()
            .is_some_and(|s| s.in_progress == Some(1))
    };
    while !running() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = std::fs::read(&state).unwrap();
    match engine(Box::new(DoneOn(1, AtomicU32::new(0))))
        .try_run(StopHandle::new())
        .await
    {
        Err(e @ Error::Locked { .. }) => {
            let Error::Locked { pid, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*pid, Some(std::process::id()));
            // Held by this very process: the message does not send the user looking for another ralph.
            assert!(
                e.to_string().contains("this process already runs a loop"),
                "{e}"
            );
        }
        other => panic!("expected Error::Locked, got {other:?}"),
    }
    let second = engine(Box::new(DoneOn(1, AtomicU32::new(0))))
        .run(StopHandle::new())
        .await;
    match &second.reason {
        StopReason::Error { message } => assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&state).unwrap(), before, "state untouched");

    stop.request_stop("test: done");
    let summary = first.await.unwrap();
    assert_eq!(
        summary.reason,
        StopReason::Requested {
            by: "test: done".into()
        }
    );
    assert!(summary.reason.is_resumable());
    assert_eq!(summary.reason.exit_class(), ExitClass::Stopped);
    // Released at the end of the run: the next engine resumes it.
    let resumed = engine(Box::new(DoneOn(1, AtomicU32::new(0))))
        .try_run(StopHandle::new())
        .await
        .unwrap();
    assert_eq!(resumed.run_id, summary.run_id);
    assert!(resumed.reason.is_completed());
}

/// Stops once the agent wrote `DONE` in the workspace it sees in [`ralph_core::LoopStats::workspace`].
struct DoneFile;

impl ralph_core::LimitPolicy for DoneFile {
    fn name(&self) -> &str {
        "done_file"
    }
    fn check(&self, stats: &ralph_core::LoopStats) -> Option<StopReason> {
        stats
            .workspace
            .join("DONE")
            .exists()
            .then(|| StopReason::Custom {
                policy: "done_file".into(),
                message: format!("{} exists", stats.workspace.join("DONE").display()),
            })
    }
}

/// Writes `DONE` in the workspace on its second run, never claims completion.
struct WritesDone(AtomicU32);

#[async_trait]
impl Agent for WritesDone {
    fn name(&self) -> &str {
        "writes-done"
    }
    async fn run(
        &self,
        request: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 1 {
            std::fs::write(request.workspace.join("DONE"), "").unwrap();
        }
        Ok(AgentOutcome::success("working"))
    }
}

#[tokio::test]
async fn a_limit_policy_sees_the_workspace() {
    let ws = tempfile::tempdir().unwrap();
    let config = EngineConfig::new(PromptSource::Text("task".into()), ws.path().into())
        .with_max_iterations(Some(10));
    let summary = Engine::new(config, Box::new(WritesDone(AtomicU32::new(0))))
        .with_policy(Box::new(DoneFile))
        .run(StopHandle::new())
        .await;
    assert_eq!(summary.iterations, 2);
    assert!(
        matches!(&summary.reason, StopReason::Custom { policy, .. } if policy == "done_file"),
        "{:?}",
        summary.reason
    );
}
