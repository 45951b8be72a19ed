//! [`CliOptions`]: the settings every agent-CLI adapter shares (program, model, extra arguments,
//! environment, grace period), with the refusal of arguments ralph cannot allow and the [`ProcessSpec`]
//! glue of a run.

use crate::error::Error;
use crate::process::ProcessSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why an argument is refused, or `None` to allow it: called with each argument and the one after it.
pub(crate) type Refusal<'a> = &'a dyn Fn(&str, Option<&str>) -> Option<&'static str>;

/// The options a [`CliAgent`](crate::CliAgent)'s `with_*` methods set; each dialect adds its agent's
/// fixed flags around them.
#[derive(Debug, Clone)]
pub struct CliOptions {
    /// Program and leading arguments (e.g. `["claude"]`, or `["npx", "claude"]` from
    /// `adapters.<name>.command`).
    pub command: Vec<String>,
    /// The model passed with the adapter's model flag, if any.
    pub model: Option<String>,
    /// Arguments after ralph's `--`, appended after the adapter's flags.
    pub extra_args: Vec<String>,
    /// Configured environment variables, which win over the adapter's own additions.
    pub env: BTreeMap<String, String>,
    /// Time between SIGTERM and SIGKILL when the run is stopped.
    pub grace: Duration,
}

impl CliOptions {
    /// `program` from `PATH`, default model, no extra arguments or variables, the default grace period.
    pub(crate) fn new(program: &str) -> Self {
        CliOptions {
            command: vec![program.to_string()],
            model: None,
            extra_args: Vec::new(),
            env: BTreeMap::new(),
            grace: crate::process::DEFAULT_GRACE,
        }
    }

    /// Replaces the program and leading arguments; an empty `command` keeps the current one.
    pub(crate) fn set_command(&mut self, command: Vec<String>) {
        if !command.is_empty() {
            self.command = command;
        }
    }

    /// Takes the program, model, environment and grace period from `settings` (the arguments go through
    /// the adapter's `with_args`, which refuses some).
    pub(crate) fn apply_settings(&mut self, settings: &crate::AgentSettings) {
        self.set_command(settings.command.clone().unwrap_or_default());
        self.model = settings.model.clone();
        self.env = settings.env.clone();
        self.grace = settings.grace;
    }

    /// Sets the extra arguments unless `refusal` gives a reason to refuse one of them.
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] for `agent`, saying "`ARG` is not allowed: REASON" for the first refused
    /// argument.
    pub(crate) fn set_args(
        &mut self,
        agent: &str,
        args: Vec<String>,
        refusal: Refusal<'_>,
    ) -> Result<(), Error> {
        for (i, arg) in args.iter().enumerate() {
            if let Some(why) = refusal(arg, args.get(i + 1).map(String::as_str)) {
                return Err(Error::InvalidSettings {
                    agent: agent.into(),
                    message: format!("`{arg}` is not allowed: {why}"),
                });
            }
        }
        self.extra_args = args;
        Ok(())
    }

    /// The program, then the fixed flags of `spec`, then its model flag and the model when one is set
    /// (extra arguments not included).
    pub fn head(&self, spec: &crate::registry::AgentSpec) -> Vec<String> {
        let mut argv = self.command.clone();
        argv.extend(spec.fixed_args.iter().map(|s| s.to_string()));
        self.push_model(&mut argv, spec.model_flag);
        argv
    }

    /// [`CliOptions::head`], then the extra arguments.
    pub fn head_and_args(&self, spec: &crate::registry::AgentSpec) -> Vec<String> {
        let mut argv = self.head(spec);
        argv.extend(self.extra_args.iter().cloned());
        argv
    }

    /// Appends `model_flag M` to `argv` when a model is set.
    pub fn push_model(&self, argv: &mut Vec<String>, model_flag: &str) {
        if let Some(m) = &self.model {
            argv.push(model_flag.into());
            argv.push(m.clone());
        }
    }

    /// The variable `name` as the agent process sees it: the configured value, else ralph's own.
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }

    /// Checks that the program exists, as an agent's `preflight`.
    ///
    /// # Errors
    /// The program was not found (the message says how to `install` it).
    pub(crate) fn preflight(&self, agent: &str, install: &str) -> Result<(), ralph_core::Error> {
        crate::detect::check_program(agent, &self.command[0], install)
            .map(|_| ())
            .map_err(Into::into)
    }

    /// The process of a run of `argv` (program first) in `workspace`, shown as `display_argv`, with the
    /// environment additions `env` and this grace period; stdin is left to the caller.
    pub(crate) fn spec(
        &self,
        argv: &[String],
        workspace: &Path,
        display_argv: Vec<String>,
        env: BTreeMap<String, String>,
    ) -> ProcessSpec {
        let mut spec = ProcessSpec::new(PathBuf::from(&argv[0]), workspace);
        spec.args = argv[1..].to_vec();
        spec.display_argv = display_argv;
        spec.env = env;
        spec.grace = self.grace;
        spec
    }
}

/// The model named by `-m M`, `--model M` or `--model=M` in `args`, or by `F model=M` for a flag `F` of
/// `config_flags` (Codex's `-c model=M`); the last one wins.
pub(crate) fn model_in_args(args: &[String], config_flags: &[&str]) -> Option<String> {
    let mut found = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-m" || arg == "--model" {
            found = iter.next().cloned();
        } else if let Some(m) = arg.strip_prefix("--model=") {
            found = Some(m.to_string());
        } else if config_flags.contains(&arg.as_str())
            && let Some(m) = iter.next().and_then(|kv| kv.strip_prefix("model="))
        {
            found = Some(m.trim_matches(['"', '\'']).to_string());
        }
    }
    found.filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_arguments_name_the_agent_and_reason() {
        let mut opts = CliOptions::new("x");
        let err = opts
            .set_args("x", vec!["--a=1".into()], &|a, _| {
                a.starts_with("--a").then_some("no")
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::InvalidSettings {
                agent: "x".into(),
                message: "`--a=1` is not allowed: no".into()
            }
            .to_string()
        );
        opts.set_command(Vec::new());
        assert_eq!(opts.command, ["x"]);
    }
}
