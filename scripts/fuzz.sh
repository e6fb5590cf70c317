#!/usr/bin/env bash
# The long fuzz run: tests/fuzz.rs's properties (every decoder, every file reader, arbitrary and mutated bytes in
# arbitrary chunks) for CASES cases each (default 1,000,000), optimised. Prints the cases run and the panics found;
# exits non-zero on the first panic, with proptest's minimal failing input.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-1000000}
cargo test --release --locked --test integration --no-run
started=$SECONDS
if PROPTEST_CASES=$cases cargo test --release --locked --test integration fuzz:: -- --test-threads=2; then
  properties=$(grep -c '^    fn no_' tests/fuzz.rs)
  echo "fuzz: $properties properties × $cases cases = $((properties * cases)) cases in $((SECONDS - started)) s; panics: 0"
else
  echo "fuzz: a panic was found (above: the minimal input)"
  exit 1
fi
