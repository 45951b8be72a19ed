//! The settings as users read them, made from their definitions ([`super::defs`]): each flag's `--help`,
//! `ralph init`'s `ralph.yml`, and the README's settings table. A test keeps the README in step.

use super::{Kind, SETTINGS, Setting};

/// The README's settings table is the text between these two lines.
pub const README_BEGIN: &str = "<!-- settings-table:begin -->\n";
/// See [`README_BEGIN`].
pub const README_END: &str = "<!-- settings-table:end -->\n";

/// `setting.help` with `{agents}` replaced by the known agents' names, in `auto` order.
pub fn help(setting: &Setting) -> String {
    let agents: Vec<&str> = ralph_agents::KNOWN_AGENTS.iter().map(|a| a.name).collect();
    setting.help.replace("{agents}", &agents.join(", "))
}

/// The help of `setting`'s flag: the help, the default (for flags that take a value) and the
/// environment variables (`Agent runs per run, 0 = no limit [default: 100]; env RALPH_MAX_ITERATIONS`).
pub fn flag_help(setting: &Setting) -> String {
    let default = match (setting.kind, setting.default.shown()) {
        (Kind::Switch, _) | (_, None) => String::new(),
        (_, Some(shown)) => format!(" [default: {shown}]"),
    };
    format!("{}{default}; env {}", help(setting), setting.env.join(", "))
}

/// The `ralph.yml` that `ralph init` writes: every setting at its default, each after its help.
pub fn config_template() -> String {
    let mut out = String::from(
        "# ralph.yml: every setting at its default. Precedence: flag > RALPH_* environment variable > \
         this file.\n",
    );
    for setting in SETTINGS {
        out.push('\n');
        for line in wrap(&format!("{}.", help(setting)), 98) {
            out.push_str(&format!("# {line}\n"));
        }
        match setting.default.value() {
            Some(value) => out.push_str(&format!("{}: {value}\n", setting.key)),
            None => out.push_str(&format!("{}:\n", setting.key)),
        }
    }
    out.push_str(
        "\n# Per-agent settings:
# adapters:
#   claude:
#     enabled: true
#     model: claude-sonnet-4-5
#     args: [\"--max-turns\", \"40\"]
#     env: {}
#     timeout: 1800
#   command:
#     command: [\"./my-agent\", \"--flag\"]
",
    );
    out
}

/// The README's settings table (Markdown), one row per setting and one for `adapters`.
pub fn readme_table() -> String {
    let mut out = String::from(
        "| setting (`ralph.yml` key) | flag | environment | default | meaning |\n|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let mut flag = match s.short {
            Some(c) => format!("`-{c}, {}", s.flag),
            None => format!("`{}", s.flag),
        };
        if let Some(name) = s.kind.value_name() {
            flag.push_str(&format!(" {name}"));
        }
        flag.push('`');
        if let Some(alias) = s.alias {
            flag.push_str(&format!(" (`--{alias}`)"));
        }
        if matches!(s.kind, Kind::List(_)) {
            flag.push_str(" (repeatable)");
        }
        let env: Vec<String> = s.env.iter().map(|v| format!("`{v}`")).collect();
        let default = match (s.default, s.default.shown()) {
            (super::DefaultValue::Described { shown, .. }, _) => shown.to_string(),
            (_, Some(value)) => format!("`{value}`"),
            (_, None) => "none".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {flag} | {} | {default} | {}{} |\n",
            s.key,
            env.join(", "),
            help(s),
            s.details
        ));
    }
    out.push_str(
        "| `adapters.<name>` | | | | per-agent `enabled`, `command` (string or list), `args`, `env`, \
         `timeout` (seconds), `model` |\n",
    );
    out
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
