//! Live journal lines for the web pages: a follower that reads what a run appends to
//! `logs/events.jsonl` (by byte offset, never the whole file again), and the server-sent-events
//! stream built on it. Each event's SSE id is its journal `seq`, so a browser that reconnects
//! (sending `Last-Event-ID`) resumes where it stopped.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use crate::exec::{Cancel, CancelLevel};

/// How far back a follower that resumes from a `seq` looks.
const WINDOW: u64 = 4 * 1024 * 1024;
/// The most one poll reads for one client: a large append reaches a client over several polls,
/// so a hundred clients of a run that writes 40 MB at once hold a few megabytes between them,
/// not gigabytes. A single line longer than this is skipped (it stays in the journal).
const CHUNK: u64 = 256 * 1024;
/// How often the journal is looked at.
const POLL: Duration = Duration::from_millis(400);

/// Reads the journal lines appended since the last poll.
pub(crate) struct Follower {
    path: PathBuf,
    offset: u64,
    /// The file read last: a rotated journal is a new file, read from its start.
    inode: Option<u64>,
    /// On the first read only (a resume): lines at or below this `seq` were given already.
    after: Option<u64>,
    /// The run and `seq` of the last line given: a line of the same run at or below it is a
    /// repeat. A line of another run is new whatever its `seq`, so a journal that starts again
    /// (deleted, its `seq` back at 0) or a forged huge `seq` never silences the stream.
    last: Option<(String, u64)>,
}

impl Follower {
    /// From the end of the file when `after` is `None` (only what comes next); otherwise from
    /// the lines after that `seq` still in the file's last window.
    pub(crate) fn new(path: PathBuf, after: Option<u64>) -> Follower {
        let meta = std::fs::metadata(&path).ok();
        let len = meta.as_ref().map_or(0, |m| m.len());
        let offset = match after {
            None => len,
            Some(_) => len.saturating_sub(WINDOW),
        };
        Follower {
            path,
            offset,
            inode: meta.map(|m| std::os::unix::fs::MetadataExt::ino(&m)),
            after,
            last: None,
        }
    }

    /// The complete lines appended since the last poll, with their `seq`, oldest first. A line
    /// still being written waits for the next poll; a rotated journal is read from its start.
    pub(crate) fn poll(&mut self) -> Vec<(u64, String)> {
        let Ok(mut file) = crate::durable::open_regular_no_link(&self.path) else {
            return Vec::new();
        };
        let Ok(meta) = file.metadata() else {
            return Vec::new();
        };
        let len = meta.len();
        let inode = Some(std::os::unix::fs::MetadataExt::ino(&meta));
        if len < self.offset || (self.inode.is_some() && inode != self.inode) {
            // A new or cut file: every line in it is new.
            self.offset = 0;
            self.after = None;
        }
        self.inode = inode;
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if file.take(CHUNK).read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            // One line longer than the window is skipped rather than held forever.
            if bytes.len() as u64 >= CHUNK {
                self.offset += bytes.len() as u64;
            }
            return Vec::new();
        };
        self.offset += end as u64 + 1;
        let resume_after = self.after.take();
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(&bytes[..end]).lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(seq) = value["seq"].as_u64() else {
                continue;
            };
            let run = value["run_id"].as_str().unwrap_or_default().to_string();
            let repeat = self
                .last
                .as_ref()
                .is_some_and(|(r, s)| *r == run && seq <= *s);
            if repeat || resume_after.is_some_and(|a| seq <= a) {
                continue;
            }
            self.last = Some((run, seq));
            out.push((seq, line.to_string()));
        }
        out
    }
}

/// An SSE response fed by `poll`, run off the runtime now and then every `POLL`, until the
/// client goes away or the server stops (`cancel`).
fn polled<S: Send + 'static>(state: S, poll: fn(&mut S) -> Vec<Event>, cancel: Cancel) -> Response {
    let start = (Some(state), VecDeque::<Event>::new(), cancel, true);
    let events = futures_util::stream::unfold(
        start,
        move |(mut state, mut pending, cancel, mut first)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok::<_, Infallible>(event), (state, pending, cancel, first)));
                }
                if cancel.level() != CancelLevel::None {
                    return None;
                }
                if !first {
                    tokio::time::sleep(POLL).await;
                }
                first = false;
                let mut s = state.take()?;
                let (s, batch) = tokio::task::spawn_blocking(move || {
                    let batch = poll(&mut s);
                    (s, batch)
                })
                .await
                .ok()?;
                state = Some(s);
                pending.extend(batch);
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The SSE response: `journal` events (data: the journal line, id: its `seq`).
pub(crate) fn response(follower: Follower, cancel: Cancel) -> Response {
    polled(
        follower,
        |f| {
            f.poll()
                .into_iter()
                .map(|(seq, line)| {
                    Event::default()
                        .event("journal")
                        .id(seq.to_string())
                        .data(line)
                })
                .collect()
        },
        cancel,
    )
}

/// Every registered project's journal at once, for the project list: each new line as a
/// `journal` event whose data is `{"project": ID, "event": LINE}`. The registry is read again
/// on each poll, so a project registered later is followed from then on.
pub(crate) fn all_response(cancel: Cancel) -> Response {
    polled(
        std::collections::HashMap::<PathBuf, Follower>::new(),
        |followers| {
            let mut batch = Vec::new();
            for project in crate::projects::list() {
                let journal = project.journal();
                let id = super::project_id(&project.root);
                let follower = followers
                    .entry(journal.clone())
                    .or_insert_with(|| Follower::new(journal, None));
                for (_, line) in follower.poll() {
                    let data = format!("{{\"project\":\"{id}\",\"event\":{line}}}");
                    batch.push(Event::default().event("journal").data(data));
                }
            }
            batch
        },
        cancel,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(seq: u64) -> String {
        format!("{{\"seq\":{seq},\"type\":\"x\"}}\n")
    }

    fn append(path: &std::path::Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn seqs(batch: Vec<(u64, String)>) -> Vec<u64> {
        batch.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn follows_appends_waits_for_whole_lines_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        append(&path, &(line(1) + &line(2)));
        let mut from_end = Follower::new(path.clone(), None);
        let mut resumed = Follower::new(path.clone(), Some(1));
        assert!(from_end.poll().is_empty());
        assert_eq!(seqs(resumed.poll()), [2]);

        append(&path, &(line(3) + "{\"seq\":4,"));
        assert_eq!(seqs(from_end.poll()), [3]);
        append(&path, "\"type\":\"x\"}\n");
        assert_eq!(seqs(from_end.poll()), [4]);
        assert_eq!(seqs(resumed.poll()), [3, 4]);

        // Rotation: the journal starts again, smaller, with higher numbers.
        std::fs::rename(&path, dir.path().join("events.1.jsonl")).unwrap();
        std::fs::write(&path, line(5)).unwrap();
        assert_eq!(seqs(from_end.poll()), [5]);
        // A garbled line and one already given are skipped.
        append(&path, &("garbage\n".to_string() + &line(5) + &line(6)));
        assert_eq!(seqs(from_end.poll()), [6]);
    }

    #[test]
    fn a_journal_that_starts_again_or_a_huge_seq_never_silences_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        append(&path, &line(7));
        let mut f = Follower::new(path.clone(), None);
        append(
            &path,
            &(line(8)
                + &format!(
                    "{{\"seq\":{},\"run_id\":\"forged\",\"type\":\"x\"}}\n",
                    u64::MAX
                )),
        );
        assert_eq!(seqs(f.poll()), [8, u64::MAX]);
        // `rm -rf logs`: a new journal of a new run, its seq from 0.
        std::fs::remove_file(&path).unwrap();
        let fresh = |seq: u64| format!("{{\"seq\":{seq},\"run_id\":\"new\",\"type\":\"x\"}}\n");
        std::fs::write(&path, fresh(0) + &fresh(1)).unwrap();
        assert_eq!(seqs(f.poll()), [0, 1]);
        append(&path, &fresh(2));
        assert_eq!(seqs(f.poll()), [2]);
    }

    #[test]
    fn a_missing_journal_gives_nothing_until_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = Follower::new(path.clone(), None);
        assert!(f.poll().is_empty());
        append(&path, &line(1));
        assert_eq!(seqs(f.poll()), [1]);
    }

    #[test]
    fn a_large_append_is_read_a_chunk_at_a_time_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        append(&path, &line(0));
        let mut f = Follower::new(path.clone(), None);
        // About 1.3 MB of lines at once: more than one poll reads.
        let burst: String = (1..=20_000).map(line).collect();
        append(&path, &burst);
        let mut got = Vec::new();
        let mut polls = 0;
        while got.len() < 20_000 && polls < 100 {
            let batch = f.poll();
            assert!(
                batch.iter().map(|(_, l)| l.len() + 1).sum::<usize>() as u64 <= CHUNK,
                "one poll holds at most a chunk"
            );
            got.extend(seqs(batch));
            polls += 1;
        }
        assert!(polls > 1, "the burst took several polls");
        assert_eq!(got, (1..=20_000).collect::<Vec<u64>>());
    }
}
