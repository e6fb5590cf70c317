//! Fault injection, for testing how a load tester handles failures: an immediate error status, a
//! connection dropped mid-stream, an error event inside an otherwise well-formed stream, or (AWS
//! event-stream only) a frame with a wrong CRC. The same knobs work on every API; the bytes of each error
//! (HTTP error body, in-stream error event or exception frame) are written by the route's own encoder
//! (`tokenmeter_protocol::wire`, `tokenmeter_protocol::aws`), so each API fails in its own shape.
//!
//! Precedence when several mid-stream faults are set: the smallest K wins; on a tie the disconnect beats
//! the corrupt frame, which beats the error event.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tokenmeter_protocol::wire::{Reply, WireFault};
use tokenmeter_protocol::Api;

use crate::timing::{KnobError, Knobs};

/// Respond at once with this status (any 4xx or 5xx; 200 means "no fault").
pub const STATUS_HEADER: &str = "x-mock-status";
/// Send this many content tokens, then drop the connection (no terminal event, truncated body).
pub const FAIL_AFTER_HEADER: &str = "x-mock-fail-after";
/// Send this many content tokens, then the API's in-stream error event, then end the body cleanly.
pub const ERROR_AFTER_HEADER: &str = "x-mock-error-event-after";
/// Which error the error event (or, without streaming, the error status) reports: `server` (default),
/// `throttled`, or (AWS routes only) `validation`.
pub const ERROR_KIND_HEADER: &str = "x-mock-error-kind";
/// AWS event-stream only: send this many content tokens, then one frame whose message CRC is wrong, then
/// end the body.
pub const CORRUPT_AFTER_HEADER: &str = "x-mock-corrupt-after";

/// A share in [0, 1] of requests that get one fault drawn at random from those the route can produce: HTTP 429,
/// HTTP 500, a dropped connection, an in-stream throttling or server error event, and (AWS event-stream) a
/// corrupt frame, each after 0-3 tokens. The draw is seeded by a per-process request counter.
pub const CHAOS_HEADER: &str = "x-mock-chaos";

/// The message of the injected in-stream error (and of its non-streamed HTTP counterpart).
pub const STREAM_ERROR_MESSAGE: &str = "mock stream error";

/// The kind of error an injected error event (or its non-streamed HTTP counterpart) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Rate limited: Chat's `rate_limit_exceeded`, Anthropic's `overloaded_error`, Bedrock's
    /// `throttlingException`; HTTP 429.
    Throttled,
    /// The server failed: the API's server error, Bedrock's `modelStreamErrorException`, SageMaker's
    /// `ModelStreamError`; HTTP 500.
    Server,
    /// The request was refused (AWS only): `validationException` in the stream; HTTP 400.
    Validation,
}

impl FaultKind {
    /// The encoders' own fault, where they have one (`Validation` is written by the AWS layer itself).
    pub fn wire_fault(self) -> Option<WireFault> {
        match self {
            FaultKind::Throttled => Some(WireFault::Throttled),
            FaultKind::Server => Some(WireFault::Server),
            FaultKind::Validation => None,
        }
    }
}

/// What happens after the first K tokens of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidStream {
    /// The body ends with an error, so the client sees a truncated chunked body.
    Disconnect,
    /// The API's error event of this kind, then the body ends normally.
    ErrorEvent(FaultKind),
    /// The next token's event-stream frame with its message CRC broken, then the body ends normally.
    Corrupt,
}

/// The faults requested for one call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Answer with this status instead of a completion.
    pub status: Option<StatusCode>,
    /// Stop after this many tokens in this way.
    pub mid_stream: Option<(u32, MidStream)>,
    /// The share of requests to give a random fault ([`CHAOS_HEADER`]).
    pub chaos: Option<f64>,
}

/// The `error_kind` knob's value.
impl std::str::FromStr for FaultKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "server" => Ok(FaultKind::Server),
            "throttled" => Ok(FaultKind::Throttled),
            "validation" => Ok(FaultKind::Validation),
            _ => Err(()),
        }
    }
}

/// A well-mixed 64-bit draw per request (splitmix64 over a process-wide counter).
pub fn next_draw() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0x5eed);
    let mut z = COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Faults {
    /// Reads the fault knobs (header, else query parameter `status`, `fail_after`, `error_after`,
    /// `error_kind`, `corrupt_after`).
    pub fn resolve(knobs: &Knobs<'_>) -> Result<Faults, KnobError> {
        let status = match knobs.get::<u16>(STATUS_HEADER, "status")? {
            None | Some(200) => None,
            Some(code @ 400..=599) => StatusCode::from_u16(code).ok(),
            Some(code) => {
                return Err(KnobError(format!(
                    "mock-llm: {STATUS_HEADER} must be 200 or 400-599, got {code}"
                )))
            }
        };
        let kind = knobs
            .get::<FaultKind>(ERROR_KIND_HEADER, "error_kind")?
            .unwrap_or(FaultKind::Server);
        let fail = knobs
            .get::<u32>(FAIL_AFTER_HEADER, "fail_after")?
            .map(|k| (k, MidStream::Disconnect));
        let corrupt = knobs
            .get::<u32>(CORRUPT_AFTER_HEADER, "corrupt_after")?
            .map(|k| (k, MidStream::Corrupt));
        let error = knobs
            .get::<u32>(ERROR_AFTER_HEADER, "error_after")?
            .map(|k| (k, MidStream::ErrorEvent(kind)));
        // Several set: whichever comes first happens; a tie goes to the earlier in this list.
        let mid_stream = [fail, corrupt, error].into_iter().flatten().fold(
            None,
            |best: Option<(u32, MidStream)>, next| match best {
                Some(b) if b.0 <= next.0 => Some(b),
                _ => Some(next),
            },
        );
        let chaos = knobs.get::<f64>(CHAOS_HEADER, "chaos")?;
        if chaos.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err(KnobError(format!(
                "mock-llm: {CHAOS_HEADER} must be a share in [0, 1]"
            )));
        }
        Ok(Faults {
            status,
            mid_stream,
            chaos,
        })
    }

    /// With `chaos` set, this request's faults: none, or one drawn (from `draw`, uniform over u64) among those a
    /// route of this kind can produce.
    pub fn with_chaos(self, aws: bool, stream: bool, draw: u64) -> Faults {
        let Some(share) = self.chaos else {
            return self;
        };
        if (draw >> 11) as f64 / (1u64 << 53) as f64 >= share {
            return Faults {
                chaos: None,
                ..Faults::default()
            };
        }
        let mut menu = vec![
            Faults {
                status: Some(StatusCode::TOO_MANY_REQUESTS),
                ..Faults::default()
            },
            Faults {
                status: Some(StatusCode::INTERNAL_SERVER_ERROR),
                ..Faults::default()
            },
        ];
        let after = (draw % 4) as u32;
        if stream {
            menu.push(Faults {
                mid_stream: Some((after, MidStream::Disconnect)),
                ..Faults::default()
            });
            menu.push(Faults {
                mid_stream: Some((after, MidStream::ErrorEvent(FaultKind::Throttled))),
                ..Faults::default()
            });
            menu.push(Faults {
                mid_stream: Some((after, MidStream::ErrorEvent(FaultKind::Server))),
                ..Faults::default()
            });
            if aws {
                menu.push(Faults {
                    mid_stream: Some((after, MidStream::Corrupt)),
                    ..Faults::default()
                });
            }
        }
        menu[((draw >> 3) % menu.len() as u64) as usize]
    }

    /// Refuses what a route cannot do: `validation` errors and corrupt frames exist only on the AWS routes,
    /// and a corrupt frame only in an event-stream (streamed) response.
    pub fn check(&self, aws: bool, stream: bool) -> Result<(), KnobError> {
        match self.mid_stream {
            Some((_, MidStream::ErrorEvent(FaultKind::Validation))) if !aws => Err(KnobError(format!(
                "mock-llm: {ERROR_KIND_HEADER}=validation is for the AWS routes only"
            ))),
            Some((_, MidStream::Corrupt)) if !(aws && stream) => Err(KnobError(format!(
                "mock-llm: {CORRUPT_AFTER_HEADER} needs a streamed AWS (event-stream) response"
            ))),
            _ => Ok(()),
        }
    }
}

/// An HTTP error response with `api`'s error body; a 429 carries `retry-after: 1` like real rate limiters.
pub fn error_response(api: Api, status: StatusCode, message: &str) -> Response {
    let body = api.encoder().error_body(status.as_u16(), message);
    let mut response = crate::json_response(status, &body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The response for `x-mock-status`.
pub fn injected_status(api: Api, status: StatusCode) -> Response {
    let message = format!("mock-llm: injected HTTP {} ({STATUS_HEADER})", status.as_u16());
    error_response(api, status, &message)
}

/// The in-stream error event `api` sends when generation fails (`Validation` reads as a server error: the
/// SSE APIs have no in-stream refusal, and [`Faults::check`] keeps it off their routes).
pub fn stream_error_event(api: Api, reply: &Reply, kind: FaultKind) -> Vec<u8> {
    let fault = kind.wire_fault().unwrap_or(WireFault::Server);
    api.encoder().error_event(reply, fault, STREAM_ERROR_MESSAGE)
}

/// The HTTP status that stands in for an in-stream error when the response is not streamed.
pub fn error_status(kind: FaultKind) -> StatusCode {
    match kind {
        FaultKind::Server => StatusCode::INTERNAL_SERVER_ERROR,
        FaultKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        FaultKind::Validation => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn mid_stream(query: &str) -> Option<(u32, MidStream)> {
        let none = HeaderMap::new();
        Faults::resolve(&Knobs::new(&none, Some(query)))
            .unwrap()
            .mid_stream
    }

    #[test]
    fn the_earliest_fault_wins_and_ties_go_down_the_list() {
        let error = MidStream::ErrorEvent(FaultKind::Validation);
        assert_eq!(
            mid_stream("corrupt_after=2&error_after=1&error_kind=validation"),
            Some((1, error))
        );
        assert_eq!(
            mid_stream("corrupt_after=1&error_after=1"),
            Some((1, MidStream::Corrupt))
        );
        assert_eq!(
            mid_stream("corrupt_after=3&fail_after=3&error_after=3"),
            Some((3, MidStream::Disconnect))
        );
        assert_eq!(mid_stream("corrupt_after=0"), Some((0, MidStream::Corrupt)));
        assert_eq!(mid_stream(""), None);
    }

    #[test]
    fn aws_only_faults_are_refused_elsewhere() {
        let faults = |query| {
            let none = HeaderMap::new();
            Faults::resolve(&Knobs::new(&none, Some(query))).unwrap()
        };
        let validation = faults("error_after=1&error_kind=validation");
        assert!(validation.check(false, true).is_err());
        assert!(validation.check(true, false).is_ok());
        let corrupt = faults("corrupt_after=1");
        assert!(corrupt.check(true, true).is_ok());
        assert!(corrupt.check(true, false).is_err());
        assert!(corrupt.check(false, true).is_err());
        let none = HeaderMap::new();
        assert!(Faults::resolve(&Knobs::new(&none, Some("error_after=1&error_kind=bogus"))).is_err());
    }

    #[test]
    fn chaos_faults_that_share_of_requests_with_what_the_route_can_do() {
        let none = axum::http::HeaderMap::new();
        let chaos = Faults::resolve(&Knobs::new(&none, Some("chaos=0.35"))).unwrap();
        for (aws, stream) in [(false, false), (false, true), (true, true)] {
            let drawn: Vec<Faults> = (0..10_000)
                .map(|_| chaos.with_chaos(aws, stream, next_draw()))
                .collect();
            let faulted = drawn
                .iter()
                .filter(|f| f.status.is_some() || f.mid_stream.is_some())
                .count();
            assert!((3_200..3_800).contains(&faulted), "{faulted} of 10000");
            let corrupt = drawn
                .iter()
                .any(|f| matches!(f.mid_stream, Some((_, MidStream::Corrupt))));
            assert_eq!(corrupt, aws && stream, "corrupt frames only in event-streams");
            assert_eq!(
                drawn.iter().any(|f| f.mid_stream.is_some()),
                stream,
                "mid-stream faults only in streams"
            );
            assert!(drawn.iter().all(|f| f.check(aws, stream).is_ok()));
        }
        assert!(Faults::resolve(&Knobs::new(&none, Some("chaos=1.5"))).is_err());
    }
}
