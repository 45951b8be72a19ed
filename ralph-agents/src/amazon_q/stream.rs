//! The plain-text output of `q chat --no-interactive` and `kiro-cli chat --no-interactive`, mapped to
//! [`AgentEvent`]s and an [`AgentOutcome`].
//!
//! Format source (documentation and published source of the Amazon Q Developer CLI, reports of Kiro CLI
//! users; **not recorded from the real CLIs**, see the module docs of [`super`]): the answer goes to
//! stdout, as Markdown, the first line sometimes behind a `> ` prompt marker; everything else goes to
//! stderr: the banner, tool calls (`🛠️  Using tool: fs_write (trusted)`, Kiro `(using tool: write)`),
//! what tools print, and errors:
//!
//! | stderr | outcome |
//! |---|---|
//! | `Monthly request limit reached`, then ` - The limits reset on 12/01.` (Kiro also `MONTHLY_REQUEST_COUNT`, `UsageLimitReachedError`) | rate limited, reset = that day 00:00 UTC |
//! | `error: You are not logged in, please log in with q login` | [`FailureKind::Auth`] |
//! | `Amazon Q is having trouble responding right now: <report>` (Kiro: `Kiro is having …`) | from the report: throttling or 429 → rate limited; expired token, 401/403, access denied → auth; else [`FailureKind::Api`] |
//!
//! These lines decide the outcome whatever the exit code (Kiro exits 0 with an empty stdout at its monthly
//! limit). Tools print on stderr too, so only whole lines count: the limit line exactly as the CLI prints
//! it, and lines that *start* with the login and "trouble responding" messages; a tool that prints the
//! words in passing ("Monthly request limit reached in the test data") is not mistaken for a limit. Otherwise exit 0 is a success whose final answer is stdout with
//! ANSI sequences and the `> ` marker removed; a non-zero exit is a failure with the stderr tail.

use super::AmazonQFlavor;
use crate::command::FINAL_TEXT_CAP;
use crate::lines::{Line, truncate_text};
use crate::outcome::{auth_failure_in, classify_exit, one_line};
use crate::process::{ProcessExit, StreamHandler};
use crate::reset_time::limits_reset_on;
use jiff::Timestamp;
use ralph_core::{AgentEvent, AgentOutcome, EventSender, FailureKind, OutcomeStatus};
use std::collections::VecDeque;

/// Lines kept after a "having trouble responding" line: the error report that follows it.
const REPORT_LINES: usize = 8;

/// Reads the plain-text output of `q chat` / `kiro-cli chat` and classifies the run (a [`StreamHandler`]).
#[derive(Debug)]
pub struct AmazonQStream {
    flavor: AmazonQFlavor,
    answer: VecDeque<String>,
    answer_bytes: usize,
    /// `Some(reset)` once the monthly limit message was seen.
    limit: Option<Option<u64>>,
    not_logged_in: Option<String>,
    /// The "having trouble responding" line and the report lines after it.
    trouble: Vec<String>,
    /// Fixed clock for tests.
    now: Option<Timestamp>,
}

impl AmazonQStream {
    /// A handler for a run of `flavor`.
    pub fn new(flavor: AmazonQFlavor) -> Self {
        AmazonQStream {
            flavor,
            answer: VecDeque::new(),
            answer_bytes: 0,
            limit: None,
            not_logged_in: None,
            trouble: Vec::new(),
            now: None,
        }
    }

    /// Reads reset dates as if it were `now`.
    #[cfg(test)]
    pub(crate) fn with_now(mut self, now: Timestamp) -> Self {
        self.now = Some(now);
        self
    }

    fn final_text(&self) -> String {
        let text = self
            .answer
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        let trimmed = text.trim_start();
        trimmed
            .strip_prefix("> ")
            .or_else(|| trimmed.strip_prefix('>'))
            .unwrap_or(trimmed)
            .to_string()
    }

    fn classify(&self, exit: &ProcessExit) -> (OutcomeStatus, Option<String>) {
        let name = self.flavor.name();
        if let Some(reset_at_unix) = self.limit {
            let message = format!("{name}: monthly request limit reached");
            return (OutcomeStatus::RateLimited { reset_at_unix }, Some(message));
        }
        let failed = |kind, message: &str| {
            let status = OutcomeStatus::Failed {
                kind,
                api_status: None,
            };
            (status, Some(one_line(message)))
        };
        if let Some(line) = &self.not_logged_in {
            return failed(FailureKind::Auth, line);
        }
        if !self.trouble.is_empty() {
            let report = self.trouble.join("\n");
            let lower = report.to_lowercase();
            let throttled = [
                "throttling",
                "too many requests",
                "429",
                "quota has reached its limit",
            ];
            if throttled.iter().any(|w| lower.contains(w)) {
                return (
                    OutcomeStatus::RateLimited {
                        reset_at_unix: None,
                    },
                    Some(one_line(&report)),
                );
            }
            let auth = [
                "expiredtoken",
                "unauthorized",
                "accessdenied",
                "access denied",
                "status code: 401",
                "status code: 403",
            ];
            if auth.iter().any(|w| lower.contains(w)) || auth_failure_in(&report) {
                return failed(FailureKind::Auth, &report);
            }
            return failed(FailureKind::Api, &report);
        }
        classify_exit(exit)
    }
}

impl StreamHandler for AmazonQStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        let text = strip_ansi(&line.text());
        if !text.trim().is_empty() {
            let _ = events.send(AgentEvent::Text { text: text.clone() });
        }
        self.answer_bytes += text.len() + 1;
        self.answer.push_back(text);
        while self.answer_bytes > FINAL_TEXT_CAP && self.answer.len() > 1 {
            if let Some(old) = self.answer.pop_front() {
                self.answer_bytes -= old.len() + 1;
            }
        }
    }

    fn on_stderr(&mut self, line: &str, events: &EventSender) {
        let text = strip_ansi(line);
        let trimmed = text.trim();
        if !self.trouble.is_empty() && self.trouble.len() <= REPORT_LINES {
            self.trouble.push(trimmed.to_string());
        }
        let lower = trimmed.to_lowercase();
        if let Some(pos) = lower.find("using tool:") {
            let rest = trimmed[pos + "using tool:".len()..].trim();
            let (name, detail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let detail = detail.trim().trim_start_matches('(').trim_end_matches(')');
            let _ = events.send(AgentEvent::ToolUse {
                name: name.trim_end_matches(')').to_string(),
                summary: truncate_text(detail, 200),
            });
            return;
        }
        let now = self.now.unwrap_or_else(Timestamp::now);
        if is_limit_line(&lower) {
            let reset = limits_reset_on(trimmed, now).or(self.limit.flatten());
            self.limit = Some(reset);
        } else if self.limit.is_some() && lower.contains("limits reset on") {
            self.limit = Some(limits_reset_on(trimmed, now));
        } else if lower.starts_with("error: you are not logged in")
            || lower.starts_with("you are not logged in, please log in")
        {
            self.not_logged_in = Some(trimmed.to_string());
        } else if self.trouble.is_empty()
            && ["amazon q", "kiro", "q"].iter().any(|who| {
                lower.starts_with(&format!("{who} is having trouble responding right now"))
            })
        {
            self.trouble.push(trimmed.to_string());
        }
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let (status, message) = self.classify(exit);
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        if outcome.status.is_success() {
            outcome.final_text = Some(self.final_text());
        }
        outcome
    }
}

/// Whether a (lower-case, trimmed) stderr line is the CLI's monthly-limit message: exactly "Monthly
/// request limit reached", optionally followed by " - The limits reset on MM/DD.", or Kiro's JSON error
/// body naming `MONTHLY_REQUEST_COUNT` / `UsageLimitReachedError`.
fn is_limit_line(lower: &str) -> bool {
    lower == "monthly request limit reached"
        || lower.starts_with("monthly request limit reached - the limits reset on")
        || (lower.starts_with('{')
            && (lower.contains("\"monthly_request_count\"")
                || lower.contains("usagelimitreachederror")))
}

/// `s` without ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`, and two-byte
/// escapes) and without what a carriage return overwrote (spinners).
fn strip_ansi(s: &str) -> String {
    let s = s.rsplit('\r').next().unwrap_or(s);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
