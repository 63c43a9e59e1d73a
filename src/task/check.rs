//! What a queue must be for autodev to read it as its author meant: every task has a unique id,
//! dependencies name tasks and never loop, and every field autodev knows has a shape it can
//! read (the lenient forms of `docs/task-json.md` included). Problems name the line, the task
//! and the field. Every load of `task.json` checks this ([`super::store::parse`]); nothing is
//! written and no agent is called while a problem stands.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::model::{FIELDS, Kind, known_field};

/// Where things stand in the file's text.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// The 1-based line each element of the top-level `tasks` list starts on.
    pub task_lines: Vec<usize>,
    /// Keys given twice in one object: the line of the second, and the key.
    pub duplicate_keys: Vec<(usize, String)>,
}

/// Reads the layout of `text`, which must already be known to be valid JSON.
pub(crate) fn layout(text: &[u8]) -> Layout {
    struct Frame {
        object: bool,
        /// Where this object's keys start in `keys` (objects are small: a scan beats a set).
        keys_from: usize,
        expect_key: bool,
        tasks: bool,
    }
    let mut out = Layout::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut root_key: &[u8] = b"";
    // Lines are counted only up to the places that are reported, moving forward.
    let (mut counted_to, mut line) = (0, 1);
    let mut line_at = |offset: usize| {
        line += memchr::memchr_iter(b'\n', &text[counted_to..offset]).count();
        counted_to = offset;
        line
    };
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i + 1;
                let mut end = start;
                // Strings are most of the text: jump to the next quote or escape.
                while let Some(k) = memchr::memchr2(b'"', b'\\', &text[end..]) {
                    if text[end + k] == b'\\' {
                        end += k + 2;
                    } else {
                        end += k;
                        break;
                    }
                }
                let end = end.min(text.len());
                let s = &text[start..end];
                let depth = stack.len();
                if let Some(top) = stack.last_mut()
                    && top.object
                    && top.expect_key
                {
                    top.expect_key = false;
                    if depth == 1 {
                        root_key = s;
                    }
                    if keys[top.keys_from..].contains(&s) {
                        out.duplicate_keys
                            .push((line_at(i), String::from_utf8_lossy(s).into_owned()));
                    }
                    keys.push(s);
                }
                i = end;
            }
            open @ (b'{' | b'[') => {
                let in_tasks = stack.last().is_some_and(|f| f.tasks);
                if open == b'{' && in_tasks {
                    out.task_lines.push(line_at(i));
                }
                let tasks = open == b'[' && stack.len() == 1 && root_key == b"tasks";
                stack.push(Frame {
                    object: open == b'{',
                    keys_from: keys.len(),
                    expect_key: open == b'{',
                    tasks,
                });
            }
            b'}' | b']' => {
                if let Some(frame) = stack.pop() {
                    keys.truncate(frame.keys_from);
                }
            }
            b',' => {
                if let Some(top) = stack.last_mut()
                    && top.object
                {
                    top.expect_key = true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The fields of a task's `verification` (and of the older `gate`).
const VERIFICATION_FIELDS: [&str; 5] = [
    "path_patterns",
    "validate_commands",
    "validate_timeout_seconds",
    "validate_working_directory",
    "validate_environment",
];

/// The known name `key` is a near miss of, among `known`: a typo, a missing or extra `s`, a
/// `-` for a `_`.
fn near_miss<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    if known.contains(&key) {
        return None;
    }
    let plain = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (strsim::levenshtein(k, &plain), *k))
        // One edit for a short name (`gate`, whose neighbours `date` or `name` are words of
        // their own), about one in five for a long one.
        .filter(|(d, k)| *d <= 1.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn misspelt(meant: &str) -> String {
    format!(
        "is not a field autodev knows: did you mean \"{meant}\"? (as written it would be \
         ignored, and with it what it says)"
    )
}

/// A text field: text, a number or null.
fn text_problem(value: &Value) -> Option<String> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Null => None,
        other => Some(format!("must be text, not {}", kind(other))),
    }
}

/// A list of text: a list of text or numbers, one text (read as a list of one), or null.
fn list_problem(value: &Value) -> Option<String> {
    match value {
        Value::String(_) | Value::Null => None,
        Value::Array(items) => items
            .iter()
            .position(|v| !matches!(v, Value::String(_) | Value::Number(_)))
            .map(|i| {
                format!(
                    "must be a list of text, but item {} is {}",
                    i + 1,
                    kind(&items[i])
                )
            }),
        other => Some(format!("must be a list of text, not {}", kind(other))),
    }
}

fn bool_problem(value: &Value) -> Option<String> {
    match value {
        Value::Bool(_) | Value::Null => None,
        Value::Number(n) if n.as_f64().is_some_and(|f| f == 0.0 || f == 1.0) => None,
        Value::String(s) if super::coerce::is_bool_word(s) => None,
        other => Some(format!("must be true or false, not {}", describe(other))),
    }
}

fn count_problem(value: &Value) -> Option<String> {
    let ok = match value {
        Value::Null => true,
        Value::Number(n) => n.as_u64().is_some(),
        Value::String(s) => s.trim().parse::<u64>().is_ok(),
        _ => false,
    };
    (!ok).then(|| {
        format!(
            "must be a whole number of 0 or more, not {}",
            describe(value)
        )
    })
}

/// A task's own budget in USD: a number of 0 or more (0: no cap), or such a number as text.
fn budget_problem(value: &Value) -> Option<String> {
    let ok = value.is_null() || super::coerce::number(Some(value)).is_some_and(|c| c >= 0.0);
    (!ok).then(|| {
        format!(
            "must be an amount in USD of 0 or more (0: no cap of its own), not {}",
            describe(value)
        )
    })
}

fn number_problem(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Number(_) => None,
        Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => None,
        other => Some(format!("must be a number, not {}", describe(other))),
    }
}

/// How a winning result comes to the user's branch: `"auto"`, `"manual"`, or null (the
/// project's `experiments.promotion`).
fn promotion_problem(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if crate::config::Promotion::parse(s).is_some() => None,
        other => Some(format!(
            "must be \"auto\" or \"manual\", not {}",
            describe(other)
        )),
    }
}

/// A value as a message shows it: its kind, and a short form of scalars.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the text {:?}", crate::backend::clip(s, 40)),
        Value::Number(n) => format!("the number {n}"),
        other => kind(other).to_string(),
    }
}

fn object_problem(value: &Value) -> Option<String> {
    match value {
        Value::Object(_) | Value::Null => None,
        other => Some(format!("must be an object, not {}", kind(other))),
    }
}

/// The problems of one raw task; each is `field "name" <what is wrong>`.
fn task_problems(task: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, problem: Option<String>| {
        if let Some(p) = problem {
            out.push(format!("field \"{name}\" {p}"));
        }
    };
    for (key, value) in task {
        let key = key.as_str();
        let Some(known) = known_field(key) else {
            let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
            if let Some(meant) =
                near_miss(key, &names).filter(|m| known_field(m).is_some_and(|f| f.guarding))
            {
                field(key, Some(misspelt(meant)));
            }
            continue;
        };
        match known.kind {
            Kind::Text => field(key, text_problem(value)),
            Kind::List => field(key, list_problem(value)),
            Kind::Flag => field(key, bool_problem(value)),
            Kind::Count => field(key, count_problem(value)),
            Kind::Budget => field(key, budget_problem(value)),
            Kind::Objects => field(key, objects_problem(value)),
            Kind::Checks => checks_problems(key, value, &mut field),
            Kind::Contract if key == "execution_mode" => field(key, text_problem(value)),
            Kind::Contract => contract_problems(key, value, &mut field),
            Kind::Dropped => {}
        }
    }
    out
}

fn objects_problem(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Array(items) => items.iter().position(|v| !v.is_object()).map(|i| {
            format!(
                "must be a list of objects, but item {} is {}",
                i + 1,
                kind(&items[i])
            )
        }),
        other => Some(format!("must be a list of objects, not {}", kind(other))),
    }
}

/// The problems of `verification` (or the older `gate`) and of each of its fields.
fn checks_problems(key: &str, value: &Value, field: &mut impl FnMut(&str, Option<String>)) {
    field(key, object_problem(value));
    let Value::Object(v) = value else { return };
    for (k, inner) in v {
        let name = format!("{key}.{k}");
        match k.as_str() {
            "path_patterns" | "validate_commands" => field(&name, list_problem(inner)),
            "validate_timeout_seconds" => field(&name, count_problem(inner)),
            "validate_working_directory" => field(&name, text_problem(inner)),
            "validate_environment" => {
                field(&name, object_problem(inner));
                if let Value::Object(env) = inner {
                    for (var, val) in env {
                        if !matches!(val, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                            field(
                                &format!("{name}.{var}"),
                                Some(format!("must be text, not {}", kind(val))),
                            );
                        }
                    }
                }
            }
            other => {
                if let Some(meant) = near_miss(other, &VERIFICATION_FIELDS) {
                    field(&name, Some(misspelt(meant)));
                }
            }
        }
    }
}

/// The problems of a part of the contract (`completion`, `execution`, `experiment`) and of
/// each of its fields.
fn contract_problems(key: &str, value: &Value, field: &mut impl FnMut(&str, Option<String>)) {
    field(key, object_problem(value));
    let Value::Object(v) = value else { return };
    for (k, inner) in v {
        let name = format!("{key}.{k}");
        match k.as_str() {
            "kind" | "source" | "name" | "direction" | "json_path" | "strategy"
            | "commit_prefix" | "success_when" | "build_command" => {
                field(&name, text_problem(inner))
            }
            "min_improvement" | "unchanged_tolerance" | "target" => {
                field(&name, number_problem(inner));
            }
            "repeats"
            | "max_iterations"
            | "stop_after_no_improvement"
            | "stop_after_invalid"
            | "remeasure_after_discards"
            | "refine_after"
            | "pivot_after"
            | "halt_after_pivots" => {
                field(&name, count_problem(inner));
            }
            "promotion" => field(&name, promotion_problem(inner)),
            "rollback_on_failure"
            | "keep_on_equal"
            | "keep_simplifications"
            | "ideas"
            | "sequential" => field(&name, bool_problem(inner)),
            _ => {}
        }
    }
}

/// A JSON value parsed like `serde_json::Value`, but counting the keys an object gives twice
/// (a plain parse keeps the last silently). Costs nothing extra: the insert says so.
pub(crate) fn parse_value(bytes: &[u8]) -> serde_json::Result<(Value, usize)> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::Cell;

    struct Seed<'c>(&'c Cell<usize>);

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(item) = seq.next_element_seed(Seed(self.0))? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
            let mut map = Map::new();
            while let Some(key) = access.next_key::<String>()? {
                let value = access.next_value_seed(Seed(self.0))?;
                if map.insert(key, value).is_some() {
                    self.0.set(self.0.get() + 1);
                }
            }
            Ok(Value::Object(map))
        }
    }

    let twice = Cell::new(0);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed(&twice).deserialize(&mut de)?;
    de.end()?;
    Ok((value, twice.get()))
}

/// Every problem of the document `root` (already known to be an object whose `tasks` is a list
/// of objects), parsed from `text` with `twice` keys given twice, as `line L: task ID: …`
/// sentences. The text is scanned for line numbers only when there is something to report.
pub(crate) fn problems(root: &Map<String, Value>, text: &[u8], twice: usize) -> Vec<String> {
    // (task index, or none for the document; the sentence after the task's name)
    let mut found: Vec<(Option<usize>, String)> = Vec::new();
    if let Some(project) = root.get("project")
        && let Some(p) = text_problem(project)
    {
        found.push((None, format!("field \"project\" {p}")));
    }
    if let Some(journal) = root.get("learning_journal")
        && !matches!(journal, Value::Array(_) | Value::Null)
    {
        found.push((
            None,
            format!(
                "field \"learning_journal\" must be a list of objects, not {}",
                kind(journal)
            ),
        ));
    }
    let tasks: &[Value] = match root.get("tasks") {
        Some(Value::Array(tasks)) => tasks,
        _ => &[],
    };
    let mut first: FxHashMap<String, usize> = FxHashMap::default();
    let id_of = |task: &Map<String, Value>| match task.get("id") {
        // Not printed as it stands: the message quotes it escaped.
        Some(Value::String(s)) if s.chars().any(char::is_control) => String::new(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    for (i, task) in tasks.iter().enumerate() {
        let Value::Object(task) = task else { continue };
        let id = id_of(task);
        match task.get("id") {
            None | Some(Value::Null) => found.push((
                Some(i),
                format!(
                    " has no \"id\"; give every task a unique id such as \"T{}\"",
                    i + 1
                ),
            )),
            Some(Value::String(s)) if s.trim().is_empty() => found.push((
                Some(i),
                format!(
                    " has an empty \"id\"; give every task a unique id such as \"T{}\"",
                    i + 1
                ),
            )),
            // An id names log files, branches and commit messages: a control character (an
            // escaped NUL, a newline) would fail each of them later, for good.
            Some(Value::String(s)) if s.chars().any(char::is_control) => found.push((
                Some(i),
                format!(
                    ": \"id\" {} holds a control character; use letters, digits, '-', '_' or '.', such as \"T{}\"",
                    serde_json::Value::String(s.clone()),
                    i + 1
                ),
            )),
            Some(Value::String(_) | Value::Number(_)) => {
                if let Some(&j) = first.get(&id) {
                    found.push((Some(i), format!("\u{0}{j}")));
                } else {
                    first.insert(id.clone(), i);
                }
            }
            Some(other) => found.push((
                Some(i),
                format!(": field \"id\" must be text, not {}", kind(other)),
            )),
        }
        for problem in task_problems(task) {
            found.push((Some(i), format!(": {problem}")));
        }
    }
    if found.is_empty() && twice == 0 {
        return Vec::new();
    }
    let layout = layout(text);
    let line = |i: usize| layout.task_lines.get(i).copied().unwrap_or(0);
    let mut out: Vec<String> = layout
        .duplicate_keys
        .iter()
        .map(|(line, key)| {
            format!("line {line}: the key \"{key}\" is given twice in one object; only one can be kept, so remove the other")
        })
        .collect();
    for (task, sentence) in found {
        let Some(i) = task else {
            out.push(sentence);
            continue;
        };
        let who = match id_of(tasks[i].as_object().unwrap_or(&Map::new())) {
            id if id.is_empty() => format!("line {}: task #{}", line(i), i + 1),
            id => format!("line {}: task {id}", line(i)),
        };
        // A repeated id names the line of the task that has it first.
        let sentence = match sentence.strip_prefix('\u{0}') {
            Some(j) => {
                let j: usize = j.parse().unwrap_or(0);
                format!(
                    ": the id {} is already used by the task at line {}; ids must be unique, so rename one",
                    id_of(tasks[i].as_object().unwrap_or(&Map::new())),
                    line(j)
                )
            }
            None => sentence,
        };
        out.push(format!("{who}{sentence}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Vec<String> {
        let (root, twice) = parse_value(text.as_bytes()).expect("json");
        problems(root.as_object().expect("object"), text.as_bytes(), twice)
    }

    #[test]
    fn the_layout_finds_each_task_and_repeated_keys() {
        let text = "{\n  \"tasks\": [\n    {\"id\": \"a\", \"x\": {\"id\": 1}},\n    {\n      \"id\": \"b\",\n      \"id\": \"c\"\n    }\n  ],\n  \"s\": \"a,{b\\\"\"\n}";
        let layout = layout(text.as_bytes());
        assert_eq!(layout.task_lines, [3, 4]);
        assert_eq!(layout.duplicate_keys, [(6, "id".to_string())]);
    }

    #[test]
    fn each_malformed_case_has_its_message() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"tasks": [{"title": "x"}]}"#,
                "line 1: task #1 has no \"id\"; give every task a unique id such as \"T1\"",
            ),
            (
                "{\"tasks\": [\n{\"id\": \"T1\"},\n{\"id\": \"T1\"}]}",
                "line 3: task T1: the id T1 is already used by the task at line 2; ids must be unique, so rename one",
            ),
            (
                r#"{"tasks": [{"id": "T1", "verification": {"validate_commands": {"a": 1}}}]}"#,
                "line 1: task T1: field \"verification.validate_commands\" must be a list of text, not an object",
            ),
            (
                r#"{"tasks": [{"id": "N\u00001"}]}"#,
                r#"line 1: task #1: "id" "N\u00001" holds a control character; use letters, digits, '-', '_' or '.', such as "T1""#,
            ),
            (
                r#"{"tasks": [{"id": "T1", "verification": {"validate_command": ["make"]}}]}"#,
                "line 1: task T1: field \"verification.validate_command\" is not a field autodev knows: did you mean \"validate_commands\"? (as written it would be ignored, and with it what it says)",
            ),
            (
                r#"{"tasks": [{"id": "T2", "depend_on": ["T1"]}, {"id": "T1"}]}"#,
                "line 1: task T2: field \"depend_on\" is not a field autodev knows: did you mean \"depends_on\"? (as written it would be ignored, and with it what it says)",
            ),
            (
                r#"{"tasks": [{"id": "T1", "description": ["a", "b"]}]}"#,
                "line 1: task T1: field \"description\" must be text, not a list",
            ),
            (
                r#"{"tasks": [{"id": "T1", "title": {"en": "x"}}]}"#,
                "line 1: task T1: field \"title\" must be text, not an object",
            ),
            (
                r#"{"tasks": [{"id": "T1", "attempt_history": "none"}]}"#,
                "line 1: task T1: field \"attempt_history\" must be a list of objects, not text",
            ),
            (
                r#"{"tasks": [{"id": "T1", "passes": "maybe"}]}"#,
                "line 1: task T1: field \"passes\" must be true or false, not the text \"maybe\"",
            ),
            (
                r#"{"tasks": [{"id": "T1", "refinement_count": -1}]}"#,
                "line 1: task T1: field \"refinement_count\" must be a whole number of 0 or more, not the number -1",
            ),
            (
                r#"{"tasks": [{"id": "T1", "steps": [["nested"]]}]}"#,
                "line 1: task T1: field \"steps\" must be a list of text, but item 1 is a list",
            ),
            (
                r#"{"tasks": [{"id": "T1", "execution": {"max_iterations": "many"}}]}"#,
                "line 1: task T1: field \"execution.max_iterations\" must be a whole number of 0 or more, not the text \"many\"",
            ),
            (
                r#"{"tasks": [{"id": "T1", "max_cost_usd": "five"}]}"#,
                "line 1: task T1: field \"max_cost_usd\" must be an amount in USD of 0 or more (0: no cap of its own), not the text \"five\"",
            ),
            (
                r#"{"tasks": [{"id": "T1", "max-cost-usd": 5}]}"#,
                "line 1: task T1: field \"max-cost-usd\" is not a field autodev knows: did you mean \"max_cost_usd\"? (as written it would be ignored, and with it what it says)",
            ),
            (
                r#"{"tasks": [{"id": "T1", "id": "T2"}]}"#,
                "line 1: the key \"id\" is given twice in one object; only one can be kept, so remove the other",
            ),
        ];
        for (text, message) in cases {
            let found = check(text);
            assert!(
                found.iter().any(|p| p == message),
                "{text}\nwanted: {message}\nfound: {found:?}"
            );
        }
    }

    /// Any JSON value, small.
    fn any(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> Value {
        match next(if depth > 1 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => Value::Bool(next(2) == 1),
            2 => serde_json::json!(next(5) as i64 - 2),
            3 => serde_json::json!(1e300 * next(3) as f64),
            4 => serde_json::json!(
                ["yes", "no", "T1", "", "12", "false", "iterative", "numeric"][next(8) as usize]
            ),
            5 => serde_json::json!(u64::MAX - next(3)),
            6 => serde_json::json!(-0.5),
            7 => Value::Array((0..next(3)).map(|_| any(next, depth + 1)).collect()),
            _ => Value::Object(
                [
                    "kind",
                    "strategy",
                    "validate_commands",
                    "max_iterations",
                    "repeats",
                    "target",
                    "x",
                ]
                .iter()
                .take(next(4) as usize)
                .map(|k| (k.to_string(), any(next, depth + 1)))
                .collect(),
            ),
        }
    }

    #[test]
    fn no_queue_makes_loading_panic_and_what_loads_writes_back_stably() {
        let fields = [
            "id",
            "title",
            "description",
            "steps",
            "docs",
            "passes",
            "blocked",
            "block_reason",
            "blocked_at",
            "verification",
            "gate",
            "completion",
            "execution",
            "execution_mode",
            "experiment",
            "attempt_history",
            "refinement_count",
            "depends_on",
            "learning_notes",
        ];
        let mut rng = crate::testing::Rng(99);
        let mut next = move |n: u64| rng.next(n);
        let path = std::path::Path::new("task.json");
        let mut accepted = 0;
        for _ in 0..2000 {
            let mut tasks = Vec::new();
            for n in 0..1 + next(3) {
                // Mostly a queue that could be real (its own id, a title), with odd fields: a
                // loop of queues that are all refused would prove nothing about the rest.
                let mut task = Map::new();
                if next(8) > 0 {
                    task.insert("id".into(), Value::String(format!("T{n}")));
                    task.insert("title".into(), Value::String("a task".into()));
                }
                for _ in 0..next(4) {
                    let key = fields[next(fields.len() as u64) as usize];
                    task.insert(key.to_string(), any(&mut next, 0));
                }
                tasks.push(Value::Object(task));
            }
            let text = serde_json::to_string_pretty(&serde_json::json!({"tasks": tasks})).unwrap();
            if let Ok(file) = crate::task::store::parse(path, text.as_bytes()) {
                let written = file.to_json_text();
                let again = crate::task::store::parse(path, written.as_bytes())
                    .unwrap_or_else(|e| panic!("{e}\n{text}\n{written}"));
                assert_eq!(again.to_json_text(), written);
                accepted += 1;
            }
        }
        // The round trip is proven only for the queues that were accepted.
        eprintln!("accepted: {accepted} of 2000");
        assert!(accepted >= 200, "{accepted} of 2000");
    }

    #[test]
    fn a_task_budget_given_as_text_is_the_amount_and_none_is_no_cap() {
        use crate::task::coerce::budget as task_budget;
        use serde_json::json;
        assert_eq!(task_budget(Some(&json!(5))), Some(5.0));
        assert_eq!(task_budget(Some(&json!(" 0.5 "))), Some(0.5));
        assert_eq!(task_budget(Some(&json!(0))), None);
        assert_eq!(task_budget(Some(&Value::Null)), None);
        assert_eq!(task_budget(None), None);
        assert_eq!(
            check(r#"{"tasks": [{"id": "T1", "max_cost_usd": "2.5"}]}"#),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_promotion_that_is_neither_auto_nor_manual_is_named_and_a_valid_one_reads_back() {
        let text = r#"{"tasks": [{"id": "E1", "execution": {"strategy": "iterative",
            "promotion": "sometimes"}}, {"id": "E2", "execution": {"strategy": "iterative",
            "promotion": "manual"}}]}"#;
        let found = check(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("field \"execution.promotion\" must be \"auto\" or \"manual\", not the text \"sometimes\""),
            "{found:?}"
        );
        // A valid one is read, and written back as it was.
        let path = std::path::Path::new("task.json");
        let raw = crate::task::store::parse(path, text.replace("sometimes", "manual").as_bytes());
        let written = raw.expect("a valid queue").to_json_text();
        assert_eq!(
            written.matches("\"promotion\": \"manual\"").count(),
            2,
            "{written}"
        );
    }

    #[test]
    fn documented_lenient_forms_are_no_problem() {
        let text = r#"{"tasks": [{"id": 7, "title": 3, "steps": "one step", "passes": "yes",
            "blocked": null, "refinement_count": "2",
            "verification": {"validate_commands": "false", "validate_timeout_seconds": 30},
            "completion": {"kind": "numeric", "target": "0.5"}, "anything": {"x": [1]}}]}"#;
        assert_eq!(check(text), Vec::<String>::new());
    }

    use serde_json::json;

    /// A value of each field's kind that reads back as itself.
    fn good(field: &crate::task::model::Field) -> Value {
        match (field.kind, field.name) {
            (Kind::Text, _) => json!("x"),
            (Kind::List, _) | (Kind::Dropped, _) => json!(["x"]),
            (Kind::Flag, _) => json!(true),
            (Kind::Count, _) => json!(2),
            (Kind::Budget, _) => json!(1.5),
            (Kind::Objects, _) => json!([{"attempt": 1}]),
            (Kind::Checks, _) => json!({"validate_commands": ["true"]}),
            (Kind::Contract, "execution_mode") => json!("single_pass"),
            (Kind::Contract, _) => json!({}),
        }
    }

    #[test]
    fn every_field_of_the_table_is_checked_read_and_written() {
        for field in FIELDS.iter().filter(|f| f.kind != Kind::Dropped) {
            // Checking: a value of the wrong kind is named.
            let wrong = match field.kind {
                Kind::Checks | Kind::Contract if field.name != "execution_mode" => json!(5),
                _ => json!({"not": "this"}),
            };
            let mut raw = json!({"id": "T1"});
            raw[field.name] = wrong;
            let text = json!({ "tasks": [raw] }).to_string();
            let found = check(&text);
            assert!(
                found
                    .iter()
                    .any(|p| p.contains(&format!("field \"{}\"", field.name))),
                "{}: {found:?}",
                field.name
            );
        }
        // Reading and writing: a task with every field read, written back with no stray name,
        // and each field that is not an older form of another kept.
        let mut raw = Map::new();
        for field in &FIELDS {
            raw.insert(field.name.to_string(), good(field));
        }
        let task = crate::task::Task::from_owned(raw);
        let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        for key in task.extra.keys() {
            let field = known_field(key).unwrap_or_else(|| panic!("{key} is not in the table"));
            assert!(
                field.in_extra,
                "{key} is read into a field of its own, not kept aside"
            );
        }
        let written = task.to_value();
        let written = written.as_object().expect("an object");
        for key in written.keys() {
            assert!(
                names.contains(&key.as_str()),
                "{key} is written but not in the table"
            );
        }
        let older_forms = ["gate", "experiment", "evidence_keys"];
        for field in FIELDS.iter().filter(|f| !older_forms.contains(&f.name)) {
            assert!(written.contains_key(field.name), "{} was lost", field.name);
            if !matches!(field.kind, Kind::Checks | Kind::Contract) {
                assert_eq!(written[field.name], good(field), "{}", field.name);
            }
        }
    }
}
