//! The `task.json` document: the queue and its tasks, read leniently and written canonically.
//!
//! Reading normalises every task as `docs/task-json.md` describes; writing emits autodev's
//! fields in a fixed order followed by every field autodev does not know, untouched. Structural
//! problems that would force autodev to drop data (a `tasks` that is not a list, a task that is
//! not an object) are errors rather than silent repairs. File I/O lives in [`super::store`].

use serde_json::{Map, Value, json};

use super::coerce;
use super::contract::{self, Completion, Execution, Verification};

/// How a task field is read, checked and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Text.
    Text,
    /// A list of text.
    List,
    /// True or false.
    Flag,
    /// A whole number, zero or more.
    Count,
    /// An amount of US dollars, more than zero.
    Budget,
    /// A list of objects (`attempt_history`).
    Objects,
    /// The checks: `verification` (and the older `gate`).
    Checks,
    /// A part of the contract read together with the others (`completion`, `execution`, and
    /// the older `execution_mode` and `experiment`).
    Contract,
    /// An old field no longer used: accepted, and dropped when the file is written.
    Dropped,
}

/// One field of a task in `task.json`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Its loss would silently change what is checked, when the task runs or what it may
    /// spend: a near miss of its name is an error, not an unknown field kept aside.
    pub guarding: bool,
    /// Read where it is needed from the fields kept as written ([`Task::extra`]), not into a
    /// field of its own.
    pub in_extra: bool,
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        guarding: false,
        in_extra: false,
    }
}

const fn guarding(name: &'static str, kind: Kind) -> Field {
    Field {
        guarding: true,
        ..field(name, kind)
    }
}

const fn in_extra(field: Field) -> Field {
    Field {
        in_extra: true,
        ..field
    }
}

/// Every field of a task autodev reads (others are kept as they are, for other tools): the one
/// table that reading ([`Task::from_owned`]), checking (`task::check`) and writing
/// ([`Task::to_value`]) follow; a test holds each of them to it.
pub(crate) const FIELDS: [Field; 26] = [
    field("id", Kind::Text),
    // The older form of `title`, shown when there is no title.
    in_extra(field("name", Kind::Text)),
    field("title", Kind::Text),
    field("description", Kind::Text),
    field("steps", Kind::List),
    field("docs", Kind::List),
    field("output", Kind::List),
    field("passes", Kind::Flag),
    field("blocked", Kind::Flag),
    field("block_reason", Kind::Text),
    field("blocked_at", Kind::Text),
    field("implementation_notes", Kind::List),
    field("verification_notes", Kind::List),
    field("learning_notes", Kind::List),
    field("last_reflection_summary", Kind::Text),
    field("refinement_count", Kind::Count),
    guarding("depends_on", Kind::List),
    field("attempt_history", Kind::Objects),
    guarding("verification", Kind::Checks),
    guarding("gate", Kind::Checks),
    guarding("completion", Kind::Contract),
    field("execution", Kind::Contract),
    field("execution_mode", Kind::Contract),
    field("experiment", Kind::Contract),
    field("evidence_keys", Kind::Dropped),
    in_extra(guarding("max_cost_usd", Kind::Budget)),
];

/// The field of the table named `name` (looked up for every key of every task a command
/// reads, so by hash, not by a walk of the table).
pub(crate) fn known_field(name: &str) -> Option<&'static Field> {
    static BY_NAME: std::sync::OnceLock<rustc_hash::FxHashMap<&str, &Field>> =
        std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| FIELDS.iter().map(|f| (f.name, f)).collect())
        .get(name)
        .copied()
}

/// One task of the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub description: String,
    pub steps: Vec<String>,
    pub docs: Vec<String>,
    pub output: Vec<String>,
    pub passes: bool,
    pub blocked: bool,
    pub block_reason: String,
    /// Set when the task is blocked; cleared to `""` when it is reset or retried.
    pub blocked_at: Option<String>,
    pub verification: Verification,
    pub completion: Completion,
    pub execution: Execution,
    pub implementation_notes: Vec<String>,
    pub verification_notes: Vec<String>,
    pub learning_notes: Vec<String>,
    pub attempt_history: Vec<Map<String, Value>>,
    pub last_reflection_summary: String,
    pub refinement_count: u32,
    /// Ids of the tasks that must be completed before this one starts.
    pub depends_on: Vec<String>,
    /// Fields autodev does not know, kept as written.
    pub extra: Map<String, Value>,
    /// Where the task was read from: its unchanged fields are written back as that text.
    pub origin: super::source::Origin,
}

impl Task {
    /// Normalises one raw task object.
    pub fn from_map(raw: &Map<String, Value>) -> Task {
        Task::from_owned(raw.clone())
    }

    /// Normalises one raw task object, taking it apart in one pass: what autodev does not read
    /// is kept as `extra`, in its original order, without copying.
    pub fn from_owned(raw: Map<String, Value>) -> Task {
        let mut task = Task {
            id: String::new(),
            title: String::new(),
            description: String::new(),
            steps: Vec::new(),
            docs: Vec::new(),
            output: Vec::new(),
            passes: false,
            blocked: false,
            block_reason: String::new(),
            blocked_at: None,
            verification: Verification::default(),
            completion: Completion::Boolean,
            execution: Execution::SinglePass,
            implementation_notes: Vec::new(),
            verification_notes: Vec::new(),
            learning_notes: Vec::new(),
            attempt_history: Vec::new(),
            last_reflection_summary: String::new(),
            refinement_count: 0,
            depends_on: Vec::new(),
            extra: Map::new(),
            origin: Default::default(),
        };
        // The contract fields are read together (legacy forms depend on each other).
        let mut contract_parts = Map::new();
        let mut gate = None;
        let mut has_verification = false;
        for (key, value) in raw {
            let v = Some(&value);
            match key.as_str() {
                "id" => task.id = coerce::text(v).trim().to_string(),
                "title" => task.title = coerce::text(v),
                "description" => task.description = coerce::text(v),
                "steps" => task.steps = coerce::string_list(v),
                "docs" => task.docs = coerce::string_list(v),
                "output" => task.output = coerce::string_list(v),
                "passes" => task.passes = coerce::truthy(v),
                "blocked" => task.blocked = coerce::truthy(v),
                "block_reason" => task.block_reason = coerce::text(v),
                "blocked_at" => task.blocked_at = Some(coerce::text(v)),
                "implementation_notes" => task.implementation_notes = coerce::string_list(v),
                "verification_notes" => task.verification_notes = coerce::string_list(v),
                "learning_notes" => task.learning_notes = coerce::string_list(v),
                "last_reflection_summary" => task.last_reflection_summary = coerce::text(v),
                "refinement_count" => task.refinement_count = coerce::count(v),
                "depends_on" => {
                    task.depends_on = coerce::string_list(v)
                        .into_iter()
                        .map(|id| id.trim().to_string())
                        .filter(|id| !id.is_empty())
                        .collect();
                }
                "attempt_history" => task.attempt_history = coerce::objects(value),
                "verification" => {
                    if let Value::Object(map) = value {
                        task.verification = Verification::from_owned(map);
                        has_verification = true;
                    }
                }
                "gate" => {
                    if let Value::Object(map) = value {
                        gate = Some(map);
                    }
                }
                "completion" | "execution" | "execution_mode" | "experiment" => {
                    contract_parts.insert(key, value);
                }
                // Kept as written: the fields autodev does not know, and those it reads from
                // here where needed; a dropped one (`evidence_keys`) is not kept.
                _ => {
                    if known_field(&key).is_none_or(|f| f.in_extra) {
                        task.extra.insert(key, value);
                    }
                }
            }
        }
        // The legacy `gate` counts only when there is no `verification` object.
        if let Some(map) = gate.filter(|_| !has_verification) {
            task.verification = Verification::from_owned(map);
        }
        task.completion = contract::completion_of(&contract_parts);
        task.execution = contract::execution_of(&contract_parts);
        task
    }

    /// The canonical JSON form.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("id".into(), json!(self.id));
        map.insert("title".into(), json!(self.title));
        map.insert("description".into(), json!(self.description));
        map.insert("steps".into(), json!(self.steps));
        map.insert("docs".into(), json!(self.docs));
        map.insert("output".into(), json!(self.output));
        map.insert("passes".into(), json!(self.passes));
        map.insert("blocked".into(), json!(self.blocked));
        map.insert("block_reason".into(), json!(self.block_reason));
        if let Some(at) = &self.blocked_at {
            map.insert("blocked_at".into(), json!(at));
        }
        map.insert("verification".into(), self.verification.to_value());
        map.insert("completion".into(), self.completion.to_value());
        map.insert("execution".into(), self.execution.to_value());
        map.insert("execution_mode".into(), json!(self.execution.mode()));
        if !self.depends_on.is_empty() {
            map.insert("depends_on".into(), json!(self.depends_on));
        }
        if let Some(legacy) = contract::legacy_experiment_value(&self.completion, &self.execution) {
            map.insert("experiment".into(), legacy);
        }
        map.insert(
            "implementation_notes".into(),
            json!(self.implementation_notes),
        );
        map.insert("verification_notes".into(), json!(self.verification_notes));
        map.insert("learning_notes".into(), json!(self.learning_notes));
        map.insert(
            "attempt_history".into(),
            Value::Array(
                self.attempt_history
                    .iter()
                    .cloned()
                    .map(Value::Object)
                    .collect(),
            ),
        );
        map.insert(
            "last_reflection_summary".into(),
            json!(self.last_reflection_summary),
        );
        map.insert("refinement_count".into(), json!(self.refinement_count));
        map.extend(self.extra.clone());
        Value::Object(map)
    }

    /// The title to show: `title`, else the legacy `name`, else the id.
    pub fn display_title(&self) -> &str {
        if !self.title.trim().is_empty() {
            return &self.title;
        }
        match self.extra.get("name").and_then(Value::as_str) {
            Some(name) if !name.trim().is_empty() => name,
            _ => &self.id,
        }
    }
}

/// `<task_id>: <summary>` for each learning-journal entry that has a summary, oldest first.
pub fn journal_summaries(entries: &[Map<String, Value>]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            let summary = e.get("summary")?.as_str()?.trim();
            let id = e.get("task_id").and_then(Value::as_str).unwrap_or("?");
            (!summary.is_empty()).then(|| format!("{id}: {summary}"))
        })
        .collect()
}

/// The whole `task.json` document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskFile {
    /// The queue's project name, if it has one.
    pub project: Option<String>,
    pub tasks: Vec<Task>,
    pub planning_source: Option<Map<String, Value>>,
    pub learning_journal: Option<Vec<Map<String, Value>>>,
    pub epoch_history: Option<Vec<Value>>,
    pub statistics: Option<Map<String, Value>>,
    /// Top-level fields autodev does not know, kept as written.
    pub extra: Map<String, Value>,
    /// The text the document was read from (see [`super::source`]).
    pub source: super::source::SourceText,
}

/// What is structurally wrong with a document, with the JSON path of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl TaskFile {
    /// Reads a parsed document, taking it apart instead of copying it. Values are coerced;
    /// only structure that cannot be kept is an error.
    pub fn from_owned(root: Value) -> Result<TaskFile, ShapeError> {
        let mut root = match root {
            Value::Object(map) => map,
            other => {
                return Err(ShapeError(format!(
                    "the top level is {}, but it must be an object with a \"tasks\" list",
                    describe(&other)
                )));
            }
        };
        let tasks = match root.shift_remove("tasks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(Task::from_owned(map)),
                    other => Err(ShapeError(format!(
                        "tasks[{i}] is {}, but every task must be an object",
                        describe(&other)
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ShapeError(format!(
                    "\"tasks\" is {}, but it must be a list",
                    describe(&other)
                )));
            }
        };
        let object = |value: Value| match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let project = root.shift_remove("project").map(|v| coerce::text(Some(&v)));
        let planning_source = root.shift_remove("planning_source").map(object);
        let learning_journal = root.shift_remove("learning_journal").map(coerce::objects);
        let epoch_history = root.shift_remove("epoch_history").map(|v| match v {
            Value::Array(items) => items,
            _ => Vec::new(),
        });
        let statistics = root.shift_remove("statistics").map(object);
        Ok(TaskFile {
            project,
            tasks,
            planning_source,
            learning_journal,
            epoch_history,
            statistics,
            extra: root,
            source: Default::default(),
        })
    }

    /// The canonical JSON form.
    pub fn to_value(&self) -> Value {
        Value::Object(self.members(true))
    }

    /// The canonical members of the document, its `tasks` only when `with_tasks`.
    pub(crate) fn members(&self, with_tasks: bool) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(project) = &self.project {
            map.insert("project".into(), json!(project));
        }
        if with_tasks {
            map.insert(
                "tasks".into(),
                Value::Array(self.tasks.iter().map(Task::to_value).collect()),
            );
        }
        if let Some(source) = &self.planning_source {
            map.insert("planning_source".into(), Value::Object(source.clone()));
        }
        if let Some(journal) = &self.learning_journal {
            map.insert(
                "learning_journal".into(),
                Value::Array(journal.iter().cloned().map(Value::Object).collect()),
            );
        }
        if let Some(history) = &self.epoch_history {
            map.insert("epoch_history".into(), Value::Array(history.clone()));
        }
        if let Some(stats) = &self.statistics {
            map.insert("statistics".into(), Value::Object(stats.clone()));
        }
        map.extend(self.extra.clone());
        map
    }

    /// The file text: 2-space indent, non-ASCII kept, trailing newline. A queue read from a file
    /// keeps the text of every field that did not change (see [`super::source`]).
    pub fn to_json_text(&self) -> String {
        super::source::render(self)
    }

    /// The queue's project name, or `configured` (from autodev.toml) when it has none.
    pub fn project_name<'a>(&'a self, configured: &'a str) -> &'a str {
        self.project
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(configured)
    }

    pub fn find_mut(&mut self, id: &str) -> Option<&mut Task> {
        let id = id.trim();
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    /// Recomputes the `statistics` counters, keeping any other keys in that object.
    pub fn refresh_statistics(&mut self) {
        let completed = self.tasks.iter().filter(|t| t.passes).count();
        let blocked = self.tasks.iter().filter(|t| !t.passes && t.blocked).count();
        let stats = self.statistics.get_or_insert_with(Map::new);
        stats.insert("completed".into(), json!(completed));
        stats.insert("blocked".into(), json!(blocked));
    }
}

/// Keeps the last `cap` items of a bounded list (0: no bound).
pub fn keep_last<T>(items: &mut Vec<T>, cap: usize) {
    if cap > 0 && items.len() > cap {
        items.drain(..items.len() - cap);
    }
}

/// Appends the items `list` does not have yet, then keeps the last `cap` (0: no bound): how
/// notes, docs and outputs grow.
pub fn append_unique(list: &mut Vec<String>, new: &[String], cap: usize) {
    for item in new {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    keep_last(list, cap);
}

/// What kind of JSON value this is, for messages ("a string", "a list").
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let input = json!({
            "project": "demo",
            "owner": {"team": "core"},
            "tasks": [{
                "id": " T1 ", "title": "Do it", "priority": 2,
                "verification": {"path_patterns": ["src/**"], "note": "keep me"},
                "depends_on": ["T0"],
                "attempt_history": [{"attempt": 1, "status": "failed", "extra": true}]
            }]
        });
        let file = TaskFile::from_owned(input.clone()).unwrap();
        let out = file.to_value();
        assert_eq!(out["owner"], json!({"team": "core"}));
        let task = &out["tasks"][0];
        assert_eq!(task["id"], "T1");
        assert_eq!(task["priority"], 2);
        assert_eq!(task["depends_on"], json!(["T0"]));
        assert_eq!(task["verification"]["note"], "keep me");
        assert_eq!(task["attempt_history"][0]["extra"], true);
        // Reading the written form again changes nothing.
        assert_eq!(TaskFile::from_owned(out.clone()).unwrap(), file);
    }

    #[test]
    fn normalisation_fills_every_documented_field() {
        let file =
            TaskFile::from_owned(json!({"tasks": [{"id": 7, "passes": "yes", "steps": "x"}]}))
                .unwrap();
        let task = file.tasks[0].to_value();
        assert_eq!(task["id"], "7");
        assert_eq!(task["passes"], true);
        assert_eq!(task["steps"], json!(["x"]));
        assert_eq!(task["execution_mode"], "delivery");
        assert_eq!(task["completion"]["kind"], "boolean");
        assert_eq!(task["execution"], json!({"strategy": "single_pass"}));
        assert_eq!(task["refinement_count"], 0);
        assert!(task.get("experiment").is_none());
        assert!(task.get("blocked_at").is_none());
    }

    #[test]
    fn legacy_gate_becomes_verification() {
        let file = TaskFile::from_owned(json!({"tasks": [
            {"id": "a", "gate": {"validate_commands": ["make test"]}, "evidence_keys": ["x"]}
        ]}))
        .unwrap();
        let task = file.tasks[0].to_value();
        assert!(task.get("gate").is_none());
        assert!(task.get("evidence_keys").is_none());
        assert_eq!(
            task["verification"]["validate_commands"],
            json!(["make test"])
        );
    }

    #[test]
    fn structural_problems_are_errors_not_silent_repairs() {
        let err = TaskFile::from_owned(json!([1, 2])).unwrap_err();
        assert!(err.0.contains("top level is a list"), "{}", err.0);
        let err = TaskFile::from_owned(json!({"tasks": {"a": 1}})).unwrap_err();
        assert!(err.0.contains("\"tasks\" is an object"), "{}", err.0);
        let err = TaskFile::from_owned(json!({"tasks": [{"id": "a"}, "oops"]})).unwrap_err();
        assert_eq!(
            err.0,
            "tasks[1] is a string, but every task must be an object"
        );
        assert!(TaskFile::from_owned(json!({})).unwrap().tasks.is_empty());
    }

    #[test]
    fn display_title_falls_back_to_name_then_id() {
        let file = TaskFile::from_owned(json!({"tasks": [
            {"id": "a", "name": "Legacy name"}, {"id": "b"}
        ]}))
        .unwrap();
        assert_eq!(file.tasks[0].display_title(), "Legacy name");
        assert_eq!(file.tasks[1].display_title(), "b");
    }

    #[test]
    fn statistics_are_recomputed_keeping_other_keys() {
        let mut file = TaskFile::from_owned(json!({
            "statistics": {"started": "yesterday"},
            "tasks": [{"id": "a", "passes": true, "blocked": true}, {"id": "b", "blocked": 1}]
        }))
        .unwrap();
        file.refresh_statistics();
        let stats = file.statistics.unwrap();
        assert_eq!(stats["completed"], 1);
        assert_eq!(stats["blocked"], 1);
        assert_eq!(stats["started"], "yesterday");
    }

    #[test]
    fn text_is_pretty_with_trailing_newline_and_keeps_non_ascii() {
        let file = TaskFile::from_owned(json!({"project": "café", "tasks": []})).unwrap();
        let text = file.to_json_text();
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\n  \"project\": \"café\""));
    }
}
