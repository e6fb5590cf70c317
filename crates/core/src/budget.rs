//! What a run will hold in memory and in the browser's storage, estimated before it starts, so the page can warn
//! before a long run outgrows a tab. A run measured in the page keeps its records in the record store as they
//! finish ([`RecordPlace::Store`]): memory then holds the statistics (a few numbers per request and, until the
//! budget bins them, one gap per chunk) and a bounded working set, and storage holds each response's two lines.
//! Elsewhere ([`RecordPlace::Memory`]: the `tokenmeter` command's pages) each record stays in memory too.
//!
//! The per-request costs are measured, not guessed: the 50,000-request e2e test and `scripts/bench.sh` read the
//! renderer's growth and the stored lines' size (712 MB of `responses.jsonl` for a million requests of 16 tokens).

use std::fmt;

use crate::plan::{Arrival, RunPlan};

/// Past this in memory, the page warns: a tab's wasm memory is capped at 4 GB, and browsers kill tabs well before.
pub const WARN_BYTES: u64 = 1 << 30;
/// Past this in storage, the page warns: browsers give a site a share of the disk, often a few gigabytes.
pub const WARN_STORED_BYTES: u64 = 4 << 30;

/// A record kept in memory: the struct, its id, timings, the sidecar's fields (measured: 18 KB a request with
/// 16 chunks and its payload, when every record stayed in the worker and crossed to the page).
const RECORD_BYTES: u64 = 512;
/// Per output chunk in a kept record: its arrival time (8 bytes) and its text (a few bytes per token).
const CHUNK_IN_RECORD_BYTES: u64 = 8 + 6;
/// Per request in the statistics: one value of each per-request metric, plus cost terms, as grown vectors hold
/// them (measured with the rest of the worker's and page's growth: see the module documentation).
const STATS_PER_REQUEST_BYTES: u64 = 12 * 8;
/// What a run in the page holds whatever its length: snapshots, the record batches on their way to storage, the
/// timeline, the statistics' sorted stages, and the strings the two threads' collectors have not freed yet.
/// Measured (release page, Chromium, 64 clients at zero latency, 16 tokens): the renderer grew by 83-116 MB at
/// 50,048 requests, levelled at about 150 MB from 100,000 to 200,000, and by 187 MB at 1,000,000.
const WORKING_SET_BYTES: u64 = 96 << 20;
/// One exact per-chunk value (an inter-token gap).
const GAP_BYTES: u64 = 8;
/// A binned per-chunk metric: the histogram of gaps up to about a minute.
const BINNED_BYTES: u64 = 256 * 1024;
/// A stored request's two lines (`responses.jsonl` and `tokenmeter_responses.jsonl`) without its payload and
/// chunks (measured: see the module documentation).
const STORED_LINE_BYTES: u64 = 900;
/// Per output chunk in the stored lines: its text in `response_text` and its time in the sidecar.
const CHUNK_IN_LINES_BYTES: u64 = 20;

/// Where a run's records go while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPlace {
    /// Kept in memory until the run ends.
    Memory,
    /// Written to the browser's record store as they finish; memory keeps the statistics only.
    Store,
}

/// The estimate for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Requests the run will send at most, when known before it starts (not for a time-bound closed loop).
    pub requests: Option<u64>,
    /// Output chunks per request at most (one per token, the payload's output limit).
    pub chunks_per_request: u64,
    /// Bytes of memory for `requests`, or for 1,000 requests when the count is unknown.
    pub bytes: u64,
    /// Bytes of the browser's storage the records take ([`RecordPlace::Store`]), for as many requests.
    pub stored_bytes: u64,
    /// Whether the per-chunk values will be binned (low memory, or past the budget).
    pub binned: bool,
}

impl MemoryEstimate {
    /// The estimate for `plan` sending payloads of `payload_bytes` asking for at most `max_tokens` tokens, with
    /// `chunk_value_budget` per-chunk values kept exactly (see `StatsConfig`), its records going to `place`.
    pub fn of(
        plan: &RunPlan,
        payload_bytes: u64,
        max_tokens: u32,
        chunk_value_budget: Option<usize>,
        place: RecordPlace,
    ) -> Self {
        let requests = expected_requests(plan);
        let n = requests.unwrap_or(1_000);
        let chunks = u64::from(max_tokens).max(1);
        let per_record = RECORD_BYTES + payload_bytes + chunks * CHUNK_IN_RECORD_BYTES;
        let (records, working_set, stored) = match place {
            RecordPlace::Memory if plan.low_memory() => (0, 0, 0),
            RecordPlace::Memory => (n.saturating_mul(per_record), 0, 0),
            RecordPlace::Store => (
                0,
                WORKING_SET_BYTES,
                n.saturating_mul(STORED_LINE_BYTES + payload_bytes + chunks * CHUNK_IN_LINES_BYTES),
            ),
        };
        let gaps = n.saturating_mul(chunks - 1);
        let budget = if plan.low_memory() {
            Some(0)
        } else {
            chunk_value_budget.map(|b| b as u64)
        };
        let binned = budget.is_some_and(|b| gaps > b);
        let gap_bytes = match budget {
            Some(b) if binned => b * GAP_BYTES + BINNED_BYTES,
            _ => gaps.saturating_mul(GAP_BYTES),
        };
        MemoryEstimate {
            requests,
            chunks_per_request: chunks,
            bytes: records
                .saturating_add(working_set)
                .saturating_add(n.saturating_mul(STATS_PER_REQUEST_BYTES))
                .saturating_add(gap_bytes),
            stored_bytes: stored,
            binned,
        }
    }

    /// Whether the run may hold more memory than a tab can safely keep.
    pub fn is_too_large(&self) -> bool {
        self.bytes > WARN_BYTES
    }

    /// Whether the run's records may take more storage than a browser usually gives a site.
    pub fn stores_too_much(&self) -> bool {
        self.stored_bytes > WARN_STORED_BYTES
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = human_bytes(self.bytes);
        match self.requests {
            Some(n) => write!(
                f,
                "about {size} for {n} requests of up to {} chunks",
                self.chunks_per_request
            )?,
            None => write!(
                f,
                "about {size} per 1,000 requests of up to {} chunks (a time-bound closed loop's count is unknown)",
                self.chunks_per_request
            )?,
        }
        if self.stored_bytes > 0 {
            write!(
                f,
                "; each response goes to the browser's storage as it finishes (about {})",
                human_bytes(self.stored_bytes)
            )?;
        }
        if self.binned {
            write!(f, "; inter-token gaps binned (percentiles within 0.1%)")?;
        }
        Ok(())
    }
}

/// Requests the plan sends at most: its count, or its open-loop rate over its duration.
fn expected_requests(plan: &RunPlan) -> Option<u64> {
    let by_rate = match (plan.arrival(), plan.stop().duration) {
        (Arrival::ConstantRate { per_second, .. } | Arrival::Poisson { per_second, .. }, Some(d)) => {
            Some((per_second * d.as_secs_f64()).ceil() as u64)
        }
        _ => None,
    };
    match (plan.max_requests(), by_rate) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `bytes` in KB, MB or GB (powers of 1,000, one decimal).
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} KB", b / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RunPlanSpec, StopCondition};
    use std::time::Duration;

    fn plan(arrival: Arrival, stop: StopCondition, low_memory: bool) -> RunPlan {
        RunPlanSpec {
            arrival,
            stop,
            low_memory,
            ..RunPlanSpec::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn a_million_requests_of_200_chunks_warns_and_low_memory_does_not() {
        let million = StopCondition::total_requests(1_000_000);
        let closed = Arrival::ClosedLoop { clients: 100 };
        let full = MemoryEstimate::of(
            &plan(closed, million, false),
            200,
            200,
            Some(2_000_000),
            RecordPlace::Memory,
        );
        assert_eq!(full.requests, Some(1_000_000));
        assert!(full.is_too_large(), "{full}");
        assert!(full.binned, "199 million gaps are past a 2 million budget");
        let low = MemoryEstimate::of(
            &plan(closed, million, true),
            200,
            200,
            Some(2_000_000),
            RecordPlace::Memory,
        );
        assert!(!low.is_too_large(), "{low}");
        assert!(low.bytes < 200_000_000, "{low}");
        assert!(
            low.to_string().starts_with("about 96.3 MB for 1000000 requests"),
            "{low}"
        );
    }

    /// r22: records in the store leave memory holding the statistics: a million requests fit in a tab, and
    /// what they take in storage is said, and warned about past what browsers usually give a site.
    #[test]
    fn r22_records_in_the_store_cost_storage_not_memory() {
        let million = StopCondition::total_requests(1_000_000);
        let closed = Arrival::ClosedLoop { clients: 100 };
        let stored = MemoryEstimate::of(
            &plan(closed, million, false),
            200,
            200,
            Some(2_000_000),
            RecordPlace::Store,
        );
        assert!(!stored.is_too_large(), "{stored}");
        assert!(stored.bytes < 300_000_000, "{stored}");
        assert!(stored.stores_too_much(), "{stored}");
        assert!(
            stored.to_string().contains("goes to the browser's storage"),
            "{stored}"
        );
        let small = MemoryEstimate::of(
            &plan(closed, StopCondition::total_requests(50_000), false),
            200,
            16,
            Some(2_000_000),
            RecordPlace::Store,
        );
        assert!(!small.stores_too_much(), "{small}");
    }

    /// r22: the estimate is within 25% of what the renderer was measured to grow by (release page, Chromium, 64
    /// clients against the simulated model at zero latency, 16 tokens, the page's default 128-token limit and
    /// prompt): 83-116 MB at 50,048 requests, about 150 MB at 200,000, 187 MB at 1,000,000.
    #[test]
    fn r22_the_estimate_is_within_a_quarter_of_the_measured_growth() {
        let closed = Arrival::ClosedLoop { clients: 64 };
        for (requests, measured_mb) in [(50_048, 100.0), (200_000, 150.0), (1_000_000, 187.0)] {
            let run = plan(closed, StopCondition::total_requests(requests), false);
            let estimate = MemoryEstimate::of(&run, 143, 128, Some(2_000_000), RecordPlace::Store);
            let ratio = estimate.bytes as f64 / 1e6 / measured_mb;
            assert!(
                (0.75..=1.25).contains(&ratio),
                "{requests}: {estimate} against {measured_mb} MB"
            );
        }
    }

    #[test]
    fn open_loop_counts_come_from_rate_and_duration_and_unknown_counts_say_so() {
        let rate = Arrival::ConstantRate {
            per_second: 50.0,
            max_concurrency: None,
        };
        let minute = StopCondition::duration(Duration::from_secs(60));
        assert_eq!(
            MemoryEstimate::of(&plan(rate, minute, false), 0, 10, None, RecordPlace::Store).requests,
            Some(3_000)
        );
        let closed = Arrival::ClosedLoop { clients: 4 };
        let unknown = MemoryEstimate::of(&plan(closed, minute, false), 0, 10, None, RecordPlace::Store);
        assert_eq!(unknown.requests, None);
        assert!(unknown.to_string().contains("per 1,000 requests"), "{unknown}");
    }
}
