//! The one answer generator for every API: *when* each piece of a response is sent. *What* is sent is the
//! route's encoder's business: a [`Wire`] names it and hands out its `tokenmeter_protocol::wire::Encoder`
//! (an `Api`'s SSE encoder, or an AWS event-stream encoder from `tokenmeter_protocol::aws`); nothing here
//! knows a wire shape.
//!
//! A streamed answer is the encoder's `head` at once (before the TTFT delay, as real servers send the
//! role chunk, `response.created` or `message_start`), then token `i` after its delay (TTFT for the first,
//! ITL after), then `finish`. An injected fault replaces token K, at the time it would have come: a dropped
//! connection (truncation), the API's `error_event` followed by a clean end of the body, or (event-stream
//! only) token K's frame with a broken CRC followed by a clean end. A non-streamed answer is the encoder's
//! `body`, sent once TTFT + one ITL per token have elapsed; there a disconnect aborts the body and an error
//! event becomes an HTTP error in the API's error shape.
//!
//! Where the API reports the server's own latency (Bedrock: ConverseStream's `metrics.latencyMs`,
//! InvokeModel's `amazon-bedrock-invocationMetrics` and `x-amzn-bedrock-invocation-latency`), the figures are
//! real: from the request's arrival to the first token (first-byte latency) and to the last (invocation
//! latency), measured here.
//!
//! Each answer reports to [`crate::metrics`] as it goes: its prompt and KV-cache tokens from its start until
//! its stream ends or is dropped, each output token as it is sent, and a clean end by its finish reason.
//!
//! The output is the literal text "tok tok tok …" (the first token without a leading space): one token per
//! event, so a client's token counts, TTFT and inter-token latency can be checked exactly.

use std::io;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::Stream;
use tokenmeter_protocol::aws::converse::ConverseEncoder;
use tokenmeter_protocol::aws::sagemaker::Container;
use tokenmeter_protocol::wire::{Encoder, Finish, Reply};
use tokenmeter_protocol::{Api, ServerLatency};
use tokio::time::sleep;

use crate::aws::{self, InvokeFamily, Service};
use crate::faults::{self, FaultKind, MidStream};
use crate::metrics::{InFlight, Metrics};
use crate::timing::Timing;

/// Which API writes an answer: it hands out the encoder (`head`, `token`, …) and adds what only some APIs
/// have: server latency in the closing events, event-stream framing, AWS error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI Chat, OpenAI Responses or Anthropic Messages: SSE, errors in the API's JSON shape.
    Api(Api),
    /// Bedrock Converse / ConverseStream.
    Converse,
    /// Bedrock InvokeModel / InvokeModelWithResponseStream with this model family's bodies.
    Invoke(InvokeFamily),
    /// SageMaker InvokeEndpoint / InvokeEndpointWithResponseStream with this container's output.
    SageMaker(Container),
}

impl Wire {
    /// The encoder that writes this API's bytes.
    pub fn encoder(self) -> &'static dyn Encoder {
        match self {
            Wire::Api(api) => api.encoder(),
            Wire::Converse => &ConverseEncoder,
            Wire::Invoke(family) => family.encoder(),
            Wire::SageMaker(format) => aws::sagemaker_encoder(format),
        }
    }

    /// The AWS service behind the route, if it is one.
    pub fn service(self) -> Option<Service> {
        match self {
            Wire::Api(_) => None,
            Wire::Converse | Wire::Invoke(_) => Some(Service::Bedrock),
            Wire::SageMaker(_) => Some(Service::SageMaker),
        }
    }

    /// The content type of a streamed answer.
    fn stream_content_type(self) -> &'static str {
        match self {
            Wire::Api(_) => "text/event-stream",
            _ => aws::EVENT_STREAM,
        }
    }

    /// The closing events, with the server latency where the API reports it.
    fn finish(
        self,
        reply: &Reply,
        n: u32,
        finish: Finish,
        include_usage: bool,
        latency: ServerLatency,
    ) -> Vec<u8> {
        let text = answer_text(n);
        match self {
            Wire::Converse => ConverseEncoder.finish_timed(reply, n, finish, latency),
            Wire::Invoke(family) => family.encoder().finish_timed(reply, &text, n, finish, latency),
            _ => self.encoder().finish(reply, &text, n, finish, include_usage),
        }
    }

    /// A whole non-streamed answer, with the server latency where the body reports it (Converse).
    fn body(self, reply: &Reply, n: u32, finish: Finish, latency: ServerLatency) -> Vec<u8> {
        let text = answer_text(n);
        match self {
            Wire::Converse => ConverseEncoder.body_timed(reply, &text, n, finish, latency),
            _ => self.encoder().body(reply, &text, n, finish),
        }
    }

    /// The in-stream error of `kind`.
    fn error_event(self, reply: &Reply, kind: FaultKind) -> Vec<u8> {
        match self {
            Wire::Api(api) => faults::stream_error_event(api, reply, kind),
            _ => aws::stream_exception(self, reply, kind),
        }
    }

    /// An HTTP error response in the API's shape.
    pub fn error_response(self, status: StatusCode, message: &str) -> Response {
        match self {
            Wire::Api(api) => faults::error_response(api, status, message),
            Wire::Converse | Wire::Invoke(_) => Service::Bedrock.error_response(status, message),
            Wire::SageMaker(_) => Service::SageMaker.error_response(status, message),
        }
    }
}

/// Everything needed to produce one answer.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Who writes the bytes.
    pub wire: Wire,
    /// When the request arrived: the start of the server latency the AWS APIs report.
    pub started: Instant,
    pub reply: Reply,
    pub timing: Timing,
    /// How the answer ends when no fault cuts it short.
    pub finish: Finish,
    /// Chat Completions' `stream_options.include_usage` (the other APIs always report usage).
    pub include_usage: bool,
    /// Stop after this many tokens in this way.
    pub mid_stream: Option<(u32, MidStream)>,
    /// Where the answer reports its tokens and its end.
    pub metrics: Metrics,
}

/// The next thing a stream emits.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The encoder's head, at once.
    Head,
    /// Output token `i`.
    Token(u32),
    /// The injected fault, at the time token `i` would have come.
    Fault(u32, MidStream),
    /// The closing events.
    Finish,
    End,
}

/// Token `i`'s text: "tok", then " tok", so the whole answer is "tok tok tok …".
pub fn token_text(i: u32) -> &'static str {
    if i == 0 {
        "tok"
    } else {
        " tok"
    }
}

/// The text of the first `n` tokens.
pub fn answer_text(n: u32) -> String {
    (0..n).map(token_text).collect()
}

impl Generation {
    fn encoder(&self) -> &'static dyn Encoder {
        self.wire.encoder()
    }

    /// How many tokens are sent before the answer ends or fails.
    pub fn sent_tokens(&self) -> u32 {
        match self.mid_stream {
            Some((after, _)) => after.min(self.timing.tokens),
            None => self.timing.tokens,
        }
    }

    fn step_at(&self, i: u32) -> Step {
        match self.mid_stream {
            _ if i < self.sent_tokens() => Step::Token(i),
            Some((_, fault)) => Step::Fault(i, fault),
            None => Step::Finish,
        }
    }

    /// The wait before token `i` (TTFT for the first, then one ITL per token).
    fn delay_before(&self, i: u32) -> Duration {
        if i == 0 {
            self.timing.ttft
        } else {
            self.timing.itl
        }
    }

    /// Emits `step` after its delay and says what comes next; `first` is when the first token went out.
    async fn emit(
        &self,
        step: Step,
        first: &mut Option<Instant>,
        in_flight: &mut InFlight,
    ) -> Option<(Result<Bytes, io::Error>, Step)> {
        let reply = &self.reply;
        let (item, next) = match step {
            Step::Head => (Ok(self.encoder().head(reply)), self.step_at(0)),
            Step::Token(i) => {
                sleep(self.delay_before(i)).await;
                let bytes = self.encoder().token(reply, i, token_text(i));
                first.get_or_insert_with(Instant::now);
                in_flight.sent(1);
                (Ok(bytes), self.step_at(i + 1))
            }
            Step::Fault(i, MidStream::Disconnect) => {
                sleep(self.delay_before(i)).await;
                (Err(disconnect()), Step::End)
            }
            Step::Fault(i, MidStream::ErrorEvent(kind)) => {
                sleep(self.delay_before(i)).await;
                (Ok(self.wire.error_event(reply, kind)), Step::End)
            }
            Step::Fault(i, MidStream::Corrupt) => {
                sleep(self.delay_before(i)).await;
                let frame = self.encoder().token(reply, i, token_text(i));
                (Ok(aws::corrupt(frame)), Step::End)
            }
            Step::Finish => {
                let n = self.timing.tokens;
                if n == 0 {
                    // Even an empty answer takes the time to first token.
                    sleep(self.timing.ttft).await;
                }
                let total = self.started.elapsed();
                let latency = ServerLatency {
                    first_byte: Some(first.map_or(total, |t| t.duration_since(self.started))),
                    total: Some(total),
                };
                let bytes = self
                    .wire
                    .finish(reply, n, self.finish, self.include_usage, latency);
                in_flight.succeeded(self.finish);
                (Ok(bytes), Step::End)
            }
            Step::End => return None,
        };
        Some((item.map(Bytes::from), next))
    }

    /// Each step is its own body frame, so hyper writes it to the socket as soon as it exists. `in_flight`
    /// lives as long as the stream: it is dropped at the end or when the client goes away.
    fn events(self, in_flight: InFlight) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
        futures_util::stream::unfold(
            (self, Step::Head, None, in_flight),
            |(generation, step, mut first, mut in_flight)| async move {
                let (item, next) = generation.emit(step, &mut first, &mut in_flight).await?;
                Some((item, (generation, next, first, in_flight)))
            },
        )
    }

    /// The streamed answer (`text/event-stream`, or AWS's `application/vnd.amazon.eventstream`); its body is
    /// produced as time passes.
    pub fn stream(self) -> Response {
        let content_type = self.wire.stream_content_type();
        let in_flight = self.metrics.start(self.reply.input_tokens);
        let mut response = Response::new(Body::from_stream(self.events(in_flight)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// The non-streamed answer, sent once the whole "generation" (TTFT + one ITL per token) has elapsed.
    pub async fn json(self) -> Response {
        let mut in_flight = self.metrics.start(self.reply.input_tokens);
        let sent = self.sent_tokens();
        let elapsed = self
            .timing
            .itl
            .checked_mul(sent)
            .unwrap_or(Duration::MAX)
            .saturating_add(self.timing.ttft);
        sleep(elapsed).await;
        match self.mid_stream {
            Some((_, MidStream::Disconnect)) => {
                let abort = futures_util::stream::once(async { Err::<Bytes, _>(disconnect()) });
                Response::new(Body::from_stream(abort))
            }
            Some((_, MidStream::ErrorEvent(kind))) => self
                .wire
                .error_response(faults::error_status(kind), faults::STREAM_ERROR_MESSAGE),
            // `Faults::check` keeps corrupt frames to event streams; a body has no frame to break.
            None | Some((_, MidStream::Corrupt)) => {
                let total = self.started.elapsed();
                let latency = ServerLatency {
                    first_byte: None,
                    total: Some(total),
                };
                let body = self.wire.body(&self.reply, sent, self.finish, latency);
                in_flight.sent(u64::from(sent));
                in_flight.succeeded(self.finish);
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::OK;
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Wire::Invoke(_) = self.wire {
                    // InvokeModel reports the service's figures in headers (its body is the model's own).
                    let values = [
                        (aws::INVOCATION_LATENCY_HEADER, total.as_millis().to_string()),
                        (aws::INPUT_TOKENS_HEADER, self.reply.input_tokens.to_string()),
                        (aws::OUTPUT_TOKENS_HEADER, sent.to_string()),
                    ];
                    for (name, value) in values {
                        if let Ok(value) = HeaderValue::from_str(&value) {
                            headers.insert(HeaderName::from_static(name), value);
                        }
                    }
                }
                response
            }
        }
    }
}

/// The error that makes hyper abort the connection instead of finishing the chunked body.
fn disconnect() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "mock-llm: injected disconnect")
}
