//! One metric's values, all of them, kept so that observing is O(1) and a snapshot at a million values is cheap.
//!
//! Statistics are exact (design decision): every value is kept, and percentiles are read off the sorted values.
//! Re-sorting everything per snapshot would cost O(n log n) each time, so values go through three stages:
//!
//! 1. `pending`: appended by [`Distribution::push`], unsorted.
//! 2. `recent`: at [`Distribution::settle`] the pending batch alone is sorted and merged into this sorted array.
//! 3. `main`: the sorted bulk. `recent` is merged into it once `recent` exceeds 1/16 of it, so each value is
//!    moved a bounded number of times (amortised O(1)) and a snapshot never moves the whole bulk.
//!
//! Order statistics are read from the two sorted arrays without merging them (k-th smallest of two sorted arrays,
//! O(log n)). Sums and sums of squares are [`ExactSum`]s, so the mean and standard deviation do not depend on
//! the order values arrived in, and merging two distributions gives bit-for-bit the distribution of the union.
//!
//! A distribution can be [binned](Distribution::bin) once it holds more values than a run's memory budget allows
//! (per-chunk metrics): its values move into a [`Binned`] histogram, and from then on its order statistics are
//! within [`super::binned::RELATIVE_ERROR`] while its count, extremes and moments stay exact.

use super::binned::Binned;
use super::exact_sum::ExactSum;
use super::percentile::{self, Estimate, OrderStats, PercentileError, PercentileMethod};

/// `recent` is folded into `main` once `recent.len() · FOLD_RATIO > main.len()`.
const FOLD_RATIO: usize = 16;

/// The values of one metric.
#[derive(Debug, Clone, Default)]
pub(crate) struct Distribution {
    main: Vec<f64>,
    recent: Vec<f64>,
    pending: Vec<f64>,
    /// Sum of the settled values (`main` and `recent`).
    sum: ExactSum,
    /// Sum of the squares of the settled values, each square added exactly.
    sum_squares: ExactSum,
    /// Set once binned: every value lives here instead, and the arrays stay empty.
    binned: Option<Box<Binned>>,
}

impl Distribution {
    /// Records a value. NaN and infinities are dropped (LLMeter drops NaN too); `-0.0` is stored as `0.0` so that
    /// ordering and equality agree.
    pub fn push(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        match &mut self.binned {
            Some(binned) => binned.push(value),
            None => self.pending.push(value + 0.0),
        }
    }

    /// Values held one by one (0 once binned): what the memory budget counts.
    pub fn exact_len(&self) -> usize {
        self.main.len() + self.recent.len() + self.pending.len()
    }

    pub fn is_binned(&self) -> bool {
        self.binned.is_some()
    }

    /// Moves every value into a histogram and frees the arrays; later values go there too.
    pub fn bin(&mut self) {
        if self.binned.is_some() {
            return;
        }
        let mut binned = Binned::default();
        for &v in self.main.iter().chain(&self.recent).chain(&self.pending) {
            binned.push(v);
        }
        *self = Distribution {
            binned: Some(Box::new(binned)),
            ..Distribution::default()
        };
    }

    /// Sorts the pending batch and merges it into the sorted storage. Cost: O(k log k) for k pending values,
    /// plus moving the part of `recent` (and, when folding, of `main`) that lies above the batch's values.
    pub fn settle(&mut self) {
        if self.pending.is_empty() || self.binned.is_some() {
            return;
        }
        self.pending.sort_unstable_by(f64::total_cmp);
        for &v in &self.pending {
            self.sum.add(v);
            self.sum_squares.add_product(v, v);
        }
        if self.recent.is_empty() {
            std::mem::swap(&mut self.recent, &mut self.pending);
        } else {
            merge_sorted_into(&mut self.recent, &self.pending);
        }
        self.pending.clear();
        self.fold_if_large();
    }

    /// Adds every value of `other` (settled or not) to `self`.
    pub fn merge(&mut self, other: &Distribution) {
        if self.binned.is_some() || other.binned.is_some() {
            self.bin();
            let binned = self.binned.as_mut().expect("just binned");
            match &other.binned {
                Some(theirs) => binned.merge(theirs),
                None => {
                    for &v in other.main.iter().chain(&other.recent).chain(&other.pending) {
                        binned.push(v);
                    }
                }
            }
            return;
        }
        self.pending.extend_from_slice(&other.pending);
        self.sum.add_sum(&other.sum);
        self.sum_squares.add_sum(&other.sum_squares);
        merge_sorted_into(&mut self.main, &other.main);
        merge_sorted_into(&mut self.recent, &other.recent);
        self.fold_if_large();
    }

    fn fold_if_large(&mut self) {
        if self.recent.len() * FOLD_RATIO > self.main.len() {
            if self.main.is_empty() {
                std::mem::swap(&mut self.main, &mut self.recent);
            } else {
                merge_sorted_into(&mut self.main, &self.recent);
            }
            self.recent.clear();
        }
    }

    /// The settled values, or `None` when there are none. Call [`Distribution::settle`] first: pending values
    /// are not part of the sample.
    pub fn sample(&self) -> Option<Sample<'_>> {
        debug_assert!(self.pending.is_empty(), "settle() before reading a distribution");
        let sample = match &self.binned {
            Some(binned) => Sample::Binned(binned),
            None => Sample::Exact(Exact {
                main: &self.main,
                recent: &self.recent,
                sum: &self.sum,
                sum_squares: &self.sum_squares,
            }),
        };
        (sample.len() > 0).then_some(sample)
    }

    /// Every value, sorted (tests compare the staged storage with a plain sort).
    #[cfg(test)]
    pub fn sorted_values(&mut self) -> Vec<f64> {
        self.settle();
        let mut all = self.main.clone();
        merge_sorted_into(&mut all, &self.recent);
        all
    }
}

/// A read-only view of a settled, non-empty distribution: every value, or a histogram of them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sample<'a> {
    Exact(Exact<'a>),
    /// Order statistics within [`super::binned::RELATIVE_ERROR`]; everything else exact.
    Binned(&'a Binned),
}

/// What a percentile and its interval can be once some unknown values join the sample: see [`Sample::bounds`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The percentile, at least and at most.
    pub value_low: f64,
    pub value_high: f64,
    /// The interval's lower end, at least; its upper end, at most (`+∞` when unknown values could reach it).
    pub low: f64,
    pub high: f64,
}

/// The interval of percentile `p` at `level` read off any sorted values.
fn interval_of<S: OrderStats + ?Sized>(s: &S, p: f64, level: f64) -> Option<(f64, f64)> {
    let (lo, hi) = super::interval::rank_interval(s.len(), p / 100.0, level)?;
    Some((s.nth(lo), s.nth(hi)))
}

/// A sample with `below` values of `low_fill` under it and `above` values of `+∞` over it.
struct Padded<'a, 'b> {
    sample: &'a Sample<'b>,
    below: usize,
    above: usize,
    low_fill: f64,
}

impl OrderStats for Padded<'_, '_> {
    fn len(&self) -> usize {
        self.below + self.sample.len() + self.above
    }

    fn nth(&self, i: usize) -> f64 {
        match i.checked_sub(self.below) {
            None => self.low_fill,
            Some(j) if j < self.sample.len() => self.sample.nth(j),
            Some(_) => f64::INFINITY,
        }
    }
}

/// Every value, in two sorted arrays.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exact<'a> {
    main: &'a [f64],
    recent: &'a [f64],
    sum: &'a ExactSum,
    sum_squares: &'a ExactSum,
}

impl OrderStats for Sample<'_> {
    fn len(&self) -> usize {
        match self {
            Sample::Exact(e) => e.main.len() + e.recent.len(),
            Sample::Binned(b) => b.len(),
        }
    }

    fn nth(&self, k: usize) -> f64 {
        match self {
            Sample::Exact(e) => e.nth(k),
            Sample::Binned(b) => b.nth(k),
        }
    }
}

impl Exact<'_> {
    /// The k-th smallest value of `main ∪ recent`: binary search for how many of the k + 1 smallest come from
    /// `main`.
    fn nth(&self, k: usize) -> f64 {
        let (a, b) = (self.main, self.recent);
        if b.is_empty() {
            return a[k];
        }
        if a.is_empty() {
            return b[k];
        }
        // Find the least `i` (values taken from `a`) with `a[i] >= b[k - i]`; the predicate "a[i] < b[k - i]" is
        // true then false as `i` grows, because `a` rises and `b[k - i]` falls.
        let (mut lo, mut hi) = ((k + 1).saturating_sub(b.len()), (k + 1).min(a.len()));
        while lo < hi {
            let i = lo + (hi - lo) / 2;
            if a[i] < b[k - i] {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let (i, j) = (lo, k + 1 - lo);
        match (i, j) {
            (0, _) => b[j - 1],
            (_, 0) => a[i - 1],
            _ => a[i - 1].max(b[j - 1]),
        }
    }
}

impl Sample<'_> {
    pub fn count(&self) -> usize {
        self.len()
    }

    pub fn min(&self) -> f64 {
        let e = match self {
            Sample::Exact(e) => e,
            Sample::Binned(b) => return b.min(),
        };
        match (e.main.first(), e.recent.first()) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&v), None) | (None, Some(&v)) => v,
            (None, None) => unreachable!("a Sample is never empty"),
        }
    }

    pub fn max(&self) -> f64 {
        let e = match self {
            Sample::Exact(e) => e,
            Sample::Binned(b) => return b.max(),
        };
        match (e.main.last(), e.recent.last()) {
            (Some(&a), Some(&b)) => a.max(b),
            (Some(&v), None) | (None, Some(&v)) => v,
            (None, None) => unreachable!("a Sample is never empty"),
        }
    }

    /// The exact sum and the exact sum of squares of the values.
    fn sums(&self) -> (&ExactSum, &ExactSum) {
        match self {
            Sample::Exact(e) => (e.sum, e.sum_squares),
            Sample::Binned(b) => b.sums(),
        }
    }

    /// The exact sum of the values.
    pub fn exact_sum(&self) -> &ExactSum {
        self.sums().0
    }

    /// The sum of the values, correctly rounded (exact for integer metrics below 2^53).
    pub fn total(&self) -> f64 {
        self.exact_sum().value()
    }

    /// The arithmetic mean, as `statistics.mean` computes it (exact sum, one rounding).
    pub fn mean(&self) -> f64 {
        self.exact_sum().div(self.len() as f64)
    }

    /// The sample standard deviation (divisor n − 1); 0 for a single value. `Σ(x − m)²` is formed exactly as
    /// `Σx² − 2m·Σx + n·m²` from the exact sums, so it is order-independent and free of cancellation.
    pub fn std_dev(&self) -> f64 {
        let n = self.len() as f64;
        if self.len() < 2 {
            return 0.0;
        }
        let m = self.mean();
        let (sum, sum_squares) = self.sums();
        let mut m_squared = ExactSum::default();
        m_squared.add_product(m, m);
        let mut deviations = sum_squares.clone();
        deviations.add_scaled(sum, -2.0 * m);
        deviations.add_scaled(&m_squared, n);
        (deviations.value().max(0.0) / (n - 1.0)).sqrt()
    }

    pub fn estimate(&self, p: f64, method: PercentileMethod) -> Result<Estimate, PercentileError> {
        percentile::estimate(self, p, method)
    }

    /// The confidence interval `(low, high)` of percentile `p` (in percent) at `level`, or `None` when the
    /// sample is too small for one ([`super::interval`]).
    pub fn interval(&self, p: f64, level: f64) -> Option<(f64, f64)> {
        interval_of(self, p, level)
    }

    /// Percentile `p` and its interval at `level` whatever `unknown` further values turn out to be (requests
    /// still in flight): every order statistic lies between the sample's with the unknown values all at the
    /// bottom (at `min(0, min)`, as latencies and counts are never negative) and with them all at `+∞`. So the
    /// bounds hold for the sample once those values are in. `None` when even the widest case has no interval.
    pub fn bounds(&self, p: f64, level: f64, method: PercentileMethod, unknown: usize) -> Option<Bounds> {
        let low_fill = self.min().min(0.0);
        let all_low = Padded {
            sample: self,
            below: unknown,
            above: 0,
            low_fill,
        };
        let all_high = Padded {
            sample: self,
            below: 0,
            above: unknown,
            low_fill,
        };
        let value_low = percentile::estimate(&all_low, p, method).ok()?.value;
        // Interpolating towards +∞ can give ∞ − ∞: the percentile is then unbounded above.
        let value_high = match percentile::estimate(&all_high, p, method).ok()?.value {
            v if v.is_nan() => f64::INFINITY,
            v => v,
        };
        let (low, _) = interval_of(&all_low, p, level)?;
        let (_, high) = interval_of(&all_high, p, level)?;
        Some(Bounds {
            value_low,
            value_high,
            low,
            high,
        })
    }
}

/// Merges the sorted `batch` into the sorted `dst`, in place, from the back. For each batch value (largest
/// first) the block of `dst` values above it is found by galloping and moved once with `copy_within`, so the
/// cost is O(k·log(n/k)) comparisons plus one move of the displaced values.
fn merge_sorted_into(dst: &mut Vec<f64>, batch: &[f64]) {
    let Some(&first) = batch.first() else {
        return;
    };
    if dst.last().is_none_or(|&last| last <= first) {
        dst.extend_from_slice(batch);
        return;
    }
    let mut unmerged = dst.len();
    dst.resize(unmerged + batch.len(), 0.0);
    let mut write = dst.len();
    for &x in batch.iter().rev() {
        let pos = first_greater_from_back(&dst[..unmerged], x);
        let moved = unmerged - pos;
        dst.copy_within(pos..unmerged, write - moved);
        write -= moved + 1;
        dst[write] = x;
        unmerged = pos;
    }
}

/// The index of the first value greater than `x` in the sorted `s`, searched from the end with exponentially
/// growing steps (cheap when the answer is near the end, as it is for most values of a sorted batch).
fn first_greater_from_back(s: &[f64], x: f64) -> usize {
    let mut hi = s.len(); // invariant: every value in s[hi..] is > x
    let mut step = 1;
    while hi > 0 {
        let probe = hi.saturating_sub(step);
        if s[probe] <= x {
            return probe + 1 + s[probe + 1..hi].partition_point(|&v| v <= x);
        }
        hi = probe;
        step *= 2;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full_sort(values: &[f64]) -> Vec<f64> {
        let mut v: Vec<f64> = values.iter().map(|&x| x + 0.0).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn nan_and_infinities_are_dropped() {
        let mut d = Distribution::default();
        for v in [1.0, f64::NAN, f64::INFINITY, -0.0, f64::NEG_INFINITY] {
            d.push(v);
        }
        assert_eq!(d.sorted_values(), vec![0.0, 1.0]);
        assert!(d.sorted_values()[0].is_sign_positive());
    }

    #[test]
    fn mean_and_std_dev_match_python() {
        let mut d = Distribution::default();
        for v in [3.5, 1.25, 9.0, 4.75, 2.0, 8.5, 7.25] {
            d.push(v);
        }
        d.settle();
        let s = d.sample().unwrap();
        // Python: statistics.mean(d) == 5.178571428571429; statistics.stdev(d) == 3.121545709908413
        assert_eq!(s.mean(), 5.178571428571429);
        assert!((s.std_dev() - 3.121545709908413).abs() <= 1e-15);
        assert_eq!((s.min(), s.max(), s.count()), (1.25, 9.0, 7));
        let mut one = Distribution::default();
        one.push(4.0);
        one.settle();
        assert_eq!(one.sample().unwrap().std_dev(), 0.0);
        assert!(Distribution::default().sample().is_none());
    }

    proptest! {
        /// Staged batches (pending → recent → main, with folds) hold exactly the fully sorted values, and the
        /// two-array order statistics agree with indexing the full sort.
        #[test]
        fn staged_merges_equal_a_full_sort(
            batches in prop::collection::vec(prop::collection::vec(-1e3_f64..1e3, 0..40), 1..12),
            small_ints in any::<bool>(),
        ) {
            let mut d = Distribution::default();
            let mut all = Vec::new();
            for batch in &batches {
                for &v in batch {
                    // Integer-valued data exercises ties across main and recent.
                    let v = if small_ints { v.round() % 7.0 } else { v };
                    d.push(v);
                    all.push(v);
                }
                d.settle();
                let want = full_sort(&all);
                if let Some(s) = d.sample() {
                    for (k, &w) in want.iter().enumerate() {
                        prop_assert_eq!(s.nth(k), w);
                    }
                    prop_assert_eq!((s.min(), s.max()), (want[0], want[want.len() - 1]));
                }
            }
            prop_assert_eq!(d.sorted_values(), full_sort(&all));
        }

        #[test]
        fn merged_distributions_equal_the_union(
            a in prop::collection::vec(-1e3_f64..1e3, 0..60),
            b in prop::collection::vec(-1e3_f64..1e3, 0..60),
            settle_a in any::<bool>(),
        ) {
            let mut left = Distribution::default();
            a.iter().for_each(|&v| left.push(v));
            if settle_a {
                left.settle();
            }
            let mut right = Distribution::default();
            b.iter().for_each(|&v| right.push(v));
            right.settle();
            left.merge(&right);
            left.settle();
            let mut whole = Distribution::default();
            a.iter().chain(&b).for_each(|&v| whole.push(v));
            whole.settle();
            match (left.sample(), whole.sample()) {
                (Some(l), Some(w)) => {
                    prop_assert_eq!(l.mean(), w.mean());
                    prop_assert_eq!(l.std_dev(), w.std_dev());
                    prop_assert_eq!(l.total(), w.total());
                }
                (l, w) => prop_assert!(l.is_none() && w.is_none()),
            }
            prop_assert_eq!(left.sorted_values(), whole.sorted_values());
        }
    }
}
