//! The per-request metrics the statistics track, their `stats.json` names, and which values each one takes from
//! a record. The values themselves come from [`crate::metrics`]; nothing here re-derives a duration.

use crate::metrics;
use crate::record::RequestRecord;

/// A metric whose distribution over successful requests is reported. Serialised as its `stats.json` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Time to last token, seconds.
    TimeToLastToken,
    /// Time to first token (reasoning included), seconds.
    TimeToFirstToken,
    /// Time per output token, seconds.
    TimePerOutputToken,
    /// Output tokens, reasoning included.
    NumTokensOutput,
    /// Input tokens.
    NumTokensInput,
    /// Time to first visible token (reasoning excluded), seconds. Tokenmeter only.
    TimeToFirstVisibleToken,
    /// Every gap between consecutive output chunks, seconds. Tokenmeter only. One value per gap, so its memory
    /// grows with chunks, not requests (8 bytes each: 1M requests of 500 chunks would hold 4 GB).
    InterTokenLatency,
    /// Output tokens per second of each request. Tokenmeter only.
    OutputTokensPerSecond,
    /// How late each request was sent relative to its schedule, seconds. Tokenmeter only.
    ScheduleLag,
    /// Prompt-cache read tokens (LLMeter's live stats do not track them). Tokenmeter only.
    NumTokensInputCached,
    /// Time the browser held each request before sending it (its connection limit), seconds, where Resource
    /// Timing exposes it. Tokenmeter only.
    BrowserQueueTime,
    /// The provider's own time to first byte (Bedrock `invocationMetrics.firstByteLatency`), seconds, where it
    /// reports one: beside the client's TTFT, it shows how much is the model and how much network and client.
    ServerFirstByteLatency,
    /// The provider's own total time (Converse `latencyMs`, `invocationMetrics.invocationLatency`), seconds.
    ServerLatency,
}

impl Metric {
    /// Every metric, in report order: LLMeter's five first, in LLMeter's order (`runner.py:241-249`).
    pub const ALL: [Metric; 13] = [
        Metric::TimeToLastToken,
        Metric::TimeToFirstToken,
        Metric::TimePerOutputToken,
        Metric::NumTokensOutput,
        Metric::NumTokensInput,
        Metric::TimeToFirstVisibleToken,
        Metric::InterTokenLatency,
        Metric::OutputTokensPerSecond,
        Metric::ScheduleLag,
        Metric::NumTokensInputCached,
        Metric::BrowserQueueTime,
        Metric::ServerFirstByteLatency,
        Metric::ServerLatency,
    ];

    /// The metrics LLMeter's live `stats.json` reports, in its order.
    pub const LLMETER: [Metric; 5] = [
        Metric::TimeToLastToken,
        Metric::TimeToFirstToken,
        Metric::TimePerOutputToken,
        Metric::NumTokensOutput,
        Metric::NumTokensInput,
    ];

    /// The key prefix in `stats.json` (`<key>-p50`); LLMeter's field names for its five.
    pub const fn key(self) -> &'static str {
        match self {
            Metric::TimeToLastToken => "time_to_last_token",
            Metric::TimeToFirstToken => "time_to_first_token",
            Metric::TimePerOutputToken => "time_per_output_token",
            Metric::NumTokensOutput => "num_tokens_output",
            Metric::NumTokensInput => "num_tokens_input",
            Metric::TimeToFirstVisibleToken => "time_to_first_visible_token",
            Metric::InterTokenLatency => "inter_token_latency",
            Metric::OutputTokensPerSecond => "output_tokens_per_second",
            Metric::ScheduleLag => "schedule_lag",
            Metric::NumTokensInputCached => "num_tokens_input_cached",
            Metric::BrowserQueueTime => "browser_queue_time",
            Metric::ServerFirstByteLatency => "server_first_byte_latency",
            Metric::ServerLatency => "server_latency",
        }
    }

    /// A short name for sentences and legends (`TTFT`).
    pub const fn short_name(self) -> &'static str {
        match self {
            Metric::TimeToLastToken => "TTLT",
            Metric::TimeToFirstToken => "TTFT",
            Metric::TimePerOutputToken => "TPOT",
            Metric::NumTokensOutput => "output tokens",
            Metric::NumTokensInput => "input tokens",
            Metric::TimeToFirstVisibleToken => "visible TTFT",
            Metric::InterTokenLatency => "inter-token latency",
            Metric::OutputTokensPerSecond => "tokens/s per request",
            Metric::ScheduleLag => "schedule lag",
            Metric::NumTokensInputCached => "cached input tokens",
            Metric::BrowserQueueTime => "browser queue time",
            Metric::ServerFirstByteLatency => "server first byte",
            Metric::ServerLatency => "server latency",
        }
    }

    /// Whether the metric is a duration in seconds (shown in ms).
    pub const fn is_duration(self) -> bool {
        !matches!(
            self,
            Metric::NumTokensOutput
                | Metric::NumTokensInput
                | Metric::NumTokensInputCached
                | Metric::OutputTokensPerSecond
        )
    }

    /// Whether this metric is one of LLMeter's five.
    pub fn is_llmeter(self) -> bool {
        Metric::LLMETER.contains(&self)
    }

    /// Token counts are integers; Python keeps whole results of integers as `int`, and so does `stats.json`.
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            Metric::NumTokensOutput | Metric::NumTokensInput | Metric::NumTokensInputCached
        )
    }

    /// Whether the metric takes one value per output chunk rather than per request (its memory grows with
    /// chunks, so the run's memory budget may bin it).
    pub const fn is_per_chunk(self) -> bool {
        matches!(self, Metric::InterTokenLatency)
    }

    /// Position in [`Metric::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The latencies that several consumers of one record need (the distributions and the SLO check), computed
/// once per record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Latencies {
    pub ttft: Option<f64>,
    pub ttlt: Option<f64>,
    pub tpot: Option<f64>,
}

impl Latencies {
    pub fn of(record: &RequestRecord) -> Latencies {
        let ttft = metrics::time_to_first_token(record);
        let ttlt = metrics::time_to_last_token(record);
        // `metrics::time_per_output_token` is `tpot_from` of exactly these two; reuse them rather than
        // converting the timestamps again.
        Latencies {
            ttft,
            ttlt,
            tpot: metrics::tpot_from(ttft, ttlt, record.tokens.output),
        }
    }
}

/// Feeds every metric's values for `record` (none, one, or one per inter-chunk gap) to `sink`.
pub(crate) fn for_each_value(
    record: &RequestRecord,
    latencies: &Latencies,
    mut sink: impl FnMut(Metric, f64),
) {
    let tokens = &record.tokens;
    let count = |n: Option<u64>| n.map(|n| n as f64);
    let values = [
        (Metric::TimeToLastToken, latencies.ttlt),
        (Metric::TimeToFirstToken, latencies.ttft),
        (Metric::TimePerOutputToken, latencies.tpot),
        (Metric::NumTokensOutput, count(tokens.output)),
        (Metric::NumTokensInput, count(tokens.input)),
        (
            Metric::TimeToFirstVisibleToken,
            metrics::time_to_first_visible_token(record),
        ),
        (
            Metric::OutputTokensPerSecond,
            metrics::output_tokens_per_second(record),
        ),
        (Metric::ScheduleLag, Some(metrics::schedule_lag(record))),
        (Metric::NumTokensInputCached, count(tokens.input_cached)),
        (Metric::BrowserQueueTime, metrics::browser_queue_time(record)),
        (
            Metric::ServerFirstByteLatency,
            record.server_latency.first_byte.map(|d| d.as_secs_f64()),
        ),
        (
            Metric::ServerLatency,
            record.server_latency.total.map(|d| d.as_secs_f64()),
        ),
    ];
    for (metric, value) in values {
        if let Some(v) = value {
            sink(metric, v);
        }
    }
    metrics::inter_token_gaps(record).for_each(|gap| sink(Metric::InterTokenLatency, gap));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_latencies_equal_the_metric_definitions() {
        use crate::record::{RequestTiming, TokenCounts};
        use crate::time::Timestamp;
        let at = |us: u64| Some(Timestamp::from_micros(us));
        for (first, last, tokens) in [
            (Some(1_234), Some(98_765), 17),
            (None, Some(5_000), 3),
            (Some(10), None, 2),
        ] {
            let record = RequestRecord {
                timing: RequestTiming {
                    dispatched_at: Timestamp::from_micros(3),
                    first_token_at: first.and_then(at),
                    last_token_at: last.and_then(at),
                    ended_at: Timestamp::from_micros(100_000),
                    ..Default::default()
                },
                tokens: TokenCounts {
                    output: Some(tokens),
                    ..Default::default()
                },
                ..Default::default()
            };
            let l = Latencies::of(&record);
            assert_eq!(l.ttft, metrics::time_to_first_token(&record));
            assert_eq!(l.ttlt, metrics::time_to_last_token(&record));
            assert_eq!(l.tpot, metrics::time_per_output_token(&record));
        }
    }

    #[test]
    fn all_is_in_declaration_order_so_index_is_its_position() {
        for (i, m) in Metric::ALL.into_iter().enumerate() {
            assert_eq!(m.index(), i);
        }
        assert_eq!(Metric::ALL[..5], Metric::LLMETER);
        for metric in Metric::ALL {
            assert_eq!(
                serde_json::to_value(metric).unwrap(),
                metric.key(),
                "serialised as its key"
            );
        }
        assert!(Metric::LLMETER.iter().all(|m| m.is_llmeter()));
    }
}
