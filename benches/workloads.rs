//! Benchmarks of the workloads' parsing and counting (issue 19), natively: tokens counted per second by the real
//! tokenizers (`o200k_base`, `cl100k_base`) on prose from the sample dataset, prompt datasets read per second
//! (JSONL, 10,000 rows), and a Mooncake trace read and its prompts synthesised (10,000 rows). Run with
//! `cargo bench --bench workloads`; the wasm figure for counting is in `tests/browser_bench.rs`.

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;

    use criterion::{criterion_group, Criterion, Throughput};
    use tokenmeter::core::dataset::Dataset;
    use tokenmeter::core::tokenizer::TokenizerKind;
    use tokenmeter::core::trace::Trace;
    use tokenmeter::engine::tokenizer::Tokenizer;

    /// About 1 MB of English prose: the sample dataset's prompts, repeated.
    fn prose() -> String {
        let jsonl = include_str!("../tests/data/datasets/sample_prompts.jsonl");
        let text: Vec<String> = Dataset::parse(jsonl)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.prompt)
            .collect();
        let once = text.join("\n");
        once.repeat((1 << 20) / once.len() + 1)
    }

    fn tokenizers(c: &mut Criterion) {
        let text = prose();
        let mut group = c.benchmark_group("tokenizer");
        group.sample_size(10);
        for kind in [TokenizerKind::O200kBase, TokenizerKind::Cl100kBase] {
            let t = Tokenizer::builtin(kind).unwrap().unwrap();
            group.throughput(Throughput::Elements(t.count(&text)));
            group.bench_function(format!("{kind} count 1 MB of prose"), |b| {
                b.iter(|| t.count(black_box(&text)))
            });
        }
        group.finish();
    }

    fn datasets(c: &mut Criterion) {
        let jsonl = include_str!("../tests/data/datasets/sample_prompts.jsonl");
        let rows = jsonl.lines().count();
        let big = jsonl.repeat(10_000 / rows + 1);
        let trace: String = (0..10_000u64)
            .map(|i| {
                format!(
                    "{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": 64, \"hash_ids\": [{}, {}]}}\n",
                    i * 10,
                    600 + i % 400,
                    i % 4,
                    100 + i
                )
            })
            .collect();
        let mut group = c.benchmark_group("workloads");
        group.sample_size(10);
        group.throughput(Throughput::Elements(big.lines().count() as u64));
        group.bench_function("dataset JSONL parse (rows)", |b| {
            b.iter(|| Dataset::parse(black_box(&big)).unwrap())
        });
        group.throughput(Throughput::Elements(10_000));
        group.bench_function("trace parse (rows)", |b| {
            b.iter(|| Trace::parse(black_box(&trace)).unwrap())
        });
        let parsed = Trace::parse(&trace).unwrap();
        let tokens: u64 = parsed.rows.iter().map(|r| u64::from(r.input_tokens)).sum();
        group.throughput(Throughput::Elements(tokens));
        group.bench_function("trace prompts synthesised (tokens)", |b| {
            b.iter(|| parsed.prompts(black_box(7)))
        });
        group.finish();
    }

    criterion_group!(benches, tokenizers, datasets);
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
