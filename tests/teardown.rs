//! Every public entry point, called as spawned threads exit: from a
//! `thread_local!` destructor of another value (before or after the crate's
//! own teardown, as the target orders them: `tests/teardown_order.rs`), and
//! from a point after the crate's teardown. Then what each position sees.
//!
//! The checks are in `common/everything.rs`.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread;

mod common;
use common::{after_the_crates_exit, scaled};
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
                // After the crate's teardown.
                let early = Exercise(Arc::clone(&failures));
                after_the_crates_exit(move || drop(early));
                // Touch every block while running.
                exercise_everything(&failures);
                // A thread-local destructor: before the crate's teardown.
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
    assert!(CACHE.stats().lookups() >= 3 * threads);
}

/// The crate's teardown runs before std drops its handle of the thread: a
/// value dropped at exit may still ask for `std::thread::current()`. (Std
/// drops it last, after every thread-local destructor, on every target;
/// the crate's key on Linux comes before std's.)
#[test]
fn values_dropped_at_exit_still_see_the_threads_handle() {
    use std::sync::atomic::AtomicBool;
    use threadkit::registry::PerLiveThread;

    static SAW_HANDLE: AtomicBool = AtomicBool::new(false);
    static SAW_NAME: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

    struct Named;

    impl Drop for Named {
        fn drop(&mut self) {
            // A panic here would abort: catch it, and report.
            let name = std::panic::catch_unwind(|| thread::current().name().map(String::from));
            SAW_HANDLE.store(name.is_ok(), Ordering::Relaxed);
            *SAW_NAME.lock().unwrap_or_else(PoisonError::into_inner) = name.ok().flatten();
        }
    }

    static VALUES: PerLiveThread<Named> = PerLiveThread::new();
    thread::Builder::new()
        .name("worker".into())
        .spawn(|| VALUES.with_or(|| Named, |_| ()))
        .unwrap()
        .join()
        .unwrap();
    assert!(SAW_HANDLE.load(Ordering::Relaxed), "std's handle was gone");
    assert_eq!(SAW_NAME.lock().unwrap().as_deref(), Some("worker"));
}
