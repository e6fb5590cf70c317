//! The highest load that meets an SLO: a bisection over concurrency (closed loop) or arrival rate (open loop).
//!
//! `search=clients:1-64` with `search_slo=time_to_first_token-p95<0.5,failed_requests_rate<=0.01` runs one step
//! at the lowest level, one at the highest, then halves the gap between the highest level that held and the
//! lowest that failed, until they are one client (or 5 % of the rate) apart. Each step is a whole run with the
//! settings' own length: add `stop_when` to make each step just long enough for its intervals. The search
//! assumes that the SLO, once broken, stays broken at higher load (a knee), as bisection must.
//!
//! [`SloSearch`] is sans-IO: it says which level to run next and is told how each step went, so the page's
//! worker and the command's native engine search the same way, and tests drive it without a server.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::input::MAX_CLIENTS;
use crate::plan::{Arrival, RunPlanSpec};
use crate::threshold::{Threshold, Verdict};

/// The largest relative gap between two rates at which a rate search ends.
pub const RATE_RESOLUTION: f64 = 0.05;
/// The most steps any search takes (a range of 1 to 10,000 clients needs 16).
pub const MAX_STEPS: usize = 40;

/// What the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Concurrent clients of a closed loop.
    Clients,
    /// Arrivals per second of an open loop.
    Rate,
}

impl Axis {
    pub const fn as_str(self) -> &'static str {
        match self {
            Axis::Clients => "clients",
            Axis::Rate => "rate",
        }
    }

    /// A level as a person reads it: `12 clients`, `7.5 req/s`.
    pub fn describe(self, level: f64) -> String {
        match self {
            Axis::Clients => format!("{level} clients"),
            Axis::Rate => format!("{level} req/s"),
        }
    }
}

/// The range searched: `clients:1-64` or `rate:0.5-200`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchRange {
    pub axis: Axis,
    pub low: f64,
    pub high: f64,
}

impl FromStr for SearchRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("{text:?} is not clients:LOW-HIGH or rate:LOW-HIGH, e.g. clients:1-64");
        let (axis, range) = text.trim().split_once(':').ok_or_else(usage)?;
        let axis = match axis.trim() {
            "clients" => Axis::Clients,
            "rate" => Axis::Rate,
            _ => return Err(usage()),
        };
        let (low, high) = range.split_once('-').ok_or_else(usage)?;
        let (low, high): (f64, f64) = (
            low.trim().parse().map_err(|_| usage())?,
            high.trim().parse().map_err(|_| usage())?,
        );
        let whole = |v: f64| v.fract() == 0.0 && (1.0..=MAX_CLIENTS as f64).contains(&v);
        match axis {
            Axis::Clients if !(whole(low) && whole(high)) => {
                return Err(format!("clients must be whole numbers from 1 to {MAX_CLIENTS}"));
            }
            Axis::Rate if !(low > 0.0 && high.is_finite()) => {
                return Err("rates must be above 0 requests per second".into());
            }
            _ => {}
        }
        if low >= high {
            return Err(format!("the low end {low} must be below the high end {high}"));
        }
        Ok(SearchRange { axis, low, high })
    }
}

impl fmt::Display for SearchRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}-{}", self.axis.as_str(), self.low, self.high)
    }
}

impl SearchRange {
    /// The template's plan at `level`: its clients (closed loop) or its rate (open loop) set to `level`.
    pub fn plan_at(&self, template: &RunPlanSpec, level: f64) -> RunPlanSpec {
        let arrival = match (self.axis, template.arrival) {
            (Axis::Clients, Arrival::ClosedLoop { .. }) => Arrival::ClosedLoop {
                clients: level as u32,
            },
            (Axis::Rate, Arrival::ConstantRate { max_concurrency, .. }) => Arrival::ConstantRate {
                per_second: level,
                max_concurrency,
            },
            (Axis::Rate, Arrival::Poisson { max_concurrency, .. }) => Arrival::Poisson {
                per_second: level,
                max_concurrency,
            },
            (_, arrival) => arrival,
        };
        RunPlanSpec {
            arrival,
            ..template.clone()
        }
    }

    /// Whether the template's arrivals are the kind this axis varies.
    pub fn fits(&self, arrival: &Arrival) -> bool {
        arrival.is_closed_loop() == (self.axis == Axis::Clients)
    }

    /// The name of the step's run: `slo-search-clients-12`.
    pub fn run_name(&self, level: f64) -> String {
        format!("slo-search-{}-{level}", self.axis.as_str())
    }

    /// Whether two levels are close enough to end the search.
    fn resolved(&self, held: f64, failed: f64) -> bool {
        match self.axis {
            Axis::Clients => failed - held <= 1.0,
            Axis::Rate => failed - held <= held * RATE_RESOLUTION,
        }
    }

    /// The level halfway between two (whole clients; rates to 3 significant digits, so names stay short).
    fn between(&self, held: f64, failed: f64) -> f64 {
        let mid = (held + failed) / 2.0;
        match self.axis {
            Axis::Clients => mid.floor(),
            Axis::Rate => {
                let digits = 10_f64.powi(2 - mid.log10().floor() as i32);
                (mid * digits).round() / digits
            }
        }
    }
}

/// One step: its level, and each SLO threshold's verdict on its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub level: f64,
    pub verdicts: Vec<Verdict>,
}

impl Step {
    pub fn holds(&self) -> bool {
        self.verdicts.iter().all(|v| v.holds)
    }
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The highest level that held, and the lowest that failed above it (`None`: the top of the range held).
    Found { held: f64, failed: Option<f64> },
    /// Even the lowest level failed.
    FailsAtLowest { level: f64 },
}

/// A search in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSearch {
    pub range: SearchRange,
    pub slo: Vec<Threshold>,
    pub steps: Vec<Step>,
}

impl SloSearch {
    pub fn new(range: SearchRange, slo: Vec<Threshold>) -> SloSearch {
        SloSearch {
            range,
            slo,
            steps: Vec::new(),
        }
    }

    /// The highest level that held and the lowest that failed, so far.
    fn bracket(&self) -> (Option<f64>, Option<f64>) {
        let held = self
            .steps
            .iter()
            .filter(|s| s.holds())
            .map(|s| s.level)
            .reduce(f64::max);
        let failed = self
            .steps
            .iter()
            .filter(|s| !s.holds())
            .map(|s| s.level)
            .reduce(f64::min);
        (held, failed)
    }

    /// The level to run next, or `None` once the search is over.
    pub fn next_level(&self) -> Option<f64> {
        if self.steps.len() >= MAX_STEPS {
            return None;
        }
        let range = &self.range;
        match self.bracket() {
            (None, None) => Some(range.low),
            (None, Some(_)) => None,
            (Some(held), None) if held < range.high => Some(range.high),
            (Some(_), None) => None,
            (Some(held), Some(failed)) if held < failed && !range.resolved(held, failed) => {
                Some(range.between(held, failed)).filter(|mid| *mid > held && *mid < failed)
            }
            (Some(_), Some(_)) => None,
        }
    }

    /// Judges the step run at `level` on its statistics, and keeps it.
    pub fn record(&mut self, level: f64, stats: &Map<String, Value>) -> &Step {
        let verdicts = self.slo.iter().map(|t| t.check(stats)).collect();
        self.steps.push(Step { level, verdicts });
        self.steps.last().expect("just pushed")
    }

    /// How the search ended (or stands): `None` before any step.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.bracket() {
            (None, None) => None,
            (None, Some(_)) => Some(Outcome::FailsAtLowest {
                level: self.steps[0].level,
            }),
            (Some(held), failed) => Some(Outcome::Found {
                held,
                failed: failed.filter(|f| *f > held),
            }),
        }
    }

    /// The outcome in a sentence.
    pub fn summary(&self) -> String {
        let axis = self.range.axis;
        let slo: Vec<String> = self.slo.iter().map(Threshold::to_string).collect();
        let slo = slo.join(", ");
        match self.outcome() {
            None => "The SLO search ran no step.".into(),
            Some(Outcome::FailsAtLowest { level }) => format!(
                "SLO search: even the lowest level, {}, breaks the SLO ({slo}).",
                axis.describe(level)
            ),
            Some(Outcome::Found { held, failed: None }) => format!(
                "SLO search: the SLO ({slo}) holds up to the top of the range, {}.",
                axis.describe(held)
            ),
            Some(Outcome::Found {
                held,
                failed: Some(failed),
            }) => format!(
                "SLO search: the highest load that meets the SLO ({slo}) is {}; {} breaks it ({} steps).",
                axis.describe(held),
                axis.describe(failed),
                self.steps.len()
            ),
        }
    }
}

/// Parses `search_slo`: thresholds separated by commas.
pub fn parse_slo(text: &str) -> Result<Vec<Threshold>, String> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<Threshold>().map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A server whose TTFT p95 is 100 ms up to `capacity` clients and grows 15 ms per client past it.
    fn stats_at(level: f64, capacity: f64) -> Map<String, Value> {
        let ttft = 0.1 + 0.015 * (level - capacity).max(0.0);
        json!({ "time_to_first_token-p95": ttft, "failed_requests_rate": 0 })
            .as_object()
            .unwrap()
            .clone()
    }

    fn search(range: &str, slo: &str, capacity: f64) -> SloSearch {
        let mut search = SloSearch::new(range.parse().unwrap(), parse_slo(slo).unwrap());
        while let Some(level) = search.next_level() {
            search.record(level, &stats_at(level, capacity));
        }
        search
    }

    #[test]
    fn bisection_finds_the_knee_within_one_client() {
        // 100 + 15·(c − 8) ms < 152.5 ms holds up to 11 clients.
        let s = search("clients:1-32", "time_to_first_token-p95<0.1525", 8.0);
        assert_eq!(
            s.outcome(),
            Some(Outcome::Found {
                held: 11.0,
                failed: Some(12.0)
            })
        );
        let levels: Vec<f64> = s.steps.iter().map(|s| s.level).collect();
        assert_eq!(levels, [1.0, 32.0, 16.0, 8.0, 12.0, 10.0, 11.0]);
        assert!(
            s.summary()
                .contains("is 11 clients; 12 clients breaks it (7 steps)"),
            "{}",
            s.summary()
        );
    }

    #[test]
    fn the_ends_of_the_range_decide_at_once() {
        let all = search("clients:1-32", "time_to_first_token-p95<10", 8.0);
        assert_eq!(
            all.outcome(),
            Some(Outcome::Found {
                held: 32.0,
                failed: None
            })
        );
        assert_eq!(all.steps.len(), 2);
        let none = search("clients:1-32", "time_to_first_token-p95<0.05", 8.0);
        assert_eq!(none.outcome(), Some(Outcome::FailsAtLowest { level: 1.0 }));
        assert_eq!(none.steps.len(), 1);
        assert!(none.summary().contains("even the lowest level, 1 clients"));
    }

    #[test]
    fn a_rate_search_ends_within_five_percent() {
        let s = search("rate:1-100", "time_to_first_token-p95<0.4", 20.0);
        let Some(Outcome::Found {
            held,
            failed: Some(failed),
        }) = s.outcome()
        else {
            panic!("{:?}", s.outcome());
        };
        // The knee is at 100 + 15·(r − 20) = 400 ms, r = 40.
        assert!(
            held < 40.0 && failed >= 40.0 && failed - held <= held * RATE_RESOLUTION,
            "{held} {failed}"
        );
    }

    #[test]
    fn a_missing_statistic_fails_its_step() {
        let mut s = SloSearch::new(
            "clients:1-4".parse().unwrap(),
            parse_slo("goodput_rate>=0.9").unwrap(),
        );
        let step = s.record(1.0, &stats_at(1.0, 8.0));
        assert!(!step.holds());
        assert_eq!(s.next_level(), None);
    }

    #[test]
    fn ranges_parse_and_refuse_nonsense() {
        let r: SearchRange = "clients:1-64".parse().unwrap();
        assert_eq!((r.axis, r.low, r.high), (Axis::Clients, 1.0, 64.0));
        assert_eq!(r.to_string(), "clients:1-64");
        let r: SearchRange = "rate:0.5-20".parse().unwrap();
        assert_eq!((r.axis, r.low), (Axis::Rate, 0.5));
        for bad in [
            "clients:0-4",
            "clients:1.5-4",
            "clients:8-4",
            "rate:0-4",
            "load:1-2",
            "clients:1",
        ] {
            assert!(bad.parse::<SearchRange>().is_err(), "{bad}");
        }
        assert!(parse_slo("time_to_first_token-p95").is_err());
        assert_eq!(parse_slo("a<1, b>=2").unwrap().len(), 2);
    }

    #[test]
    fn a_step_plan_changes_only_the_searched_level() {
        let template = RunPlanSpec {
            arrival: Arrival::ConstantRate {
                per_second: 1.0,
                max_concurrency: Some(50),
            },
            ..RunPlanSpec::default()
        };
        let range: SearchRange = "rate:1-10".parse().unwrap();
        assert!(range.fits(&template.arrival));
        let plan = range.plan_at(&template, 7.5);
        assert_eq!(
            plan.arrival,
            Arrival::ConstantRate {
                per_second: 7.5,
                max_concurrency: Some(50)
            }
        );
        assert_eq!(plan.stop, template.stop);
        assert_eq!(range.run_name(7.5), "slo-search-rate-7.5");
    }
}
