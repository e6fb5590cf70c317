//! The sans-IO load scheduler: one state machine for every arrival mode and stop condition (design.md §4.4, in
//! quinn-proto's shape). It never reads a clock: the caller passes `now` in, asks [`Scheduler::poll`] for due
//! [`Dispatch`]es, sleeps until [`Scheduler::poll_timeout`], and reports each finished request with
//! [`Scheduler::on_finished`].
//!
//! Both loop kinds reduce to one question — "what is the next (time, slot) that may start?" — answered by a
//! closed-loop client queue or an open-loop arrival sequence; everything else (ids, deadline, warm-up, stop,
//! in-flight bookkeeping) is shared.
//!
//! Semantics:
//! - **Closed loop.** Client `c` of `C` first becomes ready at `start + c × ramp_up / C`, and again at the moment
//!   its previous request finished. Its `k`-th request uses payload `(offset_c + k) % n_payloads`, with
//!   `offset_c = ⌊c × S / C⌋ % n_payloads` where `S` is `total_requests` when set, else `n_payloads`. Clients thus
//!   start at evenly spread payloads — LLMeter seeds every client's shuffle with 0, so all its clients send the
//!   same payloads in the same order — and with `total_requests` the clients' blocks tile `0..total`, so each
//!   payload is sent ⌊total/n⌋ or ⌈total/n⌉ times (exactly `total/n` when it divides).
//! - **Open loop.** Arrival `i` (payload `i % n_payloads`) is due at `start + Λ⁻¹(xᵢ)`, where `xᵢ = i` for a
//!   constant rate and `xᵢ = xᵢ₋₁ + Exp(1)` (with `x₀ = 0`) for Poisson, and `Λ(t)` is the expected number of
//!   arrivals by `t` (`rate × t`, or with a ramp-up `rate × t² / 2R` until `R`). Times are absolute, so a late
//!   caller sees lag, never drift. With `max_concurrency`, a due arrival waits for a free slot but keeps its
//!   scheduled time: coordinated omission shows up as schedule lag. `client` is the lowest free slot.
//! - **Conversations.** With multi-turn conversations a closed-loop client's `k`-th request is turn `k mod K`; after
//!   a turn that is not a conversation's last, the client becomes ready a think time (drawn per request from the
//!   seed) after its request finished.
//! - **Trace replay.** Arrival `i` is the schedule's entry `i`: due at `start + offsetᵢ` with its own payload, the
//!   rest as the open loop (a cap on requests in flight, schedule lag, dropped arrivals at the deadline).
//! - **Catch-up.** A late caller gets every due dispatch, one per `poll`, each with its own `scheduled_at`.
//! - **Deadline.** Nothing is dispatched once `now ≥ start + duration` (LLMeter checks its deadline before each
//!   request); requests in flight are left to the caller. Work that came due before dispatching ended but was
//!   never sent is counted in [`Scheduler::dropped`] (k6's `dropped_iterations`).
//! - **Warm-up.** A dispatch issued while `now < start + warmup` is flagged `warmup`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use crate::plan::{Arrival, Conversation, RunPlan, Schedule};
use crate::rng::SeededRng;
use crate::time::Timestamp;

/// One request the caller should send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    /// Dense, from 0, in dispatch order.
    pub request_id: u64,
    /// Closed loop: the client. Open loop: the concurrency slot (lowest free one), for per-lane displays.
    pub client: u32,
    /// Which of the run's payloads to send.
    pub payload_index: usize,
    /// When the plan wanted it sent; the gap to the actual send time is the schedule lag.
    pub scheduled_at: Timestamp,
    /// Dispatched during the warm-up window: excluded from statistics.
    pub warmup: bool,
}

/// The load scheduler for one run. See the module docs for each mode's exact rules.
#[derive(Debug, Clone)]
pub struct Scheduler {
    n_payloads: usize,
    deadline: Option<Timestamp>,
    warmup_end: Option<Timestamp>,
    source: Source,
    next_id: u64,
    /// Request id → client or slot, for every request dispatched and not yet finished.
    in_flight: HashMap<u64, u32>,
    /// The latest `now` seen.
    last_now: Timestamp,
    /// No more dispatches will ever be issued.
    ended: bool,
    dropped: u64,
}

/// Where the next dispatch comes from.
#[derive(Debug, Clone)]
enum Source {
    Closed(Clients),
    Open(Arrivals),
}

/// The closed loop's clients. Per-client state exists only for clients that have started (allocated lazily, so a
/// plan's client count costs no memory up front); clients not yet started are a cursor over `0..n_clients`, in
/// start order.
#[derive(Debug, Clone)]
struct Clients {
    n_clients: u32,
    start: Timestamp,
    ramp: Duration,
    deadline: Option<Timestamp>,
    requests_per_client: Option<u64>,
    total_requests: Option<u64>,
    /// `S` of the payload offset rule (module docs).
    span: u128,
    /// The lowest client that has not started (it may have no quota; see [`Clients::next_new`]).
    next_new: u32,
    /// Started clients: requests each may still send, requests sent so far, payload offset.
    started: HashMap<u32, ClientState>,
    /// Started clients ready to send again, earliest first (ties: lowest client).
    ready: BinaryHeap<Reverse<(Timestamp, u32)>>,
    /// Started clients that may still send (ready or in flight with requests left).
    active: u64,
    /// Multi-turn: a client thinks between the turns of one conversation (drawn per request from `think_seed`).
    conversation: Option<Conversation>,
    think_seed: u64,
}

#[derive(Debug, Clone, Copy)]
struct ClientState {
    remaining: u64,
    sent: u64,
    offset: usize,
}

impl Clients {
    /// `⌊c × of / n_clients⌋`.
    fn share(&self, c: u32, of: u128) -> u128 {
        u128::from(c) * of / u128::from(self.n_clients)
    }

    /// Requests client `c` sends in all.
    fn quota(&self, c: u32) -> u64 {
        match (self.requests_per_client, self.total_requests) {
            (Some(n), _) => n,
            (None, Some(total)) => {
                let t = u128::from(total);
                (self.share(c + 1, t) - self.share(c, t)) as u64
            }
            (None, None) => u64::MAX,
        }
    }

    /// When client `c` first becomes ready.
    fn ready_at(&self, c: u32) -> Timestamp {
        let offset = self.share(c, self.ramp.as_nanos()) as u64;
        self.start.plus(Duration::from_nanos(offset))
    }

    /// The next client to start and when, if any will: the first client from the cursor with a quota, ready
    /// before the deadline. O(1): with a total split over more clients than requests, the clients with a quota
    /// are those where `⌊c × T / C⌋` steps up.
    fn next_new(&self) -> Option<(Timestamp, u32)> {
        let mut c = self.next_new;
        if c >= self.n_clients {
            return None;
        }
        if let (None, Some(total)) = (self.requests_per_client, self.total_requests) {
            let (t, n) = (u128::from(total), u128::from(self.n_clients));
            if t < n {
                // The smallest c' ≥ c with ⌊(c'+1)T/C⌋ > ⌊cT/C⌋, i.e. c' + 1 = ⌈(⌊cT/C⌋ + 1) × C / T⌉.
                let k = self.share(c, t) + 1;
                let first = (k * n).div_ceil(t) - 1;
                c = u32::try_from(first).ok().filter(|&f| f < self.n_clients)?;
            }
        }
        if self.quota(c) == 0 {
            return None;
        }
        let at = self.ready_at(c);
        self.deadline.is_none_or(|d| at < d).then_some((at, c))
    }

    /// The earliest client that may send: a started one ready again, or the next to start.
    fn next_due(&self) -> Option<(Timestamp, u32)> {
        let again = self.ready.peek().map(|Reverse(next)| *next);
        match (again, self.next_new()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the earliest client for a dispatch: its client number, payload index and scheduled time.
    fn take(&mut self, n_payloads: usize) -> Option<(u32, usize, Timestamp)> {
        let (at, c) = self.next_due()?;
        if self.ready.peek() == Some(&Reverse((at, c))) {
            self.ready.pop();
        } else {
            let offset = (self.share(c, self.span) % n_payloads as u128) as usize;
            let state = ClientState {
                remaining: self.quota(c),
                sent: 0,
                offset,
            };
            self.started.insert(c, state);
            self.next_new = c + 1;
            self.active += 1;
        }
        let state = self.started.get_mut(&c).expect("a due client has started");
        let payload = (state.offset as u64 + state.sent % n_payloads as u64) % n_payloads as u64;
        state.sent += 1;
        state.remaining -= 1;
        if state.remaining == 0 {
            self.active -= 1;
        }
        Some((c, payload as usize, at))
    }

    /// How long a client that has sent `sent` requests thinks before its next, after request `request_id`
    /// ended: a draw of the think time within a conversation, nothing before a new one.
    fn think_time(&self, sent: u64, request_id: u64) -> Duration {
        match self.conversation {
            Some(c) if c.turn_of(sent) != 0 => c.think.map_or(Duration::ZERO, |think| {
                let mut rng = SeededRng::for_stream(self.think_seed, request_id);
                Duration::from_secs_f64(think.sample(&mut rng).clamp(0.0, 86_400.0))
            }),
            _ => Duration::ZERO,
        }
    }

    /// No client will ever send again.
    fn exhausted(&self) -> bool {
        self.active == 0 && self.next_new().is_none()
    }

    /// Clients that had not started though they were due by `cutoff`: counted by arithmetic, not one by one.
    fn unstarted_due_by(&self, cutoff: Timestamp) -> u64 {
        let Some((_, first)) = self.next_new() else {
            return 0;
        };
        let due = |c: u32| {
            let at = self.ready_at(c);
            at <= cutoff && self.deadline.is_none_or(|d| at < d)
        };
        // The first client not due, by binary search: readiness only moves later with the client number.
        let (mut lo, mut hi) = (first, self.n_clients);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if due(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match (self.requests_per_client, self.total_requests) {
            (None, Some(total)) if u128::from(total) < u128::from(self.n_clients) => {
                let t = u128::from(total);
                (self.share(lo, t) - self.share(first, t)) as u64
            }
            _ => u64::from(lo - first),
        }
    }
}

#[derive(Debug, Clone)]
struct Arrivals {
    start: Timestamp,
    deadline: Option<Timestamp>,
    per_second: f64,
    ramp_secs: f64,
    /// Poisson gaps drawn from here; `None` for a constant rate.
    rng: Option<SeededRng>,
    /// Trace replay: the times and payloads, instead of a rate.
    schedule: Option<Schedule>,
    /// Index and work coordinate `x` of the next arrival, and its time (`None`: no more arrivals).
    index: u64,
    x: f64,
    next_at: Option<Timestamp>,
    limit: Option<u64>,
    max_concurrency: Option<u32>,
    free_slots: BinaryHeap<Reverse<u32>>,
    n_slots: u32,
}

impl Scheduler {
    /// A scheduler for `plan` whose run starts at `start`. `seed` drives Poisson gaps (other modes ignore it).
    pub fn new(plan: &RunPlan, seed: u64, start: Timestamp) -> Self {
        let stop = plan.stop();
        let deadline = stop.duration.map(|d| start.plus(d));
        let ramp = plan.ramp_up().unwrap_or(Duration::ZERO);
        let n_payloads = plan.n_payloads();
        let source = match plan.arrival() {
            Arrival::ClosedLoop { clients } => Source::Closed(Clients {
                n_clients: clients,
                start,
                ramp,
                deadline,
                requests_per_client: stop.requests_per_client,
                total_requests: stop.total_requests,
                span: stop.total_requests.map_or(n_payloads as u128, u128::from),
                next_new: 0,
                started: HashMap::new(),
                ready: BinaryHeap::new(),
                active: 0,
                conversation: plan.spec().conversation,
                think_seed: seed ^ 0x7417_c000_0000_0000,
            }),
            arrival @ (Arrival::ConstantRate { max_concurrency, .. }
            | Arrival::Poisson { max_concurrency, .. }
            | Arrival::Trace { max_concurrency }) => {
                let (per_second, schedule) = match arrival {
                    Arrival::ConstantRate { per_second, .. } | Arrival::Poisson { per_second, .. } => {
                        (per_second, None)
                    }
                    _ => (1.0, Some(plan.schedule().clone())),
                };
                let poisson = matches!(arrival, Arrival::Poisson { .. });
                let mut arrivals = Arrivals {
                    start,
                    deadline,
                    per_second,
                    ramp_secs: ramp.as_secs_f64(),
                    rng: poisson.then(|| SeededRng::new(seed)),
                    schedule,
                    index: 0,
                    x: 0.0,
                    next_at: None,
                    limit: stop.total_requests,
                    max_concurrency,
                    free_slots: BinaryHeap::new(),
                    n_slots: 0,
                };
                arrivals.next_at = arrivals.time_of(0.0, 0);
                Source::Open(arrivals)
            }
        };
        let mut scheduler = Scheduler {
            n_payloads,
            deadline,
            warmup_end: plan.warmup().map(|w| start.plus(w)),
            source,
            next_id: 0,
            in_flight: HashMap::new(),
            last_now: start,
            ended: false,
            dropped: 0,
        };
        scheduler.end_if_exhausted();
        scheduler
    }

    /// The next dispatch due at `now`, or `None`. Call repeatedly until `None`: a late caller catches up one
    /// dispatch per call.
    pub fn poll(&mut self, now: Timestamp) -> Option<Dispatch> {
        self.observe(now);
        if self.ended || self.next_due()? > now {
            return None;
        }
        let (client, payload_index, scheduled_at) = match &mut self.source {
            Source::Closed(clients) => clients.take(self.n_payloads)?,
            Source::Open(arrivals) => {
                let at = arrivals.next_at?;
                let payload = arrivals.payload(self.n_payloads);
                arrivals.advance();
                (arrivals.take_slot(), payload, at)
            }
        };
        let request_id = self.next_id;
        self.next_id += 1;
        self.in_flight.insert(request_id, client);
        self.end_if_exhausted();
        Some(Dispatch {
            request_id,
            client,
            payload_index,
            scheduled_at,
            warmup: self.warmup_end.is_some_and(|w| now < w),
        })
    }

    /// When to call [`poll`](Self::poll) next. `None`: nothing will come due until a request finishes, or
    /// dispatching is over. The time may already be past; poll at once then.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.ended {
            None
        } else {
            self.next_due()
        }
    }

    /// Records that request `request_id` ended at `now`. Closed loop: its client becomes ready again at `now`.
    /// Unknown or already finished ids are ignored.
    pub fn on_finished(&mut self, now: Timestamp, request_id: u64) {
        self.observe(now);
        let Some(slot) = self.in_flight.remove(&request_id) else {
            return;
        };
        match &mut self.source {
            Source::Closed(clients) => {
                let state = clients.started.get(&slot).copied();
                // Past the deadline `observe` has already ended dispatching.
                if let Some(state) = state.filter(|s| s.remaining > 0 && !self.ended) {
                    let at = now.plus(clients.think_time(state.sent, request_id));
                    clients.ready.push(Reverse((at, slot)));
                }
            }
            Source::Open(arrivals) => arrivals.free_slots.push(Reverse(slot)),
        }
        self.end_if_exhausted();
    }

    /// Stops dispatching for good (the run was cancelled); requests in flight still report through
    /// [`on_finished`](Self::on_finished).
    pub fn stop(&mut self) {
        self.end();
    }

    /// True once no dispatch will ever be issued again and every dispatched request has finished.
    pub fn is_done(&self) -> bool {
        self.ended && self.in_flight.is_empty()
    }

    /// True once no dispatch will ever be issued again (requests may still be in flight).
    pub fn is_dispatching_over(&self) -> bool {
        self.ended
    }

    /// Requests dispatched so far (also the next request id).
    pub fn dispatched(&self) -> u64 {
        self.next_id
    }

    /// Requests dispatched and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Dispatches that came due before dispatching ended but were never issued (no free slot, or polled too
    /// late). Final once dispatching is over.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// When dispatching stops by time, if the plan has a duration.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// The earliest time something may be dispatched, given free slots.
    fn next_due(&self) -> Option<Timestamp> {
        match &self.source {
            Source::Closed(clients) => clients.next_due().map(|(at, _)| at),
            Source::Open(arrivals) => {
                let slot_free = arrivals
                    .max_concurrency
                    .is_none_or(|max| !arrivals.free_slots.is_empty() || arrivals.n_slots < max);
                arrivals.next_at.filter(|_| slot_free)
            }
        }
    }

    fn observe(&mut self, now: Timestamp) {
        self.last_now = self.last_now.max(now);
        if !self.ended && self.deadline.is_some_and(|d| now >= d) {
            self.end();
        }
    }

    fn end_if_exhausted(&mut self) {
        let exhausted = match &self.source {
            Source::Closed(clients) => clients.exhausted(),
            Source::Open(arrivals) => arrivals.next_at.is_none(),
        };
        if exhausted {
            self.end();
        }
    }

    /// Ends dispatching, counting what came due (by `last_now`, before the deadline) but was never sent.
    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let (cutoff, deadline) = (self.last_now, self.deadline);
        let due = |at: Timestamp| at <= cutoff && deadline.is_none_or(|d| at < d);
        match &mut self.source {
            Source::Closed(clients) => {
                self.dropped += clients.ready.iter().filter(|Reverse((at, _))| due(*at)).count() as u64;
                self.dropped += clients.unstarted_due_by(cutoff);
                clients.ready.clear();
                clients.next_new = clients.n_clients;
            }
            Source::Open(arrivals) => {
                while arrivals.next_at.is_some_and(&due) {
                    self.dropped += 1;
                    arrivals.advance();
                }
                arrivals.next_at = None;
            }
        }
    }
}

impl Arrivals {
    /// The time of the arrival at work coordinate `x` with index `index`, or `None` past the count or deadline.
    fn time_of(&self, x: f64, index: u64) -> Option<Timestamp> {
        if self.limit.is_some_and(|n| index >= n) {
            return None;
        }
        if let Some(schedule) = &self.schedule {
            let (offset, _) = schedule.get(usize::try_from(index).ok()?)?;
            let at = self.start.plus(offset);
            return self.deadline.is_none_or(|d| at < d).then_some(at);
        }
        // Λ⁻¹(x): invert the expected arrival count, ramped quadratically then linear.
        let (r, ramp) = (self.per_second, self.ramp_secs);
        let secs = if x <= r * ramp / 2.0 {
            (2.0 * ramp * x / r).sqrt()
        } else {
            ramp + (x - r * ramp / 2.0) / r
        };
        let at = Timestamp::from_nanos(
            self.start
                .as_nanos()
                .saturating_add(Timestamp::from_secs_f64(secs).as_nanos()),
        );
        self.deadline.is_none_or(|d| at < d).then_some(at)
    }

    /// The payload of the next arrival: the schedule's, else the next in turn.
    fn payload(&self, n_payloads: usize) -> usize {
        let in_turn = (self.index % n_payloads as u64) as usize;
        self.schedule
            .as_ref()
            .and_then(|s| s.get(self.index as usize))
            .map_or(in_turn, |(_, payload)| payload % n_payloads)
    }

    /// Moves to the following arrival.
    fn advance(&mut self) {
        self.index += 1;
        self.x = match &mut self.rng {
            Some(rng) => self.x + rng.exp1(),
            None => self.index as f64,
        };
        self.next_at = self.time_of(self.x, self.index);
    }

    /// The lowest free slot (a new one if none is free).
    fn take_slot(&mut self) -> u32 {
        match self.free_slots.pop() {
            Some(Reverse(slot)) => slot,
            None => {
                self.n_slots += 1;
                self.n_slots - 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RunPlanSpec, StopCondition};

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_micros(v * 1000)
    }

    fn plan(arrival: Arrival, stop: StopCondition, n_payloads: usize) -> RunPlan {
        RunPlanSpec {
            arrival,
            stop,
            n_payloads,
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn closed_loop_clients_start_together_and_restart_on_finish() {
        let p = plan(
            Arrival::ClosedLoop { clients: 2 },
            StopCondition::requests_per_client(2),
            4,
        );
        let mut s = Scheduler::new(&p, 0, ms(0));
        let a = s.poll(ms(0)).unwrap();
        let b = s.poll(ms(0)).unwrap();
        assert_eq!(
            (a.client, a.payload_index, b.client, b.payload_index),
            (0, 0, 1, 2)
        );
        assert_eq!(s.poll(ms(0)), None);
        assert_eq!(s.poll_timeout(), None);
        s.on_finished(ms(70), b.request_id);
        assert_eq!(s.poll_timeout(), Some(ms(70)));
        let c = s.poll(ms(80)).unwrap();
        assert_eq!(
            (c.request_id, c.client, c.payload_index, c.scheduled_at),
            (2, 1, 3, ms(70))
        );
        s.on_finished(ms(90), a.request_id);
        let d = s.poll(ms(90)).unwrap();
        assert_eq!((d.client, d.payload_index), (0, 1));
        assert!(s.is_dispatching_over() && !s.is_done());
        s.on_finished(ms(100), c.request_id);
        s.on_finished(ms(100), d.request_id);
        assert!(s.is_done());
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn open_loop_slots_are_lowest_free_and_queue_keeps_schedule() {
        let p = plan(
            Arrival::ConstantRate {
                per_second: 10.0,
                max_concurrency: Some(2),
            },
            StopCondition::total_requests(4),
            1,
        );
        let mut s = Scheduler::new(&p, 0, ms(0));
        let a = s.poll(ms(0)).unwrap();
        assert_eq!(s.poll_timeout(), Some(ms(100)));
        let b = s.poll(ms(100)).unwrap();
        assert_eq!((a.client, b.client), (0, 1));
        // Both slots busy: nothing is due until one frees up, even though arrival 2 is scheduled at 200 ms.
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.poll(ms(350)), None);
        s.on_finished(ms(350), a.request_id);
        let c = s.poll(ms(350)).unwrap();
        assert_eq!((c.client, c.scheduled_at), (0, ms(200)));
        s.on_finished(ms(360), b.request_id);
        let d = s.poll(ms(360)).unwrap();
        assert_eq!((d.client, d.scheduled_at), (1, ms(300)));
        assert!(s.is_dispatching_over());
    }

    #[test]
    fn stop_counts_overdue_arrivals_as_dropped() {
        let p = plan(
            Arrival::ConstantRate {
                per_second: 10.0,
                max_concurrency: Some(1),
            },
            StopCondition::total_requests(100),
            1,
        );
        let mut s = Scheduler::new(&p, 0, ms(0));
        let a = s.poll(ms(0)).unwrap();
        assert_eq!(s.poll(ms(450)), None);
        s.stop();
        // Arrivals at 100..=400 ms came due while the only slot was busy.
        assert_eq!(s.dropped(), 4);
        assert_eq!(s.poll(ms(500)), None);
        assert!(!s.is_done());
        s.on_finished(ms(500), a.request_id);
        assert!(s.is_done());
    }

    #[test]
    fn ramped_rate_starts_slowly() {
        // Rate 10/s reached after 2 s: Λ(t) = 2.5 t² until 2 s, so arrival i is at sqrt(i / 2.5) s.
        let spec = RunPlanSpec {
            arrival: Arrival::ConstantRate {
                per_second: 10.0,
                max_concurrency: None,
            },
            stop: StopCondition::total_requests(30),
            ramp_up: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let mut s = Scheduler::new(&spec.validate().unwrap(), 0, ms(0));
        let times: Vec<_> = std::iter::from_fn(|| s.poll(ms(100_000)).map(|d| d.scheduled_at)).collect();
        assert_eq!(times.len(), 30);
        assert_eq!(times[1], Timestamp::from_secs_f64((1.0f64 / 2.5).sqrt()));
        assert_eq!(times[10], ms(2000));
        assert_eq!(times[11], ms(2100));
        assert_eq!(times[29], ms(3900));
    }
}
