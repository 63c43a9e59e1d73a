//! The numbers behind a measurement: a series of samples, its median, and whether two series
//! differ by more than noise.
//!
//! Noise is judged with the Mann–Whitney rank test, exact for the small series experiments take:
//! it assumes nothing about the shape of the noise (benchmarks are rarely normal: they have slow
//! outliers), and under "no change" it keeps a candidate at most `alpha` of the time whatever the
//! noise. Its companion, the Hodges–Lehmann lower confidence bound, says how large a gain the
//! samples guarantee.

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
