//! Decision quality of the experiment keep/discard policy under a seeded noisy metric: how often
//! a candidate that changed nothing is kept (false keeps), and how often a true improvement is
//! kept (power). Run by `bench/experiment.sh`; prints one table row per policy and noise model.
//!
//! Each trial measures a baseline and a candidate, each with `repeats` samples of
//! `true value × (1 + noise)`, and asks `autodev::experiment::decide` whether to keep it.
//!
//! The second table adds a drifting machine: every sample is also scaled by a drift that moves
//! with time (a linear trend, or a step at a random moment). Measured one series after the other
//! (the reference, then the candidate), the later series rides the drift; measured interleaved
//! (pairs in ABBA order, judged by `decide_pairs`), the drift cancels.

use autodev::experiment::stats::{Arm, Look, Sequential, look, order};
use autodev::experiment::{Action, Policy, Series, decide, decide_pairs};

/// SplitMix64: small, seeded, good enough for simulation.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Clone, Copy)]
enum Noise {
    /// Each sample within ±level of the true value, uniformly.
    Uniform(f64),
    /// Normal with a standard deviation of level × the true value.
    Normal(f64),
    /// Skewed like real timings: an exponential tail of slow samples with the same standard
    /// deviation (level × the true value) and a mean of zero.
    Skewed(f64),
}

impl Noise {
    fn sample(self, rng: &mut Rng, truth: f64) -> f64 {
        match self {
            Noise::Uniform(level) => truth * (1.0 + level * (2.0 * rng.unit() - 1.0)),
            Noise::Normal(level) => truth * (1.0 + level * rng.normal()),
            Noise::Skewed(level) => {
                let tail = -(1.0 - rng.unit()).ln();
                truth * (1.0 + level * (tail - 1.0))
            }
        }
    }

    fn label(self) -> String {
        match self {
            Noise::Uniform(l) => format!("uniform ±{:.0}%", l * 100.0),
            Noise::Normal(l) => format!("normal σ={:.0}%", l * 100.0),
            Noise::Skewed(l) => format!("skewed σ={:.0}%", l * 100.0),
        }
    }
}

fn series(rng: &mut Rng, noise: Noise, truth: f64, repeats: usize) -> Series {
    Series::new((0..repeats).map(|_| noise.sample(rng, truth)).collect())
}

/// The share of trials in which a candidate at `candidate_truth` is kept.
fn keep_rate(
    policy: &Policy,
    noise: Noise,
    repeats: usize,
    candidate_truth: f64,
    seed: u64,
) -> f64 {
    const TRIALS: u32 = 20_000;
    let mut rng = Rng(seed);
    let mut kept = 0;
    for _ in 0..TRIALS {
        let reference = series(&mut rng, noise, 100.0, repeats);
        let candidate = series(&mut rng, noise, candidate_truth, repeats);
        if decide(policy, &reference, Ok(&candidate)).action == Action::Keep {
            kept += 1;
        }
    }
    f64::from(kept) / f64::from(TRIALS)
}

/// How the machine drifts over the samples of one comparison.
#[derive(Clone, Copy)]
enum Drift {
    /// Each sample `rate` faster than the one before (0.003: 0.3% per sample).
    Linear(f64),
    /// At a random moment the machine gets `size` faster and stays so.
    Step(f64),
}

impl Drift {
    /// The factors of the `samples` samples of one trial, in time order.
    fn factors(self, rng: &mut Rng, samples: usize) -> Vec<f64> {
        match self {
            Drift::Linear(rate) => (0..samples).map(|t| 1.0 - rate * t as f64).collect(),
            Drift::Step(size) => {
                let at = (rng.unit() * samples as f64) as usize;
                (0..samples)
                    .map(|t| if t >= at { 1.0 - size } else { 1.0 })
                    .collect()
            }
        }
    }

    fn label(self) -> String {
        match self {
            Drift::Linear(r) => format!("linear {:.1}%/sample", r * 100.0),
            Drift::Step(s) => format!("step {:.0}%", s * 100.0),
        }
    }
}

/// Keep rates on a drifting machine, measured sequentially and interleaved: a candidate at
/// `candidate_truth` against a reference at 100.
fn drift_rates(
    policy: &Policy,
    noise: Noise,
    drift: Drift,
    repeats: usize,
    candidate_truth: f64,
    seed: u64,
) -> (f64, f64) {
    const TRIALS: u32 = 20_000;
    let mut rng = Rng(seed);
    let (mut sequential, mut interleaved) = (0, 0);
    for _ in 0..TRIALS {
        // One series after the other: the reference first, then the candidate.
        let factors = drift.factors(&mut rng, 2 * repeats);
        let (r, c): (Vec<f64>, Vec<f64>) = (
            factors[..repeats]
                .iter()
                .map(|f| f * noise.sample(&mut rng, 100.0))
                .collect(),
            factors[repeats..]
                .iter()
                .map(|f| f * noise.sample(&mut rng, candidate_truth))
                .collect(),
        );
        if decide(policy, &Series::new(r), Ok(&Series::new(c))).action == Action::Keep {
            sequential += 1;
        }
        // Interleaved pairs over the same span of time.
        let factors = drift.factors(&mut rng, 2 * repeats);
        let (mut r, mut c) = (Vec::new(), Vec::new());
        for (arm, f) in order(repeats).into_iter().zip(factors) {
            match arm {
                Arm::Reference => r.push(f * noise.sample(&mut rng, 100.0)),
                Arm::Candidate => c.push(f * noise.sample(&mut rng, candidate_truth)),
            }
        }
        let (r, c) = (Series::new(r), Series::new(c));
        if decide_pairs(policy, Ok((&r, &c)), None).action == Action::Keep {
            interleaved += 1;
        }
    }
    let rate = |n: u32| f64::from(n) / f64::from(TRIALS);
    (rate(sequential), rate(interleaved))
}

/// Sequential interleaved measurement: pairs taken one at a time in ABBA order until
/// [`look`] stops; the keep rate of a candidate at `candidate_truth` and the mean pairs taken.
fn sequential_rates(
    plan: Sequential,
    noise: Noise,
    drift: Drift,
    candidate_truth: f64,
    seed: u64,
) -> (f64, f64) {
    const TRIALS: u32 = 20_000;
    let mut rng = Rng(seed);
    let (mut kept, mut pairs) = (0u32, 0usize);
    for _ in 0..TRIALS {
        let factors = drift.factors(&mut rng, 2 * plan.max);
        let arms = order(plan.max);
        let mut gains = Vec::new();
        for k in 0..plan.max {
            let mut pair = [0.0; 2];
            for i in [2 * k, 2 * k + 1] {
                let truth = match arms[i] {
                    Arm::Reference => 100.0,
                    Arm::Candidate => candidate_truth,
                };
                let value = factors[i] * noise.sample(&mut rng, truth);
                pair[usize::from(arms[i] == Arm::Candidate)] = value;
            }
            // Lower is better: the gain is the reference minus the candidate.
            gains.push(pair[0] - pair[1]);
            match look(&gains, plan) {
                Look::More => continue,
                Look::Keep => kept += 1,
                Look::Stop => {}
            }
            break;
        }
        pairs += gains.len();
    }
    (
        f64::from(kept) / f64::from(TRIALS),
        pairs as f64 / f64::from(TRIALS),
    )
}

fn main() {
    let policy = Policy {
        name: "latency_ms".into(),
        lower_is_better: true,
        min_improvement: 0.0,
        unchanged_tolerance: 0.0,
        target: None,
        keep_on_equal: false,
        rollback_on_failure: true,
        alpha: autodev::experiment::decide::ALPHA,
    };
    println!(
        "synthetic metric latency_ms: true baseline 100, lower is better; 20,000 seeded trials per cell"
    );
    println!(
        "policy: keep when the median is better and a one-sided rank test is sure at {:.0}%",
        100.0 * (1.0 - policy.alpha)
    );
    println!("        (repeats = 1 is the single-sample policy: any better number is kept)");
    println!();
    println!(
        "{:<15} {:>7}  {:>12}  {:>15}  {:>14}",
        "noise", "repeats", "false keeps", "10% gains kept", "5% gains kept"
    );
    for noise in [Noise::Uniform(0.05), Noise::Normal(0.05)] {
        for repeats in [1usize, 3, 5, 9] {
            let rate = |truth: f64, seed: u64| {
                format!(
                    "{:.1}%",
                    100.0 * keep_rate(&policy, noise, repeats, truth, seed)
                )
            };
            println!(
                "{:<15} {:>7}  {:>12}  {:>15}  {:>14}",
                noise.label(),
                repeats,
                rate(100.0, 7),
                rate(90.0, 11),
                rate(95.0, 13),
            );
        }
    }
    println!();
    println!(
        "on a drifting machine (the benchmark speeds up as it runs), 1% noise; sequential measures"
    );
    println!(
        "the reference's series, then the candidate's; interleaved measures them in ABBA pairs"
    );
    println!(
        "goal at repeats = 5, linear 0.3%/sample drift: ≤ 5% false keeps, ≥ 90% of 5% gains kept"
    );
    println!();
    println!(
        "{:<20} {:<15} {:>7}  {:>18}  {:>18}",
        "drift", "noise", "repeats", "false keeps s / i", "5% gains kept s / i"
    );
    for drift in [Drift::Linear(0.003), Drift::Step(0.02)] {
        for noise in [Noise::Normal(0.01), Noise::Skewed(0.01)] {
            for repeats in [3usize, 5, 9] {
                let pair = |truth: f64, seed: u64| {
                    let (s, i) = drift_rates(&policy, noise, drift, repeats, truth, seed);
                    format!("{:.1}% / {:.1}%", 100.0 * s, 100.0 * i)
                };
                println!(
                    "{:<20} {:<15} {:>7}  {:>18}  {:>18}",
                    drift.label(),
                    noise.label(),
                    repeats,
                    pair(100.0, 17),
                    pair(95.0, 19),
                );
            }
        }
    }
    println!();
    println!(
        "sequential interleaved pairs (one at a time until the evidence is clear, 1% false keeps \
         allowed over every look); goal under linear 0.3%/sample drift and 1% noise: <= 1% false \
         keeps, >= 90% of 5% gains kept, <= 5 pairs on average"
    );
    println!();
    println!(
        "{:<20} {:<15} {:>9}  {:>12}  {:>14}  {:>18}",
        "drift", "noise", "pairs", "false keeps", "5% gains kept", "mean pairs 0 / 5%"
    );
    for drift in [Drift::Linear(0.003), Drift::Step(0.02)] {
        for noise in [Noise::Normal(0.01), Noise::Skewed(0.01)] {
            for (min, max) in [(3usize, 6usize), (3, 8)] {
                let plan = Sequential {
                    min,
                    max,
                    alpha: 0.01,
                };
                let (false_keeps, none_pairs) = sequential_rates(plan, noise, drift, 100.0, 23);
                let (kept, gain_pairs) = sequential_rates(plan, noise, drift, 95.0, 29);
                println!(
                    "{:<20} {:<15} {:>9}  {:>11.1}%  {:>13.1}%  {:>8.1} / {:.1}",
                    drift.label(),
                    noise.label(),
                    format!("{min} to {max}"),
                    100.0 * false_keeps,
                    100.0 * kept,
                    none_pairs,
                    gain_pairs
                );
            }
        }
    }
}
