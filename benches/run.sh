#!/usr/bin/env bash
# The comparison in one command: builds the benches, runs every benchmark
# (12 workloads x 1 and 2 threads x every contender that has the state, 112 in all, 8 of them
# the metrics checks' A/A controls, about 40 s; the 8 policy benchmarks, count/time window,
# slow calls and throttle at 1 and 2 threads, also time the default policy's closed success
# in batches alternating with theirs, for the report's paired policy checks, about 20 s
# more; the 36 metrics benchmarks, each backend and each A/A control at 1 and 2 threads
# on closed_success and open_reject, likewise time their baseline, warden-breaker-unwatched
# or warden-kit, in alternating batches for the paired metrics checks, about 4 minutes
# more (each batch of a paired benchmark starts its own threads); then the
# scale benchmarks: the memory probe, 8 many_breakers and 12 many_threads, about 3 minutes
# more), then prints
# the table, writes it to target/criterion/warden-report.md and draws
# target/criterion/warden-report.svg ($CARGO_TARGET_DIR/criterion if set).
#
#   benches/run.sh                  # short run: about 12 minutes on 2 cores, plus the build
#   benches/run.sh closed_success   # extra arguments go to criterion (here: a filter)
#   WARM_UP=3 MEASUREMENT=10 benches/run.sh   # the long version, about 22 minutes
#
# Absolute times vary between runs and machines; quote ratios from one run.
set -euo pipefail
cd "$(dirname "$0")/.."

warm_up=${WARM_UP:-1}
measurement=${MEASUREMENT:-3}

cargo bench -p warden-benches --bench compare -- \
    --warm-up-time "$warm_up" --measurement-time "$measurement" "$@"
cargo run -p warden-benches --release --bin report
