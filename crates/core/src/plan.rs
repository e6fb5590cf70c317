//! The run plan: how load arrives, when the run stops, and per-request settings.
//!
//! A [`RunPlanSpec`] is raw input (a form, an imported file). [`RunPlanSpec::validate`] checks it once and returns a
//! [`RunPlan`], which cannot be invalid: the scheduler and the engine never re-check it (design.md §5 rule 3).
//! Unlike LLMeter, a request count and a duration may both be set: the run stops at whichever comes first.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// `clients` workers each send a request, wait for its full response, and send the next at once
    /// (LLMeter's only mode). Load adapts to the server: a slow server gets fewer requests.
    ClosedLoop { clients: u32 },
    /// Open loop: arrivals at fixed intervals of `1 / per_second`, whatever the server does.
    /// `max_concurrency` caps requests in flight; a due arrival then waits for a slot but keeps its scheduled time.
    ConstantRate {
        per_second: f64,
        max_concurrency: Option<u32>,
    },
    /// Open loop: arrivals with exponential gaps of mean `1 / per_second` (a Poisson process), from the run's seed.
    Poisson {
        per_second: f64,
        max_concurrency: Option<u32>,
    },
    /// Open loop: a recorded trace replayed as a fixed schedule ([`Schedule`], attached with
    /// [`RunPlan::with_schedule`] once the trace file is read); the trace's rows are the requests.
    Trace { max_concurrency: Option<u32> },
}

impl Arrival {
    /// True for the closed loop.
    pub fn is_closed_loop(&self) -> bool {
        matches!(self, Arrival::ClosedLoop { .. })
    }

    /// The most requests that can be in flight at once, if bounded.
    pub fn max_in_flight(&self) -> Option<u32> {
        match *self {
            Arrival::ClosedLoop { clients } => Some(clients),
            Arrival::ConstantRate { max_concurrency, .. }
            | Arrival::Poisson { max_concurrency, .. }
            | Arrival::Trace { max_concurrency } => max_concurrency,
        }
    }
}

/// A fixed schedule (trace replay): each entry is when to send, after the run's start, and which payload. Entries
/// are in time order; shared (`Arc`) so cloning a plan never copies a long trace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Schedule {
    /// `(offset in ns from the start, payload index)`, by offset.
    entries: Arc<[(u64, u32)]>,
}

impl Schedule {
    /// The schedule sending payload `i` at `offsets[i]` (sorted by time, ties in payload order).
    pub fn new(offsets: impl IntoIterator<Item = Duration>) -> Schedule {
        let mut entries: Vec<(u64, u32)> = offsets
            .into_iter()
            .enumerate()
            .map(|(i, at)| (u64::try_from(at.as_nanos()).unwrap_or(u64::MAX), i as u32))
            .collect();
        entries.sort();
        Schedule {
            entries: entries.into(),
        }
    }

    /// How many requests it sends.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i`: its offset from the start and its payload.
    pub fn get(&self, i: usize) -> Option<(Duration, usize)> {
        self.entries
            .get(i)
            .map(|&(at, payload)| (Duration::from_nanos(at), payload as usize))
    }

    /// When the last request is due.
    pub fn span(&self) -> Duration {
        self.entries
            .last()
            .map_or(Duration::ZERO, |&(at, _)| Duration::from_nanos(at))
    }

    /// Shard `index` of `count`'s part: every `count`-th entry from `index`, so the shards together send the
    /// whole trace at its own times.
    pub fn every(&self, index: u32, count: u32) -> Schedule {
        Schedule {
            entries: self
                .entries
                .iter()
                .skip(index as usize)
                .step_by(count.max(1) as usize)
                .copied()
                .collect(),
        }
    }
}

/// When the run stops sending. At least one field must be set; with several, the first reached wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopCondition {
    /// Closed loop only: every client sends this many requests (LLMeter's `n_requests`).
    pub requests_per_client: Option<u64>,
    /// The run sends this many requests in all. In a closed loop they are split as evenly as possible between
    /// clients (client `c` sends `⌊(c+1)·n/clients⌋ − ⌊c·n/clients⌋`), so the total is exact.
    pub total_requests: Option<u64>,
    /// No request is started this long after the run's start. Requests in flight at that moment finish (as in
    /// LLMeter) unless [`RunPlanSpec::cancel_in_flight_at_deadline`] is set.
    pub duration: Option<Duration>,
}

impl StopCondition {
    /// Stop after `n` requests per client (closed loop).
    pub fn requests_per_client(n: u64) -> Self {
        StopCondition {
            requests_per_client: Some(n),
            ..Default::default()
        }
    }

    /// Stop after `n` requests in all.
    pub fn total_requests(n: u64) -> Self {
        StopCondition {
            total_requests: Some(n),
            ..Default::default()
        }
    }

    /// Stop starting requests `duration` after the start.
    pub fn duration(duration: Duration) -> Self {
        StopCondition {
            duration: Some(duration),
            ..Default::default()
        }
    }
}

/// An unchecked run plan, as entered or imported. Turn it into a [`RunPlan`] with [`RunPlanSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlanSpec {
    pub arrival: Arrival,
    pub stop: StopCondition,
    /// Closed loop: client `i` of `n` starts at `i × ramp_up / n`. Open loop: the rate rises linearly from 0 to
    /// its target over `ramp_up`.
    pub ramp_up: Option<Duration>,
    /// Requests dispatched before `start + warmup` are marked as warm-up: kept in files, left out of statistics.
    pub warmup: Option<Duration>,
    /// Each request fails as a timeout if it has not finished this long after it was sent. `None`: no limit.
    pub request_timeout: Option<Duration>,
    /// Cancel requests still in flight when the run's duration ends, instead of letting them finish.
    pub cancel_in_flight_at_deadline: bool,
    /// Do not keep response texts (long or large runs).
    pub low_memory: bool,
    /// How many distinct payloads the run cycles through (at least 1).
    pub n_payloads: usize,
    /// Trace replay ([`Arrival::Trace`]): when each request is sent. Empty until the trace is attached.
    pub schedule: Schedule,
    /// Multi-turn conversations (closed loop): each client's requests are the turns of its conversations.
    pub conversation: Option<Conversation>,
}

/// Multi-turn conversations: each closed-loop client is a user whose requests are turns, `turns` to a
/// conversation; each turn sends the conversation so far with the model's real answers, after a think time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversation {
    /// Turns per conversation (at least 2).
    pub turns: u32,
    /// Seconds a user thinks between a turn's answer and the next turn; `None`: at once.
    pub think: Option<crate::dist::Dist>,
}

impl Conversation {
    /// Where a client's `k`-th request (from 0) falls: a new conversation every `turns` requests.
    pub fn turn_of(&self, k: u64) -> u32 {
        (k % u64::from(self.turns.max(1))) as u32
    }
}

impl Default for RunPlanSpec {
    /// One client sending 10 requests of a single payload, with a 60 s request timeout.
    fn default() -> Self {
        RunPlanSpec {
            arrival: Arrival::ClosedLoop { clients: 1 },
            stop: StopCondition::requests_per_client(10),
            ramp_up: None,
            warmup: None,
            request_timeout: Some(Duration::from_secs(60)),
            cancel_in_flight_at_deadline: false,
            low_memory: false,
            n_payloads: 1,
            schedule: Schedule::default(),
            conversation: None,
        }
    }
}

/// Why a plan was rejected. Each message says how to fix it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlanError {
    #[error("a closed loop needs at least 1 client: set clients to 1 or more")]
    NoClients,
    #[error("the arrival rate must be a finite number of requests per second above 0 (got {per_second})")]
    InvalidRate { per_second: f64 },
    #[error("max concurrency must be at least 1: raise it, or leave it empty for no limit")]
    ZeroMaxConcurrency,
    #[error("the run has no end: set a request count, a duration, or both")]
    NoStopCondition,
    #[error("a request count must be at least 1: raise it, or leave it empty to stop by duration only")]
    ZeroRequests,
    #[error("requests per client only applies to a closed loop: use total requests for an arrival rate")]
    RequestsPerClientInOpenLoop,
    #[error("set requests per client or total requests, not both")]
    ConflictingRequestCounts,
    #[error("the run duration must be above 0: raise it, or leave it empty to stop by request count only")]
    ZeroDuration,
    #[error("the ramp-up must be above 0: raise it, or leave it empty for no ramp-up")]
    ZeroRampUp,
    #[error("the warm-up must be above 0: raise it, or leave it empty for no warm-up")]
    ZeroWarmup,
    #[error("the request timeout must be above 0: raise it, or leave it empty for no timeout")]
    ZeroRequestTimeout,
    #[error("the ramp-up ({ramp_up:?}) must be shorter than the run duration ({duration:?}): shorten it or lengthen the run")]
    RampUpTooLong { ramp_up: Duration, duration: Duration },
    #[error("the warm-up ({warmup:?}) must be shorter than the run duration ({duration:?}): shorten it or lengthen the run")]
    WarmupTooLong { warmup: Duration, duration: Duration },
    #[error(
        "cancelling in-flight requests at the deadline needs a run duration: set one, or turn the option off"
    )]
    CancelAtDeadlineWithoutDuration,
    #[error("the run needs at least one payload: add one")]
    NoPayloads,
    #[error("multi-turn conversations run with closed-loop clients (each client is a user): choose the closed loop")]
    ConversationInOpenLoop,
    #[error("a conversation needs at least 2 turns")]
    TooFewTurns,
    #[error("multi-turn conversations keep each answer to send it back: turn low memory off")]
    ConversationInLowMemory,
}

impl RunPlanSpec {
    /// Checks every rule once; the returned [`RunPlan`] is valid by construction.
    pub fn validate(self) -> Result<RunPlan, PlanError> {
        let open_loop = match self.arrival {
            Arrival::ClosedLoop { clients } => {
                if clients == 0 {
                    return Err(PlanError::NoClients);
                }
                false
            }
            Arrival::ConstantRate {
                per_second,
                max_concurrency,
            }
            | Arrival::Poisson {
                per_second,
                max_concurrency,
            } => {
                if !(per_second.is_finite() && per_second > 0.0) {
                    return Err(PlanError::InvalidRate { per_second });
                }
                if max_concurrency == Some(0) {
                    return Err(PlanError::ZeroMaxConcurrency);
                }
                true
            }
            Arrival::Trace { max_concurrency } => {
                if max_concurrency == Some(0) {
                    return Err(PlanError::ZeroMaxConcurrency);
                }
                true
            }
        };
        let stop = self.stop;
        // A trace ends with its last row.
        let bounded = matches!(self.arrival, Arrival::Trace { .. });
        if !bounded
            && stop.requests_per_client.is_none()
            && stop.total_requests.is_none()
            && stop.duration.is_none()
        {
            return Err(PlanError::NoStopCondition);
        }
        if stop.requests_per_client == Some(0) || stop.total_requests == Some(0) {
            return Err(PlanError::ZeroRequests);
        }
        if open_loop && stop.requests_per_client.is_some() {
            return Err(PlanError::RequestsPerClientInOpenLoop);
        }
        if stop.requests_per_client.is_some() && stop.total_requests.is_some() {
            return Err(PlanError::ConflictingRequestCounts);
        }
        let zero = |d: Option<Duration>| d == Some(Duration::ZERO);
        if zero(stop.duration) {
            return Err(PlanError::ZeroDuration);
        }
        if zero(self.ramp_up) {
            return Err(PlanError::ZeroRampUp);
        }
        if zero(self.warmup) {
            return Err(PlanError::ZeroWarmup);
        }
        if zero(self.request_timeout) {
            return Err(PlanError::ZeroRequestTimeout);
        }
        if let Some(duration) = stop.duration {
            if let Some(ramp_up) = self.ramp_up.filter(|r| *r >= duration) {
                return Err(PlanError::RampUpTooLong { ramp_up, duration });
            }
            if let Some(warmup) = self.warmup.filter(|w| *w >= duration) {
                return Err(PlanError::WarmupTooLong { warmup, duration });
            }
        } else if self.cancel_in_flight_at_deadline {
            return Err(PlanError::CancelAtDeadlineWithoutDuration);
        }
        if self.n_payloads == 0 {
            return Err(PlanError::NoPayloads);
        }
        if let Some(c) = self.conversation {
            if open_loop {
                return Err(PlanError::ConversationInOpenLoop);
            }
            if c.turns < 2 {
                return Err(PlanError::TooFewTurns);
            }
            if self.low_memory {
                return Err(PlanError::ConversationInLowMemory);
            }
        }
        Ok(RunPlan { spec: self })
    }
}

/// A validated run plan. Built only by [`RunPlanSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    spec: RunPlanSpec,
}

impl RunPlan {
    /// The settings this plan was validated from (for export, or to edit and validate again).
    pub fn spec(&self) -> &RunPlanSpec {
        &self.spec
    }

    pub fn arrival(&self) -> Arrival {
        self.spec.arrival
    }

    pub fn stop(&self) -> StopCondition {
        self.spec.stop
    }

    pub fn ramp_up(&self) -> Option<Duration> {
        self.spec.ramp_up
    }

    pub fn warmup(&self) -> Option<Duration> {
        self.spec.warmup
    }

    pub fn request_timeout(&self) -> Option<Duration> {
        self.spec.request_timeout
    }

    pub fn cancel_in_flight_at_deadline(&self) -> bool {
        self.spec.cancel_in_flight_at_deadline
    }

    pub fn low_memory(&self) -> bool {
        self.spec.low_memory
    }

    pub fn n_payloads(&self) -> usize {
        self.spec.n_payloads
    }

    /// The same plan cycling through `n_payloads` payloads (at least 1), e.g. once an uploaded file says how many.
    pub fn with_payloads(&self, n_payloads: usize) -> RunPlan {
        RunPlan {
            spec: RunPlanSpec {
                n_payloads: n_payloads.max(1),
                ..self.spec.clone()
            },
        }
    }

    /// The same plan replaying `schedule` (trace replay; its payload indices are this plan's payloads).
    pub fn with_schedule(&self, schedule: Schedule) -> RunPlan {
        RunPlan {
            spec: RunPlanSpec {
                schedule,
                ..self.spec.clone()
            },
        }
    }

    /// The trace replay's schedule (empty for other arrivals, or before the trace is attached).
    pub fn schedule(&self) -> &Schedule {
        &self.spec.schedule
    }

    /// How many requests the run will send, when a count bounds it (the duration may still end it sooner).
    pub fn max_requests(&self) -> Option<u64> {
        let stop = self.spec.stop;
        match self.spec.arrival {
            Arrival::Trace { .. } => {
                Some((self.spec.schedule.len() as u64).min(stop.total_requests.unwrap_or(u64::MAX)))
            }
            Arrival::ClosedLoop { clients } => stop
                .requests_per_client
                .map(|n| n.saturating_mul(clients.into()))
                .or(stop.total_requests),
            _ => stop.total_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(clients: u32, stop: StopCondition) -> RunPlanSpec {
        RunPlanSpec {
            arrival: Arrival::ClosedLoop { clients },
            stop,
            ..Default::default()
        }
    }

    fn rate(per_second: f64, stop: StopCondition) -> RunPlanSpec {
        RunPlanSpec {
            arrival: Arrival::ConstantRate {
                per_second,
                max_concurrency: None,
            },
            stop,
            ..Default::default()
        }
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn default_is_valid_and_round_trips_through_spec() {
        let plan = RunPlanSpec::default().validate().unwrap();
        assert_eq!(plan.spec(), &RunPlanSpec::default());
        assert_eq!(plan.max_requests(), Some(10));
    }

    #[test]
    fn each_rule_has_its_own_error() {
        use PlanError::*;
        let cases: Vec<(RunPlanSpec, PlanError)> = vec![
            (closed(0, StopCondition::total_requests(1)), NoClients),
            (
                rate(0.0, StopCondition::total_requests(1)),
                InvalidRate { per_second: 0.0 },
            ),
            (
                rate(-1.0, StopCondition::total_requests(1)),
                InvalidRate { per_second: -1.0 },
            ),
            (
                rate(f64::INFINITY, StopCondition::total_requests(1)),
                InvalidRate {
                    per_second: f64::INFINITY,
                },
            ),
            (
                RunPlanSpec {
                    arrival: Arrival::Poisson {
                        per_second: 1.0,
                        max_concurrency: Some(0),
                    },
                    stop: StopCondition::total_requests(1),
                    ..Default::default()
                },
                ZeroMaxConcurrency,
            ),
            (closed(1, StopCondition::default()), NoStopCondition),
            (closed(1, StopCondition::requests_per_client(0)), ZeroRequests),
            (rate(1.0, StopCondition::total_requests(0)), ZeroRequests),
            (
                rate(1.0, StopCondition::requests_per_client(3)),
                RequestsPerClientInOpenLoop,
            ),
            (
                closed(
                    1,
                    StopCondition {
                        requests_per_client: Some(1),
                        total_requests: Some(1),
                        duration: None,
                    },
                ),
                ConflictingRequestCounts,
            ),
            (closed(1, StopCondition::duration(Duration::ZERO)), ZeroDuration),
            (
                RunPlanSpec {
                    ramp_up: Some(Duration::ZERO),
                    ..Default::default()
                },
                ZeroRampUp,
            ),
            (
                RunPlanSpec {
                    warmup: Some(Duration::ZERO),
                    ..Default::default()
                },
                ZeroWarmup,
            ),
            (
                RunPlanSpec {
                    request_timeout: Some(Duration::ZERO),
                    ..Default::default()
                },
                ZeroRequestTimeout,
            ),
            (
                RunPlanSpec {
                    ramp_up: Some(SEC),
                    ..closed(2, StopCondition::duration(SEC))
                },
                RampUpTooLong {
                    ramp_up: SEC,
                    duration: SEC,
                },
            ),
            (
                RunPlanSpec {
                    warmup: Some(2 * SEC),
                    ..closed(2, StopCondition::duration(SEC))
                },
                WarmupTooLong {
                    warmup: 2 * SEC,
                    duration: SEC,
                },
            ),
            (
                RunPlanSpec {
                    cancel_in_flight_at_deadline: true,
                    ..Default::default()
                },
                CancelAtDeadlineWithoutDuration,
            ),
            (
                RunPlanSpec {
                    n_payloads: 0,
                    ..Default::default()
                },
                NoPayloads,
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(spec.clone().validate(), Err(want), "{spec:?}");
        }
    }

    #[test]
    fn count_and_duration_may_both_be_set() {
        let stop = StopCondition {
            total_requests: Some(5),
            duration: Some(SEC),
            ..Default::default()
        };
        let plan = closed(2, stop).validate().unwrap();
        assert_eq!(plan.max_requests(), Some(5));
        assert_eq!(
            rate(3.0, StopCondition::duration(SEC))
                .validate()
                .unwrap()
                .max_requests(),
            None
        );
        assert_eq!(
            closed(3, StopCondition::requests_per_client(4))
                .validate()
                .unwrap()
                .max_requests(),
            Some(12)
        );
    }

    #[test]
    fn with_payloads_keeps_the_rest_of_the_plan() {
        let plan = closed(3, StopCondition::requests_per_client(2))
            .validate()
            .unwrap();
        let cycled = plan.with_payloads(5);
        assert_eq!(cycled.n_payloads(), 5);
        assert_eq!(
            cycled.spec(),
            &RunPlanSpec {
                n_payloads: 5,
                ..plan.spec().clone()
            }
        );
        assert_eq!(plan.with_payloads(0).n_payloads(), 1);
    }
}

/// Cancellation injection (`cancel=20%@500ms`, `cancel=10%@5tokens`): a share of the requests is aborted on
/// purpose, as users abandon answers, to see what that does to the server. Which requests is decided by the run's
/// seed and the request's id, so a run repeats exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cancellation {
    /// The share of requests aborted, in `(0, 1]`.
    pub share: f64,
    pub after: CancelAfter,
}

/// When an injected cancellation aborts its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelAfter {
    /// This long after the request was sent.
    Delay(Duration),
    /// Once this many output chunks (tokens, for servers that stream one per chunk) have arrived.
    Tokens(u32),
}

impl Cancellation {
    /// When request `request_id` of a run seeded with `seed` is to be aborted, if it is one of the share.
    pub fn for_request(&self, seed: u64, request_id: u64) -> Option<CancelAfter> {
        crate::rng::SeededRng::for_stream(seed ^ 0xca9c_e11e, request_id)
            .chance(self.share)
            .then_some(self.after)
    }
}

impl std::str::FromStr for Cancellation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage =
            || format!("{text:?} is not SHARE%@DELAY or SHARE%@Ntokens, e.g. 20%@500ms or 10%@5tokens");
        let (share, after) = text.trim().split_once('@').ok_or_else(usage)?;
        let share: f64 = share
            .trim()
            .strip_suffix('%')
            .ok_or_else(usage)?
            .trim()
            .parse()
            .map_err(|_| usage())?;
        if !(share > 0.0 && share <= 100.0) {
            return Err(format!("the share {share}% must be above 0% and at most 100%"));
        }
        let after = after.trim();
        let after = if let Some(tokens) = after.strip_suffix("tokens") {
            let tokens: u32 = tokens.trim().parse().map_err(|_| usage())?;
            if tokens == 0 {
                return Err("cancel after at least 1 token".into());
            }
            CancelAfter::Tokens(tokens)
        } else {
            let (number, scale) = match after.strip_suffix("ms") {
                Some(ms) => (ms, 1e-3),
                None => (after.strip_suffix('s').ok_or_else(usage)?, 1.0),
            };
            let seconds = number.trim().parse::<f64>().map_err(|_| usage())? * scale;
            if !(seconds > 0.0 && seconds <= 3600.0) {
                return Err("the delay must be above 0 and at most an hour".into());
            }
            CancelAfter::Delay(Duration::from_secs_f64(seconds))
        };
        Ok(Cancellation {
            share: share / 100.0,
            after,
        })
    }
}

#[cfg(test)]
mod cancellation_tests {
    use super::*;

    #[test]
    fn cancellations_parse_and_pick_their_share_repeatably() {
        let c: Cancellation = "20%@500ms".parse().unwrap();
        assert_eq!(
            (c.share, c.after),
            (0.2, CancelAfter::Delay(Duration::from_millis(500)))
        );
        let t: Cancellation = "10% @ 5tokens".parse().unwrap();
        assert_eq!(t.after, CancelAfter::Tokens(5));
        assert_eq!(
            "50%@1.5s".parse::<Cancellation>().unwrap().after,
            CancelAfter::Delay(Duration::from_millis(1500))
        );
        for bad in ["20%", "0%@1s", "20@1s", "20%@0tokens", "20%@soon", "120%@1s"] {
            assert!(bad.parse::<Cancellation>().is_err(), "{bad}");
        }
        let picked = (0..10_000).filter(|&id| c.for_request(7, id).is_some()).count();
        assert!((1_800..2_200).contains(&picked), "{picked} of 10,000");
        assert_eq!(c.for_request(7, 42), c.for_request(7, 42));
    }
}
