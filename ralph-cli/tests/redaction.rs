//! No key reaches anything ralph prints or writes, for every agent of the registry: a shell script run
//! as each agent (`adapters.<name>.command`) prints the agent's own recorded success stream with planted
//! keys in its answer, on stderr and in a line that is not part of the stream. The keys have no
//! well-known prefix, so only the exact-value redaction (every registry key variable, its `_FILE` form,
//! and every secret-named variable of ralph's environment and of `adapters.<name>.env`) can mask them.

use std::path::Path;

use ralph_agents::registry::{AGENTS, AgentSpec};
use ralph_testkit::workspace::Workspace;

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");

/// Planted keys: `(variable, value)`, set in ralph's environment.
const PLANTED: &[(&str, &str)] = &[
    ("CODEX_API_KEY", "zq7-plant-codex-0001"),
    ("KIRO_API_KEY", "zq7-plant-kiro-0002"),
    ("OPENAI_API_KEY", "zq7-plant-openai-0003"),
    ("GEMINI_API_KEY", "zq7-plant-gemini-0004"),
    ("Q_API_KEY", "zq7-plant-q-0005"),
    ("CLAUDE_API_KEY", "zq7-plant-claude-0006"),
    ("GITHUB_TOKEN", "zq7-plant-github-0007"),
    ("MY_DB_PASSWORD", "zq7-plant-dbpw-0008"),
    ("AWS_SECRET_ACCESS_KEY", "zq7-plant-aws-0009"),
];
/// Given only as a file (`ANTHROPIC_API_KEY_FILE`).
const FROM_FILE: &str = "zq7-plant-anthropic-file-0010";
/// Given only in `adapters.<name>.env`.
const CONFIGURED: (&str, &str) = ("MY_SERVICE_TOKEN", "q8w7e6r5t4");

/// The recorded success stream of `agent` (stdout, and stderr when recorded): its own fixtures, else
/// those of an agent with the same stream dialect (Kiro prints what `q` prints).
fn fixture(agent: &AgentSpec) -> (String, Option<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ralph-agents/tests/fixtures");
    let dir = std::iter::once(agent)
        .chain(AGENTS.iter().filter(|a| a.dialect == agent.dialect))
        .map(|a| root.join(a.name))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("{}: no recorded fixtures", agent.name));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    match read("success.jsonl") {
        Some(stdout) => (stdout, read("success.stderr")),
        None => (
            read("success.stdout").expect("a success fixture"),
            read("success.stderr"),
        ),
    }
}

fn all_values() -> Vec<&'static str> {
    let mut v: Vec<&str> = PLANTED.iter().map(|(_, v)| *v).collect();
    v.push(FROM_FILE);
    v.push(CONFIGURED.1);
    v
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn leaks(what: &str, text: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    all_values()
        .into_iter()
        .filter(|v| text.contains(v))
        .map(|v| format!("{v} in {what}"))
        .collect()
}

#[test]
fn planted_keys_appear_nowhere_for_every_agent() {
    for var in ralph_agents::registry::key_vars() {
        assert!(
            var == "ANTHROPIC_API_KEY" || PLANTED.iter().any(|(k, _)| *k == var),
            "plant a value for {var}, a key variable of the registry"
        );
    }
    let mut found = Vec::new();
    for (i, spec) in AGENTS.iter().enumerate() {
        let agent = spec.name;
        let ws = Workspace::new(RALPH, "Do the task.");
        let (stdout, stderr) = fixture(spec);
        std::fs::write(ws.path.join("stream.out"), stdout).unwrap();
        std::fs::write(ws.path.join("stream.err"), stderr.unwrap_or_default()).unwrap();
        let key_file = ws.path.join("anthropic.key");
        std::fs::write(&key_file, format!("{FROM_FILE}\n")).unwrap();
        let vars: Vec<String> = PLANTED
            .iter()
            .map(|(k, _)| k.to_string())
            .chain(["ANTHROPIC_API_KEY".into(), CONFIGURED.0.into()])
            .collect();
        let dump: String = vars.iter().map(|k| format!(" ${k}")).collect();
        // The answer text of the stream carries every key the agent sees, and so do stderr and a stray
        // stdout line; `seen.txt` (outside `.agent/`) proves the keys reached the agent.
        let script = ws.script(
            "agent.sh",
            &format!(
                "[ -t 0 ] || cat > /dev/null\n\
                 keys=\"{dump} $(cat {file})\"\n\
                 echo \"$keys\" > seen.txt\n\
                 echo \"stray line:$keys\"\n\
                 echo \"warning:$keys\" >&2\n\
                 cat stream.err >&2\n\
                 sed \"s/All done\\./All done.$keys/\" stream.out",
                file = key_file.display()
            ),
        );
        std::fs::write(
            ws.path.join("ralph.yml"),
            format!(
                "adapters:\n  {agent}:\n    command: {}\n    env:\n      {}: {}\n",
                script.display(),
                CONFIGURED.0,
                CONFIGURED.1
            ),
        )
        .unwrap();
        let mut cmd = ws.ralph();
        cmd.args([
            "--agent",
            agent,
            "-i",
            "1",
            "--no-git",
            "--verbose",
            "--retry-delay",
            "0",
        ])
        .env("ANTHROPIC_API_KEY_FILE", &key_file);
        // Every other agent logs JSON lines instead of text.
        if i % 2 == 1 {
            cmd.args(["--log-format", "json"]);
        }
        for (k, v) in PLANTED {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run ralph");
        let seen = std::fs::read_to_string(ws.path.join("seen.txt")).unwrap_or_default();
        let expected: &[&str] = match agent {
            "claude" => &[FROM_FILE, CONFIGURED.1, "zq7-plant-codex-0001"],
            _ => &[CONFIGURED.1, "zq7-plant-kiro-0002", "zq7-plant-github-0007"],
        };
        for v in expected {
            assert!(
                seen.contains(v),
                "{agent}: the agent did not see {v}: {seen}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        found.extend(leaks(&format!("{agent} stdout"), &out.stdout));
        found.extend(leaks(&format!("{agent} stderr"), &out.stderr));
        for report in [
            ws.ralph().args(["report", "--format", "json"]).output(),
            ws.ralph().args(["report", "-o", "report.html"]).output(),
        ] {
            let report = report.expect("run ralph report");
            found.extend(leaks(&format!("{agent} report stdout"), &report.stdout));
            found.extend(leaks(&format!("{agent} report stderr"), &report.stderr));
        }
        found.extend(leaks(
            &format!("{agent} report.html"),
            &std::fs::read(ws.path.join("report.html")).unwrap_or_default(),
        ));
        let state_files = files(&ws.path.join(".agent"));
        assert!(
            state_files.iter().any(|p| p.ends_with("1.output.jsonl")),
            "{agent}: a transcript was kept: {state_files:?}"
        );
        for p in state_files {
            let text = std::fs::read(&p).unwrap();
            found.extend(leaks(&format!("{agent} {}", p.display()), &text));
        }
    }
    assert!(found.is_empty(), "leaked:\n{}", found.join("\n"));
}
