//! The metric definitions, in one place. Every latency is measured from `dispatched_at` (the `fetch()` call),
//! as LLMeter measures from just before its SDK call; values are seconds (`f64`), LLMeter's unit.
//!
//! | metric | formula | `None` when |
//! |---|---|---|
//! | TTFT | `first_token_at − dispatched_at` (first output of any kind, reasoning included) | no output arrived |
//! | TTFO | `first_visible_at − dispatched_at` (first visible output; LLMeter's default TTFT) | no visible output |
//! | TTLT | `last_token_at − dispatched_at`; for a successful response without token chunks (non-streaming), `ended_at − dispatched_at` | failed and no token arrived |
//! | TPOT | `(TTLT − TTFT) / (output_tokens − 1)` | TTFT or TTLT missing or zero, or output tokens ≤ 1 |
//! | inter-token gaps | differences of consecutive `token_chunk_times` (chunks, not tokens: servers coalesce) | fewer than 2 chunks |
//! | output tokens/s | `output_tokens / TTLT` (end-to-end rate one user sees) | TTLT missing or zero, tokens unknown |
//! | schedule lag | `dispatched_at − scheduled_at` (client lateness; coordinated-omission signal) | never |
//! | browser queue time | `requestStart − startTime − DNS − connect` of the request's Resource Timing entry: time the browser held it before sending ([`ResourceTiming::queue_time`]) | not exposed (no `Timing-Allow-Origin`) |

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::record::RequestRecord;

/// Time to first token (reasoning included), in seconds.
pub fn time_to_first_token(record: &RequestRecord) -> Option<f64> {
    let t = &record.timing;
    t.first_token_at.map(|at| at.secs_since(t.dispatched_at))
}

/// Time to first visible output (reasoning excluded), in seconds. Equals TTFT for non-reasoning models.
pub fn time_to_first_visible_token(record: &RequestRecord) -> Option<f64> {
    let t = &record.timing;
    t.first_visible_at.map(|at| at.secs_since(t.dispatched_at))
}

/// Time to last token, in seconds. A failed request keeps the TTLT of the tokens it did receive; a successful
/// request without token chunks (non-streaming) ends when its response ended.
pub fn time_to_last_token(record: &RequestRecord) -> Option<f64> {
    let t = &record.timing;
    match t.last_token_at {
        Some(at) => Some(at.secs_since(t.dispatched_at)),
        None if record.is_success() => Some(t.ended_at.secs_since(t.dispatched_at)),
        None => None,
    }
}

/// Time per output token: `(TTLT − TTFT) / (output_tokens − 1)`, LLMeter's definition (the first token's time is
/// TTFT's, so n tokens span n − 1 intervals).
pub fn time_per_output_token(record: &RequestRecord) -> Option<f64> {
    tpot_from(
        time_to_first_token(record),
        time_to_last_token(record),
        record.tokens.output,
    )
}

/// TPOT from its parts; shared by live records and imported files so the rule lives once.
pub fn tpot_from(ttft: Option<f64>, ttlt: Option<f64>, output_tokens: Option<u64>) -> Option<f64> {
    let (ttft, ttlt, n) = (ttft?, ttlt?, output_tokens?);
    // LLMeter requires all three to be truthy and more than one token.
    if ttft == 0.0 || ttlt == 0.0 || n <= 1 {
        return None;
    }
    Some((ttlt - ttft) / (n - 1) as f64)
}

/// Gaps between consecutive output chunks, in seconds.
pub fn inter_token_gaps(record: &RequestRecord) -> impl Iterator<Item = f64> + '_ {
    record
        .timing
        .token_chunk_times
        .windows(2)
        .map(|w| w[1].secs_since(w[0]))
}

/// Output tokens per second over the whole request, as one user experiences it.
pub fn output_tokens_per_second(record: &RequestRecord) -> Option<f64> {
    let ttlt = time_to_last_token(record)?;
    let n = record.tokens.output?;
    (ttlt > 0.0).then(|| n as f64 / ttlt)
}

/// How late the client sent the request relative to its schedule, in seconds.
pub fn schedule_lag(record: &RequestRecord) -> f64 {
    let t = &record.timing;
    t.dispatched_at.secs_since(t.scheduled_at).max(0.0)
}

/// Time the browser queued the request before sending it, in seconds, when the platform exposed it.
pub fn browser_queue_time(record: &RequestRecord) -> Option<f64> {
    record.queued.map(|d| d.as_secs_f64())
}

/// The fields of one Resource Timing entry that browser queueing is read from, in milliseconds on the
/// `performance.now()` timeline. Browsers zero the detailed fields of cross-origin responses that do not send
/// `Timing-Allow-Origin`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResourceTiming {
    pub start_time: f64,
    pub domain_lookup_start: f64,
    pub domain_lookup_end: f64,
    pub connect_start: f64,
    pub connect_end: f64,
    pub request_start: f64,
    pub response_end: f64,
}

impl ResourceTiming {
    /// Time the request waited in the browser before going on the wire: from the `fetch()` call to
    /// `requestStart`, less DNS and connection set-up. `None` when the entry's details were zeroed (unknown, not
    /// zero).
    pub fn queue_time(&self) -> Option<Duration> {
        if self.request_start <= 0.0 {
            return None;
        }
        let setup = (self.domain_lookup_end - self.domain_lookup_start).max(0.0)
            + (self.connect_end - self.connect_start).max(0.0);
        let blocked_ms = (self.request_start - self.start_time - setup).max(0.0);
        Some(Duration::from_secs_f64(blocked_ms / 1e3))
    }
}

/// How far (ms) a Resource Timing entry's `startTime` may be from the request's dispatch time to be its entry.
pub const RESOURCE_START_TOLERANCE_MS: f64 = 1.0;

/// Resource Timing entries not yet matched to a request, kept at most this many: an entry no request claims (a
/// cold check's, one that came after its request asked) is an orphan long before this many newer ones arrive.
pub const UNCLAIMED_ENTRIES: usize = 10_000;

/// Resource Timing entries waiting for their request, indexed by URL and start millisecond, so a request finds its
/// own in O(1) however many share its URL (every request of a run usually does).
///
/// The rule: a request that started at `started_ms` and ended at `ended_ms` gets an unclaimed entry of its URL that
/// started within [`RESOURCE_START_TOLERANCE_MS`] of it (requests sent together share a coarsened start time),
/// of those the one that ended closest to it; claiming removes it, so each entry belongs to one request.
#[derive(Debug, Default)]
pub struct ResourceTimings {
    by_start_ms: HashMap<i64, Vec<(String, ResourceTiming)>>,
    /// Start milliseconds in the order entries came, to drop the oldest past [`UNCLAIMED_ENTRIES`].
    arrival: VecDeque<i64>,
    len: usize,
}

impl ResourceTimings {
    /// An entry the browser reported for `url`.
    pub fn add(&mut self, url: &str, entry: ResourceTiming) {
        let ms = entry.start_time.floor() as i64;
        self.by_start_ms
            .entry(ms)
            .or_default()
            .push((url.to_owned(), entry));
        self.arrival.push_back(ms);
        self.len += 1;
        while self.len > UNCLAIMED_ENTRIES {
            let Some(oldest) = self.arrival.pop_front() else {
                break;
            };
            if let Some(dropped) = self.by_start_ms.remove(&oldest) {
                self.len -= dropped.len();
            }
        }
    }

    /// The entry of the request to `url` that started at `started_ms` and ended at `ended_ms`, by the rule above.
    pub fn claim(&mut self, url: &str, started_ms: f64, ended_ms: f64) -> Option<ResourceTiming> {
        let near = |e: &ResourceTiming| (e.start_time - started_ms).abs() <= RESOURCE_START_TOLERANCE_MS;
        let distance = |e: &ResourceTiming| (e.response_end - ended_ms).abs();
        let ms = started_ms.floor() as i64;
        let (best_ms, index) = (ms - 1..=ms + 1)
            .filter_map(|m| Some((m, self.by_start_ms.get(&m)?)))
            .flat_map(|(m, list)| list.iter().enumerate().map(move |(i, item)| (m, i, item)))
            .filter(|(_, _, (u, e))| u == url && near(e))
            .min_by(|a, b| distance(&a.2 .1).total_cmp(&distance(&b.2 .1)))
            .map(|(m, i, _)| (m, i))?;
        let list = self.by_start_ms.get_mut(&best_ms)?;
        let (_, entry) = list.swap_remove(index);
        if list.is_empty() {
            self.by_start_ms.remove(&best_ms);
        }
        self.len -= 1;
        Some(entry)
    }

    /// How many entries wait for their request.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, RequestError, RequestTiming, TokenCounts};
    use crate::time::Timestamp;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_micros(v * 1000)
    }

    fn streamed(tokens: u64) -> RequestRecord {
        RequestRecord {
            timing: RequestTiming {
                scheduled_at: ms(90),
                dispatched_at: ms(100),
                first_byte_at: Some(ms(250)),
                first_token_at: Some(ms(300)),
                first_visible_at: Some(ms(340)),
                last_token_at: Some(ms(700)),
                ended_at: ms(705),
                token_chunk_times: vec![ms(300), ms(340), ms(500), ms(700)],
            },
            tokens: TokenCounts {
                output: Some(tokens),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn streamed_request_metrics() {
        let r = streamed(5);
        assert!(close(time_to_first_token(&r), 0.2));
        assert!(close(time_to_first_visible_token(&r), 0.24));
        assert!(close(time_to_last_token(&r), 0.6));
        // (0.6 - 0.2) / (5 - 1)
        assert!(close(time_per_output_token(&r), 0.1));
        assert!(close(output_tokens_per_second(&r), 5.0 / 0.6));
        let gaps: Vec<f64> = inter_token_gaps(&r).collect();
        assert_eq!(gaps.len(), 3);
        assert!(
            (gaps[0] - 0.04).abs() < 1e-12 && (gaps[1] - 0.16).abs() < 1e-12 && (gaps[2] - 0.2).abs() < 1e-12
        );
        assert!((schedule_lag(&r) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn tpot_needs_more_than_one_token() {
        assert_eq!(time_per_output_token(&streamed(1)), None);
        assert_eq!(time_per_output_token(&streamed(0)), None);
        assert_eq!(tpot_from(Some(0.0), Some(1.0), Some(5)), None);
        assert_eq!(tpot_from(Some(0.5), Some(1.0), None), None);
    }

    #[test]
    fn non_streaming_success_ends_at_response_end() {
        let mut r = streamed(3);
        r.timing.first_token_at = None;
        r.timing.first_visible_at = None;
        r.timing.last_token_at = None;
        r.timing.token_chunk_times.clear();
        assert!(close(time_to_last_token(&r), 0.605));
        assert_eq!(time_to_first_token(&r), None);
        assert_eq!(time_per_output_token(&r), None);
    }

    #[test]
    fn failed_request_keeps_partial_ttlt_but_gets_no_backfill() {
        let mut r = streamed(3);
        r.error = Some(RequestError::new(ErrorKind::Stream, "connection reset"));
        assert!(close(time_to_last_token(&r), 0.6));
        r.timing.last_token_at = None;
        assert_eq!(time_to_last_token(&r), None);
    }

    #[test]
    fn queue_time_is_the_wait_before_the_wire_less_connection_set_up() {
        let entry = ResourceTiming {
            start_time: 100.0,
            domain_lookup_start: 101.0,
            domain_lookup_end: 103.0,
            connect_start: 103.0,
            connect_end: 108.0,
            request_start: 415.0,
            response_end: 900.0,
        };
        // 315 ms to requestStart, of which 7 ms were DNS and connect: 308 ms queued.
        assert_eq!(entry.queue_time(), Some(Duration::from_millis(308)));
        let hidden = ResourceTiming {
            request_start: 0.0,
            ..entry
        };
        assert_eq!(hidden.queue_time(), None, "zeroed details are unknown, not zero");
    }

    #[test]
    fn each_entry_matches_one_request_by_start_then_nearest_end() {
        let entry = |start: f64, end: f64| ResourceTiming {
            start_time: start,
            response_end: end,
            request_start: start + 1.0,
            ..Default::default()
        };
        let entries = [
            entry(10.0, 300.0),
            entry(10.0, 200.0),
            entry(50.0, 210.0),
            entry(10.9, 400.0),
        ];
        let mut timings = ResourceTimings::default();
        entries.iter().for_each(|&e| timings.add("https://a/x", e));
        timings.add("https://b/y", entry(10.0, 205.0));
        assert_eq!(timings.claim("https://a/x", 10.4, 205.0), Some(entries[1]));
        // The same request shape again gets the other entry that started with it, never the claimed one.
        assert_eq!(timings.claim("https://a/x", 10.4, 205.0), Some(entries[0]));
        // Across a millisecond boundary (10.9 is within 1 ms of 11.6), and only of its own URL.
        assert_eq!(timings.claim("https://a/x", 11.6, 205.0), Some(entries[3]));
        assert_eq!(timings.claim("https://a/x", 10.4, 205.0), None);
        assert_eq!(timings.claim("https://c/z", 50.0, 210.0), None);
        assert_eq!(timings.len(), 2);
    }

    #[test]
    fn unclaimed_entries_are_bounded_and_the_oldest_go_first() {
        let mut timings = ResourceTimings::default();
        for i in 0..3 * UNCLAIMED_ENTRIES {
            let start = i as f64 * 0.25;
            timings.add(
                "https://a/x",
                ResourceTiming {
                    start_time: start,
                    response_end: start + 100.0,
                    ..Default::default()
                },
            );
        }
        assert!(timings.len() <= UNCLAIMED_ENTRIES);
        assert_eq!(timings.claim("https://a/x", 0.0, 100.0), None, "the oldest went");
        let last = (3 * UNCLAIMED_ENTRIES - 1) as f64 * 0.25;
        assert!(timings.claim("https://a/x", last, last + 100.0).is_some());
    }
}
