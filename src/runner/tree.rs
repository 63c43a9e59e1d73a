//! The tree an attempt works in, and the state that belongs to that tree alone: where its code
//! is, what its snapshots track, and the last attempt's closing snapshot. Everything else a run
//! holds (the queue, the sinks, the cancel, the budget, the waits) is run-wide and stays in the
//! [`super::Runner`]. Delivery tasks work in the user's tree; an experiment works in a linked
//! worktree of its own (see [`super::experiment`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::exec;
use crate::snapshot::{Rules, Snapshot};

/// How long an attempt's closing snapshot may stand in for the next attempt's opening one.
const CARRY_WINDOW: Duration = Duration::from_secs(1);

/// An attempt's closing snapshot, with the moment it was taken and how many children autodev
/// had started by then.
pub(super) struct Carried {
    taken: Instant,
    spawned: u64,
    snapshot: Snapshot,
    /// The opening snapshot of an attempt an earlier run began (recovery): it serves whatever
    /// happened since, which is the point.
    resumed: bool,
}

impl Carried {
    pub(super) fn now(snapshot: Snapshot) -> Carried {
        Carried {
            taken: Instant::now(),
            spawned: exec::spawned(),
            snapshot,
            resumed: false,
        }
    }

    /// The saved opening snapshot of a cut-off attempt, for the run that does it again.
    pub(super) fn resumed(snapshot: Snapshot) -> Carried {
        Carried {
            resumed: true,
            ..Carried::now(snapshot)
        }
    }
}

/// One working tree.
pub(super) struct Tree {
    /// The code directory in this tree: the agent's and the checks' working directory.
    pub dir: PathBuf,
    pub rules: Rules,
    /// The last attempt's closing snapshot: see [`Tree::opening_snapshot`].
    pub carry: Option<Carried>,
}

impl Tree {
    pub(super) fn new(dir: PathBuf, rules: Rules) -> Tree {
        Tree {
            dir,
            rules,
            carry: None,
        }
    }

    /// The same rules for the copy of this tree whose code directory is `dir`.
    pub(super) fn copy_at(&self, dir: &Path) -> Tree {
        Tree::new(dir.to_path_buf(), self.rules.rooted_at(dir))
    }

    /// The snapshot an attempt starts from. The previous attempt's closing snapshot serves when
    /// it was taken moments ago and no child has been started since (checks, reflection, a
    /// commit, a git query: anything that could write into the tree); otherwise the tree is
    /// walked again. Autodev's own writes in between (task.json, logs, TASK.md) are not tracked,
    /// so the two would be the same. A restored protected file is never carried (see `turn`).
    /// `true` with it when it is a resumed attempt's saved snapshot.
    pub(super) fn opening_snapshot(&mut self) -> (Snapshot, bool) {
        match self.carry.take() {
            Some(c) if c.resumed => (c.snapshot, true),
            Some(c) if c.taken.elapsed() < CARRY_WINDOW && c.spawned == exec::spawned() => {
                (c.snapshot, false)
            }
            _ => (Snapshot::take(&self.rules, None), false),
        }
    }
}
