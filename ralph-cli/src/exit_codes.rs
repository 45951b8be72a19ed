//! ralph's exit codes: stable and documented in the README.

use ralph_core::StopReason;

/// The task was completed (or a finished run with the same prompt had completed).
pub const COMPLETED: u8 = 0;
/// The run failed: too many consecutive agent failures, or an internal error.
pub const FAILED: u8 = 1;
/// Invalid usage, configuration or input (also a missing prompt file or agent CLI, caught before the first
/// iteration).
pub const USAGE: u8 = 2;
/// A limit (iterations, runtime, tokens, cost, or a rate limit that outlasts the runtime) was reached
/// before completion.
pub const LIMIT: u8 = 3;
/// Hung up (SIGHUP: the terminal closed).
pub const HANGUP: u8 = 129;
/// Interrupted by SIGINT (Ctrl-C).
pub const INTERRUPTED: u8 = 130;
/// Terminated by SIGTERM.
pub const TERMINATED: u8 = 143;

/// The exit code for a run that stopped for `reason`.
pub fn for_stop(reason: &StopReason) -> u8 {
    match reason {
        StopReason::Completed { .. } => COMPLETED,
        StopReason::MaxIterations { .. }
        | StopReason::MaxRuntime { .. }
        | StopReason::MaxTokens { .. }
        | StopReason::MaxCost { .. }
        | StopReason::RateLimited { .. }
        | StopReason::Custom { .. } => LIMIT,
        StopReason::AgentUnavailable { .. } => USAGE,
        StopReason::Interrupted { signal } if signal == "SIGTERM" => TERMINATED,
        StopReason::Interrupted { signal } if signal == "SIGHUP" => HANGUP,
        StopReason::Interrupted { .. } => INTERRUPTED,
        StopReason::TooManyFailures { .. } | StopReason::Error { .. } => FAILED,
        _ => FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_map_to_3_and_signals_to_128_plus_signal() {
        assert_eq!(for_stop(&StopReason::MaxIterations { limit: 2 }), 3);
        assert_eq!(
            for_stop(&StopReason::MaxCost {
                limit_usd: 1.0,
                used_usd: 1.0
            }),
            3
        );
        assert_eq!(
            for_stop(&StopReason::Interrupted {
                signal: "SIGINT".into()
            }),
            130
        );
        assert_eq!(
            for_stop(&StopReason::Interrupted {
                signal: "SIGTERM".into()
            }),
            143
        );
        assert_eq!(
            for_stop(&StopReason::TooManyFailures {
                failures: 3,
                last_failure: String::new()
            }),
            1
        );
        assert_eq!(
            for_stop(&StopReason::AgentUnavailable {
                message: String::new()
            }),
            2
        );
    }
}
