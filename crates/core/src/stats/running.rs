//! [`RunningStats`]: the incremental, exact and mergeable accumulator of a run's request records, and the
//! [`RunInfo`] fields a snapshot echoes at the top of `stats.json`.
//!
//! What is counted where:
//! * warm-up records (`record.warmup`) only increment `warmup_requests`;
//! * cancelled records (a stopped run) only increment `failed_requests_cancelled`;
//! * every other record counts as a request: in `failed_requests` (and `failed_requests_<kind>`) when it
//!   failed, in the send window through its `request_time`, and in the token and cost totals, failed or not,
//!   since tokens a provider reports were consumed;
//! * distributions (`<metric>-average`, percentiles, …) take successful requests only. LLMeter also feeds
//!   failed responses' partial values (a broken stream's TTFT) into them; Tokenmeter deliberately does not.

use chrono::SubsecRound;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::record::{ErrorKind, Outcome, RequestRecord, TokenCounts};
use crate::stats::config::{StatsConfig, StatsConfigError};
use crate::stats::cost::CostTotals;
use crate::stats::difference::{self, Difference};
use crate::stats::distribution::{Bounds, Distribution, Sample};
use crate::stats::metric::{self, Latencies, Metric};
use crate::stats::percentile::PercentileError;
use crate::stats::snapshot;

/// Run-level facts a snapshot writes first, with LLMeter's `Result` field names, in its order. `None` is
/// written as `null`, except `first_request_time` / `last_request_time`, which default to the earliest and
/// latest `request_time` the stats observed (as LLMeter's `Result` computes them). The rate windows always use
/// the observed request times, whatever is echoed here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    pub total_requests: Option<u64>,
    pub clients: Option<u64>,
    pub n_requests: Option<u64>,
    /// Seconds from the clients starting to all finishing; also prices `EndpointTime`.
    pub total_test_time: Option<f64>,
    pub model_id: Option<String>,
    pub output_path: Option<String>,
    pub endpoint_name: Option<String>,
    pub provider: Option<String>,
    pub run_name: Option<String>,
    pub run_description: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub first_request_time: Option<DateTime<Utc>>,
    pub last_request_time: Option<DateTime<Utc>>,
    /// The run's end (or "now" for a live snapshot); the output-rate window ends here.
    pub end_time: Option<DateTime<Utc>>,
}

/// Two stats could not be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Goodput and costs are decided per record under the SLO and cost model, so stats observed under different
    /// ones cannot be combined. Merge stats built with the same SLO and cost model.
    #[error("cannot merge statistics observed under a different SLO or cost model")]
    ConfigMismatch,
}

/// Count, mean, extremes and spread of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (divisor n − 1); 0 for a single value.
    pub std_dev: f64,
}

/// Sums of the reported token counts over all non-warm-up requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TokenTotals {
    pub input: u64,
    pub output: u64,
    pub input_cached: u64,
    pub output_reasoning: u64,
    /// Requests with at least one count estimated from words rather than reported.
    pub estimated_requests: u64,
}

impl TokenTotals {
    fn add(&mut self, t: &TokenCounts) {
        let add = |total: &mut u64, n: Option<u64>| *total = total.saturating_add(n.unwrap_or(0));
        add(&mut self.input, t.input);
        add(&mut self.output, t.output);
        add(&mut self.input_cached, t.input_cached);
        add(&mut self.output_reasoning, t.output_reasoning);
    }

    fn merge(&mut self, o: &TokenTotals) {
        self.add(&TokenCounts {
            input: Some(o.input),
            output: Some(o.output),
            input_cached: Some(o.input_cached),
            output_reasoning: Some(o.output_reasoning),
        });
        self.estimated_requests += o.estimated_requests;
    }
}

/// Exact statistics of a stream of request records. `observe` is O(1) amortised (values are appended to
/// per-metric buffers); `snapshot` sorts only what arrived since the previous snapshot.
#[derive(Debug, Clone)]
pub struct RunningStats {
    pub(crate) config: StatsConfig,
    /// Non-warm-up records, failed ones included (LLMeter's `_count`).
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// Failures per kind, indexed like [`ErrorKind::ALL`].
    pub(crate) failed_by_kind: [u64; ErrorKind::ALL.len()],
    pub(crate) warmup: u64,
    /// Successful requests that met the SLO.
    pub(crate) goodput: u64,
    /// Requests with a `request_time`: the sends that span the send window.
    pub(crate) sends: u64,
    pub(crate) tokens: TokenTotals,
    pub(crate) first_request_time: Option<DateTime<Utc>>,
    pub(crate) last_request_time: Option<DateTime<Utc>>,
    /// One distribution per metric, indexed like [`Metric::ALL`].
    metrics: [Distribution; Metric::ALL.len()],
    pub(crate) cost: CostTotals,
}

impl RunningStats {
    /// Empty statistics under `config`, which is validated here once.
    pub fn new(config: StatsConfig) -> Result<RunningStats, StatsConfigError> {
        config.validate()?;
        Ok(RunningStats {
            config,
            requests: 0,
            failed: 0,
            failed_by_kind: [0; ErrorKind::ALL.len()],
            warmup: 0,
            goodput: 0,
            sends: 0,
            tokens: TokenTotals::default(),
            first_request_time: None,
            last_request_time: None,
            metrics: Default::default(),
            cost: CostTotals::default(),
        })
    }

    pub fn config(&self) -> &StatsConfig {
        &self.config
    }

    /// Non-warm-up requests observed, failed ones included.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    pub fn failed_requests(&self) -> u64 {
        self.failed
    }

    pub fn warmup_requests(&self) -> u64 {
        self.warmup
    }

    /// Earliest and latest `request_time` of the non-warm-up requests.
    pub fn request_time_range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.first_request_time.zip(self.last_request_time)
    }

    /// Adds one finished request.
    pub fn observe(&mut self, record: &RequestRecord) {
        if record.warmup {
            self.warmup += 1;
            return;
        }
        let outcome = record.outcome();
        // Stopped, or cancelled by design: counted by kind, apart from the processed requests.
        let apart = match outcome {
            Outcome::Cancelled => Some(ErrorKind::Cancelled),
            Outcome::CancelledByDesign => Some(ErrorKind::CancelledByDesign),
            _ => None,
        };
        if let Some(kind) = apart {
            self.failed_by_kind[kind_index(kind)] += 1;
            return;
        }
        self.requests += 1;
        if let Some(at) = record.request_time {
            self.sends += 1;
            // To the microsecond `responses.jsonl` keeps, so statistics recomputed from a run's files equal the
            // live ones exactly (a browser's wall clock is no finer than 5 µs anyway).
            let at = at.trunc_subsecs(6);
            self.widen_request_times(at, at);
        }
        self.tokens.add(&record.tokens);
        if record.tokens_estimated.any() {
            self.tokens.estimated_requests += 1;
        }
        if let Some(model) = &self.config.cost {
            self.cost.observe(model, record);
        }
        if let Outcome::Failed(kind) = outcome {
            self.failed += 1;
            self.failed_by_kind[kind_index(kind)] += 1;
        } else {
            let latencies = Latencies::of(record);
            metric::for_each_value(record, &latencies, |m, v| self.metrics[m.index()].push(v));
            self.keep_within_budget();
            if self.config.slo.is_some_and(|slo| slo.holds(&latencies)) {
                self.goodput += 1;
            }
        }
    }

    /// Bins per-chunk metrics once they hold more values than the budget allows.
    fn keep_within_budget(&mut self) {
        let Some(budget) = self.config.chunk_value_budget else {
            return;
        };
        for metric in Metric::ALL.into_iter().filter(|m| m.is_per_chunk()) {
            let values = &mut self.metrics[metric.index()];
            if values.exact_len() > budget {
                values.bin();
            }
        }
    }

    /// Whether any per-chunk metric is binned (its percentiles are then within the stated relative error).
    pub fn is_binned(&self) -> bool {
        self.metrics.iter().any(Distribution::is_binned)
    }

    fn widen_request_times(&mut self, first: DateTime<Utc>, last: DateTime<Utc>) {
        self.first_request_time = Some(self.first_request_time.map_or(first, |t| t.min(first)));
        self.last_request_time = Some(self.last_request_time.map_or(last, |t| t.max(last)));
    }

    /// Adds every request `other` observed. Stats of disjoint record sets merge into exactly the stats of their
    /// union: the same snapshot, to the last bit. `self`'s percentiles, method and rate window are kept.
    pub fn merge(&mut self, other: &RunningStats) -> Result<(), MergeError> {
        if self.config.slo != other.config.slo || self.config.cost != other.config.cost {
            return Err(MergeError::ConfigMismatch);
        }
        self.requests += other.requests;
        self.failed += other.failed;
        for (mine, theirs) in self.failed_by_kind.iter_mut().zip(other.failed_by_kind) {
            *mine += theirs;
        }
        self.warmup += other.warmup;
        self.goodput += other.goodput;
        self.sends += other.sends;
        self.tokens.merge(&other.tokens);
        if let Some((first, last)) = other.request_time_range() {
            self.widen_request_times(first, last);
        }
        for (mine, theirs) in self.metrics.iter_mut().zip(&other.metrics) {
            mine.merge(theirs);
        }
        self.keep_within_budget();
        self.cost.merge(&other.cost);
        Ok(())
    }

    /// Sorts what arrived since the last call into the sorted storage.
    fn settle(&mut self) {
        self.metrics.iter_mut().for_each(Distribution::settle);
        self.cost.settle();
    }

    /// The settled values of `metric`. Only valid after [`RunningStats::settle`].
    pub(crate) fn sample(&self, metric: Metric) -> Option<Sample<'_>> {
        self.metrics[metric.index()].sample()
    }

    /// The flat `stats.json` map: LLMeter's live-run keys in LLMeter's order, then Tokenmeter's extras (see
    /// [`crate::stats`] for the list). Takes `&mut self` because it first sorts the values that arrived
    /// since the previous snapshot.
    pub fn snapshot(&mut self, run: &RunInfo) -> Map<String, Value> {
        self.settle();
        snapshot::render(self, run)
    }

    /// Count, mean, extremes and spread of `metric`, or `None` before any value.
    pub fn summary(&mut self, metric: Metric) -> Option<Summary> {
        self.metrics[metric.index()].settle();
        self.sample(metric).map(|s| Summary {
            count: s.count(),
            mean: s.mean(),
            min: s.min(),
            max: s.max(),
            std_dev: s.std_dev(),
        })
    }

    /// Percentile `p` of `metric` (configured method) and its interval (configured level), as they can be once
    /// `unknown` more values arrive (the requests in flight): `None` while there are too few values for one.
    pub fn percentile_bounds(&mut self, metric: Metric, p: f64, unknown: usize) -> Option<Bounds> {
        self.metrics[metric.index()].settle();
        let sample = self.sample(metric)?;
        sample.bounds(p, self.config.confidence, self.config.method, unknown)
    }

    /// Percentile `p` of `metric` in `other` minus in `self`, with its bootstrap interval at `self`'s confidence
    /// level (seeded by `seed`); `None` when either run has no value of the metric.
    pub fn difference(
        &mut self,
        other: &mut RunningStats,
        metric: Metric,
        p: f64,
        seed: u64,
    ) -> Option<Difference> {
        self.metrics[metric.index()].settle();
        other.metrics[metric.index()].settle();
        let (a, b) = (self.sample(metric)?, other.sample(metric)?);
        Some(difference::difference(
            &a,
            &b,
            metric,
            p,
            self.config.confidence,
            seed,
        ))
    }

    /// Percentile `p` of `metric` by the configured method; [`PercentileError::Empty`] before any value.
    pub fn percentile(&mut self, metric: Metric, p: f64) -> Result<f64, PercentileError> {
        self.metrics[metric.index()].settle();
        let sample = self.sample(metric).ok_or(PercentileError::Empty)?;
        sample.estimate(p, self.config.method).map(|e| e.value)
    }
}

/// Position of `kind` in [`ErrorKind::ALL`].
fn kind_index(kind: ErrorKind) -> usize {
    ErrorKind::ALL.iter().position(|&k| k == kind).unwrap_or_default()
}

#[cfg(test)]
mod tests;
