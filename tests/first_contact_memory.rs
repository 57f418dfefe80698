//! Memory a thread keeps after its first contact with the crate came from a
//! C library's thread-exit callback (a thread the library started, say):
//! every entry point is called there, thread after thread (all but
//! `PerThread`'s, which keeps a value per thread by design), and the heap
//! must not grow with them, nor with threads that call the same entry points
//! while they run.
//!
//! The callback is a `pthread_key_create` destructor on Linux, which runs
//! after the thread's thread-local destructors, and a fiber-local storage
//! callback (`FlsAlloc`) on Windows, which runs before them.
//!
//! Two measures: the heap Rust code holds (a counting global allocator), and
//! with glibc the heap it reports in use (`mallinfo`), which also sees what
//! glibc allocates for itself — such as its 32-byte node for each
//! thread-local destructor registered, which it never frees when the
//! registration comes after the thread's thread-local destructors ran.
//!
//! One test in its own binary: the allocator below counts every thread's
//! allocations, so nothing else may run meanwhile.

// Where a C library's thread-exit callback can be made here: pthread keys
// on Linux, fiber-local callbacks on Windows (macOS and the BSDs are not run
// here). Not under Miri: 900 threads one after another are too slow there;
// the sanitizers run it.
#![cfg(all(any(target_os = "linux", windows), not(miri)))]

use std::sync::{Arc, OnceLock};

mod common;
#[allow(dead_code)] // `PerThread`'s part is not called here
#[path = "common/everything.rs"]
mod everything;
use everything::{exercise_all_but_per_thread, Failures, CONFIG};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::held;

/// What Rust code holds, and what glibc reports in use (0 elsewhere).
fn heap() -> (isize, isize) {
    (held(), c_heap::in_use())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod c_heap {
    use std::ffi::c_int;

    extern "C" {
        // glibc's; `mallinfo2` would need glibc 2.33.
        fn mallinfo() -> MallInfo;
    }

    /// glibc's `struct mallinfo`.
    #[repr(C)]
    struct MallInfo {
        arena: c_int,
        ordblks: c_int,
        smblks: c_int,
        hblks: c_int,
        hblkhd: c_int,
        usmblks: c_int,
        fsmblks: c_int,
        /// Bytes in chunks in use.
        uordblks: c_int,
        fordblks: c_int,
        keepcost: c_int,
    }

    pub fn in_use() -> isize {
        // SAFETY: no preconditions.
        unsafe { mallinfo() }.uordblks as isize
    }
}

/// No portable measure of the C heap: musl's has none, and Windows' heap
/// also holds what std's thread-locals allocate there (`System`) for every
/// thread, whatever the crate does.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod c_heap {
    pub fn in_use() -> isize {
        0
    }
}

static FAILURES: OnceLock<Failures> = OnceLock::new();

/// The thread's first contact with the crate, from its exit callback.
fn first_contact() {
    exercise_all_but_per_thread(FAILURES.get().unwrap());
}

/// A C library's thread that uses the crate while it runs.
fn using_the_crate() {
    exercise_all_but_per_thread(FAILURES.get().unwrap());
}

#[cfg(target_os = "linux")]
mod c_threads {
    use std::ffi::c_void;
    use std::sync::OnceLock;

    use super::common::pthread::{key_create, run_c_thread, sets_key};

    unsafe extern "C" fn key_destructor(_: *mut c_void) {
        super::first_contact();
    }

    fn key() -> *mut c_void {
        static KEY: OnceLock<usize> = OnceLock::new();
        *KEY.get_or_init(|| key_create(key_destructor) as usize) as *mut c_void
    }

    extern "C" fn using(_: *mut c_void) -> *mut c_void {
        super::using_the_crate();
        std::ptr::null_mut()
    }

    /// Runs a C library's thread that only sets a key whose destructor is
    /// its first contact, or that uses the crate while it runs.
    pub fn run(late: bool) {
        run_c_thread(if late { sets_key } else { using }, key());
    }
}

#[cfg(windows)]
mod c_threads {
    use std::ffi::c_void;
    use std::sync::OnceLock;

    use super::common::windows::{fls_alloc, fls_set, run_c_thread};

    unsafe extern "system" fn fls_callback(_: *const c_void) {
        super::first_contact();
    }

    fn slot() -> u32 {
        static SLOT: OnceLock<u32> = OnceLock::new();
        *SLOT.get_or_init(|| fls_alloc(fls_callback))
    }

    unsafe extern "system" fn sets_slot(_: *mut c_void) -> u32 {
        fls_set(slot(), std::ptr::dangling());
        0
    }

    unsafe extern "system" fn using(_: *mut c_void) -> u32 {
        super::using_the_crate();
        0
    }

    /// Runs a thread started with `CreateThread` that only sets a
    /// fiber-local slot whose callback is its first contact, or that uses
    /// the crate while it runs.
    pub fn run(late: bool) {
        run_c_thread(if late { sets_slot } else { using }, std::ptr::null_mut());
    }
}

/// Runs `threads` C threads one after another, and returns how much more
/// heap Rust code holds after them than before, and glibc reports in use.
fn heap_grown_by(threads: usize, late: bool) -> (isize, isize) {
    let before = heap();
    for _ in 0..threads {
        c_threads::run(late);
    }
    let after = heap();
    (after.0 - before.0, after.1 - before.1)
}

#[test]
fn a_first_contact_in_a_foreign_destructor_keeps_no_memory_per_thread() {
    FAILURES.get_or_init(Arc::default);
    let _ = CONFIG.set_global("global");
    let threads = 400;
    // Warm up: tables, the slots of one thread at a time, logs.
    heap_grown_by(50, false);
    heap_grown_by(50, true);
    let running = heap_grown_by(threads, false);
    let late = heap_grown_by(threads, true);
    let failures = FAILURES.get().unwrap().lock().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    println!(
        "over {threads} threads, heap held by Rust code grew by {} bytes when they used \
         the crate while they ran, by {} bytes when their first contact was late; \
         glibc's heap in use by {} and {} bytes (0: not measured)",
        running.0, late.0, running.1, late.1
    );
    // Threads that used the crate while they ran keep nothing either.
    assert!(
        running.0 < 1024 && running.1 < 4096,
        "threads that used the crate while running keep memory: {running:?}"
    );
    // Before the fix each late thread kept its record and its exit hooks'
    // list: 351 bytes more per thread.
    assert!(
        late.0 - running.0 < 1024,
        "Rust code: {} bytes against {}: late first contacts keep memory",
        late.0,
        running.0
    );
    // With thread-local destructors, each late thread left glibc a 32-byte
    // node (a 48-byte chunk) per destructor registered: 240 bytes.
    assert!(
        late.1 - running.1 < 4096,
        "glibc: {} bytes against {}: late first contacts leave glibc memory",
        late.1,
        running.1
    );
}
