//! The engine's own cost per iteration: an in-process agent that answers at once (a little usage, never
//! the completion promise), no checkpoints (`NoCheckpoints`), and the state kept in memory (`NoState`,
//! `MemoryStateStore`) or on disk (`FileStateStore` in a temporary directory: real fsyncs).
//!
//! Run with `cargo bench -p ralph-benches --bench loop_overhead`. Each sample is one run of the engine
//! for as many iterations as criterion asks for (`iter_custom`, linear sampling), so the reported time is
//! the slope: the cost of one more iteration, the run's fixed start and finish left out.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, CancellationToken, Cost, Engine, EngineConfig,
    Error, EventSender, FileStateStore, Limits, MemoryStateStore, StateStore, StopHandle,
    StopReason, Usage,
};

/// An agent that answers at once with a little usage and never claims completion.
struct InstantAgent;

#[ralph_core::async_trait]
impl Agent for InstantAgent {
    fn name(&self) -> &str {
        "instant"
    }

    async fn run(
        &self,
        _request: AgentRequest,
        events: EventSender,
        _cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        let usage = Usage {
            input_tokens: 120,
            output_tokens: 40,
            cache_read_input_tokens: 2_000,
            ..Usage::default()
        };
        let cost = Some(Cost {
            usd: 0.001,
            estimated: false,
        });
        let _ = events.send(AgentEvent::Usage { usage, cost });
        Ok(AgentOutcome {
            usage,
            cost,
            ..AgentOutcome::success("Edited one file; the task goes on.")
        })
    }
}

#[derive(Clone, Copy)]
enum Store {
    /// The engine's default: nothing kept.
    None,
    Memory,
    File,
}

/// Runs one engine for `iterations` iterations and returns the time of the run alone.
fn run(runtime: &tokio::runtime::Runtime, store: Store, iterations: u64) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = EngineConfig::new(
        PromptSource::Text("Do the task.".into()),
        dir.path().to_path_buf(),
    )
    .with_limits(Limits::unlimited())
    .with_max_iterations(Some(iterations));
    config.jitter_seed = Some(1);
    let mut engine = Engine::new(config, Box::new(InstantAgent));
    let state: Option<Box<dyn StateStore>> = match store {
        Store::None => None,
        Store::Memory => Some(Box::new(MemoryStateStore::new())),
        Store::File => Some(Box::new(
            FileStateStore::open(dir.path().join(".agent")).expect("state dir"),
        )),
    };
    if let Some(state) = state {
        engine = engine.with_state_store(state);
    }
    let began = Instant::now();
    let summary = runtime.block_on(engine.run(StopHandle::new()));
    let elapsed = began.elapsed();
    assert_eq!(
        (summary.reason, summary.iterations),
        (StopReason::MaxIterations { limit: iterations }, iterations),
        "every iteration runs and the run stops at the limit"
    );
    elapsed
}

fn loop_overhead(c: &mut Criterion) {
    // As `ralph run`: a current-thread runtime (state writes go to the blocking pool).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("loop-overhead");
    for (name, store) in [
        ("no-state", Store::None),
        ("memory-state", Store::Memory),
        ("file-state", Store::File),
    ] {
        if let Store::File = store {
            // Fsyncs take milliseconds: fewer, longer samples.
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(10));
        }
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| run(&runtime, store, iterations.max(1)))
        });
    }
    group.finish();
}

criterion_group!(benches, loop_overhead);
criterion_main!(benches);
