//! Run notifications (SPEC §8): a JSON summary POSTed to each `--notify` URL when a run ends and when it
//! starts waiting on a usage limit.
//!
//! [`Notifier`] is an engine [`Observer`](ralph_core::Observer): it keeps what the summary needs (run id, agent, last checkpoint,
//! totals) and, on [`LoopEvent::RunFinished`] or [`LoopEvent::RateLimitWait`], builds a [`Payload`] and
//! hands one delivery per URL to a tokio task, so the engine never waits on the network. A delivery makes
//! up to [`ATTEMPTS`] attempts of at most [`ATTEMPT_TIMEOUT`] each, backing off [`FIRST_RETRY_DELAY`],
//! then twice that; a 2xx answer is success, 5xx, 408, 429 and network errors are retried, other answers
//! are not (redirects are not followed). A delivery that fails is a warning naming the URL with its
//! secrets masked ([`mask_url`]); it never changes how the run ends. When the run is over, [`Pending`]
//! waits for the deliveries still running for at most [`FLUSH_TIMEOUT`], then gives up with a warning.
//!
//! Every text in a payload (stop reason, paths, ids) goes through [`Redactor`], so no API key reaches a
//! notification. A rerun of an already finished run (the same prompt) runs nothing and sends nothing.

use crate::exit_codes;
use crate::redact::Redactor;
use crate::settings::RunSettings;
use ralph_core::state::RunState;
use ralph_core::{ExitClass, LoopEvent, ObserverMut, StopReason, Usage};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;

/// Attempts per URL and event.
pub const ATTEMPTS: u32 = 3;
/// Pause before the second attempt; doubled before each later one.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Longest one attempt (connect, send, answer) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest ralph waits at the end of a run for notifications still being sent.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Token counts of a run, by kind, in a payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tokens {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Tokens that count against `max_tokens`: input + cache_creation + output (cache reads excluded,
    /// as in `state.json`'s `tokens_total`).
    pub total: u64,
}

impl From<&Usage> for Tokens {
    fn from(u: &Usage) -> Self {
        Tokens {
            input: u.input_tokens,
            output: u.output_tokens,
            cache_creation: u.cache_creation_input_tokens,
            cache_read: u.cache_read_input_tokens,
            total: u.billable_total(),
        }
    }
}

/// The JSON body of a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    /// `run_finished` or `rate_limit_wait`.
    pub event: &'static str,
    /// The run id; `null` when the run failed before it had one.
    pub run_id: Option<String>,
    /// `run_finished` only: `completed`, `limit_reached`, `failed` or `interrupted` ([`outcome`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// `run_finished` only: why the run stopped, as ralph prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `run_finished` only: ralph's exit code for this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// Iterations of the run (across restarts).
    pub iterations: u64,
    /// Tokens of the run, by kind.
    pub tokens: Tokens,
    /// Cost of the run, USD.
    pub cost_usd: f64,
    /// True when any part of the cost is an estimate from ralph's price table.
    pub cost_estimated: bool,
    /// Wall-clock seconds used by the run (across restarts).
    pub runtime_secs: f64,
    /// The last checkpoint made in this process (a commit id), if any.
    pub last_checkpoint: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// The workspace directory.
    pub workspace: String,
    /// `rate_limit_wait` only: seconds ralph will wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_secs: Option<f64>,
    /// `rate_limit_wait` only: when the limit resets, Unix seconds, if the agent said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at_unix: Option<u64>,
    /// When the event happened, RFC 3339 UTC.
    pub ts: String,
    /// One human-readable line (shown by chat webhooks such as Slack's, which read `text`).
    pub text: String,
}

/// The outcome label of a run that stopped for `reason`: `completed`, `limit_reached` (a limit, or a usage
/// limit that outlasts the runtime), `interrupted` (a signal, or a stop requested by code) or `failed` (anything else).
pub fn outcome(reason: &StopReason) -> &'static str {
    match reason.exit_class() {
        ExitClass::Completed => "completed",
        ExitClass::Limit => "limit_reached",
        ExitClass::Interrupted(_) | ExitClass::Stopped => "interrupted",
        ExitClass::Failed | ExitClass::Usage => "failed",
    }
}

/// `url` as it may be printed: credentials (`user:pass@`), query values, the fragment, every path segment
/// after the first, and a first segment that looks like a token (8+ characters mixing letters and digits,
/// or 16+ characters) replaced by `****`. Works on any text, URL or not.
pub fn mask_url(url: &str) -> String {
    const MASK: &str = "****";
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, _)) => (r, Some(MASK)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        // Not a URL (no `://`): whatever precedes an `@` may be credentials.
        _ if scheme.is_empty() && rest.contains('@') => (rest, ""),
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut out = String::from(scheme);
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str(MASK);
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let token_like = |s: &str| {
        let letters = s.chars().any(|c| c.is_ascii_alphabetic());
        let digits = s.chars().any(|c| c.is_ascii_digit());
        s.len() >= 16 || (s.len() >= 8 && letters && digits)
    };
    // Webhook URLs carry their secret in the path (`/services/T000/B000/XXXX`): only the first segment
    // is shown, unless it looks like a token itself.
    let path: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            if (i >= 2 && !seg.is_empty()) || token_like(seg) {
                MASK
            } else {
                seg
            }
        })
        .collect();
    out.push_str(&path.join("/"));
    if let Some(q) = query {
        out.push('?');
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}={MASK}"),
                None if token_like(pair) => MASK.to_string(),
                None => pair.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The notification URLs for the dry-run plan: masked ([`mask_url`]), comma-separated, or `none`.
pub fn describe_targets(urls: &[String]) -> String {
    if urls.is_empty() {
        return "none".into();
    }
    let masked: Vec<String> = urls
        .iter()
        .map(|u| ralph_agents::mask_secrets(&mask_url(u)))
        .collect();
    format!("POST to {}", masked.join(", "))
}

/// One notification URL.
#[derive(Debug, Clone)]
struct Target {
    url: reqwest::Url,
    /// [`mask_url`] of the URL, for messages.
    masked: String,
}

struct Shared {
    client: reqwest::Client,
    targets: Vec<Target>,
    tasks: Mutex<JoinSet<()>>,
    /// Deliveries not finished yet: id -> masked URL, for the give-up warning.
    in_flight: Mutex<BTreeMap<u64, String>>,
    next_id: Mutex<u64>,
}

/// The [`Observer`](ralph_core::Observer) that sends notifications; does nothing when no URL is set.
pub struct Notifier {
    shared: Option<Arc<Shared>>,
    redactor: Arc<Redactor>,
    workspace: String,
    state_file: PathBuf,
    run_id: Option<String>,
    agent: Option<String>,
    last_checkpoint: Option<String>,
    /// Totals seen in this process, for when `state.json` cannot be read at a rate-limit wait.
    iterations: u64,
    usage: Usage,
    total_tokens: u64,
    cost_usd: f64,
    cost_estimated: bool,
}

/// The notifications of a run that may still be on their way; see [`Pending::finish`].
pub struct Pending {
    shared: Option<Arc<Shared>>,
}

impl Notifier {
    /// A notifier for `settings.notify` (already validated), and the handle to wait for its deliveries.
    /// Without URLs, or when the HTTP client cannot be built (a warning), both do nothing.
    pub fn new(settings: &RunSettings, redactor: Arc<Redactor>) -> (Notifier, Pending) {
        let shared = (!settings.notify.is_empty())
            .then(|| shared(&settings.notify, &redactor))
            .flatten()
            .map(Arc::new);
        let notifier = Notifier {
            shared: shared.clone(),
            workspace: redactor.text(&settings.workspace.display().to_string()),
            redactor,
            state_file: settings.state_dir.join("state.json"),
            run_id: None,
            agent: None,
            last_checkpoint: None,
            iterations: 0,
            usage: Usage::default(),
            total_tokens: 0,
            cost_usd: 0.0,
            cost_estimated: false,
        };
        (notifier, Pending { shared })
    }

    /// The payload for `event`, or `None` for events that are not notified.
    pub fn payload(&self, event: &LoopEvent) -> Option<Payload> {
        let text = |s: &str| self.redactor.text(s);
        let ts = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let run_label = self.run_id.as_deref().unwrap_or("(no id)");
        match event {
            LoopEvent::RunFinished {
                reason,
                iterations,
                usage,
                cost_usd,
                cost_estimated,
                elapsed_secs,
            } => {
                let reason_text = text(&reason.to_string());
                let tokens = Tokens::from(usage);
                let outcome = outcome(reason);
                Some(Payload {
                    event: "run_finished",
                    run_id: self.run_id.as_deref().map(text),
                    outcome: Some(outcome),
                    exit_code: Some(exit_codes::for_stop(reason)),
                    iterations: *iterations,
                    cost_usd: *cost_usd,
                    cost_estimated: *cost_estimated,
                    runtime_secs: *elapsed_secs,
                    last_checkpoint: self.last_checkpoint.as_deref().map(text),
                    agent: self.agent.as_deref().map(text),
                    workspace: self.workspace.clone(),
                    wait_secs: None,
                    reset_at_unix: None,
                    ts,
                    text: text(&format!(
                        "ralph run {run_label} {outcome}: {reason_text}; {iterations} iteration(s), {} tokens, ${cost_usd:.4}, {elapsed_secs:.0} s",
                        tokens.total
                    )),
                    reason: Some(reason_text),
                    tokens,
                })
            }
            LoopEvent::RateLimitWait {
                wait_secs,
                reset_at_unix,
            } => {
                // The run's totals as last saved (the engine saves before it waits); this process's
                // own figures when the file cannot be read.
                let saved = std::fs::read(&self.state_file)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<RunState>(&b).ok())
                    .filter(|s| Some(&s.run_id) == self.run_id.as_ref());
                let (iterations, tokens, cost_usd, cost_estimated, runtime_secs) = match &saved {
                    Some(s) => (
                        s.iteration,
                        Tokens::from(&s.usage),
                        s.cost_usd,
                        s.cost_estimated,
                        s.runtime_secs,
                    ),
                    None => (
                        self.iterations,
                        Tokens {
                            total: self.total_tokens,
                            ..Tokens::from(&self.usage)
                        },
                        self.cost_usd,
                        self.cost_estimated,
                        0.0,
                    ),
                };
                let until = reset_at_unix
                    .map(|t| {
                        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(t);
                        format!(" (resets at {})", humantime::format_rfc3339_seconds(at))
                    })
                    .unwrap_or_default();
                Some(Payload {
                    event: "rate_limit_wait",
                    run_id: self.run_id.as_deref().map(text),
                    outcome: None,
                    reason: None,
                    exit_code: None,
                    iterations,
                    tokens,
                    cost_usd,
                    cost_estimated,
                    runtime_secs,
                    last_checkpoint: self.last_checkpoint.as_deref().map(text),
                    agent: self.agent.as_deref().map(text),
                    workspace: self.workspace.clone(),
                    wait_secs: Some(*wait_secs),
                    reset_at_unix: *reset_at_unix,
                    ts,
                    text: text(&format!(
                        "ralph run {run_label} is waiting {wait_secs:.0} s for a usage limit{until}; {iterations} iteration(s) so far"
                    )),
                })
            }
            _ => None,
        }
    }

    fn track(&mut self, event: &LoopEvent) {
        match event {
            LoopEvent::RunStarted {
                run_id,
                agent,
                iterations_done,
                ..
            } => {
                self.run_id = Some(run_id.clone());
                self.agent = Some(agent.clone());
                self.iterations = *iterations_done;
            }
            LoopEvent::IterationFinished {
                iteration,
                outcome,
                usage,
                cost_estimated,
                total_tokens,
                total_cost_usd,
                ..
            } => {
                // A rate-limited attempt is retried under the same number: it is not an iteration done.
                self.iterations =
                    if matches!(outcome, ralph_core::OutcomeStatus::RateLimited { .. }) {
                        iteration.saturating_sub(1)
                    } else {
                        *iteration
                    };
                self.usage += *usage;
                self.total_tokens = *total_tokens;
                self.cost_usd = *total_cost_usd;
                self.cost_estimated |= *cost_estimated;
            }
            LoopEvent::Checkpoint { id: Some(id), .. } => {
                self.last_checkpoint = Some(id.clone());
            }
            _ => {}
        }
    }
}

impl ObserverMut for Notifier {
    fn on_event(&mut self, event: &LoopEvent) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        self.track(event);
        let Some(payload) = self.payload(event) else {
            return;
        };
        let body = match serde_json::to_string(&payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("notification not sent: cannot encode it: {e}");
                return;
            }
        };
        for target in &shared.targets {
            let id = {
                let mut next = lock(&shared.next_id);
                *next += 1;
                *next
            };
            lock(&shared.in_flight).insert(id, target.masked.clone());
            let task_shared = shared.clone();
            let (target, body, redactor) = (target.clone(), body.clone(), self.redactor.clone());
            lock(&shared.tasks).spawn(async move {
                deliver(&task_shared.client, &target, body, &redactor).await;
                lock(&task_shared.in_flight).remove(&id);
            });
        }
    }
}

impl Pending {
    /// Waits for the notifications still being sent, at most [`FLUSH_TIMEOUT`].
    pub async fn finish(self) {
        self.finish_within(FLUSH_TIMEOUT).await;
    }

    /// Waits for the notifications still being sent, at most `bound`; then abandons the rest with a
    /// warning naming their URLs (masked).
    pub async fn finish_within(self, bound: Duration) {
        let Some(shared) = self.shared else {
            return;
        };
        let mut tasks = std::mem::take(&mut *lock(&shared.tasks));
        let drained =
            tokio::time::timeout(bound, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tasks.abort_all();
            let left: Vec<String> = lock(&shared.in_flight).values().cloned().collect();
            tracing::warn!(
                "gave up after {} s on {} notification(s) still being sent to {}",
                bound.as_secs_f64(),
                left.len(),
                left.join(", ")
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn shared(urls: &[String], redactor: &Redactor) -> Option<Shared> {
    // reqwest is built without a bundled TLS crypto provider; ring is used (no C++/cmake build).
    // Installing fails harmlessly when a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ralph/", env!("CARGO_PKG_VERSION")))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "notifications disabled: cannot set up the HTTP client: {}",
                redactor.text(&error_chain(&e))
            );
            return None;
        }
    };
    let targets = urls
        .iter()
        .filter_map(|u| {
            Some(Target {
                url: reqwest::Url::parse(u).ok()?,
                masked: redactor.text(&mask_url(u)),
            })
        })
        .collect();
    Some(Shared {
        client,
        targets,
        tasks: Mutex::new(JoinSet::new()),
        in_flight: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(0),
    })
}

/// POSTs `body` to `target`, retrying as the module docs say; a final failure is a warning.
async fn deliver(client: &reqwest::Client, target: &Target, body: String, redactor: &Redactor) {
    let mut delay = FIRST_RETRY_DELAY;
    let mut problem = String::new();
    let mut attempts = 0;
    while attempts < ATTEMPTS {
        if attempts > 0 {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        attempts += 1;
        let sent = client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                tracing::debug!(
                    "notification sent to {} (HTTP {})",
                    target.masked,
                    resp.status().as_u16()
                );
                return;
            }
            Ok(resp) => {
                let status = resp.status();
                problem = format!("HTTP {}", status.as_u16());
                if status.is_redirection() {
                    problem.push_str(" (redirects are not followed: give the final URL)");
                }
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if !retry {
                    break;
                }
            }
            Err(e) => problem = error_chain(&e.without_url()),
        }
    }
    tracing::warn!(
        "notification to {} failed after {attempts} attempt(s): {}",
        target.masked,
        redactor.text(&problem)
    );
}

/// An error and its causes on one line (`error sending request: ...: Connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests;
