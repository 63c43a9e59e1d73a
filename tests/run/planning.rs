//! `autodev spec`, `autodev plan`, task dependencies and `run --epochs`, with the fake agent
//! answering as codex would (an agent message event).

use std::io::Write;
use std::process::Stdio;

use crate::harness::{Repo, Run};

const OLD_QUEUE: &str = r#"{"tasks": [{"id": "OLD-1", "title": "Old work",
  "verification": {"validate_commands": ["true"]}}]}"#;

const SPEC: &str = "# Greeter - COCA Spec\n\n## Context\nA new repo.\n\n## Outcome\nhello.txt says hello.\n\n## Constraints\nNone.\n\n## Assertions\n### Happy Path\ngrep finds hello.\n";

/// Makes agent call `n` answer `text` as codex's final message.
fn answers(repo: &Repo, n: u32, text: &str) {
    let event = serde_json::json!({"type": "item.completed",
        "item": {"id": "i1", "type": "agent_message", "text": text}});
    let file = format!("answer-{n}.jsonl");
    std::fs::write(repo.state.join(&file), format!("{event}\n")).expect("answer");
    repo.script(n, &format!("cat {file}\n"));
}

fn plan_json(tasks: &str) -> String {
    format!(
        "Here is the plan you asked for.\n\n```json\n{{\"project\": \"whatever\", \"tasks\": {tasks}}}\n```\n\nTell me if you want changes."
    )
}

const TWO_TASKS: &str = r#"[
  {"id": "P0-1", "title": "Create greeting", "description": "hello.txt", "steps": ["write it"],
   "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}},
  {"id": "P1-1", "title": "Create farewell", "description": "bye.txt", "depends_on": ["P0-1"],
   "steps": ["write it"],
   "verification": {"path_patterns": ["bye.txt"], "validate_commands": ["grep -q bye bye.txt"]}}
]"#;

fn stdin(repo: &Repo, args: &[&str], input: &str) -> Run {
    let mut child = repo
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait").into()
}

#[test]
fn an_intent_becomes_a_spec_then_an_audited_queue_and_the_old_queue_is_kept() {
    let repo = Repo::new(OLD_QUEUE, "");
    answers(&repo, 1, &format!("```markdown\n{SPEC}```"));
    answers(&repo, 2, &plan_json(TWO_TASKS));
    let run = repo.run(&["plan", "--intent", "A greeter that says hello and bye"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Generated COCA spec -> docs/specs/intent-coca-spec.md"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Planned 2 task(s) with codex -> task.json")
    );
    assert!(run.stdout.contains("  P1-1: Create farewell (after P0-1)"));
    assert_eq!(repo.read("docs/specs/intent-coca-spec.md"), SPEC);

    // The spec call and the plan call were read-only, and the plan was made from the spec.
    for n in [1, 2] {
        let argv = std::fs::read_to_string(repo.state.join(format!("call-{n}.argv"))).unwrap();
        assert!(argv.contains("read-only"), "call {n}: {argv}");
    }
    let spec_prompt = std::fs::read_to_string(repo.state.join("call-1.stdin")).unwrap();
    assert!(spec_prompt.contains("A greeter that says hello and bye"));
    let plan_prompt = std::fs::read_to_string(repo.state.join("call-2.stdin")).unwrap();
    assert!(
        plan_prompt.contains("## Approved COCA spec"),
        "{plan_prompt}"
    );
    assert!(plan_prompt.contains("hello.txt says hello."));
    assert!(plan_prompt.contains("depends_on"));

    let queue = repo.queue();
    assert_eq!(queue["project"], "demo", "the project keeps its own name");
    assert_eq!(
        queue["tasks"][0]["docs"][0],
        "docs/specs/intent-coca-spec.md"
    );
    assert_eq!(queue["tasks"][1]["depends_on"][0], "P0-1");
    let source = &queue["planning_source"];
    assert_eq!(source["source_kind"], "intent");
    assert_eq!(source["input_text"], "A greeter that says hello and bye");
    assert!(
        source["planning_text"]
            .as_str()
            .unwrap_or("")
            .contains("## Outcome")
    );

    let backups: Vec<String> = std::fs::read_dir(repo.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("task.json.bak."))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(repo.read(&backups[0]).contains("OLD-1"));
    assert!(
        run.stdout
            .contains("The previous queue is kept in task.json.bak.")
    );
}

#[test]
fn a_coca_file_is_planned_directly() {
    let repo = Repo::new(r#"{"tasks": []}"#, "");
    repo.write("prd.md", SPEC);
    answers(&repo, 1, &plan_json(TWO_TASKS));
    let run = repo.run(&["plan", "prd.md", "-o", "planned.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 1, "no spec call for a COCA spec");
    assert!(!run.stdout.contains("Generated COCA spec"));
    let planned: serde_json::Value = serde_json::from_str(&repo.read("planned.json")).unwrap();
    assert_eq!(planned["tasks"][0]["docs"][0], "prd.md");
    assert_eq!(planned["planning_source"]["source_kind"], "file");
    assert_eq!(
        repo.read("task.json"),
        r#"{"tasks": []}"#,
        "-o leaves task.json alone"
    );
}

#[test]
fn spec_reads_stdin_and_names_the_file_after_it() {
    let repo = Repo::new(r#"{"tasks": []}"#, "");
    answers(&repo, 1, SPEC);
    let run = stdin(&repo, &["spec"], "Build a greeter\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.read("docs/specs/stdin-coca-spec.md"), SPEC);
    assert!(
        run.stdout
            .contains("Generated COCA spec from stdin with codex")
    );
    let prompt = std::fs::read_to_string(repo.state.join("call-1.stdin")).unwrap();
    assert!(prompt.contains("Build a greeter"));

    repo.write("Demo Feature.txt", "make a demo\n");
    answers(&repo, 2, SPEC);
    let run = repo.run(&["spec", "-f", "Demo Feature.txt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.read("docs/specs/demo-feature-coca-spec.md"), SPEC);
}

#[test]
fn empty_or_ambiguous_input_is_refused_before_any_call() {
    let repo = Repo::new(r#"{"tasks": []}"#, "");
    let run = repo.run(&["plan", "--intent", "   "]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("input (inline intent) is empty"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["plan", "--intent", "x", "-f", "prd.md"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("more than one input"), "{}", run.stderr);
    let run = repo.run(&["spec", "-f", "missing.md"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--file missing.md: no such file"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 0);
}

fn assert_untouched(repo: &Repo, run: &Run) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        repo.read("task.json"),
        OLD_QUEUE,
        "task.json is byte-identical"
    );
    let saved = std::fs::read_dir(repo.path().join("logs/planning"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().ends_with(".answer.txt"));
    assert!(saved, "the raw answer is saved under logs/planning/");
    assert!(
        run.stderr.contains("task.json was not changed"),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_answers_leave_the_queue_untouched() {
    let repo = Repo::new(OLD_QUEUE, "");
    repo.write("prd.md", SPEC);
    answers(&repo, 1, "I could not decide on a plan, sorry.");
    let run = repo.run(&["plan", "prd.md"]);
    assert_untouched(&repo, &run);
    assert!(run.stderr.contains("not a usable plan"), "{}", run.stderr);
    assert!(
        run.stderr.contains("I could not decide on a plan, sorry."),
        "the start of the answer is shown: {}",
        run.stderr
    );

    answers(&repo, 2, r#"{"plan": [{"id": "A"}]}"#);
    let run = repo.run(&["plan", "prd.md"]);
    assert_untouched(&repo, &run);
    assert!(run.stderr.contains("no \"tasks\" list"), "{}", run.stderr);
}

#[test]
fn audit_failures_name_the_problem_and_leave_the_queue_untouched() {
    let repo = Repo::new(OLD_QUEUE, "");
    repo.write("prd.md", SPEC);
    let cyclic = r#"[
      {"id": "A", "title": "a", "depends_on": ["B"], "verification": {"validate_commands": ["true"]}},
      {"id": "B", "title": "b", "depends_on": ["A"], "verification": {"validate_commands": ["true"]}},
      {"id": "C", "title": "c", "depends_on": ["Z"], "verification": {"validate_commands": ["true"]}}
    ]"#;
    answers(&repo, 1, &plan_json(cyclic));
    let run = repo.run(&["plan", "prd.md"]);
    assert_untouched(&repo, &run);
    assert!(
        run.stderr.contains("dependency cycle: A -> B -> A"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("depends_on names 'Z'"),
        "{}",
        run.stderr
    );
}

#[test]
fn dependencies_order_the_run_and_a_blocked_dependency_leaves_its_dependants_waiting() {
    let tasks = r#"{"tasks": [
      {"id": "T1", "title": "Needs T3", "depends_on": ["T3"],
       "verification": {"path_patterns": ["one.txt"]}},
      {"id": "T2", "title": "Needs T4", "depends_on": ["T4"],
       "verification": {"path_patterns": ["two.txt"]}},
      {"id": "T3", "title": "First", "verification": {"path_patterns": ["three.txt"]}},
      {"id": "T4", "title": "Fails", "verification": {"path_patterns": ["four.txt"]}}
    ]}"#;
    let repo = Repo::new(tasks, "[reflection]\nenabled = false\n");
    repo.sample("codex-exec-json-success.jsonl");
    let ok = |file: &str| format!("write {file} done\ncat codex-exec-json-success.jsonl\n");
    repo.script(1, &ok("three.txt"));
    repo.script(2, &ok("one.txt"));
    repo.script(3, "cat codex-exec-json-success.jsonl\n");

    let list = repo.run(&["task", "list"]);
    assert!(
        list.stdout.contains("waits on: T3 (pending)"),
        "{}",
        list.stdout
    );

    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let first = std::fs::read_to_string(repo.state.join("call-1.stdin")).unwrap();
    assert!(first.starts_with("Task T3"), "T3 goes first: {first}");
    let second = std::fs::read_to_string(repo.state.join("call-2.stdin")).unwrap();
    assert!(
        second.starts_with("Task T1"),
        "then T1, now ready: {second}"
    );
    assert_eq!(repo.calls(), 3, "T2 never runs");
    assert!(
        run.stderr.contains("T2 waits on T4 (blocked)"),
        "{}",
        run.stderr
    );
    let list = repo.run(&["task", "list"]);
    assert!(
        list.stdout.contains("waits on: T4 (blocked)"),
        "{}",
        list.stdout
    );
}

#[test]
fn epochs_replan_once_and_stop_when_nothing_is_left() {
    let repo = Repo::new(r#"{"tasks": []}"#, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("prd.md", SPEC);
    let one = r#"[{"id": "P0-1", "title": "Create greeting", "description": "hello.txt", "steps": ["write it"],
      "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]"#;
    answers(&repo, 1, &plan_json(one));
    let run = repo.run(&["plan", "prd.md"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    crate::common::git(repo.path(), &["add", "-A"]);
    crate::common::git(repo.path(), &["commit", "-qm", "planned"]);

    // Epoch 1 works P0-1; the re-plan adds P0-2; epoch 2 works it; the next re-plan is empty.
    repo.script(
        2,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    let more = r#"[{"id": "P0-2", "title": "Create farewell", "description": "bye.txt", "steps": ["write it"],
      "verification": {"path_patterns": ["bye.txt"], "validate_commands": ["grep -q bye bye.txt"]}}]"#;
    answers(&repo, 3, &plan_json(more));
    repo.script(4, "write bye.txt bye\ncat codex-exec-json-success.jsonl\n");
    answers(&repo, 5, r#"{"tasks": []}"#);
    let run = repo.run(&["run", "--epochs", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 5);
    assert!(run.stderr.contains("Epoch 1/3"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Prepared epoch 2/3: 1 new task(s) added to the queue"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Re-planning found no further work"),
        "{}",
        run.stderr
    );
    let replan = std::fs::read_to_string(repo.state.join("call-3.stdin")).unwrap();
    assert!(replan.contains("- P0-1: Create greeting"), "{replan}");
    assert!(
        replan.contains("hello.txt says hello."),
        "the planning text: {replan}"
    );
    let argv = std::fs::read_to_string(repo.state.join("call-3.argv")).unwrap();
    assert!(argv.contains("read-only"), "{argv}");

    // Epochs accumulate: the first epoch's task stays, with its epoch recorded.
    let queue = repo.queue();
    assert_eq!(queue["tasks"][0]["id"], "P0-1");
    assert_eq!(queue["tasks"][0]["passes"], true);
    assert_eq!(queue["tasks"][0]["epoch"], 1);
    assert_eq!(queue["tasks"][1]["id"], "P0-2");
    assert_eq!(queue["tasks"][1]["passes"], true);
    assert_eq!(queue["tasks"][1]["epoch"], 2);
    assert_eq!(queue["epoch_history"][0]["epoch"], 1);
    assert_eq!(queue["epoch_history"][0]["completed"], 1);
    assert!(
        queue["learning_journal"]
            .as_array()
            .is_some_and(|j| !j.is_empty())
    );
    assert_eq!(queue["tasks"][1]["docs"][0], "prd.md");
}

#[test]
fn a_blocked_task_of_an_earlier_epoch_stays_and_the_run_exits_2() {
    let repo = Repo::new(r#"{"tasks": []}"#, "[reflection]\nenabled = false\n");
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("prd.md", SPEC);
    let one = r#"[{"id": "P0-1", "title": "Create greeting", "description": "hello.txt", "steps": ["write it"],
      "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]"#;
    answers(&repo, 1, &plan_json(one));
    assert_eq!(repo.run(&["plan", "prd.md"]).code, 0);
    crate::common::git(repo.path(), &["add", "-A"]);
    crate::common::git(repo.path(), &["commit", "-qm", "planned"]);
    // P0-1 fails its check and is blocked; the re-plan adds P0-2, which passes.
    repo.script(
        2,
        "write hello.txt goodbye\ncat codex-exec-json-success.jsonl\n",
    );
    let more = r#"[{"id": "P0-2", "title": "Create farewell", "description": "bye.txt", "steps": ["write it"],
      "verification": {"path_patterns": ["bye.txt"], "validate_commands": ["grep -q bye bye.txt"]}}]"#;
    answers(&repo, 3, &plan_json(more));
    repo.script(4, "write bye.txt bye\ncat codex-exec-json-success.jsonl\n");
    let run = repo.run(&["run", "--epochs", "2", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("(attempted=2, completed=1, blocked=1)"),
        "{}",
        run.stderr
    );
    let queue = repo.queue();
    assert_eq!(queue["tasks"][0]["id"], "P0-1");
    assert_eq!(queue["tasks"][0]["blocked"], true);
    assert_eq!(queue["tasks"][1]["passes"], true);
    let list = repo.run(&["task", "list"]);
    assert!(list.stdout.contains("P0-1"), "{}", list.stdout);
}

#[test]
fn epochs_without_a_planning_source_say_how_to_enable_replanning() {
    let tasks = r#"{"tasks": [{"id": "T1", "title": "Greet",
      "verification": {"path_patterns": ["hello.txt"]}}]}"#;
    let repo = Repo::new(tasks, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        1,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run", "--epochs", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 1);
    assert!(
        run.stderr.contains("cannot re-plan for epoch 2/2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("autodev plan"), "{}", run.stderr);
}

#[test]
fn spec_refuses_an_answer_that_is_not_a_coca_spec() {
    let repo = Repo::new(r#"{"tasks": []}"#, "");
    answers(&repo, 1, "Sorry, I need more details");
    let run = repo.run(&["spec", "--intent", "Build a todo API"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the answer is not a COCA spec"),
        "{}",
        run.stderr
    );
    assert!(
        !repo.path().join("docs/specs").exists(),
        "nothing is written where the spec would go"
    );
    let saved: Vec<String> = std::fs::read_dir(repo.path().join("logs/planning"))
        .expect("planning logs")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".answer.txt"))
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let text = repo.read(&format!("logs/planning/{}", saved[0]));
    assert_eq!(text, "Sorry, I need more details");
}

#[test]
fn every_planning_call_tells_and_journals_what_it_used() {
    let repo = Repo::new(OLD_QUEUE, "");
    let usage = |input: u32, output: u32| {
        serde_json::json!({"type": "turn.completed",
            "usage": {"input_tokens": input, "cached_input_tokens": 0, "output_tokens": output}})
    };
    for (n, text, used) in [
        (1, format!("```markdown\n{SPEC}```"), usage(1200, 80)),
        (2, plan_json(TWO_TASKS), usage(3400, 250)),
    ] {
        let event = serde_json::json!({"type": "item.completed",
            "item": {"id": "i1", "type": "agent_message", "text": text}});
        let file = format!("answer-{n}.jsonl");
        std::fs::write(repo.state.join(&file), format!("{event}\n{used}\n")).expect("answer");
        repo.script(n, &format!("cat {file}\n"));
    }
    let run = repo.run(&["plan", "--intent", "A greeter that says hello and bye"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("spec: codex used 1200 in / 80 out tokens, cost not reported"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("plan: codex used 3400 in / 250 out tokens, cost not reported"),
        "{}",
        run.stderr
    );
    let spent: Vec<(String, u64)> = repo
        .read("logs/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "spent")
        .map(|v| {
            let purpose = v["purpose"].as_str().unwrap_or_default().to_string();
            (purpose, v["tokens"]["output"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(spent, [("spec".to_string(), 80), ("plan".to_string(), 250)]);
}

#[test]
fn a_plan_over_finished_work_asks_and_append_adds_with_fresh_ids() {
    let repo = Repo::new(OLD_QUEUE, "");
    answers(&repo, 1, &format!("```markdown\n{SPEC}```"));
    answers(&repo, 2, &plan_json(TWO_TASKS));
    let first = repo.run(&["plan", "--intent", "A greeter"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The first task is done.
    let mut queue = repo.queue();
    queue["tasks"][0]["passes"] = serde_json::Value::Bool(true);
    repo.write("task.json", &queue.to_string());

    let plain = repo.run(&["plan", "--intent", "A greeter, again"]);
    assert_eq!(plain.code, 1, "{}", plain.stderr);
    assert!(
        plain.stderr.contains(
            "holds work a new plan would replace: 1 task(s) completed, blocked or attempted (P0-1)"
        ),
        "{}",
        plain.stderr
    );
    assert!(plain.stderr.contains("--append"), "{}", plain.stderr);
    assert_eq!(repo.calls(), 2, "no agent was called");

    answers(&repo, 3, &format!("```markdown\n{SPEC}```"));
    answers(&repo, 4, &plan_json(TWO_TASKS));
    let more = repo.run(&["plan", "--append", "--intent", "A greeter, again"]);
    assert_eq!(more.code, 0, "{}", more.stderr);
    assert!(
        more.stdout
            .contains("Generated COCA spec -> docs/specs/intent-coca-spec-2.md"),
        "the first spec is kept: {}",
        more.stdout
    );
    assert_eq!(repo.read("docs/specs/intent-coca-spec.md"), SPEC);
    assert!(
        more.stdout
            .contains("P0-1 was taken: the new task is P0-1-2"),
        "{}",
        more.stdout
    );
    let ids: Vec<String> = repo.queue()["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["P0-1", "P1-1", "P0-1-2", "P1-1-2"]);
    let queue = repo.queue();
    assert_eq!(queue["tasks"][0]["passes"], true, "finished work kept");
    assert_eq!(
        queue["tasks"][3]["depends_on"][0], "P0-1-2",
        "a new task waits on the new task it named"
    );

    answers(&repo, 5, &format!("```markdown\n{SPEC}```"));
    answers(&repo, 6, &plan_json(TWO_TASKS));
    let replaced = repo.run(&["plan", "--replace", "--intent", "Start over"]);
    assert_eq!(replaced.code, 0, "{}", replaced.stderr);
    assert_eq!(repo.queue()["tasks"].as_array().map(Vec::len), Some(2));
    assert!(
        replaced.stdout.contains("The previous queue is kept in"),
        "{}",
        replaced.stdout
    );
}
