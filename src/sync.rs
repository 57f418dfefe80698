//! The atomics the crate uses, imported from this one place.
//!
//! Every building block takes its atomic types from here rather than from
//! `std` directly, so that a `RUSTFLAGS="--cfg loom"` build can swap them for
//! loom's model-checked versions (the pattern of crossbeam-utils'
//! `primitive` module).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
