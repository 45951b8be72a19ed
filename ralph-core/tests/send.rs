//! Compile-time checks, as a downstream crate sees the API: every public future is `Send`, so a loop can
//! run on `tokio::spawn`; `Box<dyn Agent>` and shared observers work.

use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, CheckpointRequest, Checkpointer, Engine,
    EngineConfig, Error, EventSender, LoopEvent, NoCheckpoints, Observer, ObserverMut, StopHandle,
    StopReason, Verifier, VerifyRequest, async_trait,
};
use std::sync::{Arc, Mutex};

fn assert_send<T: Send>(_: &T) {}

struct Done;

#[async_trait]
impl Agent for Done {
    fn name(&self) -> &str {
        "done"
    }
    async fn run(
        &self,
        _: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        Ok(AgentOutcome::success("LOOP_COMPLETE"))
    }
}

/// Counts events in a plain field; shared with the test through `Arc<Mutex<_>>`.
#[derive(Default)]
struct Count(usize);

impl ObserverMut for Count {
    fn on_event(&mut self, _: &LoopEvent) {
        self.0 += 1;
    }
}

/// Counts events with `&self`; shared with the test as an `Arc<dyn Observer>`.
#[derive(Default)]
struct AtomicCount(std::sync::atomic::AtomicUsize);

impl Observer for AtomicCount {
    fn on_event(&self, _: &LoopEvent) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig::new(PromptSource::Text("task".into()), dir.to_path_buf())
}

#[tokio::test]
async fn engine_run_can_be_spawned_and_observers_shared() {
    let dir = tempfile::tempdir().unwrap();
    let count = Arc::new(Mutex::new(Count::default()));
    let agent: Box<dyn Agent> = Box::new(Done);
    let engine = Engine::new(config(dir.path()), agent).with_observer(Box::new(count.clone()));
    let summary = tokio::spawn(engine.run(StopHandle::new())).await.unwrap();
    assert!(matches!(summary.reason, StopReason::Completed { .. }));
    assert!(count.lock().unwrap().0 > 0);
}

#[tokio::test]
async fn an_arc_dyn_observer_is_shared_by_two_engines() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let count = Arc::new(AtomicCount::default());
    let shared: Arc<dyn Observer> = count.clone();
    let first =
        Engine::new(config(a.path()), Box::new(Done)).with_observer(Box::new(shared.clone()));
    let second = Engine::new(config(b.path()), Box::new(Done)).with_observer(Box::new(shared));
    let (one, two) = tokio::join!(
        tokio::spawn(first.run(StopHandle::new())),
        tokio::spawn(second.run(StopHandle::new()))
    );
    assert!(one.unwrap().reason.is_completed() && two.unwrap().reason.is_completed());
    let seen = count.0.load(std::sync::atomic::Ordering::Relaxed);
    let mut alone = Arc::new(AtomicCount::default());
    let c = tempfile::tempdir().unwrap();
    let engine =
        Engine::new(config(c.path()), Box::new(Done)).with_observer(Box::new(alone.clone()));
    engine.run(StopHandle::new()).await;
    let one_run = Arc::get_mut(&mut alone)
        .unwrap()
        .0
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        seen,
        2 * one_run,
        "the shared observer saw both runs' events"
    );
}

#[test]
fn every_public_future_is_send() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(config(dir.path()), Box::new(Done));
    assert_send(&engine);
    assert_send(&engine.run(StopHandle::new()));
    let engine = Engine::new(config(dir.path()), Box::new(Done));
    assert_send(&engine.try_run(StopHandle::new()));
    let stop = StopHandle::new();
    assert_send(&stop.stopped());

    let agent: Box<dyn Agent> = Box::new(Done);
    let (tx, _rx) = ralph_core::event_channel();
    let request = AgentRequest::new("task", dir.path());
    assert_send(&agent.preflight());
    assert_send(&agent.run(request, tx, CancellationToken::new()));

    let checkpointer: Box<dyn Checkpointer> = Box::new(NoCheckpoints);
    let request = CheckpointRequest::new("run", 1, "done").with_state_dir(dir.path());
    assert_send(&checkpointer.checkpoint(&request));

    fn verifier_future(v: &dyn Verifier, dir: &std::path::Path) {
        let request = VerifyRequest {
            workspace: dir.into(),
            iteration: 1,
            timeout: None,
        };
        assert_send(&v.verify(request, CancellationToken::new()));
    }
    let _ = verifier_future;

    fn fingerprint_future(f: &dyn ralph_core::Fingerprint, dir: &std::path::Path) {
        assert_send(&f.fingerprint(dir));
    }
    let _ = fingerprint_future;
}
