//! Per-model token prices, for agents that report tokens but no cost (every agent but Claude Code).
//!
//! Prices are USD per million tokens, by kind, from the vendors' published API price lists (Anthropic's,
//! Google's Gemini API, OpenAI's and Alibaba Cloud Model Studio's pricing pages) as read on 2025-11-01.
//! Where a vendor charges more above a context size (Gemini 2.5 Pro above 200k tokens, Qwen above 32k),
//! the lower tier is used, so estimates are a floor. A cost computed here is always labelled an estimate
//! ([`Cost::estimated`]). Models are matched by the longest listed prefix of the model name, so dated
//! variants (`gpt-5-2025-08-07`) find their family.

use ralph_core::{Cost, Usage};

/// Where the table comes from and when it was read; shown next to estimated costs.
pub const PRICES_SOURCE: &str =
    "vendor API price lists as read on 2025-11-01 (see ralph-agents/src/pricing.rs)";

/// USD per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning included).
    pub output: f64,
    /// Input tokens written to the cache (where the vendor charges for writes; else the input price).
    pub cache_write: f64,
    /// Input tokens read from the cache.
    pub cache_read: f64,
}

/// `(model name prefix, price)`, matched by the longest prefix.
pub const PRICES: &[(&str, Price)] = &[
    // Anthropic
    (
        "claude-opus-4",
        Price {
            input: 15.0,
            output: 75.0,
            cache_write: 18.75,
            cache_read: 1.5,
        },
    ),
    (
        "claude-opus-4-5",
        Price {
            input: 5.0,
            output: 25.0,
            cache_write: 6.25,
            cache_read: 0.5,
        },
    ),
    (
        "claude-sonnet-4",
        Price {
            input: 3.0,
            output: 15.0,
            cache_write: 3.75,
            cache_read: 0.3,
        },
    ),
    (
        "claude-haiku-4-5",
        Price {
            input: 1.0,
            output: 5.0,
            cache_write: 1.25,
            cache_read: 0.1,
        },
    ),
    (
        "claude-3-5-haiku",
        Price {
            input: 0.8,
            output: 4.0,
            cache_write: 1.0,
            cache_read: 0.08,
        },
    ),
    // Google Gemini API (paid tier, prompts up to 200k tokens)
    (
        "gemini-2.5-pro",
        Price {
            input: 1.25,
            output: 10.0,
            cache_write: 1.25,
            cache_read: 0.31,
        },
    ),
    (
        "gemini-2.5-flash",
        Price {
            input: 0.3,
            output: 2.5,
            cache_write: 0.3,
            cache_read: 0.075,
        },
    ),
    (
        "gemini-2.5-flash-lite",
        Price {
            input: 0.1,
            output: 0.4,
            cache_write: 0.1,
            cache_read: 0.025,
        },
    ),
    (
        "gemini-2.0-flash",
        Price {
            input: 0.1,
            output: 0.4,
            cache_write: 0.1,
            cache_read: 0.025,
        },
    ),
    // OpenAI
    (
        "gpt-5",
        Price {
            input: 1.25,
            output: 10.0,
            cache_write: 1.25,
            cache_read: 0.125,
        },
    ),
    (
        "gpt-5-mini",
        Price {
            input: 0.25,
            output: 2.0,
            cache_write: 0.25,
            cache_read: 0.025,
        },
    ),
    (
        "gpt-5-nano",
        Price {
            input: 0.05,
            output: 0.4,
            cache_write: 0.05,
            cache_read: 0.005,
        },
    ),
    (
        "gpt-4.1",
        Price {
            input: 2.0,
            output: 8.0,
            cache_write: 2.0,
            cache_read: 0.5,
        },
    ),
    (
        "gpt-4o",
        Price {
            input: 2.5,
            output: 10.0,
            cache_write: 2.5,
            cache_read: 1.25,
        },
    ),
    (
        "o3",
        Price {
            input: 2.0,
            output: 8.0,
            cache_write: 2.0,
            cache_read: 0.5,
        },
    ),
    (
        "o4-mini",
        Price {
            input: 1.1,
            output: 4.4,
            cache_write: 1.1,
            cache_read: 0.275,
        },
    ),
    // Alibaba Qwen (international, first tier)
    (
        "qwen3-coder-plus",
        Price {
            input: 1.0,
            output: 5.0,
            cache_write: 1.0,
            cache_read: 0.1,
        },
    ),
    (
        "qwen3-coder-flash",
        Price {
            input: 0.3,
            output: 1.5,
            cache_write: 0.3,
            cache_read: 0.03,
        },
    ),
];

/// The price of `model`: the entry with the longest prefix of the model name (a provider prefix such as
/// `openai/` or `models/` is ignored). `None` for unknown models.
pub fn price_of(model: &str) -> Option<Price> {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    PRICES
        .iter()
        .filter(|(prefix, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, p)| *p)
}

/// The estimated cost of `usage` on `model`, labelled as an estimate; `None` for unknown models.
pub fn estimate(model: &str, usage: &Usage) -> Option<Cost> {
    let p = price_of(model)?;
    let per = |tokens: u64, usd_per_million: f64| tokens as f64 * usd_per_million / 1_000_000.0;
    let usd = per(usage.input_tokens, p.input)
        + per(usage.output_tokens, p.output)
        + per(usage.cache_creation_input_tokens, p.cache_write)
        + per(usage.cache_read_input_tokens, p.cache_read);
    Some(Cost {
        usd,
        estimated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_provider_prefixes_are_ignored() {
        assert_eq!(price_of("gpt-5-mini-2025-08-07").unwrap().input, 0.25);
        assert_eq!(price_of("openai/gpt-5").unwrap().input, 1.25);
        assert_eq!(price_of("claude-opus-4-5-20251101").unwrap().input, 5.0);
        assert_eq!(price_of("claude-opus-4-1").unwrap().input, 15.0);
        assert_eq!(
            price_of("models/gemini-2.5-flash-lite").unwrap().output,
            0.4
        );
        assert!(price_of("some-local-model").is_none());
    }

    #[test]
    fn estimate_prices_each_kind_and_is_labelled() {
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 1_000_000,
            reasoning_output_tokens: 0,
        };
        let cost = estimate("claude-sonnet-4-5", &usage).unwrap();
        assert!((cost.usd - (3.0 + 1.5 + 0.3)).abs() < 1e-9, "{}", cost.usd);
        assert!(cost.estimated);
    }
}
