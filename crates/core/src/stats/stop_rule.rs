//! Adaptive stop: end a run once the percentiles it is about are known precisely enough.
//!
//! `stop_when=time_to_first_token-p95:5%` holds once the confidence interval of TTFT p95 (at the stats'
//! configured level) has a half-width of at most 5 % of the p95 itself. Several rules, comma-separated, must all
//! hold. The engine checks them at every snapshot and stops sending once they do, as it stops at its request or
//! duration limit: requests in flight finish and count.
//!
//! Those requests in flight are the slow ones (a request sent with others finishes last when it is slow), so a
//! rule judged on the finished requests alone would stop on a sample biased low, and the run's final interval
//! could miss the rule. A rule therefore holds only if it holds however the requests in flight turn out: the
//! interval's ends and the percentile are bounded with those values all at the bottom and all at `+∞`
//! ([`RunningStats::percentile_bounds`]), and the half-width is taken from the widest of them. So a run never
//! ends before its final statistics meet the rule.
//!
//! Checking an interval repeatedly and stopping at the first success makes its coverage somewhat lower than the
//! nominal level (optional stopping); a rule is a precision target, not a test of significance.

use std::fmt;
use std::str::FromStr;

use crate::stats::interval::min_samples;
use crate::stats::metric::Metric;
use crate::stats::running::RunningStats;

/// Why a run stopped sending, written as `stop_reason` in `stats.json` at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Its request count or duration was reached.
    Limit,
    /// Every `stop_when` rule was met first.
    IntervalMet,
    /// Someone pressed Stop (the run is `interrupted`).
    Stopped,
}

impl StopReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            StopReason::Limit => "limit",
            StopReason::IntervalMet => "interval_met",
            StopReason::Stopped => "stopped",
        }
    }
}

/// One rule: `<metric>-p<P>:<X>%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopRule {
    pub metric: Metric,
    /// The percentile, in `(0, 100)`.
    pub percentile: f64,
    /// The largest half-width of the interval, as a fraction of the percentile's value (0.05 for `5%`).
    pub relative_half_width: f64,
}

/// What a rule says of the statistics so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Fewer values than any interval needs (`have` of `need`).
    TooFew { have: usize, need: usize },
    /// The interval exists but is wider than asked: its half-width relative to the value.
    TooWide { relative_half_width: f64 },
    /// The interval is as narrow as asked, whatever the requests in flight turn out to be.
    Met {
        /// The percentile lies in `value_low..=value_high`, and its interval within `low..=high`.
        value_low: f64,
        value_high: f64,
        low: f64,
        high: f64,
        relative_half_width: f64,
    },
}

impl StopRule {
    /// Judges the rule on `stats` at its configured confidence level, with `in_flight` values still to come.
    pub fn judge(&self, stats: &mut RunningStats, in_flight: usize) -> Verdict {
        let level = stats.config().confidence;
        let need = min_samples(self.percentile / 100.0, level).unwrap_or(usize::MAX);
        let have = stats.summary(self.metric).map_or(0, |s| s.count);
        let Some(b) = stats.percentile_bounds(self.metric, self.percentile, in_flight) else {
            return Verdict::TooFew { have, need };
        };
        let spread = b.high - b.low;
        let relative_half_width = match b.value_low.abs() {
            _ if spread == 0.0 => 0.0,
            scale if scale > 0.0 => spread / 2.0 / scale,
            _ => f64::INFINITY,
        };
        if relative_half_width <= self.relative_half_width {
            Verdict::Met {
                value_low: b.value_low,
                value_high: b.value_high,
                low: b.low,
                high: b.high,
                relative_half_width,
            }
        } else {
            Verdict::TooWide { relative_half_width }
        }
    }
}

impl fmt::Display for StopRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-p{}:{}%",
            self.metric.key(),
            self.percentile,
            self.relative_half_width * 100.0
        )
    }
}

impl FromStr for StopRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let usage =
            || format!("{text:?} is not <metric>-p<percentile>:<width>%, e.g. time_to_first_token-p95:5%");
        let (stat, width) = text.split_once(':').ok_or_else(usage)?;
        let (key, percentile) = stat.rsplit_once("-p").ok_or_else(usage)?;
        let metric = Metric::ALL
            .into_iter()
            .find(|m| m.key() == key.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
                format!("no metric {key:?}: use one of {}", names.join(", "))
            })?;
        let percentile: f64 = percentile.trim().parse().map_err(|_| usage())?;
        if !(percentile > 0.0 && percentile < 100.0) {
            return Err(format!(
                "percentile {percentile} must lie strictly between 0 and 100"
            ));
        }
        let width = width.trim();
        let width: f64 = width
            .strip_suffix('%')
            .ok_or_else(usage)?
            .trim()
            .parse()
            .map_err(|_| usage())?;
        if !(width > 0.0 && width <= 100.0) {
            return Err(format!("width {width}% must be above 0% and at most 100%"));
        }
        Ok(StopRule {
            metric,
            percentile,
            relative_half_width: width / 100.0,
        })
    }
}

/// Every rule of a `stop_when` setting; all must hold. Empty: the run ends at its limits only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StopWhen(pub Vec<StopRule>);

impl StopWhen {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Some(why)` once every rule is met with `in_flight` values still to come (never for no rules): a sentence
    /// naming each interval.
    pub fn met(&self, stats: &mut RunningStats, in_flight: usize) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let level = stats.config().confidence * 100.0;
        let mut reasons = Vec::new();
        for rule in &self.0 {
            match rule.judge(stats, in_flight) {
                Verdict::Met {
                    value_low,
                    value_high,
                    low,
                    high,
                    relative_half_width,
                } => {
                    let value = if value_low == value_high {
                        format!("= {value_low:.6}")
                    } else {
                        format!("in {value_low:.6} to {value_high:.6}")
                    };
                    reasons.push(format!(
                        "{}-p{} {value} ({level}% CI within {low:.6} to {high:.6}, ±{:.2}% ≤ {}%, {in_flight} in flight)",
                        rule.metric.key(),
                        rule.percentile,
                        relative_half_width * 100.0,
                        rule.relative_half_width * 100.0
                    ))
                }
                _ => return None,
            }
        }
        Some(reasons.join("; "))
    }
}

impl FromStr for StopWhen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<StopRule>, String>>()
            .map(StopWhen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RequestRecord, RequestTiming};
    use crate::stats::StatsConfig;
    use crate::time::Timestamp;

    fn stats_with_ttfts(values: impl IntoIterator<Item = f64>) -> RunningStats {
        let mut stats = RunningStats::new(StatsConfig::default()).unwrap();
        for ttft in values {
            let at = Timestamp::from_micros((ttft * 1e6) as u64);
            stats.observe(&RequestRecord {
                timing: RequestTiming {
                    first_token_at: Some(at),
                    last_token_at: Some(at),
                    ended_at: at,
                    ..Default::default()
                },
                ..Default::default()
            });
        }
        stats
    }

    #[test]
    fn rules_parse_and_print() {
        let rule: StopRule = "time_to_first_token-p95:5%".parse().unwrap();
        assert_eq!(rule.metric, Metric::TimeToFirstToken);
        assert_eq!((rule.percentile, rule.relative_half_width), (95.0, 0.05));
        assert_eq!(rule.to_string(), "time_to_first_token-p95:5%");
        let two: StopWhen = "time_to_first_token-p50:2%, time_to_last_token-p99.9:10%"
            .parse()
            .unwrap();
        assert_eq!(two.0.len(), 2);
        assert_eq!(two.0[1].percentile, 99.9);
        assert!("".parse::<StopWhen>().unwrap().is_empty());
        for bad in [
            "ttft-p95:5%",
            "time_to_first_token-p95",
            "time_to_first_token-p100:5%",
            "time_to_first_token-p95:5",
        ] {
            assert!(bad.parse::<StopRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rule_is_met_only_once_its_interval_is_narrow_enough() {
        let rule: StopRule = "time_to_first_token-p50:5%".parse().unwrap();
        // Values 1..=n spread evenly: the median's interval is about ±1.96·√n/2 ranks wide, relative to n/2.
        let mut stats = stats_with_ttfts((1..=5).map(f64::from));
        assert_eq!(rule.judge(&mut stats, 0), Verdict::TooFew { have: 5, need: 6 });
        let mut stats = stats_with_ttfts((1..=100).map(f64::from));
        assert!(
            matches!(rule.judge(&mut stats, 0), Verdict::TooWide { relative_half_width } if relative_half_width > 0.05)
        );
        let mut stats = stats_with_ttfts((1..=2000).map(f64::from));
        match rule.judge(&mut stats, 0) {
            Verdict::Met {
                value_low,
                value_high,
                low,
                high,
                relative_half_width,
            } => {
                assert_eq!(value_low, value_high);
                assert!(low <= value_low && value_low <= high);
                assert!(relative_half_width <= 0.05);
            }
            other => panic!("{other:?}"),
        }
        let when = StopWhen(vec![rule]);
        assert!(when
            .met(&mut stats, 0)
            .unwrap()
            .contains("time_to_first_token-p50 = 1000.5"));
        assert_eq!(StopWhen::default().met(&mut stats, 0), None);
        // With as many requests still in flight as the margin allows, the rule no longer holds.
        assert!(when.met(&mut stats, 400).is_none());
    }

    proptest::proptest! {
        /// Whatever the requests in flight turn out to be, once they are in, the run's interval and percentile
        /// lie within the bounds the rule was judged on.
        #[test]
        fn bounds_hold_whatever_the_values_in_flight(
            seen in proptest::collection::vec(0.0_f64..10.0, 1..300),
            late in proptest::collection::vec(0.0_f64..1e3, 0..40),
            p in 1.0_f64..99.0,
        ) {
            let mut stats = stats_with_ttfts(seen.iter().copied());
            let Some(b) = stats.percentile_bounds(Metric::TimeToFirstToken, p, late.len()) else {
                return Ok(());
            };
            let mut all = stats_with_ttfts(seen.iter().chain(&late).copied());
            let after = all.percentile_bounds(Metric::TimeToFirstToken, p, 0).unwrap();
            let tol = 1e-6; // whole microseconds, as records keep them
            proptest::prop_assert!(b.value_low - tol <= after.value_low && after.value_high <= b.value_high + tol);
            proptest::prop_assert!(b.low - tol <= after.low && after.high <= b.high + tol, "{b:?} {after:?}");
        }
    }
}
