//! `autodev plan`: intent, PRD or COCA spec in, an audited task queue out. Non-COCA input gets a
//! COCA spec first (as `autodev spec` writes it). The existing `task.json` is backed up before it
//! is replaced, and left byte for byte as it was when anything fails.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use super::{Context, parse_backend};
use crate::config::{BackendName, Settings};
use crate::error::{Error, Exit, Result};
use crate::exec::{self, Cancel};
use crate::journal::Sink;
use crate::journal::event::{Event, Spending};
use crate::journal::{self, JournalSink};
use crate::plan::oneshot::{self, Call};
use crate::plan::{self, Origin, Source, SourceKind};
use crate::task::TaskStore;

/// The input of `spec` and `plan`: exactly one of a positional file (or text), `--file`,
/// `--intent`, or stdin.
#[derive(Debug, clap::Args)]
pub struct Input {
    /// A PRD or spec file (text that names no file is taken as the intent)
    #[arg(value_name = "FILE")]
    positional: Option<String>,
    /// Read the input from this file
    #[arg(short = 'f', long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// The intent, as text
    #[arg(long, value_name = "TEXT")]
    intent: Option<String>,
    /// Where to write the result (relative to the current directory)
    #[arg(short = 'o', long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// The agent to ask (default: backend.default)
    #[arg(long, value_parser = parse_backend)]
    backend: Option<BackendName>,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    /// Add the planned tasks to the queue (an id already taken gets a suffix) instead of
    /// replacing it
    #[arg(long, conflicts_with = "replace")]
    append: bool,
    /// Replace the queue even when it holds finished work (it is backed up first)
    #[arg(long)]
    replace: bool,
}

/// What a plan does with the queue that is there.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Replace,
    Append,
}

fn usage(message: &str) -> Error {
    Error::Setup {
        message: message.to_string(),
        hint: "give exactly one of: --intent TEXT, --file PATH (or a file as the argument), or text piped on stdin".into(),
    }
}

fn read_file(path: &Path, cwd: &Path) -> Result<Source> {
    let path = crate::config::absolutize(cwd, path);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    Ok(Source {
        kind: SourceKind::File,
        label: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        name: path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "intent".into()),
        text,
        file: Some(path),
    })
}

fn intent(text: String, label: &str) -> Source {
    Source {
        kind: SourceKind::Intent,
        label: label.to_string(),
        name: "intent".into(),
        text,
        file: None,
    }
}

impl Input {
    /// Resolves the one input; `what` names the command in the empty-input message.
    pub fn source(&self, cwd: &Path, what: &str) -> Result<Source> {
        let given = [
            self.positional.is_some(),
            self.file.is_some(),
            self.intent.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given > 1 {
            return Err(usage("more than one input was given"));
        }
        let source = if let Some(path) = &self.file {
            if !crate::config::absolutize(cwd, path).is_file() {
                return Err(Error::Setup {
                    message: format!("--file {}: no such file", path.display()),
                    hint: "check the path; it is relative to the current directory".into(),
                });
            }
            read_file(path, cwd)?
        } else if let Some(text) = &self.intent {
            intent(text.clone(), "inline intent")
        } else if let Some(arg) = &self.positional {
            if crate::config::absolutize(cwd, Path::new(arg)).is_file() {
                read_file(Path::new(arg), cwd)?
            } else {
                intent(arg.clone(), "positional intent")
            }
        } else if std::io::stdin().is_terminal() {
            return Err(usage("nothing to work from"));
        } else {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::io("read", "standard input", e))?;
            Source {
                kind: SourceKind::Stdin,
                label: "stdin".into(),
                name: "stdin".into(),
                text,
                file: None,
            }
        };
        if source.text.trim().is_empty() {
            return Err(Error::Setup {
                message: format!("the {what} input ({}) is empty", source.label),
                hint: "give intent text, a PRD file, or text on stdin".into(),
            });
        }
        Ok(source)
    }

    pub fn backend(&self, settings: &Settings) -> BackendName {
        self.backend.unwrap_or(settings.config.backend.default)
    }

    /// `-o` resolved against the current directory.
    pub fn output(&self, cwd: &Path) -> Option<PathBuf> {
        self.output
            .as_ref()
            .map(|p| crate::config::absolutize(cwd, p))
    }
}

/// Tells on stderr what a planning call used, and journals it as a `spent` event (`purpose`
/// `spec` or `plan`), whether or not the call answered; then hands on its answer.
fn accounted(
    call: &Call<'_>,
    (used, answer): (oneshot::Used, Result<oneshot::Answer>),
) -> Result<oneshot::Answer> {
    if !(answer.is_ok() || used.reported()) {
        return answer;
    }
    let tokens = used.usage.reported();
    let mut spent = Spending::default();
    spent.add(tokens, used.cost_usd);
    let told = crate::report::log::spend(tokens, used.cost_usd, true);
    let _ = writeln!(
        std::io::stderr(),
        "{}: {} used {told}",
        call.label,
        call.backend.as_str()
    );
    let event = Event::Spent {
        purpose: call.label.to_string(),
        tokens,
        cost_usd: used.cost_usd,
        estimated: false,
        total: spent,
    };
    let path = call.log_dir.join(crate::config::log_files::EVENTS);
    let journalled =
        JournalSink::open(&path, journal::new_run_id()).and_then(|mut sink| sink.event(&event));
    if let Err(e) = journalled {
        let _ = writeln!(
            std::io::stderr(),
            "warning: what the call used could not be journalled in {}: {e}",
            path.display()
        );
    }
    answer
}

/// Asks for a COCA spec of `source` and writes it to `path`; the spec's text.
pub async fn write_spec(
    call: &Call<'_>,
    project: &str,
    source: &Source,
    path: &Path,
    cancel: &Cancel,
) -> Result<String> {
    let mut spinner = crate::ui::Spinner::at_terminal(call.label, call.backend.as_str());
    let mut draw = |elapsed| {
        if let Some(s) = spinner.as_mut() {
            s.draw(elapsed);
        }
    };
    let asked = oneshot::ask(
        call,
        &plan::spec_prompt(project, &source.text),
        cancel,
        Some(&mut draw),
    )
    .await;
    drop(spinner);
    let answer = accounted(call, asked)?;
    let spec = plan::clean_spec(&answer.text).map_err(|why| {
        // Nothing is written where the spec would go; the answer is kept for a look.
        let saved = answer.log.with_extension("answer.txt");
        let kept = match std::fs::write(&saved, &answer.text) {
            Ok(()) => saved.display().to_string(),
            Err(_) => answer.log.display().to_string(),
        };
        Error::Setup {
            message: format!("{} gave no spec: {why}", call.backend.as_str()),
            hint: format!(
                "its whole answer is in {kept}; give more detail in the intent, then run spec again"
            ),
        }
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    crate::durable::write_atomic(path, spec.as_bytes()).map_err(|e| Error::io("write", path, e))?;
    Ok(spec)
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let input = &args.input;
    let target = input
        .output(&context.cwd)
        .unwrap_or_else(|| settings.paths.task_json.clone());
    // Asked before the agent is: finished work is never replaced by surprise.
    let into = if args.append {
        Mode::Append
    } else {
        if !args.replace {
            refuse_to_replace_work(&target, &settings.paths.log_dir)?;
        }
        Mode::Replace
    };
    let source = input.source(&context.cwd, "planning")?;
    let backend = input.backend(&settings);
    let runtime = exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    runtime.block_on(plan(context, &settings, input, source, backend, into))
}

/// An error when the queue at `target` holds work a plain `plan` would throw away: tasks
/// completed, blocked, or with attempts recorded.
fn refuse_to_replace_work(target: &Path, log_dir: &Path) -> Result<()> {
    let store = TaskStore::at(target.to_path_buf(), log_dir.join("task.json.lock"));
    let Ok(queue) = store.load() else {
        // Missing or unreadable: there is no work in it to keep (`replace` backs it up).
        return Ok(());
    };
    let worked: Vec<&str> = queue
        .tasks
        .iter()
        .filter(|t| t.passes || t.blocked || !t.attempt_history.is_empty())
        .map(|t| t.id.as_str())
        .collect();
    if worked.is_empty() {
        return Ok(());
    }
    Err(Error::Setup {
        message: format!(
            "{} holds work a new plan would replace: {} task(s) completed, blocked or attempted \
             ({})",
            target.display(),
            worked.len(),
            worked.join(", ")
        ),
        hint: "pass --append to add the planned tasks to the queue, or --replace to start a new \
               queue (the old one is backed up); no agent was called"
            .into(),
    })
}

/// Adds `planned` to `queue`: a planned id already in the queue (or planned twice) gets the
/// first free suffix (`P0-1` becomes `P0-1-2`), and the planned tasks' `depends_on` follow the
/// new names. The renames, old to new.
fn append(
    queue: &mut crate::task::TaskFile,
    planned: crate::task::TaskFile,
) -> Vec<(String, String)> {
    let mut taken: std::collections::HashSet<String> =
        queue.tasks.iter().map(|t| t.id.clone()).collect();
    let mut renames = Vec::new();
    let mut tasks = planned.tasks;
    for task in &mut tasks {
        if taken.contains(&task.id) {
            let new = (2..)
                .map(|n| format!("{}-{n}", task.id))
                .find(|id| !taken.contains(id))
                .unwrap_or_default();
            renames.push((task.id.clone(), new.clone()));
            task.id = new;
        }
        taken.insert(task.id.clone());
    }
    for task in &mut tasks {
        for dep in &mut task.depends_on {
            if let Some((_, new)) = renames.iter().find(|(old, _)| old == dep) {
                *dep = new.clone();
            }
        }
    }
    queue.tasks.extend(tasks);
    queue.refresh_statistics();
    renames
}

async fn plan(
    context: &Context,
    settings: &Settings,
    input: &Input,
    source: Source,
    backend: BackendName,
    into: Mode,
) -> Result<Exit> {
    let paths = &settings.paths;
    let project = settings.config.project.name.clone();
    let cancel = Cancel::default();
    exec::cancel_on_signals(&cancel).map_err(|e| Error::io("watch", "signals", e))?;
    let call = |label| Call {
        config: &settings.config,
        backend,
        code_dir: &paths.code_dir,
        log_dir: &paths.log_dir,
        label,
    };
    let mut origin = Origin {
        source_kind: source.kind.as_str().into(),
        source_label: source.label.clone(),
        source_name: source.name.clone(),
        input_text: source.text.trim().to_string(),
        source_doc: source.file.clone(),
        ..Origin::default()
    };
    let planning_text = if plan::is_coca(&source.text) {
        origin.planning_source_doc = source.file.clone();
        source.text.trim().to_string()
    } else {
        let path = plan::default_spec_path(
            &paths.code_dir,
            &settings.config.planning.specs_dir,
            &source,
        );
        let spec = write_spec(&call("spec"), &project, &source, &path, &cancel).await?;
        context.print(&format!(
            "Generated COCA spec -> {}\n",
            plan::doc_reference(&context.cwd, &path)
        ))?;
        origin.generated_spec = Some(path.clone());
        origin.planning_source_doc = Some(path);
        spec.trim().to_string()
    };
    origin.planning_text = planning_text.clone();
    let doc = origin
        .planning_source_doc
        .as_ref()
        .map(|p| plan::doc_reference(&paths.code_dir, p));
    let prompt = plan::plan_prompt(&project, &planning_text, doc.as_deref());
    let mut spinner = crate::ui::Spinner::at_terminal("plan", backend.as_str());
    let mut draw = |elapsed| {
        if let Some(s) = spinner.as_mut() {
            s.draw(elapsed);
        }
    };
    let asked = oneshot::ask(&call("plan"), &prompt, &cancel, Some(&mut draw)).await;
    drop(spinner);
    let answer = accounted(&call("plan"), asked)?;
    let queue = plan::queue_from_answer(&answer.text, &project, origin.to_value(), doc.as_deref())
        .map_err(|rejected| {
            plan::unusable(backend, &answer, &rejected, paths.task_json.as_path())
        })?;

    let target = input
        .output(&context.cwd)
        .unwrap_or_else(|| paths.task_json.clone());
    let store = TaskStore::at(target.clone(), paths.log_dir.join("task.json.lock"));
    let planned = queue.tasks.len();
    let (queue, backup, renames) = match into {
        Mode::Replace => {
            let backup = store.replace(&queue)?;
            (queue, backup, Vec::new())
        }
        Mode::Append => {
            let updated = store.update(crate::task::Backup::Before, |old| {
                let renames = append(old, queue);
                Ok((old.clone(), renames))
            })?;
            let (queue, renames) = updated.value;
            (queue, updated.backup, renames)
        }
    };
    let mut out = format!(
        "{} {planned} task(s) with {} -> {}\n",
        if into == Mode::Append {
            "Added"
        } else {
            "Planned"
        },
        backend.as_str(),
        plan::doc_reference(&context.cwd, &target)
    );
    for (old, new) in &renames {
        out.push_str(&format!("  {old} was taken: the new task is {new}\n"));
    }
    if let Some(backup) = backup {
        out.push_str(&format!(
            "The previous queue is kept in {}\n",
            plan::doc_reference(&context.cwd, &backup)
        ));
    }
    for task in queue.tasks.iter().skip(queue.tasks.len() - planned) {
        let after = if task.depends_on.is_empty() {
            String::new()
        } else {
            format!(" (after {})", task.depends_on.join(", "))
        };
        out.push_str(&format!("  {}: {}{after}\n", task.id, task.display_title()));
    }
    context.print(&out)?;
    Ok(Exit::Success)
}
