//! Benchmarks of `core::stats::RunningStats` at a million requests: observing records (target ≥ 5M records/s)
//! and taking snapshots (target ≤ 20 ms). Records are synthetic and deterministic (an LCG, no `rand`), with SLO
//! and cost model enabled so every key is computed. Run with `cargo bench --bench stats`.

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use chrono::{DateTime, TimeDelta, TimeZone, Utc};
    use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
    use tokenmeter::core::record::{ErrorKind, RequestError, RequestRecord};
    use tokenmeter::core::stats::{CostModel, RunInfo, RunningStats, Slo, StatsConfig};
    use tokenmeter::core::time::Timestamp;

    const RECORDS: u64 = 1_000_000;
    /// Records arriving between two snapshots in the steady-state bench (a 10 Hz UI at 10k requests/s).
    const BATCH: u64 = 1_000;
    /// Distinct records replayed by the `observe` benchmark.
    const POOL: usize = 1 << 16;
    /// Output chunks per synthetic request (so 3 inter-token gaps each).
    const CHUNKS: u64 = 4;

    /// Knuth's MMIX linear congruential generator: deterministic, dependency-free values.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % bound
        }
    }

    /// Synthetic requests, rewritten in place (no allocation per record).
    struct Source {
        rng: Lcg,
        next: u64,
        start: DateTime<Utc>,
        record: RequestRecord,
    }

    impl Source {
        fn new() -> Source {
            Source {
                rng: Lcg(0x5eed),
                next: 0,
                start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                record: RequestRecord::default(),
            }
        }

        /// The next request: one every 100 µs, TTFT 50–550 ms, gaps 5–25 ms, 20–420 output tokens, 1 % failed.
        fn next(&mut self) -> &RequestRecord {
            let i = self.next;
            self.next += 1;
            let rng = &mut self.rng;
            let r = &mut self.record;
            let scheduled = Timestamp::from_micros(i * 100);
            let dispatched = Timestamp::from_micros(i * 100 + rng.below(2_000));
            let mut at = dispatched.as_micros() + 50_000 + rng.below(500_000);
            r.timing.token_chunk_times.clear();
            for _ in 0..CHUNKS {
                r.timing.token_chunk_times.push(Timestamp::from_micros(at));
                at += 5_000 + rng.below(20_000);
            }
            let chunks = &r.timing.token_chunk_times;
            r.timing.scheduled_at = scheduled;
            r.timing.dispatched_at = dispatched;
            r.timing.first_token_at = chunks.first().copied();
            r.timing.first_visible_at = chunks.get(1).copied();
            r.timing.last_token_at = chunks.last().copied();
            r.timing.ended_at = Timestamp::from_micros(at);
            r.tokens.input = Some(100 + rng.below(2_000));
            r.tokens.output = Some(20 + rng.below(400));
            r.tokens.input_cached = Some(rng.below(100));
            r.request_time = Some(self.start + TimeDelta::microseconds(i as i64 * 100));
            r.error = (rng.below(100) == 0).then(|| RequestError::new(ErrorKind::Throttled, String::new()));
            &self.record
        }
    }

    fn config() -> StatsConfig {
        StatsConfig {
            slo: Some(Slo {
                ttft: Some(0.4),
                tpot: Some(0.02),
                ttlt: None,
            }),
            cost: Some(CostModel {
                input_price_per_million: Some(3.0),
                output_price_per_million: Some(15.0),
                endpoint_price_per_hour: Some(7.0),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn run_info() -> RunInfo {
        RunInfo {
            total_test_time: Some(100.0),
            end_time: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 0).unwrap()),
            ..Default::default()
        }
    }

    /// Runs `f` and returns how long it took: wall-clock time by default, or with `STATS_BENCH_CLOCK=cpu` the
    /// time this thread spent on a CPU (Linux `/proc/thread-self/schedstat`, kernel time included), which on a
    /// machine shared with other jobs is far steadier than wall-clock time.
    fn timed(f: impl FnOnce()) -> Duration {
        if std::env::var("STATS_BENCH_CLOCK").as_deref() == Ok("cpu") {
            let before = on_cpu();
            f();
            on_cpu().saturating_sub(before)
        } else {
            let start = Instant::now();
            f();
            start.elapsed()
        }
    }

    fn on_cpu() -> Duration {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
        let nanos = stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("on-CPU nanoseconds");
        Duration::from_nanos(nanos)
    }

    fn ingest(stats: &mut RunningStats, source: &mut Source, n: u64) {
        for _ in 0..n {
            stats.observe(source.next());
        }
    }

    /// A million records observed, not yet snapshotted.
    fn ingested() -> (RunningStats, Source) {
        let mut stats = RunningStats::new(config()).expect("valid config");
        let mut source = Source::new();
        ingest(&mut stats, &mut source, RECORDS);
        (stats, source)
    }

    fn stats_benches(c: &mut Criterion) {
        let run = run_info();
        let mut group = c.benchmark_group("stats");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));

        // `iter_custom` everywhere: each 1M-record stats holds ~150 MB, so it is built and dropped outside the
        // timed section, one at a time.
        // Records are generated before timing and replayed from a pool, so only `observe` is measured.
        let mut source = Source::new();
        let pool: Vec<RequestRecord> = (0..POOL).map(|_| source.next().clone()).collect();
        group.throughput(Throughput::Elements(RECORDS));
        group.bench_function("observe 1M records", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut stats = RunningStats::new(config()).expect("valid config");
                    total += timed(|| {
                        pool.iter()
                            .cycle()
                            .take(RECORDS as usize)
                            .for_each(|r| stats.observe(r))
                    });
                    black_box(&stats);
                }
                total
            })
        });

        group.throughput(Throughput::Elements(1));
        group.bench_function("first snapshot of 1M unsorted records", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (mut stats, _) = ingested();
                    total += timed(|| drop(black_box(stats.snapshot(&run))));
                }
                total
            })
        });

        // Built on first use, so filtering the benchmarks by name skips this setup.
        let mut settled: Option<(RunningStats, Source)> = None;
        let mut settled_1m = || {
            let (mut stats, source) = ingested();
            stats.snapshot(&run);
            (stats, source)
        };
        group.bench_function("snapshot at 1M records, nothing new", |b| {
            let (stats, _) = settled.get_or_insert_with(&mut settled_1m);
            b.iter_custom(|iters| timed(|| (0..iters).for_each(|_| drop(black_box(stats.snapshot(&run))))))
        });

        group.bench_function("snapshot at 1M records after 1k new", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (stats, source) = settled.get_or_insert_with(&mut settled_1m);
                    // Keep the size near 1M: start over (untimed) after 100k extra records.
                    if stats.requests() > RECORDS + 100_000 {
                        (*stats, *source) = settled_1m();
                    }
                    ingest(stats, source, BATCH);
                    total += timed(|| drop(black_box(stats.snapshot(&run))));
                }
                total
            })
        });
        group.finish();
    }

    criterion_group!(benches, stats_benches);
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
