//! The run form: one text signal per [`Field`] of a [`RawInput`] (prefilled from the page's query string), and
//! the API key beside them. Reading the form is `RawInput::parse` — every rule lives in `core::input` — and a
//! bad value's message is shown next to its field.

use leptos::prelude::*;

use crate::core::input::{Field, InputError, RawInput, RunInput};
use crate::core::target::{ApiKind, TransportKind};

/// The form's raw values. The API key lives only in memory: never in the URL, storage or exports.
#[derive(Clone, Copy)]
pub(crate) struct RunForm {
    values: [RwSignal<String>; Field::ALL.len()],
    api_key: RwSignal<String>,
    /// The last validation error, shown beside its field.
    error: RwSignal<Option<InputError>>,
}

impl RunForm {
    /// A form prefilled from the query string (see `RawInput::from_pairs`). Credentials are never read from
    /// the URL.
    pub(crate) fn from_location() -> Self {
        let query = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let pairs: Vec<(String, String)> = web_sys::UrlSearchParams::new_with_str(&query)
            .ok()
            .map(|params| {
                Field::ALL
                    .iter()
                    .filter_map(|f| params.get(f.name()).map(|v| (f.name().to_owned(), v)))
                    .collect()
            })
            .unwrap_or_default();
        let mut raw = RawInput::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // Show aliases (`endpoint=openai`, `api=anthropic`) as the option they select.
        if let Ok(t) = raw.get(Field::Endpoint).parse::<TransportKind>() {
            raw.set(Field::Endpoint, t.as_str());
        }
        if let Ok(api) = raw.get(Field::Api).parse::<ApiKind>() {
            raw.set(Field::Api, api.as_str());
        }
        RunForm {
            values: Field::ALL.map(|f| RwSignal::new(raw.get(f).to_owned())),
            api_key: RwSignal::new(String::new()),
            error: RwSignal::new(None),
        }
    }

    fn signal(&self, field: Field) -> RwSignal<String> {
        self.values[field as usize]
    }

    /// The form as raw input.
    fn raw(&self) -> RawInput {
        let mut raw = RawInput::default();
        for field in Field::ALL {
            raw.set(field, self.signal(field).get_untracked());
        }
        raw
    }

    /// Validates the whole form; on failure the message also shows beside the field.
    pub(crate) fn read(&self) -> Result<RunInput, InputError> {
        let result = self.raw().parse();
        self.error.set(result.as_ref().err().cloned());
        result
    }

    /// The API key, if one was entered.
    pub(crate) fn api_key(&self) -> Option<String> {
        Some(self.api_key.get_untracked()).filter(|k| !k.is_empty())
    }

    pub(crate) fn view(&self) -> impl IntoView {
        let f = *self;
        let value = move |field: Field| f.signal(field);
        let is_http = move || value(Field::Endpoint).get() == TransportKind::Http.as_str();
        let is_open = move || value(Field::Mode).get() != "closed";
        let error_for = move |field: Field| {
            move || {
                f.error.get().filter(|e| e.field == field).map(
                    |e| view! { <p class="field-error" role="alert" data-field=field.name()>{e.message}</p> },
                )
            }
        };
        let checkbox = move |field: Field| {
            let signal = value(field);
            view! {
                <input id=field.name().replace('_', "-") type="checkbox"
                    prop:checked=move || signal.get() == "true"
                    on:change=move |ev| signal.set(event_target_checked(&ev).to_string()) />
            }
        };
        view! {
            <div class="form-grid">
                <label for="endpoint-kind">"Endpoint"</label>
                <div>
                    <select id="endpoint-kind" prop:value=move || value(Field::Endpoint).get()
                        on:change=move |ev| value(Field::Endpoint).set(event_target_value(&ev))>
                        <option value="simulated">"Simulated model (in the browser)"</option>
                        <option value="http">"HTTP endpoint (URL)"</option>
                    </select>
                    {error_for(Field::Endpoint)}
                </div>
                <label for="api">"API"</label>
                <div>
                    <select id="api" prop:value=move || value(Field::Api).get()
                        on:change=move |ev| value(Field::Api).set(event_target_value(&ev))>
                        {ApiKind::ALL.into_iter().map(|api| view! { <option value=api.as_str()>{api.label()}</option> }).collect_view()}
                    </select>
                    {error_for(Field::Api)}
                </div>
                <Show when=is_http>
                    <label for="endpoint-url">"Base URL"</label>
                    <div>
                        <input id="endpoint-url" type="url" bind:value=value(Field::Url)
                            placeholder="https://api.openai.com/v1 or https://api.anthropic.com" />
                        {error_for(Field::Url)}
                    </div>
                    <label for="model">"Model"</label>
                    <div>
                        <input id="model" type="text" bind:value=value(Field::Model) />
                        {error_for(Field::Model)}
                    </div>
                    <label for="api-key">"API key"</label>
                    <input id="api-key" type="password" autocomplete="off" placeholder="optional; kept in memory only"
                        bind:value=f.api_key />
                    <label for="headers">"Extra headers"</label>
                    <div>
                        <textarea id="headers" rows="2" placeholder="Name: value (one per line)"
                            bind:value=value(Field::Headers)></textarea>
                        {error_for(Field::Headers)}
                    </div>
                </Show>
                <label for="stream">"Streaming"</label>
                <label class="check">{checkbox(Field::Stream)}"stream tokens (off: one JSON body, no TTFT)"</label>
                <label for="prompt">"Prompt"</label>
                <textarea id="prompt" rows="3" bind:value=value(Field::Prompt)></textarea>
                <label for="max-tokens">"Max tokens"</label>
                <div>
                    <input id="max-tokens" type="number" min="1" bind:value=value(Field::MaxTokens) />
                    {error_for(Field::MaxTokens)}
                </div>
            </div>
            <h3>"Load"</h3>
            <div class="form-grid">
                <label for="mode">"Arrivals"</label>
                <div>
                    <select id="mode" prop:value=move || value(Field::Mode).get()
                        on:change=move |ev| value(Field::Mode).set(event_target_value(&ev))>
                        <option value="closed">"Closed loop (N clients)"</option>
                        <option value="rate">"Constant rate"</option>
                        <option value="poisson">"Poisson"</option>
                    </select>
                    {error_for(Field::Mode)}
                </div>
                <label for="clients">{move || if is_open() { "Max in flight" } else { "Clients" }}</label>
                <div>
                    <input id="clients" type="number" min="1" bind:value=value(Field::Clients) />
                    {error_for(Field::Clients)}
                </div>
                <Show when=is_open>
                    <label for="rate">"Rate (req/s)"</label>
                    <div>
                        <input id="rate" type="number" min="0" step="any" bind:value=value(Field::Rate) />
                        {error_for(Field::Rate)}
                    </div>
                </Show>
                <label for="requests">{move || if is_open() { "Requests (total)" } else { "Requests / client" }}</label>
                <div>
                    <input id="requests" type="number" min="1" placeholder="none"
                        title="With a duration too, the first limit reached ends the run" bind:value=value(Field::Requests) />
                    {error_for(Field::Requests)}
                </div>
                <label for="duration">"Duration (s)"</label>
                <div>
                    <input id="duration" type="number" min="0" step="any" placeholder="none" bind:value=value(Field::Duration) />
                    {error_for(Field::Duration)}
                </div>
                <label for="timeout">"Timeout (s)"</label>
                <div>
                    <input id="timeout" type="number" min="0" step="any" bind:value=value(Field::Timeout) />
                    {error_for(Field::Timeout)}
                </div>
                <Show when=move || !is_open()>
                    <label for="sweep">"Sweep clients"</label>
                    <div>
                        <input id="sweep" type="text" placeholder="e.g. 1,2,4,8 (one run per level)" bind:value=value(Field::Sweep) />
                        {error_for(Field::Sweep)}
                    </div>
                </Show>
                <label for="low-memory">"Low memory"</label>
                <label class="check">{checkbox(Field::LowMemory)}
                    "keep statistics only (long runs; no responses to download)"</label>
            </div>
        }
    }
}
