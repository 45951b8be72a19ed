//! The bounded copy of an agent's stdout kept as the iteration's transcript (`<n>.output.jsonl`).
//!
//! The transcript holds at most [`TRANSCRIPT_CAP`] bytes and stays NDJSON: whole lines only. A line that
//! cannot be kept whole (longer than the line reader's cap, or larger than the room left) is not dropped
//! without a trace: a marker record takes its place, holding as much of the line's start as fits:
//!
//! ```json
//! {"ralph_truncated":{"original_bytes":9437184,"kept_bytes":4194000,"kept":"{\"type\":\"user\",..."}}
//! ```
//!
//! - `original_bytes`: length of the line as the agent printed it, without the newline, in bytes;
//! - `kept_bytes`: length of `kept` in bytes of UTF-8 (its JSON escaping not counted);
//! - `kept`: the start of the line, cut on a character boundary, as a JSON string (invalid UTF-8 becomes
//!   U+FFFD).
//!
//! Once the transcript is full, further lines are counted, and one last record says how much was left
//! out: `{"ralph_truncated":{"dropped_lines":12,"dropped_bytes":5120}}` (bytes including newlines).
//! Room for that record is reserved, so the transcript never exceeds the cap.

use crate::lines::Line;
use serde::Serialize;
use serde_json::json;

/// Bytes of stdout kept as the run's transcript: 4 MiB (markers included).
pub const TRANSCRIPT_CAP: usize = 4 * 1024 * 1024;

/// Bytes reserved at the end of the transcript for the closing `dropped_lines` record.
const CLOSING_RESERVE: usize = 128;
/// Smallest room worth a marker with a prefix; with less room the line only counts as dropped.
const MIN_MARKER_ROOM: usize = 128;

/// Builds a transcript from stdout lines within a byte cap (see the module docs for the format).
#[derive(Debug)]
pub struct Transcript {
    cap: usize,
    bytes: Vec<u8>,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript::with_cap(TRANSCRIPT_CAP)
    }
}

impl Transcript {
    /// An empty transcript of at most `cap` bytes (at least 512).
    pub fn with_cap(cap: usize) -> Self {
        Transcript {
            cap: cap.max(512),
            bytes: Vec::new(),
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    /// Adds `line`: whole when it fits, else as a marker record with its start, else counted as dropped.
    pub fn push(&mut self, line: &Line) {
        let room = self
            .cap
            .saturating_sub(CLOSING_RESERVE)
            .saturating_sub(self.bytes.len());
        let bytes = line.as_bytes();
        // After a dropped line the transcript only grows by the closing record: no silent gaps.
        if self.dropped_lines == 0 && !line.is_truncated() && bytes.len() < room {
            self.bytes.extend_from_slice(bytes);
            self.bytes.push(b'\n');
            return;
        }
        if self.dropped_lines == 0 && room >= MIN_MARKER_ROOM {
            self.push_marker(line, room);
            return;
        }
        self.dropped_lines += 1;
        self.dropped_bytes += line.original_len() + 1;
    }

    /// Writes the marker of `line` with the longest prefix whose record fits in `room` bytes.
    ///
    /// The record's length is measured without building it (a counting writer), and the record is
    /// then serialised once, straight into the transcript: no copy of a prefix of up to the cap.
    fn push_marker(&mut self, line: &Line, room: usize) {
        let text = line.text();
        let mut keep = floor_char_boundary(&text, room);
        loop {
            let marker = Marker {
                ralph_truncated: Cut {
                    kept: &text[..keep],
                    kept_bytes: keep,
                    original_bytes: line.original_len(),
                },
            };
            let mut counter = Counter(0);
            serde_json::to_writer(&mut counter, &marker).expect("counting does not fail");
            let len = counter.0;
            if len < room || keep == 0 {
                self.bytes.reserve_exact(len + 1);
                serde_json::to_writer(&mut self.bytes, &marker).expect("a Vec takes any write");
                self.bytes.push(b'\n');
                return;
            }
            // Escaping made it too long: cut by the excess (at least a little) and try again.
            let excess = len + 1 - room;
            keep = floor_char_boundary(&text, keep.saturating_sub(excess.max(16)));
        }
    }

    /// The transcript, with the closing `dropped_lines` record when lines were left out.
    pub fn finish(mut self) -> Vec<u8> {
        if self.dropped_lines > 0 {
            let record = json!({"ralph_truncated": {
                "dropped_lines": self.dropped_lines,
                "dropped_bytes": self.dropped_bytes,
            }});
            self.bytes.extend_from_slice(record.to_string().as_bytes());
            self.bytes.push(b'\n');
        }
        self.bytes
    }
}

/// `{"ralph_truncated":{...}}` for a line kept in part (fields in the order `serde_json::Value` writes
/// them: sorted).
#[derive(Serialize)]
struct Marker<'a> {
    ralph_truncated: Cut<'a>,
}

#[derive(Serialize)]
struct Cut<'a> {
    kept: &'a str,
    kept_bytes: usize,
    original_bytes: u64,
}

/// A writer that only counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The largest index `<= at` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn lines(bytes: &[u8]) -> Vec<Value> {
        std::str::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn small_lines_are_kept_whole() {
        let mut t = Transcript::with_cap(1024);
        t.push(&Line::new(r#"{"a":1}"#));
        t.push(&Line::new(r#"{"b":2}"#));
        assert_eq!(t.finish(), b"{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn a_line_too_large_for_the_room_left_becomes_a_marker_with_its_start() {
        let mut t = Transcript::with_cap(1024);
        t.push(&Line::new(r#"{"a":1}"#));
        let big = format!("{{\"text\":\"{}\"}}", "é\"".repeat(2000));
        t.push(&Line::new(big.clone()));
        let out = t.finish();
        assert!(out.len() <= 1024, "{} bytes", out.len());
        let records = lines(&out);
        assert_eq!(records[0], json!({"a": 1}));
        let m = &records[1]["ralph_truncated"];
        assert_eq!(m["original_bytes"], big.len());
        let kept = m["kept"].as_str().unwrap();
        assert!(!kept.is_empty() && big.starts_with(kept));
        assert_eq!(m["kept_bytes"], kept.len());
    }

    #[test]
    fn a_marker_is_written_as_the_json_value_would_be() {
        let mut t = Transcript::with_cap(600);
        let big = format!("{{\"text\":\"{}\"}}", "é\"\t".repeat(300));
        t.push(&Line::new(big.clone()));
        let out = t.finish();
        let record: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out, format!("{record}\n").into_bytes());
    }

    #[test]
    fn a_line_cut_by_the_reader_is_marked_with_its_original_length() {
        // A 64-byte cap on a 100-byte line, as the line reader would deliver it.
        let data = format!("{}\n", "x".repeat(100));
        let mut reader = crate::lines::LineReader::new(data.as_bytes(), 64);
        let line = block_on(reader.next_line()).unwrap().unwrap();
        assert!(line.is_truncated());
        let mut t = Transcript::with_cap(1024);
        t.push(&line);
        let m = &lines(&t.finish())[0]["ralph_truncated"];
        assert_eq!(m["original_bytes"], 100);
        assert_eq!(m["kept_bytes"], 64);
    }

    #[test]
    fn lines_after_a_full_transcript_are_counted_in_a_closing_record() {
        let mut t = Transcript::with_cap(600);
        let line = format!("{{\"n\":\"{}\"}}", "y".repeat(90));
        for _ in 0..10 {
            t.push(&Line::new(line.clone()));
        }
        let out = t.finish();
        assert!(out.len() <= 600, "{} bytes", out.len());
        let records = lines(&out);
        let whole = records.iter().filter(|r| r.get("n").is_some()).count();
        let marker = records
            .iter()
            .filter(|r| r["ralph_truncated"]["kept"].is_string())
            .count();
        let closing = &records.last().unwrap()["ralph_truncated"];
        let dropped = closing["dropped_lines"].as_u64().unwrap();
        assert_eq!(whole as u64 + marker as u64 + dropped, 10);
        assert_eq!(closing["dropped_bytes"], dropped * (line.len() as u64 + 1));
    }

    /// Runs a future that never waits (reading from a byte slice) to completion.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
