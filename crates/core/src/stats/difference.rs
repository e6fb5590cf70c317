//! Whether two runs differ: the difference of a percentile between two samples (B − A) with a bootstrap
//! confidence interval, and a plain sentence ("B's TTFT p50 is 38.0 ms lower, 95% CI 31.2 to 45.1 ms").
//!
//! The bootstrap resamples each sample with replacement and takes the percentile of the resample, many times.
//! Resampling n values is O(n) done naively; here each resample's order statistics are drawn directly: the k-th
//! smallest of n uniform draws is `U_(k) ~ Beta(k, n + 1 − k)`, and the index `⌊n·U⌋` of a uniform `U` is a
//! uniform draw of an index, so the k-th smallest resampled value is the sample's value at `⌊n·U_(k)⌋`. The next
//! order statistic follows as `U_(k+1) = U_(k) + (1 − U_(k))·Beta(1, n − k)`. That is the ordinary bootstrap,
//! exactly, at O(1) per resample, so a million-request run compares as fast as a small one.

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::stats::distribution::Sample;
use crate::stats::metric::Metric;
use crate::stats::percentile::OrderStats;
use crate::stats::running::RunningStats;

/// Resamples per comparison: enough for a 95 % interval's ends to settle to well under a percent of its width.
pub const RESAMPLES: usize = 4000;

/// The difference of one percentile between run A and run B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub metric: Metric,
    pub percentile: f64,
    pub a: f64,
    pub b: f64,
    /// `b − a`.
    pub difference: f64,
    /// The difference's interval at `level`.
    pub low: f64,
    pub high: f64,
    pub level: f64,
}

impl Difference {
    /// The interval excludes 0: the runs differ at this level.
    pub fn is_significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }

    /// `B's TTFT p50 is 38.0 ms lower, 95% CI 31.2 to 45.1 ms.`, with the run names, in the metric's unit.
    pub fn sentence(&self, a: &str, b: &str) -> String {
        let (scale, unit) = if self.metric.is_duration() {
            (1e3, " ms")
        } else {
            (1.0, "")
        };
        let label = format!("{} p{}", self.metric.short_name(), self.percentile);
        let level = (self.level * 1000.0).round() / 10.0;
        let amount = (self.difference * scale).abs();
        let (lo, hi) = if self.difference < 0.0 {
            (-self.high * scale, -self.low * scale)
        } else {
            (self.low * scale, self.high * scale)
        };
        let direction = match self.difference {
            d if d < 0.0 => "lower",
            d if d > 0.0 => "higher",
            _ => "the same",
        };
        let verdict = if self.is_significant() {
            String::new()
        } else {
            format!(" No significant difference at {level}%: the interval contains 0.")
        };
        format!(
            "{b}'s {label} is {amount:.1}{unit} {direction} than {a}'s, {level}% CI {lo:.1} to {hi:.1}{unit}.{verdict}"
        )
    }
}

/// What a race compares between its first target and each other: `(metric, percentile)`.
pub const RACE_COMPARED: [(Metric, f64); 6] = [
    (Metric::TimeToFirstToken, 50.0),
    (Metric::TimeToFirstToken, 90.0),
    (Metric::TimeToLastToken, 50.0),
    (Metric::TimeToLastToken, 90.0),
    (Metric::TimePerOutputToken, 50.0),
    (Metric::OutputTokensPerSecond, 50.0),
];

/// One comparison of a race: target `b` against the first target, `a`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceComparison {
    pub a: String,
    pub b: String,
    pub difference: Difference,
    pub sentence: String,
}

/// The file a race's comparisons are kept in, beside its targets' run folders.
pub const RACE_FILE: &str = "race.json";

/// `race.json`: the comparisons, each with its difference, interval and sentence.
pub fn race_json(comparisons: &[RaceComparison]) -> String {
    serde_json::to_string_pretty(&serde_json::json!({ "comparisons": comparisons })).unwrap_or_default()
}

/// Every [`RACE_COMPARED`] statistic of each target against the first (`runs` are `(label, stats)`), with
/// bootstrap intervals seeded by `seed`. Statistics a run has no value for are left out.
pub fn compare_race(runs: &mut [(String, RunningStats)], seed: u64) -> Vec<RaceComparison> {
    let Some(((a_label, a), others)) = runs.split_first_mut() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (b_label, b) in others {
        for (metric, p) in RACE_COMPARED {
            if let Some(difference) = a.difference(b, metric, p, seed) {
                let sentence = difference.sentence(a_label, b_label);
                out.push(RaceComparison {
                    a: a_label.clone(),
                    b: b_label.clone(),
                    difference,
                    sentence,
                });
            }
        }
    }
    out
}

/// The bootstrap interval of `percentile(B) − percentile(A)` at `level`, with the percentiles read by numpy's
/// linear method. `seed` makes it repeatable.
pub(crate) fn difference(
    a: &Sample<'_>,
    b: &Sample<'_>,
    metric: Metric,
    percentile: f64,
    level: f64,
    seed: u64,
) -> Difference {
    let q = percentile / 100.0;
    let (value_a, value_b) = (linear(a, q), linear(b, q));
    let mut rng = SeededRng::for_stream(seed, metric as u64 * 1000 + percentile as u64);
    let mut differences: Vec<f64> = (0..RESAMPLES)
        .map(|_| resampled_linear(b, q, &mut rng) - resampled_linear(a, q, &mut rng))
        .collect();
    differences.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |share: f64| differences[((share * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Difference {
        metric,
        percentile,
        a: value_a,
        b: value_b,
        difference: value_b - value_a,
        low: at(tail),
        high: at(1.0 - tail),
        level,
    }
}

/// numpy's linear percentile of the sample (`q` in `[0, 1]`).
fn linear(s: &Sample<'_>, q: f64) -> f64 {
    let n = s.len();
    let h = (n - 1) as f64 * q;
    let k = h.floor() as usize;
    let gamma = h - k as f64;
    if k + 1 >= n {
        return s.nth(n - 1);
    }
    s.nth(k) + gamma * (s.nth(k + 1) - s.nth(k))
}

/// The linear percentile of one bootstrap resample, from its two order statistics drawn directly.
fn resampled_linear(s: &Sample<'_>, q: f64, rng: &mut SeededRng) -> f64 {
    let n = s.len();
    let h = (n - 1) as f64 * q;
    let k = h.floor() as usize; // 0-based: the (k+1)-th smallest
    let gamma = h - k as f64;
    let u = beta(rng, (k + 1) as f64, (n - k) as f64);
    let value = |u: f64| s.nth(((u * n as f64) as usize).min(n - 1));
    let low = value(u);
    if gamma == 0.0 || k + 1 >= n {
        return low;
    }
    // The (k+2)-th smallest: the smallest of the n − k − 1 draws above U_(k+1).
    let next = u + (1.0 - u) * (1.0 - rng.unit().powf(1.0 / (n - k - 1) as f64));
    low + gamma * (value(next) - low)
}

/// A Beta(a, b) draw, as X / (X + Y) of two Gamma draws.
fn beta(rng: &mut SeededRng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

/// A Gamma(shape, 1) draw (Marsaglia and Tsang, 2000; shape < 1 boosted by U^(1/shape)).
fn gamma(rng: &mut SeededRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let boost = rng.unit().max(f64::MIN_POSITIVE).powf(1.0 / shape);
        return gamma(rng, shape + 1.0) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.standard_normal();
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = rng.unit();
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::distribution::Distribution;

    fn sample(values: impl IntoIterator<Item = f64>) -> Distribution {
        let mut d = Distribution::default();
        values.into_iter().for_each(|v| d.push(v));
        d.settle();
        d
    }

    /// Latencies around `centre` with a seeded spread.
    fn latencies(centre: f64, n: usize, seed: u64) -> Distribution {
        let mut rng = SeededRng::new(seed);
        sample((0..n).map(|_| centre * (0.3 * rng.standard_normal()).exp()))
    }

    #[test]
    fn a_real_difference_is_found_and_its_interval_holds_it() {
        let (a, b) = (latencies(0.150, 400, 1), latencies(0.200, 400, 2));
        let d = difference(
            &a.sample().unwrap(),
            &b.sample().unwrap(),
            Metric::TimeToFirstToken,
            50.0,
            0.95,
            9,
        );
        assert!(d.is_significant(), "{d:?}");
        assert!(d.low < 0.05 && 0.05 < d.high, "{d:?}");
        let sentence = d.sentence("A", "B");
        assert!(
            sentence.starts_with("B's TTFT p50 is ") && sentence.contains(" ms higher than A's, 95% CI "),
            "{sentence}"
        );
    }

    #[test]
    fn identical_servers_show_no_significant_difference() {
        let (a, b) = (latencies(0.150, 400, 3), latencies(0.150, 400, 4));
        let d = difference(
            &a.sample().unwrap(),
            &b.sample().unwrap(),
            Metric::TimeToFirstToken,
            50.0,
            0.95,
            9,
        );
        assert!(!d.is_significant(), "{d:?}");
        assert!(d.sentence("A", "B").contains("No significant difference at 95%"));
    }

    #[test]
    fn the_drawn_order_statistics_are_the_bootstrap_s() {
        // The median of a resample of [0, 1, 2, 3, 4] by direct draws against a brute-force resample: the
        // distributions of the two agree (a chi-square-free check on the five possible medians).
        let s = sample((0..5).map(f64::from));
        let s = s.sample().unwrap();
        let mut rng = SeededRng::new(5);
        let mut direct = [0usize; 5];
        let mut brute = [0usize; 5];
        for _ in 0..20_000 {
            direct[resampled_linear(&s, 0.5, &mut rng) as usize] += 1;
            let mut draw: Vec<u64> = (0..5).map(|_| rng.below(5)).collect();
            draw.sort_unstable();
            brute[draw[2] as usize] += 1;
        }
        for (d, b) in direct.iter().zip(brute) {
            assert!((*d as f64 - b as f64).abs() < 600.0, "{direct:?} vs {brute:?}");
        }
    }
}
