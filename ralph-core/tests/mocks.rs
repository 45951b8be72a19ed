//! `mockall` mocks of the engine's traits, written as a downstream crate writes them (public API only),
//! driving a whole loop: the agent completes in its second iteration.

use mockall::{Sequence, mock, predicate};
use ralph_core::lock::RunLock;
use ralph_core::prompt::PromptSource;
use ralph_core::state::{IterationRecord, RunState, RunStatus};
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, CheckpointId, CheckpointRequest,
    Checkpointer, Engine, EngineConfig, Error, EventSender, LoopEvent, Observer, StateStore,
    StopHandle, StopReason, async_trait,
};
use std::path::Path;
use std::sync::{Arc, Mutex};

mock! {
    pub Agent {}
    #[async_trait]
    impl Agent for Agent {
        fn name(&self) -> &str;
        async fn preflight(&self) -> Result<(), Error>;
        async fn run(
            &self,
            request: AgentRequest,
            events: EventSender,
            cancel: CancellationToken,
        ) -> Result<AgentOutcome, Error>;
    }
}

mock! {
    pub Checkpointer {}
    #[async_trait]
    impl Checkpointer for Checkpointer {
        async fn checkpoint(&self, request: &CheckpointRequest) -> Result<Option<CheckpointId>, Error>;
    }
}

mock! {
    pub Observer {}
    impl Observer for Observer {
        fn on_event(&self, event: &LoopEvent);
    }
}

mock! {
    pub Store {}
    impl StateStore for Store {
        fn load(&self) -> Result<Option<RunState>, Error>;
        fn save(&self, state: &RunState) -> Result<(), Error>;
        fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error>;
        fn last_record(&self, run_id: &str) -> Option<IterationRecord>;
        fn keep_transcript(&self, run_id: &str, iteration: u64, prompt: &str, output: &[u8]);
        fn keep_prompt(&self, run_id: &str, sha256: &str, prompt: &str);
        fn lock(&self, workspace: &Path) -> Result<Option<RunLock>, Error>;
    }
}

#[tokio::test]
async fn a_loop_runs_with_every_collaborator_mocked() {
    let ws = tempfile::tempdir().unwrap();

    let mut agent = MockAgent::new();
    agent.expect_name().return_const("mock".to_string());
    agent.expect_preflight().times(1).returning(|| Ok(()));
    let mut runs = Sequence::new();
    agent
        .expect_run()
        .withf(|request, _, _| request.iteration == 1 && request.prompt.contains("the task"))
        .times(1)
        .in_sequence(&mut runs)
        .returning(|_, _, _| Ok(AgentOutcome::success("working on it")));
    agent
        .expect_run()
        .withf(|request, _, _| request.iteration == 2)
        .times(1)
        .in_sequence(&mut runs)
        .returning(|_, _, _| Ok(AgentOutcome::success("all done\nLOOP_COMPLETE")));

    let state_dir = ws.path().join("state");
    let mut checkpointer = MockCheckpointer::new();
    let expected_dir = state_dir.clone();
    checkpointer
        .expect_checkpoint()
        .withf(move |r| r.state_dir.as_deref() == Some(expected_dir.as_path()))
        .times(3) // after iterations 1 and 2 (interval 1), and the final one
        .returning(|r| Ok(Some(CheckpointId(format!("c{}", r.iteration)))));

    let mut store = MockStore::new();
    store.expect_lock().times(1).returning(|_| Ok(None));
    store.expect_load().times(1).returning(|| Ok(None));
    store.expect_last_record().returning(|_| None);
    store.expect_keep_transcript().times(2).return_const(());
    store
        .expect_keep_prompt()
        .withf(|_, sha, prompt| sha.len() == 64 && prompt == "the task")
        .times(2)
        .return_const(());
    store
        .expect_record_iteration()
        .with(
            predicate::always(),
            predicate::function(|r: &IterationRecord| r.iteration <= 2),
        )
        .times(2)
        .returning(|_, _| Ok(()));
    let saved = Arc::new(Mutex::new(Vec::new()));
    let keep = saved.clone();
    store.expect_save().returning(move |state| {
        keep.lock().unwrap().push(state.clone());
        Ok(())
    });

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut observer = MockObserver::new();
    observer.expect_on_event().returning(move |e| {
        seen.lock().unwrap().push(e.clone());
    });

    let config = EngineConfig::new(PromptSource::Text("the task".into()), ws.path().into())
        .with_state_dir(&state_dir)
        .with_checkpoint_interval(1);
    let engine = Engine::new(config, Box::new(agent))
        .with_checkpointer(Box::new(checkpointer))
        .with_state_store(Box::new(store))
        .with_observer(Box::new(observer));
    let summary = tokio::spawn(engine.run(StopHandle::new())).await.unwrap();

    assert!(matches!(
        summary.reason,
        StopReason::Completed { iteration: 2, .. }
    ));
    let last = saved.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.status, RunStatus::Finished);
    assert_eq!(last.iteration, 2);
    let events = events.lock().unwrap();
    assert!(matches!(events.first(), Some(LoopEvent::RunStarted { .. })));
    assert!(matches!(events.last(), Some(LoopEvent::RunFinished { .. })));
    assert!(!state_dir.exists(), "the mocked store writes nothing");
}
