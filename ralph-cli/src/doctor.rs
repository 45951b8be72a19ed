//! `ralph agents` (which agent CLIs are installed, their versions, whether a key is set) and `ralph doctor`
//! (everything a run needs, each problem with its fix).

use crate::cli::RunArgs;
use crate::exit_codes;
use crate::settings;
use ralph_agents::{KNOWN_AGENTS, KnownAgent, resolve_key, resolve_program};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a `--version` probe may take before it is abandoned.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One agent CLI as `ralph agents` reports it.
#[derive(Debug, Serialize)]
pub struct AgentReport {
    /// `--agent` name.
    pub name: &'static str,
    /// Whether ralph has an adapter for it.
    pub supported: bool,
    /// Path of the program, when installed.
    pub path: Option<PathBuf>,
    /// First line of `PROGRAM --version`, when it answered.
    pub version: Option<String>,
    /// The key variable that is set, if any (its value is never shown).
    pub key: Option<&'static str>,
    /// How to install it.
    pub install: &'static str,
}

fn report(agent: &KnownAgent, program: &str, env: &dyn Fn(&str) -> Option<String>) -> AgentReport {
    let path = resolve_program(program);
    let version = path.as_deref().and_then(probe_version);
    let key = agent
        .key_names()
        .into_iter()
        .find(|k| resolve_key(k, env).is_some());
    AgentReport {
        name: agent.name,
        supported: agent.supported,
        path,
        version,
        key,
        install: agent.install,
    }
}

/// Runs `program --version` with stdin closed and a timeout; the first non-empty output line.
fn probe_version(program: &Path) -> Option<String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if began.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    out.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// `ralph agents [--json]`: every known agent CLI in `auto` priority order.
pub fn agents(json: bool) -> u8 {
    let reports: Vec<AgentReport> = KNOWN_AGENTS
        .iter()
        .map(|a| report(a, a.program, &env))
        .collect();
    if json {
        crate::say!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
        return exit_codes::COMPLETED;
    }
    crate::say!(
        "{:<10} {:<10} {:<28} {:<18} key",
        "agent",
        "adapter",
        "version",
        "installed"
    );
    for r in &reports {
        let installed = if r.path.is_some() { "yes" } else { "no" };
        crate::say!(
            "{:<10} {:<10} {:<28} {:<18} {}",
            r.name,
            if r.supported { "yes" } else { "not yet" },
            r.version.as_deref().unwrap_or("-"),
            installed,
            r.key.unwrap_or("-")
        );
    }
    let missing: Vec<String> = reports
        .iter()
        .filter(|r| r.path.is_none() && r.supported)
        .map(|r| format!("  {}: {}", r.name, r.install))
        .collect();
    if !missing.is_empty() {
        crate::say!("\nto install:\n{}", missing.join("\n"));
    }
    exit_codes::COMPLETED
}

/// One check of `ralph doctor`.
#[derive(Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `ok`, `warn` or `error`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// How to fix it, for `warn` and `error`.
    pub fix: Option<String>,
}

fn check(
    name: impl Into<String>,
    status: &'static str,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
        fix,
    }
}

/// `ralph doctor [--json] [run options]`: config, prompt, agents, keys, git, state dir. Exit 0 when
/// nothing is an error, 1 otherwise.
pub fn doctor(args: &RunArgs, json: bool) -> u8 {
    let checks = run_checks(args);
    let errors = checks.iter().filter(|c| c.status == "error").count();
    if json {
        crate::say!(
            "{}",
            serde_json::to_string_pretty(&checks).unwrap_or_default()
        );
    } else {
        for c in &checks {
            let mark = match c.status {
                "ok" => "ok   ",
                "warn" => "warn ",
                _ => "ERROR",
            };
            crate::say!("{mark} {:<14} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                crate::say!("      {:<14} fix: {fix}", "");
            }
        }
        crate::say!(
            "{}",
            if errors == 0 {
                "ready to run"
            } else {
                "not ready: fix the errors above"
            }
        );
    }
    if errors == 0 {
        exit_codes::COMPLETED
    } else {
        exit_codes::FAILED
    }
}

fn run_checks(args: &RunArgs) -> Vec<Check> {
    let mut checks = Vec::new();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let s = match settings::resolve(args, &env, &cwd) {
        Ok(s) => {
            let source = s
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "defaults".into());
            checks.push(check("config", "ok", format!("valid ({source})"), None));
            s
        }
        Err(e) => {
            checks.push(check(
                "config",
                "error",
                e.to_string(),
                Some("correct the value named above".into()),
            ));
            return checks;
        }
    };
    match &s.prompt_text {
        Some(_) => checks.push(check("prompt", "ok", "inline --prompt-text", None)),
        None => match ralph_core::prompt::PromptSource::File(s.prompt_file.clone()).load() {
            Ok(t) => checks.push(check(
                "prompt",
                "ok",
                format!("{} ({} bytes)", s.prompt_file.display(), t.len()),
                None,
            )),
            Err(e) => checks.push(check(
                "prompt",
                "error",
                e.to_string(),
                Some("`ralph init` writes a template".into()),
            )),
        },
    }
    // The same path as `ralph run`: adapter settings, `auto`, chains, then the agent's own preflight.
    let members = crate::run::agent_settings(&s);
    let built = ralph_agents::build_chain(&members);
    let preflight = built.as_ref().ok().map(|agent| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(agent.preflight()))
    });
    match (&built, preflight) {
        (Err(e), _) => checks.push(check(
            format!("agent {}", s.agent),
            "error",
            e.to_string(),
            Some(fix_for(&e.to_string())),
        )),
        (Ok(_), Some(Ok(Err(e)))) => checks.push(check(
            format!("agent {}", s.agent),
            "error",
            e.to_string(),
            Some(fix_for(&e.to_string())),
        )),
        _ => {}
    }
    for m in &members {
        let label = format!("agent {}", m.name);
        if let Some(a) = KNOWN_AGENTS.iter().find(|a| a.name == m.name) {
            let program = m
                .command
                .as_ref()
                .and_then(|c| c.first().cloned())
                .unwrap_or_else(|| a.program.to_string());
            let r = report(a, &program, &env);
            if built.is_ok()
                && let Some(p) = &r.path
            {
                let version = r.version.as_deref().unwrap_or("version unknown");
                checks.push(check(
                    label.clone(),
                    "ok",
                    format!("{} ({version})", p.display()),
                    None,
                ));
            }
            key_check(&mut checks, a, &r);
        } else if m.name == "command" && built.is_ok() {
            checks.push(command_check(&s));
        }
    }
    checks.push(git_check(&s.workspace, s.no_git));
    checks.push(state_dir_check(&s.state_dir));
    checks
}

/// The fix to show for an agent error: the install command when the message names one.
fn fix_for(message: &str) -> String {
    match message
        .split("install it with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    {
        Some(install) => install.to_string(),
        None => "see the message; `ralph agents` lists what is installed".into(),
    }
}

/// `NAME_FILE` variables of the API keys that are set but point at nothing readable (or an empty file):
/// `(variable, path)`.
pub fn unreadable_key_files() -> Vec<(String, String)> {
    ralph_agents::registry::key_vars()
        .iter()
        .map(|v| format!("{v}_FILE"))
        .filter_map(|var| {
            let path = std::env::var_os(&var)?;
            // An empty file is no key (a secret that must exist for Compose or Kubernetes, left empty);
            // a file that cannot be read is a mistake.
            let ok = std::fs::read_to_string(&path).is_ok();
            (!ok).then(|| (var, std::path::Path::new(&path).display().to_string()))
        })
        .collect()
}

/// Whether a key variable of `agent` is set and readable (a `NAME_FILE` that cannot be read is an error).
fn key_check(checks: &mut Vec<Check>, agent: &KnownAgent, r: &AgentReport) {
    let vars = agent.key_names();
    for var in &vars {
        let file_var = format!("{var}_FILE");
        if let Some(path) = std::env::var_os(&file_var) {
            let readable = std::fs::read_to_string(&path).is_ok();
            if !readable {
                checks.push(check(
                    format!("key {}", agent.name),
                    "error",
                    format!(
                        "{file_var}={} cannot be read",
                        std::path::Path::new(&path).display()
                    ),
                    Some(format!(
                        "point {file_var} at a readable file holding the key"
                    )),
                ));
                return;
            }
        }
    }
    match r.key {
        Some(k) => checks.push(check(
            format!("key {}", agent.name),
            "ok",
            format!("{k} is set"),
            None,
        )),
        None if !vars.is_empty() => checks.push(check(
            format!("key {}", agent.name),
            "warn",
            format!(
                "{} not set (fine if the CLI is logged in by itself)",
                vars.join(" or ")
            ),
            Some(format!(
                "export {}=... (or {}_FILE=/run/secrets/...)",
                vars[0], vars[0]
            )),
        )),
        None => {}
    }
}

/// The `command` agent's program: from `adapters.command.command`, else the arguments after `--`.
fn command_check(s: &settings::RunSettings) -> Check {
    let argv = s
        .adapters
        .get("command")
        .and_then(|a| a.command.as_ref())
        .map(|c| c.argv())
        .unwrap_or_else(|| s.agent_args.clone());
    match argv.first() {
        None => check(
            "agent command",
            "error",
            "no command given",
            Some("pass it after `--` (`ralph --agent command -- my-agent --flag`) or set adapters.command.command".into()),
        ),
        Some(program) => match resolve_program(program) {
            Some(p) => check("agent command", "ok", format!("runs {}", p.display()), None),
            None => check(
                "agent command",
                "error",
                format!("`{program}` was not found in PATH or is not executable"),
                Some("check the command's path, or add it to PATH".into()),
            ),
        },
    }
}

/// Whether the workspace is in a git repository, and whether a stale `index.lock` blocks checkpoints.
fn git_check(workspace: &Path, no_git: bool) -> Check {
    if no_git {
        return check("git", "ok", "checkpoints disabled (--no-git)", None);
    }
    let repo = workspace.ancestors().find(|d| d.join(".git").exists());
    if let Some(lock) = crate::git::index_lock(workspace) {
        return check(
            "git",
            "warn",
            format!(
                "{} exists: checkpoints are skipped while it does",
                lock.display()
            ),
            Some(format!(
                "if no git process is running, rm {}",
                lock.display()
            )),
        );
    }
    match repo {
        Some(r) => check("git", "ok", format!("repository at {}", r.display()), None),
        None => check(
            "git",
            "warn",
            format!(
                "{} is not in a git repository: no checkpoints",
                workspace.display()
            ),
            Some("`git init` (or run with --no-git)".into()),
        ),
    }
}

fn state_dir_check(dir: &Path) -> Check {
    let probe_in = if dir.exists() {
        dir.to_path_buf()
    } else {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let probe = probe_in.join(format!(".ralph-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            check(
                "state dir",
                "ok",
                format!("{} is writable", dir.display()),
                None,
            )
        }
        Err(e) => check(
            "state dir",
            "error",
            format!("cannot write in {}: {e}", probe_in.display()),
            Some("pass --state-dir to a writable directory".into()),
        ),
    }
}
