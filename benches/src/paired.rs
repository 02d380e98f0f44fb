//! Paired measurements: a benchmark timed in batches alternating with batches
//! of its reference, so the report compares two figures taken over the same
//! seconds. The policies' closed success is paired with the default policy's
//! closed success; each metrics backend (and the metrics baselines' A/A
//! controls) with the same breaker or pipeline without metrics
//! ([`METRICS_PAIRED`]).
//!
//! A shared VM can run everything faster or slower for seconds at a time. The
//! default policy's own benchmark (`closed_success/{t}t/warden-breaker`) runs
//! minutes before the policies', so a ratio of the two criterion figures can
//! compare two different speeds of the machine. The benchmarks of
//! [`PAIRED_WORKLOADS`] therefore run, after each of their batches (or before
//! it, every other batch), one batch of the same size calling a
//! `warden-breaker` prepared for `closed_success` (each batch, of either side,
//! on threads spawned for it and joined before the next), and write
//! both totals over the measured batches to [`PAIRED_FILE`] next to
//! criterion's output for the policy's benchmark. Criterion still gets only
//! the policy's times, so its figure for the policy is what it would be
//! without the pairing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::Workload;
use crate::report::{
    BASELINE, BASELINE_AGAIN, FACADE_BASELINE, FACADE_BASELINE_AGAIN, FACADE_METRICS_BACKENDS,
    METRICS_BACKENDS, METRICS_UNWATCHED,
};

/// The workloads whose `warden-breaker` benchmark is paired with the default
/// policy's closed success.
pub const PAIRED_WORKLOADS: [Workload; 4] = [
    Workload::CountWindowSuccess,
    Workload::TimeWindowSuccess,
    Workload::SlowCallsSuccess,
    Workload::AdaptiveSuccess,
];

/// The file name, in criterion's directory of the policy's benchmark.
pub const PAIRED_FILE: &str = "paired.json";

/// Where the paired figures of `workload` at `threads` threads are written
/// under criterion's output directory `dir`:
/// `{dir}/{workload}/{threads}t/warden-breaker/paired.json`.
pub fn paired_path(dir: &Path, workload: Workload, threads: u32) -> PathBuf {
    contender_paired_path(dir, workload, threads, BASELINE)
}

/// Where the paired figures of `contender`'s benchmark under `workload` at
/// `threads` threads are written under criterion's output directory `dir`:
/// `{dir}/{workload}/{threads}t/{contender}/paired.json`.
pub fn contender_paired_path(
    dir: &Path,
    workload: Workload,
    threads: u32,
    contender: &str,
) -> PathBuf {
    dir.join(workload.name())
        .join(format!("{threads}t"))
        .join(contender)
        .join(PAIRED_FILE)
}

/// The workloads the metrics benchmarks run (the paths that record a total
/// per call).
pub const METRICS_WORKLOADS: [Workload; 2] = [Workload::ClosedSuccess, Workload::OpenReject];

/// The paired metrics benchmarks and the baseline each is paired with, on the
/// same workload: every core backend and the core A/A control
/// ([`BASELINE_AGAIN`]) with [`METRICS_UNWATCHED`], every facade backend and
/// the facade's A/A control with [`FACADE_BASELINE`]. A control's paired
/// difference is that of two teams running the same code: the method's own
/// resolution.
pub const METRICS_PAIRED: [(&str, &str); 9] = [
    (METRICS_BACKENDS[0], METRICS_UNWATCHED),
    (METRICS_BACKENDS[1], METRICS_UNWATCHED),
    (METRICS_BACKENDS[2], METRICS_UNWATCHED),
    (METRICS_BACKENDS[3], METRICS_UNWATCHED),
    (BASELINE_AGAIN, METRICS_UNWATCHED),
    (FACADE_METRICS_BACKENDS[0], FACADE_BASELINE),
    (FACADE_METRICS_BACKENDS[1], FACADE_BASELINE),
    (FACADE_METRICS_BACKENDS[2], FACADE_BASELINE),
    (FACADE_BASELINE_AGAIN, FACADE_BASELINE),
];

/// The baseline `contender` is paired with, if it is a paired metrics
/// benchmark.
pub fn metrics_reference(contender: &str) -> Option<&'static str> {
    METRICS_PAIRED
        .iter()
        .find(|(c, _)| *c == contender)
        .map(|(_, base)| *base)
}

/// Whether the measured side (the policy, or the metrics backend) runs first
/// in batch `batch` (counted from 1): on odd batches, so neither side always
/// runs right after the other.
pub const fn policy_first(batch: u64) -> bool {
    batch % 2 == 1
}

/// One paired measurement's result: ns per call of each side over the same
/// batches. For a metrics benchmark the "policy" side is the measured
/// benchmark (a backend, or an A/A control) and the reference its baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// The policy's mean ns per call.
    pub policy_ns: f64,
    /// The default policy's closed success, mean ns per call, over the same
    /// batches.
    pub reference_ns: f64,
    /// Batch pairs counted.
    pub batches: u64,
    /// Calls per thread in each counted batch.
    pub iters: u64,
}

impl Paired {
    /// The policy's time over the reference's.
    pub fn ratio(&self) -> f64 {
        self.policy_ns / self.reference_ns
    }

    /// The measured side's ns per call minus the reference's, over the same
    /// batches: what a metrics backend adds to a call.
    pub fn difference(&self) -> f64 {
        self.policy_ns - self.reference_ns
    }

    /// The JSON written to [`PAIRED_FILE`].
    pub fn to_json(&self) -> String {
        format!(
            "{{\"policy_ns\": {}, \"reference_ns\": {}, \"batches\": {}, \"iters\": {}}}\n",
            self.policy_ns, self.reference_ns, self.batches, self.iters
        )
    }

    /// Parses [`Paired::to_json`]'s output; an error names what is missing or
    /// not a positive figure.
    pub fn parse(json: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let num = |key: &str| {
            v[key]
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| format!("{PAIRED_FILE} has no positive number at {key}"))
        };
        let count = |key: &str| {
            v[key]
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{PAIRED_FILE} has no positive count at {key}"))
        };
        Ok(Self {
            policy_ns: num("policy_ns")?,
            reference_ns: num("reference_ns")?,
            batches: count("batches")?,
            iters: count("iters")?,
        })
    }
}

/// Every batch pair of one benchmark, in order: `(iters, policy, reference)`.
#[derive(Clone, Debug, Default)]
pub struct Batches {
    batches: Vec<(u64, Duration, Duration)>,
}

impl Batches {
    /// Records one batch pair of `iters` calls per thread.
    pub fn record(&mut self, iters: u64, policy: Duration, reference: Duration) {
        self.batches.push((iters, policy, reference));
    }

    /// Batch pairs recorded so far (warm-up included); the next one is number
    /// `len() + 1`.
    pub fn len(&self) -> u64 {
        self.batches.len() as u64
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Both sides' ns per call over criterion's measured batches, or `None` if
    /// they cannot be told apart (fewer than two).
    ///
    /// With flat sampling criterion measures equal batches, after a warm-up
    /// whose batches double in size (1, 2, 4, …) and so never repeat one: the
    /// measured batches are the trailing run of equal sizes. If the last
    /// warm-up batch happens to have the measured size it is counted too (one
    /// batch of about a hundred, run after at least the warm-up time, as
    /// warm as the rest). A test run (one batch of one call) or a quick run
    /// (no equal batches) gives `None`.
    pub fn measured(&self) -> Option<Paired> {
        let &(iters, _, _) = self.batches.last()?;
        let run: Vec<_> = self
            .batches
            .iter()
            .rev()
            .take_while(|b| b.0 == iters)
            .collect();
        if run.len() < 2 {
            return None;
        }
        let calls = run.len() as f64 * iters as f64;
        let total = |f: fn(&(u64, Duration, Duration)) -> Duration| {
            run.iter().map(|b| f(b)).sum::<Duration>().as_nanos() as f64 / calls
        };
        Some(Paired {
            policy_ns: total(|b| b.1),
            reference_ns: total(|b| b.2),
            batches: run.len() as u64,
            iters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn the_warm_up_is_left_out() {
        let mut b = Batches::default();
        // Warm-up: doubling sizes, slow (the machine settling).
        for iters in [1, 2, 4, 8, 16] {
            b.record(iters, ns(iters * 100), ns(iters * 100));
        }
        // Measured: three batches of 100 calls.
        b.record(100, ns(400), ns(200));
        b.record(100, ns(500), ns(250));
        b.record(100, ns(600), ns(300));
        let p = b.measured().unwrap();
        assert_eq!((p.batches, p.iters), (3, 100));
        assert!((p.policy_ns - 5.0).abs() < 1e-9, "{p:?}");
        assert!((p.reference_ns - 2.5).abs() < 1e-9, "{p:?}");
        assert!((p.ratio() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn no_run_of_equal_batches_gives_nothing() {
        let mut b = Batches::default();
        assert_eq!(b.measured(), None);
        // `--test`: one batch of one call.
        b.record(1, ns(10), ns(10));
        assert_eq!(b.measured(), None);
        // `--quick`: sizes n and 2n.
        b.record(2, ns(10), ns(10));
        assert_eq!(b.measured(), None);
    }

    #[test]
    fn the_order_alternates_from_the_policy_first() {
        assert!(policy_first(1));
        assert!(!policy_first(2));
        assert!(policy_first(3));
    }

    #[test]
    fn the_file_round_trips_and_rejects_what_is_not_a_figure() {
        let p = Paired {
            policy_ns: 8.5,
            reference_ns: 4.25,
            batches: 100,
            iters: 70_000,
        };
        assert_eq!(Paired::parse(&p.to_json()), Ok(p));
        assert!(Paired::parse(r#"{"policy_ns": 8.5}"#).is_err());
        assert!(
            Paired::parse(r#"{"policy_ns": 8.5, "reference_ns": 0, "batches": 1, "iters": 1}"#)
                .unwrap_err()
                .contains("reference_ns")
        );
        assert_eq!(
            paired_path(Path::new("c"), Workload::TimeWindowSuccess, 2),
            Path::new("c/time_window_success/2t/warden-breaker/paired.json")
        );
        assert_eq!(
            contender_paired_path(Path::new("c"), Workload::OpenReject, 1, "warden-otel"),
            Path::new("c/open_reject/1t/warden-otel/paired.json")
        );
        assert!((p.difference() - 4.25).abs() < 1e-12);
    }

    #[test]
    fn each_metrics_benchmark_is_paired_with_its_groups_baseline() {
        assert_eq!(
            metrics_reference("warden-prometheus"),
            Some(METRICS_UNWATCHED)
        );
        assert_eq!(
            metrics_reference("warden-breaker-again"),
            Some(METRICS_UNWATCHED)
        );
        assert_eq!(metrics_reference("warden-kit-otel"), Some(FACADE_BASELINE));
        assert_eq!(metrics_reference("warden-kit-again"), Some(FACADE_BASELINE));
        // The baselines themselves and the other contenders are not paired.
        for c in [METRICS_UNWATCHED, FACADE_BASELINE, BASELINE, "failsafe"] {
            assert_eq!(metrics_reference(c), None, "{c}");
        }
    }
}
