//! OpenAI Chat Completions (`POST /v1/chat/completions`): request reading, the `chat.completion.chunk`
//! SSE stream, the non-streaming `chat.completion` body, and the faults injected into either.
//!
//! The output is the literal text "tok tok tok …": one token per chunk, so a client's token counts,
//! TTFT and inter-token latency can be checked exactly against the knobs in [`crate::timing`].

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use futures_util::Stream;
use serde_json::{json, Value};
use tokio::time::sleep;

use crate::faults::{self, Faults, MidStream};
use crate::timing::{Knobs, Timing, ITL_HEADER, TOKENS_HEADER, TTFT_HEADER};
use crate::{Config, MOCK_MODEL, REQUEST_ID_HEADER};

/// Overrides `stream_options.include_usage` (`1`/`0`/`true`/`false`), e.g. for clients that cannot set it.
pub const INCLUDE_USAGE_HEADER: &str = "x-mock-include-usage";

/// The handler for `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(config): State<Config>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = crate::new_request_id();
    let mut response = respond(&config, &uri, &headers, &body, id.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

async fn respond(config: &Config, uri: &Uri, headers: &HeaderMap, body: &[u8], id: String) -> Response {
    let knobs = Knobs::new(headers, uri.query());
    let faults = match Faults::resolve(&knobs) {
        Ok(faults) => faults,
        Err(e) => return faults::error_response(StatusCode::BAD_REQUEST, &e.0),
    };
    if let Some(status) = faults.status {
        return faults::injected_status(status);
    }
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) if value.is_object() => value,
            _ => {
                return faults::error_response(StatusCode::BAD_REQUEST, "mock-llm: body is not a JSON object")
            }
        }
    };
    let max_tokens = request["max_completion_tokens"]
        .as_u64()
        .or(request["max_tokens"].as_u64());
    let timing = match Timing::resolve(&knobs, config, max_tokens) {
        Ok(timing) => timing,
        Err(e) => return faults::error_response(StatusCode::BAD_REQUEST, &e.0),
    };
    let include_usage = match knobs.get::<Flag>(INCLUDE_USAGE_HEADER, "include_usage") {
        Ok(flag) => flag.map(|f| f.0),
        Err(e) => return faults::error_response(StatusCode::BAD_REQUEST, &e.0),
    };
    let completion = Completion {
        id,
        created: crate::unix_seconds(),
        model: request["model"].as_str().unwrap_or(MOCK_MODEL).to_owned(),
        timing,
        prompt_tokens: prompt_tokens(&request),
        include_usage: include_usage.unwrap_or_else(|| {
            request["stream_options"]["include_usage"]
                .as_bool()
                .unwrap_or(false)
        }),
        mid_stream: faults.mid_stream,
    };
    let mut response = if request["stream"].as_bool().unwrap_or(false) {
        stream_response(completion)
    } else {
        json_completion(completion).await
    };
    echo_timing(&mut response, &timing);
    response
}

/// Echoes the effective knob values, so a test (or a curious developer) can see which source won.
fn echo_timing(response: &mut Response, timing: &Timing) {
    let values = [
        (TTFT_HEADER, timing.ttft.as_millis().to_string()),
        (ITL_HEADER, timing.itl.as_millis().to_string()),
        (TOKENS_HEADER, timing.tokens.to_string()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// A lenient boolean for knobs: `1`, `0`, `true`, `false`, `yes`, `no`.
struct Flag(bool);

impl std::str::FromStr for Flag {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Ok(Flag(true)),
            "0" | "false" | "no" => Ok(Flag(false)),
            _ => Err(()),
        }
    }
}

/// Whitespace-separated words in every message's text: a string `content`, or the `text` of its parts.
pub fn prompt_tokens(request: &Value) -> u64 {
    let words = |text: &str| text.split_whitespace().count() as u64;
    let messages = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    messages
        .iter()
        .map(|message| match &message["content"] {
            Value::String(text) => words(text),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .map(words)
                .sum(),
            _ => 0,
        })
        .sum()
}

/// Everything needed to produce one response.
struct Completion {
    id: String,
    created: u64,
    model: String,
    timing: Timing,
    prompt_tokens: u64,
    include_usage: bool,
    mid_stream: Option<(u32, MidStream)>,
}

/// The next thing a stream emits.
#[derive(Clone, Copy)]
enum Step {
    /// Content token `i` (token 0 also carries the role).
    Token(u32),
    /// The injected fault, at the time token `i` would have come.
    Fault(u32, MidStream),
    Finish,
    Usage,
    Done,
    End,
}

impl Completion {
    /// How many content tokens are sent before the stream ends or fails.
    fn sent_tokens(&self) -> u32 {
        match self.mid_stream {
            Some((after, _)) => after.min(self.timing.tokens),
            None => self.timing.tokens,
        }
    }

    fn first_step(&self) -> Step {
        // Zero tokens still gets the role chunk (with empty content), as real servers send it.
        if self.timing.tokens == 0 && self.mid_stream.is_none() {
            Step::Token(0)
        } else {
            self.step_at(0)
        }
    }

    fn step_at(&self, i: u32) -> Step {
        match self.mid_stream {
            _ if i < self.sent_tokens() => Step::Token(i),
            Some((_, fault)) => Step::Fault(i, fault),
            None => Step::Finish,
        }
    }

    /// Time from the request until token `i` (TTFT for the first, then one ITL per token).
    fn delay_before(&self, i: u32) -> Duration {
        if i == 0 {
            self.timing.ttft
        } else {
            self.timing.itl
        }
    }

    fn token_text(&self, i: u32) -> &'static str {
        match (self.timing.tokens, i) {
            (0, _) => "",
            (_, 0) => "tok",
            _ => " tok",
        }
    }

    fn usage(&self, completion_tokens: u32) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + u64::from(completion_tokens),
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        })
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        // OpenAI puts `"usage": null` on every chunk but the last when usage is requested.
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn usage_chunk(&self) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": self.usage(self.timing.tokens),
        })
    }

    /// Emits `step` after its delay and says what comes next.
    async fn emit(&self, step: Step) -> Option<(Result<Bytes, io::Error>, Step)> {
        let (item, next) = match step {
            Step::Token(i) => {
                sleep(self.delay_before(i)).await;
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": self.token_text(i)})
                } else {
                    json!({"content": self.token_text(i)})
                };
                (Ok(sse(&self.chunk(delta, None))), self.step_at(i + 1))
            }
            Step::Fault(i, MidStream::Disconnect) => {
                sleep(self.delay_before(i)).await;
                (Err(disconnect()), Step::End)
            }
            Step::Fault(i, MidStream::ErrorEvent) => {
                sleep(self.delay_before(i)).await;
                (Ok(sse(&faults::stream_error_event())), Step::End)
            }
            Step::Finish => {
                let next = if self.include_usage {
                    Step::Usage
                } else {
                    Step::Done
                };
                (Ok(sse(&self.chunk(json!({}), Some("stop")))), next)
            }
            Step::Usage => (Ok(sse(&self.usage_chunk())), Step::Done),
            Step::Done => (Ok(Bytes::from_static(b"data: [DONE]\n\n")), Step::End),
            Step::End => return None,
        };
        Some((item, next))
    }
}

/// One SSE event; each is its own body frame, so hyper writes it to the socket as soon as it exists.
fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// The error that makes hyper abort the connection instead of finishing the chunked body.
fn disconnect() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "mock-llm: injected disconnect")
}

fn events(completion: Completion) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
    let first = completion.first_step();
    futures_util::stream::unfold((completion, first), |(completion, step)| async move {
        let (item, next) = completion.emit(step).await?;
        Some((item, (completion, next)))
    })
}

fn stream_response(completion: Completion) -> Response {
    let mut response = Response::new(Body::from_stream(events(completion)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The non-streaming answer, sent once the whole "generation" (TTFT + one ITL per token) has elapsed.
async fn json_completion(completion: Completion) -> Response {
    let sent = completion.sent_tokens();
    let timing = completion.timing;
    let elapsed = timing
        .itl
        .checked_mul(sent)
        .unwrap_or(Duration::MAX)
        .saturating_add(timing.ttft);
    sleep(elapsed).await;
    match completion.mid_stream {
        Some((_, MidStream::Disconnect)) => {
            let abort = futures_util::stream::once(async { Err::<Bytes, _>(disconnect()) });
            Response::new(Body::from_stream(abort))
        }
        Some((_, MidStream::ErrorEvent)) => {
            let error = faults::stream_error_event();
            crate::json_response(StatusCode::INTERNAL_SERVER_ERROR, &error)
        }
        None => {
            let content = (0..sent).map(|i| completion.token_text(i)).collect::<String>();
            let body = json!({
                "id": completion.id,
                "object": "chat.completion",
                "created": completion.created,
                "model": completion.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": completion.usage(sent),
            });
            crate::json_response(StatusCode::OK, &body)
        }
    }
}
