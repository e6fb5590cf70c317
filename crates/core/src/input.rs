//! Typed run input, in two steps (as ripgrep's low-level then high-level args): [`RawInput`] holds every setting
//! as the text a person or a script gave (form fields, the page's query string, later a config file), and
//! [`RawInput::parse`] turns it into a [`RunInput`] that cannot be invalid, or an [`InputError`] that names the
//! field and says how to fix it. The page only binds fields to a `RawInput` and shows the error.
//!
//! Every number is bounded, so no input can make the page allocate without limit: at most [`MAX_CLIENTS`] clients
//! (or sweep level), a rate of at most [`MAX_RATE`] per second, a run of at most [`MAX_DURATION_SECS`], and so on.
//! Credentials are not settings: they never pass through here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::dataset::Sampling;
use crate::dist::Dist;
use crate::experiments::{HeatmapCell, LatencyHeatmap, LatencyHeatmapPlan, LoadTestPlan};
use crate::fan_out::FanOut;
use crate::format::RunConfigFile;
use crate::payload::{generated_prompt, MAX_GENERATED_TOKENS};
use crate::plan::{Arrival, Cancellation, Conversation, PlanError, RunPlan, RunPlanSpec, StopCondition};
use crate::search::{parse_slo, Axis, SearchRange, SloSearch};
use crate::server_metrics::{KNOWN, MAX_SERIES};
use crate::shard::Shard;
use crate::stats::{CostModel, Slo, StatsConfig, StopWhen};
use crate::table::{parse_group_filter, TableGroup};
use crate::target::{
    parse_headers, ApiKind, AwsAuthKind, AwsSpec, Container, InvokeFamily, TargetSpec, TransportKind,
};
use crate::threshold::Threshold;
use crate::tokenizer::TokenizerChoice;
use crate::trace::SPEED_RANGE;

/// The most concurrent clients (or in-flight requests, or clients of one sweep level).
pub const MAX_CLIENTS: u32 = 10_000;
/// The most sweep levels.
pub const MAX_SWEEP_LEVELS: usize = 64;
/// The highest open-loop arrival rate, requests per second.
pub const MAX_RATE: f64 = 100_000.0;
/// The longest run: one week.
pub const MAX_DURATION_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// The longest per-request timeout: one hour.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;
/// The per-request timeout when none is given (LLMeter's default).
pub const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// The most requests a run may be asked for.
pub const MAX_REQUESTS: u64 = 1_000_000_000;
/// The largest output limit a payload may ask for.
pub const MAX_OUTPUT_TOKENS: u32 = 1_000_000;
/// The longest heatmap prompt, in words.
pub const MAX_PROMPT_WORDS: u32 = 100_000;
/// The most cells a heatmap grid may have.
pub const MAX_HEATMAP_CELLS: usize = 400;
/// The most turns one conversation may have.
pub const MAX_TURNS: u32 = 1000;

/// Declares [`Field`] and its one table: each setting's variant, query-string name, label, and default text.
macro_rules! fields {
    ($($variant:ident: $name:literal, $label:literal, $default:literal;)*) => {
        /// A setting, named as the query string names it, with the label the page shows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field {
            $($variant,)*
        }

        impl Field {
            /// Every setting, in the table's order (a `Field` is its index).
            pub const ALL: [Field; [$($name),*].len()] = [$(Field::$variant),*];
            /// `(query-string name, label, default text)`, by `Field as usize`.
            const TABLE: [(&'static str, &'static str, &'static str); Field::ALL.len()] =
                [$(($name, $label, $default)),*];
        }
    };
}

// Parsing and bounds live in `RawInput::parse`, the one place a setting's text becomes a typed value.
fields! {
    Endpoint: "endpoint", "Endpoint", "simulated";
    Api: "api", "API", "openai-chat";
    Url: "url", "Base URL", "http://127.0.0.1:8787/v1";
    Model: "model", "Model", "mock-model";
    Stream: "stream", "Streaming", "true";
    Headers: "headers", "Extra headers", "";
    Prompt: "prompt", "Prompt", "Tell me about the history of load testing.";
    MaxTokens: "max_tokens", "Max tokens", "128";
    Mode: "mode", "Arrivals", "closed";
    Clients: "clients", "Clients", "4";
    Requests: "requests", "Requests", "5";
    Duration: "duration", "Duration (s)", "";
    Rate: "rate", "Rate (req/s)", "2";
    Timeout: "timeout", "Timeout (s)", "60";
    Sweep: "sweep", "Sweep clients", "";
    LowMemory: "low_memory", "Low memory", "false";
    Region: "region", "AWS region", "us-east-1";
    AwsAuth: "aws_auth", "AWS authorisation", "sigv4";
    Family: "body", "Model family", "anthropic";
    Container: "container", "Container format", "tgi";
    Name: "name", "Run name", "";
    Description: "description", "Description", "";
    Warmup: "warmup", "Warm-up (s)", "";
    RampUp: "ramp_up", "Ramp-up (s)", "";
    SloTtft: "slo_ttft", "SLO: TTFT (s)", "";
    SloTtlt: "slo_ttlt", "SLO: TTLT (s)", "";
    SloTpot: "slo_tpot", "SLO: TPOT (s)", "";
    PriceInput: "price_input", "Price per 1M input tokens", "";
    PriceOutput: "price_output", "Price per 1M output tokens", "";
    SimTtft: "sim_ttft", "Simulated TTFT (s)", "lognormal:0.35,0.3";
    SimItl: "sim_itl", "Simulated inter-token gap (s)", "lognormal:0.02,0.25";
    SimTokens: "sim_tokens", "Simulated output tokens", "uniform:64,257";
    SimErrorRate: "sim_error_rate", "Simulated error rate", "0";
    CacheBuster: "cache_buster", "Cache buster", "false";
    PromptTokens: "prompt_tokens", "Generated prompt (tokens)", "";
    System: "system", "System prompt", "";
    Temperature: "temperature", "Temperature", "";
    PayloadJson: "payload_json", "Request body (JSON)", "";
    Table: "table", "Table groups", "";
    ColdCheck: "check", "Check the endpoint first", "true";
    Heatmap: "heatmap", "Latency heatmap (input × output lengths)", "";
    Shard: "shard", "Shard (i/N)", "";
    StartAt: "start_at", "Start at (Unix ms)", "";
    FanOut: "fan_out", "Fan out over *.localhost", "auto";
    Confidence: "confidence", "Confidence level (%)", "95";
    StopWhen: "stop_when", "Stop once precise", "";
    Search: "search", "SLO search range", "";
    SearchSlo: "search_slo", "SLO to search for", "";
    Race: "race", "Race targets", "";
    Cancel: "cancel", "Cancel on purpose", "";
    SharedPrefix: "shared_prefix", "Shared prefixes (P×L tokens)", "";
    Dataset: "dataset", "Dataset file", "";
    DatasetSample: "dataset_sample", "Dataset sampling", "order";
    Trace: "trace", "Trace file (Mooncake JSONL)", "";
    TraceSpeed: "trace_speed", "Trace speed (×)", "1";
    Turns: "turns", "Turns per conversation", "";
    ThinkTime: "think_time", "Think time between turns (s)", "";
    MetricsUrl: "metrics_url", "Server metrics URL (Prometheus)", "";
    MetricsSeries: "metrics_series", "More server metrics (names)", "";
    Tokenizer: "tokenizer", "Tokenizer (unreported tokens)", "words";
}

impl Field {
    /// The query-string parameter.
    pub const fn name(self) -> &'static str {
        Field::TABLE[self as usize].0
    }

    /// The label the page shows.
    pub const fn label(self) -> &'static str {
        Field::TABLE[self as usize].1
    }

    /// The text a setting has when nobody gave one (the page's defaults).
    pub const fn default_text(self) -> &'static str {
        Field::TABLE[self as usize].2
    }

    /// The field whose query-string name is `name`.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Why the input cannot run: which field, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: Field,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.label(), self.message)
    }
}

impl std::error::Error for InputError {}

fn error(field: Field, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Closed,
    Rate,
    Poisson,
    /// Replay a trace file at its own times ([`Field::Trace`]).
    Trace,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "closed" | "closed-loop" => Ok(Mode::Closed),
            "rate" | "constant" | "constant-rate" => Ok(Mode::Rate),
            "poisson" => Ok(Mode::Poisson),
            "trace" => Ok(Mode::Trace),
            _ => Err(format!("unknown mode {s:?}: use closed, rate, poisson or trace")),
        }
    }
}

/// Every setting as text, exactly as given. Serialised as [`RawInput::to_json`] (an object of every field's text),
/// the form the page posts to its engine and `run_config.json` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInput {
    values: [String; Field::ALL.len()],
}

impl Default for RawInput {
    /// The page's defaults: the simulated model speaking OpenAI Chat Completions, 4 clients × 5 requests.
    fn default() -> Self {
        RawInput {
            values: Field::ALL.map(|f| f.default_text().to_owned()),
        }
    }
}

impl RawInput {
    pub fn get(&self, field: Field) -> &str {
        &self.values[field as usize]
    }

    pub fn set(&mut self, field: Field, value: impl Into<String>) {
        self.values[field as usize] = value.into();
    }

    /// The defaults overridden by `pairs` (a query string's parameters). Unknown names are ignored, so a URL
    /// may carry other parameters; a `url` without an `endpoint` means a real HTTP endpoint.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RawInput {
        let mut raw = RawInput::default();
        let mut endpoint_given = false;
        let mut url_given = false;
        for (name, value) in pairs {
            if let Some(field) = Field::from_name(name) {
                endpoint_given |= field == Field::Endpoint;
                url_given |= field == Field::Url;
                raw.set(field, value);
            }
        }
        if url_given && !endpoint_given {
            raw.set(Field::Endpoint, TransportKind::Http.as_str());
        }
        raw
    }

    /// Validates every field; the first problem found is the error.
    pub fn parse(&self) -> Result<RunInput, InputError> {
        let target = self.target()?;
        let max_tokens = bounded(self, Field::MaxTokens, 1, MAX_OUTPUT_TOKENS)?;
        let low_memory = flag(self, Field::LowMemory)?;
        let template = self.plan_spec(low_memory)?;
        let sweep = self.sweep(&template)?;
        let heatmap = self.heatmap(&template)?;
        let search = self.search(&template, sweep.is_some() || heatmap.is_some())?;
        let race = self.race(&target)?;
        if !race.is_empty() && (sweep.is_some() || heatmap.is_some() || search.is_some()) {
            return Err(error(
                Field::Race,
                "a race runs alone: clear the sweep, heatmap or search",
            ));
        }
        let (trace, trace_speed) = self.trace()?;
        if sweep.is_some() && heatmap.is_some() {
            return Err(error(
                Field::Heatmap,
                "a heatmap and a sweep cannot run together: clear one of them",
            ));
        }
        let runs = match sweep {
            None if search.is_some() => {
                let search = search.as_ref().expect("checked");
                vec![search
                    .step(search.range.low)
                    .map_err(|e| error(Field::Search, format!("{e}.")))?]
            }
            None if heatmap.is_some() => {
                let plan = heatmap.as_ref().map(|h| h.plan.clone()).expect("checked");
                vec![NamedRun {
                    name: "latency-heatmap".into(),
                    plan,
                }]
            }
            None => vec![NamedRun {
                name: String::new(),
                plan: template
                    .validate()
                    .map_err(|e| error(plan_error_field(&e), format!("{e}.")))?,
            }],
            Some(plan) => plan
                .runs(&template)
                .map_err(|e| error(Field::Sweep, format!("{e}.")))?
                .into_iter()
                .map(|r| NamedRun {
                    name: r.name,
                    plan: r.plan,
                })
                .collect(),
        };
        let text = |field: Field, max: usize| -> Result<Option<String>, InputError> {
            let value = self.get(field).trim();
            if value.chars().count() > max {
                return Err(error(field, format!("at most {max} characters")));
            }
            Ok((!value.is_empty()).then(|| value.to_owned()))
        };
        let latency = |field| {
            optional(self, field, |v| {
                seconds(v, MAX_TIMEOUT_SECS).map(|d| d.as_secs_f64())
            })
        };
        let slo = Slo {
            ttft: latency(Field::SloTtft)?,
            ttlt: latency(Field::SloTtlt)?,
            tpot: latency(Field::SloTpot)?,
        };
        let price = |field| optional(self, field, price);
        let cost = CostModel {
            input_price_per_million: price(Field::PriceInput)?,
            output_price_per_million: price(Field::PriceOutput)?,
            ..CostModel::default()
        };
        let shard = optional(self, Field::Shard, |v| {
            v.parse::<Shard>().map_err(|e| e.to_string())
        })?
        .unwrap_or(Shard::WHOLE);
        if search.is_some() && shard != Shard::WHOLE {
            return Err(error(
                Field::Search,
                "a search runs in one engine, each step decided by the last: run it without shards",
            ));
        }
        let mut runs = runs
            .into_iter()
            .map(|run| {
                let plan = shard
                    .split(&run.plan)
                    .map_err(|e| error(Field::Shard, format!("{e}.")))?;
                Ok(NamedRun { plan, ..run })
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        let name = text(Field::Name, 200)?;
        if let (Some(name), [run]) = (&name, runs.as_mut_slice()) {
            run.name = name.clone();
        }
        Ok(RunInput {
            target,
            prompt: self.get(Field::Prompt).to_owned(),
            max_tokens,
            runs,
            name,
            description: text(Field::Description, 2000)?,
            slo: (slo != Slo::default()).then_some(slo),
            cost: (cost != CostModel::default()).then_some(cost),
            simulated: SimulatedSettings {
                ttft: parse(self, Field::SimTtft)?,
                inter_token: parse(self, Field::SimItl)?,
                output_tokens: parse(self, Field::SimTokens)?,
                error_rate: bounded_value::<f64>(self.get(Field::SimErrorRate), 0.0, 1.0)
                    .map_err(|m| error(Field::SimErrorRate, format!("must be a share {m}")))?,
            },
            cache_buster: flag(self, Field::CacheBuster)?,
            shard,
            start_at_ms: optional(self, Field::StartAt, |v| {
                bounded_value::<i64>(v, 0, 32_503_680_000_000).map_err(|m| format!("a Unix time in ms {m}"))
            })?,
            fan_out: parse(self, Field::FanOut)?,
            cold_check: flag(self, Field::ColdCheck)?,
            prompt_tokens: optional(self, Field::PromptTokens, |v| {
                bounded_value(v, 1, MAX_GENERATED_TOKENS).map_err(|m| format!("a whole number of tokens {m}"))
            })?,
            system: text(Field::System, 100_000)?,
            temperature: optional(self, Field::Temperature, |v| bounded_value(v, 0.0, 2.0))?,
            table_groups: parse_group_filter(self.get(Field::Table)).map_err(|m| error(Field::Table, m))?,
            heatmap: heatmap.map(|h| h.cells),
            confidence: bounded_value::<f64>(self.get(Field::Confidence), 50.0, 99.99)
                .map_err(|m| error(Field::Confidence, format!("must be a percentage {m}")))?
                / 100.0,
            stop_when: parse(self, Field::StopWhen)?,
            search,
            race,
            cancel: optional(self, Field::Cancel, |v| v.parse::<Cancellation>())?,
            shared_prefix: self.shared_prefix()?,
            dataset: text(Field::Dataset, 4096)?,
            dataset_sample: parse(self, Field::DatasetSample)?,
            trace,
            trace_speed,
            server_metrics: self.server_metrics()?,
            tokenizer: parse(self, Field::Tokenizer)?,
            payload_json: optional(self, Field::PayloadJson, |v| {
                match serde_json::from_str::<serde_json::Value>(v) {
                    Ok(body) if body.is_object() => Ok(body),
                    Ok(_) => Err("a JSON object (the whole request body)".to_owned()),
                    Err(e) => Err(format!("valid JSON: {e}")),
                }
            })?,
        })
    }

    fn target(&self) -> Result<TargetSpec, InputError> {
        let transport: TransportKind = parse(self, Field::Endpoint)?;
        let api: ApiKind = parse(self, Field::Api)?;
        let stream = flag(self, Field::Stream)?;
        let headers = parse_headers(self.get(Field::Headers)).map_err(|m| error(Field::Headers, m))?;
        let model = self.get(Field::Model).trim().to_owned();
        let base_url = self.get(Field::Url).trim().to_owned();
        if api.is_aws() {
            return self.aws_target(api, transport, base_url, model, stream, headers);
        }
        if transport == TransportKind::Http {
            let scheme_ok = base_url.starts_with("http://") || base_url.starts_with("https://");
            if !scheme_ok || base_url.len() <= "https://".len() || base_url.contains(char::is_whitespace) {
                return Err(error(
                    Field::Url,
                    format!("must be an http:// or https:// URL (got {base_url:?})"),
                ));
            }
            if model.is_empty() {
                return Err(error(Field::Model, "name the model to call"));
            }
        }
        Ok(TargetSpec {
            api,
            transport,
            base_url,
            model: if model.is_empty() {
                "simulated".into()
            } else {
                model
            },
            stream,
            headers,
            aws: None,
        })
    }

    /// An AWS target: a region, a model id or endpoint name, and an optional base URL (a proxy or the mock).
    fn aws_target(
        &self,
        api: ApiKind,
        transport: TransportKind,
        base_url: String,
        model: String,
        stream: bool,
        headers: Vec<(String, String)>,
    ) -> Result<TargetSpec, InputError> {
        if transport != TransportKind::Http {
            return Err(error(
                Field::Endpoint,
                format!(
                    "the simulated model speaks {}, {} and {}: choose one of them, or an HTTP endpoint for {api}",
                    ApiKind::OpenAiChat,
                    ApiKind::OpenAiResponses,
                    ApiKind::AnthropicMessages
                ),
            ));
        }
        let region = self.get(Field::Region).trim().to_ascii_lowercase();
        let parts: Vec<&str> = region.split('-').collect();
        let region_ok = parts.len() >= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !region_ok {
            return Err(error(
                Field::Region,
                format!("must be an AWS region such as us-east-1 (got {region:?})"),
            ));
        }
        let what = if api == ApiKind::SageMaker {
            "the endpoint name"
        } else {
            "the model id"
        };
        if model.is_empty() {
            return Err(error(Field::Model, format!("give {what}")));
        }
        let auth: AwsAuthKind = parse(self, Field::AwsAuth)?;
        if auth == AwsAuthKind::ApiKey && api == ApiKind::SageMaker {
            return Err(error(
                Field::AwsAuth,
                "Bedrock API keys work for Bedrock only: sign SageMaker requests with SigV4",
            ));
        }
        let scheme_ok = base_url.starts_with("http://") || base_url.starts_with("https://");
        if !base_url.is_empty() && (!scheme_ok || base_url.contains(char::is_whitespace)) {
            return Err(error(
                Field::Url,
                format!("must be empty (AWS's own host) or an http:// or https:// URL (got {base_url:?})"),
            ));
        }
        Ok(TargetSpec {
            api,
            transport,
            base_url,
            model,
            stream,
            headers,
            aws: Some(AwsSpec {
                region,
                auth,
                family: parse::<InvokeFamily>(self, Field::Family)?,
                container: parse::<Container>(self, Field::Container)?,
            }),
        })
    }

    fn plan_spec(&self, low_memory: bool) -> Result<RunPlanSpec, InputError> {
        let mode: Mode = parse(self, Field::Mode)?;
        let clients = bounded(self, Field::Clients, 1, MAX_CLIENTS)?;
        let requests = optional(self, Field::Requests, |v| bounded_value(v, 1, MAX_REQUESTS))?;
        let duration = optional(self, Field::Duration, |v| seconds(v, MAX_DURATION_SECS))?;
        // An empty timeout is LLMeter's default, never none: one hung request must not hold a run open.
        let request_timeout = optional(self, Field::Timeout, |v| seconds(v, MAX_TIMEOUT_SECS))?
            .or(Some(Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS)));
        let warmup = optional(self, Field::Warmup, |v| seconds(v, MAX_DURATION_SECS))?;
        let ramp_up = optional(self, Field::RampUp, |v| seconds(v, MAX_DURATION_SECS))?;
        let (arrival, stop) = match mode {
            Mode::Closed => (
                Arrival::ClosedLoop { clients },
                StopCondition {
                    requests_per_client: requests,
                    total_requests: None,
                    duration,
                },
            ),
            Mode::Rate | Mode::Poisson => {
                let per_second = optional(self, Field::Rate, rate)?
                    .ok_or_else(|| error(Field::Rate, "set the arrival rate in requests per second"))?;
                let max_concurrency = Some(clients);
                let arrival = if mode == Mode::Poisson {
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
                let stop = StopCondition {
                    requests_per_client: None,
                    total_requests: requests,
                    duration,
                };
                (arrival, stop)
            }
            // The trace's rows are the requests (the request count does not apply); a duration may end it sooner.
            Mode::Trace => (
                Arrival::Trace {
                    max_concurrency: Some(clients),
                },
                StopCondition {
                    duration,
                    ..StopCondition::default()
                },
            ),
        };
        if mode != Mode::Trace
            && stop.requests_per_client.is_none()
            && stop.total_requests.is_none()
            && duration.is_none()
        {
            return Err(error(
                Field::Requests,
                "the run has no end: set a request count, a duration, or both",
            ));
        }
        Ok(RunPlanSpec {
            arrival,
            stop,
            request_timeout,
            warmup,
            ramp_up,
            n_payloads: 1,
            low_memory,
            conversation: self.conversation()?,
            ..RunPlanSpec::default()
        })
    }

    /// Multi-turn conversations, if asked for (`turns=4`, optionally `think_time=lognormal:2,0.5`). The turns
    /// are built from the payloads' prompts, so an edited request body, a heatmap or a trace cannot be one.
    fn conversation(&self) -> Result<Option<Conversation>, InputError> {
        let think = optional(self, Field::ThinkTime, |v| v.parse::<Dist>())?;
        let Some(turns) = optional(self, Field::Turns, |v| {
            bounded_value::<u32>(v, 2, MAX_TURNS).map_err(|m| format!("a whole number of turns {m}"))
        })?
        else {
            return match think {
                Some(_) => Err(error(
                    Field::ThinkTime,
                    "a think time is for multi-turn runs: set Turns",
                )),
                None => Ok(None),
            };
        };
        self.alone(
            Field::Turns,
            &[Field::PayloadJson, Field::Heatmap, Field::Trace],
            "conversations are built from the prompts",
        )?;
        Ok(Some(Conversation { turns, think }))
    }

    /// The LatencyHeatmap grid, if one is asked for (`10,50,200x128,256`: prompt lengths in words × output
    /// budgets in tokens), sending each cell *Requests* times with *Clients* clients.
    fn heatmap(&self, template: &RunPlanSpec) -> Result<Option<LatencyHeatmap>, InputError> {
        let text = self.get(Field::Heatmap).trim();
        if text.is_empty() {
            return Ok(None);
        }
        let wrong = || {
            error(
                Field::Heatmap,
                "write prompt lengths x output lengths, e.g. 10,50,200x128,256",
            )
        };
        let (inputs, outputs) = text.split_once(['x', 'X', '×']).ok_or_else(wrong)?;
        let lengths = |list: &str, hi: u32, what: &str| {
            list.split(',')
                .map(|v| {
                    bounded_value(v.trim(), 1, hi)
                        .map_err(|m| error(Field::Heatmap, format!("each {what} must be a whole number {m}")))
                })
                .collect::<Result<Vec<u32>, _>>()
        };
        let plan = LatencyHeatmapPlan {
            input_lengths: lengths(inputs, MAX_PROMPT_WORDS, "prompt length")?,
            output_lengths: lengths(outputs, MAX_OUTPUT_TOKENS, "output length")?,
            requests_per_combination: template.stop.requests_per_client.unwrap_or(1).clamp(1, 1000) as u32,
            clients: match template.arrival {
                Arrival::ClosedLoop { clients } => clients,
                _ => return Err(error(Field::Heatmap, "a heatmap runs with closed-loop clients")),
            },
        };
        if plan.input_lengths.len() * plan.output_lengths.len() > MAX_HEATMAP_CELLS {
            return Err(error(
                Field::Heatmap,
                format!("at most {MAX_HEATMAP_CELLS} cells"),
            ));
        }
        plan.plan(template)
            .map(Some)
            .map_err(|e| error(Field::Heatmap, format!("{e}.")))
    }

    /// The shared-prefix workload, if one is asked for (`4x512`): it writes the prompts itself, so it takes no
    /// request body, heatmap or cache buster (which would break the sharing) beside it.
    fn shared_prefix(&self) -> Result<Option<SharedPrefix>, InputError> {
        let Some(shared) = optional(self, Field::SharedPrefix, |v| v.parse::<SharedPrefix>())? else {
            return Ok(None);
        };
        self.alone(
            Field::SharedPrefix,
            &[Field::PayloadJson, Field::Heatmap, Field::CacheBuster],
            "shared prefixes write the prompts themselves",
        )?;
        Ok(Some(shared))
    }

    /// Refuses `field` beside the first of `others` that is set (a flag, when it is on): "`why`: clear LABEL".
    fn alone(&self, field: Field, others: &[Field], why: &str) -> Result<(), InputError> {
        let set = |other: Field| match other {
            Field::CacheBuster => flag(self, other).unwrap_or(false),
            _ => !self.get(other).trim().is_empty(),
        };
        match others.iter().copied().find(|other| set(*other)) {
            Some(other) => Err(error(field, format!("{why}: clear {}", other.label()))),
            None => Ok(()),
        }
    }

    /// The server's `/metrics` page to scrape while the run goes on, and the series to keep besides the known
    /// ones. The URL holds no credentials (they would be written with the run).
    fn server_metrics(&self) -> Result<Option<MetricsScrape>, InputError> {
        let url = self.get(Field::MetricsUrl).trim();
        let names = self.get(Field::MetricsSeries);
        let named: Vec<String> = names
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        if url.is_empty() {
            return match named.is_empty() {
                true => Ok(None),
                false => Err(error(
                    Field::MetricsSeries,
                    "name the server metrics URL to scrape first",
                )),
            };
        }
        let Some(rest) = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        else {
            return Err(error(
                Field::MetricsUrl,
                "an http:// or https:// URL, e.g. http://127.0.0.1:8000/metrics",
            ));
        };
        if rest
            .split(['/', '?', '#'])
            .next()
            .is_some_and(|authority| authority.contains('@'))
        {
            return Err(error(
                Field::MetricsUrl,
                "no user or password in the URL: it is kept with the run",
            ));
        }
        if url.len() > 2048 {
            return Err(error(Field::MetricsUrl, "at most 2048 characters"));
        }
        let limit = MAX_SERIES - KNOWN.len();
        if named.len() > limit {
            return Err(error(Field::MetricsSeries, format!("at most {limit} series")));
        }
        if let Some(bad) = named.iter().find(|n| {
            !n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
        }) {
            return Err(error(
                Field::MetricsSeries,
                format!("{bad:?} is not a metric name"),
            ));
        }
        Ok(Some(MetricsScrape {
            url: url.to_owned(),
            named,
        }))
    }

    /// The trace file to replay and its speed, when the arrivals are a trace replay. The trace writes the prompts
    /// and the schedule, so it takes no other source of either beside it (nor a sweep or search).
    fn trace(&self) -> Result<(Option<String>, f64), InputError> {
        let name = self.get(Field::Trace).trim();
        let replay = parse::<Mode>(self, Field::Mode)? == Mode::Trace;
        let speed = bounded_value::<f64>(self.get(Field::TraceSpeed), SPEED_RANGE.0, SPEED_RANGE.1)
            .map_err(|m| error(Field::TraceSpeed, format!("must be a factor {m}")))?;
        match (replay, name.is_empty()) {
            (false, true) => return Ok((None, speed)),
            (false, false) => {
                return Err(error(
                    Field::Mode,
                    "a trace file is set: choose the trace replay arrivals, or clear the trace",
                ))
            }
            (true, true) => return Err(error(Field::Trace, "pick the trace file to replay")),
            (true, false) => {}
        }
        if name.chars().count() > 4096 {
            return Err(error(Field::Trace, "at most 4096 characters"));
        }
        self.alone(
            Field::Trace,
            &[
                Field::PayloadJson,
                Field::Heatmap,
                Field::SharedPrefix,
                Field::Dataset,
                Field::PromptTokens,
                Field::Sweep,
                Field::Search,
                Field::CacheBuster,
            ],
            "a trace replay writes its own prompts and schedule",
        )?;
        Ok((Some(name.to_owned()), speed))
    }

    /// The race's targets: `race=label=A;url=http://a/v1 | label=B;url=http://b/v1`, each the form's target with
    /// its own overrides of the settings that say where requests go. All speak the form's API, so they are sent
    /// the same payloads.
    fn race(&self, base: &TargetSpec) -> Result<Vec<RaceTarget>, InputError> {
        let text = self.get(Field::Race).trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let parts: Vec<&str> = text.split('|').map(str::trim).filter(|p| !p.is_empty()).collect();
        if !(2..=MAX_RACE_TARGETS).contains(&parts.len()) {
            return Err(error(
                Field::Race,
                format!(
                    "name 2 to {MAX_RACE_TARGETS} targets separated by | (got {})",
                    parts.len()
                ),
            ));
        }
        let mut targets: Vec<RaceTarget> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let mut raw = self.clone();
            let mut label = char::from(b'A' + i as u8).to_string();
            for pair in part.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (name, value) = pair.split_once('=').ok_or_else(|| {
                    error(
                        Field::Race,
                        format!("{pair:?} is not NAME=VALUE (e.g. url=http://host/v1)"),
                    )
                })?;
                let name = name.trim();
                if name == "label" {
                    label = value.trim().to_owned();
                    continue;
                }
                let field = Field::from_name(name)
                    .filter(|f| RACE_FIELDS.contains(f))
                    .ok_or_else(|| {
                        let allowed: Vec<&str> = RACE_FIELDS.iter().map(|f| f.name()).collect();
                        error(
                            Field::Race,
                            format!("a target sets only label, {} (got {name:?})", allowed.join(", ")),
                        )
                    })?;
                raw.set(field, value.trim());
            }
            let ok_label = !label.is_empty()
                && label.len() <= 40
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok_label || targets.iter().any(|t| t.label == label) {
                return Err(error(
                    Field::Race,
                    format!("label {label:?} must be unique, letters, digits, - _ or ."),
                ));
            }
            let target = raw
                .target()
                .map_err(|e| error(Field::Race, format!("target {label}: {e}")))?;
            if target.api != base.api {
                return Err(error(
                    Field::Race,
                    format!("target {label} speaks {}, the form {}: race targets share the API (and so the payloads)", target.api, base.api),
                ));
            }
            targets.push(RaceTarget { label, target });
        }
        Ok(targets)
    }

    /// The SLO search, if one is asked for: its range must fit the arrivals, both ends must make valid plans,
    /// and it runs alone (no sweep or heatmap beside it).
    fn search(&self, template: &RunPlanSpec, other_runs: bool) -> Result<Option<SearchPlan>, InputError> {
        let Some(range) = optional(self, Field::Search, |v| v.parse::<SearchRange>())? else {
            return Ok(None);
        };
        if other_runs {
            return Err(error(
                Field::Search,
                "a search runs alone: clear the sweep or heatmap",
            ));
        }
        if !range.fits(&template.arrival) {
            return Err(error(
                Field::Search,
                format!(
                    "a {} search needs {} arrivals",
                    range.axis.as_str(),
                    if range.axis == Axis::Clients {
                        "closed-loop"
                    } else {
                        "open-loop (rate or poisson)"
                    }
                ),
            ));
        }
        if range.axis == Axis::Rate && range.high > MAX_RATE {
            return Err(error(Field::Search, format!("rates up to {MAX_RATE} per second")));
        }
        let slo = parse_slo(self.get(Field::SearchSlo)).map_err(|m| error(Field::SearchSlo, m))?;
        if slo.is_empty() {
            return Err(error(
                Field::SearchSlo,
                "name the SLO to search for, e.g. time_to_first_token-p95<0.5",
            ));
        }
        let plan = SearchPlan {
            range,
            slo,
            template: template.clone(),
        };
        plan.step(range.high).map_err(|e| {
            error(
                Field::Search,
                format!("at {}: {e}.", range.axis.describe(range.high)),
            )
        })?;
        Ok(Some(plan))
    }

    /// The LoadTest sweep, if one is asked for (closed loop only: the field applies to nothing else).
    fn sweep(&self, template: &RunPlanSpec) -> Result<Option<LoadTestPlan>, InputError> {
        let text = self.get(Field::Sweep).trim();
        if text.is_empty() || !template.arrival.is_closed_loop() {
            return Ok(None);
        }
        let levels = text
            .split(',')
            .map(|level| {
                bounded_value(level.trim(), 1, MAX_CLIENTS).map_err(|m| {
                    error(
                        Field::Sweep,
                        format!("each level must be a whole number of clients {m}"),
                    )
                })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        if levels.len() > MAX_SWEEP_LEVELS {
            return Err(error(
                Field::Sweep,
                format!("at most {MAX_SWEEP_LEVELS} levels (got {})", levels.len()),
            ));
        }
        Ok(Some(LoadTestPlan {
            sequence_of_clients: levels,
            min_requests_per_client: template.stop.requests_per_client.unwrap_or(1),
            run_duration: template.stop.duration,
            ..LoadTestPlan::default()
        }))
    }
}

impl RawInput {
    /// Every setting as a JSON object of texts, for `run_config.json`'s `tokenmeter_input`.
    pub fn to_json(&self) -> serde_json::Value {
        Field::ALL
            .iter()
            .map(|f| (f.name().to_owned(), serde_json::Value::from(self.get(*f))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// The settings [`RawInput::to_json`] wrote (unknown names ignored, missing ones default); `None` unless
    /// `json` is an object.
    pub fn from_json(json: &serde_json::Value) -> Option<RawInput> {
        let saved = json.as_object()?;
        let pairs = saved
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)));
        Some(RawInput::from_pairs(pairs))
    }

    /// The settings a `run_config.json` describes, and what in it could not be mapped (to tell the user).
    ///
    /// Tokenmeter's files carry every setting (`tokenmeter_input`). LLMeter's (and older Tokenmeter ones) are
    /// mapped key by key: the endpoint class names the API and streaming, `model_id`, `base_url` (or the URL
    /// older Tokenmeter files kept), `region`, `clients`, `n_requests`, `run_duration`, `timeout`, `run_name`,
    /// `run_description` and `low_memory`; the rest is listed as not mapped.
    pub fn from_run_config(config: &RunConfigFile) -> (RawInput, Vec<String>) {
        if let Some(saved) = RawInput::from_json(&config.tokenmeter_input) {
            return (saved, Vec::new());
        }
        let mut raw = RawInput::default();
        let mut unmapped = Vec::new();
        let e = &config.endpoint;
        match e
            .endpoint_type
            .as_deref()
            .map(|t| (t, ApiKind::from_llmeter_endpoint_type(t)))
        {
            Some((_, Some((api, stream)))) => {
                raw.set(Field::Api, api.as_str());
                raw.set(Field::Stream, stream.to_string());
                raw.set(Field::Endpoint, TransportKind::Http.as_str());
                // No URL is never guessed: a run must not go to a public provider the file did not name. AWS
                // APIs without one call the region's own host, which the region names.
                let url = e.base_url.clone().or_else(|| e.url.clone());
                if url.is_none() && !api.is_aws() {
                    unmapped.push("endpoint.base_url (none given: set the Base URL before running)".into());
                }
                raw.set(Field::Url, url.unwrap_or_default());
            }
            Some((other, None)) => unmapped.push(format!(
                "endpoint.endpoint_type {other:?} (no such API here: set the API by hand)"
            )),
            None => unmapped.push("endpoint.endpoint_type (missing)".into()),
        }
        if e.endpoint_name.as_deref() == Some("tokenmeter-simulated") {
            raw.set(Field::Endpoint, TransportKind::Simulated.as_str());
        }
        if let Some(model) = &e.model_id {
            raw.set(Field::Model, model.clone());
        }
        if let Some(region) = e.other.get("region").and_then(serde_json::Value::as_str) {
            raw.set(Field::Region, region);
        }
        let count = |n: Option<u64>| n.filter(|n| *n > 0).map(|n| n.to_string()).unwrap_or_default();
        raw.set(Field::Mode, "closed");
        if let Some(clients) = config.clients {
            raw.set(Field::Clients, clients.to_string());
        }
        raw.set(Field::Requests, count(config.n_requests));
        raw.set(
            Field::Duration,
            config.run_duration.map(|d| d.to_string()).unwrap_or_default(),
        );
        if let Some(timeout) = config.timeout {
            raw.set(Field::Timeout, timeout.to_string());
        }
        raw.set(Field::Name, config.run_name.clone().unwrap_or_default());
        raw.set(
            Field::Description,
            config.run_description.clone().unwrap_or_default(),
        );
        raw.set(Field::LowMemory, config.low_memory.to_string());
        if !config.payload.is_null() {
            unmapped.push(format!(
                "payload {} (the prompt and output limit are the form's; upload the payload file separately)",
                config.payload
            ));
        }
        for (key, value) in [
            ("tokenizer", &config.tokenizer),
            ("callbacks", &config.callbacks),
            ("progress_bar_stats", &config.progress_bar_stats),
        ] {
            if !value.is_null() {
                unmapped.push(format!("{key} {value}"));
            }
        }
        unmapped.extend(config.other.keys().map(|k| format!("{k} (unknown)")));
        (raw, unmapped)
    }
}

/// The text a `data:` URL carries (`data:[<type>][;base64],<data>`), for `?config=data:…`. Base64 that
/// went through a query string unencoded has its `+` turned into spaces: they are turned back.
pub fn decode_data_url(url: &str) -> Result<String, String> {
    use base64::Engine;
    let rest = url
        .strip_prefix("data:")
        .ok_or_else(|| "not a data: URL".to_owned())?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| "a data: URL needs a comma before its data".to_owned())?;
    let bytes = if meta.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim().replace(' ', "+"))
            .map_err(|e| format!("the data: URL's base64 is broken ({e})"))?
    } else {
        percent_encoding::percent_decode_str(data).collect()
    };
    String::from_utf8(bytes).map_err(|_| "the data: URL's text is not UTF-8".to_owned())
}

/// One run to perform: its name (empty: the caller numbers it) and its plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedRun {
    pub name: String,
    pub plan: RunPlan,
}

/// Validated input: what to measure, what to send, the runs (one, or one per sweep level), and how to judge
/// and price them.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInput {
    pub target: TargetSpec,
    pub prompt: String,
    pub max_tokens: u32,
    pub runs: Vec<NamedRun>,
    /// The run's name (a single run is named so; a sweep keeps LLMeter's per-level names) and description.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Latency objective: goodput and SLO attainment in the stats.
    pub slo: Option<Slo>,
    /// Token prices: cost per request and per run in the stats, as LLMeter's CostModel computes them.
    pub cost: Option<CostModel>,
    /// How the built-in simulated model behaves.
    pub simulated: SimulatedSettings,
    /// Prefix each request's prompt with a unique tag, so prompt caches cannot flatter TTFT.
    pub cache_buster: bool,
    /// Which part of the whole run this engine sends (`shard=i/N`); the plans above are already this shard's.
    pub shard: Shard,
    /// Start the first run at this wall time (Unix ms), so shards start together.
    pub start_at_ms: Option<i64>,
    /// Spread a plain-HTTP local target over `*.localhost` aliases past the browser's 6 connections.
    pub fan_out: FanOut,
    /// Send one untimed request before the run (confirms the endpoint and credentials, warms the CORS preflight
    /// cache and the connection); a failed check stops the run with its reason.
    pub cold_check: bool,
    /// Send a generated prompt of about this many tokens instead of the prompt text.
    pub prompt_tokens: Option<u32>,
    pub system: Option<String>,
    pub temperature: Option<f64>,
    /// A whole request body, as edited: sent as is instead of one built from the prompt.
    pub payload_json: Option<serde_json::Value>,
    /// The live table's groups to show, by title.
    pub table_groups: Vec<TableGroup>,
    /// A LatencyHeatmap: payload `i` of the run is `heatmap[i]` (a prompt of that many words, that output budget).
    pub heatmap: Option<Vec<HeatmapCell>>,
    /// The confidence level of the percentiles' intervals, in `(0, 1)`.
    pub confidence: f64,
    /// Adaptive stop: the run ends once every rule's interval is narrow enough (or at its limits).
    pub stop_when: StopWhen,
    /// The highest load that meets an SLO: each step's run is decided by the last (`runs` holds the first).
    pub search: Option<SearchPlan>,
    /// A race: the same schedule to every one of these targets at once (empty: no race; `target` is the first).
    pub race: Vec<RaceTarget>,
    /// Cancellation injection: a share of requests aborted on purpose (`cancel=20%@500ms`).
    pub cancel: Option<Cancellation>,
    /// A shared-prefix workload: P generated prefixes of L tokens, request `i` sending prefix `i mod P` before
    /// the prompt, to measure prefix caching.
    pub shared_prefix: Option<SharedPrefix>,
    /// The prompt dataset's file (the page picks it, the command reads it from this path), and how its rows are
    /// sampled.
    pub dataset: Option<String>,
    pub dataset_sample: Sampling,
    /// The trace to replay (`mode=trace`; the page picks the file, the command reads it from this path), and the
    /// replay's speed as a factor of the trace's own (2: twice as fast).
    pub trace: Option<String>,
    pub trace_speed: f64,
    /// The server's own metrics to scrape while the run goes on.
    pub server_metrics: Option<MetricsScrape>,
    /// What counts the input and output tokens a server did not report (and a Hugging Face tokenizer's file).
    pub tokenizer: TokenizerChoice,
}

/// A Prometheus `/metrics` page to scrape about once a second, and the series to keep besides the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsScrape {
    pub url: String,
    pub named: Vec<String>,
}

impl RunInput {
    /// The statistics the settings ask for: the SLO, the prices and the intervals' confidence level, else
    /// Tokenmeter's defaults. Every place that measures or merges a run computes its stats under this.
    pub fn stats_config(&self) -> StatsConfig {
        StatsConfig {
            slo: self.slo,
            cost: self.cost,
            confidence: self.confidence,
            ..StatsConfig::default()
        }
    }
}

/// The most targets one race sends to.
pub const MAX_RACE_TARGETS: usize = 8;

/// The settings a race target may override: those that say where and how requests go.
const RACE_FIELDS: [Field; 10] = [
    Field::Endpoint,
    Field::Api,
    Field::Url,
    Field::Model,
    Field::Stream,
    Field::Headers,
    Field::Region,
    Field::AwsAuth,
    Field::Family,
    Field::Container,
];

/// One target of a race: its label (the run is `race-<label>`) and where it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct RaceTarget {
    pub label: String,
    pub target: TargetSpec,
}

impl RaceTarget {
    /// The run's name.
    pub fn run_name(&self) -> String {
        format!("{}{}", RaceTarget::RUN_PREFIX, self.label)
    }

    const RUN_PREFIX: &'static str = "race-";

    /// Whether a run of that name is a race target's.
    pub fn is_race_run(name: &str) -> bool {
        name.starts_with(RaceTarget::RUN_PREFIX)
    }
}

/// P prefixes of L tokens (`shared_prefix=4x512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedPrefix {
    pub prefixes: u32,
    pub tokens: u32,
}

impl SharedPrefix {
    /// The most distinct prefixes.
    pub const MAX_PREFIXES: u32 = 1000;

    /// Payload `i`'s prompt: prefix `i` (generated from the run's seed), then the form's prompt.
    pub fn prompts(&self, prompt: &str, seed: u64) -> Vec<String> {
        (0..self.prefixes)
            .map(|i| {
                let prefix = generated_prompt(self.tokens, seed ^ crate::rng::mix(u64::from(i) + 1));
                format!("{prefix} {prompt}")
            })
            .collect()
    }
}

impl FromStr for SharedPrefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("PREFIXESxTOKENS, e.g. 4x512 (got {text:?})");
        let (p, l) = text.trim().split_once(['x', '×']).ok_or_else(usage)?;
        let prefixes =
            bounded_value(p.trim(), 1, SharedPrefix::MAX_PREFIXES).map_err(|m| format!("prefixes {m}"))?;
        let tokens = bounded_value(l.trim(), 1, MAX_GENERATED_TOKENS).map_err(|m| format!("tokens {m}"))?;
        Ok(SharedPrefix { prefixes, tokens })
    }
}

/// An SLO search as the settings ask for it: the range, the SLO, and the plan every step varies.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    pub range: SearchRange,
    pub slo: Vec<Threshold>,
    pub template: RunPlanSpec,
}

impl SearchPlan {
    /// A new search, before its first step.
    pub fn start(&self) -> SloSearch {
        SloSearch::new(self.range, self.slo.clone())
    }

    /// The run of the step at `level`.
    pub fn step(&self, level: f64) -> Result<NamedRun, PlanError> {
        Ok(NamedRun {
            name: self.range.run_name(level),
            plan: self.range.plan_at(&self.template, level).validate()?,
        })
    }
}

/// The simulated model's behaviour, as set in the page (times in seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulatedSettings {
    pub ttft: Dist,
    pub inter_token: Dist,
    pub output_tokens: Dist,
    /// Share of requests that fail, in `[0, 1]`.
    pub error_rate: f64,
}

/// The most a price per million tokens may be.
const MAX_PRICE: f64 = 1e6;

/// The field a plan error is about.
fn plan_error_field(e: &PlanError) -> Field {
    match e {
        PlanError::ZeroRampUp | PlanError::RampUpTooLong { .. } => Field::RampUp,
        PlanError::ZeroWarmup | PlanError::WarmupTooLong { .. } => Field::Warmup,
        PlanError::ZeroDuration => Field::Duration,
        PlanError::ZeroRequestTimeout => Field::Timeout,
        PlanError::InvalidRate { .. } => Field::Rate,
        PlanError::NoClients | PlanError::ZeroMaxConcurrency => Field::Clients,
        PlanError::ConversationInOpenLoop | PlanError::TooFewTurns | PlanError::ConversationInLowMemory => {
            Field::Turns
        }
        _ => Field::Requests,
    }
}

fn price(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= MAX_PRICE)
        .ok_or_else(|| format!("a price of at least 0 and at most {MAX_PRICE} (got {text:?})"))
}

fn parse<T: FromStr<Err = String>>(raw: &RawInput, field: Field) -> Result<T, InputError> {
    raw.get(field).parse().map_err(|m| error(field, m))
}

fn flag(raw: &RawInput, field: Field) -> Result<bool, InputError> {
    match raw.get(field).trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" | "" => Ok(false),
        other => Err(error(field, format!("use true or false (got {other:?})"))),
    }
}

/// A whole number in `lo..=hi`; the message says "between lo and hi (got …)".
fn bounded_value<T>(text: &str, lo: T, hi: T) -> Result<T, String>
where
    T: FromStr + PartialOrd + Copy + fmt::Display,
{
    text.trim()
        .parse::<T>()
        .ok()
        .filter(|v| *v >= lo && *v <= hi)
        .ok_or_else(|| format!("between {lo} and {hi} (got {text:?})"))
}

fn bounded<T>(raw: &RawInput, field: Field, lo: T, hi: T) -> Result<T, InputError>
where
    T: FromStr + PartialOrd + Copy + fmt::Display,
{
    bounded_value(raw.get(field), lo, hi).map_err(|m| error(field, format!("must be a whole number {m}")))
}

/// An empty field is `None`; otherwise `parse` decides.
fn optional<T>(
    raw: &RawInput,
    field: Field,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, InputError> {
    let text = raw.get(field).trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse(text)
        .map(Some)
        .map_err(|m| error(field, format!("must be {m}")))
}

fn seconds(text: &str, max: f64) -> Result<Duration, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("a number of seconds above 0 and at most {max} (got {text:?})"))?;
    if !(v > 0.0 && v <= max) {
        return Err(format!(
            "a number of seconds above 0 and at most {max} (got {text:?})"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0 && *v <= MAX_RATE)
        .ok_or_else(|| format!("a rate above 0 and at most {MAX_RATE} per second (got {text:?})"))
}

impl serde::Serialize for RawInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for RawInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(deserializer)?;
        RawInput::from_json(&json)
            .ok_or_else(|| serde::de::Error::custom("settings must be an object of texts"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Query pairs, the field they must be refused for, and text the message must contain.
    type Case = (&'static [(&'static str, &'static str)], Field, &'static str);

    fn input(pairs: &[(&str, &str)]) -> Result<RunInput, InputError> {
        RawInput::from_pairs(pairs.iter().copied()).parse()
    }

    #[test]
    fn a_trace_replay_needs_its_mode_and_file_and_nothing_else_writing_prompts() {
        let run = input(&[
            ("mode", "trace"),
            ("trace", "t.jsonl"),
            ("trace_speed", "4"),
            ("clients", "32"),
        ])
        .unwrap();
        assert_eq!((run.trace.as_deref(), run.trace_speed), (Some("t.jsonl"), 4.0));
        let plan = &run.runs[0].plan;
        assert_eq!(
            plan.arrival(),
            Arrival::Trace {
                max_concurrency: Some(32)
            }
        );
        assert_eq!(
            plan.stop().total_requests,
            None,
            "the trace's rows are the requests"
        );
        assert_eq!(input(&[]).unwrap().trace, None);
        let cases: [Case; 6] = [
            (&[("trace", "t.jsonl")], Field::Mode, "choose the trace replay"),
            (&[("mode", "trace")], Field::Trace, "pick the trace file"),
            (
                &[("mode", "trace"), ("trace", "t"), ("trace_speed", "0")],
                Field::TraceSpeed,
                "factor",
            ),
            (
                &[("mode", "trace"), ("trace", "t"), ("dataset", "d.csv")],
                Field::Trace,
                "clear Dataset file",
            ),
            (
                &[("mode", "trace"), ("trace", "t"), ("cache_buster", "true")],
                Field::Trace,
                "clear Cache buster",
            ),
            (
                &[("mode", "trace"), ("trace", "t"), ("sweep", "1,2")],
                Field::Trace,
                "clear Sweep",
            ),
        ];
        for (pairs, field, says) in cases {
            let e = input(pairs).unwrap_err();
            assert_eq!(e.field, field, "{pairs:?}: {e}");
            assert!(e.message.contains(says), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn issue_19_and_20_settings_parse_and_refuse_what_cannot_run_together() {
        let run = input(&[
            ("shared_prefix", "2x64"),
            ("cancel", "20%@1s"),
            ("stop_when", "time_to_first_token-p90:5%"),
        ])
        .unwrap();
        assert_eq!(
            run.shared_prefix,
            Some(SharedPrefix {
                prefixes: 2,
                tokens: 64
            })
        );
        let prompts = run.shared_prefix.unwrap().prompts("why?", 7);
        assert_eq!(prompts.len(), 2);
        assert!(prompts
            .iter()
            .all(|p| p.split_whitespace().count() == 65 && p.ends_with(" why?")));
        assert_ne!(prompts[0], prompts[1]);
        assert!(run.cancel.is_some() && !run.stop_when.is_empty());
        let clash = input(&[("shared_prefix", "2x64"), ("cache_buster", "true")]).unwrap_err();
        assert_eq!(clash.field, Field::SharedPrefix);
        let race = input(&[
            ("race", "url=http://a/v1 | url=http://b/v1"),
            ("endpoint", "http"),
            ("url", "http://a/v1"),
        ])
        .unwrap()
        .race;
        assert_eq!(
            race.iter().map(RaceTarget::run_name).collect::<Vec<_>>(),
            ["race-A", "race-B"]
        );
        let one = input(&[
            ("race", "url=http://a/v1"),
            ("endpoint", "http"),
            ("url", "http://a/v1"),
        ]);
        assert_eq!(one.unwrap_err().field, Field::Race);
        let other_api = input(&[
            ("race", "api=anthropic | url=http://b/v1"),
            ("endpoint", "http"),
            ("url", "http://a/v1"),
        ]);
        assert!(other_api.unwrap_err().message.contains("share the API"));
        let search = input(&[
            ("search", "clients:1-8"),
            ("search_slo", "time_to_first_token-p95<1"),
        ])
        .unwrap();
        assert_eq!(search.runs[0].name, "slo-search-clients-1");
        let sharded = input(&[("search", "clients:1-8"), ("search_slo", "x<1"), ("shard", "1/2")]);
        assert_eq!(sharded.unwrap_err().field, Field::Search);
        let open = input(&[("search", "clients:1-8"), ("search_slo", "x<1"), ("mode", "rate")]);
        assert!(open.unwrap_err().message.contains("closed-loop"));
        assert_eq!(
            input(&[("confidence", "40")]).unwrap_err().field,
            Field::Confidence
        );
    }

    #[test]
    fn the_defaults_run_the_simulated_model() {
        let run = input(&[]).unwrap();
        assert_eq!(run.target.transport, TransportKind::Simulated);
        assert_eq!(run.target.api, ApiKind::OpenAiChat);
        assert!(run.target.stream);
        assert_eq!(run.runs.len(), 1);
        assert_eq!(run.runs[0].plan.max_requests(), Some(20));
    }

    #[test]
    fn a_url_alone_means_a_real_endpoint() {
        let run = input(&[
            ("url", "http://localhost:8000/v1"),
            ("api", "anthropic"),
            ("stream", "0"),
        ])
        .unwrap();
        assert_eq!(run.target.transport, TransportKind::Http);
        assert_eq!(run.target.api, ApiKind::AnthropicMessages);
        assert!(!run.target.stream);
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let cases: [Case; 12] = [
            (
                &[("clients", "4000000000")],
                Field::Clients,
                "between 1 and 10000",
            ),
            (&[("clients", "0")], Field::Clients, "between 1 and 10000"),
            (&[("mode", "burst")], Field::Mode, "unknown mode \"burst\""),
            (&[("api", "gemini")], Field::Api, "unknown API"),
            (&[("endpoint", "pigeon")], Field::Endpoint, "unknown endpoint"),
            (&[("endpoint", "http"), ("url", "ftp://x")], Field::Url, "http://"),
            (&[("stream", "maybe")], Field::Stream, "true or false"),
            (&[("sweep", "1,20000")], Field::Sweep, "between 1 and 10000"),
            (
                &[("mode", "rate"), ("rate", "1e9")],
                Field::Rate,
                "at most 100000",
            ),
            (&[("timeout", "-1")], Field::Timeout, "above 0"),
            (&[("requests", ""), ("duration", "")], Field::Requests, "no end"),
            (&[("headers", "Host: evil")], Field::Headers, "Host"),
        ];
        for (pairs, field, text) in cases {
            let err = input(pairs).unwrap_err();
            assert_eq!(err.field, field, "{pairs:?}: {err}");
            assert!(err.to_string().contains(text), "{pairs:?}: {err}");
            assert!(err.to_string().starts_with(field.label()), "{err}");
        }
    }

    #[test]
    fn a_sweep_gives_one_sized_run_per_level_and_only_in_a_closed_loop() {
        let runs = input(&[("sweep", "1, 2,4"), ("requests", "1")]).unwrap().runs;
        let names: Vec<_> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["00001-clients", "00002-clients", "00004-clients"]);
        assert_eq!(runs[2].plan.max_requests(), Some(12));
        let open = input(&[("sweep", "1,2"), ("mode", "poisson")]).unwrap();
        assert_eq!(open.runs.len(), 1);
    }

    #[test]
    fn aws_targets_need_a_region_a_model_and_a_real_endpoint() {
        let aws = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![
                ("api", "bedrock-converse"),
                ("endpoint", "http"),
                ("url", ""),
                ("model", "m"),
            ];
            pairs.extend_from_slice(extra);
            input(&pairs)
        };
        let ok = aws(&[("region", "eu-central-1")]).unwrap();
        let spec = ok.target.aws.as_ref().unwrap();
        assert_eq!(
            (spec.region.as_str(), spec.auth),
            ("eu-central-1", AwsAuthKind::SigV4)
        );
        let block = ok.target.endpoint_block();
        assert_eq!(block.endpoint_type.as_deref(), Some("BedrockConverseStream"));
        assert_eq!(block.other["region"], "eu-central-1");
        assert_eq!(block.base_url, None);
        let cases: [Case; 5] = [
            (&[("region", "mars")], Field::Region, "us-east-1"),
            (&[("model", "")], Field::Model, "model id"),
            (
                &[("endpoint", "simulated")],
                Field::Endpoint,
                "simulated model speaks",
            ),
            (
                &[("aws_auth", "password")],
                Field::AwsAuth,
                "sigv4, api-key, none",
            ),
            (&[("url", "ftp://proxy")], Field::Url, "AWS's own host"),
        ];
        for (extra, field, text) in cases {
            let err = aws(extra).unwrap_err();
            assert_eq!(err.field, field, "{extra:?}: {err}");
            assert!(err.to_string().contains(text), "{extra:?}: {err}");
        }
        let sagemaker = input(&[
            ("api", "sagemaker"),
            ("endpoint", "http"),
            ("model", "ep"),
            ("aws_auth", "api-key"),
        ]);
        assert_eq!(sagemaker.unwrap_err().field, Field::AwsAuth);
    }

    #[test]
    fn slos_prices_names_and_the_simulated_model_are_settings_too() {
        let run = input(&[
            ("name", " gpt at 8 "),
            ("slo_ttft", "0.5"),
            ("price_input", "3"),
            ("price_output", "15"),
            ("sim_error_rate", "0.25"),
            ("sim_ttft", "fixed:0.2"),
            ("warmup", "1"),
            ("duration", "10"),
        ])
        .unwrap();
        assert_eq!(run.name.as_deref(), Some("gpt at 8"));
        assert_eq!(run.runs[0].name, "gpt at 8");
        assert_eq!(run.slo.unwrap().ttft, Some(0.5));
        assert_eq!(run.slo.unwrap().ttlt, None);
        let cost = run.cost.unwrap();
        assert_eq!(
            (cost.input_price_per_million, cost.output_price_per_million),
            (Some(3.0), Some(15.0))
        );
        assert_eq!(run.simulated.error_rate, 0.25);
        assert_eq!(run.simulated.ttft, Dist::Fixed(0.2));
        assert_eq!(run.runs[0].plan.warmup(), Some(Duration::from_secs(1)));
        let plain = input(&[]).unwrap();
        assert_eq!((plain.slo, plain.cost, plain.name), (None, None, None));
        let cases: [Case; 5] = [
            (
                &[("sim_error_rate", "1.5")],
                Field::SimErrorRate,
                "between 0 and 1",
            ),
            (
                &[("sim_tokens", "gamma:1")],
                Field::SimTokens,
                "lognormal:MEDIAN,SIGMA",
            ),
            (&[("price_output", "-2")], Field::PriceOutput, "at least 0"),
            (&[("slo_ttlt", "0")], Field::SloTtlt, "above 0"),
            (
                &[("warmup", "20"), ("duration", "10")],
                Field::Warmup,
                "shorter than the run duration",
            ),
        ];
        for (pairs, field, text) in cases {
            let err = input(pairs).unwrap_err();
            assert_eq!(err.field, field, "{pairs:?}: {err}");
            assert!(err.to_string().contains(text), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn our_run_config_loads_back_exactly_and_llmeters_maps_what_it_can() {
        use crate::format::{read_run_config, write_run_config};
        let raw = RawInput::from_pairs([
            ("api", "anthropic-messages"),
            ("url", "http://h:1"),
            ("clients", "7"),
        ]);
        let mut ours = RunConfigFile::new(Default::default(), serde_json::Value::Null);
        ours.tokenmeter_input = raw.to_json();
        let read = read_run_config(&write_run_config(&ours)).unwrap();
        assert_eq!(RawInput::from_run_config(&read), (raw, Vec::new()));

        let llmeter = include_str!("../../../tests/data/llmeter/sample-openai/run_config.json");
        let (mut mapped, unmapped) = RawInput::from_run_config(&read_run_config(llmeter).unwrap());
        // r18-3: LLMeter's file names no base_url: nothing is guessed (never a public provider), it is listed,
        // and the run cannot start until a URL is set.
        assert_eq!(mapped.get(Field::Url), "");
        assert!(
            unmapped.iter().any(|u| u.starts_with("endpoint.base_url")),
            "{unmapped:?}"
        );
        assert_eq!(mapped.parse().unwrap_err().field, Field::Url);
        mapped.set(Field::Url, "http://127.0.0.1:8787/v1");
        let run = mapped.parse().unwrap();
        assert_eq!(run.target.api, ApiKind::OpenAiChat);
        assert!(run.target.stream);
        assert_eq!(run.target.transport, TransportKind::Http);
        assert_eq!(run.target.model, "mock-model");
        assert_eq!(
            run.runs[0].plan.max_requests(),
            Some(20),
            "4 clients × 5 requests"
        );
        assert_eq!(run.name.as_deref(), Some("sample-openai"));
        assert!(unmapped.iter().any(|u| u.starts_with("payload")), "{unmapped:?}");
        assert!(
            unmapped.iter().any(|u| u.starts_with("tokenizer")),
            "{unmapped:?}"
        );
    }

    #[test]
    fn data_urls_decode_base64_and_percent_forms() {
        assert_eq!(
            decode_data_url("data:application/json;base64,eyJhIjoxfQ=="),
            Ok("{\"a\":1}".into())
        );
        assert_eq!(
            decode_data_url("data:application/json;base64,eyJhIjoxfQ== "),
            Ok("{\"a\":1}".into())
        );
        assert_eq!(decode_data_url("data:,%7B%22a%22%3A1%7D"), Ok("{\"a\":1}".into()));
        assert!(decode_data_url("http://x").is_err());
        assert!(decode_data_url("data:;base64,@@@")
            .unwrap_err()
            .contains("base64"));
    }

    #[test]
    fn a_system_prompt_temperature_and_whole_body_are_checked() {
        let run = input(&[
            ("system", " be brief "),
            ("temperature", "0.7"),
            ("payload_json", r#"{"input":"x"}"#),
        ])
        .unwrap();
        assert_eq!(run.system.as_deref(), Some("be brief"));
        assert_eq!(run.temperature, Some(0.7));
        assert_eq!(run.payload_json, Some(serde_json::json!({"input": "x"})));
        let cases: [Case; 3] = [
            (&[("temperature", "3")], Field::Temperature, "between 0 and 2"),
            (&[("payload_json", "{nope")], Field::PayloadJson, "valid JSON"),
            (&[("payload_json", "[1]")], Field::PayloadJson, "a JSON object"),
        ];
        for (pairs, field, text) in cases {
            let err = input(pairs).unwrap_err();
            assert_eq!(err.field, field, "{pairs:?}: {err}");
            assert!(err.to_string().contains(text), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn every_field_has_a_distinct_name() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
    }
}
