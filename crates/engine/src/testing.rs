//! Virtual time: [`ManualClock`], a [`Clock`] that moves only when told, and [`run_to_completion`], a tiny
//! single-threaded executor that drives a future by jumping the clock to the next pending timer whenever nothing
//! else can make progress. Together they run whole load tests deterministically and instantly (tests and
//! benchmarks), natively and in the browser.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use thiserror::Error;

use crate::Clock;
use tokenmeter_core::time::Timestamp;

/// The wall-clock time at a [`ManualClock`]'s origin unless told otherwise: 2025-01-01T00:00:00Z.
pub const DEFAULT_WALL_ORIGIN_SECS: i64 = 1_735_689_600;

struct State {
    now: Timestamp,
    wall_origin: DateTime<Utc>,
    /// Pending sleeps by (deadline, sleep id), with the waker of the task waiting on each.
    sleepers: BTreeMap<(Timestamp, u64), Option<Waker>>,
    next_sleep_id: u64,
}

/// A clock whose time moves only through [`advance_to`](Self::advance_to). Clones share one time.
#[derive(Clone)]
pub struct ManualClock(Rc<RefCell<State>>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock at `Timestamp::ZERO`, whose wall time starts at [`DEFAULT_WALL_ORIGIN_SECS`].
    pub fn new() -> Self {
        let origin = DateTime::from_timestamp(DEFAULT_WALL_ORIGIN_SECS, 0).unwrap_or_default();
        ManualClock::with_wall_origin(origin)
    }

    /// A clock at `Timestamp::ZERO` whose wall time at that instant is `origin`.
    pub fn with_wall_origin(origin: DateTime<Utc>) -> Self {
        ManualClock(Rc::new(RefCell::new(State {
            now: Timestamp::ZERO,
            wall_origin: origin,
            sleepers: BTreeMap::new(),
            next_sleep_id: 0,
        })))
    }

    /// Moves time forward to `t` (never backward) and wakes every sleep due by then.
    pub fn advance_to(&self, t: Timestamp) {
        let wakers: Vec<Waker> = {
            let state = &mut *self.0.borrow_mut();
            state.now = state.now.max(t);
            let later = state.sleepers.split_off(&(state.now, u64::MAX));
            let due = std::mem::replace(&mut state.sleepers, later);
            due.into_values().flatten().collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Moves time forward by `span`.
    pub fn advance(&self, span: Duration) {
        let now = self.now();
        self.advance_to(now.plus(span));
    }

    /// The earliest deadline some live sleep is waiting for.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.0.borrow().sleepers.keys().next().map(|(at, _)| *at)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.borrow().now
    }

    fn wall_time(&self) -> DateTime<Utc> {
        let state = self.0.borrow();
        let nanos = i64::try_from(state.now.as_nanos()).unwrap_or(i64::MAX);
        state.wall_origin + chrono::Duration::nanoseconds(nanos)
    }

    fn sleep_until(&self, deadline: Timestamp) -> LocalBoxFuture<'static, ()> {
        Box::pin(Sleep {
            clock: self.clone(),
            deadline,
            id: None,
        })
    }
}

/// A pending `sleep_until`; it unregisters itself when dropped, so abandoned timers never move the clock.
struct Sleep {
    clock: ManualClock,
    deadline: Timestamp,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.0.borrow_mut();
        if state.now >= self.deadline {
            if let Some(id) = self.id {
                state.sleepers.remove(&(self.deadline, id));
            }
            return Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                state.next_sleep_id += 1;
                state.next_sleep_id
            }
        };
        state
            .sleepers
            .insert((self.deadline, id), Some(cx.waker().clone()));
        drop(state);
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.clock.0.borrow_mut().sleepers.remove(&(self.deadline, id));
        }
    }
}

/// The future can never finish: it is waiting, no timer is pending, and nothing else could wake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("stalled at {at:?}: the future waits on something other than the manual clock")]
pub struct Stalled {
    pub at: Timestamp,
}

/// Set when the driven future asks to be polled again.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `future` until it completes; whenever it is stalled, advances `clock` to its next pending deadline.
/// Virtual time passes only through timers, so a run of minutes finishes in milliseconds, deterministically.
pub fn run_to_completion<F: Future>(clock: &ManualClock, future: F) -> Result<F::Output, Stalled> {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return Ok(out);
        }
        if flag.0.load(Ordering::SeqCst) {
            continue;
        }
        match clock.next_deadline() {
            Some(at) => clock.advance_to(at),
            None => return Err(Stalled { at: clock.now() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn sleeps_wake_in_order_and_dropped_sleeps_do_not_move_time() {
        let clock = ManualClock::new();
        let mut late = clock.sleep_until(Timestamp::from_micros(500));
        assert!((&mut late).now_or_never().is_none());
        drop(late);
        assert_eq!(clock.next_deadline(), None);
        let c = clock.clone();
        let out = run_to_completion(&clock, async move {
            c.sleep_until(Timestamp::from_micros(30)).await;
            let a = c.now();
            c.sleep_until(Timestamp::from_micros(10)).await;
            (a, c.now())
        });
        assert_eq!(out, Ok((Timestamp::from_micros(30), Timestamp::from_micros(30))));
        assert_eq!(clock.wall_time().timestamp(), DEFAULT_WALL_ORIGIN_SECS);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.wall_time().timestamp(), DEFAULT_WALL_ORIGIN_SECS + 2);
    }

    #[test]
    fn a_future_nothing_can_wake_is_reported() {
        let clock = ManualClock::new();
        assert_eq!(
            run_to_completion(&clock, futures::future::pending::<()>()),
            Err(Stalled { at: Timestamp::ZERO })
        );
    }
}
