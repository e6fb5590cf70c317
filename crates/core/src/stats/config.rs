//! What a statistics run is configured with, validated once before any record is observed: the percentiles and
//! their method, how request rates are windowed, and the optional SLO and cost model.

use crate::stats::cost::CostModel;
use crate::stats::goodput::Slo;
use crate::stats::interval::DEFAULT_CONFIDENCE;
use crate::stats::percentile::{PercentileError, PercentileMethod};

/// How `requests_per_minute` (and the other per-minute rates over the send window) count requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RateWindow {
    /// N sends span N − 1 intervals between the first and the last send: `(N − 1) · 60 / window`. A steady
    /// stream of one request every 5 s gives 12 rpm. Tokenmeter's default.
    #[default]
    Intervals,
    /// LLMeter's `N · 60 / window`, which over-counts a steady stream by N / (N − 1) (sends at 0, 5 and 10 s give
    /// 18 rpm). Choose it to reproduce LLMeter's numbers.
    Llmeter,
}

impl RateWindow {
    /// Every rule, in the order they are documented.
    pub const ALL: [RateWindow; 2] = [RateWindow::Intervals, RateWindow::Llmeter];

    /// The stable name written into `stats.json` (`rate_window`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RateWindow::Intervals => "intervals",
            RateWindow::Llmeter => "llmeter",
        }
    }

    /// The rule named by [`RateWindow::as_str`].
    pub fn parse(name: &str) -> Option<RateWindow> {
        RateWindow::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Configuration of [`crate::stats::RunningStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct StatsConfig {
    /// Percentiles written with LLMeter's keys (`<metric>-p<p>`, right after `-average`). Default 50, 90, 99.
    pub percentiles: Vec<f64>,
    /// Further percentiles, written among Tokenmeter's extra keys. Default 95.
    pub extra_percentiles: Vec<f64>,
    /// How percentiles are computed.
    pub method: PercentileMethod,
    /// How per-minute rates over the send window count requests.
    pub rate_window: RateWindow,
    /// Latency objective for the goodput keys; none are written without it.
    pub slo: Option<Slo>,
    /// Prices for the `cost_*` keys; none are written without it.
    pub cost: Option<CostModel>,
    /// Per-chunk values (inter-token gaps: 8 bytes per chunk) kept one by one, at most. Past it they move into
    /// a histogram with a stated relative error (`per_chunk_relative_error` in the stats), so a long run's
    /// memory stays bounded. `Some(0)` bins from the start (low-memory runs); `None` never bins.
    pub chunk_value_budget: Option<usize>,
    /// The confidence level of the percentiles' intervals (`<m>-p50-ci_low`, `-ci_high`), in `(0, 1)`.
    pub confidence: f64,
}

/// Per-chunk values kept exactly by default: 2 million gaps, 16 MB (a 10,000-request run of 200 chunks each).
pub const DEFAULT_CHUNK_VALUE_BUDGET: usize = 2_000_000;

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            percentiles: vec![50.0, 90.0, 99.0],
            extra_percentiles: vec![95.0],
            method: PercentileMethod::default(),
            rate_window: RateWindow::default(),
            slo: None,
            cost: None,
            chunk_value_budget: Some(DEFAULT_CHUNK_VALUE_BUDGET),
            confidence: DEFAULT_CONFIDENCE,
        }
    }
}

impl StatsConfig {
    /// LLMeter's own choices (percentile method and rate window), so that the LLMeter keys of a snapshot equal
    /// the `stats.json` LLMeter would write for the same requests.
    pub fn llmeter() -> Self {
        StatsConfig {
            method: PercentileMethod::Llmeter,
            rate_window: RateWindow::Llmeter,
            ..Default::default()
        }
    }

    /// Checks every percentile against the method, and the SLO and cost model.
    pub fn validate(&self) -> Result<(), StatsConfigError> {
        let all = self.percentiles.iter().chain(&self.extra_percentiles);
        for (i, &p) in all.clone().enumerate() {
            self.method.check(p)?;
            if all.clone().take(i).any(|&q| q == p) {
                return Err(StatsConfigError::DuplicatePercentile(p));
            }
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(StatsConfigError::Confidence(self.confidence));
        }
        self.slo.as_ref().map_or(Ok(()), Slo::validate)?;
        self.cost.as_ref().map_or(Ok(()), CostModel::validate)
    }
}

/// Why a [`StatsConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum StatsConfigError {
    /// A percentile the method cannot compute; choose the `linear` method for values such as 99.9.
    #[error(transparent)]
    Percentile(#[from] PercentileError),
    /// A percentile listed twice (in `percentiles` and `extra_percentiles` together); list it once.
    #[error("percentile {0} is listed more than once")]
    DuplicatePercentile(f64),
    /// A confidence level outside `(0, 1)`.
    #[error("confidence level {0} must lie strictly between 0 and 1")]
    Confidence(f64),
    /// An SLO threshold that is negative or not a number; give seconds ≥ 0.
    #[error("SLO threshold {name} = {value} must be a finite number of seconds ≥ 0")]
    SloThreshold { name: &'static str, value: f64 },
    /// A price that is negative or not a number, or a granularity that is not positive.
    #[error("cost model {field} = {value} is invalid: prices must be finite and ≥ 0, granularities > 0")]
    CostField { field: &'static str, value: f64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        assert!(StatsConfig::default().validate().is_ok());
        assert!(StatsConfig::llmeter().validate().is_ok());
        let mut config = StatsConfig::llmeter();
        config.extra_percentiles = vec![99.9];
        assert!(matches!(config.validate(), Err(StatsConfigError::Percentile(_))));
        config.method = PercentileMethod::Linear;
        assert!(config.validate().is_ok());
        config.extra_percentiles = vec![90.0];
        assert_eq!(
            config.validate(),
            Err(StatsConfigError::DuplicatePercentile(90.0))
        );
    }

    #[test]
    fn rate_window_names_round_trip() {
        for rule in RateWindow::ALL {
            assert_eq!(RateWindow::parse(rule.as_str()), Some(rule));
        }
        assert_eq!(RateWindow::parse("x"), None);
    }
}
