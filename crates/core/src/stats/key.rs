//! [`StatKey`]: every `stats.json` key as a typed value, so the writer, the live table, the comparison and the
//! charts spell each key in one place and a misspelt key does not compile.

use std::fmt;

use serde_json::{Map, Value};

use crate::record::ErrorKind;
use crate::stats::metric::Metric;

/// One aggregate of a distribution: `<metric>-<aggregate>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Average,
    Min,
    Max,
    /// The sample standard deviation.
    Std,
    /// A percentile in `(0, 100)`, written `p50`, `p99.9`.
    Percentile(f64),
    /// The lower end of a percentile's confidence interval (`p50-ci_low`); `null` with too few values.
    IntervalLow(f64),
    /// The upper end of a percentile's confidence interval (`p50-ci_high`); `null` with too few values.
    IntervalHigh(f64),
}

impl Aggregate {
    pub const P50: Aggregate = Aggregate::Percentile(50.0);
    pub const P90: Aggregate = Aggregate::Percentile(90.0);
    pub const P95: Aggregate = Aggregate::Percentile(95.0);
    pub const P99: Aggregate = Aggregate::Percentile(99.0);

    /// The key of this aggregate of the distribution named `prefix` (a metric, or a cost dimension).
    pub fn key_for(self, prefix: &str) -> String {
        format!("{prefix}-{self}")
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Average => f.write_str("average"),
            Aggregate::Min => f.write_str("min"),
            Aggregate::Max => f.write_str("max"),
            Aggregate::Std => f.write_str("std"),
            Aggregate::Percentile(p) => write!(f, "p{p}"),
            Aggregate::IntervalLow(p) => write!(f, "p{p}-ci_low"),
            Aggregate::IntervalHigh(p) => write!(f, "p{p}-ci_high"),
        }
    }
}

/// The prefix of the per-request cost aggregates.
pub const COST_PER_REQUEST: &str = "cost_per_request";

/// A single-valued statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    TotalRequests,
    Clients,
    NRequests,
    TotalTestTime,
    FailedRequests,
    FailedRequestsRate,
    TotalInputTokens,
    TotalOutputTokens,
    RequestsPerMinute,
    AverageInputTokensPerMinute,
    AverageOutputTokensPerMinute,
    OutputTps,
    SuccessfulRequests,
    WarmupRequests,
    TotalCachedInputTokens,
    TotalReasoningOutputTokens,
    /// Requests whose token counts were estimated from words, not reported by the provider.
    EstimatedTokenRequests,
    /// Present when per-chunk metrics were binned to bound memory: the largest relative error of their
    /// percentiles.
    PerChunkRelativeError,
    GoodputRequests,
    GoodputRate,
    GoodputRequestsPerMinute,
    CostTotal,
    /// Open-loop arrivals that came due but were never sent (no free slot, or late timers): the client, not the
    /// server, could not keep the schedule. Present only when there were some.
    DroppedArrivals,
    /// The confidence level of every `-ci_low`/`-ci_high` pair.
    ConfidenceLevel,
    /// Why the run stopped sending: [`StopReason::as_str`](crate::stats::StopReason), at the end of a run.
    StopReason,
    /// The stop reason in a sentence (for `interval_met`, each rule's interval).
    StopDetail,
    /// An SLO search step's level (clients or requests per second).
    SloSearchLevel,
    /// Whether the SLO held at an SLO search step.
    SloSearchHolds,
}

impl Scalar {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scalar::TotalRequests => "total_requests",
            Scalar::Clients => "clients",
            Scalar::NRequests => "n_requests",
            Scalar::TotalTestTime => "total_test_time",
            Scalar::FailedRequests => "failed_requests",
            Scalar::FailedRequestsRate => "failed_requests_rate",
            Scalar::TotalInputTokens => "total_input_tokens",
            Scalar::TotalOutputTokens => "total_output_tokens",
            Scalar::RequestsPerMinute => "requests_per_minute",
            Scalar::AverageInputTokensPerMinute => "average_input_tokens_per_minute",
            Scalar::AverageOutputTokensPerMinute => "average_output_tokens_per_minute",
            Scalar::OutputTps => "output_tps",
            Scalar::SuccessfulRequests => "successful_requests",
            Scalar::WarmupRequests => "warmup_requests",
            Scalar::TotalCachedInputTokens => "total_cached_input_tokens",
            Scalar::TotalReasoningOutputTokens => "total_reasoning_output_tokens",
            Scalar::EstimatedTokenRequests => "requests_with_estimated_tokens",
            Scalar::PerChunkRelativeError => "per_chunk_relative_error",
            Scalar::GoodputRequests => "goodput_requests",
            Scalar::GoodputRate => "goodput_rate",
            Scalar::GoodputRequestsPerMinute => "goodput_requests_per_minute",
            Scalar::CostTotal => "cost_total",
            Scalar::DroppedArrivals => "tokenmeter_dropped_arrivals",
            Scalar::ConfidenceLevel => "confidence_level",
            Scalar::StopReason => "stop_reason",
            Scalar::StopDetail => "stop_detail",
            Scalar::SloSearchLevel => "slo_search_level",
            Scalar::SloSearchHolds => "slo_search_holds",
        }
    }
}

/// A `stats.json` key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StatKey {
    /// An aggregate of a metric's distribution, e.g. `time_to_first_token-p50`.
    Dist(Metric, Aggregate),
    Scalar(Scalar),
    /// `failed_requests_<kind>`.
    Failures(ErrorKind),
    /// An aggregate of the per-request cost (`cost_per_request-<aggregate>`, LLMeter's CostModel key).
    Cost(Aggregate),
}

impl StatKey {
    /// The key's value in `stats`, if present and a number.
    pub fn get(self, stats: &Map<String, Value>) -> Option<f64> {
        stats.get(&self.to_string()).and_then(Value::as_f64)
    }
}

impl From<Scalar> for StatKey {
    fn from(s: Scalar) -> Self {
        StatKey::Scalar(s)
    }
}

impl fmt::Display for StatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatKey::Dist(metric, agg) => write!(f, "{}-{agg}", metric.key()),
            StatKey::Scalar(s) => f.write_str(s.as_str()),
            StatKey::Failures(kind) => write!(f, "failed_requests_{}", kind.as_str()),
            StatKey::Cost(agg) => write!(f, "{}", agg.key_for(COST_PER_REQUEST)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_spelt_as_llmeter_spells_them() {
        assert_eq!(
            StatKey::Dist(Metric::TimeToFirstToken, Aggregate::P50).to_string(),
            "time_to_first_token-p50"
        );
        assert_eq!(
            StatKey::Dist(Metric::NumTokensOutput, Aggregate::Percentile(99.9)).to_string(),
            "num_tokens_output-p99.9"
        );
        assert_eq!(
            StatKey::Dist(Metric::TimeToLastToken, Aggregate::Average).to_string(),
            "time_to_last_token-average"
        );
        assert_eq!(
            StatKey::Failures(ErrorKind::Throttled).to_string(),
            "failed_requests_throttled"
        );
        assert_eq!(StatKey::from(Scalar::OutputTps).to_string(), "output_tps");
        assert_eq!(
            StatKey::Dist(Metric::TimeToFirstToken, Aggregate::IntervalLow(99.0)).to_string(),
            "time_to_first_token-p99-ci_low"
        );
    }
}
