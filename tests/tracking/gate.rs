//! Checks run for real: shell syntax, kept stderr, timeouts that kill the whole process group,
//! working directory and environment; protected files put back after tampering.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use autodev::exec::{Cancel, Exit, StopReason, Tee};
use autodev::gate::{self, CheckRun, Guard, Plan};
use autodev::snapshot::{PathPatterns, Rules, Snapshot, diff};
use autodev::task::contract::Completion;

fn plan(dir: &std::path::Path, commands: &[&str], timeout_seconds: u64) -> Plan {
    Plan {
        path_patterns: Vec::new(),
        commands: commands.iter().map(|c| c.to_string()).collect(),
        timeout_seconds,
        workdir: dir.to_path_buf(),
        env: vec![("GREETING".into(), "hello from env".into())],
        min_changed_files: 0,
        completion: Completion::Boolean,
        protected_paths: Vec::new(),
    }
}

fn run(plan: &Plan) -> Vec<CheckRun> {
    autodev::exec::runtime()
        .expect("runtime")
        .block_on(gate::run_checks(
            plan,
            &mut Tee::default(),
            &Cancel::default(),
            None,
        ))
}

#[test]
fn commands_run_in_a_shell_with_the_configured_directory_and_environment() {
    let dir = tempfile::tempdir().expect("dir");
    fs::write(dir.path().join("data.txt"), "b\na\nc\n").expect("write");
    let runs = run(&plan(
        dir.path(),
        &[
            "sort data.txt | head -n 1 && echo \"$GREETING\"",
            "echo oops >&2; exit 4",
        ],
        60,
    ));
    assert_eq!(runs[0].exit, Some(Exit::Code(0)));
    assert_eq!(runs[0].stdout, "a\nhello from env\n");
    assert_eq!(runs[1].exit, Some(Exit::Code(4)));
    assert_eq!(runs[1].stderr, "oops\n", "stderr is kept");
    let report = gate::judge(&plan(dir.path(), &[], 60), &[], &runs, None, false);
    assert!(!report.passed);
    assert!(report.errors[0].contains("oops"), "{:?}", report.errors);
}

#[test]
fn a_timeout_kills_the_check_and_everything_it_started() {
    let dir = tempfile::tempdir().expect("dir");
    let pidfile: PathBuf = dir.path().join("bg.pid");
    let command = format!(
        "sleep 300 & echo $! > {}; echo started; wait",
        pidfile.display()
    );
    let started = Instant::now();
    let runs = run(&plan(dir.path(), &[&command], 1));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(runs[0].stopped, Some(StopReason::WallTimeout));
    assert_eq!(runs[0].stdout, "started\n");
    let pid: i32 = fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("number");
    std::thread::sleep(Duration::from_millis(200));
    let alive = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false);
    assert!(!alive, "the background sleep {pid} survived the timeout");
    let report = gate::judge(&plan(dir.path(), &[], 1), &[], &runs, None, false);
    assert!(report.checks[0].detail.contains("timed out after 1 s"));
}

#[test]
fn a_missing_working_directory_is_explained() {
    let dir = tempfile::tempdir().expect("dir");
    let runs = run(&plan(&dir.path().join("nope"), &["true"], 10));
    assert_eq!(runs[0].exit, None);
    assert!(
        runs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("does not exist"),
        "{:?}",
        runs[0].error
    );
}

#[test]
fn tampered_protected_files_are_put_back() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path();
    fs::write(root.join("autodev.toml"), "").expect("toml");
    fs::create_dir_all(root.join("tests")).expect("mkdir");
    fs::create_dir_all(root.join("src")).expect("mkdir");
    fs::write(root.join("tests/test_a.py"), "assert slow() < 10\n").expect("write");
    fs::write(root.join("tests/test_b.py"), "assert True\n").expect("write");
    fs::write(root.join("src/app.py"), "def slow(): return 99\n").expect("write");
    let settings = autodev::config::load(
        &autodev::config::LoadOptions {
            config_path: None,
            cwd: root.to_path_buf(),
            overrides: Vec::new(),
        },
        Vec::new(),
    )
    .expect("settings");
    let rules = Rules::new(&settings.config, &settings.paths).expect("rules");
    let before = Snapshot::take(&rules, None);
    let patterns = PathPatterns::new(&["tests/**".to_string()]).expect("patterns");
    let guard = Guard::capture(root.to_path_buf(), patterns, &before).expect("capture");

    // The agent "passes" by editing the test, deleting another and adding its own.
    fs::write(root.join("tests/test_a.py"), "assert True\n").expect("tamper");
    fs::remove_file(root.join("tests/test_b.py")).expect("delete");
    fs::write(root.join("tests/test_new.py"), "pass\n").expect("add");
    fs::write(root.join("src/app.py"), "def slow(): return 1\n").expect("real work");
    let after = Snapshot::take(&rules, Some(&before));
    let changed = diff(&before, &after).all();

    let mut plan = plan(root, &[], 10);
    plan.protected_paths = vec!["tests/**".into()];
    plan.min_changed_files = 1;
    let report = gate::judge(&plan, &changed, &[], None, true);
    assert!(!report.passed);
    assert_eq!(
        report.tampered,
        ["tests/test_a.py", "tests/test_b.py", "tests/test_new.py"]
    );

    let restored = guard.restore(&changed).expect("restore");
    assert_eq!(restored, report.tampered);
    assert_eq!(
        fs::read_to_string(root.join("tests/test_a.py")).expect("read"),
        "assert slow() < 10\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("tests/test_b.py")).expect("read"),
        "assert True\n"
    );
    assert!(!root.join("tests/test_new.py").exists());
    assert_eq!(
        fs::read_to_string(root.join("src/app.py")).expect("read"),
        "def slow(): return 1\n",
        "the real work stays"
    );
}
