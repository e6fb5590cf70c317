//! What a run measures: an API ([`ApiKind`]) over a transport ([`TransportKind`]), at a base URL, with a model,
//! streaming on or off, and extra headers. Pure data with LLMeter's names for each API, so `run_config.json`
//! says what was measured in words LLMeter recognises.
//!
//! Credentials are deliberately not part of a [`TargetSpec`]: they are passed to the engine beside it, so no
//! file, URL or config built from a spec can carry one.

use std::fmt;
use std::str::FromStr;

use serde_json::Map;

use crate::format::EndpointBlock;

/// A provider API, named as the page, the query string and config files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKind {
    OpenAiChat,
    OpenAiResponses,
    AnthropicMessages,
    /// Amazon Bedrock Converse / ConverseStream (SigV4 or a Bedrock API key).
    BedrockConverse,
    /// Amazon Bedrock InvokeModel / InvokeModelWithResponseStream, with the model family's own bodies.
    BedrockInvoke,
    /// An Amazon SageMaker real-time endpoint (InvokeEndpoint / InvokeEndpointWithResponseStream).
    SageMaker,
}

impl ApiKind {
    pub const ALL: [ApiKind; 6] = [
        ApiKind::OpenAiChat,
        ApiKind::OpenAiResponses,
        ApiKind::AnthropicMessages,
        ApiKind::BedrockConverse,
        ApiKind::BedrockInvoke,
        ApiKind::SageMaker,
    ];

    /// Whether the API is an AWS one (signed with SigV4, addressed by region).
    pub const fn is_aws(self) -> bool {
        matches!(
            self,
            ApiKind::BedrockConverse | ApiKind::BedrockInvoke | ApiKind::SageMaker
        )
    }

    /// The name used in query strings and files.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiKind::OpenAiChat => "openai-chat",
            ApiKind::OpenAiResponses => "openai-responses",
            ApiKind::AnthropicMessages => "anthropic-messages",
            ApiKind::BedrockConverse => "bedrock-converse",
            ApiKind::BedrockInvoke => "bedrock-invoke",
            ApiKind::SageMaker => "sagemaker",
        }
    }

    /// The name shown to people.
    pub const fn label(self) -> &'static str {
        match self {
            ApiKind::OpenAiChat => "OpenAI Chat Completions (and compatible servers)",
            ApiKind::OpenAiResponses => "OpenAI Responses",
            ApiKind::AnthropicMessages => "Anthropic Messages",
            ApiKind::BedrockConverse => "Amazon Bedrock Converse",
            ApiKind::BedrockInvoke => "Amazon Bedrock InvokeModel",
            ApiKind::SageMaker => "Amazon SageMaker endpoint",
        }
    }

    /// LLMeter's endpoint class for this API (`endpoint_type` in `run_config.json`).
    pub const fn llmeter_endpoint_type(self, stream: bool) -> &'static str {
        match (self, stream) {
            (ApiKind::OpenAiChat, true) => "OpenAICompletionStreamEndpoint",
            (ApiKind::OpenAiChat, false) => "OpenAICompletionEndpoint",
            (ApiKind::OpenAiResponses, true) => "OpenAIResponseStreamEndpoint",
            (ApiKind::OpenAiResponses, false) => "OpenAIResponseEndpoint",
            (ApiKind::AnthropicMessages, true) => "AnthropicMessagesStream",
            (ApiKind::AnthropicMessages, false) => "AnthropicMessages",
            (ApiKind::BedrockConverse, true) => "BedrockConverseStream",
            (ApiKind::BedrockConverse, false) => "BedrockConverse",
            (ApiKind::BedrockInvoke, true) => "BedrockInvokeStream",
            (ApiKind::BedrockInvoke, false) => "BedrockInvoke",
            (ApiKind::SageMaker, true) => "SageMakerStreamEndpoint",
            (ApiKind::SageMaker, false) => "SageMakerEndpoint",
        }
    }

    /// LLMeter's default `endpoint_name` for this API's class.
    pub const fn llmeter_endpoint_name(self, stream: bool) -> &'static str {
        match (self, stream) {
            (ApiKind::OpenAiChat, _) => "openai",
            (ApiKind::OpenAiResponses, true) => "openai-response-stream",
            (ApiKind::OpenAiResponses, false) => "openai-response",
            (ApiKind::AnthropicMessages, _) => "anthropic-messages",
            (ApiKind::BedrockConverse | ApiKind::BedrockInvoke, _) => "amazon bedrock",
            (ApiKind::SageMaker, _) => "sagemaker",
        }
    }

    /// LLMeter's `provider` for this API.
    pub const fn provider(self) -> &'static str {
        match self {
            ApiKind::OpenAiChat | ApiKind::OpenAiResponses => "openai",
            ApiKind::AnthropicMessages => "anthropic",
            ApiKind::BedrockConverse | ApiKind::BedrockInvoke => "bedrock",
            ApiKind::SageMaker => "sagemaker",
        }
    }

    /// The API whose LLMeter class name is `endpoint_type`, and whether that class streams.
    pub fn from_llmeter_endpoint_type(endpoint_type: &str) -> Option<(ApiKind, bool)> {
        ApiKind::ALL.into_iter().find_map(|api| {
            [true, false]
                .into_iter()
                .find(|&stream| api.llmeter_endpoint_type(stream) == endpoint_type)
                .map(|stream| (api, stream))
        })
    }
}

impl fmt::Display for ApiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiKind {
    type Err = String;

    /// The names of [`ApiKind::as_str`], a few short forms, and LLMeter's class names.
    fn from_str(s: &str) -> Result<Self, String> {
        let name = s.trim().to_ascii_lowercase();
        let api = match name.as_str() {
            "openai-chat" | "openai" | "chat" | "chat-completions" => ApiKind::OpenAiChat,
            "openai-responses" | "responses" => ApiKind::OpenAiResponses,
            "anthropic-messages" | "anthropic" | "messages" => ApiKind::AnthropicMessages,
            "bedrock-converse" | "bedrock" | "converse" => ApiKind::BedrockConverse,
            "bedrock-invoke" | "invoke" => ApiKind::BedrockInvoke,
            "sagemaker" | "sagemaker-endpoint" => ApiKind::SageMaker,
            _ => {
                return ApiKind::from_llmeter_endpoint_type(s.trim())
                    .map(|(api, _)| api)
                    .ok_or_else(|| {
                        let known: Vec<_> = ApiKind::ALL.iter().map(|a| a.as_str()).collect();
                        format!("unknown API {s:?}: use one of {}", known.join(", "))
                    })
            }
        };
        Ok(api)
    }
}

/// How requests reach the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Real HTTP requests with `fetch`.
    Http,
    /// The built-in simulated model, inside the page: no network, no credentials.
    Simulated,
}

impl TransportKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportKind::Http => "http",
            TransportKind::Simulated => "simulated",
        }
    }
}

impl FromStr for TransportKind {
    type Err = String;

    /// `http` or `simulated`; `openai` (the page's older name for a real URL) and `fetch` mean `http`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" | "https" | "fetch" | "url" | "openai" => Ok(TransportKind::Http),
            "simulated" | "sim" | "simulator" => Ok(TransportKind::Simulated),
            _ => Err(format!("unknown endpoint {s:?}: use http or simulated")),
        }
    }
}

/// Which model family's bodies a Bedrock InvokeModel endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvokeFamily {
    Anthropic,
    OpenAiChat,
    Nova,
    Llama,
    Mistral,
    Titan,
}

/// What a SageMaker endpoint's container speaks (its wire format is `protocol::aws::sagemaker::ContainerWire`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// Hugging Face Text Generation Inference (`data:{"token": …}` lines; also LMI with `tgi_compat` or the `sse`
    /// formatter).
    Tgi,
    /// LMI / DJL Serving's default streaming output: JSON lines.
    JsonLines,
    /// An OpenAI-compatible container (vLLM, LMI's chat schema): Chat Completions bodies and SSE.
    OpenAiChat,
}

/// How AWS requests are authorised. The credentials themselves never live in a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsAuthKind {
    /// SigV4 with an access key (and secret, and session token for temporary credentials).
    SigV4,
    /// A Bedrock API key (`Authorization: Bearer`).
    ApiKey,
    /// None: a proxy in front of AWS signs the requests.
    None,
}

/// A `FromStr` over a fixed list of `(name, value)` pairs, with the names in the error.
fn named<T: Copy>(s: &str, what: &str, names: &[(&str, T)]) -> Result<T, String> {
    let wanted = s.trim().to_ascii_lowercase();
    names
        .iter()
        .find(|(n, _)| *n == wanted)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!("unknown {what} {s:?}: use one of {}", known.join(", "))
        })
}

impl InvokeFamily {
    pub const NAMES: [(&'static str, InvokeFamily); 6] = [
        ("anthropic", InvokeFamily::Anthropic),
        ("openai", InvokeFamily::OpenAiChat),
        ("nova", InvokeFamily::Nova),
        ("llama", InvokeFamily::Llama),
        ("mistral", InvokeFamily::Mistral),
        ("titan", InvokeFamily::Titan),
    ];
}

impl FromStr for InvokeFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        named(s, "model family", &InvokeFamily::NAMES)
    }
}

impl Container {
    pub const ALL: [Container; 3] = [Container::Tgi, Container::JsonLines, Container::OpenAiChat];

    pub const NAMES: [(&'static str, Container); 3] = [
        ("tgi", Container::Tgi),
        ("lmi", Container::JsonLines),
        ("vllm", Container::OpenAiChat),
    ];
}

impl FromStr for Container {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        named(s, "container format", &Container::NAMES)
    }
}

impl AwsAuthKind {
    pub const NAMES: [(&'static str, AwsAuthKind); 3] = [
        ("sigv4", AwsAuthKind::SigV4),
        ("api-key", AwsAuthKind::ApiKey),
        ("none", AwsAuthKind::None),
    ];
}

impl FromStr for AwsAuthKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        named(s, "AWS authorisation", &AwsAuthKind::NAMES)
    }
}

/// The AWS part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSpec {
    pub region: String,
    pub auth: AwsAuthKind,
    /// Bedrock InvokeModel only.
    pub family: InvokeFamily,
    /// SageMaker only.
    pub container: Container,
}

/// A validated target. Built by [`crate::input`]; the engine turns it into requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub api: ApiKind,
    pub transport: TransportKind,
    /// The base URL as given (`http(s)://…`); unused by the simulated model; for AWS, empty means AWS's own host.
    pub base_url: String,
    /// The model; for Bedrock the model id (or inference profile, or ARN), for SageMaker the endpoint name.
    pub model: String,
    pub stream: bool,
    /// Extra request headers, checked to be ones a page may send.
    pub headers: Vec<(String, String)>,
    /// Set for AWS APIs.
    pub aws: Option<AwsSpec>,
}

impl TargetSpec {
    /// The `endpoint` block of `run_config.json`: only keys LLMeter's endpoint class takes back (its
    /// `Endpoint.load` passes them to the class), so the block loads in LLMeter. A simulated run names itself
    /// `tokenmeter-simulated` and has no URL.
    pub fn endpoint_block(&self) -> EndpointBlock {
        let simulated = self.transport == TransportKind::Simulated;
        EndpointBlock {
            endpoint_name: Some(if simulated {
                "tokenmeter-simulated".to_owned()
            } else if self.api == ApiKind::SageMaker {
                self.model.clone() // LLMeter's SageMaker endpoint_name is the endpoint itself
            } else {
                self.api.llmeter_endpoint_name(self.stream).to_owned()
            }),
            model_id: Some(self.model.clone()),
            provider: Some(self.api.provider().to_owned()),
            endpoint_type: Some(self.api.llmeter_endpoint_type(self.stream).to_owned()),
            base_url: (!simulated && !self.base_url.is_empty() && !self.api.is_aws())
                .then(|| self.base_url.clone()),
            url: None,
            other: self
                .aws
                .as_ref()
                .map(|aws| Map::from_iter([("region".to_owned(), aws.region.clone().into())]))
                .unwrap_or_default(),
        }
    }
}

/// Request headers that `fetch` refuses to set (the Fetch standard's forbidden request-header names).
const FORBIDDEN_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

/// Parses extra headers, one `Name: value` per line (blank lines skipped), refusing names a page cannot send.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = n + 1;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("line {line_no} must look like \"Name: value\""))?;
        let name = name.trim();
        let is_token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            return Err(format!("line {line_no}: {name:?} is not a valid header name"));
        }
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str())
            || lower.starts_with("proxy-")
            || lower.starts_with("sec-")
        {
            return Err(format!("line {line_no}: browsers do not let a page set {name}"));
        }
        let value = value.trim();
        if value == crate::secret::REDACTED {
            return Err(format!(
                "line {line_no}: the value of {name} was not saved (header values never are): type it again"
            ));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!(
                "line {line_no}: the value of {name} has a control character"
            ));
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_round_trip_and_llmeter_class_names_parse() {
        for api in ApiKind::ALL {
            assert_eq!(api.as_str().parse::<ApiKind>(), Ok(api));
            for stream in [true, false] {
                let class = api.llmeter_endpoint_type(stream);
                assert_eq!(ApiKind::from_llmeter_endpoint_type(class), Some((api, stream)));
                assert_eq!(class.parse::<ApiKind>(), Ok(api));
            }
        }
        let err = "gemini".parse::<ApiKind>().unwrap_err();
        assert!(err.contains("openai-chat") && err.contains("\"gemini\""), "{err}");
        assert_eq!("openai".parse(), Ok(TransportKind::Http));
        assert!("carrier-pigeon".parse::<TransportKind>().is_err());
    }

    #[test]
    fn headers_parse_and_forbidden_ones_are_refused() {
        assert_eq!(
            parse_headers("X-Team: a b\n\nOpenAI-Organization:org-1").unwrap(),
            [
                ("X-Team".into(), "a b".into()),
                ("OpenAI-Organization".into(), "org-1".into())
            ]
        );
        for bad in [
            "Host: x",
            "no colon",
            "Sec-Fetch-Mode: cors",
            "Bad Name: x",
            "proxy-authorization: y",
        ] {
            assert!(parse_headers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn simulated_blocks_say_so_and_have_no_url() {
        let spec = TargetSpec {
            api: ApiKind::AnthropicMessages,
            transport: TransportKind::Simulated,
            base_url: String::new(),
            model: "claude".into(),
            stream: true,
            headers: Vec::new(),
            aws: None,
        };
        let block = spec.endpoint_block();
        assert_eq!(block.endpoint_name.as_deref(), Some("tokenmeter-simulated"));
        assert_eq!(block.endpoint_type.as_deref(), Some("AnthropicMessagesStream"));
        assert_eq!(block.provider.as_deref(), Some("anthropic"));
        assert_eq!(block.base_url, None);
    }
}
