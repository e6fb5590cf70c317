//! Goodput: which requests meet a latency service-level objective. A request counts when it succeeded and every
//! threshold that is set holds (`value ≤ threshold`); a metric the request lacks (no TTFT on a non-streaming
//! response, no TPOT for a one-token answer) fails a threshold set on it, because it cannot be shown to meet it.

use crate::record::RequestRecord;
use crate::stats::metric::Latencies;
use crate::stats::StatsConfigError;

/// Latency thresholds in seconds; `None` leaves a metric unconstrained.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    /// Maximum time to first token ([`crate::metrics::time_to_first_token`]).
    pub ttft: Option<f64>,
    /// Maximum time per output token ([`crate::metrics::time_per_output_token`]).
    pub tpot: Option<f64>,
    /// Maximum time to last token ([`crate::metrics::time_to_last_token`]).
    pub ttlt: Option<f64>,
}

impl Slo {
    /// Thresholds must be finite and non-negative.
    pub fn validate(&self) -> Result<(), StatsConfigError> {
        for (name, threshold) in [("ttft", self.ttft), ("tpot", self.tpot), ("ttlt", self.ttlt)] {
            if let Some(value) = threshold.filter(|t| !(t.is_finite() && *t >= 0.0)) {
                return Err(StatsConfigError::SloThreshold { name, value });
            }
        }
        Ok(())
    }

    /// Whether `record` succeeded within every set threshold.
    pub fn is_met(&self, record: &RequestRecord) -> bool {
        record.is_success() && self.holds(&Latencies::of(record))
    }

    /// Whether a successful request with these latencies is within every set threshold.
    pub(crate) fn holds(&self, l: &Latencies) -> bool {
        within(self.ttft, l.ttft) && within(self.tpot, l.tpot) && within(self.ttlt, l.ttlt)
    }
}

fn within(threshold: Option<f64>, value: Option<f64>) -> bool {
    threshold.is_none_or(|t| value.is_some_and(|v| v <= t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, RequestError, RequestTiming, TokenCounts};
    use crate::time::Timestamp;

    fn record(ttft_ms: Option<u64>, ttlt_ms: u64, tokens: u64) -> RequestRecord {
        let ms = |v: u64| Timestamp::from_micros(v * 1000);
        RequestRecord {
            timing: RequestTiming {
                first_token_at: ttft_ms.map(ms),
                last_token_at: Some(ms(ttlt_ms)),
                ended_at: ms(ttlt_ms),
                ..Default::default()
            },
            tokens: TokenCounts {
                output: Some(tokens),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn every_set_threshold_must_hold() {
        let slo = Slo {
            ttft: Some(0.2),
            tpot: Some(0.05),
            ttlt: None,
        };
        // TTFT 0.1 s, TPOT (1.0 - 0.1) / 19 = 0.047 s
        assert!(slo.is_met(&record(Some(100), 1000, 20)));
        // TTFT equal to the threshold still meets it.
        assert!(slo.is_met(&record(Some(200), 1000, 20)));
        assert!(!slo.is_met(&record(Some(300), 1000, 20)));
        // TPOT (2.0 - 0.1) / 19 = 0.1 s
        assert!(!slo.is_met(&record(Some(100), 2000, 20)));
        // No TTFT: fails the TTFT threshold; a single token has no TPOT.
        assert!(!slo.is_met(&record(None, 1000, 20)));
        assert!(!slo.is_met(&record(Some(100), 1000, 1)));
        assert!(Slo::default().is_met(&record(None, 1000, 1)));
        let mut failed = record(Some(100), 1000, 20);
        failed.error = Some(RequestError::new(ErrorKind::Timeout, "timed out"));
        assert!(!Slo::default().is_met(&failed));
    }

    #[test]
    fn thresholds_are_validated() {
        assert!(Slo {
            ttft: Some(0.5),
            ..Default::default()
        }
        .validate()
        .is_ok());
        assert_eq!(
            Slo {
                ttlt: Some(-1.0),
                ..Default::default()
            }
            .validate(),
            Err(StatsConfigError::SloThreshold {
                name: "ttlt",
                value: -1.0
            })
        );
        assert!(Slo {
            tpot: Some(f64::NAN),
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
