//! [`Target`]: a validated [`TargetSpec`] made concrete: the protocol endpoint that builds each request and picks
//! its decoder, the payloads to send, and the `run_config.json` endpoint block. The credential arrives here as
//! an argument, beside the spec, and goes only into request headers.

use serde_json::Value;

use crate::core::format::EndpointBlock;
use crate::core::target::{ApiKind, TargetSpec, TransportKind};
use crate::engine::request::PreparedRequest;
use crate::protocol::{Api, ApiEndpoint, Credential, ProtocolError};

/// The protocol module that speaks `kind`.
pub fn protocol_api(kind: ApiKind) -> Api {
    match kind {
        ApiKind::OpenAiChat => Api::OpenAiChat,
        ApiKind::OpenAiResponses => Api::OpenAiResponses,
        ApiKind::AnthropicMessages => Api::AnthropicMessages,
    }
}

/// What a run sends, and to whom.
#[derive(Debug, Clone)]
pub struct Target {
    spec: TargetSpec,
    endpoint: ApiEndpoint,
    payloads: Vec<Value>,
}

impl Target {
    /// The target for `spec`, sending `payloads` in turn. Every payload is checked to build a request now, so
    /// [`Target::prepare`] cannot fail later.
    pub fn new(
        spec: &TargetSpec,
        payloads: Vec<Value>,
        api_key: Option<&str>,
    ) -> Result<Target, ProtocolError> {
        let api = protocol_api(spec.api);
        let url = match spec.transport {
            TransportKind::Http => api.resolve_url(&spec.base_url),
            TransportKind::Simulated => api.resolve_url(crate::engine::simulated::SIMULATED_BASE_URL),
        };
        let endpoint = ApiEndpoint {
            api,
            url,
            model: spec.model.clone(),
            stream: spec.stream,
            credential: api_key
                .filter(|k| !k.is_empty() && spec.transport == TransportKind::Http)
                .map(Credential::new),
            extra_headers: spec.headers.clone(),
        };
        if payloads.is_empty() {
            return Err(ProtocolError::Malformed("there is no payload to send".into()));
        }
        for payload in &payloads {
            endpoint.build_request(payload)?;
        }
        Ok(Target {
            spec: spec.clone(),
            endpoint,
            payloads,
        })
    }

    /// The target sending one payload built from `prompt` and `max_tokens` in the API's own shape.
    pub fn with_prompt(
        spec: &TargetSpec,
        prompt: &str,
        max_tokens: u32,
        api_key: Option<&str>,
    ) -> Result<Target, ProtocolError> {
        let payload = protocol_api(spec.api).create_payload(prompt, max_tokens);
        Target::new(spec, vec![payload], api_key)
    }

    /// The request for send number `index` with payload `payload_index` (taken modulo the payload count).
    pub fn prepare(&self, index: u64, payload_index: usize) -> PreparedRequest {
        let payload = &self.payloads[payload_index % self.payloads.len()];
        let http = self
            .endpoint
            .build_request(payload)
            .expect("every payload was checked by Target::new");
        PreparedRequest {
            http,
            decoder: self.endpoint.decoder(),
            fallback_id: format!("req-{index}"),
            input_prompt: self.endpoint.api.prompt_text(payload),
            input_payload: self.endpoint.prepare_payload(payload).ok(),
        }
    }

    pub fn n_payloads(&self) -> usize {
        self.payloads.len()
    }

    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    /// The protocol API requests are built for.
    pub fn api(&self) -> Api {
        self.endpoint.api
    }

    /// The full endpoint URL requests go to.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    pub fn is_simulated(&self) -> bool {
        self.spec.transport == TransportKind::Simulated
    }

    /// The endpoint block of `run_config.json` (never a credential).
    pub fn endpoint_block(&self) -> EndpointBlock {
        self.spec.endpoint_block()
    }

    /// The target's origin (`scheme://host:port`), for the browser's per-origin connection limit; `None` for the
    /// simulated model.
    pub fn http_origin(&self) -> Option<&str> {
        if self.is_simulated() {
            return None;
        }
        let url = self.endpoint.url.as_str();
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let end = url[after_scheme..]
            .find(['/', '?'])
            .map_or(url.len(), |i| after_scheme + i);
        Some(&url[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::input::RawInput;

    fn target(pairs: &[(&str, &str)], key: Option<&str>) -> Target {
        let input = RawInput::from_pairs(pairs.iter().copied()).parse().unwrap();
        Target::with_prompt(&input.target, &input.prompt, input.max_tokens, key).unwrap()
    }

    #[test]
    fn http_targets_resolve_their_path_and_carry_the_key_only_in_a_header() {
        let t = target(
            &[
                ("url", "https://api.anthropic.com"),
                ("api", "anthropic-messages"),
            ],
            Some("sk-ant"),
        );
        assert_eq!(t.url(), "https://api.anthropic.com/v1/messages");
        assert_eq!(t.http_origin(), Some("https://api.anthropic.com"));
        let request = t.prepare(0, 0);
        assert_eq!(request.http.header("x-api-key"), Some("sk-ant"));
        assert!(!format!("{:?}", t).contains("sk-ant"));
        assert!(!serde_json::to_string(&request.input_payload)
            .unwrap()
            .contains("sk-ant"));
    }

    #[test]
    fn simulated_targets_send_no_key_and_have_no_origin() {
        let t = target(&[("api", "openai-responses")], Some("sk-x"));
        assert!(t.is_simulated());
        assert_eq!(t.http_origin(), None);
        assert!(t.url().starts_with("simulated://") && t.url().ends_with("/responses"));
        assert_eq!(t.prepare(0, 0).http.header("authorization"), None);
    }
}
