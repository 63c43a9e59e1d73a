//! The tree an attempt works in, and the state that belongs to that tree alone: where its code
//! is, what its snapshots track, the watcher that tells what changed in it (see
//! [`crate::snapshot::watch`]), and the last attempt's closing snapshot. Everything else a run
//! holds (the queue, the sinks, the cancel, the budget, the waits) is run-wide and stays in the
//! [`super::Runner`]. Delivery tasks work in the user's tree; an experiment works in a linked
//! worktree of its own (see [`super::experiment`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::exec;
use crate::snapshot::{Rules, Snapshot, Watcher};

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
    /// The watches on this tree, from its first walk on, while their notices can be trusted.
    watcher: Option<Watcher>,
    /// Why the last snapshot walked the whole tree although a watcher was wanted, until told
    /// (once per reason).
    untrusted: Option<String>,
    told: Option<String>,
}

impl Tree {
    pub(super) fn new(dir: PathBuf, rules: Rules) -> Tree {
        Tree {
            dir,
            rules,
            carry: None,
            watcher: None,
            untrusted: None,
            told: None,
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
    ///
    /// With the tree watched since that snapshot, it serves whatever ran in between: it is
    /// brought up to date with the paths touched since, and the tree is not walked at all.
    pub(super) fn opening_snapshot(&mut self) -> (Snapshot, bool) {
        match self.carry.take() {
            Some(c) if c.resumed => {
                // Taken by an earlier run: what changed since was not watched, so this attempt's
                // closing snapshot walks, and starts the watch again.
                self.watcher = None;
                (c.snapshot, true)
            }
            Some(c) => match self.refreshed(&c.snapshot) {
                Some(now) => (now, false),
                None if c.taken.elapsed() < CARRY_WINDOW && c.spawned == exec::spawned() => {
                    (c.snapshot, false)
                }
                None => (self.walk(None), false),
            },
            None => (self.walk(None), false),
        }
    }

    /// The snapshot an attempt ends with, `before` being the one it started from: brought up
    /// to date with the paths touched since, or a walk of the whole tree when they are unknown.
    pub(super) fn closing_snapshot(&mut self, before: &Snapshot) -> Snapshot {
        match self.refreshed(before) {
            Some(now) => now,
            None => self.walk(Some(before)),
        }
    }

    /// Why a snapshot just walked the whole tree, if it was not told yet.
    pub(super) fn untold_walk(&mut self) -> Option<String> {
        let why = self.untrusted.take()?;
        (self.told.as_ref() != Some(&why)).then(|| {
            self.told = Some(why.clone());
            why
        })
    }

    /// The paths touched since the last look, when the watcher can tell them.
    fn touched(&mut self) -> Option<BTreeSet<String>> {
        match self.watcher.as_mut()?.drain() {
            Ok(touched) => Some(touched),
            Err(why) => {
                self.watcher = None;
                self.untrusted = Some(why);
                None
            }
        }
    }

    /// `snapshot` brought up to date with the paths touched since, when the watcher can tell
    /// them.
    fn refreshed(&mut self, snapshot: &Snapshot) -> Option<Snapshot> {
        let touched = self.touched()?;
        let watcher = self.watcher.as_ref()?;
        Some(snapshot.refresh(&self.rules, &touched, watcher))
    }

    /// Walks the whole tree, watching every directory from now on (a watcher is started if
    /// there is none; notices from before the walk are of no use to it).
    fn walk(&mut self, reference: Option<&Snapshot>) -> Snapshot {
        if self.watcher.is_none() {
            match Watcher::new(self.rules.root(), self.rules.starts()) {
                Ok(watcher) => self.watcher = Some(watcher),
                Err(why) => self.untrusted = Some(why),
            }
        }
        // What was touched before the walk is seen by the walk itself.
        let _ = self.touched();
        Snapshot::take_watching(&self.rules, reference, self.watcher.as_ref())
    }
}
