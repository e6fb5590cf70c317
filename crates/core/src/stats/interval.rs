//! Distribution-free confidence intervals for percentiles, from order statistics (the binomial method).
//!
//! Whatever the latency distribution, the number of values of an i.i.d. sample of `n` at or below its true
//! quantile `q` is Binomial(n, q). So the interval between the `l`-th and the `u`-th smallest values covers the
//! true quantile with probability at least `P(l ≤ B ≤ u − 1)`. We choose the ranks equal-tailed and conservative:
//! `l` the largest rank with `P(B ≤ l − 1) ≤ α/2`, `u` the smallest with `P(B ≤ u − 1) ≥ 1 − α/2`, so coverage is at
//! least `1 − α`, exactly, with no normal approximation (LLMeter's open PR #85 proposes the same idea).
//!
//! A sample too small to hold such ranks has no interval: p99 at 95 % needs 368 values (0.99^n ≤ 2.5 %).
//! [`min_samples`] says how many, in closed form, so a reader can say "too few" rather than print a number.

/// The confidence level used when none is configured.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Terms of the binomial pmf below this fraction of its mode are left out: their sum is below 1e-15.
const NEGLIGIBLE: f64 = 1e-19;

/// 0-based indexes `(lo, hi)` into the sorted sample of the order statistics that bound quantile `q` (in `(0, 1)`)
/// with confidence at least `level` (in `(0, 1)`), or `None` when `n` is too small (see [`min_samples`]).
///
/// The ranks depend on `(n, q, level)` alone, and a snapshot asks for the same few (every metric of the successful
/// requests has the same `n`): the last answers are remembered, so a snapshot computes each binomial window once.
pub fn rank_interval(n: usize, q: f64, level: f64) -> Option<(usize, usize)> {
    if n < min_samples(q, level)? {
        return None;
    }
    let key = (n, q.to_bits(), level.to_bits());
    if let Some(ranks) =
        RECENT.with(|recent| recent.borrow().iter().find(|(k, _)| *k == key).map(|(_, r)| *r))
    {
        return Some(ranks);
    }
    let ranks = ranks_of(n, q, level);
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if recent.len() == REMEMBERED {
            recent.remove(0);
        }
        recent.push((key, ranks));
    });
    Some(ranks)
}

/// How many `(n, q, level)` answers are remembered: a snapshot's percentiles times the distinct sample sizes.
const REMEMBERED: usize = 32;

type Remembered = Vec<((usize, u64, u64), (usize, usize))>;

thread_local! {
    static RECENT: std::cell::RefCell<Remembered> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The ranks, from the binomial distribution (`n` at least [`min_samples`]).
fn ranks_of(n: usize, q: f64, level: f64) -> (usize, usize) {
    let tail = (1.0 - level) / 2.0;
    let pmf = BinomialWindow::new(n, q);
    // cdf(k) = P(B ≤ k). Walk up once, remembering the last k with cdf(k) ≤ tail and the first with
    // cdf(k) ≥ 1 − tail. Order statistic l (1-based) is at index l − 1, and l − 1 = k + 1 − 1 for P(B ≤ l − 1).
    let mut cdf = 0.0;
    // Below the window P(B ≤ k) is negligible, so within the tail; at k = -1 it is 0, but rank 0 does not exist:
    // `min_samples` guarantees P(B ≤ 0) = (1 − q)^n ≤ tail, so the walk's first term qualifies then.
    let mut lo = pmf.first.saturating_sub(1);
    let mut hi = None;
    for (k, p) in pmf.terms() {
        cdf += p;
        if cdf <= tail {
            lo = k; // rank l = k + 1 → index k
        }
        if cdf >= 1.0 - tail {
            hi = Some(k); // rank u = k + 1 → index k
            break;
        }
    }
    let hi = hi.unwrap_or(n - 1).min(n - 1);
    (lo.min(hi), hi)
}

/// The fewest values with an interval for quantile `q` at `level`: both `(1 − q)^n` and `q^n` (the chances that
/// no value, or every value, lies below the quantile) must be at most `(1 − level) / 2`. `None` for `q` or `level`
/// outside `(0, 1)` (the minimum and maximum have no such interval).
pub fn min_samples(q: f64, level: f64) -> Option<usize> {
    if !(q > 0.0 && q < 1.0 && level > 0.0 && level < 1.0) {
        return None;
    }
    let tail = ((1.0 - level) / 2.0).ln();
    let need = |p: f64| (tail / p.ln()).ceil();
    Some(need(q).max(need(1.0 - q)).max(1.0) as usize)
}

/// The binomial pmf, normalised, over the range of `k` where it is not negligible.
struct BinomialWindow {
    first: usize,
    terms: Vec<f64>,
}

impl BinomialWindow {
    /// Grows out from the mode by the ratio of successive terms (no factorials, so no overflow at any `n`).
    fn new(n: usize, q: f64) -> BinomialWindow {
        let odds = q / (1.0 - q);
        let mode = (((n + 1) as f64 * q).floor() as usize).min(n);
        let mut above = Vec::new();
        let mut term = 1.0;
        for k in mode..n {
            term *= (n - k) as f64 / (k + 1) as f64 * odds;
            if term < NEGLIGIBLE {
                break;
            }
            above.push(term);
        }
        let mut below = Vec::new();
        term = 1.0;
        for k in (1..=mode).rev() {
            term *= k as f64 / (n - k + 1) as f64 / odds;
            if term < NEGLIGIBLE {
                break;
            }
            below.push(term);
        }
        let first = mode - below.len();
        let mut terms: Vec<f64> = below.into_iter().rev().collect();
        terms.push(1.0);
        terms.extend(above);
        let total: f64 = terms.iter().sum();
        terms.iter_mut().for_each(|t| *t /= total);
        BinomialWindow { first, terms }
    }

    /// `(k, P(B = k))` in increasing `k`.
    fn terms(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.terms.iter().enumerate().map(|(i, &p)| (self.first + i, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// P(B ≤ k) by summing exact terms (small n only: binomial coefficients as f64).
    fn cdf(n: usize, q: f64, k: i64) -> f64 {
        (0..=k.max(-1))
            .filter(|&i| i >= 0)
            .map(|i| {
                let i = i as usize;
                let choose = (0..i).fold(1.0, |c, j| c * (n - j) as f64 / (j + 1) as f64);
                choose * q.powi(i as i32) * (1.0 - q).powi((n - i) as i32)
            })
            .sum()
    }

    #[test]
    fn known_ranks_of_the_median() {
        // The classic table (e.g. Conover, Practical Nonparametric Statistics): for n = 20 the 95% interval of
        // the median is [x(6), x(15)], coverage 95.86%.
        assert_eq!(rank_interval(20, 0.5, 0.95), Some((5, 14)));
        // n = 10: [x(2), x(9)], coverage 97.85%.
        assert_eq!(rank_interval(10, 0.5, 0.95), Some((1, 8)));
    }

    #[test]
    fn too_few_samples_have_no_interval() {
        assert_eq!(min_samples(0.99, 0.95), Some(368)); // 0.99^367 = 0.02502
        assert_eq!(min_samples(0.5, 0.95), Some(6));
        assert_eq!(min_samples(0.9, 0.95), Some(36));
        assert_eq!(rank_interval(367, 0.99, 0.95), None);
        assert!(rank_interval(368, 0.99, 0.95).is_some());
        assert_eq!(rank_interval(5, 0.5, 0.95), None);
        assert_eq!(min_samples(1.0, 0.95), None);
        assert_eq!(min_samples(0.0, 0.95), None);
        assert_eq!(rank_interval(1000, 0.5, 1.0), None);
    }

    #[test]
    fn large_samples_are_cheap_and_centred() {
        let n = 1_000_000;
        let (lo, hi) = rank_interval(n, 0.99, 0.95).unwrap();
        // Normal approximation: 990,000 ± 1.96·√(n·q·(1−q)) = ± 195.
        assert!((989_800..989_810).contains(&lo), "{lo}");
        assert!((990_190..990_200).contains(&hi), "{hi}");
    }

    proptest! {
        /// The chosen ranks cover the quantile with at least the asked confidence, and are the tightest
        /// equal-tailed ranks: moving either inwards breaks its tail bound.
        #[test]
        fn coverage_is_at_least_the_level(n in 1_usize..300, q in 0.01_f64..0.99, level in 0.5_f64..0.99) {
            let tail = (1.0 - level) / 2.0;
            match rank_interval(n, q, level) {
                None => prop_assert!(n < min_samples(q, level).unwrap()),
                Some((lo, hi)) => {
                    let (l, u) = (lo as i64 + 1, hi as i64 + 1); // 1-based ranks
                    let coverage = cdf(n, q, u - 1) - cdf(n, q, l - 1);
                    prop_assert!(coverage >= level - 1e-9, "n={n} q={q} [{l},{u}] covers {coverage}");
                    prop_assert!(cdf(n, q, l - 1) <= tail + 1e-9);
                    prop_assert!(cdf(n, q, l) > tail - 1e-9, "l could move up");
                    prop_assert!(cdf(n, q, u - 1) >= 1.0 - tail - 1e-9);
                    prop_assert!(u == 1 || cdf(n, q, u - 2) < 1.0 - tail + 1e-9, "u could move down");
                }
            }
        }
    }
}
