//! Prints the comparison table and the target checks from criterion's results,
//! writes them to a Markdown file and draws an SVG plot.
//!
//! ```text
//! cargo run -p warden-benches --release --bin report -- [--criterion-dir DIR] [--out FILE.md] [--svg FILE.svg]
//! ```
//!
//! By default it reads `$CARGO_TARGET_DIR/criterion` (else the workspace's
//! `target/criterion`) and writes `warden-report.md` and `warden-report.svg`
//! there.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use warden_benches::report::{Results, Scale, criterion_dir, markdown, plot_svg, scale_markdown};

fn output_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// CPU, core count, compiler and commit, as one sentence.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = output_of("rustc", &["--version"]).unwrap_or_else(|| "rustc (unknown)".into());
    let commit = output_of("git", &["rev-parse", "--short", "HEAD"])
        .map_or_else(String::new, |c| format!(", commit {c}"));
    format!("Machine: {cpu}, {cores} CPUs; {rustc}{commit}.")
}

fn main() -> ExitCode {
    let mut dir = criterion_dir();
    let (mut out, mut svg) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| match args.next() {
            Some(v) => Ok(PathBuf::from(v)),
            None => Err(format!("{name} needs a value")),
        };
        let parsed = match a.as_str() {
            "--criterion-dir" => value(&a).map(|v| dir = v),
            "--out" => value(&a).map(|v| out = Some(v)),
            "--svg" => value(&a).map(|v| svg = Some(v)),
            _ => Err(format!(
                "unknown argument {a}\nusage: report [--criterion-dir DIR] [--out FILE.md] [--svg FILE.svg]"
            )),
        };
        if let Err(e) = parsed {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    let results = match Results::load(&dir) {
        Ok(r) if !r.estimates.is_empty() => r,
        Ok(_) => {
            eprintln!(
                "no results under {}: run `benches/run.sh` (or `cargo bench -p warden-benches --bench compare`) first",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let out = out.unwrap_or_else(|| dir.join("warden-report.md"));
    let svg = svg.unwrap_or_else(|| dir.join("warden-report.svg"));
    let mut md = markdown(&results, &machine());
    match Scale::load(&dir) {
        Ok(scale) if !scale.is_empty() => {
            md.push('\n');
            md.push_str(&scale_markdown(&scale));
        }
        Ok(_) => {}
        Err(e) => eprintln!("scale results: {e}"),
    }
    print!("{md}");
    if let Err(e) = std::fs::write(&out, format!("{md}\n![plot]({})\n", svg.display())) {
        eprintln!("cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    if let Err(e) = plot_svg(&results, &svg) {
        eprintln!("cannot draw {}: {e}", svg.display());
        return ExitCode::FAILURE;
    }
    println!("\nWritten: {}\n         {}", out.display(), svg.display());
    ExitCode::SUCCESS
}
