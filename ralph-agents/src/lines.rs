//! Reading an agent's output line by line in bounded memory.
//!
//! Agents print NDJSON events that can be megabytes long (a tool result holding a whole file), and a broken
//! or hostile agent can print gigabytes without a newline. [`LineReader`] therefore has no fixed line-length
//! limit for correctness but a cap for memory: it holds at most one line of up to `max_line` bytes plus the
//! read buffer of the underlying [`AsyncBufRead`]. The part of a line beyond the cap is read and thrown
//! away, and the kept part is marked [`Line::is_truncated`]. Bytes are never rejected: invalid UTF-8 and
//! lines that are not JSON are data for the caller to interpret ([`Line::text`] converts lossily).

use std::borrow::Cow;
use std::io;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Default cap of one stdout line, in bytes (8 MiB): larger than any event Claude Code 2.1.197 prints in
/// practice (tool results are themselves truncated by the agent), small enough to bound memory.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024 * 1024;

/// One line of output, without its line terminator (`\n` or `\r\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    bytes: Vec<u8>,
    truncated: bool,
    original_len: u64,
}

impl Line {
    /// A complete (not truncated) line made of `bytes`. Useful to feed stream handlers in tests.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        let original_len = bytes.len() as u64;
        Line {
            bytes,
            truncated: false,
            original_len,
        }
    }

    /// The kept bytes of the line.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The kept bytes as text; invalid UTF-8 sequences become U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    /// True when the line was longer than the reader's cap and only its first part was kept (cut on a
    /// UTF-8 character boundary when the kept part is UTF-8).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Length of the whole line as the agent printed it, in bytes (without the terminator).
    pub fn original_len(&self) -> u64 {
        self.original_len
    }

    /// The kept bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Splits an [`AsyncBufRead`] into [`Line`]s of at most `max_line` bytes each.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    max_line: usize,
    buf: Vec<u8>,
    /// Bytes of the current line seen so far, kept or not.
    seen: u64,
    truncated: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader that keeps at most `max_line` bytes of each line (at least 4, so that one UTF-8 character
    /// always fits).
    pub fn new(reader: R, max_line: usize) -> Self {
        LineReader {
            reader,
            max_line: max_line.max(4),
            buf: Vec::new(),
            seen: 0,
            truncated: false,
        }
    }

    /// The next line, or `None` at end of input. A last line without a terminator is returned as a line.
    ///
    /// Cancel safe: the partial line lives in `self`, so dropping the future between two reads loses
    /// nothing, which lets the supervisor poll it inside `tokio::select!`.
    ///
    /// # Errors
    /// I/O errors of the underlying reader.
    pub async fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.seen == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.take()));
            }
            let newline = memchr::memchr(b'\n', available);
            let chunk_len = newline.unwrap_or(available.len());
            let chunk = &available[..chunk_len];
            Self::keep(
                &mut self.buf,
                &mut self.truncated,
                &mut self.seen,
                self.max_line,
                chunk,
            );
            let consumed = newline.map_or(chunk_len, |i| i + 1);
            self.reader.consume(consumed);
            if newline.is_some() {
                return Ok(Some(self.take()));
            }
        }
    }

    /// Capacity of the internal line buffer, in bytes; never more than the cap (for tests of the bound).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn keep(buf: &mut Vec<u8>, truncated: &mut bool, seen: &mut u64, max: usize, chunk: &[u8]) {
        *seen += chunk.len() as u64;
        let room = max - buf.len();
        let take = chunk.len().min(room);
        if take < chunk.len() {
            *truncated = true;
        }
        if take == 0 {
            return;
        }
        // Grow geometrically for speed, but never past the cap: this is the memory bound.
        if buf.capacity() < buf.len() + take {
            let target = (buf.capacity() * 2).max(buf.len() + take).min(max);
            buf.reserve_exact(target - buf.len());
        }
        buf.extend_from_slice(&chunk[..take]);
    }

    fn take(&mut self) -> Line {
        let mut bytes = std::mem::take(&mut self.buf);
        let truncated = std::mem::replace(&mut self.truncated, false);
        let original_len = std::mem::replace(&mut self.seen, 0);
        if truncated {
            cut_to_char_boundary(&mut bytes);
        } else if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let original_len = if !truncated && original_len > bytes.len() as u64 {
            // The stripped `\r` is part of the terminator, not of the line.
            bytes.len() as u64
        } else {
            original_len
        };
        Line {
            bytes,
            truncated,
            original_len,
        }
    }
}

/// Drops an incomplete UTF-8 sequence at the end of `bytes` (left there by a cut in mid-character).
fn cut_to_char_boundary(bytes: &mut Vec<u8>) {
    let len = bytes.len();
    // A UTF-8 character is at most 4 bytes: its lead byte is within the last 4.
    for back in 1..=len.min(4) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte
        }
        let width = match b {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return, // not UTF-8 anyway: keep the bytes as they are
        };
        if width > back {
            bytes.truncate(len - back);
        }
        return;
    }
}

/// Truncates `text` to at most `max` bytes on a character boundary, appending `…` when something was cut.
pub fn truncate_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One event of an agent's NDJSON stream: `line` parsed as a `T`, or `None` for an over-long line or a
/// line that is not such an event, counted in `unparsed` (the outcome rules look at it) and logged.
pub(crate) fn json_event<T: serde::de::DeserializeOwned>(
    agent: &str,
    line: &Line,
    unparsed: &mut u64,
) -> Option<T> {
    if line.is_truncated() {
        tracing::warn!(
            bytes = line.original_len(),
            "{agent} printed an over-long line; ignored"
        );
        *unparsed += 1;
        return None;
    }
    match serde_json::from_slice::<T>(line.as_bytes()) {
        Ok(event) => Some(event),
        Err(e) => {
            *unparsed += 1;
            tracing::debug!(error = %e, line = %truncate_text(&line.text(), 200), "not a {agent} JSON event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny read buffer exercises lines that span many reads.
        let reader = tokio::io::BufReader::with_capacity(7, input);
        let mut r = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().await.unwrap() {
            assert!(r.buffer_capacity() <= max.max(4));
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_an_unterminated_last_line() {
        let got = lines(b"one\r\n\ntwo\nthree", 1024).await;
        let texts: Vec<_> = got.iter().map(|l| l.text().into_owned()).collect();
        assert_eq!(texts, ["one", "", "two", "three"]);
        assert!(got.iter().all(|l| !l.is_truncated()));
    }

    #[tokio::test]
    async fn empty_input_has_no_lines() {
        assert!(lines(b"", 16).await.is_empty());
    }

    #[tokio::test]
    async fn long_line_is_truncated_and_the_next_line_is_intact() {
        let mut input = vec![b'a'; 100];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input, 10).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_bytes(), b"aaaaaaaaaa");
        assert!(got[0].is_truncated());
        assert_eq!(got[0].original_len(), 100);
        assert_eq!(got[1].text(), "next");
    }

    #[tokio::test]
    async fn truncation_never_splits_a_character() {
        // "é" is two bytes: a cap of 5 lands inside the third one.
        let got = lines("ééééé\n".as_bytes(), 5).await;
        assert_eq!(got[0].text(), "éé");
        assert!(got[0].is_truncated());
    }

    #[tokio::test]
    async fn invalid_utf8_is_data() {
        let got = lines(b"\xff\xfe ok\n", 64).await;
        assert_eq!(got[0].text(), "\u{fffd}\u{fffd} ok");
        assert_eq!(got[0].as_bytes(), b"\xff\xfe ok");
    }

    #[test]
    fn truncate_text_marks_the_cut() {
        assert_eq!(truncate_text("héllo", 2), "h…");
        assert_eq!(truncate_text("hi", 2), "hi");
    }
}
