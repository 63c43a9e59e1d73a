//! What an agent's report means for the attempt it ended: one pure decision, used by delivery
//! tasks and experiment iterations alike.

use crate::backend::Outcome;

/// What the runner does next with a finished agent turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// The run must stop with the task untouched: the logs cannot be written.
    HaltLogs,
    /// The run must stop with the task untouched: the environment needs a person (credentials,
    /// a missing CLI, settings the CLI refuses).
    HaltEnvironment,
    /// The provider is unavailable for now: wait, then try the same attempt again (not counted).
    Wait,
    /// A signal stopped the turn: record it, leave the task pending.
    Interrupted,
    /// The run's budget is spent: stop the run, the task stays pending, no attempt counted.
    StopBudget,
    /// The task's own budget is spent: block that task.
    BlockBudget,
    /// Judge what the turn left (the gate, or the experiment's measurement); `Ok` alone is
    /// worth running checks on, any other outcome is a failed attempt as it stands.
    Judge { checks: bool },
}

/// The decision for a turn whose agent ended with `outcome`; `log_failed` when writing its
/// output to the logs failed.
pub(super) fn after_agent(outcome: Outcome, log_failed: bool) -> Next {
    if log_failed {
        return Next::HaltLogs;
    }
    match outcome {
        Outcome::Interrupted => Next::Interrupted,
        Outcome::OverBudget => Next::StopBudget,
        Outcome::OverTaskBudget => Next::BlockBudget,
        Outcome::Auth
        | Outcome::NotInstalled
        | Outcome::Misconfigured
        | Outcome::QuotaExhausted => Next::HaltEnvironment,
        Outcome::RateLimited | Outcome::Overloaded | Outcome::NetworkDown => Next::Wait,
        Outcome::Ok => Next::Judge { checks: true },
        Outcome::PermissionDenied | Outcome::MaxTurns | Outcome::Crashed | Outcome::TimedOut => {
            Next::Judge { checks: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_one_meaning() {
        let table = [
            (Outcome::Ok, Next::Judge { checks: true }),
            (Outcome::Auth, Next::HaltEnvironment),
            (Outcome::NotInstalled, Next::HaltEnvironment),
            (Outcome::Misconfigured, Next::HaltEnvironment),
            (Outcome::QuotaExhausted, Next::HaltEnvironment),
            (Outcome::RateLimited, Next::Wait),
            (Outcome::Overloaded, Next::Wait),
            (Outcome::NetworkDown, Next::Wait),
            (Outcome::Interrupted, Next::Interrupted),
            (Outcome::OverBudget, Next::StopBudget),
            (Outcome::OverTaskBudget, Next::BlockBudget),
            (Outcome::PermissionDenied, Next::Judge { checks: false }),
            (Outcome::MaxTurns, Next::Judge { checks: false }),
            (Outcome::Crashed, Next::Judge { checks: false }),
            (Outcome::TimedOut, Next::Judge { checks: false }),
        ];
        for (outcome, next) in table {
            assert_eq!(after_agent(outcome, false), next, "{outcome:?}");
        }
    }

    #[test]
    fn unwritable_logs_halt_whatever_the_agent_did() {
        for outcome in [Outcome::Ok, Outcome::Interrupted, Outcome::RateLimited] {
            assert_eq!(after_agent(outcome, true), Next::HaltLogs);
        }
    }
}
