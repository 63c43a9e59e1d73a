//! A journal that is damaged, deleted or not a file at all: the killed attempt is still
//! credited, `seq` never goes back, and nothing blocks or reads without end.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::git;
use crate::harness::Repo;
use crate::recovery::{SUCCESS, kill9, project, wait_for};

fn hello_task(_: &Path) -> String {
    r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#
        .into()
}

fn journal(repo: &Repo) -> std::path::PathBuf {
    repo.path().join("logs/events.jsonl")
}

/// Every whole line of the journal.
fn lines(repo: &Repo) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(journal(repo)).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The `seq` of every line of the journal not written by the run `old`.
fn seqs_after(repo: &Repo, old: &str) -> Vec<u64> {
    lines(repo)
        .iter()
        .filter(|v| v["run_id"] != old)
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

/// Something done to the journal file.
type Damage = fn(&Path);

const DAMAGES: [(&str, Damage); 5] = [
    ("deleted", |p| std::fs::remove_file(p).expect("rm")),
    ("emptied", |p| std::fs::write(p, "").expect("empty")),
    ("cut to its first line", |p| {
        let text = std::fs::read_to_string(p).expect("read");
        let first = text.lines().next().expect("a line");
        std::fs::write(p, format!("{first}\n")).expect("cut");
    }),
    ("buried under 5 MiB of NUL bytes", |p| {
        append(p, &vec![0u8; 5 << 20])
    }),
    ("ended by one 5 MiB line", |p| {
        let mut line = vec![b'x'; 5 << 20];
        line.push(b'\n');
        append(p, &line);
    }),
];

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open");
    file.write_all(bytes).expect("append");
}

#[test]
fn a_damaged_journal_still_credits_the_killed_attempt_and_seq_goes_on() {
    for (how, damage) in DAMAGES {
        let repo = project(hello_task);
        repo.script(
            1,
            "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nhang\n",
        );
        repo.script(2, SUCCESS);
        let child = repo
            .command(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run");
        wait_for(&repo.state.join("working"));
        kill9(child);
        let before = lines(&repo);
        let highest = before.iter().filter_map(|v| v["seq"].as_u64()).max();
        let highest = highest.expect("journalled");
        let old = before[0]["run_id"].as_str().expect("run id").to_string();
        damage(&journal(&repo));

        let run = repo.run(&["run"]);
        assert_eq!(run.code, 0, "{how}: {}", run.stderr);
        let task = repo.task("T1");
        assert_eq!(task["passes"], true, "{how}: {task}");
        assert_eq!(
            git(repo.path(), &["show", "HEAD:hello.txt"]),
            "hello\n",
            "{how}: the killed attempt's file is committed"
        );
        assert!(
            run.stderr.contains("resuming T1"),
            "{how}: the resumption is told: {}",
            run.stderr
        );
        let after = seqs_after(&repo, &old);
        assert!(!after.is_empty(), "{how}: the journal goes on");
        assert!(
            after.iter().all(|&s| s > highest),
            "{how}: seq went back (highest before {highest}, after {after:?})"
        );
        assert_eq!(repo.run(&["run"]).code, 0);
        assert_eq!(repo.calls(), 2, "{how}: nothing is left for the run after");
    }
}

#[test]
fn a_journal_deleted_during_the_run_is_opened_again() {
    let repo = project(hello_task);
    repo.script(
        1,
        &format!(
            "sh rm {}/logs/events.jsonl\n{SUCCESS}",
            repo.path().display()
        ),
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(journal(&repo)).expect("a journal again");
    let types: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("journal_opened"));
    for wanted in ["task_completed", "run_ended"] {
        assert!(types.iter().any(|t| t == wanted), "{wanted} in {types:?}");
    }
    assert!(
        lines(&repo)[0]["seq"].as_u64() > Some(3),
        "seq goes on from the deleted file"
    );
}

#[test]
fn a_journal_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let kinds: [(&str, Damage); 2] = [
        ("a FIFO", |p| {
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo")
        }),
        ("a device", |p| {
            std::os::unix::fs::symlink("/dev/full", p).expect("link")
        }),
    ];
    for (what, make) in kinds {
        let repo = project(hello_task);
        repo.script(0, SUCCESS);
        std::fs::create_dir_all(repo.path().join("logs")).expect("logs");
        make(&journal(&repo));
        let mut child = repo
            .command(&["run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{what}: the run still waits 20 s later");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("events.jsonl") && stderr.contains(what),
            "{what}: the file and what it is are named: {stderr}"
        );
        assert_eq!(repo.calls(), 0, "{what}: no agent was called");
    }
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_run_before_the_agent() {
    // A file-size limit of 1 MiB and a journal already past it: every line the run tries to
    // journal fails (as on a full disk), while the small files around it still write.
    let repo = project(hello_task);
    repo.script(0, SUCCESS);
    std::fs::create_dir_all(repo.path().join("logs")).expect("logs");
    let line = r#"{"seq":0,"time":"t","run_id":"old","type":"note","level":"info","text":"x"}"#;
    let filler: String = (0..20_000).map(|_| format!("{line}\n")).collect();
    std::fs::write(journal(&repo), filler).expect("filler");
    let command = repo.command(&["run"]);
    let autodev = command.get_program().to_owned();
    let mut limited = std::process::Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -f 1024; exec \"$0\" run")
        .arg(autodev)
        .current_dir(repo.path())
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let run: crate::common::Run = limited.output().expect("run").into();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("could not write the logs"),
        "the cause is told: {}",
        run.stderr
    );
    assert_eq!(repo.calls(), 0, "the agent was never started");
    assert!(!repo.path().join("hello.txt").exists());
    crate::common::assert_off(&repo.task("T1"), "passes");
}
