//! The run form: raw input signals (prefilled from the page's query string) validated into an [`Endpoint`] and a
//! [`RunPlan`]. Validation messages name the field and the fix.

use std::time::Duration;

use leptos::prelude::*;
use serde_json::Value;

use crate::core::experiments::LoadTestPlan;
use crate::core::format::EndpointBlock;
use crate::core::plan::{Arrival, RunPlan, RunPlanSpec, StopCondition};
use crate::engine::request::PreparedRequest;
use crate::engine::simulated::SimulatedModel;
use crate::protocol::openai::{create_payload, prompt_text, ChatCompletions};

/// The URL offered for OpenAI-compatible servers: the local mock server that `scripts/serve.sh` starts.
const DEFAULT_URL: &str = "http://127.0.0.1:8787/v1/chat/completions";

/// Which endpoint the run targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointKind {
    /// The in-browser simulated model: no network, no credentials.
    Simulated,
    /// Any OpenAI-compatible Chat Completions URL.
    OpenAi,
}

/// The form's raw values. The API key lives only in memory: never in the URL, storage or exports.
#[derive(Clone, Copy)]
pub(crate) struct RunForm {
    kind: RwSignal<String>,
    url: RwSignal<String>,
    model: RwSignal<String>,
    api_key: RwSignal<String>,
    prompt: RwSignal<String>,
    max_tokens: RwSignal<String>,
    mode: RwSignal<String>,
    clients: RwSignal<String>,
    requests: RwSignal<String>,
    duration: RwSignal<String>,
    rate: RwSignal<String>,
    timeout: RwSignal<String>,
    sweep: RwSignal<String>,
    low_memory: RwSignal<bool>,
}

/// One run to perform: its name (empty: the controller numbers it) and its plan.
pub(crate) struct NamedRun {
    pub(crate) name: String,
    pub(crate) plan: RunPlan,
}

/// A validated endpoint plus the payload to send.
pub(crate) struct Endpoint {
    pub(crate) kind: EndpointKind,
    api: ChatCompletions,
    payloads: Vec<Value>,
}

impl Endpoint {
    /// The request for send number `index` with payload `payload_index`.
    pub(crate) fn prepare(&self, index: u64, payload_index: usize) -> PreparedRequest {
        let payload = &self.payloads[payload_index % self.payloads.len()];
        let http = self
            .api
            .build_request(payload)
            .expect("payloads are validated when the form is read");
        PreparedRequest {
            http,
            decoder: self.api.decoder(),
            fallback_id: format!("req-{index}"),
            input_prompt: prompt_text(payload),
            input_payload: self.api.prepare_payload(payload).ok(),
        }
    }

    pub(crate) fn n_payloads(&self) -> usize {
        self.payloads.len()
    }

    /// The endpoint block of `run_config.json` (no credentials).
    pub(crate) fn block(&self) -> EndpointBlock {
        let name = match self.kind {
            EndpointKind::Simulated => "simulated",
            EndpointKind::OpenAi => "openai-compatible",
        };
        EndpointBlock {
            endpoint_name: Some(name.into()),
            model_id: Some(self.api.model.clone()),
            provider: Some("openai".into()),
            endpoint_type: Some("OpenAICompletionStreamEndpoint".into()),
            url: Some(self.api.url.clone()),
            other: Default::default(),
        }
    }

    /// The target's origin, for the HTTP/1.1 connection-limit warning; `None` for the simulated endpoint.
    pub(crate) fn http_origin(&self) -> Option<&str> {
        (self.kind == EndpointKind::OpenAi).then(|| {
            let after_scheme = self.api.url.find("://").map_or(0, |i| i + 3);
            let end = self.api.url[after_scheme..]
                .find('/')
                .map_or(self.api.url.len(), |i| after_scheme + i);
            &self.api.url[..end]
        })
    }
}

impl RunForm {
    /// A form prefilled from the query string: `endpoint=simulated|openai`, `url`, `model`, `prompt`,
    /// `max_tokens`, `mode=closed|rate|poisson`, `clients`, `requests`, `duration`, `rate`, `timeout`.
    /// Credentials are never read from the URL.
    pub(crate) fn from_location() -> Self {
        let query = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&query).ok();
        let param = |name: &str, default: &str| {
            let value = params.as_ref().and_then(|p| p.get(name));
            RwSignal::new(value.unwrap_or_else(|| default.to_owned()))
        };
        let has_url = params.as_ref().and_then(|p| p.get("url")).is_some();
        RunForm {
            kind: param("endpoint", if has_url { "openai" } else { "simulated" }),
            url: param("url", DEFAULT_URL),
            model: param("model", "mock-model"),
            api_key: RwSignal::new(String::new()),
            prompt: param("prompt", "Tell me about the history of load testing."),
            max_tokens: param("max_tokens", "128"),
            mode: param("mode", "closed"),
            clients: param("clients", "4"),
            requests: param("requests", "5"),
            duration: param("duration", ""),
            rate: param("rate", "2"),
            timeout: param("timeout", "60"),
            sweep: param("sweep", ""),
            low_memory: RwSignal::new(
                params
                    .as_ref()
                    .and_then(|p| p.get("low_memory"))
                    .is_some_and(|v| v == "1"),
            ),
        }
    }

    fn kind(&self) -> EndpointKind {
        if self.kind.get_untracked() == "openai" {
            EndpointKind::OpenAi
        } else {
            EndpointKind::Simulated
        }
    }

    /// Validates the endpoint part of the form.
    pub(crate) fn endpoint(&self) -> Result<Endpoint, String> {
        let kind = self.kind();
        let max_tokens = positive::<u32>(&self.max_tokens.get_untracked(), "Max tokens")?;
        let payloads = vec![create_payload(&self.prompt.get_untracked(), max_tokens)];
        let api = match kind {
            EndpointKind::Simulated => SimulatedModel::endpoint(),
            EndpointKind::OpenAi => {
                let url = self.url.get_untracked().trim().to_owned();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "The endpoint URL must start with http:// or https:// (got {url:?})."
                    ));
                }
                let key = self.api_key.get_untracked();
                ChatCompletions {
                    url,
                    model: self.model.get_untracked().trim().to_owned(),
                    api_key: (!key.is_empty()).then_some(key),
                    stream: true,
                }
            }
        };
        for payload in &payloads {
            api.build_request(payload)
                .map_err(|e| format!("The payload cannot be sent: {e}"))?;
        }
        Ok(Endpoint { kind, api, payloads })
    }

    /// The runs the form asks for: one, or — with *Sweep clients* — one per concurrency level, sized by
    /// LLMeter's LoadTest rule (each level sends at least 10 requests and each client at least *Requests*).
    pub(crate) fn runs(&self, n_payloads: usize) -> Result<Vec<NamedRun>, String> {
        let sweep = self.sweep.get_untracked();
        // The sweep field is only shown (and only applies) for closed-loop arrivals.
        if sweep.trim().is_empty() || self.mode.get_untracked() != "closed" {
            return Ok(vec![NamedRun {
                name: String::new(),
                plan: self.plan(n_payloads)?,
            }]);
        }
        let levels = sweep
            .split(',')
            .map(|level| positive::<u32>(level, "Each sweep level"))
            .collect::<Result<Vec<_>, _>>()?;
        let template = self.plan(n_payloads)?;
        let load_test = LoadTestPlan {
            sequence_of_clients: levels,
            min_requests_per_client: template.stop().requests_per_client.unwrap_or(1),
            run_duration: template.stop().duration,
            ..LoadTestPlan::default()
        };
        let runs = load_test
            .runs(template.spec())
            .map_err(|e| format!("Sweep: {e}."))?;
        Ok(runs
            .into_iter()
            .map(|r| NamedRun {
                name: r.name,
                plan: r.plan,
            })
            .collect())
    }

    /// Validates the load part of the form into a plan for `n_payloads` payloads.
    fn plan(&self, n_payloads: usize) -> Result<RunPlan, String> {
        let duration = optional::<f64>(&self.duration.get_untracked(), "Duration (s)")?
            .map(Duration::try_from_secs_f64)
            .transpose()
            .map_err(|_| "Duration (s) must be a positive number of seconds.".to_owned())?;
        let requests = optional::<u64>(&self.requests.get_untracked(), "Requests")?;
        let clients = positive::<u32>(&self.clients.get_untracked(), "Clients")?;
        let mode = self.mode.get_untracked();
        let (arrival, stop) = if mode == "closed" {
            let stop = StopCondition {
                requests_per_client: requests,
                total_requests: None,
                duration,
            };
            (Arrival::ClosedLoop { clients }, stop)
        } else {
            let per_second = positive::<f64>(&self.rate.get_untracked(), "Rate (req/s)")?;
            let max_concurrency = Some(clients);
            let arrival = if mode == "poisson" {
                Arrival::Poisson {
                    per_second,
                    max_concurrency,
                }
            } else {
                Arrival::ConstantRate {
                    per_second,
                    max_concurrency,
                }
            };
            (
                arrival,
                StopCondition {
                    requests_per_client: None,
                    total_requests: requests,
                    duration,
                },
            )
        };
        let timeout = optional::<f64>(&self.timeout.get_untracked(), "Timeout (s)")?
            .map(Duration::try_from_secs_f64)
            .transpose()
            .map_err(|_| "Timeout (s) must be a positive number of seconds.".to_owned())?;
        RunPlanSpec {
            arrival,
            stop,
            request_timeout: timeout,
            n_payloads,
            low_memory: self.low_memory.get_untracked(),
            ..RunPlanSpec::default()
        }
        .validate()
        .map_err(|e| format!("Run settings: {e}."))
    }

    pub(crate) fn view(&self) -> impl IntoView {
        let f = *self;
        let is_http = move || f.kind.get() == "openai";
        let is_open = move || f.mode.get() != "closed";
        view! {
            <div class="form-grid">
                <label for="endpoint-kind">"Endpoint"</label>
                <select id="endpoint-kind" prop:value=move || f.kind.get()
                    on:change=move |ev| f.kind.set(event_target_value(&ev))>
                    <option value="simulated">"Simulated model (in the browser)"</option>
                    <option value="openai">"OpenAI-compatible URL"</option>
                </select>
                <Show when=is_http>
                    <label for="endpoint-url">"URL"</label>
                    <input id="endpoint-url" type="url" bind:value=f.url />
                    <label for="model">"Model"</label>
                    <input id="model" type="text" bind:value=f.model />
                    <label for="api-key">"API key"</label>
                    <input id="api-key" type="password" autocomplete="off" placeholder="optional; kept in memory only"
                        bind:value=f.api_key />
                </Show>
                <label for="prompt">"Prompt"</label>
                <textarea id="prompt" rows="3" bind:value=f.prompt></textarea>
                <label for="max-tokens">"Max tokens"</label>
                <input id="max-tokens" type="number" min="1" bind:value=f.max_tokens />
            </div>
            <h3>"Load"</h3>
            <div class="form-grid">
                <label for="mode">"Arrivals"</label>
                <select id="mode" prop:value=move || f.mode.get() on:change=move |ev| f.mode.set(event_target_value(&ev))>
                    <option value="closed">"Closed loop (N clients)"</option>
                    <option value="rate">"Constant rate"</option>
                    <option value="poisson">"Poisson"</option>
                </select>
                <label for="clients">{move || if is_open() { "Max in flight" } else { "Clients" }}</label>
                <input id="clients" type="number" min="1" bind:value=f.clients />
                <Show when=is_open>
                    <label for="rate">"Rate (req/s)"</label>
                    <input id="rate" type="number" min="0" step="any" bind:value=f.rate />
                </Show>
                <label for="requests">{move || if is_open() { "Requests (total)" } else { "Requests / client" }}</label>
                <input id="requests" type="number" min="1" placeholder="none" title="With a duration too, the first limit reached ends the run" bind:value=f.requests />
                <label for="duration">"Duration (s)"</label>
                <input id="duration" type="number" min="0" step="any" placeholder="none" bind:value=f.duration />
                <label for="timeout">"Timeout (s)"</label>
                <input id="timeout" type="number" min="0" step="any" bind:value=f.timeout />
                <Show when=move || !is_open()>
                    <label for="sweep">"Sweep clients"</label>
                    <input id="sweep" type="text" placeholder="e.g. 1,2,4,8 (one run per level)" bind:value=f.sweep />
                </Show>
                <label for="low-memory">"Low memory"</label>
                <label class="check">
                    <input id="low-memory" type="checkbox" bind:checked=f.low_memory />
                    "keep statistics only (long runs; no responses to download)"
                </label>
            </div>
        }
    }
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(raw: &str, field: &str) -> Result<T, String> {
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|v| *v > T::default())
        .ok_or_else(|| format!("{field} must be a number above 0 (got {raw:?})."))
}

fn optional<T: std::str::FromStr + PartialOrd + Default>(
    raw: &str,
    field: &str,
) -> Result<Option<T>, String> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        positive(raw, field).map(Some)
    }
}
