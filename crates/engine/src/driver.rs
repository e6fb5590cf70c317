//! The run driver: the one loop that turns a [`RunPlan`] into requests. It polls the sans-IO
//! [`Scheduler`], starts each dispatch as a [`request::execute`] future, and sleeps on whichever comes first: a
//! request ending, the scheduler's next due time, the caller's cancel, or (if the plan says so) the deadline.
//!
//! Invariants: every dispatch yields exactly one [`FinishedRequest`] (so `sent == succeeded + failed +
//! cancelled`), events reach the sink in order, and [`EngineEvent::RunEnded`] comes last.
//!
//! Cancel: dispatching stops, requests in flight end as [`ErrorKind::Cancelled`](tokenmeter_core::record::ErrorKind)
//! records, and everything finished so far is kept. At a time-bound run's deadline, requests in flight finish
//! (LLMeter's semantics) unless the plan sets `cancel_in_flight_at_deadline`. Enough (adaptive stop, see
//! [`run_until`]): dispatching stops and requests in flight finish, as at a deadline.

use std::task::Poll;

use futures::future::{poll_fn, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::cancel::CancelToken;
use crate::request::{self, PreparedRequest, RequestOptions};
use crate::sink::{EngineEvent, EventSink, FinishedRequest, RunSummary};
use crate::{Clock, Transport};
use tokenmeter_core::plan::{Cancellation, RunPlan};
use tokenmeter_core::scheduler::{Dispatch, Scheduler};
use tokenmeter_core::time::Timestamp;

/// What woke the loop.
enum Wake {
    Finished(Box<FinishedRequest>),
    Cancelled,
    Enough,
    Deadline,
    Timer,
}

/// Runs `plan` to its end (or until `cancel`), sending each dispatch's request built by `make_request`, and
/// reporting to `sink`. `seed` fixes the Poisson arrivals. Returns the same summary as the final
/// [`EngineEvent::RunEnded`].
pub async fn run<T, C, F, S>(
    plan: &RunPlan,
    seed: u64,
    transport: &T,
    clock: &C,
    make_request: F,
    sink: &mut S,
    cancel: &CancelToken,
) -> RunSummary
where
    T: Transport + ?Sized,
    C: Clock + ?Sized,
    F: FnMut(&Dispatch) -> PreparedRequest,
    S: EventSink + ?Sized,
{
    let never = CancelToken::new();
    let stops = Stops {
        cancel,
        enough: &never,
        injection: None,
    };
    run_until(plan, seed, transport, clock, make_request, sink, &stops).await
}

/// What ends a run, or some of its requests, before its plan does.
pub struct Stops<'a> {
    /// Stop: no new requests; those in flight end as cancelled.
    pub cancel: &'a CancelToken,
    /// The run's stop rules are met: no new requests; those in flight finish.
    pub enough: &'a CancelToken,
    /// Cancellation injection: which requests to abort on purpose, and when.
    pub injection: Option<Cancellation>,
}

/// [`run`] under `stops`: it also stops dispatching once `enough` is signalled, letting the requests in flight
/// finish, and aborts on purpose the requests the injection picks.
pub async fn run_until<T, C, F, S>(
    plan: &RunPlan,
    seed: u64,
    transport: &T,
    clock: &C,
    mut make_request: F,
    sink: &mut S,
    stops: &Stops<'_>,
) -> RunSummary
where
    T: Transport + ?Sized,
    C: Clock + ?Sized,
    F: FnMut(&Dispatch) -> PreparedRequest,
    S: EventSink + ?Sized,
{
    let (cancel, enough) = (stops.cancel, stops.enough);
    let options = RequestOptions {
        timeout: plan.request_timeout(),
        keep_text: !plan.low_memory(),
        abandon: None,
    };
    let started_at = clock.now();
    let start_wall = clock.wall_time();
    let mut summary = RunSummary {
        started_at,
        ended_at: started_at,
        start_wall,
        end_wall: start_wall,
        interrupted: false,
        sent: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
        cancelled_by_design: 0,
        dropped: 0,
    };
    let mut scheduler = Scheduler::new(plan, seed, started_at);
    // Requests listen to this token rather than the caller's, so the deadline can cancel them too.
    let requests_cancel = CancelToken::new();
    let mut caller_cancel = Some(cancel.cancelled());
    let mut enough_wait = Some(enough.cancelled());
    let mut deadline_cut = scheduler
        .deadline()
        .filter(|_| plan.cancel_in_flight_at_deadline())
        .map(|d| clock.sleep_until(d));
    // The pending wake-up for the scheduler, kept across iterations so a browser timer is not re-armed per event.
    let mut timer: Option<(Timestamp, LocalBoxFuture<'static, ()>)> = None;
    let mut in_flight = FuturesUnordered::new();

    loop {
        if caller_cancel.is_some() && cancel.is_cancelled() {
            caller_cancel = None;
            summary.interrupted = true;
            scheduler.stop();
            requests_cancel.cancel();
        }
        if enough_wait.is_some() && enough.is_cancelled() {
            enough_wait = None;
            scheduler.stop();
        }
        while let Some(dispatch) = scheduler.poll(clock.now()) {
            let prepared = make_request(&dispatch);
            summary.sent += 1;
            sink.on_event(EngineEvent::RequestStarted(dispatch));
            let abandon = stops
                .injection
                .and_then(|c| c.for_request(seed, dispatch.request_id));
            let options = RequestOptions { abandon, ..options };
            in_flight.push(send(
                transport,
                clock,
                prepared,
                dispatch,
                options,
                &requests_cancel,
            ));
        }
        if scheduler.is_done() {
            break;
        }
        let wake_at = scheduler.poll_timeout();
        if timer.as_ref().map(|(at, _)| *at) != wake_at {
            timer = wake_at.map(|at| (at, clock.sleep_until(at)));
        }
        debug_assert!(
            !in_flight.is_empty() || timer.is_some(),
            "the scheduler is neither done nor waiting for anything"
        );
        let wake = poll_fn(|cx| {
            if let Poll::Ready(Some(finished)) = in_flight.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Finished(finished));
            }
            if caller_cancel
                .as_mut()
                .is_some_and(|c| c.poll_unpin(cx).is_ready())
            {
                return Poll::Ready(Wake::Cancelled);
            }
            if enough_wait.as_mut().is_some_and(|e| e.poll_unpin(cx).is_ready()) {
                return Poll::Ready(Wake::Enough);
            }
            if deadline_cut.as_mut().is_some_and(|d| d.poll_unpin(cx).is_ready()) {
                return Poll::Ready(Wake::Deadline);
            }
            if timer.as_mut().is_some_and(|(_, t)| t.poll_unpin(cx).is_ready()) {
                return Poll::Ready(Wake::Timer);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Wake::Finished(finished) => {
                scheduler.on_finished(finished.record.timing.ended_at, finished.dispatch.request_id);
                summary.count(&finished.record);
                sink.on_event(EngineEvent::RequestFinished(finished));
            }
            // Handled at the top of the loop.
            Wake::Cancelled | Wake::Enough => {}
            Wake::Deadline => {
                deadline_cut = None;
                requests_cancel.cancel();
            }
            Wake::Timer => timer = None,
        }
    }

    summary.ended_at = clock.now();
    summary.end_wall = clock.wall_time();
    summary.dropped = scheduler.dropped();
    debug_assert_eq!(summary.sent, summary.finished());
    sink.on_event(EngineEvent::RunEnded(summary.clone()));
    summary
}

/// One dispatched request, start to record (boxed: records are large, and the sink gets a box anyway).
async fn send<T, C>(
    transport: &T,
    clock: &C,
    prepared: PreparedRequest,
    dispatch: Dispatch,
    options: RequestOptions,
    cancel: &CancelToken,
) -> Box<FinishedRequest>
where
    T: Transport + ?Sized,
    C: Clock + ?Sized,
{
    let mut record =
        request::execute(transport, clock, prepared, dispatch.scheduled_at, options, cancel).await;
    record.warmup = dispatch.warmup;
    Box::new(FinishedRequest { dispatch, record })
}
