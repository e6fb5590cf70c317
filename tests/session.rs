//! A whole Run press as the engine's worker runs it (`engine::session`), natively on a manual clock: the
//! messages the page receives, the cold-start check, a sweep, and Stop.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::LocalBoxFuture;
use tokenmeter::core::format::ClockInfo;
use tokenmeter::core::input::RawInput;
use tokenmeter::core::record::RequestError;
use tokenmeter::engine::remote::{Ending, FinishedRun, FromEngine, RunRequest};
use tokenmeter::engine::session::{run_session, ClientProfile, Controls, Runtime, SNAPSHOT_EVERY};
use tokenmeter::engine::target::{Credentials, Target};
use tokenmeter::engine::testing::{run_to_completion, ManualClock};
use tokenmeter::engine::{Clock, HttpResponse, Transport};
use tokenmeter::protocol::HttpRequest;

use crate::util::{millis, Script, ScriptedTransport};

const KEY: &str = "sk-session-secret";

/// The manual clock, and one scripted HTTP server shared by every run of the session.
struct TestRuntime {
    clock: ManualClock,
    http: Rc<ScriptedTransport>,
}

struct SharedHttp(Rc<ScriptedTransport>);

impl Transport for SharedHttp {
    fn send(&self, request: HttpRequest) -> LocalBoxFuture<'static, Result<HttpResponse, RequestError>> {
        self.0.send(request)
    }
}

impl Runtime for TestRuntime {
    type Clock = ManualClock;
    type Http = SharedHttp;

    fn clock(&self) -> ManualClock {
        self.clock.clone()
    }

    fn http(&self, _clock: &ManualClock) -> SharedHttp {
        SharedHttp(self.http.clone())
    }

    fn clock_info(&self) -> Option<ClockInfo> {
        Some(ClockInfo {
            cross_origin_isolated: true,
            timer_resolution_us: 5.0,
        })
    }

    fn platform_now_ms(&self) -> f64 {
        self.clock.now().as_nanos() as f64 / 1e6
    }

    fn profile(&self) -> ClientProfile {
        ClientProfile::BROWSER
    }
}

fn runtime(scripts: Vec<Script>) -> TestRuntime {
    let clock = ManualClock::new();
    let http = Rc::new(ScriptedTransport::new(&clock, scripts));
    TestRuntime { clock, http }
}

/// The request the page would post for these query parameters (payloads built as the page builds them).
fn request(pairs: &[(&str, &str)]) -> RunRequest {
    let raw = RawInput::from_pairs(pairs.iter().copied());
    let input = raw.parse().unwrap();
    let credentials = Credentials {
        api_key: Some(KEY.into()),
        aws: None,
    };
    let target = Target::with_prompt(&input.target, &input.prompt, input.max_tokens, &credentials).unwrap();
    RunRequest {
        settings: raw,
        payloads: target.payloads().to_vec(),
        schedule: Default::default(),
        tokenizer_json: None,
        credentials,
        seed: 7,
        default_name: "run-1".into(),
        clock_offset_ms: None,
        tap_records: false,
        records_leave: false,
        store_cap_bytes: None,
    }
}

/// Runs the session to its end; returns every message, in order.
fn session(runtime: &TestRuntime, request: RunRequest, controls: &Controls) -> Vec<FromEngine> {
    let messages = RefCell::new(Vec::new());
    let emit = |m: FromEngine| messages.borrow_mut().push(m);
    run_to_completion(&runtime.clock, run_session(runtime, request, controls, &emit)).unwrap();
    messages.into_inner()
}

/// Runs the session to its end, pressing Stop once the page has seen `snapshots` snapshots; returns every message.
fn session_stopped_after(runtime: &TestRuntime, request: RunRequest, snapshots: usize) -> Vec<FromEngine> {
    let controls = Controls::default();
    let messages = RefCell::new(Vec::new());
    let emit = |m: FromEngine| {
        let seen = messages
            .borrow()
            .iter()
            .filter(|m| matches!(m, FromEngine::Snapshot { .. }))
            .count();
        if seen == snapshots {
            controls.cancel.cancel();
        }
        messages.borrow_mut().push(m);
    };
    run_to_completion(&runtime.clock, run_session(runtime, request, &controls, &emit)).unwrap();
    messages.into_inner()
}

fn ended(messages: &[FromEngine]) -> (Ending, String) {
    match messages.last() {
        Some(FromEngine::Ended { ending, message }) => (*ending, message.clone()),
        other => panic!("a session ends with Ended, not {other:?}"),
    }
}

fn finished_runs(messages: &[FromEngine]) -> Vec<&FinishedRun> {
    messages
        .iter()
        .filter_map(|m| match m {
            FromEngine::RunEnded { run } => Some(run.as_ref()),
            _ => None,
        })
        .collect()
}

fn file<'a>(run: &'a FinishedRun, name: &str) -> &'a str {
    &run.files.iter().find(|(n, _)| n == name).unwrap().1
}

/// A run's per-request lines, each as JSON, with its `tokenmeter_responses.jsonl` extras beside it.
fn request_lines(run: &FinishedRun) -> Vec<(serde_json::Value, serde_json::Value)> {
    let parse = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap();
    let lines = file(run, "responses.jsonl").lines().map(parse);
    lines
        .zip(file(run, "tokenmeter_responses.jsonl").lines().map(parse))
        .collect()
}

#[test]
fn a_simulated_run_reports_snapshots_at_least_four_times_a_second_then_its_files() {
    let rt = runtime(vec![Script::taking(millis(1))]);
    let messages = session(
        &rt,
        request(&[("clients", "2"), ("requests", "20")]),
        &Controls::default(),
    );
    assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
    assert!(matches!(&messages[0], FromEngine::RunStarted { run_name } if run_name == "run-1"));
    let snapshots: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            FromEngine::Snapshot { snapshot } => Some(snapshot),
            _ => None,
        })
        .collect();
    let runs = finished_runs(&messages);
    assert_eq!(runs.len(), 1);
    let duration = runs[0].stats["total_test_time"].as_f64().unwrap();
    // One per SNAPSHOT_EVERY while the run went on, and a last one at its end.
    let expected = (duration / SNAPSHOT_EVERY.as_secs_f64()).floor() as usize;
    assert!(duration > 1.0, "the simulated model takes seconds: {duration}");
    assert!(
        snapshots.len() >= expected,
        "{} snapshots in {duration} s",
        snapshots.len()
    );
    let last = snapshots.last().unwrap();
    assert_eq!(last.progress.finished, 40);
    assert!(last.progress.done);
    assert_eq!(last.bar.fraction, 1.0);
    assert!(snapshots.windows(2).all(|w| w[0].taken_at_ms <= w[1].taken_at_ms));
    // The live over-time figures' data: every finished request, per second.
    assert_eq!(last.timeline.total().ok, 40);
    assert!(snapshots[snapshots.len() / 2].timeline.total().ok < 40);
    // The simulated model is never checked: there is no origin to warm.
    assert!(!messages.iter().any(|m| matches!(m, FromEngine::Checked { .. })));
    let names: Vec<_> = runs[0].files.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["stats.json", "responses.jsonl", "run_config.json", "summary.json"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let config: serde_json::Value = serde_json::from_str(file(runs[0], "run_config.json")).unwrap();
    assert_eq!(config["tokenmeter_clock"]["timer_resolution_us"], 5.0);
    assert_eq!(config["tokenmeter_input"]["clients"], "2");
    assert!(config.get("tokenmeter_check").is_none());
    for (name, text) in &runs[0].files {
        assert!(!text.contains(KEY), "{name} holds the key");
    }
}

#[test]
fn the_cold_start_check_is_sent_untimed_before_the_run_and_recorded() {
    let fast = Script::taking(millis(20));
    let rt = runtime(vec![
        Script::taking(millis(300)),
        fast.clone(),
        fast.clone(),
        fast,
    ]);
    let messages = session(
        &rt,
        request(&[
            ("url", "http://127.0.0.1:9/v1"),
            ("clients", "1"),
            ("requests", "3"),
        ]),
        &Controls::default(),
    );
    assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
    let check = messages
        .iter()
        .find_map(|m| match m {
            FromEngine::Checked { check } => Some(check),
            _ => None,
        })
        .expect("a check was reported");
    assert!(check.ok);
    assert_eq!(check.origin, "http://127.0.0.1:9");
    assert!((check.duration_secs - 0.3).abs() < 1e-6, "{check:?}");
    // 1 check + 3 timed requests went out; the check is not among the run's requests or statistics.
    assert_eq!(rt.http.requests().len(), 4);
    let run = finished_runs(&messages)[0];
    assert_eq!(run.stats["total_requests"], 3);
    let p99 = run.stats["time_to_last_token-p99"].as_f64().unwrap();
    assert!(p99 < 0.1, "the 300 ms check must not be timed: {p99}");
    let config: serde_json::Value = serde_json::from_str(file(run, "run_config.json")).unwrap();
    assert_eq!(config["tokenmeter_check"]["ok"], true);
    assert_eq!(config["tokenmeter_check"]["http_status"], 200);
}

#[test]
fn a_failed_check_stops_the_run_with_its_reason_and_sends_nothing_else() {
    let rt = runtime(vec![Script::status(401, millis(5))]);
    let messages = session(
        &rt,
        request(&[("url", "http://127.0.0.1:9/v1"), ("requests", "5")]),
        &Controls::default(),
    );
    let (ending, message) = ended(&messages);
    assert_eq!(ending, Ending::Failed);
    assert!(
        message.contains("HTTP 401") && message.contains("credentials"),
        "{message}"
    );
    assert!(finished_runs(&messages).is_empty());
    assert_eq!(rt.http.requests().len(), 1);
}

#[test]
fn the_check_can_be_turned_off() {
    let rt = runtime(vec![Script::taking(millis(5))]);
    let messages = session(
        &rt,
        request(&[
            ("url", "http://127.0.0.1:9/v1"),
            ("clients", "1"),
            ("requests", "2"),
            ("check", "false"),
        ]),
        &Controls::default(),
    );
    assert_eq!(ended(&messages).0, Ending::Done);
    assert!(!messages.iter().any(|m| matches!(m, FromEngine::Checked { .. })));
    assert_eq!(rt.http.requests().len(), 2);
}

#[test]
fn a_sweep_reports_every_level_as_its_own_run() {
    let rt = runtime(vec![Script::taking(millis(1))]);
    let messages = session(
        &rt,
        request(&[
            ("sweep", "1,2,4"),
            ("requests", "2"),
            ("sim_ttft", "fixed:0.01"),
            ("sim_tokens", "fixed:3"),
        ]),
        &Controls::default(),
    );
    assert_eq!(ended(&messages).0, Ending::Done);
    let names: Vec<_> = finished_runs(&messages)
        .iter()
        .map(|r| r.run_name.clone())
        .collect();
    assert_eq!(names, ["00001-clients", "00002-clients", "00004-clients"]);
}

#[test]
fn stop_ends_the_session_as_stopped_with_the_partial_run() {
    let rt = runtime(vec![Script::taking(millis(1))]);
    // Stop once the page has seen a few snapshots.
    let request = request(&[("mode", "rate"), ("rate", "5"), ("duration", "600")]);
    let messages = session_stopped_after(&rt, request, 3);
    assert_eq!(ended(&messages).0, Ending::Stopped);
    let run = finished_runs(&messages)[0];
    assert!(run.summary.contains("stopped"), "{}", run.summary);
    assert!(rt.clock.now().secs_since(Default::default()) < 5.0);
}

#[test]
fn a_hidden_tab_flags_the_run_as_client_affected() {
    let rt = runtime(vec![Script::taking(millis(1))]);
    let controls = Controls::default();
    controls.hidden.set(true);
    let messages = session(&rt, request(&[("clients", "1"), ("requests", "5")]), &controls);
    let run = finished_runs(&messages)[0];
    let config: serde_json::Value = serde_json::from_str(file(run, "run_config.json")).unwrap();
    assert!(
        config["tokenmeter_page"]["hidden_secs"].as_f64().unwrap() > 0.0,
        "{config}"
    );
}

#[test]
fn messages_cross_the_boundary_as_json_and_keep_no_key_in_debug() {
    let request = request(&[("requests", "1")]);
    assert!(!format!("{request:?}").contains(KEY));
    let start = tokenmeter::engine::remote::ToEngine::Start {
        request: Box::new(request),
    };
    let back = tokenmeter::engine::remote::ToEngine::from_json(&start.to_json()).unwrap();
    assert_eq!(back, start);
    assert!(tokenmeter::engine::remote::FromEngine::from_json("{\"kind\":\"nonsense\"}").is_err());
    // The settings cross typed: an object of texts, or the message is refused.
    let json = start
        .to_json()
        .replace("\"settings\":{", "\"settings\":[{")
        .replacen("},\"payloads\"", "}],\"payloads\"", 1);
    assert!(
        tokenmeter::engine::remote::ToEngine::from_json(&json).is_err(),
        "{json}"
    );
}

/// r18-9: an empty Timeout is LLMeter's 60 s, never none, so a time-bound run against a server that never answers
/// ends within its duration plus the timeout, its stragglers counted as timeouts.
#[test]
fn r18_9_a_time_bound_run_ends_within_duration_plus_the_default_timeout() {
    let rt = runtime(vec![Script::taking(millis(100_000_000))]);
    let messages = session(
        &rt,
        request(&[
            ("endpoint", "http"),
            ("url", "http://127.0.0.1:9/v1"),
            ("check", "false"),
            ("clients", "3"),
            ("requests", ""),
            ("duration", "2"),
            ("timeout", ""),
        ]),
        &Controls::default(),
    );
    assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
    let run = finished_runs(&messages)[0];
    let took = run.stats["total_test_time"].as_f64().unwrap();
    assert!(took <= 2.0 + 60.0 + 0.01, "the run held on for {took} s");
    assert_eq!(run.stats["failed_requests_timeout"], 3, "{:?}", run.stats);
}

/// r22: records leave the engine with the snapshots, which the worker stores batch by batch. Every dispatched
/// request is stored exactly once (none lost at a batch boundary or at Stop, none twice), the finished run's
/// files leave the per-request files to the store, and statistics folded from the stored batches equal the live
/// ones to 1e-9.
#[test]
fn r22_records_leave_in_batches_each_stored_once_and_their_statistics_equal_the_live_ones() {
    use tokenmeter::core::checkpoint::RecordFold;
    use tokenmeter::core::format::stats_config_for;
    let rt = runtime(vec![Script::taking(millis(30))]);
    let mut request = request(&[
        ("url", "http://127.0.0.1:9/v1"),
        ("mode", "rate"),
        ("rate", "97"),
        ("duration", "600"),
        ("requests", "10000"),
        ("check", "false"),
    ]);
    request.records_leave = true;
    // Stop mid-run, with requests in flight: the cancelled ones must be stored too.
    let messages = session_stopped_after(&rt, request, 12);
    assert_eq!(ended(&messages).0, Ending::Stopped, "{:?}", ended(&messages));
    let batches: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            FromEngine::Snapshot { snapshot } => snapshot.records.clone(),
            _ => None,
        })
        .collect();
    assert!(batches.len() >= 10, "{} batches", batches.len());
    let last = messages
        .iter()
        .rev()
        .find_map(|m| match m {
            FromEngine::Snapshot { snapshot } => Some(snapshot.progress),
            _ => None,
        })
        .unwrap();
    assert!(last.cancelled > 0, "Stop cancelled requests in flight: {last:?}");
    // The worker stores a snapshot's batch in parts of a bounded number of lines: the parts are the batch.
    for batch in &batches {
        let parts = batch.split(5);
        assert_eq!(
            parts.iter().map(|p| p.0.as_str()).collect::<String>(),
            batch.responses
        );
        assert_eq!(
            parts.iter().map(|p| p.1.as_str()).collect::<String>(),
            batch.extras
        );
        assert!(parts
            .iter()
            .all(|(r, x)| r.lines().count() <= 5 && r.lines().count() == x.lines().count()));
    }
    // Each record once: every request's own instants (`timing_ns`: sent, first and last byte) are unique, as
    // many as were sent, and each batch's two files line up.
    let mut ids = std::collections::HashSet::new();
    for batch in &batches {
        assert_eq!(batch.responses.lines().count(), batch.extras.lines().count());
        for line in batch.extras.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(ids.insert(value["timing_ns"].to_string()), "stored twice: {line}");
        }
    }
    assert_eq!(
        ids.len() as u64,
        last.sent,
        "every dispatched request stored once"
    );
    let run = finished_runs(&messages)[0];
    let names: Vec<_> = run.files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        !names.contains(&"responses.jsonl") && !names.contains(&"tokenmeter_responses.jsonl"),
        "the store holds the records, not the files: {names:?}"
    );
    // The same statistics from the stored batches as live.
    let mut fold = RecordFold::new(stats_config_for(Some(&run.stats), None)).unwrap();
    for batch in &batches {
        fold.add(&batch.responses, &batch.extras).unwrap();
    }
    assert_eq!(fold.lines(), last.sent);
    let info = tokenmeter::core::format::run_info_from_stats(&run.stats).unwrap();
    let folded = fold.snapshot(&info);
    let mut compared = 0;
    for (key, live) in &run.stats {
        let (Some(live), Some(stored)) = (live.as_f64(), folded.get(key).and_then(|v| v.as_f64())) else {
            continue;
        };
        assert!(
            (live - stored).abs() <= 1e-9 * live.abs().max(1.0),
            "{key}: live {live}, from the store {stored}"
        );
        compared += 1;
    }
    assert!(compared > 20, "only {compared} keys compared");
    // The engine built the run's figure data as the records left: the same as from the stored batches.
    let built = run
        .figure_data
        .clone()
        .expect("figure data of a run whose records left");
    let mut from_store = tokenmeter::charts::BatchFigures::new(&run.stats);
    for batch in &batches {
        from_store.add(&batch.responses, &batch.extras).unwrap();
    }
    assert_eq!(built, from_store.finish());
    assert_eq!(
        built.ttft.len() as u64 + built.failed(),
        last.finished - last.cancelled
    );
}

/// Adaptive stop (issue 20): at a fixed rate against a steady simulated model, `stop_when` ends the run long
/// before its request limit, once the interval of the rule's percentile is narrow enough, and the run says why.
/// With a limit that comes first, the limit ends it.
#[test]
fn r20_adaptive_stop_ends_a_steady_run_once_its_interval_is_met_and_never_before() {
    let steady = [
        ("mode", "rate"),
        ("rate", "50"),
        ("clients", "100"),
        ("sim_ttft", "lognormal:0.35,0.3"),
        ("sim_tokens", "fixed:8"),
        ("stop_when", "time_to_first_token-p50:5%"),
    ];
    let rt = runtime(vec![Script::taking(millis(1))]); // unused: the simulated model answers
    let with = |requests: &'static str| {
        let mut pairs = steady.to_vec();
        pairs.push(("requests", requests));
        pairs
    };
    let messages = session(&rt, request(&with("5000")), &Controls::default());
    assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
    let run = finished_runs(&messages)[0];
    let stats = &run.stats;
    assert_eq!(stats["stop_reason"], "interval_met", "{stats:?}");
    let total = stats["total_requests"].as_u64().unwrap();
    // About 1.96·0.5 / (σ√(2π))² ≈ 220 values are needed; 5 snapshots a second at 50 requests a second, plus
    // those in flight, overshoot by little.
    assert!((150..1000).contains(&total), "stopped after {total} requests");
    eprintln!("adaptive stop after {total} requests: {}", stats["stop_detail"]);
    let (p50, low, high) = (
        stats["time_to_first_token-p50"].as_f64().unwrap(),
        stats["time_to_first_token-p50-ci_low"].as_f64().unwrap(),
        stats["time_to_first_token-p50-ci_high"].as_f64().unwrap(),
    );
    assert!(low <= p50 && p50 <= high);
    // Judged however the requests in flight would turn out, so the final interval meets the rule too.
    let detail = &stats["stop_detail"];
    assert!(
        (high - low) / 2.0 / p50 <= 0.05,
        "[{low}, {high}] around {p50}: {detail}, {total}"
    );
    assert!(stats["stop_detail"]
        .as_str()
        .unwrap()
        .contains("time_to_first_token-p50 "));
    assert!(
        ended(&messages).1.contains("Stopped early, precise enough"),
        "{:?}",
        ended(&messages)
    );

    let messages = session(&rt, request(&with("100")), &Controls::default());
    let stats = &finished_runs(&messages)[0].stats;
    assert_eq!(stats["stop_reason"], "limit");
    assert_eq!(stats["total_requests"], 100);
    let (low, high) = (
        stats["time_to_first_token-p50-ci_low"].as_f64().unwrap(),
        stats["time_to_first_token-p50-ci_high"].as_f64().unwrap(),
    );
    let p50 = stats["time_to_first_token-p50"].as_f64().unwrap();
    assert!(
        (high - low) / 2.0 / p50 > 0.05,
        "100 values are not enough for ±5%: [{low}, {high}]"
    );
}

/// Cancellation injection (issue 19): `cancel=30%@50ms` aborts about 30% of the requests on purpose, 50 ms after
/// each was sent. They are counted apart (`failed_requests_cancelled_by_design`), neither failures nor successes,
/// with their partial timings kept; `cancel=50%@5tokens` aborts once 5 output chunks have arrived. The counts add
/// up: sent = succeeded + failed + cancelled by design.
#[test]
fn r19_cancellation_injection_aborts_its_share_on_purpose_and_the_counts_add_up() {
    let rt = runtime(vec![Script::taking(millis(1))]); // unused: the simulated model answers
    let slow = [
        ("clients", "8"),
        ("requests", "50"),
        ("sim_ttft", "fixed:0.02"),
        ("sim_itl", "fixed:0.01"),
        ("sim_tokens", "fixed:40"),
    ];
    let with = |cancel: &'static str| {
        let mut pairs = slow.to_vec();
        pairs.push(("cancel", cancel));
        pairs
    };
    for (cancel, share) in [("30%@50ms", 0.3), ("50%@5tokens", 0.5)] {
        let messages = session(&rt, request(&with(cancel)), &Controls::default());
        assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
        let run = finished_runs(&messages)[0];
        let stats = &run.stats;
        let by_design = stats["failed_requests_cancelled_by_design"].as_u64().unwrap();
        let (ok, failed) = (
            stats["successful_requests"].as_u64().unwrap(),
            stats["failed_requests"].as_u64().unwrap(),
        );
        assert_eq!(
            ok + failed + by_design,
            400,
            "{cancel}: sent = succeeded + failed + cancelled by design"
        );
        assert_eq!(failed, 0, "{cancel}: none is a failure");
        let expected = 400.0 * share;
        assert!(
            (by_design as f64 - expected).abs() < 60.0,
            "{cancel}: {by_design} of 400"
        );
        assert_eq!(
            stats["total_requests"].as_u64().unwrap(),
            ok,
            "{cancel}: not among the processed requests"
        );
        // Their partial timings are kept in the per-request files (the two files go line for line).
        let cancelled: Vec<serde_json::Value> = request_lines(run)
            .into_iter()
            .filter(|(_, x)| x["error_kind"] == "cancelled_by_design")
            .map(|(r, _)| r)
            .collect();
        assert_eq!(cancelled.len() as u64, by_design, "{cancel}");
        assert!(
            cancelled
                .iter()
                .all(|r| r["time_to_first_token"].as_f64().is_some_and(|t| t > 0.0)),
            "{cancel}: each kept its first token's time"
        );
        assert!(
            ended(&messages)
                .1
                .contains(&format!("{by_design} cancelled by design")),
            "{:?}",
            ended(&messages)
        );
    }
}

#[test]
fn r19_a_trace_replays_at_its_own_times_scaled_by_its_speed_with_prompts_of_its_lengths() {
    use tokenmeter::core::trace::Trace;
    let rt = runtime(vec![Script::taking(millis(1))]); // unused: the simulated model answers
    let trace = Trace::parse(
        "{\"timestamp\": 1000, \"input_length\": 600, \"output_length\": 7, \"hash_ids\": [4, 5]}\n\
         {\"timestamp\": 1100, \"input_length\": 520, \"output_length\": 9, \"hash_ids\": [4, 6]}\n\
         {\"timestamp\": 1100, \"input_length\": 3, \"output_length\": 2}\n\
         {\"timestamp\": 1250, \"input_length\": 40, \"output_length\": 5}\n\
         {\"timestamp\": 2000, \"input_length\": 8, \"output_length\": 3}\n",
    )
    .unwrap();
    let pairs = [
        ("mode", "trace"),
        ("trace", "t.jsonl"),
        ("trace_speed", "2"),
        ("clients", "16"),
        ("sim_ttft", "fixed:0.02"),
        ("sim_itl", "fixed:0.001"),
    ];
    let raw = RawInput::from_pairs(pairs);
    let input = raw.parse().unwrap();
    let credentials = Credentials::default();
    let prompts = trace.prompts(7);
    let target = Target::for_input(&input, None, Some(&prompts), None, &credentials, 7).unwrap();
    let request = RunRequest {
        schedule: trace.schedule(input.trace_speed),
        ..request(&pairs)
    };
    let request = RunRequest {
        payloads: target.payloads().to_vec(),
        ..request
    };
    let messages = session(&rt, request, &Controls::default());
    assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
    let run = finished_runs(&messages)[0];
    let (lines, extras): (Vec<_>, Vec<_>) = request_lines(run).into_iter().unzip();
    assert_eq!(lines.len(), 5, "every row is sent once");
    // When each was due, from the run's origin, in ms; and what it sent.
    let mut sent: Vec<(f64, usize, u64, f64)> = lines
        .iter()
        .zip(&extras)
        .map(|(r, x)| {
            let t = &x["timing_ns"];
            let due = (t["dispatched_at"].as_i64().unwrap() + t["scheduled"].as_i64().unwrap()) as f64 / 1e6;
            let body = &r["input_payload"];
            let words = body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count();
            let limit = body["max_tokens"]
                .as_u64()
                .or(body["max_completion_tokens"].as_u64())
                .unwrap();
            (due, words, limit, x["schedule_lag"].as_f64().unwrap())
        })
        .collect();
    sent.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let first = sent[0].0;
    let due: Vec<f64> = sent.iter().map(|s| ((s.0 - first) * 1e3).round() / 1e3).collect();
    assert_eq!(due, [0.0, 50.0, 50.0, 125.0, 500.0], "the trace's gaps, halved");
    let shapes: Vec<(usize, u64)> = sent.iter().map(|s| (s.1, s.2)).collect();
    assert_eq!(shapes, [(600, 7), (3, 2), (520, 9), (40, 5), (8, 3)]);
    assert!(
        sent.iter().all(|s| s.3 < 0.001),
        "no lag on a manual clock: {sent:?}"
    );
    let plan =
        &serde_json::from_str::<serde_json::Value>(file(run, "run_config.json")).unwrap()["tokenmeter_plan"];
    assert_eq!(plan["arrival"]["mode"], "trace");
    assert_eq!(plan["arrival"]["requests"], 5);
}

#[test]
fn r19_a_trace_replay_without_its_schedule_says_to_pick_the_file() {
    let rt = runtime(vec![Script::taking(millis(1))]);
    let messages = session(
        &rt,
        request(&[("mode", "trace"), ("trace", "t.jsonl")]),
        &Controls::default(),
    );
    let (ending, message) = ended(&messages);
    assert_eq!(ending, Ending::Failed);
    assert!(message.contains("pick the trace file"), "{message}");
}

#[test]
fn r19_a_multi_turn_run_sends_each_conversation_so_far_after_a_think_time() {
    let rt = runtime(vec![Script::taking(millis(1))]); // unused: the simulated model answers
    let pairs = [
        ("clients", "2"),
        ("requests", "6"),
        ("turns", "3"),
        ("think_time", "fixed:0.5"),
        ("sim_ttft", "fixed:0.02"),
        ("sim_itl", "fixed:0.001"),
        ("sim_tokens", "fixed:5"),
    ];
    let messages = session(&rt, request(&pairs), &Controls::default());
    assert_eq!(ended(&messages).0, Ending::Done, "{:?}", ended(&messages));
    let run = finished_runs(&messages)[0];
    let (lines, extras): (Vec<_>, Vec<_>) = request_lines(run).into_iter().unzip();
    assert_eq!(lines.len(), 12);
    let mut by_conversation: std::collections::BTreeMap<
        u64,
        Vec<(u64, &serde_json::Value, &serde_json::Value)>,
    > = Default::default();
    for (line, x) in lines.iter().zip(&extras) {
        let conversation = x["conversation"]
            .as_u64()
            .expect("every record names its conversation");
        by_conversation
            .entry(conversation)
            .or_default()
            .push((x["turn"].as_u64().unwrap(), line, x));
    }
    assert_eq!(by_conversation.len(), 4, "2 clients × 2 conversations of 3 turns");
    for turns in by_conversation.values_mut() {
        turns.sort_by_key(|t| t.0);
        assert_eq!(turns.iter().map(|t| t.0).collect::<Vec<_>>(), [0, 1, 2]);
        for k in 0..3 {
            let sent = turns[k].1["input_payload"]["messages"].as_array().unwrap();
            assert_eq!(sent.len(), 2 * k + 1, "turn {k} carries the earlier turns");
            for j in 0..k {
                assert_eq!(sent[2 * j + 1]["role"], "assistant");
                assert_eq!(
                    sent[2 * j + 1]["content"],
                    turns[j].1["response_text"],
                    "turn {k} sends turn {j}'s real answer"
                );
            }
        }
        // Each later turn is sent at least the think time after the turn before it ended.
        let at = |x: &serde_json::Value, key: &str| {
            let t = &x["timing_ns"];
            t["dispatched_at"].as_i64().unwrap()
                + if key == "ended" {
                    t["ended"].as_i64().unwrap()
                } else {
                    0
                }
        };
        for k in 1..3 {
            let gap = at(turns[k].2, "dispatched") - at(turns[k - 1].2, "ended");
            assert!((500_000_000..520_000_000).contains(&gap), "think time {gap} ns");
        }
    }
    // stats.json stays LLMeter's shape: no per-turn keys.
    assert!(
        run.stats.keys().all(|k| !k.contains("turn")),
        "{:?}",
        run.stats.keys()
    );
}

#[test]
fn r19_multi_turn_needs_the_closed_loop_and_a_message_list() {
    let e = RawInput::from_pairs([("turns", "3"), ("mode", "rate")])
        .parse()
        .unwrap_err();
    assert!(e.message.contains("closed-loop"), "{e}");
    let e = RawInput::from_pairs([("think_time", "fixed:1")])
        .parse()
        .unwrap_err();
    assert!(e.message.contains("set Turns"), "{e}");
    let e = RawInput::from_pairs([("turns", "1")]).parse().unwrap_err();
    assert!(e.message.contains("turns"), "{e}");
}
