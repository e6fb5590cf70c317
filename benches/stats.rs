//! Benchmarks of `core::stats::RunningStats` at a million requests: observing records (target ≥ 5M records/s)
//! and taking snapshots (target ≤ 20 ms). Records are synthetic and deterministic (an LCG, no `rand`), with SLO
//! and cost model enabled so every key is computed. Run with `cargo bench --bench stats`.

#[cfg(not(target_arch = "wasm32"))]
mod synthetic;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
    use tokenmeter::core::record::RequestRecord;
    use tokenmeter::core::stats::{compare_race, RunningStats};

    use crate::synthetic::{config, run_info, Source};

    const RECORDS: u64 = 1_000_000;
    /// Records arriving between two snapshots in the steady-state bench (a 10 Hz UI at 10k requests/s).
    const BATCH: u64 = 1_000;
    /// Distinct records replayed by the `observe` benchmark.
    const POOL: usize = 1 << 16;

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

        // A race's comparison of two 1M-record runs: six percentile differences, 4,000 bootstrap resamples each.
        group.bench_function("race comparison of two 1M-record runs", |b| {
            let mut runs = [("a".to_owned(), ingested().0), ("b".to_owned(), ingested().0)];
            // Settled outside the timed section: the comparison itself is what is measured.
            runs.iter_mut().for_each(|(_, stats)| drop(stats.snapshot(&run)));
            b.iter_custom(|iters| {
                timed(|| (0..iters).for_each(|_| drop(black_box(compare_race(&mut runs, 7)))))
            });
        });
        group.finish();
    }

    criterion_group!(benches, stats_benches);
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
