//! The callback chain when a command lands between the delivering thread's look at
//! the state word and its exchange: each `from` is the previous `to`, and the last
//! `to` is the breaker's state.
//!
//! Deterministic: a state-change callback on `-> HalfOpen` fails a second probe
//! (a failed probe while the callbacks run hands the re-open over to the delivering
//! thread), and a clock issues a command from inside the next clock read, which is
//! the one the delivering thread makes to time that re-open: exactly what another
//! thread can do at that moment.
#![cfg(not(loom))]

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Clock, Mode, State};

/// The command the clock issues.
#[derive(Clone, Copy, Debug)]
enum Command {
    Reset,
    ForceOpen,
    ForceClosed,
    Disable,
}

/// A settable clock that, once armed, issues one command on its next read.
#[derive(Default)]
struct CommandingClock {
    nanos: AtomicU64,
    /// 0: disarmed; otherwise 1 + the command's index.
    armed: AtomicU8,
    breaker: OnceLock<Weak<CircuitBreaker>>,
}

impl fmt::Debug for CommandingClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandingClock").finish_non_exhaustive()
    }
}

const COMMANDS: [Command; 4] = [
    Command::Reset,
    Command::ForceOpen,
    Command::ForceClosed,
    Command::Disable,
];

impl Clock for CommandingClock {
    fn now_nanos(&self) -> u64 {
        // SeqCst throughout this test clock: one thread, simplest to read.
        let armed = self.armed.swap(0, Ordering::SeqCst);
        if armed != 0 {
            let cb = self.breaker.get().and_then(Weak::upgrade).unwrap();
            match COMMANDS[usize::from(armed - 1)] {
                Command::Reset => cb.reset(),
                Command::ForceOpen => cb.force_open(),
                Command::ForceClosed => cb.force_closed(),
                Command::Disable => cb.disable(),
            }
        }
        self.nanos.load(Ordering::SeqCst)
    }
}

/// The breaker owns its clock; the test keeps a handle to arm it.
#[derive(Debug)]
struct Shared(Arc<CommandingClock>);

impl Clock for Shared {
    fn now_nanos(&self) -> u64 {
        self.0.now_nanos()
    }
}

type Changes = Arc<Mutex<Vec<(State, State)>>>;

fn assert_chain(changes: &[(State, State)], now: State) {
    let mut at = State::Closed;
    for (i, &(from, to)) in changes.iter().enumerate() {
        assert_eq!(
            from, at,
            "transition {i} of {changes:?} does not start where the last ended"
        );
        assert_ne!(from, to, "transition {i} of {changes:?} changes nothing");
        at = to;
    }
    assert_eq!(
        at, now,
        "the last transition of {changes:?} is not the breaker's state"
    );
}

fn run(command: Command, index: u8) {
    let clock = Arc::new(CommandingClock::default());
    let changes = Changes::default();
    let me: Arc<OnceLock<Weak<CircuitBreaker>>> = Arc::default();
    let (c, m, k) = (Arc::clone(&changes), Arc::clone(&me), Arc::clone(&clock));
    let cb = Arc::new(
        CircuitBreaker::builder("chain")
            .max_requests(2)
            .timeout(Duration::from_millis(1))
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .clock(Shared(Arc::clone(&clock)))
            .on_state_change(move |_, from, to| {
                c.lock().unwrap().push((from, to));
                if to == State::HalfOpen {
                    let cb = m.get().and_then(Weak::upgrade).unwrap();
                    // The second probe slot: its failure, while these callbacks run,
                    // asks the delivering thread to re-open.
                    cb.try_acquire().expect("a second probe slot").failure();
                    k.armed.store(index + 1, Ordering::SeqCst);
                }
            })
            .build()
            .unwrap(),
    );
    me.set(Arc::downgrade(&cb)).unwrap();
    clock.breaker.set(Arc::downgrade(&cb)).unwrap();

    let _ = cb.call(|| Err::<(), _>(()));
    clock.nanos.store(2_000_000, Ordering::SeqCst);
    let first_probe = cb.try_acquire(); // turns half-open; the callback runs here
    drop(first_probe);
    let changes = changes.lock().unwrap().clone();
    assert_eq!(
        clock.armed.load(Ordering::SeqCst),
        0,
        "{command:?} was issued"
    );
    assert_chain(&changes, cb.state());
    let mode = match command {
        Command::Reset => Mode::Normal,
        Command::ForceOpen => Mode::ForcedOpen,
        Command::ForceClosed => Mode::ForcedClosed,
        Command::Disable => Mode::Disabled,
    };
    assert_eq!(cb.mode(), mode, "the command took effect");
}

#[test]
fn a_reset_between_a_handed_over_reopen_and_its_exchange() {
    run(Command::Reset, 0);
}

#[test]
fn a_force_open_between_a_handed_over_reopen_and_its_exchange() {
    run(Command::ForceOpen, 1);
}

#[test]
fn a_force_closed_between_a_handed_over_reopen_and_its_exchange() {
    run(Command::ForceClosed, 2);
}

#[test]
fn a_disable_between_a_handed_over_reopen_and_its_exchange() {
    run(Command::Disable, 3);
}
