#!/usr/bin/env bash
# Benchmarks (figures, not pass/fail): the statistics core and the per-run charts natively (criterion), then the
# same statistics work and the engine's own request ceiling in headless Chromium (wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh --test
cargo bench --locked --bench stats
cargo bench --locked --bench charts
WASM_BINDGEN_TEST_TIMEOUT=300 cargo test --locked --profile wasm-bench --target wasm32-unknown-unknown \
  --test browser_bench -- --nocapture 2>&1 | grep -E "BENCH|test result"
