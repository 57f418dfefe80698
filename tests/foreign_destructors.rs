//! First contact with the crate from a `pthread_key_create` destructor, in
//! a thread a C library started (with `pthread_create`, not std): code that
//! runs after the thread's Rust thread-local destructors. Linux only.
//!
//! Not covered here: the same in a thread std spawned, when the key's
//! destructor runs after std's own thread cleanup; there `std::thread::current`
//! panics, and the crate calls it when it first meets a thread (an open
//! defect, see TESTING.md).

#![cfg(all(target_os = "linux", not(miri)))]

use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;

use threadkit::{Counter, PerThread};

type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;
type Start = extern "C" fn(*mut c_void) -> *mut c_void;

extern "C" {
    fn pthread_key_create(key: *mut c_uint, destructor: Destructor) -> c_int;
    fn pthread_setspecific(key: c_uint, value: *const c_void) -> c_int;
    fn pthread_create(
        thread: *mut u64,
        attr: *const c_void,
        start: Start,
        arg: *mut c_void,
    ) -> c_int;
    fn pthread_join(thread: u64, value: *mut *mut c_void) -> c_int;
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

/// The C library's thread: it only sets its key.
extern "C" fn c_thread(key: *mut c_void) -> *mut c_void {
    // SAFETY: a key from `pthread_key_create`; any non-null value makes its
    // destructor run at thread exit.
    unsafe { pthread_setspecific(key as usize as c_uint, std::ptr::dangling::<c_void>()) };
    std::ptr::null_mut()
}

#[test]
fn first_contact_in_a_foreign_destructor_is_counted_released_and_reported_exited() {
    VALUES.get_or_init(PerThread::new);
    let key = foreign_key();
    let threads = 300;
    for _ in 0..threads {
        let mut thread = 0;
        // SAFETY: valid out-pointer, default attributes, a start routine of
        // the C type; joined below.
        unsafe {
            assert_eq!(
                pthread_create(
                    &mut thread,
                    std::ptr::null(),
                    c_thread,
                    key as usize as *mut c_void
                ),
                0
            );
            assert_eq!(pthread_join(thread, std::ptr::null_mut()), 0);
        }
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
