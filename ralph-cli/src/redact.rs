//! Keeping API keys out of what ralph writes: the per-iteration transcripts and records in the state
//! directory, the agent output it prints with `--verbose`, and the `--verify` command's output.
//!
//! Two layers: exact values are replaced wherever they appear — every key variable an agent of the
//! registry reads or is filled from ([`ralph_agents::registry::key_vars`], also from their `_FILE` forms),
//! and every variable of ralph's environment or of an agent's configured environment
//! (`adapters.<name>.env`) whose name looks secret ([`ralph_agents::is_secret_name`]: `*_KEY`,
//! `*_TOKEN`, `*SECRET*`, `*PASSWORD*`, ...); then well-known key formats and secret-named assignments
//! are masked by [`ralph_agents::mask_secrets`].

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
    /// A redactor for the key values found through `env` (the registry's key variables and their
    /// `_FILE` secrets).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        Self::new(env, std::iter::empty())
    }

    /// A redactor for the key values found through `env` (as [`Redactor::from_env`]) and the values of
    /// the secret-named variables among `vars` (`(name, value)` pairs). Values shorter than 8 bytes are
    /// left alone: they would mask ordinary text.
    pub fn new(
        env: &dyn Fn(&str) -> Option<String>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let keys = ralph_agents::registry::key_vars()
            .into_iter()
            .filter_map(|k| ralph_agents::resolve_key(k, env));
        let secret_named = vars
            .into_iter()
            .filter(|(name, _)| ralph_agents::is_secret_name(name))
            .map(|(_, value)| value);
        let mut values: Vec<String> = keys
            .chain(secret_named)
            .map(|v| v.trim().to_string())
            .filter(|v| v.len() >= MIN_KEY_LEN)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor { values }
    }

    /// The redactor of a run: keys and secret-named variables of ralph's own environment, and the
    /// secret-named variables configured for the `agents` (`adapters.<name>.env`).
    pub fn for_run(agents: &[ralph_agents::AgentSettings]) -> Self {
        let own = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let configured = agents
            .iter()
            .flat_map(|a| a.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::new(&|k| std::env::var(k).ok(), own.chain(configured))
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
    fn save_snapshot(&self, state: &RunState) -> Result<(), Error> {
        let mut state = state.clone();
        state.stop_reason = state.stop_reason.map(|r| self.redactor.stop_reason(r));
        self.inner.save_snapshot(&state)
    }
    fn record_iteration(&self, run_id: &str, record: &IterationRecord) -> Result<(), Error> {
        let mut record = record.clone();
        record.message = record.message.map(|m| self.redactor.text(&m));
        self.inner.record_iteration(run_id, &record)
    }
    fn last_record(&self, run_id: &str) -> Option<IterationRecord> {
        self.inner.last_record(run_id)
    }
    fn records_after(&self, run_id: &str, attempt: u64) -> Vec<IterationRecord> {
        self.inner.records_after(run_id, attempt)
    }
    fn lock(
        &self,
        workspace: &std::path::Path,
    ) -> Result<Option<ralph_core::lock::RunLock>, Error> {
        self.inner.lock(workspace)
    }
    fn keep_transcript(&self, run_id: &str, iteration: u64, prompt: &str, output: &[u8]) {
        let prompt = self.redactor.text(prompt);
        let output = self.redactor.bytes(output);
        self.inner
            .keep_transcript(run_id, iteration, &prompt, &output);
    }
    /// The file keeps the redacted text under the hash of the text as read (the hash the run state
    /// and the records name).
    fn keep_prompt(&self, run_id: &str, sha256: &str, prompt: &str) {
        self.inner
            .keep_prompt(run_id, sha256, &self.redactor.text(prompt));
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
    fn every_registry_key_and_secret_named_variable_is_masked_exactly() {
        let env = |k: &str| match k {
            "CODEX_API_KEY" => Some("zq7-plant-codex-0001".to_string()),
            "KIRO_API_KEY" => Some("zq7-plant-kiro-0002".to_string()),
            _ => None,
        };
        let vars = [
            ("MY_SERVICE_TOKEN", "q8w7e6r5t4"),
            ("AWS_SECRET_ACCESS_KEY", "zq7-plant-aws-0003"),
            ("FOO_PASSWORD", "zq7-plant-pw-0004"),
            ("HOME", "/home/someone"),
            ("SHORT_TOKEN", "abc"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let r = Redactor::new(&env, vars);
        let text = "zq7-plant-codex-0001 zq7-plant-kiro-0002 q8w7e6r5t4 zq7-plant-aws-0003 \
                    zq7-plant-pw-0004 /home/someone abc";
        assert_eq!(r.text(text), "**** **** **** **** **** /home/someone abc");
    }

    #[test]
    fn short_values_are_not_treated_as_keys() {
        let r = Redactor::from_env(&|k| (k == "ANTHROPIC_API_KEY").then(|| "dummy".to_string()));
        assert_eq!(r.text("a dummy value"), "a dummy value");
    }
}
