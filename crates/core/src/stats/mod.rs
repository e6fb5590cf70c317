//! Exact, incremental, mergeable statistics over request records, written as LLMeter's `stats.json` keys plus
//! Tokenmeter's extras.
//!
//! Statistics are exact: every value is kept and percentiles are read off the sorted values, so numbers agree
//! with LLMeter on the same data. [`RunningStats::observe`] is O(1) amortised; [`RunningStats::snapshot`] sorts
//! only what arrived since the previous snapshot and merges it in (see `distribution.rs`); [`RunningStats::merge`]
//! of disjoint record sets gives bit-for-bit the stats of their union (sums are exact, see `exact_sum.rs`).
//!
//! # Keys, in order
//!
//! 1. LLMeter's `Result` fields from [`RunInfo`]: `total_requests`, `clients`, `n_requests`, `total_test_time`,
//!    `model_id`, `output_path`, `endpoint_name`, `provider`, `run_name`, `run_description`, `start_time`,
//!    `first_request_time`, `last_request_time`, `end_time`.
//! 2. `failed_requests`, `failed_requests_rate`, `total_input_tokens`, `total_output_tokens` (floats, as LLMeter).
//! 3. For `time_to_last_token`, `time_to_first_token`, `time_per_output_token`, `num_tokens_output`,
//!    `num_tokens_input`: `<m>-average`, `<m>-p50`, `<m>-p90`, `<m>-p99` (the configured percentiles); absent
//!    without values.
//! 4. `requests_per_minute`, `average_input_tokens_per_minute` (when the send window, first to last
//!    `request_time`, is positive); `average_output_tokens_per_minute`, `output_tps` (when `end_time` is after
//!    the first `request_time`).
//! 5. Extras. For LLMeter's five metrics: `<m>-min`, `<m>-max`, `<m>-p95` (the extra percentiles), `<m>-std`,
//!    then `<m>-p<p>-ci_low` and `<m>-p<p>-ci_high` for every percentile: its distribution-free confidence
//!    interval at `confidence_level` (`null` when there are too few values for one; see `interval.rs`).
//!    For `time_to_first_visible_token`, `inter_token_latency`, `output_tokens_per_second`, `schedule_lag`,
//!    `num_tokens_input_cached`: the aggregates of 3 followed by those of 5.
//! 6. `failed_requests_<kind>` for every [`crate::record::ErrorKind`] (0 included, so the schema is
//!    fixed), `successful_requests`, `warmup_requests`, `total_cached_input_tokens`,
//!    `total_reasoning_output_tokens`, `requests_with_estimated_tokens`, `percentile_method`, `rate_window`,
//!    `confidence_level`.
//! 7. With an [`Slo`]: `goodput_requests`, `goodput_rate`, `goodput_requests_per_minute`.
//! 8. With a [`CostModel`], as LLMeter's cost callback contributes them: `cost_InputTokens_per_request-*`,
//!    `cost_OutputTokens_per_request-*`, `cost_per_request-*` (average and the configured percentiles), then
//!    `cost_EndpointTime`, `cost_InputTokens`, `cost_OutputTokens`, `cost_total`.
//!
//! # Deliberate differences from LLMeter
//!
//! * Distributions cover successful requests only; LLMeter also includes failed requests' partial values.
//!   Warm-up requests are excluded from everything but `warmup_requests`.
//! * [`PercentileMethod::Linear`] (numpy's default) is the default; [`PercentileMethod::Llmeter`] reproduces
//!   LLMeter's exclusive-quantile numbers, which extrapolate beyond the sample for small samples.
//! * `requests_per_minute` counts the N − 1 intervals between N sends ([`RateWindow::Intervals`]);
//!   [`RateWindow::Llmeter`] restores LLMeter's N · 60 / window. [`StatsConfig::llmeter`] selects both LLMeter
//!   behaviours.
//! * Datetimes keep microseconds; LLMeter truncates them to whole seconds.
//! * Costs with unknown token counts are skipped rather than failing the run.
//!
//! Must not import `protocol`, `engine`, `charts`, `browser` or `ui`; no clocks, no async, no randomness.

mod binned;
mod config;
mod cost;
mod difference;
mod distribution;
mod exact_sum;
mod goodput;
mod interval;
mod key;
mod metric;
mod percentile;
mod running;
mod snapshot;
mod stop_rule;

pub(crate) use binned::Binned;
pub use binned::RELATIVE_ERROR as BINNED_RELATIVE_ERROR;
pub use config::{RateWindow, StatsConfig, StatsConfigError};
pub use cost::{request_cost, CostModel, RequestCost};
pub use difference::{
    compare_race, race_json, Difference, RaceComparison, RACE_COMPARED, RACE_FILE, RESAMPLES,
};
pub use distribution::Bounds;
pub use goodput::Slo;
pub use interval::{min_samples, rank_interval, DEFAULT_CONFIDENCE};
pub use key::{Aggregate, Scalar, StatKey};
pub use metric::Metric;
pub(crate) use percentile::{estimate, OrderStats};
pub use percentile::{percentile, PercentileError, PercentileMethod};
pub use running::{MergeError, RunInfo, RunningStats, Summary};
pub use stop_rule::{StopReason, StopRule, StopWhen, Verdict};
