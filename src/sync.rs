//! The atomics, cell, lock and spin hint the crate's shared state is built
//! from, imported from this one place.
//!
//! Every building block takes these from here rather than from `std`
//! directly, so that a `RUSTFLAGS="--cfg threadkit_loom"` build
//! can swap them for loom's model-checked versions (the pattern of
//! crossbeam-utils' `primitive` module). Such a build compiles only the
//! protocols loom checks: the counter's tally, the context's global cell,
//! the histogram's per-thread recorder, `PerLiveThread`'s readings, and the
//! owned-slot protocol with its exit hooks (see `lib.rs`); the rest of
//! the crate rests on thread-locals, which loom's threads share.

#[cfg(not(threadkit_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};

/// The crate's lock: std's, with `parking_lot`'s API (`lock` returns the
/// guard; a panic while it was held does not poison it: no user code runs
/// under the crate's locks).
///
/// Not `parking_lot`'s own: a thread that waits on one parks through a
/// `thread_local!` with a destructor (its `ThreadData`). A thread whose
/// first wait comes after its thread-local destructors ran — in the crate's
/// teardown, or a C library's key destructor — registers that destructor
/// too late: glibc keeps a 32-byte node for it, and `parking_lot` never
/// counts the thread out, so its table of waiters grows with such threads.
/// std's lock waits on a futex and keeps nothing per thread.
#[cfg(not(threadkit_loom))]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

#[cfg(not(threadkit_loom))]
impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(threadkit_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};

#[cfg(threadkit_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Lets other threads run while this one waits for a short step of theirs.
#[cfg(not(threadkit_loom))]
pub(crate) use std::thread::yield_now;

#[cfg(threadkit_loom)]
pub(crate) use loom::thread::yield_now;

/// loom's mutex with `parking_lot`'s API: `lock` returns the guard.
#[cfg(threadkit_loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(threadkit_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

/// `std`'s `UnsafeCell` with loom's access API: `with` for reads, `with_mut`
/// for writes, so loom can check the accesses.
#[cfg(not(threadkit_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(threadkit_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to read the value through.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer to write the value through.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Runs a loom model over every schedule with up to three preemptions, the
/// bound all the crate's models share.
#[cfg(all(test, threadkit_loom))]
pub(crate) fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}
