//! The task queue: the `task.json` model, its store, state transitions and the audit.
//!
//! `model` reads and writes the document, `contract` the verification/completion/execution
//! parts of a task, `state` the lifecycle and next-task rule, `store` the file on disk, and
//! `audit` the rules new and refined tasks must pass.

pub mod audit;
pub(crate) mod check;
pub mod coerce;
pub mod contract;
pub mod model;
pub(crate) mod source;
pub mod state;
pub mod store;

pub use model::{Task, TaskFile};
pub use state::{ActivePhase, Counts, Lifecycle, LiveTask, TaskStatus, blocked_at_now};
pub use store::{Backup, TaskStore};

/// A task id made safe for file and ref names: ASCII letters, digits, `_` and `-` kept, anything
/// else turned into `_`.
pub fn safe_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
