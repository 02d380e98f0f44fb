//! The comparison report: reads criterion's `estimates.json` files and turns
//! them into a Markdown table (ns per call, ratio to `warden-breaker`), the
//! target checks, and an SVG bar chart.
//!
//! Criterion keeps one directory per benchmark ID, so the results of
//! `{workload}/{threads}t/{contender}` are in
//! `<target>/criterion/{workload}/{threads}t/{contender}/new/estimates.json`.
//! The figure used is the mean time per iteration (`mean.point_estimate`,
//! with its confidence interval); with flat sampling it is what criterion
//! prints as `time:`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::harness::Workload;
use crate::paired::{METRICS_WORKLOADS, PAIRED_FILE, PAIRED_WORKLOADS, Paired, metrics_reference};

/// The contender every ratio is relative to.
pub const BASELINE: &str = "warden-breaker";

/// The reference of [`METRICS_BACKENDS`]: the breaker they watch, with no
/// backend, measured in their own loop right before them.
pub const METRICS_UNWATCHED: &str = "warden-breaker-unwatched";

/// [`METRICS_UNWATCHED`] measured a second time in the same run, right after
/// the metrics backends: their A/A control.
pub const BASELINE_AGAIN: &str = "warden-breaker-again";

/// Known contenders in report order; others follow in name order.
pub const CONTENDERS: [&str; 8] = [
    "bare",
    "warden-breaker",
    "warden-upkeep",
    "warden-tower-arc",
    "warden-mutex",
    "failsafe",
    "recloser",
    "tower-resilience",
];

/// Where the scale benchmarks write each contender's bytes per breaker (RSS
/// growth over 100,000 breakers each built and called once), under criterion's
/// directory: a JSON object `{contender: bytes}`.
pub const MEMORY_FILE: &str = "many_breakers/bytes_per_breaker.json";

/// The peers the targets compare with.
pub const PEERS: [&str; 2] = ["failsafe", "recloser"];

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// The workload.
    pub workload: Workload,
    /// Caller threads.
    pub threads: u32,
    /// Contender name.
    pub contender: String,
    /// Mean ns per call.
    pub ns: f64,
    /// Lower bound of the mean's confidence interval.
    pub low: f64,
    /// Upper bound of the mean's confidence interval.
    pub high: f64,
    /// When criterion wrote the file.
    pub written: Option<SystemTime>,
}

/// Every result found.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// In the order found (workload, threads, contender directory order).
    pub estimates: Vec<Estimate>,
    /// The paired measurements of the policies' closed success
    /// ([`crate::paired`]): `(workload, threads, figures)`.
    pub paired: Vec<(Workload, u32, Paired)>,
    /// The paired measurements of the metrics benchmarks, each against its
    /// group's baseline ([`crate::paired::METRICS_PAIRED`]):
    /// `(workload, threads, contender, figures)`.
    pub metrics_paired: Vec<(Workload, u32, String, Paired)>,
}

/// Where criterion writes: `$CARGO_TARGET_DIR/criterion` if the variable is
/// set (relative to the current directory, as cargo reads it), else the
/// workspace's `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("criterion"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("target")
            .join("criterion"),
    }
}

/// Parses one `estimates.json`: the mean and its confidence interval.
pub fn parse_estimates(json: &str) -> Result<(f64, f64, f64), String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mean = &v["mean"];
    let num = |x: &serde_json::Value, what: &str| {
        x.as_f64()
            .ok_or_else(|| format!("estimates.json has no number at mean.{what}"))
    };
    Ok((
        num(&mean["point_estimate"], "point_estimate")?,
        num(
            &mean["confidence_interval"]["lower_bound"],
            "confidence_interval.lower_bound",
        )?,
        num(
            &mean["confidence_interval"]["upper_bound"],
            "confidence_interval.upper_bound",
        )?,
    ))
}

/// Reads a paired measurement, `None` if there is none or it is older than
/// criterion's estimate `estimate_written` of the same benchmark (the bench
/// writes it after criterion's files, so an older one is from another run).
fn load_paired(
    file: &Path,
    estimate_written: Option<SystemTime>,
) -> Result<Option<Paired>, String> {
    let Ok(json) = fs::read_to_string(file) else {
        return Ok(None);
    };
    let written = fs::metadata(file).and_then(|m| m.modified()).ok();
    if let (Some(paired), Some(estimate)) = (written, estimate_written)
        && paired < estimate
    {
        return Ok(None);
    }
    Paired::parse(&json)
        .map(Some)
        .map_err(|e| format!("{}: {e}", file.display()))
}

fn sorted_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    v.sort();
    v
}

impl Results {
    /// Reads every `{workload}/{threads}t/{contender}/new/estimates.json` under
    /// `dir` (criterion's output directory). Other benchmarks are skipped.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut estimates = Vec::new();
        let mut paired = Vec::new();
        let mut metrics_paired = Vec::new();
        for workload in Workload::ALL {
            for (threads, tdir) in sorted_dirs(&dir.join(workload.name())) {
                let Some(threads) = threads.strip_suffix('t').and_then(|n| n.parse().ok()) else {
                    continue;
                };
                for (contender, cdir) in sorted_dirs(&tdir) {
                    let file = cdir.join("new").join("estimates.json");
                    let Ok(json) = fs::read_to_string(&file) else {
                        continue;
                    };
                    let (ns, low, high) =
                        parse_estimates(&json).map_err(|e| format!("{}: {e}", file.display()))?;
                    let written = fs::metadata(&file).and_then(|m| m.modified()).ok();
                    // The policies' closed success and the tower layer are paired
                    // (with the default policy's closed success, with the bare
                    // service).
                    if contender == BASELINE
                        && (PAIRED_WORKLOADS.contains(&workload)
                            || workload == Workload::TowerLayer)
                    {
                        if let Some(p) = load_paired(&cdir.join(PAIRED_FILE), written)? {
                            paired.push((workload, threads, p));
                        }
                    }
                    if metrics_reference(&contender).is_some()
                        && METRICS_WORKLOADS.contains(&workload)
                        && let Some(p) = load_paired(&cdir.join(PAIRED_FILE), written)?
                    {
                        metrics_paired.push((workload, threads, contender.clone(), p));
                    }
                    estimates.push(Estimate {
                        workload,
                        threads,
                        contender,
                        ns,
                        low,
                        high,
                        written,
                    });
                }
            }
        }
        Ok(Self {
            estimates,
            paired,
            metrics_paired,
        })
    }

    /// The paired measurement of the metrics benchmark `contender` (against
    /// its group's baseline) under `workload` at `threads` threads, if the
    /// run has one.
    pub fn metrics_paired(
        &self,
        workload: Workload,
        threads: u32,
        contender: &str,
    ) -> Option<Paired> {
        self.metrics_paired
            .iter()
            .find(|p| p.0 == workload && p.1 == threads && p.2 == contender)
            .map(|p| p.3)
    }

    /// The paired measurement of `workload` at `threads` threads, if the run
    /// has one.
    pub fn paired(&self, workload: Workload, threads: u32) -> Option<Paired> {
        self.paired
            .iter()
            .find(|p| p.0 == workload && p.1 == threads)
            .map(|p| p.2)
    }

    /// The mean ns per call of one benchmark.
    pub fn ns(&self, workload: Workload, threads: u32, contender: &str) -> Option<f64> {
        self.estimates
            .iter()
            .find(|e| e.workload == workload && e.threads == threads && e.contender == contender)
            .map(|e| e.ns)
    }

    /// Contenders present, in report order; an A/A control right after the
    /// baseline it repeats.
    pub fn contenders(&self) -> Vec<String> {
        let mut names: Vec<String> = CONTENDERS
            .iter()
            .filter(|c| self.estimates.iter().any(|e| e.contender == **c))
            .map(|c| c.to_string())
            .collect();
        let others: BTreeSet<&str> = self
            .estimates
            .iter()
            .map(|e| e.contender.as_str())
            .filter(|c| !CONTENDERS.contains(c))
            .collect();
        names.extend(others.into_iter().map(String::from));
        for (base, again) in CONTROLS {
            let (Some(b), Some(a)) = (
                names.iter().position(|n| n == base),
                names.iter().position(|n| n == again),
            ) else {
                continue;
            };
            let again = names.remove(a);
            names.insert(if a < b { b } else { b + 1 }, again);
        }
        names
    }

    /// `(workload, threads)` rows present, in report order.
    pub fn rows(&self) -> Vec<(Workload, u32)> {
        let set: BTreeSet<(usize, u32)> = self
            .estimates
            .iter()
            .map(|e| {
                let w = Workload::ALL.iter().position(|w| *w == e.workload);
                (w.unwrap_or(usize::MAX), e.threads)
            })
            .collect();
        set.into_iter()
            .map(|(w, t)| (Workload::ALL[w], t))
            .collect()
    }

    /// Oldest and newest file times.
    pub fn written_range(&self) -> Option<(SystemTime, SystemTime)> {
        let times = self.estimates.iter().filter_map(|e| e.written);
        let min = times.clone().min()?;
        Some((min, times.max()?))
    }
}

/// One target of the issue, checked on one run's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// What is compared.
    pub what: String,
    /// The required ratio or difference, as text (`≤ 2×`, `≥ 4×`, `≤ 8 ns`).
    pub want: String,
    /// The measured ratio (or difference in ns, for a `… ns` target), if both
    /// figures are present.
    pub ratio: Option<f64>,
    /// Whether it was met; `None` if a figure is missing or the run could not
    /// decide (see `unresolved`).
    pub met: Option<bool>,
    /// For a check against a baseline measured twice (an A/A control): the
    /// two baseline figures' difference in ns, this run's resolution.
    pub spread: Option<f64>,
    /// Why a check whose figures are present is not decided, printed in
    /// place of yes or no.
    pub unresolved: Option<String>,
    /// Shown for information only, never decided (`met` is `None`).
    pub informational: bool,
}

fn check(what: String, ratio: Option<f64>, at_least: bool, bound: f64) -> Check {
    Check {
        want: format!("{} {bound}×", if at_least { "≥" } else { "≤" }),
        met: ratio.map(|r| if at_least { r >= bound } else { r <= bound }),
        ratio,
        what,
        spread: None,
        unresolved: None,
        informational: false,
    }
}

/// A target on the difference of two times: `extra` at most `bound` ns.
fn check_ns(what: String, extra: Option<f64>, bound: f64) -> Check {
    Check {
        want: format!("≤ {bound} ns"),
        met: extra.map(|e| e <= bound),
        ratio: extra,
        what,
        spread: None,
        unresolved: None,
        informational: false,
    }
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

/// The issue's targets. `ratio` is "how many times faster warden is" for the
/// `≥` rows, and warden's time over the reference for the `≤` rows.
pub fn checks(r: &Results) -> Vec<Check> {
    use Workload::{ClosedSuccess as CS, OpenReject as OR};
    let mut v = Vec::new();
    for t in [1, 2] {
        v.push(check(
            format!("closed_success {t}t: warden-breaker ÷ bare call"),
            div(r.ns(CS, t, BASELINE), r.ns(CS, t, "bare")),
            false,
            2.0,
        ));
    }
    for (t, bound) in [(1, 4.0), (2, 20.0)] {
        let fastest_peer = PEERS
            .iter()
            .filter_map(|p| r.ns(CS, t, p))
            .min_by(f64::total_cmp);
        v.push(check(
            format!("closed_success {t}t: faster of failsafe/recloser ÷ warden-breaker"),
            div(fastest_peer, r.ns(CS, t, BASELINE)),
            true,
            bound,
        ));
    }
    for t in [1, 2] {
        v.push(check(
            format!("closed_success {t}t: warden-mutex ÷ warden-breaker"),
            div(r.ns(CS, t, "warden-mutex"), r.ns(CS, t, BASELINE)),
            true,
            15.0,
        ));
    }
    v.push(check(
        "closed_success: warden-breaker 2t ÷ 1t".to_string(),
        div(r.ns(CS, 2, BASELINE), r.ns(CS, 1, BASELINE)),
        false,
        1.5,
    ));
    // Closed success under a window policy, against the default policy's closed
    // success (at most 4x for a count window, 2x for a time window, 3x for slow
    // calls) and the peers' (the peers have no such policies).
    for (w, own_bound) in [
        (Workload::CountWindowSuccess, 4.0),
        (Workload::TimeWindowSuccess, 2.0),
        (Workload::SlowCallsSuccess, 3.0),
    ] {
        for warden in [BASELINE] {
            for (t, bound) in [(1, 4.0), (2, 20.0)] {
                let Some(ns) = r.ns(w, t, warden) else {
                    continue;
                };
                v.extend(policy_checks(r, w, t, ns, own_bound));
                let fastest_peer = PEERS
                    .iter()
                    .filter_map(|p| r.ns(CS, t, p))
                    .min_by(f64::total_cmp);
                v.push(check(
                    format!(
                        "{} {t}t: faster of failsafe/recloser (closed_success) ÷ {warden}",
                        w.name()
                    ),
                    div(fastest_peer, Some(ns)),
                    true,
                    bound,
                ));
            }
        }
    }
    // The adaptive throttle's accept path against the default policy's closed
    // success: at most twice its time.
    for t in [1, 2] {
        let Some(ns) = r.ns(Workload::AdaptiveSuccess, t, BASELINE) else {
            continue;
        };
        v.extend(policy_checks(r, Workload::AdaptiveSuccess, t, ns, 2.0));
    }
    // An open rejection with the default configuration (and clock): at least 5x
    // faster than every peer.
    for t in [1, 2] {
        for p in PEERS {
            v.push(check(
                format!("open_reject {t}t: {p} ÷ {BASELINE}"),
                div(r.ns(OR, t, p), r.ns(OR, t, BASELINE)),
                true,
                5.0,
            ));
        }
    }
    // The tower layer (`from_static`, the report's warden-breaker there): what
    // it adds to a bare service call, and how it scales to two threads.
    let tl = Workload::TowerLayer;
    let what = "tower_layer 1t: warden-breaker − bare service";
    let unpaired = r
        .ns(tl, 1, BASELINE)
        .zip(r.ns(tl, 1, "bare"))
        .map(|(w, b)| w - b);
    match r.paired(tl, 1) {
        // Decided on the batches run side by side (see `policy_checks`); the
        // difference of criterion's two figures is shown for comparison.
        Some(p) => {
            v.push(check_ns(
                format!("{what} (paired, {} batches)", p.batches),
                Some(p.difference()),
                8.0,
            ));
            let mut info = check_ns(
                format!("{what} (unpaired: criterion's two figures, measured at different times)"),
                unpaired,
                8.0,
            );
            info.met = None;
            info.informational = true;
            v.push(info);
        }
        None => v.push(check_ns(what.to_string(), unpaired, 8.0)),
    }
    v.push(check(
        "tower_layer: warden-breaker 2t ÷ 1t".to_string(),
        div(r.ns(tl, 2, BASELINE), r.ns(tl, 1, BASELINE)),
        false,
        1.5,
    ));
    v.extend(metrics_checks(r));
    v
}

/// A policy's closed success (`ns`, criterion's figure for `warden-breaker`
/// under `w` at `t` threads) against the default policy's: at most `bound`
/// times its time.
///
/// Decided on the paired measurement when the run has one (both sides timed
/// in alternating batches over the same seconds, see [`crate::paired`]).
/// Criterion's two figures are then still shown, as an informational row:
/// they were measured minutes apart, so on a VM that changes speed their
/// ratio can be off by a quarter or more, but next to the paired ratio they
/// show how far apart the run's two moments were, and they are the figures
/// of the table above. Without a paired measurement (an older bench, a
/// filter that left the policy out) the check falls back to them, labelled
/// so.
fn policy_checks(r: &Results, w: Workload, t: u32, ns: f64, bound: f64) -> Vec<Check> {
    let unpaired = div(Some(ns), r.ns(Workload::ClosedSuccess, t, BASELINE));
    let what = format!("{} {t}t: {BASELINE} ÷ default policy", w.name());
    match r.paired(w, t) {
        Some(p) => {
            let mut info = check(
                format!("{what} (unpaired: criterion's two figures, measured at different times)"),
                unpaired,
                false,
                bound,
            );
            info.met = None;
            info.informational = true;
            vec![
                check(
                    format!("{what} (paired, {} batches)", p.batches),
                    Some(p.ratio()),
                    false,
                    bound,
                ),
                info,
            ]
        }
        None => vec![check(
            format!("{what} (unpaired: no paired measurement in this run)"),
            unpaired,
            false,
            bound,
        )],
    }
}

/// The metrics backends, each a contender running the same breaker with it on.
pub const METRICS_BACKENDS: [&str; 4] = [
    "warden-prometheus",
    "warden-otel",
    "warden-metrics-rs",
    "warden-tracing",
];

/// The facade's pipeline without metrics, the reference of
/// [`FACADE_METRICS_BACKENDS`].
pub const FACADE_BASELINE: &str = "warden-kit";

/// [`FACADE_BASELINE`] measured a second time in the same run, right after
/// the facade's metrics backends: their A/A control.
pub const FACADE_BASELINE_AGAIN: &str = "warden-kit-again";

/// The A/A controls and the baselines they repeat.
pub const CONTROLS: [(&str, &str); 2] = [
    (METRICS_UNWATCHED, BASELINE_AGAIN),
    (FACADE_BASELINE, FACADE_BASELINE_AGAIN),
];

/// Whether `contender` is an A/A control (a baseline measured again).
pub fn is_control(contender: &str) -> bool {
    contender == METRICS_UNWATCHED || CONTROLS.iter().any(|(_, again)| *again == contender)
}

/// The metrics goal: recording metrics adds at most this many ns to a call.
pub const METRICS_GOAL_NS: f64 = 1.0;

/// The most noise at which a metrics check is decided: the goal itself. A run
/// whose two figures of the same code differ by more than 1 ns cannot tell a
/// 1 ns cost from its own noise.
pub const METRICS_RESOLUTION_NS: f64 = METRICS_GOAL_NS;

/// One metrics check: `backend`'s figure against its baseline's two, `before`
/// (measured before the group's backends) and `again` (right after them).
///
/// * The cost is `backend − max(before, again)`: what the backend adds over
///   the slower figure of the same code without it.
/// * The A/A spread `|before − again|` is the run's resolution. Above
///   [`METRICS_RESOLUTION_NS`] the check is unresolved.
/// * A backend cannot make a call cheaper than none (it runs the same
///   instructions and more): a figure more than [`METRICS_RESOLUTION_NS`]
///   below both baseline figures is noise the A/A pair missed, and the check
///   is unresolved too.
/// * Otherwise it is met when the cost is at most [`METRICS_GOAL_NS`]; a met
///   check bounds the cost at the goal plus the spread.
///
/// Without the second baseline figure (a run filtered to leave it out) the
/// difference to the first is shown and nothing is decided.
pub fn metrics_check(
    what: String,
    backend: Option<f64>,
    before: Option<f64>,
    again: Option<f64>,
    again_name: &str,
) -> Check {
    let mut c = check_ns(what, None, METRICS_GOAL_NS);
    let (Some(backend), Some(before)) = (backend, before) else {
        return c;
    };
    let Some(again) = again else {
        c.ratio = Some(backend - before);
        c.unresolved = Some(format!("no A/A control ({again_name}) in this run"));
        return c;
    };
    let (slower, faster) = (before.max(again), before.min(again));
    let spread = slower - faster;
    let below = faster - backend;
    c.ratio = Some(backend - slower);
    c.spread = Some(spread);
    if spread > METRICS_RESOLUTION_NS {
        c.unresolved = Some(format!(
            "unresolved at this run's noise (spread {} ns)",
            fmt_ns(spread)
        ));
    } else if below > METRICS_RESOLUTION_NS {
        c.unresolved = Some(format!(
            "unresolved at this run's noise ({} ns below both baselines)",
            fmt_ns(below)
        ));
    } else {
        c.met = Some(backend - slower <= METRICS_GOAL_NS);
    }
    c
}

/// The most a paired A/A difference may be off zero for the paired metrics
/// checks of its group (same workload and threads) to be decided: half the
/// goal.
///
/// The paired A/A control runs the baseline's code on two teams in the same
/// alternating batches; the teams differ only in their breaker's (or
/// registry's) place in memory and in which runs first, so its difference is
/// what the method reports for a cost of zero: its error. Each backend's
/// pair has an error of its own, from other seconds of the run, which the
/// control's only samples: so the bound leaves a margin of two. With the
/// control within half the goal, an error twice as large (1 ns) still cannot
/// make a free backend (0 ns) fail or a backend at twice the goal (2 ns)
/// pass. A control further off than that says the pairing did not cancel
/// this run's noise, and its group's checks are left unresolved. For the
/// same reason a backend more than this bound *below* its baseline (it runs
/// the same instructions and more) is noise, and its check is unresolved.
pub const METRICS_PAIRED_RESOLUTION_NS: f64 = METRICS_GOAL_NS / 2.0;

/// One metrics check decided on a paired measurement: `backend`'s paired
/// difference to its baseline (backend ns − baseline ns over the same
/// batches) at most [`METRICS_GOAL_NS`], provided the group's paired A/A
/// control (`control`, the baseline's code measured the same way) differs
/// by at most [`METRICS_PAIRED_RESOLUTION_NS`] and the backend is not more
/// than that below its baseline. The control's difference goes in
/// [`Check::spread`]. Without the paired control nothing is decided.
pub fn metrics_paired_check(
    what: String,
    backend: Paired,
    control: Option<Paired>,
    control_name: &str,
) -> Check {
    let extra = backend.difference();
    let mut c = check_ns(what, Some(extra), METRICS_GOAL_NS);
    c.met = None;
    let Some(control) = control else {
        c.unresolved = Some(format!(
            "no paired A/A control ({control_name}) in this run"
        ));
        return c;
    };
    let aa = control.difference();
    c.spread = Some(aa);
    if aa.abs() > METRICS_PAIRED_RESOLUTION_NS {
        c.unresolved = Some(format!(
            "unresolved: the paired A/A control is {} ns off zero",
            fmt_ns(aa)
        ));
    } else if extra < -METRICS_PAIRED_RESOLUTION_NS {
        c.unresolved = Some(format!(
            "unresolved: {} ns below its baseline in the same batches",
            fmt_ns(-extra)
        ));
    } else {
        c.met = Some(extra <= METRICS_GOAL_NS);
    }
    c
}

/// The facade's pipeline in a registry given each metrics backend.
pub const FACADE_METRICS_BACKENDS: [&str; 3] = [
    "warden-kit-prometheus",
    "warden-kit-otel",
    "warden-kit-metrics-rs",
];

/// Recording metrics (a breaker watched by each backend) adds at most 1 ns per
/// call to the closed success and the open rejection, on the bare breaker and
/// through the facade. Backends absent from the run are left out.
///
/// With a paired measurement (the backend's batches alternating with its
/// baseline's, [`crate::paired`]) the check is decided on the paired
/// difference by [`metrics_paired_check`], labelled `(paired, N batches)`;
/// criterion's figures against the baseline's A/A pair ([`metrics_check`])
/// follow as an informational row, and each group's paired A/A control gets
/// an informational row of its own. Without one (an older bench, a filter)
/// [`metrics_check`] decides, as before the pairing.
fn metrics_checks(r: &Results) -> Vec<Check> {
    let mut v = Vec::new();
    let groups = [
        (
            &FACADE_METRICS_BACKENDS[..],
            FACADE_BASELINE,
            FACADE_BASELINE_AGAIN,
        ),
        (&METRICS_BACKENDS[..], METRICS_UNWATCHED, BASELINE_AGAIN),
    ];
    for (backends, base, again) in groups {
        for &backend in backends {
            for w in [Workload::ClosedSuccess, Workload::OpenReject] {
                for t in [1, 2] {
                    if backend != "warden-prometheus" && r.ns(w, t, backend).is_none() {
                        continue;
                    }
                    let unpaired = metrics_check(
                        format!("{} {t}t: {backend} − max({base}, {again})", w.name()),
                        r.ns(w, t, backend),
                        r.ns(w, t, base),
                        r.ns(w, t, again),
                        again,
                    );
                    let Some(p) = r.metrics_paired(w, t, backend) else {
                        v.push(unpaired);
                        continue;
                    };
                    v.push(metrics_paired_check(
                        format!(
                            "{} {t}t: {backend} − {base} (paired, {} batches)",
                            w.name(),
                            p.batches
                        ),
                        p,
                        r.metrics_paired(w, t, again),
                        again,
                    ));
                    let mut info = unpaired;
                    info.what
                        .push_str(" (unpaired: criterion's figures, measured at different times)");
                    info.met = None;
                    info.informational = true;
                    v.push(info);
                }
            }
        }
        // The method's resolution, shown once per workload and threads.
        for w in [Workload::ClosedSuccess, Workload::OpenReject] {
            for t in [1, 2] {
                if let Some(p) = r.metrics_paired(w, t, again) {
                    let mut c = check_ns(
                        format!(
                            "{} {t}t: {again} − {base} (paired A/A control, {} batches)",
                            w.name(),
                            p.batches
                        ),
                        Some(p.difference()),
                        METRICS_PAIRED_RESOLUTION_NS,
                    );
                    c.want = format!("±{METRICS_PAIRED_RESOLUTION_NS} ns");
                    c.met = None;
                    c.informational = true;
                    v.push(c);
                }
            }
        }
    }
    v
}

fn fmt_ns(ns: f64) -> String {
    // By magnitude, so a negative difference keeps the precision of a positive one.
    if ns.abs() < 10.0 {
        format!("{ns:.2}")
    } else if ns.abs() < 100.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.1}×")
    }
}

/// UTC `YYYY-MM-DD HH:MM` of a file time.
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The Markdown report: the table, the target checks, and `machine` (free
/// text describing where it ran).
pub fn markdown(r: &Results, machine: &str) -> String {
    let contenders = r.contenders();
    let mut s = String::new();
    let _ = writeln!(s, "## warden benchmark comparison\n");
    if let Some((a, b)) = r.written_range() {
        let _ = writeln!(s, "Results written {} to {}. {machine}\n", utc(a), utc(b));
    } else {
        let _ = writeln!(s, "{machine}\n");
    }
    let _ = writeln!(
        s,
        "Mean ns per call as one caller sees it; in brackets, the contender's time ÷ \
         {BASELINE}'s (above 1: {BASELINE} is that many times faster). \
         `-`: the contender has no such state.\n"
    );
    if contenders.iter().any(|c| is_control(c)) {
        let _ = writeln!(
            s,
            "Columns marked (A/A control) are not contenders: they are the references of \
             the metrics checks, measured around the backends of their group (same code, \
             workload and threads): `{METRICS_UNWATCHED}`, the breaker the core backends \
             watch, with none, in their own loop, before them, and each group's baseline \
             measured again right after them, to show how far this run's figures move on \
             their own.\n"
        );
    }
    let _ = write!(s, "| workload | threads |");
    for c in &contenders {
        if is_control(c) {
            let _ = write!(s, " {c} (A/A control) |");
        } else {
            let _ = write!(s, " {c} |");
        }
    }
    let _ = write!(s, "\n|---|--:|");
    for _ in &contenders {
        let _ = write!(s, "--:|");
    }
    s.push('\n');
    for (w, t) in r.rows() {
        let _ = write!(s, "| {} | {t} |", w.name());
        let base = r.ns(w, t, BASELINE);
        for c in &contenders {
            match (r.ns(w, t, c), base) {
                (Some(ns), _) if c == BASELINE => {
                    let _ = write!(s, " **{}** |", fmt_ns(ns));
                }
                (Some(ns), Some(b)) => {
                    let _ = write!(s, " {} ({}) |", fmt_ns(ns), fmt_ratio(ns / b));
                }
                (Some(ns), None) => {
                    let _ = write!(s, " {} |", fmt_ns(ns));
                }
                (None, _) => s.push_str(" - |"),
            }
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\n### Targets\n");
    let _ = writeln!(s, "| target | want | measured | met |\n|---|--:|--:|:-:|");
    let checks = checks(r);
    for c in &checks {
        let measured = match c.ratio {
            None => "-".to_string(),
            Some(ns) if c.want.ends_with("ns") => format!("{} ns", fmt_ns(ns)),
            Some(r) => fmt_ratio(r),
        };
        let measured = match c.spread {
            // A paired row's spread is its group's paired A/A difference.
            Some(aa) if c.what.contains("(paired, ") => {
                format!("{measured} (paired A/A {} ns)", fmt_ns(aa))
            }
            Some(spread) => format!("{measured} (A/A spread {} ns)", fmt_ns(spread)),
            None => measured,
        };
        let met = match (c.met, &c.unresolved) {
            _ if c.informational => "not a check",
            (Some(true), _) => "yes",
            (Some(false), _) => "**no**",
            (None, Some(why)) => why.as_str(),
            (None, None) => "-",
        };
        let _ = writeln!(s, "| {} | {} | {measured} | {met} |", c.what, c.want);
    }
    if !r.paired.is_empty() {
        let _ = writeln!(
            s,
            "\nThe policy rows marked (paired): the policy's batches ran alternating with batches \
             of the same size of the default policy's closed success (its own threads, the \
             policy first every other batch), and the ratio is of their totals over the same \
             measured batches, so both figures come from the same seconds of the run. The \
             rows marked (unpaired) divide the table's two figures, measured at different \
             times (minutes apart in a full run), and are shown for comparison only."
        );
    }
    if !r.metrics_paired.is_empty() {
        let _ = writeln!(
            s,
            "\nThe metrics rows marked (paired): the backend's batches ran alternating with \
             batches of the same size of its baseline (its own threads, the backend first \
             every other batch), and the figure is the backend's ns per call minus the \
             baseline's over the same batches. The A/A control is paired with the baseline \
             the same way: the same code on both sides, so its difference (printed as \
             \"paired A/A\") is the method's error. A row is met when the paired difference is \
             at most {METRICS_GOAL_NS} ns; it is unresolved when the paired A/A difference is \
             more than {METRICS_PAIRED_RESOLUTION_NS} ns off zero, or the backend more than \
             {METRICS_PAIRED_RESOLUTION_NS} ns below its baseline. The rows marked (unpaired) \
             compare criterion's figures, measured up to a minute apart, and are shown for \
             comparison only."
        );
    }
    if checks
        .iter()
        .any(|c| c.spread.is_some() || c.unresolved.is_some())
    {
        let _ = writeln!(
            s,
            "\nThe metrics rows: each baseline is measured twice in the run, before the metrics \
             backends of its group and again right after them (the A/A control: the same \
             code; the core backends and their baseline, `{METRICS_UNWATCHED}`, share one \
             copy of the loop, so their figures differ only in the breaker they call). A row is met when the backend's time is at most {METRICS_GOAL_NS} ns over \
             the slower of the two baseline times. The A/A spread (their difference) is the \
             run's resolution: a met row bounds the cost at {METRICS_GOAL_NS} ns plus the \
             spread. A spread over {METRICS_RESOLUTION_NS} ns, or a backend more than \
             {METRICS_RESOLUTION_NS} ns below both baseline times (a backend cannot make a \
             call cheaper than none, so that is noise too), leaves the row unresolved rather \
             than yes or no: this run cannot resolve a {METRICS_GOAL_NS} ns cost there."
        );
    }
    s
}

/// The scale benchmarks' groups: `many_breakers` (ns per call as a caller sees
/// it) and `many_threads` (ns per call per core).
pub const SCALE_GROUPS: [&str; 2] = ["many_breakers", "many_threads"];

/// The scale contenders, in report order.
pub const SCALE_CONTENDERS: [&str; 4] = ["warden-breaker", "warden-mutex", "failsafe", "recloser"];

/// The scale benchmarks' results: `{group}/{threads}t/{contender}` estimates and
/// the bytes per breaker of [`MEMORY_FILE`].
#[derive(Clone, Debug, Default)]
pub struct Scale {
    /// `(group, threads, contender, ns)`.
    pub estimates: Vec<(String, u32, String, f64)>,
    /// `(contender, bytes per breaker)`.
    pub bytes: Vec<(String, f64)>,
}

impl Scale {
    /// Reads the scale results under `dir` (criterion's output directory).
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut scale = Scale::default();
        for group in SCALE_GROUPS {
            for (threads, tdir) in sorted_dirs(&dir.join(group)) {
                let Some(threads) = threads.strip_suffix('t').and_then(|n| n.parse().ok()) else {
                    continue;
                };
                for (contender, cdir) in sorted_dirs(&tdir) {
                    let file = cdir.join("new").join("estimates.json");
                    let Ok(json) = fs::read_to_string(&file) else {
                        continue;
                    };
                    let (ns, _, _) =
                        parse_estimates(&json).map_err(|e| format!("{}: {e}", file.display()))?;
                    scale
                        .estimates
                        .push((group.to_string(), threads, contender, ns));
                }
            }
        }
        if let Ok(json) = fs::read_to_string(dir.join(MEMORY_FILE)) {
            let v: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| format!("{MEMORY_FILE}: {e}"))?;
            for c in SCALE_CONTENDERS {
                if let Some(b) = v.get(c).and_then(serde_json::Value::as_f64) {
                    scale.bytes.push((c.to_string(), b));
                }
            }
        }
        Ok(scale)
    }

    /// One estimate.
    pub fn ns(&self, group: &str, threads: u32, contender: &str) -> Option<f64> {
        self.estimates
            .iter()
            .find(|e| e.0 == group && e.1 == threads && e.2 == contender)
            .map(|e| e.3)
    }

    /// Bytes per breaker of `contender`.
    pub fn bytes(&self, contender: &str) -> Option<f64> {
        self.bytes.iter().find(|b| b.0 == contender).map(|b| b.1)
    }

    /// Whether anything was found.
    pub fn is_empty(&self) -> bool {
        self.estimates.is_empty() && self.bytes.is_empty()
    }
}

/// The scale targets: a breaker called by one thread costs at most 512 bytes,
/// and `many_threads` at 256 threads stays within 1.5× of 8 threads (per call
/// per core).
pub fn scale_checks(s: &Scale) -> Vec<Check> {
    let bytes = s.bytes(BASELINE);
    vec![
        Check {
            what: "many_breakers: warden-breaker bytes per breaker (RSS growth)".to_string(),
            want: "≤ 512 B".to_string(),
            met: bytes.map(|b| b <= 512.0),
            ratio: bytes,
            spread: None,
            unresolved: None,
            informational: false,
        },
        check(
            "many_threads: warden-breaker 256t ÷ 8t (per call per core)".to_string(),
            div(
                s.ns("many_threads", 256, BASELINE),
                s.ns("many_threads", 8, BASELINE),
            ),
            false,
            1.5,
        ),
    ]
}

/// The scale table and its targets, in Markdown.
pub fn scale_markdown(s: &Scale) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## At scale
"
    );
    let _ = writeln!(
        out,
        "`many_breakers`: 100,000 closed breakers called round-robin, mean ns per call as \
         one caller sees it. `many_threads`: one closed breaker, ns per call per core (the \
         batch's wall time × cores ÷ calls). `bytes per breaker`: RSS growth over 100,000 \
         breakers each built and called once, in a fresh process.\n"
    );
    let _ = write!(out, "| benchmark | threads |");
    for c in SCALE_CONTENDERS {
        let _ = write!(out, " {c} |");
    }
    let _ = writeln!(out, "\n|---|--:|--:|--:|--:|--:|");
    for group in SCALE_GROUPS {
        let mut threads: Vec<u32> = s
            .estimates
            .iter()
            .filter(|e| e.0 == group)
            .map(|e| e.1)
            .collect();
        threads.sort_unstable();
        threads.dedup();
        for t in threads {
            let _ = write!(out, "| {group} | {t} |");
            for c in SCALE_CONTENDERS {
                match s.ns(group, t, c) {
                    Some(ns) if c == BASELINE => {
                        let _ = write!(out, " **{}** |", fmt_ns(ns));
                    }
                    Some(ns) => {
                        let _ = write!(out, " {} |", fmt_ns(ns));
                    }
                    None => out.push_str(" - |"),
                }
            }
            out.push('\n');
        }
    }
    if !s.bytes.is_empty() {
        let _ = write!(out, "| bytes per breaker | 1 |");
        for c in SCALE_CONTENDERS {
            match s.bytes(c) {
                Some(b) => {
                    let _ = write!(out, " {b:.0} B |");
                }
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n### Targets at scale\n");
    let _ = writeln!(out, "| target | want | measured | met |\n|---|--:|--:|:-:|");
    for c in scale_checks(s) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.what,
            c.want,
            match c.ratio {
                None => "-".to_string(),
                Some(b) if c.want.ends_with('B') => format!("{b:.0} B"),
                Some(r) => fmt_ratio(r),
            },
            match c.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            }
        );
    }
    out
}

/// Bar colours, by contender position.
const COLOURS: [RGBColor; 8] = [
    RGBColor(140, 140, 140),
    RGBColor(31, 119, 180),
    RGBColor(114, 170, 220),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws the results as grouped bars (one group per workload and thread
/// count, one bar per contender, ns per call on a log scale) into an SVG file.
pub fn plot_svg(r: &Results, path: &Path) -> Result<(), String> {
    let rows = r.rows();
    // The A/A controls are a measurement of the run, not contenders.
    let contenders: Vec<String> = r
        .contenders()
        .into_iter()
        .filter(|c| !is_control(c))
        .collect();
    if rows.is_empty() {
        return Err("no results to plot".into());
    }
    let (lo, hi) = r
        .estimates
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), e| {
            (lo.min(e.ns), hi.max(e.ns))
        });
    let y = (lo / 2.0).max(0.01)..hi * 2.0;
    let n = rows.len() as f64;
    let labels: Vec<String> = rows
        .iter()
        .map(|(w, t)| format!("{} {t}t", w.name()))
        .collect();

    let root = SVGBackend::new(path, (1400, 640)).into_drawing_area();
    let e = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "warden: ns per guarded call (log scale; lower is better)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..n, y.clone().log_scale())
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Group names are drawn below, centred under their bars.
        .x_labels(2)
        .x_label_formatter(&|_| String::new())
        .y_desc("ns per call")
        .y_label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(|x| e(&x))?;
    let label_style = ("sans-serif", 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, y.start));
        root.draw(&Text::new(
            label.as_str(),
            (px, py + 8),
            label_style.clone(),
        ))
        .map_err(|x| e(&x))?;
    }
    let width = 0.8 / contenders.len() as f64;
    for (ci, c) in contenders.iter().enumerate() {
        let colour = COLOURS[ci % COLOURS.len()];
        let bars = rows.iter().enumerate().filter_map(|(ri, (w, t))| {
            let ns = r.ns(*w, *t, c)?;
            let x0 = ri as f64 + 0.1 + ci as f64 * width;
            Some(Rectangle::new(
                [(x0, y.start), (x0 + width * 0.9, ns)],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(|x| e(&x))?
            .label(c.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(workload: Workload, threads: u32, contender: &str, ns: f64) -> Estimate {
        Estimate {
            workload,
            threads,
            contender: contender.into(),
            ns,
            low: ns,
            high: ns,
            written: None,
        }
    }

    #[test]
    fn scale_results_load_and_are_checked() {
        let dir = std::env::temp_dir().join(format!("warden-scale-{}", std::process::id()));
        let write = |rel: &str, ns: f64| {
            let p = dir.join(rel).join("new");
            fs::create_dir_all(&p).unwrap();
            let json = format!(
                r#"{{"mean":{{"point_estimate":{ns},"confidence_interval":
                {{"lower_bound":{ns},"upper_bound":{ns}}}}}}}"#
            );
            fs::write(p.join("estimates.json"), json).unwrap();
        };
        write("many_threads/8t/warden-breaker", 2.0);
        write("many_threads/256t/warden-breaker", 3.5);
        write("many_breakers/1t/recloser", 40.0);
        fs::write(
            dir.join(MEMORY_FILE),
            r#"{"warden-breaker": 500.0, "failsafe": 300.0}"#,
        )
        .unwrap();
        let s = Scale::load(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(s.ns("many_breakers", 1, "recloser"), Some(40.0));
        assert_eq!(s.bytes("failsafe"), Some(300.0));
        let checks = scale_checks(&s);
        assert_eq!(checks[0].met, Some(true));
        // 3.5 ÷ 2.0 = 1.75 > 1.5: the cliff is flagged.
        assert_eq!(checks[1].met, Some(false));
        let md = scale_markdown(&s);
        assert!(
            md.contains("| bytes per breaker | 1 | 500 B | - | 300 B | - |"),
            "{md}"
        );
        assert!(md.contains("| many_threads | 256 | **3.50** |"), "{md}");
    }

    #[test]
    fn parses_criterion_estimates() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,
            "lower_bound":3.9,"upper_bound":4.1},"point_estimate":4.0,"standard_error":0.05},
            "median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":3.8,
            "upper_bound":4.0},"point_estimate":3.9,"standard_error":0.05},"slope":null}"#;
        assert_eq!(parse_estimates(json), Ok((4.0, 3.9, 4.1)));
        assert!(parse_estimates(r#"{"median":{}}"#).is_err());
    }

    #[test]
    fn loads_the_id_layout_and_skips_other_benchmarks() {
        let dir = std::env::temp_dir().join(format!("warden-report-{}", std::process::id()));
        let write = |rel: &str, ns: f64| {
            let p = dir.join(rel).join("new");
            fs::create_dir_all(&p).unwrap();
            let json = format!(
                r#"{{"mean":{{"point_estimate":{ns},"confidence_interval":
                {{"lower_bound":{ns},"upper_bound":{ns}}}}}}}"#
            );
            fs::write(p.join("estimates.json"), json).unwrap();
        };
        write("closed_success/1t/warden-breaker", 2.0);
        write("closed_success/1t/recloser", 16.0);
        write("closed_success/2t/warden-breaker", 2.5);
        write("other_group/1t/warden-breaker", 9.0);
        write("closed_success/report/ignored", 9.0);
        let r = Results::load(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(r.estimates.len(), 3);
        assert_eq!(r.ns(Workload::ClosedSuccess, 1, "recloser"), Some(16.0));
        assert_eq!(r.contenders(), ["warden-breaker", "recloser"]);
        assert_eq!(
            r.rows(),
            [(Workload::ClosedSuccess, 1), (Workload::ClosedSuccess, 2)]
        );
    }

    #[test]
    fn checks_compute_ratios_against_the_right_reference() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "bare", 1.0),
                est(ClosedSuccess, 1, "warden-breaker", 3.0),
                est(ClosedSuccess, 1, "failsafe", 20.0),
                est(ClosedSuccess, 1, "recloser", 15.0),
                est(ClosedSuccess, 2, "warden-breaker", 3.3),
                est(OpenReject, 1, "warden-breaker", 2.0),
                est(OpenReject, 1, "recloser", 30.0),
            ],
            ..Default::default()
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what)).unwrap();
        let bare = find("closed_success 1t: warden-breaker ÷ bare");
        assert_eq!((bare.ratio, bare.met), (Some(3.0), Some(false)));
        let peers = find("closed_success 1t: faster of");
        assert_eq!((peers.ratio, peers.met), (Some(5.0), Some(true)));
        let scaling = find("closed_success: warden-breaker 2t");
        assert_eq!(scaling.met, Some(true));
        let open = find("open_reject 1t: recloser ÷ warden-breaker");
        assert_eq!((open.ratio, open.met), (Some(15.0), Some(true)));
        assert_eq!(find("open_reject 1t: failsafe").met, None);
        assert!(
            !c.iter().any(|c| c.what.contains("window")),
            "no window results"
        );
    }

    #[test]
    fn window_policies_are_checked_against_the_default_and_the_peers() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "warden-breaker", 3.0),
                est(ClosedSuccess, 1, "failsafe", 20.0),
                est(ClosedSuccess, 1, "recloser", 16.0),
                est(TimeWindowSuccess, 1, "warden-breaker", 4.0),
                est(SlowCallsSuccess, 1, "warden-breaker", 9.3),
            ],
            ..Default::default()
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what)).unwrap();
        let own = find("time_window_success 1t: warden-breaker ÷ default");
        assert_eq!(own.want, "≤ 2×");
        assert_eq!(own.met, Some(true), "4 / 3 <= 2");
        // No paired measurement: criterion's two figures decide, labelled so.
        assert_eq!(
            own.what,
            "time_window_success 1t: warden-breaker ÷ default policy \
             (unpaired: no paired measurement in this run)"
        );
        let slow = find("slow_calls_success 1t: warden-breaker ÷ default");
        assert_eq!(slow.want, "≤ 3×");
        assert_eq!(slow.met, Some(false), "9.3 / 3 > 3");
        let peers = find(
            "time_window_success 1t: faster of failsafe/recloser (closed_success) ÷ warden-breaker",
        );
        assert_eq!((peers.ratio, peers.met), (Some(4.0), Some(true)));
        assert!(!c.iter().any(|c| c.what.starts_with("count_window_success")));
    }

    #[test]
    fn metrics_are_checked_against_the_same_breaker_without_them() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "warden-breaker-unwatched", 3.0),
                est(ClosedSuccess, 1, "warden-breaker-again", 3.0),
                est(ClosedSuccess, 1, "warden-prometheus", 3.5),
                est(OpenReject, 2, "warden-breaker-unwatched", 3.0),
                est(OpenReject, 2, "warden-breaker-again", 3.0),
                est(OpenReject, 2, "warden-prometheus", 4.5),
                est(OpenReject, 1, "warden-breaker-unwatched", 3.0),
                est(OpenReject, 1, "warden-prometheus", 3.2),
            ],
            ..Default::default()
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what)).unwrap();
        let cs = find(
            "closed_success 1t: warden-prometheus − max(warden-breaker-unwatched, warden-breaker-again)",
        );
        assert_eq!(
            (cs.ratio, cs.spread, cs.met),
            (Some(0.5), Some(0.0), Some(true))
        );
        let or = find("open_reject 2t: warden-prometheus − max(");
        assert_eq!(
            (or.ratio, or.met),
            (Some(1.5), Some(false)),
            "1.5 ns > 1 ns"
        );
        let missing = find("closed_success 2t: warden-prometheus");
        assert_eq!(missing.met, None);
        // No second baseline figure: the difference is shown, nothing decided.
        let no_control = find("open_reject 1t: warden-prometheus");
        assert!((no_control.ratio.unwrap() - 0.2).abs() < 1e-9);
        assert_eq!((no_control.spread, no_control.met), (None, None));
        assert_eq!(
            no_control.unresolved.as_deref(),
            Some("no A/A control (warden-breaker-again) in this run")
        );
    }

    fn metrics(backend: f64, before: f64, again: f64) -> Check {
        metrics_check(
            "m".into(),
            Some(backend),
            Some(before),
            Some(again),
            BASELINE_AGAIN,
        )
    }

    #[test]
    fn a_backend_within_the_a_a_bracket_passes() {
        // 9.6 lies between the baseline's two figures (9.3 before, 9.9 after).
        let c = metrics(9.6, 9.3, 9.9);
        assert_eq!(c.met, Some(true));
        assert_eq!(c.unresolved, None);
        assert!((c.ratio.unwrap() - -0.3).abs() < 1e-9, "{c:?}");
        assert!((c.spread.unwrap() - 0.6).abs() < 1e-9, "{c:?}");
        // Up to the goal over the slower figure, whichever came first.
        assert_eq!(metrics(10.9, 9.9, 9.3).met, Some(true));
        // A little below both (placement): still decided.
        assert_eq!(metrics(8.5, 9.3, 9.9).met, Some(true));
    }

    #[test]
    fn a_backend_2_ns_over_the_slower_baseline_fails() {
        let c = metrics(11.9, 9.3, 9.9);
        assert_eq!(c.met, Some(false));
        assert_eq!(c.unresolved, None);
        assert!((c.ratio.unwrap() - 2.0).abs() < 1e-9, "{c:?}");
        // Judged against the slower figure, not the faster one.
        assert_eq!(metrics(10.85, 9.9, 9.3).met, Some(true));
        assert_eq!(metrics(10.85, 9.3, 9.3).met, Some(false));
    }

    #[test]
    fn a_large_a_a_spread_is_reported_as_unresolved() {
        // The baseline moved 6 ns between its two measurements: a 1 ns cost
        // cannot be told from that, whatever the backend measured.
        for backend in [90.0, 95.0, 120.0] {
            let c = metrics(backend, 92.0, 98.0);
            assert_eq!(c.met, None, "{c:?}");
            assert_eq!(
                c.unresolved.as_deref(),
                Some("unresolved at this run's noise (spread 6.00 ns)")
            );
            assert_eq!(c.spread, Some(6.0));
        }
        // Both baselines agree but the backend measured 15 ns faster than
        // either: noise the pair missed, not a verdict.
        let c = metrics(77.0, 92.0, 92.5);
        assert_eq!(c.met, None);
        assert_eq!(
            c.unresolved.as_deref(),
            Some("unresolved at this run's noise (15.0 ns below both baselines)")
        );
        // At the bound itself the run still decides.
        assert_eq!(metrics(10.0, 9.0, 10.0).met, Some(true));
    }

    #[test]
    fn the_report_prints_the_a_a_spread_and_marks_the_controls() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "warden-breaker", 8.0),
                est(ClosedSuccess, 1, "warden-breaker-unwatched", 9.0),
                est(ClosedSuccess, 1, "warden-prometheus", 9.5),
                est(ClosedSuccess, 1, "warden-breaker-again", 9.25),
                est(ClosedSuccess, 1, "warden-kit", 90.0),
                est(ClosedSuccess, 1, "warden-kit-again", 96.0),
                est(ClosedSuccess, 1, "warden-kit-otel", 91.0),
            ],
            ..Default::default()
        };
        assert_eq!(
            r.contenders(),
            [
                "warden-breaker",
                "warden-breaker-unwatched",
                "warden-breaker-again",
                "warden-kit",
                "warden-kit-again",
                "warden-kit-otel",
                "warden-prometheus"
            ]
        );
        let md = markdown(&r, "");
        assert!(
            md.contains(
                "| warden-breaker | warden-breaker-unwatched (A/A control) | \
                 warden-breaker-again (A/A control) | warden-kit |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| closed_success 1t: warden-prometheus − max(warden-breaker-unwatched, \
                 warden-breaker-again) | ≤ 1 ns | 0.25 ns (A/A spread 0.25 ns) | yes |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| -5.00 ns (A/A spread 6.00 ns) | unresolved at this run's noise \
                 (spread 6.00 ns) |"
            ),
            "{md}"
        );
        assert!(md.contains("The metrics rows:"), "{md}");
        let path = std::env::temp_dir().join(format!("warden-aa-{}.svg", std::process::id()));
        plot_svg(&r, &path).unwrap();
        let svg = fs::read_to_string(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert!(
            svg.contains("warden-kit-otel") && !svg.contains("again") && !svg.contains("unwatched")
        );
    }

    fn paired(backend: f64, baseline: f64) -> Paired {
        Paired {
            policy_ns: backend,
            reference_ns: baseline,
            batches: 100,
            iters: 50_000,
        }
    }

    #[test]
    fn a_paired_metrics_check_is_decided_on_the_paired_difference() {
        let check = |backend: Paired, control: Option<Paired>| {
            metrics_paired_check("m".into(), backend, control, BASELINE_AGAIN)
        };
        let aa = Some(paired(9.05, 9.0));
        let c = check(paired(9.8, 9.0), aa);
        assert_eq!(c.met, Some(true));
        assert!((c.ratio.unwrap() - 0.8).abs() < 1e-9, "{c:?}");
        assert!((c.spread.unwrap() - 0.05).abs() < 1e-9, "{c:?}");
        assert_eq!(check(paired(10.2, 9.0), aa).met, Some(false));
        // A little below the baseline: decided; far below: noise.
        assert_eq!(check(paired(8.7, 9.0), aa).met, Some(true));
        let below = check(paired(8.0, 9.0), aa);
        assert_eq!(below.met, None);
        assert_eq!(
            below.unresolved.as_deref(),
            Some("unresolved: 1.00 ns below its baseline in the same batches")
        );
        // The control off zero by more than the bound, either way: unresolved.
        for control in [paired(9.6, 9.0), paired(9.0, 9.6)] {
            let c = check(paired(9.2, 9.0), Some(control));
            assert_eq!(c.met, None, "{c:?}");
            assert!(c.unresolved.unwrap().contains("paired A/A control is"));
        }
        // At the bound the run still decides.
        assert_eq!(
            check(paired(9.2, 9.0), Some(paired(9.5, 9.0))).met,
            Some(true)
        );
        let none = check(paired(9.2, 9.0), None);
        assert_eq!(
            (none.met, none.unresolved.as_deref()),
            (
                None,
                Some("no paired A/A control (warden-breaker-again) in this run")
            )
        );
    }

    #[test]
    fn metrics_checks_read_the_paired_files_beside_criterions() {
        use Workload::*;
        let dir = std::env::temp_dir().join(format!("warden-mpaired-{}", std::process::id()));
        let write = |rel: &str, ns: f64| {
            let p = dir.join(rel).join("new");
            fs::create_dir_all(&p).unwrap();
            let json = format!(
                r#"{{"mean":{{"point_estimate":{ns},"confidence_interval":
                {{"lower_bound":{ns},"upper_bound":{ns}}}}}}}"#
            );
            fs::write(p.join("estimates.json"), json).unwrap();
        };
        let pair = |w: Workload, t: u32, contender: &str, p: Paired| {
            let path = crate::paired::contender_paired_path(&dir, w, t, contender);
            fs::write(path, p.to_json()).unwrap();
        };
        // Criterion's figures caught the machine in two speeds: the A/A
        // spread is 3 ns, so unpaired, nothing is decided.
        for t in [1, 2] {
            write(
                &format!("closed_success/{t}t/warden-breaker-unwatched"),
                6.0,
            );
            write(&format!("closed_success/{t}t/warden-breaker-again"), 9.0);
            write(&format!("closed_success/{t}t/warden-prometheus"), 7.0);
            write(&format!("closed_success/{t}t/warden-otel"), 9.5);
        }
        // Paired at 1 thread: the control agrees to 0.1 ns; prometheus adds
        // 0.4 ns (met), otel 1.6 ns (not met).
        pair(ClosedSuccess, 1, "warden-breaker-again", paired(6.1, 6.0));
        pair(ClosedSuccess, 1, "warden-prometheus", paired(6.4, 6.0));
        pair(ClosedSuccess, 1, "warden-otel", paired(7.6, 6.0));
        // Paired at 2 threads, but the control is 0.8 ns off: unresolved.
        pair(ClosedSuccess, 2, "warden-breaker-again", paired(6.8, 6.0));
        pair(ClosedSuccess, 2, "warden-prometheus", paired(6.4, 6.0));
        // The open rejection has criterion's figures only: the A/A fallback.
        write("open_reject/1t/warden-breaker-unwatched", 3.0);
        write("open_reject/1t/warden-breaker-again", 3.2);
        write("open_reject/1t/warden-prometheus", 3.5);
        let r = Results::load(&dir);
        fs::remove_dir_all(&dir).unwrap();
        let r = r.unwrap();
        assert_eq!(r.metrics_paired.len(), 5, "{:?}", r.metrics_paired);
        assert!(r.paired.is_empty());
        let c = checks(&r);
        let find = |what: &str| {
            c.iter()
                .find(|c| c.what == what)
                .unwrap_or_else(|| panic!("no row {what}: {c:#?}"))
        };
        let prom = find(
            "closed_success 1t: warden-prometheus − warden-breaker-unwatched (paired, 100 batches)",
        );
        assert_eq!(prom.met, Some(true));
        assert!((prom.ratio.unwrap() - 0.4).abs() < 1e-9);
        let otel =
            find("closed_success 1t: warden-otel − warden-breaker-unwatched (paired, 100 batches)");
        assert_eq!(otel.met, Some(false));
        let prom2 = find(
            "closed_success 2t: warden-prometheus − warden-breaker-unwatched (paired, 100 batches)",
        );
        assert_eq!(prom2.met, None);
        // The unpaired A/A rows stay, as information.
        let info = find(
            "closed_success 1t: warden-prometheus − max(warden-breaker-unwatched, \
             warden-breaker-again) (unpaired: criterion's figures, measured at different times)",
        );
        assert_eq!(
            (info.met, info.informational, info.spread),
            (None, true, Some(3.0))
        );
        let aa = find(
            "closed_success 1t: warden-breaker-again − warden-breaker-unwatched \
             (paired A/A control, 100 batches)",
        );
        assert_eq!((aa.met, aa.informational), (None, true));
        // otel at 2 threads has no paired file: the fallback, unresolved at
        // the 3 ns spread.
        let otel2 = find(
            "closed_success 2t: warden-otel − max(warden-breaker-unwatched, warden-breaker-again)",
        );
        assert_eq!(
            otel2.unresolved.as_deref(),
            Some("unresolved at this run's noise (spread 3.00 ns)")
        );
        // No paired files at all: decided on the A/A pair as before.
        let or = find(
            "open_reject 1t: warden-prometheus − max(warden-breaker-unwatched, warden-breaker-again)",
        );
        assert_eq!((or.met, or.informational), (Some(true), false));
        assert!((or.ratio.unwrap() - 0.3).abs() < 1e-9);
        let md = markdown(&r, "");
        for row in [
            "| closed_success 1t: warden-prometheus − warden-breaker-unwatched (paired, 100 \
             batches) | ≤ 1 ns | 0.40 ns (paired A/A 0.10 ns) | yes |",
            "| closed_success 1t: warden-otel − warden-breaker-unwatched (paired, 100 batches) \
             | ≤ 1 ns | 1.60 ns (paired A/A 0.10 ns) | **no** |",
            "| closed_success 2t: warden-prometheus − warden-breaker-unwatched (paired, 100 \
             batches) | ≤ 1 ns | 0.40 ns (paired A/A 0.80 ns) | unresolved: the paired A/A \
             control is 0.80 ns off zero |",
            "| closed_success 1t: warden-breaker-again − warden-breaker-unwatched (paired A/A \
             control, 100 batches) | ±0.5 ns | 0.10 ns | not a check |",
        ] {
            assert!(md.contains(row), "{row}\n{md}");
        }
        assert!(md.contains("The metrics rows marked (paired)"), "{md}");
    }

    #[test]
    fn the_adaptive_throttle_is_checked_against_the_default_policy() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "warden-breaker", 3.0),
                est(ClosedSuccess, 2, "warden-breaker", 3.0),
                est(AdaptiveSuccess, 1, "warden-breaker", 5.0),
                est(AdaptiveSuccess, 2, "warden-breaker", 7.0),
            ],
            ..Default::default()
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what)).unwrap();
        let one = find("adaptive_success 1t: warden-breaker ÷ default");
        assert_eq!(one.met, Some(true), "5 / 3 <= 2");
        let two = find("adaptive_success 2t: warden-breaker ÷ default");
        assert_eq!(two.met, Some(false), "7 / 3 > 2");
        // With a paired measurement at 2 threads, it decides: the reference
        // measured beside the throttle ran at 4 ns, not criterion's 3.
        let paired = Paired {
            policy_ns: 7.2,
            reference_ns: 4.0,
            batches: 100,
            iters: 1000,
        };
        let r = Results {
            paired: vec![(AdaptiveSuccess, 2, paired)],
            ..r
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what == what).unwrap();
        let two =
            find("adaptive_success 2t: warden-breaker ÷ default policy (paired, 100 batches)");
        assert_eq!(
            (two.want.as_str(), two.met),
            ("≤ 2×", Some(true)),
            "7.2 / 4 <= 2"
        );
        assert!((two.ratio.unwrap() - 1.8).abs() < 1e-9);
        let info = find(
            "adaptive_success 2t: warden-breaker ÷ default policy \
             (unpaired: criterion's two figures, measured at different times)",
        );
        assert_eq!((info.met, info.informational), (None, true));
        assert!((info.ratio.unwrap() - 7.0 / 3.0).abs() < 1e-9);
        // One row decides each goal: the 1-thread row is still the fallback.
        assert_eq!(
            c.iter()
                .filter(|c| c.what.starts_with("adaptive_success") && !c.informational)
                .count(),
            2
        );
        assert!(
            find(
                "adaptive_success 1t: warden-breaker ÷ default policy \
             (unpaired: no paired measurement in this run)"
            )
            .met
            .is_some()
        );
    }

    #[test]
    fn policy_checks_read_the_paired_file_beside_criterions() {
        use Workload::*;
        let dir = std::env::temp_dir().join(format!("warden-paired-{}", std::process::id()));
        let write = |rel: &str, ns: f64| {
            let p = dir.join(rel).join("new");
            fs::create_dir_all(&p).unwrap();
            let json = format!(
                r#"{{"mean":{{"point_estimate":{ns},"confidence_interval":
                {{"lower_bound":{ns},"upper_bound":{ns}}}}}}}"#
            );
            fs::write(p.join("estimates.json"), json).unwrap();
        };
        // Criterion caught the default policy in a fast moment: 7 ÷ 3 = 2.33,
        // over the 2x goal; beside it the reference ran at 4 ns: 1.75, met.
        write("closed_success/1t/warden-breaker", 3.0);
        write("time_window_success/1t/warden-breaker", 7.0);
        write("slow_calls_success/1t/warden-breaker", 7.0);
        write("count_window_success/1t/warden-breaker", 3.3);
        let pair = |w: Workload, policy: f64, reference: f64| {
            let p = Paired {
                policy_ns: policy,
                reference_ns: reference,
                batches: 100,
                iters: 5000,
            };
            fs::write(crate::paired::paired_path(&dir, w, 1), p.to_json()).unwrap();
        };
        pair(TimeWindowSuccess, 7.0, 4.0);
        pair(CountWindowSuccess, 3.3, 3.0);
        // A file from an earlier run (older than criterion's estimate) is not used.
        pair(SlowCallsSuccess, 7.0, 1.0);
        let stale = crate::paired::paired_path(&dir, SlowCallsSuccess, 1);
        fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(UNIX_EPOCH)
            .unwrap();
        let r = Results::load(&dir);
        // A paired file that is not one fails the load, naming it.
        fs::write(
            crate::paired::paired_path(&dir, CountWindowSuccess, 1),
            r#"{"policy_ns": 1}"#,
        )
        .unwrap();
        let broken = Results::load(&dir);
        fs::remove_dir_all(&dir).unwrap();
        let r = r.unwrap();
        assert!(broken.unwrap_err().contains("count_window_success"));
        assert_eq!(r.paired.len(), 2, "{:?}", r.paired);
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what)).unwrap();
        let tw = find("time_window_success 1t: warden-breaker ÷ default policy (paired");
        assert_eq!((tw.ratio, tw.met), (Some(1.75), Some(true)));
        let tw_info = find("time_window_success 1t: warden-breaker ÷ default policy (unpaired");
        assert_eq!((tw_info.met, tw_info.informational), (None, true));
        assert!(
            find("count_window_success 1t: warden-breaker ÷ default policy (paired").met
                == Some(true)
        );
        // The stale file's 7x is ignored: criterion's 7 ÷ 3 decides (≤ 3x: met).
        let slow = find("slow_calls_success 1t: warden-breaker ÷ default policy");
        assert!(
            slow.what
                .ends_with("(unpaired: no paired measurement in this run)")
        );
        assert_eq!(slow.met, Some(true));
        // The peers' rows are unchanged by the pairing.
        assert!(c.iter().any(|c| c.what
            == "time_window_success 1t: faster of failsafe/recloser (closed_success) ÷ warden-breaker"));
        let md = markdown(&r, "");
        assert!(
            md.contains(
                "| time_window_success 1t: warden-breaker ÷ default policy (paired, 100 batches) \
                 | ≤ 2× | 1.75× | yes |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| time_window_success 1t: warden-breaker ÷ default policy (unpaired: \
                 criterion's two figures, measured at different times) | ≤ 2× | 2.33× | not a check |"
            ),
            "{md}"
        );
        assert!(md.contains("The policy rows marked (paired)"), "{md}");
    }

    #[test]
    fn facade_metrics_are_checked_against_the_facade_without_them() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "warden-kit", 20.0),
                est(ClosedSuccess, 1, "warden-kit-again", 19.5),
                est(ClosedSuccess, 1, "warden-kit-otel", 20.5),
                est(OpenReject, 1, "warden-kit-metrics-rs", 30.0),
                est(OpenReject, 1, "warden-kit-again", 30.0),
            ],
            ..Default::default()
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what));
        let otel =
            find("closed_success 1t: warden-kit-otel − max(warden-kit, warden-kit-again)").unwrap();
        assert_eq!(
            (otel.ratio, otel.spread, otel.met),
            (Some(0.5), Some(0.5), Some(true))
        );
        let no_baseline = find("open_reject 1t: warden-kit-metrics-rs").unwrap();
        assert_eq!(no_baseline.met, None);
        assert!(
            find("closed_success 1t: warden-kit-prometheus").is_none(),
            "absent from the run"
        );
    }

    #[test]
    fn the_tower_layer_is_checked_against_the_bare_service() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(TowerLayer, 1, "bare", 1.0),
                est(TowerLayer, 1, "warden-breaker", 10.0),
                est(TowerLayer, 2, "warden-breaker", 12.0),
                est(TowerLayer, 1, "tower-resilience", 200.0),
            ],
            ..Default::default()
        };
        let c = checks(&r);
        let find = |what: &str| c.iter().find(|c| c.what.starts_with(what)).unwrap();
        let over = find("tower_layer 1t: warden-breaker − bare");
        assert_eq!(
            (over.ratio, over.met),
            (Some(9.0), Some(false)),
            "9 ns > 8 ns"
        );
        let scaling = find("tower_layer: warden-breaker 2t");
        assert_eq!((scaling.ratio, scaling.met), (Some(1.2), Some(true)));
        let md = markdown(&r, "");
        assert!(md.contains("| 9.00 ns | **no** |"), "{md}");
        assert!(
            md.contains("| tower_layer | 1 | 1.00 (0.10×) | **10.0** | 200 (20.0×) |"),
            "{md}"
        );
        // With a paired measurement the check is decided on it: beside the bare
        // service the layer added 6 ns (met), whatever criterion's two figures say.
        let r = Results {
            paired: vec![(
                TowerLayer,
                1,
                Paired {
                    policy_ns: 10.0,
                    reference_ns: 4.0,
                    batches: 100,
                    iters: 1000,
                },
            )],
            ..r
        };
        let c = checks(&r);
        let deciding: Vec<_> = c
            .iter()
            .filter(|c| c.what.starts_with("tower_layer 1t") && !c.informational)
            .collect();
        assert_eq!(deciding.len(), 1, "one deciding row");
        assert_eq!(
            deciding[0].what,
            "tower_layer 1t: warden-breaker − bare service (paired, 100 batches)"
        );
        assert_eq!(
            (deciding[0].ratio, deciding[0].met),
            (Some(6.0), Some(true))
        );
        let info = c
            .iter()
            .find(|c| c.what.starts_with("tower_layer 1t") && c.informational)
            .expect("the unpaired row, for information");
        assert_eq!((info.ratio, info.met), (Some(9.0), None));
    }

    #[test]
    fn markdown_marks_the_baseline_and_missing_cells() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(OpenReject, 1, "warden-breaker", 2.0),
                est(OpenReject, 1, "recloser", 30.0),
                est(ClosedSuccess, 1, "bare", 1.0),
            ],
            ..Default::default()
        };
        let md = markdown(&r, "test machine");
        assert!(md.contains("| workload | threads | bare | warden-breaker | recloser |"));
        assert!(md.contains("| closed_success | 1 | 1.00 | - | - |"), "{md}");
        assert!(
            md.contains("| open_reject | 1 | - | **2.00** | 30.0 (15.0×) |"),
            "{md}"
        );
    }

    #[test]
    fn ns_keep_three_figures_either_side_of_zero() {
        assert_eq!(fmt_ns(9.561), "9.56");
        assert_eq!(fmt_ns(-9.561), "-9.56");
        assert_eq!(fmt_ns(25.52), "25.5");
        assert_eq!(fmt_ns(-25.52), "-25.5");
        assert_eq!(fmt_ns(-98.68), "-98.7");
        assert_eq!(fmt_ns(-141.2), "-141");
    }

    #[test]
    fn utc_formats_known_instants() {
        let t = |s| UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(utc(t(0)), "1970-01-01 00:00 UTC");
        assert_eq!(utc(t(951_782_400)), "2000-02-29 00:00 UTC");
        assert_eq!(utc(t(1_790_000_000)), "2026-09-21 14:13 UTC");
    }

    #[test]
    fn plots_an_svg() {
        use Workload::*;
        let r = Results {
            estimates: vec![
                est(ClosedSuccess, 1, "warden-breaker", 2.0),
                est(ClosedSuccess, 1, "recloser", 16.0),
                est(OpenReject, 2, "warden-breaker", 3.0),
            ],
            ..Default::default()
        };
        let path = std::env::temp_dir().join(format!("warden-plot-{}.svg", std::process::id()));
        plot_svg(&r, &path).unwrap();
        let svg = fs::read_to_string(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert!(svg.contains("<svg") && svg.contains("recloser") && svg.contains("open_reject 2t"));
    }
}
