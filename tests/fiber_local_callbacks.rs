//! The crate from a fiber-local storage callback (`FlsAlloc`), which C
//! libraries on Windows use as a `pthread_key_create` destructor is used on
//! Linux: every entry point, in threads std spawned and threads started with
//! `CreateThread`, whose first contact with the crate is that callback or
//! who used it before. Windows only (the Linux counterpart is
//! `tests/foreign_destructors.rs`).
//!
//! Windows runs a thread's fiber-local callbacks before the loader's
//! `DLL_THREAD_DETACH` notifications and TLS callbacks (Wine 8 as well), so
//! before std runs its thread-local destructors, the crate's guard among
//! them: the crate is live for the callback of a thread that used it, and a
//! first contact there registers the thread and its exit, which runs after.
//! Whichever the order, the checks below hold: no failure, every count in
//! the totals, every value reported exited once the thread is joined, the
//! thread's index given back, what the callback kept freed.

// Not under Miri, which does not emulate fiber-local storage.
#![cfg(all(windows, not(miri)))]

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use threadkit::PerThread;

mod common;
use common::windows::{fls_alloc, fls_set, run_c_thread};
#[path = "common/everything.rs"]
mod everything;
use everything::{exercise_everything, Failures, ADDED_PER_RUN, CONFIG};

/// What a thread's callback gets: where to report, and a tag to find its
/// value by.
struct Job {
    failures: Failures,
    tag: usize,
}

/// The tag of each thread's value, made in its callback.
static TAGS: PerThread<usize> = PerThread::new();
/// The tests share the statics of `everything`: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
static NEXT_TAG: AtomicUsize = AtomicUsize::new(0);

unsafe extern "system" fn in_callback(value: *const c_void) {
    // SAFETY: the value `set_job` stored: a leaked `Box<Job>`, taken once
    // (the system clears the slot before it calls back).
    let job = unsafe { Box::from_raw(value.cast_mut().cast::<Job>()) };
    exercise_everything(&job.failures);
    TAGS.get_or(|| job.tag);
}

fn slot() -> u32 {
    static SLOT: OnceLock<u32> = OnceLock::new();
    *SLOT.get_or_init(|| fls_alloc(in_callback))
}

/// What a thread does before its exit: touch the crate or not, then hand
/// its job to the fiber-local slot.
fn job_thread(job: Job, touch_first: bool) {
    if touch_first {
        exercise_everything(&job.failures);
    }
    fls_set(slot(), Box::into_raw(Box::new(job)).cast());
}

unsafe extern "system" fn c_thread(arg: *mut c_void) -> u32 {
    // SAFETY: `run_job_on_a_c_thread` passes a leaked `Box<(Job, bool)>`.
    let (job, touch_first) = *unsafe { Box::from_raw(arg.cast::<(Job, bool)>()) };
    job_thread(job, touch_first);
    0
}

/// Runs `job_thread` on a thread std did not start, and waits for it.
fn run_job_on_a_c_thread(job: Job, touch_first: bool) {
    let arg = Box::into_raw(Box::new((job, touch_first)));
    run_c_thread(c_thread, arg.cast());
}

/// Runs 16 threads of one kind, each ending in the fiber-local callback,
/// which calls every entry point; checks what the module says.
fn check(touch_first: bool, std_threads: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _ = CONFIG.set_global("global");
    let threads = 16;
    let failures: Failures = Arc::default();
    let before = everything::COUNTER.sum();
    let declared_before = everything::DECLARED.sum();
    let recorded_before = everything::HISTOGRAM.snapshot().count();
    for _ in 0..threads {
        let job = Job {
            failures: Arc::clone(&failures),
            tag: NEXT_TAG.fetch_add(1, Ordering::Relaxed),
        };
        let tag = job.tag;
        if std_threads {
            thread::spawn(move || job_thread(job, touch_first))
                .join()
                .expect("no thread panicked or aborted");
        } else {
            run_job_on_a_c_thread(job, touch_first);
        }
        let entry = TAGS
            .per_thread()
            .find(|e| **e.value() == tag)
            .unwrap_or_else(|| panic!("thread {tag} has its value"));
        assert!(entry.has_exited(), "thread {tag} reported exited");
        assert!(entry.thread_id().is_some(), "thread {tag} has its id");
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    let runs = if touch_first { 2 } else { 1 };
    let added = runs * ADDED_PER_RUN * threads;
    assert_eq!(everything::COUNTER.sum() - before, added, "counter");
    assert_eq!(
        everything::DECLARED.sum() - declared_before,
        added,
        "counter!"
    );
    assert_eq!(
        everything::HISTOGRAM.snapshot().count() - recorded_before,
        added,
        "histogram"
    );
    // Every count flushed by its thread's exit, and the indices given back:
    // one thread at a time, so a few slots serve them all.
    assert_eq!(everything::COUNTER.approx(), everything::COUNTER.sum());
    let slots = everything::COUNTER.per_thread().len();
    assert!(
        slots < 10,
        "the threads' indices were given back: {slots} slots"
    );
}

#[test]
fn every_entry_point_works_in_a_fiber_local_callback_of_a_c_thread_at_first_contact() {
    check(false, false);
}

#[test]
fn every_entry_point_works_in_a_fiber_local_callback_of_a_c_thread_that_used_the_crate() {
    check(true, false);
}

#[test]
fn every_entry_point_works_in_a_fiber_local_callback_of_a_std_thread_at_first_contact() {
    check(false, true);
}

#[test]
fn every_entry_point_works_in_a_fiber_local_callback_of_a_std_thread_that_used_the_crate() {
    check(true, true);
}
