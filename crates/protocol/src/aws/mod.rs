//! Amazon Bedrock and SageMaker from the page: [`AwsEndpoint`] (one target at one URL, which builds requests,
//! signs them and picks the decoder and encoder of their responses), [`sigv4`] (signing, Bedrock API keys),
//! [`eventstream`] (the binary framing of streamed responses), and one module per API: [`converse`] (Bedrock
//! Converse and ConverseStream), [`invoke`] (Bedrock InvokeModel and InvokeModelWithResponseStream) and
//! [`sagemaker`] (InvokeEndpoint and InvokeEndpointWithResponseStream).
//!
//! URLs: `https://bedrock-runtime.{region}.amazonaws.com/model/{modelId}/{converse, converse-stream, invoke,
//! invoke-with-response-stream}` (the model id percent-encoded: `:` is `%3A`, an ARN's `/` is `%2F`) and
//! `https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{name}/{invocations, invocations-response-stream}`.
//! A base URL replaces the scheme and host (for the mock server, or a proxy); the signature still names the region.

pub mod converse;
pub mod eventstream;
pub mod invoke;
pub mod sagemaker;
pub mod sigv4;

use std::time::SystemTime;

use serde_json::Value;

use crate::aws::eventstream::{EventStream, Messages};
use crate::aws::invoke::InvokeBody;
use crate::aws::sagemaker::{Container, ContainerWire, PayloadParts};
use crate::aws::sigv4::{AwsAuth, SigV4, SigningError};
use crate::framing::JsonBody;
use crate::wire::Encoder;
use crate::{HttpRequest, ProtocolError, ResponseDecoder};

/// Which Bedrock runtime API a Bedrock endpoint uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BedrockApi {
    /// Converse / ConverseStream: one request and response shape for every model.
    Converse,
    /// InvokeModel / InvokeModelWithResponseStream: the model's own bodies.
    Invoke(InvokeBody),
}

/// What an AWS endpoint calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsTarget {
    /// A Bedrock model (id, inference-profile id or ARN).
    Bedrock { api: BedrockApi, model_id: String },
    /// A SageMaker real-time endpoint; `model` is sent only to OpenAI-compatible containers.
    SageMaker {
        endpoint_name: String,
        format: Container,
        model: Option<String>,
    },
}

/// One AWS target at one URL, with its credentials: builds (and signs) each request and the decoder for its
/// response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEndpoint {
    pub target: AwsTarget,
    pub region: String,
    /// Replaces `https://{service host}` (mock server, proxy); a query string is kept.
    pub base_url: Option<String>,
    pub stream: bool,
    pub auth: AwsAuth,
    /// Extra headers sent (and signed) with every request; a name the endpoint also sets replaces its value.
    pub extra_headers: Vec<(String, String)>,
}

impl AwsEndpoint {
    /// The SigV4 signing name of the target's service.
    pub fn service(&self) -> &'static str {
        match self.target {
            AwsTarget::Bedrock { .. } => "bedrock",
            AwsTarget::SageMaker { .. } => "sagemaker",
        }
    }

    /// The service's own base URL in the endpoint's region.
    pub fn default_base_url(&self) -> String {
        match self.target {
            AwsTarget::Bedrock { .. } => format!("https://bedrock-runtime.{}.amazonaws.com", self.region),
            AwsTarget::SageMaker { .. } => format!("https://runtime.sagemaker.{}.amazonaws.com", self.region),
        }
    }

    /// The path of the request: `/model/{id}/…` or `/endpoints/{name}/…`.
    pub fn path(&self) -> String {
        match &self.target {
            AwsTarget::Bedrock { api, model_id } => {
                let op = match (api, self.stream) {
                    (BedrockApi::Converse, false) => "converse",
                    (BedrockApi::Converse, true) => "converse-stream",
                    (BedrockApi::Invoke(_), false) => "invoke",
                    (BedrockApi::Invoke(_), true) => "invoke-with-response-stream",
                };
                format!("/model/{}/{op}", encode_label(model_id))
            }
            AwsTarget::SageMaker { endpoint_name, .. } => {
                let op = if self.stream {
                    "invocations-response-stream"
                } else {
                    "invocations"
                };
                format!("/endpoints/{}/{op}", encode_label(endpoint_name))
            }
        }
    }

    /// The request URL: the base URL (given or the service's) and the path, then the base's query string.
    pub fn url(&self) -> String {
        let base = self.base_url.clone().unwrap_or_else(|| self.default_base_url());
        let (base, query) = match base.trim().split_once('?') {
            Some((b, q)) => (b.to_owned(), Some(q.to_owned())),
            None => (base.trim().to_owned(), None),
        };
        let mut url = format!("{}{}", base.trim_end_matches('/'), self.path());
        if let Some(q) = query {
            url.push('?');
            url.push_str(&q);
        }
        url
    }

    /// A payload with one user message and an output limit, in the target's shape.
    pub fn create_payload(&self, prompt: &str, max_tokens: u32) -> Value {
        match &self.target {
            AwsTarget::Bedrock {
                api: BedrockApi::Converse,
                ..
            } => converse::create_payload(prompt, max_tokens),
            AwsTarget::Bedrock {
                api: BedrockApi::Invoke(body),
                ..
            } => body.create_payload(prompt, max_tokens),
            AwsTarget::SageMaker { format, .. } => format.create_payload(prompt, max_tokens),
        }
    }

    /// The payload as it will be sent.
    pub fn prepare_payload(&self, payload: &Value) -> Result<Value, ProtocolError> {
        match &self.target {
            AwsTarget::Bedrock {
                api: BedrockApi::Converse,
                ..
            } => converse::prepare_payload(payload),
            AwsTarget::Bedrock {
                api: BedrockApi::Invoke(body),
                ..
            } => body.prepare_payload(payload),
            AwsTarget::SageMaker { format, model, .. } => {
                format.prepare_payload(payload, model.as_deref(), self.stream)
            }
        }
    }

    /// The unsigned HTTP request for `payload`; [`AwsEndpoint::authorize`] adds the credentials.
    pub fn build_request(&self, payload: &Value) -> Result<HttpRequest, ProtocolError> {
        let body = self.prepare_payload(payload)?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        match (&self.target, self.stream) {
            (
                AwsTarget::Bedrock {
                    api: BedrockApi::Invoke(_),
                    ..
                },
                true,
            ) => headers.push(("x-amzn-bedrock-accept".into(), "application/json".into())),
            (_, false) => headers.push(("accept".into(), "application/json".into())),
            (_, true) => {}
        }
        for (name, value) in &self.extra_headers {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        Ok(HttpRequest {
            method: "POST".into(),
            url: self.url(),
            headers,
            body: serde_json::to_vec(&body).expect("a JSON value always serialises"),
        })
    }

    /// Adds the credentials to `request`: a SigV4 signature for `time` (the page's clock), a Bedrock API key, or
    /// nothing. Call it last, right before sending: the signature covers the headers and body as they are.
    pub fn authorize(&self, request: &mut HttpRequest, time: SystemTime) -> Result<(), SigningError> {
        match &self.auth {
            AwsAuth::SigV4(credentials) => SigV4 {
                service: self.service(),
                region: &self.region,
                credentials,
                content_sha256: true,
            }
            .sign(request, time),
            AwsAuth::BedrockApiKey(key) => {
                sigv4::bearer(request, key);
                Ok(())
            }
            AwsAuth::None => Ok(()),
        }
    }

    /// A fresh decoder for one response of this endpoint.
    pub fn decoder(&self) -> Box<dyn ResponseDecoder> {
        match (&self.target, self.stream) {
            (
                AwsTarget::Bedrock {
                    api: BedrockApi::Converse,
                    ..
                },
                true,
            ) => Box::new(EventStream::new(Messages(
                converse::ConverseInterpreter::default(),
            ))),
            (
                AwsTarget::Bedrock {
                    api: BedrockApi::Converse,
                    ..
                },
                false,
            ) => Box::new(JsonBody::new(converse::ConverseInterpreter::default())),
            (
                AwsTarget::Bedrock {
                    api: BedrockApi::Invoke(body),
                    ..
                },
                true,
            ) => Box::new(EventStream::new(Messages(body.interpreter()))),
            (
                AwsTarget::Bedrock {
                    api: BedrockApi::Invoke(body),
                    ..
                },
                false,
            ) => Box::new(JsonBody::new(body.interpreter())),
            (AwsTarget::SageMaker { format, .. }, true) => {
                Box::new(EventStream::new(PayloadParts::new(format.inner_decoder(true))))
            }
            (AwsTarget::SageMaker { format, .. }, false) => format.inner_decoder(false),
        }
    }

    /// The encoder that writes this target's responses, where one exists (not for Llama, Mistral, Titan, Nova or
    /// custom InvokeModel bodies).
    pub fn encoder(&self) -> Option<&'static dyn Encoder> {
        match &self.target {
            AwsTarget::Bedrock {
                api: BedrockApi::Converse,
                ..
            } => Some(&converse::ConverseEncoder),
            AwsTarget::Bedrock {
                api: BedrockApi::Invoke(InvokeBody::Anthropic),
                ..
            } => Some(&invoke::ANTHROPIC_INVOKE),
            AwsTarget::Bedrock {
                api: BedrockApi::Invoke(InvokeBody::OpenAiChat),
                ..
            } => Some(&invoke::OPENAI_CHAT_INVOKE),
            AwsTarget::Bedrock { .. } => None,
            AwsTarget::SageMaker { format, .. } => Some(match format {
                Container::Tgi => &sagemaker::TGI,
                Container::JsonLines => &sagemaker::JSON_LINES,
                Container::OpenAiChat => &sagemaker::OPENAI_CHAT,
            }),
        }
    }
}

/// Percent-encodes a URI label (model id, endpoint name): everything but RFC 3986's unreserved characters.
pub fn encode_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for b in label.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The human-readable prompt of any AWS payload: `system`, then the text of each message (a string, or blocks
/// with `text`), or a `prompt` / `inputText` / `inputs` string; joined by newlines.
pub fn prompt_text(payload: &Value) -> Option<String> {
    // `system` and `messages` are read as Anthropic's (Converse's blocks have the same `text`).
    let mut parts: Vec<String> = crate::anthropic::prompt_text(payload).into_iter().collect();
    for key in ["prompt", "inputText", "inputs"] {
        if let Some(Value::String(s)) = payload.get(key) {
            parts.push(s.clone());
        }
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// The output-token limit of any AWS payload, under any of the names the APIs use.
pub fn max_output_tokens(payload: &Value) -> Option<u64> {
    [
        "/inferenceConfig/maxTokens",
        "/max_tokens",
        "/max_completion_tokens",
        "/max_gen_len",
        "/textGenerationConfig/maxTokenCount",
        "/parameters/max_new_tokens",
    ]
    .iter()
    .find_map(|p| payload.pointer(p)?.as_u64())
}

/// The `x-amzn-ErrorType` an AWS service sends with an HTTP error `status` (the body is `{"message"}`), for a
/// server that imitates one.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credential;
    use serde_json::json;

    fn bedrock(api: BedrockApi, stream: bool) -> AwsEndpoint {
        AwsEndpoint {
            target: AwsTarget::Bedrock {
                api,
                model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            },
            region: "us-east-1".into(),
            base_url: None,
            stream,
            auth: AwsAuth::BedrockApiKey(Credential::new("bedrock-api-key")),
            extra_headers: vec![],
        }
    }

    #[test]
    fn urls_per_api() {
        let cases = [
            (bedrock(BedrockApi::Converse, false), "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            (bedrock(BedrockApi::Converse, true), "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"),
            (bedrock(BedrockApi::Invoke(InvokeBody::Anthropic), false), "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"),
            (bedrock(BedrockApi::Invoke(InvokeBody::Anthropic), true), "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"),
        ];
        for (endpoint, want) in cases {
            assert_eq!(endpoint.url(), want);
        }
        let mut sm = AwsEndpoint {
            target: AwsTarget::SageMaker {
                endpoint_name: "my-endpoint".into(),
                format: Container::Tgi,
                model: None,
            },
            region: "eu-west-1".into(),
            base_url: None,
            stream: true,
            auth: AwsAuth::None,
            extra_headers: vec![],
        };
        assert_eq!(sm.url(), "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-endpoint/invocations-response-stream");
        assert_eq!(sm.service(), "sagemaker");
        sm.base_url = Some("http://127.0.0.1:8787/?ttft_ms=5".into());
        sm.stream = false;
        assert_eq!(
            sm.url(),
            "http://127.0.0.1:8787/endpoints/my-endpoint/invocations?ttft_ms=5"
        );
        assert_eq!(
            encode_label("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x"
        );
    }

    #[test]
    fn requests_carry_the_right_headers_and_a_bearer_key() {
        let endpoint = bedrock(BedrockApi::Invoke(InvokeBody::Anthropic), true);
        let mut request = endpoint.build_request(&endpoint.create_payload("hi", 5)).unwrap();
        endpoint.authorize(&mut request, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(request.header("x-amzn-bedrock-accept"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer bedrock-api-key"));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
        assert!(!format!("{endpoint:?}").contains("bedrock-api-key"));
    }

    #[test]
    fn prompts_and_limits_of_every_shape() {
        let payloads = [
            converse::create_payload("p", 3),
            InvokeBody::Anthropic.create_payload("p", 3),
            InvokeBody::OpenAiChat.create_payload("p", 3),
            InvokeBody::Converse.create_payload("p", 3),
            InvokeBody::Llama.create_payload("p", 3),
            InvokeBody::Titan.create_payload("p", 3),
            Container::Tgi.create_payload("p", 3),
            Container::OpenAiChat.create_payload("p", 3),
        ];
        for payload in payloads {
            assert_eq!(prompt_text(&payload).as_deref(), Some("p"), "{payload}");
            assert_eq!(max_output_tokens(&payload), Some(3), "{payload}");
        }
        assert_eq!(max_output_tokens(&json!({})), None);
    }
}
