//! Other tools' results, from real files those tools wrote against mock-llm (`tests/fixtures/foreign/README.md`):
//! each request becomes a record, the run is recomputed under Tokenmeter's rules, and the tool's own aggregates
//! are kept exactly; bad records are named and left out.

use std::path::PathBuf;

use serde_json::Value;
use tokenmeter::core::format::foreign::{detect, read_foreign, ForeignFile, Tool};

fn fixture(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/foreign")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn formats_are_told_apart_by_content() {
    assert_eq!(
        detect(&fixture("guidellm/benchmarks.json")),
        Some(ForeignFile::GuideLlm)
    );
    assert_eq!(
        detect(&fixture("aiperf/ok/profile_export.jsonl")),
        Some(ForeignFile::AiPerfRecords)
    );
    assert_eq!(
        detect(&fixture("aiperf/ok/profile_export_aiperf.json")),
        Some(ForeignFile::AiPerfAggregates)
    );
    assert_eq!(detect(r#"{"total_requests": 3}"#), None);
    let err = read_foreign(&[("stats.json", r#"{"total_requests": 3}"#)]).unwrap_err();
    assert!(err.starts_with("stats.json: not a file of a known tool"), "{err}");
}

#[test]
fn guidellm_runs_keep_its_own_numbers_exactly_beside_tokenmeter_s() {
    let text = fixture("guidellm/benchmarks.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let runs = read_foreign(&[("benchmarks.json", &text)]).unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (run.tool, run.version.as_deref()),
        (Tool::GuideLlm, Some("0.8.1"))
    );
    assert_eq!(run.records.len(), 30);
    assert!(run.bad.is_empty(), "{:?}", run.bad);
    let own = run.own_stats();
    let ttft = &doc["benchmarks"][0]["metrics"]["time_to_first_token_ms"]["successful"]["percentiles"];
    for p in ["p50", "p99"] {
        let theirs = ttft[p].as_f64().unwrap() / 1e3;
        let ours = own[&format!("time_to_first_token-{p}")].as_f64().unwrap();
        assert!(close(ours, theirs, 1e-9), "{p}: {ours} vs GuideLLM's {theirs}");
    }
    // Recomputed from its requests under Tokenmeter's rules: the same medians within a millisecond (linear
    // interpolation against GuideLLM's own percentile method), and every request counted.
    let ours = run.recomputed();
    assert_eq!(ours["total_requests"], 30);
    let recomputed = ours["time_to_first_token-p50"].as_f64().unwrap();
    assert!(
        close(recomputed, own["time_to_first_token-p50"].as_f64().unwrap(), 1e-3),
        "{recomputed}"
    );
    assert_eq!(ours["num_tokens_output-p50"].as_f64(), Some(16.0));
    // The folder it is kept as reads back.
    let files = run.files(&ours);
    assert!(files
        .iter()
        .any(|(name, text)| name == "responses.jsonl" && text.lines().count() == 30));
}

#[test]
fn guidellm_errored_requests_are_records_of_their_kind() {
    let text = fixture("guidellm/benchmarks-with-errors.json");
    let run = &read_foreign(&[("benchmarks.json", &text)]).unwrap()[0];
    let ours = run.recomputed();
    assert_eq!(ours["total_requests"], 20);
    assert_eq!(ours["failed_requests"], 8);
    assert_eq!(ours["failed_requests_timeout"], 8, "ReadTimeout is a timeout");
}

#[test]
fn aiperf_records_with_its_aggregates_match_them_and_errors_are_kept_apart() {
    let records = fixture("aiperf/ok/profile_export.jsonl");
    let aggregates = fixture("aiperf/ok/profile_export_aiperf.json");
    let doc: Value = serde_json::from_str(&aggregates).unwrap();
    let runs = read_foreign(&[
        ("profile_export.jsonl", &records),
        ("profile_export_aiperf.json", &aggregates),
    ])
    .unwrap();
    let run = &runs[0];
    assert_eq!((run.tool, run.version.as_deref()), (Tool::AiPerf, Some("0.13.0")));
    assert_eq!(run.records.len(), 30);
    let own = run.own_stats();
    for p in ["p50", "p99"] {
        let theirs = doc["time_to_first_token"][p].as_f64().unwrap() / 1e3;
        let ours = own[&format!("time_to_first_token-{p}")].as_f64().unwrap();
        assert!(close(ours, theirs, 1e-9), "{p}: {ours} vs AIPerf's {theirs}");
    }
    // AIPerf's own p50 uses linear interpolation as Tokenmeter's does: recomputed, it agrees to the nanosecond.
    let ours = run.recomputed();
    assert!(close(
        ours["time_to_first_token-p50"].as_f64().unwrap(),
        own["time_to_first_token-p50"].as_f64().unwrap(),
        1e-6
    ));
    // Its inter-chunk gaps are the recomputed inter-token latencies, chunk by chunk: 15 per request.
    assert!(run.records.iter().all(|r| r.timing.token_chunk_times.len() == 16));

    let records = fixture("aiperf/errors/profile_export.jsonl");
    let run = &read_foreign(&[("profile_export.jsonl", &records)]).unwrap()[0];
    let ours = run.recomputed();
    assert_eq!(ours["total_requests"], 20);
    assert_eq!(
        ours["failed_requests_timeout"], 6,
        "AIPerf's TimeoutError records"
    );
    assert!(
        run.own_stats().get("time_to_first_token-p50").is_none(),
        "no aggregates file, no own numbers"
    );
}

#[test]
fn a_bad_record_is_named_and_the_good_ones_kept() {
    let mut records = fixture("aiperf/ok/profile_export.jsonl");
    records.push_str("{not json\n");
    records.push_str("{\"metadata\": {\"request_start_ns\": 1}, \"metrics\": {}}\n");
    let run = &read_foreign(&[("profile_export.jsonl", &records)]).unwrap()[0];
    assert_eq!(run.records.len(), 30);
    assert_eq!(run.bad.len(), 2, "{:?}", run.bad);
    assert!(
        run.bad[0].starts_with("profile_export.jsonl line 31: not JSON"),
        "{:?}",
        run.bad
    );
    assert!(
        run.bad[1].contains("line 32: a successful request without time_to_first_token"),
        "{:?}",
        run.bad
    );
}

#[test]
fn vllm_bench_serve_keeps_its_percentiles_exactly_and_recomputes_them_the_same() {
    let text = fixture("vllm/vllm-bench-serve.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(detect(&text), Some(ForeignFile::VllmBench));
    let run = &read_foreign(&[("vllm-bench-serve.json", &text)]).unwrap()[0];
    assert_eq!(run.tool, Tool::VllmBench);
    assert_eq!(run.records.len(), 30);
    let own = run.own_stats();
    for p in ["p50", "p99"] {
        let theirs = doc[format!("{p}_ttft_ms")].as_f64().unwrap() / 1e3;
        let ours = own[&format!("time_to_first_token-{p}")].as_f64().unwrap();
        assert!(close(ours, theirs, 1e-9), "{p}: {ours} vs vLLM's {theirs}");
    }
    // vLLM's percentiles are numpy's linear, as Tokenmeter's: recomputed from its ttfts, they agree.
    let ours = run.recomputed();
    for p in ["p50", "p99"] {
        let (a, b) = (
            ours[&format!("time_to_first_token-{p}")].as_f64().unwrap(),
            own[&format!("time_to_first_token-{p}")].as_f64().unwrap(),
        );
        assert!(close(a, b, 1e-6), "{p}: recomputed {a}, vLLM {b}");
    }
    // Its per-gap ITLs are the records' chunk gaps: 16 chunks a request.
    assert!(run.records.iter().all(|r| r.timing.token_chunk_times.len() == 16));

    let failed = fixture("vllm/vllm-bench-serve-all-failed.json");
    let run = &read_foreign(&[("failed.json", &failed)]).unwrap()[0];
    let ours = run.recomputed();
    assert_eq!(
        (ours["total_requests"].as_u64(), ours["failed_requests"].as_u64()),
        (Some(10), Some(10))
    );
}
