//! The async driver: performs the [`Machine`]'s actions one at a time and tells it what happened. It
//! holds no policy: what to do next, in which order, and when to stop is the machine's.
//!
//! Blocking state writes (snapshots, the synced iteration records, transcripts) run on tokio's blocking
//! pool, never on the async runtime's worker threads.

use super::backoff::Backoff;
use super::machine::{Action, Input, Machine, MachineConfig};
use super::{
    EVENT_OUTPUT_TAIL_CAP, Engine, RunSummary, StopHandle, run_state, saved_duration, unix_now,
};
use crate::agent::{AgentEvent, AgentOutcome, AgentRequest, OutcomeStatus, TimeoutKind};
use crate::checkpoint::CheckpointRequest;
use crate::completion::prompt_marks_complete;
use crate::error::Error;
use crate::events::{LoopEvent, Observer};
use crate::limits::{LoopStats, StopReason};
use crate::prompt::PromptSource;
use crate::state::{IterationRecord, RunState, RunStatus};
use crate::verify::{Verification, VerifyRequest, VerifyResult};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long after an agent run's deadline ([`AgentRequest::deadline`]) the engine cancels an agent that
/// has not returned, and again how long after that it stops waiting for it and records the iteration as
/// timed out, seconds. The agents of `ralph-agents` enforce their deadline themselves (SIGTERM, grace
/// period, SIGKILL); this is the backstop for an agent that does not, so that no agent runs forever.
/// An agent whose own stop takes longer (a SIGTERM grace period over 30 s) is cancelled by it.
pub const DEADLINE_BACKSTOP: Duration = Duration::from_secs(30);

/// What the driver keeps through one run besides the machine: the run state it saves, the prompt, and
/// what one action hands to the next. It decides nothing.
struct RunCtx {
    stop: StopHandle,
    /// When this invocation started.
    started: Instant,
    /// Wall-clock time of earlier invocations of a resumed run.
    base_runtime: Duration,
    /// The run state; `None` until the run started.
    run: Option<RunState>,
    /// The user's prompt, as last read.
    prompt: String,
    /// Feedback for the next iteration's prompt (a rejected claim's verification output).
    feedback: Option<String>,
    /// The last agent run, until it is recorded.
    last: Option<LastRun>,
    /// The checkpoint taken for the iteration being recorded.
    checkpoint: Option<String>,
    /// The run state changed with a recorded iteration and is not saved yet: the next iteration's start
    /// saves it anyway, so it is saved on its own only before anything else (a wait, a verification, the
    /// end). The record is already in the journal, from which a resume recovers it.
    snapshot_due: bool,
}

impl RunCtx {
    fn new(stop: StopHandle) -> Self {
        RunCtx {
            stop,
            started: Instant::now(),
            base_runtime: Duration::ZERO,
            run: None,
            prompt: String::new(),
            feedback: None,
            last: None,
            checkpoint: None,
            snapshot_due: false,
        }
    }

    /// Wall-clock time used by the run so far (across restarts).
    fn elapsed(&self) -> Duration {
        self.base_runtime + self.started.elapsed()
    }

    /// The run's id; empty before it started.
    fn run_id(&self) -> String {
        self.run
            .as_ref()
            .map(|r| r.run_id.clone())
            .unwrap_or_default()
    }
}

/// An agent run waiting to be reported and recorded.
struct LastRun {
    outcome: AgentOutcome,
    began: Instant,
    /// When it began, Unix seconds.
    started_unix: u64,
    /// Its duration as reported (up to the end of its verification), seconds.
    duration_secs: f64,
    /// SHA-256 (hex) of the user prompt it ran on.
    prompt_sha256: String,
}

/// What performing one action gave.
enum Performed {
    /// Nothing to tell the machine.
    Nothing,
    /// Tell the machine this.
    Input(Input),
    /// The run is over.
    Done(RunSummary),
}

/// Runs blocking work (state files written and fsynced) on tokio's blocking pool, off the async
/// runtime's worker threads. A panic in `work` is resumed here.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled only when the runtime shuts down, which drops this task too.
            Err(e) => panic!("blocking state work did not finish: {e}"),
        },
    }
}

impl Engine {
    /// Runs the loop until completion, a limit, or a stop through `stop`, and sums it up.
    ///
    /// The future is `Send`: run it on the current task, or in the background with
    /// `tokio::spawn(engine.run(stop))`; several engines (on different workspaces) can run at once. It
    /// needs a tokio runtime with the time driver (`#[tokio::main]` and `#[tokio::test]` have one);
    /// state is written on tokio's blocking pool.
    ///
    /// With a persistent state store, an unfinished run in it is resumed, and a run that already
    /// finished with the same prompt is not run again: the summary repeats its reason with
    /// [`RunSummary::already_finished`] set (set [`crate::EngineConfig::fresh`] to start over).
    ///
    /// Every failure is in the summary's [`StopReason`]: when the state store's lock is held by
    /// another run, nothing runs and the reason is [`StopReason::Error`] naming the holder (use
    /// [`Engine::try_run`] to get it as [`Error::Locked`]).
    pub async fn run(self, stop: StopHandle) -> RunSummary {
        self.try_run(stop).await.unwrap_or_else(|e| RunSummary {
            run_id: String::new(),
            reason: StopReason::Error {
                message: e.to_string(),
            },
            iterations: 0,
            usage: Default::default(),
            cost_usd: 0.0,
            cost_estimated: false,
            elapsed_secs: 0.0,
            already_finished: false,
        })
    }

    /// As [`Engine::run`], but a run that cannot start because its state is locked is an error, and
    /// observers hear nothing of it.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder's pid when another run (in this process or another) holds
    /// the lock of the state store ([`StateStore::lock`](crate::StateStore::lock)); [`Error::State`]
    /// when the lock cannot be taken at all. Nothing was read or written then.
    pub async fn try_run(mut self, stop: StopHandle) -> Result<RunSummary, Error> {
        // The one state directory of the run, absolute: the agent and the checkpointer see this one.
        if let Ok(dir) = std::path::absolute(&self.config.state_dir) {
            self.config.state_dir = dir;
        }
        if self.lock.is_none() {
            let (store, workspace) = (Arc::clone(&self.state), self.config.workspace.clone());
            self.lock = blocking(move || store.lock(&workspace)).await?;
            if let Some(pid) = self.lock.as_ref().and_then(|l| l.stale_pid) {
                self.emit(LoopEvent::Warning {
                    message: format!(
                        "took over the run lock left by process {pid}, which is no longer running"
                    ),
                });
            }
        }
        Ok(self.drive(stop).await)
    }

    /// The loop itself.
    ///
    /// The machine decides everything; this loop performs its actions in order and tells it what
    /// happened, and tells it of a stop that arrived while an action ran (maybe racing its end).
    async fn drive(mut self, stop: StopHandle) -> RunSummary {
        let mut ctx = RunCtx::new(stop);
        let mut machine = self.machine();
        let first = match self.start(&mut ctx).await {
            Ok(input) => input,
            Err(already_finished) => return already_finished,
        };
        let mut actions = VecDeque::from(machine.step(first));
        loop {
            let Some(action) = actions.pop_front() else {
                actions.extend(machine.step(self.next_input(&mut ctx)));
                continue;
            };
            match self.perform(&mut ctx, &mut machine, action).await {
                Performed::Done(summary) => return summary,
                Performed::Nothing => {}
                Performed::Input(input) => {
                    actions.extend(machine.step(input));
                    if let Some(reason) = ctx.stop.requested() {
                        actions.extend(machine.step(Input::Stop(reason)));
                    }
                }
            }
        }
    }

    /// The state machine for this engine's configuration and policies (the built-in limits first).
    fn machine(&mut self) -> Machine {
        let mut policies = self.config.limits.policies();
        policies.append(&mut self.policies);
        let config = MachineConfig {
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
        Machine::new(config, policies, LoopStats::default())
    }

    /// Reads the prompt, starts or resumes the run (recovering an iteration cut short), reports it, and
    /// checks the agent: the machine's first input. `Err` holds the summary of a run with this prompt
    /// that already finished (nothing runs).
    async fn start(&mut self, ctx: &mut RunCtx) -> Result<Input, RunSummary> {
        let failed = |e: Error| Input::StartFailed {
            error: e.to_string(),
        };
        let prompt = match self.config.prompt.load() {
            Ok(text) => text,
            Err(e) => return Ok(failed(e)),
        };
        let (store, config, agent) = (
            Arc::clone(&self.state),
            self.config.clone(),
            self.agent.name().to_string(),
        );
        let prompt_text = prompt.clone();
        let begun = blocking(move || {
            Ok::<_, Error>(
                match run_state::begin(&*store, &config, &agent, &prompt_text)? {
                    run_state::Begin::AlreadyFinished(summary) => Err(summary),
                    run_state::Begin::Run(mut run) => {
                        let warning = run_state::recover(&*store, &mut run, &agent)?;
                        Ok((run, warning))
                    }
                },
            )
        })
        .await;
        let (mut run, warning) = match begun {
            Ok(Ok(run)) => run,
            Ok(Err(summary)) => {
                self.emit(LoopEvent::AlreadyFinished {
                    run_id: summary.run_id.clone(),
                    reason: summary.reason.clone(),
                });
                return Err(summary);
            }
            Err(e) => return Ok(failed(e)),
        };
        if let Some(message) = warning {
            self.emit(LoopEvent::Warning { message });
        }
        run.stop_reason = None;
        // A resumed run may have been restarted with other limits: record the ones in force now.
        run.limits = Some((&self.config.limits).into());
        ctx.base_runtime = saved_duration(run.runtime_secs);
        self.emit(LoopEvent::RunStarted {
            run_id: run.run_id.clone(),
            agent: self.agent.name().to_string(),
            resumed: run.iteration > 0,
            iterations_done: run.iteration,
        });
        let stats = LoopStats {
            workspace: self.config.workspace.clone(),
            ..run_state::stats_of(&run, ctx.base_runtime)
        };
        ctx.run = Some(run);
        ctx.prompt = prompt;
        let agent_unavailable = self.agent.preflight().await.err().map(|e| e.to_string());
        Ok(Input::Started {
            stats,
            agent_unavailable,
        })
    }

    /// What the machine hears when it has nothing left to do: the stop, if one was requested; else that
    /// the next iteration is ready (the prompt re-read: users may edit it while the loop runs), or that
    /// the prompt could not be read.
    fn next_input(&mut self, ctx: &mut RunCtx) -> Input {
        if let Some(reason) = ctx.stop.requested() {
            return Input::Stop(reason);
        }
        match self.config.prompt.load() {
            Ok(text) => {
                let marked = matches!(self.config.prompt, PromptSource::File(_))
                    && prompt_marks_complete(&text);
                ctx.prompt = text;
                Input::Ready {
                    prompt_marked_complete: marked,
                    elapsed: ctx.elapsed(),
                }
            }
            Err(e) => Input::Failed {
                error: e.to_string(),
            },
        }
    }

    /// Performs one action of the machine.
    async fn perform(
        &mut self,
        ctx: &mut RunCtx,
        machine: &mut Machine,
        action: Action,
    ) -> Performed {
        // A recorded iteration's state is saved with the next iteration's start, or here before any
        // other step that may take a while (a back-off, a usage-limit wait, a verification).
        let saved_by_action = matches!(
            action,
            Action::RunIteration { .. }
                | Action::Report { .. }
                | Action::CancelAgent
                | Action::RejectCompletion { .. }
                | Action::Finish(_)
        );
        if ctx.snapshot_due
            && !saved_by_action
            && let Some(run) = ctx.run.as_ref()
        {
            ctx.snapshot_due = false;
            if let Err(e) = self.snapshot(run).await {
                self.emit(LoopEvent::Warning {
                    message: format!("state not saved (the iteration record holds it): {e}"),
                });
            }
        }
        match action {
            Action::RunIteration {
                iteration,
                timeout,
                timeout_kind,
            } => Performed::Input(
                self.iterate(ctx, machine, iteration, (timeout, timeout_kind))
                    .await,
            ),
            // Only meaningful while the agent runs, where `run_iteration` performs it.
            Action::CancelAgent => Performed::Nothing,
            Action::Verify { iteration, timeout } => {
                Performed::Input(self.check_claim(ctx, iteration, timeout).await)
            }
            Action::RejectCompletion { reason } => {
                let iteration = machine.stats().iterations;
                self.emit(LoopEvent::CompletionRejected { iteration, reason });
                Performed::Nothing
            }
            Action::Report {
                iteration,
                completed,
            } => {
                self.report(ctx, machine.stats(), iteration, completed);
                Performed::Nothing
            }
            Action::Checkpoint { iteration } => {
                let cost = machine.stats().cost_usd;
                ctx.checkpoint = self.checkpoint(ctx, iteration, cost, false).await;
                Performed::Nothing
            }
            Action::Record {
                iteration,
                completed,
            } => Performed::Input(
                self.record(ctx, machine.stats(), iteration, completed)
                    .await,
            ),
            Action::Backoff {
                delay,
                consecutive_failures,
            } => {
                self.emit(LoopEvent::Backoff {
                    delay_secs: delay.as_secs_f64(),
                    consecutive_failures,
                });
                sleep_unless_stopped(delay, &ctx.stop).await;
                Performed::Nothing
            }
            Action::WaitRateLimit {
                wait,
                reset_at_unix,
            } => {
                self.emit(LoopEvent::RateLimitWait {
                    wait_secs: wait.as_secs_f64(),
                    reset_at_unix,
                });
                sleep_unless_stopped(wait, &ctx.stop).await;
                Performed::Nothing
            }
            Action::Finish(reason) => {
                Performed::Done(self.finish(ctx, machine.stats(), reason).await)
            }
            Action::Abort(reason) => {
                let stats = LoopStats {
                    elapsed: ctx.elapsed(),
                    ..machine.stats().clone()
                };
                Performed::Done(self.end(ctx, stats, reason))
            }
        }
    }

    /// Marks iteration `iteration` started on disk, runs the agent, keeps its transcript: the machine
    /// hears how it ended, or that the state could not be saved (then the agent does not run).
    async fn iterate(
        &mut self,
        ctx: &mut RunCtx,
        machine: &mut Machine,
        iteration: u64,
        (timeout, timeout_kind): (Option<Duration>, TimeoutKind),
    ) -> Input {
        // Mark the iteration as started on disk first, so a crash during it is counted.
        if let Some(run) = ctx.run.as_mut() {
            run_state::update(run, machine.stats(), None);
            run.in_progress = Some(iteration);
            run.attempts += 1;
            ctx.snapshot_due = false;
            if let Err(e) = self.snapshot(run).await {
                return Input::Failed {
                    error: e.to_string(),
                };
            }
        }
        // Taken after the previous iteration's checkpoint, which may have moved HEAD.
        let fingerprint_before = match &self.fingerprint {
            Some(f) => f.fingerprint(&self.config.workspace).await,
            None => None,
        };
        let feedback = ctx.feedback.take();
        let (mut outcome, began, started_unix, prompt) = self
            .run_iteration(
                machine,
                ctx,
                feedback.as_deref(),
                iteration,
                timeout,
                timeout_kind,
            )
            .await;
        if matches!(outcome.status, OutcomeStatus::RateLimited { .. }) {
            // The iteration is tried again: it still owes the agent that feedback.
            ctx.feedback = feedback;
        }
        let transcript = std::mem::take(&mut outcome.transcript);
        let prompt_sha256 = run_state::sha256_hex(&ctx.prompt);
        let (store, run_id) = (Arc::clone(&self.state), ctx.run_id());
        let (user_prompt, sha) = (ctx.prompt.clone(), prompt_sha256.clone());
        blocking(move || {
            store.keep_prompt(&run_id, &sha, &user_prompt);
            store.keep_transcript(&run_id, iteration, &prompt, &transcript);
        })
        .await;
        let workspace_changed = match (&fingerprint_before, &self.fingerprint) {
            (Some(before), Some(f)) => f
                .fingerprint(&self.config.workspace)
                .await
                .map(|after| &after != before),
            _ => None,
        };
        ctx.last = Some(LastRun {
            outcome: outcome.clone(),
            began,
            started_unix,
            duration_secs: began.elapsed().as_secs_f64(),
            prompt_sha256,
        });
        Input::Finished {
            outcome,
            elapsed: ctx.elapsed(),
            now_unix: unix_now(),
            workspace_changed,
        }
    }

    /// Checks `iteration`'s completion claim with the verifier and reports the verdict; a failed one is
    /// fed back in the next prompt.
    async fn check_claim(
        &mut self,
        ctx: &mut RunCtx,
        iteration: u64,
        timeout: Option<Duration>,
    ) -> Input {
        let (verification, check) = self.verify(iteration, timeout, &ctx.stop).await;
        let passed = verification.result == VerifyResult::Passed;
        let reason = format!(
            "verification `{check}` {}: {}",
            verification.result.label(),
            verification.summary
        );
        if !passed {
            ctx.feedback = Some(crate::verify::feedback(iteration, &check, &verification));
        }
        self.emit(LoopEvent::Verification {
            iteration,
            result: verification.result,
            exit_code: verification.exit_code,
            summary: verification.summary.clone(),
            duration_secs: verification.duration.as_secs_f64(),
            output_tail: crate::verify::tail(&verification.output_tail, EVENT_OUTPUT_TAIL_CAP)
                .to_string(),
        });
        Input::Verified {
            passed,
            reason,
            elapsed: ctx.elapsed(),
        }
    }

    /// Tells observers how the last agent run ended (its duration counts up to here, verification
    /// included).
    fn report(&mut self, ctx: &mut RunCtx, stats: &LoopStats, iteration: u64, completed: bool) {
        let Some(last) = ctx.last.as_mut() else {
            return;
        };
        last.duration_secs = last.began.elapsed().as_secs_f64();
        let cost = last.outcome.cost.unwrap_or_default();
        let event = LoopEvent::IterationFinished {
            iteration,
            outcome: last.outcome.status.clone(),
            message: last.outcome.message.clone(),
            duration_secs: last.duration_secs,
            usage: last.outcome.usage,
            cost_usd: cost.usd,
            cost_estimated: cost.estimated,
            total_tokens: stats.usage.billable_total(),
            total_cost_usd: stats.cost_usd,
            completed,
        };
        self.emit(event);
    }

    /// Appends the iteration record (naming the checkpoint just taken) and updates the run state, saved
    /// with the next step ([`RunCtx::snapshot_due`]); when the record cannot be written (a warning), the
    /// state is saved at once instead, and a failure of that save is the machine's input.
    async fn record(
        &mut self,
        ctx: &mut RunCtx,
        stats: &LoopStats,
        iteration: u64,
        completed: bool,
    ) -> Input {
        let checkpoint = ctx.checkpoint.take();
        let (Some(last), Some(run)) = (ctx.last.take(), ctx.run.as_mut()) else {
            return Input::Recorded;
        };
        let cost = last.outcome.cost.unwrap_or_default();
        let record = IterationRecord {
            iteration,
            agent: self.agent.name().to_string(),
            started_at_unix: last.started_unix,
            duration_secs: last.duration_secs,
            outcome: last.outcome.status.clone(),
            message: last.outcome.message.clone(),
            usage: last.outcome.usage,
            cost_usd: cost.usd,
            cost_estimated: cost.estimated,
            exit_code: last.outcome.exit_code,
            completed,
            checkpoint,
            attempt: run.attempts,
            prompt_sha256: last.prompt_sha256,
        };
        let (store, run_id) = (Arc::clone(&self.state), run.run_id.clone());
        let recorded = blocking(move || store.record_iteration(&run_id, &record)).await;
        run_state::update(run, stats, Some(last.outcome.status.label()));
        run.in_progress = None;
        if let Err(e) = recorded {
            // Without the record, the state must hold the iteration at once, durably.
            self.emit(LoopEvent::Warning {
                message: e.to_string(),
            });
            return match self.save(run).await {
                Ok(()) => Input::Recorded,
                Err(e) => Input::Failed {
                    error: e.to_string(),
                },
            };
        }
        ctx.snapshot_due = true;
        Input::Recorded
    }

    /// Takes the final checkpoint, saves the run as finished (or resumable) and reports the end.
    async fn finish(
        &mut self,
        ctx: &mut RunCtx,
        stats: &LoopStats,
        reason: StopReason,
    ) -> RunSummary {
        let mut stats = stats.clone();
        self.checkpoint(ctx, stats.iterations, stats.cost_usd, true)
            .await;
        stats.elapsed = ctx.elapsed();
        if let Some(run) = ctx.run.as_mut() {
            run_state::update(run, &stats, None);
            run.status = if reason.is_resumable() {
                RunStatus::Running
            } else {
                RunStatus::Finished
            };
            run.stop_reason = Some(reason.clone());
            if let Err(e) = self.save(run).await {
                self.emit(LoopEvent::Warning {
                    message: format!("final state not saved: {e}"),
                });
            }
        }
        self.end(ctx, stats, reason)
    }

    /// Reports the end of the run for `reason` and sums it up.
    fn end(&mut self, ctx: &RunCtx, stats: LoopStats, reason: StopReason) -> RunSummary {
        let summary = RunSummary {
            run_id: ctx.run_id(),
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
        summary
    }

    /// Saves `run` off the async runtime's worker threads (the store writes and fsyncs). Not an `async
    /// fn` of `&self`: a future holding `&Engine` would need every part of the engine to be `Sync`;
    /// holding none keeps `Engine::run` `Send` whatever the engine holds.
    fn save(&self, run: &RunState) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let (store, run) = (Arc::clone(&self.state), run.clone());
        blocking(move || store.save(&run))
    }

    /// Like [`Self::save`] for the saves at an iteration boundary, whose progress the iteration records
    /// also hold: [`StateStore::save_snapshot`](crate::StateStore::save_snapshot) (atomic, not synced; the record is the one synced write).
    fn snapshot(&self, run: &RunState) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let (store, run) = (Arc::clone(&self.state), run.clone());
        blocking(move || store.save_snapshot(&run))
    }

    /// Runs one agent iteration, feeding live usage to the machine and stopping the agent when the
    /// machine or the stop handle says so. Returns the outcome, when it began, and the prompt sent.
    async fn run_iteration(
        &mut self,
        machine: &mut Machine,
        ctx: &RunCtx,
        feedback: Option<&str>,
        iteration: u64,
        timeout: Option<Duration>,
        timeout_kind: TimeoutKind,
    ) -> (AgentOutcome, Instant, u64, String) {
        let prompt = self.config.template.assemble(
            &ctx.prompt,
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
            run_id: ctx.run_id(),
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
        // The backstop for an agent that ignores its deadline: cancel it, then give up on it.
        let mut backstop = request
            .deadline
            .map(|d| tokio::time::Instant::from_std(d + DEADLINE_BACKSTOP));
        let mut overran = false;
        let run = agent.run(request, tx, cancel.clone());
        tokio::pin!(run);
        let mut stop_seen = false;
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                _ = sleep_until_some(backstop) => {
                    if overran {
                        break Ok(AgentOutcome {
                            message: Some(format!(
                                "{agent_name} did not return within {} s of its deadline, nor when \
                                 cancelled; the engine stopped waiting for it",
                                2 * DEADLINE_BACKSTOP.as_secs()
                            )),
                            ..AgentOutcome::new(OutcomeStatus::TimedOut { kind: timeout_kind })
                        });
                    }
                    overran = true;
                    cancel.cancel();
                    backstop = Some(tokio::time::Instant::now() + DEADLINE_BACKSTOP);
                }
                Some(event) = rx.recv() => {
                    handle_agent_event(machine, observers, &cancel, iteration, event, ctx.elapsed());
                }
                _ = ctx.stop.token.cancelled(), if !stop_seen => {
                    stop_seen = true;
                    if let Some(reason) = ctx.stop.requested() {
                        for a in machine.step(Input::Stop(reason)) {
                            if a == Action::CancelAgent { cancel.cancel(); }
                        }
                    }
                }
            }
        };
        while let Ok(event) = rx.try_recv() {
            handle_agent_event(machine, observers, &cancel, iteration, event, ctx.elapsed());
        }
        let outcome = match result {
            // Cancelled by the backstop: the agent ran past its deadline.
            Ok(o) if overran && o.status == OutcomeStatus::Cancelled => AgentOutcome {
                status: OutcomeStatus::TimedOut { kind: timeout_kind },
                ..o
            },
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
        ctx: &RunCtx,
        iteration: u64,
        cost_usd: f64,
        is_final: bool,
    ) -> Option<String> {
        let request = CheckpointRequest {
            run_id: ctx.run_id(),
            iteration,
            agent: self.agent.name().to_string(),
            cost_usd,
            is_final,
            state_dir: Some(self.config.state_dir.clone()),
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
}

/// Sleeps for `delay`, or until `stop` fires.
async fn sleep_unless_stopped(delay: Duration, stop: &StopHandle) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stop.token.cancelled() => {}
    }
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

/// Waits until `at`, or forever when `at` is `None`.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
