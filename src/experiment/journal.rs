//! `logs/experiments.jsonl`: one JSON object per measurement of an experiment (the baseline is
//! iteration 0), appended as it happens. The fields of the original are kept; the samples, the
//! noise bound, the confidence, the action taken and the candidate's ref are added.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Action, Outcome};

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Record {
    pub task_id: String,
    /// 0 for the baseline (and for re-measurements of the reference, with `outcome` baseline).
    pub iteration: u32,
    pub metric_name: String,
    pub baseline_value: Option<f64>,
    /// The reference the candidate was compared with (`None` for a baseline).
    pub best_before: Option<f64>,
    pub measured_value: Option<f64>,
    pub samples: Vec<f64>,
    /// Interleaved measurement: the reference's samples, pair by pair with `samples` (for the
    /// A/A measurement that opens an experiment, the second tree's samples of the same commit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_samples: Vec<f64>,
    /// The order the samples were taken in, `A` for the reference and `B` for the candidate
    /// (`ABBAABBAAB` for five pairs); empty when not interleaved.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub order: String,
    /// Interleaved measurement: the smallest mean pair difference these repeats can tell from
    /// noise, from the A/A measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_floor: Option<f64>,
    /// `baseline`, `improved`, `unchanged`, `equivalent`, `regressed`, `invalid` or
    /// `target_met` (`None`: a word this autodev does not know).
    #[serde(with = "word")]
    pub outcome: Option<Outcome>,
    /// `keep`, `discard`, `hold`, or empty for a baseline.
    #[serde(with = "word")]
    pub action: Option<Action>,
    pub noise: Option<f64>,
    pub confidence: Option<f64>,
    /// The candidate commit (empty when none was made).
    pub commit_sha: String,
    /// The candidate commit taken off the branch when it was discarded (empty otherwise).
    pub reverted_sha: String,
    /// Where a candidate commit stays reachable: `refs/autodev/experiments/...`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub notes: String,
    pub duration_ms: u64,
    pub recorded_at: String,
}

/// A word of the log's vocabulary (an outcome, an action), written as itself.
pub(crate) trait Word: Sized + Copy {
    fn as_str(self) -> &'static str;
    fn parse(word: &str) -> Option<Self>;
}

impl Word for Outcome {
    fn as_str(self) -> &'static str {
        Outcome::as_str(self)
    }
    fn parse(word: &str) -> Option<Self> {
        Outcome::parse(word)
    }
}

impl Word for Action {
    fn as_str(self) -> &'static str {
        Action::as_str(self)
    }
    fn parse(word: &str) -> Option<Self> {
        Action::parse(word)
    }
}

/// An optional [`Word`] as a string: `""` for none; a word not known (or not a string) reads as
/// none rather than losing the record.
mod word {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Word;

    pub fn serialize<S: Serializer, W: Word>(word: &Option<W>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(word.map_or("", W::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, W: Word>(d: D) -> Result<Option<W>, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(value.as_str().and_then(W::parse))
    }
}

/// The newest `limit` records of `task_id`, oldest first, read back from the end of the log
/// only as far as it takes to find them (the log of a long campaign can be large, and is shared
/// by every task). A missing or unreadable log has none.
pub fn recent(path: &Path, task_id: &str, limit: usize) -> Vec<Record> {
    let Ok(lines) = crate::durable::LinesBack::open(path) else {
        return Vec::new();
    };
    let mut found: Vec<Record> = lines
        .filter_map(|line| serde_json::from_slice::<Record>(&line).ok())
        .filter(|r| r.task_id == task_id)
        .take(limit)
        .collect();
    found.reverse();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_records_of_one_task_survive_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiments.jsonl");
        let mut text = String::new();
        for i in 0..8 {
            let task = if i % 2 == 0 { "T1" } else { "T2" };
            let r = Record {
                task_id: task.into(),
                iteration: i,
                ..Record::default()
            };
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
            if i == 3 {
                text.push_str("{not json\n");
            }
        }
        std::fs::write(&path, text).unwrap();
        let got: Vec<u32> = recent(&path, "T1", 3).iter().map(|r| r.iteration).collect();
        assert_eq!(got, [2, 4, 6]);
        assert!(recent(&dir.path().join("missing"), "T1", 3).is_empty());
    }

    #[test]
    fn a_task_s_records_are_found_however_much_others_wrote_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiments.jsonl");
        let line = |task: &str, iteration: u32| {
            let r = Record {
                task_id: task.into(),
                iteration,
                notes: "n".repeat(1000),
                ..Record::default()
            };
            serde_json::to_string(&r).unwrap() + "\n"
        };
        let mut text: String = (1..=3).map(|i| line("T1", i)).collect();
        // Two megabytes of another task's records after them.
        text.extend((0..2000).map(|i| line("T2", i)));
        std::fs::write(&path, text).unwrap();
        let got: Vec<u32> = recent(&path, "T1", 10_000)
            .iter()
            .map(|r| r.iteration)
            .collect();
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn outcomes_and_actions_are_written_as_words_and_unknown_ones_do_not_lose_the_record() {
        let baseline = Record {
            task_id: "T".into(),
            outcome: Some(Outcome::Baseline),
            ..Record::default()
        };
        let line = serde_json::to_value(&baseline).unwrap();
        assert_eq!(line["outcome"], "baseline");
        assert_eq!(
            line["action"], "",
            "a baseline has no action, written empty as before"
        );
        let kept = Record {
            outcome: Some(Outcome::TargetMet),
            action: Some(Action::Keep),
            ..Record::default()
        };
        let back: Record = serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();
        assert_eq!(back, kept);
        let newer: Record = serde_json::from_str(
            r#"{"task_id": "T", "iteration": 3, "outcome": "promoted", "action": 7}"#,
        )
        .unwrap();
        assert_eq!(
            (newer.iteration, newer.outcome, newer.action),
            (3, None, None)
        );
    }
}
