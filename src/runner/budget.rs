//! Budgets: the most a run (`run.max_cost_usd`, `--max-cost`; `run.max_tokens`, `--max-tokens`)
//! or one task (`max_cost_usd` on the task) may spend, over every agent call, one-shot calls
//! included. Before each call the spend so far is judged: the run stops when the cap is reached
//! or when the next call would likely pass it (judged from the average call so far), and warns
//! once at 80%. The verdict is pure; the runner checks it and stops cleanly.

/// What has been spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Spent {
    /// USD, reported or estimated.
    pub cost: f64,
    pub tokens: u64,
    /// Calls that reported (or allowed an estimate of) a cost.
    pub costed_calls: u32,
    /// Calls that reported tokens.
    pub token_calls: u32,
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
    if let Some(cap) = caps.cost {
        let average = if spent.costed_calls > 0 {
            spent.cost / f64::from(spent.costed_calls)
        } else {
            0.0
        };
        if spent.cost >= cap {
            verdict.stop = Some(format!(
                "budget of {} reached ({} spent)",
                money(cap),
                money(spent.cost)
            ));
        } else if spent.cost + average > cap {
            verdict.stop = Some(format!(
                "budget of {} reached ({} spent; the next call would likely pass it, at about {} a call)",
                money(cap),
                money(spent.cost),
                money(average)
            ));
        }
        if !warned && spent.cost >= 0.8 * cap {
            verdict.warn = Some(format!(
                "80% of the budget is spent: {} of {}",
                money(spent.cost),
                money(cap)
            ));
        }
    }
    if let Some(cap) = caps.tokens {
        let average = if spent.token_calls > 0 {
            spent.tokens / u64::from(spent.token_calls)
        } else {
            0
        };
        if verdict.stop.is_none() && (spent.tokens >= cap || spent.tokens + average > cap) {
            verdict.stop = Some(format!(
                "token budget of {cap} reached ({} used)",
                spent.tokens
            ));
        }
        if !warned && verdict.warn.is_none() && spent.tokens as f64 >= 0.8 * cap as f64 {
            verdict.warn = Some(format!(
                "80% of the token budget is used: {} of {cap}",
                spent.tokens
            ));
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(cost: f64, calls: u32) -> Spent {
        Spent {
            cost,
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
}
