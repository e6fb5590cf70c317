#!/usr/bin/env bash
# Benchmarks (figures, not pass/fail): the statistics core and the per-run charts natively (criterion), the same
# statistics work in headless Chromium (wasm), then the end-to-end path: TTFT through the release page against a
# bare fetch() in the same page at 1, 4 and 32 clients over HTTP/1.1 and HTTP/2, and the engine's request ceiling
# in its worker; the command at 4, 64 and 256 streams; and a million-request run with every response kept.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh --test
cargo bench --locked --bench stats
cargo bench --locked --bench charts
cargo bench --locked --bench workloads
WASM_BINDGEN_TEST_TIMEOUT=300 cargo test --locked --profile wasm-bench --target wasm32-unknown-unknown \
  --test browser_bench -- --nocapture 2>&1 | grep -E "BENCH|test result"
export PATH="$PWD/tests/e2e/node_modules/.bin:$PATH" TRUNK_OFFLINE=true
trunk build --release --locked
cargo build --locked --release -p mock-llm
MOCK_LLM="$PWD/target/release/mock-llm" node tests/e2e/bench.mjs 2>/dev/null
# The command: browser shards, fan-out, the native engine and one browser without fan-out, at 4, 64 and 256 streams.
cargo build --locked --release -p tokenmeter --bin tokenmeter
MOCK_LLM="$PWD/target/release/mock-llm" node tests/e2e/bench_command.mjs 2>/dev/null
# Trace replay (issue 19): schedule lag of a 1,000-request trace, native and in the page.
node tests/e2e/bench_trace.mjs 2>/dev/null
# Runs of any length (issue 22): a million requests with every response kept in the record store.
node tests/e2e/bench_records.mjs 2>/dev/null
# Start-up with 20 stored runs of 100,000 requests (issue 18 §8): only their small files are read.
node tests/e2e/bench_startup.mjs 2>/dev/null
