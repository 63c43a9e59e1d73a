//! Iterative metric tasks (`execution.strategy = "iterative"`): the numbers and decisions of an
//! experiment, and the format of its log.
//!
//! [`stats`] turns samples into a value (the median) and a noise estimate; [`decide`] holds the
//! pure keep/discard decision, the tally that stops the loop and the conclusion that completes or
//! blocks the task; [`journal`] owns the `logs/experiments.jsonl` record. Running the loop (the
//! agent, the measurements, the git moves) is the runner's; building git commands is
//! [`crate::git`]'s.

pub mod decide;
pub mod ideas;
pub mod journal;
pub mod stats;

pub use decide::{
    Action, Conclusion, Decision, Outcome, Policy, Tally, conclude, decide, decide_pairs,
};
pub use journal::Record;
pub use stats::Series;

/// Where a finalized experiment's own commits are kept, from now on (`autodev finalize`, and
/// `[experiments] finalize`): `refs/autodev/finalized/<task>/<stamp>`.
pub fn finalized_ref(task_id: &str) -> String {
    format!(
        "refs/autodev/finalized/{}/{}",
        crate::task::safe_id(task_id),
        crate::durable::file_stamp()
    )
}
