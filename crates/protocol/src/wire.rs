//! Writing an API's responses: the one encoder per API that the simulated model, the integration tests and the
//! mock server all use, so a response shape is written in exactly one place. The caller decides *when* each
//! piece is sent; an encoder only decides the bytes.
//!
//! A streamed response is `head`, then one `token` per output token, then `finish` (or an `error_event`, or
//! nothing at all for a connection that breaks). A non-streamed response is one `body`.

use serde_json::Value;

/// What one response is about: everything but its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The provider's response id (`chatcmpl-…`, `resp_…`, `msg_…`).
    pub id: String,
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    pub input_tokens: u64,
    /// Input tokens served from the provider's prompt cache (reported as each API reports them).
    pub cached_input_tokens: u64,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its answer.
    Stop,
    /// The output limit cut it off.
    Length,
}

/// A failure the server reports in the API's own error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFault {
    /// Rate limited or overloaded: the client should back off.
    Throttled,
    /// The server failed.
    Server,
}

/// Writes one API's responses.
pub trait Encoder: Sync {
    /// Events before the first token (the role chunk, `response.created`, `message_start`, …).
    fn head(&self, reply: &Reply) -> Vec<u8>;
    /// Output token `index` (0-based) with its text.
    fn token(&self, reply: &Reply, index: u32, text: &str) -> Vec<u8>;
    /// The closing events after `n_tokens` tokens that spelled `text`: finish reason, usage, terminal event.
    /// `include_usage` is Chat Completions' `stream_options.include_usage`; other APIs always report usage.
    fn finish(
        &self,
        reply: &Reply,
        text: &str,
        n_tokens: u32,
        finish: Finish,
        include_usage: bool,
    ) -> Vec<u8>;
    /// An in-stream error event, after which the stream ends.
    fn error_event(&self, reply: &Reply, fault: WireFault, message: &str) -> Vec<u8>;
    /// A complete non-streamed response carrying `text` (`n_tokens` tokens).
    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8>;
    /// The body of an HTTP error response with `status`.
    fn error_body(&self, status: u16, message: &str) -> Value;
}

/// One SSE event: `event: {name}` (when given) and one `data:` line.
pub(crate) fn sse(name: Option<&str>, data: &Value) -> String {
    match name {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// The OpenAI-style `{"error": {…}}` body, with `type`/`code` as OpenAI uses them for `status`.
pub(crate) fn openai_error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", "invalid_api_key"),
        403 => ("permission_error", "permission_denied"),
        404 => ("invalid_request_error", "not_found"),
        429 => ("requests", "rate_limit_exceeded"),
        400..=499 => ("invalid_request_error", "bad_request"),
        503 => ("server_error", "service_unavailable"),
        _ => ("server_error", "server_error"),
    };
    serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}
