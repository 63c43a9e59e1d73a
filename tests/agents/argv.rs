//! The command lines autodev builds, checked two ways: the exact argv for representative
//! settings, and a model of each real CLI's argument parser (from its help text and the
//! behaviour recorded in `shared/reference/clis/real-clis.md`) that every built argv must pass.

use std::path::Path;

use autodev::backend::{self, Invocation, Purpose, Request};
use autodev::config::{
    BackendName, CodexSandbox, Config, GeminiApproval, OpencodeFormat, OutputFormat, PermissionMode,
};
use autodev::exec::Input;

/// How an option takes its value.
#[derive(Clone, Copy)]
enum Takes {
    Nothing,
    /// Any one value.
    Value,
    /// One of these.
    OneOf(&'static [&'static str]),
    /// A list that would swallow the next words: only `--opt=a,b` is safe.
    Variadic,
}

struct Cli {
    name: &'static str,
    subcommand: &'static [&'static str],
    options: &'static [(&'static str, Takes)],
    /// Options the current version rejects (they used to exist).
    rejected: &'static [&'static str],
    /// The positional prompt autodev passes, if any (`-` for codex: read stdin).
    positional: Option<&'static str>,
}

const CLAUDE: Cli = Cli {
    name: "claude",
    subcommand: &[],
    options: &[
        ("-p", Takes::Nothing),
        ("--print", Takes::Nothing),
        (
            "--output-format",
            Takes::OneOf(&["text", "json", "stream-json"]),
        ),
        ("--verbose", Takes::Nothing),
        ("--dangerously-skip-permissions", Takes::Nothing),
        (
            "--permission-mode",
            Takes::OneOf(&[
                "acceptEdits",
                "auto",
                "bypassPermissions",
                "manual",
                "dontAsk",
                "plan",
            ]),
        ),
        ("--allowedTools", Takes::Variadic),
        ("--disallowedTools", Takes::Variadic),
        ("--model", Takes::Value),
        ("--max-turns", Takes::Value),
        ("--append-system-prompt", Takes::Value),
    ],
    rejected: &["--cwd"],
    positional: None,
};

const CODEX: Cli = Cli {
    name: "codex",
    subcommand: &["exec"],
    options: &[
        ("--json", Takes::Nothing),
        ("--skip-git-repo-check", Takes::Nothing),
        ("--dangerously-bypass-approvals-and-sandbox", Takes::Nothing),
        (
            "--sandbox",
            Takes::OneOf(&["read-only", "workspace-write", "danger-full-access"]),
        ),
        ("--model", Takes::Value),
        ("--ephemeral", Takes::Nothing),
        ("--output-last-message", Takes::Value),
        ("-c", Takes::Value),
    ],
    rejected: &[
        "--full-auto",
        "-a",
        "--ask-for-approval",
        "--search",
        "--yolo",
    ],
    positional: Some("-"),
};

const GEMINI: Cli = Cli {
    name: "gemini",
    subcommand: &[],
    options: &[
        ("--skip-trust", Takes::Nothing),
        (
            "--approval-mode",
            Takes::OneOf(&["default", "auto_edit", "yolo", "plan"]),
        ),
        (
            "--output-format",
            Takes::OneOf(&["text", "json", "stream-json"]),
        ),
        ("--model", Takes::Value),
        ("--include-directories", Takes::Variadic),
        ("--debug", Takes::Nothing),
    ],
    rejected: &[
        "--all-files",
        "--max-turns",
        "--checkpointing",
        "--telemetry",
        "-p",
    ],
    positional: None,
};

const OPENCODE: Cli = Cli {
    name: "opencode",
    subcommand: &["run"],
    options: &[
        ("--format", Takes::OneOf(&["default", "json"])),
        ("--auto", Takes::Nothing),
        ("--agent", Takes::Value),
        ("--model", Takes::Value),
        (
            "--log-level",
            Takes::OneOf(&["DEBUG", "INFO", "WARN", "ERROR"]),
        ),
    ],
    rejected: &[],
    positional: None,
};

/// Parses `args` as the CLI would; `Err` says what the real parser would refuse.
fn accepts(cli: &Cli, args: &[String]) -> Result<(), String> {
    let mut rest = args;
    for word in cli.subcommand {
        match rest.split_first() {
            Some((first, tail)) if first == word => rest = tail,
            _ => return Err(format!("{}: expected subcommand `{word}`", cli.name)),
        }
    }
    let mut positionals = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        if !arg.starts_with('-') || arg == "-" {
            positionals.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg.as_str(), None),
        };
        if cli.rejected.contains(&name) {
            return Err(format!(
                "{}: `{name}` is rejected by the current version",
                cli.name
            ));
        }
        let Some((_, takes)) = cli.options.iter().find(|(n, _)| *n == name) else {
            return Err(format!("{}: unknown option `{name}`", cli.name));
        };
        let value = match (takes, inline) {
            (Takes::Nothing, None) => continue,
            (Takes::Nothing, Some(_)) => return Err(format!("`{name}` takes no value")),
            (Takes::Variadic, None) => {
                return Err(format!(
                    "`{name}` would swallow the words after it; use `{name}=`"
                ));
            }
            (_, Some(v)) => v.to_string(),
            (_, None) => {
                let Some(v) = rest.get(i) else {
                    return Err(format!("`{name}` needs a value"));
                };
                i += 1;
                v.clone()
            }
        };
        if let Takes::OneOf(choices) = takes
            && !choices.contains(&value.as_str())
        {
            return Err(format!("`{name} {value}`: not one of {choices:?}"));
        }
        if name == "--max-turns" && value.parse::<u32>().is_err() {
            return Err(format!("`--max-turns {value}` is not a number"));
        }
    }
    let expected: Vec<String> = cli.positional.iter().map(|p| p.to_string()).collect();
    if positionals != expected {
        return Err(format!(
            "{}: positional arguments {positionals:?}, expected {expected:?}",
            cli.name
        ));
    }
    Ok(())
}

fn cli_of(name: BackendName) -> &'static Cli {
    match name {
        BackendName::Claude => &CLAUDE,
        BackendName::Codex => &CODEX,
        BackendName::Gemini => &GEMINI,
        BackendName::Opencode => &OPENCODE,
        BackendName::Command => unreachable!("the command backend has no fixed CLI"),
    }
}

fn build(config: &Config, name: BackendName, purpose: Purpose, as_root: bool) -> Invocation {
    // A task whose check runs checks/top.sh: the file is protected.
    let protected = ["checks/top.sh".to_string()];
    let request = Request {
        purpose,
        prompt: "-starts with a dash, has spaces",
        cwd: Path::new("/work/project"),
        scratch: Path::new("/work/project/logs/attempts/codex/task_1__attempt_1"),
        as_root,
        protected: &protected,
    };
    backend::invocation(config, name, &request).expect("invocation")
}

/// Checks what must hold for any invocation of a real CLI.
fn check(config: &Config, name: BackendName, purpose: Purpose, as_root: bool) -> Invocation {
    let inv = build(config, name, purpose, as_root);
    let cli = cli_of(name);
    assert_eq!(inv.spec.program, cli.name);
    if let Err(why) = accepts(cli, &inv.spec.args) {
        panic!("{why}\nargv: {:?}", inv.spec.args);
    }
    assert_eq!(inv.spec.cwd, Path::new("/work/project"));
    assert_eq!(
        inv.spec.stdin,
        Input::Bytes(b"-starts with a dash, has spaces".to_vec()),
        "the prompt goes on stdin"
    );
    if name == BackendName::Claude {
        let args = &inv.spec.args;
        if args.iter().any(|a| a == "stream-json") {
            assert!(
                args.iter().any(|a| a == "--verbose"),
                "stream-json needs --verbose"
            );
        }
        let bypass = args.iter().any(|a| a == "--dangerously-skip-permissions")
            || args
                .windows(2)
                .any(|w| w[0] == "--permission-mode" && w[1] == "bypassPermissions");
        let sandboxed = inv
            .spec
            .env
            .iter()
            .any(|(k, v)| k == "IS_SANDBOX" && v == "1");
        assert!(
            !(as_root && bypass && !sandboxed),
            "claude refuses bypass as root: {args:?}"
        );
    }
    inv
}

/// Settings worth trying for each backend, beyond the defaults.
fn variations() -> Vec<Config> {
    let mut out = vec![Config::default()];
    let mut c = Config::default();
    c.backend.claude.skip_permissions = false;
    c.backend.claude.permission_mode = PermissionMode::AcceptEdits;
    c.backend.claude.allowed_tools = vec!["Bash(cargo test:*)".into(), "Edit".into()];
    c.backend.claude.max_turns = 40;
    c.backend.claude.model = "sonnet".into();
    c.backend.claude.output_format = OutputFormat::Json;
    c.backend.codex.yolo = false;
    c.backend.codex.dangerously_bypass_approvals_and_sandbox = false;
    c.backend.codex.full_auto = true;
    c.backend.codex.ephemeral = true;
    c.backend.codex.model = "gpt-6".into();
    c.backend.codex.extra_args = vec!["-c".into(), "model_reasoning_effort=\"high\"".into()];
    c.backend.gemini.approval_mode = GeminiApproval::AutoEdit;
    c.backend.gemini.all_files = true;
    c.backend.gemini.include_directories = "../shared,../docs".into();
    c.backend.gemini.model = "gemini-2.5-flash".into();
    c.backend.opencode.format = OpencodeFormat::Default;
    c.backend.opencode.auto = false;
    c.backend.opencode.agent = "build".into();
    c.backend.opencode.model = "anthropic/claude-sonnet".into();
    c.backend.opencode.log_level = "warn".into();
    out.push(c);
    let mut c = Config::default();
    c.backend.claude.sandbox = true;
    c.backend.claude.output_format = OutputFormat::Text;
    c.backend.codex.yolo = false;
    c.backend.codex.dangerously_bypass_approvals_and_sandbox = false;
    c.backend.codex.sandbox = CodexSandbox::DangerFullAccess;
    c.backend.codex.skip_git_repo_check = false;
    c.backend.gemini.yolo = false;
    c.backend.gemini.skip_trust = false;
    c.backend.gemini.output_format = OutputFormat::Json;
    c.backend.opencode.log_level = "chatty".into();
    out.push(c);
    out
}

#[test]
fn every_built_command_passes_the_real_parsers() {
    for config in variations() {
        for name in [
            BackendName::Claude,
            BackendName::Codex,
            BackendName::Gemini,
            BackendName::Opencode,
        ] {
            for purpose in [Purpose::Attempt, Purpose::OneShot] {
                for as_root in [false, true] {
                    check(&config, name, purpose, as_root);
                }
            }
        }
    }
}

#[test]
fn the_model_of_the_parsers_catches_what_the_original_passed() {
    let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    assert!(accepts(&CODEX, &words("exec --full-auto -")).is_err());
    assert!(accepts(&GEMINI, &words("--all-files --approval-mode yolo")).is_err());
    assert!(accepts(&CLAUDE, &words("-p --allowedTools Edit Write")).is_err());
    assert!(accepts(&CLAUDE, &words("-p --permission-mode yolo")).is_err());
    assert!(accepts(&OPENCODE, &words("run hello world")).is_err());
    assert!(accepts(&CODEX, &words("exec --json -")).is_ok());
}

fn args(inv: &Invocation) -> String {
    inv.spec.args.join(" ")
}

#[test]
fn claude_attempts_and_one_shots() {
    let config = Config::default();
    let attempt = check(&config, BackendName::Claude, Purpose::Attempt, false);
    // The protected check script is denied to claude's edit tools, in every permission mode.
    assert_eq!(
        args(&attempt),
        "-p --output-format stream-json --verbose --dangerously-skip-permissions \
         --disallowedTools=Edit(checks/top.sh),Write(checks/top.sh)"
    );
    let plan = check(&config, BackendName::Claude, Purpose::OneShot, false);
    assert_eq!(
        args(&plan),
        "-p --output-format stream-json --verbose --permission-mode plan"
    );
}

#[test]
fn claude_as_root_falls_back_to_accept_edits_with_an_allow_list() {
    let config = Config::default();
    let attempt = check(&config, BackendName::Claude, Purpose::Attempt, true);
    assert_eq!(
        args(&attempt),
        "-p --output-format stream-json --verbose --permission-mode acceptEdits \
         --allowedTools=Bash,Edit,Write,Read,Glob,Grep \
         --disallowedTools=Edit(checks/top.sh),Write(checks/top.sh)"
    );
    assert!(
        attempt.notes[0].contains("running as root"),
        "{:?}",
        attempt.notes
    );
    assert!(attempt.spec.env.is_empty());

    let mut sandboxed = Config::default();
    sandboxed.backend.claude.sandbox = true;
    let attempt = check(&sandboxed, BackendName::Claude, Purpose::Attempt, true);
    assert!(args(&attempt).contains("--dangerously-skip-permissions"));
    assert_eq!(
        attempt.spec.env,
        [("IS_SANDBOX".to_string(), "1".to_string())]
    );
}

#[test]
fn codex_never_gets_full_auto_and_one_shots_are_read_only() {
    let mut config = Config::default();
    let attempt = check(&config, BackendName::Codex, Purpose::Attempt, false);
    assert_eq!(
        args(&attempt),
        "exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox \
         --output-last-message /work/project/logs/attempts/codex/task_1__attempt_1.last-message.txt -"
    );
    assert_eq!(
        attempt.last_message_file.as_deref(),
        Some(Path::new(
            "/work/project/logs/attempts/codex/task_1__attempt_1.last-message.txt"
        ))
    );
    config.backend.codex.yolo = false;
    config
        .backend
        .codex
        .dangerously_bypass_approvals_and_sandbox = false;
    config.backend.codex.full_auto = true;
    let attempt = check(&config, BackendName::Codex, Purpose::Attempt, false);
    assert!(args(&attempt).contains("--sandbox workspace-write"));
    let plan = check(
        &Config::default(),
        BackendName::Codex,
        Purpose::OneShot,
        false,
    );
    assert!(args(&plan).contains("--sandbox read-only --ephemeral"));
    assert!(!args(&plan).contains("bypass"));
}

#[test]
fn gemini_skips_the_trust_prompt_and_plans_read_only() {
    let config = Config::default();
    let attempt = check(&config, BackendName::Gemini, Purpose::Attempt, false);
    assert_eq!(
        args(&attempt),
        "--skip-trust --approval-mode yolo --output-format stream-json"
    );
    let plan = check(&config, BackendName::Gemini, Purpose::OneShot, false);
    assert_eq!(
        args(&plan),
        "--skip-trust --approval-mode plan --output-format stream-json"
    );
}

#[test]
fn opencode_permissions_travel_in_the_environment() {
    let config = Config::default();
    let attempt = check(&config, BackendName::Opencode, Purpose::Attempt, false);
    assert_eq!(args(&attempt), "run --format json --auto");
    assert_eq!(attempt.spec.env[0].0, "OPENCODE_PERMISSION");
    assert!(attempt.spec.env[0].1.contains(r#""edit":"allow""#));
    let plan = check(&config, BackendName::Opencode, Purpose::OneShot, false);
    assert_eq!(args(&plan), "run --format json --agent plan");
    assert!(plan.spec.env[0].1.contains(r#""edit":"deny""#));
    assert!(plan.spec.env[0].1.contains(r#""bash":"deny""#));
}

#[test]
fn the_command_backend_needs_an_argv() {
    let config = Config::default();
    let request = Request {
        purpose: Purpose::Attempt,
        prompt: "x",
        cwd: Path::new("/w"),
        scratch: Path::new("/w/s"),
        as_root: false,
        protected: &[],
    };
    let err = backend::invocation(&config, BackendName::Command, &request).expect_err("no argv");
    assert!(err.to_string().contains("backend.command.argv"), "{err}");
    assert!(err.hints()[0].contains("{prompt_file}"));

    let mut config = Config::default();
    config.backend.command.argv = vec!["aider".into(), "--yes-always".into()];
    config.backend.command.oneshot_argv = vec!["aider".into(), "--dry-run".into()];
    let attempt = backend::invocation(&config, BackendName::Command, &request).expect("argv");
    assert_eq!(attempt.spec.program, "aider");
    assert_eq!(attempt.spec.args, ["--yes-always"]);
    assert_eq!(attempt.spec.stdin, Input::Bytes(b"x".to_vec()));
    let plan = backend::invocation(
        &config,
        BackendName::Command,
        &Request {
            purpose: Purpose::OneShot,
            ..request.clone()
        },
    )
    .expect("argv");
    assert_eq!(plan.spec.args, ["--dry-run"]);
}
