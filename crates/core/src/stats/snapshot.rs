//! The `stats.json` map of a [`RunningStats`]: every key name and the order they appear in, in one place.
//!
//! Numbers follow Python's types where LLMeter's file shows them: token totals are floats (`120.0`), a
//! rate over zero requests is the integer `0`, and an integer metric's mean, median or single value that is one
//! of the sample's own integers (or a whole mean) is written as an integer (`20`), interpolations as floats.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::record::ErrorKind;
use crate::stats::binned::RELATIVE_ERROR;
use crate::stats::config::{RateWindow, StatsConfig};
use crate::stats::cost::{CostModel, ENDPOINT_TIME, INPUT_TOKENS, OUTPUT_TOKENS};
use crate::stats::distribution::Sample;
use crate::stats::key::{Aggregate, Scalar, StatKey, COST_PER_REQUEST};
use crate::stats::metric::Metric;
use crate::stats::running::{RunInfo, RunningStats};

pub(super) fn render(stats: &RunningStats, run: &RunInfo) -> Map<String, Value> {
    let mut out = Map::new();
    let config = &stats.config;
    let windows = Windows::new(stats, run);

    // LLMeter's live `stats.json`, in its order (llmeter-reference.md §4.2 A, §4.3).
    write_run_info(&mut out, run, stats);
    put(&mut out, Scalar::FailedRequests, stats.failed.into());
    put(
        &mut out,
        Scalar::FailedRequestsRate,
        rate(stats.failed, stats.requests),
    );
    put(
        &mut out,
        Scalar::TotalInputTokens,
        (stats.tokens.input as f64).into(),
    );
    put(
        &mut out,
        Scalar::TotalOutputTokens,
        (stats.tokens.output as f64).into(),
    );
    for metric in Metric::LLMETER {
        if let Some(sample) = stats.sample(metric) {
            write_llmeter_aggregates(&mut out, metric.key(), &sample, metric.is_integer(), config);
        }
    }
    if let Some(window) = windows.send {
        let input = stats.tokens.input as f64;
        let requests = windows.per_minute(stats.requests as f64, window);
        put(&mut out, Scalar::RequestsPerMinute, requests.into());
        let input = windows.per_minute(input, window);
        put(&mut out, Scalar::AverageInputTokensPerMinute, input.into());
    }
    if let Some(window) = windows.output {
        let output = stats.tokens.output as f64;
        put(
            &mut out,
            Scalar::AverageOutputTokensPerMinute,
            (output * 60.0 / window).into(),
        );
        put(&mut out, Scalar::OutputTps, (output / window).into());
    }

    // Tokenmeter's extras.
    for metric in Metric::LLMETER {
        if let Some(sample) = stats.sample(metric) {
            write_extra_aggregates(&mut out, metric.key(), &sample, metric.is_integer(), config);
        }
    }
    for metric in Metric::ALL.into_iter().filter(|m| !m.is_llmeter()) {
        if let Some(sample) = stats.sample(metric) {
            write_llmeter_aggregates(&mut out, metric.key(), &sample, metric.is_integer(), config);
            write_extra_aggregates(&mut out, metric.key(), &sample, metric.is_integer(), config);
        }
    }
    for (kind, count) in ErrorKind::ALL.into_iter().zip(stats.failed_by_kind) {
        out.insert(StatKey::Failures(kind).to_string(), count.into());
    }
    put(
        &mut out,
        Scalar::SuccessfulRequests,
        (stats.requests - stats.failed).into(),
    );
    put(&mut out, Scalar::WarmupRequests, stats.warmup.into());
    put(
        &mut out,
        Scalar::TotalCachedInputTokens,
        stats.tokens.input_cached.into(),
    );
    let reasoning = stats.tokens.output_reasoning;
    put(&mut out, Scalar::TotalReasoningOutputTokens, reasoning.into());
    let estimated = stats.tokens.estimated_requests;
    put(&mut out, Scalar::EstimatedTokenRequests, estimated.into());
    if stats.is_binned() {
        put(&mut out, Scalar::PerChunkRelativeError, RELATIVE_ERROR.into());
    }
    out.insert("percentile_method".into(), config.method.as_str().into());
    out.insert("rate_window".into(), config.rate_window.as_str().into());
    put(&mut out, Scalar::ConfidenceLevel, config.confidence.into());
    if config.slo.is_some() {
        put(&mut out, Scalar::GoodputRequests, stats.goodput.into());
        put(&mut out, Scalar::GoodputRate, rate(stats.goodput, stats.requests));
        if let Some(window) = windows.send {
            let per_minute = windows.per_minute(stats.goodput as f64, window);
            put(&mut out, Scalar::GoodputRequestsPerMinute, per_minute.into());
        }
    }
    if let Some(model) = &config.cost {
        write_costs(&mut out, model, stats, run);
    }
    out
}

/// LLMeter's `Result` fields. Datetimes are ISO 8601 UTC with microseconds and `Z` (LLMeter truncates to whole
/// seconds; the send-window rates need the sub-second part to be recomputable).
fn write_run_info(out: &mut Map<String, Value>, run: &RunInfo, stats: &RunningStats) {
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or(Value::Null, |t| {
            t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into()
        })
    };
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::from);
    let fields = [
        (Scalar::TotalRequests.as_str(), run.total_requests.into()),
        (Scalar::Clients.as_str(), run.clients.into()),
        (Scalar::NRequests.as_str(), run.n_requests.into()),
        (Scalar::TotalTestTime.as_str(), run.total_test_time.into()),
        ("model_id", text(&run.model_id)),
        ("output_path", text(&run.output_path)),
        ("endpoint_name", text(&run.endpoint_name)),
        ("provider", text(&run.provider)),
        ("run_name", text(&run.run_name)),
        ("run_description", text(&run.run_description)),
        ("start_time", time(run.start_time)),
        (
            "first_request_time",
            time(run.first_request_time.or(stats.first_request_time)),
        ),
        (
            "last_request_time",
            time(run.last_request_time.or(stats.last_request_time)),
        ),
        ("end_time", time(run.end_time)),
    ];
    for (key, value) in fields {
        out.insert(key.into(), value);
    }
}

/// `average` and the configured percentiles: the aggregates LLMeter's `summary_stats_from_list` writes.
fn write_llmeter_aggregates(
    out: &mut Map<String, Value>,
    key: &str,
    sample: &Sample<'_>,
    integer: bool,
    config: &StatsConfig,
) {
    // Python's `statistics.mean` of ints is an int when it comes out whole.
    let whole_mean = integer && sample.total() % sample.count() as f64 == 0.0;
    out.insert(Aggregate::Average.key_for(key), number(sample.mean(), whole_mean));
    write_percentiles(out, key, sample, integer, config, &config.percentiles);
}

/// Tokenmeter's extra aggregates: min, max, the extra percentiles and the sample standard deviation.
fn write_extra_aggregates(
    out: &mut Map<String, Value>,
    key: &str,
    sample: &Sample<'_>,
    integer: bool,
    config: &StatsConfig,
) {
    out.insert(Aggregate::Min.key_for(key), number(sample.min(), integer));
    out.insert(Aggregate::Max.key_for(key), number(sample.max(), integer));
    write_percentiles(out, key, sample, integer, config, &config.extra_percentiles);
    out.insert(Aggregate::Std.key_for(key), number(sample.std_dev(), false));
    for &p in config.percentiles.iter().chain(&config.extra_percentiles) {
        let (low, high) = sample
            .interval(p, config.confidence)
            .map_or((Value::Null, Value::Null), |(lo, hi)| {
                (number(lo, integer), number(hi, integer))
            });
        out.insert(Aggregate::IntervalLow(p).key_for(key), low);
        out.insert(Aggregate::IntervalHigh(p).key_for(key), high);
    }
}

fn write_percentiles(
    out: &mut Map<String, Value>,
    key: &str,
    sample: &Sample<'_>,
    integer: bool,
    config: &StatsConfig,
    percentiles: &[f64],
) {
    for &p in percentiles {
        // `StatsConfig::validate` admitted every configured percentile and the sample is non-empty.
        if let Ok(e) = sample.estimate(p, config.method) {
            let key = Aggregate::Percentile(p).key_for(key);
            out.insert(key, number(e.value, integer && e.is_sample));
        }
    }
}

/// LLMeter's `CostModel` contributions, in the order its `after_run` builds them: per-request summaries of
/// each request dimension and of the request total, then the run totals (run dimensions first), then
/// `cost_total`. A dimension with no known cost is left out; `cost_total` is left out when the endpoint is
/// priced but the test time is unknown (LLMeter's total would be `None`).
fn write_costs(out: &mut Map<String, Value>, model: &CostModel, stats: &RunningStats, run: &RunInfo) {
    let costs = &stats.cost;
    let per_request = [
        (
            format!("cost_{INPUT_TOKENS}_per_request"),
            &costs.input_per_request,
        ),
        (
            format!("cost_{OUTPUT_TOKENS}_per_request"),
            &costs.output_per_request,
        ),
        (COST_PER_REQUEST.to_string(), &costs.per_request),
    ];
    for (key, values) in per_request {
        if let Some(sample) = values.sample() {
            write_llmeter_aggregates(out, &key, &sample, false, &stats.config);
        }
    }
    let endpoint = model.endpoint_cost(run.total_test_time);
    let totals = [
        (ENDPOINT_TIME, endpoint),
        (INPUT_TOKENS, costs.input_total()),
        (OUTPUT_TOKENS, costs.output_total()),
    ];
    let mut total = 0.0;
    for (name, cost) in totals {
        if let Some(cost) = cost {
            out.insert(format!("cost_{name}"), cost.into());
            total += cost;
        }
    }
    if model.endpoint_price_per_hour.is_none() || endpoint.is_some() {
        put(out, Scalar::CostTotal, total.into());
    }
}

/// The windows rates are taken over, in seconds.
struct Windows {
    rule: RateWindow,
    sends: u64,
    /// First to last `request_time`, when positive (at least two distinct send times).
    send: Option<f64>,
    /// First `request_time` to the run's end, when positive.
    output: Option<f64>,
}

impl Windows {
    fn new(stats: &RunningStats, run: &RunInfo) -> Windows {
        let first = stats.first_request_time;
        let positive = |w: Option<f64>| w.filter(|&w| w > 0.0);
        Windows {
            rule: stats.config.rate_window,
            sends: stats.sends,
            send: positive(
                first
                    .zip(stats.last_request_time)
                    .and_then(|(a, b)| secs_between(a, b)),
            ),
            output: positive(first.zip(run.end_time).and_then(|(a, b)| secs_between(a, b))),
        }
    }

    /// `amount` per minute of the send window (see [`RateWindow`]): LLMeter divides by the window as is; the
    /// interval rule first scales by (N − 1)/N, since N sends span only N − 1 intervals.
    fn per_minute(&self, amount: f64, window: f64) -> f64 {
        match self.rule {
            RateWindow::Llmeter => amount * 60.0 / window,
            RateWindow::Intervals => {
                amount * (self.sends.saturating_sub(1)) as f64 / self.sends as f64 * 60.0 / window
            }
        }
    }
}

/// Seconds from `a` to `b` (Python's `timedelta.total_seconds()` for microsecond times).
fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> Option<f64> {
    (b - a).num_nanoseconds().map(|ns| ns as f64 / 1e9)
}

fn put(out: &mut Map<String, Value>, key: Scalar, value: Value) {
    out.insert(key.as_str().to_owned(), value);
}

/// `part / whole`, or the integer 0 when `whole` is 0 (LLMeter's `count and failed / count`).
fn rate(part: u64, whole: u64) -> Value {
    if whole == 0 {
        0.into()
    } else {
        (part as f64 / whole as f64).into()
    }
}

/// A JSON number: an integer when `as_integer` and the value is whole, otherwise a float.
fn number(value: f64, as_integer: bool) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it f64 integers are no longer all exact
    if as_integer && value.fract() == 0.0 && value.abs() < EXACT {
        (value as i64).into()
    } else {
        value.into()
    }
}
