//! The `tokenmeter` command's hook into the page. The command sets `window.__tokenmeter_command` over the Chrome
//! DevTools Protocol before the page loads (a link or a config file cannot set it): it carries the credentials
//! (from the command's environment, never a URL or a file) and the measured clock offset, and receives every
//! message of the engine's, verbatim, in its `inbox` array, which the command drains.

use wasm_bindgen::JsValue;

use crate::core::plan::Schedule;
use crate::engine::target::Credentials;

const HOOK: &str = "__tokenmeter_command";

/// The hook object, when the page is driven by the command.
#[derive(Clone)]
pub struct CommandHook {
    object: JsValue,
}

impl CommandHook {
    /// The hook, if the command set one.
    pub fn get() -> Option<CommandHook> {
        let window = web_sys::window()?;
        let object = js_sys::Reflect::get(&window, &JsValue::from_str(HOOK)).ok()?;
        object.is_object().then_some(CommandHook { object })
    }

    fn field(&self, name: &str) -> JsValue {
        js_sys::Reflect::get(&self.object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    }

    /// The credentials the command read from its environment (its `credentials` field: `Credentials` as JSON).
    pub fn credentials(&self) -> Option<Credentials> {
        self.field("credentials")
            .as_string()
            .and_then(|text| serde_json::from_str(&text).ok())
    }

    /// The run's settings (`RawInput::to_json` text), which the command hands over instead of a query string so
    /// no setting (an extra header) ever sits in a URL.
    pub fn settings(&self) -> Option<serde_json::Value> {
        self.field("settings")
            .as_string()
            .and_then(|text| serde_json::from_str(&text).ok())
    }

    /// The payloads the command built from a dataset or trace file beside its configuration (a page cannot read
    /// it), with the trace's schedule: `(payloads, schedule)`, sent instead of any the page would build.
    pub fn payloads(&self) -> Option<(Vec<serde_json::Value>, Schedule)> {
        let read = |name: &str| self.field(name).as_string();
        let payloads = serde_json::from_str(&read("payloads")?).ok()?;
        let schedule = read("schedule")
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Some((payloads, schedule))
    }

    /// `tokenizer=FILE.json`: the Hugging Face tokenizer's text the command read beside its configuration.
    pub fn tokenizer_json(&self) -> Option<String> {
        self.field("tokenizer_json").as_string()
    }

    /// The page's wall clock minus the command's, in ms, as the command measured it.
    pub fn clock_offset_ms(&self) -> Option<f64> {
        self.field("clock_offset_ms").as_f64()
    }

    /// Hands one engine message (its JSON text) to the command.
    pub fn forward(&self, text: &str) {
        let inbox = self.field("inbox");
        if let Some(inbox) = wasm_bindgen::JsCast::dyn_ref::<js_sys::Array>(&inbox) {
            inbox.push(&JsValue::from_str(text));
        }
    }
}
