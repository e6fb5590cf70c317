#!/usr/bin/env bash
# Installs what the tests need (idempotently) and runs every test: formatting and lints, native `cargo test`
# (core, protocol, engine, mock server), wasm-bindgen-test in headless Chromium, the release build, and the
# end-to-end browser tests against the mock LLM server.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
timed() {
  local t=$SECONDS
  printf '\n==> %s\n' "$*" >&2
  "$@"
  printf '    (%ss)\n' "$((SECONDS - t))" >&2
}

timed scripts/tools.sh --test
export PATH="$PWD/tests/e2e/node_modules/.bin:$PATH"
# Trunk must never try to download tools (only package registries are reachable); offline mode makes a version
# mismatch a clear error instead. It also runs cargo offline, hence the `cargo fetch` first.
export TRUNK_OFFLINE=true

timed cargo fetch --locked
timed cargo fmt --all --check
timed cargo clippy --workspace --all-targets --locked -- -D warnings
timed cargo clippy --lib --bins --tests --target wasm32-unknown-unknown --locked -- -D warnings
timed cargo test --workspace --locked
timed cargo test --target wasm32-unknown-unknown --locked --lib --test browser
timed trunk build --release --locked
# The e2e tests run target/debug/{mock-llm,tokenmeter}: `cargo test` built both (their packages' integration
# tests need them), so building them again (93 s on a fresh machine, other features) is skipped.
for bin in mock-llm tokenmeter; do
  [ -x "target/debug/$bin" ] || { echo "target/debug/$bin is missing: cargo test should have built it" >&2; exit 1; }
done
timed python3 -m kubernetes_validate --strict --quiet deploy/kubernetes/job.yaml
printf '\n==> npm test --prefix tests/e2e (the last step; %ss so far)\n' "$((SECONDS - started))" >&2
# Last, so the output ends with the node test runner's own summary.
npm test --prefix tests/e2e
