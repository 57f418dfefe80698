//! The atomics and cell the crate's shared state is built from, imported
//! from this one place.
//!
//! Every building block takes its atomic types from here rather than from
//! `std` directly, so that a `RUSTFLAGS="--cfg loom"` build can swap them for
//! loom's model-checked versions (the pattern of crossbeam-utils'
//! `primitive` module). Such a build compiles only the protocols loom checks
//! ([`tally`](crate::tally), [`global`](crate::global)); the rest of the crate
//! rests on thread-locals, which loom's threads share.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std`'s `UnsafeCell` with loom's access API: `with` for reads, `with_mut`
/// for writes, so loom can check the accesses.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
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
/// bound all the crate's models share. (At four they pass too, but take
/// 170.34 s instead of 24.99 s on the 2-core machine CI was sized on.)
#[cfg(all(test, loom))]
pub(crate) fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}
