//! [`Dist`]: a small seeded distribution of non-negative values (seconds, or token counts), with a text form
//! (`fixed:0.2`, `uniform:0.1,0.5`, `normal:0.3,0.05`, `lognormal:0.35,0.3`) so that run settings can name one.

use std::fmt;
use std::str::FromStr;

use crate::rng::SeededRng;

/// A small seeded distribution of non-negative values (seconds, or token counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Fixed(f64),
    /// Uniform in `[lo, hi)`.
    Uniform {
        lo: f64,
        hi: f64,
    },
    /// Normal, clamped at 0.
    Normal {
        mean: f64,
        std_dev: f64,
    },
    /// Log-normal: `median × e^(sigma·Z)`; right-skewed like real latencies.
    LogNormal {
        median: f64,
        sigma: f64,
    },
}

impl Dist {
    /// One draw, never negative. Every variant consumes the same number of draws from `rng` (two), so one
    /// request's later values do not depend on which variant an earlier one used.
    pub fn sample(&self, rng: &mut SeededRng) -> f64 {
        let u = rng.unit();
        let z = rng.standard_normal();
        let value = match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { lo, hi } => {
                if hi > lo {
                    lo + (hi - lo) * u
                } else {
                    lo
                }
            }
            Dist::Normal { mean, std_dev } => mean + std_dev * z,
            Dist::LogNormal { median, sigma } => median * (sigma * z).exp(),
        };
        if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Dist::Fixed(v) => write!(f, "fixed:{v}"),
            Dist::Uniform { lo, hi } => write!(f, "uniform:{lo},{hi}"),
            Dist::Normal { mean, std_dev } => write!(f, "normal:{mean},{std_dev}"),
            Dist::LogNormal { median, sigma } => write!(f, "lognormal:{median},{sigma}"),
        }
    }
}

impl FromStr for Dist {
    type Err = String;

    /// `fixed:V` (or a bare number), `uniform:LO,HI`, `normal:MEAN,SD`, `lognormal:MEDIAN,SIGMA`; every number
    /// finite and non-negative, `HI ≥ LO`.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || {
            format!("{s:?} is not a distribution: use fixed:V, uniform:LO,HI, normal:MEAN,SD or lognormal:MEDIAN,SIGMA")
        };
        let (kind, args) = s.trim().split_once(':').unwrap_or(("fixed", s.trim()));
        let numbers: Vec<f64> = args
            .split(',')
            .map(|n| {
                n.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
            })
            .collect::<Option<_>>()
            .ok_or_else(usage)?;
        match (kind.trim().to_ascii_lowercase().as_str(), numbers.as_slice()) {
            ("fixed", [v]) => Ok(Dist::Fixed(*v)),
            ("uniform", [lo, hi]) if hi >= lo => Ok(Dist::Uniform { lo: *lo, hi: *hi }),
            ("normal", [mean, std_dev]) => Ok(Dist::Normal {
                mean: *mean,
                std_dev: *std_dev,
            }),
            ("lognormal", [median, sigma]) => Ok(Dist::LogNormal {
                median: *median,
                sigma: *sigma,
            }),
            _ => Err(usage()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_bad_ones_say_how() {
        for text in [
            "fixed:0.2",
            "uniform:0.1,0.5",
            "normal:0.3,0.05",
            "lognormal:0.35,0.3",
        ] {
            let dist: Dist = text.parse().unwrap();
            assert_eq!(dist.to_string(), text);
        }
        assert_eq!("0.25".parse(), Ok(Dist::Fixed(0.25)));
        for bad in ["uniform:0.5,0.1", "normal:1", "gamma:1,2", "fixed:-1", "fixed:x"] {
            let err = bad.parse::<Dist>().unwrap_err();
            assert!(err.contains("lognormal:MEDIAN,SIGMA"), "{bad}: {err}");
        }
    }
}
