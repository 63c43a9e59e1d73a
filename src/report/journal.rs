//! The run journal, `logs/events.jsonl`: every event of every run, one JSON object per line, in
//! the order it happened. It is the record a restarted run reads to finish a step that a crash
//! cut short, and the one stream the dashboards and other tools follow (`docs/journal.md`).
//!
//! Each line is `{"seq", "time", "run_id", "type", ...the event's fields}`; `seq` rises by one
//! per line across runs and rotations, so a reader can resume after the last one it saw. A file
//! always begins with a `journal_opened` line that carries the format version. Lines are written
//! whole with one `write` each, so a killed process leaves at most one cut-off last line, which
//! readers skip; the events a restart depends on are also synced to the disk.
//!
//! Growth is bounded: when the file has passed [`ROTATE_BYTES`] at the start of a run or a task,
//! it becomes `events.1.jsonl` (replacing an older one) and a new file begins. Recovery reads
//! from the end back to where the open work begins (the last run and the last task started),
//! however far back that is, going on into `events.1.jsonl` when a rotation came between.
//!
//! `seq` never goes backwards, even when the journal is deleted, emptied or cut short: the next
//! number is also kept in `events.seq` beside it (rewritten in place with each line), and a new
//! writer starts past the highest of that mark, the current file and the rotated one. A journal
//! deleted while a run writes it is opened again at the next line, with a new header.

use std::fs::File;
#[cfg(test)]
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Sink;
use crate::runner::event::Event;

/// The version of the line format; it changes only when a field changes its meaning or goes.
pub const FORMAT_VERSION: u32 = 1;
/// Size past which the journal is rotated at the next run or task start.
pub const ROTATE_BYTES: u64 = 32 * 1024 * 1024;
/// The longest agent message or detail kept in a line (the attempt log has all of it).
const TEXT_CAP: usize = 16 * 1024;
/// How much of the file's end [`read_tail`] reads (the web's recent events, `run --detach`).
const TAIL_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    time: String,
    run_id: &'a str,
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

/// One line of the journal, read back.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub run_id: String,
    #[serde(flatten)]
    pub event: Event,
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
    read_tail(path)
        .iter()
        .rev()
        .find(|e| e.seq < SEQ_LIMIT)
        .map_or(0, |e| e.seq + 1)
}

/// Now, in UTC with milliseconds: `2026-12-01T04:30:32.118Z`.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
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
            time: now(),
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
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.reopen_if_gone()?;
        if matches!(event, Event::RunStarted { .. } | Event::TaskStarted { .. })
            && self.len > ROTATE_BYTES
        {
            self.rotate()?;
        }
        let clipped = bounded(event);
        let line = Line {
            seq: self.next_seq,
            time: now(),
            run_id: &self.run_id,
            event: clipped.as_ref().unwrap_or(event),
        };
        let mut text = serde_json::to_string(&line).map_err(io::Error::other)?;
        text.push('\n');
        self.put(text.as_bytes(), must_sync(event))
    }
}

/// The events a new run resumes from, oldest first: everything since the last run that was not
/// a dry run started and since the last task started, whichever is earlier, read back from the
/// end as far as that is (into `events.1.jsonl` when the current file does not reach it). The
/// cost grows with the open work's events, not with the journal. Lines that do not parse are
/// skipped.
pub fn read_open_work(path: &Path) -> Vec<Entry> {
    let (mut run, mut task) = (false, false);
    let mut back = Vec::new();
    'files: for file in [path.to_path_buf(), path.with_file_name("events.1.jsonl")] {
        let Ok(lines) = crate::durable::LinesBack::open(&file) else {
            continue;
        };
        for line in lines.filter(|l| !is_tick(l)) {
            let Ok(entry) = serde_json::from_slice::<Entry>(&line) else {
                continue;
            };
            match entry.event {
                Event::RunStarted { dry_run: false, .. } => run = true,
                Event::TaskStarted { .. } => task = true,
                _ => {}
            }
            back.push(entry);
            if run && task {
                break 'files;
            }
        }
    }
    back.reverse();
    back
}

/// Whether a line is a progress tick (`heartbeat`, `check_running`): what nothing resumes
/// from, and what a long attempt writes most of, so it is passed over unparsed.
fn is_tick(line: &[u8]) -> bool {
    // The type follows seq, time and run_id: within the first couple of hundred bytes.
    let head = &line[..line.len().min(256)];
    [
        &b"\"type\":\"heartbeat\""[..],
        b"\"type\":\"check_running\"",
    ]
    .iter()
    .any(|tick| head.windows(tick.len()).any(|w| w == *tick))
}

/// The events at the end of the journal, oldest first; lines that do not parse (a cut-off last
/// line, a type from a newer autodev, the header) are skipped.
pub fn read_tail(path: &Path) -> Vec<Entry> {
    parsed_tail(path)
}

/// The lines at the end of the journal as plain JSON, oldest first, every type and the headers
/// kept: what the web API passes on. Lines that do not parse are skipped.
pub fn read_tail_lines(path: &Path) -> Vec<serde_json::Value> {
    parsed_tail(path)
}

fn parsed_tail<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let text = crate::durable::read_tail(path, TAIL_BYTES).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<T>(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::event::{Level, TaskRef};

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
                file.write_all(&vec![0u8; TAIL_BYTES as usize + 10])
                    .unwrap();
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

    #[test]
    fn open_work_is_read_back_to_its_start_however_far_skipping_ticks_and_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let line = |seq: u64, run: &str, body: &str| {
            format!("{{\"seq\":{seq},\"time\":\"t\",\"run_id\":\"{run}\",{body}}}\n")
        };
        let started = |dry: bool| {
            format!(
                "\"type\":\"run_started\",\"backend\":\"codex\",\"version\":null,\
                 \"max_tasks\":1,\"max_attempts\":1,\"dry_run\":{dry}"
            )
        };
        let task =
            "\"type\":\"task_started\",\"task\":{\"id\":\"T1\",\"title\":\"t\"},\"number\":1";
        let tick = "\"type\":\"heartbeat\",\"task\":{\"id\":\"T1\",\"title\":\"t\"},\
                    \"attempt\":1,\"max_attempts\":1,\"elapsed_seconds\":1,\"active\":true";
        let mut old = line(0, "old", &started(false));
        old.push_str(&line(1, "r1", &started(false)));
        old.push_str(&line(2, "r1", task));
        // Ten megabytes of the task's heartbeats: far past any window.
        let mut seq = 3;
        while old.len() < 10 << 20 {
            old.push_str(&line(seq, "r1", tick));
            seq += 1;
        }
        std::fs::write(&path, &old).unwrap();
        let types = |entries: Vec<Entry>| -> Vec<(String, u64)> {
            entries
                .iter()
                .map(|e| {
                    let v = serde_json::to_value(&e.event).unwrap();
                    (v["type"].as_str().unwrap().to_string(), e.seq)
                })
                .collect()
        };
        assert_eq!(
            types(read_open_work(&path)),
            [("run_started".into(), 1), ("task_started".into(), 2)]
        );
        // Rotated away, then a dry run: the open work is found in the rotated file.
        std::fs::rename(&path, dir.path().join("events.1.jsonl")).unwrap();
        std::fs::write(&path, line(seq, "dry", &started(true))).unwrap();
        assert_eq!(
            types(read_open_work(&path)),
            [
                ("run_started".into(), 1),
                ("task_started".into(), 2),
                ("run_started".into(), seq)
            ]
        );
    }
}
