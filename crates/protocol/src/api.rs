//! [`Api`]: the provider APIs Tokenmeter speaks, and [`ApiEndpoint`]: one API at one URL with a model, a
//! credential and extra headers, which builds requests and picks the decoder for their responses.

use serde_json::Value;

use crate::framing::{JsonBody, SseStream};
use crate::wire::Encoder;
use crate::{anthropic, openai_chat, openai_responses};
use crate::{HttpRequest, ProtocolError, ResponseDecoder};

/// A provider API: its path, payload shape, headers, response interpreter and encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI Chat Completions (`/chat/completions`); also vLLM, SGLang, Ollama, LiteLLM and other compatible servers.
    OpenAiChat,
    /// The OpenAI Responses API (`/responses`).
    OpenAiResponses,
    /// Anthropic Messages (`/v1/messages`).
    AnthropicMessages,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::OpenAiChat, Api::OpenAiResponses, Api::AnthropicMessages];

    /// The path this API's endpoint ends with.
    pub const fn path(self) -> &'static str {
        match self {
            Api::OpenAiChat => "/chat/completions",
            Api::OpenAiResponses => "/responses",
            Api::AnthropicMessages => "/v1/messages",
        }
    }

    /// The endpoint URL for `base`, given as one gives it to the official SDK (`https://api.openai.com/v1`,
    /// `https://api.anthropic.com`) or already ending in the API's path. A query string is kept.
    ///
    /// OpenAI-style: `{base}/chat/completions`, with `/v1` added when the base has no path at all (a bare
    /// `http://localhost:8000`). Anthropic: `{base}/v1/messages`, or `{base}/messages` when the base ends in `/v1`.
    pub fn resolve_url(self, base: &str) -> String {
        let (base, query) = match base.trim().split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (base.trim(), None),
        };
        let base = base.trim_end_matches('/');
        let path_start = base.find("://").map_or(0, |i| i + 3);
        let has_path = base[path_start..].contains('/');
        let path = self.path();
        let mut url = if base.ends_with(path) {
            base.to_owned()
        } else {
            match self {
                Api::AnthropicMessages if base.ends_with("/v1") => format!("{base}/messages"),
                Api::AnthropicMessages => format!("{base}{path}"),
                _ if !has_path => format!("{base}/v1{path}"),
                _ => format!("{base}{path}"),
            }
        };
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// A payload with one user message and an output limit, in this API's shape (LLMeter's `create_payload`).
    pub fn create_payload(self, prompt: &str, max_tokens: u32) -> Value {
        match self {
            Api::OpenAiChat => openai_chat::create_payload(prompt, max_tokens),
            Api::OpenAiResponses => openai_responses::create_payload(prompt, max_tokens),
            Api::AnthropicMessages => anthropic::create_payload(prompt, max_tokens),
        }
    }

    /// The human-readable prompt of a payload (LLMeter's `input_prompt`).
    pub fn prompt_text(self, payload: &Value) -> Option<String> {
        match self {
            Api::OpenAiChat => openai_chat::prompt_text(payload),
            Api::OpenAiResponses => openai_responses::prompt_text(payload),
            Api::AnthropicMessages => anthropic::prompt_text(payload),
        }
    }

    /// The output-token limit a payload asks for, under any of this API's names for it.
    pub fn max_output_tokens(self, payload: &Value) -> Option<u64> {
        let keys: &[&str] = match self {
            Api::OpenAiChat => &["max_completion_tokens", "max_tokens"],
            Api::OpenAiResponses => &["max_output_tokens"],
            Api::AnthropicMessages => &["max_tokens"],
        };
        keys.iter().find_map(|k| payload.get(*k)?.as_u64())
    }

    /// The payload as it will be sent: model forced, streaming switched on or off (and the API's own extras).
    pub fn prepare_payload(self, payload: &Value, model: &str, stream: bool) -> Result<Value, ProtocolError> {
        let mut body = payload.clone();
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ProtocolError::Malformed("the payload must be a JSON object".into()))?;
        obj.insert("model".into(), Value::String(model.to_owned()));
        obj.insert("stream".into(), Value::Bool(stream));
        if self == Api::OpenAiChat {
            openai_chat::add_stream_options(obj, stream);
        }
        Ok(body)
    }

    /// The headers that carry `credential`, plus the API's fixed headers.
    fn headers(self, credential: Option<&Credential>) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        match self {
            Api::OpenAiChat | Api::OpenAiResponses => {
                if let Some(key) = credential {
                    headers.push(("authorization".into(), format!("Bearer {}", key.expose())));
                }
            }
            Api::AnthropicMessages => {
                if let Some(key) = credential {
                    headers.push(("x-api-key".into(), key.expose().to_owned()));
                }
                headers.push(("anthropic-version".into(), anthropic::VERSION.into()));
                // Anthropic refuses browser (CORS) requests without this opt-in.
                headers.push(("anthropic-dangerous-direct-browser-access".into(), "true".into()));
            }
        }
        headers
    }

    /// A fresh decoder for one response.
    pub fn decoder(self, stream: bool) -> Box<dyn ResponseDecoder> {
        match (self, stream) {
            (Api::OpenAiChat, true) => Box::new(SseStream::new(openai_chat::ChatInterpreter::default())),
            (Api::OpenAiChat, false) => Box::new(JsonBody::new(openai_chat::ChatInterpreter::default())),
            (Api::OpenAiResponses, true) => {
                Box::new(SseStream::new(openai_responses::ResponsesInterpreter::default()))
            }
            (Api::OpenAiResponses, false) => {
                Box::new(JsonBody::new(openai_responses::ResponsesInterpreter::default()))
            }
            (Api::AnthropicMessages, true) => {
                Box::new(SseStream::new(anthropic::MessagesInterpreter::default()))
            }
            (Api::AnthropicMessages, false) => {
                Box::new(JsonBody::new(anthropic::MessagesInterpreter::default()))
            }
        }
    }

    /// A response id in this API's style (`chatcmpl-…`, `resp_…`, `msg_…`) ending in `suffix`.
    pub fn response_id(self, suffix: &str) -> String {
        match self {
            Api::OpenAiChat => format!("chatcmpl-{suffix}"),
            Api::OpenAiResponses => format!("resp_{suffix}"),
            Api::AnthropicMessages => format!("msg_{suffix}"),
        }
    }

    /// The encoder that writes this API's responses.
    pub fn encoder(self) -> &'static dyn Encoder {
        match self {
            Api::OpenAiChat => &openai_chat::ChatEncoder,
            Api::OpenAiResponses => &openai_responses::ResponsesEncoder,
            Api::AnthropicMessages => &anthropic::MessagesEncoder,
        }
    }
}

/// A secret (API key) that never reaches a log: `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    pub fn new(secret: impl Into<String>) -> Self {
        Credential(secret.into())
    }

    /// The secret itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One API at one URL: builds each request and the decoder for its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    pub api: Api,
    /// The full endpoint URL (see [`Api::resolve_url`]).
    pub url: String,
    pub model: String,
    pub stream: bool,
    pub credential: Option<Credential>,
    /// Extra headers sent with every request; a name the API also sets replaces the API's value.
    pub extra_headers: Vec<(String, String)>,
}

impl ApiEndpoint {
    /// The payload as it will be sent.
    pub fn prepare_payload(&self, payload: &Value) -> Result<Value, ProtocolError> {
        self.api.prepare_payload(payload, &self.model, self.stream)
    }

    /// The HTTP request for `payload` (prepared or not: preparing is idempotent).
    pub fn build_request(&self, payload: &Value) -> Result<HttpRequest, ProtocolError> {
        let body = self.prepare_payload(payload)?;
        let mut headers = self.api.headers(self.credential.as_ref());
        for (name, value) in &self.extra_headers {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        Ok(HttpRequest {
            method: "POST".into(),
            url: self.url.clone(),
            headers,
            body: serde_json::to_vec(&body).expect("a JSON value always serialises"),
        })
    }

    /// A fresh decoder for one response of this endpoint.
    pub fn decoder(&self) -> Box<dyn ResponseDecoder> {
        self.api.decoder(self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_urls_resolve_as_the_sdks_take_them() {
        let cases = [
            (
                Api::OpenAiChat,
                "https://api.openai.com/v1",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                Api::OpenAiChat,
                "http://localhost:8000/v1/",
                "http://localhost:8000/v1/chat/completions",
            ),
            (
                Api::OpenAiChat,
                "http://localhost:8000",
                "http://localhost:8000/v1/chat/completions",
            ),
            (
                Api::OpenAiChat,
                "http://h/v1/chat/completions?ttft_ms=5",
                "http://h/v1/chat/completions?ttft_ms=5",
            ),
            (
                Api::OpenAiChat,
                "http://h:4000?x=1",
                "http://h:4000/v1/chat/completions?x=1",
            ),
            (
                Api::OpenAiResponses,
                "https://api.openai.com/v1",
                "https://api.openai.com/v1/responses",
            ),
            (
                Api::AnthropicMessages,
                "https://api.anthropic.com",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                Api::AnthropicMessages,
                "https://api.anthropic.com/v1",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                Api::AnthropicMessages,
                "http://h/v1/messages",
                "http://h/v1/messages",
            ),
        ];
        for (api, base, want) in cases {
            assert_eq!(api.resolve_url(base), want, "{api:?} {base}");
        }
    }

    fn endpoint(api: Api, stream: bool) -> ApiEndpoint {
        ApiEndpoint {
            api,
            url: api.resolve_url("http://127.0.0.1:8787"),
            model: "m".into(),
            stream,
            credential: Some(Credential::new("sk-secret")),
            extra_headers: vec![
                ("X-Team".into(), "a".into()),
                ("Anthropic-Version".into(), "2099-01-01".into()),
            ],
        }
    }

    #[test]
    fn each_api_carries_its_key_in_its_own_header_and_extra_headers_win() {
        let req = endpoint(Api::OpenAiChat, true)
            .build_request(&Api::OpenAiChat.create_payload("hi", 5))
            .unwrap();
        assert_eq!(req.header("authorization"), Some("Bearer sk-secret"));
        assert_eq!(req.header("x-team"), Some("a"));
        let req = endpoint(Api::AnthropicMessages, false)
            .build_request(&Api::AnthropicMessages.create_payload("hi", 5))
            .unwrap();
        assert_eq!(req.header("x-api-key"), Some("sk-secret"));
        assert_eq!(req.header("authorization"), None);
        assert_eq!(req.header("anthropic-version"), Some("2099-01-01"));
        assert_eq!(
            req.header("anthropic-dangerous-direct-browser-access"),
            Some("true")
        );
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["stream"], false);
        assert_eq!(body["model"], "m");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let text = format!("{:?}", endpoint(Api::OpenAiResponses, true));
        assert!(
            !text.contains("sk-secret") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn payload_shapes_limits_and_prompts() {
        for api in Api::ALL {
            let payload = api.create_payload("tell me", 7);
            assert_eq!(api.max_output_tokens(&payload), Some(7), "{api:?}");
            assert_eq!(api.prompt_text(&payload).as_deref(), Some("tell me"), "{api:?}");
            assert!(api.prepare_payload(&json!([1]), "m", true).is_err());
        }
        let chat = Api::OpenAiChat
            .prepare_payload(&json!({"messages": []}), "m", true)
            .unwrap();
        assert_eq!(chat["stream_options"], json!({"include_usage": true}));
        let responses = Api::OpenAiResponses
            .prepare_payload(&json!({"input": "x"}), "m", true)
            .unwrap();
        assert!(
            responses.get("stream_options").is_none(),
            "not a Responses option"
        );
    }
}
