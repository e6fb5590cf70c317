//! A simulated LLM behind the [`Transport`] port: the app's default "Simulated endpoint", so a first run needs no
//! credentials, and a realistic load for engine tests.
//!
//! It speaks whichever [`Api`] it is given, with the bytes that API's own encoder (`protocol::wire`) writes —
//! streamed (one token per event) or as one JSON body, as the request asks — so the real decoders read it. It is
//! paced by the shared [`Clock`] only, so it runs natively, in the browser, and under a `ManualClock`. Every
//! request's behaviour is drawn from its own seeded stream (`seed`, request sequence number): runs replay exactly.

use std::cell::Cell;

use futures::future::LocalBoxFuture;
use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::{Chunk, Clock, HttpResponse, Transport};
pub use tokenmeter_core::dist::Dist;
use tokenmeter_core::record::{ErrorKind, RequestError};
use tokenmeter_core::rng::SeededRng;
use tokenmeter_core::time::Timestamp;
use tokenmeter_protocol::wire::{Encoder, Finish, Reply};
use tokenmeter_protocol::{Api, HttpRequest};

/// The base URL of the simulated endpoint (never fetched: the transport ignores URLs).
pub const SIMULATED_BASE_URL: &str = "simulated://tokenmeter/v1";

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

/// What one request will do, drawn up front from its own random stream.
struct Script {
    failure: Option<SimulatedFailure>,
    first_token_secs: f64,
    gaps_secs: Vec<f64>,
    /// Tokens delivered before a stream break.
    break_after: usize,
    capped: bool,
}

/// A [`Transport`] that answers every request as the simulated model speaking `api`, timed by `clock`.
pub struct SimulatedTransport<C> {
    model: SimulatedModel,
    api: Api,
    clock: C,
    sequence: Cell<u64>,
}

impl<C: Clock + Clone + 'static> SimulatedTransport<C> {
    pub fn new(model: SimulatedModel, api: Api, clock: C) -> Self {
        SimulatedTransport {
            model,
            api,
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
        let api = self.api;
        let input_tokens = api
            .prompt_text(&body)
            .map_or(0, |p| p.split_whitespace().count() as u64);
        let max_tokens = api.max_output_tokens(&body);
        let streaming = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let script = self.script(n, input_tokens, max_tokens);
        let clock = self.clock.clone();
        let sent_at = clock.now();
        let reply = SimulatedReply {
            encoder: api.encoder(),
            reply: Reply {
                id: api.response_id(&format!("sim-{n}")),
                model: body
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("simulated")
                    .to_owned(),
                created: clock.wall_time().timestamp().max(0) as u64,
                input_tokens,
                cached_input_tokens: 0,
            },
            include_usage,
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
                let (status, message) = if f == SimulatedFailure::Throttled {
                    (429, "Rate limit reached (simulated)")
                } else {
                    (500, "The server had an error (simulated)")
                };
                let body = reply.encoder.error_body(status, message).to_string();
                let t = at(script.first_token_secs);
                (status, t, vec![(t, Ok(body.into_bytes()))])
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

/// Builds one response's bytes with the API's encoder.
struct SimulatedReply {
    encoder: &'static dyn Encoder,
    reply: Reply,
    include_usage: bool,
}

impl SimulatedReply {
    fn word(i: usize) -> &'static str {
        WORDS[i % WORDS.len()]
    }

    /// Token `i`'s text: words separated by spaces.
    fn token_text(i: usize) -> String {
        format!("{} ", SimulatedReply::word(i))
    }

    /// Token `i`'s bytes; the first also carries the API's head (role chunk, `message_start`, …).
    fn token_chunk(&self, i: usize) -> Vec<u8> {
        let mut bytes = if i == 0 {
            self.encoder.head(&self.reply)
        } else {
            Vec::new()
        };
        let text = SimulatedReply::token_text(i);
        bytes.extend(self.encoder.token(&self.reply, i as u32, &text));
        bytes
    }

    fn complete(&self, streaming: bool, token_times: &[Timestamp], capped: bool) -> Vec<Step> {
        let n = token_times.len();
        let finish = if capped { Finish::Length } else { Finish::Stop };
        let last = token_times[n - 1];
        let text: String = (0..n).map(SimulatedReply::token_text).collect();
        if !streaming {
            return vec![(last, Ok(self.encoder.body(&self.reply, &text, n as u32, finish)))];
        }
        let mut steps: Vec<Step> = token_times
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, Ok(self.token_chunk(i))))
            .collect();
        let tail = self
            .encoder
            .finish(&self.reply, &text, n as u32, finish, self.include_usage);
        steps.push((last, Ok(tail)));
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
    fn the_first_chunk_carries_the_head_then_a_token() {
        let reply = SimulatedReply {
            encoder: Api::OpenAiChat.encoder(),
            reply: Reply {
                id: "x".into(),
                model: "m".into(),
                created: 1,
                input_tokens: 3,
                cached_input_tokens: 0,
            },
            include_usage: true,
        };
        let text = String::from_utf8(reply.token_chunk(0)).unwrap();
        let events: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(events[1]["choices"][0]["delta"]["content"], "simulated ");
    }
}
