//! At scale, against the peers: `many_breakers` (100,000 closed breakers called
//! round-robin, so every call misses the cache; 1 and 2 threads, ns per call as
//! a caller sees it), `many_threads` (one closed breaker, 8, 64 and 256 threads;
//! ns per call per core: the wall time of the batch times the cores, divided by
//! the calls) and the memory a breaker costs (RSS growth over 100,000 breakers
//! each built and called once, measured in a child process so nothing freed
//! by earlier benchmarks is reused).
//!
//! In test mode (`cargo test --benches`, CI's smoke run) the sizes shrink: 1,000
//! breakers, and each thread count makes one call per thread.

use std::hint::black_box;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use warden_benches::contenders::{WardenBreaker, WardenMutex};
use warden_benches::harness::{Called, Contender, Workload, backend};
use warden_benches::report::{MEMORY_FILE, criterion_dir};

use crate::peers::{Failsafe, Reclose};

/// Breakers in `many_breakers` and in the memory probe.
const BREAKERS: usize = 100_000;
/// Thread counts of `many_threads`.
const MANY_THREADS: [usize; 3] = [8, 64, 256];
/// Set in the child process that measures one contender's memory.
const PROBE: &str = "WARDEN_BENCH_MEMORY_PROBE";

/// criterion's test mode: `cargo bench` passes `--bench`, `cargo test` does not.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn breakers() -> usize {
    if smoke() { 1_000 } else { BREAKERS }
}

/// Runs `work(thread)` on `threads` threads released together; returns each
/// thread's (start, end).
fn together(threads: usize, work: &(dyn Fn(usize) + Sync)) -> Vec<(Instant, Instant)> {
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let t0 = Instant::now();
                    work(t);
                    (t0, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread"))
            .collect()
    })
}

/// `n` closed contenders, each called once by this thread.
fn build<C: Contender>(n: usize) -> Vec<C> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let c = C::prepare(Workload::ClosedSuccess, 0).expect("a closed contender");
        assert!(matches!(c.call(|| backend(0, false)), Called::Ok(_)));
        all.push(c);
    }
    all
}

fn many_breakers<C: Contender>(c: &mut Criterion) {
    if filtered_out("many_breakers") {
        return;
    }
    let all = build::<C>(breakers());
    let n = all.len();
    let mut group = c.benchmark_group("many_breakers");
    group.sampling_mode(SamplingMode::Flat);
    for threads in [1, 2] {
        group.bench_function(BenchmarkId::new(format!("{threads}t"), C::NAME), |b| {
            b.iter_custom(|iters| {
                let spans = together(threads, &|t| {
                    // Threads start apart and walk the breakers in order.
                    let mut i = t * n / threads;
                    for k in 0..iters {
                        black_box(all[i].call(|| backend(k, false)));
                        i += 1;
                        if i == n {
                            i = 0;
                        }
                    }
                });
                let total: Duration = spans.iter().map(|(a, b)| *b - *a).sum();
                total / threads as u32
            })
        });
    }
    group.finish();
}

fn many_threads<C: Contender>(c: &mut Criterion) {
    if filtered_out("many_threads") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one = C::prepare(Workload::ClosedSuccess, 0).expect("a closed contender");
    let mut group = c.benchmark_group("many_threads");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    for threads in MANY_THREADS {
        group.bench_function(BenchmarkId::new(format!("{threads}t"), C::NAME), |b| {
            b.iter_custom(|iters| {
                let spans = together(threads, &|_| {
                    for k in 0..iters {
                        black_box(one.call(|| backend(k, false)));
                    }
                });
                let first = spans.iter().map(|s| s.0).min().expect("threads");
                let last = spans.iter().map(|s| s.1).max().expect("threads");
                // criterion divides by `iters`: per call, per core.
                (last - first) * cores as u32 / threads as u32
            })
        });
    }
    group.finish();
}

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The child process: builds the breakers of contender `name`, prints the RSS
/// growth per breaker on stdout.
pub(crate) fn probe(name: &str) {
    fn measure<C: Contender>() -> f64 {
        let n = breakers();
        let before = rss();
        let all = build::<C>(n);
        let grown = rss().saturating_sub(before);
        black_box(&all);
        grown as f64 / n as f64
    }
    let bytes = match name {
        "warden-breaker" => measure::<WardenBreaker>(),
        "warden-mutex" => measure::<WardenMutex>(),
        "failsafe" => measure::<Failsafe>(),
        "recloser" => measure::<Reclose>(),
        other => panic!("no contender {other}"),
    };
    println!("{bytes}");
}

/// Whether criterion was given name filters none of which mentions `group` (a
/// targeted run elsewhere: then this group's setup, 100,000 breakers or the
/// memory probe, is skipped too).
fn filtered_out(group: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let takes_value = [
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--color",
        "--output-format",
        "--plotting-backend",
        "--format",
        "--profile-time",
    ];
    let filters: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with('-')
                && a.parse::<f64>().is_err()
                && !(*i > 0 && takes_value.contains(&args[i - 1].as_str()))
        })
        .map(|(_, a)| a)
        .collect();
    !filters.is_empty()
        && !filters
            .iter()
            .any(|f| group.starts_with(f.split('/').next().unwrap_or(f)))
}

/// Bytes per breaker of every contender, each measured in a fresh child process;
/// written to criterion's directory for the report (not in test mode).
fn memory() {
    if filtered_out("many_breakers") {
        return;
    }
    let exe = std::env::current_exe().expect("the bench binary");
    let mut found = serde_json::Map::new();
    for name in ["warden-breaker", "warden-mutex", "failsafe", "recloser"] {
        let mut cmd = Command::new(&exe);
        cmd.env(PROBE, name);
        if !smoke() {
            cmd.arg("--bench");
        }
        let out = cmd.output().expect("run the memory probe");
        let text = String::from_utf8_lossy(&out.stdout);
        let bytes: f64 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("memory probe of {name} printed {text:?}"));
        eprintln!(
            "many_breakers/bytes_per_breaker/{name}: {bytes:.0} B (RSS growth over {} breakers)",
            breakers()
        );
        found.insert(name.to_string(), bytes.into());
    }
    if !smoke() {
        let path = criterion_dir().join(MEMORY_FILE);
        let json = serde_json::Value::Object(found).to_string();
        let dir = path.parent().map(std::path::Path::to_path_buf);
        let created = dir.map_or(Ok(()), std::fs::create_dir_all);
        if let Err(e) = created.and_then(|()| std::fs::write(&path, json)) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
}

/// The child's entry point, if this process is one: `main` runs it instead of
/// the benchmarks.
pub(crate) fn probe_requested() -> Option<String> {
    std::env::var(PROBE).ok()
}

/// Every benchmark of this module.
pub(crate) fn scale(c: &mut Criterion) {
    memory();
    many_breakers::<WardenBreaker>(c);
    many_breakers::<WardenMutex>(c);
    many_breakers::<Failsafe>(c);
    many_breakers::<Reclose>(c);
    many_threads::<WardenBreaker>(c);
    many_threads::<WardenMutex>(c);
    many_threads::<Failsafe>(c);
    many_threads::<Reclose>(c);
}
