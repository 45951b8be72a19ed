//! Generates a Claude Code stream-json stream on the fly and reads it through ralph's stdout pipeline
//! (`ralph_benches::claude_stream`), printing MB/s; run under `/usr/bin/time -v` for the peak RSS.
//!
//! ```sh
//! cargo build --release -p ralph-benches --example parse_stream
//! /usr/bin/time -v target/release/examples/parse_stream session 1000   # a 1000 MB session
//! /usr/bin/time -v target/release/examples/parse_stream line 100       # one 100 MB line
//! ```
//!
//! Usage: `parse_stream session|line MEGABYTES [memory|pipe|generate]`. `memory` (the default) reads the
//! generator directly; `pipe` writes it into an OS pipe from another thread and reads the pipe as the
//! supervisor reads an agent's stdout; `generate` only generates and discards (the generator's own
//! cost). Nothing holds the whole stream: the generator produces at most about 1 MiB at a time.

use std::io::{Read, Write};
use std::time::Instant;

use ralph_benches::claude_stream::{ClaudeStreamGenerator, Consumed, consume_claude};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: parse_stream session|line MEGABYTES [memory|pipe|generate]";
    let (kind, megabytes) = match args.as_slice() {
        [kind, mb, ..] => (kind.as_str(), mb.parse::<u64>().expect(usage)),
        _ => panic!("{usage}"),
    };
    let mode = args.get(2).map_or("memory", String::as_str);
    let bytes = megabytes * 1_000_000;
    let generator = match kind {
        "session" => ClaudeStreamGenerator::session(bytes, 7),
        "line" => ClaudeStreamGenerator::long_line(bytes),
        _ => panic!("{usage}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let began = Instant::now();
    let (total, seen) = match mode {
        "memory" => {
            let seen = runtime
                .block_on(consume_claude(generator))
                .expect("reading the generator does not fail");
            (seen.bytes, Some(seen))
        }
        "pipe" => {
            let seen = runtime.block_on(through_pipe(generator));
            (seen.bytes, Some(seen))
        }
        "generate" => (discard(generator), None),
        _ => panic!("{usage}"),
    };
    let secs = began.elapsed().as_secs_f64();
    println!(
        "{kind} {megabytes} MB ({mode}): {total} bytes in {secs:.3} s = {:.0} MB/s",
        total as f64 / 1e6 / secs
    );
    if let Some(seen) = seen {
        println!(
            "lines {}, events {}, transcript {} bytes, outcome {:?}, usage {:?}",
            seen.lines, seen.events, seen.transcript_bytes, seen.outcome.status, seen.outcome.usage
        );
    }
}

/// The generator written into an OS pipe (1 MiB writes) by a thread, read back as the agent's stdout is.
async fn through_pipe(mut generator: ClaudeStreamGenerator) -> Consumed {
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    let writing = std::thread::spawn(move || {
        let mut buf = vec![0; 1024 * 1024];
        loop {
            let n = generator.read(&mut buf).expect("generation does not fail");
            if n == 0 {
                break;
            }
            writer
                .write_all(&buf[..n])
                .expect("the reader reads to the end");
        }
    });
    let receiver =
        tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()).expect("a pipe's read end");
    let seen = consume_claude(receiver).await.expect("reading the pipe");
    writing.join().expect("the writer does not panic");
    seen
}

/// Generates the whole stream into a 1 MiB buffer and throws it away; returns the bytes generated.
fn discard(mut generator: ClaudeStreamGenerator) -> u64 {
    let mut buf = vec![0; 1024 * 1024];
    while generator.read(&mut buf).expect("generation does not fail") > 0 {}
    generator.produced()
}
