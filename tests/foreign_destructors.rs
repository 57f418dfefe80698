//! First contact with the crate from a `pthread_key_create` destructor:
//! code a C library (or another runtime) runs after std's thread-local
//! destructors have finished. Linux only.

#![cfg(all(target_os = "linux", not(miri)))]

use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;
use std::thread;

use threadkit::{Counter, PerThread};

extern "C" {
    fn pthread_key_create(
        key: *mut c_uint,
        destructor: Option<unsafe extern "C" fn(*mut c_void)>,
    ) -> c_int;
    fn pthread_setspecific(key: c_uint, value: *const c_void) -> c_int;
}

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
    *KEY.get_or_init(|| {
        let mut key = 0;
        // SAFETY: a valid out-pointer and a destructor with the C signature.
        assert_eq!(
            unsafe { pthread_key_create(&mut key, Some(foreign_destructor)) },
            0
        );
        key
    })
}

#[test]
fn first_contact_in_a_foreign_destructor_is_counted_released_and_reported_exited() {
    VALUES.get_or_init(PerThread::new);
    let key = foreign_key();
    let threads = 300;
    for _ in 0..threads {
        thread::spawn(move || {
            // SAFETY: a key from `pthread_key_create`; any non-null value
            // makes its destructor run at thread exit.
            unsafe { pthread_setspecific(key, std::ptr::dangling::<c_void>()) };
        })
        .join()
        .unwrap();
    }
    assert_eq!(COUNTER.sum(), threads, "every count reached the total");
    let values = VALUES.get().unwrap();
    assert_eq!(values.len(), threads as usize);
    assert!(
        values.iter_entries().all(|e| e.has_exited()),
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
