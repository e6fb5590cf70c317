//! mock-llm: a small real HTTP server that speaks LLM provider wire formats: OpenAI Chat Completions,
//! the OpenAI Responses API, Anthropic Messages, Amazon Bedrock (Converse, InvokeModel, each streamed and
//! not) and SageMaker endpoints, at their real paths, so official SDKs (openai, anthropic, boto3 with
//! `endpoint_url`) work unchanged.
//!
//! Every response body, SSE event and event-stream frame is written by the project's one encoder per API
//! (`tokenmeter_protocol::wire`, `tokenmeter_protocol::aws`), the same bytes the simulated model sends and
//! the app's decoders read. This module owns the router, the CORS policy, the server-wide defaults
//! ([`Config`], read from `MOCK_*` env vars; [`aws::AwsKeys`]; [`Features`]) and the small endpoints (`/health`,
//! `/v1/models`, `/mock/stats`, the JSON 404). [`handler`] reads one request of the SSE APIs and [`aws`] one of
//! the AWS APIs (with SigV4 verification), [`generate`] decides when each piece of the answer is sent, and the
//! per-request knobs live in [`timing`] and [`faults`]. [`journal`] records what each request asked for and
//! [`metrics`] serves the load in vLLM's Prometheus names.
//!
//! It serves plain HTTP/1.1 ([`serve_with_shutdown`]) or, with the binary's `--tls` (`MOCK_TLS=1`), the same
//! router over HTTPS with ALPN `h2` and `http/1.1` on a self-signed certificate made at start ([`tls`]):
//! browsers speak HTTP/2 only over TLS, and only HTTP/2 lets a page hold more than 6 streams to one origin.
//!
//! | route (`POST`)                                   | API                                             |
//! |--------------------------------------------------|-------------------------------------------------|
//! | `/v1/chat/completions`, `/chat/completions`      | OpenAI Chat Completions                         |
//! | `/v1/responses`, `/responses`                    | OpenAI Responses                                |
//! | `/v1/messages`                                   | Anthropic Messages                              |
//! | `/model/{id}/converse`, `…/converse-stream`      | Bedrock Converse, ConverseStream                |
//! | `/model/{id}/invoke`, `…/invoke-with-response-stream` | Bedrock InvokeModel(+stream): Claude or OpenAI Chat bodies |
//! | `/endpoints/{name}/invocations`, `…/invocations-response-stream` | SageMaker InvokeEndpoint(+stream): TGI, LMI, vLLM |
//!
//! The mock's own endpoints, beside them:
//!
//! | route                          | answer                                                                  |
//! |--------------------------------|-------------------------------------------------------------------------|
//! | `GET /health`                  | `ok`                                                                    |
//! | `GET /v1/models`               | OpenAI's model list: `mock-model`                                       |
//! | `GET /mock/stats`              | `{"requests": N}`: model requests (`POST`s) received                    |
//! | `GET /mock/journal`            | `{"requests": [...]}`: what each model request asked for, in arrival order ([`journal`]) |
//! | `DELETE /mock/journal`         | empties the journal (204)                                               |
//! | `GET /metrics`                 | Prometheus text in vLLM's names: running, waiting, KV cache, token and success counters ([`metrics`]); 404 with `MOCK_METRICS=off` |
//!
//! The AWS routes need SigV4 (`AKIDEXAMPLE` / `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, or the pair in
//! `MOCK_AWS_ACCESS_KEY_ID` / `MOCK_AWS_SECRET_ACCESS_KEY`; signing names `bedrock` and `sagemaker`, any
//! region) or, on `/model/…`, `Authorization: Bearer <any key>`; see [`aws`] for refusals and shapes. The
//! route decides streaming there (the body's `stream` is ignored); streams are
//! `application/vnd.amazon.eventstream`.
//!
//! Tokenmeter's browser tests call it cross-origin, so every knob is reachable from `fetch` (headers
//! allowed by CORS, or query parameters) and the effective values are echoed in exposed response headers.
//! The knobs are the same for every API:
//!
//! | header                     | query           | env            | default                       |
//! |----------------------------|-----------------|----------------|-------------------------------|
//! | `x-mock-ttft-ms`           | `ttft_ms`       | `MOCK_TTFT_MS` | 50                            |
//! | `x-mock-itl-ms`            | `itl_ms`        | `MOCK_ITL_MS`  | 10                            |
//! | `x-mock-tokens`            | `tokens`        | `MOCK_TOKENS`  | 20, env/default capped by the body's output limit |
//! | `x-mock-jitter-ms`         | `jitter_ms`     |                | 0 (adds a random 0 to N ms to the TTFT)             |
//! | `x-mock-include-usage`     | `include_usage` |                | Chat and vLLM: body `stream_options.include_usage`; others always report usage |
//! | `x-mock-status`            | `status`        |                | none (4xx/5xx at once, API's error body; 429 adds `retry-after: 1` outside AWS) |
//! | `x-mock-fail-after`        | `fail_after`    |                | none (K tokens, then drop)    |
//! | `x-mock-error-event-after` | `error_after`   |                | none (K tokens, error event; unstreamed: HTTP 500/429/400) |
//! | `x-mock-error-kind`        | `error_kind`    |                | `server` (or `throttled`; `validation` on AWS routes) |
//! | `x-mock-corrupt-after`     | `corrupt_after` |                | none (AWS streams: K tokens, one frame with a wrong CRC, end) |
//! | `x-mock-container`         | `container`     |                | SageMaker: `tgi`, `lmi` or `vllm`; else `vllm` for a `messages` body, `tgi` otherwise |
//! | `x-mock-capacity`          | `capacity`      | `MOCK_CAPACITY`| none (N served at once, the rest queue: TTFT grows past N) |
//! | `x-mock-prefix-cache`      | `prefix_cache`  |                | off (`1`: report cached input tokens, 16-word blocks) |
//!
//! On the AWS routes a query parameter is part of what SigV4 signs: put it in the URL before signing.
//!
//! The server-wide environment (read by [`app`] and the binary; tests pass [`Config`], [`aws::AwsKeys`] and
//! [`Features`] to [`app_with_features`] instead):
//!
//! | env                            | default       | effect                                                   |
//! |--------------------------------|---------------|----------------------------------------------------------|
//! | `MOCK_TTFT_MS`, `MOCK_ITL_MS`, `MOCK_TOKENS`, `MOCK_CAPACITY` | see the knobs | the knobs' server defaults ([`Config`]) |
//! | `MOCK_AWS_ACCESS_KEY_ID` + `MOCK_AWS_SECRET_ACCESS_KEY` | unset | a key pair accepted beside AWS's example key |
//! | `MOCK_METRICS`                 | `on`          | `off` (or `0`, `false`, `no`): no `/metrics` route, a scrape gets the JSON 404 |
//! | `PORT`, `MOCK_TLS`             | 8787, off     | the binary's port and HTTPS (see `main.rs`)              |
//!
//! The output limit is the API's own field (`max_tokens`/`max_completion_tokens`, `max_output_tokens`,
//! `max_tokens`, `inferenceConfig.maxTokens`, `parameters.max_new_tokens`); when it lowers the default
//! count the answer ends as cut by length (`finish_reason: "length"`, `response.incomplete`, `stop_reason:
//! "max_tokens"`).

pub mod aws;
pub mod capacity;
pub mod faults;
pub mod generate;
pub mod handler;
pub mod journal;
pub mod metrics;
pub mod prefix_cache;
pub mod timing;
pub mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokenmeter_protocol::Api;
use tokio::net::TcpListener;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders};

/// Port used when neither `--port` nor `PORT` is given.
pub const DEFAULT_PORT: u16 = 8787;

/// The model id listed by `/v1/models` and used when a request names none.
pub const MOCK_MODEL: &str = "mock-model";

/// Response header carrying the response id (`chatcmpl-…`, `resp_…`, `msg_…`, as in the body).
pub const REQUEST_ID_HEADER: &str = "x-mock-request-id";

/// Server-wide defaults, the layer below per-request headers and query parameters.
///
/// Tests build it directly instead of mutating the process environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Delay before the first token, in ms (`MOCK_TTFT_MS`).
    pub ttft_ms: u64,
    /// Delay between tokens, in ms (`MOCK_ITL_MS`).
    pub itl_ms: u64,
    /// Output token count (`MOCK_TOKENS`); `None` means 20, capped by the request's `max_tokens`.
    pub tokens: Option<u32>,
    /// Requests served at once, the rest queued (`MOCK_CAPACITY`, [`capacity`]); `None`: no limit.
    pub capacity: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttft_ms: 50,
            itl_ms: 10,
            tokens: None,
            capacity: None,
        }
    }
}

impl Config {
    /// Reads `MOCK_TTFT_MS`, `MOCK_ITL_MS` and `MOCK_TOKENS`; an unset or empty variable keeps the default.
    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`] with an injectable lookup, so parsing is testable without touching env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        fn read<T: std::str::FromStr>(
            lookup: &impl Fn(&str) -> Option<String>,
            name: &str,
        ) -> Result<Option<T>, String> {
            match lookup(name) {
                None => Ok(None),
                Some(raw) if raw.trim().is_empty() => Ok(None),
                Some(raw) => raw
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={raw:?} is not a non-negative integer")),
            }
        }
        let builtin = Config::default();
        Ok(Config {
            ttft_ms: read(&lookup, "MOCK_TTFT_MS")?.unwrap_or(builtin.ttft_ms),
            itl_ms: read(&lookup, "MOCK_ITL_MS")?.unwrap_or(builtin.itl_ms),
            tokens: read(&lookup, "MOCK_TOKENS")?.or(builtin.tokens),
            capacity: read(&lookup, "MOCK_CAPACITY")?.or(builtin.capacity),
        })
    }
}

/// Server-wide switches that are not per-request defaults (kept out of [`Config`], which other crates' tests
/// build field by field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Serve `GET /metrics` (`MOCK_METRICS`, on unless `off`); off, a scrape gets the JSON 404.
    pub metrics: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features { metrics: true }
    }
}

impl Features {
    /// Reads `MOCK_METRICS`; unset or empty keeps the default.
    pub fn from_env() -> Result<Features, String> {
        Features::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Features::from_env`] with an injectable lookup.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Features, String> {
        let metrics = match lookup("MOCK_METRICS") {
            None => Features::default().metrics,
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "" => Features::default().metrics,
                "on" | "1" | "true" | "yes" => true,
                "off" | "0" | "false" | "no" => false,
                _ => return Err(format!("MOCK_METRICS={raw:?} is not on or off")),
            },
        };
        Ok(Features { metrics })
    }
}

/// When a request reached the server (before any wait behind a capacity): a request extension.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub Instant);

/// What every handler can reach: the defaults and the AWS keys.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Config,
    pub aws: Arc<aws::AwsKeys>,
    /// Model requests received (POSTs, preflights not counted), for `GET /mock/stats`.
    pub received: Arc<AtomicU64>,
    /// The waiting lines of [`capacity`].
    pub lines: capacity::Lines,
    /// The prompt blocks seen, for the cached-token counts ([`prefix_cache`]).
    pub prefix_cache: prefix_cache::PrefixCache,
    /// When the router was built: the zero of the journal's `received_ms`.
    pub started: Instant,
    /// What each model request asked for, for `GET /mock/journal`.
    pub journal: journal::Journal,
    /// The load, for `GET /metrics`.
    pub metrics: metrics::Metrics,
}

impl AppState {
    /// Ms from the server's start to `arrival`, for the journal.
    pub fn received_ms(&self, arrival: Arrival) -> f64 {
        arrival.0.saturating_duration_since(self.started).as_secs_f64() * 1000.0
    }
}

impl FromRef<AppState> for prefix_cache::PrefixCache {
    fn from_ref(state: &AppState) -> prefix_cache::PrefixCache {
        state.prefix_cache.clone()
    }
}

impl FromRef<AppState> for Config {
    fn from_ref(state: &AppState) -> Config {
        state.config
    }
}

/// The router with defaults and AWS keys from the environment.
///
/// # Panics
///
/// If a `MOCK_*` variable is not a number (or `MOCK_METRICS` not on or off), or only one of the AWS key
/// variables is set; the binary validates them first and reports the error instead.
pub fn app() -> Router {
    let config = Config::from_env().unwrap_or_else(|e| panic!("mock-llm: {e}"));
    let keys = aws::AwsKeys::from_env().unwrap_or_else(|e| panic!("mock-llm: {e}"));
    let features = Features::from_env().unwrap_or_else(|e| panic!("mock-llm: {e}"));
    app_with_features(config, keys, features)
}

/// The router with explicit server-wide defaults, accepting only AWS's documented example key.
pub fn app_with(config: Config) -> Router {
    app_with_keys(config, aws::AwsKeys::default())
}

/// The router with explicit server-wide defaults and AWS keys, every feature on.
pub fn app_with_keys(config: Config, keys: aws::AwsKeys) -> Router {
    app_with_features(config, keys, Features::default())
}

/// The router with explicit server-wide defaults, AWS keys and features.
pub fn app_with_features(config: Config, keys: aws::AwsKeys, features: Features) -> Router {
    let received = Arc::new(AtomicU64::new(0));
    let state = AppState {
        config,
        aws: Arc::new(keys),
        received: received.clone(),
        lines: capacity::Lines::default(),
        prefix_cache: prefix_cache::PrefixCache::default(),
        started: Instant::now(),
        journal: journal::Journal::default(),
        metrics: metrics::Metrics::default(),
    };
    let mut router = Router::new();
    if features.metrics {
        router = router.route("/metrics", get(metrics_text));
    }
    router
        .route("/health", get(|| async { "ok" }))
        .route("/mock/stats", get(mock_stats))
        .route("/mock/journal", get(journal_get).delete(journal_clear))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", handler::route(Api::OpenAiChat))
        .route("/v1/responses", handler::route(Api::OpenAiResponses))
        .route("/v1/messages", handler::route(Api::AnthropicMessages))
        // Some clients use a base URL without `/v1`.
        .route("/chat/completions", handler::route(Api::OpenAiChat))
        .route("/responses", handler::route(Api::OpenAiResponses))
        .merge(aws::router())
        .fallback(not_found)
        // Multimodal prompts (base64 images, PDFs) exceed axum's 2 MB default.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            capacity::limit,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(
            move |mut request: Request, next: Next| {
                let received = received.clone();
                async move {
                    request.extensions_mut().insert(Arrival(Instant::now()));
                    if request.method() == axum::http::Method::POST {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    next.run(request).await
                }
            },
        ))
        .layer(cors())
        .layer(axum::middleware::map_response(allow_timing))
}

/// `{"requests": N}`: how many model requests this server received, so a test can check that a load tester
/// counted every request it sent exactly once.
async fn mock_stats(State(state): State<AppState>) -> Response {
    let body = serde_json::json!({ "requests": state.received.load(Ordering::Relaxed) }).to_string();
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"requests": [...]}`: the journal ([`journal`]), oldest first.
async fn journal_get(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &state.journal.to_json())
}

/// Empties the journal: 204.
async fn journal_clear(State(state): State<AppState>) -> StatusCode {
    state.journal.clear();
    StatusCode::NO_CONTENT
}

/// The load in Prometheus' text format, under vLLM's names ([`metrics`]).
async fn metrics_text(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(MOCK_MODEL);
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// Lets the page read this server's Resource Timing details (otherwise zeroed for cross-origin responses), so a
/// load tester can see how long each request queued inside the browser.
async fn allow_timing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("timing-allow-origin", axum::http::HeaderValue::from_static("*"));
    response
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    serve_with_shutdown(listener, app, std::future::pending()).await
}

/// Serves `app` until `shutdown` resolves, then waits for open responses to finish.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Nagle's algorithm would hold back small SSE events and blur the inter-token timing we are faking.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Permissive CORS that also works for credentialed requests, `Authorization`, Anthropic's and AWS's headers.
///
/// A literal `*` in `access-control-allow-headers` does not cover `Authorization`, and `*` is ignored
/// altogether for credentialed requests, so origin, methods and headers are mirrored from the request
/// (`x-api-key`, `anthropic-version`, `anthropic-dangerous-direct-browser-access`, `x-amz-date`,
/// `x-amz-content-sha256`, `x-amz-security-token`, `x-amzn-bedrock-accept`, the knobs, anything) and
/// exposed headers are listed by name (AWS's request id, error type and InvokeModel figures among them).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        // Chrome's Private Network Access preflight, for an https page calling http://127.0.0.1.
        .allow_private_network(true)
        .expose_headers(ExposeHeaders::list(
            [
                REQUEST_ID_HEADER,
                timing::TTFT_HEADER,
                timing::ITL_HEADER,
                timing::TOKENS_HEADER,
                aws::REQUEST_ID,
                aws::ERROR_TYPE,
                aws::INVOCATION_LATENCY_HEADER,
                aws::INPUT_TOKENS_HEADER,
                aws::OUTPUT_TOKENS_HEADER,
            ]
            .map(HeaderName::from_static)
            .into_iter()
            .chain([RETRY_AFTER]),
        ))
        // Preflights are extra requests during a load test; let browsers cache them.
        .max_age(Duration::from_secs(3600))
}

async fn models() -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "object": "list",
            "data": [{"id": MOCK_MODEL, "object": "model", "created": 0, "owned_by": "mock-llm"}],
        }),
    )
}

/// Unknown routes get a 404 in OpenAI's error shape (no route means no API to take the shape from).
async fn not_found() -> Response {
    faults::error_response(Api::OpenAiChat, StatusCode::NOT_FOUND, "mock-llm: no such route")
}

/// A JSON response without pulling in axum's `json` feature.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Seconds since the Unix epoch, for the `created` field.
pub(crate) fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A unique-per-process id suffix like `3f9a…`, for `Api::response_id` (`chatcmpl-3f9a…`, `resp_3f9a…`,
/// `msg_3f9a…`): clock bits mixed with a counter, no RNG dependency.
pub(crate) fn new_id_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // splitmix64 finaliser, so consecutive ids do not look alike.
    let mut z = nanos ^ count.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{z:016x}{:08x}", count as u32)
}
