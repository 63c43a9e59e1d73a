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

/// What the experiment left: its last kept change and what it measured.
struct Kept {
    tip: String,
    record: Record,
    kept: usize,
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
    let run = last.git_ref.rsplit_once('/').map_or("", |(run, _)| run);
    Ok(Kept {
        tip: last.commit_sha.clone(),
        record: (*last).clone(),
        kept: kept
            .iter()
            .filter(|r| r.git_ref.rsplit_once('/').map_or("", |(r, _)| r) == run)
            .count(),
    })
}

/// The commit message: the task, then the measured effect.
fn message(task: &Task, kept: &Kept, backup: &str) -> String {
    let r = &kept.record;
    let value = |v: Option<f64>| v.map_or("?".to_string(), crate::experiment::decide::short);
    let effect = match (r.baseline_value, r.measured_value) {
        (Some(before), Some(after)) if before != 0.0 => format!(
            "{} {} → {} ({:+.1}%)",
            r.metric_name,
            value(Some(before)),
            value(Some(after)),
            (after - before) / before.abs() * 100.0
        ),
        _ => format!(
            "{} {} → {}",
            r.metric_name,
            value(r.baseline_value),
            value(r.measured_value)
        ),
    };
    let confidence = r
        .confidence
        .map(|c| format!(", confidence {:.0}%", c * 100.0))
        .unwrap_or_default();
    format!(
        "{}: {}\n\n{effect}{confidence}, measured by experiment {} ({} kept change(s)).\n\nThe \
         experiment's own history: {backup}\n",
        task.id,
        task.display_title(),
        task.id,
        kept.kept
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

fn refused(message: String, hint: &str) -> Error {
    Error::Setup {
        message,
        hint: hint.to_string(),
    }
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
        |why: git::GitError| refused(why.to_string(), "fix the repository, then run again");
    let head = git::head(user).await.map_err(git_failed)?;
    if worktree::is_ancestor(user, &kept.tip, &head).await {
        return Err(refused(
            format!(
                "the kept changes of {} ({}) are already on your branch: there is nothing to \
                 finalize",
                task.id,
                short_sha(&kept.tip)
            ),
            "`git log` shows them",
        ));
    }
    if worktree::branch_tip(user, branch).await.is_some() {
        return Err(refused(
            format!(
                "branch {branch} exists already, and finalize never moves a branch it did not make"
            ),
            "delete it (`git branch -D`) or name another with --branch",
        ));
    }
    let start = worktree::merge_base(user, &head, &kept.tip)
        .await
        .map_err(git_failed)?;
    let files = worktree::changed_between(user, &start, &kept.tip)
        .await
        .map_err(git_failed)?;
    let backup = crate::experiment::finalized_ref(&task.id);
    let message = message(task, kept, &backup);
    let mut plan = format!(
        "{}: the change from {} to {} ({} kept change(s); {} file(s): {}) becomes one commit on \
         top of your HEAD {} on a new branch {branch}; the experiment's history stays at \
         {backup}\nThe commit message:\n{}",
        task.id,
        short_sha(&start),
        short_sha(&kept.tip),
        kept.kept,
        files.len(),
        crate::ui::preview(&files, 8),
        short_sha(&head),
        message
            .lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if dry_run {
        plan.push_str("\n[DRY RUN] nothing was changed\n");
        return Ok(plan);
    }
    git::set_ref(user, &backup, &kept.tip)
        .await
        .map_err(git_failed)?;
    let layout = worktree::layout(user).await.map_err(git_failed)?;
    let tree = layout.tree(&format!("finalize-{}", safe_id(&task.id)));
    let _ = worktree::remove(user, &tree).await;
    worktree::add(user, &tree, worktree::Checkout::Detached, &head)
        .await
        .map_err(git_failed)?;
    let made = async {
        match worktree::squash(&tree, &kept.tip)
            .await
            .map_err(git_failed)?
        {
            Ok(()) => {}
            Err(conflicts) => {
                return Err(refused(
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
        let sha = worktree::commit_staged(&tree, &message)
            .await
            .map_err(git_failed)?;
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
