//! The engine end to end, in process: the driver with a `ScriptedTransport` (or the simulated LLM) under a
//! `ManualClock`, asserting exact times and counts.

use std::time::Duration;

use futures::future::join;
use proptest::prelude::*;

use tokenmeter::core::metrics;
use tokenmeter::core::plan::{Arrival, RunPlan, RunPlanSpec, StopCondition};
use tokenmeter::core::record::ErrorKind;
use tokenmeter::core::time::Timestamp;
use tokenmeter::engine::cancel::CancelToken;
use tokenmeter::engine::driver;
use tokenmeter::engine::simulated::{Dist, SimulatedFailure, SimulatedModel, SimulatedTransport};
use tokenmeter::engine::sink::{EngineEvent, FinishedRequest};
use tokenmeter::engine::Clock;
use tokenmeter::protocol::Api;

use crate::util::{
    check_invariants, endpoint, finished, fixed_model, millis, ms, plan, prepare_with, run_plan,
    run_plan_with_cancel, run_to_completion, started, ManualClock, Script, ScriptedTransport, Step,
};

fn closed(clients: u32, stop: StopCondition) -> RunPlanSpec {
    RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients },
        stop,
        ..Default::default()
    }
}

fn rate(per_second: f64, max_concurrency: Option<u32>, stop: StopCondition) -> RunPlanSpec {
    RunPlanSpec {
        arrival: Arrival::ConstantRate {
            per_second,
            max_concurrency,
        },
        stop,
        ..Default::default()
    }
}

fn second() -> StopCondition {
    StopCondition::duration(Duration::from_secs(1))
}

fn ns(v: u64) -> Timestamp {
    Timestamp::from_nanos(v)
}

#[test]
fn scripted_request_timings_are_exact_to_the_nanosecond() {
    let clock = ManualClock::new();
    let mut script = Script::streamed(
        Duration::from_nanos(150_000_456),
        &[
            Duration::from_nanos(30_000_001),
            Duration::from_nanos(30_000_002),
            Duration::from_nanos(40_000_003),
        ],
        millis(5),
        4,
    );
    script.headers_after = Duration::from_nanos(50_000_123);
    let transport = ScriptedTransport::repeating(&clock, script);
    let p = plan(closed(1, StopCondition::requests_per_client(1)));
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    let f = finished(&events);
    let r = &f[0].record;
    let t = &r.timing;
    assert_eq!(t.scheduled_at, ns(0));
    assert_eq!(t.dispatched_at, ns(0));
    assert_eq!(t.first_byte_at, Some(ns(50_000_123)));
    assert_eq!(t.first_token_at, Some(ns(200_000_579)));
    assert_eq!(
        t.token_chunk_times,
        [ns(200_000_579), ns(230_000_580), ns(260_000_582), ns(300_000_585)]
    );
    assert_eq!(t.last_token_at, Some(ns(300_000_585)));
    assert_eq!(t.ended_at, ns(305_000_585));
    assert_eq!(metrics::time_to_first_token(r), Some(200_000_579.0 / 1e9));
    assert_eq!(metrics::time_to_last_token(r), Some(300_000_585.0 / 1e9));
    assert_eq!(
        metrics::time_per_output_token(r),
        Some((300_000_585.0 / 1e9 - 200_000_579.0 / 1e9) / 3.0)
    );
    assert_eq!((r.tokens.input, r.tokens.output), (Some(3), Some(4)));
    assert_eq!(r.response_text.as_deref(), Some("tok tok tok tok "));
    assert!(r.is_success());
    assert_eq!(summary.ended_at, ns(305_000_585));
    assert_eq!(
        summary.start_wall,
        clock.wall_time() - chrono::Duration::nanoseconds(305_000_585)
    );
}

#[test]
fn time_bound_closed_loop_sends_exactly_twenty() {
    // Two clients, 100 ms requests, 1 s: each client starts at 0, 100, …, 900 ms. Its tenth request ends at
    // exactly 1 s, when the deadline has passed (`now >= start + duration`), so it starts no eleventh: 2 × 10.
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(100)));
    let (summary, events) = run_plan(&plan(closed(2, second())), 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert_eq!((summary.sent, summary.succeeded, summary.dropped), (20, 20, 0));
    for client in 0..2 {
        let starts: Vec<_> = started(&events)
            .iter()
            .filter(|d| d.client == client)
            .map(|d| d.scheduled_at)
            .collect();
        assert_eq!(starts, (0..10).map(|k| ms(k * 100)).collect::<Vec<_>>());
    }
    let last = finished(&events)
        .iter()
        .map(|f| f.record.timing.dispatched_at)
        .max();
    assert_eq!(last, Some(ms(900)));
    assert_eq!(summary.ended_at, ms(1000));
    assert!(!summary.interrupted);
}

#[test]
fn count_bound_closed_loop_spreads_payloads_across_clients() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(100)));
    let p = plan(RunPlanSpec {
        n_payloads: 6,
        ..closed(3, StopCondition::requests_per_client(4))
    });
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert_eq!((summary.sent, summary.succeeded), (12, 12));
    assert_eq!(summary.ended_at, ms(400));
    for client in 0..3u32 {
        let payloads: Vec<_> = started(&events)
            .iter()
            .filter(|d| d.client == client)
            .map(|d| d.payload_index)
            .collect();
        let want: Vec<_> = (0..4).map(|k| (2 * client as usize + k) % 6).collect();
        assert_eq!(payloads, want, "client {client}");
    }
    // The payload index reached the wire: request k's prompt names its payload.
    let bodies: Vec<String> = transport
        .requests()
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    for d in started(&events) {
        assert!(bodies[d.request_id as usize].contains(&format!("payload {}", d.payload_index)));
    }
}

#[test]
fn cancel_mid_run_keeps_finished_records_and_cancels_in_flight() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(100)));
    let p = plan(closed(2, StopCondition::duration(Duration::from_secs(10))));
    let cancel = CancelToken::new();
    let stopper = {
        let (clock, cancel) = (clock.clone(), cancel.clone());
        async move {
            clock.sleep_until(ms(250)).await;
            cancel.cancel();
        }
    };
    let mut events = Vec::new();
    let run = driver::run(
        &p,
        0,
        &transport,
        &clock,
        crate::util::prepare,
        &mut events,
        &cancel,
    );
    let (summary, ()) = run_to_completion(&clock, join(run, stopper)).unwrap();
    check_invariants(&summary, &events);
    // Each client finished requests at 100 and 200 ms; its third, sent at 200 ms, was in flight at 250 ms.
    assert_eq!(
        (summary.sent, summary.succeeded, summary.failed, summary.cancelled),
        (6, 4, 0, 2)
    );
    assert!(summary.interrupted);
    assert_eq!(summary.ended_at, ms(250));
    for f in finished(&events) {
        let r = &f.record;
        match r.error.as_ref().map(|e| e.kind) {
            Some(ErrorKind::Cancelled) => {
                assert_eq!((r.timing.dispatched_at, r.timing.ended_at), (ms(200), ms(250)))
            }
            None => assert!(r.timing.ended_at <= ms(200)),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
}

#[test]
fn cancel_before_start_sends_nothing() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(100)));
    let cancel = CancelToken::new();
    cancel.cancel();
    let (summary, events) = run_plan_with_cancel(&plan(closed(3, second())), 0, &transport, &clock, &cancel);
    check_invariants(&summary, &events);
    assert_eq!(summary.sent, 0);
    assert!(summary.interrupted);
    assert_eq!(events.len(), 1);
}

#[test]
fn per_request_timeout_produces_timeout_records() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(200)));
    let p = plan(RunPlanSpec {
        request_timeout: Some(millis(150)),
        ..closed(1, StopCondition::requests_per_client(3))
    });
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert_eq!((summary.sent, summary.failed), (3, 3));
    let spans: Vec<_> = finished(&events)
        .iter()
        .map(|f| (f.record.timing.dispatched_at, f.record.timing.ended_at))
        .collect();
    assert_eq!(spans, [(ms(0), ms(150)), (ms(150), ms(300)), (ms(300), ms(450))]);
    assert!(finished(&events)
        .iter()
        .all(|f| f.record.error.as_ref().unwrap().kind == ErrorKind::Timeout));
}

#[test]
fn constant_rate_dispatches_on_a_fixed_grid() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(50)));
    let (summary, events) = run_plan(&plan(rate(10.0, None, second())), 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert_eq!(summary.sent, 10);
    let f = finished(&events);
    let times: Vec<_> = f
        .iter()
        .map(|f| (f.record.timing.scheduled_at, f.record.timing.dispatched_at))
        .collect();
    assert_eq!(
        times,
        (0..10).map(|i| (ms(i * 100), ms(i * 100))).collect::<Vec<_>>()
    );
    assert_eq!(summary.ended_at, ms(950));
}

#[test]
fn max_concurrency_turns_coordinated_omission_into_schedule_lag() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(250)));
    let p = plan(rate(10.0, Some(1), StopCondition::total_requests(5)));
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    let f = finished(&events);
    let scheduled: Vec<_> = f.iter().map(|f| f.record.timing.scheduled_at).collect();
    let dispatched: Vec<_> = f.iter().map(|f| f.record.timing.dispatched_at).collect();
    assert_eq!(scheduled, (0..5).map(|i| ms(i * 100)).collect::<Vec<_>>());
    assert_eq!(dispatched, (0..5).map(|i| ms(i * 250)).collect::<Vec<_>>());
    let lags: Vec<_> = f.iter().map(|f| metrics::schedule_lag(&f.record)).collect();
    assert_eq!(
        lags,
        [0.0, 0.15, 0.3, 0.45, 0.6].map(|s: f64| Timestamp::from_secs_f64(s).as_nanos() as f64 / 1e9)
    );
    assert!(f.iter().all(|f| f.dispatch.client == 0));
}

#[test]
fn warmup_flag_reaches_the_record() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(100)));
    let p = plan(RunPlanSpec {
        warmup: Some(millis(250)),
        ..closed(1, second())
    });
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    let flags: Vec<_> = finished(&events).iter().map(|f| f.record.warmup).collect();
    assert_eq!(
        flags,
        [true, true, true, false, false, false, false, false, false, false]
    );
}

#[test]
fn ramp_up_staggers_closed_loop_clients() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(1000)));
    let p = plan(RunPlanSpec {
        ramp_up: Some(millis(400)),
        ..closed(4, StopCondition::requests_per_client(1))
    });
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    let starts: Vec<_> = started(&events)
        .iter()
        .map(|d| (d.client, d.scheduled_at))
        .collect();
    assert_eq!(starts, [(0, ms(0)), (1, ms(100)), (2, ms(200)), (3, ms(300))]);
    assert_eq!(summary.ended_at, ms(1300));
}

#[test]
fn low_memory_drops_response_text() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(10)));
    let p = plan(RunPlanSpec {
        low_memory: true,
        ..closed(1, StopCondition::requests_per_client(2))
    });
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert!(finished(&events)
        .iter()
        .all(|f| f.record.response_text.is_none() && f.record.tokens.output == Some(1)));
}

#[test]
fn deadline_cut_off_is_opt_in() {
    // One client, 300 ms requests, 1 s: requests start at 0, 300, 600 and 900 ms.
    let p = |cut| {
        plan(RunPlanSpec {
            cancel_in_flight_at_deadline: cut,
            ..closed(1, second())
        })
    };
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(300)));
    let (summary, events) = run_plan(&p(false), 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert_eq!(
        (summary.sent, summary.succeeded, summary.ended_at),
        (4, 4, ms(1200))
    );

    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(300)));
    let (summary, events) = run_plan(&p(true), 0, &transport, &clock);
    check_invariants(&summary, &events);
    assert_eq!(
        (
            summary.sent,
            summary.succeeded,
            summary.cancelled,
            summary.ended_at
        ),
        (4, 3, 1, ms(1000))
    );
    assert!(!summary.interrupted);
}

#[test]
fn http_errors_and_broken_streams_are_typed_records() {
    use crate::util::{sse_token, Step};
    let clock = ManualClock::new();
    let broken = Script {
        status: 200,
        headers_after: Duration::ZERO,
        steps: vec![
            Step::Chunk {
                after: millis(10),
                bytes: sse_token("a "),
            },
            Step::Break {
                after: millis(10),
                kind: ErrorKind::Stream,
            },
        ],
    };
    let scripts = vec![
        Script::status(429, millis(5)),
        Script::status(503, millis(5)),
        broken,
    ];
    let transport = ScriptedTransport::new(&clock, scripts);
    let (summary, events) = run_plan(
        &plan(closed(1, StopCondition::requests_per_client(3))),
        0,
        &transport,
        &clock,
    );
    check_invariants(&summary, &events);
    let kinds: Vec<_> = finished(&events)
        .iter()
        .map(|f| f.record.error.as_ref().map(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ErrorKind::Throttled),
            Some(ErrorKind::HttpStatus),
            Some(ErrorKind::Stream)
        ]
    );
    assert_eq!(summary.failed, 3);
    let partial = &finished(&events)[2].record;
    assert_eq!(partial.timing.token_chunk_times, [ms(20)]);
}

// ---- the simulated LLM ----------------------------------------------------------------------------------------

fn run_simulated(model: SimulatedModel, p: &RunPlan, max_tokens: u32) -> Vec<FinishedRequest> {
    let clock = ManualClock::new();
    let transport = SimulatedTransport::new(model, Api::OpenAiChat, clock.clone());
    let ep = endpoint();
    let mut events = Vec::new();
    let make = |d: &_| prepare_with(&ep, d, max_tokens);
    let cancel = CancelToken::new();
    let run = driver::run(p, 0, &transport, &clock, make, &mut events, &cancel);
    let summary = run_to_completion(&clock, run).unwrap();
    check_invariants(&summary, &events);
    assert_eq!(transport.requests_sent(), summary.sent);
    finished(&events).into_iter().cloned().collect()
}

#[test]
fn simulated_stream_decodes_end_to_end() {
    let f = run_simulated(
        fixed_model(),
        &plan(closed(1, StopCondition::requests_per_client(2))),
        100,
    );
    let r = &f[0].record;
    assert!(r.is_success());
    assert_eq!(r.id, "chatcmpl-sim-0");
    assert_eq!(r.timing.first_token_at, Some(ms(200)));
    assert_eq!(r.timing.last_token_at, Some(ms(240)));
    assert_eq!(
        r.timing.token_chunk_times,
        [ms(200), ms(210), ms(220), ms(230), ms(240)]
    );
    assert_eq!((r.tokens.input, r.tokens.output), (Some(2), Some(5)));
    assert_eq!(
        r.response_text.as_deref(),
        Some("simulated tokens arrive one by ")
    );
    assert_eq!(f[1].record.timing.dispatched_at, ms(240));
    // `max_tokens` caps the output.
    let capped = run_simulated(
        fixed_model(),
        &plan(closed(1, StopCondition::requests_per_client(1))),
        3,
    );
    assert_eq!(capped[0].record.tokens.output, Some(3));
}

#[test]
fn simulated_failures_have_the_right_kinds() {
    let cases = [
        (SimulatedFailure::Throttled, ErrorKind::Throttled, Some(429)),
        (SimulatedFailure::ServerError, ErrorKind::HttpStatus, Some(500)),
        (SimulatedFailure::StreamBreak, ErrorKind::Stream, Some(200)),
    ];
    for (failure, kind, status) in cases {
        let model = SimulatedModel {
            error_rate: 1.0,
            error_kinds: vec![failure],
            ..fixed_model()
        };
        let f = run_simulated(
            model,
            &plan(closed(2, StopCondition::requests_per_client(5))),
            100,
        );
        assert_eq!(f.len(), 10);
        for r in f.iter().map(|f| &f.record) {
            assert_eq!(r.error.as_ref().map(|e| e.kind), Some(kind), "{failure:?}");
            assert_eq!(r.http_status, status);
            assert!(r.timing.token_chunk_times.len() < 5);
        }
    }
}

#[test]
fn simulated_error_rate_is_seeded_and_close_to_target() {
    let model = SimulatedModel {
        error_rate: 0.3,
        error_kinds: vec![
            SimulatedFailure::Throttled,
            SimulatedFailure::ServerError,
            SimulatedFailure::StreamBreak,
        ],
        ttft: Dist::LogNormal {
            median: 0.1,
            sigma: 0.5,
        },
        inter_token: Dist::Uniform { lo: 0.001, hi: 0.02 },
        output_tokens: Dist::Normal {
            mean: 20.0,
            std_dev: 5.0,
        },
        ..fixed_model()
    };
    let p = plan(closed(8, StopCondition::requests_per_client(125)));
    let kinds = |f: &[FinishedRequest]| {
        f.iter()
            .map(|f| f.record.error.as_ref().map(|e| e.kind))
            .collect::<Vec<_>>()
    };
    let a = run_simulated(model.clone(), &p, 100);
    let b = run_simulated(model.clone(), &p, 100);
    assert_eq!(kinds(&a), kinds(&b), "same seed, same run");
    let other = run_simulated(
        SimulatedModel {
            seed: model.seed + 1,
            ..model.clone()
        },
        &p,
        100,
    );
    assert_ne!(kinds(&a), kinds(&other), "another seed, another run");
    let failed = a.iter().filter(|f| !f.record.is_success()).count() as f64;
    // Binomial(1000, 0.3): sd ≈ 14.5; allow 5 sd.
    assert!(
        (failed - 300.0).abs() < 5.0 * (1000.0f64 * 0.3 * 0.7).sqrt(),
        "{failed} failures"
    );
    let allowed = [ErrorKind::Throttled, ErrorKind::HttpStatus, ErrorKind::Stream];
    assert!(kinds(&a).into_iter().flatten().all(|k| allowed.contains(&k)));
    for k in allowed {
        assert!(kinds(&a).contains(&Some(k)), "{k:?} occurs");
    }
}

#[test]
fn closure_sinks_receive_every_event() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(10)));
    let mut n = 0;
    let mut sink = |_e: EngineEvent| n += 1;
    let p = plan(closed(2, StopCondition::requests_per_client(2)));
    let cancel = CancelToken::new();
    let run = driver::run(
        &p,
        0,
        &transport,
        &clock,
        crate::util::prepare,
        &mut sink,
        &cancel,
    );
    run_to_completion(&clock, run).unwrap();
    // 4 starts, 4 finishes, 1 end.
    assert_eq!(n, 9);
}

// ---- property test --------------------------------------------------------------------------------------------

fn arb_arrival() -> impl Strategy<Value = Arrival> {
    let cap = prop::option::of(1u32..5);
    prop_oneof![
        (1u32..6).prop_map(|clients| Arrival::ClosedLoop { clients }),
        (1.0f64..40.0, cap.clone()).prop_map(|(per_second, max_concurrency)| Arrival::ConstantRate {
            per_second,
            max_concurrency
        }),
        (1.0f64..40.0, cap).prop_map(|(per_second, max_concurrency)| Arrival::Poisson {
            per_second,
            max_concurrency
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// For random plans, models, timeouts and cancel times: one record per dispatch, counts add up, concurrency
    /// stays within its bound, and nothing starts at or after the deadline.
    #[test]
    fn driver_emits_one_record_per_dispatch(
        arrival in arb_arrival(),
        count in prop::option::of(1u64..25),
        duration_ms in prop::option::of(100u64..1500),
        timeout_ms in prop::option::of(50u64..400),
        cut in any::<bool>(),
        cancel_at_ms in prop::option::of(0u64..1500),
        error_rate in 0.0f64..0.5,
        seed in any::<u64>(),
    ) {
        let duration_ms = if count.is_none() { duration_ms.or(Some(500)) } else { duration_ms };
        let spec = RunPlanSpec {
            arrival,
            stop: StopCondition {
                requests_per_client: None,
                total_requests: count,
                duration: duration_ms.map(Duration::from_millis),
            },
            request_timeout: timeout_ms.map(Duration::from_millis),
            cancel_in_flight_at_deadline: cut && duration_ms.is_some(),
            n_payloads: 3,
            ..Default::default()
        };
        let p = plan(spec);
        let model = SimulatedModel {
            ttft: Dist::LogNormal { median: 0.08, sigma: 0.6 },
            inter_token: Dist::Uniform { lo: 0.001, hi: 0.03 },
            output_tokens: Dist::Uniform { lo: 1.0, hi: 12.0 },
            error_rate,
            seed,
            ..SimulatedModel::default()
        };
        let clock = ManualClock::new();
        let transport = SimulatedTransport::new(model, Api::OpenAiChat, clock.clone());
        let cancel = CancelToken::new();
        let stopper = {
            let (clock, cancel) = (clock.clone(), cancel.clone());
            async move {
                if let Some(at) = cancel_at_ms {
                    clock.sleep_until(ms(at)).await;
                    cancel.cancel();
                }
            }
        };
        let mut events = Vec::new();
        let run = driver::run(&p, seed, &transport, &clock, crate::util::prepare, &mut events, &cancel);
        let (summary, ()) = run_to_completion(&clock, join(run, stopper)).unwrap();
        check_invariants(&summary, &events);
        prop_assert_eq!(transport.requests_sent(), summary.sent);
        let bound = p.arrival().max_in_flight().map(u64::from);
        let mut in_flight = 0u64;
        for e in &events {
            match e {
                EngineEvent::RequestStarted(d) => {
                    in_flight += 1;
                    prop_assert!(bound.is_none_or(|b| in_flight <= b), "{} in flight", in_flight);
                    if let Some(d_ms) = duration_ms {
                        prop_assert!(d.scheduled_at < ms(d_ms));
                    }
                }
                EngineEvent::RequestFinished(f) => {
                    in_flight -= 1;
                    if let Some(d_ms) = duration_ms {
                        prop_assert!(f.record.timing.dispatched_at < ms(d_ms));
                    }
                    if let Some(t) = timeout_ms {
                        let span = f.record.timing.ended_at.saturating_since(f.record.timing.dispatched_at);
                        prop_assert!(span <= Duration::from_millis(t));
                    }
                }
                EngineEvent::RunEnded(_) => {}
            }
        }
        if let Some(n) = count {
            prop_assert!(summary.sent <= n);
        }
        if summary.interrupted {
            prop_assert!(cancel_at_ms.is_some());
        }
    }
}

// ---- regressions found in review ------------------------------------------------------------------------------

fn one_request(script: Script, timeout_ms: u64) -> tokenmeter::core::record::RequestRecord {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, script);
    let p = plan(RunPlanSpec {
        request_timeout: Some(millis(timeout_ms)),
        ..closed(1, StopCondition::requests_per_client(1))
    });
    let (summary, events) = run_plan(&p, 0, &transport, &clock);
    check_invariants(&summary, &events);
    finished(&events)[0].record.clone()
}

#[test]
fn a_body_left_open_after_done_is_a_success_that_ended_at_done() {
    let mut script = Script::streamed(millis(100), &[millis(10)], millis(10), 2);
    // The gateway keeps the connection open long after `[DONE]`, then drops it.
    script.steps.push(Step::Break {
        after: millis(5_000),
        kind: ErrorKind::Stream,
    });
    let r = one_request(script, 1_000);
    assert_eq!(r.error, None);
    assert_eq!(r.timing.ended_at, ms(120));
    assert_eq!(metrics::time_to_last_token(&r), Some(0.11));
}

#[test]
fn a_429_stays_throttled_when_its_body_is_cut_short_by_the_timeout() {
    let mut script = Script::status(429, millis(10));
    script.steps = vec![Step::Chunk {
        after: millis(5_000),
        bytes: b"{}".to_vec(),
    }];
    let r = one_request(script, 1_000);
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Throttled));
    assert_eq!(r.http_status, Some(429));
}

#[test]
fn a_non_streamed_response_has_no_token_timing() {
    let clock = ManualClock::new();
    let body = br#"{"id":"c9","choices":[{"message":{"content":"a b c"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":3}}"#;
    let script = Script {
        status: 200,
        headers_after: millis(300),
        steps: vec![Step::Chunk {
            after: millis(20),
            bytes: body.to_vec(),
        }],
    };
    let transport = ScriptedTransport::repeating(&clock, script);
    let json_endpoint = tokenmeter::protocol::ApiEndpoint {
        stream: false,
        ..endpoint()
    };
    let p = plan(closed(1, StopCondition::requests_per_client(1)));
    let mut events = Vec::new();
    let make = |d: &_| prepare_with(&json_endpoint, d, 16);
    let cancel = CancelToken::new();
    let run = driver::run(&p, 0, &transport, &clock, make, &mut events, &cancel);
    run_to_completion(&clock, run).unwrap();
    let r = &finished(&events)[0].record;
    assert_eq!(r.error, None);
    assert_eq!(r.response_text.as_deref(), Some("a b c"));
    assert_eq!(metrics::time_to_first_token(r), None);
    assert_eq!(metrics::time_per_output_token(r), None);
    assert_eq!(metrics::time_to_last_token(r), Some(0.32));
}

#[test]
fn a_finished_run_releases_the_callers_cancel_waker() {
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(10)));
    let cancel = CancelToken::new();
    let p = plan(closed(4, StopCondition::requests_per_client(50)));
    let (summary, _) = run_plan_with_cancel(&p, 0, &transport, &clock, &cancel);
    assert_eq!(summary.sent, 200);
    assert_eq!(cancel.waiting(), 0);
}

#[test]
fn finished_requests_release_their_cancel_wakers() {
    use tokenmeter::core::scheduler::Dispatch;
    use tokenmeter::engine::request::{execute, RequestOptions};
    // The token every request of a run waits on (the driver's own is private, so this drives requests directly).
    let clock = ManualClock::new();
    let transport = ScriptedTransport::repeating(&clock, Script::taking(millis(10)));
    let cancel = CancelToken::new();
    let mut waiting_in_flight = Vec::new();
    for request_id in 0..50 {
        let dispatch = Dispatch {
            request_id,
            client: 0,
            payload_index: 0,
            scheduled_at: clock.now(),
            warmup: false,
        };
        let request = execute(
            &transport,
            &clock,
            prepare_with(&endpoint(), &dispatch, 16),
            clock.now(),
            RequestOptions::default(),
            &cancel,
        );
        let probe = async {
            clock.sleep_until(clock.now().plus(millis(5))).await;
            cancel.waiting()
        };
        let (record, waiting) = run_to_completion(&clock, join(request, probe)).unwrap();
        assert!(record.is_success());
        waiting_in_flight.push(waiting);
    }
    // The probe sees each request's waker while it is in flight, so a leak could not hide from the last check.
    assert!(waiting_in_flight.iter().all(|&w| w == 1), "{waiting_in_flight:?}");
    assert_eq!(cancel.waiting(), 0, "finished requests left wakers behind");
}

#[test]
fn token_counts_the_provider_did_not_report_are_marked_estimated() {
    use tokenmeter::protocol::wire::{Finish, Reply};
    let clock = ManualClock::new();
    let reply = Reply {
        id: "chatcmpl-2".into(),
        model: "m".into(),
        created: 0,
        input_tokens: 0,
        cached_input_tokens: 0,
    };
    // No usage chunk: the counts must come from words, and say so.
    let tail = Api::OpenAiChat
        .encoder()
        .finish(&reply, "", 2, Finish::Length, false);
    let script = Script {
        status: 200,
        headers_after: Duration::ZERO,
        steps: vec![
            Step::Chunk {
                after: millis(5),
                bytes: crate::util::sse_token("two words"),
            },
            Step::Chunk {
                after: millis(5),
                bytes: tail,
            },
        ],
    };
    let transport = ScriptedTransport::new(&clock, vec![script, Script::taking(millis(5))]);
    let p = plan(closed(1, StopCondition::requests_per_client(2)));
    let (_, events) = run_plan(&p, 0, &transport, &clock);
    let f = finished(&events);
    let estimated = &f[0].record;
    assert_eq!(estimated.tokens.output, Some(2));
    assert_eq!(
        (
            estimated.tokens_estimated.input,
            estimated.tokens_estimated.output
        ),
        (true, true)
    );
    assert_eq!(estimated.finish_reason.as_deref(), Some("length"));
    let reported = &f[1].record;
    assert!(
        !reported.tokens_estimated.any(),
        "usage was reported: {:?}",
        reported.tokens
    );
    assert_eq!(reported.finish_reason.as_deref(), Some("stop"));
}

// ---- AWS through the engine ----------------------------------------------------------------------------------

#[test]
fn bedrock_streams_fill_the_server_latency_and_type_in_stream_exceptions() {
    use tokenmeter::core::input::RawInput;
    use tokenmeter::engine::target::{Credentials, Target};
    use tokenmeter::protocol::aws::eventstream::exception_frame;
    use tokenmeter::protocol::aws::invoke::ANTHROPIC_INVOKE;
    use tokenmeter::protocol::wire::{Encoder, Finish, Reply};
    use tokenmeter::protocol::ServerLatency;
    let input = RawInput::from_pairs([
        ("api", "bedrock-invoke"),
        ("endpoint", "http"),
        ("url", "http://scripted"),
        ("region", "us-east-1"),
        ("model", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("body", "anthropic"),
    ])
    .parse()
    .unwrap();
    let credentials = Credentials {
        api_key: None,
        aws: Some((
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            None,
        )),
    };
    let target = Target::with_prompt(&input.target, "hi", 8, &credentials).unwrap();
    let reply = Reply {
        id: "msg_1".into(),
        model: "claude".into(),
        created: 0,
        input_tokens: 5,
        cached_input_tokens: 0,
    };
    let latency = ServerLatency {
        first_byte: Some(Duration::from_millis(80)),
        total: Some(Duration::from_millis(450)),
    };
    let mut head = ANTHROPIC_INVOKE.head(&reply);
    head.extend(ANTHROPIC_INVOKE.token(&reply, 0, "hello"));
    let answered = Script {
        status: 200,
        headers_after: Duration::ZERO,
        steps: vec![
            Step::Chunk {
                after: millis(100),
                bytes: head,
            },
            Step::Chunk {
                after: millis(10),
                bytes: ANTHROPIC_INVOKE.finish_timed(&reply, "hello", 1, Finish::Stop, latency),
            },
        ],
    };
    let refused = |kind: &str| Script {
        status: 200,
        headers_after: Duration::ZERO,
        steps: vec![Step::Chunk {
            after: millis(5),
            bytes: exception_frame(kind, &serde_json::json!({"message": "no"})),
        }],
    };
    let clock = ManualClock::new();
    let transport = ScriptedTransport::new(
        &clock,
        vec![
            answered,
            refused("throttlingException"),
            refused("validationException"),
        ],
    );
    let p = plan(closed(1, StopCondition::requests_per_client(3)));
    let mut events = Vec::new();
    let make = |d: &tokenmeter::core::scheduler::Dispatch| {
        target.prepare(d.request_id, d.payload_index, clock.wall_time())
    };
    let cancel = CancelToken::new();
    run_to_completion(
        &clock,
        driver::run(&p, 0, &transport, &clock, make, &mut events, &cancel),
    )
    .unwrap();
    let records: Vec<_> = finished(&events).into_iter().map(|f| f.record.clone()).collect();
    assert_eq!(records[0].error, None);
    assert_eq!(
        records[0].server_latency.first_byte,
        Some(Duration::from_millis(80))
    );
    assert_eq!(records[0].server_latency.total, Some(Duration::from_millis(450)));
    assert_eq!(metrics::time_to_first_token(&records[0]), Some(0.1));
    assert_eq!(records[0].tokens.output, Some(1));
    assert_eq!(
        records[1].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Throttled)
    );
    assert_eq!(
        records[2].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::InvalidRequest)
    );
    // Every request went out signed.
    for request in transport.requests() {
        assert!(request
            .header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256"));
    }
}
