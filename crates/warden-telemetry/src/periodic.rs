//! A task run every period on a thread of its own, until its handle is
//! dropped: the `metrics` facade's periodic export and `tracing`'s periodic
//! rejection report.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The running thread; dropping it stops the thread (at once, also in the
/// middle of a wait) and joins it.
#[derive(Debug)]
pub(crate) struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Runs `task` on a thread named `name`: once at once (also when the handle
    /// is dropped right away: dropping it returns after that first run), then
    /// every `period` until the handle is dropped. A run that panics (a
    /// recorder's or subscriber's panic) ends that run only: the next one
    /// comes a period later. A zero `period` is refused (`InvalidInput`): it
    /// would spin a core.
    pub(crate) fn spawn(
        name: &str,
        period: Duration,
        task: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        if period.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the period of a periodic export or report must be longer than zero",
            ));
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        // A panic is caught before it leaves the run: the thread keeps going.
        let run = move || {
            let _ = catch_unwind(AssertUnwindSafe(&task));
        };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let (lock, cv) = &*signal;
                run();
                loop {
                    // The lock is held only to wait, never across a run: a
                    // dropping handle gets it between runs however short the
                    // period (held across runs, a 1 ns period kept it from the
                    // drop for good). A spurious wake-up waits again.
                    let stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let (stopped, _) = cv
                        .wait_timeout_while(stopped, period, |stopped| !*stopped)
                        .unwrap_or_else(|p| p.into_inner());
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    run();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    use std::sync::mpsc;

    /// A run that panics does not end the thread: the runs after it happen.
    /// (Waits on the runs themselves, at most 10 s; a 1 ms period.)
    #[test]
    fn a_panicking_run_does_not_stop_the_next_ones() {
        let (tx, rx) = mpsc::channel();
        let runs = AtomicU32::new(0);
        let periodic = Periodic::spawn("panics-once", Duration::from_millis(1), move || {
            let n = runs.fetch_add(1, Relaxed);
            let _ = tx.send(n);
            assert_ne!(n, 0, "the first run panics");
        })
        .unwrap();
        for want in 0..3 {
            let n = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the thread runs the task again after a panic");
            assert_eq!(n, want);
        }
        drop(periodic);
    }

    #[test]
    fn a_zero_period_is_refused() {
        let err = Periodic::spawn("zero", Duration::ZERO, || {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }

    /// However short the period, dropping the handle stops the thread and
    /// returns (waited for at most 10 s).
    #[test]
    fn a_one_nanosecond_period_still_stops_when_dropped() {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let periodic = Periodic::spawn("nanosecond", Duration::from_nanos(1), move || {
            counted.fetch_add(1, Relaxed);
        })
        .unwrap();
        while runs.load(Relaxed) < 100 {
            std::thread::yield_now();
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            drop(periodic);
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the drop returned");
    }
}
