//! The live status line of `ralph run`, seen as a person sees it: the `ralph` binary runs in a
//! pseudo-terminal, its output goes through a terminal emulator (`vt100`), and the tests read the SCREEN.
//! The fake agents wait for a file the test creates, so the screen is read at a known point of the run
//! (no sleeps as synchronisation, no timing assertions).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");
const ROWS: u16 = 40;
const COLS: u16 = 120;
/// How long a screen condition may take to appear before the test fails (generous: 2 shared cores).
const DEADLINE: Duration = Duration::from_secs(60);
/// A key value the fake agent echoes: it must never reach the terminal.
const KEY: &str = "sk-ant-api03-TTYTESTKEY0123456789abcdefghijklmnop";

use ralph_testkit::workspace::Workspace;

/// Lets iteration `n` of a waiting fake agent finish.
fn release(ws: &Workspace, n: u32) {
    std::fs::write(ws.path.join(format!("release-{n}")), "").unwrap();
}

/// The environment of a ralph under test: no settings or keys from the caller's environment.
fn clean_env() -> Vec<String> {
    std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with("RALPH_")
                || k.ends_with("_API_KEY")
                || k.ends_with("_API_KEY_FILE")
                || k == "NO_COLOR"
                || k == "TERM"
                || k == "CLICOLOR"
                || k == "CLICOLOR_FORCE"
        })
        .collect()
}

/// A plain-text agent (`--agent command`): prints "working on step N", waits for `release-N`, prints the
/// promise on run 3. It also leaves a `.env` file, which checkpoints skip with a `tracing` warning, so a
/// log line from the subscriber arrives while the status line is shown.
fn waiting_agent(ws: &Workspace) -> PathBuf {
    ws.script(
        "agent.sh",
        "cat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\necho \"SECRET=$n\" > .env\n\
         echo \"working on step $n\"\nwhile [ ! -f release-$n ]; do sleep 0.05; done\n\
         if [ \"$n\" -ge 3 ]; then printf 'done\\nLOOP_COMPLETE\\n'; fi",
    )
}

/// A fake Claude Code (stream-json as recorded from 2.1.197): per run a Bash tool call that quotes the API
/// key, 1200 tokens reported live, then waits for `release-N`; the result reports 1234 tokens and
/// $0.0125, and the promise on run 2.
fn waiting_claude(ws: &Workspace) -> PathBuf {
    let tool = r#"{"type":"assistant","message":{"id":"msg_'$n'","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"toolu_'$n'","name":"Bash","input":{"command":"npm test -- --token '$ANTHROPIC_API_KEY' --reporter=verbose --grep status-line-is-cut-at-the-terminal-width","description":"Run the tests"}}],"stop_reason":null,"usage":{"input_tokens":1000,"output_tokens":200,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}},"parent_tool_use_id":null,"session_id":"s"}"#;
    let result = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"'"$answer"'","session_id":"s","total_cost_usd":0.0125,"usage":{"input_tokens":1000,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":234}}"#;
    ws.script(
        "fake-claude",
        &format!(
            "cat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5\",\"tools\":[]}}'\n\
             echo '{tool}'\nwhile [ ! -f release-$n ]; do sleep 0.05; done\n\
             if [ \"$n\" -ge 2 ]; then answer='Done.\\nLOOP_COMPLETE'; else answer='Progress.'; fi\n\
             printf '%s\\n' '{result}'"
        ),
    )
}

/// `ralph` running in a pseudo-terminal of [`ROWS`] × [`COLS`], its output fed to a terminal emulator.
struct TtyRalph {
    child: std::process::Child,
    pty: Arc<pty_process::blocking::Pty>,
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl TtyRalph {
    fn start(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_program(RALPH, ws, args, env)
    }

    /// Starts `program` (ralph, or a shell that starts it) as the terminal's session leader.
    fn start_program(program: &str, ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Self {
        let (pty, pts) = pty_process::blocking::open().expect("open a pty");
        pty.resize(pty_process::Size::new(ROWS, COLS)).unwrap();
        let mut cmd = pty_process::blocking::Command::new(program)
            .args(args)
            .current_dir(&ws.path);
        for k in clean_env() {
            cmd = cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let child = cmd.spawn(pts).expect("start ralph in the pty");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            0,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let pty = Arc::new(pty);
        let (s, r, p) = (screen.clone(), raw.clone(), pty.clone());
        // Read until ralph (the only holder of the terminal side) has exited: then reads fail with EIO.
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match (&*p).read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        s.lock().unwrap().process(&buf[..n]);
                        r.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        TtyRalph {
            child,
            pty,
            screen,
            raw,
            reader: Some(reader),
        }
    }

    /// The screen's rows, trailing blanks removed.
    fn rows(&self) -> Vec<String> {
        self.screen
            .lock()
            .unwrap()
            .screen()
            .rows(0, COLS)
            .map(|r| r.trim_end().to_string())
            .collect()
    }

    /// Types `bytes` on the terminal's keyboard.
    fn type_keys(&self, bytes: &[u8]) {
        use std::io::Write;
        (&*self.pty).write_all(bytes).unwrap();
    }

    /// Polls the screen until `cond` holds; fails with the screen after [`DEADLINE`].
    fn wait_for(&self, what: &str, cond: impl Fn(&[String]) -> bool) -> Vec<String> {
        let began = Instant::now();
        loop {
            let rows = self.rows();
            if cond(&rows) {
                return rows;
            }
            if began.elapsed() > DEADLINE {
                panic!("the screen never showed {what}:\n{}", show(&rows));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for ralph to exit; returns its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let began = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            if began.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("ralph did not exit:\n{}", show(&self.rows()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True when the terminal echoes typed keys (termios `ECHO`).
    fn echo_on(&self) -> bool {
        let t = nix::sys::termios::tcgetattr(&*self.pty).unwrap();
        t.local_flags.contains(nix::sys::termios::LocalFlags::ECHO)
    }

    /// Waits for ralph to exit and its output to be read; returns the exit code, the final screen and
    /// every byte written to the terminal.
    fn finish(mut self) -> (Option<i32>, Vec<String>, Vec<u8>) {
        let code = self.wait_exit();
        self.reader.take().unwrap().join().unwrap();
        let raw = self.raw.lock().unwrap().clone();
        (code, self.rows(), raw)
    }
}

impl Drop for TtyRalph {
    fn drop(&mut self) {
        // A failed test must not leave ralph (and its waiting agent) running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn show(rows: &[String]) -> String {
    rows.iter()
        .map(|r| format!("|{r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The status line: `<spinner> iteration 2/5 · 00:00:03 · tokens …`.
fn is_status(row: &str) -> bool {
    row.contains(" · 00:") && row.contains(" · tokens ")
}

fn non_empty(rows: &[String]) -> Vec<&str> {
    rows.iter()
        .map(String::as_str)
        .filter(|r| !r.is_empty())
        .collect()
}

/// Asserts the screen at the end of a run: only the lines ralph prints plainly, each iteration line once,
/// nothing left of the status line.
fn assert_clean_end(rows: &[String], allowed: &[&str], iteration_lines: &[&str]) {
    let shown = show(rows);
    for row in non_empty(rows) {
        assert!(
            !is_status(row),
            "a status line was left on the screen:\n{shown}"
        );
        assert!(
            allowed.iter().any(|a| row.starts_with(a)),
            "unexpected line {row:?} (garbage or a torn line):\n{shown}"
        );
    }
    for line in iteration_lines {
        assert_eq!(
            rows.iter().filter(|r| r.starts_with(line)).count(),
            1,
            "{line:?} must appear exactly once:\n{shown}"
        );
    }
}

#[test]
fn a_terminal_shows_one_live_status_line_and_nothing_of_it_remains() {
    let ws = Workspace::new(RALPH, "Count to three.");
    let agent = waiting_agent(&ws);
    let ralph = TtyRalph::start(
        &ws,
        &[
            "--agent",
            "command",
            "-i",
            "5",
            "--git-init",
            "--checkpoint-interval",
            "1",
            "--",
            agent.to_str().unwrap(),
        ],
        &[("TERM", "xterm-256color")],
    );

    let rows = ralph.wait_for("the status line of iteration 1", |rows| {
        rows.iter()
            .any(|r| is_status(r) && r.contains("iteration 1/5") && r.contains("working on step 1"))
    });
    assert!(
        rows.iter()
            .any(|r| r.starts_with("ralph: run ") && r.ends_with("started · agent command")),
        "{}",
        show(&rows)
    );
    release(&ws, 1);

    let rows = ralph.wait_for(
        "iteration 2 running, with iteration 1's line above it",
        |rows| {
            rows.iter().any(|r| {
                is_status(r) && r.contains("iteration 2/5") && r.contains("working on step 2")
            }) && rows.iter().any(|r| r.starts_with("iteration 1/5 success"))
        },
    );
    println!("screen while iteration 2 runs:\n{}", show(&rows));
    let lines = non_empty(&rows);
    let status: Vec<_> = lines.iter().filter(|r| is_status(r)).collect();
    assert_eq!(status.len(), 1, "exactly one status line:\n{}", show(&rows));
    let status = status[0];
    assert_eq!(
        lines.last(),
        Some(status),
        "the status line is the last line:\n{}",
        show(&rows)
    );
    for part in [
        "iteration 2/5 · 00:00:",
        "tokens 0",
        "$0.0000",
        "· command ·",
        "working on step 2",
    ] {
        assert!(status.contains(part), "{part:?} not in {status:?}");
    }
    assert!(
        status.chars().count() <= usize::from(COLS),
        "one row: {status:?}"
    );
    // The checkpoint after iteration 1 logged a warning through `tracing` while the line was shown:
    // a whole line of its own above the status line.
    assert!(
        lines
            .iter()
            .any(|r| r.starts_with(" WARN not checkpointed") && r.contains(".env")),
        "{}",
        show(&rows)
    );

    release(&ws, 2);
    release(&ws, 3);
    let (code, rows, _) = ralph.finish();
    println!("screen at the end:\n{}", show(&rows));
    assert_eq!(code, Some(0), "{}", show(&rows));
    assert_clean_end(
        &rows,
        &[
            " INFO created a git repository",
            "ralph: run ",
            "iteration 1/5 success · ",
            "iteration 2/5 success · ",
            "iteration 3/5 completed · ",
            " WARN not checkpointed",
            "  checkpoint ",
            "  final checkpoint ",
            "ralph: completed in iteration 3",
            "  iterations 3 · elapsed ",
        ],
        &[
            "iteration 1/5 success",
            "iteration 2/5 success",
            "iteration 3/5 completed",
            "ralph: completed in iteration 3",
            "  iterations 3 · elapsed ",
        ],
    );
    // The summary is the end of the output: nothing was drawn below it.
    assert!(
        non_empty(&rows)
            .last()
            .is_some_and(|r| r.starts_with("  iterations 3 · elapsed ")),
        "{}",
        show(&rows)
    );
}

#[test]
fn the_status_line_shows_run_tokens_cost_and_the_last_tool_call_without_secrets() {
    let ws = Workspace::new(RALPH, "Count to three.");
    let fake = waiting_claude(&ws);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!("adapters:\n  claude:\n    command: {}\n", fake.display()),
    )
    .unwrap();
    let ralph = TtyRalph::start(
        &ws,
        &["--agent", "claude", "-i", "5", "--no-git", "--verbose"],
        &[("TERM", "xterm-256color"), ("ANTHROPIC_API_KEY", KEY)],
    );

    let rows = ralph.wait_for("iteration 1's tool call with its live tokens", |rows| {
        rows.iter()
            .any(|r| is_status(r) && r.contains("iteration 1/5") && r.contains("tokens 1200 ·"))
    });
    let status = rows.iter().find(|r| is_status(r)).unwrap();
    assert!(
        status.contains("· claude · ⚙ Bash npm test -- --token sk-ant-****"),
        "{status:?}"
    );
    release(&ws, 1);

    // Iteration 2: the run total is iteration 1's 1234 tokens plus 1200 reported live, and iteration 1's
    // cost; `--verbose` lines go above the status line.
    let rows = ralph.wait_for("iteration 2 with run totals", |rows| {
        rows.iter().any(|r| {
            is_status(r)
                && r.contains("iteration 2/5")
                && r.contains("tokens 2434 · $0.0125 ·")
                && r.contains("--reporter=verb")
        })
    });
    println!("screen while iteration 2 runs:\n{}", show(&rows));
    let lines = non_empty(&rows);
    assert_eq!(lines.iter().filter(|r| is_status(r)).count(), 1);
    let status = lines.last().unwrap();
    assert!(is_status(status), "{}", show(&rows));
    // The tool call is longer than the terminal is wide: the line is cut, not wrapped onto a second row.
    assert!(
        status.chars().count() <= usize::from(COLS) && status.contains("--reporter=verb"),
        "{}",
        show(&rows)
    );
    assert!(
        lines
            .iter()
            .any(|r| r.starts_with("iteration 1/5 success") && r.contains("(run 1234)")),
        "{}",
        show(&rows)
    );
    assert!(
        lines
            .iter()
            .any(|r| r.starts_with("  ⚙ Bash npm test -- --token sk-ant-****")),
        "{}",
        show(&rows)
    );

    release(&ws, 2);
    let (code, rows, raw) = ralph.finish();
    assert_eq!(code, Some(0), "{}", show(&rows));
    assert!(
        !String::from_utf8_lossy(&raw).contains(KEY),
        "the key reached the terminal"
    );
    assert_clean_end(
        &rows,
        &[
            "ralph: run ",
            "── iteration ",
            "  ⚙ Bash npm test -- --token sk-ant-****",
            "Progress.",
            "Done.",
            "LOOP_COMPLETE",
            "iteration 1/5 success · ",
            "iteration 2/5 completed · ",
            "ralph: completed in iteration 2",
            "  iterations 2 · elapsed ",
        ],
        &[
            "iteration 1/5 success",
            "iteration 2/5 completed",
            "  iterations 2 · elapsed ",
        ],
    );
    assert!(
        rows.iter().any(
            |r| r.contains("tokens 2468 (input 2000, cache write 0, output 468")
                && r.contains("cost $0.0250")
        ),
        "{}",
        show(&rows)
    );
}

/// Plain lines, exactly as before the status line existed, whenever stderr is no terminal (pipe, file,
/// CI), with `--log-format json`, and on a `TERM=dumb` terminal.
#[test]
fn no_escape_sequences_when_stderr_is_a_pipe_or_the_terminal_is_dumb() {
    // stderr a pipe, although TERM says a colour terminal.
    let ws = Workspace::new(RALPH, "Count to three.");
    let agent = waiting_agent(&ws);
    for n in 1..=3 {
        release(&ws, n);
    }
    let mut cmd = Command::new(RALPH);
    cmd.current_dir(&ws.path).stdin(Stdio::null());
    for k in clean_env() {
        cmd.env_remove(k);
    }
    let out = cmd
        .env("TERM", "xterm-256color")
        .args([
            "--agent",
            "command",
            "-i",
            "5",
            "--git-init",
            "--checkpoint-interval",
            "1",
            "--",
        ])
        .arg(&agent)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains('\x1b'), "escape sequences on a pipe: {err:?}");
    assert!(
        err.contains("iteration 2/5 success · ") && err.contains("WARN not checkpointed"),
        "{err}"
    );
    assert!(!err.contains(" · 00:"), "a status line on a pipe: {err}");

    // A terminal that cannot move the cursor.
    for (term, format) in [("dumb", "text"), ("xterm-256color", "json")] {
        let ws = Workspace::new(RALPH, "Count to three.");
        let agent = waiting_agent(&ws);
        for n in 1..=3 {
            release(&ws, n);
        }
        let ralph = TtyRalph::start(
            &ws,
            &[
                "--agent",
                "command",
                "-i",
                "5",
                "--log-format",
                format,
                "--",
                agent.to_str().unwrap(),
            ],
            &[("TERM", term)],
        );
        let (code, rows, raw) = ralph.finish();
        assert_eq!(code, Some(0), "{}", show(&rows));
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            !raw.contains('\x1b'),
            "escape sequences with TERM={term}, --log-format {format}: {raw:?}"
        );
        assert!(
            raw.contains("iteration 3/5 completed") || raw.contains("\"completed\":true"),
            "{raw}"
        );
    }
}

/// `NO_COLOR`: the status line is still drawn (it is no colour), but nothing is coloured.
#[test]
fn no_color_keeps_the_status_line_without_colours() {
    let ws = Workspace::new(RALPH, "Count to three.");
    let agent = waiting_agent(&ws);
    let ralph = TtyRalph::start(
        &ws,
        &[
            "--agent",
            "command",
            "-i",
            "5",
            "--git-init",
            "--checkpoint-interval",
            "1",
            "--",
            agent.to_str().unwrap(),
        ],
        &[("TERM", "xterm-256color"), ("NO_COLOR", "1")],
    );
    release(&ws, 1);
    ralph.wait_for("the status line of iteration 2", |rows| {
        rows.iter()
            .any(|r| is_status(r) && r.contains("iteration 2/5"))
    });
    // Let the run end, then look at every byte it wrote.
    release(&ws, 2);
    release(&ws, 3);
    let (code, rows, raw) = ralph.finish();
    assert_eq!(code, Some(0), "{}", show(&rows));
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains('\x1b'), "the status line was drawn");
    assert!(!has_sgr_colour(&raw), "colours despite NO_COLOR: {raw:?}");
}

/// True when `text` holds an SGR sequence that sets a colour or an attribute (`ESC[1m`, `ESC[36m`, ...);
/// a plain reset (`ESC[m`, `ESC[0m`) is no colour.
fn has_sgr_colour(text: &str) -> bool {
    text.split('\x1b').skip(1).any(|seq| {
        let Some(rest) = seq.strip_prefix('[') else {
            return false;
        };
        let params: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .collect();
        rest[params.len()..].starts_with('m')
            && params.split(';').any(|p| !p.is_empty() && p != "0")
    })
}

/// Ctrl-C typed on the terminal: the signal message and the summary are whole lines and nothing of the
/// status line stays; the resumed run's status line goes on from the run's saved totals.
#[test]
fn ctrl_c_leaves_a_clean_screen_and_a_resumed_run_continues_its_totals() {
    let ws = Workspace::new(RALPH, "Count to three.");
    let fake = waiting_claude(&ws);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!("adapters:\n  claude:\n    command: {}\n", fake.display()),
    )
    .unwrap();
    let args = ["--agent", "claude", "-i", "5", "--no-git"];
    let env = [("TERM", "xterm-256color"), ("ANTHROPIC_API_KEY", KEY)];

    let mut ralph = TtyRalph::start(&ws, &args, &env);
    ralph.wait_for("iteration 1 running", |rows| {
        rows.iter()
            .any(|r| is_status(r) && r.contains("iteration 1/5") && r.contains("tokens 1200 ·"))
    });
    // No echo while the line is shown: an echoed `^C` would land beside it and leave a copy behind.
    assert!(
        !ralph.echo_on(),
        "typed keys are echoed over the status line"
    );
    ralph.type_keys(b"\x03");
    ralph.wait_exit();
    assert!(ralph.echo_on(), "the terminal's echo was not restored");
    let (code, rows, _) = ralph.finish();
    println!("screen after Ctrl-C:\n{}", show(&rows));
    assert_eq!(code, Some(130), "{}", show(&rows));
    assert!(
        rows.iter()
            .any(|r| r.starts_with("ralph: SIGINT received: stopping the agent")),
        "{}",
        show(&rows)
    );
    assert!(
        !rows.iter().any(|r| is_status(r)),
        "a status line was left on the screen:\n{}",
        show(&rows)
    );

    // The interrupted iteration's tokens are the run's: the resumed run's line starts from them.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path.join(".agent/state.json")).unwrap()).unwrap();
    let saved = state["tokens_total"].as_u64().unwrap();
    let ralph = TtyRalph::start(&ws, &args, &env);
    let want = format!("tokens {} ·", saved + 1200);
    let rows = ralph.wait_for("the resumed run's totals", |rows| {
        rows.iter().any(|r| is_status(r) && r.contains(&want))
    });
    println!("resumed:\n{}", show(&rows));
    release(&ws, 1);
    release(&ws, 2);
    release(&ws, 3);
    let (code, rows, _) = ralph.finish();
    assert_eq!(code, Some(0), "{}", show(&rows));
    assert!(!rows.iter().any(|r| is_status(r)), "{}", show(&rows));
}

/// `ralph run &` from a shell with job control: the terminal belongs to the shell, so no status line is
/// drawn over its prompt and the terminal's settings are left alone.
#[test]
fn a_background_ralph_draws_no_status_line() {
    let ws = Workspace::new(RALPH, "Count to three.");
    let agent = waiting_agent(&ws);
    for n in 1..=3 {
        release(&ws, n);
    }
    let script = format!(
        "set -m; '{RALPH}' --agent command -i 5 -- '{}' & wait $!",
        agent.display()
    );
    let ralph = TtyRalph::start_program(
        "/bin/sh",
        &ws,
        &["-c", &script],
        &[("TERM", "xterm-256color"), ("NO_COLOR", "1")],
    );
    let (code, rows, raw) = ralph.finish();
    let raw = String::from_utf8_lossy(&raw);
    assert_eq!(code, Some(0), "{}", show(&rows));
    assert!(raw.contains("iteration 3/5 completed"), "{raw}");
    assert!(!raw.contains('\x1b'), "drawn from the background: {raw:?}");
}
