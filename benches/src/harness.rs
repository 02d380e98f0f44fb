//! The measurement harness: workloads, the [`Contender`] trait every breaker
//! is driven through, and [`Team`], the threads that run one benchmark.
//!
//! # What is timed
//!
//! Each of a team's threads times its own loop of `iters` guarded calls with
//! [`Instant`]; [`Team::run`] returns the mean of the threads' times, so
//! `time / iters` is the latency of one call as a caller sees it, whatever
//! the thread count. Everything else happens outside the timed region:
//! threads are spawned once per benchmark, the contender is built in the
//! workload's state before every batch ([`Contender::prepare`]) and checked
//! after it, and the threads are released together by a barrier followed by a
//! short spin, so their loops overlap.

use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// In `closed_mixed`, one call in this many fails (1 %). Failures of one thread
/// are this many calls apart, so no contender ever sees the 6 consecutive
/// failures that trip it.
pub const FAILURE_PERIOD: u64 = 100;

/// What the callers do, and the state the breaker is in while they do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Closed breaker, every call succeeds.
    ClosedSuccess,
    /// Closed breaker, one call in [`FAILURE_PERIOD`] fails; it never trips.
    ClosedMixed,
    /// Open breaker (tripped, 60 s timeout): every call is rejected.
    OpenReject,
    /// Half-open breaker whose only probe slot is held by a call that never
    /// finishes: callers get `TooManyRequests`. Contenders without a probe
    /// limit admit everyone; they are measured doing that.
    HalfOpenSaturated,
    /// warden only (manual control): a breaker forced open with
    /// `force_open()`, every call rejected.
    ForcedOpenReject,
    /// warden only (manual control): a breaker `disable()`d, every call admitted,
    /// counted, and succeeding.
    DisabledSuccess,
    /// warden only: `half_open_saturated` with a half-open max wait (1 h, never
    /// reached), so every rejection also reads the clock and the deadline.
    HalfOpenMaxWait,
    /// warden only: `closed_success` with the count-window trip rule (last 100
    /// calls, 20 minimum, 50 %) instead of consecutive failures.
    CountWindowSuccess,
    /// warden only: `closed_success` with the time-window trip rule (last 10 s in
    /// 10 buckets, 20 minimum, 50 %): every success reads the clock.
    TimeWindowSuccess,
    /// warden only: `closed_success` with the slow-call rule (1 s threshold, 50 %,
    /// 20 minimum): every call is timed, two clock reads.
    SlowCallsSuccess,
    /// warden only: `closed_success` under the adaptive throttle (last 10 s in
    /// 10 buckets, k = 2): the accept path, every success reads the clock and the
    /// throttle's last evaluation; nothing is shed.
    AdaptiveSuccess,
    /// Tower middleware: `closed_success` as a tower service (`ready`, `call`,
    /// `.await`) on a current-thread tokio runtime per thread, each thread
    /// with its own clone of the service: the bare service, warden's
    /// `CircuitBreakerLayer` and `tower-resilience-circuitbreaker`.
    TowerLayer,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 12] = [
        Workload::ClosedSuccess,
        Workload::ClosedMixed,
        Workload::OpenReject,
        Workload::HalfOpenSaturated,
        Workload::ForcedOpenReject,
        Workload::DisabledSuccess,
        Workload::HalfOpenMaxWait,
        Workload::CountWindowSuccess,
        Workload::TimeWindowSuccess,
        Workload::SlowCallsSuccess,
        Workload::AdaptiveSuccess,
        Workload::TowerLayer,
    ];

    /// The name used in benchmark IDs (`{workload}/{threads}t/{contender}`).
    pub const fn name(self) -> &'static str {
        match self {
            Workload::ClosedSuccess => "closed_success",
            Workload::ClosedMixed => "closed_mixed",
            Workload::OpenReject => "open_reject",
            Workload::HalfOpenSaturated => "half_open_saturated",
            Workload::ForcedOpenReject => "forced_open_reject",
            Workload::DisabledSuccess => "disabled_success",
            Workload::HalfOpenMaxWait => "half_open_max_wait",
            Workload::CountWindowSuccess => "count_window_success",
            Workload::TimeWindowSuccess => "time_window_success",
            Workload::SlowCallsSuccess => "slow_calls_success",
            Workload::AdaptiveSuccess => "adaptive_success",
            Workload::TowerLayer => "tower_layer",
        }
    }

    /// The workload called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// What one guarded call came to, as the benchmark loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Called {
    /// Admitted; the operation succeeded with this value.
    Ok(u64),
    /// Admitted; the operation failed with this value.
    Failed(u64),
    /// Not admitted (open, or no free probe slot).
    Rejected,
}

/// One breaker implementation, as the harness drives it.
///
/// Adding a contender is one `impl`: how to build it in each workload's state,
/// and how to make a guarded call with its public API.
pub trait Contender: Send + Sync + Sized + 'static {
    /// The name used in benchmark IDs and the report.
    const NAME: &'static str;

    /// Whether a half-open breaker admits every caller (no probe limit), so
    /// `half_open_saturated` measures admissions rather than rejections.
    const HALF_OPEN_ADMITS_ALL: bool = false;

    /// A fresh contender in the state `workload` runs in, ready for `calls`
    /// more calls (summed over threads) without leaving it; `None` if the
    /// contender has no such state (the bare call cannot be open).
    fn prepare(workload: Workload, calls: u64) -> Option<Self>;

    /// Runs `op` guarded by the breaker and reports what happened.
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called;

    /// The timed loop of one thread: `iters` calls (by default [`run_loop`]).
    /// A contender that needs a per-thread context for its calls (a tokio
    /// runtime) sets it up here, around the whole loop.
    fn run(&self, workload: Workload, iters: u64, thread: usize) {
        run_loop(self, workload, iters, thread)
    }
}

/// The guarded operation: out of line, as a real dependency call is, so every
/// contender (the bare call included) pays the same call and return.
#[inline(never)]
pub fn backend(i: u64, fail: bool) -> Result<u64, u64> {
    let i = black_box(i);
    if fail { Err(i) } else { Ok(i) }
}

/// Whether `got` is what a call into a contender prepared for `workload`
/// should return (checked once after every batch).
pub fn expected<C: Contender>(workload: Workload, got: Called) -> bool {
    match workload {
        Workload::ClosedSuccess
        | Workload::ClosedMixed
        | Workload::DisabledSuccess
        | Workload::CountWindowSuccess
        | Workload::TimeWindowSuccess
        | Workload::SlowCallsSuccess
        | Workload::AdaptiveSuccess
        | Workload::TowerLayer => matches!(got, Called::Ok(_)),
        Workload::OpenReject | Workload::ForcedOpenReject | Workload::HalfOpenMaxWait => {
            got == Called::Rejected
        }
        Workload::HalfOpenSaturated if C::HALF_OPEN_ADMITS_ALL => matches!(got, Called::Ok(_)),
        Workload::HalfOpenSaturated => got == Called::Rejected,
    }
}

/// The timed loop of one thread: `iters` calls, every one's result kept alive.
#[inline(never)]
pub fn run_loop<C: Contender>(c: &C, workload: Workload, iters: u64, thread: usize) {
    match workload {
        Workload::ClosedMixed => {
            // Threads fail at staggered calls, spreading failures evenly.
            let mut countdown = FAILURE_PERIOD - (thread as u64 * 37) % FAILURE_PERIOD;
            for i in 0..iters {
                countdown -= 1;
                let fail = countdown == 0;
                if fail {
                    countdown = FAILURE_PERIOD;
                }
                black_box(c.call(|| backend(i, fail)));
            }
        }
        _ => {
            for i in 0..iters {
                black_box(c.call(|| backend(i, false)));
            }
        }
    }
}

struct Job<C> {
    contender: Arc<C>,
    iters: u64,
}

struct Shared<C> {
    workload: Workload,
    threads: usize,
    /// Releases the threads into a batch (threads + the coordinator).
    start: Barrier,
    /// Waits for every thread to finish a batch.
    end: Barrier,
    job: Mutex<Option<Job<C>>>,
    /// Threads that have reached the start line, summed over batches.
    arrived: AtomicUsize,
    quit: AtomicBool,
    /// A thread's loop panicked (the panic message is already printed).
    panicked: AtomicBool,
    /// Each thread's timed region in the current batch.
    spans: Mutex<Vec<(Instant, Instant)>>,
}

/// Threads that run one benchmark: spawned by [`Team::new`], released for a
/// batch by each [`Team::run`], joined on drop.
pub struct Team<C: Contender> {
    shared: Arc<Shared<C>>,
    handles: Vec<JoinHandle<()>>,
    /// Timed time during which every thread was running, summed over batches.
    together: Duration,
    /// Timed time from the first start to the last end, summed over batches.
    span: Duration,
}

impl<C: Contender> std::fmt::Debug for Team<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("contender", &C::NAME)
            .field("workload", &self.shared.workload)
            .field("threads", &self.shared.threads)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked already failed the benchmark; keep the data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: Contender> Team<C> {
    /// Spawns `threads` threads for `workload`, or returns `None` if the
    /// contender has no state for it.
    pub fn new(workload: Workload, threads: usize) -> Option<Self> {
        assert!(threads > 0, "a team needs a thread");
        // Probe once: a contender without this workload gets no threads.
        C::prepare(workload, 1)?;
        let shared = Arc::new(Shared {
            workload,
            threads,
            start: Barrier::new(threads + 1),
            end: Barrier::new(threads + 1),
            job: Mutex::new(None),
            arrived: AtomicUsize::new(0),
            quit: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            spans: Mutex::new(Vec::with_capacity(threads)),
        });
        let handles = (0..threads)
            .map(|index| {
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name(format!("{}-{index}", C::NAME))
                    .spawn(move || worker(&shared, index))
                    .expect("spawn a benchmark thread")
            })
            .collect();
        Some(Self {
            shared,
            handles,
            together: Duration::ZERO,
            span: Duration::ZERO,
        })
    }

    /// Runs one batch of `iters` calls on every thread against a freshly
    /// prepared contender; returns the mean of the threads' times.
    pub fn run(&mut self, iters: u64) -> Duration {
        let s = &*self.shared;
        let calls = iters.saturating_mul(s.threads as u64);
        let contender = Arc::new(
            C::prepare(s.workload, calls).expect("the contender prepared this workload before"),
        );
        *lock(&s.job) = Some(Job {
            contender: Arc::clone(&contender),
            iters,
        });
        s.start.wait();
        s.end.wait();
        lock(&s.job).take();
        // Relaxed: the end barrier orders the workers' stores before this load.
        assert!(
            !s.panicked.load(Ordering::Relaxed),
            "a {} thread panicked in {}",
            C::NAME,
            s.workload.name()
        );
        // The state must have held for the whole batch: check with one more call.
        let after = contender.call(|| backend(0, false));
        assert!(
            expected::<C>(s.workload, after),
            "{} left the {} state during a batch of {iters}: {after:?}",
            C::NAME,
            s.workload.name()
        );
        let spans: Vec<_> = lock(&s.spans).drain(..).collect();
        debug_assert_eq!(spans.len(), s.threads);
        if let (Some(first), Some(last), Some(start), Some(end)) = (
            spans.iter().map(|s| s.0).min(),
            spans.iter().map(|s| s.1).max(),
            spans.iter().map(|s| s.0).max(),
            spans.iter().map(|s| s.1).min(),
        ) {
            self.span += last - first;
            self.together += end.saturating_duration_since(start);
        }
        let total: Duration = spans.iter().map(|(t0, t1)| *t1 - *t0).sum();
        total / s.threads as u32
    }

    /// The share of the timed time during which all threads were running, near
    /// 1.0 on an idle machine; `None` for one thread or under 10 ms of timing
    /// (criterion's test mode). A busy machine runs the threads in turns, and
    /// the contended figures come out too low.
    pub fn overlap(&self) -> Option<f64> {
        overlap(self.shared.threads, self.together, self.span)
    }

    /// The timed time with every thread running and from the first start to
    /// the last end, each summed over this team's batches: to add up
    /// [`overlap`] over several teams.
    pub fn timing(&self) -> (Duration, Duration) {
        (self.together, self.span)
    }
}

/// [`Team::overlap`] of `threads` threads from the sums of [`Team::timing`].
pub fn overlap(threads: usize, together: Duration, span: Duration) -> Option<f64> {
    (threads > 1 && span >= Duration::from_millis(10))
        .then(|| together.as_secs_f64() / span.as_secs_f64())
}

impl<C: Contender> Team<C> {}

fn worker<C: Contender>(shared: &Shared<C>, index: usize) {
    let mut batch = 0;
    loop {
        shared.start.wait();
        // Relaxed: the start barrier orders this after the coordinator's store.
        if shared.quit.load(Ordering::Relaxed) {
            return;
        }
        batch += 1;
        let (contender, iters) = {
            let job = lock(&shared.job);
            let job = job.as_ref().expect("a job is set before the start barrier");
            (Arc::clone(&job.contender), job.iters)
        };
        // The barrier wakes threads one by one; spin until all are awake so the loops
        // overlap. Relaxed: a pure counter, nothing is published through it.
        shared.arrived.fetch_add(1, Ordering::Relaxed);
        while shared.arrived.load(Ordering::Relaxed) < batch * shared.threads {
            std::hint::spin_loop();
        }
        let t0 = Instant::now();
        let looped = catch_unwind(AssertUnwindSafe(|| {
            contender.run(shared.workload, iters, index)
        }));
        let t1 = Instant::now();
        if looped.is_err() {
            // Relaxed: the end barrier orders it before the coordinator's load.
            shared.panicked.store(true, Ordering::Relaxed);
        }
        drop(contender);
        lock(&shared.spans).push((t0, t1));
        shared.end.wait();
    }
}

impl<C: Contender> Drop for Team<C> {
    fn drop(&mut self) {
        // Relaxed: the start barrier below orders it before the workers' loads.
        self.shared.quit.store(true, Ordering::Relaxed);
        self.shared.start.wait();
        for h in self.handles.drain(..) {
            // A worker's panic has already been reported by the batch that hit it.
            let _ = h.join();
        }
    }
}
