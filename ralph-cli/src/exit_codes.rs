//! ralph's exit codes: stable and documented in the README.

use ralph_core::{ExitClass, Signal, StopReason};

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
    match reason.exit_class() {
        ExitClass::Completed => COMPLETED,
        ExitClass::Limit => LIMIT,
        ExitClass::Failed => FAILED,
        ExitClass::Usage => USAGE,
        ExitClass::Interrupted(signal) => for_signal(signal),
        // A stop requested by code (never by the CLI itself): graceful and resumable, as for Ctrl-C.
        ExitClass::Stopped => INTERRUPTED,
    }
}

/// The exit code after `signal` stopped ralph: 128 + the signal's number.
pub fn for_signal(signal: Signal) -> u8 {
    match signal {
        Signal::Int => INTERRUPTED,
        Signal::Term => TERMINATED,
        Signal::Hup => HANGUP,
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
                signal: Signal::Int
            }),
            130
        );
        assert_eq!(
            for_stop(&StopReason::Interrupted {
                signal: Signal::Term
            }),
            143
        );
        assert_eq!(
            for_stop(&StopReason::Interrupted {
                signal: Signal::Hup
            }),
            129
        );
        for signal in [Signal::Int, Signal::Term, Signal::Hup] {
            assert_eq!(for_signal(signal), 128 + signal.number());
        }
        // A stop requested by code (library users; the CLI never asks for one) exits as for Ctrl-C.
        assert_eq!(
            for_stop(&StopReason::Requested {
                by: "embedding program".into()
            }),
            130
        );
        assert_eq!(
            for_stop(&StopReason::RateLimited {
                message: String::new()
            }),
            3
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
