//! Fault injection: `autodev run` over a small queue, killed with SIGKILL at a random moment,
//! then run again; every invariant a user relies on is checked after the kill and after the
//! re-run, and a table of trials and violations is printed.
//!
//! `AUTODEV_FAULT_TRIALS` sets the number of trials (a few by default; `bench/faults.sh` runs
//! 120) and `AUTODEV_FAULT_SEED` the seed of the kill moments (printed, to replay a run).

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

fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn random_kills_keep_every_invariant() {
    let trials: u32 = std::env::var("AUTODEV_FAULT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let mut seed: u64 = std::env::var("AUTODEV_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("fault injection: {trials} trial(s), seed {seed}");
    let mut tally = Tally(BTreeMap::new());
    for trial in 1..=trials {
        let repo = Repo::new(QUEUE, "[reflection]\nenabled = false\n");
        repo.sample("codex-exec-json-success.jsonl");
        let hook = repo.path().join(".git/hooks/pre-commit");
        std::fs::write(&hook, "#!/bin/sh\nsleep 0.1\n").expect("hook");
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&hook)
            .status()
            .expect("chmod");
        repo.script(0, AGENT);
        let delay = Duration::from_millis(next(&mut seed) % 1400);
        let mut child = repo.spawn(&["run"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();

        // Right after the kill.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut left = processes_in(repo.path());
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            left = processes_in(repo.path());
        }
        tally.check(
            "no process of the run is left 2 s after the kill",
            left.is_empty(),
            trial,
            &format!("{left:?}"),
        );
        let parsed = serde_json::from_str::<serde_json::Value>(&repo.read("task.json")).is_ok();
        tally.check("task.json parses after the kill", parsed, trial, "");
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
    }
    println!("{:<66} {:>6} {:>10}", "invariant", "trials", "violations");
    let mut violations = 0;
    for (invariant, (checked, violated)) in &tally.0 {
        println!("{invariant:<66} {checked:>6} {violated:>10}");
        violations += violated;
    }
    assert_eq!(violations, 0, "invariants were violated (seed {seed})");
}
