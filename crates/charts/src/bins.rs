//! Binning, apart from drawing so it can be tested: histogram bins on nice edges (with a long tail folded into
//! an overflow bar), and LLMeter's integer-width bins of token counts for the latency heatmap.

use crate::axis::nice_step;
use tokenmeter_core::figure_data::Values;

/// The most bars a histogram draws.
pub const MAX_BINS: usize = 40;

/// Counts of values in equal-width bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `counts.len() + 1` ascending edges; bin `i` is `[edges[i], edges[i + 1])`, the last one closed.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    /// Values above the last edge, when the axis stops short of a long tail (see [`Histogram::of`]).
    pub overflow: u64,
}

impl Histogram {
    /// The histogram of `values` (finite) multiplied by `scale` (to draw in the axis's unit), or
    /// `None` without values.
    ///
    /// About √n bins (at most [`MAX_BINS`]) on nice edges. When the top 1 % of values spans more of the range
    /// than the other 99 % (one 30 s outlier among 200 ms requests), the bins stop at p99 and the values above
    /// it are counted in `overflow`, so the bulk of the distribution stays readable. Identical values make one
    /// bin around their value.
    pub fn of(values: &Values, scale: f64) -> Option<Histogram> {
        let (first, last) = (values.first()?, values.last()?);
        let (min, max) = (first * scale, last * scale);
        // p99 by rank (nearest below): only the axis depends on it, not a reported number.
        let p99 = values.nth((values.len() - 1) * 99 / 100) * scale;
        let clipped = max - p99 > p99 - min;
        let hi = if clipped { p99 } else { max };
        let edges = bin_edges(min, hi, target_bins(values.len()));
        let bins = edges.len() - 1;
        let (start, end) = (edges[0], edges[bins]);
        let step = (end - start) / bins as f64;
        let mut counts = vec![0u64; bins];
        let mut overflow = 0;
        for (v, n) in values.runs() {
            let v = v * scale;
            if clipped && v > end {
                overflow += n;
                continue;
            }
            // A value a rounding error below an edge (0.29 × 1000) belongs to the bin the edge opens.
            let i = (((v - start) / step + 1e-9).floor().max(0.0) as usize).min(bins - 1);
            counts[i] += n;
        }
        Some(Histogram {
            edges,
            counts,
            overflow,
        })
    }
}

/// √n bins, between 1 and [`MAX_BINS`].
fn target_bins(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).clamp(1, MAX_BINS)
}

/// Ascending edges of about `bins` equal bins on multiples of a nice step, covering `[lo, hi]`. An empty range
/// (identical values) gives one bin centred on the value.
pub fn bin_edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    if hi <= lo {
        let half = if lo == 0.0 {
            0.5
        } else {
            nice_step(lo.abs() / 10.0) / 2.0
        };
        return vec![lo - half, lo + half];
    }
    let step = nice_step((hi - lo) / bins.max(1) as f64);
    let first = (lo / step + 1e-9).floor();
    // The last edge is the first at or above `hi`; a value on it counts in the last bin.
    let mut last = (hi / step - 1e-9).ceil();
    if last <= first {
        last = first + 1.0;
    }
    (0..=(last - first) as i64)
        .map(|i| (first + i as f64) * step)
        .collect()
}

/// LLMeter's `heatmap._cut` bins of integer values (token counts): `bins` bins of integer width
/// `max(1, ceil((max − min) / bins))` from `min`, the last boundary raised to `max + 1` when it would not exceed
/// `max`; identical values make the single bin `[v, v + 1]`. Value `v` goes to bin
/// `min(floor((v − min) / width), bins − 1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntBins {
    /// Ascending boundaries: bin `i` is `[boundaries[i], boundaries[i + 1]]` as LLMeter draws it.
    pub boundaries: Vec<u64>,
    min: u64,
    width: u64,
}

impl IntBins {
    /// The bins of `values`, or `None` without values or bins (LLMeter raises on an empty list).
    pub fn of(values: impl IntoIterator<Item = u64>, bins: usize) -> Option<IntBins> {
        let (mut min, mut max) = (u64::MAX, 0);
        let mut any = false;
        for v in values {
            (min, max, any) = (min.min(v), max.max(v), true);
        }
        if !any || bins == 0 {
            return None;
        }
        if min == max {
            return Some(IntBins {
                boundaries: vec![min, min.saturating_add(1)],
                min,
                width: 1,
            });
        }
        let width = (max - min).div_ceil(bins as u64).max(1);
        let mut boundaries: Vec<u64> = (0..=bins as u64)
            .map(|i| min.saturating_add(i.saturating_mul(width)))
            .collect();
        let last = boundaries.last_mut().expect("bins ≥ 1 gives two boundaries");
        if *last <= max {
            *last = max.saturating_add(1);
        }
        Some(IntBins {
            boundaries,
            min,
            width,
        })
    }

    /// How many bins.
    pub fn len(&self) -> usize {
        self.boundaries.len() - 1
    }

    /// Never true: a bin set has at least one bin.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bin of `v` (values outside the range clamp to the first or last bin, as LLMeter's index does).
    pub fn index(&self, v: u64) -> usize {
        let i = (v.saturating_sub(self.min) / self.width) as usize;
        i.min(self.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_nice_multiples_covering_the_range() {
        assert_eq!(bin_edges(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(
            bin_edges(212.0, 695.0, 5),
            [200.0, 300.0, 400.0, 500.0, 600.0, 700.0]
        );
        let e = bin_edges(0.013, 0.019, 3);
        assert!((4..=6).contains(&e.len()), "{e:?}");
        assert!(e[0] <= 0.013 && *e.last().unwrap() >= 0.019);
        assert!(e.windows(2).all(|w| (w[1] - w[0] - 0.002).abs() < 1e-12), "{e:?}");
        // Identical values: one bin around the value.
        assert_eq!(bin_edges(250.0, 250.0, 10), [225.0, 275.0]);
        assert_eq!(bin_edges(0.0, 0.0, 10), [-0.5, 0.5]);
    }

    #[test]
    fn every_value_is_counted_once() {
        let values: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let h = Histogram::of(&Values::Exact { sorted: values }, 1e3).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 100);
        assert_eq!(h.overflow, 0);
        assert_eq!(h.edges.first(), Some(&0.0));
        assert!(*h.edges.last().unwrap() >= 990.0);
        assert_eq!(h.counts.len(), 10);
        assert!(h.counts.iter().all(|&c| c == 10), "{:?}", h.counts);
    }

    #[test]
    fn a_long_tail_is_folded_into_an_overflow_count() {
        let mut values: Vec<f64> = (0..200).map(|i| 0.2 + f64::from(i) * 0.001).collect();
        values.push(30.0);
        values.push(31.0);
        values.push(32.0);
        let h = Histogram::of(&Values::Exact { sorted: values }, 1.0).unwrap();
        assert_eq!(h.overflow, 3);
        assert_eq!(h.counts.iter().sum::<u64>(), 200);
        assert!(*h.edges.last().unwrap() < 1.0, "{:?}", h.edges);
    }

    #[test]
    fn identical_values_make_one_bin() {
        let h = Histogram::of(
            &Values::Exact {
                sorted: [0.25; 7].to_vec(),
            },
            1e3,
        )
        .unwrap();
        assert_eq!(h.counts, [7]);
        assert_eq!(h.edges, [225.0, 275.0]);
        assert_eq!(Histogram::of(&Values::Exact { sorted: [].to_vec() }, 1.0), None);
    }

    fn cut(values: &[u64], bins: usize) -> (Vec<u64>, Vec<usize>) {
        let b = IntBins::of(values.iter().copied(), bins).unwrap();
        let idx = values.iter().map(|&v| b.index(v)).collect();
        (b.boundaries, idx)
    }

    #[test]
    fn heatmap_bins_follow_llmeter_cut() {
        // width = ceil(3 / 2) = 2: [1, 3, 5].
        assert_eq!(cut(&[1, 2, 3, 4], 2), (vec![1, 3, 5], vec![0, 0, 1, 1]));
        // A range that is a multiple of the bins: the last boundary is raised to max + 1, and max goes in the
        // last bin, not a new one.
        let (b, idx) = cut(&[0, 50, 100], 10);
        assert_eq!(b, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 101]);
        assert_eq!(idx, [0, 5, 9]);
        let (b, idx) = cut(&[0, 10], 10);
        assert_eq!(b, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
        assert_eq!(idx, [0, 9]);
        // Narrower than the bin count: width 1, and the bins past max stay (empty), as in LLMeter.
        let (b, idx) = cut(&[10, 13], 10);
        assert_eq!(b, (10..=20).collect::<Vec<_>>());
        assert_eq!(idx, [0, 3]);
        // The last boundary is already past max: kept.
        let (b, idx) = cut(&[0, 95], 10);
        assert_eq!(b.last(), Some(&100));
        assert_eq!(idx, [0, 9]);
        // Identical values: the single bin [v, v + 1].
        assert_eq!(cut(&[128, 128, 128], 10), (vec![128, 129], vec![0, 0, 0]));
        assert_eq!(cut(&[7], 4), (vec![7, 8], vec![0]));
        // LLMeter raises on an empty list; here there are no bins.
        assert_eq!(IntBins::of([], 10), None);
        assert_eq!(IntBins::of([1, 2], 0), None);
    }

    #[test]
    fn heatmap_bins_of_llmeter_default_grid() {
        // LLMeter's LatencyHeatmap lengths: 10, 50, 200, 500 input tokens in 10 bins of width 49.
        let b = IntBins::of([10, 50, 200, 500], 10).unwrap();
        assert_eq!(b.len(), 10);
        assert_eq!(&b.boundaries[..3], [10, 59, 108]);
        assert_eq!(b.boundaries.last(), Some(&501));
        assert_eq!([10, 50, 200, 500].map(|v| b.index(v)), [0, 0, 3, 9]);
    }
}
