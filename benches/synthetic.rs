//! Deterministic synthetic requests for the statistics benchmarks, shared by the native criterion bench
//! (`benches/stats.rs`) and the in-browser one (`tests/browser_bench.rs`), so both measure the same work.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tokenmeter::core::record::{ErrorKind, RequestError, RequestRecord};
use tokenmeter::core::rng::SeededRng;
use tokenmeter::core::stats::{CostModel, RunInfo, Slo, StatsConfig};
use tokenmeter::core::time::Timestamp;

/// Output chunks per synthetic request (so 3 inter-token gaps each).
pub const CHUNKS: u64 = 4;

/// Synthetic requests, rewritten in place (no allocation per record).
pub struct Source {
    rng: SeededRng,
    next: u64,
    start: DateTime<Utc>,
    record: RequestRecord,
}

impl Source {
    pub fn new() -> Source {
        Source {
            rng: SeededRng::new(0x5eed),
            next: 0,
            start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            record: RequestRecord::default(),
        }
    }

    /// The next request: one every 100 µs, TTFT 50–550 ms, gaps 5–25 ms, 20–420 output tokens, 1 % failed.
    #[allow(clippy::should_implement_trait)] // lends a reused record, which Iterator cannot
    pub fn next(&mut self) -> &RequestRecord {
        let i = self.next;
        self.next += 1;
        let rng = &mut self.rng;
        let r = &mut self.record;
        let scheduled = Timestamp::from_micros(i * 100);
        let dispatched = Timestamp::from_micros(i * 100 + rng.below(2_000));
        let mut at = dispatched.as_micros() + 50_000 + rng.below(500_000);
        r.timing.token_chunk_times.clear();
        for _ in 0..CHUNKS {
            r.timing.token_chunk_times.push(Timestamp::from_micros(at));
            at += 5_000 + rng.below(20_000);
        }
        let chunks = &r.timing.token_chunk_times;
        r.timing.scheduled_at = scheduled;
        r.timing.dispatched_at = dispatched;
        r.timing.first_token_at = chunks.first().copied();
        r.timing.first_visible_at = chunks.get(1).copied();
        r.timing.last_token_at = chunks.last().copied();
        r.timing.ended_at = Timestamp::from_micros(at);
        r.tokens.input = Some(100 + rng.below(2_000));
        r.tokens.output = Some(20 + rng.below(400));
        r.tokens.input_cached = Some(rng.below(100));
        r.request_time = Some(self.start + TimeDelta::microseconds(i as i64 * 100));
        r.error = (rng.below(100) == 0).then(|| RequestError::new(ErrorKind::Throttled, String::new()));
        &self.record
    }
}

pub fn config() -> StatsConfig {
    StatsConfig {
        slo: Some(Slo {
            ttft: Some(0.4),
            tpot: Some(0.02),
            ttlt: None,
        }),
        cost: Some(CostModel {
            input_price_per_million: Some(3.0),
            output_price_per_million: Some(15.0),
            endpoint_price_per_hour: Some(7.0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn run_info() -> RunInfo {
    RunInfo {
        total_test_time: Some(100.0),
        end_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 0).unwrap()),
        ..Default::default()
    }
}
