//! Shared helpers for the integration tests: [`ScriptedTransport`] (replays fixed, timed chunks of real SSE
//! bytes), SSE builders, and shortcuts to run a plan to completion under a [`ManualClock`].

#![allow(dead_code)] // Each test module uses a different subset.

use std::cell::RefCell;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::stream::{self, StreamExt};

use tokenmeter::core::plan::{RunPlan, RunPlanSpec};
use tokenmeter::core::record::{ErrorKind, RequestError};
use tokenmeter::core::scheduler::Dispatch;
use tokenmeter::core::time::Timestamp;
use tokenmeter::engine::cancel::CancelToken;
use tokenmeter::engine::driver;
use tokenmeter::engine::request::PreparedRequest;
use tokenmeter::engine::simulated::{Dist, SimulatedModel};
use tokenmeter::engine::sink::{EngineEvent, FinishedRequest, RunSummary};
use tokenmeter::engine::{Chunk, Clock, HttpResponse, Transport};
use tokenmeter::protocol::wire::{Finish, Reply};
use tokenmeter::protocol::{Api, ApiEndpoint, HttpRequest, OutputKind, StreamEvent};

pub use tokenmeter::engine::testing::{run_to_completion, ManualClock};

pub fn ms(v: u64) -> Timestamp {
    Timestamp::from_micros(v * 1000)
}

pub fn millis(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// One step of a scripted response body; `after` counts from the previous step (the first from the headers).
#[derive(Debug, Clone)]
pub enum Step {
    Chunk { after: Duration, bytes: Vec<u8> },
    Break { after: Duration, kind: ErrorKind },
}

/// A scripted response: status and headers after `headers_after`, then the body steps.
#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    pub headers_after: Duration,
    pub steps: Vec<Step>,
}

/// The reply the scripted Chat Completions chunks describe.
fn reply(prompt_tokens: u64) -> Reply {
    Reply {
        id: "chatcmpl-1".into(),
        model: "m".into(),
        created: 0,
        input_tokens: prompt_tokens,
        cached_input_tokens: 0,
    }
}

/// `data: {chunk}` for one content token, as the Chat Completions encoder writes it.
pub fn sse_token(text: &str) -> Vec<u8> {
    Api::OpenAiChat.encoder().token(&reply(3), 0, text)
}

/// The finish chunk, the usage chunk and `[DONE]`.
pub fn sse_tail(prompt_tokens: u64, completion_tokens: u64) -> Vec<u8> {
    let n = u32::try_from(completion_tokens).expect("a test's token count fits u32");
    Api::OpenAiChat
        .encoder()
        .finish(&reply(prompt_tokens), "", n, Finish::Stop, true)
}

impl Script {
    /// A streamed completion: the first token `ttft` after dispatch, then one token after each of `gaps`, then the
    /// tail (finish, usage reporting `tokens` output tokens, `[DONE]`) `tail_after` the last token.
    pub fn streamed(ttft: Duration, gaps: &[Duration], tail_after: Duration, tokens: u64) -> Script {
        let mut steps = vec![Step::Chunk {
            after: ttft,
            bytes: sse_token("tok "),
        }];
        steps.extend(gaps.iter().map(|&after| Step::Chunk {
            after,
            bytes: sse_token("tok "),
        }));
        steps.push(Step::Chunk {
            after: tail_after,
            bytes: sse_tail(3, tokens),
        });
        Script {
            status: 200,
            headers_after: Duration::ZERO,
            steps,
        }
    }

    /// A one-token request that ends exactly `latency` after dispatch.
    pub fn taking(latency: Duration) -> Script {
        Script::streamed(latency, &[], Duration::ZERO, 1)
    }

    /// An HTTP error response after `after`.
    pub fn status(status: u16, after: Duration) -> Script {
        Script {
            status,
            headers_after: after,
            steps: vec![Step::Chunk {
                after: Duration::ZERO,
                bytes: br#"{"error":{"message":"no"}}"#.to_vec(),
            }],
        }
    }
}

/// Replays `scripts` (request `n` gets `scripts[n % len]`), timed by a [`ManualClock`], and keeps every request.
pub struct ScriptedTransport {
    clock: ManualClock,
    scripts: Vec<Script>,
    sent: RefCell<Vec<HttpRequest>>,
}

impl ScriptedTransport {
    pub fn new(clock: &ManualClock, scripts: Vec<Script>) -> Self {
        assert!(!scripts.is_empty());
        ScriptedTransport {
            clock: clock.clone(),
            scripts,
            sent: RefCell::new(Vec::new()),
        }
    }

    pub fn repeating(clock: &ManualClock, script: Script) -> Self {
        ScriptedTransport::new(clock, vec![script])
    }

    /// The requests sent so far, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.sent.borrow().clone()
    }
}

impl Transport for ScriptedTransport {
    fn send(&self, request: HttpRequest) -> LocalBoxFuture<'static, Result<HttpResponse, RequestError>> {
        let n = {
            let mut sent = self.sent.borrow_mut();
            sent.push(request);
            sent.len() - 1
        };
        let script = self.scripts[n % self.scripts.len()].clone();
        let clock = self.clock.clone();
        Box::pin(async move {
            let headers_at = clock.now().plus(script.headers_after);
            clock.sleep_until(headers_at).await;
            let mut due = headers_at;
            let timed: Vec<(Timestamp, Result<Vec<u8>, RequestError>)> = script
                .steps
                .into_iter()
                .map(|step| match step {
                    Step::Chunk { after, bytes } => {
                        due = due.plus(after);
                        (due, Ok(bytes))
                    }
                    Step::Break { after, kind } => {
                        due = due.plus(after);
                        (due, Err(RequestError::new(kind, "scripted break")))
                    }
                })
                .collect();
            let body_clock = clock.clone();
            let body = stream::unfold(
                (body_clock, timed.into_iter(), false),
                |(clock, mut it, done)| async move {
                    if done {
                        return None;
                    }
                    let (at, item) = it.next()?;
                    clock.sleep_until(at).await;
                    let done = item.is_err();
                    Some((
                        item.map(|bytes| Chunk {
                            bytes,
                            received_at: clock.now(),
                        }),
                        (clock, it, done),
                    ))
                },
            )
            .boxed_local();
            Ok(HttpResponse {
                status: script.status,
                headers: vec![],
                headers_at: clock.now(),
                body,
            })
        })
    }
}

/// The streaming Chat Completions endpoint the tests send to.
pub fn endpoint() -> ApiEndpoint {
    ApiEndpoint {
        api: Api::OpenAiChat,
        url: "http://scripted/v1/chat/completions".into(),
        model: "m".into(),
        stream: true,
        credential: None,
        extra_headers: Vec::new(),
    }
}

/// A request for `dispatch`: the prompt names the payload index, and `max_tokens` is `max_tokens`.
pub fn prepare_with(endpoint: &ApiEndpoint, dispatch: &Dispatch, max_tokens: u32) -> PreparedRequest {
    let payload = endpoint
        .api
        .create_payload(&format!("payload {}", dispatch.payload_index), max_tokens);
    PreparedRequest {
        http: endpoint.build_request(&payload).expect("payload is an object"),
        decoder: endpoint.decoder(),
        fallback_id: format!("req-{}", dispatch.request_id),
        input_prompt: Some(format!("payload {}", dispatch.payload_index)),
        input_payload: Some(std::sync::Arc::new(payload)),
    }
}

pub fn prepare(dispatch: &Dispatch) -> PreparedRequest {
    prepare_with(&endpoint(), dispatch, 16)
}

pub fn plan(spec: RunPlanSpec) -> RunPlan {
    spec.validate().expect("test plan is valid")
}

/// Runs `plan` under `clock` to the end, with `cancel`, returning the summary and every event.
pub fn run_plan_with_cancel<T: Transport>(
    plan: &RunPlan,
    seed: u64,
    transport: &T,
    clock: &ManualClock,
    cancel: &CancelToken,
) -> (RunSummary, Vec<EngineEvent>) {
    let mut events = Vec::new();
    let summary = run_to_completion(
        clock,
        driver::run(plan, seed, transport, clock, prepare, &mut events, cancel),
    )
    .expect("the run never stalls");
    (summary, events)
}

pub fn run_plan<T: Transport>(
    plan: &RunPlan,
    seed: u64,
    transport: &T,
    clock: &ManualClock,
) -> (RunSummary, Vec<EngineEvent>) {
    run_plan_with_cancel(plan, seed, transport, clock, &CancelToken::new())
}

/// The finished requests among `events`, in the order they finished.
pub fn finished(events: &[EngineEvent]) -> Vec<&FinishedRequest> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::RequestFinished(f) => Some(&**f),
            _ => None,
        })
        .collect()
}

/// The dispatches among `events`, in dispatch order.
pub fn started(events: &[EngineEvent]) -> Vec<Dispatch> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::RequestStarted(d) => Some(*d),
            _ => None,
        })
        .collect()
}

/// Checks the invariants every run must keep: one record per dispatch, counts add up, `RunEnded` last.
pub fn check_invariants(summary: &RunSummary, events: &[EngineEvent]) {
    let started = started(events);
    let finished = finished(events);
    assert_eq!(summary.sent, started.len() as u64);
    assert_eq!(summary.sent, finished.len() as u64);
    assert_eq!(
        summary.sent,
        summary.succeeded + summary.failed + summary.cancelled
    );
    let mut ids: Vec<u64> = finished.iter().map(|f| f.dispatch.request_id).collect();
    ids.sort_unstable();
    assert!(
        ids.iter().copied().eq(0..summary.sent),
        "request ids are dense and each finished once"
    );
    assert!(finished.iter().all(|f| f.record.warmup == f.dispatch.warmup));
    assert_eq!(events.last(), Some(&EngineEvent::RunEnded(summary.clone())));
}

/// A simulated model with fixed timing: 200 ms to the first token, then 10 ms per token, 5 tokens, no errors.
pub fn fixed_model() -> SimulatedModel {
    SimulatedModel {
        ttft: Dist::Fixed(0.2),
        prefill_per_input_token: 0.0,
        inter_token: Dist::Fixed(0.01),
        output_tokens: Dist::Fixed(5.0),
        error_rate: 0.0,
        error_kinds: vec![],
        seed: 3,
    }
}

/// A visible output event with `text`.
pub fn visible(text: &str) -> StreamEvent {
    StreamEvent::Output {
        kind: OutputKind::Visible,
        text: text.into(),
    }
}

/// A reasoning output event with `text`.
pub fn reasoning(text: &str) -> StreamEvent {
    StreamEvent::Output {
        kind: OutputKind::Reasoning,
        text: text.into(),
    }
}

/// A stop event with `reason`.
pub fn stop(reason: &str) -> StreamEvent {
    StreamEvent::Stop {
        reason: Some(reason.into()),
    }
}
