//! Pure wire codecs: one module per provider API ([`openai_chat`], [`openai_responses`], [`anthropic`]), each with
//! its request builder, response interpreter and response encoder, behind the one [`Api`] type.
//!
//! Framing is kept apart from meaning: [`framing`] turns bytes into messages (SSE events, or one whole JSON body)
//! and hands each message to the API's [`Interpreter`], which turns it into [`StreamEvent`]s. [`aws`] adds the AWS
//! event-stream framing, SigV4 signing and the Bedrock and SageMaker APIs, and feeds the same interpreters.
//! [`wire`] is the inverse: it writes an API's responses, for the simulated model, the tests and the mock server
//! alike.
//!
//! Must not import `core`, `engine`, `charts`, `browser` or `ui`; knows nothing of time or async. The engine stamps
//! each chunk's arrival time *before* handing its bytes to a decoder.

pub mod anthropic;
mod api;
pub mod aws;
pub mod framing;
pub mod openai_chat;
pub mod openai_responses;
pub mod payload_options;
pub mod sse;
pub mod wire;

pub use api::{Api, ApiEndpoint, Credential};

use thiserror::Error;

/// An HTTP request as plain data, ready for any transport to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which kind of output a delta carries: visible text, or reasoning the user does not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Visible,
    Reasoning,
}

/// Token usage as a provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub reasoning_output_tokens: Option<u64>,
}

/// One meaningful thing a provider's response stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The provider's response id.
    ResponseId(String),
    /// A piece of output. Empty only where the API's timing rule counts an empty delta (Responses'
    /// `response.output_text.delta`, as LLMeter does).
    Output { kind: OutputKind, text: String },
    /// Token usage (may arrive several times; later values win field by field).
    Usage(Usage),
    /// The model stopped generating.
    Stop { reason: Option<String> },
    /// The provider reported an error inside the stream.
    ProviderError { throttled: bool, message: String },
}

/// Latency the provider measured on its own side, as its response reports it (Bedrock ConverseStream's
/// `metadata.metrics.latencyMs`, InvokeModelWithResponseStream's `amazon-bedrock-invocationMetrics`): the record's
/// own type, so a decoder's report goes into the record as it is.
pub use tokenmeter_core::record::ServerLatency;

/// What a provider's error says about whose fault it is, for APIs that say more than "throttled or not".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Rate limited or overloaded (`ProviderError { throttled: true }`).
    Throttled,
    /// The provider failed (`ProviderError { throttled: false }`).
    Provider,
    /// The provider refused the request itself, as an HTTP 400 would (Bedrock's in-stream `validationException`);
    /// yielded as `ProviderError { throttled: false }`.
    Request,
}

/// Why a response could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The bytes are not valid for the wire format (bad UTF-8, bad frame, bad JSON).
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The stream ended before the format said it was complete.
    #[error("stream ended early: {0}")]
    Truncated(String),
}

/// How far a response has got towards its end, as its own events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Completion {
    /// Still generating: ending now would be truncation.
    #[default]
    Open,
    /// The model said it stopped (a finish or stop reason); the closing event may still follow.
    Finished,
    /// The API's terminal event arrived (`[DONE]`, `response.completed`, `message_stop`).
    Complete,
}

/// Turns one API's messages into events, whatever framed them. Sans-IO and never sees time.
pub trait Interpreter {
    /// One message of a streamed response: an SSE event's data (with its `event:` name, if any), or a
    /// message an outer framing (such as AWS event-stream) unwrapped.
    fn message(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError>;
    /// The whole body of a non-streamed response.
    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError>;
    /// How far the response has got.
    fn completion(&self) -> Completion;
    /// The event whose absence makes a stream truncated, for the error message.
    fn terminal_event(&self) -> &'static str;
    /// Latency the provider reported about this response so far (Bedrock only; `None` elsewhere).
    fn server_latency(&self) -> Option<ServerLatency> {
        None
    }
}

/// A sans-IO response decoder: fed the body in arbitrary chunks, it yields events as soon as they are complete.
pub trait ResponseDecoder {
    /// Decodes the next chunk of the body, appending complete events to `out`.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError>;
    /// Called at the end of the body: flushes what is buffered, or reports that the stream was cut short.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError>;
    /// True for token streams; false when output arrives in one body (then no token timing exists).
    fn is_streaming(&self) -> bool {
        true
    }
    /// True once the response said it is complete (e.g. `[DONE]`): anything after it cannot fail the request.
    fn is_complete(&self) -> bool {
        false
    }
    /// Latency the provider reported about this response, once it has (Bedrock's figures; `None` for APIs that
    /// report none). Read it after `finish`, or whenever the request ends.
    fn server_latency(&self) -> Option<ServerLatency> {
        None
    }
    /// The class of the first [`StreamEvent::ProviderError`] this decoder yielded, for APIs whose errors say more
    /// than `throttled` (AWS: `validationException` is the request's fault). `None`: go by `throttled`.
    fn error_class(&self) -> Option<ErrorClass> {
        None
    }
}
