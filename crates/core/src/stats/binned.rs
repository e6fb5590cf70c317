//! [`Binned`]: a metric's values in a high-resolution histogram (HdrHistogram, nanoseconds, three significant
//! digits), for per-chunk metrics past the run's memory budget. Memory is bounded by the value range (about
//! 200 KB for gaps up to a minute), not by the number of values.
//!
//! Only order statistics are approximate: each value is read back as the middle of its bucket, within
//! [`RELATIVE_ERROR`] of the value recorded. Count, minimum, maximum, sum, mean and standard deviation stay exact
//! (exact sums, as in `distribution.rs`), and merging two histograms is exact.

use hdrhistogram::Histogram;

use super::exact_sum::ExactSum;

/// Significant decimal digits the histogram keeps.
const SIGNIFICANT_DIGITS: u8 = 3;

/// The largest relative error of a binned order statistic: 10^-3, from three significant digits.
pub const RELATIVE_ERROR: f64 = 1e-3;

/// Values in a histogram, with exact moments and extremes.
#[derive(Debug, Clone)]
pub(crate) struct Binned {
    /// Nanoseconds (values are non-negative seconds).
    histogram: Histogram<u64>,
    sum: ExactSum,
    sum_squares: ExactSum,
    min: f64,
    max: f64,
}

impl Default for Binned {
    fn default() -> Self {
        Binned {
            histogram: Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision"),
            sum: ExactSum::default(),
            sum_squares: ExactSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Binned {
    /// Records a finite value; negative values (which per-chunk gaps never are) are recorded as 0.
    pub fn push(&mut self, value: f64) {
        let value = value.max(0.0) + 0.0;
        let nanos = (value * 1e9).round().min(u64::MAX as f64) as u64;
        // The histogram grows to fit any value; recording cannot fail with auto-resize on.
        let _ = self.histogram.record(nanos);
        self.sum.add(value);
        self.sum_squares.add_product(value, value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Binned) {
        let _ = self.histogram.add(&other.histogram);
        self.sum.add_sum(&other.sum);
        self.sum_squares.add_sum(&other.sum_squares);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn len(&self) -> usize {
        self.histogram.len() as usize
    }

    pub fn sums(&self) -> (&ExactSum, &ExactSum) {
        (&self.sum, &self.sum_squares)
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// The k-th smallest value (0-based), as the middle of its bucket, kept within the exact extremes.
    pub fn nth(&self, k: usize) -> f64 {
        let mut seen = 0u64;
        for bucket in self.histogram.iter_recorded() {
            seen += bucket.count_at_value();
            if seen > k as u64 {
                let nanos = self.histogram.median_equivalent(bucket.value_iterated_to());
                return (nanos as f64 / 1e9).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// Every recorded bucket ascending, as `(value, count)`: each value the middle of its bucket, except that the
    /// first and last are the exact extremes (which lie in those buckets).
    pub fn runs(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let last = self.histogram.iter_recorded().count().saturating_sub(1);
        self.histogram
            .iter_recorded()
            .enumerate()
            .map(move |(i, bucket)| {
                let value = match i {
                    0 => self.min,
                    i if i == last => self.max,
                    _ => {
                        let nanos = self.histogram.median_equivalent(bucket.value_iterated_to());
                        (nanos as f64 / 1e9).clamp(self.min, self.max)
                    }
                };
                (value, bucket.count_at_value())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistics_are_within_the_stated_error_and_moments_are_exact() {
        let mut binned = Binned::default();
        let values: Vec<f64> = (1..=10_000).map(|i| 0.000_5 + i as f64 * 0.000_137).collect();
        values.iter().for_each(|&v| binned.push(v));
        assert_eq!(binned.len(), values.len());
        for k in [0, 1, 499, 5_000, 9_899, 9_999] {
            let got = binned.nth(k);
            let want = values[k];
            assert!(
                (got - want).abs() <= want * RELATIVE_ERROR,
                "k={k}: {got} vs {want}"
            );
        }
        assert_eq!((binned.min(), binned.max()), (values[0], values[9_999]));
        let mut exact = ExactSum::default();
        values.iter().for_each(|&v| exact.add(v));
        assert_eq!(binned.sums().0.value(), exact.value());
    }

    #[test]
    fn merging_equals_recording_the_union() {
        let (mut a, mut b, mut both) = (Binned::default(), Binned::default(), Binned::default());
        for i in 0..500 {
            let v = (i as f64).sqrt() * 0.003;
            if i % 3 == 0 {
                a.push(v)
            } else {
                b.push(v)
            }
            both.push(v);
        }
        a.merge(&b);
        assert_eq!(a.len(), both.len());
        for k in (0..500).step_by(37) {
            assert_eq!(a.nth(k), both.nth(k));
        }
        assert_eq!(a.sums().0.value(), both.sums().0.value());
        assert_eq!((a.min(), a.max()), (both.min(), both.max()));
    }
}
