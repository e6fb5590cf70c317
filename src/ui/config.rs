//! Run configurations in the page: save the form as `run_config.json` (never a credential), load one back
//! (ours, or LLMeter's, telling which of its keys could not be mapped), and, for scripts, `?config=` (a same-origin
//! URL or a `data:` URL) with `autorun=1`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::browser::command::CommandHook;
use crate::browser::files;
use crate::core::consent::autorun_question;
use crate::core::format::{read_run_config, RunFile};
use crate::core::input::{decode_data_url, RawInput};
use crate::core::payload::PAYLOAD_FILE;
use crate::ui::form::RunForm;
use crate::ui::run::RunController;

/// Reads a `run_config.json` text into the form; returns what could not be mapped.
fn load_into(form: RunForm, text: &str) -> Result<Vec<String>, String> {
    let config = read_run_config(text).map_err(|e| e.to_string())?;
    let (raw, unmapped) = RawInput::from_run_config(&config);
    form.apply(&raw);
    Ok(unmapped)
}

/// The message shown after a configuration loaded.
fn loaded_message(unmapped: &[String]) -> String {
    if unmapped.is_empty() {
        "Configuration loaded.".to_owned()
    } else {
        format!("Configuration loaded. Not mapped: {}.", unmapped.join("; "))
    }
}

/// Save and load buttons.
#[component]
pub(crate) fn ConfigControls(form: RunForm, run: RunController) -> impl IntoView {
    let note = RwSignal::new(None::<(String, bool)>);
    let save = move |_| match run.config_file(form) {
        Ok(text) => {
            if let Err(e) = files::download(RunFile::RunConfig.file_name(), &text, "application/json") {
                note.set(Some((e, true)));
            }
        }
        Err(e) => note.set(Some((e, true))),
    };
    let load = move |ev: leptos::ev::Event| {
        let Some(file) = crate::browser::files::take_picked(&ev).into_iter().next() else {
            return;
        };
        spawn_local(async move {
            let result = match files::read_text(&file).await {
                Ok(text) => load_into(form, &text),
                Err(e) => Err(e),
            };
            note.set(Some(match result {
                Ok(unmapped) => (loaded_message(&unmapped), false),
                Err(e) => (format!("{}: {e}", file.name()), true),
            }));
        });
    };
    let save_payloads = move |_| match run.payload_file(form) {
        Ok(text) => {
            if let Err(e) = files::download(PAYLOAD_FILE, &text, "application/x-ndjson") {
                note.set(Some((e, true)));
            }
        }
        Err(e) => note.set(Some((e, true))),
    };
    let show_body = move |_| match run.request_body(form) {
        Ok(body) => {
            form.show_body(body);
            note.set(None);
        }
        Err(e) => note.set(Some((e, true))),
    };
    view! {
        <div class="config">
            <button id="save-config" on:click=save>"Save configuration"</button>
            <button id="export-payloads" on:click=save_payloads>"Save payloads"</button>
            <button id="show-body" on:click=show_body>"Show request body"</button>
            <label class="file-button">
                "Load configuration"
                <input id="load-config" type="file" accept=".json" on:change=load />
            </label>
            {move || note.get().map(|(text, is_error)| view! {
                <p id="config-note" class:error=is_error class:note=!is_error>{text}</p>
            })}
        </div>
    }
}

/// Applies `?config=` (same-origin URL, or `data:` URL) and starts the run for `autorun=1`, once the page is up.
pub(crate) fn automate(form: RunForm, run: RunController) {
    // Driven by the `tokenmeter` command (a hook only the DevTools protocol can set): its settings and
    // credentials, and its run starts at once.
    if let Some(hook) = CommandHook::get() {
        if let Some(credentials) = hook.credentials() {
            form.set_credentials(&credentials);
        }
        if let Some(raw) = hook.settings().as_ref().and_then(RawInput::from_json) {
            form.apply(&raw);
            spawn_local(async move { run.start(form) });
            return;
        }
    }
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&query).ok();
    let param = |name: &str| params.as_ref().and_then(|p| p.get(name));
    let config = param("config");
    let autorun = param("autorun").is_some_and(|v| v == "1" || v == "true");
    if config.is_none() && !autorun {
        return;
    }
    spawn_local(async move {
        if let Some(source) = config {
            let loaded = match fetch_config(&source).await {
                Ok(text) => load_into(form, &text),
                Err(e) => Err(e),
            };
            if let Err(e) = loaded {
                run.report_invalid(format!("The configuration in ?config= cannot be used: {e}"));
                return;
            }
        }
        if autorun && consented(form) {
            run.start(form);
        }
    });
}

/// Whether a run asked for by a link may start: at once for the simulated model, this page's own origin or this
/// machine; otherwise only once the user said yes to a question naming the target and the load
/// (`core::consent`). Invalid settings start nothing either way (the run reports them).
fn consented(form: RunForm) -> bool {
    let Ok(input) = form.read() else {
        return true;
    };
    let window = web_sys::window();
    let origin = window
        .as_ref()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    match autorun_question(&input, &origin) {
        None => true,
        Some(question) => window.is_some_and(|w| w.confirm_with_message(&question).unwrap_or(false)),
    }
}

/// The text of a configuration named by `?config=`: a `data:` URL, or a URL of the page's own origin.
async fn fetch_config(source: &str) -> Result<String, String> {
    if source.starts_with("data:") {
        return decode_data_url(source);
    }
    let window = web_sys::window().ok_or("no window")?;
    let base = window.location().href().map_err(|_| "no page URL")?;
    let url = web_sys::Url::new_with_base(source, &base).map_err(|_| format!("{source:?} is not a URL"))?;
    if url.origin() != window.location().origin().unwrap_or_default() {
        return Err(format!(
            "{source:?} is on another origin: give a URL of this page's own origin, or a data: URL"
        ));
    }
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url.href()))
        .await
        .map_err(|_| format!("{source:?} could not be fetched"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{source:?} answered HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| "no body")?)
        .await
        .map_err(|_| format!("{source:?} could not be read"))?;
    text.as_string()
        .ok_or_else(|| "the configuration is not text".to_owned())
}
