//! A global allocator that runs a hook inside a thread's next line-aligned
//! allocation: the counter cell a thread's first call to a breaker allocates,
//! between the admission's (or the outcome's) generation check and the count's
//! write, so a test can put that thread inside the check-to-write window on
//! purpose. Shared by the test binaries that include it (`mod cell_hook;`); each
//! binary gets its own allocator.
#![allow(dead_code)] // each test binary uses its own part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};

/// A counter cell's alignment: a cache line. The cell is the only allocation of a
/// first call aligned to one (see `check_to_write_window.rs`,
/// `the_only_line_aligned_allocation_of_a_first_call_is_its_cell`); it is one line
/// long, but the hook takes any whole number of lines.
pub(crate) const LINE: usize = 64;

struct Hooked;

thread_local! {
    /// Armed: this thread's next line-aligned allocation runs [`HOOK`]. Swapped to
    /// false before the hook runs, so the hook's own allocations (the breaker's
    /// settings looked up by `reset`, and whatever it formats) never run it again:
    /// this flag is also the re-entrancy guard. Const-initialised and without a
    /// destructor, so reading it from inside the allocator never allocates.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// The hook of the armed thread. Set (which first touches this thread-local,
    /// registering its destructor) by [`arm`], outside the allocator; read inside
    /// it only when `ARMED` was set.
    static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    /// Line-aligned allocations this thread made, less those its hook made (the
    /// resets' own: the settings' lock-free cell takes a line-aligned node for a
    /// thread on its first look, whenever that comes).
    static LINE_ALIGNED: Cell<u64> = const { Cell::new(0) };
    /// Set while this thread's hook runs.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

// The only `unsafe` of these tests: a `GlobalAlloc` impl must be unsafe.
#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
// The extra work is on thread-locals that are const-initialised (reading them
// allocates nothing) and, on the armed thread only, a hook that runs before the
// forwarded allocation: it may allocate itself (those allocations come back here
// with the flag already cleared, and are forwarded), it never unwinds out of here
// (a panic aborts), and it returns before `System.alloc` is called, so the layout
// and the returned block are untouched.
unsafe impl GlobalAlloc for Hooked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() == LINE
            && layout.size().is_multiple_of(LINE)
            && !IN_HOOK.try_with(Cell::get).unwrap_or(true)
        {
            let _ = LINE_ALIGNED.try_with(|c| c.set(c.get() + 1));
            if ARMED.try_with(|a| a.replace(false)).unwrap_or(false) {
                let hook = HOOK.try_with(|h| h.borrow_mut().take()).ok().flatten();
                if let Some(hook) = hook {
                    let _ = IN_HOOK.try_with(|h| h.set(true));
                    // Unwinding out of a global allocator is undefined behaviour: a
                    // hook that panics (a bug in the breaker) ends the process.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook));
                    if ran.is_err() {
                        std::process::abort();
                    }
                    let _ = IN_HOOK.try_with(|h| h.set(false));
                }
            }
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Hooked = Hooked;

/// Runs `hook` on this thread's next line-aligned allocation.
pub(crate) fn arm(hook: impl FnOnce() + 'static) {
    HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    ARMED.with(|a| a.set(true));
}

/// Line-aligned allocations this thread makes in `f`.
pub(crate) fn line_aligned_in(f: impl FnOnce()) -> u64 {
    let before = LINE_ALIGNED.with(Cell::get);
    f();
    LINE_ALIGNED.with(Cell::get) - before
}

/// Whether this thread's hook is still armed (its allocation has not come yet).
pub(crate) fn armed() -> bool {
    ARMED.with(Cell::get)
}
