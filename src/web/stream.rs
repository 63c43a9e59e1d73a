//! Live journal lines for the web pages: a follower that reads what a run appends to
//! `logs/events.jsonl` (by byte offset, never the whole file again), and the server-sent-events
//! stream built on it. Each event's SSE id is its journal `seq`, so a browser that reconnects
//! (sending `Last-Event-ID`) resumes where it stopped. A stream reads its files when the
//! server's [`Watch`] says they changed (and now and then regardless), or every `POLL` where
//! they cannot be watched.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::watch::{Changes, Watch};
use crate::exec::{Cancel, CancelLevel};

/// How far back a follower that resumes from a `seq` looks.
const WINDOW: u64 = 4 * 1024 * 1024;
/// The most one poll reads for one client: a large append reaches a client over several polls,
/// so a hundred clients of a run that writes 40 MB at once hold a few megabytes between them,
/// not gigabytes.
const CHUNK: u64 = 16 * 1024;
/// The longest line a stream passes on; a longer one is skipped (it stays in the journal).
const MAX_LINE: u64 = 1024 * 1024;
/// The most streams reading their files at once; the others wait their turn. Bounds the memory
/// a crowd of streams holds in flight, and the threads they take from the blocking pool.
const READERS: usize = 4;
/// Turns for [`READERS`].
static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(READERS);
/// How often a file that cannot be watched is looked at.
const POLL: Duration = Duration::from_millis(400);
/// How often a watched file is read all the same, in case a change came without a notice (a
/// file written from another machine on a network file system).
const RECHECK: Duration = Duration::from_secs(30);
/// How long a stream waits after a notice before reading, so that a burst of writes is read
/// once.
const SETTLE: Duration = Duration::from_millis(40);

/// Reads the journal lines appended since the last poll.
pub(crate) struct Follower {
    path: PathBuf,
    offset: u64,
    /// The file read last: a rotated journal is a new file, read from its start.
    inode: Option<u64>,
    /// On the first read only (a resume): lines at or below this `seq` were given already.
    after: Option<u64>,
    /// Whether the last poll stopped at its chunk with more of the file unread.
    more: bool,
    /// The file's change count and its value at the last read, while it is watched.
    watched: Option<(Changes, u64)>,
    /// When the file was last read.
    read_at: Option<std::time::Instant>,
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
            more: false,
            watched: None,
            read_at: None,
            last: None,
        }
    }

    /// Whether the file may have changed since the last time this said so: it is not watched,
    /// its watch saw a change, the last read stopped short, or [`RECHECK`] has passed.
    fn due(&mut self, watch: &Watch) -> bool {
        let quiet = self
            .watched
            .as_ref()
            .is_some_and(|(changes, seen)| changes.load(Ordering::Relaxed) == *seen);
        let recent = self.read_at.is_some_and(|t| t.elapsed() < RECHECK);
        if quiet && recent && !self.more {
            return false;
        }
        // The count is taken before reading: a change during the read is read next time.
        self.watched = watch.file(&self.path).map(|changes| {
            let seen = changes.load(Ordering::Relaxed);
            (changes, seen)
        });
        self.read_at = Some(std::time::Instant::now());
        true
    }

    /// [`Follower::poll`] when the file is [`Follower::due`].
    fn poll_if_due(&mut self, watch: &Watch) -> Vec<(u64, String)> {
        if self.due(watch) {
            self.poll()
        } else {
            Vec::new()
        }
    }

    /// When this follower wants its next read.
    fn next(&self) -> Next {
        if self.more {
            Next::Now
        } else if self.watched.is_none() {
            Next::Poll
        } else {
            Next::Notice
        }
    }

    /// The complete lines appended since the last poll, with their `seq`, oldest first. A line
    /// still being written waits for the next poll; a rotated journal is read from its start.
    pub(crate) fn poll(&mut self) -> Vec<(u64, String)> {
        self.more = false;
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
        if (&mut file).take(CHUNK).read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        if bytes.len() as u64 == CHUNK && !bytes.contains(&b'\n') {
            // One long line: read on to its end, as far as the longest line given.
            if file.take(MAX_LINE - CHUNK).read_to_end(&mut bytes).is_err() {
                return Vec::new();
            }
        }
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            // A line longer than that is skipped rather than held forever.
            if bytes.len() as u64 >= MAX_LINE {
                self.offset += bytes.len() as u64;
                self.more = true;
            }
            return Vec::new();
        };
        self.offset += end as u64 + 1;
        self.more = self.offset < len;
        let resume_after = self.after.take();
        let mut out = Vec::new();
        for line in bytes[..end].split(|b| *b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let Ok(head) = serde_json::from_str::<Head>(line) else {
                continue;
            };
            let run = head.run_id.unwrap_or_default();
            let repeat = self
                .last
                .as_ref()
                .is_some_and(|(r, s)| **r == *run && head.seq <= *s);
            if repeat || resume_after.is_some_and(|a| head.seq <= a) {
                continue;
            }
            self.last = Some((run.into_owned(), head.seq));
            out.push((head.seq, line.to_string()));
        }
        out
    }
}

/// What a stream needs of a journal line: the rest is passed on as it is.
#[derive(serde::Deserialize)]
struct Head<'a> {
    seq: u64,
    #[serde(borrow, default)]
    run_id: Option<std::borrow::Cow<'a, str>>,
}

/// When a stream reads next.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    /// As soon as the client has taken this batch: more is already waiting.
    Now,
    /// After [`POLL`]: something followed cannot be watched.
    Poll,
    /// At the next notice, or after [`RECHECK`].
    Notice,
}

/// One poll's events and when to read next.
type Batch = (Vec<Event>, Next);

/// An SSE response fed by `poll`, run off the runtime now and then every `POLL`, until the
/// client goes away or the server stops (`cancel`). The next poll waits until the client has
/// taken the last one's events, so a client that does not read holds at most one batch here.
fn polled<S: Send + 'static>(
    state: S,
    poll: fn(&mut S) -> Batch,
    watch: &Watch,
    cancel: Cancel,
) -> Response {
    let notices = watch.subscribe();
    let start = (
        Some(state),
        VecDeque::<Event>::new(),
        cancel,
        notices,
        Next::Now,
    );
    let events = futures_util::stream::unfold(
        start,
        move |(mut state, mut pending, cancel, mut notices, mut next)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    let carried = (state, pending, cancel, notices, next);
                    return Some((Ok::<_, Infallible>(event), carried));
                }
                if cancel.level() != CancelLevel::None {
                    return None;
                }
                match (next, notices.as_mut()) {
                    (Next::Now, _) => {}
                    (Next::Notice, Some(notices)) => {
                        tokio::select! {
                            changed = notices.changed() => {
                                if changed.is_ok() {
                                    tokio::time::sleep(SETTLE).await;
                                } else {
                                    tokio::time::sleep(POLL).await;
                                }
                            }
                            () = tokio::time::sleep(RECHECK) => {}
                        }
                    }
                    _ => tokio::time::sleep(POLL).await,
                }
                let mut s = state.take()?;
                let turn = TURNS.acquire().await.ok()?;
                let (s, (batch, then)) = tokio::task::spawn_blocking(move || {
                    let _turn = turn;
                    let batch = poll(&mut s);
                    (s, batch)
                })
                .await
                .ok()?;
                state = Some(s);
                next = then;
                pending.extend(batch);
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The SSE response: `journal` events (data: the journal line, id: its `seq`).
pub(crate) fn response(follower: Follower, watch: &Watch, cancel: Cancel) -> Response {
    polled(
        (follower, watch.clone()),
        |(f, watch)| {
            let events = f
                .poll_if_due(watch)
                .into_iter()
                .map(|(seq, line)| {
                    Event::default()
                        .event("journal")
                        .id(seq.to_string())
                        .data(line)
                })
                .collect();
            (events, f.next())
        },
        watch,
        cancel,
    )
}

/// Every registered project's journal at once, for the project list: each new line as a
/// `journal` event whose data is `{"project": ID, "event": LINE}`. The registry is read again
/// when it changes (or now and then), so a project registered later is followed from then on.
pub(crate) fn all_response(watch: &Watch, cancel: Cancel) -> Response {
    polled(
        All {
            watch: watch.clone(),
            registry: super::registry_file().map(|r| Follower::new(r, None)),
            projects: Vec::new(),
            followers: std::collections::HashMap::new(),
        },
        All::poll,
        watch,
        cancel,
    )
}

/// The state of the project list's stream.
struct All {
    watch: Watch,
    /// Tells when the registry changed (its lines are never read through it).
    registry: Option<Follower>,
    /// The registered projects' journals and ids, as last read.
    projects: Vec<(PathBuf, String)>,
    followers: std::collections::HashMap<PathBuf, Follower>,
}

impl All {
    fn poll(&mut self) -> Batch {
        let registry_changed = match &mut self.registry {
            Some(registry) => registry.due(&self.watch),
            None => true,
        };
        if registry_changed || self.projects.is_empty() {
            self.projects = crate::projects::list()
                .into_iter()
                .map(|p| (p.journal(), super::project_id(&p.root)))
                .collect();
        }
        let mut batch = Vec::new();
        let mut next = self.registry.as_ref().map_or(Next::Poll, Follower::next);
        for (journal, id) in &self.projects {
            let follower = self
                .followers
                .entry(journal.clone())
                .or_insert_with(|| Follower::new(journal.clone(), None));
            for (_, line) in follower.poll_if_due(&self.watch) {
                let data = format!("{{\"project\":\"{id}\",\"event\":{line}}}");
                batch.push(Event::default().event("journal").data(data));
            }
            next = next.min(follower.next());
        }
        (batch, next)
    }
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

    #[test]
    fn a_long_line_is_passed_on_whole_and_only_an_absurd_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        append(&path, &line(0));
        let mut f = Follower::new(path.clone(), None);
        let long = format!("{{\"seq\":1,\"text\":\"{}\"}}\n", "a".repeat(100_000));
        let absurd = format!("{{\"seq\":2,\"text\":\"{}\"}}\n", "b".repeat(2 << 20));
        append(&path, &(long.clone() + &absurd + &line(3)));
        let mut got = Vec::new();
        for _ in 0..20 {
            got.extend(f.poll());
        }
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(got[0].1.len() + 1, long.len());
    }
}
