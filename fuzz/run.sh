#!/usr/bin/env bash
# Fuzz smoke for CI: runs every cargo-fuzz target for ${FUZZ_SECONDS:-60} seconds
# on the stable toolchain (no sanitizer: ASan needs nightly flags) and fails on
# any crash, i.e. any panic in a target. Run from anywhere: bash fuzz/run.sh
#
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
#   cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

# cargo-fuzz has no --locked of its own: check fuzz/Cargo.lock is up to date first.
cargo fetch --locked --manifest-path fuzz/Cargo.toml
cargo fuzz build --sanitizer none

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
  echo "::: fuzz $target (${seconds}s)"
  start=$SECONDS
  # libFuzzer logs every new coverage point; keep the log and show its summary,
  # or its end on a crash (the panic message, the input and how to replay it).
  if cargo fuzz run --sanitizer none "$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    echo "::: fuzz $target ok ($((SECONDS - start))s)"
  else
    tail -n 80 "$log"
    echo "::: fuzz $target FAILED"
    exit 1
  fi
done
