//! One request's lifecycle: send, stamp every chunk on arrival, decode, and fold the events into a
//! [`RequestRecord`]. Every path — success, HTTP error, broken stream, timeout, cancel — ends in exactly one record.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{self, Either, LocalBoxFuture};
use futures::{FutureExt, StreamExt};
use serde_json::Value;

use crate::cancel::CancelToken;
use crate::{Clock, Transport};
use tokenmeter_core::plan::CancelAfter;
use tokenmeter_core::record::{ErrorKind, RequestError, RequestRecord, RequestTiming, TokenCounts};
use tokenmeter_core::time::Timestamp;
use tokenmeter_protocol::{ErrorClass, HttpRequest, OutputKind, ProtocolError, ResponseDecoder, StreamEvent};

/// At most this much of an error response's body is read for its message.
const ERROR_BODY_LIMIT: usize = 4096;

/// A request ready to send, with the decoder for its response.
pub struct PreparedRequest {
    pub http: HttpRequest,
    pub decoder: Box<dyn ResponseDecoder>,
    /// Used as the record's id when the provider sends none.
    pub fallback_id: String,
    pub input_prompt: Option<String>,
    pub input_payload: Option<Arc<Value>>,
}

/// Per-request behaviour set by the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestOptions {
    /// The request fails as [`ErrorKind::Timeout`] if it has not finished this long after dispatch.
    pub timeout: Option<Duration>,
    /// Keep the response text (off in low-memory mode).
    pub keep_text: bool,
    /// Abort the request on purpose (cancellation injection): it ends as [`ErrorKind::CancelledByDesign`].
    pub abandon: Option<CancelAfter>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            timeout: Some(Duration::from_secs(60)),
            keep_text: true,
            abandon: None,
        }
    }
}

/// Why waiting stopped early.
enum Interrupt {
    Timeout,
    Cancelled,
    /// Injected cancellation, after its delay or its tokens.
    Abandoned,
}

/// Sends `prepared` now and returns its record once it has ended one way or another.
pub async fn execute<T: Transport + ?Sized, C: Clock + ?Sized>(
    transport: &T,
    clock: &C,
    prepared: PreparedRequest,
    scheduled_at: Timestamp,
    options: RequestOptions,
    cancel: &CancelToken,
) -> RequestRecord {
    let dispatched_at = clock.now();
    let mut decoder = prepared.decoder;
    let mut folder = RecordFolder::new(
        &prepared.input_payload,
        &prepared.input_prompt,
        &prepared.fallback_id,
        Stamps {
            scheduled_at,
            dispatched_at,
            wall: clock.wall_time(),
        },
        options,
        decoder.is_streaming(),
    );
    let url = prepared.http.url.clone();

    let timeout: LocalBoxFuture<'static, ()> = match options.timeout {
        Some(t) => clock.sleep_until(dispatched_at.plus(t)),
        None => future::pending().boxed_local(),
    };
    let abandon: LocalBoxFuture<'static, ()> = match options.abandon {
        Some(CancelAfter::Delay(d)) => clock.sleep_until(dispatched_at.plus(d)),
        _ => future::pending().boxed_local(),
    };
    let abandon_after_tokens = match options.abandon {
        Some(CancelAfter::Tokens(n)) => Some(n as usize),
        _ => None,
    };
    let mut stop: Pin<Box<dyn Future<Output = Interrupt>>> = Box::pin(
        future::select(future::select(timeout, abandon), cancel.cancelled()).map(|e| match e {
            Either::Left((Either::Left(_), _)) => Interrupt::Timeout,
            Either::Left((Either::Right(_), _)) => Interrupt::Abandoned,
            Either::Right(_) => Interrupt::Cancelled,
        }),
    );
    // When the response said it was complete (`[DONE]`): a later timeout, cancel or broken connection cannot
    // turn a complete answer into a failure, and the request ended then.
    let mut completed_at = None;

    let outcome = async {
        let response = match future::select(transport.send(prepared.http), &mut stop).await {
            Either::Left((Ok(r), _)) => r,
            Either::Left((Err(e), _)) => return Err(e),
            Either::Right((why, _)) => return Err(interrupted(why)),
        };
        folder.record.http_status = Some(response.status);
        folder.record.timing.first_byte_at = Some(response.headers_at);
        let status = response.status;
        if !(200..300).contains(&status) {
            return Err(http_error(status, response.body, &mut stop).await);
        }
        let mut body = response.body;
        let mut events = Vec::new();
        loop {
            let next = match future::select(body.next(), &mut stop).await {
                Either::Left((next, _)) => next,
                Either::Right(_) if completed_at.is_some() => return Ok(()),
                Either::Right((why, _)) => return Err(interrupted(why)),
            };
            match next {
                None => break,
                Some(Err(_)) if completed_at.is_some() => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => {
                    decoder.push(&chunk.bytes, &mut events).map_err(protocol_error)?;
                    folder
                        .fold(&mut events, chunk.received_at)
                        .map_err(|e| classify(e, decoder.as_ref()))?;
                    if completed_at.is_none() && decoder.is_complete() {
                        completed_at = Some(chunk.received_at);
                    }
                    let tokens = folder.record.timing.token_chunk_times.len();
                    if completed_at.is_none() && abandon_after_tokens.is_some_and(|n| tokens >= n) {
                        return Err(interrupted(Interrupt::Abandoned));
                    }
                }
            }
        }
        decoder.finish(&mut events).map_err(protocol_error)?;
        let now = clock.now();
        folder
            .fold(&mut events, now)
            .map_err(|e| classify(e, decoder.as_ref()))?;
        Ok(())
    }
    .await;

    let ended_at = completed_at.unwrap_or_else(|| clock.now());
    let mut record = folder.finish(outcome.err(), ended_at);
    if let Some(latency) = decoder.server_latency() {
        record.server_latency = latency;
    }
    record.queued = transport.queue_time(&url, dispatched_at, ended_at);
    record
}

/// The error for a non-success status, with the start of its body as the message. The status decides the kind
/// even if reading the body is then cut short.
async fn http_error(
    status: u16,
    mut body: futures::stream::LocalBoxStream<'static, Result<crate::Chunk, RequestError>>,
    stop: &mut Pin<Box<dyn Future<Output = Interrupt>>>,
) -> RequestError {
    let mut text = Vec::new();
    while text.len() < ERROR_BODY_LIMIT {
        match future::select(body.next(), &mut *stop).await {
            Either::Left((Some(Ok(chunk)), _)) => text.extend_from_slice(&chunk.bytes),
            _ => break,
        }
    }
    text.truncate(ERROR_BODY_LIMIT);
    let text = String::from_utf8_lossy(&text);
    RequestError::new(
        ErrorKind::from_http_status(status),
        format!("HTTP {status}: {}", text.trim()),
    )
}

/// A provider error's kind, refined by what the decoder knows of its class (AWS says more than "throttled or
/// not": a `validationException` is the request's fault).
fn classify(mut error: RequestError, decoder: &dyn ResponseDecoder) -> RequestError {
    if matches!(error.kind, ErrorKind::Provider | ErrorKind::Throttled) {
        error.kind = match decoder.error_class() {
            Some(ErrorClass::Request) => ErrorKind::InvalidRequest,
            Some(ErrorClass::Throttled) => ErrorKind::Throttled,
            Some(ErrorClass::Provider) => ErrorKind::Provider,
            None => error.kind,
        };
    }
    error
}

fn interrupted(why: Interrupt) -> RequestError {
    match why {
        Interrupt::Timeout => RequestError::new(ErrorKind::Timeout, "request timed out"),
        Interrupt::Cancelled => RequestError::new(
            ErrorKind::Cancelled,
            "run stopped while the request was in flight",
        ),
        Interrupt::Abandoned => RequestError::new(
            ErrorKind::CancelledByDesign,
            "aborted on purpose by the run's cancellation injection",
        ),
    }
}

fn protocol_error(e: ProtocolError) -> RequestError {
    let kind = match e {
        ProtocolError::Malformed(_) => ErrorKind::Decode,
        ProtocolError::Truncated(_) => ErrorKind::Stream,
    };
    RequestError::new(kind, e.to_string())
}

/// Builds the record from decoded events as they arrive, so a failure keeps everything seen before it.
struct RecordFolder {
    record: RequestRecord,
    keep_text: bool,
    /// Token streams stamp output times; a one-body response has no token timing (TTFT is undefined).
    stamp_tokens: bool,
    text: String,
    saw_visible: bool,
    visible_words: u64,
}

/// The instants and wall time a request starts with.
struct Stamps {
    scheduled_at: Timestamp,
    dispatched_at: Timestamp,
    wall: chrono::DateTime<chrono::Utc>,
}

impl RecordFolder {
    fn new(
        input_payload: &Option<Arc<Value>>,
        input_prompt: &Option<String>,
        fallback_id: &str,
        stamps: Stamps,
        options: RequestOptions,
        stamp_tokens: bool,
    ) -> Self {
        RecordFolder {
            record: RequestRecord {
                id: fallback_id.to_owned(),
                request_time: Some(stamps.wall),
                input_payload: input_payload.clone(),
                input_prompt: input_prompt.clone(),
                timing: RequestTiming {
                    scheduled_at: stamps.scheduled_at,
                    dispatched_at: stamps.dispatched_at,
                    ..Default::default()
                },
                ..Default::default()
            },
            keep_text: options.keep_text,
            stamp_tokens,
            text: String::new(),
            saw_visible: false,
            visible_words: 0,
        }
    }

    /// Applies the events of one chunk that arrived at `at`. A provider error event ends the request.
    fn fold(&mut self, events: &mut Vec<StreamEvent>, at: Timestamp) -> Result<(), RequestError> {
        let timing = &mut self.record.timing;
        let mut carried_output = false;
        for event in events.drain(..) {
            match event {
                StreamEvent::ResponseId(id) => self.record.id = id,
                StreamEvent::Output { kind, text } => {
                    carried_output = self.stamp_tokens;
                    if self.stamp_tokens {
                        timing.first_token_at.get_or_insert(at);
                    }
                    if kind == OutputKind::Visible {
                        if self.stamp_tokens {
                            timing.first_visible_at.get_or_insert(at);
                        }
                        self.saw_visible = true;
                        self.visible_words += count_words_across(&self.text, &text);
                        if self.keep_text {
                            self.text.push_str(&text);
                        } else {
                            // Keep only the last character, so word boundaries across chunks stay countable.
                            self.text = text.chars().last().map(String::from).unwrap_or_default();
                        }
                    }
                }
                StreamEvent::Usage(u) => {
                    let t = &mut self.record.tokens;
                    t.input = u.input_tokens.or(t.input);
                    t.output = u.output_tokens.or(t.output);
                    t.input_cached = u.cached_input_tokens.or(t.input_cached);
                    t.output_reasoning = u.reasoning_output_tokens.or(t.output_reasoning);
                }
                StreamEvent::Stop { reason } => {
                    self.record.finish_reason = reason.or(self.record.finish_reason.take())
                }
                StreamEvent::ProviderError { throttled, message } => {
                    let kind = if throttled {
                        ErrorKind::Throttled
                    } else {
                        ErrorKind::Provider
                    };
                    return Err(RequestError::new(kind, message));
                }
            }
        }
        if carried_output {
            timing.last_token_at = Some(at);
            timing.token_chunk_times.push(at);
        }
        Ok(())
    }

    fn finish(mut self, error: Option<RequestError>, ended_at: Timestamp) -> RequestRecord {
        self.record.timing.ended_at = ended_at;
        if self.keep_text && self.saw_visible {
            self.record.response_text = Some(self.text);
        }
        if error.is_none() {
            // LLMeter's fallback for providers that report no usage: count whitespace-separated words (its
            // DummyTokenizer). Skipped for failed requests, as LLMeter does.
            let TokenCounts { input, output, .. } = &mut self.record.tokens;
            let estimated = &mut self.record.tokens_estimated;
            if input.is_none() {
                *input = self
                    .record
                    .input_prompt
                    .as_deref()
                    .map(|p| p.split_whitespace().count() as u64);
                estimated.input = input.is_some();
            }
            if output.is_none() {
                *output = Some(self.visible_words);
                estimated.output = true;
            }
        }
        self.record.error = error;
        self.record
    }
}

/// Words that `next` adds to text ending in `before`'s last character (a word split across chunks counts once).
fn count_words_across(before: &str, next: &str) -> u64 {
    let continues = before.chars().last().is_some_and(|c| !c.is_whitespace())
        && next.chars().next().is_some_and(|c| !c.is_whitespace());
    let words = next.split_whitespace().count() as u64;
    if continues {
        words.saturating_sub(1)
    } else {
        words
    }
}

#[cfg(test)]
mod tests {
    use super::count_words_across;

    #[test]
    fn words_split_across_chunks_count_once() {
        assert_eq!(count_words_across("", "tok"), 1);
        assert_eq!(count_words_across("tok", " tok"), 1);
        assert_eq!(count_words_across("to", "k tok"), 1);
        assert_eq!(count_words_across("tok ", "tok"), 1);
        assert_eq!(count_words_across("a", ""), 0);
    }
}
