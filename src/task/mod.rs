//! The task queue: the `task.json` model, its store, state transitions and the audit.
//!
//! `model` reads and writes the document, `contract` the verification/completion/execution
//! parts of a task, `state` the lifecycle and next-task rule, `store` the file on disk, and
//! `audit` the rules new and refined tasks must pass.

pub mod audit;
pub mod coerce;
pub mod contract;
pub mod model;
pub mod state;
pub mod store;

pub use model::{Task, TaskFile};
pub use state::{ActivePhase, Counts, Lifecycle, LiveTask, TaskStatus, blocked_at_now};
pub use store::{Backup, TaskStore};
