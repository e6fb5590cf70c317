//! Thresholds on a run's `stats.json`, k6-style: `time_to_first_token-p99<0.5`, `failed_requests_rate<=0.01`.
//! A CI job passes when every threshold holds. A key the statistics do not have (or whose value is `null`, e.g.
//! TTFT of a non-streaming run) fails its threshold: a check that cannot be made must not pass silently.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use thiserror::Error;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    /// Longest first, so `<=` is not read as `<`.
    const SPELLINGS: [(&'static str, Comparison); 6] = [
        ("<=", Comparison::LessOrEqual),
        (">=", Comparison::GreaterOrEqual),
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
        ("<", Comparison::Less),
        (">", Comparison::Greater),
    ];

    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Comparison::Less => value < bound,
            Comparison::LessOrEqual => value <= bound,
            Comparison::Greater => value > bound,
            Comparison::GreaterOrEqual => value >= bound,
            Comparison::Equal => value == bound,
            Comparison::NotEqual => value != bound,
        }
    }

    fn symbol(self) -> &'static str {
        Comparison::SPELLINGS
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(s, _)| *s)
            .expect("every comparison is spelt")
    }
}

/// One threshold: a `stats.json` key, a comparison and a bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub key: String,
    pub comparison: Comparison,
    pub bound: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("threshold {text:?}: {problem} (write KEY<VALUE with <, <=, >, >=, == or !=, e.g. time_to_first_token-p99<0.5)")]
pub struct ThresholdError {
    pub text: String,
    pub problem: &'static str,
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
        let wrong = |problem| ThresholdError {
            text: text.to_owned(),
            problem,
        };
        let (at, spelling, comparison) = Comparison::SPELLINGS
            .iter()
            .filter_map(|(s, c)| text.find(s).map(|at| (at, *s, *c)))
            .min_by_key(|(at, s, _)| (*at, usize::MAX - s.len()))
            .ok_or_else(|| wrong("no comparison"))?;
        let key = text[..at].trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(wrong("the key must be a stats.json key"));
        }
        let bound: f64 = text[at + spelling.len()..]
            .trim()
            .parse()
            .map_err(|_| wrong("the bound must be a number"))?;
        if !bound.is_finite() {
            return Err(wrong("the bound must be finite"));
        }
        Ok(Threshold {
            key: key.to_owned(),
            comparison,
            bound,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.key, self.comparison.symbol(), self.bound)
    }
}

/// How one threshold fared against a run's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub threshold: Threshold,
    /// The value found, if the key had a number.
    pub value: Option<f64>,
    pub holds: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.holds { "ok" } else { "FAILED" };
        match self.value {
            Some(value) => write!(f, "{mark}: {} (value {value})", self.threshold),
            None => write!(
                f,
                "{mark}: {} (the statistics have no value for {})",
                self.threshold, self.threshold.key
            ),
        }
    }
}

impl Threshold {
    /// Checks the threshold against a `stats.json` map.
    pub fn check(&self, stats: &Map<String, Value>) -> Verdict {
        let value = stats.get(&self.key).and_then(Value::as_f64);
        Verdict {
            threshold: self.clone(),
            value,
            holds: value.is_some_and(|v| self.comparison.holds(v, self.bound)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stats() -> Map<String, Value> {
        json!({"time_to_first_token-p99": 0.42, "failed_requests_rate": 0.02, "time_to_first_token-p50": null})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn thresholds_read_every_comparison() {
        let t: Threshold = "time_to_first_token-p99<=0.5".parse().unwrap();
        assert_eq!(
            (t.key.as_str(), t.comparison, t.bound),
            ("time_to_first_token-p99", Comparison::LessOrEqual, 0.5)
        );
        assert_eq!(
            " failed_requests_rate < 0.01 "
                .parse::<Threshold>()
                .unwrap()
                .comparison,
            Comparison::Less
        );
        assert_eq!(
            "output_tps>=100".parse::<Threshold>().unwrap().comparison,
            Comparison::GreaterOrEqual
        );
        assert_eq!(
            "failed_requests!=0".parse::<Threshold>().unwrap().to_string(),
            "failed_requests!=0"
        );
        for bad in ["", "ttft", "<0.5", "a<b", "a<inf", "a b<1"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_threshold_holds_fails_or_fails_for_want_of_a_value() {
        let check = |text: &str| text.parse::<Threshold>().unwrap().check(&stats());
        assert!(check("time_to_first_token-p99<0.5").holds);
        let failed = check("failed_requests_rate<0.01");
        assert!(!failed.holds);
        assert_eq!(failed.value, Some(0.02));
        assert!(failed
            .to_string()
            .starts_with("FAILED: failed_requests_rate<0.01 (value 0.02)"));
        assert!(!check("time_to_first_token-p50<1").holds, "null fails");
        assert!(!check("no_such_key>0").holds, "missing fails");
    }
}
