//! Fault injection, for testing how a load tester handles failures: an immediate error status, a
//! connection dropped mid-stream, or an error event inside an otherwise well-formed stream.
//! Also owns the OpenAI-style error body shared by every error response.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::timing::{KnobError, Knobs};

/// Respond at once with this status (any 4xx or 5xx; 200 means "no fault").
pub const STATUS_HEADER: &str = "x-mock-status";
/// Send this many content tokens, then drop the connection (no `[DONE]`, truncated body).
pub const FAIL_AFTER_HEADER: &str = "x-mock-fail-after";
/// Send this many content tokens, then an SSE error event, then end the body cleanly.
pub const ERROR_AFTER_HEADER: &str = "x-mock-error-event-after";

/// What happens after the first K tokens of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidStream {
    /// The body ends with an error, so the client sees a truncated chunked body.
    Disconnect,
    /// `data: {"error":{…}}`, then the body ends normally.
    ErrorEvent,
}

/// The faults requested for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Answer with this status instead of a completion.
    pub status: Option<StatusCode>,
    /// Stop after this many tokens in this way.
    pub mid_stream: Option<(u32, MidStream)>,
}

impl Faults {
    /// Reads the fault knobs (header, else query parameter `status`, `fail_after`, `error_after`).
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
        let fail = knobs
            .get::<u32>(FAIL_AFTER_HEADER, "fail_after")?
            .map(|k| (k, MidStream::Disconnect));
        let error = knobs
            .get::<u32>(ERROR_AFTER_HEADER, "error_after")?
            .map(|k| (k, MidStream::ErrorEvent));
        // Both set: whichever comes first happens; a tie goes to the disconnect.
        let mid_stream = match (fail, error) {
            (Some(f), Some(e)) => Some(if e.0 < f.0 { e } else { f }),
            (f, e) => f.or(e),
        };
        Ok(Faults { status, mid_stream })
    }
}

/// The `error` object OpenAI returns, with `type`/`code` chosen the way OpenAI uses them for `status`.
pub fn error_body(status: StatusCode, message: &str) -> Value {
    let (kind, code) = match status.as_u16() {
        401 => ("invalid_request_error", "invalid_api_key"),
        403 => ("permission_error", "permission_denied"),
        404 => ("invalid_request_error", "not_found"),
        429 => ("requests", "rate_limit_exceeded"),
        400..=499 => ("invalid_request_error", "bad_request"),
        503 => ("server_error", "service_unavailable"),
        _ => ("server_error", "server_error"),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// A JSON error response.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    crate::json_response(status, &error_body(status, message))
}

/// The response for `x-mock-status`; a 429 carries `retry-after: 1` like real rate limiters.
pub fn injected_status(status: StatusCode) -> Response {
    let message = format!("mock-llm: injected HTTP {} ({STATUS_HEADER})", status.as_u16());
    let mut response = error_response(status, &message);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The in-stream error event payload (what OpenAI-compatible servers send when generation fails).
pub fn stream_error_event() -> Value {
    json!({"error": {"message": "mock stream error", "type": "server_error"}})
}
