//! `ralph run`: resolve settings, check the inputs, build the agent and the engine, run, and map the stop
//! reason to an exit code.

use crate::cli::RunArgs;
use crate::exit_codes;
use crate::git;
use crate::health::{Bounds, HeartbeatObserver};
use crate::metrics::{self, LimitValues, Metrics};
use crate::notify;
use crate::output::Terminal;
use crate::redact::{RedactingStore, Redactor};
use crate::settings::{self, LogFormat, RunSettings};
use ralph_agents::{AgentSettings, ProcessRegistry};
use ralph_core::prompt::{PromptSource, PromptTemplate};
use ralph_core::state::FileStateStore;
use ralph_core::{Engine, EngineConfig, Limits, Signal, StateStore, StopHandle, StopReason};
use std::sync::{Arc, Mutex};

/// Runs `ralph run` with `args`; returns the exit code.
pub async fn run(args: RunArgs) -> u8 {
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => return usage_error(&format!("cannot read the current directory: {e}")),
    };
    let settings = match settings::resolve(&args, &|k| std::env::var(k).ok(), &cwd) {
        Ok(s) => s,
        Err(e) => return usage_error(&e.to_string()),
    };
    init_logging(&settings);
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    for w in settings::unknown_env_vars(names.iter().map(String::as_str)) {
        tracing::warn!("{w}");
    }
    if let Some((var, path)) = crate::doctor::unreadable_key_files().into_iter().next() {
        return usage_error(&format!(
            "{var}={path}: the key file cannot be read; point {var} at a readable file holding the key (an empty file counts as no key)"
        ));
    }

    let prompt = match &settings.prompt_text {
        Some(t) => PromptSource::Text(t.clone()),
        None => PromptSource::File(settings.prompt_file.clone()),
    };
    let loaded = prompt.load();
    if loaded
        .as_deref()
        .is_ok_and(|t| t.contains(crate::init::TEMPLATE_PLACEHOLDER))
    {
        tracing::warn!(
            "the prompt is still the `ralph init` template: describe your task in it first"
        );
    }
    let prompt_problem = loaded.err().map(|e| e.to_string());
    let agent_settings = agent_settings(&settings);
    let agent = ralph_agents::build_chain(&agent_settings);

    if settings.dry_run {
        let redactor = Redactor::for_run(&agent_settings);
        return crate::plan::print(
            &settings,
            &prompt,
            &agent_settings,
            agent.as_ref().map(|a| &**a),
            prompt_problem.as_deref(),
            &redactor,
        )
        .await;
    }
    if let Some(p) = prompt_problem {
        return usage_error(&p);
    }
    let agent = match agent {
        Ok(a) => a,
        Err(e) => return usage_error(&e.to_string()),
    };
    if let Err(e) = agent.preflight().await {
        return usage_error(&e.to_string());
    }
    let store = match FileStateStore::open(&settings.state_dir) {
        Ok(s) => s.with_keep_transcripts(settings.keep_transcripts),
        Err(e) => return usage_error(&format!("{e}; pass --state-dir to a writable directory")),
    };

    // Taken here rather than by the engine: the agents left behind by an earlier ralph are killed under
    // it, before the run starts. The engine holds it for the run and releases it at the end.
    let lock = match store.lock(&settings.workspace) {
        Ok(Some(lock)) => {
            if let Some(pid) = lock.stale_pid {
                tracing::warn!(
                    "took over the run lock left by process {pid}, which is no longer running"
                );
            }
            Some(lock)
        }
        Ok(None) => None,
        Err(e) => return usage_error(&e.to_string()),
    };
    // The agents' processes: marked with the state directory, their groups recorded in it, and whatever
    // leaves a group adopted by ralph and killed after its iteration (see `ralph_agents::reaper`).
    let processes = ProcessRegistry::recording_in(store.dir());
    if let Err(e) = processes.adopt_orphans() {
        tracing::debug!(error = %e, "cannot become a child subreaper");
    }
    let left = processes.kill_left_behind().await;
    if left.marked > 0 {
        tracing::warn!(
            "killed {} agent process(es) left running by an earlier ralph that was killed",
            left.marked
        );
    }
    for pgid in left.groups {
        tracing::warn!(
            "killed process group {pgid}, an agent left running by an earlier ralph that was killed"
        );
    }

    let heartbeat = HeartbeatObserver::new(
        store.dir(),
        Bounds {
            iteration_timeout: settings.iteration_timeout,
            idle_timeout: settings.idle_timeout,
        },
    );
    let metrics = if settings.enable_metrics {
        match start_metrics(&settings, store.dir(), heartbeat.shared()) {
            Ok(m) => Some(m),
            Err(e) => return usage_error(&e),
        }
    } else {
        None
    };

    let checkpointer = match git::checkpointer(&settings) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };

    let config = engine_config(&settings, prompt);
    let store_dir = store.dir().to_path_buf();
    let redactor = Arc::new(Redactor::for_run(&agent_settings));
    let (notifier, notifications) = notify::Notifier::new(&settings, redactor.clone());
    let engine = Engine::new(config, agent)
        .with_observer(Box::new(Mutex::new(notifier)))
        .with_checkpointer(checkpointer)
        .with_state_store(Box::new(RedactingStore::new(store, redactor.clone())))
        .with_observer(Box::new(Mutex::new(heartbeat)))
        .with_observer(Box::new(Mutex::new(
            Terminal::new(
                settings.log_format,
                settings.verbose,
                settings.max_iterations,
            )
            .with_redactor(redactor.clone())
            .with_state_dir(&store_dir),
        )));
    let engine = if settings.stall_iterations > 0 {
        engine
            .with_fingerprint(Box::new(crate::fingerprint::WorkspaceFingerprint::new(
                settings.state_dir.clone(),
                !settings.no_git,
            )))
            .with_policy(Box::new(ralph_core::StallDetection(
                settings.stall_iterations,
            )))
    } else {
        engine
    };
    let engine = if settings.loop_detection > 0 {
        engine.with_policy(Box::new(ralph_core::LoopDetection::new(
            settings.loop_detection,
        )))
    } else {
        engine
    };
    let engine = match &settings.verify {
        Some(cmd) => engine.with_verifier(Box::new(crate::redact::RedactingVerifier::new(
            ralph_agents::ShellVerifier::new(cmd),
            redactor.clone(),
        ))),
        None => engine,
    };
    let engine = match metrics {
        Some(m) => engine.with_observer(Box::new(Mutex::new(m))),
        None => engine,
    };
    let engine = match lock {
        Some(lock) => engine.with_run_lock(lock),
        None => engine,
    };
    let stop = StopHandle::new();
    let signals = tokio::spawn(watch_signals(stop.clone(), processes.clone()));
    let summary = processes.scope(engine.run(stop)).await;
    // Still under the signal watcher: a second Ctrl-C while notifications are sent exits at once.
    notifications.finish().await;
    signals.abort();
    exit_codes::for_stop(&summary.reason)
}

/// Binds the metrics endpoint (a failure is a usage error naming the setting) and starts serving it.
fn start_metrics(
    s: &RunSettings,
    state_dir: &std::path::Path,
    heartbeat: crate::health::SharedHeartbeat,
) -> Result<Metrics, String> {
    let addr = s
        .metrics_addr
        .parse()
        .map_err(|_| format!("metrics address `{}` is not an IP address", s.metrics_addr))?;
    let listener = metrics::server::bind(
        addr,
        s.metrics_port,
        &s.source_of("metrics_addr"),
        &s.source_of("metrics_port"),
    )?;
    let limits = LimitValues {
        iterations: s.max_iterations,
        runtime_secs: s.max_runtime.map(|d| d.as_secs_f64()),
        tokens: s.max_tokens,
        cost_usd: s.max_cost,
        max_retries: s.max_retries,
    };
    let (observer, registry) = Metrics::new(state_dir, limits);
    metrics::server::serve(listener, registry, heartbeat)
        .map_err(|e| format!("cannot serve metrics: {e}"))?;
    tracing::info!(
        "serving metrics on http://{}/metrics",
        std::net::SocketAddr::new(addr, s.metrics_port)
    );
    Ok(observer)
}

fn usage_error(message: &str) -> u8 {
    eprintln!("ralph: error: {message}");
    exit_codes::USAGE
}

/// The settings of each agent named by `--agent` (one, or a comma list = fallback chain): the name,
/// `adapters.<name>` from the config file, and the arguments after `--` (given to the first agent only:
/// per-agent arguments of a chain belong in `adapters.<name>.args`). `auto` becomes the first supported
/// agent, in priority order, that is not disabled in `ralph.yml` and whose program (or configured
/// command) is installed.
pub(crate) fn agent_settings(s: &RunSettings) -> Vec<AgentSettings> {
    s.agent
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .enumerate()
        .map(|(i, name)| {
            let name = if name == ralph_agents::AUTO {
                auto_agent(s).unwrap_or(name)
            } else {
                name
            };
            let adapter = s.adapters.get(name).cloned().unwrap_or_default();
            let mut args = adapter.args.clone();
            let mut command = adapter.command.as_ref().map(|c| c.argv());
            let extra = if i == 0 {
                s.agent_args.clone()
            } else {
                Vec::new()
            };
            if name == "command" && command.is_none() && !extra.is_empty() {
                // For the generic command agent the arguments after `--` are the command itself.
                command = Some(extra);
            } else {
                args.extend(extra);
            }
            AgentSettings {
                name: name.to_string(),
                command,
                args,
                model: adapter.model.clone(),
                env: adapter.env.clone(),
                enabled: adapter.enabled.unwrap_or(true),
                ..AgentSettings::default()
            }
        })
        .collect()
}

/// The agent `auto` stands for, honouring `adapters.<name>.enabled` and `adapters.<name>.command`. When
/// only disabled agents are installed, the first of them (its build then fails naming it as disabled)
/// rather than letting `auto` pick it.
fn auto_agent(s: &RunSettings) -> Option<&'static str> {
    let enabled = |a: &&ralph_agents::KnownAgent| {
        s.adapters.get(a.name).and_then(|ad| ad.enabled) != Some(false)
    };
    let installed = |a: &&ralph_agents::KnownAgent| {
        let program = s
            .adapters
            .get(a.name)
            .and_then(|ad| ad.command.as_ref())
            .and_then(|c| c.argv().first().cloned())
            .unwrap_or_else(|| a.program.to_string());
        ralph_agents::resolve_program(&program).is_some()
    };
    let supported = || ralph_agents::KNOWN_AGENTS.iter().filter(|a| a.supported);
    supported()
        .filter(enabled)
        .find(installed)
        .or_else(|| supported().find(installed))
        .map(|a| a.name)
}

fn engine_config(s: &RunSettings, prompt: PromptSource) -> EngineConfig {
    let mut c = EngineConfig::new(prompt, s.workspace.clone());
    c.state_dir = s.state_dir.clone();
    c.completion_promise = s.completion_promise.clone();
    c.min_iterations = s.min_iterations;
    c.limits = Limits {
        max_iterations: s.max_iterations,
        max_runtime: s.max_runtime,
        max_tokens: s.max_tokens,
        max_cost_usd: s.max_cost,
        max_retries: s.max_retries,
    };
    c.retry_delay = s.retry_delay;
    // Validated in `settings::resolve`.
    let adapter_timeout = s
        .adapters
        .get(&s.agent)
        .and_then(|a| a.timeout)
        .and_then(crate::settings::parse::duration_from_secs);
    c.iteration_timeout = adapter_timeout.or(s.iteration_timeout);
    c.idle_timeout = s.idle_timeout;
    c.rate_limit_fallback_wait = s.rate_limit_wait;
    c.checkpoint_interval = if s.no_git { 0 } else { s.checkpoint_interval };
    c.fresh = s.fresh;
    let scratchpad = s
        .state_dir
        .strip_prefix(&s.workspace)
        .map(|p| p.join("scratchpad.md").display().to_string())
        .unwrap_or_else(|_| s.state_dir.join("scratchpad.md").display().to_string());
    c.template = PromptTemplate {
        preamble: if s.no_preamble {
            None
        } else {
            PromptTemplate::default().preamble
        },
        scratchpad,
    };
    c
}

/// A signal that repeats the first stop's signal within this time counts as the same stop: no person
/// presses Ctrl-C twice that fast, but `timeout` and other supervisors deliver their signal twice (to
/// ralph, then to its process group) and expect the graceful stop.
const DUPLICATE_SIGNAL_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// Turns SIGINT, SIGTERM and SIGHUP into a graceful stop; a second one kills the agents' groups in
/// `processes` (and the processes carrying their marker) and exits at once.
async fn watch_signals(stop: StopHandle, processes: ProcessRegistry) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot install signal handlers; Ctrl-C will stop ralph at once");
        return;
    };
    // `nohup ralph run &`: a hangup the user asked to ignore stays ignored.
    let mut hup = if hangup_ignored() {
        None
    } else {
        signal(SignalKind::hangup()).ok()
    };
    let mut hangup = async || match hup.as_mut() {
        Some(h) => {
            h.recv().await;
        }
        None => std::future::pending::<()>().await,
    };
    let mut count = 0;
    let mut first: Option<(Signal, std::time::Instant)> = None;
    loop {
        let signal = tokio::select! {
            _ = int.recv() => Signal::Int,
            _ = term.recv() => Signal::Term,
            // A closed terminal or a dropped SSH session: the agent runs in its own process group and
            // would never see the hangup, so stop it as for SIGTERM.
            _ = hangup() => Signal::Hup,
        };
        // The same signal again at once is one stop sent twice, not a second request: `timeout` sends
        // its signal to ralph and then to ralph's whole process group, ralph included.
        if let Some((sig, at)) = first
            && sig == signal
            && at.elapsed() < DUPLICATE_SIGNAL_WINDOW
        {
            continue;
        }
        count += 1;
        if count == 1 {
            first = Some((signal, std::time::Instant::now()));
            crate::status_line::eprintln(&format!(
                "ralph: {signal} received: stopping the agent, saving state (again to stop at once)"
            ));
            stop.stop(StopReason::Interrupted { signal });
        } else {
            crate::status_line::clear();
            eprintln!("ralph: {signal} received again: stopping now");
            processes.kill_all_and_marked();
            std::process::exit(i32::from(exit_codes::for_signal(signal)));
        }
    }
}

/// True when ralph was started with SIGHUP ignored (`nohup`), read from `SigIgn` in `/proc/self/status`.
fn hangup_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        // Signal n is bit n - 1; SIGHUP is 1.
        .is_some_and(|mask| mask & 1 == 1)
}

fn init_logging(s: &RunSettings) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&s.log_level).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::status_line::stderr_writer)
        .with_ansi(crate::status_line::stderr_colors())
        .with_target(false);
    let _ = match s.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.without_time().try_init(),
    };
}
