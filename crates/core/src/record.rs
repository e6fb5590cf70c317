//! One finished request, as raw facts: when it was scheduled, sent, and when each output chunk arrived,
//! what the provider reported, and how it ended. Durations are derived from these in [`crate::metrics`].
//!
//! The record carries every field of LLMeter's `InvocationResponse` (see `core::format`) plus Tokenmeter's own
//! timing detail. It is an in-memory type: only `core::format` turns it into JSON.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::time::Timestamp;

/// Why a request failed. Failures are counted per kind, never grouped by message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The server answered with a non-success HTTP status other than 401, 403, 429 and 529.
    HttpStatus,
    /// HTTP 429, or a provider's throttling exception.
    Throttled,
    /// The per-request timeout elapsed.
    Timeout,
    /// The run was stopped while the request was in flight.
    Cancelled,
    /// The response stream broke off or ended without completing.
    Stream,
    /// The response bytes could not be decoded (bad SSE, bad frame CRC, bad JSON).
    Decode,
    /// The provider reported an error inside an otherwise healthy stream.
    Provider,
    /// The request never got a response: network failure, refused connection or a CORS rejection
    /// (browsers do not let a page tell these apart).
    Network,
    /// HTTP 401 or 403: a missing or wrong key, or (AWS) a signature the server refused, e.g. for clock skew.
    Auth,
    /// The provider refused the request itself (AWS `validationException`): fix the payload or settings.
    InvalidRequest,
    /// Aborted on purpose by the run's cancellation injection (`cancel=20%@500ms`): neither a failure nor a
    /// success, its partial timings kept.
    CancelledByDesign,
}

impl ErrorKind {
    /// Every kind, in the order they are reported.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::HttpStatus,
        ErrorKind::Throttled,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::Stream,
        ErrorKind::Decode,
        ErrorKind::Provider,
        ErrorKind::Network,
        ErrorKind::Auth,
        ErrorKind::InvalidRequest,
        ErrorKind::CancelledByDesign,
    ];

    /// The stable key used in `stats.json` (`failed_requests_<key>`) and in `responses.jsonl`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Stream => "stream",
            ErrorKind::Decode => "decode",
            ErrorKind::Provider => "provider",
            ErrorKind::Network => "network",
            ErrorKind::Auth => "auth",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::CancelledByDesign => "cancelled_by_design",
        }
    }

    /// The kind named by [`ErrorKind::as_str`].
    pub fn parse(key: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == key)
    }

    /// The kind for an HTTP status that is not a success: 429 (rate limited) and Anthropic's 529 (overloaded)
    /// are throttling.
    pub const fn from_http_status(status: u16) -> ErrorKind {
        match status {
            429 | 529 => ErrorKind::Throttled,
            401 | 403 => ErrorKind::Auth,
            _ => ErrorKind::HttpStatus,
        }
    }
}

/// A failed request's typed kind and human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RequestError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RequestError {
            kind,
            message: message.into(),
        }
    }
}

/// When things happened to one request, on the run's monotonic clock.
///
/// For records imported from LLMeter files only durations are known: the importer places `dispatched_at` at the
/// origin and the other instants at their offsets, which gives the same derived durations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestTiming {
    /// When the scheduler wanted the request sent (open-loop arrival time, or the closed-loop slot).
    pub scheduled_at: Timestamp,
    /// When `fetch()` was called: the start of every latency (LLMeter's `start_t`).
    pub dispatched_at: Timestamp,
    /// When the response headers arrived.
    pub first_byte_at: Option<Timestamp>,
    /// Arrival of the first chunk carrying any output token, reasoning included.
    pub first_token_at: Option<Timestamp>,
    /// Arrival of the first chunk carrying visible output (reasoning excluded).
    pub first_visible_at: Option<Timestamp>,
    /// Arrival of the last chunk carrying output (not `[DONE]`, not the usage chunk).
    pub last_token_at: Option<Timestamp>,
    /// When the request finished: stream end, error, timeout or cancel.
    pub ended_at: Timestamp,
    /// Arrival time of every chunk that carried output, in order; their gaps are the inter-token latencies.
    pub token_chunk_times: Vec<Timestamp>,
}

/// Token counts, as the provider reported them (or as estimated when it did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    pub input: Option<u64>,
    /// Output tokens, reasoning included (as LLMeter counts them).
    pub output: Option<u64>,
    /// Prompt-cache read tokens: a subset of `input`.
    pub input_cached: Option<u64>,
    /// Reasoning tokens: a subset of `output`.
    pub output_reasoning: Option<u64>,
}

/// Which token counts were estimated (whitespace-separated words, LLMeter's DummyTokenizer) because the provider
/// reported none: such a count is a word count, not a token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EstimatedTokens {
    pub input: bool,
    pub output: bool,
}

impl EstimatedTokens {
    pub fn any(self) -> bool {
        self.input || self.output
    }
}

/// Latencies the provider measured itself (Bedrock `latencyMs`, `firstByteLatency`), when it reports them: set
/// beside the client's TTFT and TTLT, they tell how much of the latency is the service's and how much network and
/// client. `protocol`'s decoders report this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerLatency {
    /// From the service receiving the request to its first output byte (`firstByteLatency`).
    pub first_byte: Option<Duration>,
    /// The whole invocation on the service (`latencyMs`, `invocationLatency`).
    pub total: Option<Duration>,
}

/// Everything known about one finished request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestRecord {
    /// Provider response id, or a generated one.
    pub id: String,
    /// Wall-clock UTC time just before the request was sent, with sub-second precision.
    pub request_time: Option<DateTime<Utc>>,
    /// The payload as sent (JSON), when kept: shared by every record that sent the same payload.
    pub input_payload: Option<std::sync::Arc<serde_json::Value>>,
    /// Human-readable prompt text.
    pub input_prompt: Option<String>,
    /// Concatenated visible output; `None` in low-memory mode or when nothing visible was generated.
    pub response_text: Option<String>,
    pub timing: RequestTiming,
    pub tokens: TokenCounts,
    /// Which of `tokens` were estimated rather than reported.
    pub tokens_estimated: EstimatedTokens,
    /// Why the model stopped, as the provider said (`stop`, `length`, `end_turn`, `max_tokens`, …).
    pub finish_reason: Option<String>,
    /// Retries the client made inside this request's timing (AWS SDK `RetryAttempts` in LLMeter files).
    pub retries: Option<u32>,
    /// HTTP status of the response, when one arrived.
    pub http_status: Option<u16>,
    /// `Some` for a failed request. Partial timings of a failed request are kept but never enter distributions.
    pub error: Option<RequestError>,
    pub server_latency: ServerLatency,
    /// Time the browser held the request before sending it (queueing behind its connection limit), when the
    /// Resource Timing API exposes it.
    pub queued: Option<Duration>,
    /// Sent during the warm-up window: kept in files, excluded from statistics.
    pub warmup: bool,
    /// Multi-turn runs: which conversation and turn this request was.
    pub turn: Option<Turn>,
    /// The tokenizer that counted the estimated tokens (`None`: whitespace words, LLMeter's `DummyTokenizer`).
    pub tokens_counted_by: Option<crate::tokenizer::TokenizerKind>,
}

/// A request's place in a multi-turn conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Turn {
    /// The conversation: the request id of its first turn, so unique within a run.
    pub conversation: u64,
    /// 0 for the first turn.
    pub index: u32,
}

/// How a request ended, for counting: every record is exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Failed for a reason of the endpoint's or the network's (HTTP error, broken stream, timeout, …).
    Failed(ErrorKind),
    /// Ended by Stop (or by the deadline, when the plan cancels in-flight requests): never answered, so counted
    /// apart — not among the processed requests, as LLMeter's interrupted runs count only what they processed.
    Cancelled,
    /// Aborted on purpose by cancellation injection: counted apart from failures and successes too.
    CancelledByDesign,
}

impl RequestRecord {
    /// True when the request completed without error.
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }

    /// Whether the record's values enter distributions: a successful request sent after the warm-up, as
    /// `RunningStats` counts them. Charts use this so a figure and `stats.json` describe the same requests.
    pub fn in_distributions(&self) -> bool {
        !self.warmup && self.is_success()
    }

    /// How the request ended: the one rule that sets cancelled requests apart.
    pub fn outcome(&self) -> Outcome {
        match &self.error {
            None => Outcome::Succeeded,
            Some(e) if e.kind == ErrorKind::Cancelled => Outcome::Cancelled,
            Some(e) if e.kind == ErrorKind::CancelledByDesign => Outcome::CancelledByDesign,
            Some(e) => Outcome::Failed(e.kind),
        }
    }
}
