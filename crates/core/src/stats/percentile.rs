//! Exact percentiles of a sorted sample, by one of two named methods.
//!
//! * [`PercentileMethod::Linear`] (the default) is numpy's default `linear` method, Hyndman–Fan type 7: the
//!   value at rank `h = (n − 1)·p/100`, interpolated between its neighbours. It never leaves `[min, max]`.
//! * [`PercentileMethod::Llmeter`] reproduces LLMeter's `summary_stats_from_list` bit for bit: `p50` is
//!   `statistics.median`, every other percentile is a cut of Python's `statistics.quantiles(data, n=q)` with its
//!   default *exclusive* method, where `q` is the first of 4, 10, 100 whose step `100/q` divides `p`. The exclusive
//!   method extrapolates beyond the sample for small `n` (`[1, 2]` gives p90 = 2.7).
//!
//! LLMeter raises `ValueError` for a percentile that is not a whole number from 1 to 99; the `Llmeter` method
//! refuses such percentiles with [`PercentileError::Unsupported`] instead of guessing, so a file labelled
//! `"llmeter"` only ever holds numbers LLMeter itself would have produced. [`crate::stats::StatsConfig`]
//! checks this once, up front.

/// How a percentile is read off a sorted sample. The name from [`PercentileMethod::as_str`] is written into
/// `stats.json` (`percentile_method`) so a reader knows which definition produced the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PercentileMethod {
    /// numpy's default (`linear`, Hyndman–Fan type 7): `h = (n − 1)·p/100`, linear interpolation.
    #[default]
    Linear,
    /// LLMeter's method: `statistics.median` for p50, `statistics.quantiles` (exclusive) otherwise.
    Llmeter,
}

impl PercentileMethod {
    /// Every method, in the order they are documented.
    pub const ALL: [PercentileMethod; 2] = [PercentileMethod::Linear, PercentileMethod::Llmeter];

    /// The stable name written into `stats.json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PercentileMethod::Linear => "linear",
            PercentileMethod::Llmeter => "llmeter",
        }
    }

    /// The method named by [`PercentileMethod::as_str`].
    pub fn parse(name: &str) -> Option<PercentileMethod> {
        PercentileMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether this method can compute percentile `p` (in percent).
    pub fn check(self, p: f64) -> Result<(), PercentileError> {
        let ok = match self {
            PercentileMethod::Linear => (0.0..=100.0).contains(&p),
            // `statistics.quantiles` cuts exist only for whole percentiles strictly inside (0, 100).
            PercentileMethod::Llmeter => p.fract() == 0.0 && (1.0..=99.0).contains(&p),
        };
        if ok {
            Ok(())
        } else {
            Err(PercentileError::Unsupported { p, method: self })
        }
    }
}

/// Why a percentile could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PercentileError {
    /// The sample has no values. Callers report "no value" (LLMeter omits the key) rather than a number.
    #[error("the sample is empty, so it has no percentiles")]
    Empty,
    /// `p` is outside what the method defines: `linear` takes 0 to 100, `llmeter` only whole numbers 1 to 99
    /// (as LLMeter itself). Use the `linear` method for percentiles such as 99.9.
    #[error("percentile {p} is not supported by the {} method (linear: 0-100; llmeter: whole numbers 1-99)", method.as_str())]
    Unsupported { p: f64, method: PercentileMethod },
}

/// Percentile `p` (in percent) of `sorted`, which must be in ascending order and free of NaN.
pub fn percentile(sorted: &[f64], p: f64, method: PercentileMethod) -> Result<f64, PercentileError> {
    estimate(sorted, p, method).map(|e| e.value)
}

/// Random access to the order statistics of a sample: `nth(i)` is its `i`-th smallest value. Implemented by
/// plain sorted slices and by the stats' split sorted storage, so one percentile routine serves both.
pub(crate) trait OrderStats {
    fn len(&self) -> usize;
    fn nth(&self, i: usize) -> f64;
}

impl OrderStats for [f64] {
    fn len(&self) -> usize {
        <[f64]>::len(self)
    }

    fn nth(&self, i: usize) -> f64 {
        self[i]
    }
}

/// A percentile value, and whether it is one of the sample's own values rather than an interpolation. Python
/// keeps an `int` sample value an `int` (`median([5, 6, 7])` is `6`, not `6.0`), so integer metrics are written
/// as JSON integers exactly when this is true.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub value: f64,
    pub is_sample: bool,
}

pub(crate) fn estimate<S: OrderStats + ?Sized>(
    s: &S,
    p: f64,
    method: PercentileMethod,
) -> Result<Estimate, PercentileError> {
    method.check(p)?;
    let n = s.len();
    match n {
        0 => Err(PercentileError::Empty),
        1 => Ok(Estimate {
            value: s.nth(0),
            is_sample: true,
        }),
        _ => Ok(match method {
            PercentileMethod::Linear => linear(s, n, p),
            PercentileMethod::Llmeter => llmeter(s, n, p),
        }),
    }
}

/// numpy `percentile(..., method="linear")`, including its `_lerp`, which interpolates from the nearer
/// neighbour so the result is exact at both ends and monotonic in `p`.
fn linear<S: OrderStats + ?Sized>(s: &S, n: usize, p: f64) -> Estimate {
    let h = (n - 1) as f64 * (p / 100.0);
    if h >= (n - 1) as f64 {
        return Estimate {
            value: s.nth(n - 1),
            is_sample: true,
        };
    }
    let below = h.floor();
    let gamma = h - below;
    let below = below as usize;
    let (a, b) = (s.nth(below), s.nth(below + 1));
    let diff = b - a;
    let value = if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    };
    Estimate {
        value,
        is_sample: gamma == 0.0,
    }
}

/// LLMeter: `statistics.median` for p50, else cut `i = p·q/100` of `statistics.quantiles(data, n=q)`.
fn llmeter<S: OrderStats + ?Sized>(s: &S, n: usize, p: f64) -> Estimate {
    if p == 50.0 {
        let mid = n / 2;
        return if n % 2 == 1 {
            Estimate {
                value: s.nth(mid),
                is_sample: true,
            }
        } else {
            Estimate {
                value: (s.nth(mid - 1) + s.nth(mid)) / 2.0,
                is_sample: false,
            }
        };
    }
    // `check` guarantees a whole p in 1..=99, so the integer arithmetic below is Python's, exactly.
    let p = p as i64;
    let q = [4_i64, 10, 100]
        .into_iter()
        .find(|q| p % (100 / q) == 0)
        .unwrap_or(100);
    let i = p * q / 100;
    // Python's exclusive method: plotting position i·(n + 1)/q, clamped to a real pair of neighbours, with a
    // `delta` that may leave 0..q (which is what extrapolates).
    let (n, m) = (n as i64, n as i64 + 1);
    let j = (i * m / q).clamp(1, n - 1);
    let delta = i * m - j * q;
    let (lo, hi) = (s.nth(j as usize - 1), s.nth(j as usize));
    Estimate {
        value: (lo * (q - delta) as f64 + hi * delta as f64) / q as f64,
        is_sample: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use PercentileMethod::{Linear, Llmeter};

    /// `(p, llmeter, linear)`.
    type Expected = (f64, f64, f64);

    /// Golden values from Python 3.11. `llmeter`: `statistics.median` for 50, else
    /// `statistics.quantiles(sorted(d), n=q)[int(p*q/100)-1]` with q the first of 4, 10, 100 dividing p (LLMeter's
    /// `summary_stats_from_list`). `linear`: numpy's formula by hand, `h=(n-1)*(p/100)`, `lo=floor(h)`,
    /// `g=h-lo`, `b-(b-a)*(1-g) if g>=0.5 else a+(b-a)*g` (numpy is not installed there).
    const CASES: &[(&[f64], [Expected; 6])] = &[
        (
            &[1.0, 2.0],
            [
                (25.0, 0.75, 1.25),
                (50.0, 1.5, 1.5),
                (75.0, 2.25, 1.75),
                (90.0, 2.7, 1.9),
                (95.0, 2.85, 1.95),
                (99.0, 2.97, 1.99),
            ],
        ),
        (
            &[1.0, 100.0],
            [
                (25.0, -23.75, 25.75),
                (50.0, 50.5, 50.5),
                (75.0, 124.75, 75.25),
                (90.0, 169.3, 90.1),
                (95.0, 184.15, 95.05),
                (99.0, 196.03, 99.01),
            ],
        ),
        (
            &[1.0, 2.0, 3.0],
            [
                (25.0, 1.0, 1.5),
                (50.0, 2.0, 2.0),
                (75.0, 3.0, 2.5),
                (90.0, 3.6, 2.8),
                (95.0, 3.8, 2.9),
                (99.0, 3.96, 2.98),
            ],
        ),
        (
            &[1.0, 2.0, 3.0, 4.0],
            [
                (25.0, 1.25, 1.75),
                (50.0, 2.5, 2.5),
                (75.0, 3.75, 3.25),
                (90.0, 4.5, 3.7),
                (95.0, 4.75, 3.8499999999999996),
                (99.0, 4.95, 3.9699999999999998),
            ],
        ),
        (
            &[1.25, 2.0, 3.5, 4.75, 7.25, 8.5, 9.0],
            [
                (25.0, 2.0, 2.75),
                (50.0, 4.75, 4.75),
                (75.0, 8.5, 7.875),
                (90.0, 9.1, 8.7),
                (95.0, 9.3, 8.85),
                (99.0, 9.46, 8.969999999999999),
            ],
        ),
    ];

    #[test]
    fn golden_values_of_both_methods() {
        for (data, rows) in CASES {
            for &(p, want_llmeter, want_linear) in rows {
                // Both sides are single IEEE operations on the same inputs: equal to the last bit, or 1 ulp.
                let got = percentile(data, p, Llmeter).unwrap();
                assert!(
                    (got - want_llmeter).abs() <= 1e-12,
                    "llmeter p{p} of {data:?}: {got} != {want_llmeter}"
                );
                let got = percentile(data, p, Linear).unwrap();
                assert!(
                    (got - want_linear).abs() <= 1e-12,
                    "linear p{p} of {data:?}: {got} != {want_linear}"
                );
            }
        }
    }

    #[test]
    fn exclusive_method_extrapolates_like_python() {
        assert_eq!(percentile(&[1.0, 2.0], 90.0, Llmeter), Ok(2.7));
        assert_eq!(percentile(&[1.0, 2.0], 99.0, Llmeter), Ok(2.97));
        assert_eq!(percentile(&[1.0, 100.0], 90.0, Llmeter), Ok(169.3));
        // Linear stays inside the sample.
        assert_eq!(percentile(&[1.0, 100.0], 90.0, Linear), Ok(90.1));
    }

    #[test]
    fn medians_of_odd_and_even_samples() {
        for method in PercentileMethod::ALL {
            assert_eq!(percentile(&[1.0, 5.0, 9.0], 50.0, method), Ok(5.0));
            assert_eq!(percentile(&[1.0, 5.0, 9.0, 10.0], 50.0, method), Ok(7.0));
        }
        let odd = estimate(&[1.0, 5.0, 9.0][..], 50.0, Llmeter).unwrap();
        let even = estimate(&[1.0, 5.0, 9.0, 10.0][..], 50.0, Llmeter).unwrap();
        assert!(odd.is_sample && !even.is_sample);
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        for method in PercentileMethod::ALL {
            for p in [1.0, 25.0, 50.0, 90.0, 99.0] {
                assert_eq!(
                    estimate(&[7.5][..], p, method),
                    Ok(Estimate {
                        value: 7.5,
                        is_sample: true
                    })
                );
            }
        }
    }

    #[test]
    fn methods_differ_and_report_errors() {
        let data = [1.0, 2.0, 3.0, 4.0];
        assert_ne!(percentile(&data, 90.0, Linear), percentile(&data, 90.0, Llmeter));
        assert_eq!(percentile(&[], 50.0, Linear), Err(PercentileError::Empty));
        // Python, numpy's linear formula by hand (see CASES): 3.9970000000000003.
        assert_eq!(percentile(&data, 99.9, Linear), Ok(3.9970000000000003));
        for p in [99.9, 0.0, 100.0, 12.5, -1.0, f64::NAN] {
            assert!(matches!(
                percentile(&data, p, Llmeter),
                Err(PercentileError::Unsupported { method: Llmeter, .. })
            ));
        }
        assert!(percentile(&data, 100.5, Linear).is_err());
        assert_eq!(percentile(&data, 0.0, Linear), Ok(1.0));
        assert_eq!(percentile(&data, 100.0, Linear), Ok(4.0));
    }

    #[test]
    fn method_names_round_trip() {
        for method in PercentileMethod::ALL {
            assert_eq!(PercentileMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(PercentileMethod::parse("nearest"), None);
        assert_eq!(PercentileMethod::default(), Linear);
    }

    proptest! {
        #[test]
        fn linear_stays_within_the_sample(
            mut data in prop::collection::vec(-1e6_f64..1e6, 1..60),
            p in 0.0_f64..=100.0,
        ) {
            data.sort_by(f64::total_cmp);
            let v = percentile(&data, p, Linear).unwrap();
            prop_assert!(data[0] <= v && v <= data[data.len() - 1]);
        }

        #[test]
        fn linear_is_monotonic_in_p(
            mut data in prop::collection::vec(-1e6_f64..1e6, 1..60),
            p in 0.0_f64..=100.0,
            q in 0.0_f64..=100.0,
        ) {
            data.sort_by(f64::total_cmp);
            let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
            prop_assert!(percentile(&data, lo, Linear).unwrap() <= percentile(&data, hi, Linear).unwrap());
        }
    }
}
