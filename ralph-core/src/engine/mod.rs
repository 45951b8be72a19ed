//! The loop engine: a pure state machine ([`machine`]) and the async driver ([`Engine`]) that performs
//! its actions.
//!
//! One iteration: read the prompt → assemble it → run the agent (under the deadline, the idle timeout and
//! the stop handle) → classify and account → record state → checkpoint if due → check limits → back off
//! if it failed.

pub mod backoff;
pub mod machine;
mod run_state;

use crate::agent::{Agent, AgentEvent, AgentOutcome, AgentRequest, OutcomeStatus, TimeoutKind};
use crate::checkpoint::{CheckpointRequest, Checkpointer, NoCheckpoints};
use crate::completion::prompt_marks_complete;
use crate::error::Error;
use crate::events::{LoopEvent, Observer};
use crate::limits::{LimitPolicy, Limits, LoopStats, StopReason};
use crate::progress::Fingerprint;
use crate::prompt::{PromptSource, PromptTemplate};
use crate::state::{IterationRecord, NoState, RunState, RunStatus, StateStore};
use crate::usage::Usage;
use crate::verify::{Verification, Verifier, VerifyRequest, VerifyResult};
use backoff::Backoff;
use machine::{Action, Input, Machine, MachineConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Everything the engine needs besides the agent. Build with [`EngineConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the task prompt comes from (re-read every iteration).
    pub prompt: PromptSource,
    /// Directory the agent works in.
    pub workspace: PathBuf,
    /// ralph's state directory (absolute, or relative to the current directory).
    pub state_dir: PathBuf,
    /// How each iteration's prompt is assembled.
    pub template: PromptTemplate,
    /// The completion promise (default `LOOP_COMPLETE`); empty disables promise detection.
    pub completion_promise: String,
    /// Completion claims before this many iterations are rejected (default 0).
    pub min_iterations: u64,
    /// The built-in limits.
    pub limits: Limits,
    /// Base of the exponential backoff after a failed iteration (default 2 s).
    pub retry_delay: Duration,
    /// Cap of the backoff (default 300 s).
    pub max_backoff: Duration,
    /// Wall clock for one agent run (default 1800 s).
    pub iteration_timeout: Option<Duration>,
    /// Silence after which the agent counts as hung (default 600 s).
    pub idle_timeout: Option<Duration>,
    /// Checkpoint every N iterations (default 5); 0 = only at the end of the run.
    pub checkpoint_interval: u64,
    /// Start a new run even if an unfinished or finished one is in the state directory.
    pub fresh: bool,
    /// Wait after a rate limit whose reset time the agent did not say (default 60 s); doubled for each
    /// further rate-limited attempt in a row, up to `rate_limit_max_wait`.
    pub rate_limit_fallback_wait: Duration,
    /// Cap of the doubling rate-limit wait (default 1800 s).
    pub rate_limit_max_wait: Duration,
    /// Seed for the backoff jitter (tests); `None` = random.
    pub jitter_seed: Option<u64>,
}

impl EngineConfig {
    /// A configuration with the defaults of SPEC §2 for `prompt` in `workspace` (state in
    /// `workspace/.agent`).
    pub fn new(prompt: PromptSource, workspace: PathBuf) -> Self {
        EngineConfig {
            prompt,
            state_dir: workspace.join(crate::defaults::STATE_DIR),
            workspace,
            template: PromptTemplate::default(),
            completion_promise: crate::defaults::COMPLETION_PROMISE.into(),
            min_iterations: crate::defaults::MIN_ITERATIONS,
            limits: Limits::default(),
            retry_delay: Duration::from_secs(crate::defaults::RETRY_DELAY_SECS),
            max_backoff: Duration::from_secs(300),
            iteration_timeout: Some(Duration::from_secs(crate::defaults::ITERATION_TIMEOUT_SECS)),
            idle_timeout: Some(Duration::from_secs(crate::defaults::IDLE_TIMEOUT_SECS)),
            checkpoint_interval: crate::defaults::CHECKPOINT_INTERVAL,
            fresh: false,
            rate_limit_fallback_wait: Duration::from_secs(crate::defaults::RATE_LIMIT_WAIT_SECS),
            rate_limit_max_wait: machine::DEFAULT_RATE_LIMIT_MAX_WAIT,
            jitter_seed: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Why it stopped.
    pub reason: StopReason,
    /// Iterations run (across restarts).
    pub iterations: u64,
    /// Tokens by kind.
    pub usage: Usage,
    /// Cost, USD.
    pub cost_usd: f64,
    /// True when any part of the cost is an estimate.
    pub cost_estimated: bool,
    /// Wall-clock time used (across restarts), seconds.
    pub elapsed_secs: f64,
    /// True when this invocation found the run already finished and ran nothing.
    pub already_finished: bool,
}

/// Asks a running engine to stop gracefully: the agent is stopped, state saved, the final checkpoint
/// taken. Cloneable; the first reason given wins.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    token: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl StopHandle {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a stop for `reason` (for example [`StopReason::Interrupted`]).
    pub fn stop(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(reason);
        self.token.cancel();
    }

    /// True once [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The loop engine. Build with [`Engine::new`], add collaborators, then [`Engine::run`].
pub struct Engine {
    config: EngineConfig,
    agent: Box<dyn Agent>,
    checkpointer: Box<dyn Checkpointer>,
    state: Box<dyn StateStore>,
    observers: Vec<Box<dyn Observer>>,
    policies: Vec<Box<dyn LimitPolicy>>,
    verifier: Option<Box<dyn Verifier>>,
    fingerprint: Option<Box<dyn Fingerprint>>,
}

/// Bytes of a verifier's output tail carried by [`LoopEvent::Verification`] (the prompt feedback keeps
/// up to [`crate::verify::OUTPUT_TAIL_CAP`]): 4 KiB.
pub const EVENT_OUTPUT_TAIL_CAP: usize = 4 * 1024;

impl Engine {
    /// An engine with no checkpoints, no persisted state and no observers.
    pub fn new(config: EngineConfig, agent: Box<dyn Agent>) -> Self {
        Engine {
            config,
            agent,
            checkpointer: Box::new(NoCheckpoints),
            state: Box::new(NoState),
            observers: Vec::new(),
            policies: Vec::new(),
            verifier: None,
            fingerprint: None,
        }
    }

    /// Fingerprints the workspace before and after every agent run, so that
    /// [`LoopStats::unchanged_iterations`] counts iterations that changed nothing (for
    /// [`crate::progress::StallDetection`]). Only worth its cost with that policy.
    pub fn with_fingerprint(mut self, fingerprint: Box<dyn Fingerprint>) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Checks completion claims with `verifier` (`--verify CMD`): a claim counts only when it passes;
    /// otherwise the run goes on and the verifier's output tail is fed back in the next prompt.
    pub fn with_verifier(mut self, verifier: Box<dyn Verifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Uses `checkpointer` to save the workspace.
    pub fn with_checkpointer(mut self, checkpointer: Box<dyn Checkpointer>) -> Self {
        self.checkpointer = checkpointer;
        self
    }

    /// Keeps run state in `store` (resume after a crash needs a persistent store).
    pub fn with_state_store(mut self, store: Box<dyn StateStore>) -> Self {
        self.state = store;
        self
    }

    /// Adds an observer of [`LoopEvent`]s.
    pub fn with_observer(mut self, observer: Box<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Adds a limit policy next to the built-in ones.
    pub fn with_policy(mut self, policy: Box<dyn LimitPolicy>) -> Self {
        self.policies.push(policy);
        self
    }

    fn emit(&mut self, event: LoopEvent) {
        for o in &mut self.observers {
            o.on_event(&event);
        }
    }

    /// Runs the loop until completion, a limit, or a stop through `stop`.
    pub async fn run(mut self, stop: StopHandle) -> RunSummary {
        let started = Instant::now();
        let prompt_text = match self.config.prompt.load() {
            Ok(t) => t,
            Err(e) => return self.fail_early(e, started),
        };
        let mut run =
            match run_state::begin(&*self.state, &self.config, self.agent.name(), &prompt_text) {
                Ok(run_state::Begin::AlreadyFinished(summary)) => {
                    self.emit(LoopEvent::AlreadyFinished {
                        run_id: summary.run_id.clone(),
                        reason: summary.reason.clone(),
                    });
                    return summary;
                }
                Ok(run_state::Begin::Run(run)) => run,
                Err(e) => return self.fail_early(e, started),
            };
        match run_state::recover(&*self.state, &mut run, self.agent.name()) {
            Ok(Some(warning)) => self.emit(LoopEvent::Warning { message: warning }),
            Ok(None) => {}
            Err(e) => return self.fail_early(e, started),
        }
        run.stop_reason = None;
        // A resumed run may have been restarted with other limits: record the ones in force now.
        run.limits = Some((&self.config.limits).into());
        let base_runtime = saved_duration(run.runtime_secs);
        let resumed = run.iteration > 0;
        self.emit(LoopEvent::RunStarted {
            run_id: run.run_id.clone(),
            agent: self.agent.name().to_string(),
            resumed,
            iterations_done: run.iteration,
        });

        let mut policies = self.config.limits.policies();
        policies.append(&mut self.policies);
        let machine_config = MachineConfig {
            completion_promise: self.config.completion_promise.clone(),
            min_iterations: self.config.min_iterations,
            checkpoint_interval: self.config.checkpoint_interval,
            iteration_timeout: self.config.iteration_timeout,
            backoff: Backoff::new(
                self.config.retry_delay,
                self.config.max_backoff,
                self.config.jitter_seed,
            ),
            rate_limit_fallback_wait: self.config.rate_limit_fallback_wait,
            rate_limit_max_wait: self.config.rate_limit_max_wait,
            verify: self.verifier.is_some(),
        };
        let mut machine = Machine::new(
            machine_config,
            policies,
            run_state::stats_of(&run, base_runtime),
        );
        let elapsed = || base_runtime + started.elapsed();

        let mut pending: Vec<Action> = Vec::new();
        if let Err(e) = self.agent.preflight().await {
            pending = machine.step(Input::Stop(StopReason::AgentUnavailable {
                message: e.to_string(),
            }));
        }
        let mut last_outcome: Option<(AgentOutcome, Instant, u64)> = None;
        // Feedback for the next iteration's prompt (a rejected claim's verification output).
        let mut feedback: Option<String> = None;
        let mut user_prompt = prompt_text;

        loop {
            if pending.is_empty() {
                if stop.is_stopped() {
                    pending = machine.step(Input::Stop(stop.reason().unwrap_or(
                        StopReason::Interrupted {
                            signal: "stop".into(),
                        },
                    )));
                    continue;
                }
                // Re-read the prompt every iteration: users may edit it while the loop runs.
                match self.config.prompt.load() {
                    Ok(t) => user_prompt = t,
                    Err(e) => {
                        pending = machine.step(Input::Stop(StopReason::Error {
                            message: e.to_string(),
                        }));
                        continue;
                    }
                }
                let marked = matches!(self.config.prompt, PromptSource::File(_))
                    && prompt_marks_complete(&user_prompt);
                pending = machine.step(Input::Ready {
                    prompt_marked_complete: marked,
                    elapsed: elapsed(),
                });
                continue;
            }
            let action = pending.remove(0);
            match action {
                Action::RunIteration {
                    iteration,
                    timeout,
                    timeout_kind,
                } => {
                    // Mark the iteration as started on disk first, so a crash during it is counted.
                    run_state::update(&mut run, machine.stats(), None);
                    run.in_progress = Some(iteration);
                    run.attempts += 1;
                    if let Err(e) = self.state.save(&run) {
                        pending = machine.step(Input::Stop(StopReason::Error {
                            message: e.to_string(),
                        }));
                        continue;
                    }
                    // Taken after the previous iteration's checkpoint, which may have moved HEAD.
                    let fingerprint_before = match &self.fingerprint {
                        Some(f) => f.fingerprint(&self.config.workspace).await,
                        None => None,
                    };
                    let this_feedback = feedback.take();
                    let (outcome, began, started_unix, prompt) = self
                        .run_iteration(
                            &mut machine,
                            &stop,
                            (&user_prompt, this_feedback.as_deref()),
                            &run.run_id,
                            iteration,
                            timeout,
                            timeout_kind,
                            &elapsed,
                        )
                        .await;
                    if matches!(outcome.status, OutcomeStatus::RateLimited { .. }) {
                        // The iteration is tried again: it still owes the agent that feedback.
                        feedback = this_feedback;
                    }
                    self.state.keep_transcript(
                        &run.run_id,
                        iteration,
                        &prompt,
                        &outcome.transcript,
                    );
                    last_outcome = Some((outcome.clone(), began, started_unix));
                    let workspace_changed = match (&fingerprint_before, &self.fingerprint) {
                        (Some(before), Some(f)) => f
                            .fingerprint(&self.config.workspace)
                            .await
                            .map(|after| &after != before),
                        _ => None,
                    };
                    let next = machine.step(Input::Finished {
                        outcome,
                        elapsed: elapsed(),
                        now_unix: unix_now(),
                        workspace_changed,
                    });
                    // A stop that raced with the agent finishing on its own. A pending check of a
                    // completion claim still runs (the verifier sees the stop and ends at once): the
                    // machine waits for its verdict.
                    pending = after_racing_stop(&mut machine, &stop, next, |a| {
                        matches!(a, Action::Verify { .. })
                    });
                }
                Action::Record {
                    iteration,
                    completed,
                } => {
                    let Some((outcome, began, started_unix)) = last_outcome.take() else {
                        continue;
                    };
                    let duration = began.elapsed().as_secs_f64();
                    let stats = machine.stats().clone();
                    let checkpoint_due = pending
                        .iter()
                        .any(|a| matches!(a, Action::Checkpoint { .. }));
                    let checkpoint = if checkpoint_due {
                        // Take the interval checkpoint before recording, so the record names it.
                        pending.retain(|a| !matches!(a, Action::Checkpoint { .. }));
                        self.checkpoint(&run.run_id, iteration, stats.cost_usd, false)
                            .await
                    } else {
                        None
                    };
                    let cost = outcome.cost.unwrap_or_default();
                    self.emit(LoopEvent::IterationFinished {
                        iteration,
                        outcome: outcome.status.clone(),
                        message: outcome.message.clone(),
                        duration_secs: duration,
                        usage: outcome.usage,
                        cost_usd: cost.usd,
                        cost_estimated: cost.estimated,
                        total_tokens: stats.usage.billable_total(),
                        total_cost_usd: stats.cost_usd,
                        completed,
                    });
                    let record = IterationRecord {
                        iteration,
                        agent: self.agent.name().to_string(),
                        started_at_unix: started_unix,
                        duration_secs: duration,
                        outcome: outcome.status.clone(),
                        message: outcome.message.clone(),
                        usage: outcome.usage,
                        cost_usd: cost.usd,
                        cost_estimated: cost.estimated,
                        exit_code: outcome.exit_code,
                        completed,
                        checkpoint,
                        attempt: run.attempts,
                    };
                    if let Err(e) = self.state.record_iteration(&run.run_id, &record) {
                        self.emit(LoopEvent::Warning {
                            message: e.to_string(),
                        });
                    }
                    run_state::update(&mut run, &stats, Some(outcome.status.label()));
                    run.in_progress = None;
                    if let Err(e) = self.state.save(&run) {
                        pending = vec![Action::Finish(StopReason::Error {
                            message: e.to_string(),
                        })];
                    }
                }
                Action::Verify { iteration, timeout } => {
                    let (verification, check) = self.verify(iteration, timeout, &stop).await;
                    let passed = verification.result == VerifyResult::Passed;
                    let reason = format!(
                        "verification `{check}` {}: {}",
                        verification.result.label(),
                        verification.summary
                    );
                    if !passed {
                        feedback = Some(crate::verify::feedback(iteration, &check, &verification));
                    }
                    self.emit(LoopEvent::Verification {
                        iteration,
                        result: verification.result,
                        exit_code: verification.exit_code,
                        summary: verification.summary.clone(),
                        duration_secs: verification.duration.as_secs_f64(),
                        output_tail: crate::verify::tail(
                            &verification.output_tail,
                            EVENT_OUTPUT_TAIL_CAP,
                        )
                        .to_string(),
                    });
                    let next = machine.step(Input::Verified {
                        passed,
                        reason,
                        elapsed: elapsed(),
                    });
                    pending = after_racing_stop(&mut machine, &stop, next, |a| {
                        matches!(a, Action::RejectCompletion { .. })
                    });
                }
                Action::Checkpoint { iteration } => {
                    let cost = machine.stats().cost_usd;
                    self.checkpoint(&run.run_id, iteration, cost, false).await;
                }
                Action::RejectCompletion { reason } => {
                    let iteration = machine.stats().iterations;
                    self.emit(LoopEvent::CompletionRejected { iteration, reason });
                }
                Action::Backoff {
                    delay,
                    consecutive_failures,
                } => {
                    self.emit(LoopEvent::Backoff {
                        delay_secs: delay.as_secs_f64(),
                        consecutive_failures,
                    });
                    self.sleep_unless_stopped(delay, &stop).await;
                }
                Action::WaitRateLimit {
                    wait,
                    reset_at_unix,
                } => {
                    self.emit(LoopEvent::RateLimitWait {
                        wait_secs: wait.as_secs_f64(),
                        reset_at_unix,
                    });
                    self.sleep_unless_stopped(wait, &stop).await;
                }
                Action::CancelAgent => {}
                Action::Finish(reason) => {
                    let stats = machine.stats().clone();
                    self.checkpoint(&run.run_id, stats.iterations, stats.cost_usd, true)
                        .await;
                    let mut stats = stats;
                    stats.elapsed = elapsed();
                    run_state::update(&mut run, &stats, None);
                    run.status = if reason.is_resumable() {
                        RunStatus::Running
                    } else {
                        RunStatus::Finished
                    };
                    run.stop_reason = Some(reason.clone());
                    if let Err(e) = self.state.save(&run) {
                        self.emit(LoopEvent::Warning {
                            message: format!("final state not saved: {e}"),
                        });
                    }
                    let summary = RunSummary {
                        run_id: run.run_id.clone(),
                        reason: reason.clone(),
                        iterations: stats.iterations,
                        usage: stats.usage,
                        cost_usd: stats.cost_usd,
                        cost_estimated: stats.cost_estimated,
                        elapsed_secs: stats.elapsed.as_secs_f64(),
                        already_finished: false,
                    };
                    self.emit(LoopEvent::RunFinished {
                        reason,
                        iterations: summary.iterations,
                        usage: summary.usage,
                        cost_usd: summary.cost_usd,
                        cost_estimated: summary.cost_estimated,
                        elapsed_secs: summary.elapsed_secs,
                    });
                    return summary;
                }
            }
        }
    }

    /// Runs one agent iteration, feeding live usage to the machine and stopping the agent when the
    /// machine or the stop handle says so. Returns the outcome, when it began, and the prompt sent.
    #[allow(clippy::too_many_arguments)]
    async fn run_iteration(
        &mut self,
        machine: &mut Machine,
        stop: &StopHandle,
        (user_prompt, feedback): (&str, Option<&str>),
        run_id: &str,
        iteration: u64,
        timeout: Option<Duration>,
        timeout_kind: TimeoutKind,
        elapsed: &impl Fn() -> Duration,
    ) -> (AgentOutcome, Instant, u64, String) {
        let prompt = self.config.template.assemble(
            user_prompt,
            &self.config.completion_promise,
            iteration,
            feedback,
        );
        self.emit(LoopEvent::IterationStarted {
            iteration,
            max_iterations: self.config.limits.max_iterations,
            prompt_bytes: prompt.len(),
        });
        let began = Instant::now();
        let started_unix = unix_now();
        let request = AgentRequest {
            prompt: prompt.clone(),
            workspace: self.config.workspace.clone(),
            state_dir: self.config.state_dir.clone(),
            run_id: run_id.to_string(),
            iteration,
            deadline: timeout.and_then(|t| began.checked_add(t)),
            deadline_kind: timeout_kind,
            idle_timeout: self.config.idle_timeout,
        };
        let cancel = CancellationToken::new();
        let (tx, mut rx) = mpsc::unbounded_channel::<AgentEvent>();
        let agent = &*self.agent;
        let observers = &mut self.observers;
        let agent_name = agent.name().to_string();
        let run = agent.run(request, tx, cancel.clone());
        tokio::pin!(run);
        let mut stop_seen = false;
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                Some(event) = rx.recv() => {
                    handle_agent_event(machine, observers, &cancel, iteration, event, elapsed());
                }
                _ = stop.token.cancelled(), if !stop_seen => {
                    stop_seen = true;
                    let reason = stop.reason().unwrap_or(StopReason::Interrupted { signal: "stop".into() });
                    for a in machine.step(Input::Stop(reason)) {
                        if a == Action::CancelAgent { cancel.cancel(); }
                    }
                }
            }
        };
        while let Ok(event) = rx.try_recv() {
            handle_agent_event(machine, observers, &cancel, iteration, event, elapsed());
        }
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                let kind = match e {
                    Error::AgentUnavailable { .. } => crate::agent::FailureKind::Spawn,
                    _ => crate::agent::FailureKind::Protocol,
                };
                AgentOutcome {
                    message: Some(format!("{agent_name}: {e}")),
                    ..AgentOutcome::new(OutcomeStatus::Failed {
                        kind,
                        api_status: None,
                    })
                }
            }
        };
        (outcome, began, started_unix, prompt)
    }

    async fn checkpoint(
        &mut self,
        run_id: &str,
        iteration: u64,
        cost_usd: f64,
        is_final: bool,
    ) -> Option<String> {
        let request = CheckpointRequest {
            run_id: run_id.to_string(),
            iteration,
            agent: self.agent.name().to_string(),
            cost_usd,
            is_final,
        };
        match self.checkpointer.checkpoint(&request).await {
            Ok(id) => {
                let id = id.map(|i| i.0);
                self.emit(LoopEvent::Checkpoint {
                    iteration,
                    id: id.clone(),
                    is_final,
                });
                id
            }
            Err(e) => {
                self.emit(LoopEvent::CheckpointFailed {
                    iteration,
                    is_final,
                    message: e.to_string(),
                });
                None
            }
        }
    }

    /// Runs the verifier for `iteration`'s claim, stopping it when the stop handle fires. Returns what
    /// it found and its description.
    async fn verify(
        &mut self,
        iteration: u64,
        timeout: Option<Duration>,
        stop: &StopHandle,
    ) -> (Verification, String) {
        let Some(verifier) = self.verifier.as_deref() else {
            return (Verification::error("no verifier"), String::new());
        };
        let check = verifier.describe();
        let started = LoopEvent::VerificationStarted {
            iteration,
            check: check.clone(),
            timeout_secs: timeout.map(|t| t.as_secs_f64()),
        };
        for o in &mut self.observers {
            o.on_event(&started);
        }
        let request = VerifyRequest {
            workspace: self.config.workspace.clone(),
            iteration,
            timeout,
        };
        let cancel = CancellationToken::new();
        let began = Instant::now();
        let run = verifier.verify(request, cancel.clone());
        tokio::pin!(run);
        let mut verification = tokio::select! {
            v = &mut run => v,
            _ = stop.token.cancelled() => {
                cancel.cancel();
                let mut v = run.await;
                if v.result == VerifyResult::Passed {
                    // Passed as it was being stopped: it still counts.
                } else {
                    v.result = VerifyResult::Error;
                    v.summary = format!("interrupted ({})", v.summary);
                }
                v
            }
        };
        if verification.duration.is_zero() {
            verification.duration = began.elapsed();
        }
        (verification, check)
    }

    async fn sleep_unless_stopped(&self, delay: Duration, stop: &StopHandle) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.token.cancelled() => {}
        }
    }

    fn fail_early(&mut self, error: Error, started: Instant) -> RunSummary {
        let reason = StopReason::Error {
            message: error.to_string(),
        };
        self.emit(LoopEvent::RunFinished {
            reason: reason.clone(),
            iterations: 0,
            usage: Usage::default(),
            cost_usd: 0.0,
            cost_estimated: false,
            elapsed_secs: started.elapsed().as_secs_f64(),
        });
        RunSummary {
            run_id: String::new(),
            reason,
            iterations: 0,
            usage: Usage::default(),
            cost_usd: 0.0,
            cost_estimated: false,
            elapsed_secs: started.elapsed().as_secs_f64(),
            already_finished: false,
        }
    }
}

/// `next`, unless a stop arrived while the step that produced it was running and `next` does not finish
/// the run: then only its bookkeeping (records, checkpoints, and what `also_keep` accepts) is kept, and
/// the machine's answer to the stop follows.
fn after_racing_stop(
    machine: &mut Machine,
    stop: &StopHandle,
    mut next: Vec<Action>,
    also_keep: impl Fn(&Action) -> bool,
) -> Vec<Action> {
    if stop.is_stopped()
        && !machine.is_finished()
        && !next.iter().any(|a| matches!(a, Action::Finish(_)))
    {
        next.retain(|a| {
            matches!(a, Action::Record { .. } | Action::Checkpoint { .. }) || also_keep(a)
        });
        next.extend(machine.step(Input::Stop(stop.reason().unwrap_or(
            StopReason::Interrupted {
                signal: "stop".into(),
            },
        ))));
    }
    next
}

fn handle_agent_event(
    machine: &mut Machine,
    observers: &mut [Box<dyn Observer>],
    cancel: &CancellationToken,
    iteration: u64,
    event: AgentEvent,
    elapsed: Duration,
) {
    if let AgentEvent::Usage { usage, cost } = &event {
        for a in machine.step(Input::Progress {
            usage: *usage,
            cost: *cost,
            elapsed,
        }) {
            if a == Action::CancelAgent {
                cancel.cancel();
            }
        }
    }
    let event = LoopEvent::Agent {
        iteration,
        activity: event,
    };
    for o in observers.iter_mut() {
        o.on_event(&event);
    }
}

/// A duration read from saved state: negative, NaN or absurd values (a hand-edited file) count as zero
/// instead of panicking.
fn saved_duration(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LoopStats {
    /// Stats for a run restored from saved state.
    pub fn from_state(state: &RunState) -> Self {
        run_state::stats_of(state, saved_duration(state.runtime_secs))
    }
}

#[cfg(test)]
mod tests;
