//! The comparison: every workload at 1 and 2 threads for every contender, then
//! the scale benchmarks (`scale.rs`: many breakers, many threads, memory).
//! IDs are `{workload}/{threads}t/{contender}`. Run with `benches/run.sh`.
//!
//! The metrics backends run in two groups, each between two measurements of
//! its reference: `warden-breaker-unwatched` (the breaker with no backend, in
//! the group's own loop), the four core backends, `warden-breaker-again`;
//! `warden-kit`, the three facade backends, `warden-kit-again`. The second
//! measurement is the A/A control the report decides the 1 ns metrics checks
//! with.
//!
//! The policies' closed success (`warden_benches::paired::PAIRED_WORKLOADS`)
//! is measured paired: `warden-breaker`'s batches there alternate with batches
//! of the default policy's closed success on a second team of threads, and
//! both totals are written next to criterion's output for the report's policy
//! checks (see `warden_benches::paired`).

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group};
use warden_benches::contenders::{Bare, WardenBreaker, WardenMutex};
use warden_benches::harness::{Contender, Team, Workload};
use warden_benches::paired::{Batches, PAIRED_WORKLOADS, paired_path, policy_first};
use warden_benches::report::criterion_dir;

mod facade;
mod metrics;
mod peers;
mod scale;
mod tower;

use facade::Facade;
use metrics::{Again, MetricsRs, Otel, Prometheus, Telemetry, TracingEvents, Unwatched};
use peers::{Failsafe, Reclose};
use tower::{BareStack, Tower, TowerResilience, WardenArc, WardenStatic};

const THREADS: [usize; 2] = [1, 2];

/// Below this share of time with all threads running, a multi-thread figure
/// is flagged.
const MIN_OVERLAP: f64 = 0.9;

/// One benchmark: `C` under `workload` on `threads` threads started once.
fn bench<C: Contender>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    workload: Workload,
    threads: usize,
) {
    let Some(mut team) = Team::<C>::new(workload, threads) else {
        return; // no such state (the bare call is never open)
    };
    group.bench_function(BenchmarkId::new(format!("{threads}t"), C::NAME), |b| {
        b.iter_custom(|iters| team.run(iters))
    });
    warn_overlap(&team, workload, threads, "");
}

fn warn_overlap<C: Contender>(team: &Team<C>, workload: Workload, threads: usize, what: &str) {
    if let Some(overlap) = team.overlap().filter(|o| *o < MIN_OVERLAP) {
        eprintln!(
            "warning: {}/{threads}t/{}{what}: the threads ran together only {:.0}% of the \
             timed time (a busy machine?), so contention is understated",
            workload.name(),
            C::NAME,
            overlap * 100.0
        );
    }
}

/// `warden-breaker` under `workload` (a policy's closed success), paired: each
/// batch runs next to a batch of the same size of the default policy's closed
/// success on its own team of threads, the policy first on odd batches.
/// Criterion gets the policy's time alone; both sides' totals over the
/// measured batches go to `paired.json` beside criterion's files (see
/// `warden_benches::paired`).
fn bench_paired(group: &mut BenchmarkGroup<'_, WallTime>, workload: Workload, threads: usize) {
    let (Some(mut policy), Some(mut reference)) = (
        Team::<WardenBreaker>::new(workload, threads),
        Team::<WardenBreaker>::new(Workload::ClosedSuccess, threads),
    ) else {
        unreachable!("warden-breaker has every closed workload");
    };
    let mut batches = Batches::default();
    group.bench_function(
        BenchmarkId::new(format!("{threads}t"), WardenBreaker::NAME),
        |b| {
            b.iter_custom(|iters| {
                let (p, r) = if policy_first(batches.len() + 1) {
                    let p = policy.run(iters);
                    (p, reference.run(iters))
                } else {
                    let r = reference.run(iters);
                    (policy.run(iters), r)
                };
                batches.record(iters, p, r);
                p
            })
        },
    );
    warn_overlap(&policy, workload, threads, "");
    warn_overlap(
        &reference,
        workload,
        threads,
        " (its closed_success reference)",
    );
    // Filtered out, a test run or a quick run: nothing measured to pair.
    let Some(paired) = batches.measured() else {
        return;
    };
    // Criterion's own directory: $CRITERION_HOME if set, as criterion reads it.
    let dir = std::env::var_os("CRITERION_HOME")
        .filter(|d| !d.is_empty())
        .map_or_else(criterion_dir, std::path::PathBuf::from);
    let path = paired_path(&dir, workload, threads as u32);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, paired.to_json()));
    match written {
        Ok(()) => eprintln!(
            "{}/{threads}t/{}: paired with closed_success over {} batches: {:.2} ns ÷ {:.2} ns \
             = {:.2}×",
            workload.name(),
            WardenBreaker::NAME,
            paired.batches,
            paired.policy_ns,
            paired.reference_ns,
            paired.ratio()
        ),
        Err(e) => eprintln!("warning: cannot write {}: {e}", path.display()),
    }
}

fn compare(c: &mut Criterion) {
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.name());
        // Every sample the same length, long enough to amortise the start barrier.
        group.sampling_mode(SamplingMode::Flat);
        for threads in THREADS {
            bench::<Bare>(&mut group, workload, threads);
            if PAIRED_WORKLOADS.contains(&workload) {
                bench_paired(&mut group, workload, threads);
            } else {
                bench::<WardenBreaker>(&mut group, workload, threads);
            }
            bench::<Telemetry<Unwatched>>(&mut group, workload, threads);
            bench::<Prometheus>(&mut group, workload, threads);
            bench::<Telemetry<Otel>>(&mut group, workload, threads);
            bench::<Telemetry<MetricsRs>>(&mut group, workload, threads);
            bench::<Telemetry<TracingEvents>>(&mut group, workload, threads);
            bench::<Telemetry<Again>>(&mut group, workload, threads);
            bench::<Facade<facade::NoMetrics>>(&mut group, workload, threads);
            bench::<Facade<facade::Prometheus>>(&mut group, workload, threads);
            bench::<Facade<facade::Otel>>(&mut group, workload, threads);
            bench::<Facade<facade::MetricsRs>>(&mut group, workload, threads);
            bench::<Facade<facade::NoMetricsAgain>>(&mut group, workload, threads);
            bench::<WardenMutex>(&mut group, workload, threads);
            bench::<Failsafe>(&mut group, workload, threads);
            bench::<Reclose>(&mut group, workload, threads);
            bench::<Tower<BareStack>>(&mut group, workload, threads);
            bench::<Tower<WardenStatic>>(&mut group, workload, threads);
            bench::<Tower<WardenArc>>(&mut group, workload, threads);
            bench::<Tower<TowerResilience>>(&mut group, workload, threads);
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = compare, scale::scale
}

// `criterion_main!`, plus the memory probe's child process (see `scale.rs`).
fn main() {
    if let Some(name) = scale::probe_requested() {
        scale::probe(&name);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
