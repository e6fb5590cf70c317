//! What the distribution figures mark, apart from drawing so it can be tested: the p50/p90/p99 marks (by the
//! stats core's percentile, so a mark reads the number the table shows), the box plot's quartiles and whiskers,
//! and the points of an empirical CDF.

use tokenmeter_core::figure_data::Values;
use tokenmeter_core::stats::PercentileMethod;

/// The percentiles marked on a CDF, as `stats.json` names them.
pub const MARKED_PERCENTILES: [f64; 3] = [50.0, 90.0, 99.0];

/// One percentile of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    /// In percent (50 for p50).
    pub p: f64,
    pub value: f64,
}

impl Mark {
    /// `p50`, `p99.9`.
    pub fn name(&self) -> String {
        format!("p{}", self.p)
    }
}

/// p50, p90 and p99 of `values` by `method`; empty without values.
pub fn percentile_marks(values: &Values, method: PercentileMethod) -> Vec<Mark> {
    MARKED_PERCENTILES
        .iter()
        .filter_map(|&p| values.percentile(p, method).ok().map(|value| Mark { p, value }))
        .collect()
}

/// A box plot's five numbers and where the outliers start. Whiskers follow Tukey's rule: they reach the most
/// extreme values within 1.5 × IQR of the box; values beyond are outliers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStats {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub low_whisker: f64,
    pub high_whisker: f64,
    /// How many values are below the low whisker.
    pub low_outliers: usize,
    /// The rank from which values are above the high whisker.
    pub high_outliers: usize,
}

/// How the whiskers are drawn, for the figure's caption.
pub const WHISKER_RULE: &str = "whiskers: 1.5 × IQR (Tukey); dots: outliers";

impl BoxStats {
    /// The box of `values`, quartiles by `method`; `None` without values.
    pub fn of(values: &Values, method: PercentileMethod) -> Option<BoxStats> {
        let q = |p| values.percentile(p, method).ok();
        let (q1, median, q3) = (q(25.0)?, q(50.0)?, q(75.0)?);
        let fence = 1.5 * (q3 - q1);
        let (low_fence, high_fence) = (q1 - fence, q3 + fence);
        let low_outliers = values.count_below(low_fence, false);
        let high_outliers = values.count_below(high_fence, true);
        Some(BoxStats {
            q1,
            median,
            q3,
            // Never inside the box: with the `llmeter` method's extrapolated quartiles, no value may lie between
            // the fence and the box.
            low_whisker: (low_outliers < values.len())
                .then(|| values.nth(low_outliers))
                .map_or(q1, |v| v.min(q1)),
            high_whisker: high_outliers.checked_sub(1).map_or(q3, |i| values.nth(i).max(q3)),
            low_outliers,
            high_outliers,
        })
    }
}

/// Points of the empirical CDF of `values` (value, share of values ≤ it), at most `max_points` of them evenly
/// spread over the ranks, the first and last always included: a 100k-request run draws as cheaply as a small one.
pub fn cdf_points(values: &Values, max_points: usize) -> Vec<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let point = |i: usize| (values.nth(i), (i + 1) as f64 / n as f64);
    let k = max_points.max(2);
    if n <= k {
        return (0..n).map(point).collect();
    }
    (0..k).map(|j| point(j * (n - 1) / (k - 1))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(sorted: &[f64]) -> Values {
        Values::Exact {
            sorted: sorted.to_vec(),
        }
    }

    #[test]
    fn marks_are_the_stats_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let marks = percentile_marks(&v(&values), PercentileMethod::Linear);
        let got: Vec<(String, f64)> = marks.iter().map(|m| (m.name(), m.value)).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("p50".to_owned(), 50.5));
        assert!(
            (got[1].1 - 90.1).abs() < 1e-9 && (got[2].1 - 99.01).abs() < 1e-9,
            "{got:?}"
        );
        // LLMeter's exclusive method gives LLMeter's numbers.
        let llmeter = percentile_marks(&v(&values), PercentileMethod::Llmeter);
        assert!((llmeter[1].value - 90.9).abs() < 1e-9, "{llmeter:?}");
        assert!(percentile_marks(&v(&[]), PercentileMethod::Linear).is_empty());
        assert_eq!(percentile_marks(&v(&[0.3]), PercentileMethod::Linear).len(), 3);
    }

    #[test]
    fn whiskers_stop_at_one_and_a_half_iqr() {
        let b = BoxStats::of(&v(&[1.0, 2.0, 3.0, 4.0, 100.0]), PercentileMethod::Linear).unwrap();
        assert_eq!((b.q1, b.median, b.q3), (2.0, 3.0, 4.0));
        // Fences at -1 and 7: 100 is an outlier, the high whisker stops at 4.
        assert_eq!((b.low_whisker, b.high_whisker), (1.0, 4.0));
        assert_eq!((b.low_outliers, b.high_outliers), (0, 4));
        let b = BoxStats::of(&v(&[-50.0, 10.0, 11.0, 12.0, 13.0]), PercentileMethod::Linear).unwrap();
        assert_eq!((b.low_outliers, b.low_whisker), (1, 10.0));
    }

    #[test]
    fn identical_values_make_a_flat_box() {
        let b = BoxStats::of(&v(&[0.2; 5]), PercentileMethod::Linear).unwrap();
        assert_eq!((b.q1, b.q3, b.low_whisker, b.high_whisker), (0.2, 0.2, 0.2, 0.2));
        assert_eq!((b.low_outliers, b.high_outliers), (0, 5));
        assert_eq!(BoxStats::of(&v(&[]), PercentileMethod::Linear), None);
    }

    #[test]
    fn cdf_points_are_capped_and_keep_both_ends() {
        let values: Vec<f64> = (0..10_000).map(f64::from).collect();
        let points = cdf_points(&v(&values), 101);
        assert_eq!(points.len(), 101);
        assert_eq!(points[0], (0.0, 1e-4));
        assert_eq!(points[100], (9_999.0, 1.0));
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        assert_eq!(cdf_points(&v(&[5.0, 6.0]), 100), [(5.0, 0.5), (6.0, 1.0)]);
        assert!(cdf_points(&v(&[]), 100).is_empty());
    }
}
