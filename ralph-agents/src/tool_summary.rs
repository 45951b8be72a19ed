//! One-line summaries of tool calls for [`AgentEvent::ToolUse`](ralph_core::AgentEvent::ToolUse), for the
//! agents whose tools take snake-case parameters (Gemini CLI and its fork Qwen Code: `write_file`,
//! `run_shell_command`, `replace`, `read_file`, `glob`, ...).

use crate::lines::truncate_text;
use serde_json::Value;
use std::path::Path;

/// Longest summary, in bytes.
pub(crate) const SUMMARY_MAX: usize = 200;

/// The parameters that best say what a call does, in order of preference.
const TELLING_FIELDS: &[&str] = &[
    "file_path",
    "absolute_path",
    "path",
    "dir_path",
    "command",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
];

/// A one-line summary of a call with parameters `input`: the file path (relative to `workspace` when
/// inside it), the shell command, the search pattern, ...; otherwise the first string parameter.
/// Whitespace runs become one space; at most [`SUMMARY_MAX`] bytes.
pub(crate) fn summarize(input: &Value, workspace: &Path) -> String {
    summarize_by(TELLING_FIELDS, input, workspace)
}

/// [`summarize`] with the parameters `fields`, in order of preference; a field whose name ends in
/// `path` (any case) is a path, shown relative to `workspace` when inside it.
pub(crate) fn summarize_by(fields: &[&str], input: &Value, workspace: &Path) -> String {
    let chosen = fields
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str).map(|v| (*k, v)))
        .map(|(k, v)| {
            if k.to_ascii_lowercase().ends_with("path") {
                relative(v, workspace)
            } else {
                v.to_string()
            }
        });
    one_line(chosen, input)
}

/// `path` relative to `workspace` when inside it.
pub(crate) fn relative(path: &str, workspace: &Path) -> String {
    Path::new(path)
        .strip_prefix(workspace)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// `chosen`, else the first string parameter of `input`, on one line, secrets masked, at most
/// [`SUMMARY_MAX`] bytes.
pub(crate) fn one_line(chosen: Option<String>, input: &Value) -> String {
    let text = chosen
        .or_else(|| {
            input
                .as_object()
                .and_then(|o| o.values().find_map(Value::as_str))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_text(&crate::secrets::mask_secrets(&one_line), SUMMARY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_shown_relative_to_the_workspace_and_commands_on_one_line() {
        let ws = Path::new("/ws");
        assert_eq!(
            summarize(&json!({"file_path": "/ws/src/a.rs", "content": "x"}), ws),
            "src/a.rs"
        );
        assert_eq!(
            summarize(
                &json!({"command": "cargo  test\n--all", "description": "t"}),
                ws
            ),
            "cargo test --all"
        );
        assert_eq!(summarize(&json!({"other": "value"}), ws), "value");
        assert_eq!(summarize(&json!(null), ws), "");
    }
}
