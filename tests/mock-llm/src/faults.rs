//! Fault injection, for testing how a load tester handles failures: an immediate error status, a
//! connection dropped mid-stream, or an error event inside an otherwise well-formed stream. The same knobs
//! work on every API; the bytes of each error (HTTP error body, in-stream error event) are written by the
//! route's own encoder (`tokenmeter::protocol::wire`), so each API fails in its own shape.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tokenmeter::protocol::wire::{Reply, WireFault};
use tokenmeter::protocol::Api;

use crate::timing::{KnobError, Knobs};

/// Respond at once with this status (any 4xx or 5xx; 200 means "no fault").
pub const STATUS_HEADER: &str = "x-mock-status";
/// Send this many content tokens, then drop the connection (no terminal event, truncated body).
pub const FAIL_AFTER_HEADER: &str = "x-mock-fail-after";
/// Send this many content tokens, then the API's in-stream error event, then end the body cleanly.
pub const ERROR_AFTER_HEADER: &str = "x-mock-error-event-after";
/// Which error the error event (or, without streaming, the error status) reports: `server` (default) or
/// `throttled`.
pub const ERROR_KIND_HEADER: &str = "x-mock-error-kind";

/// The message of the injected in-stream error (and of its non-streamed HTTP counterpart).
pub const STREAM_ERROR_MESSAGE: &str = "mock stream error";

/// What happens after the first K tokens of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidStream {
    /// The body ends with an error, so the client sees a truncated chunked body.
    Disconnect,
    /// The API's error event of this kind, then the body ends normally.
    ErrorEvent(WireFault),
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
struct ErrorKind(WireFault);

impl std::str::FromStr for ErrorKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "server" => Ok(ErrorKind(WireFault::Server)),
            "throttled" => Ok(ErrorKind(WireFault::Throttled)),
            _ => Err(()),
        }
    }
}

impl Faults {
    /// Reads the fault knobs (header, else query parameter `status`, `fail_after`, `error_after`,
    /// `error_kind`).
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
            .get::<ErrorKind>(ERROR_KIND_HEADER, "error_kind")?
            .map_or(WireFault::Server, |k| k.0);
        let fail = knobs
            .get::<u32>(FAIL_AFTER_HEADER, "fail_after")?
            .map(|k| (k, MidStream::Disconnect));
        let error = knobs
            .get::<u32>(ERROR_AFTER_HEADER, "error_after")?
            .map(|k| (k, MidStream::ErrorEvent(kind)));
        // Both set: whichever comes first happens; a tie goes to the disconnect.
        let mid_stream = match (fail, error) {
            (Some(f), Some(e)) => Some(if e.0 < f.0 { e } else { f }),
            (f, e) => f.or(e),
        };
        Ok(Faults { status, mid_stream })
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

/// The in-stream error event `api` sends when generation fails.
pub fn stream_error_event(api: Api, reply: &Reply, fault: WireFault) -> Vec<u8> {
    api.encoder().error_event(reply, fault, STREAM_ERROR_MESSAGE)
}

/// The HTTP status that stands in for an in-stream error when the response is not streamed.
pub fn error_status(fault: WireFault) -> StatusCode {
    match fault {
        WireFault::Server => StatusCode::INTERNAL_SERVER_ERROR,
        WireFault::Throttled => StatusCode::TOO_MANY_REQUESTS,
    }
}
