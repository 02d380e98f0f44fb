#!/usr/bin/env bash
# Negative control for the loom suite: proves the models can fail.
#
# `--cfg warden_mutant` compiles warden-breaker with half-open admission as a plain load
# followed by a store instead of a compare-and-swap (see `admit_slow` in
# crates/warden-breaker/src/breaker.rs). Each model listed below must PASS on the real
# core and FAIL on the mutant, with a panic raised by the model or by the core's own
# debug assertions (not by loom itself, e.g. a branch limit). Exits non-zero otherwise.
#
# The real build shares target/loom and RUSTFLAGS with run.sh (no rebuild after it);
# the mutant gets its own target dir.
set -euo pipefail
cd "$(dirname "$0")/.."

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
real_flags="--cfg loom -C debug-assertions"
mutant_flags="$real_flags --cfg warden_mutant"
real_dir="${LOOM_TARGET_DIR:-$PWD/target/loom}"
mutant_dir="${LOOM_MUTANT_TARGET_DIR:-$PWD/target/loom-mutant}"

# test file, model: the models that must catch the mutant.
catchers=(
  "half_open admission_cap_two_of_three"          # 3 of 3 callers admitted with max_requests = 2
  "half_open open_to_half_open_once"              # the same, racing the Open -> HalfOpen exchange
  "stale stale_outcomes_change_nothing"           # a lost update of the held-probe count
  "callbacks probes_close_during_half_open_callback" # the store wipes PENDING: callbacks overlap
)

model() { # flags, target dir, test file, model name
  RUSTFLAGS="$1" CARGO_TARGET_DIR="$2" \
    cargo test -q -p warden-loom-tests --release --test "$3" -- --exact "$4" --nocapture
}

echo "::: building the real core and the mutant"
RUSTFLAGS="$real_flags" CARGO_TARGET_DIR="$real_dir" \
  cargo test -q -p warden-loom-tests --release --tests --no-run
RUSTFLAGS="$mutant_flags" CARGO_TARGET_DIR="$mutant_dir" \
  cargo test -q -p warden-loom-tests --release --tests --no-run

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
for entry in "${catchers[@]}"; do
  read -r file name <<<"$entry"
  if ! model "$real_flags" "$real_dir" "$file" "$name" >"$log" 2>&1; then
    cat "$log"
    echo "FAIL $file::$name fails on the real core"
    failed=1
    continue
  fi
  if model "$mutant_flags" "$mutant_dir" "$file" "$name" >"$log" 2>&1; then
    echo "FAIL $file::$name passes on the mutant: it no longer catches it"
    failed=1
  elif ! grep -qE "panicked at (loom-tests|crates/warden-breaker)/" "$log"; then
    cat "$log"
    echo "FAIL $file::$name failed on the mutant, but not by an assertion of the model or the core"
    failed=1
  else
    why=$(grep -m1 -A1 -E "panicked at (loom-tests|crates/warden-breaker)/" "$log" | tail -n1)
    echo "ok   $file::$name passes on the real core, catches the mutant: $why"
  fi
done
exit "$failed"
