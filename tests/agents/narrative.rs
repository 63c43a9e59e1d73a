//! The narrative a terminal shows while each real CLI works, from their recorded outputs: human
//! lines (messages, tool calls with their targets, errors), never raw JSON.

use autodev::backend::narrate::narrate;
use autodev::config::BackendName;

fn story(name: BackendName, sample: &str) -> String {
    let text = std::fs::read_to_string(crate::samples::fixture(sample)).expect("sample");
    text.lines()
        .filter_map(|line| narrate(name, line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_backend_tells_what_its_agent_does() {
    let cases = [
        (
            "claude_stream_json",
            BackendName::Claude,
            "claude-stream-json-partial-bash.jsonl",
        ),
        (
            "claude_permission_denied",
            BackendName::Claude,
            "claude-stream-json-permission-denied.jsonl",
        ),
        (
            "codex_json",
            BackendName::Codex,
            "codex-exec-json-success.jsonl",
        ),
        (
            "codex_json_401",
            BackendName::Codex,
            "codex-exec-json-401.jsonl",
        ),
        (
            "gemini_stream_json",
            BackendName::Gemini,
            "gemini-stream-json-success.jsonl",
        ),
        (
            "opencode_json",
            BackendName::Opencode,
            "opencode-run-json-bash.jsonl",
        ),
        (
            "opencode_json_rejected",
            BackendName::Opencode,
            "opencode-run-json-permission-rejected.jsonl",
        ),
    ];
    for (snapshot, name, sample) in cases {
        let told = story(name, sample);
        for line in told.lines() {
            assert!(
                !line.trim_start().starts_with('{') && line.chars().count() <= 170,
                "{sample}: a raw or overlong line: {line}"
            );
        }
        insta::assert_snapshot!(snapshot, told);
    }
}

#[test]
fn stack_frames_and_pieces_of_json_on_stderr_stay_in_the_logs() {
    // gemini's stderr on a bad configuration, and its json-mode error object over many lines.
    assert_eq!(
        story(BackendName::Gemini, "gemini-invalid-config.stderr.txt"),
        "Error in /home/user/.gemini/settings.json: Unexpected token '}' at line 4, column 3: \"model\": { \"name\": \"gemini-2.5-pro\", }\n\
         Please fix the configuration file(s) and try again."
    );
    let told = story(BackendName::Gemini, "gemini-json-no-auth.stderr.txt");
    assert!(!told.contains("\"session_id\""), "{told}");
    assert!(
        !told.lines().any(|l| l.trim() == "{" || l.trim() == "}"),
        "{told}"
    );
}
