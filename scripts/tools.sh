#!/usr/bin/env bash
# Installs what Tokenmeter's build needs, skipping what is already there at the right version.
#   scripts/tools.sh          build tools: wasm32 target, trunk, wasm-bindgen-cli, npm wasm-opt
#   scripts/tools.sh --test   the same plus Debian chromium + chromedriver and playwright-core
# Only package registries are used (crates.io, npm, Debian); nothing is downloaded from GitHub.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock exactly, or Trunk tries to download it.
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
# Installing with trunk's own fat-LTO profile takes ~9 min on 2 cores; these settings halve it.
FAST_INSTALL=(env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16)
# Trunk only waits on cargo, wasm-bindgen and wasm-opt, so it needs no optimisation: unoptimised it installs in
# 2.5 min instead of 7 (measured on 2 cores) and builds the page as fast. wasm-bindgen-cli stays optimised: it
# rewrites every module itself, the test runner's large debug ones included.
TRUNK_INSTALL=("${FAST_INSTALL[@]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=0)

step() { printf '\n==> %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! trunk --version 2>/dev/null | grep -qx "trunk $TRUNK_VERSION"; then
  step "cargo install trunk $TRUNK_VERSION"
  "${TRUNK_INSTALL[@]}" cargo install trunk --version "$TRUNK_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WBG_VERSION"; then
  step "cargo install wasm-bindgen-cli $WBG_VERSION"
  # Not --locked: its lock file pins a webpki-roots version the registry no longer serves.
  "${FAST_INSTALL[@]}" cargo install wasm-bindgen-cli --version "$WBG_VERSION" --force
fi

# wasm-opt from npm binaryen (Debian's binaryen 108 silently breaks the module); playwright-core for e2e.
if [ ! -x tests/e2e/node_modules/.bin/wasm-opt ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
  step "npm ci (tests/e2e: binaryen wasm-opt, playwright-core)"
  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--test" ]; then
  # LLMeter itself, to check that the command's merged folders load with Result.load (tests/e2e/cli.test.mjs).
  if ! python3 -c "import llmeter.results" 2>/dev/null; then
    step "pip install llmeter"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "llmeter==0.2.0"
  fi
  # Offline validation of deploy/kubernetes/ (the package ships the Kubernetes schemas).
  if ! python3 -m kubernetes_validate --version 2>/dev/null | grep -q "1.37.0"; then
    step "pip install kubernetes-validate"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "kubernetes-validate==1.37.0"
  fi
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    step "apt-get install chromium chromium-driver"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  fi
fi
