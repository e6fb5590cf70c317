//! What a run will hold in memory, estimated before it starts, so the page can warn before a long run outgrows a
//! browser tab. Requests × chunks is what grows: each kept record holds its chunk times, text and payload; the
//! statistics hold a few numbers per request and, until the budget bins them, one gap per chunk.

use std::fmt;

use crate::plan::{Arrival, RunPlan};

/// Past this, the page warns: a tab's wasm memory is capped at 4 GB, and browsers kill tabs well before that.
pub const WARN_BYTES: u64 = 1 << 30;

/// A kept record's fixed part: the struct, its id, timings and the sidecar's fields.
const RECORD_BYTES: u64 = 512;
/// Per output chunk in a kept record: its arrival time (8 bytes) and its text (a few bytes per token).
const CHUNK_IN_RECORD_BYTES: u64 = 8 + 6;
/// Per request in the statistics: one value of each per-request metric, plus cost terms.
const STATS_PER_REQUEST_BYTES: u64 = 12 * 8;
/// One exact per-chunk value (an inter-token gap).
const GAP_BYTES: u64 = 8;
/// A binned per-chunk metric: the histogram of gaps up to about a minute.
const BINNED_BYTES: u64 = 256 * 1024;

/// The estimate for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Requests the run will send at most, when known before it starts (not for a time-bound closed loop).
    pub requests: Option<u64>,
    /// Output chunks per request at most (one per token, the payload's output limit).
    pub chunks_per_request: u64,
    /// Bytes for `requests`, or for 1,000 requests when the count is unknown.
    pub bytes: u64,
    /// Whether the per-chunk values will be binned (low memory, or past the budget).
    pub binned: bool,
}

impl MemoryEstimate {
    /// The estimate for `plan` sending payloads of `payload_bytes` asking for at most `max_tokens` tokens, with
    /// `chunk_value_budget` per-chunk values kept exactly (see `StatsConfig`).
    pub fn of(
        plan: &RunPlan,
        payload_bytes: u64,
        max_tokens: u32,
        chunk_value_budget: Option<usize>,
    ) -> Self {
        let requests = expected_requests(plan);
        let n = requests.unwrap_or(1_000);
        let chunks = u64::from(max_tokens).max(1);
        let records = if plan.low_memory() {
            0
        } else {
            n.saturating_mul(RECORD_BYTES + payload_bytes + chunks * CHUNK_IN_RECORD_BYTES)
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
                .saturating_add(n.saturating_mul(STATS_PER_REQUEST_BYTES))
                .saturating_add(gap_bytes),
            binned,
        }
    }

    /// Whether the page should warn before the run.
    pub fn is_too_large(&self) -> bool {
        self.bytes > WARN_BYTES
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
        let full = MemoryEstimate::of(&plan(closed, million, false), 200, 200, Some(2_000_000));
        assert_eq!(full.requests, Some(1_000_000));
        assert!(full.is_too_large(), "{full}");
        assert!(full.binned, "199 million gaps are past a 2 million budget");
        let low = MemoryEstimate::of(&plan(closed, million, true), 200, 200, Some(2_000_000));
        assert!(!low.is_too_large(), "{low}");
        assert!(low.bytes < 200_000_000, "{low}");
        assert!(
            low.to_string().starts_with("about 96.3 MB for 1000000 requests"),
            "{low}"
        );
    }

    #[test]
    fn open_loop_counts_come_from_rate_and_duration_and_unknown_counts_say_so() {
        let rate = Arrival::ConstantRate {
            per_second: 50.0,
            max_concurrency: None,
        };
        let minute = StopCondition::duration(Duration::from_secs(60));
        assert_eq!(
            MemoryEstimate::of(&plan(rate, minute, false), 0, 10, None).requests,
            Some(3_000)
        );
        let closed = Arrival::ClosedLoop { clients: 4 };
        let unknown = MemoryEstimate::of(&plan(closed, minute, false), 0, 10, None);
        assert_eq!(unknown.requests, None);
        assert!(unknown.to_string().contains("per 1,000 requests"), "{unknown}");
    }
}
