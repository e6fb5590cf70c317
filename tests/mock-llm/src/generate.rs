//! The one answer generator for every API: *when* each piece of a response is sent. *What* is sent is the
//! route's encoder's business (`tokenmeter::protocol::wire::Encoder`); nothing here knows a wire shape.
//!
//! A streamed answer is the encoder's `head` at once (before the TTFT delay, as real servers send the
//! role chunk, `response.created` or `message_start`), then token `i` after its delay (TTFT for the first,
//! ITL after), then `finish`. An injected fault replaces token K, at the time it would have come: a dropped
//! connection (truncation) or the API's `error_event` followed by a clean end of the body. A non-streamed
//! answer is the encoder's `body`, sent once TTFT + one ITL per token have elapsed; there a disconnect aborts
//! the body and an error event becomes an HTTP error in the API's error shape.
//!
//! The output is the literal text "tok tok tok …" (the first token without a leading space): one token per
//! event, so a client's token counts, TTFT and inter-token latency can be checked exactly.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::Stream;
use tokenmeter::protocol::wire::{Encoder, Finish, Reply};
use tokenmeter::protocol::Api;
use tokio::time::sleep;

use crate::faults::{self, MidStream};
use crate::timing::Timing;

/// Everything needed to produce one answer.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Whose encoder writes the bytes.
    pub api: Api,
    pub reply: Reply,
    pub timing: Timing,
    /// How the answer ends when no fault cuts it short.
    pub finish: Finish,
    /// Chat Completions' `stream_options.include_usage` (the other APIs always report usage).
    pub include_usage: bool,
    /// Stop after this many tokens in this way.
    pub mid_stream: Option<(u32, MidStream)>,
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
        self.api.encoder()
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

    /// Emits `step` after its delay and says what comes next.
    async fn emit(&self, step: Step) -> Option<(Result<Bytes, io::Error>, Step)> {
        let reply = &self.reply;
        let (item, next) = match step {
            Step::Head => (Ok(self.encoder().head(reply)), self.step_at(0)),
            Step::Token(i) => {
                sleep(self.delay_before(i)).await;
                let bytes = self.encoder().token(reply, i, token_text(i));
                (Ok(bytes), self.step_at(i + 1))
            }
            Step::Fault(i, MidStream::Disconnect) => {
                sleep(self.delay_before(i)).await;
                (Err(disconnect()), Step::End)
            }
            Step::Fault(i, MidStream::ErrorEvent(fault)) => {
                sleep(self.delay_before(i)).await;
                (Ok(faults::stream_error_event(self.api, reply, fault)), Step::End)
            }
            Step::Finish => {
                let n = self.timing.tokens;
                if n == 0 {
                    // Even an empty answer takes the time to first token.
                    sleep(self.timing.ttft).await;
                }
                let text = answer_text(n);
                let bytes = self
                    .encoder()
                    .finish(reply, &text, n, self.finish, self.include_usage);
                (Ok(bytes), Step::End)
            }
            Step::End => return None,
        };
        Some((item.map(Bytes::from), next))
    }

    /// Each step is its own body frame, so hyper writes it to the socket as soon as it exists.
    fn events(self) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
        futures_util::stream::unfold((self, Step::Head), |(generation, step)| async move {
            let (item, next) = generation.emit(step).await?;
            Some((item, (generation, next)))
        })
    }

    /// The streamed answer (`text/event-stream`); its body is produced as time passes.
    pub fn stream(self) -> Response {
        let mut response = Response::new(Body::from_stream(self.events()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// The non-streamed answer, sent once the whole "generation" (TTFT + one ITL per token) has elapsed.
    pub async fn json(self) -> Response {
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
            Some((_, MidStream::ErrorEvent(fault))) => faults::error_response(
                self.api,
                faults::error_status(fault),
                faults::STREAM_ERROR_MESSAGE,
            ),
            None => {
                let body = self
                    .encoder()
                    .body(&self.reply, &answer_text(sent), sent, self.finish);
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::OK;
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
        }
    }
}

/// The error that makes hyper abort the connection instead of finishing the chunked body.
fn disconnect() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "mock-llm: injected disconnect")
}
