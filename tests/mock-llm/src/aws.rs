//! The AWS routes: Amazon Bedrock (Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream) and
//! SageMaker (InvokeEndpoint, InvokeEndpointWithResponseStream), with AWS's authentication and error shapes.
//!
//! Every byte of an answer comes from `tokenmeter_protocol::aws`'s encoders (event-stream frames with real
//! CRCs, Converse events, InvokeModel `chunk`s, SageMaker `PayloadPart`s), driven by the same
//! [`crate::generate`] state machine, timing knobs and faults as the SSE APIs. Where they differ:
//! - **Authentication.** Every request needs a SigV4 `Authorization` (signing name `bedrock` on `/model/…`,
//!   `sagemaker` on `/endpoints/…`) by a key in [`AwsKeys`] (AWS's documented example key, plus one from
//!   `MOCK_AWS_ACCESS_KEY_ID` / `MOCK_AWS_SECRET_ACCESS_KEY`), checked with `sigv4::verify` against the URL
//!   rebuilt from the request's own `Host` header (what a page calling the mock cross-origin signed), or,
//!   on `/model/…` only, `Authorization: Bearer <Bedrock API key>` (any non-empty key). Refusals are HTTP 403
//!   with AWS's `{"message"}` body and `x-amzn-ErrorType`: `MissingAuthenticationTokenException`,
//!   `UnrecognizedClientException` (unknown key id), `InvalidSignatureException` (wrong signature, wrong
//!   service scope, or a signing time more than 5 minutes off: "Signature expired: …" / "Signature not yet
//!   current: …", AWS's own wording), `IncompleteSignatureException` (malformed).
//! - **Body families.** InvokeModel's body decides its family ([`InvokeFamily::of`]): Claude
//!   (`anthropic_version`, or `messages` with `max_tokens`) or OpenAI Chat (`messages`, gpt-oss style).
//!   SageMaker's container format is the `x-mock-container` / `container` knob (`tgi`, `lmi`, `vllm`), else
//!   `vllm` for a body with `messages` and `tgi` otherwise.
//! - **Faults.** `status` answers with AWS's error shape and `x-amzn-ErrorType` ([`Service::error_type`]);
//!   `error_after` sends an in-stream exception frame (`error_kind=throttled`: `throttlingException`,
//!   `server`: `modelStreamErrorException` / SageMaker `ModelStreamError`, `validation`:
//!   `validationException` / SageMaker `ValidationError`); `corrupt_after` breaks one frame's CRC.
//! - **Headers.** `x-amzn-requestid` on every answer; a non-streamed InvokeModel answer carries
//!   `x-amzn-bedrock-invocation-latency` and the input/output token counts, as Bedrock's does.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::{Extension, Router};
use serde_json::{json, Value};
use tokenmeter_protocol::aws::eventstream::exception_frame;
use tokenmeter_protocol::aws::invoke::{self, InvokeEncoder};
use tokenmeter_protocol::aws::sagemaker::{self, Container, SageMakerEncoder};
use tokenmeter_protocol::aws::sigv4::{parse_amz_date, verify, AwsCredentials};
use tokenmeter_protocol::aws::{self as aws_protocol};
use tokenmeter_protocol::wire::{Encoder, Finish, Reply};
use tokenmeter_protocol::{Api, HttpRequest};

use crate::faults::{self, FaultKind, Faults, STATUS_HEADER, STREAM_ERROR_MESSAGE};
use crate::generate::{Generation, Wire};
use crate::handler::{self, Flag, INCLUDE_USAGE_HEADER};
use crate::journal::Entry;
use crate::metrics::Metrics;
use crate::prefix_cache::PrefixCache;
use crate::timing::{Knobs, Timing};
use crate::{AppState, Arrival, Config, REQUEST_ID_HEADER};

/// The content type of a streamed AWS answer.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
/// The request id AWS sends with every answer.
pub const REQUEST_ID: &str = "x-amzn-requestid";
/// The error's type (`ThrottlingException`, …) beside a `{"message"}` body.
pub const ERROR_TYPE: &str = "x-amzn-errortype";
/// InvokeModel (one body): the service's invocation latency, in ms.
pub const INVOCATION_LATENCY_HEADER: &str = "x-amzn-bedrock-invocation-latency";
/// InvokeModel (one body): input tokens.
pub const INPUT_TOKENS_HEADER: &str = "x-amzn-bedrock-input-token-count";
/// InvokeModel (one body): output tokens.
pub const OUTPUT_TOKENS_HEADER: &str = "x-amzn-bedrock-output-token-count";
/// SageMaker's container format: `tgi`, `lmi` (JSON lines) or `vllm` (OpenAI Chat).
pub const CONTAINER_HEADER: &str = "x-mock-container";

/// The access key id of AWS's documentation and SigV4 test suite.
pub const TEST_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// Its secret.
pub const TEST_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// How far a signing time may be from the server's clock, as AWS allows.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// AWS's message for a signature that does not verify.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you \
provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The AWS service behind a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Bedrock,
    SageMaker,
}

impl Service {
    /// The SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Bedrock => "bedrock",
            Service::SageMaker => "sagemaker",
        }
    }

    /// The `x-amzn-ErrorType` the service sends with an HTTP error `status`.
    pub fn error_type(self, status: u16) -> &'static str {
        match self {
            Service::Bedrock => aws_protocol::error_type(status),
            Service::SageMaker => sagemaker::error_type(status),
        }
    }

    /// An HTTP error in the service's shape: its JSON body (Bedrock `{"message"}`, SageMaker `{"Message"}`)
    /// and `x-amzn-ErrorType`.
    pub fn error_response(self, status: StatusCode, message: &str) -> Response {
        let encoder: &dyn Encoder = match self {
            Service::Bedrock => &aws_protocol::converse::ConverseEncoder,
            Service::SageMaker => &sagemaker::TGI,
        };
        let body = encoder.error_body(status.as_u16(), message);
        error(status, self.error_type(status.as_u16()), &body)
    }
}

/// An AWS error: `body` and `x-amzn-ErrorType: {error_type}`.
fn error(status: StatusCode, error_type: &str, body: &Value) -> Response {
    let mut response = crate::json_response(status, body);
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(ERROR_TYPE), value);
    }
    response
}

/// Why a request's credentials were refused: AWS's error type and message, sent as HTTP 403 with a
/// `{"message"}` body, as AWS's front door answers for every service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error_type: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(error_type: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            error_type,
            message: message.into(),
        }
    }

    /// The 403 response.
    pub fn response(&self) -> Response {
        error(
            StatusCode::FORBIDDEN,
            self.error_type,
            &json!({ "message": self.message }),
        )
    }
}

/// The InvokeModel body families the mock answers (those with an encoder in `protocol::aws::invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeFamily {
    /// Claude: Anthropic Messages events in `chunk`s, a Messages body.
    Anthropic,
    /// OpenAI-style models (gpt-oss): `chat.completion.chunk`s in `chunk`s, a `chat.completion` body.
    OpenAiChat,
}

impl InvokeFamily {
    /// The family of an InvokeModel request body: Claude for `anthropic_version`, or `messages` with
    /// `max_tokens` and nothing OpenAI-only; OpenAI Chat for other `messages` bodies. `None` for bodies of other
    /// families (Nova's `schemaVersion` / `inferenceConfig`, Llama's or Mistral's `prompt`, Titan's
    /// `inputText`), which the mock does not answer.
    pub fn of(body: &Value) -> Option<InvokeFamily> {
        let has = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
        if has("anthropic_version") {
            return Some(InvokeFamily::Anthropic);
        }
        if !has("messages") || has("schemaVersion") || has("inferenceConfig") {
            return None;
        }
        let openai_role = body["messages"].as_array().is_some_and(|messages| {
            messages
                .iter()
                .any(|m| matches!(m["role"].as_str(), Some("system" | "developer" | "tool")))
        });
        let openai = openai_role || has("max_completion_tokens") || has("stream_options");
        Some(if !openai && has("max_tokens") {
            InvokeFamily::Anthropic
        } else {
            InvokeFamily::OpenAiChat
        })
    }

    /// The encoder of this family's InvokeModel answers.
    pub fn encoder(self) -> &'static InvokeEncoder {
        match self {
            InvokeFamily::Anthropic => &invoke::ANTHROPIC_INVOKE,
            InvokeFamily::OpenAiChat => &invoke::OPENAI_CHAT_INVOKE,
        }
    }
}

/// The encoder of a SageMaker container format.
pub fn sagemaker_encoder(format: Container) -> &'static SageMakerEncoder {
    match format {
        Container::Tgi => &sagemaker::TGI,
        Container::JsonLines => &sagemaker::JSON_LINES,
        Container::OpenAiChat => &sagemaker::OPENAI_CHAT,
    }
}

/// The `container` knob's value.
struct ContainerKnob(Container);

impl std::str::FromStr for ContainerKnob {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "tgi" => Ok(ContainerKnob(Container::Tgi)),
            "lmi" | "djl" | "jsonlines" => Ok(ContainerKnob(Container::JsonLines)),
            "vllm" | "openai" => Ok(ContainerKnob(Container::OpenAiChat)),
            _ => Err(()),
        }
    }
}

/// The in-stream exception of an AWS wire: the encoder's own for throttling and server faults; a
/// validation exception (Bedrock's `validationException`, SageMaker `ValidationError`) written here, since
/// `wire::WireFault` has no such kind.
pub fn stream_exception(wire: Wire, reply: &Reply, kind: FaultKind) -> Vec<u8> {
    match (kind.wire_fault(), wire.service()) {
        (Some(fault), _) => wire.encoder().error_event(reply, fault, STREAM_ERROR_MESSAGE),
        (None, Some(Service::SageMaker)) => exception_frame(
            "ValidationError",
            &json!({"Message": STREAM_ERROR_MESSAGE, "ErrorCode": "ValidationError"}),
        ),
        (None, _) => exception_frame("validationException", &json!({ "message": STREAM_ERROR_MESSAGE })),
    }
}

/// `frames` with the last frame's message CRC (its last byte) broken.
pub fn corrupt(mut frames: Vec<u8>) -> Vec<u8> {
    if let Some(last) = frames.last_mut() {
        *last ^= 0xff;
    }
    frames
}

/// The AWS keys the mock accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKeys(Vec<AwsCredentials>);

/// AWS's documented example key only.
impl Default for AwsKeys {
    fn default() -> Self {
        AwsKeys(vec![AwsCredentials::new(
            TEST_ACCESS_KEY_ID,
            TEST_SECRET_ACCESS_KEY,
            None,
        )])
    }
}

impl AwsKeys {
    /// The example key and, when both `MOCK_AWS_ACCESS_KEY_ID` and `MOCK_AWS_SECRET_ACCESS_KEY` are set,
    /// that pair too.
    pub fn from_env() -> Result<AwsKeys, String> {
        AwsKeys::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`AwsKeys::from_env`] with an injectable lookup; one variable without the other is an error.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<AwsKeys, String> {
        let read = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        match (read("MOCK_AWS_ACCESS_KEY_ID"), read("MOCK_AWS_SECRET_ACCESS_KEY")) {
            (None, None) => Ok(AwsKeys::default()),
            (Some(id), Some(secret)) => {
                Ok(AwsKeys::default().with(AwsCredentials::new(id.trim(), secret.trim(), None)))
            }
            _ => Err("set both MOCK_AWS_ACCESS_KEY_ID and MOCK_AWS_SECRET_ACCESS_KEY, or neither".into()),
        }
    }

    /// These keys and `credentials` (which win over an earlier key with the same id).
    pub fn with(mut self, credentials: AwsCredentials) -> AwsKeys {
        self.0.retain(|c| c.access_key_id != credentials.access_key_id);
        self.0.push(credentials);
        self
    }

    /// The access key ids accepted.
    pub fn key_ids(&self) -> Vec<&str> {
        self.0.iter().map(|c| c.access_key_id.as_str()).collect()
    }

    fn find(&self, key_id: &str) -> Option<&AwsCredentials> {
        self.0.iter().find(|c| c.access_key_id == key_id)
    }
}

/// Checks a request's credentials for `service` at server time `now`.
pub fn authenticate(
    service: Service,
    keys: &AwsKeys,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), Refusal> {
    let Some(auth) = headers.get(AUTHORIZATION) else {
        return Err(Refusal::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let auth = String::from_utf8_lossy(auth.as_bytes());
    let incomplete = |message: &str| Err(Refusal::new("IncompleteSignatureException", message));
    if let Some(scheme) = auth.get(..7).filter(|s| s.eq_ignore_ascii_case("bearer ")) {
        let key = &auth[scheme.len()..];
        return match service {
            Service::Bedrock if !key.trim().is_empty() => Ok(()),
            Service::Bedrock => incomplete("mock-llm: Authorization: Bearer needs a Bedrock API key"),
            Service::SageMaker => incomplete(
                "Authorization header requires 'Credential' parameter. Authorization header requires \
                 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
                 (mock-llm: SageMaker takes SigV4 only; Bedrock API keys do not work here)",
            ),
        };
    }
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return incomplete("mock-llm: Authorization must be an AWS4-HMAC-SHA256 signature or a Bearer key");
    };
    let key_id = fields
        .split(',')
        .map(str::trim)
        .find_map(|f| f.strip_prefix("Credential="))
        .and_then(|scope| scope.split('/').next());
    let Some(key_id) = key_id else {
        return incomplete("Authorization header requires 'Credential' parameter.");
    };
    let Some(credentials) = keys.find(key_id) else {
        return Err(Refusal::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    if let Some(time) = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_amz_date)
    {
        if let Some(message) = skew(time, now) {
            return Err(Refusal::new("InvalidSignatureException", message));
        }
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return incomplete("mock-llm: the request has no Host header to check the signature against");
    };
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let request = HttpRequest {
        method: method.as_str().to_owned(),
        url: format!("http://{host}{path}"),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    match verify(&request, credentials) {
        Ok(verified) if verified.service != service.signing_name() => Err(Refusal::new(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service: '{}'. ",
                service.signing_name()
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.0.contains("does not match") => {
            let message = if e.0.starts_with("The request signature") {
                SIGNATURE_MISMATCH.to_owned()
            } else {
                format!("{SIGNATURE_MISMATCH} (mock-llm: {})", e.0)
            };
            Err(Refusal::new("InvalidSignatureException", message))
        }
        Err(e) => incomplete(&format!("mock-llm: {}", e.0)),
    }
}

/// AWS's message for a signing time more than [`MAX_SKEW`] from `now`, if it is.
fn skew(time: SystemTime, now: SystemTime) -> Option<String> {
    if time + MAX_SKEW < now {
        Some(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            amz_date(time),
            amz_date(now - MAX_SKEW),
            amz_date(now)
        ))
    } else if time > now + MAX_SKEW {
        Some(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            amz_date(time),
            amz_date(now + MAX_SKEW),
            amz_date(now)
        ))
    } else {
        None
    }
}

/// A time as `x-amz-date` writes it (`20150830T123600Z`).
pub fn amz_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A request id in AWS's form (a UUID).
fn request_id() -> String {
    let hex = crate::new_id_suffix() + &crate::new_id_suffix();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Which AWS operation a route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Converse,
    Invoke,
    SageMaker,
}

impl Operation {
    fn service(self) -> Service {
        match self {
            Operation::Converse | Operation::Invoke => Service::Bedrock,
            Operation::SageMaker => Service::SageMaker,
        }
    }

    /// AWS's name for the operation, streamed or not, in the journal.
    fn name(self, stream: bool) -> &'static str {
        match (self, stream) {
            (Operation::Converse, false) => "Converse",
            (Operation::Converse, true) => "ConverseStream",
            (Operation::Invoke, false) => "InvokeModel",
            (Operation::Invoke, true) => "InvokeModelWithResponseStream",
            (Operation::SageMaker, false) => "InvokeEndpoint",
            (Operation::SageMaker, true) => "InvokeEndpointWithResponseStream",
        }
    }
}

/// The AWS routes (`POST`), for [`crate::app_with_keys`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/model/{id}/converse", route(Operation::Converse, false))
        .route("/model/{id}/converse-stream", route(Operation::Converse, true))
        .route("/model/{id}/invoke", route(Operation::Invoke, false))
        .route(
            "/model/{id}/invoke-with-response-stream",
            route(Operation::Invoke, true),
        )
        .route(
            "/endpoints/{name}/invocations",
            route(Operation::SageMaker, false),
        )
        .route(
            "/endpoints/{name}/invocations-response-stream",
            route(Operation::SageMaker, true),
        )
}

fn route(op: Operation, stream: bool) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              Extension(arrival): Extension<Arrival>,
              Path(name): Path<String>,
              method: Method,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| async move {
            let call = Call {
                op,
                stream,
                name: &name,
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            call.answer(&state, arrival).await
        },
    )
}

/// One AWS request.
struct Call<'a> {
    op: Operation,
    stream: bool,
    /// The model id or endpoint name, percent-decoded.
    name: &'a str,
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl Call<'_> {
    async fn answer(&self, state: &AppState, arrival: Arrival) -> Response {
        let started = Instant::now();
        let id = request_id();
        let request = handler::json_object(self.body);
        let prepared = self.prepare(
            &state.config,
            &state.aws,
            &state.prefix_cache,
            &state.metrics,
            request.as_ref(),
            started,
            &id,
        );
        let mut entry = Entry::new(
            self.op.name(self.stream),
            state.received_ms(arrival),
            request.as_ref(),
            "messages",
            request.as_ref().and_then(aws_protocol::prompt_text),
            request.as_ref().and_then(aws_protocol::max_output_tokens),
        );
        if let Ok(generation) = &prepared {
            entry.reported(&generation.reply);
        }
        state.journal.record(entry);
        let mut response = match prepared {
            Ok(generation) => self.run(generation).await,
            Err(refused) => refused,
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID), value);
        }
        response
    }

    /// The answer to give, or the refusal. `request` is the body as a JSON object (`None`: it is not one).
    // The refusal is the final answer, made once per request and not passed up: no point boxing it.
    #[allow(clippy::too_many_arguments, clippy::result_large_err)]
    fn prepare(
        &self,
        config: &Config,
        keys: &Arc<AwsKeys>,
        prefix_cache: &PrefixCache,
        metrics: &Metrics,
        request: Option<&Value>,
        started: Instant,
        request_id: &str,
    ) -> Result<Generation, Response> {
        let service = self.op.service();
        let (stream, headers) = (self.stream, self.headers);
        if let Err(refused) = authenticate(
            service,
            keys,
            self.method,
            self.uri,
            headers,
            self.body,
            SystemTime::now(),
        ) {
            return Err(refused.response());
        }
        let bad_request = |message: &str| service.error_response(StatusCode::BAD_REQUEST, message);
        let knobs = Knobs::new(headers, self.uri.query());
        let faults = match Faults::resolve(&knobs) {
            Ok(faults) => faults,
            Err(e) => return Err(bad_request(&e.0)),
        };
        if let Some(status) = faults.status {
            let message = format!("mock-llm: injected HTTP {} ({STATUS_HEADER})", status.as_u16());
            return Err(service.error_response(status, &message));
        }
        let Some(request) = request else {
            return Err(bad_request("mock-llm: body is not a JSON object"));
        };
        let wire =
            match self.op {
                Operation::Converse => Wire::Converse,
                Operation::Invoke => match InvokeFamily::of(request) {
                    Some(family) => Wire::Invoke(family),
                    None => return Err(bad_request(
                        "mock-llm: InvokeModel answers Claude (anthropic_version, or messages + max_tokens) \
                         and OpenAI Chat (messages) bodies only",
                    )),
                },
                Operation::SageMaker => match knobs.get::<ContainerKnob>(CONTAINER_HEADER, "container") {
                    Ok(Some(container)) => Wire::SageMaker(container.0),
                    Ok(None) if request.get("messages").is_some() => Wire::SageMaker(Container::OpenAiChat),
                    Ok(None) => Wire::SageMaker(Container::Tgi),
                    Err(e) => return Err(bad_request(&format!("{e} (tgi, lmi or vllm)"))),
                },
            };
        if let Err(e) = faults.check(true, stream) {
            return Err(bad_request(&e.0));
        }
        let faults = faults.with_chaos(true, stream, faults::next_draw());
        if let Some(status) = faults.status {
            let message = format!("mock-llm: injected HTTP {} (chaos)", status.as_u16());
            return Err(service.error_response(status, &message));
        }
        let timing = match Timing::resolve(&knobs, config, aws_protocol::max_output_tokens(request)) {
            Ok(timing) => timing,
            Err(e) => return Err(bad_request(&e.0)),
        };
        let include_usage = match knobs.get::<Flag>(INCLUDE_USAGE_HEADER, "include_usage") {
            Ok(flag) => flag.map(|f| f.0),
            Err(e) => return Err(bad_request(&e.0)),
        };
        let include_usage = match wire {
            Wire::SageMaker(Container::OpenAiChat) => include_usage.unwrap_or_else(|| {
                request["stream_options"]["include_usage"]
                    .as_bool()
                    .unwrap_or(false)
            }),
            _ => true,
        };
        let suffix = crate::new_id_suffix();
        let reply_id = match wire {
            Wire::Invoke(InvokeFamily::Anthropic) => format!("msg_bdrk_{suffix}"),
            Wire::Invoke(InvokeFamily::OpenAiChat) | Wire::SageMaker(Container::OpenAiChat) => {
                Api::OpenAiChat.response_id(&suffix)
            }
            _ => request_id.to_owned(),
        };
        let model = match service {
            Service::Bedrock => self.name.to_owned(),
            Service::SageMaker => request["model"].as_str().unwrap_or(self.name).to_owned(),
        };
        let generation = Generation {
            wire,
            started,
            reply: Reply {
                id: reply_id.clone(),
                model,
                created: crate::unix_seconds(),
                input_tokens: aws_protocol::prompt_text(request)
                    .map_or(0, |text| text.split_whitespace().count() as u64),
                cached_input_tokens: aws_protocol::prompt_text(request)
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
        Ok(generation)
    }

    /// The answer of `generation`, with the headers AWS sends beside it.
    async fn run(&self, generation: Generation) -> Response {
        let (wire, stream, reply_id) = (generation.wire, self.stream, generation.reply.id.clone());
        let mut response = handler::run(generation, stream).await;
        let extra: &[(&'static str, &str)] = match (wire, stream) {
            (Wire::Invoke(_), true) => &[("x-amzn-bedrock-content-type", "application/json")],
            (Wire::SageMaker(format), _) => &[
                ("x-amzn-invoked-production-variant", "AllTraffic"),
                (
                    "x-amzn-sagemaker-content-type",
                    match (format, stream) {
                        (Container::JsonLines, true) => "application/jsonlines",
                        (_, true) => "text/event-stream",
                        (_, false) => "application/json",
                    },
                ),
            ],
            _ => &[],
        };
        let response_headers = response.headers_mut();
        for (name, value) in extra {
            response_headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        if let Ok(value) = HeaderValue::from_str(&reply_id) {
            response_headers.insert(REQUEST_ID_HEADER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        for text in [
            "20150830T123600Z",
            "20000229T000000Z",
            "20261231T235959Z",
            "19700101T000000Z",
        ] {
            assert_eq!(amz_date(parse_amz_date(text).unwrap()), text);
        }
    }

    #[test]
    fn skew_is_refused_past_five_minutes_either_way() {
        let now = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(skew(now - MAX_SKEW, now), None);
        assert_eq!(skew(now + MAX_SKEW, now), None);
        assert_eq!(
            skew(now - MAX_SKEW - Duration::from_secs(1), now).as_deref(),
            Some("Signature expired: 20150830T123059Z is now earlier than 20150830T123100Z (20150830T123600Z - 5 min.)")
        );
        assert!(skew(now + MAX_SKEW + Duration::from_secs(1), now)
            .unwrap()
            .starts_with("Signature not yet current: 20150830T124101Z is still later than"));
    }

    #[test]
    fn invoke_bodies_pick_their_family() {
        use tokenmeter_protocol::aws::invoke::InvokeBody;
        let cases = [
            (
                InvokeBody::Anthropic.create_payload("p", 5),
                Some(InvokeFamily::Anthropic),
            ),
            (
                InvokeBody::OpenAiChat.create_payload("p", 5),
                Some(InvokeFamily::OpenAiChat),
            ),
            // LLMeter's default InvokeModel body is Claude-shaped.
            (
                InvokeBody::Custom(Default::default()).create_payload("p", 5),
                Some(InvokeFamily::Anthropic),
            ),
            (
                json!({"messages": [{"role": "system", "content": "s"}], "max_tokens": 5}),
                Some(InvokeFamily::OpenAiChat),
            ),
            (json!({"messages": []}), Some(InvokeFamily::OpenAiChat)),
            (InvokeBody::Converse.create_payload("p", 5), None),
            (InvokeBody::Llama.create_payload("p", 5), None),
            (InvokeBody::Titan.create_payload("p", 5), None),
        ];
        for (body, want) in cases {
            assert_eq!(InvokeFamily::of(&body), want, "{body}");
        }
    }

    #[test]
    fn keys_come_in_pairs() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(AwsKeys::from_lookup(env(&[])), Ok(AwsKeys::default()));
        let both = AwsKeys::from_lookup(env(&[
            ("MOCK_AWS_ACCESS_KEY_ID", "AKIAMOCK"),
            ("MOCK_AWS_SECRET_ACCESS_KEY", "s3cret"),
        ]))
        .unwrap();
        assert_eq!(both.key_ids(), ["AKIDEXAMPLE", "AKIAMOCK"]);
        assert!(AwsKeys::from_lookup(env(&[("MOCK_AWS_ACCESS_KEY_ID", "AKIAMOCK")])).is_err());
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_ne!(id, request_id());
    }
}
