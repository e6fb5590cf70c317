//! `LiveRun`, the sink behind the page: a simulated run's progress, live snapshot and exported files, read back.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use tokenmeter::core::format::{EndpointBlock, Files, LoadedRun};
use tokenmeter::core::plan::{Arrival, RunPlanSpec, StopCondition};
use tokenmeter::core::record::RequestError;
use tokenmeter::core::stats::{Slo, StatsConfig};
use tokenmeter::core::table::shown_keys;
use tokenmeter::core::time::Timestamp;
use tokenmeter::engine::cancel::CancelToken;
use tokenmeter::engine::driver;
use tokenmeter::engine::live::{LiveRun, RunIdentity};
use tokenmeter::engine::simulated::{SimulatedModel, SimulatedTransport};
use tokenmeter::engine::sink::{EngineEvent, EventSink, FinishedRequest};
use tokenmeter::engine::testing::{run_to_completion, ManualClock};
use tokenmeter::engine::Transport;
use tokenmeter::protocol::Api;

use crate::util::{endpoint, fixed_model, prepare};

fn identity(spec: RunPlanSpec) -> RunIdentity {
    RunIdentity {
        shard: None,
        settings: serde_json::Value::Null,
        clock: None,
        check: None,
        run_name: "live-test".into(),
        run_description: None,
        endpoint: EndpointBlock {
            endpoint_name: Some("simulated".into()),
            model_id: Some("simulated".into()),
            provider: Some("openai".into()),
            endpoint_type: Some("OpenAICompletionStreamEndpoint".into()),
            base_url: None,
            url: Some(endpoint().url),
            other: Default::default(),
        },
        plan: spec.validate().unwrap(),
    }
}

fn run(spec: RunPlanSpec) -> LiveRun {
    let model = SimulatedModel {
        seed: 1,
        ..fixed_model()
    };
    let start = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    let clock = ManualClock::with_wall_origin(start);
    let transport = SimulatedTransport::new(model, Api::OpenAiChat, clock.clone());
    let identity = identity(spec);
    let plan = identity.plan.clone();
    let mut live = LiveRun::new(identity, StatsConfig::default(), start).unwrap();
    let cancel = CancelToken::new();
    let summary = run_to_completion(
        &clock,
        driver::run(&plan, 7, &transport, &clock, prepare, &mut live, &cancel),
    )
    .unwrap();
    assert_eq!(summary.sent, 6);
    live
}

#[test]
fn progress_snapshot_and_files_of_a_simulated_run() {
    let spec = RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 2 },
        stop: StopCondition::requests_per_client(3),
        ..RunPlanSpec::default()
    };
    let mut live = run(spec);
    let p = live.progress();
    assert_eq!(
        (p.sent, p.finished, p.failed, p.in_flight, p.done, p.interrupted),
        (6, 6, 0, 0, true, false)
    );

    let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 5).unwrap();
    let stats = live.snapshot(now);
    assert_eq!(stats["total_requests"], 6);
    assert_eq!(stats["clients"], 2);
    assert_eq!(stats["n_requests"], 3);
    // Each request: 200 ms to the first token, then 4 gaps of 10 ms.
    assert!((stats["time_to_first_token-p50"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    assert!((stats["time_to_last_token-p99"].as_f64().unwrap() - 0.24).abs() < 1e-9);
    // Three back-to-back requests of 240 ms per client.
    assert!((stats["total_test_time"].as_f64().unwrap() - 0.72).abs() < 1e-9);
    assert!(stats.get("interrupted").is_none());

    let files = live.files(now);
    let names: Vec<_> = files.iter().map(|(n, _)| *n).collect();
    for name in ["run_config.json", "responses.jsonl", "summary.json", "stats.json"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let get = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, s)| s.as_str());
    // Without stats.json, so every figure below is recomputed from the records, not read back.
    let named: Vec<(&str, &str)> = files
        .iter()
        .filter(|(n, _)| *n != "stats.json")
        .map(|(n, s)| (*n, s.as_str()))
        .collect();
    let loaded = LoadedRun::from_files(&Files::from_named(&named), StatsConfig::default()).unwrap();
    assert_eq!(loaded.records.as_ref().map(Vec::len), Some(6));
    assert_eq!(loaded.records.as_deref().unwrap(), live.records());
    for key in [
        "time_to_first_token-p50",
        "time_to_last_token-p90",
        "time_per_output_token-average",
        "total_requests",
        "successful_requests",
        "total_output_tokens",
    ] {
        assert_eq!(loaded.stats[key], stats[key], "{key}");
    }
    let config: serde_json::Value = serde_json::from_str(get("run_config.json").unwrap()).unwrap();
    assert_eq!(config["tokenmeter_plan"]["arrival"]["clients"], 2);
}

#[test]
fn low_memory_runs_keep_stats_but_no_records() {
    let spec = RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 3 },
        stop: StopCondition::requests_per_client(2),
        low_memory: true,
        ..RunPlanSpec::default()
    };
    let mut live = run(spec);
    assert!(live.records().is_empty());
    assert_eq!(
        live.snapshot(Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 5).unwrap())["total_requests"],
        6
    );
}

/// A transport that reports a browser queue time for every request, as the fetch transport does when the server
/// sends `Timing-Allow-Origin`.
struct Queued<T>(T);

impl<T: Transport> Transport for Queued<T> {
    fn send(
        &self,
        request: tokenmeter::protocol::HttpRequest,
    ) -> futures::future::LocalBoxFuture<'static, Result<tokenmeter::engine::HttpResponse, RequestError>>
    {
        self.0.send(request)
    }

    fn queue_time(&self, _url: &str, _dispatched_at: Timestamp, _ended_at: Timestamp) -> Option<Duration> {
        Some(Duration::from_millis(3))
    }
}

#[test]
fn every_key_the_page_shows_exists_in_a_real_snapshot() {
    let start = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    let clock = ManualClock::with_wall_origin(start);
    let transport = Queued(SimulatedTransport::new(
        fixed_model(),
        Api::OpenAiChat,
        clock.clone(),
    ));
    let spec = RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 2 },
        stop: StopCondition::requests_per_client(3),
        ..RunPlanSpec::default()
    };
    let identity = identity(spec);
    let plan = identity.plan.clone();
    let config = StatsConfig {
        slo: Some(Slo {
            ttft: Some(1.0),
            tpot: None,
            ttlt: None,
        }),
        cost: Some(tokenmeter::core::stats::CostModel {
            input_price_per_million: Some(3.0),
            output_price_per_million: Some(15.0),
            ..Default::default()
        }),
        ..StatsConfig::default()
    };
    let mut live = LiveRun::new(identity, config, start).unwrap();
    run_to_completion(
        &clock,
        driver::run(
            &plan,
            7,
            &transport,
            &clock,
            prepare,
            &mut live,
            &CancelToken::new(),
        ),
    )
    .unwrap();
    // One request from a provider that reports its own latencies (Bedrock; the engine test
    // `bedrock_streams_fill_the_server_latency_and_type_in_stream_exceptions` shows the engine filling them).
    let mut aws = live.records()[0].clone();
    aws.server_latency = tokenmeter::core::record::ServerLatency {
        first_byte: Some(Duration::from_millis(80)),
        total: Some(Duration::from_millis(450)),
    };
    let dispatch = tokenmeter::core::scheduler::Dispatch {
        request_id: 99,
        client: 0,
        payload_index: 0,
        scheduled_at: aws.timing.scheduled_at,
        warmup: false,
    };
    live.on_event(EngineEvent::RequestStarted(dispatch));
    live.on_event(EngineEvent::RequestFinished(Box::new(FinishedRequest {
        dispatch,
        record: aws,
    })));
    // An open-loop run that could not keep its schedule (arrivals dropped): the overload row.
    let end = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 5).unwrap();
    live.on_event(EngineEvent::RunEnded(tokenmeter::engine::sink::RunSummary {
        started_at: tokenmeter::core::time::Timestamp::ZERO,
        ended_at: tokenmeter::core::time::Timestamp::from_micros(5_000_000),
        start_wall: end,
        end_wall: end,
        interrupted: false,
        sent: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
        cancelled_by_design: 0,
        dropped: 3,
    }));
    let stats = live.snapshot(end);
    assert_eq!(stats["tokenmeter_dropped_arrivals"], 3);
    assert_eq!(stats["tokenmeter_overloaded"], true);
    assert!(tokenmeter::core::table::client_health(&stats)
        .iter()
        .any(|w| w.starts_with("Overloaded: 3 arrivals")));
    let shown = shown_keys();
    assert!(shown.len() > 30, "{shown:?}");
    for key in shown {
        assert!(
            key.get(&stats).is_some(),
            "the page shows {key}, which the snapshot lacks"
        );
    }
}
