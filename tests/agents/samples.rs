//! Every recorded output of the real CLIs (`tests/fixtures/clis/`, captured from claude 2.1.330,
//! codex 0.169.0, gemini 0.61.0 and opencode 1.18.33) read into a report: the outcome class is
//! asserted, the whole report is snapshot-tested.

use std::collections::BTreeSet;
use std::path::PathBuf;

use autodev::backend::{self, Finished, Outcome};
use autodev::config::{BackendName, Config, OpencodeFormat, OutputFormat};
use autodev::exec::{Captured, Exit, Flow, LineSplitter, StopReason, Stream};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clis")
        .join(name)
}

struct Case {
    /// Snapshot name.
    name: &'static str,
    backend: BackendName,
    /// The CLI's output format, where it has a choice.
    format: Option<&'static str>,
    stdout: Option<&'static str>,
    stderr: Option<&'static str>,
    /// How the recorded run ended; `None`: it never ended by itself.
    exit: Option<i32>,
    expect: Outcome,
}

const fn case(
    name: &'static str,
    backend: BackendName,
    format: Option<&'static str>,
    stdout: Option<&'static str>,
    stderr: Option<&'static str>,
    exit: Option<i32>,
    expect: Outcome,
) -> Case {
    Case {
        name,
        backend,
        format,
        stdout,
        stderr,
        exit,
        expect,
    }
}

use BackendName::{Claude, Codex, Gemini, Opencode};

const CASES: &[Case] = &[
    case(
        "claude_json_not_logged_in",
        Claude,
        Some("json"),
        Some("claude-json-not-logged-in.json"),
        None,
        Some(1),
        Outcome::Auth,
    ),
    case(
        "claude_json_success",
        Claude,
        Some("json"),
        Some("claude-json-success.json"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "claude_stream_credit_balance_too_low",
        Claude,
        None,
        Some("claude-stream-json-credit-balance.jsonl"),
        None,
        Some(1),
        Outcome::QuotaExhausted,
    ),
    case(
        "claude_stream_no_network",
        Claude,
        None,
        Some("claude-stream-json-no-network.jsonl"),
        None,
        Some(1),
        Outcome::NetworkDown,
    ),
    case(
        "claude_stream_invalid_api_key",
        Claude,
        None,
        Some("claude-stream-json-invalid-api-key.jsonl"),
        None,
        Some(1),
        Outcome::Auth,
    ),
    case(
        "claude_stream_max_turns",
        Claude,
        None,
        Some("claude-stream-json-max-turns.jsonl"),
        None,
        Some(1),
        Outcome::MaxTurns,
    ),
    case(
        "claude_stream_not_logged_in",
        Claude,
        None,
        Some("claude-stream-json-not-logged-in.jsonl"),
        None,
        Some(1),
        Outcome::Auth,
    ),
    case(
        "claude_stream_overloaded",
        Claude,
        None,
        Some("claude-stream-json-overloaded.jsonl"),
        None,
        Some(1),
        Outcome::Overloaded,
    ),
    case(
        "claude_stream_partial_bash",
        Claude,
        None,
        Some("claude-stream-json-partial-bash.jsonl"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "claude_stream_permission_denied",
        Claude,
        None,
        Some("claude-stream-json-permission-denied.jsonl"),
        None,
        Some(0),
        Outcome::PermissionDenied,
    ),
    case(
        "claude_stream_success",
        Claude,
        None,
        Some("claude-stream-json-success.jsonl"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "codex_json_401",
        Codex,
        None,
        Some("codex-exec-json-401.jsonl"),
        None,
        Some(1),
        Outcome::Auth,
    ),
    case(
        "codex_json_missing_env_key",
        Codex,
        None,
        Some("codex-exec-json-missing-env-key.jsonl"),
        None,
        Some(1),
        Outcome::Auth,
    ),
    case(
        "codex_json_no_network",
        Codex,
        None,
        Some("codex-exec-json-no-network.jsonl"),
        None,
        None,
        Outcome::NetworkDown,
    ),
    // Made from codex's recorded wording for an exhausted quota (the format of its other
    // failures): a halt, not a crash.
    case(
        "codex_json_quota",
        Codex,
        None,
        Some("codex-exec-json-quota.jsonl"),
        None,
        Some(1),
        Outcome::QuotaExhausted,
    ),
    case(
        "codex_json_success",
        Codex,
        None,
        Some("codex-exec-json-success.jsonl"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "codex_text_401",
        Codex,
        None,
        None,
        Some("codex-exec-text-401.stderr.txt"),
        Some(1),
        Outcome::Crashed,
    ),
    case(
        "codex_text_success",
        Codex,
        None,
        Some("codex-exec-text-success.stdout.txt"),
        Some("codex-exec-text-success.stderr.txt"),
        Some(0),
        Outcome::Ok,
    ),
    case(
        "gemini_json_invalid_key",
        Gemini,
        Some("json"),
        None,
        Some("gemini-json-invalid-key.stderr.txt"),
        Some(144),
        Outcome::Auth,
    ),
    case(
        "gemini_json_no_auth",
        Gemini,
        Some("json"),
        None,
        Some("gemini-json-no-auth.stderr.txt"),
        Some(41),
        Outcome::Auth,
    ),
    case(
        "gemini_json_success",
        Gemini,
        Some("json"),
        Some("gemini-json-success.json"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "gemini_stream_invalid_key",
        Gemini,
        None,
        Some("gemini-stream-json-invalid-key.jsonl"),
        None,
        Some(144),
        Outcome::Auth,
    ),
    case(
        "gemini_stream_max_turns",
        Gemini,
        None,
        Some("gemini-stream-json-max-turns.jsonl"),
        None,
        Some(53),
        Outcome::MaxTurns,
    ),
    case(
        "gemini_stream_success",
        Gemini,
        None,
        Some("gemini-stream-json-success.jsonl"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    // Exit 52 (invalid configuration), with gemini's own message quoted in the detail.
    case(
        "gemini_invalid_config",
        Gemini,
        None,
        None,
        Some("gemini-invalid-config.stderr.txt"),
        Some(52),
        Outcome::Misconfigured,
    ),
    case(
        "gemini_untrusted_folder",
        Gemini,
        None,
        None,
        Some("gemini-untrusted-folder.stderr.txt"),
        Some(55),
        Outcome::Misconfigured,
    ),
    case(
        "opencode_json_401",
        Opencode,
        None,
        Some("opencode-run-json-401.jsonl"),
        None,
        Some(1),
        Outcome::Auth,
    ),
    case(
        "opencode_json_bash",
        Opencode,
        None,
        Some("opencode-run-json-bash.jsonl"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "opencode_json_model_not_found",
        Opencode,
        None,
        Some("opencode-run-json-model-not-found.jsonl"),
        None,
        Some(1),
        Outcome::Crashed,
    ),
    case(
        "opencode_json_permission_rejected",
        Opencode,
        None,
        Some("opencode-run-json-permission-rejected.jsonl"),
        Some("opencode-run-permission-rejected.stderr.txt"),
        Some(0),
        Outcome::PermissionDenied,
    ),
    case(
        "opencode_json_success",
        Opencode,
        None,
        Some("opencode-run-json-success.jsonl"),
        None,
        Some(0),
        Outcome::Ok,
    ),
    case(
        "opencode_text_401",
        Opencode,
        Some("default"),
        None,
        Some("opencode-run-text-401.stderr.txt"),
        Some(1),
        Outcome::Crashed,
    ),
];

fn config_for(case: &Case) -> Config {
    let mut config = Config::default();
    let format = match case.format {
        Some("json") => OutputFormat::Json,
        Some("text") => OutputFormat::Text,
        _ => OutputFormat::StreamJson,
    };
    config.backend.claude.output_format = format;
    config.backend.gemini.output_format = format;
    if case.format == Some("default") {
        config.backend.opencode.format = OpencodeFormat::Default;
    }
    config
}

/// Feeds a recorded output through a parser as supervision would, and reads the report.
fn replay(case: &Case) -> backend::AgentReport {
    let config = config_for(case);
    let mut parser = backend::parser(&config.backend, case.backend);
    let mut captured = [Captured::default(), Captured::default()];
    let mut stop_requested = false;
    for (i, (file, stream)) in [(case.stdout, Stream::Stdout), (case.stderr, Stream::Stderr)]
        .into_iter()
        .enumerate()
    {
        let Some(file) = file else { continue };
        let bytes = std::fs::read(fixture(file)).expect("fixture");
        captured[i].push(&bytes);
        let mut lines = LineSplitter::default();
        let mut see = |line: &[u8]| {
            if parser.line(stream, &String::from_utf8_lossy(line)) == Flow::Stop {
                stop_requested = true;
            }
        };
        lines.feed(&bytes, &mut see);
        lines.finish(&mut see);
    }
    // A run that never ends by itself ends when the parser asks for it (SIGTERM).
    let (exit, stopped) = match case.exit {
        Some(code) => (Exit::Code(code), None),
        None => {
            assert!(
                stop_requested,
                "{}: nothing would have ended this run",
                case.name
            );
            (Exit::Signal(15), Some(StopReason::Observer))
        }
    };
    parser.finish(&Finished {
        exit,
        stopped,
        stdout: &captured[0],
        stderr: &captured[1],
        last_message: None,
        wall_seconds: 7200,
        idle_seconds: 1800,
    })
}

#[test]
fn every_recorded_output_is_classified() {
    for case in CASES {
        let report = replay(case);
        assert_eq!(
            report.outcome, case.expect,
            "{}: {}",
            case.name, report.detail
        );
        insta::assert_json_snapshot!(case.name, report);
    }
}

#[test]
fn every_fixture_is_covered() {
    let used: BTreeSet<&str> = CASES
        .iter()
        .flat_map(|c| [c.stdout, c.stderr])
        .flatten()
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(fixture(""))
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for file in &present {
        assert!(used.contains(file.as_str()), "{file} has no test case");
    }
}

#[test]
fn successful_runs_carry_text_usage_and_session() {
    let find = |name: &str| CASES.iter().find(|c| c.name == name).expect("case");
    let claude = replay(find("claude_stream_success"));
    assert_eq!(claude.final_text, "Done: created hello.txt.");
    assert_eq!(claude.usage.input, 24912);
    assert_eq!(claude.cost_usd, Some(0.100648));
    assert_eq!(claude.turns, Some(2));
    assert!(claude.session_id.is_some());

    let codex = replay(find("codex_json_success"));
    assert_eq!(codex.final_text, "Done: created hello.txt.");
    assert_eq!((codex.usage.input, codex.usage.output), (20697, 50));
    assert_eq!(codex.cost_usd, None);

    let gemini = replay(find("gemini_stream_success"));
    assert_eq!(gemini.final_text, "Done: created hello.txt.");
    assert_eq!(gemini.usage.input, 24745);

    let opencode = replay(find("opencode_json_success"));
    assert_eq!(opencode.final_text, "Done: created hello.txt.");
    assert_eq!(opencode.usage.input, 7774 + 7867);
    assert_eq!(opencode.turns, Some(2));
    // The recorded model has no price in opencode, which says $0 for the tokens it spent: that
    // is no cost reported, not a free call (a cost cap must not take it at its word).
    assert_eq!(opencode.cost_usd, None);
}

#[test]
fn denied_tools_are_named() {
    let claude = replay(
        CASES
            .iter()
            .find(|c| c.name == "claude_stream_permission_denied")
            .expect("case"),
    );
    assert_eq!(claude.denied_tools, ["Write"]);
    assert!(claude.detail.contains("Write"));
    let opencode = replay(
        CASES
            .iter()
            .find(|c| c.name == "opencode_json_permission_rejected")
            .expect("case"),
    );
    assert_eq!(opencode.denied_tools, ["write"]);
}

#[test]
fn a_claude_call_cut_short_still_counts_the_tokens_its_messages_used() {
    let config = Config::default();
    let mut parser = backend::parser(&config.backend, Claude);
    let text = std::fs::read_to_string(fixture("claude-stream-json-partial-bash.jsonl")).unwrap();
    // Everything but the final `result`: the call was stopped by its time limit.
    let mut captured = Captured::default();
    for line in text.lines().filter(|l| !l.contains("\"type\":\"result\"")) {
        captured.push(format!("{line}\n").as_bytes());
        parser.line(Stream::Stdout, line);
    }
    let report = parser.finish(&Finished {
        exit: Exit::Signal(15),
        stopped: Some(StopReason::WallTimeout),
        stdout: &captured,
        stderr: &Captured::default(),
        last_message: None,
        wall_seconds: 7200,
        idle_seconds: 1800,
    });
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert!(
        report.usage.input > 0 && report.usage.output > 0,
        "{:?}",
        report.usage
    );
    // Each message counts once, though its events repeat its usage: never more than the
    // whole call's own total.
    let result: serde_json::Value = text
        .lines()
        .find(|l| l.contains("\"type\":\"result\""))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("the recorded result");
    let total = result["usage"]["output_tokens"].as_u64().unwrap_or(0);
    assert!(
        report.usage.output <= total,
        "{:?} vs {total}",
        report.usage
    );
}
