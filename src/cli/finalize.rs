//! `autodev finalize TASK [--dry-run] [--branch NAME]`: turns what an experiment kept into one
//! reviewable commit on a new branch on top of your current `HEAD`, its message stating the
//! measured effect, with the experiment's own history kept under a backup ref. Your tree, index
//! and branch are not touched: the commit is made in a worktree of its own, which goes again.

use super::Context;
use crate::config::Settings;
use crate::error::{Error, Exit, Result};
use crate::experiment::{Action, Record};
use crate::git::{self, short_sha, worktree};
use crate::task::{Task, TaskStore, safe_id};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment (an iterative task) whose kept changes to finalize
    task_id: String,
    /// Show the plan; change nothing
    #[arg(long)]
    dry_run: bool,
    /// The branch to make (default: autodev/<task>-final); it must not exist yet
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
}

/// What the experiment's last run kept: every kept candidate, oldest first (never none).
struct Kept {
    records: Vec<Record>,
}

impl Kept {
    /// The newest kept candidate: what the change ends at, and what it measured.
    fn last(&self) -> &Record {
        &self.records[self.records.len() - 1]
    }

    fn tip(&self) -> &str {
        &self.last().commit_sha
    }
}

/// A part of the change: files that no kept commit shares with another part, and the kept
/// commits that changed them.
struct Part {
    files: Vec<String>,
    commits: Vec<String>,
}

/// The last run of the task's experiment, from `experiments.jsonl`: its newest kept candidate,
/// and how many of that run were kept.
fn kept(settings: &Settings, task: &Task) -> Result<Kept> {
    let records =
        crate::experiment::journal::recent(&settings.paths.experiments_log(), &task.id, 10_000);
    let kept: Vec<&Record> = records
        .iter()
        .filter(|r| r.action == Some(Action::Keep) && !r.commit_sha.is_empty())
        .collect();
    let Some(last) = kept.last() else {
        return Err(Error::Setup {
            message: format!(
                "experiment {} kept no change: there is nothing to finalize",
                task.id
            ),
            hint: "`autodev status` and logs/experiments.jsonl show what it measured".into(),
        });
    };
    // The kept candidates of the same run share its ref folder.
    let run_of = |r: &Record| {
        r.git_ref
            .rsplit_once('/')
            .map_or("", |(run, _)| run)
            .to_string()
    };
    let run = run_of(last);
    let records = kept
        .iter()
        .filter(|r| run_of(r) == run)
        .map(|r| (*r).clone())
        .collect();
    Ok(Kept { records })
}

/// The change's `files` in parts such that every kept commit's files fall in one part: changes
/// that touch none of the same files are independent, and each becomes a commit of its own.
/// In the order the commits came; files no commit names (none, in practice) join the first.
async fn parts(
    user: &std::path::Path,
    (start, tip): (&str, &str),
    files: &[String],
) -> git::GitResult<Vec<Part>> {
    let mut parts: Vec<Part> = Vec::new();
    let all = worktree::commits_between(user, start, tip).await?;
    for commit in &all {
        let touched: Vec<String> = worktree::changed_between(user, &format!("{commit}^"), commit)
            .await?
            .into_iter()
            .filter(|f| files.contains(f))
            .collect();
        if touched.is_empty() {
            continue;
        }
        let mut merged = Part {
            files: touched,
            commits: vec![commit.clone()],
        };
        // Every part this commit shares a file with joins it, at the first one's place.
        let mut at = None;
        let mut i = 0;
        while i < parts.len() {
            if parts[i].files.iter().any(|f| merged.files.contains(f)) {
                let part = parts.remove(i);
                at.get_or_insert(i);
                merged.files.extend(part.files);
                merged.commits.splice(0..0, part.commits);
            } else {
                i += 1;
            }
        }
        merged.files.sort();
        merged.files.dedup();
        merged
            .commits
            .sort_by_key(|c| all.iter().position(|a| a == c));
        parts.insert(at.unwrap_or(parts.len()), merged);
    }
    let named: Vec<&String> = parts.iter().flat_map(|p| &p.files).collect();
    let rest: Vec<String> = files
        .iter()
        .filter(|f| !named.contains(f))
        .cloned()
        .collect();
    match parts.first_mut() {
        Some(first) => first.files.extend(rest),
        None => parts.push(Part {
            files: rest,
            commits: Vec::new(),
        }),
    }
    Ok(parts)
}

/// `metric before → after (±x%)`, as a message states a measured change.
fn effect(metric: &str, before: Option<f64>, after: Option<f64>) -> String {
    let value = |v: Option<f64>| v.map_or("?".to_string(), crate::experiment::decide::short);
    match (before, after) {
        (Some(b), Some(a)) if b != 0.0 => format!(
            "{metric} {} → {} ({:+.1}%)",
            value(before),
            value(after),
            (a - b) / b.abs() * 100.0
        ),
        _ => format!("{metric} {} → {}", value(before), value(after)),
    }
}

/// The message of part `i` (from 0) of `parts`: the task, then the measured effect; with
/// several parts, the part's files and the kept iterations that made it, each with what it
/// measured against the one before.
fn message(task: &Task, kept: &Kept, backup: &str, (i, parts): (usize, &[Part])) -> String {
    let r = kept.last();
    let confidence = r
        .confidence
        .map(|c| format!(", confidence {:.0}%", c * 100.0))
        .unwrap_or_default();
    let whole = format!(
        "{}{confidence}, measured by experiment {} ({} kept change(s))",
        effect(&r.metric_name, r.baseline_value, r.measured_value),
        task.id,
        kept.records.len()
    );
    let title = format!("{}: {}", task.id, task.display_title());
    let tail = format!("The experiment's own history: {backup}\n");
    let Some(part) = parts.get(i).filter(|_| parts.len() > 1) else {
        return format!("{title}\n\n{whole}.\n\n{tail}");
    };
    let steps: Vec<String> = kept
        .records
        .iter()
        .filter(|k| part.commits.contains(&k.commit_sha))
        .map(|k| {
            format!(
                "iteration {}: {}",
                k.iteration,
                effect(&k.metric_name, k.best_before, k.measured_value)
            )
        })
        .collect();
    let made_by = match steps.is_empty() {
        true => String::new(),
        false => format!(" Kept as {}.", steps.join("; ")),
    };
    format!(
        "{title} ({} of {}: {})\n\nThis part changes {}; the other part(s) touch none of its \
         files.{made_by}\n\nThe whole change: {whole}.\n\n{tail}",
        i + 1,
        parts.len(),
        crate::ui::preview(&part.files, 3),
        crate::ui::preview(&part.files, 10),
    )
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let paths = &settings.paths;
    let queue = TaskStore::new(paths).load()?;
    let task = super::task_named(&queue, &args.task_id, paths)?;
    let kept = kept(&settings, task)?;
    let branch = args
        .branch
        .clone()
        .unwrap_or_else(|| format!("autodev/{}-final", safe_id(&task.id)));
    let runtime = crate::exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    let plan = runtime.block_on(finalize(&settings, task, &kept, &branch, args.dry_run))?;
    context.print(&plan)?;
    Ok(Exit::Success)
}

async fn finalize(
    settings: &Settings,
    task: &Task,
    kept: &Kept,
    branch: &str,
    dry_run: bool,
) -> Result<String> {
    let user = &settings.paths.code_dir;
    let git_failed =
        |why: git::GitError| Error::setup(why.to_string(), "fix the repository, then run again");
    let head = git::head(user).await.map_err(git_failed)?;
    if worktree::is_ancestor(user, kept.tip(), &head).await {
        return Err(Error::setup(
            format!(
                "the kept changes of {} ({}) are already on your branch: there is nothing to \
                 finalize",
                task.id,
                short_sha(kept.tip())
            ),
            "`git log` shows them",
        ));
    }
    if worktree::branch_tip(user, branch).await.is_some() {
        return Err(Error::setup(
            format!(
                "branch {branch} exists already, and finalize never moves a branch it did not make"
            ),
            "delete it (`git branch -D`) or name another with --branch",
        ));
    }
    let start = worktree::merge_base(user, &head, kept.tip())
        .await
        .map_err(git_failed)?;
    let files = worktree::changed_between(user, &start, kept.tip())
        .await
        .map_err(git_failed)?;
    let backup = crate::experiment::finalized_ref(&task.id);
    let parts = parts(user, (&start, kept.tip()), &files)
        .await
        .map_err(git_failed)?;
    let messages: Vec<String> = (0..parts.len())
        .map(|i| message(task, kept, &backup, (i, &parts)))
        .collect();
    let shape = match parts.len() {
        1 => "becomes one commit".to_string(),
        n => format!("becomes {n} commits, one per group of files no kept change shares"),
    };
    let mut plan = format!(
        "{}: the change from {} to {} ({} kept change(s); {} file(s): {}) {shape} on top of \
         your HEAD {} on a new branch {branch}; the experiment's history stays at {backup}",
        task.id,
        short_sha(&start),
        short_sha(kept.tip()),
        kept.records.len(),
        files.len(),
        crate::ui::preview(&files, 8),
        short_sha(&head),
    );
    for message in &messages {
        plan.push_str("\nThe commit message:\n");
        plan.push_str(
            &message
                .lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    if dry_run {
        plan.push_str("\n[DRY RUN] nothing was changed\n");
        return Ok(plan);
    }
    git::set_ref(user, &backup, kept.tip())
        .await
        .map_err(git_failed)?;
    let layout = worktree::layout(user).await.map_err(git_failed)?;
    let tree = layout.tree(&format!("finalize-{}", safe_id(&task.id)));
    let _ = worktree::remove(user, &tree).await;
    worktree::add(user, &tree, worktree::Checkout::Detached, &head)
        .await
        .map_err(git_failed)?;
    let made = async {
        match worktree::squash(&tree, kept.tip())
            .await
            .map_err(git_failed)?
        {
            Ok(()) => {}
            Err(conflicts) => {
                return Err(Error::setup(
                    format!(
                        "the kept changes of {} conflict with your newer commits in {}",
                        task.id,
                        crate::ui::preview(&conflicts, 10)
                    ),
                    "merge the experiment's branch by hand, or finalize before committing over \
                     its files",
                ));
            }
        }
        let mut sha = String::new();
        for (part, message) in parts.iter().zip(&messages) {
            sha = match parts.len() {
                1 => worktree::commit_staged(&tree, message).await,
                _ => worktree::commit_only(&tree, &part.files, message).await,
            }
            .map_err(git_failed)?;
        }
        worktree::create_branch(user, branch, &sha)
            .await
            .map_err(git_failed)?;
        Ok(sha)
    }
    .await;
    let _ = worktree::remove(user, &tree).await;
    let sha = made?;
    plan.push_str(&format!(
        "\nMade {} on branch {branch}: review it with `git show {branch}`, take it with `git \
         merge {branch}`\n",
        short_sha(&sha)
    ));
    Ok(plan)
}
