//! Reading the journal back: the typed [`Entry`], the open work a new run resumes from (read
//! back from the end as far as it goes), and the recent tail the web and `run --detach` want.
//! Torn and unknown lines are skipped here, once, for every reader.

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
    #[serde(flatten)]
    pub event: Event,
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
