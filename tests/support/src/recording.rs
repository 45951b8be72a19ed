//! Queries over the requests a scripted server recorded, shared by [`crate::server::ModelServer`] and
//! [`crate::scripted::ScriptedServer`].

use crate::server::{Answer, RecordedRequest, RequestKind};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The conversation requests of the `iteration`-th agent run (0-based), in arrival order.
pub(crate) fn of_iteration(
    requests: Vec<RecordedRequest>,
    iteration: usize,
) -> Vec<RecordedRequest> {
    requests
        .into_iter()
        .filter(
            |r| matches!(r.kind, RequestKind::Conversation { iteration: i, .. } if i == iteration),
        )
        .collect()
}

/// The requests the script had no reply for.
pub(crate) fn unscripted(requests: Vec<RecordedRequest>) -> Vec<RecordedRequest> {
    requests
        .into_iter()
        .filter(|r| r.answer == Answer::Unscripted)
        .collect()
}

/// One [`RecordedRequest::summary`] line per request.
pub(crate) fn log(requests: &[RecordedRequest]) -> String {
    requests.iter().map(|r| r.summary() + "\n").collect()
}

/// Waits on `changed` until `done(requests of the recorder)` holds or `timeout` passes; returns whether it
/// held. A poisoned lock is used as is: a panicking test thread must not hide the recording.
pub(crate) fn wait_until<R>(
    recorder: &Mutex<R>,
    changed: &Condvar,
    requests: impl Fn(&R) -> &[RecordedRequest],
    timeout: Duration,
    done: impl Fn(&[RecordedRequest]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut rec = recorder.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if done(requests(&rec)) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        rec = changed
            .wait_timeout(rec, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}
