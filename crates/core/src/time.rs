//! Monotonic time values handed to the pure core by the engine's `Clock`.
//!
//! A [`Timestamp`] counts nanoseconds since the run's origin. The browser's `performance.now()` gives
//! milliseconds as `f64` (coarsened to 100 µs, or 5 µs when cross-origin isolated); nanoseconds are kept so that
//! durations imported from LLMeter files (Python `perf_counter` floats) survive a round trip to ~1e-9 s.

use std::time::Duration;

/// A point on the run's monotonic clock, in nanoseconds since the run's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The run's origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros.saturating_mul(1000))
    }

    /// A timestamp `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// A timestamp from fractional seconds (LLMeter's unit), rounded to the nanosecond; negatives clamp to zero.
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs.is_finite() && secs > 0.0 {
            Timestamp((secs * 1e9).round() as u64)
        } else {
            Timestamp::ZERO
        }
    }

    /// A timestamp from fractional milliseconds (the unit of `performance.now()`), rounded to the nanosecond.
    /// Negative and non-finite inputs clamp to the origin.
    pub fn from_millis_f64(millis: f64) -> Self {
        Timestamp::from_secs_f64(millis / 1e3)
    }

    /// Whole microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0 / 1000
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the origin.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds from `earlier` to `self`; negative when `earlier` is later.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        // Two's-complement wrapping gives the signed difference exactly for any span under 292 years, without
        // i128 arithmetic (a slow software routine on wasm32 and a measurable cost at millions of records).
        (self.0.wrapping_sub(earlier.0) as i64) as f64 / 1e9
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self` moved forward by `span` (saturating).
    pub fn plus(self, span: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(span.as_nanos().min(u64::MAX as u128) as u64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_to_the_microsecond_and_clamp() {
        assert_eq!(Timestamp::from_millis_f64(1.2344).as_nanos(), 1_234_400);
        assert_eq!(
            Timestamp::from_secs_f64(0.086_229_765_999_632_95).as_nanos(),
            86_229_766
        );
        assert_eq!(Timestamp::from_millis_f64(-5.0), Timestamp::ZERO);
        assert_eq!(Timestamp::from_millis_f64(f64::NAN), Timestamp::ZERO);
    }

    #[test]
    fn since_saturates() {
        let a = Timestamp::from_micros(10);
        let b = Timestamp::from_micros(25);
        assert_eq!(b.saturating_since(a), Duration::from_micros(15));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
        assert_eq!(a.plus(Duration::from_micros(5)), Timestamp::from_micros(15));
        assert_eq!(a.secs_since(b), -15e-6);
    }
}
