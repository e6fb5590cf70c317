//! Result files: reading LLMeter's real run folder, recomputing its statistics, round trips of our own files,
//! recovery of interrupted runs, bad input, and credentials never reaching a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use tokenmeter::core::format::{
    decode_bytes_marker, read_responses, read_stats, write_response_line, write_run, EndpointBlock, Files,
    FormatError, FormatWarning, InfoSource, LoadedRun, RunConfigFile, RunFolder, RunToWrite, StatsSource,
};
use tokenmeter::core::metrics;
use tokenmeter::core::record::{
    ErrorKind, RequestError, RequestRecord, RequestTiming, ServerLatency, TokenCounts,
};
use tokenmeter::core::stats::{PercentileMethod, RunInfo, RunningStats, StatsConfig};
use tokenmeter::core::time::Timestamp;
use tokenmeter::protocol::{Api, ApiEndpoint, Credential};

const SAMPLE_RESPONSES: &str = include_str!("data/llmeter/sample-openai/responses.jsonl");
const SAMPLE_STATS: &str = include_str!("data/llmeter/sample-openai/stats.json");
const SAMPLE_SUMMARY: &str = include_str!("data/llmeter/sample-openai/summary.json");
const SAMPLE_CONFIG: &str = include_str!("data/llmeter/sample-openai/run_config.json");
const LLMETER_020_LINES: &str = include_str!("data/llmeter/generated/llmeter-0.2.0-responses.jsonl");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/llmeter")
        .join(name)
}

fn sample_files() -> Files<'static> {
    Files {
        run_config: Some(SAMPLE_CONFIG),
        responses: Some(SAMPLE_RESPONSES),
        summary: Some(SAMPLE_SUMMARY),
        stats: Some(SAMPLE_STATS),
        tokenmeter_responses: None,
    }
}

/// `a` equals `b` to 1e-9 relative (absolute below 1).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn reads_llmeter_sample_folder() {
    let run = RunFolder::load(&fixture("sample-openai"), StatsConfig::llmeter()).unwrap();
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    assert_eq!(
        (run.info_source, run.stats_source),
        (InfoSource::Summary, StatsSource::Recomputed)
    );
    let records = run.records.as_deref().unwrap();
    assert_eq!(records.len(), 20);
    let first = &records[0];
    assert_eq!(first.id, "chatcmpl-3660b2eca2c0");
    assert!((metrics::time_to_first_token(first).unwrap() - 0.086_229_765_999_632_95).abs() < 1e-9);
    assert!((metrics::time_to_last_token(first).unwrap() - 0.274_050_408_999_755_75).abs() < 1e-9);
    // LLMeter writes whole seconds.
    assert_eq!(
        first.request_time,
        Some(Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap())
    );
    assert_eq!(
        first.tokens,
        TokenCounts {
            input: Some(6),
            output: Some(20),
            input_cached: None,
            output_reasoning: None
        }
    );
    assert_eq!(first.input_payload.as_ref().unwrap()["stream"], true);
    assert!(records.iter().all(RequestRecord::is_success));
    assert_eq!(run.info.clients, Some(4));
    assert_eq!(
        run.config.unwrap().endpoint.model_id.as_deref(),
        Some("mock-model")
    );
}

/// With LLMeter's percentile method, the recomputed distributions are LLMeter's own numbers.
///
/// The send-window rates (`requests_per_minute`, `average_*_tokens_per_minute`, `output_tps`) cannot match:
/// LLMeter computed them live from sub-second `request_time`s but saved those times at whole seconds, so its
/// file gives a 1 s send window where the live run had about 1.03 s.
#[test]
fn recompute_of_llmeter_sample_reproduces_its_stats() {
    let run = RunFolder::recompute(&fixture("sample-openai"), Some(PercentileMethod::Llmeter)).unwrap();
    let saved = read_stats(SAMPLE_STATS).unwrap();
    let mut compared = 0;
    for metric in [
        "time_to_first_token",
        "time_to_last_token",
        "time_per_output_token",
        "num_tokens_output",
        "num_tokens_input",
    ] {
        for agg in ["average", "p50", "p90", "p99"] {
            let key = format!("{metric}-{agg}");
            let (ours, theirs) = (&run.stats[&key], &saved[&key]);
            assert!(
                close(ours.as_f64().unwrap(), theirs.as_f64().unwrap()),
                "{key}: {ours} vs {theirs}"
            );
            // An integer mean stays an integer (`20`, not `20.0`), as in Python.
            assert_eq!(ours.is_f64(), theirs.is_f64(), "{key}");
            compared += 1;
        }
    }
    assert_eq!(compared, 20);
    for key in [
        "total_requests",
        "clients",
        "n_requests",
        "total_test_time",
        "model_id",
        "output_path",
        "run_name",
        "failed_requests",
        "failed_requests_rate",
        "total_input_tokens",
        "total_output_tokens",
    ] {
        assert_eq!(run.stats[key], saved[key], "{key}");
    }
    // LLMeter's keys come first, in LLMeter's order.
    let ours: Vec<&String> = run.stats.keys().filter(|k| saved.contains_key(*k)).collect();
    let theirs: Vec<&String> = saved.keys().collect();
    assert_eq!(ours, theirs);
    assert_eq!(run.stats["percentile_method"], "llmeter");
    assert_eq!(run.stats["requests_per_minute"], 1200.0);
}

#[test]
fn recompute_defaults_to_the_saved_method_and_linear_stays_in_range() {
    let default = RunFolder::recompute(&fixture("sample-openai"), None).unwrap();
    assert_eq!(default.stats["percentile_method"], "llmeter");
    let linear = RunFolder::recompute(&fixture("sample-openai"), Some(PercentileMethod::Linear)).unwrap();
    assert_eq!(linear.stats["percentile_method"], "linear");
    let max = linear.stats["time_to_first_token-max"].as_f64().unwrap();
    let p99 = |s: &Map<String, Value>| s["time_to_first_token-p99"].as_f64().unwrap();
    // LLMeter's exclusive method extrapolates past the maximum on 20 values; numpy's linear method cannot.
    assert!(p99(&linear.stats) <= max && p99(&default.stats) > max);
    let text = tokenmeter::core::format::recompute_stats_json(&fixture("sample-openai"), None).unwrap();
    assert!(
        text.starts_with("{\n    \"total_requests\": 20,")
            && text.ends_with("\"tokenmeter_format_version\": 1\n}")
    );
}

#[test]
fn interrupted_run_is_recovered_from_config_and_responses() {
    let folder = fixture("sample-openai-interrupted");
    let run = RunFolder::load(&folder, StatsConfig::llmeter()).unwrap();
    assert_eq!(run.info_source, InfoSource::Recovered);
    let info = &run.info;
    let (first, last) = (
        Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 44).unwrap(),
    );
    assert_eq!(
        (info.start_time, info.first_request_time),
        (Some(first), Some(first))
    );
    assert_eq!((info.last_request_time, info.end_time), (Some(last), Some(last)));
    assert_eq!(
        (info.total_requests, info.clients, info.n_requests),
        (Some(20), Some(4), Some(5))
    );
    assert_eq!(info.total_test_time, None);
    assert_eq!(info.run_name.as_deref(), Some("sample-openai"));
    assert_eq!(info.provider.as_deref(), Some("openai"));
    // LLMeter uses the folder it loaded from when nothing names one.
    assert_eq!(
        info.output_path.as_deref(),
        Some(folder.display().to_string().as_str())
    );
    assert_eq!(run.stats["total_test_time"], Value::Null);
}

#[test]
fn folder_with_only_stats_loads_verbatim() {
    let run = RunFolder::load(&fixture("sample-openai-stats-only"), StatsConfig::llmeter()).unwrap();
    assert_eq!(
        (run.info_source, run.stats_source),
        (InfoSource::Stats, StatsSource::Saved)
    );
    assert!(run.records.is_none() && run.config.is_none());
    assert_eq!(run.stats, read_stats(SAMPLE_STATS).unwrap());
    assert_eq!(run.info.run_name.as_deref(), Some("sample-openai"));
    assert_eq!(
        run.info.end_time,
        Some(Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 44).unwrap())
    );
}

#[test]
fn saved_keys_that_are_not_recomputed_are_merged_after_fresh_ones() {
    let stats = SAMPLE_STATS.replace("\n}", ",\n    \"interrupted\": true,\n    \"cost_total\": 1.5\n}");
    let files = Files {
        stats: Some(&stats),
        ..sample_files()
    };
    let run = LoadedRun::from_files(&files, StatsConfig::llmeter()).unwrap();
    let keys: Vec<&String> = run.stats.keys().collect();
    assert_eq!(keys[keys.len() - 2..], ["interrupted", "cost_total"]);
    assert_eq!(
        (&run.stats["interrupted"], &run.stats["cost_total"]),
        (&json!(true), &json!(1.5))
    );
    // Fresh values win over stale saved ones.
    assert_eq!(run.stats["requests_per_minute"], 1200.0);
}

#[test]
fn missing_folder_and_missing_data_are_clear_errors() {
    let err = RunFolder::load(&fixture("no-such-run"), StatsConfig::llmeter()).unwrap_err();
    assert!(matches!(err, FormatError::NotAFolder { .. }));
    assert!(
        err.to_string()
            .ends_with("no-such-run: not a run folder (no such directory)"),
        "{err}"
    );
    // A folder without responses.jsonl or stats.json (the generated fixtures' folder).
    let err = RunFolder::load(&fixture("generated"), StatsConfig::llmeter()).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("generated: no data to recover: neither responses.jsonl nor stats.json exists"));
    let err = LoadedRun::from_files(
        &Files {
            summary: Some(SAMPLE_SUMMARY),
            ..Files::default()
        },
        StatsConfig::llmeter(),
    );
    assert!(matches!(err, Err(FormatError::MissingFile { .. })));
}

#[test]
fn malformed_line_names_file_line_and_problem() {
    let mut lines: Vec<&str> = SAMPLE_RESPONSES.lines().collect();
    lines[2] = r#"{"response_text": "tok", "id": "x", "time_to_first_token": 0.1,, "error": null}"#;
    let text = lines.join("\n") + "\n";
    let err = LoadedRun::from_files(
        &Files {
            responses: Some(&text),
            ..sample_files()
        },
        StatsConfig::llmeter(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "responses.jsonl, line 3: invalid JSON: key must be a string at column 64"
    );
    assert!(matches!(err, FormatError::Json { at, .. } if at.line == Some(3)));
}

#[test]
fn wrong_type_names_the_field() {
    let text = SAMPLE_RESPONSES.replacen(
        "\"time_to_first_token\": 0.08622976599963295",
        "\"time_to_first_token\": \"0.086\"",
        1,
    );
    let err = LoadedRun::from_files(
        &Files {
            responses: Some(&text),
            ..sample_files()
        },
        StatsConfig::llmeter(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "responses.jsonl, line 1: field `time_to_first_token`: expected seconds (a number), found a string \"0.086\""
    );
}

#[test]
fn empty_files() {
    // An empty responses.jsonl is a run with no responses.
    let run = LoadedRun::from_files(
        &Files {
            responses: Some(""),
            ..sample_files()
        },
        StatsConfig::llmeter(),
    )
    .unwrap();
    assert_eq!(run.records.as_deref().map(<[_]>::len), Some(0));
    assert_eq!(run.stats["failed_requests_rate"], 0);
    // An empty stats.json alone has nothing to give.
    let only_stats = Files {
        stats: Some(""),
        ..Files::default()
    };
    let err = LoadedRun::from_files(&only_stats, StatsConfig::llmeter()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("stats.json: invalid JSON: EOF while parsing a value"),
        "{err}"
    );
    // Next to responses, a broken stats.json or run_config.json is ignored, as LLMeter does.
    let files = Files {
        stats: Some(""),
        run_config: Some("{"),
        ..sample_files()
    };
    let run = LoadedRun::from_files(&files, StatsConfig::llmeter()).unwrap();
    assert!(run.config.is_none());
    assert!(matches!(
        run.warnings.as_slice(),
        [
            FormatWarning::IgnoredFile { .. },
            FormatWarning::IgnoredFile { .. }
        ]
    ));
    // An empty summary.json is an error (LLMeter raises too).
    let err = LoadedRun::from_files(
        &Files {
            summary: Some(""),
            ..sample_files()
        },
        StatsConfig::llmeter(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("summary.json: invalid JSON"), "{err}");
}

#[test]
fn llmeter_020_lines_with_bytes_unicode_and_errors() {
    let parsed = read_responses(LLMETER_020_LINES, None).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let [image, throttled, broken] = parsed.records.as_slice() else {
        panic!("{:?}", parsed.records)
    };
    assert_eq!(
        image.response_text.as_deref(),
        Some("Ceci est un résumé — 日本語 ✓")
    );
    let marker =
        &image.input_payload.as_ref().unwrap()["messages"][0]["content"][1]["image"]["source"]["bytes"];
    assert_eq!(
        decode_bytes_marker(marker),
        Some(Ok(b"\x89PNG\r\n\x1a\n\x00\xff".to_vec()))
    );
    // 12:00:01.987654+08:00, which LLMeter wrote as whole UTC seconds.
    assert_eq!(
        image.request_time,
        Some(Utc.with_ymd_and_hms(2026, 11, 29, 4, 0, 1).unwrap())
    );
    assert_eq!(image.tokens.input_cached, Some(512));
    assert_eq!(image.retries, Some(0));
    assert_eq!(
        throttled.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Throttled)
    );
    assert_eq!(broken.error.as_ref().map(|e| e.kind), Some(ErrorKind::Stream));
    // A failed stream keeps the TTFT it had; no TTLT is invented for it.
    assert_eq!(metrics::time_to_first_token(broken), Some(0.25));
    assert_eq!(metrics::time_to_last_token(broken), None);
    // Writing back keeps the marker as it was.
    let again = read_responses(&write_response_line(image), None).unwrap();
    assert_eq!(again.records[0].input_payload, image.input_payload);
}

fn ns(v: u64) -> Timestamp {
    Timestamp::from_nanos(v)
}

pub(crate) fn streamed(i: u64) -> RequestRecord {
    let base = 1_000_000_007 * i;
    RequestRecord {
        id: format!("chatcmpl-{i}"),
        request_time: Some(
            Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap()
                + chrono::Duration::microseconds(250_001 * i as i64),
        ),
        input_payload: Some(std::sync::Arc::new(
            json!({"messages": [{"role": "user", "content": format!("topic {i} ✓")}], "stream": true}),
        )),
        input_prompt: Some(format!("topic {i} ✓")),
        response_text: Some("tok ".repeat(3).trim_end().into()),
        timing: RequestTiming {
            scheduled_at: ns(base),
            dispatched_at: ns(base + 13),
            first_byte_at: Some(ns(base + 40_000_001)),
            first_token_at: Some(ns(base + 50_000_003)),
            first_visible_at: Some(ns(base + 50_000_003)),
            last_token_at: Some(ns(base + 250_000_011)),
            ended_at: ns(base + 251_000_000),
            token_chunk_times: vec![
                ns(base + 50_000_003),
                ns(base + 150_000_005),
                ns(base + 250_000_011),
            ],
        },
        tokens: TokenCounts {
            input: Some(6),
            output: Some(3),
            input_cached: None,
            output_reasoning: None,
        },
        http_status: Some(200),
        ..Default::default()
    }
}

fn run_info(records: &[RequestRecord]) -> RunInfo {
    RunInfo {
        total_requests: Some(records.len() as u64),
        clients: Some(2),
        n_requests: Some(2),
        total_test_time: Some(1.25),
        model_id: Some("mock-model".into()),
        endpoint_name: Some("local-mock".into()),
        provider: Some("openai".into()),
        run_name: Some("round-trip".into()),
        start_time: Some(
            Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 42).unwrap() + chrono::Duration::microseconds(999_999),
        ),
        end_time: Some(Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 45).unwrap()),
        ..Default::default()
    }
}

fn as_files<'a>(written: &'a [(&'static str, String)]) -> Files<'a> {
    let text = |name: &str| written.iter().find(|(n, _)| *n == name).map(|(_, t)| t.as_str());
    Files {
        run_config: text("run_config.json"),
        responses: text("responses.jsonl"),
        tokenmeter_responses: text("tokenmeter_responses.jsonl"),
        summary: text("summary.json"),
        stats: text("stats.json"),
    }
}

#[test]
fn written_run_reads_back_identically() {
    let mut records: Vec<RequestRecord> = (0..4).map(streamed).collect();
    records[1].error = Some(RequestError::new(ErrorKind::Throttled, "HTTP 429: slow down"));
    records[1].http_status = Some(429);
    records[1].timing.first_token_at = None;
    records[1].timing.first_visible_at = None;
    records[1].timing.last_token_at = None;
    records[1].timing.token_chunk_times.clear();
    records[2].warmup = true;
    records[2].server_latency = ServerLatency {
        first_byte: Some(Duration::from_nanos(38_123_457)),
        total: Some(Duration::from_millis(240)),
    };
    records[3].queued = Some(Duration::from_micros(1_234));
    let info = run_info(&records);
    let mut stats = RunningStats::new(StatsConfig::default()).unwrap();
    records.iter().for_each(|r| stats.observe(r));
    let snapshot = stats.snapshot(&info);
    let config = RunConfigFile::new(EndpointBlock::default(), json!({"clients": 2}));
    let written = write_run(&RunToWrite {
        config: &config,
        info: &info,
        records: &records,
        stats: &snapshot,
    });
    let names: Vec<&str> = written.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "run_config.json",
            "responses.jsonl",
            "tokenmeter_responses.jsonl",
            "summary.json",
            "stats.json"
        ]
    );

    let run = LoadedRun::from_files(&as_files(&written), StatsConfig::default()).unwrap();
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    assert_eq!(run.records.as_deref(), Some(records.as_slice()));
    // The summary gains the send times of the (non-warm-up) records.
    let sends = Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap();
    let expected_info = RunInfo {
        first_request_time: Some(sends),
        last_request_time: Some(sends + chrono::Duration::microseconds(750_003)),
        ..info.clone()
    };
    assert_eq!(run.info, expected_info);
    assert_eq!(
        run.config.as_ref().map(|c| &c.tokenmeter_plan),
        Some(&json!({"clients": 2}))
    );
    // The recomputation is the snapshot again, plus the saved format version.
    let mut expected = snapshot.clone();
    expected.insert("tokenmeter_format_version".into(), 1.into());
    assert_eq!(run.stats, expected);
    // Sub-second send times survive, so the send-window rates recompute.
    assert!(written[1]
        .1
        .contains("\"request_time\": \"2026-11-29T03:57:43.250001Z\""));
}

#[test]
fn credentials_never_reach_a_file() {
    let endpoint = ApiEndpoint {
        api: Api::OpenAiChat,
        url: "https://alice:hunter2-pw@api.example.com/v1/chat/completions?api-key=sk-query-SECRET".into(),
        model: "gpt-x".into(),
        stream: true,
        credential: Some(Credential::new("sk-live-SECRET-0001")),
        extra_headers: Vec::new(),
    };
    let block = EndpointBlock {
        endpoint_name: Some("prod".into()),
        model_id: Some(endpoint.model.clone()),
        provider: Some("openai".into()),
        endpoint_type: Some("OpenAICompletionStreamEndpoint".into()),
        base_url: Some("https://alice:hunter2-pw@api.example.com/v1?api-key=sk-query-SECRET".into()),
        url: Some(endpoint.url.clone()),
        other: Map::new(),
    };
    // A plan whose JSON carries credentials by mistake: the writer still keeps them out.
    let plan = json!({
        "endpoint": {"url": endpoint.url, "api_key": endpoint.credential.as_ref().map(|c| c.expose()), "headers": {"Authorization": "Bearer sk-live-SECRET-0001"}},
        "aws": {"access_key_id": "AKIAEXAMPLE0002", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/aws-SECRET-0003", "session_token": "FwoGZXIvYXdzEJr//SECRET-0004"},
        "extra_headers": [["x-api-key", "sk-ant-SECRET-0005"], ["anthropic-version", "2023-06-01"]],
    });
    let records = vec![streamed(0)];
    let info = run_info(&records);
    let mut stats = RunningStats::new(StatsConfig::default()).unwrap();
    stats.observe(&records[0]);
    let snapshot = stats.snapshot(&info);
    let config = RunConfigFile::new(block, plan);
    let written = write_run(&RunToWrite {
        config: &config,
        info: &info,
        records: &records,
        stats: &snapshot,
    });
    for (name, text) in &written {
        for secret in ["SECRET", "hunter2", "AKIAEXAMPLE0002", "alice:"] {
            assert!(!text.contains(secret), "{name} contains {secret}:\n{text}");
        }
    }
    let config = &written[0].1;
    assert!(
        config.contains("\"url\": \"https://api.example.com/v1/chat/completions\""),
        "{config}"
    );
    assert!(config.contains("\"anthropic-version\""));
}

prop_compose! {
    fn any_record()(
        id in "[a-z0-9-]{0,12}",
        text in proptest::option::of("\\PC{0,24}"),
        dispatched in 0u64..10_000_000_000_000,
        lag in 0u64..1_000_000_000,
        gaps in proptest::collection::vec(1u64..500_000_000, 0..6),
        tail in 0u64..1_000_000,
        tokens in proptest::option::of(0u64..100_000),
        micros in 0i64..86_400_000_000,
        failed in proptest::option::of(0usize..ErrorKind::ALL.len()),
        warmup in any::<bool>(),
    ) -> RequestRecord {
        let mut at = dispatched;
        let chunks: Vec<Timestamp> = gaps.iter().map(|g| { at += g; ns(at) }).collect();
        RequestRecord {
            id,
            request_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(micros)),
            response_text: text.clone(),
            input_prompt: text,
            timing: RequestTiming {
                scheduled_at: ns(dispatched.saturating_sub(lag)),
                dispatched_at: ns(dispatched),
                first_byte_at: chunks.first().map(|t| ns(t.as_nanos() - 1)),
                first_token_at: chunks.first().copied(),
                first_visible_at: chunks.get(1).copied(),
                last_token_at: chunks.last().copied(),
                ended_at: ns(at + tail),
                token_chunk_times: chunks,
            },
            tokens: TokenCounts { output: tokens, ..Default::default() },
            error: failed.map(|k| RequestError::new(ErrorKind::ALL[k], "failed ✗")),
            warmup,
            ..Default::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Export then import gives back the same records, to the nanosecond.
    #[test]
    fn responses_round_trip(records in proptest::collection::vec(any_record(), 0..8)) {
        let responses = tokenmeter::core::format::write_responses(&records);
        let extras = tokenmeter::core::format::write_extras(&records);
        let parsed = read_responses(&responses, Some(&extras)).unwrap();
        prop_assert_eq!(parsed.records, records);
    }
}

/// r22: a folder's responses folded part by part (a page's import of a large folder, read a slice at a time) load
/// exactly as the whole folder does, under two rules at once: the same statistics, facts and warnings; an
/// interrupted folder's recovered facts too; and a broken line is named by its line in the whole file.
#[test]
fn r22_a_folder_folded_part_by_part_loads_as_the_whole_folder() {
    use tokenmeter::core::checkpoint::split_lines;
    use tokenmeter::core::format::ResponsesFold;
    let interrupted =
        std::fs::read_to_string(fixture("sample-openai-interrupted").join("responses.jsonl")).unwrap();
    let interrupted_config =
        std::fs::read_to_string(fixture("sample-openai-interrupted").join("run_config.json")).unwrap();
    let interrupted_files = Files {
        responses: Some(&interrupted),
        run_config: Some(&interrupted_config),
        ..Files::default()
    };
    for files in [sample_files(), interrupted_files] {
        let rules = [StatsConfig::llmeter(), StatsConfig::default()];
        let mut fold = ResponsesFold::new(rules.to_vec(), false).unwrap();
        for (responses, _) in split_lines(files.responses.unwrap(), None, 3) {
            fold.add(&responses, None).unwrap();
        }
        let folded = fold.finish(&files, "run folder", None).unwrap();
        for (rule, part_by_part) in rules.into_iter().zip(folded) {
            let whole = LoadedRun::from_files(&files, rule).unwrap();
            assert_eq!(part_by_part.stats, whole.stats);
            assert_eq!(part_by_part.info, whole.info);
            assert_eq!(part_by_part.info_source, whole.info_source);
            assert_eq!(part_by_part.warnings, whole.warnings);
            assert!(part_by_part.records.is_none(), "nothing kept");
        }
    }
    // A broken line in a later part is named by its line in the file.
    let mut fold = ResponsesFold::new(vec![StatsConfig::default()], false).unwrap();
    let lines: Vec<&str> = SAMPLE_RESPONSES.lines().collect();
    fold.add(&format!("{}\n{}\n", lines[0], lines[1]), None).unwrap();
    let error = fold.add(&format!("{}\n{{oops\n", lines[2]), None).unwrap_err();
    assert!(error.to_string().contains("line 4"), "{error}");
}
