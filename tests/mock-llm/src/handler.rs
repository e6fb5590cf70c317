//! One handler for every SSE API route (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`, …; the
//! AWS routes are [`crate::aws`]'s): reads the knobs ([`crate::timing`], [`crate::faults`]) and the request
//! body through the route's `Api` (streaming flag, output limit, prompt, model), then hands a
//! [`Generation`] to [`crate::generate`].
//!
//! The body is read the same way for every API: `stream` decides streaming vs one JSON body,
//! `Api::max_output_tokens` caps the default token count (the answer then ends with `Finish::Length`), and
//! the prompt's whitespace-separated words (`Api::prompt_text`) are its input tokens. Every error, including
//! a malformed knob or body (HTTP 400), is written in the route's API error shape.
//!
//! Everything up to the generation is decided at once (`prepare`), so the request goes into the
//! [`crate::journal`] (answered or refused, with the counts its answer reports) before any token is sent.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::Extension;
use serde_json::{json, Value};
use tokenmeter_protocol::wire::{Finish, Reply};
use tokenmeter_protocol::Api;

use crate::faults::{self, Faults};
use crate::generate::{Generation, Wire};
use crate::journal::Entry;
use crate::metrics::Metrics;
use crate::prefix_cache::PrefixCache;
use crate::timing::{Knobs, Timing, ITL_HEADER, TOKENS_HEADER, TTFT_HEADER};
use crate::{AppState, Arrival, Config, MOCK_MODEL, REQUEST_ID_HEADER};

/// Overrides Chat Completions' `stream_options.include_usage` (`1`/`0`/`true`/`false`), e.g. for clients that
/// cannot set it. Ignored by the other APIs, which always report usage.
pub const INCLUDE_USAGE_HEADER: &str = "x-mock-include-usage";

/// `POST` answered in `api`'s wire format.
pub fn route(api: Api) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              Extension(arrival): Extension<Arrival>,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| async move { answer(api, &state, arrival, &uri, &headers, &body).await },
    )
}

async fn answer(
    api: Api,
    state: &AppState,
    arrival: Arrival,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let id = api.response_id(&crate::new_id_suffix());
    let request = json_object(body);
    let prepared = prepare(
        api,
        &state.config,
        &state.prefix_cache,
        &state.metrics,
        uri,
        headers,
        request.as_ref(),
        id.clone(),
    );
    let mut entry = Entry::new(
        api_name(api),
        state.received_ms(arrival),
        request.as_ref(),
        if api == Api::OpenAiResponses {
            "input"
        } else {
            "messages"
        },
        request.as_ref().and_then(|r| api.prompt_text(r)),
        request.as_ref().and_then(|r| api.max_output_tokens(r)),
    );
    if let Ok((generation, _)) = &prepared {
        entry.reported(&generation.reply);
    }
    state.journal.record(entry);
    let mut response = match prepared {
        Ok((generation, stream)) => run(generation, stream).await,
        Err(refused) => refused,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// How the code names `api` (its variant), in the journal.
pub fn api_name(api: Api) -> &'static str {
    match api {
        Api::OpenAiChat => "OpenAiChat",
        Api::OpenAiResponses => "OpenAiResponses",
        Api::AnthropicMessages => "AnthropicMessages",
    }
}

/// The body as a JSON object (`{}` for an empty body); `None` if it is not one.
pub(crate) fn json_object(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

/// The streamed (`stream`) or one-body answer of `generation`, with the effective knob values echoed.
pub(crate) async fn run(generation: Generation, stream: bool) -> Response {
    let timing = generation.timing;
    let mut response = if stream {
        generation.stream()
    } else {
        generation.json().await
    };
    echo_timing(&mut response, &timing);
    response
}

/// The answer to give (and whether to stream it), or the refusal. `request` is the body as a JSON object
/// (`None`: it is not one).
// The refusal is the final answer, made once per request and not passed up: no point boxing it.
#[allow(clippy::too_many_arguments, clippy::result_large_err)]
fn prepare(
    api: Api,
    config: &Config,
    prefix_cache: &PrefixCache,
    metrics: &Metrics,
    uri: &Uri,
    headers: &HeaderMap,
    request: Option<&Value>,
    id: String,
) -> Result<(Generation, bool), Response> {
    let started = Instant::now();
    let bad_request = |message: &str| faults::error_response(api, StatusCode::BAD_REQUEST, message);
    let knobs = Knobs::new(headers, uri.query());
    let faults = match Faults::resolve(&knobs) {
        Ok(faults) => faults,
        Err(e) => return Err(bad_request(&e.0)),
    };
    if let Some(status) = faults.status {
        return Err(faults::injected_status(api, status));
    }
    let Some(request) = request else {
        return Err(bad_request("mock-llm: body is not a JSON object"));
    };
    let stream = request["stream"].as_bool().unwrap_or(false);
    if let Err(e) = faults.check(false, stream) {
        return Err(bad_request(&e.0));
    }
    let faults = faults.with_chaos(false, stream, faults::next_draw());
    if let Some(status) = faults.status {
        return Err(faults::injected_status(api, status));
    }
    let timing = match Timing::resolve(&knobs, config, api.max_output_tokens(request)) {
        Ok(timing) => timing,
        Err(e) => return Err(bad_request(&e.0)),
    };
    let include_usage = match knobs.get::<Flag>(INCLUDE_USAGE_HEADER, "include_usage") {
        Ok(flag) => flag.map(|f| f.0),
        Err(e) => return Err(bad_request(&e.0)),
    };
    let include_usage = match api {
        Api::OpenAiChat => include_usage.unwrap_or_else(|| {
            request["stream_options"]["include_usage"]
                .as_bool()
                .unwrap_or(false)
        }),
        _ => true,
    };
    let generation = Generation {
        wire: Wire::Api(api),
        started,
        reply: Reply {
            id,
            model: request["model"].as_str().unwrap_or(MOCK_MODEL).to_owned(),
            created: crate::unix_seconds(),
            input_tokens: prompt_tokens(api, request),
            cached_input_tokens: api
                .prompt_text(request)
                .map_or(0, |text| prefix_cache.cached_words(&knobs, &text)),
        },
        timing,
        finish: if timing.capped {
            Finish::Length
        } else {
            Finish::Stop
        },
        include_usage,
        mid_stream: faults.mid_stream,
        metrics: metrics.clone(),
    };
    Ok((generation, stream))
}

/// Whitespace-separated words of the prompt, as `api` reads it (system text and every message's text).
pub fn prompt_tokens(api: Api, request: &Value) -> u64 {
    api.prompt_text(request)
        .map_or(0, |text| text.split_whitespace().count() as u64)
}

/// Echoes the effective knob values, so a test (or a curious developer) can see which source won.
pub(crate) fn echo_timing(response: &mut Response, timing: &Timing) {
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
pub(crate) struct Flag(pub(crate) bool);

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
