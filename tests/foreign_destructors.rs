//! The crate from a `pthread_key_create` destructor: code that runs after
//! the thread's Rust thread-local destructors and, in a thread std spawned,
//! after std's own thread cleanup (std's handle for the thread is gone, and
//! `std::thread::current` panics). Every entry point, in threads a C library
//! started (`pthread_create`) and threads std spawned, whose first contact
//! with the crate is that destructor or who used it before. Linux only.

// Linux only: the key order these tests rely on (a key whose destructor
// runs after std's cleanup) is glibc's and musl's; the Windows counterpart
// is `fiber_local_callbacks.rs`; macOS and the BSDs are not run here. Not
// under Miri: hundreds of threads calling every entry point are too slow
// there; ThreadSanitizer and AddressSanitizer run it.
#![cfg(all(target_os = "linux", not(miri)))]

use std::ffi::{c_uint, c_void};
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, ThreadId};

use threadkit::{Counter, PerThread};

mod common;
use common::pthread::{key_create, pthread_setspecific, run_c_thread, sets_key};
#[path = "common/everything.rs"]
mod everything;
use everything::{exercise_everything, Failures, ADDED_PER_RUN, CONFIG};

static COUNTER: Counter = Counter::new();
static VALUES: OnceLock<PerThread<u32>> = OnceLock::new();

/// Runs after the thread's Rust thread-locals are destroyed; the crate has
/// not seen this thread before.
unsafe extern "C" fn foreign_destructor(_: *mut c_void) {
    COUNTER.add(1);
    VALUES.get().unwrap().get_or(|| 7);
}

fn foreign_key() -> c_uint {
    static KEY: OnceLock<c_uint> = OnceLock::new();
    *KEY.get_or_init(|| key_create(foreign_destructor))
}

/// Runs a C library's thread that only sets `key` (so that its destructor
/// runs as the thread exits), and joins it.
fn run_c_thread_setting(key: c_uint) {
    run_c_thread(sets_key, key as usize as *mut c_void);
}

#[test]
fn first_contact_in_a_foreign_destructor_is_counted_released_and_reported_exited() {
    VALUES.get_or_init(PerThread::new);
    let key = foreign_key();
    let threads = 300;
    for _ in 0..threads {
        run_c_thread_setting(key);
    }
    assert_eq!(COUNTER.sum(), threads, "every count reached the total");
    let values = VALUES.get().unwrap();
    assert_eq!(values.len(), threads as usize);
    assert!(
        values.per_thread().all(|e| e.has_exited()),
        "values made in a foreign destructor report their thread as exited"
    );
    // One thread at a time: had each kept its index, the counter would hold
    // a slot per thread.
    let slots = COUNTER.per_thread().len();
    assert!(
        slots < 10,
        "the threads' indices were given back: {slots} slots"
    );
}

/// What a matrix thread's key destructor gets: where to report, and a tag
/// to find its value by.
struct Job {
    failures: Failures,
    tag: usize,
}

/// The tag of each matrix thread's value, made in its key destructor.
static TAGS: PerThread<usize> = PerThread::new();
/// The matrix tests share the statics of `everything`, and count panics of
/// `std::thread::current`: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
/// Panics of `std::thread::current` after std's cleanup, caught by the crate;
/// counted by the hook `count_handle_gone` installs instead of printed.
static HANDLE_GONE: AtomicUsize = AtomicUsize::new(0);
/// The value that makes `in_destructor` probe instead of run a job.
const PROBE: usize = 1;
/// Whether the last probe found std's handle for its thread gone.
static PROBE_FOUND_HANDLE_GONE: AtomicBool = AtomicBool::new(false);

fn count_handle_gone() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let chained = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = info.payload_as_str().unwrap_or_default();
            if message.contains("std::thread::current() is not possible") {
                HANDLE_GONE.fetch_add(1, Ordering::Relaxed);
            } else {
                chained(info);
            }
        }));
    });
}

unsafe extern "C" fn in_destructor(value: *mut c_void) {
    if value as usize == PROBE {
        let gone = panic::catch_unwind(thread::current).is_err();
        PROBE_FOUND_HANDLE_GONE.store(gone, Ordering::Relaxed);
        return;
    }
    // SAFETY: any other value is one `set_job` stored: a leaked `Box<Job>`,
    // taken once.
    let job = unsafe { Box::from_raw(value.cast::<Job>()) };
    exercise_everything(&job.failures);
    TAGS.get_or(|| job.tag);
}

/// A key whose destructor runs after std's thread cleanup. glibc runs key
/// destructors in index order, std makes its cleanup key at its first
/// thread spawn, and a new key takes the lowest free index: so keys are
/// made (and kept) until a std thread's destructor for one finds std's
/// handle gone.
fn matrix_key() -> c_uint {
    static KEY: OnceLock<c_uint> = OnceLock::new();
    *KEY.get_or_init(|| {
        count_handle_gone();
        thread::spawn(|| {}).join().unwrap();
        for _ in 0..64 {
            let key = key_create(in_destructor);
            thread::spawn(move || {
                // SAFETY: a key made above; `PROBE` makes its destructor probe.
                unsafe { pthread_setspecific(key, PROBE as *const c_void) };
            })
            .join()
            .unwrap();
            if PROBE_FOUND_HANDLE_GONE.load(Ordering::Relaxed) {
                return key;
            }
        }
        panic!("no key whose destructor runs after std's thread cleanup");
    })
}

/// Makes the calling thread run `job` from `matrix_key`'s destructor.
fn set_job(job: Job) {
    let job = Box::into_raw(Box::new(job));
    // SAFETY: a key from `key_create`; the destructor takes the box.
    assert_eq!(unsafe { pthread_setspecific(matrix_key(), job.cast()) }, 0);
}

/// What a matrix thread does before its exit: touch the crate or not, then
/// hand its job to the key. Returns the std id it saw, if it touched it.
fn matrix_thread(job: Job, touch_first: bool) -> Option<ThreadId> {
    let id = touch_first.then(|| {
        exercise_everything(&job.failures);
        thread::current().id()
    });
    set_job(job);
    id
}

extern "C" fn c_matrix_thread(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `run_c_matrix_thread` passes a leaked `Box<(Job, bool)>`.
    let (job, touch_first) = *unsafe { Box::from_raw(arg.cast::<(Job, bool)>()) };
    let id = matrix_thread(job, touch_first);
    Box::into_raw(Box::new(id)).cast()
}

fn run_c_matrix_thread(job: Job, touch_first: bool) -> Option<ThreadId> {
    let arg = Box::into_raw(Box::new((job, touch_first)));
    let id = run_c_thread(c_matrix_thread, arg.cast());
    // SAFETY: `c_matrix_thread` takes the box it was given and returns a
    // leaked `Box<Option<ThreadId>>`.
    *unsafe { Box::from_raw(id.cast::<Option<ThreadId>>()) }
}

/// Tags of earlier runs, so each run's tags are its own.
static NEXT_TAG: AtomicUsize = AtomicUsize::new(0);

/// Runs 16 threads of one kind (std's or a C library's; touching the crate
/// before their exit or not), each ending in `matrix_key`'s destructor,
/// which calls every entry point. Checks: no failure, every count arrived,
/// every value reported exited and attributed to its thread (its id when it
/// touched the crate while running). Returns the values' ids, and how many
/// times `std::thread::current` panicked (caught).
fn check_matrix(touch_first: bool, std_threads: bool) -> (Vec<Option<ThreadId>>, usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _ = CONFIG.set_global("global");
    let key = matrix_key();
    let threads = 16;
    let failures: Failures = Arc::default();
    let before = everything::COUNTER.sum();
    let declared_before = everything::DECLARED.sum();
    let recorded_before = everything::HISTOGRAM.snapshot().count();
    let gone_before = HANDLE_GONE.load(Ordering::Relaxed);
    let mut ids = Vec::new();
    for _ in 0..threads {
        let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            failures: Arc::clone(&failures),
            tag,
        };
        let seen = if std_threads {
            thread::spawn(move || matrix_thread(job, touch_first))
                .join()
                .expect("no thread panicked or aborted")
        } else {
            run_c_matrix_thread(job, touch_first)
        };
        let entry = TAGS
            .per_thread()
            .find(|e| **e.value() == tag)
            .unwrap_or_else(|| panic!("thread {tag} has its value"));
        assert!(entry.has_exited(), "thread {tag} reported exited");
        if touch_first {
            assert_eq!(entry.thread_id(), seen, "thread {tag}'s id");
        }
        ids.push(entry.thread_id());
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "key {key}: {failures:#?}");
    let runs = if touch_first { 2 } else { 1 };
    assert_eq!(
        everything::COUNTER.sum() - before,
        runs * ADDED_PER_RUN * threads as u64,
        "every count reached the total"
    );
    assert_eq!(
        everything::DECLARED.sum() - declared_before,
        runs * ADDED_PER_RUN * threads as u64,
        "every count of the declared counter reached the total"
    );
    assert_eq!(
        everything::HISTOGRAM.snapshot().count() - recorded_before,
        runs * ADDED_PER_RUN * threads as u64,
        "every value recorded reached the histogram"
    );
    (ids, HANDLE_GONE.load(Ordering::Relaxed) - gone_before)
}

#[test]
fn every_entry_point_works_in_a_foreign_destructor_of_a_c_thread_at_first_contact() {
    let (ids, _) = check_matrix(false, false);
    // std makes a handle for a C thread when asked: each has an id.
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
}

#[test]
fn every_entry_point_works_in_a_foreign_destructor_of_a_c_thread_that_used_the_crate() {
    check_matrix(true, false);
}

#[test]
fn every_entry_point_works_in_a_foreign_destructor_of_a_std_thread_that_used_the_crate() {
    let (_, gone) = check_matrix(true, true);
    // The crate remembered the id: it did not need std's handle.
    assert_eq!(gone, 0, "no panic of std::thread::current");
}

/// After std's cleanup `std::thread::current` panics: the crate catches it
/// (std's panic hook still runs, once per thread: counted here instead of
/// printed) and records the thread with no id.
#[test]
fn every_entry_point_works_in_a_foreign_destructor_of_a_std_thread_at_first_contact() {
    let (ids, gone) = check_matrix(false, true);
    assert_eq!(gone, 16, "one caught panic per thread");
    assert!(ids.iter().all(Option::is_none), "{ids:?}");
}

/// Counts its drops.
struct Tracked;

static TRACKED_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Tracked {
    fn drop(&mut self) {
        TRACKED_DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

static KEPT: threadkit::LastError<Tracked> = threadkit::LastError::new();

unsafe extern "C" fn keep_an_error(_: *mut c_void) {
    // First contact: this thread's slots are made now, after its
    // thread-local destructors; only the crate's exit key can free them.
    KEPT.set(Tracked);
    threadkit::scratch::with_bytes(|b| b.extend_from_slice(&[1; 4096]));
}

/// What a first contact in a foreign destructor keeps for its thread (an
/// error in a `LastError`, a scratch buffer) is freed at the thread's very
/// end (by the crate's exit key, in the next round of key destructors);
/// LeakSanitizer checks the buffers, the drop count the errors.
#[test]
fn what_a_first_contact_in_a_foreign_destructor_keeps_is_freed() {
    static KEY: OnceLock<c_uint> = OnceLock::new();
    let key = *KEY.get_or_init(|| key_create(keep_an_error));
    let threads = 20;
    for _ in 0..threads {
        run_c_thread_setting(key);
    }
    assert_eq!(
        TRACKED_DROPS.load(Ordering::Relaxed),
        threads,
        "every error dropped"
    );
}
