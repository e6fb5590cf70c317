//! A simulated OpenAI-compatible LLM behind the [`Transport`] port: the app's default "Simulated endpoint", so a
//! first run needs no credentials, and a realistic load for engine tests.
//!
//! It answers with real `chat.completion.chunk` SSE bytes (role, one content token per chunk, finish reason, the
//! `usage` chunk and `[DONE]`), decoded by the real `protocol::openai` decoders, and paced by the shared [`Clock`]
//! only — so it runs natively, in the browser, and under a `ManualClock`. Every request's behaviour is drawn from
//! its own seeded stream (`seed`, request sequence number): runs replay exactly.

use std::cell::Cell;

use futures::future::LocalBoxFuture;
use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::core::record::{ErrorKind, RequestError};
use crate::core::rng::SeededRng;
use crate::core::time::Timestamp;
use crate::engine::{Chunk, Clock, HttpResponse, Transport};
use crate::protocol::openai::{prompt_text, ChatCompletions};
use crate::protocol::HttpRequest;

/// The URL the UI uses for the simulated endpoint (never fetched: the transport ignores URLs).
pub const SIMULATED_URL: &str = "simulated://tokenmeter/v1/chat/completions";

/// Shortest simulated response time. A zero-time response would let a time-bound closed loop spin forever
/// under a `ManualClock` (time only moves through timers).
const MIN_LATENCY_SECS: f64 = 1e-6;

/// Words the simulated model "generates", one per token.
const WORDS: [&str; 12] = [
    "simulated",
    "tokens",
    "arrive",
    "one",
    "by",
    "one",
    "as",
    "a",
    "real",
    "model",
    "would",
    "stream",
];

/// A small seeded distribution of non-negative values (seconds, or token counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Fixed(f64),
    /// Uniform in `[lo, hi)`.
    Uniform {
        lo: f64,
        hi: f64,
    },
    /// Normal, clamped at 0.
    Normal {
        mean: f64,
        std_dev: f64,
    },
    /// Log-normal: `median × e^(sigma·Z)`; right-skewed like real latencies.
    LogNormal {
        median: f64,
        sigma: f64,
    },
}

impl Dist {
    /// One draw, never negative. Every variant consumes the same number of draws from `rng` (two), so one
    /// request's later values do not depend on which variant an earlier one used.
    pub fn sample(&self, rng: &mut SeededRng) -> f64 {
        let u = rng.unit();
        let z = rng.standard_normal();
        let value = match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { lo, hi } => {
                if hi > lo {
                    lo + (hi - lo) * u
                } else {
                    lo
                }
            }
            Dist::Normal { mean, std_dev } => mean + std_dev * z,
            Dist::LogNormal { median, sigma } => median * (sigma * z).exp(),
        };
        if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        }
    }
}

/// How a simulated request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedFailure {
    /// HTTP 429 with an OpenAI rate-limit body → [`ErrorKind::Throttled`].
    Throttled,
    /// HTTP 500 → [`ErrorKind::HttpStatus`].
    ServerError,
    /// The body breaks off after some tokens → [`ErrorKind::Stream`].
    StreamBreak,
}

impl SimulatedFailure {
    /// The error kind the engine records for this failure.
    pub fn kind(self) -> ErrorKind {
        match self {
            SimulatedFailure::Throttled => ErrorKind::Throttled,
            SimulatedFailure::ServerError => ErrorKind::HttpStatus,
            SimulatedFailure::StreamBreak => ErrorKind::Stream,
        }
    }
}

/// The simulated model's behaviour. Times are in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedModel {
    /// Time to first token (before prefill).
    pub ttft: Dist,
    /// Added to the TTFT per prompt word: longer prompts take longer to prefill.
    pub prefill_per_input_token: f64,
    /// Gap before each token after the first.
    pub inter_token: Dist,
    /// Tokens to generate (rounded, at least 1), capped by the request's `max_tokens`.
    pub output_tokens: Dist,
    /// Probability that a request fails; the failure is drawn uniformly from `error_kinds`.
    pub error_rate: f64,
    pub error_kinds: Vec<SimulatedFailure>,
    pub seed: u64,
}

impl Default for SimulatedModel {
    /// A plausible small hosted model: ~350 ms TTFT, ~50 tokens/s, 64–256 tokens, no errors.
    fn default() -> Self {
        SimulatedModel {
            ttft: Dist::LogNormal {
                median: 0.35,
                sigma: 0.3,
            },
            prefill_per_input_token: 0.000_2,
            inter_token: Dist::LogNormal {
                median: 0.02,
                sigma: 0.25,
            },
            output_tokens: Dist::Uniform { lo: 64.0, hi: 257.0 },
            error_rate: 0.0,
            error_kinds: vec![
                SimulatedFailure::Throttled,
                SimulatedFailure::ServerError,
                SimulatedFailure::StreamBreak,
            ],
            seed: 0,
        }
    }
}

impl SimulatedModel {
    /// The Chat Completions endpoint description to build requests for this model with.
    pub fn endpoint() -> ChatCompletions {
        ChatCompletions {
            url: SIMULATED_URL.into(),
            model: "simulated".into(),
            api_key: None,
            stream: true,
        }
    }
}

/// What one request will do, drawn up front from its own random stream.
struct Script {
    failure: Option<SimulatedFailure>,
    first_token_secs: f64,
    gaps_secs: Vec<f64>,
    /// Tokens delivered before a stream break.
    break_after: usize,
    capped: bool,
}

/// A [`Transport`] that answers every request as the simulated model, timed by `clock`.
pub struct SimulatedTransport<C> {
    model: SimulatedModel,
    clock: C,
    sequence: Cell<u64>,
}

impl<C: Clock + Clone + 'static> SimulatedTransport<C> {
    pub fn new(model: SimulatedModel, clock: C) -> Self {
        SimulatedTransport {
            model,
            clock,
            sequence: Cell::new(0),
        }
    }

    /// Requests answered so far (also the sequence number of the next one).
    pub fn requests_sent(&self) -> u64 {
        self.sequence.get()
    }

    fn script(&self, n: u64, input_tokens: u64, max_tokens: Option<u64>) -> Script {
        let m = &self.model;
        let mut rng = SeededRng::for_stream(m.seed, n);
        // Draw in a fixed order so each value depends only on (seed, n).
        let fails = rng.chance(m.error_rate);
        let pick = rng.below(m.error_kinds.len() as u64) as usize;
        let failure = if fails {
            m.error_kinds.get(pick).copied()
        } else {
            None
        };
        let ttft = m.ttft.sample(&mut rng) + m.prefill_per_input_token.max(0.0) * input_tokens as f64;
        let wanted = m.output_tokens.sample(&mut rng).round().max(1.0) as u64;
        let n_tokens = max_tokens
            .filter(|&t| t > 0)
            .map_or(wanted, |cap| wanted.min(cap));
        let gaps_secs = (1..n_tokens).map(|_| m.inter_token.sample(&mut rng)).collect();
        let break_after = rng.below(n_tokens) as usize;
        Script {
            failure,
            first_token_secs: ttft.max(MIN_LATENCY_SECS),
            gaps_secs,
            break_after,
            capped: n_tokens < wanted,
        }
    }
}

impl<C: Clock + Clone + 'static> Transport for SimulatedTransport<C> {
    fn send(&self, request: HttpRequest) -> LocalBoxFuture<'static, Result<HttpResponse, RequestError>> {
        let n = self.sequence.get();
        self.sequence.set(n + 1);
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let input_tokens = prompt_text(&body).map_or(0, |p| p.split_whitespace().count() as u64);
        let max_tokens = ["max_tokens", "max_completion_tokens"]
            .iter()
            .find_map(|k| body.get(*k)?.as_u64());
        let streaming = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let model = body.get("model").and_then(Value::as_str).unwrap_or("simulated");
        let script = self.script(n, input_tokens, max_tokens);
        let clock = self.clock.clone();
        let sent_at = clock.now();
        let reply = Reply {
            id: format!("chatcmpl-sim-{n}"),
            model: serde_json::to_string(model).unwrap_or_else(|_| "\"simulated\"".into()),
            created: clock.wall_time().timestamp(),
            input_tokens,
        };
        let at = |secs: f64| {
            Timestamp::from_nanos(
                sent_at
                    .as_nanos()
                    .saturating_add(Timestamp::from_secs_f64(secs).as_nanos()),
            )
        };

        let (status, headers_at, steps) = match script.failure {
            Some(f @ (SimulatedFailure::Throttled | SimulatedFailure::ServerError)) => {
                let (status, body) = if f == SimulatedFailure::Throttled {
                    (
                        429,
                        r#"{"error":{"message":"Rate limit reached (simulated)","type":"requests","code":"rate_limit_exceeded"}}"#,
                    )
                } else {
                    (
                        500,
                        r#"{"error":{"message":"The server had an error (simulated)","type":"server_error","code":null}}"#,
                    )
                };
                let t = at(script.first_token_secs);
                (status, t, vec![(t, Ok(body.as_bytes().to_vec()))])
            }
            failure => {
                let mut token_times = Vec::with_capacity(script.gaps_secs.len() + 1);
                let mut secs = script.first_token_secs;
                token_times.push(at(secs));
                for gap in &script.gaps_secs {
                    secs += gap;
                    token_times.push(at(secs));
                }
                let steps = if failure == Some(SimulatedFailure::StreamBreak) {
                    reply.broken(
                        streaming,
                        &token_times[..script.break_after],
                        token_times[script.break_after],
                    )
                } else {
                    reply.complete(streaming, &token_times, script.capped)
                };
                (200, sent_at, steps)
            }
        };
        let content_type = if streaming && status == 200 {
            "text/event-stream"
        } else {
            "application/json"
        };
        Box::pin(async move {
            clock.sleep_until(headers_at).await;
            let body_clock = clock.clone();
            let body = stream::unfold(
                (body_clock, steps.into_iter(), false),
                |(clock, mut steps, broken)| async move {
                    if broken {
                        return None;
                    }
                    let (due, item) = steps.next()?;
                    clock.sleep_until(due).await;
                    let broken = item.is_err();
                    let item = item.map(|bytes| Chunk {
                        bytes,
                        received_at: clock.now(),
                    });
                    Some((item, (clock, steps, broken)))
                },
            )
            .boxed_local();
            Ok(HttpResponse {
                status,
                headers: vec![("content-type".into(), content_type.into())],
                headers_at: clock.now(),
                body,
            })
        })
    }
}

type Step = (Timestamp, Result<Vec<u8>, RequestError>);

/// Builds one response's bytes.
struct Reply {
    id: String,
    /// The model name as a JSON string literal.
    model: String,
    created: i64,
    input_tokens: u64,
}

impl Reply {
    fn word(i: usize) -> &'static str {
        WORDS[i % WORDS.len()]
    }

    fn chunk(&self, delta: &str, finish: &str) -> String {
        let (id, model, created) = (&self.id, &self.model, self.created);
        format!(
            "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model},\
             \"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    }

    fn usage(&self, output_tokens: usize) -> String {
        let total = self.input_tokens + output_tokens as u64;
        format!(
            "\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{output_tokens},\"total_tokens\":{total}}}",
            self.input_tokens
        )
    }

    /// The SSE chunks of token `i` (the first also carries the assistant role, as OpenAI sends it).
    fn token_chunk(&self, i: usize) -> Vec<u8> {
        let content = format!("{{\"content\":\"{} \"}}", Reply::word(i));
        let mut text = String::new();
        if i == 0 {
            text.push_str(&self.chunk(r#"{"role":"assistant","content":""}"#, "null"));
        }
        text.push_str(&self.chunk(&content, "null"));
        text.into_bytes()
    }

    fn complete(&self, streaming: bool, token_times: &[Timestamp], capped: bool) -> Vec<Step> {
        let n = token_times.len();
        let finish = if capped { "\"length\"" } else { "\"stop\"" };
        let last = token_times[n - 1];
        if !streaming {
            let text: String = (0..n).map(|i| format!("{} ", Reply::word(i))).collect();
            let body = format!(
                "{{\"id\":\"{}\",\"object\":\"chat.completion\",\"created\":{},\"model\":{},\"choices\":[{{\"index\":0,\
                 \"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":{finish}}}],{}}}",
                self.id,
                self.created,
                self.model,
                self.usage(n)
            );
            return vec![(last, Ok(body.into_bytes()))];
        }
        let mut steps: Vec<Step> = token_times
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, Ok(self.token_chunk(i))))
            .collect();
        let (id, model, created) = (&self.id, &self.model, self.created);
        let tail = format!(
            "{}data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model},\
             \"choices\":[],{}}}\n\ndata: [DONE]\n\n",
            self.chunk("{}", finish),
            self.usage(n)
        );
        steps.push((last, Ok(tail.into_bytes())));
        steps
    }

    fn broken(&self, streaming: bool, delivered: &[Timestamp], break_at: Timestamp) -> Vec<Step> {
        let mut steps: Vec<Step> = if streaming {
            delivered
                .iter()
                .enumerate()
                .map(|(i, &t)| (t, Ok(self.token_chunk(i))))
                .collect()
        } else {
            Vec::new()
        };
        let error = RequestError::new(ErrorKind::Stream, "connection reset by the simulated server");
        steps.push((break_at, Err(error)));
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dist_is_non_negative_and_fixed_is_exact() {
        let mut rng = SeededRng::new(1);
        assert_eq!(Dist::Fixed(0.25).sample(&mut rng), 0.25);
        for d in [
            Dist::Uniform { lo: 1.0, hi: 2.0 },
            Dist::Normal {
                mean: 0.0,
                std_dev: 1.0,
            },
            Dist::LogNormal {
                median: 0.1,
                sigma: 2.0,
            },
            Dist::Fixed(-3.0),
        ] {
            assert!((0..1000).all(|_| d.sample(&mut rng) >= 0.0), "{d:?}");
        }
        let mut rng = SeededRng::new(2);
        let draws: Vec<f64> = (0..1000)
            .map(|_| Dist::Uniform { lo: 1.0, hi: 2.0 }.sample(&mut rng))
            .collect();
        assert!(draws.iter().all(|v| (1.0..2.0).contains(v)));
    }

    #[test]
    fn chunks_are_valid_openai_json() {
        let reply = Reply {
            id: "x".into(),
            model: "\"m\"".into(),
            created: 1,
            input_tokens: 3,
        };
        let text = String::from_utf8(reply.token_chunk(0)).unwrap();
        for event in text.split("\n\n").filter(|e| !e.is_empty()) {
            let json: Value = serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(json["object"], "chat.completion.chunk");
        }
    }
}
