//! Budgets: the most a night (`run.max_cost_usd`, `--max-cost`; `run.max_tokens`,
//! `--max-tokens`) or one task (`max_cost_usd` on the task) may spend, over every agent call,
//! one-shot calls included. Before each call the spend so far is judged: the run stops when the
//! cap is reached or when the next call would likely pass it (judged from the average call so
//! far), and warns once at 80%. While a call runs, what it has streamed is judged too, and the
//! call is stopped when it reaches the cap ([`during`]). How a call's cost is known when its
//! CLI does not say it is [`Pricer`]'s. All of it is pure; the runner checks and stops.

use crate::backend::Usage;
use crate::config::model::Price;
use crate::journal::event::Spending;

/// What has been spent.
pub(super) type Spent = Spending;

impl Spending {
    /// What one call adds: its tokens and its cost, each when known.
    pub(crate) fn add(&mut self, tokens: Option<Usage>, cost: Option<f64>) {
        if let Some(t) = tokens {
            self.tokens += t.input + t.output;
            self.token_calls += 1;
        }
        if let Some(c) = cost {
            self.cost_usd += c;
            self.costed_calls += 1;
        }
    }

    /// The average call: its tokens and its cost, when any call reported them.
    pub(super) fn average(self) -> (Option<u64>, Option<f64>) {
        (
            (self.token_calls > 0).then(|| self.tokens / u64::from(self.token_calls)),
            (self.costed_calls > 0).then(|| self.cost_usd / f64::from(self.costed_calls)),
        )
    }
}

/// The caps in force (`None`: no cap).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Caps {
    pub cost: Option<f64>,
    pub tokens: Option<u64>,
}

/// What to do before the next call: say the 80% warning (once), and whether to stop.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Verdict {
    pub warn: Option<String>,
    pub stop: Option<String>,
}

fn money(v: f64) -> String {
    format!("${v:.2}")
}

/// The verdict before the next call, given what is spent; `warned` once the 80% warning was
/// given.
pub(super) fn check(caps: Caps, spent: Spent, warned: bool) -> Verdict {
    let mut verdict = Verdict::default();
    let (average_tokens, average_cost) = spent.average();
    if let Some(cap) = caps.cost {
        let average = average_cost.unwrap_or(0.0);
        if spent.cost_usd >= cap {
            verdict.stop = Some(format!(
                "budget of {} reached ({} spent)",
                money(cap),
                money(spent.cost_usd)
            ));
        } else if spent.cost_usd + average > cap {
            verdict.stop = Some(format!(
                "budget of {} reached ({} spent; the next call would likely pass it, at about {} a call)",
                money(cap),
                money(spent.cost_usd),
                money(average)
            ));
        }
        // Past the cap the stop says it all; 80% is a warning only below it.
        if !warned && spent.cost_usd >= 0.8 * cap && spent.cost_usd < cap {
            verdict.warn = Some(format!(
                "80% of the budget is spent: {} of {}",
                money(spent.cost_usd),
                money(cap)
            ));
        }
    }
    if let Some(cap) = caps.tokens {
        let average = average_tokens.unwrap_or(0);
        if verdict.stop.is_none() && spent.tokens >= cap {
            verdict.stop = Some(format!(
                "token budget of {cap} reached ({} used)",
                spent.tokens
            ));
        } else if verdict.stop.is_none() && spent.tokens + average > cap {
            verdict.stop = Some(format!(
                "token budget of {cap} reached ({} used; the next call would likely pass it, at \
                 about {average} a call)",
                spent.tokens
            ));
        }
        if !warned
            && verdict.warn.is_none()
            && spent.tokens as f64 >= 0.8 * cap as f64
            && spent.tokens < cap
        {
            verdict.warn = Some(format!(
                "80% of the token budget is used: {} of {cap}",
                spent.tokens
            ));
        }
    }
    verdict
}

/// Whether a call that is running must be stopped now: what was spent before it, plus what it
/// has streamed so far (its tokens, and its cost when known), reaches a cap.
pub(super) fn during(
    caps: Caps,
    before: Spent,
    tokens: Option<Usage>,
    cost: Option<f64>,
) -> Option<String> {
    if let (Some(cap), Some(cost)) = (caps.cost, cost) {
        let total = before.cost_usd + cost;
        if total >= cap {
            return Some(format!(
                "budget of {} reached ({} spent, {} of it by this call)",
                money(cap),
                money(total),
                money(cost)
            ));
        }
    }
    if let (Some(cap), Some(t)) = (caps.tokens, tokens) {
        let total = before.tokens + t.input + t.output;
        if total >= cap {
            return Some(format!(
                "token budget of {cap} reached ({total} used, {} of them by this call)",
                t.input + t.output
            ));
        }
    }
    None
}

/// How the cost of a call is known when its CLI does not report one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Pricer {
    /// `[pricing]` for the backend's model.
    price: Option<Price>,
    /// What this night's calls that reported both their cost and their tokens cost, and the
    /// tokens billed for it: their rate prices claude's calls cut short at claude's own rate.
    priced_cost: f64,
    priced_tokens: u64,
}

fn billed(t: Usage) -> u64 {
    t.input + t.cache_write + t.output
}

impl Pricer {
    /// A pricer that knows `[pricing]`'s price for the model, if any, and has learned nothing.
    pub(super) fn new(price: Option<Price>) -> Pricer {
        Pricer {
            price,
            ..Pricer::default()
        }
    }

    /// A call's cost: as reported, else estimated from its tokens; whether it is an estimate.
    pub(super) fn cost(&self, tokens: Option<Usage>, reported: Option<f64>) -> (Option<f64>, bool) {
        if reported.is_some() {
            return (reported, false);
        }
        let Some(t) = tokens else {
            return (None, false);
        };
        if let Some(p) = self.price {
            let cost =
                (t.input + t.cache_write) as f64 * p.input / 1e6 + t.output as f64 * p.output / 1e6;
            return (Some(cost), true);
        }
        if self.priced_tokens == 0 {
            return (None, false);
        }
        let rate = self.priced_cost / self.priced_tokens as f64;
        (Some(billed(t) as f64 * rate), true)
    }

    /// Learns from a call that reported both its cost and its tokens.
    pub(super) fn learn(&mut self, tokens: Option<Usage>, cost: f64) {
        if let Some(t) = tokens {
            self.priced_cost += cost;
            self.priced_tokens += billed(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(cost: f64, calls: u32) -> Spent {
        Spent {
            cost_usd: cost,
            costed_calls: calls,
            ..Spent::default()
        }
    }

    #[test]
    fn caps_stop_before_the_call_that_would_pass_them() {
        let five = Caps {
            cost: Some(5.0),
            tokens: None,
        };
        let go = Verdict::default();
        let warn = |w: &str| Verdict {
            warn: Some(w.into()),
            stop: None,
        };
        let stop = |s: &str| Verdict {
            warn: None,
            stop: Some(s.into()),
        };
        let table = [
            (spent(0.0, 0), false, go.clone()),
            (spent(1.0, 2), false, go.clone()),
            (spent(4.0, 4), false, warn("80% of the budget is spent: $4.00 of $5.00")),
            (spent(4.0, 4), true, go.clone()),
            (
                spent(4.5, 3),
                true,
                stop("budget of $5.00 reached ($4.50 spent; the next call would likely pass it, at about $1.50 a call)"),
            ),
            (spent(5.0, 5), true, stop("budget of $5.00 reached ($5.00 spent)")),
            // Past the cap there is no "80%" warning: the stop says it.
            (spent(7.0, 1), false, stop("budget of $5.00 reached ($7.00 spent)")),
            (
                spent(4.5, 3),
                false,
                Verdict {
                    warn: Some("80% of the budget is spent: $4.50 of $5.00".into()),
                    stop: Some("budget of $5.00 reached ($4.50 spent; the next call would likely pass it, at about $1.50 a call)".into()),
                },
            ),
        ];
        for (s, warned, verdict) in table {
            assert_eq!(check(five, s, warned), verdict, "{s:?}");
        }
        let tokens = Caps {
            cost: None,
            tokens: Some(1000),
        };
        let used = |tokens, calls| Spent {
            tokens,
            token_calls: calls,
            ..Spent::default()
        };
        assert_eq!(check(tokens, used(300, 1), false), Verdict::default());
        assert!(
            check(tokens, used(600, 2), true).stop.is_none(),
            "600 + 300 stays under 1000"
        );
        assert!(
            check(tokens, used(800, 2), true).stop.is_some(),
            "800 + 400 would pass 1000"
        );
        assert_eq!(
            check(Caps::default(), spent(1e9, 1), false),
            Verdict::default()
        );
    }

    #[test]
    fn a_running_call_stops_when_its_stream_reaches_the_cap() {
        let caps = Caps {
            cost: Some(1.0),
            tokens: Some(10_000),
        };
        let before = Spent {
            cost_usd: 0.6,
            tokens: 4_000,
            costed_calls: 1,
            token_calls: 1,
        };
        let t = |input, output| {
            Some(Usage {
                input,
                output,
                ..Usage::default()
            })
        };
        assert_eq!(during(caps, before, t(1000, 10), Some(0.2)), None);
        assert_eq!(
            during(caps, before, t(1000, 10), Some(0.4)).as_deref(),
            Some("budget of $1.00 reached ($1.00 spent, $0.40 of it by this call)")
        );
        assert_eq!(
            during(caps, before, t(5990, 10), None).as_deref(),
            Some("token budget of 10000 reached (10000 used, 6000 of them by this call)")
        );
        // Nothing streamed yet, or no cap: go on.
        assert_eq!(during(caps, before, None, None), None);
        assert_eq!(
            during(Caps::default(), before, t(1e9 as u64, 0), Some(1e9)),
            None
        );
    }

    #[test]
    fn a_cost_is_reported_priced_or_learned_in_that_order() {
        let t = Some(Usage {
            input: 1_000_000,
            output: 100_000,
            cache_write: 0,
            ..Usage::default()
        });
        let nothing = Pricer::default();
        assert_eq!(nothing.cost(t, Some(0.5)), (Some(0.5), false));
        assert_eq!(nothing.cost(t, None), (None, false));
        assert_eq!(nothing.cost(None, None), (None, false));
        let mut priced = Pricer::new(Some(Price {
            input: 3.0,
            output: 15.0,
        }));
        priced.learn(t, 1000.0);
        assert_eq!(
            priced.cost(t, None),
            (Some(4.5), true),
            "[pricing] comes first"
        );
        let mut learned = Pricer::default();
        learned.learn(t, 11.0);
        let (cost, estimated) = learned.cost(
            Some(Usage {
                input: 550_000,
                ..Usage::default()
            }),
            None,
        );
        assert!(estimated);
        assert!((cost.unwrap() - 5.5).abs() < 1e-9, "{cost:?}");
    }
}
