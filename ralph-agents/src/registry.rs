//! The agent registry: one [`AgentSpec`] per agent CLI holds every fact about it that is data — program,
//! install hint, fixed flags, model flag, how the prompt is passed, refused arguments, key variables and
//! stream dialect. Detection (`--agent auto`), settings (`build`, `describe`, `dry_run_argv`), `ralph
//! doctor`, `ralph agents`, the environment builder of every adapter and the redaction of keys all read
//! it; what really differs between agents (event mapping, outcome rules, argv quirks) lives in each
//! agent's [`Dialect`](crate::cli_agent::Dialect).
//!
//! Adding an agent: a variant of [`AgentKind`] (the compiler then points at [`AgentKind::spec`] and the
//! one `match` in `settings.rs`), its [`AgentSpec`] in [`AGENTS`], a dialect module, and its recorded
//! fixtures under `tests/fixtures/<name>/`.

/// Every agent CLI with an adapter, one variant each. `match`es on it have no `_` arm, so a new variant
/// is a compile error wherever an agent needs code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    /// Claude Code.
    Claude,
    /// Gemini CLI.
    Gemini,
    /// OpenAI Codex CLI.
    Codex,
    /// Qwen Code.
    Qwen,
    /// Amazon Q Developer CLI (`q`).
    Q,
    /// Kiro CLI (`kiro-cli`).
    Kiro,
    /// OpenCode.
    OpenCode,
}

impl AgentKind {
    /// This agent's entry of the registry.
    pub fn spec(self) -> &'static AgentSpec {
        match self {
            AgentKind::Claude => &CLAUDE,
            AgentKind::Gemini => &GEMINI,
            AgentKind::Codex => &CODEX,
            AgentKind::Qwen => &QWEN,
            AgentKind::Q => &Q,
            AgentKind::Kiro => &KIRO,
            AgentKind::OpenCode => &OPENCODE,
        }
    }

    /// The agent called `name` (as given to `--agent`).
    pub fn from_name(name: &str) -> Option<AgentKind> {
        spec(name).map(|s| s.kind)
    }
}

/// How an agent gets the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptPassing {
    /// Written to stdin, which is then closed (no size limit).
    Stdin,
    /// As an argument; over [`MAX_PROMPT_ARG`](crate::MAX_PROMPT_ARG) bytes on stdin instead.
    ArgumentElseStdin,
    /// As an argument; over [`MAX_PROMPT_ARG`](crate::MAX_PROMPT_ARG) bytes written to
    /// `<state dir>/agent-prompt.md`, and the argument asks the agent to read that file.
    ArgumentElseFile,
}

impl PromptPassing {
    /// How `--dry-run` and `doctor` describe it, e.g. `prompt on stdin`.
    pub fn describe(self) -> &'static str {
        match self {
            PromptPassing::Stdin => "prompt on stdin",
            PromptPassing::ArgumentElseStdin => "prompt as an argument, on stdin when over 100 KiB",
            PromptPassing::ArgumentElseFile => "prompt as an argument, in a file when over 100 KiB",
        }
    }
}

/// An API-key variable the agent reads, and where ralph takes its value from when it is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyVar {
    /// The variable the agent CLI reads (e.g. `CODEX_API_KEY`).
    pub var: &'static str,
    /// The variables ralph fills `var` from, first found wins, each also as `NAME_FILE` (a file holding
    /// the key). Usually starts with `var` itself, whose `_FILE` form is then read.
    pub from: &'static [&'static str],
}

/// The format of what an agent prints, which names the stream handler that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamDialect {
    /// Claude Code's `stream-json` (NDJSON).
    ClaudeStreamJson,
    /// Gemini CLI's `stream-json` (NDJSON).
    GeminiStreamJson,
    /// Qwen Code's `stream-json` (NDJSON, close to Claude's).
    QwenStreamJson,
    /// Codex's `exec --json` events (NDJSON).
    CodexJson,
    /// OpenCode's `run --format json` events (NDJSON).
    OpenCodeJson,
    /// Plain text (Amazon Q and Kiro).
    PlainText,
}

/// Everything about one agent CLI that is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSpec {
    /// Which agent.
    pub kind: AgentKind,
    /// Agent name as given to `--agent` (and `adapters.<name>` in `ralph.yml`).
    pub name: &'static str,
    /// Program looked up in `PATH`.
    pub program: &'static str,
    /// How to install it.
    pub install: &'static str,
    /// Whether this version of ralph has an adapter for it.
    pub supported: bool,
    /// The flags of every run, right after the program (the headless mode).
    pub fixed_args: &'static [&'static str],
    /// The flag that passes `--model`'s value (`--model`, `-m`).
    pub model_flag: &'static str,
    /// How the prompt is passed.
    pub prompt: PromptPassing,
    /// Arguments after `--` ralph refuses, matched on the flag part before any `=`, with the reason.
    pub refused_args: &'static [(&'static str, &'static str)],
    /// The key variables ralph passes to it (see [`KeyVar`]).
    pub keys: &'static [KeyVar],
    /// What it prints.
    pub dialect: StreamDialect,
}

impl AgentSpec {
    /// The key variables of this agent, without duplicates: each [`KeyVar::var`] then its sources, in
    /// table order (`doctor` names the first as the one to set).
    pub fn key_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for k in self.keys {
            for name in std::iter::once(&k.var).chain(k.from) {
                if !names.contains(name) {
                    names.push(*name);
                }
            }
        }
        names
    }

    /// The reason [`AgentSpec::refused_args`] gives for `arg`, matched on its flag part (before any `=`).
    pub fn refusal(&self, arg: &str) -> Option<&'static str> {
        let flag = arg.split('=').next().unwrap_or(arg);
        self.refused_args
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, why)| *why)
    }
}

const FRESH_SESSION: &str = "it resumes the most recent session in the directory, possibly your own; \
     ralph starts a fresh session every iteration (use `--resume ID` for a specific one)";
const OWN_PROMPT: &str = "ralph passes the prompt itself";
const INTERACTIVE: &str = "an interactive session would wait for a person";
const CODEX_THREAD: &str =
    "it continues an earlier Codex thread, and ralph starts a fresh one every iteration";
const QWEN_SESSION: &str = "it resumes the most recent session in the directory, possibly your own";
const OPENCODE_LAST: &str =
    "it continues the last session, possibly your own; ralph starts a fresh one every iteration";
const OPENCODE_OLD: &str = "it continues an old session; ralph starts a fresh one every iteration";
const Q_RESUME: &str = "it continues the last conversation in the directory, and ralph starts a fresh \
     one every iteration";

/// Claude Code (tested with 2.1.197).
pub const CLAUDE: AgentSpec = AgentSpec {
    kind: AgentKind::Claude,
    name: "claude",
    program: "claude",
    install: "npm install -g @anthropic-ai/claude-code",
    supported: true,
    fixed_args: &[
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
    ],
    model_flag: "--model",
    prompt: PromptPassing::Stdin,
    refused_args: &[("--continue", FRESH_SESSION), ("-c", FRESH_SESSION)],
    keys: &[KeyVar {
        var: "ANTHROPIC_API_KEY",
        from: &["ANTHROPIC_API_KEY", "CLAUDE_API_KEY"],
    }],
    dialect: StreamDialect::ClaudeStreamJson,
};

/// Gemini CLI (tested with 0.61.0). The prompt goes after `-p`, before the fixed flags (see the
/// `gemini` module).
pub const GEMINI: AgentSpec = AgentSpec {
    kind: AgentKind::Gemini,
    name: "gemini",
    program: "gemini",
    install: "npm install -g @google/gemini-cli",
    supported: true,
    fixed_args: &["--output-format", "stream-json", "--yolo"],
    model_flag: "-m",
    prompt: PromptPassing::ArgumentElseStdin,
    refused_args: &[
        ("-p", OWN_PROMPT),
        ("--prompt", OWN_PROMPT),
        ("-i", INTERACTIVE),
        ("--prompt-interactive", INTERACTIVE),
        ("-o", "ralph reads --output-format stream-json"),
        ("--output-format", "ralph reads --output-format stream-json"),
    ],
    keys: &[KeyVar {
        var: "GEMINI_API_KEY",
        from: &["GEMINI_API_KEY"],
    }],
    dialect: StreamDialect::GeminiStreamJson,
};

/// OpenAI Codex CLI (tested with 0.171.0). `exec` reads `CODEX_API_KEY`, not `OPENAI_API_KEY`.
pub const CODEX: AgentSpec = AgentSpec {
    kind: AgentKind::Codex,
    name: "codex",
    program: "codex",
    install: "npm install -g @openai/codex",
    supported: true,
    fixed_args: &[
        "exec",
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",
    ],
    model_flag: "-m",
    prompt: PromptPassing::Stdin,
    refused_args: &[
        ("resume", CODEX_THREAD),
        ("fork", CODEX_THREAD),
        ("--last", CODEX_THREAD),
    ],
    keys: &[
        KeyVar {
            var: "OPENAI_API_KEY",
            from: &["OPENAI_API_KEY"],
        },
        KeyVar {
            var: "CODEX_API_KEY",
            from: &["CODEX_API_KEY", "OPENAI_API_KEY"],
        },
    ],
    dialect: StreamDialect::CodexJson,
};

/// Qwen Code (tested with 0.15.10).
pub const QWEN: AgentSpec = AgentSpec {
    kind: AgentKind::Qwen,
    name: "qwen",
    program: "qwen",
    install: "npm install -g @qwen-code/qwen-code",
    supported: true,
    fixed_args: &["--yolo", "-o", "stream-json"],
    model_flag: "-m",
    prompt: PromptPassing::ArgumentElseStdin,
    refused_args: &[
        ("-c", QWEN_SESSION),
        ("--continue", QWEN_SESSION),
        ("-p", OWN_PROMPT),
        ("--prompt", OWN_PROMPT),
        ("-i", INTERACTIVE),
        ("--prompt-interactive", INTERACTIVE),
        ("-o", "ralph reads -o stream-json"),
        ("--output-format", "ralph reads -o stream-json"),
        ("--input-format", "ralph chooses how the prompt is passed"),
    ],
    keys: &[KeyVar {
        var: "OPENAI_API_KEY",
        from: &["OPENAI_API_KEY"],
    }],
    dialect: StreamDialect::QwenStreamJson,
};

/// The Amazon Q Developer CLI (built from its documentation).
pub const Q: AgentSpec = AgentSpec {
    kind: AgentKind::Q,
    name: "q",
    program: "q",
    install: "install the Amazon Q Developer CLI (not distributed on npm): \
     https://docs.aws.amazon.com/amazonq/latest/qdeveloper-ug/command-line-installing.html",
    supported: true,
    fixed_args: &["chat", "--no-interactive", "--trust-all-tools"],
    model_flag: "--model",
    prompt: PromptPassing::ArgumentElseFile,
    refused_args: &[("-r", Q_RESUME), ("--resume", Q_RESUME)],
    keys: &[KeyVar {
        var: "Q_API_KEY",
        from: &["Q_API_KEY"],
    }],
    dialect: StreamDialect::PlainText,
};

/// The Kiro CLI, successor of `q` (built from its documentation). `KIRO_API_KEY` is its headless key.
pub const KIRO: AgentSpec = AgentSpec {
    kind: AgentKind::Kiro,
    name: "kiro",
    program: "kiro-cli",
    install: "install the Kiro CLI (not distributed on npm): https://kiro.dev/docs/cli/installation/",
    keys: &[
        KeyVar {
            var: "Q_API_KEY",
            from: &["Q_API_KEY"],
        },
        KeyVar {
            var: "KIRO_API_KEY",
            from: &["KIRO_API_KEY", "Q_API_KEY"],
        },
    ],
    ..Q
};

/// OpenCode (tested with 1.18.33). It reads the provider's own key variable.
pub const OPENCODE: AgentSpec = AgentSpec {
    kind: AgentKind::OpenCode,
    name: "opencode",
    program: "opencode",
    install: "npm install -g opencode-ai",
    supported: true,
    fixed_args: &["run", "--format", "json", "--auto"],
    model_flag: "--model",
    prompt: PromptPassing::Stdin,
    refused_args: &[
        ("-c", OPENCODE_LAST),
        ("--continue", OPENCODE_LAST),
        ("-s", OPENCODE_OLD),
        ("--session", OPENCODE_OLD),
        (
            "--fork",
            "it forks an old session; ralph starts a fresh one every iteration",
        ),
        ("--format", "ralph reads --format json"),
        ("-i", INTERACTIVE),
        ("--interactive", INTERACTIVE),
    ],
    keys: &[
        KeyVar {
            var: "OPENAI_API_KEY",
            from: &["OPENAI_API_KEY"],
        },
        KeyVar {
            var: "ANTHROPIC_API_KEY",
            from: &["ANTHROPIC_API_KEY", "CLAUDE_API_KEY"],
        },
        KeyVar {
            var: "GEMINI_API_KEY",
            from: &["GEMINI_API_KEY"],
        },
    ],
    dialect: StreamDialect::OpenCodeJson,
};

/// The agent CLIs in `--agent auto` priority order (SPEC §2). Install commands from AGENT-CLIS.md (npm
/// registry, checked with the versions listed there). Agents without an adapter (`supported: false`)
/// can be run through the `command` agent.
pub const AGENTS: &[AgentSpec] = &[CLAUDE, GEMINI, CODEX, QWEN, Q, KIRO, OPENCODE];

/// The agent called `name`.
pub fn spec(name: &str) -> Option<&'static AgentSpec> {
    AGENTS.iter().find(|a| a.name == name)
}

/// Every key variable any agent reads or is filled from (without duplicates, in table order): the
/// variables `describe_keys`, `doctor` and the redaction of exact key values look at, each also as
/// `NAME_FILE`.
pub fn key_vars() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for name in AGENTS.iter().flat_map(AgentSpec::key_names) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_the_spec_of_its_kind_and_names_are_unique() {
        for (i, a) in AGENTS.iter().enumerate() {
            assert_eq!(a.kind.spec(), a, "{}", a.name);
            assert_eq!(AgentKind::from_name(a.name), Some(a.kind));
            assert!(
                AGENTS[..i]
                    .iter()
                    .all(|b| b.name != a.name && b.kind != a.kind)
            );
            assert!(a.keys.iter().all(|k| crate::is_secret_name(k.var)));
        }
    }

    #[test]
    fn auto_detection_order_is_the_table_order() {
        let names: Vec<&str> = AGENTS.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            ["claude", "gemini", "codex", "qwen", "q", "kiro", "opencode"]
        );
    }

    #[test]
    fn key_vars_cover_every_variable_an_adapter_reads_or_writes() {
        assert_eq!(
            key_vars(),
            [
                "ANTHROPIC_API_KEY",
                "CLAUDE_API_KEY",
                "GEMINI_API_KEY",
                "OPENAI_API_KEY",
                "CODEX_API_KEY",
                "Q_API_KEY",
                "KIRO_API_KEY"
            ]
        );
        assert_eq!(CODEX.key_names(), ["OPENAI_API_KEY", "CODEX_API_KEY"]);
        // What the Gemini adapter passes, and so what `doctor` names (not `GOOGLE_API_KEY`).
        assert_eq!(GEMINI.key_names(), ["GEMINI_API_KEY"]);
    }
}
