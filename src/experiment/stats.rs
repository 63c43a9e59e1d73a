//! The numbers behind a measurement: a series of samples, its median, and whether two series
//! differ by more than noise.
//!
//! Noise is judged with the Mann–Whitney rank test, exact for the small series experiments take:
//! it assumes nothing about the shape of the noise (benchmarks are rarely normal: they have slow
//! outliers), and under "no change" it keeps a candidate at most `alpha` of the time whatever the
//! noise. Its companion, the Hodges–Lehmann lower confidence bound, says how large a gain the
//! samples guarantee.
//!
//! Interleaved measurements come in pairs (the reference and the candidate measured next to each
//! other, see [`order`]) and are judged by [`compare_pairs`], a one-sided paired t-test on the
//! pair differences. When nothing changed, the two samples of a pair come from the same
//! distribution, so their difference is symmetric about zero however skewed the noise is; that
//! symmetry is what the t-test needs to hold its false-keep rate, and unlike a sign or
//! signed-rank test it can reach 95% with three pairs (those cannot go below 1/8).

/// The samples of one measurement, in the order they were taken.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub samples: Vec<f64>,
}

impl Series {
    pub fn new(samples: Vec<f64>) -> Series {
        Series { samples }
    }

    /// The measurement's value: the median of its samples (0 for an empty series).
    pub fn value(&self) -> f64 {
        median(&self.samples).unwrap_or(0.0)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The median of `values`; `None` when there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// How two series compare beyond noise, in the direction where larger gains are positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Chance of a gain at least this clear if the change did nothing (one-sided).
    pub p_better: f64,
    /// The same for a loss at least this clear.
    pub p_worse: f64,
    /// The gain the samples guarantee with confidence `1 - alpha` (`None`: too few samples
    /// for that confidence).
    pub lower_bound: Option<f64>,
    /// The loss the samples guarantee with that confidence, as a positive number.
    pub loss_bound: Option<f64>,
}

/// Compares `gain`-oriented samples: `before` (the reference) and `after` (the candidate), each
/// already turned so that larger is better. `None` when either has fewer than two samples:
/// nothing can then be said about noise.
pub fn compare(before: &[f64], after: &[f64], alpha: f64) -> Option<Comparison> {
    let (m, n) = (before.len(), after.len());
    if m < 2 || n < 2 {
        return None;
    }
    let mut differences: Vec<f64> = after
        .iter()
        .flat_map(|b| before.iter().map(move |a| b - a))
        .collect();
    differences.sort_by(f64::total_cmp);
    // U counts the pairs where the candidate is better; ties count half.
    let twice_u: usize = differences
        .iter()
        .map(|d| match d.partial_cmp(&0.0) {
            Some(std::cmp::Ordering::Greater) => 2,
            Some(std::cmp::Ordering::Equal) => 1,
            _ => 0,
        })
        .sum();
    let null = RankSum::new(m, n);
    let pairs = m * n;
    // Half-integer U (ties) is rounded towards "not significant".
    let p_better = null.at_least(twice_u / 2);
    let p_worse = null.at_least(pairs - twice_u.div_ceil(2));
    // The smallest count c with P(U >= c) <= alpha: the c-th largest difference bounds the gain.
    let critical = (0..=pairs).find(|c| null.at_least(*c) <= alpha);
    let lower_bound = critical.filter(|c| *c >= 1).map(|c| differences[pairs - c]);
    let loss_bound = critical.filter(|c| *c >= 1).map(|c| -differences[c - 1]);
    Some(Comparison {
        p_better,
        p_worse,
        lower_bound,
        loss_bound,
    })
}

/// The exact null distribution of the Mann–Whitney U statistic for group sizes `m` and `n`
/// (every arrangement of the ranks equally likely), with a normal approximation for large groups.
struct RankSum {
    /// `tail[u]` = P(U >= u); empty when the normal approximation is used.
    tail: Vec<f64>,
    m: usize,
    n: usize,
}

/// Above this many pairs the exact table gives way to the normal approximation.
const EXACT_PAIRS: usize = 2500;

impl RankSum {
    fn new(m: usize, n: usize) -> RankSum {
        let pairs = m * n;
        if pairs > EXACT_PAIRS {
            return RankSum {
                tail: Vec::new(),
                m,
                n,
            };
        }
        // counts[j][u]: arrangements of i candidates among j references with U = u, built up
        // one candidate at a time (the frequencies of the Mann–Whitney distribution).
        let mut counts: Vec<Vec<f64>> = (0..=m)
            .map(|_| {
                let mut row = vec![0.0; pairs + 1];
                row[0] = 1.0;
                row
            })
            .collect();
        for _i in 1..=n {
            let mut next = vec![vec![0.0; pairs + 1]; m + 1];
            for j in 0..=m {
                for u in 0..=pairs {
                    // The largest of the pooled values is either a candidate (beating all j
                    // references) or a reference.
                    let mut ways = if u >= j { counts[j][u - j] } else { 0.0 };
                    if j > 0 {
                        ways += next[j - 1][u];
                    }
                    next[j][u] = ways;
                }
            }
            counts = next;
        }
        let freq = &counts[m];
        let total: f64 = freq.iter().sum();
        let mut tail = vec![0.0; pairs + 2];
        for u in (0..=pairs).rev() {
            tail[u] = tail[u + 1] + freq[u] / total;
        }
        RankSum { tail, m, n }
    }

    /// P(U >= u) when nothing changed.
    fn at_least(&self, u: usize) -> f64 {
        if !self.tail.is_empty() {
            return self.tail.get(u).copied().unwrap_or(0.0);
        }
        let (m, n) = (self.m as f64, self.n as f64);
        let mean = m * n / 2.0;
        let sd = (m * n * (m + n + 1.0) / 12.0).sqrt();
        // Continuity correction.
        1.0 - normal_cdf((u as f64 - 0.5 - mean) / sd)
    }
}

/// Which tree a sample of an interleaved measurement is taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// The reference: the last kept commit (`A` in a recorded order).
    Reference,
    /// The candidate (`B`).
    Candidate,
}

impl Arm {
    pub fn letter(self) -> char {
        match self {
            Arm::Reference => 'A',
            Arm::Candidate => 'B',
        }
    }
}

/// The order of `pairs` interleaved pairs: A B, B A, A B, B A, … (ABBA blocks). Within a block
/// both arms sit at the same mean time, so a drift linear in time adds as much to one arm as to
/// the other; between pairs the sign of its effect alternates, so the mean pair difference
/// carries at most one step of drift divided by the number of pairs.
pub fn order(pairs: usize) -> Vec<Arm> {
    (0..pairs)
        .flat_map(|k| {
            if k % 2 == 0 {
                [Arm::Reference, Arm::Candidate]
            } else {
                [Arm::Candidate, Arm::Reference]
            }
        })
        .collect()
}

/// What a paired comparison found, in the direction where larger gains are positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// The mean pair difference (candidate minus reference).
    pub mean: f64,
    /// The standard deviation of the pair differences.
    pub sd: f64,
    pub comparison: Comparison,
}

/// The weight of each of `pairs` pairs taken in [`order`]: 1, except that with an odd count the
/// first and the last pair weigh one half. A drift linear in time adds its step to an AB pair's
/// difference and takes it from a BA pair's; with an odd count there is one AB pair more, and
/// halving the two end pairs (both AB) balances them, so the weighted mean carries no linear
/// drift at all.
pub fn pair_weights(pairs: usize) -> Vec<f64> {
    let mut weights = vec![1.0; pairs];
    if pairs % 2 == 1 && pairs > 1 {
        weights[0] = 0.5;
        weights[pairs - 1] = 0.5;
    }
    weights
}

/// How much less a mean over `pairs` pair differences, weighted as [`pair_weights`] says, varies
/// than one difference: its standard error is `sd × this`.
fn se_factor(pairs: usize) -> f64 {
    let w = pair_weights(pairs);
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x * x).sum::<f64>().sqrt() / total
}

/// Compares pair differences `gains` (candidate minus reference, turned so that larger is
/// better, in the order they were taken by [`order`]) with a one-sided paired t-test at `alpha`
/// on their drift-balanced weighted mean. `None` with fewer than two pairs.
pub fn compare_pairs(gains: &[f64], alpha: f64) -> Option<Paired> {
    let n = gains.len();
    if n < 2 {
        return None;
    }
    let weights = pair_weights(n);
    let total: f64 = weights.iter().sum();
    let mean = gains.iter().zip(&weights).map(|(g, w)| g * w).sum::<f64>() / total;
    let plain = gains.iter().sum::<f64>() / n as f64;
    let var = gains.iter().map(|g| (g - plain).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let df = (n - 1) as f64;
    let se = sd * se_factor(n);
    let scale = mean.abs().max(1.0);
    let (p_better, p_worse) = if se <= scale * 1e-12 {
        // No spread at all (a deterministic metric): the sign of the difference is certain.
        match mean.partial_cmp(&0.0) {
            Some(std::cmp::Ordering::Greater) => (0.0, 1.0),
            Some(std::cmp::Ordering::Less) => (1.0, 0.0),
            _ => (1.0, 1.0),
        }
    } else {
        let t = mean / se;
        (t_upper(t, df), t_upper(-t, df))
    };
    let margin = t_critical(alpha, df) * se;
    Some(Paired {
        mean,
        sd,
        comparison: Comparison {
            p_better,
            p_worse,
            lower_bound: Some(mean - margin),
            loss_bound: Some(-mean - margin),
        },
    })
}

/// The plan of a sequential paired measurement: at least `min` pairs, at most `max`, and the
/// chance of keeping a change that did nothing, over every look, at most `alpha`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sequential {
    pub min: usize,
    pub max: usize,
    pub alpha: f64,
}

/// What a sequential measurement does after the pairs so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// The gain is clear: stop and keep.
    Keep,
    /// Stop: the gain is not there (it points the wrong way, or the last pair was taken).
    Stop,
    /// Borderline: take another pair.
    More,
}

/// The verdict of a sequential measurement on the pair differences `gains` so far (as
/// [`compare_pairs`] takes them). Each look from `min` to `max` pairs spends an equal share of
/// `alpha` (a Bonferroni split), so the chance of keeping a change that did nothing stays
/// under `alpha` however many looks are taken; a gain that points the wrong way stops at once,
/// so changes that did nothing rarely need more than the first looks.
pub fn look(gains: &[f64], plan: Sequential) -> Look {
    let n = gains.len();
    if n < plan.min.max(2) {
        return Look::More;
    }
    let looks = plan.max.saturating_sub(plan.min) + 1;
    let per_look = plan.alpha / looks as f64;
    let Some(paired) = compare_pairs(gains, per_look) else {
        return Look::More;
    };
    if paired.comparison.p_better <= per_look {
        Look::Keep
    } else if n >= plan.max || paired.mean <= 0.0 {
        Look::Stop
    } else {
        Look::More
    }
}

/// The smallest mean pair difference that `pairs` pairs with spread `sd` can call clear at
/// `alpha`: the noise floor of a measurement (a true gain this large is kept about half the
/// time).
pub fn detectable(sd: f64, pairs: usize, alpha: f64) -> f64 {
    if pairs < 2 {
        return f64::INFINITY;
    }
    t_critical(alpha, (pairs - 1) as f64) * sd * se_factor(pairs)
}

/// The fewest pairs (at least 3, at most `limit`) with which a true gain of `gain` is kept at
/// least 4 times in 5 when pair differences spread by `sd`; `None` when even `limit` is not enough.
pub fn pairs_needed(sd: f64, gain: f64, alpha: f64, limit: usize) -> Option<usize> {
    (3..=limit).find(|&n| {
        let df = (n - 1) as f64;
        (t_critical(alpha, df) + t_critical(0.2, df)) * sd * se_factor(n) <= gain
    })
}

/// P(T >= t) for Student's t distribution with `df` degrees of freedom.
pub fn t_upper(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    if t.is_infinite() {
        return if t > 0.0 { 0.0 } else { 1.0 };
    }
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// The `t` with P(T >= t) = `p` (0 < p < 1), found by bisection.
pub fn t_critical(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (-1e6_f64, 1e6_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_upper(mid, df) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients; about 15 correct digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        sum += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where that converges faster.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..300 {
        let m = m as f64;
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + numerator * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + numerator / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// The standard normal cumulative distribution at `x` (Abramowitz–Stegun 7.1.26 for erf;
/// absolute error below 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequential_look_keeps_a_clear_gain_stops_a_loss_and_asks_for_more_when_unsure() {
        let plan = Sequential {
            min: 3,
            max: 6,
            alpha: 0.01,
        };
        let table: [(&[f64], Look); 6] = [
            // Too few pairs to look at.
            (&[5.0, 5.0], Look::More),
            // Clear: the same gain every pair.
            (&[5.0, 5.1, 4.9], Look::Keep),
            // Pointing the wrong way.
            (&[-1.0, 0.5, -2.0], Look::Stop),
            // A gain, but noisy: not clear at a sixth of 1% yet.
            (&[5.0, -1.0, 6.0], Look::More),
            // Still unsure at the last pair allowed: stop, without keeping.
            (&[5.0, -1.0, 6.0, -2.0, 4.0, 1.0], Look::Stop),
            // Nothing at all changed.
            (&[0.0, 0.0, 0.0], Look::Stop),
        ];
        for (gains, expected) in table {
            assert_eq!(look(gains, plan), expected, "{gains:?}");
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        // One wild sample does not move it.
        assert_eq!(median(&[100.0, 101.0, 99.0, 100.0, 900.0]), Some(100.0));
    }

    #[test]
    fn exact_rank_sum_tails() {
        // 5 against 5: 252 arrangements, one with U = 25, one with U = 24, two with U = 23.
        let d = RankSum::new(5, 5);
        assert!((d.at_least(25) - 1.0 / 252.0).abs() < 1e-12);
        assert!((d.at_least(24) - 2.0 / 252.0).abs() < 1e-12);
        assert!((d.at_least(23) - 4.0 / 252.0).abs() < 1e-12);
        assert!((d.at_least(0) - 1.0).abs() < 1e-12);
        // 3 against 3: only the cleanest split reaches 5%.
        assert!((RankSum::new(3, 3).at_least(9) - 0.05).abs() < 1e-12);
        // Large groups use the normal approximation, centred on mn/2.
        let big = RankSum::new(60, 60);
        assert!((big.at_least(1800) - 0.5).abs() < 0.01);
    }

    #[test]
    fn comparisons() {
        let before = [100.0, 101.0, 99.0, 100.5, 99.5];
        let clear = [90.0, 91.0, 89.0, 90.5, 89.5].map(|v: f64| -v);
        let c = compare(&before.map(|v: f64| -v), &clear, 0.05).unwrap();
        assert!(c.p_better < 0.01, "{c:?}");
        let bound = c.lower_bound.unwrap();
        assert!(bound > 7.0 && bound < 10.0, "{c:?}");
        let same = compare(&before, &before, 0.05).unwrap();
        assert!(same.p_better > 0.4 && same.p_worse > 0.4, "{same:?}");
        assert_eq!(compare(&[1.0], &[2.0], 0.05), None);
        // Two samples each can never be told from noise at 5%.
        let two = compare(&[1.0, 1.1], &[5.0, 5.1], 0.05).unwrap();
        assert_eq!(two.lower_bound, None);
        assert!(two.p_better > 0.05);
        // Identical samples (a deterministic metric) still separate cleanly.
        let flat = compare(&[100.0; 3], &[110.0; 3], 0.05).unwrap();
        assert!(flat.p_better <= 0.05);
        assert_eq!(flat.lower_bound, Some(10.0));
    }

    #[test]
    fn student_t_matches_tables() {
        // One-sided 5% critical values for 2, 4 and 8 degrees of freedom, and 2.5% for 10.
        for (p, df, t) in [
            (0.05, 2.0, 2.919_986),
            (0.05, 4.0, 2.131_847),
            (0.05, 8.0, 1.859_548),
            (0.025, 10.0, 2.228_139),
            (0.2, 4.0, 0.940_965),
        ] {
            let got = t_critical(p, df);
            assert!((got - t).abs() < 1e-5, "t({p}, {df}) = {got}, not {t}");
            assert!((t_upper(t, df) - p).abs() < 1e-6);
        }
        assert!((t_upper(0.0, 3.0) - 0.5).abs() < 1e-12);
        // Many degrees of freedom approach the normal distribution.
        assert!((t_upper(1.96, 10_000.0) - 0.025).abs() < 1e-3);
    }

    #[test]
    fn interleaving_order_is_abba() {
        let letters: String = order(5).iter().map(|a| a.letter()).collect();
        assert_eq!(letters, "ABBAABBAAB");
        assert!(order(0).is_empty());
    }

    #[test]
    fn weighted_pairs_cancel_a_linear_drift() {
        // A drift of 1 per sample in ABBA order: AB pairs gain 1, BA pairs lose 1.
        for n in [3usize, 4, 5, 9] {
            let gains: Vec<f64> = (0..n)
                .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 })
                .collect();
            let p = compare_pairs(&gains, 0.05).unwrap();
            assert!(p.mean.abs() < 1e-12, "{n} pairs: {p:?}");
        }
    }

    #[test]
    fn paired_comparisons() {
        // A clear gain of about 5 with a little spread: the end pairs of five weigh half.
        assert_eq!(pair_weights(5), [0.5, 1.0, 1.0, 1.0, 0.5]);
        assert_eq!(pair_weights(4), [1.0; 4]);
        let gains = [5.2, 4.9, 5.1, 4.8, 5.0];
        let p = compare_pairs(&gains, 0.05).unwrap();
        assert!((p.mean - 4.975).abs() < 1e-9, "{p:?}");
        assert!(p.comparison.p_better < 0.001, "{p:?}");
        let bound = p.comparison.lower_bound.unwrap();
        assert!(bound > 4.5 && bound < 5.0, "{p:?}");
        // Differences that straddle zero are not clear either way.
        let p = compare_pairs(&[1.0, -1.2, 0.5, -0.4, 0.2], 0.05).unwrap();
        assert!(p.comparison.p_better > 0.05 && p.comparison.p_worse > 0.05);
        // A deterministic metric: no spread, the sign is certain.
        let p = compare_pairs(&[-2.0, -2.0, -2.0], 0.05).unwrap();
        assert_eq!((p.comparison.p_better, p.comparison.p_worse), (1.0, 0.0));
        assert_eq!(compare_pairs(&[1.0], 0.05), None);
        // Three pairs can reach 95%, which no sign or signed-rank test can.
        let p = compare_pairs(&[3.0, 3.3, 2.8], 0.05).unwrap();
        assert!(p.comparison.p_better < 0.05, "{p:?}");
    }

    #[test]
    fn noise_floor_and_repeats_needed() {
        // Pair differences spread by 1: four pairs detect about 1.18, nine about 0.65 (the
        // half-weighted end pairs of an odd count cost a little).
        assert!((detectable(1.0, 4, 0.05) - 1.177).abs() < 0.001);
        let nine = detectable(1.0, 9, 0.05);
        assert!((nine - 0.6365).abs() < 0.001, "{nine}");
        assert_eq!(detectable(1.0, 1, 0.05), f64::INFINITY);
        // To keep a gain of one spread 4 times in 5 takes 8 pairs; of a tenth of it, too many.
        assert_eq!(pairs_needed(1.0, 1.0, 0.05, 100), Some(8));
        assert_eq!(pairs_needed(1.0, 0.1, 0.05, 100), None);
        assert_eq!(pairs_needed(0.0, 0.1, 0.05, 100), Some(3));
    }

    #[test]
    fn normal_cdf_matches_known_points() {
        for (x, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_7),
            (-1.0, 0.158_655_3),
            (1.96, 0.975_002_1),
        ] {
            assert!((normal_cdf(x) - p).abs() < 1e-6, "{x}: {}", normal_cdf(x));
        }
    }
}
