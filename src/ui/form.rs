//! The run form: one text signal per [`Field`] of a [`RawInput`] (prefilled from the page's query string), and
//! the API key beside them. Reading the form is `RawInput::parse` — every rule lives in `core::input` — and a
//! bad value's message is shown next to its field.

use leptos::prelude::*;

use crate::core::dataset::{Dataset, DatasetRow};
use crate::core::input::{Field, InputError, RawInput, RunInput};
use crate::core::payload::parse_payload_jsonl;
use crate::core::plan::Schedule;
use crate::core::target::{ApiKind, AwsAuthKind, Container, InvokeFamily, TransportKind};
use crate::core::trace::Trace;
use crate::engine::target::Credentials;
use crate::protocol::payload_options::Image;

/// Payloads read from a file: its name, the payloads, and the lines that were refused.
type UploadedPayloads = (String, Vec<serde_json::Value>, Vec<String>);

/// The form's raw values. The API key lives only in memory: never in the URL, storage or exports.
#[derive(Clone, Copy)]
pub(crate) struct RunForm {
    values: [RwSignal<String>; Field::ALL.len()],
    api_key: RwSignal<String>,
    aws_access_key_id: RwSignal<String>,
    aws_secret_access_key: RwSignal<String>,
    aws_session_token: RwSignal<String>,
    /// The last validation error, shown beside its field.
    error: RwSignal<Option<InputError>>,
    /// Payloads uploaded from a `payload.jsonl` (used in turn instead of the prompt), with the file's name and the
    /// lines that were refused.
    payload_file: RwSignal<Option<UploadedPayloads>, LocalStorage>,
    /// Why the last uploaded payload file could not be used.
    payload_error: RwSignal<Option<String>>,
    /// The picked prompt dataset, by file name.
    dataset: RwSignal<Option<(String, Dataset)>, LocalStorage>,
    /// The picked trace to replay, by file name.
    trace: RwSignal<Option<(String, Trace)>, LocalStorage>,
    /// The picked Hugging Face `tokenizer.json`: file name and text.
    tokenizer_file: RwSignal<Option<(String, String)>, LocalStorage>,
    /// An image attached to the prompt: file name and the image.
    image: RwSignal<Option<(String, Image)>>,
    /// Whether the payload options are unfolded (they open by themselves when the request body is shown).
    options_open: RwSignal<bool>,
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
        let raw = RawInput::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        RunForm {
            values: Field::ALL.map(|f| RwSignal::new(canonical(f, raw.get(f)))),
            api_key: RwSignal::new(String::new()),
            aws_access_key_id: RwSignal::new(String::new()),
            aws_secret_access_key: RwSignal::new(String::new()),
            aws_session_token: RwSignal::new(String::new()),
            error: RwSignal::new(None),
            payload_file: RwSignal::new_local(None),
            payload_error: RwSignal::new(None),
            dataset: RwSignal::new_local(None),
            trace: RwSignal::new_local(None),
            tokenizer_file: RwSignal::new_local(None),
            image: RwSignal::new(None),
            options_open: RwSignal::new(false),
        }
    }

    fn signal(&self, field: Field) -> RwSignal<String> {
        self.values[field as usize]
    }

    /// The form as raw input.
    pub(crate) fn raw(&self) -> RawInput {
        let mut raw = RawInput::default();
        for field in Field::ALL {
            raw.set(field, self.signal(field).get_untracked());
        }
        raw
    }

    /// [`RunForm::raw`], tracked: a reactive closure that calls it runs again whenever any field changes.
    pub(crate) fn watched(&self) -> RawInput {
        let mut raw = RawInput::default();
        for field in Field::ALL {
            raw.set(field, self.signal(field).get());
        }
        raw
    }

    /// Sets every field from `raw` (a loaded configuration), showing aliases as the option they select.
    pub(crate) fn apply(&self, raw: &RawInput) {
        for field in Field::ALL {
            self.signal(field).set(canonical(field, raw.get(field)));
        }
        self.error.set(None);
    }

    /// Validates the whole form; on failure the message also shows beside the field.
    pub(crate) fn read(&self) -> Result<RunInput, InputError> {
        let result = self.raw().parse();
        self.error.set(result.as_ref().err().cloned());
        result
    }

    /// Reads the file picked in `ev` with `parse`; what it gives goes to `keep` with the file's name, or its error
    /// shows beside the payload options.
    fn pick<T: 'static>(
        &self,
        ev: leptos::ev::Event,
        parse: impl FnOnce(String) -> Result<T, String> + 'static,
        keep: impl FnOnce(RunForm, String, T) + 'static,
    ) {
        let f = *self;
        let Some(file) = crate::browser::files::take_picked(&ev).into_iter().next() else {
            return;
        };
        leptos::task::spawn_local(async move {
            let name = file.name();
            match crate::browser::files::read_text(&file).await.and_then(parse) {
                Ok(value) => {
                    keep(f, name, value);
                    f.payload_error.set(None);
                }
                Err(e) => f.payload_error.set(Some(format!("{name}: {e}"))),
            }
        });
    }

    /// Reads a picked payload file: good lines become the payloads, bad ones are named by number.
    fn upload(&self, ev: leptos::ev::Event) {
        let parse = |text: String| {
            parse_payload_jsonl(&text)
                .require_payloads()
                .map_err(|e| e.to_string())
        };
        self.pick(ev, parse, |f, name, read| {
            let errors = read.errors.iter().map(ToString::to_string).collect();
            f.payload_file.set(Some((name, read.payloads, errors)));
        });
    }

    /// Reads a picked prompt dataset (ShareGPT JSON, JSONL or CSV); its name becomes the `dataset` setting.
    fn pick_dataset(&self, ev: leptos::ev::Event) {
        self.pick(
            ev,
            |text| Dataset::parse(&text),
            |f, name, dataset| {
                f.signal(Field::Dataset).set(name.clone());
                f.dataset.set(Some((name, dataset)));
            },
        );
    }

    fn pick_trace(&self, ev: leptos::ev::Event) {
        self.pick(
            ev,
            |text| Trace::parse(&text),
            |f, name, trace| {
                f.signal(Field::Trace).set(name.clone());
                f.signal(Field::Mode).set("trace".into());
                f.trace.set(Some((name, trace)));
            },
        );
    }

    fn pick_tokenizer(&self, ev: leptos::ev::Event) {
        // The tokenizer's worker reads it; here, only that it is a tokenizer.json at all.
        let parse = |text: String| match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.get("model").is_some() => Ok(text),
            _ => Err("not a Hugging Face tokenizer.json (no \"model\")".to_owned()),
        };
        self.pick(ev, parse, |f, name, text| {
            f.signal(Field::Tokenizer).set(name.clone());
            f.tokenizer_file.set(Some((name, text)));
        });
    }

    /// The Hugging Face tokenizer the settings name (`tokenizer=FILE.json`), as picked here; an error when it was
    /// not picked (a saved configuration names it, and a page cannot read a path).
    pub(crate) fn tokenizer_json(&self, input: &RunInput) -> Result<Option<String>, String> {
        let Some(name) = &input.tokenizer.file else {
            return Ok(None);
        };
        self.tokenizer_file.with_untracked(|picked| match picked {
            Some((picked_name, text)) if picked_name == name => Ok(Some(text.clone())),
            _ => Err(format!(
                "Pick the tokenizer file {name} (Tokenizer file) to run these settings."
            )),
        })
    }

    /// The prompts a run of `input` takes from a file: the trace's rows (synthesised from `seed`) or the dataset's,
    /// sampled as the settings ask; an error when the settings name a file not picked here (a saved
    /// configuration names it, and a page cannot read a path).
    pub(crate) fn file_prompts(
        &self,
        input: &RunInput,
        seed: u64,
    ) -> Result<Option<Vec<DatasetRow>>, String> {
        match &input.trace {
            Some(name) => self.with_trace(name, |trace| trace.prompts(seed)).map(Some),
            None => self.dataset_rows(input, seed),
        }
    }

    /// The trace replay's schedule at the settings' speed (empty when the run replays no trace).
    pub(crate) fn trace_schedule(&self, input: &RunInput) -> Result<Schedule, String> {
        match &input.trace {
            Some(name) => self.with_trace(name, |trace| trace.schedule(input.trace_speed)),
            None => Ok(Schedule::default()),
        }
    }

    fn with_trace<T>(&self, name: &str, read: impl FnOnce(&Trace) -> T) -> Result<T, String> {
        self.trace.with_untracked(|picked| match picked {
            Some((picked_name, trace)) if picked_name == name => Ok(read(trace)),
            _ => Err(format!(
                "Pick the trace file {name} (Trace file) to run these settings."
            )),
        })
    }

    /// The rows of the dataset the settings name, sampled as they ask; an error when it names a file not picked
    /// here (a saved configuration names it, and a page cannot read a path).
    fn dataset_rows(&self, input: &RunInput, seed: u64) -> Result<Option<Vec<DatasetRow>>, String> {
        let Some(name) = &input.dataset else {
            return Ok(None);
        };
        self.dataset.with_untracked(|picked| match picked {
            Some((picked_name, dataset)) if picked_name == name => {
                dataset.sample(input.dataset_sample, seed).map(Some)
            }
            _ => Err(format!(
                "Pick the dataset file {name} (Dataset file) to run these settings."
            )),
        })
    }

    /// Reads a picked image (PNG, JPEG, GIF or WebP) to attach to the prompt.
    fn attach(&self, ev: leptos::ev::Event) {
        let f = *self;
        let Some(file) = crate::browser::files::take_picked(&ev).into_iter().next() else {
            return;
        };
        let media_type = file.type_();
        if !["image/png", "image/jpeg", "image/gif", "image/webp"].contains(&media_type.as_str()) {
            f.payload_error.set(Some(format!(
                "{}: attach a PNG, JPEG, GIF or WebP image",
                file.name()
            )));
            return;
        }
        leptos::task::spawn_local(async move {
            match crate::browser::files::read_base64(&file).await {
                Ok(base64) => {
                    f.image.set(Some((file.name(), Image { media_type, base64 })));
                    f.payload_error.set(None);
                }
                Err(e) => f.payload_error.set(Some(e)),
            }
        });
    }

    /// The attached image, if any.
    pub(crate) fn image(&self) -> Option<Image> {
        self.image
            .with_untracked(|i| i.as_ref().map(|(_, image)| image.clone()))
    }

    /// Shows `body` in the request-body editor, to edit and send as is.
    pub(crate) fn show_body(&self, body: String) {
        self.signal(Field::PayloadJson).set(body);
        self.options_open.set(true);
    }

    /// The uploaded payloads, if any.
    pub(crate) fn uploaded_payloads(&self) -> Option<Vec<serde_json::Value>> {
        self.payload_file
            .with_untracked(|f| f.as_ref().map(|(_, payloads, _)| payloads.clone()))
    }

    /// The secrets entered (memory only).
    pub(crate) fn credentials(&self) -> Credentials {
        let text = |s: RwSignal<String>| Some(s.get_untracked().trim().to_owned()).filter(|k| !k.is_empty());
        let id = text(self.aws_access_key_id);
        let secret = text(self.aws_secret_access_key);
        Credentials {
            api_key: text(self.api_key),
            aws: id
                .zip(secret)
                .map(|(id, secret)| (id, secret, text(self.aws_session_token))),
        }
    }

    /// Fills the secret fields (the `tokenmeter` command hands them over from its environment).
    pub(crate) fn set_credentials(&self, credentials: &Credentials) {
        let set = |s: RwSignal<String>, v: Option<&String>| s.set(v.cloned().unwrap_or_default());
        set(self.api_key, credentials.api_key.as_ref());
        let aws = credentials.aws.as_ref();
        set(self.aws_access_key_id, aws.map(|a| &a.0));
        set(self.aws_secret_access_key, aws.map(|a| &a.1));
        set(self.aws_session_token, aws.and_then(|a| a.2.as_ref()));
    }

    pub(crate) fn view(&self) -> impl IntoView {
        let f = *self;
        let value = move |field: Field| f.signal(field);
        let is_http = move || value(Field::Endpoint).get() == TransportKind::Http.as_str();
        let api = move || value(Field::Api).get().parse::<ApiKind>().ok();
        let is_aws = move || is_http() && api().is_some_and(ApiKind::is_aws);
        let auth = move || value(Field::AwsAuth).get().parse::<AwsAuthKind>().ok();
        // A select over `(name, value)` pairs, bound to `field`.
        let select = move |field: Field, id: &'static str, names: Vec<&'static str>| {
            let signal = value(field);
            view! {
                <select id=id prop:value=move || signal.get() on:change=move |ev| signal.set(event_target_value(&ev))>
                    {names.into_iter().map(|n| view! { <option value=n>{n}</option> }).collect_view()}
                </select>
            }
        };
        let is_open = move || value(Field::Mode).get() != "closed";
        let error_for = move |field: Field| {
            move || {
                f.error.get().filter(|e| e.field == field).map(
                    |e| view! { <p class="field-error" role="alert" data-field=field.name()>{e.message}</p> },
                )
            }
        };
        // A labelled text input bound to `field`, with its error beside it; its id is the field's name.
        let text_field = move |field: Field, kind: &'static str, placeholder: &'static str| {
            let id = field.name().replace('_', "-");
            view! {
                <label for=id.clone()>{field.label()}</label>
                <div>
                    <input id=id type=kind step="any" placeholder=placeholder bind:value=value(field) />
                    {error_for(field)}
                </div>
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
                            placeholder=move || if is_aws() { "empty: AWS's own host; or a proxy or mock URL" }
                                else { "https://api.openai.com/v1 or https://api.anthropic.com" } />
                        {error_for(Field::Url)}
                    </div>
                    <label for="model">{move || match api() {
                        Some(ApiKind::SageMaker) => "Endpoint name",
                        Some(ApiKind::BedrockConverse | ApiKind::BedrockInvoke) => "Model id",
                        _ => "Model",
                    }}</label>
                    <div>
                        <input id="model" type="text" bind:value=value(Field::Model) />
                        {error_for(Field::Model)}
                    </div>
                    <Show when=is_aws>
                        <label for="region">"AWS region"</label>
                        <div>
                            <input id="region" type="text" placeholder="us-east-1" bind:value=value(Field::Region) />
                            {error_for(Field::Region)}
                        </div>
                        <label for="aws-auth">"Sign with"</label>
                        <div>
                            {select(Field::AwsAuth, "aws-auth", AwsAuthKind::NAMES.iter().map(|(n, _)| *n).collect())}
                            {error_for(Field::AwsAuth)}
                        </div>
                        <Show when=move || auth() == Some(AwsAuthKind::SigV4)>
                            <label for="aws-access-key-id">"Access key id"</label>
                            <input id="aws-access-key-id" type="text" autocomplete="off" bind:value=f.aws_access_key_id />
                            <label for="aws-secret-access-key">"Secret access key"</label>
                            <input id="aws-secret-access-key" type="password" autocomplete="off"
                                placeholder="kept in memory only" bind:value=f.aws_secret_access_key />
                            <label for="aws-session-token">"Session token"</label>
                            <input id="aws-session-token" type="password" autocomplete="off"
                                placeholder="for temporary credentials" bind:value=f.aws_session_token />
                        </Show>
                        <Show when=move || api() == Some(ApiKind::BedrockInvoke)>
                            <label for="invoke-body">"Model family"</label>
                            <div>
                                {select(Field::Family, "invoke-body", InvokeFamily::NAMES.iter().map(|(n, _)| *n).collect())}
                                {error_for(Field::Family)}
                            </div>
                        </Show>
                        <Show when=move || api() == Some(ApiKind::SageMaker)>
                            <label for="sagemaker-container">"Container"</label>
                            <div>
                                {select(Field::Container, "sagemaker-container", Container::NAMES.iter().map(|(n, _)| *n).collect())}
                                {error_for(Field::Container)}
                            </div>
                        </Show>
                    </Show>
                    <Show when=move || !is_aws() || auth() == Some(AwsAuthKind::ApiKey)>
                        <label for="api-key">{move || if is_aws() { "Bedrock API key" } else { "API key" }}</label>
                        <input id="api-key" type="password" autocomplete="off" placeholder="kept in memory only"
                            bind:value=f.api_key />
                    </Show>
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
            <details id="payload-options" prop:open=move || f.options_open.get()
                on:toggle=move |ev| f.options_open.set(event_target::<web_sys::HtmlDetailsElement>(&ev).open())>
                <summary>"System prompt, temperature, image, payload file, cache buster, request body"</summary>
                <div class="form-grid">
                {text_field(Field::PromptTokens, "number", "empty: the prompt above")}
                <label for="system">"System prompt"</label>
                <textarea id="system" rows="2" placeholder="optional" bind:value=value(Field::System)></textarea>
                {text_field(Field::Temperature, "number", "the model's default")}
                <label for="image">"Image"</label>
                <div>
                    <input id="image" type="file" accept="image/png,image/jpeg,image/gif,image/webp"
                        on:change=move |ev| f.attach(ev) />
                    {move || f.image.get().map(|(name, _)| view! {
                        <p id="image-note" class="note">{format!("{name} is sent with the prompt. ")}
                            <button id="clear-image" on:click=move |_| f.image.set(None)>"Remove"</button></p>
                    })}
                </div>
                <label for="payload-file">"Payload file"</label>
                <div>
                    <input id="payload-file" type="file" accept=".jsonl,.json" on:change=move |ev| f.upload(ev) />
                    {move || f.payload_file.get().map(|(name, payloads, errors)| {
                        let refused = if errors.is_empty() { String::new() } else { format!(" Not used: {}.", errors.join("; ")) };
                        view! {
                            <p id="payload-note" class="note">
                                {format!("{} payloads from {name}, sent in turn instead of the prompt.{refused} ", payloads.len())}
                                <button id="clear-payloads" on:click=move |_| f.payload_file.set(None)>"Use the prompt"</button>
                            </p>
                        }
                    })}
                    {move || f.payload_error.get().map(|e| view! { <p id="payload-error" class="field-error">{e}</p> })}
                </div>
                <label for="dataset-file">"Dataset file"</label>
                <div>
                    <input id="dataset-file" type="file" accept=".json,.jsonl,.csv" on:change=move |ev| f.pick_dataset(ev) />
                    {move || f.dataset.get().map(|(name, d)| {
                        let skipped = if d.skipped.is_empty() { String::new() } else { format!(" Skipped: {}.", d.skipped.join("; ")) };
                        view! {
                            <p id="dataset-note" class="note">
                                {format!("{} prompts from {name}, sent in turn (Dataset sampling: order, shuffle, or e.g. shuffle:100-2000 tokens).{skipped} ", d.rows.len())}
                                <button id="clear-dataset" on:click=move |_| { f.dataset.set(None); f.signal(Field::Dataset).set(String::new()); }>"Use the prompt"</button>
                            </p>
                        }
                    })}
                </div>
                {text_field(Field::DatasetSample, "text", "order, shuffle, or shuffle:MIN-MAX tokens")}
                <label for="trace-file">"Trace file"</label>
                <div>
                    <input id="trace-file" type="file" accept=".jsonl,.json" on:change=move |ev| f.pick_trace(ev) />
                    {move || f.trace.get().map(|(name, t)| {
                        let skipped = if t.skipped.is_empty() { String::new() } else { format!(" Skipped: {}.", t.skipped.join("; ")) };
                        view! {
                            <p id="trace-note" class="note">
                                {format!(
                                    "{} requests over {:.1} s from {name} ({} shared 512-token blocks), replayed at their own times (Arrivals: trace replay; Trace speed scales time).{skipped} ",
                                    t.rows.len(), t.span().as_secs_f64(), t.distinct_blocks(),
                                )}
                                <button id="clear-trace" on:click=move |_| {
                                    f.trace.set(None);
                                    f.signal(Field::Trace).set(String::new());
                                    f.signal(Field::Mode).set("closed".into());
                                }>"Clear the trace"</button>
                            </p>
                        }
                    })}
                    {error_for(Field::Trace)}
                </div>
                {text_field(Field::TraceSpeed, "number", "1: the trace's own speed; 2: twice as fast")}
                <label for="cache-buster">"Cache buster"</label>
                <label class="check">{checkbox(Field::CacheBuster)}
                    "a unique prefix per request, so prompt caches cannot flatter TTFT"</label>
                <label for="payload-json">"Request body (JSON)"</label>
                <div>
                    <textarea id="payload-json" rows="4" spellcheck="false"
                        placeholder="empty: built from the settings above (Show request body fills it in to edit)"
                        bind:value=value(Field::PayloadJson)></textarea>
                    {error_for(Field::PayloadJson)}
                </div>
                </div>
            </details>
            <h3>"Load"</h3>
            <div class="form-grid">
                <label for="mode">"Arrivals"</label>
                <div>
                    <select id="mode" prop:value=move || value(Field::Mode).get()
                        on:change=move |ev| value(Field::Mode).set(event_target_value(&ev))>
                        <option value="closed">"Closed loop (N clients)"</option>
                        <option value="rate">"Constant rate"</option>
                        <option value="poisson">"Poisson"</option>
                        <option value="trace">"Trace replay (Trace file)"</option>
                    </select>
                    {error_for(Field::Mode)}
                </div>
                <label for="clients">{move || if is_open() { "Max in flight" } else { "Clients" }}</label>
                <div>
                    <input id="clients" type="number" min="1" bind:value=value(Field::Clients) />
                    {error_for(Field::Clients)}
                </div>
                <Show when=move || matches!(value(Field::Mode).get().as_str(), "rate" | "poisson")>
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
                    <label for="heatmap">"Latency heatmap"</label>
                    <div>
                        <input id="heatmap" type="text" placeholder="e.g. 10,50,200x128,256 (prompt words × output tokens)"
                            bind:value=value(Field::Heatmap) />
                        {error_for(Field::Heatmap)}
                    </div>
                </Show>
                <label for="check">"Check first"</label>
                <label class="check">{checkbox(Field::ColdCheck)}
                    "one untimed request before the run: confirms the endpoint and warms the connection"</label>
                <label for="low-memory">"Low memory"</label>
                <label class="check">{checkbox(Field::LowMemory)}
                    "keep statistics only (long runs; no responses to download)"</label>
            </div>
            <details id="advanced">
                <summary>"Run name, warm-up, SLOs, prices"</summary>
                <div class="form-grid">
                    {text_field(Field::Name, "text", "e.g. gpt-4o at 8 clients")}
                    {text_field(Field::Description, "text", "optional")}
                    {text_field(Field::Warmup, "number", "none: requests sent before it are kept out of the stats")}
                    {text_field(Field::RampUp, "number", "none: clients start spread over it")}
                    {text_field(Field::SloTtft, "number", "none")}
                    {text_field(Field::SloTtlt, "number", "none")}
                    {text_field(Field::SloTpot, "number", "none")}
                    {text_field(Field::Confidence, "number", "95: the percentiles' intervals")}
                    {text_field(Field::StopWhen, "text", "e.g. time_to_first_token-p95:5% (stop once that precise)")}
                    {text_field(Field::Search, "text", "e.g. clients:1-64 or rate:1-100: the highest load that meets the SLO")}
                    {text_field(Field::SearchSlo, "text", "e.g. time_to_first_token-p95<0.5, failed_requests_rate<=0.01")}
                    {text_field(Field::Race, "text", "e.g. label=a;url=http://host-a/v1 | label=b;url=http://host-b/v1 (the same schedule to each)")}
                    {text_field(Field::Cancel, "text", "e.g. 20%@500ms or 10%@5tokens: abort that share on purpose")}
                    {text_field(Field::SharedPrefix, "text", "e.g. 4x512: 4 prefixes of 512 tokens, each shared by a quarter of the requests")}
                    {text_field(Field::Turns, "number", "e.g. 4: each client holds conversations of 4 turns, each sending the conversation so far")}
                    {text_field(Field::ThinkTime, "text", "e.g. lognormal:2,0.5 or fixed:1: seconds from an answer to the next turn")}
                    <label for="tokenizer">{Field::Tokenizer.label()}</label>
                    <div>
                        <select id="tokenizer" prop:value=move || value(Field::Tokenizer).get()
                            on:change=move |ev| value(Field::Tokenizer).set(event_target_value(&ev))>
                            <option value="words">"words (LLMeter's DummyTokenizer)"</option>
                            <option value="o200k_base">"o200k_base (GPT-4o, GPT-4.1, GPT-5, o-series)"</option>
                            <option value="cl100k_base">"cl100k_base (GPT-4, GPT-3.5)"</option>
                            {move || f.tokenizer_file.get().map(|(name, _)| view! {
                                <option value=name.clone()>{format!("{name} (Hugging Face)")}</option>
                            })}
                        </select>
                        <input id="tokenizer-file" type="file" accept=".json" title="a Hugging Face tokenizer.json"
                            on:change=move |ev| f.pick_tokenizer(ev) />
                        {error_for(Field::Tokenizer)}
                    </div>
                    {text_field(Field::MetricsUrl, "url", "e.g. http://127.0.0.1:8000/metrics: vLLM, SGLang or TGI, scraped once a second")}
                    {text_field(Field::MetricsSeries, "text", "more series to keep, e.g. vllm:num_preemptions_total")}
                    {text_field(Field::PriceInput, "number", "none")}
                    {text_field(Field::PriceOutput, "number", "none")}
                    {text_field(Field::Table, "text", "all: Throughput, TTFT, TTLT, TPOT, Tokens, Streaming, Client, Errors")}
                </div>
            </details>
            <Show when=move || !is_http()>
                <details id="simulated-settings">
                    <summary>"Simulated model"</summary>
                    <p class="hint">"Distributions: fixed:V, uniform:LO,HI, normal:MEAN,SD or lognormal:MEDIAN,SIGMA."</p>
                    <div class="form-grid">
                        {text_field(Field::SimTtft, "text", "lognormal:0.35,0.3")}
                        {text_field(Field::SimItl, "text", "lognormal:0.02,0.25")}
                        {text_field(Field::SimTokens, "text", "uniform:64,257")}
                        {text_field(Field::SimErrorRate, "number", "0 to 1")}
                    </div>
                </details>
            </Show>
        }
    }
}

/// A value as the form shows it: aliases (`endpoint=openai`, `api=anthropic`) become the option they select.
fn canonical(field: Field, value: &str) -> String {
    match field {
        Field::Endpoint => value.parse::<TransportKind>().map(|t| t.as_str().to_owned()).ok(),
        Field::Api => value.parse::<ApiKind>().map(|a| a.as_str().to_owned()).ok(),
        _ => None,
    }
    .unwrap_or_else(|| value.to_owned())
}
