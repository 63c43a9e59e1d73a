//! What the night spends: every agent call's tokens and cost added up (estimated where the CLI
//! does not say), the budget judged before each call and while each call streams, and the
//! spend a resumed night carries over from the runs it resumes. The verdicts are
//! [`super::budget`]'s; this part keeps the totals and tells them.

use super::budget::{self, Caps, Spent};
use super::{Runner, task_ref};
use crate::backend::{AgentReport, Outcome, Usage};
use crate::config::BackendName;
use crate::journal::Entry;
use crate::journal::event::{Event, Level, RunEnd, Spending};
use crate::task::Task;

/// What the runs this one resumes had spent: the last run (dry runs aside) when it did not end
/// (killed) or ended by a signal or an environment halt. A run that ended any other way (done,
/// blocked, paused, or stopped by its own budget) closed its night.
pub(super) fn carried(entries: &[Entry]) -> Option<Spending> {
    let start = entries
        .iter()
        .rposition(|e| matches!(e.event, Event::RunStarted { dry_run: false, .. }))?;
    let Event::RunStarted { carried, .. } = &entries[start].event else {
        return None;
    };
    let run = &entries[start].run_id;
    let mut total = carried.unwrap_or_default();
    for entry in entries[start..].iter().filter(|e| &e.run_id == run) {
        match &entry.event {
            Event::Spent { total: t, .. } => total = *t,
            Event::RunFinished { end, .. }
                if !matches!(end, RunEnd::Interrupted | RunEnd::EnvError) =>
            {
                return None;
            }
            _ => {}
        }
    }
    (total != Spending::default()).then_some(total)
}

/// The night's books: what this run and the runs it resumes have spent, and what the budget
/// needs to judge the next call.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// This run's own tokens and cost (`None`: no call reported them).
    pub tokens: Option<Usage>,
    pub cost_usd: Option<f64>,
    /// The night's spend: what it carried over plus this run's.
    pub spent: Spent,
    /// What the runs this one resumes had spent.
    pub carried: Option<Spent>,
    /// Whether any cost so far is an estimate.
    pub estimated: bool,
    /// Whether the 80% warning was given.
    warned: bool,
    pricer: budget::Pricer,
    /// Calls that reported tokens but no cost that could be known.
    uncosted: u32,
    /// Calls cut short before they reported anything, with no finished call to count them at:
    /// what they used is unknown.
    unmeasured: u32,
    /// Agent calls running now (one per worker at most): each holds the average call so far
    /// against the budget until it reports what it really spent.
    pub(super) in_flight: u32,
}

impl Ledger {
    /// Books priced with `price` (`[pricing]` for the backend's model).
    pub(super) fn new(price: Option<crate::config::model::Price>) -> Ledger {
        Ledger {
            pricer: budget::Pricer::new(price),
            ..Ledger::default()
        }
    }

    /// Takes over what the runs this one resumes had spent.
    pub(super) fn resume(&mut self, carried: Option<Spent>) {
        if let Some(carried) = carried {
            self.spent = carried;
        }
        self.carried = carried;
    }

    /// What the budget is judged on: the night's spend, with every call in flight counted at
    /// the average call so far (its forecast), so that N workers cannot pass a cap by N calls.
    pub(super) fn committed(&self) -> Spent {
        let mut committed = self.spent;
        let (average_tokens, average_cost) = self.spent.average();
        for _ in 0..self.in_flight {
            committed.add(
                average_tokens.map(|input| Usage {
                    input,
                    ..Usage::default()
                }),
                average_cost,
            );
        }
        committed
    }
}

/// A task's own cap (`max_cost_usd` on the task) and what its worker has spent on it so far.
#[derive(Debug, Clone, Copy)]
pub(super) struct TaskBudget {
    pub cap: f64,
    pub spent: Spent,
}

impl Runner<'_> {
    /// Adds what an agent call cost to the night's totals, and tells it. A cost the CLI did not
    /// report is estimated from its tokens ([`budget::Pricer`]); a call cut short that reported
    /// nothing at all (codex and gemini report only at the end) counts as the average call so
    /// far, since it was billed all the same. Estimates are marked as such.
    pub(super) fn spend(
        &mut self,
        purpose: &str,
        tokens: Usage,
        cost_usd: Option<f64>,
        cut_short: bool,
    ) {
        let reports_tokens = self.reports_tokens();
        let mut ledger = self.shared.ledger.borrow_mut();
        let mut tokens = tokens.reported();
        // A call that failed at once reports $0 and no tokens: it spent nothing that can be
        // seen, and is no "$0 call" to lower the average.
        let reported = cost_usd.filter(|c| *c > 0.0 || tokens.is_some());
        if let Some(cost) = reported {
            ledger.pricer.learn(tokens, cost);
        }
        let (mut cost, mut estimated) = ledger.pricer.cost(tokens, reported);
        if tokens.is_none() && cost.is_none() && cut_short && reports_tokens {
            let (average_tokens, average_cost) = ledger.spent.average();
            tokens = average_tokens.map(|input| Usage {
                input,
                ..Usage::default()
            });
            cost = average_cost;
            estimated = tokens.is_some() || cost.is_some();
            if !estimated {
                ledger.unmeasured += 1;
            }
        }
        if cost.is_none() && tokens.is_some() {
            ledger.uncosted += 1;
        }
        if let Some(t) = tokens {
            ledger.tokens.get_or_insert_with(Default::default).add(t);
        }
        if let Some(c) = cost {
            *ledger.cost_usd.get_or_insert(0.0) += c;
        }
        ledger.spent.add(tokens, cost);
        ledger.estimated |= estimated;
        let total = ledger.spent;
        drop(ledger);
        if let Some(budget) = &mut self.task_budget {
            budget.spent.add(tokens, cost);
        }
        self.emit(Event::Spent {
            purpose: purpose.to_string(),
            tokens,
            cost_usd: cost,
            estimated,
            total,
        });
    }

    fn reports_tokens(&self) -> bool {
        self.options.backend != BackendName::Command
    }

    /// The price of the backend's configured model, when `[pricing]` knows one.
    pub(super) fn price(&self) -> Option<crate::config::model::Price> {
        let b = &self.settings.config.backend;
        let model = match self.options.backend {
            BackendName::Claude => b.claude.model.as_str(),
            BackendName::Codex => b.codex.model.as_str(),
            BackendName::Gemini => b.gemini.model.as_str(),
            BackendName::Opencode => b.opencode.model.as_str(),
            BackendName::Command => "",
        };
        self.settings.config.pricing.price_of(model)
    }

    fn caps(&self) -> Caps {
        Caps {
            cost: self.options.max_cost_usd,
            tokens: self.options.max_tokens,
        }
    }

    /// Whether the next agent call may be made: the night's budget, then the task's. The
    /// report to use instead of the call when it may not.
    pub(super) fn budget_gate(&mut self) -> Option<AgentReport> {
        let (verdict, unmeasured, uncosted, in_flight) = {
            let ledger = self.shared.ledger.borrow();
            let verdict = budget::check(self.caps(), ledger.committed(), ledger.warned);
            (
                verdict,
                ledger.unmeasured,
                ledger.uncosted,
                ledger.in_flight,
            )
        };
        if let Some(message) = verdict.warn {
            self.shared.ledger.borrow_mut().warned = true;
            self.emit(Event::BudgetWarning { message });
        }
        let refuse = |outcome, detail: String| {
            Some(AgentReport::bare(
                outcome,
                detail,
                crate::exec::Exit::Code(0),
                None,
            ))
        };
        if let Some(why) = verdict.stop {
            let reserved = match in_flight {
                0 => String::new(),
                n => format!(
                    "; counting {n} call(s) of other workers still running at the average call"
                ),
            };
            return refuse(Outcome::OverBudget, format!("stopped: {why}{reserved}"));
        }
        let capped = self.options.max_cost_usd.is_some() || self.options.max_tokens.is_some();
        if capped && unmeasured > 0 {
            return refuse(
                Outcome::OverBudget,
                format!(
                    "stopped: a {} call was cut short before it reported what it used, and no \
                     finished call of this night gives an average to count it at, so the budget \
                     can no longer be held; the task stays pending and the next run starts a \
                     new night",
                    self.options.backend.as_str()
                ),
            );
        }
        if self.options.max_cost_usd.is_some() && uncosted > 0 && !self.options.force {
            return refuse(
                Outcome::OverBudget,
                format!(
                    "stopped: {} reported tokens but no cost for a call (a model it has no \
                     price for reports $0), so the cost cap cannot be enforced; set [pricing] \
                     for the model, or pass --force",
                    self.options.backend.as_str()
                ),
            );
        }
        let budget = self.task_budget?;
        let task_caps = Caps {
            cost: Some(budget.cap),
            tokens: None,
        };
        let stop = budget::check(task_caps, budget.spent, true).stop?;
        refuse(Outcome::OverTaskBudget, format!("the task's {stop}"))
    }

    /// The budget's word before an agent turn on `task`: `None` to go on, or the report that
    /// stands for the turn. A stop of the run is journalled as its own event; no attempt is
    /// started for it.
    pub(super) fn budget_before_turn(&mut self, task: &Task) -> Option<AgentReport> {
        let refused = self.budget_gate()?;
        if refused.outcome == Outcome::OverBudget {
            self.emit(Event::BudgetStopped {
                task: Some(task_ref(task)),
                message: refused.detail.clone(),
                spent: self.shared.ledger.borrow().spent,
            });
        }
        Some(refused)
    }

    /// The limit a call is held to while it streams: the night's caps and the task's, less
    /// what was spent before the call. Why it must stop, with the outcome that says so.
    pub(super) fn meter(
        &self,
    ) -> impl FnMut(Usage, Option<f64>) -> Option<(Outcome, String)> + Send + use<> {
        let caps = self.caps();
        // The calls of other workers in flight count at their forecast.
        let (before, pricer) = {
            let ledger = self.shared.ledger.borrow();
            (ledger.committed(), ledger.pricer)
        };
        let task = self.task_budget.map(|b| (b.cap, b.spent));
        move |usage, cost| {
            let tokens = usage.reported();
            let (cost, _) = pricer.cost(tokens, cost.filter(|c| *c > 0.0));
            if let Some(why) = budget::during(caps, before, tokens, cost) {
                return Some((Outcome::OverBudget, why));
            }
            let (cap, mine) = task?;
            let task_caps = Caps {
                cost: Some(cap),
                tokens: None,
            };
            budget::during(task_caps, mine, tokens, cost)
                .map(|why| (Outcome::OverTaskBudget, format!("the task's {why}")))
        }
    }

    /// Whether the caps in force can be enforced with what the backend reports; the refusal
    /// when not (unless `--force`).
    pub(super) fn budget_enforceable(&mut self) -> std::result::Result<(), String> {
        let backend = self.options.backend;
        let reports_cost = matches!(backend, BackendName::Claude | BackendName::Opencode);
        let reports_tokens = self.reports_tokens();
        let mut problems = Vec::new();
        if self.options.max_cost_usd.is_some() && !reports_cost && self.price().is_none() {
            problems.push(format!(
                "{} reports no cost, so a cost cap cannot be enforced (set [pricing] to estimate it from tokens{})",
                backend.as_str(),
                if reports_tokens { "" } else { ", though this backend reports no tokens either" }
            ));
        }
        if self.options.max_tokens.is_some() && !reports_tokens {
            problems.push(format!(
                "{} reports no tokens, so a token cap cannot be enforced",
                backend.as_str()
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let text = problems.join("; ");
        if self.options.force {
            self.note(Level::Warn, format!("{text}; running anyway (--force)"));
            Ok(())
        } else {
            Err(format!(
                "{text}\nhint: pass --force to run without the cap being enforced"
            ))
        }
    }

    /// Tells what the runs this one resumes had spent, which counts against its budget.
    pub(super) fn tell_carried(&mut self, carried: Spent) {
        if self.options.max_cost_usd.is_none() && self.options.max_tokens.is_none() {
            return;
        }
        self.note(
            Level::Info,
            format!(
                "this run resumes an interrupted night that had already spent {}; that counts \
                 against the budget",
                carried.told()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(run: &str, event: Event) -> Entry {
        Entry {
            seq: 0,
            time: String::new(),
            run_id: run.into(),
            worker: None,
            event,
        }
    }

    fn started(run: &str, dry_run: bool, carried: Option<Spending>) -> Entry {
        entry(
            run,
            Event::RunStarted {
                backend: "claude".into(),
                version: None,
                max_tasks: 1,
                max_attempts: 1,
                dry_run,
                carried,
                in_flight: None,
            },
        )
    }

    fn spent(run: &str, cost: f64) -> Entry {
        entry(
            run,
            Event::Spent {
                purpose: "attempt".into(),
                tokens: None,
                cost_usd: Some(cost),
                estimated: false,
                total: Spending {
                    cost_usd: cost,
                    costed_calls: 1,
                    ..Spending::default()
                },
            },
        )
    }

    fn ended(run: &str, end: RunEnd) -> Entry {
        entry(
            run,
            Event::RunFinished {
                end,
                message: String::new(),
                attempted: 0,
                completed: 0,
                blocked: 0,
                summary: Default::default(),
            },
        )
    }

    fn cost(entries: &[Entry]) -> Option<f64> {
        carried(entries).map(|s| s.cost_usd)
    }

    #[test]
    fn a_night_carries_over_until_a_run_ends_it() {
        let a = Spending {
            cost_usd: 2.0,
            costed_calls: 1,
            ..Spending::default()
        };
        let cases: Vec<(&str, Vec<Entry>, Option<f64>)> = vec![
            ("an empty journal", vec![], None),
            (
                "killed",
                vec![started("a", false, None), spent("a", 1.5)],
                Some(1.5),
            ),
            (
                "stopped by a signal",
                vec![
                    started("a", false, None),
                    spent("a", 1.5),
                    ended("a", RunEnd::Interrupted),
                ],
                Some(1.5),
            ),
            (
                "halted on its environment",
                vec![
                    started("a", false, None),
                    spent("a", 1.5),
                    ended("a", RunEnd::EnvError),
                ],
                Some(1.5),
            ),
            (
                "finished",
                vec![
                    started("a", false, None),
                    spent("a", 1.5),
                    ended("a", RunEnd::Completed),
                ],
                None,
            ),
            (
                "stopped by its budget",
                vec![
                    started("a", false, None),
                    spent("a", 1.5),
                    ended("a", RunEnd::Budget),
                ],
                None,
            ),
            (
                "a resumed run killed before its first call keeps what it carried",
                vec![started("b", false, Some(a))],
                Some(2.0),
            ),
            (
                "a dry run in between changes nothing",
                vec![
                    started("a", false, None),
                    spent("a", 1.5),
                    ended("a", RunEnd::Interrupted),
                    started("d", true, None),
                    ended("d", RunEnd::Completed),
                ],
                Some(1.5),
            ),
        ];
        for (name, entries, want) in cases {
            assert_eq!(cost(&entries), want, "{name}");
        }
    }
}
