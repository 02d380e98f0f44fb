//! The comparison: every workload at 1 and 2 threads for every contender, then
//! the scale benchmarks (`scale.rs`: many breakers, many threads, memory).
//! IDs are `{workload}/{threads}t/{contender}`. Run with `benches/run.sh`.
//!
//! The metrics backends run in two groups, each between two measurements of
//! its reference: `warden-breaker-unwatched` (the breaker with no backend, in
//! the group's own loop), the four core backends, `warden-breaker-again`;
//! `warden-kit`, the three facade backends, `warden-kit-again`. The second
//! measurement is the A/A control of the unpaired figures. Each backend and
//! each A/A control is also measured paired: its batches alternate with
//! batches of its group's baseline (each batch on threads of its own), and both
//! totals are written next to criterion's output; the report decides the 1 ns
//! metrics checks on that paired difference, with the control's paired
//! difference as the method's resolution.
//!
//! The policies' closed success (`warden_benches::paired::PAIRED_WORKLOADS`)
//! is measured paired: `warden-breaker`'s batches there alternate with batches
//! of the default policy's closed success (each on threads of its own), and
//! both totals are written next to criterion's output for the report's policy
//! checks (see `warden_benches::paired`).

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group};
use std::time::Duration;
use warden_benches::contenders::{Bare, WardenBreaker, WardenMutex};

use warden_benches::harness::{Contender, Team, Workload, overlap};
use warden_benches::paired::{
    Batches, PAIRED_WORKLOADS, contender_paired_path, metrics_reference, policy_first,
};
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
    warn_low_overlap(team.overlap(), workload, threads, C::NAME, what);
}

fn warn_low_overlap(
    overlap: Option<f64>,
    workload: Workload,
    threads: usize,
    name: &str,
    what: &str,
) {
    if let Some(overlap) = overlap.filter(|o| *o < MIN_OVERLAP) {
        eprintln!(
            "warning: {}/{threads}t/{name}{what}: the threads ran together only {:.0}% of the \
             timed time (a busy machine?), so contention is understated",
            workload.name(),
            overlap * 100.0
        );
    }
}

/// One batch of `iters` calls per thread of `C` under `workload`, on a team
/// of threads spawned for it and joined before the other side's batch: the two
/// sides of a pair never have threads alive at once, and each batch's threads
/// start the same way on both sides. With two teams kept alive through the
/// whole benchmark, the same code (`warden-breaker-again` against
/// `warden-breaker-unwatched`) read 5.8 and 13.0 ns slower on the reference
/// team at 2 threads (2026-12-06 22:36 UTC, a loaded machine) while agreeing
/// to 0.02 ns at 1 thread; with a team per batch, 0.05 and 0.16 ns (22:38
/// UTC). What the first team's threads had that the second's lacked was not
/// tracked down. The spawning and joining are outside the timed loops. Adds
/// the team's [`Team::timing`] to `timing`.
fn one_batch<C: Contender>(
    workload: Workload,
    threads: usize,
    iters: u64,
    timing: &mut (Duration, Duration),
) -> Duration {
    let mut team = Team::<C>::new(workload, threads).expect("probed before the benchmark");
    let took = team.run(iters);
    let (together, span) = team.timing();
    timing.0 += together;
    timing.1 += span;
    took
}

/// `warden-breaker` under `workload` (a policy's closed success), paired with
/// the default policy's closed success (see [`bench_paired_with`]).
fn bench_paired(group: &mut BenchmarkGroup<'_, WallTime>, workload: Workload, threads: usize) {
    bench_paired_with::<WardenBreaker, WardenBreaker>(
        group,
        workload,
        Workload::ClosedSuccess,
        threads,
    );
}

/// A metrics benchmark `C` (a backend, or an A/A control) under `workload`,
/// paired with its group's baseline `R` under the same workload (see
/// [`bench_paired_with`] and `warden_benches::paired::METRICS_PAIRED`).
fn bench_metrics<C: Contender, R: Contender>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    workload: Workload,
    threads: usize,
) {
    debug_assert_eq!(metrics_reference(C::NAME), Some(R::NAME));
    bench_paired_with::<C, R>(group, workload, workload, threads);
}

/// `C` under `workload`, paired: each batch runs next to a batch of the same
/// size of `R` under `reference`, each on a team of threads of its own
/// spawned for the batch ([`one_batch`]), `C` first on odd batches. Criterion gets `C`'s time alone; both sides' totals over the
/// measured batches go to `paired.json` beside criterion's files for `C` (see
/// `warden_benches::paired`). Nothing is run if either has no such state.
fn bench_paired_with<C: Contender, R: Contender>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    workload: Workload,
    reference_workload: Workload,
    threads: usize,
) {
    // Probe both: a contender without this state gets no benchmark.
    if Team::<C>::new(workload, threads).is_none()
        || Team::<R>::new(reference_workload, threads).is_none()
    {
        return;
    }
    let mut batches = Batches::default();
    let (mut measured_timing, mut reference_timing) = Default::default();
    group.bench_function(BenchmarkId::new(format!("{threads}t"), C::NAME), |b| {
        b.iter_custom(|iters| {
            let (m, r) = if policy_first(batches.len() + 1) {
                let m = one_batch::<C>(workload, threads, iters, &mut measured_timing);
                let r = one_batch::<R>(reference_workload, threads, iters, &mut reference_timing);
                (m, r)
            } else {
                let r = one_batch::<R>(reference_workload, threads, iters, &mut reference_timing);
                let m = one_batch::<C>(workload, threads, iters, &mut measured_timing);
                (m, r)
            };
            batches.record(iters, m, r);
            m
        })
    });
    warn_low_overlap(
        overlap(threads, measured_timing.0, measured_timing.1),
        workload,
        threads,
        C::NAME,
        "",
    );
    warn_low_overlap(
        overlap(threads, reference_timing.0, reference_timing.1),
        workload,
        threads,
        C::NAME,
        &format!(" (its reference, {})", R::NAME),
    );
    // Filtered out, a test run or a quick run: nothing measured to pair.
    let Some(paired) = batches.measured() else {
        return;
    };
    // Criterion's own directory: $CRITERION_HOME if set, as criterion reads it.
    let dir = std::env::var_os("CRITERION_HOME")
        .filter(|d| !d.is_empty())
        .map_or_else(criterion_dir, std::path::PathBuf::from);
    let path = contender_paired_path(&dir, workload, threads as u32, C::NAME);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, paired.to_json()));
    match written {
        Ok(()) => eprintln!(
            "{}/{threads}t/{}: paired with {}/{threads}t/{} over {} batches: {:.2} ns vs \
             {:.2} ns: ratio {:.3}×, difference {:+.3} ns",
            workload.name(),
            C::NAME,
            reference_workload.name(),
            R::NAME,
            paired.batches,
            paired.policy_ns,
            paired.reference_ns,
            paired.ratio(),
            paired.difference()
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
            type Base = Telemetry<Unwatched>;
            bench_metrics::<Prometheus, Base>(&mut group, workload, threads);
            bench_metrics::<Telemetry<Otel>, Base>(&mut group, workload, threads);
            bench_metrics::<Telemetry<MetricsRs>, Base>(&mut group, workload, threads);
            bench_metrics::<Telemetry<TracingEvents>, Base>(&mut group, workload, threads);
            bench_metrics::<Telemetry<Again>, Base>(&mut group, workload, threads);
            type KitBase = Facade<facade::NoMetrics>;
            bench::<KitBase>(&mut group, workload, threads);
            bench_metrics::<Facade<facade::Prometheus>, KitBase>(&mut group, workload, threads);
            bench_metrics::<Facade<facade::Otel>, KitBase>(&mut group, workload, threads);
            bench_metrics::<Facade<facade::MetricsRs>, KitBase>(&mut group, workload, threads);
            bench_metrics::<Facade<facade::NoMetricsAgain>, KitBase>(&mut group, workload, threads);
            bench::<WardenMutex>(&mut group, workload, threads);
            bench::<Failsafe>(&mut group, workload, threads);
            bench::<Reclose>(&mut group, workload, threads);
            bench::<Tower<BareStack>>(&mut group, workload, threads);
            // Paired with the bare service: the report's check is what the layer
            // adds to it (see `bench_paired_with`).
            bench_paired_with::<Tower<WardenStatic>, Tower<BareStack>>(
                &mut group, workload, workload, threads,
            );
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
