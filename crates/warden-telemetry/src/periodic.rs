//! A task run every period on a thread of its own, until its handle is
//! dropped: the `metrics` facade's periodic export and `tracing`'s periodic
//! rejection report.

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
    /// every `period` until the handle is dropped.
    pub(crate) fn spawn(
        name: &str,
        period: Duration,
        task: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let (lock, cv) = &*signal;
                let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                task();
                while !*stopped {
                    stopped = cv
                        .wait_timeout(stopped, period)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    if !*stopped {
                        task();
                    }
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
