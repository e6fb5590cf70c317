//! The native engine's clock: tokio's monotonic `Instant` for measurements and timers, and wall time derived from
//! it (the wall clock read once, at the origin), so `request_time` and latencies share one timebase as
//! `performance.timeOrigin + now()` does in a browser.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use tokio::time::Instant;

use tokenmeter_core::time::Timestamp;
use tokenmeter_engine::Clock;

#[derive(Debug, Clone, Copy)]
pub struct NativeClock {
    origin: Instant,
    wall_origin: DateTime<Utc>,
}

impl NativeClock {
    /// A clock whose origin is now.
    pub fn start() -> NativeClock {
        NativeClock {
            origin: Instant::now(),
            wall_origin: DateTime::<Utc>::from(SystemTime::now()),
        }
    }
}

impl Clock for NativeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }

    fn wall_time(&self) -> DateTime<Utc> {
        self.wall_origin + self.origin.elapsed()
    }

    fn sleep_until(&self, deadline: Timestamp) -> LocalBoxFuture<'static, ()> {
        let at = self.origin + Duration::from_nanos(deadline.as_nanos());
        Box::pin(tokio::time::sleep_until(at))
    }
}

/// The command's own wall clock (UTC), for what it stamps itself (shared start times, clock offsets, seeds).
pub fn wall_now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

/// Milliseconds since the Unix epoch on the command's wall clock.
pub fn unix_ms_now() -> f64 {
    wall_now().timestamp_micros() as f64 / 1e3
}

/// The command's monotonic clock, for its own timeouts and progress (never for a measurement).
pub fn monotonic_now() -> std::time::Instant {
    std::time::Instant::now()
}
