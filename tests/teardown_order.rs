//! Where the crate's teardown for a thread falls among the thread's
//! `thread_local!` destructors, on each target (`src/thread/exit.rs` says
//! why), and what a destructor sees before and after it: before, the crate
//! is live for the thread (its values, its slots); after, the thread is
//! reported exited, its `PerLiveThread` value is gone, and its `PerThread`
//! value is still found.
//!
//! One test in its own binary: on `x86_64-pc-windows-gnu` the order is that
//! of the thread-locals' first use in the whole process, which no other
//! test may disturb.

use std::cell::Cell;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use threadkit::registry::PerLiveThread;
use threadkit::PerThread;

static VALUE: PerThread<u32> = PerThread::new();
static LIVE: PerLiveThread<u32> = PerLiveThread::new();

/// What a destructor saw: its thread's value, whether it was reported
/// exited, and its live value.
type Seen = (Option<u32>, Option<bool>, Option<u32>);

/// What a destructor sees before the crate's teardown.
#[allow(dead_code)] // not every target's order has both positions
const LIVE_CRATE: Seen = (Some(7), Some(false), Some(8));
/// And after it.
#[cfg_attr(
    all(target_os = "linux", target_env = "gnu", not(miri)),
    allow(dead_code)
)]
const AFTER_TEARDOWN: Seen = (Some(7), Some(true), None);

struct Look(Arc<Mutex<Option<Seen>>>);

impl Drop for Look {
    fn drop(&mut self) {
        let me = thread::current().id();
        let exited = VALUE
            .per_thread()
            .find(|entry| entry.thread_id() == Some(me))
            .map(|entry| entry.has_exited());
        let seen = (VALUE.get().copied(), exited, LIVE.with(|v| v.copied()));
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(seen);
    }
}

thread_local! {
    /// Set before the thread first uses the crate.
    static BEFORE: Cell<Option<Look>> = const { Cell::new(None) };
    /// Set after it.
    static AFTER: Cell<Option<Look>> = const { Cell::new(None) };
}

/// glibc runs key destructors, the crate's among them, after every
/// thread-local destructor.
#[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
const EXPECTED: [Seen; 2] = [LIVE_CRATE, LIVE_CRATE];

/// Without `__cxa_thread_atexit_impl` (musl; Miri), std runs thread-local
/// destructors from a key of its own, made after the crate's.
#[cfg(all(target_os = "linux", any(not(target_env = "gnu"), miri)))]
const EXPECTED: [Seen; 2] = [AFTER_TEARDOWN, AFTER_TEARDOWN];

/// Elsewhere the crate's teardown is a `thread_local!` destructor: std runs
/// those registered after it first (its list, last in first out; on
/// `x86_64-pc-windows-gnu`, its keys, newest first), then the crate's, then
/// those registered before it.
#[cfg(not(target_os = "linux"))]
const EXPECTED: [Seen; 2] = [AFTER_TEARDOWN, LIVE_CRATE];

#[test]
fn thread_local_destructors_see_the_crate_as_the_target_orders_its_teardown() {
    let before = Arc::default();
    let after = Arc::default();
    let (before_look, after_look) = (Look(Arc::clone(&before)), Look(Arc::clone(&after)));
    thread::spawn(move || {
        BEFORE.set(Some(before_look));
        VALUE.get_or(|| 7);
        LIVE.with_or(|| 8, |_| ());
        AFTER.set(Some(after_look));
    })
    .join()
    .unwrap();
    let seen = [before, after].map(|seen| seen.lock().unwrap().take().expect("both ran"));
    assert_eq!(seen, EXPECTED, "[registered before first use, after it]");
}
