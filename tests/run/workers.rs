//! `--workers N`: ready tasks worked at once, each in its worker's worktree; results brought
//! to your branch one at a time through the merge queue; tasks whose `path_patterns` may
//! overlap kept apart; one journal, one budget, one stop for all.

use crate::common::git;
use crate::harness::Repo;
use crate::recovery::{kill9, wait_for};

const CONFIG: &str = "[reflection]\nenabled = false\n";

/// An agent call that finds its task's id in its prompt, notes it (`task-<call>`), waits
/// `seconds`, and writes `files/<task>.txt`, which the task's check looks for.
fn work(seconds: f64) -> String {
    format!(
        "sh t=$(sed -n 's/^Task \\([A-Za-z0-9_-]*\\):.*/\\1/p' \"$FAKE_AGENT_DIR/call-$FAKE_CALL.stdin\" | head -n 1); \
         echo \"$t\" > \"$FAKE_AGENT_DIR/task-$FAKE_CALL\"; sleep {seconds}; mkdir -p files; \
         echo \"done $t\" > \"files/$t.txt\"\n\
         cat codex-exec-json-success.jsonl"
    )
}

/// `n` independent tasks, T1..Tn, each writing `files/Tk.txt`; `patterns` gives each its
/// `path_patterns` (`{}` stands for the task's id).
fn tasks(n: u32, patterns: &str) -> String {
    let list: Vec<String> = (1..=n)
        .map(|k| {
            let id = format!("T{k}");
            let pattern = patterns.replace("{}", &id);
            format!(
                r#"{{"id": "{id}", "title": "Write {id}", "description": "Write files/{id}.txt",
                 "verification": {{"path_patterns": ["{pattern}"],
                                   "validate_commands": ["grep -q 'done {id}' files/{id}.txt"]}}}}"#
            )
        })
        .collect();
    format!("{{\"tasks\": [{}]}}", list.join(",\n"))
}

fn repo(n: u32, patterns: &str, seconds: f64) -> Repo {
    let repo = Repo::new(&tasks(n, patterns), CONFIG);
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(0, &work(seconds));
    repo
}

/// The journal's events, as JSON values.
fn journal(repo: &Repo) -> Vec<serde_json::Value> {
    repo.read("logs/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Where in the journal `task`'s event of `kind` is (its index).
fn at(events: &[serde_json::Value], kind: &str, task: &str) -> usize {
    events
        .iter()
        .position(|e| e["type"] == kind && e["task"]["id"] == task)
        .unwrap_or_else(|| panic!("no {kind} of {task} in the journal"))
}

/// The subjects of the commits on your branch since `start`, oldest first.
fn subjects_since(repo: &Repo, start: &str) -> Vec<String> {
    git(
        repo.path(),
        &["log", "--reverse", "--format=%s", &format!("{start}..HEAD")],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn head(repo: &Repo) -> String {
    git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string()
}

/// Each task has exactly one commit on your branch, and its file there.
fn each_landed_once(repo: &Repo, start: &str, n: u32) {
    let subjects = subjects_since(repo, start);
    for k in 1..=n {
        let id = format!("T{k}");
        let commits = subjects.iter().filter(|s| s.contains(&id)).count();
        assert_eq!(commits, 1, "{id} has {commits} commits: {subjects:?}");
        assert_eq!(
            repo.read(&format!("files/{id}.txt")),
            format!("done {id}\n")
        );
        assert_eq!(repo.task(&id)["passes"], true, "{id}");
    }
    assert_eq!(subjects.len() as u32, n, "{subjects:?}");
}

#[test]
fn four_tasks_on_two_workers_run_two_at_a_time_and_every_result_lands_once() {
    let repo = repo(4, "files/{}.txt", 1.5);
    let start = head(&repo);
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    each_landed_once(&repo, &start, 4);
    assert_eq!(repo.calls(), 4);
    let events = journal(&repo);
    // T2 began while T1 was at work, on the other worker, in the other worktree.
    assert!(at(&events, "task_started", "T2") < at(&events, "task_completed", "T1"));
    let worker_of = |task: &str| events[at(&events, "task_started", task)]["worker"].clone();
    assert_eq!(worker_of("T1"), 1);
    assert_eq!(worker_of("T2"), 2);
    let cwds: std::collections::BTreeSet<String> = (1..=4)
        .map(|n| repo.fake_file(&format!("call-{n}.cwd")).trim().to_string())
        .collect();
    assert_eq!(cwds.len(), 2, "{cwds:?}");
    assert!(
        cwds.iter()
            .all(|c| c.contains(".git/autodev/worktrees/worker-"))
    );
    // No branch is left; your tree has the results, committed.
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
    assert_eq!(
        git(repo.path(), &["status", "--porcelain", "--", "files"]),
        ""
    );
    eprintln!("{}", run.stderr);
}

/// Waits for `n` agents to be at work at once (each has noted its task), then returns their
/// pids.
fn agents_at_work(repo: &Repo, n: u32) -> Vec<i32> {
    repo.wait_for_calls(n);
    (1..=n)
        .map(|k| {
            wait_for(&repo.state.join(format!("task-{k}")));
            repo.agent_pid(k)
        })
        .collect()
}

/// What must hold once every task is done, whatever stopped the runs before: each result on
/// your branch once, no task branch left, every worker's worktree on no branch.
fn tidy_and_complete(repo: &Repo, start: &str, n: u32) {
    each_landed_once(repo, start, n);
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
    for worker in ["worker-1", "worker-2"] {
        let tree = repo.path().join(".git/autodev/worktrees").join(worker);
        assert_eq!(
            git(&tree, &["branch", "--show-current"]),
            "",
            "{worker} is left on a branch"
        );
    }
}

#[test]
fn ctrl_c_stops_every_worker_with_130_and_the_next_run_resumes_both_tasks() {
    let repo = repo(2, "files/{}.txt", 60.0);
    let start = head(&repo);
    let child = repo.spawn(&["run", "--workers", "2"]);
    let agents = agents_at_work(&repo, 2);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let out = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    for agent in agents {
        assert!(
            !crate::common::alive(agent),
            "agent {agent} outlived the run"
        );
    }
    for id in ["T1", "T2"] {
        // Still pending: neither done nor blocked.
        assert_ne!(repo.task(id)["passes"], true, "{id}");
        assert_ne!(repo.task(id)["blocked"], true, "{id}");
    }
    // The next run finishes both, each once, and leaves nothing behind.
    repo.script(0, &work(0.0));
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    tidy_and_complete(&repo, &start, 2);
}

#[test]
fn a_kill_with_two_tasks_in_flight_is_finished_by_one_run_each_committed_once() {
    let repo = repo(3, "files/{}.txt", 60.0);
    let start = head(&repo);
    let child = repo.spawn(&["run", "--workers", "2"]);
    let agents = agents_at_work(&repo, 2);
    // Both agents have written nothing yet; kill the run, then its orphans.
    kill9(child);
    for agent in agents {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(agent),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    repo.script(0, &work(0.0));
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    tidy_and_complete(&repo, &start, 3);
}

#[test]
fn tasks_whose_path_patterns_overlap_do_not_run_at_the_same_time() {
    // Every task claims the whole of files/: no two may be in flight at once.
    let repo = repo(3, "files/**", 0.5);
    let start = head(&repo);
    let run = repo.run(&["run", "--workers", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    each_landed_once(&repo, &start, 3);
    let events = journal(&repo);
    assert!(at(&events, "task_started", "T2") > at(&events, "task_completed", "T1"));
    assert!(at(&events, "task_started", "T3") > at(&events, "task_completed", "T2"));
    // Unless configured: then they run at once.
    let repo = Repo::new(
        &tasks(2, "files/**"),
        &format!("allow_overlap = true\n{CONFIG}"),
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(0, &work(1.0));
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = journal(&repo);
    assert!(at(&events, "task_started", "T2") < at(&events, "task_completed", "T1"));
}

#[test]
fn status_task_list_and_the_dashboard_show_every_worker_while_they_work() {
    let repo = repo(2, "files/{}.txt", 4.0);
    let child = repo.spawn(&["run", "--workers", "2"]);
    agents_at_work(&repo, 2);
    let status = repo.run(&["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    for (worker, task) in [(1, "T1"), (2, "T2")] {
        let line = status
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("Worker {worker}: {task} - Write {task}")))
            .unwrap_or_else(|| panic!("no line for worker {worker}:\n{}", status.stdout));
        assert!(line.contains("attempt 1/3"), "{line}");
    }
    assert!(
        status.stdout.contains("branch autodev/T2"),
        "{}",
        status.stdout
    );
    let file = repo.status();
    let workers = file["run"]["workers"].as_array().expect("workers").clone();
    let tasks: Vec<&str> = workers
        .iter()
        .map(|w| w["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["T1", "T2"]);
    assert!(
        workers[1]["worktree"]
            .as_str()
            .unwrap()
            .ends_with(".git/autodev/worktrees/worker-2")
    );
    let list = repo.run(&["task", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let running: Vec<&str> = listed["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["status"] == "running")
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(running, ["T1", "T2"], "{}", list.stdout);
    let page = repo.read("logs/dashboard.html");
    assert!(page.contains("Now: 2 workers"), "{page}");
    assert!(page.contains("branch autodev/T1") && page.contains("branch autodev/T2"));
    let out = child.wait_with_output().expect("the run ends");
    assert_eq!(out.status.code(), Some(0));
    // Once the run is over, no worker is shown at work.
    assert!(repo.status()["run"].get("workers").is_none());
    assert!(!repo.run(&["status"]).stdout.contains("Worker 1"));
}
