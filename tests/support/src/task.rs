//! The three-iteration task the end-to-end tests give every agent: iteration 1 writes `hello.txt`, iteration 2
//! runs a shell command that appends to it and writes `out.txt`, iteration 3 completes.

use crate::{Block, Iteration, TestDir, Turn, Usage};

/// `PROMPT.md` of the task.
pub const TASK_PROMPT: &str = "Create hello.txt, then record the build in it, then finish.\n";
/// What iteration 1 writes to `hello.txt`.
pub const TASK_HELLO: &str = "hello from iteration 1\n";
/// The shell command iteration 2 runs.
pub const TASK_COMMAND: &str = "echo scripted >> hello.txt && echo built > out.txt";

/// The task's script, given the agent's tool calls: `write` (writes [`TASK_HELLO`] to `hello.txt`) and
/// `run` (runs [`TASK_COMMAND`]); `usage` is what the five model replies report, in order (tool call and
/// text of iteration 1, of iteration 2, the completion of iteration 3).
pub fn three_iteration_task(write: Block, run: Block, usage: [Usage; 5]) -> [Iteration; 3] {
    [
        Iteration::new([
            Turn::tool(write).usage(usage[0]),
            Turn::text("Created hello.txt.").usage(usage[1]),
        ]),
        Iteration::new([
            Turn::tool(run).usage(usage[2]),
            Turn::text("Recorded the build.").usage(usage[3]),
        ]),
        Iteration::new([
            Turn::text("Everything is done and verified.\nLOOP_COMPLETE").usage(usage[4]),
        ]),
    ]
}

/// The task's files are as its three iterations leave them.
pub fn assert_task_files(dir: &TestDir) {
    assert_eq!(dir.read("hello.txt"), "hello from iteration 1\nscripted\n");
    assert_eq!(dir.read("out.txt"), "built\n");
}
