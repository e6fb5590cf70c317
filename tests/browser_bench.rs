//! In-browser benchmarks (wasm, headless Chromium), run by `scripts/bench.sh`, never by the test suite: figures,
//! not assertions.
//! - the statistics core at a million records, on the same synthetic requests as the native `cargo bench`;
//! - the engine's own ceiling: a closed loop against a zero-latency simulated model, so every microsecond spent is
//!   the client's (request building, SSE encoding and decoding, records, statistics).
#![cfg(target_arch = "wasm32")]

#[path = "../benches/synthetic.rs"]
mod synthetic;

use std::time::Duration;

use wasm_bindgen_test::*;

use tokenmeter::browser::clock::PerformanceClock;
use tokenmeter::browser::js::performance_now;
use tokenmeter::core::format::EndpointBlock;
use tokenmeter::core::input::RawInput;
use tokenmeter::core::plan::{Arrival, RunPlanSpec, StopCondition};
use tokenmeter::core::stats::{RunningStats, StatsConfig};
use tokenmeter::engine::cancel::CancelToken;
use tokenmeter::engine::driver;
use tokenmeter::engine::live::{LiveRun, RunIdentity};
use tokenmeter::engine::request::PreparedRequest;
use tokenmeter::engine::simulated::{Dist, SimulatedModel, SimulatedTransport};
use tokenmeter::engine::target::Target;
use tokenmeter::engine::Clock;

use synthetic::{config, run_info, Source};

wasm_bindgen_test_configure!(run_in_browser);

const RECORDS: u64 = 1_000_000;

#[wasm_bindgen_test]
fn stats_at_a_million_records() {
    let mut source = Source::new();
    let mut stats = RunningStats::new(config()).unwrap();
    let t0 = performance_now();
    for _ in 0..RECORDS {
        stats.observe(source.next());
    }
    let ingest_ms = performance_now() - t0;
    let t1 = performance_now();
    let first = stats.snapshot(&run_info());
    let first_ms = performance_now() - t1;
    assert!(first.contains_key("time_to_first_token-p99"));
    // Steady state: the live table takes a snapshot after every 1k new records.
    let mut steady = Vec::new();
    for _ in 0..20 {
        for _ in 0..1_000 {
            stats.observe(source.next());
        }
        let t = performance_now();
        std::hint::black_box(stats.snapshot(&run_info()));
        steady.push(performance_now() - t);
    }
    steady.sort_by(f64::total_cmp);
    console_log!(
        "BENCH wasm stats: observe 1M records {ingest_ms:.0} ms ({:.2}M records/s); first snapshot of 1M {first_ms:.0} ms; \
         snapshot at 1M after 1k new: median {:.2} ms, max {:.2} ms",
        RECORDS as f64 / ingest_ms / 1e3,
        steady[steady.len() / 2],
        steady[steady.len() - 1]
    );
}

#[wasm_bindgen_test]
async fn engine_ceiling_against_a_zero_latency_model() {
    let clock = PerformanceClock::start();
    let model = SimulatedModel {
        ttft: Dist::Fixed(0.0),
        prefill_per_input_token: 0.0,
        inter_token: Dist::Fixed(0.0),
        output_tokens: Dist::Fixed(16.0),
        error_rate: 0.0,
        error_kinds: vec![],
        seed: 1,
    };
    let input = RawInput::default().parse().unwrap();
    let target = Target::with_prompt(
        &input.target,
        "How fast can the client itself go?",
        16,
        &Default::default(),
    )
    .unwrap();
    let transport = SimulatedTransport::new(model, target.simulated_api().unwrap(), clock);
    let plan = RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 64 },
        stop: StopCondition::duration(Duration::from_secs(3)),
        ..RunPlanSpec::default()
    }
    .validate()
    .unwrap();
    let identity = RunIdentity {
        shard: None,
        settings: serde_json::Value::Null,
        clock: None,
        check: None,
        run_name: "ceiling".into(),
        run_description: None,
        endpoint: EndpointBlock::default(),
        plan: plan.clone(),
    };
    let mut live = LiveRun::new(identity, StatsConfig::default(), clock.wall_time()).unwrap();
    let make = |d: &tokenmeter::core::scheduler::Dispatch| PreparedRequest {
        input_payload: None,
        ..target.prepare(d.request_id, d.payload_index, clock.wall_time())
    };
    let summary = driver::run(&plan, 1, &transport, &clock, make, &mut live, &CancelToken::new()).await;
    let secs = summary.ended_at.secs_since(summary.started_at);
    assert_eq!(summary.sent, summary.succeeded);
    console_log!(
        "BENCH wasm engine ceiling: {} requests of 16 streamed tokens in {secs:.2} s = {:.0} requests/s \
         ({:.0} chunks/s), 64 clients, zero-latency simulated model",
        summary.sent,
        summary.sent as f64 / secs,
        summary.sent as f64 * 16.0 / secs
    );
}

/// The wasm instance's linear memory, in bytes (it only grows, so after a run it is that run's peak).
fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

/// Feeds `requests` finished requests of 200 output chunks each (what the engine's sink receives) into a
/// [`LiveRun`], as a low-memory run or with `chunk_value_budget`, yielding to the page every 10,000 requests as
/// the live run does between timer ticks. Reports wasm memory growth, the longest synchronous step (one batch of
/// 10,000 records, or one live-table snapshot) and the snapshot time at the end.
async fn long_run(label: &str, requests: u64, low_memory: bool, chunk_value_budget: Option<usize>) {
    use tokenmeter::core::record::{RequestRecord, RequestTiming, TokenCounts};
    use tokenmeter::core::scheduler::Dispatch;
    use tokenmeter::core::time::Timestamp;
    use tokenmeter::engine::sink::{EngineEvent, EventSink, FinishedRequest};
    const CHUNKS: u64 = 200;
    let clock = PerformanceClock::start();
    let plan = RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 100 },
        stop: StopCondition::total_requests(requests),
        low_memory,
        ..RunPlanSpec::default()
    }
    .validate()
    .unwrap();
    let identity = RunIdentity {
        shard: None,
        settings: serde_json::Value::Null,
        clock: None,
        check: None,
        run_name: label.into(),
        run_description: None,
        endpoint: EndpointBlock::default(),
        plan,
    };
    let config = StatsConfig {
        chunk_value_budget,
        ..StatsConfig::default()
    };
    let memory_before = wasm_memory_bytes();
    let mut live = LiveRun::new(identity, config, clock.wall_time()).unwrap();
    let mut rng = tokenmeter::core::rng::SeededRng::new(7);
    let (mut longest_ms, t0) = (0.0_f64, performance_now());
    for batch in 0..requests.div_ceil(10_000) {
        let t = performance_now();
        for i in batch * 10_000..((batch + 1) * 10_000).min(requests) {
            let start = Timestamp::from_micros(i * 1_000);
            let mut at = start.as_micros() + 200_000 + rng.below(100_000);
            let chunks: Vec<Timestamp> = (0..CHUNKS)
                .map(|_| {
                    at += 5_000 + rng.below(20_000);
                    Timestamp::from_micros(at)
                })
                .collect();
            let record = RequestRecord {
                request_time: Some(clock.wall_time()),
                timing: RequestTiming {
                    scheduled_at: start,
                    dispatched_at: start,
                    first_token_at: chunks.first().copied(),
                    first_visible_at: chunks.first().copied(),
                    last_token_at: chunks.last().copied(),
                    ended_at: Timestamp::from_micros(at),
                    token_chunk_times: chunks,
                    ..Default::default()
                },
                tokens: TokenCounts {
                    input: Some(100),
                    output: Some(CHUNKS),
                    ..Default::default()
                },
                ..Default::default()
            };
            let dispatch = Dispatch {
                request_id: i,
                client: (i % 100) as u32,
                payload_index: 0,
                scheduled_at: start,
                warmup: false,
            };
            live.on_event(EngineEvent::RequestStarted(dispatch));
            live.on_event(EngineEvent::RequestFinished(Box::new(FinishedRequest {
                dispatch,
                record,
            })));
        }
        longest_ms = longest_ms.max(performance_now() - t);
        if batch % 20 == 19 {
            let t = performance_now();
            std::hint::black_box(live.snapshot(clock.wall_time()));
            longest_ms = longest_ms.max(performance_now() - t);
        }
        // Yield to the event loop, as the page does between refreshes.
        clock.sleep_until(clock.now()).await;
    }
    let total_s = (performance_now() - t0) / 1e3;
    let t = performance_now();
    let stats = live.snapshot(clock.wall_time());
    let snapshot_ms = performance_now() - t;
    let growth = wasm_memory_bytes() - memory_before;
    console_log!(
        "BENCH wasm memory, {label}: {requests} requests x {CHUNKS} chunks in {total_s:.1} s; wasm memory +{:.0} MB \
         (now {:.0} MB); longest step {longest_ms:.0} ms (a batch of 10k records or a snapshot); final snapshot \
         {snapshot_ms:.0} ms; per-chunk binned: {}",
        growth / 1e6,
        wasm_memory_bytes() / 1e6,
        stats.contains_key("per_chunk_relative_error")
    );
}

#[wasm_bindgen_test]
async fn memory_of_a_long_run_exact_gaps_100k() {
    // Before the budget: every gap kept exactly (8 bytes each) and every record kept.
    long_run("exact gaps, records kept", 100_000, false, None).await;
}

#[wasm_bindgen_test]
async fn memory_of_a_long_run_low_memory_1m() {
    long_run("low memory (gaps binned, no records)", 1_000_000, true, Some(0)).await;
}

/// The per-run figure set at 100k requests, in wasm: reading the records once and drawing every figure to SVG
/// (what the page does when a run ends or its Figures button is pressed; inserting the SVG is the browser's).
#[wasm_bindgen_test]
fn figures_at_100k_requests() {
    use tokenmeter::charts::{run_figures, FigureData};
    use tokenmeter::core::record::RequestRecord;
    use tokenmeter::core::stats::PercentileMethod;
    let mut source = Source::new();
    let records: Vec<RequestRecord> = (0..100_000).map(|_| source.next().clone()).collect();
    let mut read = Vec::new();
    let mut draw = Vec::new();
    for _ in 0..5 {
        let t0 = performance_now();
        let run = FigureData::from_records(&records, PercentileMethod::Linear);
        let t1 = performance_now();
        let figures = run_figures(&run, (560, 320));
        let t2 = performance_now();
        std::hint::black_box(figures);
        read.push(t1 - t0);
        draw.push(t2 - t1);
    }
    read.sort_by(f64::total_cmp);
    draw.sort_by(f64::total_cmp);
    console_log!(
        "BENCH wasm figures at 100k requests: read records {:.0} ms, draw all 15 per-run figures {:.0} ms (median of 5)",
        read[2],
        draw[2]
    );
}

/// Tokens counted per second by `o200k_base` in wasm (the tokenizer's own worker runs this code), on the same
/// prose as the native `cargo bench --bench workloads`.
#[wasm_bindgen_test]
fn tokens_counted_per_second() {
    let jsonl = include_str!("data/datasets/sample_prompts.jsonl");
    let rows = tokenmeter::core::dataset::Dataset::parse(jsonl).unwrap().rows;
    let once: Vec<String> = rows.into_iter().map(|r| r.prompt).collect();
    let once = once.join("\n");
    let text = once.repeat((1 << 20) / once.len() + 1);
    let started = performance_now();
    let bpe = tiktoken_rs::o200k_base().unwrap();
    let load_ms = performance_now() - started;
    let mut best = f64::MAX;
    let mut tokens = 0;
    for _ in 0..3 {
        let t0 = performance_now();
        tokens = bpe.count_ordinary(&text);
        best = best.min(performance_now() - t0);
    }
    web_sys::console::log_1(
        &format!(
            "BENCH wasm tokenizer: o200k_base built in {load_ms:.0} ms; counted {tokens} tokens (1 MB of prose) in \
             {best:.0} ms = {:.2}M tokens/s",
            tokens as f64 / best / 1e3
        )
        .into(),
    );
}
