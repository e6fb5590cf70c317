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
    let target = Target::with_prompt(&input.target, "How fast can the client itself go?", 16, None).unwrap();
    let transport = SimulatedTransport::new(model, target.api(), clock);
    let plan = RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 64 },
        stop: StopCondition::duration(Duration::from_secs(3)),
        ..RunPlanSpec::default()
    }
    .validate()
    .unwrap();
    let identity = RunIdentity {
        run_name: "ceiling".into(),
        run_description: None,
        endpoint: EndpointBlock::default(),
        plan: plan.clone(),
    };
    let mut live = LiveRun::new(identity, StatsConfig::default(), clock.wall_time()).unwrap();
    let make = |d: &tokenmeter::core::scheduler::Dispatch| PreparedRequest {
        input_payload: None,
        ..target.prepare(d.request_id, d.payload_index)
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
