//! Every public entry point, called from inside a `thread_local!` destructor
//! of another value, in spawned threads — once from a destructor that runs
//! before the crate's own thread-locals are torn down and once from one that
//! runs after.
//!
//! The checks are in `common/everything.rs`.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

mod common;
use common::scaled;
#[path = "common/everything.rs"]
mod everything;
use everything::{
    exercise_everything, Failures, ADDED_PER_RUN, CACHE, CONFIG, COUNTER, DECLARED, HISTOGRAM,
    VALUES,
};

struct Exercise(Failures);

impl Drop for Exercise {
    fn drop(&mut self) {
        exercise_everything(&self.0);
    }
}

thread_local! {
    static EARLY: Cell<Option<Exercise>> = const { Cell::new(None) };
    static LATE: Cell<Option<Exercise>> = const { Cell::new(None) };
}

#[test]
fn every_entry_point_works_from_thread_local_destructors() {
    let _ = CONFIG.set_global("global");
    let threads = scaled(8, 2);
    let failures: Failures = Arc::default();
    let before = COUNTER.sum();
    let declared_before = DECLARED.sum();
    let recorded_before = HISTOGRAM.snapshot().count();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let failures = Arc::clone(&failures);
            thread::spawn(move || {
                // Registered before the thread touches the crate: destroyed
                // after the crate's own thread-locals.
                EARLY.set(Some(Exercise(Arc::clone(&failures))));
                // Touch every block while running.
                exercise_everything(&failures);
                // Registered after: destroyed before the crate's.
                LATE.set(Some(Exercise(failures)));
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("no thread panicked or aborted");
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    // Counts from the destructors arrived: three runs per thread.
    assert_eq!(COUNTER.sum() - before, 3 * ADDED_PER_RUN * threads);
    assert_eq!(
        DECLARED.sum() - declared_before,
        3 * ADDED_PER_RUN * threads
    );
    assert_eq!(
        HISTOGRAM.snapshot().count() - recorded_before,
        3 * ADDED_PER_RUN * threads
    );
    let created: u64 = VALUES.iter().map(|v| v.load(Ordering::Relaxed)).sum();
    assert_eq!(created, 3 * threads);
    // The cache counted every lookup, teardown ones included.
    assert!(CACHE.stats().total.lookups() >= 3 * threads);
}
