//! Bounded memory of a child's output: the first bytes and the last bytes of a stream, and the
//! splitting of a byte stream into lines for observers.
//!
//! Whatever a child prints, autodev holds at most `head + tail` bytes of it per stream (the full
//! output goes to the log files); the middle is counted, not kept.

use std::collections::VecDeque;

/// Bytes kept from the start of each stream.
pub const HEAD_BYTES: usize = 64 * 1024;
/// Bytes kept from the end of each stream.
pub const TAIL_BYTES: usize = 256 * 1024;
/// Longest line handed to an observer; longer lines are skipped whole (they are still logged).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// The head and tail of one output stream, and how many bytes it carried in all.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
    /// Keep everything (in `head`).
    whole: bool,
}

impl Captured {
    /// A capture that keeps the whole stream.
    pub fn whole() -> Captured {
        Captured {
            whole: true,
            ..Captured::default()
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.whole {
            self.head.extend_from_slice(bytes);
            return;
        }
        if self.head.len() < HEAD_BYTES {
            let take = bytes.len().min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= TAIL_BYTES {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - TAIL_BYTES..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// Bytes the stream carried, including those not kept.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes neither in the head nor in the tail.
    pub fn omitted(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The bytes kept, exactly as the child wrote them when none were left out.
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.head.clone();
        bytes.extend(self.tail.iter());
        bytes
    }

    /// The whole stream when it was small enough to keep, otherwise head, a marker and tail.
    pub fn text(&self) -> String {
        let mut bytes = self.head.clone();
        let omitted = self.omitted();
        if omitted > 0 {
            bytes.extend_from_slice(format!("\n[… {omitted} bytes not kept …]\n").as_bytes());
        }
        bytes.extend(self.tail.iter());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The last `max_lines` lines of the stream (from what was kept).
    pub fn tail_lines(&self, max_lines: usize) -> String {
        let text = if self.omitted() == 0 {
            self.text()
        } else {
            let tail: Vec<u8> = self.tail.iter().copied().collect();
            String::from_utf8_lossy(&tail).into_owned()
        };
        let lines: Vec<&str> = text.trim_end_matches('\n').lines().collect();
        lines[lines.len().saturating_sub(max_lines)..].join("\n")
    }
}

/// Splits a byte stream into lines (without the newline), holding at most one partial line.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// The current line grew past [`MAX_LINE_BYTES`]; drop it up to the next newline.
    skipping: bool,
}

impl LineSplitter {
    /// Feeds bytes; calls `each` with every complete line.
    pub fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(&[u8])) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            let (line, rest) = bytes.split_at(pos);
            if !self.skipping {
                if self.partial.is_empty() {
                    each(trim_cr(line));
                } else {
                    self.partial.extend_from_slice(line);
                    each(trim_cr(&self.partial));
                }
            }
            self.partial.clear();
            self.skipping = false;
            bytes = &rest[1..];
        }
        if !self.skipping {
            if self.partial.len() + bytes.len() > MAX_LINE_BYTES {
                self.partial = Vec::new();
                self.skipping = true;
            } else {
                self.partial.extend_from_slice(bytes);
            }
        }
    }

    /// The last line, when the stream ended without a newline.
    pub fn finish(&mut self, mut each: impl FnMut(&[u8])) {
        if !self.skipping && !self.partial.is_empty() {
            each(trim_cr(&self.partial));
        }
        self.partial = Vec::new();
        self.skipping = false;
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_streams_are_kept_whole() {
        let mut c = Captured::default();
        c.push(b"hello ");
        c.push(b"world\n");
        assert_eq!(c.text(), "hello world\n");
        assert_eq!(c.total(), 12);
        assert_eq!(c.omitted(), 0);
    }

    #[test]
    fn large_streams_keep_head_and_tail_only() {
        let mut c = Captured::default();
        let chunk = vec![b'x'; 10_000];
        for _ in 0..100 {
            c.push(&chunk);
        }
        c.push(b"\nTHE END\n");
        assert_eq!(c.total(), 1_000_009);
        assert_eq!(c.omitted(), 1_000_009 - (HEAD_BYTES + TAIL_BYTES) as u64);
        let text = c.text();
        assert!(text.len() < HEAD_BYTES + TAIL_BYTES + 100);
        assert!(text.ends_with("THE END\n"));
        assert!(text.contains("bytes not kept"));
        assert!(c.tail_lines(1) == "THE END", "the last line is kept");
    }

    #[test]
    fn one_huge_push_keeps_its_end() {
        let mut c = Captured::default();
        let mut big = vec![b'a'; HEAD_BYTES + 2 * TAIL_BYTES];
        big.extend_from_slice(b"tail!");
        c.push(&big);
        assert!(c.text().ends_with("tail!"));
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut s = LineSplitter::default();
        let mut got = Vec::new();
        s.feed(b"one\ntw", |l| {
            got.push(String::from_utf8_lossy(l).into_owned())
        });
        s.feed(b"o\r\nthr", |l| {
            got.push(String::from_utf8_lossy(l).into_owned())
        });
        s.finish(|l| got.push(String::from_utf8_lossy(l).into_owned()));
        assert_eq!(got, ["one", "two", "thr"]);
    }

    #[test]
    fn overlong_lines_are_skipped_whole() {
        let mut s = LineSplitter::default();
        let mut got = Vec::new();
        let long = vec![b'z'; MAX_LINE_BYTES + 1];
        s.feed(b"first\n", |l| got.push(l.len()));
        s.feed(&long, |l| got.push(l.len()));
        s.feed(b"zz\nafter\n", |l| got.push(l.len()));
        assert_eq!(got, [5, 5]);
    }
}
