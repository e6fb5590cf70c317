//! `run_config.json`: LLMeter's `_RunConfig` keys in its order (llmeter-reference.md §3.5), indented by four, then
//! `tokenmeter_format_version` and the full resolved plan under `tokenmeter_plan`.
//!
//! Credentials never reach the file. [`EndpointBlock`] has no field for them, and [`write_run_config`] also
//! scrubs the whole document before writing, as a safety net for whatever a plan's JSON carries: it drops every
//! key that names a credential (API keys, AWS secret and session tokens, `Authorization`, passwords, cookies), a
//! `[name, value]` header pair with such a name, and the user-info and credential query parameters of URLs.
//!
//! LLMeter's `Result.load` reads this file with `json.load` and picks keys, so our extra keys are harmless there;
//! `_RunConfig.load`, which rebuilds LLMeter endpoint objects, cannot rebuild a browser endpoint anyway.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cold_check::ColdCheck;
use crate::format::json::{parse_object, to_pretty, Fields};
use crate::format::merge::ShardRecord;
use crate::format::{FormatError, Location, RunFile, FORMAT_VERSION};
use crate::page_health::PageHealth;
use crate::secret::{redact_header_text, scrub_credentials};

/// LLMeter's `endpoint` block: what was measured. Deliberately has no place for credentials.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EndpointBlock {
    pub endpoint_name: Option<String>,
    pub model_id: Option<String>,
    pub provider: Option<String>,
    /// LLMeter's endpoint class name, e.g. `OpenAICompletionStreamEndpoint`.
    pub endpoint_type: Option<String>,
    /// The base URL, as LLMeter's OpenAI and Anthropic classes take it (`base_url`, passed to the SDK client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The full endpoint URL, as Tokenmeter 0.1 files wrote it; read, never written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Other keys of an endpoint block read from a file (LLMeter writes every public attribute), kept so a
    /// config read and written back loses nothing.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What the page's clock could resolve during the run (Tokenmeter only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Whether the page was cross-origin isolated (COOP/COEP), which lets browsers time to 5 µs instead of 100 µs.
    pub cross_origin_isolated: bool,
    /// The smallest step `performance.now()` took, in microseconds.
    pub timer_resolution_us: f64,
}

/// What measured a run, as facts of the run (`tokenmeter_client`): a browser caps connections per host and may
/// hide its own queueing, which shapes the numbers; the native engine does neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFacts {
    /// `browser` or `native`.
    pub engine: String,
    /// The HTTP version responses came over (`http/1.1`, `h2`), when the client could see it.
    pub protocol: Option<String>,
    /// The most requests the client could have in flight to the target at once, when it is capped.
    pub connection_cap: Option<u32>,
    /// Whether the time requests waited inside the client was visible (Resource Timing needs the server's
    /// `Timing-Allow-Origin` for a cross-origin target); `false` means queueing, if any, hides in TTFT.
    pub queue_time_observable: bool,
    /// How many `*.localhost` aliases spread the requests (`fan_out`), when they did.
    pub fan_out_aliases: Option<u32>,
}

/// The content of `run_config.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfigFile {
    pub endpoint: EndpointBlock,
    pub output_path: Option<String>,
    /// LLMeter's tokenizer block, e.g. `{"tokenizer_module": "llmeter"}`.
    pub tokenizer: Value,
    pub clients: Option<u64>,
    /// Requests per client (LLMeter's count-bound runs); `0` or `null` for time-bound runs.
    pub n_requests: Option<u64>,
    /// Seconds per client for time-bound runs.
    pub run_duration: Option<f64>,
    /// LLMeter writes the path of `payload.jsonl` here.
    pub payload: Value,
    pub run_name: Option<String>,
    pub run_description: Option<String>,
    pub timeout: Option<f64>,
    pub callbacks: Value,
    pub low_memory: bool,
    pub progress_bar_stats: Value,
    /// Set when a file was written by Tokenmeter; [`write_run_config`] always writes [`FORMAT_VERSION`].
    pub tokenmeter_format_version: Option<u64>,
    /// The full resolved run plan, as JSON (the plan type owns its shape).
    pub tokenmeter_plan: Value,
    /// Every setting of the page as text (`core::input::Field` names), so the file loads back into the form.
    /// Never a credential: the settings have none.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub tokenmeter_input: Value,
    /// What the page's clock could resolve, when the run was measured in a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenmeter_clock: Option<ClockInfo>,
    /// Whether the page itself disturbed the run (hidden tab, late timers), when measured in a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenmeter_page: Option<PageHealth>,
    /// The untimed request sent to the endpoint before the run, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenmeter_check: Option<ColdCheck>,
    /// Which engine measured, and what its client could do (protocol, connection cap, visible queueing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenmeter_client: Option<ClientFacts>,
    /// This run's place among shards, its shared start and how late it began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenmeter_shard: Option<ShardRecord>,
    /// Keys neither LLMeter nor Tokenmeter defines, kept so nothing is lost on a rewrite.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl RunConfigFile {
    /// A configuration for `endpoint` and `plan` with LLMeter's defaults for the rest (one client, the whitespace
    /// tokenizer, LLMeter's 60 s `timeout`).
    pub fn new(endpoint: EndpointBlock, plan: Value) -> RunConfigFile {
        RunConfigFile {
            endpoint,
            output_path: None,
            tokenizer: Value::Object(Map::from_iter([(
                "tokenizer_module".to_owned(),
                "llmeter".into(),
            )])),
            clients: Some(1),
            n_requests: None,
            run_duration: None,
            payload: Value::Null,
            run_name: None,
            run_description: None,
            timeout: Some(60.0),
            callbacks: Value::Null,
            low_memory: false,
            progress_bar_stats: Value::Null,
            tokenmeter_format_version: Some(FORMAT_VERSION),
            tokenmeter_plan: plan,
            tokenmeter_input: Value::Null,
            tokenmeter_clock: None,
            tokenmeter_page: None,
            tokenmeter_check: None,
            tokenmeter_client: None,
            tokenmeter_shard: None,
            other: Map::new(),
        }
    }
}

/// `run_config.json` for `config`, with credentials scrubbed.
pub fn write_run_config(config: &RunConfigFile) -> String {
    let mut config = config.clone();
    config.tokenmeter_format_version = Some(FORMAT_VERSION);
    let mut doc = serde_json::to_value(&config).unwrap_or(Value::Null);
    scrub_credentials(&mut doc);
    // Extra headers are kept by name only (a key can sit under any header name).
    if let Some(Value::String(headers)) = doc.pointer_mut("/tokenmeter_input/headers") {
        *headers = redact_header_text(headers);
    }
    to_pretty(&doc)
}

/// Reads `run_config.json` (LLMeter's or ours). Missing keys take `null`; a wrongly typed key is an error.
pub fn read_run_config(text: &str) -> Result<RunConfigFile, FormatError> {
    let at = Location::file(RunFile::RunConfig);
    let mut map = parse_object(text, at)?;
    let f = Fields::new(&map, at);
    let endpoint = match f.object("endpoint")? {
        None => EndpointBlock::default(),
        Some(block) => {
            let e = Fields {
                map: block,
                at,
                prefix: "endpoint.",
            };
            let mut other = block.clone();
            for key in [
                "endpoint_name",
                "model_id",
                "provider",
                "endpoint_type",
                "base_url",
                "url",
            ] {
                other.shift_remove(key);
            }
            EndpointBlock {
                endpoint_name: e.string("endpoint_name")?.map(str::to_owned),
                model_id: e.string("model_id")?.map(str::to_owned),
                provider: e.string("provider")?.map(str::to_owned),
                endpoint_type: e.string("endpoint_type")?.map(str::to_owned),
                base_url: e.string("base_url")?.map(str::to_owned),
                url: e.string("url")?.map(str::to_owned),
                other,
            }
        }
    };
    let config = RunConfigFile {
        endpoint,
        output_path: f.string("output_path")?.map(str::to_owned),
        tokenizer: f.get("tokenizer").cloned().unwrap_or(Value::Null),
        clients: f.count("clients")?,
        n_requests: f.count("n_requests")?,
        run_duration: f.seconds("run_duration")?,
        payload: f.get("payload").cloned().unwrap_or(Value::Null),
        run_name: f.string("run_name")?.map(str::to_owned),
        run_description: f.string("run_description")?.map(str::to_owned),
        timeout: f.seconds("timeout")?,
        callbacks: f.get("callbacks").cloned().unwrap_or(Value::Null),
        low_memory: f.boolean("low_memory")?.unwrap_or(false),
        progress_bar_stats: f.get("progress_bar_stats").cloned().unwrap_or(Value::Null),
        tokenmeter_format_version: f.count(super::FORMAT_VERSION_KEY)?,
        tokenmeter_plan: f.get("tokenmeter_plan").cloned().unwrap_or(Value::Null),
        tokenmeter_input: f.get("tokenmeter_input").cloned().unwrap_or(Value::Null),
        // Informational: kept in `other` when read back.
        tokenmeter_clock: None,
        tokenmeter_page: None,
        tokenmeter_check: None,
        tokenmeter_client: None,
        tokenmeter_shard: None,
        other: Map::new(),
    };
    for key in KNOWN_KEYS {
        map.shift_remove(key);
    }
    Ok(RunConfigFile { other: map, ..config })
}

const KNOWN_KEYS: [&str; 16] = [
    "endpoint",
    "output_path",
    "tokenizer",
    "clients",
    "n_requests",
    "run_duration",
    "payload",
    "run_name",
    "run_description",
    "timeout",
    "callbacks",
    "low_memory",
    "progress_bar_stats",
    "tokenmeter_format_version",
    "tokenmeter_plan",
    "tokenmeter_input",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_in_llmeter_order_then_ours() {
        let mut config = RunConfigFile::new(EndpointBlock::default(), json!({"arrival": "closed"}));
        config.tokenmeter_input = json!({"clients": "4"});
        let text = write_run_config(&config);
        let map: Map<String, Value> = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, KNOWN_KEYS);
        assert!(
            text.starts_with("{\n    \"endpoint\": {\n        \"endpoint_name\": null,"),
            "{text}"
        );
        assert_eq!(map["tokenmeter_format_version"], 1);
    }

    #[test]
    fn llmeter_config_round_trips() {
        let text = include_str!("../../../../tests/data/llmeter/sample-openai/run_config.json");
        let config = read_run_config(text).unwrap();
        assert_eq!(
            config.endpoint.endpoint_type.as_deref(),
            Some("OpenAICompletionStreamEndpoint")
        );
        assert_eq!((config.clients, config.n_requests), (Some(4), Some(5)));
        assert_eq!(config.tokenmeter_format_version, None);
        let again = read_run_config(&write_run_config(&config)).unwrap();
        assert_eq!(
            again,
            RunConfigFile {
                tokenmeter_format_version: Some(FORMAT_VERSION),
                ..config
            }
        );
    }

    #[test]
    fn credentials_are_scrubbed() {
        let mut doc = json!({
            "headers": {"Authorization": "Bearer sk-1", "x-api-key": "sk-2", "content-type": "json"},
            "pairs": [["X-Amz-Security-Token", "tok"], ["accept", "*/*"]],
            "aws": {"region": "us-east-1", "secret_access_key": "s3", "AWS_SESSION_TOKEN": "t"},
            "url": "https://user:pw@host.example/v1?api-version=2&api-key=k&key=g#frag",
            "max_tokens": 20,
        });
        scrub_credentials(&mut doc);
        assert_eq!(
            doc,
            json!({
                "headers": {"content-type": "json"},
                "pairs": [["accept", "*/*"]],
                "aws": {"region": "us-east-1"},
                "url": "https://host.example/v1?api-version=2#frag",
                "max_tokens": 20,
            })
        );
        let mut url = json!("http://127.0.0.1:8787/v1/chat/completions");
        scrub_credentials(&mut url);
        assert_eq!(url, "http://127.0.0.1:8787/v1/chat/completions");
    }

    #[test]
    fn wrong_types_are_named() {
        let err = read_run_config(r#"{"clients": "four"}"#).unwrap_err().to_string();
        assert_eq!(
            err,
            "run_config.json: field `clients`: expected a count, found a string \"four\""
        );
        let err = read_run_config(r#"{"endpoint": {"model_id": 3}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "run_config.json: field `endpoint.model_id`: expected a string, found a number 3"
        );
    }
}
