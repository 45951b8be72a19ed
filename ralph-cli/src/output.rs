//! What a person (or a log shipper) sees of a run on stderr: a line per iteration, the agent's activity
//! with `--verbose`, and an end-of-run summary; on a terminal also a live status line
//! ([`crate::status_line`]) below them while the run goes on. With `--log-format json`, every loop event is
//! one JSON object per line instead.

use crate::redact::Redactor;
use crate::settings::LogFormat;
use crate::status_line::{Status, StatusLine};
use ralph_core::state::{FileStateStore, StateStore};
use ralph_core::{AgentEvent, LoopEvent, ObserverMut, OutcomeStatus, StopReason, Usage};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Prints loop events to stderr.
pub struct Terminal {
    format: LogFormat,
    verbose: bool,
    max_iterations: Option<u64>,
    redactor: Arc<Redactor>,
    /// Draw a live status line (see [`crate::status_line::wanted`]).
    status_line: bool,
    /// Where the run's saved state is, to continue its totals and clock when it is resumed.
    state_dir: Option<PathBuf>,
    status: Status,
    shown: Option<StatusLine>,
}

impl Terminal {
    /// A printer in `format`; `verbose` streams the agent's text and tool calls. A live status line is
    /// drawn when [`crate::status_line::wanted`] says so (text format on a terminal).
    pub fn new(format: LogFormat, verbose: bool, max_iterations: Option<u64>) -> Self {
        Terminal {
            redactor: Arc::default(),
            format,
            verbose,
            max_iterations,
            status_line: crate::status_line::wanted(format),
            state_dir: None,
            status: Status::default(),
            shown: None,
        }
    }

    /// Masks secrets in everything printed (the agent's text may echo a key).
    pub fn with_redactor(mut self, redactor: Arc<Redactor>) -> Self {
        self.redactor = redactor;
        self
    }

    /// Reads the run's saved totals (tokens, cost, runtime) from the state directory `dir` when a run is
    /// resumed, so the status line shows run totals from the start.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    fn line(&self, text: &str) {
        let text = self.redactor.text(text);
        match &self.shown {
            Some(status) => status.println(&text),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// Keeps the status line in step with `event`: shown from the start of the run to its end.
    fn track(&mut self, event: &LoopEvent) {
        if !self.status_line {
            return;
        }
        self.status.apply(event, &self.redactor);
        match event {
            LoopEvent::RunStarted {
                run_id, resumed, ..
            } => {
                let mut elapsed = Duration::ZERO;
                if *resumed
                    && let Some(saved) = self
                        .state_dir
                        .as_ref()
                        .and_then(|d| FileStateStore::existing(d).load().ok().flatten())
                        .filter(|s| &s.run_id == run_id)
                {
                    self.status.tokens_before = saved.tokens_total;
                    self.status.cost_before = saved.cost_usd;
                    self.status.cost_estimated = saved.cost_estimated;
                    elapsed = Duration::try_from_secs_f64(saved.runtime_secs).unwrap_or_default();
                }
                self.status.max_iterations = self.max_iterations;
                self.shown = Some(StatusLine::show(&self.status, elapsed));
            }
            LoopEvent::RunFinished { .. } => {
                if let Some(s) = self.shown.take() {
                    s.finish();
                }
            }
            _ => {
                if let Some(s) = &self.shown {
                    s.update(&self.status);
                }
            }
        }
    }

    fn of(&self, iteration: u64) -> String {
        match self.max_iterations {
            Some(m) => format!("{iteration}/{m}"),
            None => iteration.to_string(),
        }
    }

    fn text(&mut self, event: &LoopEvent) {
        // The status line goes before the summary is printed and comes after "run started".
        if matches!(event, LoopEvent::RunFinished { .. }) {
            self.track(event);
        }
        self.print_text(event);
        if !matches!(event, LoopEvent::RunFinished { .. }) {
            self.track(event);
        }
    }

    fn print_text(&self, event: &LoopEvent) {
        match event {
            LoopEvent::RunStarted { run_id, agent, resumed, iterations_done } => {
                if *resumed {
                    self.line(&format!("ralph: resuming run {run_id} after iteration {iterations_done} · agent {agent}"));
                } else {
                    self.line(&format!("ralph: run {run_id} started · agent {agent}"));
                }
            }
            LoopEvent::AlreadyFinished { run_id, reason } => {
                self.line(&format!(
                    "ralph: run {run_id} with this prompt already finished: {reason}. Nothing to do; pass --fresh to start a new run."
                ));
            }
            LoopEvent::IterationStarted { iteration, .. } if self.verbose => {
                self.line(&format!("── iteration {} ──", self.of(*iteration)));
            }
            LoopEvent::Agent { activity, .. } if self.verbose => match activity {
                AgentEvent::Text { text } => self.line(text.trim_end()),
                AgentEvent::ToolUse { name, summary } => self.line(&format!("  ⚙ {name} {summary}")),
                AgentEvent::Retry { attempt, message } => self.line(&format!("  ↻ retry {attempt}: {message}")),
                AgentEvent::Stderr { line } => self.line(&format!("  stderr: {line}")),
                _ => {}
            },
            LoopEvent::IterationFinished {
                iteration,
                outcome,
                message,
                duration_secs,
                usage,
                cost_usd,
                cost_estimated,
                total_tokens,
                total_cost_usd,
                completed,
            } => {
                let est = if *cost_estimated { " (est.)" } else { "" };
                let label = if *completed { "completed".to_string() } else { outcome_label(outcome) };
                let mut text = format!(
                    "iteration {} {label} · {duration_secs:.1}s · tokens {} (run {total_tokens}) · cost ${cost_usd:.4}{est} (run ${total_cost_usd:.4})",
                    self.of(*iteration),
                    usage.billable_total(),
                );
                if let Some(m) = message.as_deref().filter(|_| !outcome.is_success()) {
                    text.push_str(&format!("\n  ↳ {m}"));
                }
                self.line(&text);
            }
            LoopEvent::VerificationStarted { check, .. } => {
                self.line(&format!("  checking the completion claim: {check}"))
            }
            LoopEvent::Verification { iteration, result, summary, duration_secs, .. } => self.line(&format!(
                "  verification of iteration {iteration}'s claim: {} ({summary}, {duration_secs:.1}s)",
                result.label()
            )),
            LoopEvent::CompletionRejected { reason, .. } => self.line(&format!("  completion not accepted: {reason}")),
            LoopEvent::Backoff { delay_secs, consecutive_failures } => self.line(&format!(
                "  waiting {delay_secs:.1}s before the next iteration ({consecutive_failures} failed in a row)"
            )),
            LoopEvent::RateLimitWait { wait_secs, .. } => {
                self.line(&format!("  rate limited: waiting {wait_secs:.0}s for the limit to reset"))
            }
            LoopEvent::Checkpoint { iteration, id: Some(id), is_final } => {
                let when = if *is_final { "final checkpoint" } else { "checkpoint" };
                self.line(&format!("  {when} {} after iteration {iteration}", &id[..id.len().min(12)]));
            }
            LoopEvent::Warning { message } | LoopEvent::CheckpointFailed { message, .. } => {
                self.line(&format!("ralph: warning: {message}"))
            }
            LoopEvent::RunFinished { reason, iterations, usage, cost_usd, cost_estimated, elapsed_secs } => {
                self.line(&summary(reason, *iterations, usage, *cost_usd, *cost_estimated, *elapsed_secs));
            }
            _ => {}
        }
    }
}

fn outcome_label(outcome: &OutcomeStatus) -> String {
    match outcome {
        OutcomeStatus::Failed {
            api_status: Some(s),
            ..
        } => format!("failed (HTTP {s})"),
        OutcomeStatus::TimedOut { kind } => format!("timed out ({kind:?})").to_lowercase(),
        other => other.label().replace('_', " "),
    }
}

/// The end-of-run summary: stop reason, iterations, elapsed time, tokens by kind, cost.
pub fn summary(
    reason: &StopReason,
    iterations: u64,
    usage: &Usage,
    cost: f64,
    estimated: bool,
    elapsed: f64,
) -> String {
    let est = if estimated { " (estimated)" } else { "" };
    format!(
        "ralph: {reason}\n  iterations {iterations} · elapsed {elapsed:.1}s · tokens {} (input {}, cache write {}, output {}; cache read {}) · cost ${cost:.4}{est}",
        usage.billable_total(),
        usage.input_tokens,
        usage.cache_creation_input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
    )
}

impl ObserverMut for Terminal {
    fn on_event(&mut self, event: &LoopEvent) {
        match self.format {
            LogFormat::Text => self.text(event),
            LogFormat::Json => {
                if !self.verbose
                    && matches!(
                        event,
                        LoopEvent::Agent {
                            activity: AgentEvent::Text { .. } | AgentEvent::Stderr { .. },
                            ..
                        }
                    )
                {
                    return;
                }
                let mut value = serde_json::to_value(event).unwrap_or_default();
                if let Some(obj) = value.as_object_mut() {
                    obj.insert(
                        "ts".into(),
                        serde_json::Value::from(
                            humantime::format_rfc3339_millis(std::time::SystemTime::now())
                                .to_string(),
                        ),
                    );
                }
                self.line(&value.to_string());
            }
        }
    }
}
