//! Fault injection: `autodev run` over a small queue, killed with SIGKILL at a random moment,
//! then run again; every invariant a user relies on is checked after the kill and after the
//! re-run, and a table of trials and violations is printed.
//!
//! Three queues: two delivery tasks (killed once, stopped politely, or killed with notifications
//! under way), six delivery tasks on four workers (killed with up to four in flight), and an
//! experiment in its worktrees with the user's uncommitted work beside it (killed twice: in its
//! run, and in the run recovering it). `AUTODEV_FAULT_KEEP` keeps the repository of a trial
//! that left a branch behind, for a look. `AUTODEV_FAULT_TRIALS` sets the
//! number of trials of each (a few by default; `bench/faults.sh` runs 120) and
//! `AUTODEV_FAULT_SEED` the seed of the kill moments (printed, to replay a run).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::git;
use crate::harness::Repo;

const QUEUE: &str = r#"{"tasks": [
  {"id": "T1", "title": "Write a", "description": "Write a.txt",
   "verification": {"path_patterns": ["a.txt"], "validate_commands": ["sleep 0.1; grep -q a a.txt"]}},
  {"id": "T2", "title": "Write b", "description": "Write b.txt",
   "verification": {"path_patterns": ["b.txt"], "validate_commands": ["sleep 0.1; grep -q b b.txt"]}}
]}"#;

/// The agent writes the file of the task its prompt names.
const AGENT: &str = "sh f=$(head -n1 \"$FAKE_AGENT_DIR/call-$FAKE_CALL.stdin\" | grep -q 'Task T1:' && echo a || echo b); sleep 0.15; echo $f > $f.txt\ncat codex-exec-json-success.jsonl\n";

/// Processes whose working directory is inside `dir`.
fn processes_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
                && crate::common::alive(*pid)
        })
        .collect()
}

struct Tally(BTreeMap<&'static str, (u32, u32)>);

impl Tally {
    fn check(&mut self, invariant: &'static str, held: bool, trial: u32, detail: &str) {
        let entry = self.0.entry(invariant).or_default();
        entry.0 += 1;
        if !held {
            entry.1 += 1;
            eprintln!("trial {trial}: violated: {invariant}: {detail}");
        }
    }
}

impl Tally {
    /// Prints the table; fails when any invariant was violated, naming the seed to replay.
    fn report(&self, seed: u64) {
        println!("{:<66} {:>6} {:>10}", "invariant", "trials", "violations");
        let mut violations = 0;
        for (invariant, (checked, violated)) in &self.0 {
            println!("{invariant:<66} {checked:>6} {violated:>10}");
            violations += violated;
        }
        assert_eq!(violations, 0, "invariants were violated (seed {seed})");
    }
}

/// The trials to run (`AUTODEV_FAULT_TRIALS`, else `default`) and the seed of the kill moments
/// (`AUTODEV_FAULT_SEED`, else the clock).
fn trials_and_seed(default: u32) -> (u32, u64) {
    let trials = std::env::var("AUTODEV_FAULT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let seed = std::env::var("AUTODEV_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    (trials, seed)
}

/// The processes still working in `dir` after waiting up to 2 s for them to go.
fn left_after_kill(dir: &Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut left = processes_in(dir);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left = processes_in(dir);
    }
    left
}

/// Runs autodev with `args` in `repo` and kills it with SIGKILL after `delay`; checks what must
/// hold right after the kill. Whether `task.json` parses.
fn killed_after(
    tally: &mut Tally,
    trial: u32,
    repo: &Repo,
    args: &[&str],
    delay: Duration,
) -> bool {
    let mut child = repo.spawn(args);
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
    let left = left_after_kill(repo.path());
    tally.check(
        "no process of the run is left 2 s after the kill",
        left.is_empty(),
        trial,
        &format!("{left:?}"),
    );
    let parsed = serde_json::from_str::<serde_json::Value>(&repo.read("task.json")).is_ok();
    tally.check("task.json parses after the kill", parsed, trial, "");
    parsed
}

fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// The two-task queue with its agent and a slow pre-commit hook.
fn delivery_repo() -> Repo {
    let repo = Repo::new(QUEUE, "[reflection]\nenabled = false\n");
    repo.sample("codex-exec-json-success.jsonl");
    repo.hook("pre-commit", "sleep 0.1\n");
    repo.script(0, AGENT);
    repo
}

#[test]
fn random_kills_keep_every_invariant() {
    let (trials, first_seed) = trials_and_seed(6);
    let mut seed = first_seed;
    println!("fault injection: {trials} trial(s), seed {first_seed}");
    let mut tally = Tally(BTreeMap::new());
    for trial in 1..=trials {
        let repo = delivery_repo();
        let delay = Duration::from_millis(next(&mut seed) % 1400);
        let parsed = killed_after(&mut tally, trial, &repo, &["run"], delay);
        let untracked = git(
            repo.path(),
            &["status", "--porcelain", "--untracked-files=all"],
        );
        tally.check(
            "no temporary file a user could commit",
            !untracked.contains(".tmp"),
            trial,
            &untracked,
        );
        if parsed {
            for (id, file) in [("T1", "a.txt"), ("T2", "b.txt")] {
                if repo.task(id)["passes"] == true {
                    let ok =
                        git(repo.path(), &["ls-tree", "--name-only", "HEAD", file]).trim() == file;
                    tally.check(
                        "a COMPLETED task's files are committed (after the kill)",
                        ok,
                        trial,
                        id,
                    );
                }
            }
        }

        // The next run finishes the work.
        finished_by_one_run(&mut tally, &repo, trial);
    }
    tally.report(first_seed);
}

/// One plain run after the stop completes both tasks, each committed once, and nothing of
/// autodev's is left in the index or the tree.
fn finished_by_one_run(tally: &mut Tally, repo: &Repo, trial: u32) {
    {
        let run = repo.run(&["run"]);
        let both = repo.task("T1")["passes"] == true && repo.task("T2")["passes"] == true;
        tally.check(
            "the next run completes every task and exits 0",
            run.code == 0 && both,
            trial,
            &run.stderr,
        );
        let tree = git(repo.path(), &["ls-tree", "--name-only", "HEAD"]);
        tally.check(
            "every task's file is committed",
            tree.lines().any(|l| l == "a.txt") && tree.lines().any(|l| l == "b.txt"),
            trial,
            &tree,
        );
        let staged = git(repo.path(), &["diff", "--cached", "--name-only"]);
        let status = git(repo.path(), &["status", "--porcelain"]);
        tally.check(
            "the index holds nothing of autodev's, the task files are clean",
            staged.is_empty() && !status.contains("a.txt") && !status.contains("b.txt"),
            trial,
            &format!("staged: {staged}; status: {status}"),
        );
        let commits = git(repo.path(), &["log", "--format=%s"]);
        let per_task = |id: &str| commits.lines().filter(|l| l.contains(id)).count();
        tally.check(
            "each task is committed exactly once",
            per_task("T1") == 1 && per_task("T2") == 1,
            trial,
            &commits,
        );
        let branches = git(repo.path(), &["branch", "--list", "autodev/*"]);
        let worktrees = git(repo.path(), &["worktree", "list", "--porcelain"]);
        tally.check(
            "no task branch is left, and only the worker's worktree, on no branch",
            branches.is_empty()
                && worktrees.matches("worktree ").count() <= 2
                && !worktrees.contains("branch refs/heads/autodev/"),
            trial,
            &format!("branches: {branches}; worktrees: {worktrees}"),
        );
    }
}

/// Six tasks, each writing `f<k>.txt`, for four workers.
fn six_tasks() -> String {
    let tasks: Vec<String> = (1..=6)
        .map(|k| {
            format!(
                r#"{{"id": "T{k}", "title": "Write f{k}", "description": "Write f{k}.txt",
                 "verification": {{"path_patterns": ["f{k}.txt"],
                                   "validate_commands": ["sleep 0.1; grep -q T{k} f{k}.txt"]}}}}"#
            )
        })
        .collect();
    format!("{{\"tasks\": [{}]}}", tasks.join(","))
}

/// The agent of [`six_tasks`]: finds its task in its prompt and writes the task's file.
const WORKER_AGENT: &str = "sh t=$(sed -n 's/^Task \\(T[0-9]*\\):.*/\\1/p' \"$FAKE_AGENT_DIR/call-$FAKE_CALL.stdin\" | head -n 1); sleep 0.3; echo $t > f${t#T}.txt\ncat codex-exec-json-success.jsonl\n";

#[test]
fn random_kills_with_four_workers_in_flight_keep_every_invariant() {
    let (trials, first_seed) = trials_and_seed(3);
    let mut seed = first_seed;
    println!("fault injection, four workers: {trials} trial(s), seed {first_seed}");
    let mut tally = Tally(BTreeMap::new());
    let ids: Vec<String> = (1..=6).map(|k| format!("T{k}")).collect();
    for trial in 1..=trials {
        let repo = Repo::new(&six_tasks(), "[reflection]\nenabled = false\n");
        repo.sample("codex-exec-json-success.jsonl");
        repo.hook("pre-commit", "sleep 0.05\n");
        repo.script(0, WORKER_AGENT);
        let delay = Duration::from_millis(next(&mut seed) % 2500);
        killed_after(&mut tally, trial, &repo, &["run", "--workers", "4"], delay);
        let run = repo.run(&["run", "--workers", "4"]);
        let all = ids.iter().all(|id| repo.task(id)["passes"] == true);
        tally.check(
            "the next run completes every task and exits 0",
            run.code == 0 && all,
            trial,
            &run.stderr,
        );
        let tree = git(repo.path(), &["ls-tree", "--name-only", "HEAD"]);
        let commits = git(repo.path(), &["log", "--format=%s"]);
        for (k, id) in ids.iter().enumerate() {
            let file = format!("f{}.txt", k + 1);
            tally.check(
                "every task's file is committed",
                tree.lines().any(|l| l == file),
                trial,
                &tree,
            );
            let once = commits.lines().filter(|l| l.contains(id.as_str())).count() == 1;
            tally.check("each task is committed exactly once", once, trial, &commits);
        }
        let status = git(repo.path(), &["status", "--porcelain"]);
        tally.check(
            "the index and the task files are clean",
            !status
                .lines()
                .any(|l| l.len() > 3 && l[3..].starts_with('f') && l.ends_with(".txt")),
            trial,
            &status,
        );
        let branches = git(repo.path(), &["branch", "--list", "autodev/*"]);
        let worktrees = git(repo.path(), &["worktree", "list", "--porcelain"]);
        tally.check(
            "no task branch is left, and only the workers' worktrees, on no branch",
            branches.is_empty()
                && worktrees.matches("worktree ").count() <= 5
                && !worktrees.contains("branch refs/heads/autodev/"),
            trial,
            &format!(
                "branches: {branches}; worktrees: {worktrees}; the run after the kill:\n{}",
                run.stderr
            ),
        );
        if std::env::var_os("AUTODEV_FAULT_KEEP").is_some() && !branches.is_empty() {
            eprintln!("trial {trial}: kept {}", repo.dir.keep().display());
        }
    }
    tally.report(first_seed);
}

/// Waits (up to 5 s) until process `pid` has a handler for `sig` (`SigCgt` in its status).
fn catches(pid: i32, sig: nix::sys::signal::Signal) {
    let bit = 1u64 << (sig as i32 - 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
        match caught {
            Some(mask) if mask & bit != 0 => return,
            None => return,
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Polite stops at random moments: SIGINT, SIGTERM or SIGHUP (once, or in two runs in a row),
/// or a budget stop, then one plain run must finish the queue.
#[test]
fn random_polite_stops_are_finished_by_one_plain_run() {
    use nix::sys::signal::Signal;
    let (trials, first_seed) = trials_and_seed(4);
    let mut seed = first_seed;
    println!("polite stops: {trials} trial(s), seed {first_seed}");
    let mut tally = Tally(BTreeMap::new());
    for trial in 1..=trials {
        let repo = delivery_repo();
        let kind = next(&mut seed) % 4;
        if kind == 3 {
            // A call reports 20,747 tokens: the cap stops the run before its second call.
            let run = repo.run(&["run", "--max-tokens", "30000"]);
            tally.check("a budget stop exits 3", run.code == 3, trial, &run.stderr);
        } else {
            let stops = 1 + next(&mut seed) % 2;
            for _ in 0..stops {
                let sig = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP][kind as usize];
                let delay = Duration::from_millis(next(&mut seed) % 1400);
                let child = repo.spawn(&["run"]);
                // From the moment autodev handles signals: a signal before its first
                // instructions (the loader still at work) ends any program.
                catches(child.id() as i32, sig);
                std::thread::sleep(delay);
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig);
                let out = child.wait_with_output().expect("exit");
                let code = out.status.code();
                tally.check(
                    "a polite stop exits 130 (or the run had finished: 0)",
                    matches!(code, Some(130) | Some(0)),
                    trial,
                    &format!("{sig}: {code:?}: {}", String::from_utf8_lossy(&out.stderr)),
                );
                let left = left_after_kill(repo.path());
                tally.check(
                    "no process of the run is left 2 s after a polite stop",
                    left.is_empty(),
                    trial,
                    &format!("{left:?}"),
                );
            }
        }
        finished_by_one_run(&mut tally, &repo, trial);
        let history: Vec<serde_json::Value> = ["T1", "T2"]
            .iter()
            .flat_map(|id| {
                repo.task(id)["attempt_history"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        tally.check(
            "no stop is recorded as a failed attempt",
            history.iter().all(|h| h["status"] != "failed"),
            trial,
            &format!("{history:?}"),
        );
    }
    tally.report(first_seed);
}

/// An experiment of two iterations, measured interleaved (three pairs) after a build step; the
/// project's slow post-merge hook must not make the fast-forward stoppable half way.
const EXPERIMENT: &str = r#"{"tasks": [
  {"id": "E1", "title": "Make it faster", "description": "Lower the latency",
   "verification": {"path_patterns": ["speed.txt"], "validate_commands": ["sleep 0.02; echo \"METRIC latency=$(cat built.txt)\""]},
   "completion": {"kind": "numeric", "source": "metric_lines", "name": "latency",
                  "direction": "lower_is_better", "repeats": 3},
   "execution": {"strategy": "iterative", "max_iterations": 2, "build_command": "sleep 0.05; cp speed.txt built.txt"}}
]}"#;

/// The agent lowers the latency to 100 in iteration 1 and to 90 in iteration 2.
const EXPERIMENTER: &str = "sh v=$(grep -q 'iteration: 2 of 2' \"$FAKE_AGENT_DIR/call-$FAKE_CALL.stdin\" && echo 90 || echo 100); sleep 0.1; echo $v > speed.txt\ncat codex-exec-json-success.jsonl\n";

/// The user's uncommitted work: (path, content, `git status --porcelain` line).
const USER_WORK: [(&str, &str, &str); 3] = [
    ("notes.md", "edited by hand, not committed\n", " M notes.md"),
    ("scratch.txt", "untracked scratch\n", "?? scratch.txt"),
    ("staged.txt", "staged, not committed\n", "A  staged.txt"),
];

fn user_work_intact(repo: &Repo) -> Result<(), String> {
    let status = git(
        repo.path(),
        &["status", "--porcelain", "--untracked-files=all"],
    );
    for (path, content, line) in USER_WORK {
        if repo.read(path) != content {
            return Err(format!("{path} now holds {:?}", repo.read(path)));
        }
        if !status.lines().any(|l| l == line) {
            return Err(format!("{line:?} is not in the status:\n{status}"));
        }
    }
    Ok(())
}

#[test]
fn random_kills_during_an_experiment_keep_every_invariant() {
    experiment_campaign(false);
}

/// The same, with the user committing on their branch during the second iteration: the result
/// is replayed onto their commit and measured again there before it lands.
#[test]
fn random_kills_while_a_moved_branch_gets_the_result_keep_every_invariant() {
    experiment_campaign(true);
}

/// The agent of [`EXPERIMENTER`], which with `moved` also commits `other.txt` on the user's
/// branch in `dir` in its second iteration (once, whatever the kills).
fn experimenter(dir: &Path, moved: bool) -> String {
    if !moved {
        return EXPERIMENTER.to_string();
    }
    let dir = dir.display();
    // The user's commit runs in a session of its own: a kill of the run does not cut it short
    // (it is the user's, not the run's).
    format!(
        "sh grep -q 'iteration: 2 of 2' \"$FAKE_AGENT_DIR/call-$FAKE_CALL.stdin\" && setsid -w \
         sh -c \"git -C {dir} log --format=%s | grep -q 'user: other' || (echo other > \
         {dir}/other.txt && git -C {dir} add other.txt && git -C {dir} commit -qm 'user: other' \
         -- other.txt)\"; true\n{EXPERIMENTER}"
    )
}

fn experiment_campaign(moved: bool) {
    let (trials, first_seed) = trials_and_seed(4);
    let mut seed = first_seed;
    println!("experiment fault injection (moved: {moved}): {trials} trial(s), seed {first_seed}");
    let mut tally = Tally(BTreeMap::new());
    for trial in 1..=trials {
        let repo = Repo::new(EXPERIMENT, "");
        repo.sample("codex-exec-json-success.jsonl");
        repo.write("speed.txt", "120\n");
        repo.write("notes.md", "committed notes\n");
        repo.write(".gitignore", "logs/\nbuilt.txt\n");
        git(repo.path(), &["add", "-A"]);
        git(repo.path(), &["commit", "-qm", "benchmark"]);
        let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
        repo.hook("post-merge", "sleep 0.1\n");
        for (path, content, _) in USER_WORK {
            repo.write(path, content);
        }
        git(repo.path(), &["add", "staged.txt"]);
        repo.script(0, &experimenter(repo.path(), moved));
        // Killed twice: once in the first run, once in the run that recovers from it (an
        // undisturbed run takes about 2.2 s here).
        for window in [if moved { 2800 } else { 2200 }, 1500] {
            let delay = Duration::from_millis(next(&mut seed) % window);
            let mut child = repo.spawn(&["run"]);
            std::thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();

            let left = left_after_kill(repo.path());
            tally.check(
                "no process of the run is left 2 s after a kill",
                left.is_empty(),
                trial,
                &format!("{left:?}"),
            );
            let intact = user_work_intact(&repo);
            tally.check(
                "the user's uncommitted work is intact after a kill",
                intact.is_ok(),
                trial,
                &format!("{intact:?}"),
            );
            let head = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
            let at_result = git(repo.path(), &["show", "HEAD:speed.txt"]) == "90\n";
            let users = git(repo.path(), &["rev-parse", "HEAD^"]).trim() == start
                && git(repo.path(), &["log", "-1", "--format=%s"]).trim() == "user: other";
            tally.check(
                "the user's branch is at the start, the user's commit, or the final result",
                head == start || users || at_result,
                trial,
                &head,
            );
        }

        let run = repo.run(&["run"]);
        tally.check(
            "the run after the kills completes the experiment and exits 0",
            run.code == 0 && repo.task("E1")["passes"] == true,
            trial,
            &run.stderr,
        );
        tally.check(
            "the result is on the user's branch",
            git(repo.path(), &["show", "HEAD:speed.txt"]) == "90\n",
            trial,
            &git(repo.path(), &["log", "--oneline"]),
        );
        let commits = git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")],
        );
        let theirs = commits.lines().filter(|l| *l == "user: other").count();
        tally.check(
            "the branch gains the two kept candidates and nothing else (but the user's commit)",
            commits.lines().count() == 2 + theirs
                && theirs == usize::from(moved)
                && commits
                    .lines()
                    .all(|l| l.starts_with("experiment(E1)") || l == "user: other"),
            trial,
            &commits,
        );
        let intact = user_work_intact(&repo);
        tally.check(
            "the user's uncommitted work is intact after that run",
            intact.is_ok(),
            trial,
            &format!("{intact:?}"),
        );
        let worktrees = git(repo.path(), &["worktree", "list"]);
        let branches = git(repo.path(), &["branch", "--list", "autodev/*"]);
        tally.check(
            "no worktree or experiment branch is left",
            worktrees.lines().count() == 1 && branches.is_empty(),
            trial,
            &if branches.is_empty() {
                worktrees.clone()
            } else {
                format!(
                    "{worktrees}{branches}branch at {}; the last run said:\n{}",
                    git(repo.path(), &["log", "--oneline", "-3", "autodev/E1", "--"]),
                    run.stderr
                )
            },
        );
    }
    tally.report(first_seed);
}

/// Notifications through a command that takes a while, with the run killed at random moments
/// (deliveries queued, under way, or waiting at the end of the run); the next run must send what
/// the killed one left, and lose none.
#[test]
fn random_kills_lose_no_notification() {
    let (trials, first_seed) = trials_and_seed(4);
    let mut seed = first_seed;
    println!("notifications: {trials} trial(s), seed {first_seed}");
    let mut tally = Tally(BTreeMap::new());
    let mut left_waiting = 0;
    for trial in 1..=trials {
        let repo = delivery_repo();
        let notes = repo.state.join("notes");
        std::fs::create_dir_all(&notes).expect("notes");
        repo.write(
            "autodev.toml",
            &format!(
                "[project]\nname = \"demo\"\n[run]\ndelay_between_tasks = 0\n\
                 [reflection]\nenabled = false\n[notify]\n\
                 command = \"sleep 0.3; cat > \\\"$(mktemp -p '{}')\\\"\"\n",
                notes.display()
            ),
        );
        git(repo.path(), &["commit", "-qam", "notify"]);
        let delay = Duration::from_millis(next(&mut seed) % 2000);
        let mut child = repo.spawn(&["run"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let waiting: Vec<String> = std::fs::read_dir(repo.path().join("logs/notify-outbox"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .filter_map(|p| p["body"]["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        left_waiting += waiting.len();

        finished_by_one_run(&mut tally, &repo, trial);
        let bodies: Vec<serde_json::Value> = std::fs::read_dir(&notes)
            .expect("notes")
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect();
        let sent = |id: &str| bodies.iter().any(|b| b["id"] == id);
        let lost: Vec<&String> = waiting.iter().filter(|id| !sent(id)).collect();
        tally.check(
            "what a killed run left in the outbox is sent by the next run",
            lost.is_empty(),
            trial,
            &format!("{lost:?}"),
        );
        let finished = bodies
            .iter()
            .filter(|b| b["event"] == "run_finished")
            .count();
        tally.check(
            "the next run's run_finished is delivered before it exits",
            finished >= 1,
            trial,
            &format!("{bodies:?}"),
        );
        let left = std::fs::read_dir(repo.path().join("logs/notify-outbox"))
            .map(|e| e.count())
            .unwrap_or(0);
        tally.check(
            "the outbox is empty once the next run has ended",
            left == 0,
            trial,
            &repo.read("logs/notify.log"),
        );
        let mut ids: Vec<(String, String)> = bodies
            .iter()
            .map(|b| (b["id"].to_string(), b["event"].to_string()))
            .collect();
        ids.sort();
        ids.dedup();
        let mut unique: Vec<&String> = ids.iter().map(|(id, _)| id).collect();
        unique.dedup();
        tally.check(
            "an id always names the same notification",
            unique.len() == ids.len(),
            trial,
            &format!("{ids:?}"),
        );
    }
    println!("deliveries the kills left in the outbox: {left_waiting}");
    tally.report(first_seed);
}
