//! [`PerformanceClock`]: the engine's `Clock` on `performance.now()`, with `setTimeout` timers.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use wasm_bindgen::prelude::*;

use crate::browser::js;
use crate::core::format::ClockInfo;
use crate::core::time::Timestamp;
use crate::engine::Clock;

/// Monotonic time since the clock was created, read from `performance.now()`.
#[derive(Debug, Clone, Copy)]
pub struct PerformanceClock {
    origin_ms: f64,
}

impl PerformanceClock {
    /// A clock whose origin (`Timestamp::ZERO`) is now.
    pub fn start() -> Self {
        PerformanceClock {
            origin_ms: js::performance_now(),
        }
    }

    /// The `performance.now()` value of `at`, for matching Resource Timing entries.
    pub fn to_performance_millis(&self, at: Timestamp) -> f64 {
        self.origin_ms + at.as_nanos() as f64 / 1e6
    }
}

/// What the page's clock can resolve: whether the page is cross-origin isolated, and the smallest step
/// `performance.now()` takes, in microseconds (browsers round to 100 µs, or 5 µs when isolated). Measured by
/// reading the clock until it has stepped 50 times (a few milliseconds at most).
pub fn clock_info() -> ClockInfo {
    let isolated = js::CROSS_ORIGIN_ISOLATED.with(|v| v.as_bool().unwrap_or(false));
    let mut last = js::performance_now();
    let (mut steps, mut smallest) = (0, f64::INFINITY);
    let give_up = last + 20.0;
    while steps < 50 {
        let now = js::performance_now();
        if now > last {
            smallest = smallest.min(now - last);
            steps += 1;
            last = now;
        }
        if now > give_up {
            break;
        }
    }
    ClockInfo {
        cross_origin_isolated: isolated,
        timer_resolution_us: (smallest * 1e3 * 10.0).round() / 10.0,
    }
}

impl Clock for PerformanceClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis_f64(js::performance_now() - self.origin_ms)
    }

    fn wall_time(&self) -> DateTime<Utc> {
        let ms = js::epoch_millis_now();
        DateTime::from_timestamp_micros((ms * 1000.0).round() as i64).unwrap_or_default()
    }

    fn sleep_until(&self, deadline: Timestamp) -> LocalBoxFuture<'static, ()> {
        Box::pin(SleepUntil {
            clock: *self,
            deadline,
            timer: None,
        })
    }
}

#[derive(Default)]
struct TimerState {
    fired: bool,
    waker: Option<Waker>,
}

/// One armed `setTimeout`; cleared when dropped so abandoned sleeps cost nothing.
struct Timer {
    id: i32,
    state: Rc<RefCell<TimerState>>,
    _callback: Closure<dyn FnMut()>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        js::clear_timeout(self.id);
    }
}

/// Resolves once the clock reads `deadline` or later. Timers can fire a little early relative to
/// `performance.now()` (rounding), so the deadline is re-checked and the timer re-armed if needed.
struct SleepUntil {
    clock: PerformanceClock,
    deadline: Timestamp,
    timer: Option<Timer>,
}

impl Future for SleepUntil {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = self.clock.now();
        if now >= self.deadline {
            self.timer = None;
            return Poll::Ready(());
        }
        if let Some(timer) = &self.timer {
            let mut state = timer.state.borrow_mut();
            if !state.fired {
                state.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        // Arm (or re-arm after an early firing) a timer for the remaining time, rounded up to whole ms.
        let remaining_ms = (self.deadline.as_nanos() - now.as_nanos()).div_ceil(1_000_000);
        let state = Rc::new(RefCell::new(TimerState {
            fired: false,
            waker: Some(cx.waker().clone()),
        }));
        let fired = state.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            let mut s = fired.borrow_mut();
            s.fired = true;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        });
        let millis = remaining_ms.min(i32::MAX as u64) as i32;
        let id = js::set_timeout(callback.as_ref().unchecked_ref(), millis);
        self.timer = Some(Timer {
            id,
            state,
            _callback: callback,
        });
        Poll::Pending
    }
}
