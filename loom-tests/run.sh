#!/usr/bin/env bash
# Model-checks every concurrent transition of warden-breaker with loom.
#
#   loom-tests/run.sh                 # the whole suite (about 35 s of models, plus the build)
#   loom-tests/run.sh admission_cap   # extra arguments go to libtest (filters, --exact, ...)
#
# Environment:
#   LOOM_MAX_PREEMPTIONS  preemption bound (default 3); a model's own cap in its `explore`
#                         call lowers it for that model (see loom-tests/README.md)
#   LOOM_TARGET_DIR       cargo target dir (default target/loom: loom builds every crate
#                         with --cfg loom, so they never share artifacts with normal builds)
#
# Release build (loom is slow unoptimised) with debug assertions on, so the core's
# debug_assert!s and overflow checks run inside the model. Exits non-zero if any model
# fails; prints one summary line per model at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="--cfg loom -C debug-assertions"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$PWD/target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
status=0
cargo test -p warden-loom-tests --release --tests --no-fail-fast -- --show-output "$@" 2>&1 \
  | tee "$log" || status=$?
# The core's own models of private parts (the time window's slot seqlock), in its
# `#[cfg(all(test, loom))]` modules.
cargo test -p warden-breaker --release --lib -- loom_models "$@" 2>&1 \
  | tee -a "$log" || status=$?
echo
echo "loom summary (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, $((SECONDS - start)) s including the build):"
grep -E '^loom [a-z_]+::' "$log" | sort || true
exit "$status"
