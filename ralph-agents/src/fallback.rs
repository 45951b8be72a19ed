//! [`FallbackAgent`]: a chain of agents (`--agent claude,command`) that moves to the next one when the
//! current one cannot serve.
//!
//! An agent is passed over when it is not installed (preflight), cannot be started, is not
//! authenticated, or is rate or usage limited. The switch happens inside the iteration (the next agent
//! gets the same request at once) and is sticky: later iterations start with the agent that last worked,
//! because the conditions above rarely clear within minutes. Usage and cost of the abandoned attempts are
//! added to the outcome, since they were spent.

use async_trait::async_trait;
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, EventSender, FailureKind, OutcomeStatus,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Agents tried in order (see the module docs).
pub struct FallbackAgent {
    agents: Vec<Box<dyn Agent>>,
    current: AtomicUsize,
    /// Per agent: `false` once its preflight failed.
    available: Mutex<Vec<bool>>,
}

impl std::fmt::Debug for FallbackAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.agents.iter().map(|a| a.name()).collect();
        f.debug_struct("FallbackAgent")
            .field("agents", &names)
            .field("current", &self.current.load(Ordering::Relaxed))
            .finish()
    }
}

impl FallbackAgent {
    /// A chain of `agents`, tried in order. An empty chain has no agent to run and fails its preflight.
    pub fn new(agents: Vec<Box<dyn Agent>>) -> Self {
        let n = agents.len();
        FallbackAgent {
            agents,
            current: AtomicUsize::new(0),
            available: Mutex::new(vec![true; n]),
        }
    }

    fn next_available(&self, after: usize) -> Option<usize> {
        let available = self.available.lock().unwrap_or_else(|p| p.into_inner());
        (after + 1..self.agents.len()).find(|&i| available[i])
    }
}

/// Why `outcome` sends the chain to its next agent, if it does.
fn fallback_reason(outcome: &AgentOutcome) -> Option<&'static str> {
    match outcome.status {
        OutcomeStatus::Failed {
            kind: FailureKind::Spawn,
            ..
        } => Some("could not be started"),
        OutcomeStatus::Failed {
            kind: FailureKind::Auth,
            ..
        } => Some("is not authenticated"),
        OutcomeStatus::RateLimited { .. } => Some("is rate or usage limited"),
        _ => None,
    }
}

#[async_trait]
impl Agent for FallbackAgent {
    fn name(&self) -> &str {
        self.agents
            .get(self.current.load(Ordering::Relaxed))
            .map_or("none", |a| a.name())
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        let mut problems = Vec::new();
        let mut first = None;
        for (i, agent) in self.agents.iter().enumerate() {
            match agent.preflight().await {
                Ok(()) => {
                    first.get_or_insert(i);
                }
                Err(e) => {
                    tracing::warn!(agent = agent.name(), error = %e, "agent unavailable; the chain will skip it");
                    self.available.lock().unwrap_or_else(|p| p.into_inner())[i] = false;
                    problems.push(e.to_string());
                }
            }
        }
        match first {
            Some(i) => {
                self.current.store(i, Ordering::Relaxed);
                Ok(())
            }
            None => Err(ralph_core::Error::AgentUnavailable {
                agent: self
                    .agents
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(","),
                message: if problems.is_empty() {
                    "the agent chain is empty".into()
                } else {
                    problems.join("; ")
                },
            }),
        }
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let mut index = self.current.load(Ordering::Relaxed);
        let mut spent: Option<AgentOutcome> = None;
        loop {
            let Some(agent) = self.agents.get(index) else {
                return Err(ralph_core::Error::Config("the agent chain is empty".into()));
            };
            let mut outcome = match agent
                .run(request.clone(), events.clone(), cancel.clone())
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    let mut o = AgentOutcome::new(OutcomeStatus::Failed {
                        kind: FailureKind::Spawn,
                        api_status: None,
                    });
                    o.message = Some(e.to_string());
                    o
                }
            };
            if let Some(previous) = spent.take() {
                outcome.usage += previous.usage;
                outcome.cost = match (outcome.cost, previous.cost) {
                    (Some(mut a), Some(b)) => {
                        a += b;
                        Some(a)
                    }
                    (a, b) => a.or(b),
                };
            }
            let out_of_time = request.deadline.is_some_and(|d| Instant::now() >= d);
            let next = fallback_reason(&outcome)
                .filter(|_| !cancel.is_cancelled() && !out_of_time)
                .and_then(|reason| self.next_available(index).map(|n| (n, reason)));
            let Some((next, reason)) = next else {
                return Ok(outcome);
            };
            let message = format!(
                "{} {reason}; falling back to {}",
                agent.name(),
                self.agents[next].name()
            );
            tracing::warn!(%message);
            let _ = events.send(AgentEvent::Retry {
                attempt: u32::try_from(next + 1).unwrap_or(u32::MAX),
                message,
            });
            self.current.store(next, Ordering::Relaxed);
            index = next;
            spent = Some(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_core::{Cost, TimeoutKind, Usage};

    struct Fixed(&'static str, OutcomeStatus);

    #[async_trait]
    impl Agent for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        async fn run(
            &self,
            _: AgentRequest,
            _: EventSender,
            _: CancellationToken,
        ) -> Result<AgentOutcome, ralph_core::Error> {
            let mut o = AgentOutcome::new(self.1.clone());
            o.usage = Usage {
                input_tokens: 10,
                ..Usage::default()
            };
            o.cost = Some(Cost {
                usd: 0.5,
                estimated: false,
            });
            Ok(o)
        }
    }

    fn request() -> AgentRequest {
        AgentRequest {
            prompt: "p".into(),
            workspace: ".".into(),
            state_dir: ".agent".into(),
            run_id: "r".into(),
            iteration: 1,
            deadline: None,
            deadline_kind: TimeoutKind::Iteration,
            idle_timeout: None,
        }
    }

    #[tokio::test]
    async fn rate_limited_agent_falls_back_and_usage_is_summed() {
        let chain = FallbackAgent::new(vec![
            Box::new(Fixed(
                "a",
                OutcomeStatus::RateLimited {
                    reset_at_unix: None,
                },
            )),
            Box::new(Fixed("b", OutcomeStatus::Success)),
        ]);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let o = chain
            .run(request(), tx, CancellationToken::new())
            .await
            .unwrap();
        assert!(o.status.is_success());
        assert_eq!(o.usage.input_tokens, 20);
        assert_eq!(o.cost.map(|c| c.usd), Some(1.0));
        assert_eq!(chain.name(), "b");
        assert!(matches!(rx.try_recv(), Ok(AgentEvent::Retry { .. })));
    }

    #[tokio::test]
    async fn ordinary_failures_do_not_fall_back() {
        let failed = OutcomeStatus::Failed {
            kind: FailureKind::ExitCode,
            api_status: None,
        };
        let chain = FallbackAgent::new(vec![
            Box::new(Fixed("a", failed.clone())),
            Box::new(Fixed("b", OutcomeStatus::Success)),
        ]);
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let o = chain
            .run(request(), tx, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(o.status, failed);
        assert_eq!(chain.name(), "a");
    }

    #[tokio::test]
    async fn the_last_agent_s_limit_is_reported_as_is() {
        let limited = OutcomeStatus::RateLimited {
            reset_at_unix: Some(5),
        };
        let chain = FallbackAgent::new(vec![Box::new(Fixed("a", limited.clone()))]);
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let o = chain
            .run(request(), tx, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(o.status, limited);
    }
}
