//! `--workers N`: ready tasks worked at once, each in its worker's worktree; results brought
//! to your branch one at a time through the merge queue; tasks whose `path_patterns` may
//! overlap kept apart; one journal, one budget, one stop for all.

use crate::common::git;
use crate::harness::Repo;
use crate::recovery::{kill9, wait_for};

const CONFIG: &str = "[reflection]\nenabled = false\n";

/// The shell words that set `t` to the id of the task the agent call's prompt names.
const TASK_OF_CALL: &str = "t=$(sed -n 's/^Task \\([A-Za-z0-9_-]*\\):.*/\\1/p' \"$FAKE_AGENT_DIR/call-$FAKE_CALL.stdin\" | head -n 1);";

/// An agent call that finds its task's id in its prompt, notes it (`task-<call>`), waits
/// `seconds`, and writes `files/<task>.txt`, which the task's check looks for.
fn work(seconds: f64) -> String {
    format!(
        "sh {TASK_OF_CALL} \
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

#[test]
fn a_broken_login_found_by_one_worker_stops_the_others_and_halts_the_run() {
    let repo = repo(2, "files/{}.txt", 0.0);
    repo.sample("codex-exec-json-401.jsonl");
    // T2's call is refused for a login that expired; T1's agent works on meanwhile.
    repo.script(
        0,
        &format!(
            "exec {TASK_OF_CALL} \
         echo \"$t\" > \"$FAKE_AGENT_DIR/task-$FAKE_CALL\"; \
         if [ \"$t\" = T2 ]; then sleep 1; cat \"$FAKE_AGENT_DIR/codex-exec-json-401.jsonl\"; exit 1; fi; \
         sleep 60; cat \"$FAKE_AGENT_DIR/codex-exec-json-success.jsonl\""
        ),
    );
    let started = std::time::Instant::now();
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        started.elapsed().as_secs() < 30,
        "T1's agent was not stopped"
    );
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the tasks in flight are stopped"),
        "{}",
        run.stderr
    );
    // Neither task is done or blocked: both are for the next run, once you log in again.
    for id in ["T1", "T2"] {
        assert_ne!(repo.task(id)["passes"], true, "{id}");
        assert_ne!(repo.task(id)["blocked"], true, "{id}");
    }
    let finished = journal(&repo)
        .into_iter()
        .rfind(|e| e["type"] == "run_ended")
        .unwrap_or_else(|| panic!("no run_finished:\n{}", run.stderr));
    assert_eq!(finished["end"], "env_error");
}

#[test]
fn the_budget_counts_the_calls_in_flight_so_workers_cannot_pass_it_together() {
    let repo = repo(4, "files/{}.txt", 0.0);
    // T2's call is slow; the others are quick. Each call reports 20,747 tokens.
    repo.script(
        0,
        &format!(
            "exec {TASK_OF_CALL} \
         if [ \"$t\" = T2 ]; then sleep 3; else sleep 0.3; fi; mkdir -p files; \
         echo \"done $t\" > \"files/$t.txt\"; cat \"$FAKE_AGENT_DIR/codex-exec-json-success.jsonl\""
        ),
    );
    // Room for three calls. With T2 still running, T1's and T3's finished calls and T2's
    // forecast leave no room for T4's; counting only what was spent would have let it start.
    let run = repo.run(&["run", "--workers", "2", "--max-tokens", "70000"]);
    assert_eq!(repo.calls(), 3, "{}", run.stderr);
    let spent: Vec<u64> = journal(&repo)
        .iter()
        .filter(|e| e["type"] == "spent")
        .map(|e| e["total"]["tokens"].as_u64().expect("tokens"))
        .collect();
    assert_eq!(spent.last().copied(), Some(3 * 20_747), "{spent:?}");
    assert!(
        run.stderr
            .contains("counting 1 call(s) of other workers still running"),
        "{}",
        run.stderr
    );
    for id in ["T1", "T2", "T3"] {
        assert_eq!(repo.task(id)["passes"], true, "{id}");
    }
    assert_ne!(repo.task("T4")["passes"], true);
}

/// `(who, start, end)` of each interval the checks and the samples noted, in nanoseconds.
fn intervals(repo: &Repo) -> Vec<(String, u128, u128)> {
    let text = std::fs::read_to_string(repo.state.join("intervals")).unwrap_or_default();
    let mut open: std::collections::HashMap<String, u128> = Default::default();
    let mut done = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [who, edge, at] = words[..] else {
            panic!("a bad line: {line}")
        };
        let at: u128 = at.parse().expect("nanoseconds");
        match edge {
            "start" => {
                open.insert(who.to_string(), at);
            }
            _ => done.push((who.to_string(), open.remove(who).expect("a start"), at)),
        }
    }
    done
}

#[test]
fn an_experiments_samples_are_never_taken_while_another_workers_checks_run() {
    let note = |who: &str, body: &str| {
        format!(
            "echo \"{who} start $(date +%s%N)\" >> \"$FAKE_AGENT_DIR/intervals\"; {body}; \
             echo \"{who} end $(date +%s%N)\" >> \"$FAKE_AGENT_DIR/intervals\"\n"
        )
    };
    let tasks = r#"{"tasks": [
  {"id": "E1", "title": "Make it faster", "description": "Lower the latency",
   "verification": {"path_patterns": ["speed.txt"], "validate_commands": ["sh bench.sh"]},
   "completion": {"kind": "numeric", "source": "metric_lines", "name": "latency",
                  "direction": "lower_is_better"},
   "execution": {"strategy": "iterative", "max_iterations": 3}},
  {"id": "D1", "title": "Write D1", "description": "Write files/D1.txt",
   "verification": {"path_patterns": ["files/D1.txt"], "validate_commands": ["sh check.sh"]}}
]}"#;
    let repo = Repo::new(tasks, CONFIG);
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("speed.txt", "120\n");
    repo.write(
        "bench.sh",
        &note(
            "sample",
            "sleep 0.3; echo \"METRIC latency=$(cat speed.txt)\"",
        ),
    );
    repo.write(
        "check.sh",
        &note("check", "sleep 1.5; test -f files/D1.txt"),
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "benchmark and check"]);
    repo.script(
        0,
        &format!(
            "exec {TASK_OF_CALL} \
         if [ \"$t\" = D1 ]; then mkdir -p files; echo done > files/D1.txt; \
         else echo $((110 - FAKE_CALL)) > speed.txt; fi; \
         cat \"$FAKE_AGENT_DIR/codex-exec-json-success.jsonl\""
        ),
    );
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(repo.task("D1")["passes"], true, "{}", run.stderr);
    let all = intervals(&repo);
    let checks: Vec<_> = all.iter().filter(|i| i.0 == "check").collect();
    let samples: Vec<_> = all.iter().filter(|i| i.0 == "sample").collect();
    assert!(
        !checks.is_empty() && samples.len() >= 2,
        "{all:?}\n{}",
        run.stderr
    );
    for check in &checks {
        for sample in &samples {
            let apart = sample.2 <= check.1 || check.2 <= sample.1;
            assert!(apart, "a sample {sample:?} overlapped a check {check:?}");
        }
    }
}

#[test]
fn samples_wait_while_another_run_on_the_machine_holds_the_measurement_lock() {
    let tasks = r#"{"tasks": [
  {"id": "E1", "title": "Make it faster", "description": "Lower the latency",
   "verification": {"path_patterns": ["speed.txt"], "validate_commands": ["sh bench.sh"]},
   "completion": {"kind": "numeric", "source": "metric_lines", "name": "latency",
                  "direction": "lower_is_better"},
   "execution": {"strategy": "iterative", "max_iterations": 1}}
]}"#;
    let repo = Repo::new(tasks, CONFIG);
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("speed.txt", "120\n");
    repo.write("bench.sh", "echo \"METRIC latency=$(cat speed.txt)\"\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "benchmark"]);
    repo.script(0, "write speed.txt 90\ncat codex-exec-json-success.jsonl");
    // Another run's checks hold the machine's lock (shared) for two seconds.
    let lock = std::fs::File::create(repo.state.join("measure.lock")).expect("lock file");
    lock.lock_shared().expect("shared lock");
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        drop(lock);
    });
    let started = std::time::Instant::now();
    let run = repo.run(&["run"]);
    release.join().expect("released");
    assert!(started.elapsed().as_secs_f64() >= 2.0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the samples wait for the checks of other workers or runs"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.task("E1")["passes"], true, "{}", run.stderr);
}

#[test]
fn a_rate_limit_met_by_one_worker_holds_every_workers_next_call() {
    let repo = Repo::new(
        &tasks(3, "files/{}.txt"),
        &format!("{CONFIG}[circuit_breaker]\nrate_limit_cooldown = 2\n"),
    );
    repo.sample("codex-exec-json-success.jsonl");
    let failed = serde_json::json!({"type": "turn.failed",
        "error": {"message": "unexpected status 429 Too Many Requests: slow down"}});
    std::fs::write(repo.state.join("429.jsonl"), format!("{failed}\n")).expect("write");
    // T2's first call is told to slow down; T1 finishes meanwhile and its worker takes T3.
    repo.script(
        0,
        &format!(
            "exec {TASK_OF_CALL} \
         if [ \"$t\" = T2 ] && [ ! -f \"$FAKE_AGENT_DIR/limited\" ]; then touch \"$FAKE_AGENT_DIR/limited\"; \
         cat \"$FAKE_AGENT_DIR/429.jsonl\"; exit 1; fi; \
         [ \"$t\" = T1 ] && sleep 0.5; mkdir -p files; echo \"done $t\" > \"files/$t.txt\"; \
         cat \"$FAKE_AGENT_DIR/codex-exec-json-success.jsonl\""
        ),
    );
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = journal(&repo);
    let waits: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "waiting").collect();
    let of = |task: &str| waits.iter().find(|e| e["task"]["id"] == task).copied();
    assert!(of("T2").is_some(), "T2 waits: {waits:?}");
    let held = of("T3").unwrap_or_else(|| panic!("T3 is not held: {waits:?}\n{}", run.stderr));
    assert!(
        held["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("another worker's call was refused"),
        "{held}"
    );
    // One wait of the night, not two: T3's hold adds no backoff step.
    assert_eq!(waits.len(), 2, "{waits:?}");
    for id in ["T1", "T2", "T3"] {
        assert_eq!(repo.task(id)["passes"], true, "{id}");
    }
}

#[test]
fn autodev_web_shows_every_worker_of_a_live_run() {
    let repo = repo(2, "files/{}.txt", 4.0);
    let child = repo.spawn(&["run", "--workers", "2"]);
    agents_at_work(&repo, 2);
    let server = crate::web::Server::start(&repo, &[]);
    let (status, list) = server.get("/api/projects");
    assert_eq!(status, 200, "{list}");
    let project = &list["projects"][0];
    assert_eq!(project["current_task"], "T1, T2", "{list}");
    let id = project["id"].as_str().expect("id").to_string();
    let (_, one) = server.get(&format!("/api/projects/{id}"));
    let workers = one["status"]["run"]["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{one}");
    let (status, page) = server.get(&format!("/projects/{id}"));
    assert_eq!(status, 200);
    let page = page.as_str().expect("an HTML page");
    assert!(page.contains("Now: 2 workers"), "{page}");
    assert!(page.contains("branch autodev/T1") && page.contains("branch autodev/T2"));
    drop(server);
    let out = child.wait_with_output().expect("the run ends");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_next_run_resumes_what_both_stopped_agents_had_written_in_their_own_worktrees() {
    let repo = repo(2, "files/{}.txt", 0.0);
    let start = head(&repo);
    // Each agent writes its file at once, then is still at work when you press Ctrl-C.
    repo.script(
        0,
        &format!(
            "sh {TASK_OF_CALL} \
         mkdir -p files; echo \"done $t\" > \"files/$t.txt\"; echo \"$t\" > \"$FAKE_AGENT_DIR/task-$FAKE_CALL\"; sleep 60\n\
         cat codex-exec-json-success.jsonl"
        ),
    );
    let child = repo.spawn(&["run", "--workers", "2"]);
    agents_at_work(&repo, 2);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let out = child.wait_with_output().expect("the run ends");
    assert_eq!(out.status.code(), Some(130));
    // Both cut-off attempts are run again where they were worked, and what they had written
    // counts; nothing is left on a branch.
    repo.script(0, &work(0.0));
    let run = repo.run(&["run", "--workers", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for id in ["T1", "T2"] {
        assert!(
            run.stderr
                .contains(&format!("resuming {id}: attempt 1 was cut off")),
            "{}",
            run.stderr
        );
    }
    tidy_and_complete(&repo, &start, 2);
}
