//! Decision quality of the experiment keep/discard policy under a seeded noisy metric: how often
//! a candidate that changed nothing is kept (false keeps), and how often a true improvement is
//! kept (power). Run by `bench/experiment.sh`; prints one table row per policy and noise model.
//!
//! Each trial measures a baseline and a candidate, each with `repeats` samples of
//! `true value × (1 + noise)`, and asks `autodev::experiment::decide` whether to keep it.

use autodev::experiment::{Action, Policy, Series, decide};

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
}

impl Noise {
    fn sample(self, rng: &mut Rng, truth: f64) -> f64 {
        match self {
            Noise::Uniform(level) => truth * (1.0 + level * (2.0 * rng.unit() - 1.0)),
            Noise::Normal(level) => truth * (1.0 + level * rng.normal()),
        }
    }

    fn label(self) -> String {
        match self {
            Noise::Uniform(l) => format!("uniform ±{:.0}%", l * 100.0),
            Noise::Normal(l) => format!("normal σ={:.0}%", l * 100.0),
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
}
