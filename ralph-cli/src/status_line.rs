//! The live status line of `ralph run` on a terminal: one line at the bottom of the screen, redrawn in
//! place, showing the iteration, the elapsed time (ticking), the run's tokens and cost, the agent and what
//! the agent is doing now:
//!
//! ```text
//! ⠙ iteration 2/5 · 00:01:07 · tokens 12840 · $0.0412 · claude · ⚙ Bash npm test
//! ```
//!
//! Drawn with `indicatif` on stderr, only when stderr is a terminal that ralph has in the foreground,
//! `TERM` is not `dumb` and the log format is text ([`wanted`]). Everything else ralph prints while the line is shown goes above it:
//! [`crate::output::Terminal`] prints through the bar, and the `tracing` subscriber writes through
//! [`stderr_writer`], which takes the line away for the moment of the write. The line is removed before the
//! end-of-run summary, so nothing of it stays on the screen.
//!
//! While the line is shown the terminal does not echo typed keys: an echoed `^C` or Enter would land
//! beside the line and leave a copy of it behind. The keys still reach the shell afterwards, and the echo
//! setting is restored when the line goes (also on Ctrl-C, SIGTERM, SIGHUP and a second Ctrl-C; not on
//! SIGKILL, after which `stty echo` brings it back).

use crate::redact::Redactor;
use crate::settings::LogFormat;
use indicatif::{ProgressBar, ProgressStyle};
use ralph_core::{AgentEvent, LoopEvent};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// How often the line is redrawn even when nothing happens (the elapsed time and the spinner move).
const TICK: Duration = Duration::from_millis(200);
/// Characters of the agent's activity kept before the terminal width cuts the rest.
const ACTIVITY_MAX_CHARS: usize = 300;

/// The bar currently on screen, for writers that do not own it (the `tracing` subscriber, signal
/// messages), and the terminal's echo setting to restore. `None` while no status line is shown.
static SHOWN: Mutex<Option<(ProgressBar, EchoOff)>> = Mutex::new(None);

fn shown() -> Option<ProgressBar> {
    SHOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|(bar, _)| bar.clone())
}

/// Takes the line off the screen and gives the terminal its echo back.
fn take_down() {
    let taken = SHOWN.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((bar, echo)) = taken {
        bar.finish_and_clear();
        drop(echo);
    }
}

/// Terminal echo switched off on stderr's terminal for as long as this value lives (`ECHO` cleared in
/// the termios local flags); the previous setting comes back on drop. Does nothing when echo was off
/// already or the terminal settings cannot be read.
#[derive(Debug)]
struct EchoOff {
    saved: Option<nix::sys::termios::Termios>,
}

impl EchoOff {
    /// Switches echo off on stderr's terminal.
    fn new() -> Self {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        if !in_foreground() {
            return EchoOff { saved: None };
        }
        let stderr = std::io::stderr();
        let saved = tcgetattr(&stderr).ok().filter(|t| {
            t.local_flags.contains(LocalFlags::ECHO) && {
                let mut quiet = t.clone();
                quiet.local_flags.remove(LocalFlags::ECHO);
                tcsetattr(&stderr, SetArg::TCSANOW, &quiet).is_ok()
            }
        });
        EchoOff { saved }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // Moved to the background meanwhile (Ctrl-Z, `bg`): the shell keeps the terminal's settings.
        if let Some(saved) = self.saved.take().filter(|_| in_foreground()) {
            use nix::sys::termios::{SetArg, tcsetattr};
            let _ = tcsetattr(std::io::stderr(), SetArg::TCSANOW, &saved);
        }
    }
}

/// True when a status line should be drawn: text logs, stderr is a terminal that ralph has in the
/// foreground (not `ralph run &`, which would draw over the shell's prompt), and `TERM` is not `dumb`.
pub fn wanted(format: LogFormat) -> bool {
    wanted_for(
        format,
        std::io::stderr().is_terminal() && in_foreground(),
        std::env::var("TERM").ok().as_deref(),
    )
}

fn wanted_for(format: LogFormat, foreground_terminal: bool, term: Option<&str>) -> bool {
    format == LogFormat::Text && foreground_terminal && term != Some("dumb")
}

/// True when ralph's process group is the foreground group of stderr's terminal. Terminal settings are
/// changed only then: from the background it would stop ralph with `SIGTTOU` (or undo the shell's).
fn in_foreground() -> bool {
    nix::unistd::tcgetpgrp(std::io::stderr()).is_ok_and(|g| g == nix::unistd::getpgrp())
}

/// True when ralph may colour what it prints on stderr: stderr is a terminal, `TERM` is not `dumb`, and
/// `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn stderr_colors() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var("TERM").ok().as_deref() != Some("dumb")
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes `text` and a newline to stderr, above the status line when one is shown.
pub fn eprintln(text: &str) {
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
        let _ = err.flush();
    };
    match shown() {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// Removes the status line from the screen for good and restores the terminal's echo (before ralph
/// exits without a summary).
pub fn clear() {
    take_down();
}

/// The writer for the `tracing` subscriber: stderr, with the status line taken away while a log line is
/// written and drawn again below it.
pub fn stderr_writer() -> StderrAboveStatus {
    StderrAboveStatus
}

/// Stderr that writes above the status line; see [`stderr_writer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrAboveStatus;

impl Write for StderrAboveStatus {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let write = || {
            let mut err = std::io::stderr().lock();
            err.write_all(buf)?;
            err.flush()
        };
        match shown() {
            Some(bar) => bar.suspend(write)?,
            None => write()?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// What the status line says, updated from loop events. Kept apart from the drawing so it can be tested
/// without a terminal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// The current (or last) iteration, 0 before the first.
    pub iteration: u64,
    /// The iteration limit, if any.
    pub max_iterations: Option<u64>,
    /// The agent's name.
    pub agent: String,
    /// Billable tokens of the run up to the last finished iteration.
    pub tokens_before: u64,
    /// Billable tokens of the running iteration so far.
    pub tokens_now: u64,
    /// Cost of the run up to the last finished iteration, USD.
    pub cost_before: f64,
    /// Cost of the running iteration so far, USD (when the agent reports it live).
    pub cost_now: f64,
    /// True when any part of the cost is an estimate.
    pub cost_estimated: bool,
    /// What the agent (or the loop) is doing, one line, secrets masked.
    pub activity: String,
}

impl Status {
    /// Takes `event` into account; text from the agent is masked with `redactor` and cut to one line.
    pub fn apply(&mut self, event: &LoopEvent, redactor: &Redactor) {
        match event {
            LoopEvent::RunStarted {
                agent,
                iterations_done,
                ..
            } => {
                self.agent = one_line(&redactor.text(agent));
                self.iteration = *iterations_done;
                self.activity = "starting".into();
            }
            LoopEvent::IterationStarted {
                iteration,
                max_iterations,
                ..
            } => {
                self.iteration = *iteration;
                self.max_iterations = *max_iterations;
                self.tokens_now = 0;
                self.cost_now = 0.0;
                self.activity = "starting the agent".into();
            }
            LoopEvent::Agent { activity, .. } => match activity {
                AgentEvent::Usage { usage, cost } => {
                    self.tokens_now = usage.billable_total();
                    if let Some(c) = cost {
                        self.cost_now = c.usd;
                        self.cost_estimated |= c.estimated;
                    }
                }
                AgentEvent::Text { text } => {
                    let line = one_line(&redactor.text(text));
                    if !line.is_empty() {
                        self.activity = line;
                    }
                }
                AgentEvent::ToolUse { name, summary } => {
                    self.activity = one_line(&redactor.text(&format!("⚙ {name} {summary}")));
                }
                AgentEvent::Retry { attempt, message } => {
                    self.activity =
                        one_line(&redactor.text(&format!("↻ retry {attempt}: {message}")));
                }
                AgentEvent::Session { model: Some(m), .. } => {
                    self.activity = one_line(&redactor.text(&format!("session started ({m})")));
                }
                _ => {}
            },
            LoopEvent::IterationFinished {
                iteration,
                outcome,
                total_tokens,
                total_cost_usd,
                cost_estimated,
                completed,
                ..
            } => {
                self.tokens_before = *total_tokens;
                self.cost_before = *total_cost_usd;
                self.cost_estimated |= *cost_estimated;
                self.tokens_now = 0;
                self.cost_now = 0.0;
                let label = if *completed {
                    "completed"
                } else {
                    outcome.label()
                };
                self.activity = format!("iteration {iteration} {}", label.replace('_', " "));
            }
            LoopEvent::Backoff { delay_secs, .. } => {
                self.activity = format!("waiting {delay_secs:.1}s after a failed iteration");
            }
            LoopEvent::RateLimitWait { wait_secs, .. } => {
                self.activity = format!("rate limited: waiting {wait_secs:.0}s");
            }
            _ => {}
        }
    }

    /// The left part: `iteration 2/5`, or `starting` before the first iteration.
    pub fn prefix(&self) -> String {
        match (self.iteration, self.max_iterations) {
            (0, _) => "starting".into(),
            (n, Some(m)) => format!("iteration {n}/{m}"),
            (n, None) => format!("iteration {n}"),
        }
    }

    /// The right part, cut to the terminal width when drawn:
    /// `tokens 12840 · $0.0412 · claude · ⚙ Bash npm test`.
    pub fn message(&self) -> String {
        let est = if self.cost_estimated { " est." } else { "" };
        let mut m = format!(
            "tokens {} · ${:.4}{est} · {}",
            self.tokens_before + self.tokens_now,
            self.cost_before + self.cost_now,
            self.agent
        );
        if !self.activity.is_empty() {
            m.push_str(" · ");
            m.push_str(&self.activity);
        }
        m
    }
}

/// The first non-blank line of `text`, trimmed, control characters (escape sequences included) replaced
/// by spaces, at most [`ACTIVITY_MAX_CHARS`] characters.
fn one_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ACTIVITY_MAX_CHARS)
        .collect()
}

/// The status line on screen: a spinner bar drawn on stderr, ticking on its own thread.
pub struct StatusLine {
    bar: ProgressBar,
}

impl StatusLine {
    /// Draws a status line showing `status`; `elapsed` is the run's wall-clock time before this process
    /// (non-zero when a run is resumed), so the clock continues from there.
    pub fn show(status: &Status, elapsed: Duration) -> Self {
        // Before anything is drawn.
        let echo = EchoOff::new();
        let template = if std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) {
            "{spinner:.cyan} {prefix:.bold} · {elapsed_precise} · {wide_msg}"
        } else {
            "{spinner} {prefix} · {elapsed_precise} · {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::new_spinner()
            .with_elapsed(elapsed)
            .with_style(style)
            .with_prefix(status.prefix())
            .with_message(status.message());
        bar.enable_steady_tick(TICK);
        *SHOWN.lock().unwrap_or_else(|p| p.into_inner()) = Some((bar.clone(), echo));
        StatusLine { bar }
    }

    /// Redraws with `status`.
    pub fn update(&self, status: &Status) {
        self.bar.set_prefix(status.prefix());
        self.bar.set_message(status.message());
    }

    /// Prints `text` (one or more lines) above the status line.
    pub fn println(&self, text: &str) {
        self.bar.println(text);
    }

    /// Removes the line from the screen; later output is printed plainly.
    pub fn finish(self) {
        // Dropping does it.
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        take_down();
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_core::{Cost, OutcomeStatus, Usage};

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    fn agent(activity: AgentEvent) -> LoopEvent {
        LoopEvent::Agent {
            iteration: 1,
            activity,
        }
    }

    #[test]
    fn only_text_logs_on_a_real_terminal_get_a_status_line() {
        assert!(wanted_for(LogFormat::Text, true, Some("xterm-256color")));
        assert!(wanted_for(LogFormat::Text, true, None));
        assert!(!wanted_for(LogFormat::Text, false, Some("xterm")));
        assert!(!wanted_for(LogFormat::Json, true, Some("xterm")));
        assert!(!wanted_for(LogFormat::Text, true, Some("dumb")));
    }

    #[test]
    fn run_totals_add_the_running_iteration_to_the_finished_ones() {
        let r = Redactor::default();
        let mut s = Status::default();
        s.apply(
            &LoopEvent::RunStarted {
                run_id: "r".into(),
                agent: "claude".into(),
                resumed: false,
                iterations_done: 0,
            },
            &r,
        );
        assert_eq!(s.prefix(), "starting");
        s.apply(
            &LoopEvent::IterationStarted {
                iteration: 1,
                max_iterations: Some(5),
                prompt_bytes: 10,
            },
            &r,
        );
        s.apply(
            &agent(AgentEvent::Usage {
                usage: usage(100, 20),
                cost: None,
            }),
            &r,
        );
        assert_eq!(s.prefix(), "iteration 1/5");
        assert!(
            s.message().starts_with("tokens 120 · $0.0000 · claude"),
            "{}",
            s.message()
        );
        s.apply(
            &LoopEvent::IterationFinished {
                iteration: 1,
                outcome: OutcomeStatus::Success,
                message: None,
                duration_secs: 1.0,
                usage: usage(100, 50),
                cost_usd: 0.5,
                cost_estimated: true,
                total_tokens: 150,
                total_cost_usd: 0.5,
                completed: false,
            },
            &r,
        );
        s.apply(
            &LoopEvent::IterationStarted {
                iteration: 2,
                max_iterations: Some(5),
                prompt_bytes: 10,
            },
            &r,
        );
        s.apply(
            &agent(AgentEvent::Usage {
                usage: usage(10, 0),
                cost: Some(Cost {
                    usd: 0.25,
                    estimated: false,
                }),
            }),
            &r,
        );
        assert_eq!(s.prefix(), "iteration 2/5");
        assert!(
            s.message()
                .starts_with("tokens 160 · $0.7500 est. · claude"),
            "{}",
            s.message()
        );
    }

    #[test]
    fn activity_is_the_last_tool_call_or_the_first_line_of_the_last_text() {
        let r = Redactor::default();
        let mut s = Status {
            agent: "claude".into(),
            ..Status::default()
        };
        s.apply(
            &agent(AgentEvent::ToolUse {
                name: "Bash".into(),
                summary: "npm test".into(),
            }),
            &r,
        );
        assert!(
            s.message().ends_with("claude · ⚙ Bash npm test"),
            "{}",
            s.message()
        );
        s.apply(
            &agent(AgentEvent::Text {
                text: "\n\n  Now the \x1b[31mtests\x1b[0m\tpass.\nMore.".into(),
            }),
            &r,
        );
        assert_eq!(s.activity, "Now the  [31mtests [0m pass.");
        // Blank text keeps what was there.
        s.apply(&agent(AgentEvent::Text { text: " \n".into() }), &r);
        assert_eq!(s.activity, "Now the  [31mtests [0m pass.");
        // Stderr lines are not what the agent is doing.
        s.apply(
            &agent(AgentEvent::Stderr {
                line: "noise".into(),
            }),
            &r,
        );
        assert_eq!(s.activity, "Now the  [31mtests [0m pass.");
        s.apply(
            &agent(AgentEvent::Text {
                text: "x".repeat(1000),
            }),
            &r,
        );
        assert_eq!(s.activity.chars().count(), ACTIVITY_MAX_CHARS);
    }

    #[test]
    fn secrets_in_the_activity_are_masked() {
        let key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789";
        let r = Redactor::from_env(&|k| (k == "ANTHROPIC_API_KEY").then(|| key.to_string()));
        let mut s = Status::default();
        s.apply(
            &agent(AgentEvent::Text {
                text: format!("the key is {key}"),
            }),
            &r,
        );
        s.apply(
            &agent(AgentEvent::ToolUse {
                name: "Bash".into(),
                summary: format!("echo {key}"),
            }),
            &r,
        );
        assert!(!s.message().contains(key), "{}", s.message());
        assert!(s.message().contains("⚙ Bash echo ****"), "{}", s.message());
    }
}
