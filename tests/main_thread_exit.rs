//! The main thread's teardown runs at process exit (glibc runs no key
//! destructors for it then, so the crate keeps a thread-local destructor for
//! the thread that ran its constructor). A test without libtest's harness,
//! so that `main` here is the process's main thread: a value the main thread
//! keeps in a `PerLiveThread` must be dropped by the time `exit` runs its
//! `atexit` handlers, which come after the thread-local destructors.

use std::sync::atomic::{AtomicBool, Ordering};

use threadkit::registry::PerLiveThread;

static DROPPED: AtomicBool = AtomicBool::new(false);
static SAW_HANDLE: AtomicBool = AtomicBool::new(false);

struct Flag;

impl Drop for Flag {
    fn drop(&mut self) {
        let named_main = std::panic::catch_unwind(|| std::thread::current().name() == Some("main"));
        SAW_HANDLE.store(named_main.unwrap_or(false), Ordering::Relaxed);
        DROPPED.store(true, Ordering::Relaxed);
    }
}

static VALUES: PerLiveThread<Flag> = PerLiveThread::new();

#[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
fn main() {
    use std::ffi::c_int;

    extern "C" {
        fn atexit(handler: extern "C" fn()) -> c_int;
        fn _exit(status: c_int) -> !;
    }

    extern "C" fn check() {
        let dropped = DROPPED.load(Ordering::Relaxed);
        let saw_handle = SAW_HANDLE.load(Ordering::Relaxed);
        if !(dropped && saw_handle) {
            eprintln!("main thread's value: dropped {dropped}, saw its handle {saw_handle}");
            // SAFETY: ends the process at once, as a failing test.
            unsafe { _exit(1) };
        }
        println!("main thread's value dropped at process exit");
    }

    // SAFETY: a handler of the C type, which only reads atomics and prints.
    assert_eq!(unsafe { atexit(check) }, 0);
    VALUES.with_or(|| Flag, |_| ());
    assert!(
        !DROPPED.load(Ordering::Relaxed),
        "dropped while the thread runs"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(miri))))]
fn main() {
    // Elsewhere the teardown is a thread-local destructor for every thread.
    VALUES.with_or(|| Flag, |_| ());
}
