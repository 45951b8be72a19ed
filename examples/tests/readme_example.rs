//! The README's first command, `examples/run-example.sh`, runs a real loop to completion.

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_example_loop_completes_the_fizzbuzz_task() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let workspace = work.path().join("ws");
    let out = Command::new("bash")
        .arg(root.join("examples/run-example.sh"))
        .arg(&workspace)
        .current_dir(root)
        .output()
        .expect("run examples/run-example.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("completed in iteration 3"), "{stderr}");
    let test = Command::new("sh")
        .arg("test_fizzbuzz.sh")
        .current_dir(&workspace)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "the agent's FizzBuzz must pass its own test"
    );
    let scratchpad = std::fs::read_to_string(workspace.join(".agent/scratchpad.md")).unwrap();
    assert!(scratchpad.contains("PASS"), "{scratchpad}");
}
