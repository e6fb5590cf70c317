//! Other tools' results, read as runs: GuideLLM's `benchmarks.json` and AIPerf's `profile_export.jsonl` (with its
//! `profile_export_aiperf.json` aggregates). Formats are told apart by content, not by name.
//!
//! Each request a file lists becomes a [`RequestRecord`], so the run is recomputed under Tokenmeter's rules; the
//! tool's own aggregates are also kept, under its own definitions, mapped onto `stats.json` keys
//! ([`ForeignRun::own_stats`]), the way an LLMeter folder keeps LLMeter's. Where the tools define a metric
//! differently, [`Tool::definitions`] says how (and ARCHITECTURE.md has the table). A request the file cannot
//! describe is named in [`ForeignRun::bad`] and left out; the others are kept.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::format::import::ImportRules;
use crate::format::responses::infer_error_kind;
use crate::format::run_config::{EndpointBlock, RunConfigFile};
use crate::format::run_folder::{write_run, RunToWrite};
use crate::record::{ErrorKind, RequestError, RequestRecord, RequestTiming, TokenCounts};
use crate::stats::{Aggregate, Metric, RunInfo, RunningStats, Scalar, StatKey, StatsConfig};
use crate::time::Timestamp;

/// A tool whose results Tokenmeter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    GuideLlm,
    AiPerf,
    VllmBench,
}

impl Tool {
    pub const fn name(self) -> &'static str {
        match self {
            Tool::GuideLlm => "GuideLLM",
            Tool::AiPerf => "AIPerf",
            Tool::VllmBench => "vLLM bench serve",
        }
    }

    /// How this tool defines what Tokenmeter's keys hold, where it differs (shown beside an imported run).
    pub const fn definitions(self) -> &'static str {
        match self {
            Tool::GuideLlm => {
                "GuideLLM: TTFT from the request's start to the first token iteration (reasoning included); its \
                 request latency (start to end) stands for TTLT; TPOT is request latency over all output tokens \
                 (Tokenmeter: (TTLT − TTFT) / (tokens − 1)); ITL is each request's mean gap after the first token, \
                 so the recomputed inter-token gaps are that mean spread evenly. Percentiles are GuideLLM's own."
            }
            Tool::AiPerf => {
                "AIPerf: TTFT to the first content chunk; request latency (start to the last byte) stands for TTLT; \
                 its inter_token_latency is (latency − TTFT) / (OSL − 1), which is Tokenmeter's TPOT; the \
                 recomputed gaps are its inter_chunk_latency, chunk by chunk. Input tokens are the server's usage \
                 where reported, else AIPerf's tokenizer count. Percentiles are AIPerf's own."
            }
            Tool::VllmBench => {
                "vLLM bench serve: TTFT to the first chunk with content; e2el (start to the end) stands for TTLT; \
                 TPOT is (e2el − TTFT) / (output tokens − 1), as Tokenmeter's; ITL is every gap between chunks, \
                 as Tokenmeter's inter-token latency. start_times are monotonic, so requests are placed from the \
                 result's date (to the second). Percentiles are numpy's linear, as Tokenmeter's."
            }
        }
    }
}

/// One foreign run: its records, the tool's own aggregates, and the requests that could not be read.
#[derive(Debug, Clone)]
pub struct ForeignRun {
    pub tool: Tool,
    pub version: Option<String>,
    pub name: String,
    pub model: Option<String>,
    pub records: Vec<RequestRecord>,
    /// The tool's aggregates under `stats.json` keys, seconds for durations (empty without them).
    pub own: Map<String, Value>,
    /// `request N: why`, for each request left out.
    pub bad: Vec<String>,
}

/// What a foreign file is, by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignFile {
    /// GuideLLM's `benchmarks.json`.
    GuideLlm,
    /// AIPerf's `profile_export.jsonl`: one record per line.
    AiPerfRecords,
    /// AIPerf's `profile_export_aiperf.json`: the aggregates.
    AiPerfAggregates,
    /// vLLM's `vllm bench serve --save-result --save-detailed` JSON.
    VllmBench,
}

/// Which tool wrote `text`, if any known one did.
pub fn detect(text: &str) -> Option<ForeignFile> {
    let trimmed = text.trim_start();
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
        if map
            .get("metadata")
            .and_then(|m| m.get("guidellm_version"))
            .is_some()
            || map.get("benchmarks").and_then(Value::as_array).is_some_and(|b| {
                b.iter()
                    .any(|b| b.get("type_").and_then(Value::as_str) == Some("generative_benchmark"))
            })
        {
            return Some(ForeignFile::GuideLlm);
        }
        if map.contains_key("aiperf_version") {
            return Some(ForeignFile::AiPerfAggregates);
        }
        if map.contains_key("ttfts") && map.contains_key("p50_ttft_ms") {
            return Some(ForeignFile::VllmBench);
        }
        return None;
    }
    let first = trimmed.lines().next()?;
    let line: Value = serde_json::from_str(first).ok()?;
    let aiperf = line
        .get("metadata")
        .and_then(|m| m.get("request_start_ns"))
        .is_some()
        && line.get("metrics").is_some();
    aiperf.then_some(ForeignFile::AiPerfRecords)
}

/// Reads the picked foreign files (`(name, text)`) into runs: each GuideLLM benchmark is a run; AIPerf's records
/// make one run, with the aggregates of an AIPerf aggregates file picked beside them. A file of no known tool is
/// an error naming it.
pub fn read_foreign(files: &[(&str, &str)]) -> Result<Vec<ForeignRun>, String> {
    let mut runs = Vec::new();
    let mut aiperf_records = Vec::new();
    let mut aiperf_aggregates = None;
    for &(name, text) in files {
        match detect(text) {
            Some(ForeignFile::GuideLlm) => runs.extend(guidellm(name, text)?),
            Some(ForeignFile::VllmBench) => runs.push(vllm(name, text)?),
            Some(ForeignFile::AiPerfRecords) => aiperf_records.push((name, text)),
            Some(ForeignFile::AiPerfAggregates) => {
                let value: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
                aiperf_aggregates = Some((name, value));
            }
            None => {
                return Err(format!(
                    "{name}: not a file of a known tool (GuideLLM benchmarks.json, AIPerf profile_export.jsonl or \
                     profile_export_aiperf.json, vLLM bench serve --save-result --save-detailed)"
                ))
            }
        }
    }
    for (name, text) in &aiperf_records {
        let aggregates = aiperf_aggregates.as_ref().map(|(_, v)| v);
        runs.push(aiperf(name, text, aggregates)?);
    }
    if aiperf_records.is_empty() {
        if let Some((name, _)) = aiperf_aggregates {
            return Err(format!(
                "{name}: AIPerf's aggregates alone have no requests: pick profile_export.jsonl beside it"
            ));
        }
    }
    Ok(runs)
}

impl ForeignRun {
    /// The run's statistics under Tokenmeter's rules, from its records.
    pub fn recomputed(&self) -> Map<String, Value> {
        let mut stats =
            RunningStats::new(StatsConfig::default()).expect("the default configuration is valid");
        self.records.iter().for_each(|r| stats.observe(r));
        stats.snapshot(&self.info())
    }

    /// The tool's own aggregates, with the run's counts and facts where the tool gave none: its own numbers under
    /// its own definitions.
    pub fn own_stats(&self) -> Map<String, Value> {
        let mut stats = Map::new();
        let info = self.info();
        stats.insert("run_name".into(), self.name.clone().into());
        stats.insert(
            "model_id".into(),
            self.model.clone().map_or(Value::Null, Value::from),
        );
        stats.insert("total_requests".into(), (self.records.len() as u64).into());
        if let Some(t) = info.total_test_time {
            stats.insert("total_test_time".into(), t.into());
        }
        stats.extend(self.own.clone());
        stats.insert(
            "percentile_method".into(),
            format!("{} (its own)", self.tool.name()).into(),
        );
        stats
    }

    /// The run's facts: its name, model, and its requests' first start and last end.
    fn info(&self) -> RunInfo {
        let first = self.records.iter().filter_map(|r| r.request_time).min();
        let last = self.records.iter().filter_map(|r| r.request_time).max();
        let end = self
            .records
            .iter()
            .filter_map(|r| {
                let took = r.timing.ended_at.secs_since(r.timing.dispatched_at);
                Some(r.request_time? + chrono::Duration::microseconds((took * 1e6).round() as i64))
            })
            .max();
        RunInfo {
            total_requests: Some(self.records.len() as u64),
            total_test_time: first
                .zip(end)
                .map(|(a, b)| (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6),
            model_id: self.model.clone(),
            run_name: Some(self.name.clone()),
            run_description: Some(format!("imported from {}", self.tool.name())),
            start_time: first,
            first_request_time: first,
            last_request_time: last,
            end_time: end,
            ..RunInfo::default()
        }
    }

    /// The runs this one becomes under `rules`: each with its statistics, the label its name gets, and a
    /// sentence saying whose numbers they are (merging is Tokenmeter's recompute: a foreign run has no shards).
    pub fn variants(&self, rules: ImportRules) -> Vec<(Map<String, Value>, String, String)> {
        let own = || {
            let label = format!("{} numbers", self.tool.name());
            (self.own_stats(), label, self.tool.definitions().to_owned())
        };
        let ours = || {
            let said = format!(
                "recomputed with Tokenmeter's rules from {}'s requests",
                self.tool.name()
            );
            (self.recomputed(), "Tokenmeter rules".to_owned(), said)
        };
        match rules {
            ImportRules::Own => vec![own()],
            ImportRules::Both => vec![own(), ours()],
            ImportRules::Tokenmeter | ImportRules::Merge => vec![ours()],
        }
    }

    /// The run as a Tokenmeter run folder's files, with `stats` as its `stats.json`.
    pub fn files(&self, stats: &Map<String, Value>) -> Vec<(String, String)> {
        let endpoint = EndpointBlock {
            model_id: self.model.clone(),
            provider: Some(self.tool.name().to_owned()),
            ..EndpointBlock::default()
        };
        let config = RunConfigFile::new(endpoint, Value::Null);
        write_run(&RunToWrite {
            config: &config,
            info: &self.info(),
            records: &self.records,
            stats,
        })
        .into_iter()
        .map(|(name, text)| (name.to_owned(), text))
        .collect()
    }
}

/// Seconds since the Unix epoch as a UTC time.
fn unix(seconds: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64)
}

fn secs(value: f64) -> Timestamp {
    Timestamp::from_nanos((value.max(0.0) * 1e9).round() as u64)
}

/// A record from start (Unix seconds), TTFT and TTLT (seconds after the start, when known), the chunk times
/// (seconds after the start), token counts and the error, if any.
struct Request {
    start: f64,
    ttft: Option<f64>,
    ttlt: Option<f64>,
    end: f64,
    chunks: Vec<f64>,
    input: Option<u64>,
    output: Option<u64>,
    error: Option<RequestError>,
}

impl Request {
    fn record(self, id: String, origin: f64) -> Option<RequestRecord> {
        let at = |s: f64| secs(self.start - origin + s);
        Some(RequestRecord {
            id,
            request_time: Some(unix(self.start)?),
            timing: RequestTiming {
                scheduled_at: at(0.0),
                dispatched_at: at(0.0),
                first_byte_at: None,
                first_token_at: self.ttft.map(at),
                first_visible_at: self.ttft.map(at),
                last_token_at: self.ttlt.map(at),
                ended_at: at(self.end),
                token_chunk_times: self.chunks.into_iter().map(at).collect(),
            },
            tokens: TokenCounts {
                input: self.input,
                output: self.output,
                ..TokenCounts::default()
            },
            error: self.error,
            ..RequestRecord::default()
        })
    }
}

fn f(value: &Value, pointer: &str) -> Option<f64> {
    value.pointer(pointer).and_then(Value::as_f64)
}

/// Copies a GuideLLM distribution (`metrics.<name>.successful`) into `<key>-average`, `-p50`, …, scaled to seconds.
fn own_distribution(
    own: &mut Map<String, Value>,
    dist: &Value,
    metric: Metric,
    scale: f64,
    names: &[(&str, Aggregate)],
) {
    for &(name, agg) in names {
        if let Some(v) = dist.pointer(name).and_then(Value::as_f64) {
            own.insert(StatKey::Dist(metric, agg).to_string(), (v * scale).into());
        }
    }
}

const GUIDELLM_AGGREGATES: [(&str, Aggregate); 9] = [
    ("/mean", Aggregate::Average),
    ("/percentiles/p50", Aggregate::P50),
    ("/percentiles/p90", Aggregate::P90),
    ("/percentiles/p95", Aggregate::P95),
    ("/percentiles/p99", Aggregate::P99),
    ("/min", Aggregate::Min),
    ("/max", Aggregate::Max),
    ("/std_dev", Aggregate::Std),
    ("/median", Aggregate::P50),
];

fn guidellm(name: &str, text: &str) -> Result<Vec<ForeignRun>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let version = doc
        .pointer("/metadata/guidellm_version")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let benchmarks = doc
        .get("benchmarks")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name}: no benchmarks"))?;
    let mut runs = Vec::new();
    for (i, benchmark) in benchmarks.iter().enumerate() {
        let model = benchmark
            .pointer("/config/backend/model")
            .or_else(|| doc.pointer("/config/spec/backend/model"));
        let strategy = benchmark
            .pointer("/config/strategy/type_")
            .and_then(Value::as_str)
            .unwrap_or("benchmark");
        let mut bad = Vec::new();
        let mut requests = Vec::new();
        for status in ["successful", "errored", "incomplete"] {
            let list = benchmark
                .pointer(&format!("/requests/{status}"))
                .and_then(Value::as_array);
            for (n, r) in list.into_iter().flatten().enumerate() {
                match guidellm_request(r, status) {
                    Ok(request) => requests.push((
                        r.get("request_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        request,
                    )),
                    Err(why) => bad.push(format!("benchmark {}, {status} request {}: {why}", i + 1, n + 1)),
                }
            }
        }
        let metrics = benchmark.get("metrics").cloned().unwrap_or(Value::Null);
        let mut own = Map::new();
        let successful = |key: &str| {
            metrics
                .pointer(&format!("/{key}/successful"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let latency = &GUIDELLM_AGGREGATES[..8];
        own_distribution(
            &mut own,
            &successful("time_to_first_token_ms"),
            Metric::TimeToFirstToken,
            1e-3,
            latency,
        );
        own_distribution(
            &mut own,
            &successful("request_latency"),
            Metric::TimeToLastToken,
            1.0,
            latency,
        );
        own_distribution(
            &mut own,
            &successful("time_per_output_token_ms"),
            Metric::TimePerOutputToken,
            1e-3,
            latency,
        );
        own_distribution(
            &mut own,
            &successful("inter_token_latency_ms"),
            Metric::InterTokenLatency,
            1e-3,
            latency,
        );
        own_distribution(
            &mut own,
            &successful("prompt_token_count"),
            Metric::NumTokensInput,
            1.0,
            latency,
        );
        own_distribution(
            &mut own,
            &successful("output_token_count"),
            Metric::NumTokensOutput,
            1.0,
            latency,
        );
        if let Some(failed) = metrics.pointer("/request_totals/errored").and_then(Value::as_u64) {
            own.insert(Scalar::FailedRequests.as_str().into(), failed.into());
        }
        runs.push(foreign_run(
            Tool::GuideLlm,
            version.clone(),
            format!("guidellm {strategy} {}", i + 1),
            model.and_then(Value::as_str).map(str::to_owned),
            requests,
            own,
            bad,
        ));
    }
    Ok(runs)
}

fn guidellm_request(r: &Value, status: &str) -> Result<Request, String> {
    let start = f(r, "/request_start_time")
        .or_else(|| f(r, "/info/timings/request_start"))
        .ok_or("no request_start_time")?;
    let end = f(r, "/request_end_time")
        .or_else(|| f(r, "/info/timings/request_end"))
        .or_else(|| f(r, "/info/timings/resolve_end"))
        .ok_or("no request_end_time")?;
    let first = f(r, "/info/timings/first_token_iteration");
    let last = f(r, "/info/timings/last_token_iteration");
    let iterations = r
        .pointer("/info/timings/token_iterations")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    // The file has each request's first and last token times and how many came: the gaps are spread evenly.
    let chunks = match (first, last, iterations) {
        (Some(a), Some(b), n) if n >= 2 => (0..n)
            .map(|i| a - start + (b - a) * i as f64 / (n - 1) as f64)
            .collect(),
        (Some(a), _, _) => vec![a - start],
        _ => Vec::new(),
    };
    let error = match status {
        "successful" => None,
        "incomplete" => Some(RequestError::new(
            ErrorKind::Cancelled,
            "GuideLLM: incomplete (cancelled)",
        )),
        _ => {
            let message = r
                .pointer("/info/error")
                .and_then(Value::as_str)
                .unwrap_or("errored");
            Some(RequestError::new(
                infer_error_kind(message),
                format!("GuideLLM: {message}"),
            ))
        }
    };
    Ok(Request {
        start,
        ttft: first.map(|t| t - start),
        ttlt: last.map(|t| t - start),
        end: end - start,
        chunks,
        input: r.get("prompt_tokens").and_then(Value::as_u64),
        output: r.get("output_tokens").and_then(Value::as_u64),
        error,
    })
}

/// An AIPerf metric's value in seconds (durations) or as it is (counts), by its unit.
fn aiperf_value(metrics: &Value, key: &str) -> Option<f64> {
    let m = metrics.get(key)?;
    let value = m.get("value")?.as_f64()?;
    Some(value * unit_scale(m.get("unit").and_then(Value::as_str)))
}

fn unit_scale(unit: Option<&str>) -> f64 {
    match unit {
        Some("ms") => 1e-3,
        Some("us") => 1e-6,
        Some("ns") => 1e-9,
        _ => 1.0,
    }
}

fn aiperf(name: &str, text: &str, aggregates: Option<&Value>) -> Result<ForeignRun, String> {
    let mut requests = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parsed = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|r| aiperf_request(&r).map(|q| (r, q)));
        match parsed {
            Ok((r, request)) => {
                let id = r
                    .pointer("/metadata/x_request_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                requests.push((id.to_owned(), request));
            }
            Err(why) => bad.push(format!("{name} line {}: {why}", n + 1)),
        }
    }
    let mut own = Map::new();
    let version = aggregates
        .and_then(|a| a.get("aiperf_version"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(a) = aggregates {
        for (key, metric) in [
            ("time_to_first_token", Metric::TimeToFirstToken),
            ("request_latency", Metric::TimeToLastToken),
            ("inter_token_latency", Metric::TimePerOutputToken),
            ("input_sequence_length", Metric::NumTokensInput),
            ("output_sequence_length", Metric::NumTokensOutput),
        ] {
            let Some(m) = a.get(key) else { continue };
            let scale = unit_scale(m.get("unit").and_then(Value::as_str));
            for (name, agg) in [
                ("avg", Aggregate::Average),
                ("p50", Aggregate::P50),
                ("p90", Aggregate::P90),
                ("p95", Aggregate::P95),
                ("p99", Aggregate::P99),
                ("min", Aggregate::Min),
                ("max", Aggregate::Max),
                ("std", Aggregate::Std),
            ] {
                if let Some(v) = m.get(name).and_then(Value::as_f64) {
                    own.insert(StatKey::Dist(metric, agg).to_string(), (v * scale).into());
                }
            }
        }
        own_throughput(
            &mut own,
            a.pointer("/request_throughput/avg").and_then(Value::as_f64),
            a.pointer("/output_token_throughput/avg").and_then(Value::as_f64),
        );
    }
    let model = aggregates
        .and_then(|a| a.pointer("/input_config/endpoint/model_names/0"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(foreign_run(
        Tool::AiPerf,
        version,
        "aiperf profile".into(),
        model,
        requests,
        own,
        bad,
    ))
}

fn aiperf_request(r: &Value) -> Result<Request, String> {
    let start_ns = r
        .pointer("/metadata/request_start_ns")
        .and_then(Value::as_u64)
        .ok_or("no request_start_ns")?;
    let end_ns = r
        .pointer("/metadata/request_end_ns")
        .and_then(Value::as_u64)
        .unwrap_or(start_ns);
    let start = start_ns as f64 / 1e9;
    let metrics = r.get("metrics").cloned().unwrap_or(Value::Null);
    let ttft = aiperf_value(&metrics, "time_to_first_token");
    let latency = aiperf_value(&metrics, "request_latency");
    let gaps: Vec<f64> = metrics
        .pointer("/inter_chunk_latency/value")
        .and_then(Value::as_array)
        .map(|gaps| {
            let scale = unit_scale(
                metrics
                    .pointer("/inter_chunk_latency/unit")
                    .and_then(Value::as_str),
            );
            gaps.iter().filter_map(Value::as_f64).map(|g| g * scale).collect()
        })
        .unwrap_or_default();
    let chunks = chunk_times(ttft, &gaps);
    let cancelled = r.pointer("/metadata/was_cancelled").and_then(Value::as_bool) == Some(true);
    let error = match r.get("error").filter(|e| !e.is_null()) {
        Some(e) => {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("error");
            let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
            Some(RequestError::new(
                infer_error_kind(&format!("{kind} {message}")),
                format!("AIPerf: {kind}: {message}"),
            ))
        }
        None if cancelled => Some(RequestError::new(ErrorKind::Cancelled, "AIPerf: cancelled")),
        None => None,
    };
    if error.is_none() && ttft.is_none() {
        return Err("a successful request without time_to_first_token".into());
    }
    let count = |key: &str| aiperf_value(&metrics, key).map(|v| v as u64);
    Ok(Request {
        start,
        ttft,
        ttlt: chunks.last().copied(),
        end: latency.unwrap_or((end_ns.saturating_sub(start_ns)) as f64 / 1e9),
        chunks,
        input: count("usage_prompt_tokens").or_else(|| count("input_sequence_length")),
        output: count("output_sequence_length"),
        error,
    })
}

fn vllm(name: &str, text: &str) -> Result<ForeignRun, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let array = |key: &str| -> Result<Vec<Value>, String> {
        doc.get(key)
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| format!("{name}: no {key} (was it saved with --save-detailed?)"))
    };
    let (ttfts, itls, latencies, starts) = (
        array("ttfts")?,
        array("itls")?,
        array("latencies")?,
        array("start_times")?,
    );
    let (inputs, outputs, errors) = (array("input_lens")?, array("output_lens")?, array("errors")?);
    // `start_times` are `perf_counter` seconds: placed after the result's date (its end, to the second), minus the
    // run's duration.
    let date = doc
        .get("date")
        .and_then(Value::as_str)
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y%m%d-%H%M%S").ok())
        .map_or(0.0, |d| d.and_utc().timestamp() as f64);
    let duration = doc.get("duration").and_then(Value::as_f64).unwrap_or(0.0);
    let first = starts
        .iter()
        .filter_map(Value::as_f64)
        .fold(f64::INFINITY, f64::min);
    let origin = date - duration;
    let mut requests = Vec::new();
    let mut bad = Vec::new();
    for i in 0..ttfts.len() {
        let at = |v: &[Value]| v.get(i).cloned().unwrap_or(Value::Null);
        let Some(start) = at(&starts).as_f64() else {
            bad.push(format!("{name} request {}: no start time", i + 1));
            continue;
        };
        let error = at(&errors).as_str().filter(|e| !e.trim().is_empty()).map(|e| {
            let last = e.trim().lines().last().unwrap_or(e);
            RequestError::new(infer_error_kind(last), format!("vLLM bench: {last}"))
        });
        let ttft = at(&ttfts).as_f64().filter(|t| *t > 0.0);
        let gaps: Vec<f64> = at(&itls)
            .as_array()
            .map(|g| g.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let chunks = chunk_times(ttft, &gaps);
        if error.is_none() && ttft.is_none() {
            bad.push(format!("{name} request {}: a success without a TTFT", i + 1));
            continue;
        }
        let latency = at(&latencies).as_f64().filter(|l| *l > 0.0);
        requests.push((
            format!("vllm-{i}"),
            Request {
                start: origin + (start - first),
                ttft,
                ttlt: chunks.last().copied(),
                end: latency.or(chunks.last().copied()).unwrap_or(0.0),
                chunks,
                input: at(&inputs).as_u64(),
                output: at(&outputs).as_u64().filter(|_| error.is_none()),
                error,
            },
        ));
    }
    let mut own = Map::new();
    for (key, metric) in [
        ("ttft", Metric::TimeToFirstToken),
        ("tpot", Metric::TimePerOutputToken),
        ("itl", Metric::InterTokenLatency),
        ("e2el", Metric::TimeToLastToken),
    ] {
        for (prefix, agg) in [
            ("mean", Aggregate::Average),
            ("p50", Aggregate::P50),
            ("p90", Aggregate::P90),
            ("p95", Aggregate::P95),
            ("p99", Aggregate::P99),
            ("std", Aggregate::Std),
        ] {
            if let Some(v) = doc.get(format!("{prefix}_{key}_ms")).and_then(Value::as_f64) {
                own.insert(StatKey::Dist(metric, agg).to_string(), (v / 1e3).into());
            }
        }
    }
    own_throughput(
        &mut own,
        doc.get("request_throughput").and_then(Value::as_f64),
        doc.get("output_throughput").and_then(Value::as_f64),
    );
    if let Some(failed) = doc.get("failed").and_then(Value::as_u64) {
        own.insert(Scalar::FailedRequests.as_str().into(), failed.into());
    }
    let model = doc.get("model_id").and_then(Value::as_str).map(str::to_owned);
    let label = doc.get("backend").and_then(Value::as_str).unwrap_or("bench");
    Ok(foreign_run(
        Tool::VllmBench,
        None,
        format!("vllm {label}"),
        model,
        requests,
        own,
        bad,
    ))
}

/// Chunk arrival times after the start: the first token's, then each gap after it added in turn.
fn chunk_times(ttft: Option<f64>, gaps: &[f64]) -> Vec<f64> {
    let Some(first) = ttft else {
        return Vec::new();
    };
    std::iter::once(first)
        .chain(gaps.iter().scan(first, |at, gap| {
            *at += gap;
            Some(*at)
        }))
        .collect()
}

/// A tool's own request rate (per second) and output token rate, under `stats.json`'s keys.
fn own_throughput(own: &mut Map<String, Value>, requests_per_second: Option<f64>, output_tps: Option<f64>) {
    if let Some(rps) = requests_per_second {
        own.insert(Scalar::RequestsPerMinute.as_str().into(), (rps * 60.0).into());
    }
    if let Some(tps) = output_tps {
        own.insert(Scalar::OutputTps.as_str().into(), tps.into());
    }
}

fn foreign_run(
    tool: Tool,
    version: Option<String>,
    name: String,
    model: Option<String>,
    requests: Vec<(String, Request)>,
    own: Map<String, Value>,
    mut bad: Vec<String>,
) -> ForeignRun {
    let origin = requests
        .iter()
        .map(|(_, r)| r.start)
        .fold(f64::INFINITY, f64::min);
    let mut records = Vec::new();
    for (id, request) in requests {
        match request.record(id.clone(), origin) {
            Some(record) => records.push(record),
            None => bad.push(format!("request {id}: its start time is out of range")),
        }
    }
    records.sort_by_key(|r| r.request_time);
    ForeignRun {
        tool,
        version,
        name,
        model,
        records,
        own,
        bad,
    }
}
