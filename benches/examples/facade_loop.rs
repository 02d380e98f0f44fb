//! Instructions per guarded call through the facade, without metrics and with
//! each metrics backend: the compare benchmark's facade contenders
//! (`benches/compare/facade.rs`) in the harness's loop, on one thread, inside
//! a function of its own so that callgrind counts only the loop
//! (instructions per call = the count over `n`).
//!
//! ```sh
//! cargo build --profile bench -p warden-benches --example facade_loop
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*run_calls*' \
//!     target/release/examples/facade_loop warden-kit-otel closed_success 100000
//! ```
//!
//! Contenders: `warden-kit`, `warden-kit-again` (the report's A/A control,
//! the same pipeline), `warden-kit-prometheus`, `warden-kit-otel`,
//! `warden-kit-metrics-rs`; workloads: `closed_success`, `open_reject`.

#[path = "../benches/compare/facade.rs"]
mod facade;

use facade::{Facade, MetricsRs, NoMetrics, NoMetricsAgain, Otel, Prometheus};
use warden_benches::harness::{Contender, Workload};

#[inline(never)]
fn run_calls<C: Contender>(c: &C, workload: Workload, n: u64) {
    // The contender's own timed loop, as the comparison runs it.
    c.run(workload, n, 0);
}

fn measure<C: Contender>(workload: Workload, n: u64) {
    let c = C::prepare(workload, n).expect("the facade runs closed_success and open_reject");
    run_calls(&c, workload, n);
    println!("{} {} {n} calls", C::NAME, workload.name());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: facade_loop <contender> <closed_success|open_reject> [calls]";
    let contender = args.next().expect(usage);
    let workload = args
        .next()
        .and_then(|w| Workload::from_name(&w))
        .expect(usage);
    let n = args.next().map_or(100_000, |n| n.parse().expect(usage));
    match contender.as_str() {
        "warden-kit" => measure::<Facade<NoMetrics>>(workload, n),
        "warden-kit-again" => measure::<Facade<NoMetricsAgain>>(workload, n),
        "warden-kit-prometheus" => measure::<Facade<Prometheus>>(workload, n),
        "warden-kit-otel" => measure::<Facade<Otel>>(workload, n),
        "warden-kit-metrics-rs" => measure::<Facade<MetricsRs>>(workload, n),
        other => panic!("unknown contender {other:?}; {usage}"),
    }
}
