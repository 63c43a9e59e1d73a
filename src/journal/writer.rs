//! The journal's writer: [`JournalSink`] appends each event as one line, stamped with its
//! `seq`, time and run id, synced to the disk when a restart depends on it, and rotates the
//! file when it has grown (see the module above for the format).

use std::fs::File;
#[cfg(test)]
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Sink, Stamped};
use crate::journal::event::Event;

/// The version of the line format; it changes only when a field changes its meaning or goes.
pub const FORMAT_VERSION: u32 = 1;
/// Size past which the journal is rotated at the next run or task start.
pub const ROTATE_BYTES: u64 = 32 * 1024 * 1024;
/// The longest agent message or detail kept in a line (the attempt log has all of it).
const TEXT_CAP: usize = 16 * 1024;
#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    time: String,
    run_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<u32>,
    #[serde(flatten)]
    event: &'a Event,
}

#[derive(Serialize)]
struct Header<'a> {
    seq: u64,
    time: String,
    run_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    format_version: u32,
    writer: String,
}

/// Appends run events to the journal.
pub struct JournalSink {
    path: PathBuf,
    file: File,
    /// `events.seq`: the next `seq`, as 20 digits and a newline.
    mark: Option<File>,
    run_id: String,
    next_seq: u64,
    len: u64,
}

/// The file beside the journal that holds the next `seq`.
fn mark_path(path: &Path) -> PathBuf {
    path.with_file_name("events.seq")
}

/// The next `seq` the mark file holds (0 when it is missing or unreadable).
fn read_mark(path: &Path) -> u64 {
    crate::durable::read_regular(&mark_path(path), 64)
        .ok()
        .and_then(|bytes| String::from_utf8_lossy(&bytes).trim().parse().ok())
        .filter(|seq| *seq < SEQ_LIMIT)
        .unwrap_or(0)
}

/// The largest `seq` taken as real: a line claiming more (a damaged or forged line) would
/// leave no room to count on, and is passed over.
const SEQ_LIMIT: u64 = 1 << 53;

/// The `seq` after the last whole line of the journal at `path`.
fn after_last(path: &Path) -> u64 {
    super::read_tail(path)
        .iter()
        .rev()
        .find(|e| e.seq < SEQ_LIMIT)
        .map_or(0, |e| e.seq + 1)
}

/// A moment in UTC with milliseconds: `2026-12-01T04:30:32.118Z`.
fn time_of(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A new run's id: its start time and process id.
pub fn new_run_id() -> String {
    format!("{}-{}", crate::durable::file_stamp(), std::process::id())
}

impl JournalSink {
    /// Opens (or starts) the journal at `path` for the run `run_id`.
    pub fn open(path: &Path, run_id: String) -> io::Result<JournalSink> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // The mark is rewritten with every line; the rotated file is read only without it.
        let mark = read_mark(path);
        let rotated = || after_last(&path.with_file_name("events.1.jsonl"));
        let next_seq = after_last(path).max(if mark > 0 { mark } else { rotated() });
        let mut sink = JournalSink {
            path: path.to_path_buf(),
            file: open_append(path)?,
            mark: crate::durable::open_regular_rw(&mark_path(path)).ok(),
            run_id,
            next_seq,
            len: 0,
        };
        sink.start()?;
        Ok(sink)
    }

    /// Readies the open file for the next line: a line a crash cut off is ended, so the next
    /// one stands on its own; an empty file gets its header.
    fn start(&mut self) -> io::Result<()> {
        self.len = self.file.metadata()?.len();
        if self.len > 0 && !ends_with_newline(&self.path, self.len) {
            self.file.write_all(b"\n")?;
            self.len += 1;
        }
        if self.len == 0 {
            self.header()?;
        }
        Ok(())
    }

    /// Opens the journal again when the file was deleted or replaced since it was opened.
    fn reopen_if_gone(&mut self) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let ours = self.file.metadata()?;
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|there| there.ino() == ours.ino() && there.dev() == ours.dev());
        if !same {
            self.file = open_append(&self.path)?;
            self.start()?;
        }
        Ok(())
    }

    fn header(&mut self) -> io::Result<()> {
        let header = Header {
            seq: self.next_seq,
            time: time_of(jiff::Timestamp::now()),
            run_id: &self.run_id,
            kind: "journal_opened",
            format_version: FORMAT_VERSION,
            writer: format!("autodev {}", env!("CARGO_PKG_VERSION")),
        };
        let mut text = serde_json::to_string(&header).map_err(io::Error::other)?;
        text.push('\n');
        self.put(text.as_bytes(), false)
    }

    fn put(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        self.file.write_all(bytes)?;
        if sync {
            self.file.sync_data()?;
        }
        self.len += bytes.len() as u64;
        self.next_seq += 1;
        if let Some(mark) = &self.mark {
            use std::os::unix::fs::FileExt;
            // Twenty digits at offset 0, rewritten in place: the file never changes length.
            let text = format!("{:020}\n", self.next_seq);
            mark.write_all_at(text.as_bytes(), 0)?;
            if sync {
                mark.sync_data()?;
            }
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let old = self.path.with_file_name("events.1.jsonl");
        std::fs::rename(&self.path, &old)?;
        self.file = open_append(&self.path)?;
        self.len = 0;
        self.header()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    crate::durable::append_regular(path)
}

fn ends_with_newline(path: &Path, len: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    crate::durable::open_regular(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)
        })
        .map(|()| last[0] == b'\n')
        .unwrap_or(true)
}

/// Whether a restart depends on this event being on the disk before the next step begins.
fn must_sync(event: &Event) -> bool {
    matches!(
        event,
        Event::RunStarted { .. }
            | Event::ChangesFound { .. }
            | Event::Judged { .. }
            | Event::CommitStarted { .. }
            | Event::CommitMade { .. }
            | Event::CommitFailed { .. }
            | Event::TaskCompleted { .. }
            | Event::TaskBlocked { .. }
            | Event::CandidateCommitted { .. }
            | Event::DiscardStarted { .. }
            | Event::CandidateDiscarded { .. }
            | Event::CandidateKept { .. }
            | Event::ExperimentStarted { .. }
            | Event::ExperimentEnded { .. }
            | Event::WorkspaceOpened { .. }
            | Event::TaskLanded { .. }
            | Event::Recovered { .. }
            | Event::RunFinished { .. }
    )
}

/// The event as journalled: long texts clipped.
fn bounded(event: &Event) -> Option<Event> {
    let Event::AgentFinished {
        task,
        attempt,
        report,
    } = event
    else {
        return None;
    };
    if report.final_text.len() <= TEXT_CAP && report.detail.len() <= TEXT_CAP {
        return None;
    }
    let mut report = report.clone();
    report.final_text = crate::backend::clip(&report.final_text, TEXT_CAP);
    report.detail = crate::backend::clip(&report.detail, TEXT_CAP);
    Some(Event::AgentFinished {
        task: task.clone(),
        attempt: *attempt,
        report,
    })
}

impl Sink for JournalSink {
    fn stamped(&mut self, stamped: Stamped<'_>) -> io::Result<()> {
        let event = stamped.event;
        self.reopen_if_gone()?;
        if matches!(event, Event::RunStarted { .. } | Event::TaskStarted { .. })
            && self.len > ROTATE_BYTES
        {
            self.rotate()?;
        }
        let clipped = bounded(event);
        let line = Line {
            seq: self.next_seq,
            time: time_of(stamped.at),
            run_id: &self.run_id,
            worker: stamped.worker,
            event: clipped.as_ref().unwrap_or(event),
        };
        let mut text = serde_json::to_string(&line).map_err(io::Error::other)?;
        text.push('\n');
        self.put(text.as_bytes(), must_sync(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::{Level, TaskRef};
    use crate::journal::{read_tail, read_tail_lines};

    fn task() -> TaskRef {
        TaskRef {
            id: "T1".into(),
            title: "One".into(),
        }
    }

    #[test]
    fn lines_carry_seq_time_run_and_type_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/events.jsonl");
        let mut sink = JournalSink::open(&path, "run-a".into()).unwrap();
        sink.event(&Event::Note {
            level: Level::Info,
            text: "hello".into(),
        })
        .unwrap();
        sink.event(&Event::CommitMade {
            task: task(),
            sha: "abc".into(),
            ignored: vec![],
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["type"], "journal_opened");
        assert_eq!(lines[0]["format_version"], FORMAT_VERSION);
        assert_eq!(lines[1]["type"], "note");
        assert_eq!(lines[1]["seq"], 1);
        assert_eq!(lines[2]["type"], "commit_made");
        assert_eq!(lines[2]["run_id"], "run-a");
        assert_eq!(lines[2]["task"]["id"], "T1");
        let entries = read_tail(&path);
        assert_eq!(entries.len(), 2, "the header is not an event");
        assert!(matches!(entries[1].event, Event::CommitMade { .. }));
    }

    #[test]
    fn a_cut_off_line_is_skipped_and_seq_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        {
            let mut sink = JournalSink::open(&path, "a".into()).unwrap();
            sink.event(&Event::Note {
                level: Level::Warn,
                text: "x".into(),
            })
            .unwrap();
        }
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"seq":2,"time":"t","run_id":"a","type":"no"#)
            .unwrap();
        let mut sink = JournalSink::open(&path, "b".into()).unwrap();
        sink.event(&Event::Note {
            level: Level::Info,
            text: "y".into(),
        })
        .unwrap();
        let entries = read_tail(&path);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].run_id, "b");
        assert_eq!(entries[1].seq, 2, "seq continues after the last whole line");
    }

    #[test]
    fn a_large_journal_rotates_at_a_task_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut sink = JournalSink::open(&path, "a".into()).unwrap();
        sink.len = ROTATE_BYTES + 1;
        sink.event(&Event::TaskStarted {
            task: task(),
            number: 1,
        })
        .unwrap();
        assert!(dir.path().join("events.1.jsonl").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(r#"{"seq":1,"#), "{text}");
        assert!(text.contains("journal_opened"));
    }

    fn note(sink: &mut JournalSink, text: &str) {
        sink.event(&Event::Note {
            level: Level::Info,
            text: text.into(),
        })
        .unwrap();
    }

    fn last_seq(path: &Path) -> u64 {
        read_tail(path).last().map(|e| e.seq).unwrap()
    }

    #[test]
    fn seq_never_goes_back_when_the_journal_is_deleted_emptied_or_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut highest = 0;
        type Damage = fn(&Path);
        let damages: [(&str, Damage); 4] = [
            ("deleted", |p| std::fs::remove_file(p).unwrap()),
            ("emptied", |p| std::fs::write(p, "").unwrap()),
            ("cut to its first line", |p| {
                let text = std::fs::read_to_string(p).unwrap();
                std::fs::write(p, text.lines().next().unwrap()).unwrap();
            }),
            ("buried under NUL bytes", |p| {
                let mut file = OpenOptions::new().append(true).open(p).unwrap();
                file.write_all(&vec![0u8; (4 << 20) + 10]).unwrap();
            }),
        ];
        for (how, damage) in damages {
            {
                let mut sink = JournalSink::open(&path, "a".into()).unwrap();
                for _ in 0..3 {
                    note(&mut sink, "x");
                }
            }
            let before = last_seq(&path);
            assert!(before > highest || highest == 0, "{how}");
            damage(&path);
            let mut sink = JournalSink::open(&path, "b".into()).unwrap();
            note(&mut sink, "after");
            let after = last_seq(&path);
            assert!(after > before, "{how}: seq went from {before} to {after}");
            highest = after;
        }
    }

    #[test]
    fn a_journal_deleted_while_written_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut sink = JournalSink::open(&path, "a".into()).unwrap();
        note(&mut sink, "one");
        std::fs::remove_file(&path).unwrap();
        note(&mut sink, "two");
        let lines = read_tail_lines(&path);
        assert_eq!(lines[0]["type"], "journal_opened", "{lines:?}");
        assert_eq!(lines[1]["text"], "two");
        assert_eq!(lines[1]["seq"], 3, "seq goes on from the deleted file");
    }

    #[test]
    fn a_journal_that_is_not_a_regular_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("events.jsonl");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let error = JournalSink::open(&fifo, "a".into()).err().unwrap();
        assert!(error.to_string().contains("a FIFO"), "{error}");
        let device = dir.path().join("full/events.jsonl");
        std::fs::create_dir_all(device.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/full", &device).unwrap();
        let error = JournalSink::open(&device, "a".into()).err().unwrap();
        assert!(error.to_string().contains("a device"), "{error}");
        assert!(read_tail(&device).is_empty(), "a device is not read");
    }

    #[test]
    fn a_forged_huge_seq_is_passed_over_not_counted_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        {
            let mut sink = JournalSink::open(&path, "a".into()).unwrap();
            note(&mut sink, "one");
        }
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(
            format!("{{\"seq\":{},\"time\":\"t\",\"run_id\":\"x\",\"type\":\"note\",\"level\":\"info\",\"text\":\"forged\"}}\n", u64::MAX)
                .as_bytes(),
        )
        .unwrap();
        let mut sink = JournalSink::open(&path, "b".into()).unwrap();
        note(&mut sink, "two");
        assert_eq!(last_seq(&path), 2, "seq goes on from the last real line");
    }
}
