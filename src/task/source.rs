//! The text a queue was read from, and writing the queue back through it: every field autodev
//! did not change is written as the exact JSON text it was read as (numbers of any size, key
//! order, lenient forms such as a single string where a list is expected); only changed fields
//! take autodev's canonical form, and fields autodev adds with their default values are not
//! added. A queue built in memory (a new plan) is written canonically.

use std::sync::Arc;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::model::{Task, TaskFile};

/// An object's members as written: keys in order, values as their text.
#[derive(Debug)]
pub(crate) struct RawObject(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((key, value));
                }
                Ok(RawObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The text a document was read from. It takes no part in comparisons: two queues are equal
/// when their contents are.
#[derive(Debug, Clone, Default)]
pub struct SourceText(Option<Arc<Source>>);

#[derive(Debug)]
struct Source {
    /// Tells apart the documents tasks were read from (a task moved from one queue to another
    /// does not take the other's text).
    id: u64,
    bytes: Vec<u8>,
    /// The tasks as read: a task still equal to its reading is written back as read without
    /// being parsed again.
    tasks: Vec<Task>,
}

/// Where a task was read from: the document, and its place in the document's `tasks`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin(Option<(u64, usize)>);

impl PartialEq for SourceText {
    fn eq(&self, _: &SourceText) -> bool {
        true
    }
}

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

/// Remembers that `file` was read from `bytes`, and where each of its tasks stood. Nothing is
/// parsed here: reading stays as fast as before; only a write reads the text again, and only
/// the tasks that changed.
pub(crate) fn attach(file: &mut TaskFile, bytes: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    for (i, task) in file.tasks.iter_mut().enumerate() {
        task.origin = Origin(Some((id, i)));
    }
    file.source = SourceText(Some(Arc::new(Source {
        id,
        bytes: bytes.to_vec(),
        tasks: file.tasks.clone(),
    })));
}

/// What is written: original text, a canonical value, or a container of those.
enum Out<'a> {
    Raw(&'a RawValue),
    Val(Value),
    Obj(Vec<(String, Out<'a>)>),
    Arr(Vec<Out<'a>>),
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Raw(raw) => raw.serialize(serializer),
            Out::Val(value) => value.serialize(serializer),
            Out::Obj(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Out::Arr(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

/// The members as read, parsed (but for `skip`).
fn parsed(raw: &RawObject, skip: &str) -> Map<String, Value> {
    raw.0
        .iter()
        .filter(|(k, _)| k != skip)
        .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v.get()).ok()?)))
        .collect()
}

/// Merges `now` (the canonical members) into the members as read: a member whose canonical
/// value is what it was at load keeps its text; a changed one takes the new value in its place;
/// a removed one goes; a new one is appended unless it is only a default autodev fills in.
/// `special` is written as given wherever its key falls.
fn merge<'a>(
    raw: &'a RawObject,
    loaded: &Map<String, Value>,
    mut now: Map<String, Value>,
    mut special: Option<(&str, Out<'a>)>,
) -> Vec<(String, Out<'a>)> {
    let mut out = Vec::new();
    for (key, text) in &raw.0 {
        if special.as_ref().is_some_and(|(k, _)| k == key) {
            if let Some((k, value)) = special.take() {
                now.shift_remove(k);
                out.push((key.clone(), value));
            }
            continue;
        }
        match now.shift_remove(key) {
            Some(value) if loaded.get(key) == Some(&value) => {
                out.push((key.clone(), Out::Raw(text)));
            }
            Some(value) => out.push((key.clone(), Out::Val(value))),
            // Never modelled (a legacy alias such as `gate`): kept as written.
            None if !loaded.contains_key(key) => out.push((key.clone(), Out::Raw(text))),
            None => {}
        }
    }
    for (key, value) in now {
        if let Some((k, _)) = &special
            && *k == key
        {
            if let Some((k, value)) = special.take() {
                out.push((k.to_string(), value));
            }
            continue;
        }
        if loaded.get(&key) != Some(&value) {
            out.push((key, Out::Val(value)));
        }
    }
    if let Some((k, value)) = special {
        out.push((k.to_string(), value));
    }
    out
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn task_out<'a>(task: &Task, raws: &'a [RawObject], source: &Source) -> Out<'a> {
    match task.origin.0 {
        // Unchanged: every member as read (what the merge below gives when nothing differs).
        Some((from, i))
            if from == source.id && i < raws.len() && source.tasks.get(i) == Some(task) =>
        {
            Out::Obj(
                raws[i]
                    .0
                    .iter()
                    .map(|(key, text)| (key.clone(), Out::Raw(text)))
                    .collect(),
            )
        }
        Some((from, i)) if from == source.id && i < raws.len() => {
            let now = object(task.to_value());
            let raw = &raws[i];
            let loaded = object(Task::from_owned(parsed(raw, "")).to_value());
            Out::Obj(merge(raw, &loaded, now, None))
        }
        _ => Out::Val(task.to_value()),
    }
}

/// The file text of `file`: 2-space indent, non-ASCII kept, trailing newline.
pub(crate) fn render(file: &TaskFile) -> String {
    let root: Option<(&Source, RawObject)> = file.source.0.as_ref().and_then(|source| {
        Some((
            &**source,
            serde_json::from_slice::<RawObject>(&source.bytes).ok()?,
        ))
    });
    let raws: Vec<RawObject> = root
        .as_ref()
        .and_then(|(_, raw)| raw.0.iter().find(|(k, _)| k == "tasks"))
        .and_then(|(_, tasks)| serde_json::from_str(tasks.get()).ok())
        .unwrap_or_default();
    let out = match &root {
        None => Out::Val(file.to_value()),
        Some((source, raw)) => {
            let now = file.members(false);
            let loaded = match TaskFile::from_owned(Value::Object(parsed(raw, "tasks"))) {
                Ok(file) => file.members(false),
                Err(_) => Map::new(),
            };
            let tasks = Out::Arr(
                file.tasks
                    .iter()
                    .map(|t| task_out(t, &raws, source))
                    .collect(),
            );
            let keep_tasks = raw.0.iter().any(|(k, _)| k == "tasks") || !file.tasks.is_empty();
            let special = keep_tasks.then_some(("tasks", tasks));
            Out::Obj(merge(raw, &loaded, now, special))
        }
    };
    let mut text = serde_json::to_string_pretty(&out).unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> TaskFile {
        crate::task::store::parse(std::path::Path::new("task.json"), text.as_bytes())
            .expect("a valid queue")
    }

    use crate::testing::Rng;

    /// Any JSON value, with a marker where a number too big for 64 bits goes.
    fn value(rng: &mut Rng, depth: u32, bigs: &mut Vec<String>) -> Value {
        match rng.next(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(rng.next(2) == 1),
            2 => json!(rng.next(1000) as f64 / 8.0),
            3 => json!(format!("text {}", rng.next(100))),
            4 => {
                let big = format!("{}{:020}", 1 + rng.next(9), rng.next(u64::MAX >> 1));
                bigs.push(big);
                json!(format!("@BIG{}@", bigs.len() - 1))
            }
            5 => Value::Array(
                (0..rng.next(3))
                    .map(|_| value(rng, depth + 1, bigs))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.next(3))
                    .map(|i| (format!("k{i}"), value(rng, depth + 1, bigs)))
                    .collect(),
            ),
        }
    }

    /// A valid queue in the file's own layout, with unknown fields everywhere and some lenient
    /// forms; its text.
    fn queue(rng: &mut Rng) -> String {
        let mut bigs = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..1 + rng.next(4) {
            let mut task = Map::new();
            // Unknown fields may come first: their place is kept.
            if rng.next(2) == 0 {
                task.insert("x_first".into(), value(rng, 0, &mut bigs));
            }
            task.insert("id".into(), json!(format!("T{i}")));
            task.insert("title".into(), json!(format!("Task {i}")));
            if rng.next(2) == 0 {
                task.insert("steps".into(), json!("one step written as text"));
            }
            if rng.next(2) == 0 {
                task.insert(
                    "verification".into(),
                    json!({"validate_commands": "false", "x_note": value(rng, 1, &mut bigs)}),
                );
            }
            for k in 0..rng.next(3) {
                task.insert(format!("x_{k}"), value(rng, 0, &mut bigs));
            }
            tasks.push(Value::Object(task));
        }
        let mut root = Map::new();
        root.insert(
            "x_owner".into(),
            value(&mut Rng(rng.next(1000)), 0, &mut bigs),
        );
        root.insert("tasks".into(), Value::Array(tasks));
        let mut text = serde_json::to_string_pretty(&Value::Object(root)).unwrap();
        text.push('\n');
        for (i, big) in bigs.iter().enumerate() {
            text = text.replace(&format!("\"@BIG{i}@\""), big);
        }
        text
    }

    #[test]
    fn any_queue_is_written_back_byte_for_byte() {
        let mut rng = Rng(20261201);
        for _ in 0..300 {
            let text = queue(&mut rng);
            assert_eq!(read(&text).to_json_text(), text);
        }
    }

    #[test]
    fn a_change_rewrites_only_the_fields_it_changed() {
        let mut rng = Rng(7);
        for _ in 0..300 {
            let text = queue(&mut rng);
            let mut file = read(&text);
            let k = rng.next(file.tasks.len() as u64) as usize;
            file.tasks[k].block("stop", "2026-12-01T00:00:00Z".into());
            let written = file.to_json_text();
            let before: RawObject = serde_json::from_str(&text).unwrap();
            let after: RawObject = serde_json::from_str(&written).unwrap();
            let tasks = |o: &RawObject| -> Vec<RawObject> {
                let (_, t) = o.0.iter().find(|(k, _)| k == "tasks").unwrap();
                serde_json::from_str(t.get()).unwrap()
            };
            let (old, new) = (tasks(&before), tasks(&after));
            for (j, (o, n)) in old.iter().zip(&new).enumerate() {
                let changed = ["blocked", "block_reason", "blocked_at"];
                for (key, raw) in &o.0 {
                    if j == k && changed.contains(&key.as_str()) {
                        continue;
                    }
                    let now = n.0.iter().find(|(k2, _)| k2 == key).map(|(_, v)| v.get());
                    assert_eq!(
                        now,
                        Some(raw.get()),
                        "task {j} field {key}\n{text}\n{written}"
                    );
                }
            }
            let changed = &new[k].0;
            let get = |key: &str| {
                changed
                    .iter()
                    .find(|(k2, _)| k2 == key)
                    .map(|(_, v)| v.get())
            };
            assert_eq!(get("blocked"), Some("true"));
            assert_eq!(get("block_reason"), Some("\"stop\""));
            // The root's other members are untouched.
            assert_eq!(before.0[0].1.get(), after.0[0].1.get());
        }
    }

    #[test]
    fn a_lenient_string_stays_as_written_and_reads_as_a_list() {
        let text = "{\n  \"tasks\": [\n    {\n      \"id\": \"T1\",\n      \"verification\": {\n        \"validate_commands\": \"false\"\n      }\n    }\n  ]\n}\n";
        let file = read(text);
        assert_eq!(
            file.tasks[0].verification.validate_commands,
            Some(vec!["false".to_string()])
        );
        assert_eq!(file.to_json_text(), text);
    }
}
