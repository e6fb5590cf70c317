//! Tests of [`RunningStats`]: parity with a real LLMeter run, the counting rules, rates, goodput, costs, the
//! key order, and the merge and incremental-snapshot properties.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::record::{RequestError, RequestTiming};
use crate::stats::{percentile, CostModel, PercentileMethod, RateWindow, Slo};
use crate::time::Timestamp;

// ---------------------------------------------------------------------------------------------------------
// The LLMeter sample run: /work/shared/data/llmeter-runs/sample-openai (LLMeter HEAD 1c0a6e1 against a mock
// OpenAI server, 4 clients x 5 requests). The values below are `time_to_first_token`, `time_to_last_token` and
// `time_per_output_token` of responses.jsonl, in file order, printed with Python's `repr`; every response has
// 6 input and 20 output tokens and no error. `SAMPLE_STATS_JSON` is that run's stats.json, verbatim.

const SAMPLE_TTFT: [f64; 20] = [
    0.08622976599963295,
    0.08619980999992549,
    0.08518503699997382,
    0.08697300400035601,
    0.05782697300037398,
    0.05500794099953055,
    0.05188142200040602,
    0.05538374699972337,
    0.057588643000599404,
    0.05428366599971923,
    0.056816768999851774,
    0.0530035419997148,
    0.056303258999832906,
    0.05594982799993886,
    0.05469169099978899,
    0.053988657999980205,
    0.05336129599982087,
    0.0518575090000013,
    0.05462447300033091,
    0.05297367299954203,
];

const SAMPLE_TTLT: [f64; 20] = [
    0.27405040899975575,
    0.271533522000027,
    0.27285544100050174,
    0.2785531239996999,
    0.24747185399974114,
    0.24514938700031053,
    0.2440034220007874,
    0.24881258699952014,
    0.24735766800040437,
    0.24495160799961013,
    0.24882350199914072,
    0.2454761189992496,
    0.2461465769993083,
    0.24556388099972537,
    0.2462140019997605,
    0.24795175500003097,
    0.24332756800049538,
    0.24210943799971574,
    0.2447827040004995,
    0.24287841499972274,
];

const SAMPLE_TPOT: [f64; 20] = [
    0.009885297000006463,
    0.009754405894742186,
    0.009877389684238312,
    0.010083164210491782,
    0.009981309526282482,
    0.01000744452635684,
    0.010111684210546389,
    0.010180465263147198,
    0.009987843421042367,
    0.010035154842099521,
    0.010105617526278365,
    0.010130135631554463,
    0.009991753578919758,
    0.009979686999988763,
    0.01008012163157745,
    0.01020858405263425,
    0.009998224842140763,
    0.010013259421037602,
    0.010008327947377294,
    0.009994986421062143,
];

const SAMPLE_STATS_JSON: &str = r#"{
    "total_requests": 20,
    "clients": 4,
    "n_requests": 5,
    "total_test_time": 1.2879079619997356,
    "model_id": "mock-model",
    "output_path": "runs/sample-openai",
    "endpoint_name": "local-mock",
    "provider": "openai",
    "run_name": "sample-openai",
    "run_description": null,
    "start_time": "2026-11-29T03:57:43Z",
    "first_request_time": "2026-11-29T03:57:43Z",
    "last_request_time": "2026-11-29T03:57:44Z",
    "end_time": "2026-11-29T03:57:44Z",
    "failed_requests": 0,
    "failed_requests_rate": 0.0,
    "total_input_tokens": 120.0,
    "total_output_tokens": 400.0,
    "time_to_last_token-average": 0.25140064914990035,
    "time_to_last_token-p50": 0.2461802894995344,
    "time_to_last_token-p90": 0.27393091219983035,
    "time_to_last_token-p99": 0.2821102688496558,
    "time_to_first_token-average": 0.06100653534995217,
    "time_to_first_token-p50": 0.05519584399962696,
    "time_to_first_token-p90": 0.0862267703996622,
    "time_to_first_token-p99": 0.08756016202092724,
    "time_per_output_token-average": 0.01002074283157622,
    "time_per_output_token-p50": 0.010007886236867068,
    "time_per_output_token-p90": 0.010175432299987925,
    "time_per_output_token-p99": 0.010230797896329023,
    "num_tokens_output-average": 20,
    "num_tokens_output-p50": 20.0,
    "num_tokens_output-p90": 20.0,
    "num_tokens_output-p99": 20.0,
    "num_tokens_input-average": 6,
    "num_tokens_input-p50": 6.0,
    "num_tokens_input-p90": 6.0,
    "num_tokens_input-p99": 6.0,
    "requests_per_minute": 1161.1614711141733,
    "average_input_tokens_per_minute": 6966.968826685039,
    "average_output_tokens_per_minute": 18787.781053462197,
    "output_tps": 313.12968422436995
}"#;

fn sample_stats_json() -> Map<String, Value> {
    serde_json::from_str(SAMPLE_STATS_JSON).unwrap()
}

fn utc(h: u32, m: u32, s: u32, micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, h, m, s).unwrap() + TimeDelta::microseconds(micros)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
}

/// The percentile routine and the exact mean alone, fed LLMeter's own values, give stats.json's numbers.
#[test]
fn llmeter_method_reproduces_the_sample_run_from_its_values() {
    let expected = sample_stats_json();
    for (key, values) in [
        ("time_to_first_token", SAMPLE_TTFT),
        ("time_to_last_token", SAMPLE_TTLT),
        ("time_per_output_token", SAMPLE_TPOT),
    ] {
        let mut sorted = values;
        sorted.sort_by(f64::total_cmp);
        for p in [50.0, 90.0, 99.0] {
            let got = percentile(&sorted, p, PercentileMethod::Llmeter).unwrap();
            let want = expected[&format!("{key}-p{p}")].as_f64().unwrap();
            // Same operations in the same order as CPython: expected equal; 1e-9 relative is the brief's bound.
            assert!(close(got, want, 1e-9), "{key}-p{p}: {got} != {want}");
        }
        let mut d = Distribution::default();
        values.iter().for_each(|&v| d.push(v));
        d.settle();
        let mean = d.sample().unwrap().mean();
        let want = expected[&format!("{key}-average")].as_f64().unwrap();
        assert!(close(mean, want, 1e-9), "{key}-average: {mean} != {want}");
    }
}

/// The sample run rebuilt as records. Send times are placed so the send window is 1.033448 s and the output
/// window 1.277426 s: the unique microsecond windows for which Python's `20 * 60 / w` and `400.0 / w` give
/// stats.json's `requests_per_minute` and `output_tps` (found with `timedelta(microseconds=...)`). They agree
/// with the whole-second times in the file.
fn sample_records() -> (Vec<RequestRecord>, RunInfo) {
    let t0 = utc(3, 57, 43, 500_000);
    let records = (0..20)
        .map(|i| {
            let request_time = match i {
                0..=7 => t0 + TimeDelta::milliseconds(50 * i as i64),
                19 => t0 + TimeDelta::microseconds(1_033_448),
                _ => utc(3, 57, 44, 40_000 * (i as i64 - 8)),
            };
            let first = Timestamp::from_secs_f64(SAMPLE_TTFT[i]);
            let last = Timestamp::from_secs_f64(SAMPLE_TTLT[i]);
            RequestRecord {
                request_time: Some(request_time),
                timing: RequestTiming {
                    first_token_at: Some(first),
                    first_visible_at: Some(first),
                    last_token_at: Some(last),
                    ended_at: last,
                    ..Default::default()
                },
                tokens: TokenCounts {
                    input: Some(6),
                    output: Some(20),
                    ..Default::default()
                },
                ..Default::default()
            }
        })
        .collect();
    let run = RunInfo {
        total_requests: Some(20),
        clients: Some(4),
        n_requests: Some(5),
        total_test_time: Some(1.2879079619997356),
        model_id: Some("mock-model".into()),
        output_path: Some("runs/sample-openai".into()),
        endpoint_name: Some("local-mock".into()),
        provider: Some("openai".into()),
        run_name: Some("sample-openai".into()),
        run_description: None,
        start_time: Some(utc(3, 57, 43, 490_000)),
        first_request_time: None,
        last_request_time: None,
        end_time: Some(t0 + TimeDelta::microseconds(1_277_426)),
    };
    (records, run)
}

#[test]
fn llmeter_config_reproduces_the_sample_stats_json() {
    let (records, run) = sample_records();
    let mut stats = RunningStats::new(StatsConfig::llmeter()).unwrap();
    records.iter().for_each(|r| stats.observe(r));
    let got = stats.snapshot(&run);
    let expected = sample_stats_json();

    // LLMeter's keys come first, in LLMeter's order.
    let got_keys: Vec<&String> = got.keys().take(expected.len()).collect();
    let want_keys: Vec<&String> = expected.keys().collect();
    assert_eq!(got_keys, want_keys);

    for (key, want) in &expected {
        let value = &got[key];
        if key.ends_with("_time") && want.is_string() {
            // Tokenmeter keeps microseconds; LLMeter truncates to seconds.
            assert_eq!(
                &value.as_str().unwrap()[..19],
                &want.as_str().unwrap()[..19],
                "{key}"
            );
            assert!(value.as_str().unwrap().ends_with('Z'));
        } else if key.starts_with("time_") {
            // Timestamps are whole nanoseconds (`Timestamp::from_secs_f64`), so the durations move by up to
            // 1e-9 s, and TPOT is recomputed from them by `metrics::time_per_output_token`.
            let (v, w) = (value.as_f64().unwrap(), want.as_f64().unwrap());
            assert!((v - w).abs() <= 1e-9, "{key}: {v} != {w}");
        } else {
            // Counts, token figures and rates: identical, JSON integer-vs-float type included.
            assert_eq!(value, want, "{key}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------

fn ms(v: u64) -> Timestamp {
    Timestamp::from_micros(v * 1000)
}

/// A streamed request: TTFT and TTLT in milliseconds, sent at `sent_s` seconds past 12:00:00.
fn streamed(ttft_ms: u64, ttlt_ms: u64, input: u64, output: u64, sent_s: i64) -> RequestRecord {
    RequestRecord {
        request_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + TimeDelta::seconds(sent_s)),
        timing: RequestTiming {
            scheduled_at: ms(0),
            dispatched_at: ms(0),
            first_token_at: Some(ms(ttft_ms)),
            first_visible_at: Some(ms(ttft_ms)),
            last_token_at: Some(ms(ttlt_ms)),
            ended_at: ms(ttlt_ms),
            token_chunk_times: vec![ms(ttft_ms), ms((ttft_ms + ttlt_ms) / 2), ms(ttlt_ms)],
            ..Default::default()
        },
        tokens: TokenCounts {
            input: Some(input),
            output: Some(output),
            ..Default::default()
        },
        queued: Some(std::time::Duration::from_micros(250)),
        ..Default::default()
    }
}

fn failed(mut record: RequestRecord, kind: ErrorKind) -> RequestRecord {
    record.error = Some(RequestError::new(kind, "boom"));
    record
}

fn snapshot_of(config: StatsConfig, records: &[RequestRecord], run: &RunInfo) -> Map<String, Value> {
    let mut stats = RunningStats::new(config).unwrap();
    records.iter().for_each(|r| stats.observe(r));
    stats.snapshot(run)
}

#[test]
fn failures_and_warmup_are_counted_but_kept_out_of_distributions() {
    let mut warm = streamed(900, 1900, 1, 1, 0);
    warm.warmup = true;
    let records = [
        streamed(100, 500, 10, 5, 0),
        streamed(300, 700, 20, 7, 1),
        // A stream that broke after its first token: its TTFT must not enter the distribution.
        failed(streamed(50, 80, 30, 2, 2), ErrorKind::Throttled),
        failed(streamed(60, 90, 0, 0, 3), ErrorKind::Timeout),
        warm,
    ];
    let s = snapshot_of(StatsConfig::llmeter(), &records, &RunInfo::default());
    assert_eq!(s["failed_requests"], json!(2));
    assert_eq!(s["failed_requests_rate"], json!(0.5));
    assert_eq!(s["failed_requests_throttled"], json!(1));
    assert_eq!(s["failed_requests_timeout"], json!(1));
    assert_eq!(s["failed_requests_network"], json!(0));
    assert_eq!(s["successful_requests"], json!(2));
    assert_eq!(s["warmup_requests"], json!(1));
    // Token totals count every non-warm-up request, failed ones included (as LLMeter's sums do).
    assert_eq!(s["total_input_tokens"], json!(60.0));
    assert_eq!(s["total_output_tokens"], json!(14.0));
    assert_eq!(s["time_to_first_token-average"], json!(0.2));
    assert_eq!(s["time_to_first_token-min"], json!(0.1));
    assert_eq!(s["time_to_first_token-max"], json!(0.3));
    // First and last send over non-warm-up requests.
    assert_eq!(s["first_request_time"], json!("2026-01-01T12:00:00.000000Z"));
    assert_eq!(s["last_request_time"], json!("2026-01-01T12:00:03.000000Z"));
    // Inter-token gaps: 0.2 s twice per successful request.
    assert_eq!(s["inter_token_latency-average"], json!(0.2));
}

#[test]
fn an_empty_snapshot_has_no_distributions_and_integer_zero_rates() {
    let s = snapshot_of(StatsConfig::default(), &[], &RunInfo::default());
    assert_eq!(s["failed_requests_rate"], json!(0));
    assert_eq!(s["total_input_tokens"], json!(0.0));
    assert_eq!(s["first_request_time"], Value::Null);
    assert!(!s
        .keys()
        .any(|k| k.contains("-average") || k.contains("per_minute") || k == "output_tps"));
    assert_eq!(s["percentile_method"], json!("linear"));
    assert_eq!(s["rate_window"], json!("intervals"));
}

#[test]
fn send_window_rates_under_both_rules() {
    // Sends at 0, 5 and 10 s; the run ends at 20 s.
    let records = [
        streamed(100, 200, 10, 4, 0),
        streamed(100, 200, 10, 4, 5),
        streamed(100, 200, 10, 4, 10),
    ];
    let run = RunInfo {
        end_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 20).unwrap()),
        ..Default::default()
    };
    let intervals = snapshot_of(StatsConfig::default(), &records, &run);
    assert_eq!(intervals["requests_per_minute"], json!(12.0));
    // Input tokens per minute scale like requests: 30 tokens over 3 sends, 2 intervals in 10 s.
    assert_eq!(intervals["average_input_tokens_per_minute"], json!(120.0));
    let llmeter = snapshot_of(StatsConfig::llmeter(), &records, &run);
    assert_eq!(llmeter["requests_per_minute"], json!(18.0));
    assert_eq!(llmeter["average_input_tokens_per_minute"], json!(180.0));
    for s in [&intervals, &llmeter] {
        assert_eq!(s["output_tps"], json!(0.6));
        assert_eq!(s["average_output_tokens_per_minute"], json!(36.0));
    }
    // One send time only: no send-window rates.
    let single = snapshot_of(StatsConfig::default(), &records[..1], &run);
    assert!(!single.contains_key("requests_per_minute"));
    assert!(single.contains_key("output_tps"));
}

#[test]
fn integer_metrics_keep_python_number_types() {
    let records = [
        streamed(100, 500, 5, 3, 0),
        streamed(100, 500, 6, 3, 1),
        streamed(100, 500, 8, 3, 2),
    ];
    let s = snapshot_of(StatsConfig::llmeter(), &records, &RunInfo::default());
    // Python: mean([5, 6, 8]) == 6.333333333333333; median == 6 (an int);
    // quantiles(.., n=10)[8] == 9.2; quantiles(.., n=100)[98] == 9.92; [94] == 9.6; stdev == 1.5275252316519468
    assert_eq!(s["num_tokens_input-average"], json!(6.333333333333333));
    assert_eq!(s["num_tokens_input-p50"], json!(6));
    assert_eq!(s["num_tokens_input-p90"], json!(9.2));
    assert_eq!(s["num_tokens_input-p99"], json!(9.92));
    assert_eq!(s["num_tokens_input-p95"], json!(9.6));
    assert_eq!(s["num_tokens_input-min"], json!(5));
    assert_eq!(s["num_tokens_input-max"], json!(8));
    let std = s["num_tokens_input-std"].as_f64().unwrap();
    assert!((std - 1.5275252316519468).abs() <= 1e-15);
    // Python: mean([3, 3, 3]) == 3 (an int)
    assert_eq!(s["num_tokens_output-average"], json!(3));
    let linear = snapshot_of(StatsConfig::default(), &records, &RunInfo::default());
    // numpy linear by hand (see percentile.rs): p90 of [5, 6, 8] == 7.6, p99 == 7.96
    assert_eq!(linear["num_tokens_input-p90"], json!(7.6));
    assert_eq!(linear["num_tokens_input-p99"], json!(7.96));
    assert_eq!(linear["percentile_method"], json!("linear"));
}

#[test]
fn goodput_and_costs() {
    let config = StatsConfig {
        slo: Some(Slo {
            ttft: Some(0.2),
            ..Default::default()
        }),
        cost: Some(CostModel {
            input_price_per_million: Some(3.0),
            output_price_per_million: Some(15.0),
            endpoint_price_per_hour: Some(7.2),
            ..Default::default()
        }),
        ..StatsConfig::llmeter()
    };
    let records = [
        streamed(100, 500, 100, 10, 0),
        streamed(150, 500, 200, 30, 10),
        streamed(400, 900, 300, 70, 20),
        failed(streamed(100, 300, 50, 5, 30), ErrorKind::Stream),
    ];
    let run = RunInfo {
        total_test_time: Some(61.5),
        ..Default::default()
    };
    let s = snapshot_of(config, &records, &run);
    assert_eq!(s["goodput_requests"], json!(2));
    assert_eq!(s["goodput_rate"], json!(0.5));
    // LLMeter rule: 2 · 60 / 30 s
    assert_eq!(s["goodput_requests_per_minute"], json!(4.0));
    // Python (LLMeter's formulas and summary_stats_from_list, see cost.rs): input costs [0.0003, 0.0006, 0.0009],
    // output costs [0.00015, 0.00045, 0.00105], totals [0.00045, 0.00105, 0.00195] for the successful requests.
    let expected = [
        ("cost_InputTokens_per_request-average", 0.0006),
        ("cost_InputTokens_per_request-p50", 0.0006),
        ("cost_InputTokens_per_request-p90", 0.00108),
        ("cost_InputTokens_per_request-p99", 0.001188),
        ("cost_OutputTokens_per_request-average", 0.0005499999999999999),
        ("cost_OutputTokens_per_request-p50", 0.00045),
        ("cost_OutputTokens_per_request-p90", 0.0014099999999999998),
        ("cost_OutputTokens_per_request-p99", 0.0016259999999999996),
        ("cost_per_request-average", 0.00115),
        ("cost_per_request-p50", 0.00105),
        ("cost_per_request-p90", 0.00249),
        ("cost_per_request-p99", 0.0028139999999999997),
        // ceil(61.5) * 7.2 / 3600; sums include the failed request's 50 input and 5 output tokens;
        // cost_total = 0 + EndpointTime + InputTokens + OutputTokens.
        ("cost_EndpointTime", 0.12400000000000001),
        ("cost_InputTokens", 0.00195),
        ("cost_OutputTokens", 0.001725),
        ("cost_total", 0.127675),
    ];
    let cost_keys: Vec<&str> = s
        .keys()
        .filter(|k| k.starts_with("cost_"))
        .map(String::as_str)
        .collect();
    assert_eq!(cost_keys, expected.iter().map(|(k, _)| *k).collect::<Vec<_>>());
    for (key, want) in expected {
        let got = s[key].as_f64().unwrap();
        // Exact sums and one rounding per operation, as Python: 1 ulp at most.
        assert!(close(got, want, 1e-15), "{key}: {got} != {want}");
    }
    // Without a test time the endpoint cannot be priced, and LLMeter could not total it.
    let endpoint_only = StatsConfig {
        cost: Some(CostModel {
            endpoint_price_per_hour: Some(1.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = snapshot_of(endpoint_only, &records, &RunInfo::default());
    assert!(!s.contains_key("cost_EndpointTime") && !s.contains_key("cost_total"));
}

#[test]
fn full_key_order() {
    let config = StatsConfig {
        slo: Some(Slo::default()),
        cost: Some(CostModel {
            input_price_per_million: Some(1.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut r = streamed(100, 500, 10, 5, 0);
    r.tokens.input_cached = Some(4);
    r.server_latency = crate::record::ServerLatency {
        first_byte: Some(std::time::Duration::from_millis(80)),
        total: Some(std::time::Duration::from_millis(450)),
    };
    let run = RunInfo {
        end_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 1, 0).unwrap()),
        ..Default::default()
    };
    let s = snapshot_of(config, &[r, streamed(200, 600, 10, 5, 10)], &run);
    let run_info =
        "total_requests clients n_requests total_test_time model_id output_path endpoint_name provider \
        run_name run_description start_time first_request_time last_request_time end_time";
    let mut want: Vec<String> = run_info.split_whitespace().map(String::from).collect();
    want.extend(
        [
            "failed_requests",
            "failed_requests_rate",
            "total_input_tokens",
            "total_output_tokens",
        ]
        .map(String::from),
    );
    let main_aggs = ["average", "p50", "p90", "p99"];
    let extra_aggs = [
        "min",
        "max",
        "p95",
        "std",
        "p50-ci_low",
        "p50-ci_high",
        "p90-ci_low",
        "p90-ci_high",
        "p99-ci_low",
        "p99-ci_high",
        "p95-ci_low",
        "p95-ci_high",
    ];
    for m in Metric::LLMETER {
        want.extend(main_aggs.map(|a| format!("{}-{a}", m.key())));
    }
    want.extend(
        [
            "requests_per_minute",
            "average_input_tokens_per_minute",
            "average_output_tokens_per_minute",
            "output_tps",
        ]
        .map(String::from),
    );
    for m in Metric::LLMETER {
        want.extend(extra_aggs.map(|a| format!("{}-{a}", m.key())));
    }
    for m in Metric::ALL.into_iter().filter(|m| !m.is_llmeter()) {
        want.extend(
            main_aggs
                .iter()
                .chain(&extra_aggs)
                .map(|a| format!("{}-{a}", m.key())),
        );
    }
    want.extend(ErrorKind::ALL.map(|k| format!("failed_requests_{}", k.as_str())));
    want.extend(
        [
            "successful_requests",
            "warmup_requests",
            "total_cached_input_tokens",
            "total_reasoning_output_tokens",
            "requests_with_estimated_tokens",
            "percentile_method",
            "rate_window",
            "confidence_level",
            "goodput_requests",
            "goodput_rate",
            "goodput_requests_per_minute",
        ]
        .map(String::from),
    );
    want.extend(main_aggs.map(|a| format!("cost_InputTokens_per_request-{a}")));
    want.extend(main_aggs.map(|a| format!("cost_per_request-{a}")));
    want.extend(["cost_InputTokens", "cost_total"].map(String::from));
    assert_eq!(s.keys().cloned().collect::<Vec<_>>(), want);
}

#[test]
fn percentile_keys_drop_the_trailing_zero() {
    let config = StatsConfig {
        percentiles: vec![50.0, 99.9],
        extra_percentiles: vec![],
        ..Default::default()
    };
    let s = snapshot_of(config, &[streamed(100, 500, 10, 5, 0)], &RunInfo::default());
    assert!(s.contains_key("time_to_first_token-p99.9") && s.contains_key("time_to_first_token-p50"));
}

#[test]
fn typed_queries_and_errors() {
    let bad = StatsConfig {
        percentiles: vec![99.9],
        ..StatsConfig::llmeter()
    };
    assert!(RunningStats::new(bad).is_err());
    let mut stats = RunningStats::new(StatsConfig::default()).unwrap();
    assert_eq!(
        stats.percentile(Metric::TimeToFirstToken, 50.0),
        Err(PercentileError::Empty)
    );
    stats.observe(&streamed(100, 500, 10, 5, 0));
    stats.observe(&streamed(300, 500, 10, 5, 1));
    assert_eq!(stats.percentile(Metric::TimeToFirstToken, 50.0), Ok(0.2));
    let summary = stats.summary(Metric::TimeToFirstToken).unwrap();
    assert_eq!(
        (summary.count, summary.min, summary.max, summary.mean),
        (2, 0.1, 0.3, 0.2)
    );
    assert_eq!(stats.requests(), 2);
    let other = RunningStats::new(StatsConfig {
        slo: Some(Slo::default()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(stats.merge(&other), Err(MergeError::ConfigMismatch));
}

// ---------------------------------------------------------------------------------------------------------
// Properties.

fn arb_record() -> impl Strategy<Value = RequestRecord> {
    (
        0_u8..10,
        0_usize..ErrorKind::ALL.len(),
        prop::option::of(1_u64..400_000),
        0_u64..2_000_000,
        prop::option::of(0_u64..300),
        prop::option::of(0_u64..2_000),
        prop::option::of(0_u64..100),
        0_i64..60_000,
        0_u64..6,
        0_u64..3_000,
    )
        .prop_map(
            |(outcome, kind, ttft_us, tail_us, output, input, cached, sent_ms, chunks, lag_us)| {
                let dispatched = Timestamp::from_micros(1_000 + lag_us);
                let at = |us: u64| Timestamp::from_micros(1_000 + lag_us + us);
                let last = ttft_us.map(|t| t + tail_us);
                let chunk_times = match (ttft_us, last) {
                    (Some(first), Some(last)) if chunks > 0 => (0..=chunks)
                        .map(|c| at(first + (last - first) * c / chunks))
                        .collect(),
                    _ => Vec::new(),
                };
                RequestRecord {
                    request_time: Some(
                        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::milliseconds(sent_ms),
                    ),
                    timing: RequestTiming {
                        scheduled_at: Timestamp::from_micros(1_000),
                        dispatched_at: dispatched,
                        first_token_at: ttft_us.map(at),
                        first_visible_at: ttft_us.map(|t| at(t + 10)),
                        last_token_at: last.map(at),
                        ended_at: at(last.unwrap_or(tail_us) + 5),
                        token_chunk_times: chunk_times,
                        ..Default::default()
                    },
                    tokens: TokenCounts {
                        input,
                        output,
                        input_cached: cached,
                        output_reasoning: cached,
                    },
                    error: (outcome < 2).then(|| RequestError::new(ErrorKind::ALL[kind], "failed")),
                    warmup: outcome == 9,
                    ..Default::default()
                }
            },
        )
}

fn arb_config() -> impl Strategy<Value = StatsConfig> {
    (any::<bool>(), any::<bool>()).prop_map(|(llmeter, intervals)| StatsConfig {
        method: if llmeter {
            PercentileMethod::Llmeter
        } else {
            PercentileMethod::Linear
        },
        rate_window: if intervals {
            RateWindow::Intervals
        } else {
            RateWindow::Llmeter
        },
        slo: Some(Slo {
            ttft: Some(0.2),
            tpot: None,
            ttlt: Some(1.5),
        }),
        cost: Some(CostModel {
            input_price_per_million: Some(0.3),
            output_price_per_million: Some(1.7),
            endpoint_price_per_hour: Some(2.5),
            token_granularity: 3,
            time_granularity_secs: 0.5,
        }),
        ..Default::default()
    })
}

fn test_run() -> RunInfo {
    RunInfo {
        total_test_time: Some(42.25),
        end_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 30).unwrap()),
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Stats of two disjoint record sets, merged, snapshot exactly like the stats of their union.
    #[test]
    fn merge_equals_the_stats_of_the_union(
        config in arb_config(),
        a in prop::collection::vec(arb_record(), 0..40),
        b in prop::collection::vec(arb_record(), 0..40),
        snapshot_a_first in any::<bool>(),
    ) {
        let run = test_run();
        let mut left = RunningStats::new(config.clone()).unwrap();
        a.iter().for_each(|r| left.observe(r));
        if snapshot_a_first {
            left.snapshot(&run);
        }
        let mut right = RunningStats::new(config.clone()).unwrap();
        b.iter().for_each(|r| right.observe(r));
        left.merge(&right).unwrap();
        let all: Vec<RequestRecord> = a.iter().chain(&b).cloned().collect();
        prop_assert_eq!(left.snapshot(&run), snapshot_of(config, &all, &run));
    }

    /// Snapshots taken between observations do not change what the final snapshot says.
    #[test]
    fn interleaved_snapshots_equal_a_one_shot_snapshot(
        config in arb_config(),
        records in prop::collection::vec(arb_record(), 0..60),
        every in 1_usize..8,
    ) {
        let run = test_run();
        let mut stats = RunningStats::new(config.clone()).unwrap();
        for (i, r) in records.iter().enumerate() {
            stats.observe(r);
            if i % every == 0 {
                stats.snapshot(&run);
            }
        }
        prop_assert_eq!(stats.snapshot(&run), snapshot_of(config, &records, &run));
    }
}

#[test]
fn cancelled_requests_are_counted_apart_from_processed_ones() {
    let records = [
        streamed(100, 500, 10, 5, 0),
        failed(streamed(100, 500, 10, 5, 1), ErrorKind::Throttled),
        failed(streamed(100, 500, 10, 5, 2), ErrorKind::Cancelled),
    ];
    let s = snapshot_of(StatsConfig::default(), &records, &RunInfo::default());
    assert_eq!(s["failed_requests"], 1);
    assert_eq!(s["failed_requests_cancelled"], 1);
    assert_eq!(s["successful_requests"], 1);
    assert_eq!(s["failed_requests_rate"], 0.5);
    // The cancelled request's send time does not stretch the send window.
    assert_eq!(s["last_request_time"], "2026-01-01T12:00:01.000000Z");
}

#[test]
fn per_chunk_values_past_the_budget_are_binned_within_the_stated_error() {
    let budget = 1_000;
    let binned_config = StatsConfig {
        chunk_value_budget: Some(budget),
        ..StatsConfig::default()
    };
    let exact_config = StatsConfig {
        chunk_value_budget: None,
        ..StatsConfig::default()
    };
    let mut binned = RunningStats::new(binned_config).unwrap();
    let mut exact = RunningStats::new(exact_config).unwrap();
    // 100 requests of 40 chunks: 3,900 gaps, past the budget of 1,000.
    for i in 0..100u64 {
        let mut at = 100_000;
        let chunks: Vec<Timestamp> = (0..40u64)
            .map(|c| {
                at += 5_000 + (i * 37 + c * 11) % 3_000;
                Timestamp::from_micros(at)
            })
            .collect();
        let record = RequestRecord {
            timing: RequestTiming {
                first_token_at: chunks.first().copied(),
                last_token_at: chunks.last().copied(),
                ended_at: *chunks.last().unwrap(),
                token_chunk_times: chunks,
                ..Default::default()
            },
            tokens: TokenCounts {
                output: Some(40),
                ..Default::default()
            },
            ..Default::default()
        };
        binned.observe(&record);
        exact.observe(&record);
    }
    assert!(binned.is_binned() && !exact.is_binned());
    let (b, e) = (
        binned.snapshot(&RunInfo::default()),
        exact.snapshot(&RunInfo::default()),
    );
    assert_eq!(b["per_chunk_relative_error"], 0.001);
    assert!(e.get("per_chunk_relative_error").is_none());
    for key in [
        "inter_token_latency-p50",
        "inter_token_latency-p90",
        "inter_token_latency-p99",
    ] {
        let (got, want) = (b[key].as_f64().unwrap(), e[key].as_f64().unwrap());
        assert!(
            (got - want).abs() <= want * 1e-3,
            "{key}: binned {got} vs exact {want}"
        );
    }
    // Count, extremes and moments stay exact; per-request metrics are untouched.
    for key in [
        "inter_token_latency-average",
        "inter_token_latency-min",
        "inter_token_latency-max",
        "inter_token_latency-std",
        "time_to_last_token-p99",
    ] {
        assert_eq!(b[key], e[key], "{key}");
    }
}
