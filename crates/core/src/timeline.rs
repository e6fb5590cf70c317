//! [`Timeline`]: a run's requests over time, in per-second buckets (completed, failed, output tokens, TTFT and
//! TTLT sum and max), so an over-time chart can be redrawn live without going through every record.
//!
//! A sink calls [`Timeline::observe`] once per finished record (O(1) amortised); a Web Worker can post the whole
//! timeline to the page at 1 Hz or more, so it stays small: at most [`MAX_BUCKETS`] buckets (past that, the
//! bucket width doubles and neighbours merge), each serialised as one array of nine integers (times in whole
//! microseconds, so sums are exact and merging is order-independent). About 40 KB of JSON at the cap.
//!
//! Records are counted as the statistics count them: warm-up and cancelled requests are left out, failed ones
//! are counted as failed (their output tokens still count: they were generated), and TTFT/TTLT come from
//! successful requests only, through [`crate::metrics`]. A record is placed at the time it ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::record::{Outcome, RequestRecord};
use crate::time::Timestamp;

/// The most buckets a timeline holds; a run longer than this many bucket widths doubles the width.
pub const MAX_BUCKETS: usize = 600;

/// One time slice of a run: what ended in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BucketArray", into = "BucketArray")]
pub struct Bucket {
    /// Successful requests.
    pub ok: u32,
    /// Failed requests (cancelled ones excluded).
    pub failed: u32,
    /// Output tokens of every counted request, failed ones included (as `total_output_tokens`).
    pub output_tokens: u64,
    /// Successful requests with a TTFT (non-streaming responses have none).
    pub ttft_count: u32,
    pub ttft_sum_us: u64,
    pub ttft_max_us: u64,
    /// Successful requests with a TTLT (all of them, by its definition).
    pub ttlt_count: u32,
    pub ttlt_sum_us: u64,
    pub ttlt_max_us: u64,
}

/// The wire form of a [`Bucket`]: an array, not an object, so 600 buckets do not repeat 600 sets of keys.
#[derive(Serialize, Deserialize)]
struct BucketArray(u32, u32, u64, u32, u64, u64, u32, u64, u64);

impl From<Bucket> for BucketArray {
    fn from(b: Bucket) -> Self {
        BucketArray(
            b.ok,
            b.failed,
            b.output_tokens,
            b.ttft_count,
            b.ttft_sum_us,
            b.ttft_max_us,
            b.ttlt_count,
            b.ttlt_sum_us,
            b.ttlt_max_us,
        )
    }
}

impl From<BucketArray> for Bucket {
    fn from(a: BucketArray) -> Self {
        Bucket {
            ok: a.0,
            failed: a.1,
            output_tokens: a.2,
            ttft_count: a.3,
            ttft_sum_us: a.4,
            ttft_max_us: a.5,
            ttlt_count: a.6,
            ttlt_sum_us: a.7,
            ttlt_max_us: a.8,
        }
    }
}

impl Bucket {
    /// Mean TTFT of the bucket's successful requests, in seconds.
    pub fn mean_ttft(&self) -> Option<f64> {
        mean(self.ttft_sum_us, self.ttft_count)
    }

    /// Largest TTFT, in seconds.
    pub fn max_ttft(&self) -> Option<f64> {
        (self.ttft_count > 0).then(|| self.ttft_max_us as f64 / 1e6)
    }

    /// Mean TTLT of the bucket's successful requests, in seconds.
    pub fn mean_ttlt(&self) -> Option<f64> {
        mean(self.ttlt_sum_us, self.ttlt_count)
    }

    /// Largest TTLT, in seconds.
    pub fn max_ttlt(&self) -> Option<f64> {
        (self.ttlt_count > 0).then(|| self.ttlt_max_us as f64 / 1e6)
    }

    fn add(&mut self, o: &Bucket) {
        self.ok = self.ok.saturating_add(o.ok);
        self.failed = self.failed.saturating_add(o.failed);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.ttft_count = self.ttft_count.saturating_add(o.ttft_count);
        self.ttft_sum_us = self.ttft_sum_us.saturating_add(o.ttft_sum_us);
        self.ttft_max_us = self.ttft_max_us.max(o.ttft_max_us);
        self.ttlt_count = self.ttlt_count.saturating_add(o.ttlt_count);
        self.ttlt_sum_us = self.ttlt_sum_us.saturating_add(o.ttlt_sum_us);
        self.ttlt_max_us = self.ttlt_max_us.max(o.ttlt_max_us);
    }
}

fn mean(sum_us: u64, count: u32) -> Option<f64> {
    (count > 0).then(|| sum_us as f64 / 1e6 / f64::from(count))
}

/// Seconds as whole microseconds (negative clamps to 0).
fn micros(secs: f64) -> u64 {
    (secs.max(0.0) * 1e6).round() as u64
}

/// A run's requests in time buckets of `width_secs()` seconds from the run's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// The run's start on its monotonic clock, in nanoseconds: [`Timeline::observe`] places records from it.
    start_ns: u64,
    /// Seconds per bucket: 1, doubled each time the run outgrows [`MAX_BUCKETS`].
    width: u32,
    buckets: Vec<Bucket>,
}

impl Timeline {
    /// An empty timeline for a run that started at `start` on the run's monotonic clock.
    pub fn new(start: Timestamp) -> Timeline {
        Timeline {
            start_ns: start.as_nanos(),
            width: 1,
            buckets: Vec::new(),
        }
    }

    /// The timeline of finished records (an imported or finished run), placed as [`RunClock::of`] decides.
    pub fn from_records(records: &[RequestRecord]) -> Timeline {
        let Some(clock) = RunClock::of(records) else {
            return Timeline::new(Timestamp::ZERO);
        };
        let mut timeline = Timeline::new(match clock {
            RunClock::Monotonic(start) => start,
            RunClock::Wall(_) => Timestamp::ZERO,
        });
        for r in records {
            timeline.observe_at(clock.ended_secs(r), r);
        }
        timeline
    }

    /// Adds one finished record, placed at its `ended_at` on the run's monotonic clock. O(1) amortised.
    pub fn observe(&mut self, record: &RequestRecord) {
        let at = record
            .timing
            .ended_at
            .secs_since(Timestamp::from_nanos(self.start_ns));
        self.observe_at(at, record);
    }

    /// Adds one finished record that ended `end_secs` seconds after the run's start.
    pub fn observe_at(&mut self, end_secs: f64, record: &RequestRecord) {
        if record.warmup {
            return;
        }
        let outcome = record.outcome();
        if outcome == Outcome::Cancelled {
            return;
        }
        let b = self.bucket_mut(end_secs);
        b.output_tokens = b.output_tokens.saturating_add(record.tokens.output.unwrap_or(0));
        if let Outcome::Failed(_) = outcome {
            b.failed = b.failed.saturating_add(1);
            return;
        }
        b.ok = b.ok.saturating_add(1);
        if let Some(ttft) = metrics::time_to_first_token(record) {
            let us = micros(ttft);
            b.ttft_count = b.ttft_count.saturating_add(1);
            b.ttft_sum_us = b.ttft_sum_us.saturating_add(us);
            b.ttft_max_us = b.ttft_max_us.max(us);
        }
        if let Some(ttlt) = metrics::time_to_last_token(record) {
            let us = micros(ttlt);
            b.ttlt_count = b.ttlt_count.saturating_add(1);
            b.ttlt_sum_us = b.ttlt_sum_us.saturating_add(us);
            b.ttlt_max_us = b.ttlt_max_us.max(us);
        }
    }

    /// The bucket holding `secs` after the start, widening buckets until it fits under the cap.
    fn bucket_mut(&mut self, secs: f64) -> &mut Bucket {
        // Non-finite or negative offsets (a clock oddity) land in the first bucket rather than being lost.
        let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
        let mut index = (secs / f64::from(self.width)) as usize;
        while index >= MAX_BUCKETS {
            self.coarsen();
            index = (secs / f64::from(self.width)) as usize;
        }
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, Bucket::default());
        }
        &mut self.buckets[index]
    }

    /// Doubles the bucket width, merging neighbours pairwise.
    fn coarsen(&mut self) {
        self.width = self.width.saturating_mul(2);
        let merged = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut b = pair[0];
                if let Some(second) = pair.get(1) {
                    b.add(second);
                }
                b
            })
            .collect();
        self.buckets = merged;
    }

    /// The run's start on its monotonic clock (what [`Timeline::observe`] measures from).
    pub fn start(&self) -> Timestamp {
        Timestamp::from_nanos(self.start_ns)
    }

    /// Seconds per bucket.
    pub fn width_secs(&self) -> u32 {
        self.width
    }

    /// The buckets, from the run's start; bucket `i` covers `[i·width, (i+1)·width)` seconds.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// Each bucket with the second it starts at.
    pub fn iter(&self) -> impl Iterator<Item = (f64, &Bucket)> + '_ {
        let w = f64::from(self.width);
        self.buckets
            .iter()
            .enumerate()
            .map(move |(i, b)| (i as f64 * w, b))
    }

    /// True when nothing has been counted.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Totals over the whole run.
    pub fn total(&self) -> Bucket {
        let mut t = Bucket::default();
        self.buckets.iter().for_each(|b| t.add(b));
        t
    }
}

/// Where a run's records sit in time, in seconds since the run's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunClock {
    /// The records share the run's monotonic clock (Tokenmeter's own runs and files); the run starts at the
    /// first dispatch.
    Monotonic(Timestamp),
    /// The records carry only durations (LLMeter's files: the importer places every request at the origin), so
    /// they are placed by `request_time`, from the earliest one.
    Wall(DateTime<Utc>),
}

impl RunClock {
    /// The clock of `records`: [`RunClock::Wall`] when there are several, they all sit at the same instant
    /// and every one has a `request_time`; otherwise [`RunClock::Monotonic`]. `None` without records.
    pub fn of(records: &[RequestRecord]) -> Option<RunClock> {
        let first = records.first()?;
        let same_instant = records
            .iter()
            .all(|r| r.timing.dispatched_at == first.timing.dispatched_at);
        if records.len() > 1 && same_instant {
            let earliest = records.iter().map(|r| r.request_time).min().flatten();
            if let Some(start) = earliest.filter(|_| records.iter().all(|r| r.request_time.is_some())) {
                return Some(RunClock::Wall(start));
            }
        }
        let start = records.iter().map(|r| r.timing.dispatched_at).min()?;
        Some(RunClock::Monotonic(start))
    }

    /// Seconds from the run's start to when `record` was sent.
    pub fn sent_secs(&self, record: &RequestRecord) -> f64 {
        match *self {
            RunClock::Monotonic(start) => record.timing.dispatched_at.secs_since(start),
            RunClock::Wall(start) => record
                .request_time
                .and_then(|at| (at - start).num_microseconds())
                .map_or(0.0, |us| us as f64 / 1e6),
        }
    }

    /// Seconds from the run's start to when `record` ended.
    pub fn ended_secs(&self, record: &RequestRecord) -> f64 {
        let t = &record.timing;
        match *self {
            RunClock::Monotonic(start) => t.ended_at.secs_since(start),
            RunClock::Wall(_) => self.sent_secs(record) + t.ended_at.secs_since(t.dispatched_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, RequestError, RequestTiming, TokenCounts};
    use chrono::TimeZone;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_micros(v * 1000)
    }

    /// A successful streamed request sent at `sent_ms`, first token 200 ms and last 600 ms later.
    fn ok(sent_ms: u64) -> RequestRecord {
        RequestRecord {
            timing: RequestTiming {
                dispatched_at: ms(sent_ms),
                first_token_at: Some(ms(sent_ms + 200)),
                last_token_at: Some(ms(sent_ms + 600)),
                ended_at: ms(sent_ms + 600),
                ..Default::default()
            },
            tokens: TokenCounts {
                output: Some(10),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn failed(sent_ms: u64, kind: ErrorKind) -> RequestRecord {
        RequestRecord {
            error: Some(RequestError::new(kind, "")),
            ..ok(sent_ms)
        }
    }

    #[test]
    fn records_land_in_the_second_they_ended_with_their_latencies() {
        let mut t = Timeline::new(ms(1_000));
        t.observe(&ok(1_000)); // ends at 0.6 s
        t.observe(&ok(1_100)); // ends at 0.7 s
        t.observe(&ok(2_500)); // ends at 2.1 s
        t.observe(&failed(2_600, ErrorKind::Throttled));
        assert_eq!(t.width_secs(), 1);
        let b = t.buckets();
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].ok, b[0].failed, b[0].output_tokens), (2, 0, 20));
        assert_eq!(b[1], Bucket::default());
        assert_eq!((b[2].ok, b[2].failed, b[2].output_tokens), (1, 1, 20));
        assert_eq!(b[0].mean_ttft(), Some(0.2));
        assert_eq!(b[0].max_ttlt(), Some(0.6));
        assert_eq!(b[2].ttft_count, 1, "a failed request's TTFT is not counted");
        assert_eq!(t.total().ok, 3);
    }

    #[test]
    fn warmup_and_cancelled_requests_are_left_out() {
        let mut t = Timeline::new(Timestamp::ZERO);
        t.observe(&RequestRecord {
            warmup: true,
            ..ok(0)
        });
        t.observe(&failed(0, ErrorKind::Cancelled));
        assert!(t.is_empty());
    }

    #[test]
    fn a_long_run_doubles_the_width_and_keeps_every_count() {
        let mut t = Timeline::new(Timestamp::ZERO);
        // One request ending in each of 1,300 seconds: past 600 and 1,200 buckets the width doubles twice.
        for s in 0..1_300u64 {
            t.observe(&ok(s * 1_000));
        }
        assert_eq!(t.width_secs(), 4);
        assert!(t.buckets().len() <= MAX_BUCKETS);
        assert_eq!(t.total().ok, 1_300);
        assert_eq!(t.buckets()[0].ok, 4);
        assert_eq!(t.buckets()[0].ttft_sum_us, 4 * 200_000);
        let starts: Vec<f64> = t.iter().take(2).map(|(s, _)| s).collect();
        assert_eq!(starts, [0.0, 4.0]);
    }

    #[test]
    fn serialises_compactly_and_round_trips() {
        let mut t = Timeline::new(ms(5));
        t.observe(&ok(5));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"start_ns":5000000,"width":1,"buckets":[[1,0,10,1,200000,200000,1,600000,600000]]}"#
        );
        let back: Timeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn own_records_use_the_monotonic_clock_from_the_first_send() {
        let records = [ok(3_000), ok(1_000), failed(1_500, ErrorKind::Timeout)];
        let clock = RunClock::of(&records).unwrap();
        assert_eq!(clock, RunClock::Monotonic(ms(1_000)));
        assert_eq!(clock.sent_secs(&records[0]), 2.0);
        assert_eq!(clock.ended_secs(&records[0]), 2.6);
        let t = Timeline::from_records(&records);
        assert_eq!(t.buckets()[0].ok, 1);
        assert_eq!(t.buckets()[1].failed, 1);
        assert_eq!(t.buckets()[2].ok, 1);
    }

    #[test]
    fn llmeter_records_are_placed_by_request_time() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        // LLMeter's files give durations only: every record sits at the origin.
        let at = |secs: i64| RequestRecord {
            request_time: Some(start + chrono::TimeDelta::seconds(secs)),
            ..ok(0)
        };
        let records = [at(3), at(0), at(1)];
        let clock = RunClock::of(&records).unwrap();
        assert_eq!(clock, RunClock::Wall(start));
        assert_eq!(clock.sent_secs(&records[0]), 3.0);
        assert_eq!(clock.ended_secs(&records[0]), 3.6);
        let t = Timeline::from_records(&records);
        assert_eq!(t.buckets().iter().map(|b| b.ok).collect::<Vec<_>>(), [1, 1, 0, 1]);
        // Without a request time on every record, the monotonic clock is all there is.
        let mut partial = records.clone();
        partial[1].request_time = None;
        assert_eq!(RunClock::of(&partial), Some(RunClock::Monotonic(ms(0))));
        assert_eq!(RunClock::of(&[]), None);
        assert!(Timeline::from_records(&[]).is_empty());
    }
}
