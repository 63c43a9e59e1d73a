//! The audit that generated, re-planned and refined tasks must pass before autodev accepts them.
//!
//! Pure functions over raw task JSON (what the model wrote) and its normalised form: each rule
//! returns a sentence naming the task and the problem. Planning and reflection call these and
//! refuse output that fails; nothing here reads or writes files.

use serde_json::{Map, Value};

use super::coerce;
use super::contract::{
    COMPLETION_KINDS, COMPLETION_SOURCES, Completion, DIRECTIONS, Execution, MAX_REPEATS,
    TWO_REPEATS,
};
use super::model::Task;
use crate::error::Error;

/// Which output is being audited; it names the error and decides the pending-only rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditContext {
    Generated,
    Replanned,
    Refined,
}

impl AuditContext {
    pub fn title(self) -> &'static str {
        match self {
            AuditContext::Generated => "Generated tasks failed audit",
            AuditContext::Replanned => "Replanned tasks failed audit",
            AuditContext::Refined => "Refined task failed audit",
        }
    }

    /// The error for a list of issues, or `Ok` when there are none.
    pub fn verdict(self, issues: Vec<String>) -> Result<(), Error> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::Audit {
                context: self.title().to_string(),
                issues,
            })
        }
    }
}

/// Directory names whose contents are logs or build output.
const ARTIFACT_DIRS: [&str; 7] = ["logs", "attempts", "build", "dist", "out", "target", ".git"];
/// autodev's own runtime files.
const RUNTIME_FILES: [&str; 6] = [
    "autodev.log",
    "dashboard.html",
    "runtime-status.json",
    "experiments.jsonl",
    "task.json",
    "progress.txt",
];
/// Extensions of compiled artifacts.
const ARTIFACT_EXTENSIONS: [&str; 7] = ["o", "obj", "so", "a", "dll", "dylib", "pdb"];

/// Whether a path pattern can only ever match logs, autodev's runtime files or build output.
///
/// The pattern is read as path segments: `build/**`, `**/*.o`, `logs/x.log` and `task.json`
/// are artifacts; `docs/about.md`, `src/layout/*` and `outline.md` are not, even though their
/// text contains `out` or `.a`.
pub fn looks_runtime_or_build_only(pattern: &str) -> bool {
    let normal = pattern.trim().replace('\\', "/").to_ascii_lowercase();
    let segments: Vec<&str> = normal
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let Some(last) = segments.last() else {
        return true;
    };
    let dirs = &segments[..segments.len() - 1];
    if dirs
        .iter()
        .any(|d| ARTIFACT_DIRS.contains(d) || d.starts_with("cmake-build"))
    {
        return true;
    }
    if RUNTIME_FILES.contains(last) {
        return true;
    }
    if segments.len() == 1 && (ARTIFACT_DIRS.contains(last) || last.starts_with("cmake-build")) {
        return true;
    }
    match last.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ARTIFACT_EXTENSIONS.contains(&ext),
        _ => false,
    }
}

fn label(raw: &Map<String, Value>) -> String {
    for key in ["id", "title"] {
        let text = coerce::text(raw.get(key));
        if !text.trim().is_empty() {
            return text.trim().to_string();
        }
    }
    "task".into()
}

fn raw_text(raw: &Map<String, Value>, object: &str, key: &str) -> String {
    coerce::text(raw.get(object).and_then(|o| o.get(key)))
        .trim()
        .to_ascii_lowercase()
}

fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The per-task rules. `require_pending` applies to new tasks (generated or re-planned).
pub fn audit_task(raw: &Map<String, Value>, require_pending: bool) -> Vec<String> {
    let task = Task::from_map(raw);
    let label = label(raw);
    let mut issues = Vec::new();
    let mut issue = |text: String| issues.push(format!("{label}: {text}"));

    for (field, value) in [
        ("id", &task.id),
        ("title", &task.title),
        ("description", &task.description),
    ] {
        if value.trim().is_empty() {
            issue(format!("missing {field}"));
        }
    }
    if task.steps.is_empty() {
        issue("missing actionable steps".into());
    }

    let verification = &task.verification;
    let commands = verification.validate_commands.clone().unwrap_or_default();
    if commands.is_empty() && verification.path_patterns.is_empty() {
        issue("verification must include validate_commands or path_patterns".into());
    } else if commands.is_empty()
        && verification
            .path_patterns
            .iter()
            .all(|p| looks_runtime_or_build_only(p))
    {
        issue("verification may not rely only on runtime/build artifact path patterns".into());
    }

    let mode = coerce::text(raw.get("execution_mode"));
    if !mode.trim().is_empty()
        && !["delivery", "experiment"].contains(&mode.trim().to_ascii_lowercase().as_str())
    {
        issue(format!("unsupported execution_mode '{}'", mode.trim()));
    }
    let kind = raw_text(raw, "completion", "kind");
    if !kind.is_empty() && !COMPLETION_KINDS.contains(&kind.as_str()) {
        issue(format!(
            "completion.kind must be one of {}",
            one_of(&COMPLETION_KINDS)
        ));
    }
    let source = raw_text(raw, "completion", "source");
    if !source.is_empty() && !COMPLETION_SOURCES.contains(&source.as_str()) {
        issue(format!(
            "completion.source must be one of {}",
            one_of(&COMPLETION_SOURCES)
        ));
    }
    let strategy = raw_text(raw, "execution", "strategy");
    if !strategy.is_empty() && !["iterative", "single_pass"].contains(&strategy.as_str()) {
        issue("execution.strategy must be one of ['iterative', 'single_pass']".into());
    }

    if require_pending {
        if coerce::truthy(raw.get("passes")) {
            issue("generated tasks must not start with passes=true".into());
        }
        if coerce::truthy(raw.get("blocked")) {
            issue("generated tasks must not start with blocked=true".into());
        }
    }

    if let Completion::Numeric(n) = &task.completion {
        if commands.is_empty() {
            issue("numeric completion requires validate_commands for metric collection".into());
        }
        if n.name.is_empty() {
            issue("completion.name is required for numeric completion".into());
        }
        if !DIRECTIONS.contains(&n.direction.as_str()) {
            issue(format!(
                "completion.direction must be one of {}",
                one_of(&DIRECTIONS)
            ));
        }
        if n.source == "json_stdout" && n.json_path.is_empty() {
            issue("completion.json_path is required for numeric completion".into());
        }
        let repeats = raw.get("completion").and_then(|c| c.get("repeats"));
        if let Some(value) = repeats.filter(|v| !v.is_null()) {
            match coerce::integer(Some(value)) {
                Some(2) => issue(TWO_REPEATS.into()),
                Some(n) if (1..=i64::from(MAX_REPEATS)).contains(&n) => {}
                _ => issue(format!(
                    "completion.repeats must be a whole number from 1 to {MAX_REPEATS}"
                )),
            }
        }
    }
    if matches!(task.execution, Execution::Iterative(_))
        && !matches!(task.completion, Completion::Numeric(_))
    {
        issue("iterative execution requires numeric completion".into());
    }
    issues
}

/// Rules over a whole generated or re-planned queue (`{"tasks": [...]}`), then each task's.
pub fn audit_queue(root: &Value) -> Vec<String> {
    let Some(items) = root.get("tasks").and_then(Value::as_array) else {
        return vec!["task store is missing a tasks array".into()];
    };
    let mut issues = Vec::new();
    let mut ids: Vec<(String, usize)> = Vec::new();
    let mut titles: Vec<(String, usize)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let number = index + 1;
        let Some(raw) = item.as_object() else {
            issues.push(format!("task #{number}: task entry must be an object"));
            continue;
        };
        let label = label(raw);
        let id = coerce::text(raw.get("id")).trim().to_string();
        if !id.is_empty() {
            match ids.iter().find(|(seen, _)| *seen == id) {
                Some((_, first)) => issues.push(format!(
                    "{id}: duplicate task id also used by task #{first}"
                )),
                None => ids.push((id, number)),
            }
        }
        let title = coerce::text(raw.get("title"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if !title.is_empty() {
            match titles.iter().find(|(seen, _)| *seen == title) {
                Some((_, first)) => issues.push(format!(
                    "{label}: duplicate task title overlaps task #{first}"
                )),
                None => titles.push((title, number)),
            }
        }
        issues.extend(audit_task(raw, true));
    }
    let tasks: Vec<Task> = items
        .iter()
        .filter_map(Value::as_object)
        .map(Task::from_map)
        .collect();
    issues.extend(dependency_issues(&tasks));
    issues
}

/// `depends_on` that names no task, and dependency cycles (each named once, as a path).
pub fn dependency_issues(tasks: &[Task]) -> Vec<String> {
    let mut issues = Vec::new();
    let index = |id: &str| tasks.iter().position(|t| t.id == id);
    for task in tasks {
        for dep in &task.depends_on {
            if index(dep).is_none() {
                issues.push(format!(
                    "{}: depends_on names '{dep}', which is not a task in this queue",
                    task.id
                ));
            }
        }
    }
    // Depth-first search; 0 unvisited, 1 on the current path, 2 done.
    let mut state = vec![0u8; tasks.len()];
    let mut path: Vec<usize> = Vec::new();
    fn visit(
        at: usize,
        tasks: &[Task],
        state: &mut [u8],
        path: &mut Vec<usize>,
        issues: &mut Vec<String>,
    ) {
        state[at] = 1;
        path.push(at);
        for dep in &tasks[at].depends_on {
            let Some(next) = tasks.iter().position(|t| t.id == *dep) else {
                continue;
            };
            match state[next] {
                0 => visit(next, tasks, state, path, issues),
                1 => {
                    let start = path.iter().position(|i| *i == next).unwrap_or(0);
                    let mut names: Vec<&str> = path[start..]
                        .iter()
                        .map(|i| tasks[*i].id.as_str())
                        .collect();
                    names.push(&tasks[next].id);
                    issues.push(format!("dependency cycle: {}", names.join(" -> ")));
                }
                _ => {}
            }
        }
        path.pop();
        state[at] = 2;
    }
    for start in 0..tasks.len() {
        if state[start] == 0 {
            visit(start, tasks, &mut state, &mut path, &mut issues);
        }
    }
    issues
}

/// Rules for a task refined by reflection: only guidance may change, never the contract.
pub fn audit_refinement(
    original: &Map<String, Value>,
    refined: &Map<String, Value>,
) -> Vec<String> {
    let before = Task::from_map(original);
    let after = Task::from_map(refined);
    let label = label(original);
    let mut issues = Vec::new();
    for (field, old, new) in [
        ("id", &before.id, &after.id),
        ("title", &before.title, &after.title),
        ("description", &before.description, &after.description),
    ] {
        if old != new {
            issues.push(format!("{label}: reflection may not change {field}"));
        }
    }
    if before.completion != after.completion {
        issues.push(format!(
            "{label}: reflection may not change completion configuration"
        ));
    }
    if before.execution != after.execution {
        issues.push(format!(
            "{label}: reflection may not change execution configuration"
        ));
    }
    let had = |t: &Task| {
        t.verification
            .validate_commands
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    };
    if had(&before) && !had(&after) {
        issues.push(format!(
            "{label}: reflection may not remove existing validate_commands"
        ));
    }
    if !before.verification.path_patterns.is_empty() && after.verification.path_patterns.is_empty()
    {
        issues.push(format!(
            "{label}: reflection may not remove existing path_patterns"
        ));
    }
    issues.extend(audit_task(refined, false));
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn good() -> Value {
        json!({
            "id": "T1", "title": "Add parser", "description": "Parse the input",
            "steps": ["write parser"], "verification": {"validate_commands": ["cargo test"]}
        })
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base[key] = value;
        base
    }

    #[test]
    fn build_only_patterns_table() {
        let cases = [
            ("", true),
            ("   ", true),
            ("logs/**", true),
            ("build/app", true),
            ("out/*", true),
            ("dist", true),
            ("cmake-build-debug/x", true),
            ("**/*.o", true),
            ("lib/libfoo.so", true),
            ("task.json", true),
            ("sub/progress.txt", true),
            ("logs\\autodev.log", true),
            // Substrings of artifact names in source paths are not artifacts.
            ("docs/about.md", false),
            ("src/layout/*", false),
            ("outline.md", false),
            ("src/builder.rs", false),
            ("src/**/*.py", false),
            ("README.md", false),
            ("data/table.a.json", false),
            ("assets/logo.svg", false),
            ("src/distance.rs", false),
        ];
        for (pattern, expected) in cases {
            assert_eq!(
                looks_runtime_or_build_only(pattern),
                expected,
                "pattern {pattern:?}"
            );
        }
    }

    #[test]
    fn per_task_rules_table() {
        let cases: Vec<(Value, bool, &str)> = vec![
            (
                with(good(), "id", json!("")),
                true,
                "Add parser: missing id",
            ),
            (with(good(), "title", json!(" ")), true, "T1: missing title"),
            (
                with(good(), "description", json!("")),
                true,
                "T1: missing description",
            ),
            (
                with(good(), "steps", json!(["", " "])),
                true,
                "T1: missing actionable steps",
            ),
            (
                with(good(), "verification", json!({})),
                true,
                "T1: verification must include validate_commands or path_patterns",
            ),
            (
                with(
                    good(),
                    "verification",
                    json!({"path_patterns": ["logs/**", "**/*.o"]}),
                ),
                true,
                "T1: verification may not rely only on runtime/build artifact path patterns",
            ),
            (
                with(good(), "execution_mode", json!("turbo")),
                true,
                "T1: unsupported execution_mode 'turbo'",
            ),
            (
                with(good(), "completion", json!({"kind": "fuzzy"})),
                true,
                "T1: completion.kind must be one of ['boolean', 'numeric']",
            ),
            (
                with(
                    good(),
                    "completion",
                    json!({"kind": "boolean", "source": "vibes"}),
                ),
                true,
                "T1: completion.source must be one of ['gate', 'json_stdout', 'metric_lines']",
            ),
            (
                with(good(), "execution", json!({"strategy": "parallel"})),
                true,
                "T1: execution.strategy must be one of ['iterative', 'single_pass']",
            ),
            (
                with(good(), "passes", json!(true)),
                true,
                "T1: generated tasks must not start with passes=true",
            ),
            (
                with(good(), "blocked", json!("yes")),
                true,
                "T1: generated tasks must not start with blocked=true",
            ),
            (
                with(good(), "execution", json!({"strategy": "iterative"})),
                true,
                "T1: iterative execution requires numeric completion",
            ),
            (
                with(
                    good(),
                    "completion",
                    json!({"kind": "numeric", "source": "metric_lines", "name": "ms",
                           "direction": "lower_is_better", "repeats": 2}),
                ),
                true,
                "T1: completion.repeats = 2 can never tell a change from noise; use 1 (no noise check) or 3 or more",
            ),
            (
                with(
                    good(),
                    "completion",
                    json!({"kind": "numeric", "source": "metric_lines", "name": "ms",
                           "direction": "lower_is_better", "repeats": 500}),
                ),
                true,
                "T1: completion.repeats must be a whole number from 1 to 50",
            ),
        ];
        for (task, require_pending, expected) in cases {
            let issues = audit_task(&obj(task.clone()), require_pending);
            assert!(
                issues.iter().any(|i| i == expected),
                "expected {expected:?} for {task}, got {issues:?}"
            );
        }
        assert!(audit_task(&obj(good()), true).is_empty());
        assert!(audit_task(&obj(with(good(), "passes", json!(true))), false).is_empty());
    }

    #[test]
    fn source_paths_alone_are_enough_verification() {
        let task = with(
            good(),
            "verification",
            json!({"path_patterns": ["docs/about.md", "src/layout/*"]}),
        );
        assert!(audit_task(&obj(task), true).is_empty());
    }

    #[test]
    fn numeric_rules() {
        let task = with(
            with(good(), "verification", json!({"path_patterns": ["src/**"]})),
            "completion",
            json!({"kind": "numeric", "direction": "sideways"}),
        );
        let issues = audit_task(&obj(task), true);
        for expected in [
            "T1: numeric completion requires validate_commands for metric collection",
            "T1: completion.name is required for numeric completion",
            "T1: completion.direction must be one of ['higher_is_better', 'lower_is_better']",
            "T1: completion.json_path is required for numeric completion",
        ] {
            assert!(
                issues.iter().any(|i| i == expected),
                "{expected} in {issues:?}"
            );
        }
        let ok = with(
            good(),
            "completion",
            json!({"kind": "numeric", "name": "ms", "direction": "lower_is_better",
                   "source": "metric_lines"}),
        );
        assert!(
            audit_task(&obj(ok), true).is_empty(),
            "metric_lines needs no json_path"
        );
    }

    #[test]
    fn queue_rules() {
        let queue = json!({"tasks": [
            good(),
            "junk",
            with(good(), "title", json!("add   PARSER")),
        ]});
        let issues = audit_queue(&queue);
        assert!(issues.contains(&"task #2: task entry must be an object".to_string()));
        assert!(issues.contains(&"T1: duplicate task id also used by task #1".to_string()));
        assert!(issues.contains(&"T1: duplicate task title overlaps task #1".to_string()));
        assert_eq!(
            audit_queue(&json!({"tasks": {}})),
            vec!["task store is missing a tasks array"]
        );
    }

    #[test]
    fn dependencies_must_name_tasks_and_never_loop() {
        let task = |id: &str, title: &str, deps: serde_json::Value| {
            let mut t = with(good(), "id", json!(id));
            t = with(t, "title", json!(title));
            with(t, "depends_on", deps)
        };
        let queue = json!({"tasks": [
            task("A", "first", json!([])),
            task("B", "second", json!(["A", "Z"])),
            task("C", "third", json!(["D"])),
            task("D", "fourth", json!(["E"])),
            task("E", "fifth", json!(["C"])),
            task("F", "sixth", json!(["F"])),
        ]});
        let issues = audit_queue(&queue);
        assert_eq!(
            issues,
            [
                "B: depends_on names 'Z', which is not a task in this queue",
                "dependency cycle: C -> D -> E -> C",
                "dependency cycle: F -> F",
            ]
        );
    }

    #[test]
    fn refinement_rules() {
        let original = json!({
            "id": "T1", "title": "Add parser", "description": "Parse the input",
            "steps": ["write parser"],
            "verification": {"validate_commands": ["cargo test"], "path_patterns": ["src/**"]}
        });
        let mut refined = original.clone();
        refined["steps"] = json!(["write parser", "handle empty input"]);
        assert!(audit_refinement(&obj(original.clone()), &obj(refined.clone())).is_empty());

        refined["title"] = json!("Something else");
        refined["verification"] = json!({"path_patterns": []});
        refined["completion"] = json!({"kind": "numeric", "name": "x", "direction": "lower_is_better", "json_path": "$.x"});
        let issues = audit_refinement(&obj(original), &obj(refined));
        for expected in [
            "T1: reflection may not change title",
            "T1: reflection may not change completion configuration",
            "T1: reflection may not remove existing validate_commands",
            "T1: reflection may not remove existing path_patterns",
        ] {
            assert!(
                issues.iter().any(|i| i == expected),
                "{expected} in {issues:?}"
            );
        }
    }

    #[test]
    fn verdict_renders_context_and_issues() {
        let err = AuditContext::Generated
            .verdict(vec!["a: missing id".into(), "b: missing title".into()])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Generated tasks failed audit:\n- a: missing id\n- b: missing title"
        );
        assert!(AuditContext::Refined.verdict(Vec::new()).is_ok());
    }
}
