//! Reading the journal back: the typed [`Entry`], the open work a new run resumes from (read
//! back from the end as far as it goes), and the recent tail the web and `run --detach` want.
//! Torn and unknown lines are skipped here, once, for every reader.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::event::Event;

/// How much of the file's end [`read_tail`] reads (the web's recent events, `run --detach`).
const TAIL_BYTES: u64 = 4 * 1024 * 1024;

/// One line of the journal, read back.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub run_id: String,
    /// The worker the event came from (`None`: the run's own, or a journal older than it).
    #[serde(default)]
    pub worker: Option<u32>,
    #[serde(flatten)]
    pub event: Event,
}

/// The events a new run resumes from, oldest first, read back from the end as far as the open
/// work goes (into `events.1.jsonl` when the current file does not reach it): past the last run
/// that was not a dry run, and back to the `task_started` of every task whose story is not over
/// — those with events after that run began, and those it named as left in flight. The cost
/// grows with the open work's events, not with the journal. Lines that do not parse are skipped.
pub fn read_open_work(path: &Path) -> Vec<Entry> {
    let mut reach = Reach::default();
    let mut back = Vec::new();
    'files: for file in [path.to_path_buf(), path.with_file_name("events.1.jsonl")] {
        let Ok(lines) = crate::durable::LinesBack::open(&file) else {
            continue;
        };
        for line in lines.filter(|l| !is_tick(l)) {
            let Ok(entry) = serde_json::from_slice::<Entry>(&line) else {
                continue;
            };
            let done = reach.passed(&entry);
            back.push(entry);
            if done {
                break 'files;
            }
        }
    }
    back.reverse();
    back
}

/// How far back [`read_open_work`] still has to read, updated with each entry read (newest
/// first).
#[derive(Default)]
struct Reach {
    /// The last run that was not a dry run was reached.
    run: bool,
    /// A `task_started` was reached (what a journal without the in-flight index relies on).
    any_task: bool,
    /// Tasks with an event read so far (their newest event already decided whether they are
    /// open).
    seen: HashSet<String>,
    /// Open tasks whose `task_started` is still to be read, with its `seq` when known.
    open: HashMap<String, Option<u64>>,
}

impl Reach {
    /// Takes in `entry`; whether everything the open work needs has now been read.
    fn passed(&mut self, entry: &Entry) -> bool {
        // A start that should have been read by now was lost (rotated away, cut off).
        self.open
            .retain(|_, seq| seq.is_none_or(|seq| entry.seq >= seq));
        match &entry.event {
            Event::RunStarted {
                dry_run: false,
                in_flight,
                ..
            } if !self.run => {
                self.run = true;
                for task in in_flight.iter().flatten() {
                    if !self.seen.contains(&task.task) {
                        self.seen.insert(task.task.clone());
                        self.open.insert(task.task.clone(), Some(task.seq));
                    }
                }
                if in_flight.is_some() {
                    self.any_task = true;
                }
            }
            Event::TaskStarted { task, .. } => {
                self.any_task = true;
                self.open.remove(&task.id);
                self.seen.insert(task.id.clone());
            }
            event => {
                if let Some(id) = event.task_id()
                    && self.seen.insert(id.to_string())
                    && !event.closes_task()
                {
                    self.open.insert(id.to_string(), None);
                }
            }
        }
        self.run && self.any_task && self.open.is_empty()
    }
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

    /// Writes `events` as journal lines numbered from 1 under run `run`.
    fn journal(path: &Path, events: &[(&str, Event)]) {
        let text: String = events
            .iter()
            .enumerate()
            .map(|(i, (run, event))| {
                let mut line = serde_json::to_value(event).unwrap();
                line["seq"] = (i as u64 + 1).into();
                line["time"] = "2026-12-07T00:00:00Z".into();
                line["run_id"] = (*run).into();
                line.to_string() + "\n"
            })
            .collect();
        std::fs::write(path, text).unwrap();
    }

    fn task(id: &str) -> super::super::event::TaskRef {
        super::super::event::TaskRef {
            id: id.into(),
            title: id.into(),
        }
    }

    fn run_started(in_flight: Option<Vec<super::super::event::InFlight>>) -> Event {
        Event::RunStarted {
            backend: "codex".into(),
            version: None,
            max_tasks: 1,
            max_attempts: 1,
            dry_run: false,
            carried: None,
            in_flight,
        }
    }

    fn note(text: &str) -> Event {
        Event::Note {
            level: super::super::event::Level::Info,
            text: text.into(),
        }
    }

    fn seqs(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn every_task_in_flight_is_read_back_to_its_start_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let started = |id: &str| Event::TaskStarted {
            task: task(id),
            number: 1,
        };
        let completed = |id: &str| Event::TaskBlocked {
            task: task(id),
            reason: "r".into(),
            evidence: vec![],
        };
        let mut events = vec![
            ("r0", note("long before")),
            ("r1", run_started(Some(vec![]))),
            // seq 3: T1 starts and is never finished.
            ("r1", started("T1")),
        ];
        // Many other tasks come and go after it.
        for i in 0..50 {
            events.push(("r1", started(&format!("X{i}"))));
            events.push(("r1", completed(&format!("X{i}"))));
        }
        // The next run found T1 in flight, named it, and began T2, which it never finished.
        let t1 = super::super::event::InFlight {
            task: "T1".into(),
            seq: 3,
        };
        let r2 = events.len();
        events.push(("r2", run_started(Some(vec![t1.clone()]))));
        let t2_at = events.len() as u64 + 1;
        events.push(("r2", started("T2")));
        events.push(("r2", note("last")));
        journal(&path, &events);
        let read = read_open_work(&path);
        assert_eq!(
            read.first().map(|e| e.seq),
            Some(3),
            "read back to T1's start"
        );
        assert_eq!(read.last().map(|e| e.seq), Some(events.len() as u64));
        assert!(seqs(&read).contains(&t2_at));

        // Without the index (a journal written before it), the reader stops at the last run and
        // the last task begun: T1 is out of reach, as it always was.
        events[r2] = ("r2", run_started(None));
        journal(&path, &events);
        assert_eq!(
            read_open_work(&path).first().map(|e| e.seq),
            Some(r2 as u64 + 1)
        );

        // A start the index names but the journal no longer has (rotated away, edited) is
        // given up once the reader passes its seq, not searched for to the file's beginning.
        let lost = super::super::event::InFlight {
            task: "T9".into(),
            seq: 100,
        };
        events[r2] = ("r2", run_started(Some(vec![t1, lost])));
        journal(&path, &events);
        assert_eq!(read_open_work(&path).first().map(|e| e.seq), Some(3));
        events[r2] = (
            "r2",
            run_started(Some(vec![super::super::event::InFlight {
                task: "T9".into(),
                seq: 100,
            }])),
        );
        journal(&path, &events);
        assert_eq!(read_open_work(&path).first().map(|e| e.seq), Some(99));
    }
}
