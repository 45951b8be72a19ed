//! `ralph run --dry-run`: the plan of a run, and nothing executed.
//!
//! The plan shows the agent (each agent of a fallback chain) with its argv shell-quoted and secrets
//! masked, every resolved setting with its value and where it came from (flag, environment variable,
//! `file:line`, or default), the paths, and which API keys are set (never their values). It needs no API
//! key and no agent installed.
//!
//! The rule for its exit code: invalid settings stop before a plan exists (exit 2, as for `ralph run`);
//! once the settings resolve, the plan is printed and the exit code is 0. Whatever `ralph run` would
//! refuse (a missing prompt file, an agent CLI that is not installed, for every form of `--agent`:
//! a name, `auto`, a chain) is listed under `problems` in the plan, with its fix.

use crate::redact::Redactor;
use crate::settings::{LogFormat, RunSettings, SETTINGS};
use ralph_agents::AgentSettings;
use ralph_core::Agent;
use ralph_core::prompt::PromptSource;
use std::time::Duration;

/// Everything `ralph run` would refuse, found while making the plan.
#[derive(Debug, Default)]
pub struct Problems(Vec<(String, String)>);

impl Problems {
    /// Adds `problem` about `what`.
    pub fn add(&mut self, what: impl Into<String>, problem: impl Into<String>) {
        self.0.push((what.into(), problem.into()));
    }
}

/// Prints the plan to stdout; returns the exit code (0: see the module docs).
pub async fn print(
    s: &RunSettings,
    prompt: &PromptSource,
    agent_settings: &[AgentSettings],
    agent: Result<&dyn Agent, &ralph_agents::Error>,
    prompt_problem: Option<&str>,
    redactor: &Redactor,
) -> u8 {
    let mut problems = Problems::default();
    let mut out = String::from("ralph dry run: nothing will be executed\n");
    let line = |out: &mut String, k: &str, v: &str| out.push_str(&format!("  {k:<22} {v}\n"));
    match agent {
        Ok(a) => {
            if let Err(e) = a.preflight().await {
                problems.add("agent", e.to_string());
            }
            for (i, a) in agent_settings.iter().enumerate() {
                let (k1, k2) = if i == 0 {
                    ("agent", "argv")
                } else {
                    ("fallback agent", "fallback argv")
                };
                line(&mut out, k1, &ralph_agents::describe(a));
                let argv = ralph_agents::dry_run_argv(a);
                line(&mut out, k2, &shell_quote(&argv));
            }
        }
        Err(e) => {
            line(&mut out, "agent", &s.agent);
            problems.add("agent", e.to_string());
        }
    }
    let prompt_desc = match prompt {
        PromptSource::Text(t) => format!("inline text, {} bytes", t.len()),
        PromptSource::File(f) => match std::fs::metadata(f) {
            Ok(m) => format!("{} ({} bytes)", f.display(), m.len()),
            Err(_) => f.display().to_string(),
        },
        other => other.describe(),
    };
    line(&mut out, "prompt", &prompt_desc);
    if let Some(p) = prompt_problem {
        problems.add("prompt", p);
    }
    line(&mut out, "workspace", &s.workspace.display().to_string());
    line(&mut out, "state dir", &s.state_dir.display().to_string());
    let config = s
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none".into());
    line(&mut out, "config file", &config);
    let preamble = if s.no_preamble {
        "off: the prompt is sent exactly as written"
    } else {
        "on: ralph's loop instructions, then the prompt unchanged"
    };
    line(&mut out, "preamble", preamble);
    line(&mut out, "checkpoints", &checkpoint_mode(s));
    let metrics = if s.enable_metrics {
        match s.metrics_addr.parse::<std::net::IpAddr>() {
            Ok(ip) => format!(
                "http://{}/metrics and /healthz",
                std::net::SocketAddr::new(ip, s.metrics_port)
            ),
            Err(_) => format!("{}:{}", s.metrics_addr, s.metrics_port),
        }
    } else {
        "off".into()
    };
    line(&mut out, "metrics", &metrics);
    if s.enable_metrics
        && let Ok(ip) = s.metrics_addr.parse()
        && let Err(e) = crate::metrics::server::bind(
            ip,
            s.metrics_port,
            &s.source_of("metrics_addr"),
            &s.source_of("metrics_port"),
        )
    {
        problems.add("metrics", e);
    }
    if let Some(p) = unwritable(&s.state_dir) {
        problems.add(
            "state dir",
            format!(
                "{} is not writable; pass --state-dir to a writable directory",
                p.display()
            ),
        );
    }
    line(
        &mut out,
        "notify",
        &crate::notify::describe_targets(&s.notify),
    );
    line(
        &mut out,
        "api keys",
        &ralph_agents::describe_keys(&|k| std::env::var(k).ok()),
    );
    out.push_str("settings (value, then where it came from):\n");
    for setting in SETTINGS {
        let source = s
            .sources
            .get(setting.key)
            .map(|src| src.to_string())
            .unwrap_or_else(|| "default".into());
        out.push_str(&format!(
            "  {:<22} {:<28} {source}\n",
            setting.key,
            value(s, setting.key)
        ));
    }
    if problems.0.is_empty() {
        out.push_str("problems: none\n");
    } else {
        out.push_str("problems (`ralph run` would refuse to start):\n");
        for (what, p) in &problems.0 {
            out.push_str(&format!("  {what}: {p}\n"));
        }
    }
    crate::say!("{}", redactor.text(out.trim_end()));
    crate::exit_codes::COMPLETED
}

/// The state directory, or its nearest existing ancestor when it does not exist yet, if ralph could not
/// write there (checked without creating anything).
fn unwritable(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK)
        .is_err()
        .then(|| existing.to_path_buf())
}

/// `argv` as a shell would need it typed (`sh -c 'echo hi'`); the placeholder `<prompt>` (where an
/// agent takes the prompt as an argument) stays as it is.
pub fn shell_quote(argv: &[String]) -> String {
    argv.iter()
        .map(|a| match a.as_str() {
            "<prompt>" => a.clone(),
            _ => shlex::try_quote(a)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| a.clone()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn checkpoint_mode(s: &RunSettings) -> String {
    if s.no_git || s.checkpoint_interval == 0 {
        return "off".into();
    }
    let target = if s.checkpoint_ref {
        "to refs/ralph/checkpoints/<run> (branch untouched)"
    } else {
        "on the current branch"
    };
    let init = if s.git_init {
        ", creating a repository if there is none"
    } else {
        ""
    };
    format!(
        "every {} iterations and at the end, {target}{init}",
        s.checkpoint_interval
    )
}

/// The resolved value of the setting `key`, as text.
fn value(s: &RunSettings, key: &str) -> String {
    let limit = |v: Option<String>| v.unwrap_or_else(|| "0 (no limit)".into());
    let secs = |d: Option<Duration>| limit(d.map(|d| format!("{} s", d.as_secs_f64())));
    match key {
        "agent" => s.agent.clone(),
        "prompt_file" => s.prompt_file.display().to_string(),
        "prompt_text" => s
            .prompt_text
            .as_ref()
            .map(|t| format!("{} bytes", t.len()))
            .unwrap_or_else(|| "none".into()),
        "max_iterations" => limit(s.max_iterations.map(|n| n.to_string())),
        "max_runtime" => secs(s.max_runtime),
        "max_tokens" => limit(s.max_tokens.map(|n| n.to_string())),
        "max_cost" => limit(s.max_cost.map(|c| format!("${c:.2}"))),
        "checkpoint_interval" => s.checkpoint_interval.to_string(),
        "no_git" => s.no_git.to_string(),
        "checkpoint_ref" => s.checkpoint_ref.to_string(),
        "git_init" => s.git_init.to_string(),
        "completion_promise" if s.completion_promise.is_empty() => "(empty: disabled)".into(),
        "completion_promise" => s.completion_promise.clone(),
        "min_iterations" => s.min_iterations.to_string(),
        "verify" => match &s.verify {
            Some(cmd) => format!("sh -c {}", shell_quote(std::slice::from_ref(cmd))),
            None => "none (a completion claim is accepted as is)".into(),
        },
        "retry_delay" => format!("{} s", s.retry_delay.as_secs_f64()),
        "max_retries" => s.max_retries.to_string(),
        "iteration_timeout" => secs(s.iteration_timeout),
        "idle_timeout" => secs(s.idle_timeout),
        "stall_iterations" if s.stall_iterations == 0 => "0 (off)".into(),
        "stall_iterations" => format!(
            "stop after {} unchanged successful iterations in a row",
            s.stall_iterations
        ),
        "loop_detection" if s.loop_detection == 0 => "0 (off)".into(),
        "loop_detection" => format!(
            "stop after {} near-identical answers in a row",
            s.loop_detection
        ),
        "rate_limit_wait" => format!(
            "{} s (doubles per limit in a row, max 1800 s)",
            s.rate_limit_wait.as_secs_f64()
        ),
        "verbose" => s.verbose.to_string(),
        "dry_run" => s.dry_run.to_string(),
        "fresh" => s.fresh.to_string(),
        "no_preamble" => s.no_preamble.to_string(),
        "enable_metrics" => s.enable_metrics.to_string(),
        "metrics_port" => s.metrics_port.to_string(),
        "metrics_addr" => s.metrics_addr.clone(),
        "log_level" => s.log_level.clone(),
        "log_format" => match s.log_format {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        },
        "keep_transcripts" => match s.keep_transcripts {
            None => "all".into(),
            Some(n) => format!("last {n} iterations"),
        },
        "state_dir" => s.state_dir.display().to_string(),
        "workspace" => s.workspace.display().to_string(),
        "notify" => crate::notify::describe_targets(&s.notify),
        other => format!("(no display for {other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_shell_quoted() {
        let argv: Vec<String> = ["sh", "-c", "echo 'hi' there", "$HOME"]
            .map(String::from)
            .to_vec();
        assert_eq!(shell_quote(&argv), r#"sh -c "echo 'hi' there" '$HOME'"#);
    }

    #[test]
    fn every_setting_has_a_display() {
        let s = crate::settings::resolve(
            &crate::cli::RunArgs::default(),
            &|_| None,
            &std::env::temp_dir(),
        )
        .unwrap();
        for setting in SETTINGS {
            assert!(
                !value(&s, setting.key).starts_with("(no display"),
                "{}",
                setting.key
            );
        }
    }
}
