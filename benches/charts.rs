//! Benchmark of the per-run figure set at 100k requests: reading the records once (`FigureData::from_records`) and
//! drawing every per-run figure to SVG (`run_figures`), on the synthetic requests of the stats bench. Run with
//! `cargo bench --bench charts`.

// Only the record source is used here; the stats configuration beside it is the stats bench's.
#[cfg(not(target_arch = "wasm32"))]
#[allow(dead_code)]
mod synthetic;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{criterion_group, Criterion, SamplingMode};
    use tokenmeter::charts::{run_figures, FigureData};
    use tokenmeter::core::record::RequestRecord;
    use tokenmeter::core::stats::PercentileMethod;

    use crate::synthetic::Source;

    const RECORDS: usize = 100_000;
    const SIZE: (u32, u32) = (640, 400);

    fn chart_benches(c: &mut Criterion) {
        let mut source = Source::new();
        let records: Vec<RequestRecord> = (0..RECORDS).map(|_| source.next().clone()).collect();
        let run = FigureData::from_records(&records, PercentileMethod::Linear);
        let figures = run_figures(&run, SIZE);
        let kb = |bytes: usize| bytes.div_ceil(1024);
        let sizes: Vec<String> = figures
            .iter()
            .map(|f| format!("{} {} KB", f.id, kb(f.svg.len())))
            .collect();
        let total: usize = figures.iter().map(|f| f.svg.len()).sum();
        println!(
            "SVG at 100k requests: {} KB in all; {}",
            kb(total),
            sizes.join(", ")
        );

        let mut group = c.benchmark_group("charts");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        group.bench_function("read 100k records (FigureData::from_records)", |b| {
            b.iter(|| black_box(FigureData::from_records(&records, PercentileMethod::Linear)))
        });
        group.bench_function("draw all per-run figures at 100k requests", |b| {
            b.iter(|| black_box(run_figures(&run, SIZE)))
        });
        group.bench_function("read and draw at 100k requests", |b| {
            b.iter(|| {
                let run = FigureData::from_records(&records, PercentileMethod::Linear);
                black_box(run_figures(&run, SIZE))
            })
        });
        group.finish();
    }

    criterion_group!(benches, chart_benches);
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
