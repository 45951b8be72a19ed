//! Throughput of ralph's stdout pipeline on Claude Code stream-json (`ralph_benches::claude_stream`): the
//! line reader, the transcript and `ClaudeStream`, as the agent supervisor applies them to every line.
//!
//! Run with `cargo bench -p ralph-benches --bench parse_stream`. The input is generated once into memory
//! (a 64 MB session and one 100 MB line), so only the reading and parsing are timed:
//!
//! - `session`: the whole pipeline over a realistic session;
//! - `session-lines`: the line reader alone over the same bytes, and `session-lines+transcript` with the
//!   transcript, to see what each stage costs;
//! - `long-line`: one 100 MB `user` event (the reader keeps 8 MiB of it, the transcript a marker with its
//!   start).

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ralph_agents::lines::{DEFAULT_MAX_LINE, LineReader};
use ralph_agents::transcript::Transcript;
use ralph_benches::claude_stream::{ClaudeStreamGenerator, consume_claude};

const MB: u64 = 1_000_000;

fn parse_stream(c: &mut Criterion) {
    let quick = ralph_benches::quick();
    let (session_bytes, line_bytes) = if quick {
        (2 * MB, 10 * MB)
    } else {
        (64 * MB, 100 * MB)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let session = ClaudeStreamGenerator::session(session_bytes, 7).collect();
    let long = ClaudeStreamGenerator::long_line(line_bytes).collect();
    assert_eq!(long.len() as u64, line_bytes);

    let mut group = c.benchmark_group("claude-stream");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));

    group.throughput(Throughput::Bytes(session.len() as u64));
    group.bench_function("session", |b| {
        b.iter(|| {
            let seen = runtime
                .block_on(consume_claude(session.as_slice()))
                .expect("in-memory reads do not fail");
            assert_eq!(seen.bytes, session.len() as u64);
            assert!(
                seen.outcome.final_text.is_some(),
                "the result event is seen"
            );
            seen
        })
    });
    group.bench_function("session-lines", |b| {
        b.iter(|| runtime.block_on(read_lines(&session, false)))
    });
    group.bench_function("session-lines+transcript", |b| {
        b.iter(|| runtime.block_on(read_lines(&session, true)))
    });

    group.throughput(Throughput::Bytes(long.len() as u64));
    group.bench_function("long-line", |b| {
        b.iter(|| {
            let seen = runtime
                .block_on(consume_claude(long.as_slice()))
                .expect("in-memory reads do not fail");
            assert_eq!((seen.lines, seen.bytes), (1, long.len() as u64));
            seen
        })
    });
    group.finish();
}

/// The line reader over `bytes` as the supervisor buffers stdout, and the transcript if `transcript`;
/// returns the number of lines.
async fn read_lines(bytes: &[u8], transcript: bool) -> u64 {
    let reader = tokio::io::BufReader::with_capacity(64 * 1024, bytes);
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    let mut kept = Transcript::default();
    let mut count = 0;
    while let Some(line) = lines
        .next_line()
        .await
        .expect("in-memory reads do not fail")
    {
        if transcript {
            kept.push(&line);
        }
        std::hint::black_box(&line);
        count += 1;
    }
    std::hint::black_box(kept.finish());
    count
}

criterion_group!(benches, parse_stream);
criterion_main!(benches);
