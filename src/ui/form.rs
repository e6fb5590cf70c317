//! The endpoint form: raw input signals, prefilled from the page's query string, validated into a request.

use leptos::prelude::*;

use crate::engine::request::PreparedRequest;
use crate::protocol::openai::{create_payload, prompt_text, ChatCompletions};

/// Default target: the local mock server that `scripts/serve.sh` starts.
const DEFAULT_URL: &str = "http://127.0.0.1:8787/v1/chat/completions";

/// The form's raw values. The API key lives only in memory: never in the URL, storage or exports.
#[derive(Clone, Copy)]
pub(crate) struct EndpointForm {
    url: RwSignal<String>,
    model: RwSignal<String>,
    api_key: RwSignal<String>,
    prompt: RwSignal<String>,
    max_tokens: RwSignal<String>,
}

/// A validated endpoint plus the payload to send.
pub(crate) struct Endpoint {
    api: ChatCompletions,
    payload: serde_json::Value,
}

impl Endpoint {
    /// The request for the `index`-th send.
    pub(crate) fn prepare(&self, index: u64) -> Result<PreparedRequest, String> {
        let http = self.api.build_request(&self.payload).map_err(|e| e.to_string())?;
        Ok(PreparedRequest {
            http,
            decoder: self.api.decoder(),
            fallback_id: format!("req-{index}"),
            input_prompt: prompt_text(&self.payload),
            input_payload: self.api.prepare_payload(&self.payload).ok(),
        })
    }
}

impl EndpointForm {
    /// A form prefilled from `?url=…&model=…&prompt=…&max_tokens=…` (credentials are never read from the URL).
    pub(crate) fn from_location() -> Self {
        let query = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let param =
            |name: &str, default: &str| query_param(&query, name).unwrap_or_else(|| default.to_owned());
        EndpointForm {
            url: RwSignal::new(param("url", DEFAULT_URL)),
            model: RwSignal::new(param("model", "mock-model")),
            api_key: RwSignal::new(String::new()),
            prompt: RwSignal::new(param("prompt", "Tell me about the history of load testing.")),
            max_tokens: RwSignal::new(param("max_tokens", "64")),
        }
    }

    /// Validates the form.
    pub(crate) fn endpoint(&self) -> Result<Endpoint, String> {
        let url = self.url.get_untracked().trim().to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "The endpoint URL must start with http:// or https:// (got {url:?})."
            ));
        }
        let max_tokens: u32 = self
            .max_tokens
            .get_untracked()
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("Max tokens must be a positive whole number.")?;
        let key = self.api_key.get_untracked();
        Ok(Endpoint {
            api: ChatCompletions {
                url,
                model: self.model.get_untracked().trim().to_owned(),
                api_key: (!key.is_empty()).then_some(key),
                stream: true,
            },
            payload: create_payload(&self.prompt.get_untracked(), max_tokens),
        })
    }

    pub(crate) fn view(&self) -> impl IntoView {
        let f = *self;
        view! {
            <div class="form-grid">
                <label for="endpoint-url">"Endpoint URL"</label>
                <input id="endpoint-url" type="url" bind:value=f.url />
                <label for="model">"Model"</label>
                <input id="model" type="text" bind:value=f.model />
                <label for="api-key">"API key"</label>
                <input id="api-key" type="password" autocomplete="off" placeholder="optional" bind:value=f.api_key />
                <label for="max-tokens">"Max tokens"</label>
                <input id="max-tokens" type="number" min="1" bind:value=f.max_tokens />
                <label for="prompt">"Prompt"</label>
                <textarea id="prompt" rows="3" bind:value=f.prompt></textarea>
            </div>
        }
    }
}

/// The decoded value of `name` in a `?a=b&c=d` query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    let params = web_sys::UrlSearchParams::new_with_str(query).ok()?;
    params.get(name)
}
