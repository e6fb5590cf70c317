//! [`Target`]: a validated [`TargetSpec`] made concrete: the protocol endpoint that builds each request (and, for
//! AWS, signs it at the moment it is sent) and picks its decoder, the payloads to send, and the `run_config.json`
//! endpoint block. Credentials arrive here as an argument, beside the spec, and go only into request headers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::request::PreparedRequest;
use tokenmeter_core::address_space::origin;
use tokenmeter_core::dataset::DatasetRow;
use tokenmeter_core::format::EndpointBlock;
use tokenmeter_core::input::RunInput;
use tokenmeter_core::input::MAX_OUTPUT_TOKENS;
use tokenmeter_core::payload::{bust_cache, cache_buster_tag, generated_prompt};
use tokenmeter_core::target::{
    ApiKind, AwsAuthKind, AwsSpec, Container, InvokeFamily, TargetSpec, TransportKind,
};
use tokenmeter_protocol::aws::invoke::InvokeBody;
use tokenmeter_protocol::aws::sigv4::{AwsAuth, AwsCredentials};
use tokenmeter_protocol::aws::{AwsEndpoint, AwsTarget, BedrockApi};
use tokenmeter_protocol::payload_options::{self, Exchange, Image, PayloadOptions, Shape};
use tokenmeter_protocol::{Api, ApiEndpoint, Credential, HttpRequest, ProtocolError};

/// The secrets a run may need, held by the page in memory only (and posted to the engine's worker, never
/// written anywhere).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// An API key (OpenAI, Anthropic, a Bedrock API key).
    pub api_key: Option<String>,
    /// An AWS access key id, secret access key and optional session token.
    pub aws: Option<(String, String, Option<String>)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("aws", &self.aws.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The protocol module that speaks `kind`, for the APIs outside AWS.
pub fn protocol_api(kind: ApiKind) -> Option<Api> {
    match kind {
        ApiKind::OpenAiChat => Some(Api::OpenAiChat),
        ApiKind::OpenAiResponses => Some(Api::OpenAiResponses),
        ApiKind::AnthropicMessages => Some(Api::AnthropicMessages),
        ApiKind::BedrockConverse | ApiKind::BedrockInvoke | ApiKind::SageMaker => None,
    }
}

/// Where requests go and how they are written.
#[derive(Debug, Clone)]
enum Wire {
    Api(ApiEndpoint),
    /// `proxy`: a base URL with a path (`http://127.0.0.1:8080/bedrock`) is a proxy prefix in front of AWS's own
    /// host: requests are signed for AWS's host and path, which is what the proxy forwards, and sent to the
    /// prefix.
    Aws {
        endpoint: AwsEndpoint,
        proxy: Option<String>,
    },
}

impl Wire {
    fn for_spec(spec: &TargetSpec, credentials: &Credentials) -> Result<Wire, TargetError> {
        Ok(match (protocol_api(spec.api), &spec.aws) {
            (Some(api), _) => Wire::Api(api_endpoint(api, spec, credentials)),
            (None, Some(aws)) => {
                let proxy = proxy_prefix(&spec.base_url);
                let mut endpoint = aws_endpoint(spec, aws, credentials)?;
                if proxy.is_some() {
                    endpoint.base_url = None;
                }
                Wire::Aws { endpoint, proxy }
            }
            (None, None) => unreachable!("core::input gives every AWS target its AWS settings"),
        })
    }

    fn create_payload(&self, prompt: &str, max_tokens: u32) -> Value {
        match self {
            Wire::Api(e) => e.api.create_payload(prompt, max_tokens),
            Wire::Aws { endpoint, .. } => endpoint.create_payload(prompt, max_tokens),
        }
    }

    /// The payload shape that system prompts, temperatures and images can be written into, if this target has one.
    fn shape(&self) -> Option<Shape> {
        match self {
            Wire::Api(e) => Some(match e.api {
                Api::OpenAiChat => Shape::Chat,
                Api::OpenAiResponses => Shape::Responses,
                Api::AnthropicMessages => Shape::Anthropic,
            }),
            Wire::Aws { endpoint, .. } => match &endpoint.target {
                AwsTarget::Bedrock {
                    api: BedrockApi::Converse | BedrockApi::Invoke(InvokeBody::Converse),
                    ..
                } => Some(Shape::Converse),
                AwsTarget::Bedrock {
                    api: BedrockApi::Invoke(InvokeBody::Anthropic),
                    ..
                } => Some(Shape::Anthropic),
                AwsTarget::Bedrock {
                    api: BedrockApi::Invoke(InvokeBody::OpenAiChat),
                    ..
                }
                | AwsTarget::SageMaker {
                    format: Container::OpenAiChat,
                    ..
                } => Some(Shape::Chat),
                _ => None,
            },
        }
    }
}

/// The proxy prefix in `base_url`, if it has a path (see [`Wire::Aws`]).
fn proxy_prefix(base_url: &str) -> Option<String> {
    let without_query = base_url.split('?').next().unwrap_or("").trim_end_matches('/');
    let after_scheme = without_query.find("://").map_or(0, |i| i + 3);
    without_query[after_scheme..]
        .contains('/')
        .then(|| without_query.to_owned())
}

/// Why a target cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the payload cannot be sent: {0}")]
    Payload(#[from] ProtocolError),
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Options(String),
}

/// What a run sends, and to whom.
#[derive(Debug, Clone)]
pub struct Target {
    spec: TargetSpec,
    wire: Wire,
    payloads: Vec<Value>,
    /// With a cache buster, each request's prompt gets a tag unique to (this seed, its index).
    cache_buster: Option<u64>,
    /// Each payload as records keep it, built once and shared by every record that sent it (no copy per request).
    recorded: Vec<Option<Arc<Value>>>,
}

impl Target {
    /// The target for `spec`, sending `payloads` in turn. Every payload is checked to build (and, for AWS, sign) a
    /// request now, so [`Target::prepare`] cannot fail later.
    pub fn new(
        spec: &TargetSpec,
        payloads: Vec<Value>,
        credentials: &Credentials,
    ) -> Result<Target, TargetError> {
        Target::checked(spec, Wire::for_spec(spec, credentials)?, payloads)
    }

    fn checked(spec: &TargetSpec, wire: Wire, payloads: Vec<Value>) -> Result<Target, TargetError> {
        if payloads.is_empty() {
            return Err(ProtocolError::Malformed("there is no payload to send".into()).into());
        }
        let mut target = Target {
            spec: spec.clone(),
            wire,
            payloads,
            cache_buster: None,
            recorded: Vec::new(),
        };
        for payload in &target.payloads {
            target.request(
                payload,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            )?;
        }
        target.recorded = target
            .payloads
            .iter()
            .map(|p| target.recorded_payload(p))
            .collect();
        Ok(target)
    }

    /// The target a run of `input` sends to: an edited request body, the `uploaded` payloads, one payload per
    /// `dataset` row (its prompt, and its output length as the limit), one generated prompt per heatmap cell, or
    /// one payload from the prompt (or a generated prompt of the asked length, from `seed`), in the API's shape.
    /// The page and the command build their runs with this one function.
    pub fn for_input(
        input: &RunInput,
        uploaded: Option<Vec<Value>>,
        dataset: Option<&[DatasetRow]>,
        image: Option<Image>,
        credentials: &Credentials,
        seed: u64,
    ) -> Result<Target, TargetError> {
        let options = PayloadOptions {
            system: input.system.clone(),
            temperature: input.temperature,
            image,
        };
        let spec = &input.target;
        match (&input.payload_json, uploaded, &input.heatmap) {
            (Some(body), _, _) => Target::new(spec, vec![body.clone()], credentials),
            (None, Some(payloads), _) => Target::new(spec, payloads, credentials),
            (None, None, None) if dataset.is_some() => dataset
                .unwrap_or_default()
                .iter()
                .map(|row| {
                    let limit = row
                        .output_tokens
                        .unwrap_or(input.max_tokens)
                        .min(MAX_OUTPUT_TOKENS);
                    Target::with_prompt_and(spec, &row.prompt, limit, &options, credentials)
                        .map(|t| t.payloads()[0].clone())
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|payloads| Target::new(spec, payloads, credentials)),
            // A heatmap: payload `i` is cell `i`'s prompt length and output budget.
            (None, None, Some(cells)) => cells
                .iter()
                .map(|cell| {
                    Target::with_prompt_and(
                        spec,
                        &cell.prompt(),
                        cell.max_output_tokens,
                        &options,
                        credentials,
                    )
                    .map(|t| t.payloads()[0].clone())
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|payloads| Target::new(spec, payloads, credentials)),
            (None, None, None) if input.shared_prefix.is_some() => {
                let shared = input.shared_prefix.expect("checked");
                shared
                    .prompts(&input.prompt, seed)
                    .iter()
                    .map(|prompt| {
                        Target::with_prompt_and(spec, prompt, input.max_tokens, &options, credentials)
                            .map(|t| t.payloads()[0].clone())
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(|payloads| Target::new(spec, payloads, credentials))
            }
            (None, None, None) => {
                let prompt = match input.prompt_tokens {
                    Some(tokens) => generated_prompt(tokens, seed),
                    None => input.prompt.clone(),
                };
                Target::with_prompt_and(spec, &prompt, input.max_tokens, &options, credentials)
            }
        }
    }

    /// The target sending one payload built from `prompt` and `max_tokens` in the API's own shape.
    pub fn with_prompt(
        spec: &TargetSpec,
        prompt: &str,
        max_tokens: u32,
        credentials: &Credentials,
    ) -> Result<Target, TargetError> {
        Target::with_prompt_and(spec, prompt, max_tokens, &PayloadOptions::default(), credentials)
    }

    /// [`Target::with_prompt`] with a system prompt, temperature or image, written in the API's own shape.
    pub fn with_prompt_and(
        spec: &TargetSpec,
        prompt: &str,
        max_tokens: u32,
        options: &PayloadOptions,
        credentials: &Credentials,
    ) -> Result<Target, TargetError> {
        let wire = Wire::for_spec(spec, credentials)?;
        let mut payload = wire.create_payload(prompt, max_tokens);
        if !options.is_empty() {
            let shape = wire.shape().ok_or_else(|| {
                TargetError::Options(format!(
                    "a system prompt, temperature or image cannot be written into {} bodies of this kind: put \
                     them in a payload file",
                    spec.api
                ))
            })?;
            payload_options::apply(&mut payload, shape, options)?;
        }
        Target::checked(spec, wire, vec![payload])
    }

    /// Prefixes every request's prompt with a tag unique to `seed` and its index (a different seed per run, so a
    /// later run cannot hit what an earlier one cached).
    pub fn with_cache_buster(mut self, seed: u64) -> Self {
        self.cache_buster = Some(seed);
        self
    }

    /// The payloads, as given (for `payload.jsonl`).
    pub fn payloads(&self) -> &[Value] {
        &self.payloads
    }

    /// The request for `payload`, signed (AWS) for `time`.
    fn request(&self, payload: &Value, time: SystemTime) -> Result<HttpRequest, TargetError> {
        match &self.wire {
            Wire::Api(e) => Ok(e.build_request(payload)?),
            Wire::Aws { endpoint, proxy } => {
                let mut request = endpoint.build_request(payload)?;
                endpoint
                    .authorize(&mut request, time)
                    .map_err(|err| TargetError::Credentials(err.to_string()))?;
                if let Some(prefix) = proxy {
                    request.url = format!("{prefix}{}", endpoint.path());
                }
                Ok(request)
            }
        }
    }

    /// The request for send number `index` with payload `payload_index` (taken modulo the payload count), signed
    /// for `now` (the page's wall clock) when the target is AWS.
    pub fn prepare(&self, index: u64, payload_index: usize, now: DateTime<Utc>) -> PreparedRequest {
        let given = &self.payloads[payload_index % self.payloads.len()];
        let busted = self
            .cache_buster
            .map(|seed| bust_cache(given, &cache_buster_tag(seed, index)));
        // A busted payload is this request's own; otherwise every record shares the one built up front.
        let input_payload = match &busted {
            Some(own) => self.recorded_payload(own),
            None => self.recorded[payload_index % self.recorded.len()].clone(),
        };
        self.prepared(index, busted.as_ref().unwrap_or(given), input_payload, now)
    }

    /// The payload shape a conversation is written in: `None` for bodies that hold no message list.
    pub fn conversation_shape(&self) -> Result<Shape, TargetError> {
        let shape = self.wire.shape().ok_or_else(|| {
            TargetError::Options(format!(
                "multi-turn conversations need a message list; {} bodies of this kind have none",
                self.spec.api
            ))
        })?;
        for payload in &self.payloads {
            payload_options::with_history(&mut payload.clone(), shape, &[])?;
        }
        Ok(shape)
    }

    /// Turn `history.len()` of a conversation: payload `payload_index`'s user message after the conversation so
    /// far, as request number `index`. Returns the request and the turn's own user text, for the next turn's
    /// history. Call [`Target::conversation_shape`] once first: it checks every payload can hold a conversation.
    pub fn prepare_turn(
        &self,
        index: u64,
        payload_index: usize,
        history: &[Exchange],
        now: DateTime<Utc>,
    ) -> (PreparedRequest, String) {
        let shape = self.wire.shape().expect("checked by conversation_shape");
        let given = &self.payloads[payload_index % self.payloads.len()];
        let user = payload_options::last_user_text(given, shape).unwrap_or_default();
        let mut body = match self.cache_buster {
            Some(seed) => bust_cache(given, &cache_buster_tag(seed, index)),
            None => given.clone(),
        };
        payload_options::with_history(&mut body, shape, history).expect("checked by conversation_shape");
        let recorded = self.recorded_payload(&body);
        (self.prepared(index, &body, recorded, now), user)
    }

    /// Request number `index` sending `payload` (signed for `now` when the target is AWS).
    fn prepared(
        &self,
        index: u64,
        payload: &Value,
        input_payload: Option<Arc<Value>>,
        now: DateTime<Utc>,
    ) -> PreparedRequest {
        let time = SystemTime::UNIX_EPOCH + Duration::from_micros(now.timestamp_micros().max(0) as u64);
        let http = self
            .request(payload, time)
            .expect("every payload was built and signed by Target::new");
        let (decoder, input_prompt) = match &self.wire {
            Wire::Api(e) => (e.decoder(), e.api.prompt_text(payload)),
            Wire::Aws { endpoint, .. } => {
                (endpoint.decoder(), tokenmeter_protocol::aws::prompt_text(payload))
            }
        };
        PreparedRequest {
            http,
            decoder,
            fallback_id: format!("req-{index}"),
            input_prompt,
            input_payload,
        }
    }

    /// `payload` as a record keeps it (`input_payload`).
    fn recorded_payload(&self, payload: &Value) -> Option<Arc<Value>> {
        match &self.wire {
            Wire::Api(e) => e.prepare_payload(payload).ok(),
            Wire::Aws { endpoint, .. } => endpoint.prepare_payload(payload).ok(),
        }
        .map(Arc::new)
    }

    pub fn n_payloads(&self) -> usize {
        self.payloads.len()
    }

    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    /// The protocol API the simulated model should speak (the APIs outside AWS).
    pub fn simulated_api(&self) -> Option<Api> {
        match &self.wire {
            Wire::Api(e) if self.is_simulated() => Some(e.api),
            _ => None,
        }
    }

    /// The full endpoint URL requests go to.
    pub fn url(&self) -> String {
        match &self.wire {
            Wire::Api(e) => e.url.clone(),
            Wire::Aws {
                endpoint,
                proxy: Some(prefix),
            } => format!("{prefix}{}", endpoint.path()),
            Wire::Aws { endpoint, .. } => endpoint.url(),
        }
    }

    pub fn is_simulated(&self) -> bool {
        self.spec.transport == TransportKind::Simulated
    }

    /// An Amazon Bedrock or SageMaker target (signed for its host).
    pub fn is_aws(&self) -> bool {
        matches!(self.wire, Wire::Aws { .. })
    }

    /// The endpoint block of `run_config.json` (never a credential).
    pub fn endpoint_block(&self) -> EndpointBlock {
        self.spec.endpoint_block()
    }

    /// The target's origin (`scheme://host:port`), for the browser's per-origin connection limit; `None` for the
    /// simulated model.
    pub fn http_origin(&self) -> Option<String> {
        if self.is_simulated() {
            return None;
        }
        Some(origin(&self.url()).to_owned())
    }
}

fn api_endpoint(api: Api, spec: &TargetSpec, credentials: &Credentials) -> ApiEndpoint {
    let url = match spec.transport {
        TransportKind::Http => api.resolve_url(&spec.base_url),
        TransportKind::Simulated => api.resolve_url(crate::simulated::SIMULATED_BASE_URL),
    };
    ApiEndpoint {
        api,
        url,
        model: spec.model.clone(),
        stream: spec.stream,
        credential: credentials
            .api_key
            .as_deref()
            .filter(|k| !k.is_empty() && spec.transport == TransportKind::Http)
            .map(Credential::new),
        extra_headers: spec.headers.clone(),
    }
}

fn aws_endpoint(
    spec: &TargetSpec,
    aws: &AwsSpec,
    credentials: &Credentials,
) -> Result<AwsEndpoint, TargetError> {
    let target = match spec.api {
        ApiKind::BedrockConverse => AwsTarget::Bedrock {
            api: BedrockApi::Converse,
            model_id: spec.model.clone(),
        },
        ApiKind::BedrockInvoke => AwsTarget::Bedrock {
            api: BedrockApi::Invoke(match aws.family {
                InvokeFamily::Anthropic => InvokeBody::Anthropic,
                InvokeFamily::OpenAiChat => InvokeBody::OpenAiChat,
                InvokeFamily::Nova => InvokeBody::Converse,
                InvokeFamily::Llama => InvokeBody::Llama,
                InvokeFamily::Mistral => InvokeBody::Mistral,
                InvokeFamily::Titan => InvokeBody::Titan,
            }),
            model_id: spec.model.clone(),
        },
        _ => AwsTarget::SageMaker {
            endpoint_name: spec.model.clone(),
            format: aws.container,
            model: None,
        },
    };
    let auth = match aws.auth {
        AwsAuthKind::SigV4 => match &credentials.aws {
            Some((id, secret, token)) if !id.is_empty() && !secret.is_empty() => AwsAuth::SigV4(
                AwsCredentials::new(id, secret, token.clone().filter(|t| !t.is_empty())),
            ),
            _ => {
                return Err(TargetError::Credentials(
                    "SigV4 needs an AWS access key id and secret access key".into(),
                ))
            }
        },
        AwsAuthKind::ApiKey => match credentials.api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => AwsAuth::BedrockApiKey(Credential::new(key)),
            None => return Err(TargetError::Credentials("enter the Bedrock API key".into())),
        },
        AwsAuthKind::None => AwsAuth::None,
    };
    Ok(AwsEndpoint {
        target,
        region: aws.region.clone(),
        base_url: (!spec.base_url.is_empty()).then(|| spec.base_url.clone()),
        stream: spec.stream,
        auth,
        extra_headers: spec.headers.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tokenmeter_core::input::RawInput;

    fn target(pairs: &[(&str, &str)], credentials: &Credentials) -> Target {
        let input = RawInput::from_pairs(pairs.iter().copied()).parse().unwrap();
        Target::with_prompt(&input.target, &input.prompt, input.max_tokens, credentials).unwrap()
    }

    fn key(k: &str) -> Credentials {
        Credentials {
            api_key: Some(k.into()),
            aws: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    /// r18-8: records share their payload; only a cache-busted request has its own.
    #[test]
    fn r18_8_records_share_the_payload_they_sent() {
        let t = target(&[("url", "http://127.0.0.1:8787/v1")], &key("k"));
        let (a, b) = (t.prepare(0, 0, now()), t.prepare(1, 0, now()));
        assert!(Arc::ptr_eq(
            a.input_payload.as_ref().unwrap(),
            b.input_payload.as_ref().unwrap()
        ));
        let busted = t.with_cache_buster(7);
        let (c, d) = (busted.prepare(0, 0, now()), busted.prepare(1, 0, now()));
        assert_ne!(
            c.input_payload, d.input_payload,
            "each busted request carries its own tag"
        );
    }

    #[test]
    fn http_targets_resolve_their_path_and_carry_the_key_only_in_a_header() {
        let t = target(
            &[
                ("url", "https://api.anthropic.com"),
                ("api", "anthropic-messages"),
            ],
            &key("sk-ant"),
        );
        assert_eq!(t.url(), "https://api.anthropic.com/v1/messages");
        assert_eq!(t.http_origin().as_deref(), Some("https://api.anthropic.com"));
        let request = t.prepare(0, 0, now());
        assert_eq!(request.http.header("x-api-key"), Some("sk-ant"));
        assert!(!format!("{:?}", t).contains("sk-ant"));
        assert!(!serde_json::to_string(&request.input_payload)
            .unwrap()
            .contains("sk-ant"));
    }

    #[test]
    fn simulated_targets_send_no_key_and_have_no_origin() {
        let t = target(&[("api", "openai-responses")], &key("sk-x"));
        assert!(t.is_simulated());
        assert_eq!(t.http_origin(), None);
        assert!(t.url().starts_with("simulated://") && t.url().ends_with("/responses"));
        assert_eq!(t.prepare(0, 0, now()).http.header("authorization"), None);
        assert_eq!(t.simulated_api(), Some(Api::OpenAiResponses));
    }

    #[test]
    fn aws_targets_are_signed_at_send_time_and_never_show_their_secret() {
        let credentials = Credentials {
            api_key: None,
            aws: Some((
                "AKIDEXAMPLE".into(),
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                None,
            )),
        };
        let t = target(
            &[
                ("api", "bedrock-converse"),
                ("endpoint", "http"),
                ("url", ""),
                ("region", "eu-west-3"),
                ("model", "anthropic.claude-3-haiku-20240307-v1:0"),
            ],
            &credentials,
        );
        assert_eq!(
            t.url(),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
        );
        let request = t.prepare(0, 0, now());
        let auth = request.http.header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/eu-west-3/bedrock/"),
            "{auth}"
        );
        assert_eq!(request.http.header("x-amz-date"), Some("20261201T120000Z"));
        assert_eq!(request.http.header("host"), None, "fetch sets Host itself");
        let later = t.prepare(1, 0, now() + chrono::Duration::minutes(10));
        assert_ne!(
            later.http.header("authorization"),
            request.http.header("authorization")
        );
        assert!(!format!("{t:?}").contains("wJalr"));
    }

    #[test]
    fn a_proxy_prefix_gets_requests_signed_for_the_aws_host_it_forwards_to() {
        let credentials = Credentials {
            api_key: None,
            aws: Some((
                "AKIDEXAMPLE".into(),
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                None,
            )),
        };
        let pairs = |url: &'static str| {
            [
                ("api", "bedrock-converse"),
                ("endpoint", "http"),
                ("url", url),
                ("model", "m"),
                ("region", "us-west-2"),
            ]
        };
        let proxied = target(&pairs("http://127.0.0.1:8080/bedrock/"), &credentials);
        assert_eq!(
            proxied.url(),
            "http://127.0.0.1:8080/bedrock/model/m/converse-stream"
        );
        let direct = target(&pairs(""), &credentials);
        let (a, b) = (proxied.prepare(0, 0, now()), direct.prepare(0, 0, now()));
        assert_eq!(
            a.http.url,
            "http://127.0.0.1:8080/bedrock/model/m/converse-stream"
        );
        // Same signature as a request sent straight to bedrock-runtime.us-west-2.amazonaws.com.
        assert_eq!(a.http.header("authorization"), b.http.header("authorization"));
        // A base URL without a path (the mock server) is the host that is signed.
        let mock = target(&pairs("http://127.0.0.1:8787"), &credentials);
        assert_eq!(mock.url(), "http://127.0.0.1:8787/model/m/converse-stream");
        assert_ne!(
            mock.prepare(0, 0, now()).http.header("authorization"),
            b.http.header("authorization")
        );
    }

    #[test]
    fn the_cache_buster_makes_every_prompt_unique_through_each_apis_own_reading() {
        for api in ["openai-chat", "openai-responses", "anthropic-messages"] {
            let t = target(&[("api", api)], &Credentials::default()).with_cache_buster(7);
            let (a, b) = (t.prepare(0, 0, now()), t.prepare(1, 0, now()));
            let (pa, pb) = (a.input_prompt.unwrap(), b.input_prompt.unwrap());
            assert_ne!(pa, pb, "{api}");
            assert!(
                pa.starts_with("[req-") && pa.ends_with("Tell me about the history of load testing."),
                "{pa}"
            );
        }
    }

    #[test]
    fn options_go_into_the_apis_own_shape_or_are_refused_where_there_is_none() {
        let options = PayloadOptions {
            system: Some("be brief".into()),
            temperature: Some(0.1),
            image: None,
        };
        let input = RawInput::from_pairs([("api", "anthropic-messages")])
            .parse()
            .unwrap();
        let t = Target::with_prompt_and(&input.target, "hi", 5, &options, &Credentials::default()).unwrap();
        let body = t.prepare(0, 0, now()).input_payload.unwrap();
        assert_eq!(
            (body["system"].as_str(), body["temperature"].as_f64()),
            (Some("be brief"), Some(0.1))
        );
        let credentials = Credentials {
            api_key: None,
            aws: Some(("AKIDEXAMPLE".into(), "secret".into(), None)),
        };
        let llama = RawInput::from_pairs([
            ("api", "bedrock-invoke"),
            ("endpoint", "http"),
            ("model", "m"),
            ("body", "llama"),
        ])
        .parse()
        .unwrap();
        let err = Target::with_prompt_and(&llama.target, "hi", 5, &options, &credentials).unwrap_err();
        assert!(err.to_string().contains("payload file"), "{err}");
    }

    #[test]
    fn missing_aws_credentials_are_a_clear_error() {
        let input = RawInput::from_pairs([
            ("api", "sagemaker"),
            ("endpoint", "http"),
            ("model", "my-endpoint"),
        ])
        .parse()
        .unwrap();
        let err = Target::with_prompt(&input.target, "hi", 5, &Credentials::default()).unwrap_err();
        assert!(err.to_string().contains("access key id and secret"), "{err}");
    }
}
