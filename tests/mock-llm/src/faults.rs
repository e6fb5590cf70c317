//! Fault injection, for testing how a load tester handles failures: an immediate error status, a
//! connection dropped mid-stream, an error event inside an otherwise well-formed stream, or (AWS
//! event-stream only) a frame with a wrong CRC. The same knobs work on every API; the bytes of each error
//! (HTTP error body, in-stream error event or exception frame) are written by the route's own encoder
//! (`tokenmeter_protocol::wire`, `tokenmeter_protocol::aws`), so each API fails in its own shape.
//!
//! Precedence when several mid-stream faults are set: the smallest K wins; on a tie the disconnect beats
//! the corrupt frame, which beats the error event.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Answer with this status instead of a completion.
    pub status: Option<StatusCode>,
    /// Stop after this many tokens in this way.
    pub mid_stream: Option<(u32, MidStream)>,
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
        Ok(Faults { status, mid_stream })
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
}
