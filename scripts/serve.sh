#!/usr/bin/env bash
# Installs what is missing, starts the local mock LLM server on :8787 and serves Tokenmeter on
# http://127.0.0.1:8080 (trunk serve, rebuilding on change). The page's default endpoint is the built-in
# simulated one, so a first run needs no credentials; the mock server is there to measure real HTTP streaming.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export PATH="$PWD/tests/e2e/node_modules/.bin:$PATH"

cargo build -p mock-llm --locked
PORT="${MOCK_PORT:-8787}" target/debug/mock-llm &
MOCK_PID=$!
trap 'kill $MOCK_PID 2>/dev/null || true' EXIT

trunk serve --locked "$@"
