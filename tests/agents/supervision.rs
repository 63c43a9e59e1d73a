//! Supervision of real child processes: prompts on stdin, timeouts, process groups, cancel,
//! early stops requested by a parser, and teeing.

use std::fs;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use autodev::backend::{self, Finished, Outcome, Purpose, Request};
use autodev::config::{BackendName, Config};
use autodev::exec::{
    self, Cancel, CancelLevel, Exit, Ignore, Input, Limits, SpawnError, StopReason, Tee,
};

use crate::fake::{Fake, alive, relaxed, run};

fn limits(wall_ms: u64, idle_ms: u64, grace_ms: u64) -> Limits {
    let opt = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    Limits {
        wall: opt(wall_ms),
        idle: opt(idle_ms),
        grace: Duration::from_millis(grace_ms),
    }
}

fn grandchild_pid(fake: &Fake) -> i32 {
    String::from_utf8(fake.recorded("grandchild.pid"))
        .expect("pid text")
        .trim()
        .parse()
        .expect("pid")
}

#[test]
fn a_200_kb_prompt_reaches_every_backend_intact() {
    let fake = Fake::new();
    let prompt: String = (0..4000)
        .map(|i| format!("line {i:05}: make the thing work -- \"quoted\" and $dollars\n"))
        .collect();
    assert!(prompt.len() > 200_000);
    let mut config = Config::default();
    config.backend.command.argv = vec!["my-agent".into(), "--yes".into()];
    let mut call = 0;
    for name in BackendName::ALL {
        for purpose in [Purpose::Attempt, Purpose::OneShot] {
            let scratch = fake.scratch();
            let request = Request {
                purpose,
                prompt: &prompt,
                cwd: fake.work.path(),
                scratch: &scratch,
                as_root: false,
                protected: &[],
            };
            let invocation = backend::invocation(&config, name, &request).expect("invocation");
            assert!(
                invocation.spec.args.iter().all(|a| a.len() < 4096),
                "{name:?}: the prompt must not travel as an argument"
            );
            let outcome = run(&fake.adopt(invocation.spec), &relaxed());
            call += 1;
            assert_eq!(outcome.exit, Exit::Code(0), "{name:?} {purpose:?}");
            assert_eq!(
                fake.recorded(&format!("call-{call}.stdin")),
                prompt.as_bytes(),
                "{name:?} {purpose:?}: the prompt arrives byte for byte"
            );
        }
    }
}

#[test]
fn the_command_backend_can_take_the_prompt_as_a_file() {
    let fake = Fake::new();
    let mut config = Config::default();
    config.backend.command.argv = vec![
        "my-agent".into(),
        "--message-file".into(),
        "{prompt_file}".into(),
    ];
    let scratch = fake.scratch();
    let request = Request {
        purpose: Purpose::Attempt,
        prompt: "fix the bug",
        cwd: fake.work.path(),
        scratch: &scratch,
        as_root: false,
        protected: &[],
    };
    let invocation =
        backend::invocation(&config, BackendName::Command, &request).expect("invocation");
    let prompt_file = invocation.prompt_file.clone().expect("a prompt file");
    assert_eq!(invocation.spec.stdin, Input::Null);
    fs::write(&prompt_file, request.prompt).expect("write prompt file");
    fake.script("print all done\n");
    let limits = relaxed();
    let outcome = run(&fake.adopt(invocation.spec), &limits);
    assert_eq!(
        fake.argv(1),
        ["--message-file", prompt_file.to_str().expect("utf-8")]
    );
    assert!(fake.recorded("call-1.stdin").is_empty());
    let report = backend::parser(&config.backend, BackendName::Command)
        .finish(&Finished::new(&outcome, &limits, None));
    assert_eq!(report.outcome, Outcome::Ok);
    assert_eq!(report.final_text, "all done");
}

#[test]
fn the_wall_clock_limit_kills_the_whole_group() {
    let fake = Fake::new();
    fake.script("grandchild\nignore-term\nprint started\nhang\n");
    let started = Instant::now();
    let outcome = run(&fake.spec("codex"), &limits(1000, 0, 300));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(outcome.stopped, Some(StopReason::WallTimeout));
    assert_eq!(
        outcome.exit,
        Exit::Signal(9),
        "SIGTERM was ignored, so SIGKILL"
    );
    assert_eq!(outcome.stdout.text(), "started\n");
    let pid = grandchild_pid(&fake);
    thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid), "grandchild {pid} survived");
}

#[test]
fn silence_trips_the_idle_limit() {
    let fake = Fake::new();
    fake.script("print thinking\nsleep 30\n");
    let started = Instant::now();
    let outcome = run(&fake.spec("gemini"), &limits(60_000, 800, 500));
    assert_eq!(outcome.stopped, Some(StopReason::IdleTimeout));
    assert!(matches!(outcome.exit, Exit::Signal(_)));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_chatty_long_run_is_not_idle() {
    let fake = Fake::new();
    fake.script("chatter 8 0.3\nexit 3\n");
    let outcome = run(&fake.spec("claude"), &limits(60_000, 1000, 500));
    assert_eq!(outcome.stopped, None);
    assert_eq!(outcome.exit, Exit::Code(3));
    assert!(outcome.elapsed >= Duration::from_millis(2000));
    assert_eq!(outcome.stdout.text().lines().count(), 8);
}

#[test]
fn a_grandchild_holding_the_pipes_does_not_keep_the_call_alive() {
    let fake = Fake::new();
    fake.script("grandchild\nprint done\nexit 0\n");
    let started = Instant::now();
    let outcome = run(&fake.spec("opencode"), &relaxed());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.exit, Exit::Code(0));
    assert_eq!(outcome.stopped, None);
    assert_eq!(outcome.stdout.text(), "done\n");
    let pid = grandchild_pid(&fake);
    thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid), "grandchild {pid} survived");
}

#[test]
fn cancel_stops_the_child_and_a_second_request_kills_at_once() {
    let fake = Fake::new();
    fake.script("ignore-term\nhang\n");
    let cancel = Cancel::default();
    let remote = cancel.clone();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        remote.request(CancelLevel::Graceful);
        thread::sleep(Duration::from_millis(300));
        remote.request(CancelLevel::Immediate);
    });
    let started = Instant::now();
    let outcome = exec::run_blocking(
        &fake.spec("claude"),
        &limits(0, 0, 60_000),
        &mut Tee::default(),
        &mut Ignore,
        &cancel,
    )
    .expect("spawn");
    stopper.join().expect("stopper thread");
    assert_eq!(outcome.stopped, Some(StopReason::Cancelled));
    assert_eq!(outcome.exit, Exit::Signal(9));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the second request must not wait for the 60 s grace"
    );
}

#[test]
fn stdin_is_closed_when_there_is_no_prompt() {
    // The fake reads stdin to its end before anything else, as codex does: it must not hang.
    let fake = Fake::new();
    fake.script("print ok\n");
    let outcome = run(&fake.spec("codex"), &limits(10_000, 0, 500));
    assert_eq!(outcome.stopped, None);
    assert_eq!(outcome.stdout.text(), "ok\n");
}

#[test]
fn a_parser_stops_claude_at_the_first_authentication_failure() {
    let fake = Fake::new();
    fake.put(
        "sample.jsonl",
        &fs::read(crate::samples::fixture(
            "claude-stream-json-invalid-api-key.jsonl",
        ))
        .expect("fixture"),
    );
    // The real CLI would retry for about three minutes; here it would hang for ever.
    fake.script("cat sample.jsonl\nhang\n");
    let config = Config::default();
    let mut parser = backend::parser(&config.backend, BackendName::Claude);
    let started = Instant::now();
    let limits = limits(60_000, 0, 500);
    let outcome = crate::fake::run_observed(
        &fake.spec("claude"),
        &limits,
        parser.as_mut(),
        &mut Tee::default(),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(outcome.stopped, Some(StopReason::Observer));
    let report = parser.finish(&Finished::new(&outcome, &limits, None));
    assert_eq!(report.outcome, Outcome::Auth);
    assert!(report.detail.contains("401"), "{}", report.detail);
}

#[test]
fn timeouts_are_reported_as_such() {
    let fake = Fake::new();
    fake.script("print {\"type\":\"turn.started\"}\nsleep 30\n");
    let config = Config::default();
    let mut parser = backend::parser(&config.backend, BackendName::Codex);
    let limits = limits(60_000, 700, 300);
    let outcome = crate::fake::run_observed(
        &fake.spec("codex"),
        &limits,
        parser.as_mut(),
        &mut Tee::default(),
    );
    let report = parser.finish(&Finished::new(&outcome, &limits, None));
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert!(
        report.detail.contains("without output"),
        "{}",
        report.detail
    );
}

/// A sink shared with the test, to count what the tee wrote.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_byte_reaches_the_logs_while_memory_keeps_head_and_tail() {
    let fake = Fake::new();
    fake.script("flood 3\neprint the end\n");
    let log_path = fake.work.path().join("attempt.log");
    let file = fs::File::create(&log_path).expect("log file");
    let shared = Shared::default();
    let mut tee = Tee::new(vec![Box::new(file), Box::new(shared.clone())]);
    let outcome = crate::fake::run_observed(&fake.spec("codex"), &relaxed(), &mut Ignore, &mut tee);
    assert_eq!(outcome.stdout.total(), 3 * 1024 * 1024);
    let expected = 3 * 1024 * 1024 + "the end\n".len();
    assert_eq!(
        fs::metadata(&log_path).expect("log").len() as usize,
        expected
    );
    assert_eq!(shared.0.lock().expect("lock").len(), expected);
    assert!(outcome.stdout.text().len() < 400 * 1024);
    assert!(outcome.tee_error.is_none());
}

#[test]
fn a_failing_sink_is_reported_and_the_child_still_finishes() {
    let fake = Fake::new();
    fake.script("print one\nprint two\n");
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut tee = Tee::new(vec![Box::new(full)]);
    let outcome = crate::fake::run_observed(&fake.spec("codex"), &relaxed(), &mut Ignore, &mut tee);
    assert_eq!(outcome.exit, Exit::Code(0));
    assert!(outcome.tee_error.is_some());
}

#[test]
fn a_missing_program_is_named() {
    let fake = Fake::new();
    let mut spec = fake.spec("codex");
    spec.program = "autodev-no-such-agent".into();
    let err = exec::run_blocking(
        &spec,
        &relaxed(),
        &mut Tee::default(),
        &mut Ignore,
        &Cancel::default(),
    )
    .expect_err("must not start");
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("autodev-no-such-agent"));
}

#[test]
fn preflight_finds_the_cli_and_reads_its_version() {
    let fake = Fake::new();
    let config = Config::default();
    let runtime = autodev::exec::runtime().expect("runtime");
    let path = fake.path_var();
    let found = runtime
        .block_on(backend::preflight(
            &config,
            BackendName::Gemini,
            fake.work.path(),
            Some(path.as_ref()),
        ))
        .expect("gemini is installed");
    assert_eq!(found.path, fake.bin.path().join("gemini"));
    assert_eq!(found.version.as_deref(), Some("fake-agent 1.0 (gemini)"));

    let missing = runtime
        .block_on(backend::preflight(
            &config,
            BackendName::Claude,
            fake.work.path(),
            Some("/nonexistent".as_ref()),
        ))
        .expect_err("claude is not installed");
    assert!(missing.to_string().contains("claude"), "{missing}");
    assert!(
        missing
            .hints()
            .iter()
            .any(|h| h.contains("npm install -g @anthropic-ai/claude-code")),
        "{:?}",
        missing.hints()
    );
}
