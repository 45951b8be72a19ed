//! # ralph-core
//!
//! The engine of ralph: it runs an AI coding agent again and again on the same task, a fresh agent each
//! iteration, until the agent declares completion or a limit stops it.
//!
//! Published as `ralph-loop-core`: `cargo add ralph-loop-core`, then `use ralph_core::...`.
//! Implementing [`Agent`] needs the [`async_trait`](macro@async_trait) attribute, re-exported here (write
//! `#[ralph_core::async_trait]`: no direct `async-trait` dependency needed); running the engine needs a
//! tokio runtime (`cargo add tokio --features macros,rt-multi-thread`).
//!
//! The pieces:
//! - [`Agent`]: one agent run per iteration (implementations for real CLIs live in `ralph-agents`).
//! - [`defaults`]: the default of every run setting the engine shares with the command line.
//! - [`limits`]: pluggable [`LimitPolicy`] values with built-ins for iterations, runtime, tokens, cost and
//!   consecutive failures.
//! - [`completion`]: completion-promise detection.
//! - [`prompt`]: prompt sources and per-iteration assembly.
//! - [`Checkpointer`] and [`StateStore`]: where the workspace and the run state are saved
//!   (git checkpoints live in `ralph-git`).
//! - [`progress`]: optional stall and loop detection policies and the workspace [`Fingerprint`] trait.
//! - [`verify`]: the [`Verifier`] trait that checks completion claims (`--verify CMD`).
//! - [`engine`]: the loop itself, a pure state machine plus an async driver, publishing [`LoopEvent`]s.
//!
//! This crate has no dependency on processes, git, clap or a terminal.
//!
//! ```
//! use ralph_core::{Agent, AgentOutcome, AgentRequest, Engine, EngineConfig, EventSender, Error};
//! use ralph_core::{StopHandle, StopReason, prompt::PromptSource};
//! use ralph_core::CancellationToken; // re-exported: no direct dependency on tokio-util needed
//!
//! /// An agent that finishes the task on its second run.
//! struct Twice(std::sync::atomic::AtomicU32);
//!
//! #[ralph_core::async_trait]
//! impl Agent for Twice {
//!     fn name(&self) -> &str { "twice" }
//!     async fn run(&self, _: AgentRequest, _: EventSender, _: CancellationToken)
//!         -> Result<AgentOutcome, Error> {
//!         let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!         Ok(AgentOutcome::success(if n == 1 { "done\nLOOP_COMPLETE" } else { "working" }))
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let config = EngineConfig::new(PromptSource::Text("Write hello.txt".into()), ".".into());
//! let engine = Engine::new(config, Box::new(Twice(0.into())));
//! let summary = engine.run(StopHandle::new()).await;
//! assert!(matches!(summary.reason, StopReason::Completed { iteration: 2, .. }));
//! # });
//! ```

#![deny(missing_docs)]

pub mod agent;
pub mod checkpoint;
pub mod completion;
pub mod defaults;
pub mod engine;
pub mod error;
pub mod events;
pub mod limits;
pub mod lock;
pub mod progress;
pub mod prompt;
pub mod state;
pub mod usage;
pub mod verify;

pub use agent::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, EventReceiver, EventSender, FailureKind,
    OutcomeStatus, TimeoutKind, event_channel,
};
pub use checkpoint::{CheckpointId, CheckpointRequest, Checkpointer, NoCheckpoints};
pub use engine::{Engine, EngineConfig, RunSummary, StopHandle};
pub use error::Error;
pub use events::{LoopEvent, Observer, ObserverMut};
pub use limits::{ExitClass, LimitPolicy, Limits, LoopStats, Signal, StopReason};
pub use progress::{Fingerprint, LoopDetection, StallDetection};
pub use state::{FileStateStore, MemoryStateStore, NoState, StateStore};

/// The attribute that makes the async methods of [`Agent`], [`Checkpointer`], [`Verifier`] and
/// [`Fingerprint`] object-safe, re-exported so that implementors need no direct dependency on
/// `async-trait`: write `#[ralph_core::async_trait]` on the `impl` block.
pub use async_trait::async_trait;
/// The cancellation token of [`Agent::run`] and [`Verifier::verify`], re-exported so that implementors
/// need no direct dependency on `tokio-util`.
pub use tokio_util::sync::CancellationToken;
pub use usage::{Cost, Usage};
pub use verify::{Verification, Verifier, VerifyRequest, VerifyResult};

// The crate's README.md: its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
