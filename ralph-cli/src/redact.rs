//! Keeping API keys out of what ralph writes: the per-iteration transcripts and records in the state
//! directory, the agent output it prints with `--verbose`, and the `--verify` command's output.
//!
//! Two layers: the exact values of the key variables ralph knows (`ANTHROPIC_API_KEY`, `CLAUDE_API_KEY`,
//! `GEMINI_API_KEY`, `Q_API_KEY`, `OPENAI_API_KEY`, and their `_FILE` forms) are replaced wherever they
//! appear, and well-known key formats and secret-named assignments are masked by
//! [`ralph_agents::mask_secrets`].

use ralph_core::state::{IterationRecord, RunState, StateStore};
use ralph_core::{Error, StopReason, Verification, Verifier, VerifyRequest};
use std::sync::Arc;

/// Shortest value treated as a key: shorter values (`1`, `dummy`) would mask ordinary text.
const MIN_KEY_LEN: usize = 8;

/// Replaces known secret values and key-looking text with `****`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for the key values found through `env` (variables and `_FILE` secrets).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut values: Vec<String> = ralph_agents::API_KEY_VARS
            .iter()
            .filter_map(|k| ralph_agents::resolve_key(k, env))
            .map(|v| v.trim().to_string())
            .filter(|v| v.len() >= MIN_KEY_LEN)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor { values }
    }

    /// `text` with secrets masked.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), ralph_agents::MASK);
            }
        }
        ralph_agents::mask_secrets(&out)
    }

    /// `reason` with secrets masked in its messages (a failure message may quote the agent's stderr).
    pub fn stop_reason(&self, reason: StopReason) -> StopReason {
        reason.redacted(|t| self.text(t))
    }

    /// `bytes` with secrets masked; bytes that are not UTF-8 only get the exact-value replacement.
    pub fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        match std::str::from_utf8(bytes) {
            Ok(t) => self.text(t).into_bytes(),
            Err(_) => {
                let mut out = bytes.to_vec();
                for v in &self.values {
                    out = replace_bytes(&out, v.as_bytes(), ralph_agents::MASK.as_bytes());
                }
                out
            }
        }
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// A [`StateStore`] that redacts transcripts and record messages before the inner store writes them.
pub struct RedactingStore<S> {
    inner: S,
    redactor: Arc<Redactor>,
}

impl<S: StateStore> RedactingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, redactor: Arc<Redactor>) -> Self {
        RedactingStore { inner, redactor }
    }
}

impl<S: StateStore> StateStore for RedactingStore<S> {
    fn load(&self) -> Result<Option<RunState>, Error> {
        self.inner.load()
    }
    fn save(&self, state: &RunState) -> Result<(), Error> {
        let mut state = state.clone();
        state.stop_reason = state.stop_reason.map(|r| self.redactor.stop_reason(r));
        self.inner.save(&state)
    }
    fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error> {
        let mut record = record.clone();
        record.message = record.message.map(|m| self.redactor.text(&m));
        self.inner.record_iteration(run_id, &record)
    }
    fn last_record(&self, run_id: &str) -> Option<IterationRecord> {
        self.inner.last_record(run_id)
    }
    fn keep_transcript(&self, run_id: &str, iteration: u64, prompt: &str, output: &[u8]) {
        let prompt = self.redactor.text(prompt);
        let output = self.redactor.bytes(output);
        self.inner
            .keep_transcript(run_id, iteration, &prompt, &output);
    }
}

/// A [`Verifier`] whose description, summary and output tail are redacted: they reach the terminal,
/// the JSON log and the next prompt (kept in `.agent/runs/`).
pub struct RedactingVerifier<V> {
    inner: V,
    redactor: Arc<Redactor>,
}

impl<V: Verifier> RedactingVerifier<V> {
    /// Wraps `inner`.
    pub fn new(inner: V, redactor: Arc<Redactor>) -> Self {
        RedactingVerifier { inner, redactor }
    }
}

#[async_trait::async_trait]
impl<V: Verifier> Verifier for RedactingVerifier<V> {
    fn describe(&self) -> String {
        self.redactor.text(&self.inner.describe())
    }
    async fn verify(
        &self,
        request: VerifyRequest,
        cancel: ralph_core::CancellationToken,
    ) -> Verification {
        let mut v = self.inner.verify(request, cancel).await;
        v.summary = self.redactor.text(&v.summary);
        v.output_tail = self.redactor.text(&v.output_tail);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_printed_by_the_verify_command_is_masked() {
        let key = "plain-looking-key-1234";
        let r = Arc::new(Redactor::from_env(&|k| {
            (k == "OPENAI_API_KEY").then(|| key.to_string())
        }));
        let dir = tempfile::tempdir().unwrap();
        let v = RedactingVerifier::new(
            ralph_agents::ShellVerifier::new(format!("echo using {key}; exit 1")),
            r,
        );
        assert!(!v.describe().contains(key));
        let out = v
            .verify(
                VerifyRequest {
                    workspace: dir.path().to_path_buf(),
                    iteration: 1,
                    timeout: None,
                },
                ralph_core::CancellationToken::new(),
            )
            .await;
        assert_eq!(out.output_tail, "using ****\n");
    }

    #[test]
    fn exact_key_values_and_key_formats_are_masked() {
        let r = Redactor::from_env(&|k| {
            (k == "OPENAI_API_KEY").then(|| "plain-looking-key-1234".to_string())
        });
        assert_eq!(
            r.text("token plain-looking-key-1234 used"),
            "token **** used"
        );
        assert!(!r.text("sk-ant-api03-abcdefghijk").contains("abcdefghijk"));
        assert_eq!(
            r.bytes(b"\xffplain-looking-key-1234\xfe"),
            b"\xff****\xfe".to_vec()
        );
    }

    #[test]
    fn short_values_are_not_treated_as_keys() {
        let r = Redactor::from_env(&|k| (k == "ANTHROPIC_API_KEY").then(|| "dummy".to_string()));
        assert_eq!(r.text("a dummy value"), "a dummy value");
    }
}
