//! Token usage and cost accounting.

use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// Tokens used by one agent run (or summed over several), by kind.
///
/// All fields are token counts. The kinds follow the Anthropic Messages API `usage` object; agents whose
/// APIs name them differently map onto these (OpenAI's `cached_input_tokens` is `cache_read_input_tokens`,
/// reasoning tokens are included in `output_tokens` and also reported in `reasoning_output_tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens that were neither written to nor read from a prompt cache.
    pub input_tokens: u64,
    /// Output tokens (including reasoning tokens where the API counts them as output).
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens served from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Reasoning tokens, already included in `output_tokens`; informational only.
    #[serde(default)]
    pub reasoning_output_tokens: u64,
}

impl Usage {
    /// Tokens that count against the `max_tokens` limit:
    /// `input_tokens + cache_creation_input_tokens + output_tokens`.
    ///
    /// Cache reads are excluded on purpose: an agent CLI re-reads its cached system prompt and context on
    /// every model turn, so counting them would exhaust a budget after a handful of iterations while costing
    /// a tenth of the input price. They are still recorded and shown separately.
    pub fn billable_total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.output_tokens)
    }

    /// Every token of every kind (reasoning tokens are not added twice).
    pub fn grand_total(&self) -> u64 {
        self.billable_total()
            .saturating_add(self.cache_read_input_tokens)
    }

    /// True when every count is zero.
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(rhs.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(rhs.output_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .saturating_add(rhs.cache_creation_input_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .saturating_add(rhs.cache_read_input_tokens);
        self.reasoning_output_tokens = self
            .reasoning_output_tokens
            .saturating_add(rhs.reasoning_output_tokens);
    }
}

/// The cost of an agent run in USD, and whether it was reported by the agent or estimated by ralph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// US dollars.
    pub usd: f64,
    /// `true` when ralph priced token counts from its own table instead of taking the agent's figure.
    pub estimated: bool,
}

impl AddAssign for Cost {
    fn add_assign(&mut self, rhs: Cost) {
        self.usd += rhs.usd;
        self.estimated |= rhs.estimated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billable_total_excludes_cache_reads() {
        let u = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_creation_input_tokens: 100,
            cache_read_input_tokens: 1000,
            reasoning_output_tokens: 2,
        };
        assert_eq!(u.billable_total(), 115);
        assert_eq!(u.grand_total(), 1115);
    }

    #[test]
    fn usage_adds_by_kind() {
        let mut a = Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_creation_input_tokens: 3,
            cache_read_input_tokens: 4,
            reasoning_output_tokens: 5,
        };
        a += a;
        assert_eq!(
            (
                a.input_tokens,
                a.output_tokens,
                a.cache_creation_input_tokens,
                a.cache_read_input_tokens,
                a.reasoning_output_tokens
            ),
            (2, 4, 6, 8, 10)
        );
    }
}
