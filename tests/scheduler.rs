//! The sans-IO scheduler on its own: exact schedules per mode, catch-up, payload coverage, and property tests of
//! its invariants under random plans, latencies and late polling.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use proptest::prelude::*;

use tokenmeter::core::experiments::LatencyHeatmapPlan;
use tokenmeter::core::plan::{Arrival, RunPlan, RunPlanSpec, StopCondition};
use tokenmeter::core::rng::SeededRng;
use tokenmeter::core::scheduler::{Dispatch, Scheduler};
use tokenmeter::core::time::Timestamp;

use crate::util::{millis, ms, plan};

fn rate(per_second: f64, max_concurrency: Option<u32>) -> Arrival {
    Arrival::ConstantRate {
        per_second,
        max_concurrency,
    }
}

/// Every dispatch due by `now`, one poll at a time.
fn drain(s: &mut Scheduler, now: Timestamp) -> Vec<Dispatch> {
    std::iter::from_fn(|| s.poll(now)).collect()
}

#[test]
fn constant_rate_lands_on_the_grid() {
    let p = plan(RunPlanSpec {
        arrival: rate(10.0, None),
        stop: StopCondition::duration(Duration::from_secs(1)),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let mut times = Vec::new();
    while let Some(at) = s.poll_timeout() {
        let batch = drain(&mut s, at);
        assert_eq!(batch.len(), 1);
        times.push(batch[0].scheduled_at);
    }
    assert_eq!(times, (0..10).map(|i| ms(i * 100)).collect::<Vec<_>>());
    assert!(s.is_dispatching_over());
}

#[test]
fn a_late_caller_catches_up_one_dispatch_per_poll() {
    let p = plan(RunPlanSpec {
        arrival: rate(10.0, None),
        stop: StopCondition::total_requests(20),
        n_payloads: 3,
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let batch = drain(&mut s, ms(550));
    let scheduled: Vec<_> = batch.iter().map(|d| d.scheduled_at).collect();
    assert_eq!(scheduled, (0..6).map(|i| ms(i * 100)).collect::<Vec<_>>());
    let ids: Vec<_> = batch.iter().map(|d| d.request_id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    let payloads: Vec<_> = batch.iter().map(|d| d.payload_index).collect();
    assert_eq!(payloads, [0, 1, 2, 0, 1, 2]);
    // Without a concurrency cap every arrival takes a fresh slot while the others are in flight.
    assert_eq!(
        batch.iter().map(|d| d.client).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(s.poll_timeout(), Some(ms(600)));
}

#[test]
fn max_concurrency_keeps_scheduled_times_on_the_grid() {
    let p = plan(RunPlanSpec {
        arrival: rate(10.0, Some(1)),
        stop: StopCondition::total_requests(5),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let mut now = ms(0);
    let mut got = Vec::new();
    while !s.is_done() {
        if let Some(d) = s.poll(now) {
            got.push((d.scheduled_at, now));
            now = now.plus(millis(250));
            s.on_finished(now, d.request_id);
        } else {
            now = s.poll_timeout().expect("a slot is free");
        }
    }
    let want: Vec<_> = (0..5).map(|i| (ms(i * 100), ms(i * 250))).collect();
    assert_eq!(got, want);
}

#[test]
fn poisson_is_reproducible_and_has_the_requested_rate() {
    let n = 10_000u64;
    let per_second = 100.0;
    let spec = RunPlanSpec {
        arrival: Arrival::Poisson {
            per_second,
            max_concurrency: None,
        },
        stop: StopCondition::total_requests(n),
        ..Default::default()
    };
    let p = plan(spec);
    let arrivals = |seed| {
        let mut s = Scheduler::new(&p, seed, ms(0));
        drain(&mut s, Timestamp::from_nanos(u64::MAX))
            .iter()
            .map(|d| d.scheduled_at)
            .collect::<Vec<_>>()
    };
    let a = arrivals(7);
    assert_eq!(a, arrivals(7));
    assert_ne!(a, arrivals(8));
    assert_eq!(a.len() as u64, n);
    assert_eq!(a[0], ms(0));
    assert!(a.windows(2).all(|w| w[0] <= w[1]));
    // The n − 1 gaps are Exp(rate): their mean has relative standard deviation 1/sqrt(n − 1) ≈ 1 %.
    // Five standard deviations make a false failure (for an unlucky seed) a one-in-a-million event.
    let mean_gap = a[a.len() - 1].as_secs_f64() / (n - 1) as f64;
    let tolerance = 5.0 / ((n - 1) as f64).sqrt();
    assert!(
        (mean_gap * per_second - 1.0).abs() < tolerance,
        "mean gap {mean_gap}"
    );
    // Exponential gaps have a coefficient of variation of 1 (a constant rate would have 0).
    let gaps: Vec<f64> = a.windows(2).map(|w| w[1].secs_since(w[0])).collect();
    let var = gaps.iter().map(|g| (g - mean_gap).powi(2)).sum::<f64>() / gaps.len() as f64;
    let cv = var.sqrt() / mean_gap;
    assert!((cv - 1.0).abs() < 0.05, "coefficient of variation {cv}");
}

#[test]
fn closed_loop_ramp_up_staggers_client_starts() {
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 4 },
        stop: StopCondition::duration(Duration::from_secs(2)),
        ramp_up: Some(millis(400)),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let mut starts = Vec::new();
    while let Some(at) = s.poll_timeout() {
        for d in drain(&mut s, at) {
            starts.push((d.client, d.scheduled_at));
        }
    }
    assert_eq!(starts, [(0, ms(0)), (1, ms(100)), (2, ms(200)), (3, ms(300))]);
}

#[test]
fn clients_start_at_spread_payload_offsets() {
    // LLMeter seeds every client's shuffle with 0, so every client sends the same payloads in the same order.
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 4 },
        stop: StopCondition::requests_per_client(3),
        n_payloads: 8,
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let mut per_client = vec![Vec::new(); 4];
    let mut now = ms(0);
    while !s.is_done() {
        for d in drain(&mut s, now) {
            per_client[d.client as usize].push(d.payload_index);
            s.on_finished(now, d.request_id);
        }
        now = now.plus(millis(1));
    }
    assert_eq!(
        per_client,
        [vec![0, 1, 2], vec![2, 3, 4], vec![4, 5, 6], vec![6, 7, 0]]
    );
}

/// Runs a closed-loop plan with instant, equal latencies and counts how often each payload was sent.
fn payload_counts(p: &RunPlan) -> Vec<u64> {
    let mut s = Scheduler::new(p, 0, ms(0));
    let mut counts = vec![0; p.n_payloads()];
    let mut now = ms(0);
    while !s.is_done() {
        for d in drain(&mut s, now) {
            counts[d.payload_index] += 1;
            s.on_finished(now.plus(millis(10)), d.request_id);
        }
        now = now.plus(millis(10));
    }
    counts
}

#[test]
fn heatmap_covers_every_cell_exactly() {
    let default = LatencyHeatmapPlan::default()
        .plan(&RunPlanSpec::default())
        .unwrap();
    assert_eq!(payload_counts(&default.plan), vec![1; 16]);
    // Clients that do not divide the grid, several requests per cell: still exact.
    let uneven = LatencyHeatmapPlan {
        clients: 3,
        requests_per_combination: 2,
        ..Default::default()
    };
    let uneven = uneven.plan(&RunPlanSpec::default()).unwrap();
    assert_eq!(payload_counts(&uneven.plan), vec![2; 16]);
    // More clients than requests: the spare clients send nothing.
    let wide = LatencyHeatmapPlan {
        clients: 40,
        ..Default::default()
    }
    .plan(&RunPlanSpec::default())
    .unwrap();
    assert_eq!(payload_counts(&wide.plan), vec![1; 16]);
}

#[test]
fn total_requests_split_between_clients() {
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 3 },
        stop: StopCondition::total_requests(10),
        n_payloads: 10,
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let mut per_client = [0; 3];
    while !s.is_done() {
        for d in drain(&mut s, ms(0)) {
            per_client[d.client as usize] += 1;
            s.on_finished(ms(0), d.request_id);
        }
    }
    assert_eq!(per_client, [3, 3, 4]);
}

#[test]
fn nothing_starts_at_or_after_the_deadline() {
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 2 },
        stop: StopCondition::duration(Duration::from_secs(1)),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let [a, b] = [s.poll(ms(0)).unwrap(), s.poll(ms(0)).unwrap()];
    s.on_finished(ms(900), a.request_id);
    // Client 0 became ready at 900 ms, but the caller only looks at 1 s: too late, and counted as dropped.
    assert_eq!(s.poll(ms(1000)), None);
    assert_eq!(s.dropped(), 1);
    assert!(!s.is_done());
    s.on_finished(ms(1200), b.request_id);
    assert!(s.is_done());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn warmup_flags_requests_dispatched_before_its_end() {
    let p = plan(RunPlanSpec {
        arrival: rate(10.0, None),
        stop: StopCondition::total_requests(5),
        warmup: Some(millis(250)),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let flags: Vec<_> = (0..5).map(|i| s.poll(ms(i * 100)).unwrap().warmup).collect();
    assert_eq!(flags, [true, true, true, false, false]);
    // Flagged by dispatch time: arrival 2 (due at 200 ms) sent late, at 300 ms, is not warm-up.
    let mut s = Scheduler::new(&p, 0, ms(0));
    assert!(s.poll(ms(0)).unwrap().warmup);
    assert!(drain(&mut s, ms(300)).iter().all(|d| !d.warmup));
}

#[test]
fn stop_ends_dispatching_at_once() {
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 2 },
        stop: StopCondition::requests_per_client(5),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let a = s.poll(ms(0)).unwrap();
    s.stop();
    assert_eq!(s.poll(ms(0)), None);
    assert_eq!(s.dropped(), 1, "client 1 was ready and never sent");
    s.on_finished(ms(5), a.request_id);
    assert_eq!(s.poll(ms(5)), None);
    assert!(s.is_done());
}

// ---- property tests -------------------------------------------------------------------------------------------

fn arb_arrival() -> impl Strategy<Value = Arrival> {
    let cap = prop::option::of(1u32..6);
    prop_oneof![
        (1u32..8).prop_map(|clients| Arrival::ClosedLoop { clients }),
        (0.5f64..80.0, cap.clone()).prop_map(|(per_second, max_concurrency)| Arrival::ConstantRate {
            per_second,
            max_concurrency
        }),
        (0.5f64..80.0, cap).prop_map(|(per_second, max_concurrency)| Arrival::Poisson {
            per_second,
            max_concurrency
        }),
    ]
}

prop_compose! {
    fn arb_plan()(
        arrival in arb_arrival(),
        count in prop::option::of(1u64..40),
        per_client in any::<bool>(),
        duration_ms in prop::option::of(50u64..3000),
        ramp_frac in prop::option::of(0.05f64..0.9),
        warmup_frac in prop::option::of(0.05f64..0.9),
        n_payloads in 1usize..10,
    ) -> RunPlan {
        let duration_ms = if count.is_none() { duration_ms.or(Some(1000)) } else { duration_ms };
        let stop = StopCondition {
            requests_per_client: count.filter(|_| per_client && arrival.is_closed_loop()),
            total_requests: count.filter(|_| !(per_client && arrival.is_closed_loop())),
            duration: duration_ms.map(Duration::from_millis),
        };
        let span = duration_ms.unwrap_or(2000) as f64;
        let frac = |f: Option<f64>| f.map(|f| Duration::from_millis(((span * f) as u64).max(1)));
        RunPlanSpec {
            arrival,
            stop,
            ramp_up: frac(ramp_frac),
            warmup: frac(warmup_frac),
            n_payloads,
            ..Default::default()
        }
        .validate()
        .expect("generated plans are valid")
    }
}

/// Drives a scheduler like an engine would: random latencies, sometimes-late wake-ups, and an optional stop after
/// `stop_after` dispatches. Checks every invariant on the way.
fn simulate(p: &RunPlan, seed: u64, lateness_ms: u64, stop_after: Option<u64>) {
    let start = ms(1_000);
    let mut s = Scheduler::new(p, seed, start);
    let mut rng = SeededRng::new(seed);
    let mut finishing: BinaryHeap<Reverse<(Timestamp, u64)>> = BinaryHeap::new();
    let mut dispatched: Vec<Dispatch> = Vec::new();
    let mut per_client = std::collections::HashMap::<u32, u64>::new();
    let mut in_flight_clients = std::collections::HashSet::new();
    let mut stopped = false;
    let mut now = start;
    let deadline = p.stop().duration.map(|d| start.plus(d));
    let bound = p.arrival().max_in_flight();
    for _ in 0..100_000 {
        while let Some(d) = s.poll(now) {
            assert!(!stopped, "dispatch after stop()");
            assert!(
                deadline.is_none_or(|dl| now < dl),
                "dispatch at {now:?} after the deadline"
            );
            assert!(d.scheduled_at <= now, "dispatched before it was due");
            assert_eq!(
                d.request_id,
                dispatched.len() as u64,
                "ids are dense and in order"
            );
            assert!(d.payload_index < p.n_payloads());
            assert!(
                in_flight_clients.insert(d.client),
                "client or slot {} used twice at once",
                d.client
            );
            if let Some(max) = bound {
                assert!(d.client < max);
                assert!(s.in_flight() as u32 <= max, "concurrency above {max}");
            }
            if !p.arrival().is_closed_loop() {
                if let Some(prev) = dispatched.last() {
                    assert!(
                        prev.scheduled_at <= d.scheduled_at,
                        "open-loop scheduled_at goes back"
                    );
                }
            }
            *per_client.entry(d.client).or_default() += 1;
            let latency = Duration::from_micros(1_000 + rng.below(300_000));
            finishing.push(Reverse((now.plus(latency), d.request_id)));
            dispatched.push(d);
            if stop_after == Some(dispatched.len() as u64) {
                s.stop();
                stopped = true;
            }
        }
        if s.is_done() {
            break;
        }
        let next_finish = finishing.peek().map(|Reverse((t, _))| *t);
        let next = match (s.poll_timeout(), next_finish) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).expect("not done, so something must be pending"),
        };
        let late = if lateness_ms > 0 && rng.chance(0.3) {
            rng.below(lateness_ms * 1000)
        } else {
            0
        };
        now = now.max(next).plus(Duration::from_micros(late));
        while let Some(Reverse((t, id))) = finishing.peek().copied() {
            if t > now {
                break;
            }
            finishing.pop();
            let client = dispatched[id as usize].client;
            in_flight_clients.remove(&client);
            s.on_finished(t, id);
        }
    }
    assert!(s.is_done(), "the run ends");
    assert!(finishing.is_empty());
    assert_eq!(s.dispatched(), dispatched.len() as u64);
    let stop = p.stop();
    if let Some(total) = stop.total_requests {
        assert!(dispatched.len() as u64 <= total);
        if deadline.is_none() && stop_after.is_none() {
            assert_eq!(
                dispatched.len() as u64,
                total,
                "a count-bound run sends exactly its count"
            );
        }
    }
    if let Some(n) = stop.requests_per_client {
        assert!(per_client.values().all(|&c| c <= n));
        if deadline.is_none() && stop_after.is_none() {
            assert_eq!(dispatched.len() as u64, n * u64::from(bound.unwrap()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn scheduler_invariants_hold(p in arb_plan(), seed in any::<u64>(), lateness in 0u64..200) {
        simulate(&p, seed, lateness, None);
    }

    #[test]
    fn nothing_is_dispatched_after_stop(p in arb_plan(), seed in any::<u64>(), stop_after in 1u64..10) {
        simulate(&p, seed, 0, Some(stop_after));
    }
}

#[test]
fn a_huge_closed_loop_allocates_only_for_clients_that_start() {
    // Four billion clients: eager per-client state would need tens of gigabytes (and overflow on wasm32).
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop {
            clients: 4_000_000_000,
        },
        stop: StopCondition {
            requests_per_client: Some(1),
            total_requests: None,
            duration: Some(Duration::from_secs(1)),
        },
        ramp_up: Some(Duration::from_millis(500)),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    // Client c is ready at ⌊c × 500 ms / 4e9⌋ = ⌊c / 8⌋ ns.
    let first: Vec<u32> = drain(&mut s, ms(0)).iter().map(|d| d.client).collect();
    assert_eq!(first, (0..8).collect::<Vec<_>>());
    let batch = drain(&mut s, Timestamp::from_nanos(2));
    assert_eq!(
        batch.iter().map(|d| d.client).collect::<Vec<_>>(),
        (8..24).collect::<Vec<_>>()
    );
    // At the deadline every client due by then and never sent counts as dropped, counted without iterating.
    assert_eq!(s.poll(ms(1000)), None);
    assert!(s.is_dispatching_over());
    assert_eq!(s.dropped(), 4_000_000_000 - 24);
}

#[test]
fn a_total_split_over_more_clients_than_requests_starts_only_clients_with_a_share() {
    let p = plan(RunPlanSpec {
        arrival: Arrival::ClosedLoop { clients: 10 },
        stop: StopCondition::total_requests(4),
        ..Default::default()
    });
    let mut s = Scheduler::new(&p, 0, ms(0));
    let clients: Vec<u32> = drain(&mut s, ms(0)).iter().map(|d| d.client).collect();
    // Client c sends ⌊(c+1)·4/10⌋ − ⌊c·4/10⌋ requests: clients 2, 4, 7 and 9.
    assert_eq!(clients, [2, 4, 7, 9]);
    assert_eq!(s.poll_timeout(), None);
}
