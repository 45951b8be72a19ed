//! `ralph-example-agent`: a tiny, deterministic stand-in for an AI coding agent, for the README's first
//! command (`examples/run-example.sh`). ralph runs it with `--agent command`, once per iteration, with the
//! prompt on stdin.
//!
//! Like a real agent it has no memory between runs: it reads the workspace, does the next step of the
//! FizzBuzz task in `examples/hello-task/PROMPT.md` (write the script, write the test, run the test),
//! notes what it did in the scratchpad, and prints the completion promise on a line of its own only when
//! the test passes. The promise it prints is the one named in the prompt's preamble.

use std::io::Read;
use std::path::Path;
use std::process::Command;

const FIZZBUZZ: &str = r#"#!/bin/sh
# Prints 1..15 with Fizz, Buzz and FizzBuzz.
i=1
while [ "$i" -le 15 ]; do
  if [ $((i % 15)) -eq 0 ]; then echo FizzBuzz
  elif [ $((i % 3)) -eq 0 ]; then echo Fizz
  elif [ $((i % 5)) -eq 0 ]; then echo Buzz
  else echo "$i"
  fi
  i=$((i + 1))
done
"#;

const TEST: &str = r#"#!/bin/sh
# Exits 0 when fizzbuzz.sh prints the expected 15 lines.
expected="1 2 Fizz 4 Buzz Fizz 7 8 Fizz Buzz 11 Fizz 13 14 FizzBuzz"
actual=$(sh ./fizzbuzz.sh | tr '\n' ' ' | sed 's/ $//')
if [ "$actual" = "$expected" ]; then echo "PASS"; exit 0; fi
echo "FAIL: got '$actual'"; exit 1
"#;

fn main() {
    let mut prompt = String::new();
    if std::io::stdin().read_to_string(&mut prompt).is_err() || prompt.trim().is_empty() {
        eprintln!("example agent: expected the prompt on stdin");
        std::process::exit(2);
    }
    let promise = promise_from(&prompt).unwrap_or_else(|| "LOOP_COMPLETE".to_string());
    let scratchpad = scratchpad_from(&prompt).unwrap_or_else(|| ".agent/scratchpad.md".to_string());

    let step = if !Path::new("fizzbuzz.sh").exists() {
        write_executable("fizzbuzz.sh", FIZZBUZZ);
        "wrote fizzbuzz.sh".to_string()
    } else if !Path::new("test_fizzbuzz.sh").exists() {
        write_executable("test_fizzbuzz.sh", TEST);
        "wrote test_fizzbuzz.sh".to_string()
    } else {
        let out = Command::new("sh").arg("./test_fizzbuzz.sh").output();
        match out {
            Ok(o) if o.status.success() => {
                note(&scratchpad, "ran test_fizzbuzz.sh: PASS");
                println!(
                    "Ran the test: {}",
                    String::from_utf8_lossy(&o.stdout).trim()
                );
                println!("Every step is done and verified.");
                println!("{promise}");
                return;
            }
            Ok(o) => format!(
                "ran test_fizzbuzz.sh: {}",
                String::from_utf8_lossy(&o.stdout).trim()
            ),
            Err(e) => format!("could not run the test: {e}"),
        }
    };
    note(&scratchpad, &step);
    println!("This iteration: {step}. Not done yet; the next iteration continues.");
}

/// The promise named in ralph's preamble: "print X on a line of its own".
fn promise_from(prompt: &str) -> Option<String> {
    let rest = &prompt[prompt.find("print ")? + "print ".len()..];
    let word = rest.split_whitespace().next()?;
    rest[word.len()..]
        .trim_start()
        .starts_with("on a line of its own")
        .then(|| word.to_string())
}

/// The scratchpad path named in ralph's preamble: "Read X first".
fn scratchpad_from(prompt: &str) -> Option<String> {
    let rest = &prompt[prompt.find("Read ")? + "Read ".len()..];
    rest.split_whitespace().next().map(str::to_string)
}

fn write_executable(path: &str, content: &str) {
    std::fs::write(path, content).expect("write file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
    }
}

fn note(scratchpad: &str, line: &str) {
    if let Some(dir) = Path::new(scratchpad).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut text =
        std::fs::read_to_string(scratchpad).unwrap_or_else(|_| "# Scratchpad\n\n".into());
    text.push_str(&format!("- {line}\n"));
    let _ = std::fs::write(scratchpad, text);
}
