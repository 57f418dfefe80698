//! The POSIX thread calls the Linux teardown tests make, as a C library
//! would: keys with destructors, and threads that std did not spawn.

#![allow(dead_code)] // not every test binary uses every helper

use std::ffi::{c_int, c_uint, c_void};

/// A thread's start routine.
pub type Start = extern "C" fn(*mut c_void) -> *mut c_void;

type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;

extern "C" {
    fn pthread_key_create(key: *mut c_uint, destructor: Destructor) -> c_int;
    pub fn pthread_getspecific(key: c_uint) -> *mut c_void;
    pub fn pthread_setspecific(key: c_uint, value: *const c_void) -> c_int;
    fn pthread_create(
        thread: *mut u64,
        attr: *const c_void,
        start: Start,
        arg: *mut c_void,
    ) -> c_int;
    fn pthread_join(thread: u64, value: *mut *mut c_void) -> c_int;
}

/// A new key whose destructor is `destructor`.
pub fn key_create(destructor: unsafe extern "C" fn(*mut c_void)) -> c_uint {
    let mut key = 0;
    // SAFETY: a valid out-pointer and a destructor with the C signature.
    assert_eq!(unsafe { pthread_key_create(&mut key, Some(destructor)) }, 0);
    key
}

/// Runs `start(arg)` on a thread made by `pthread_create`, joins it, and
/// returns what it returned.
pub fn run_c_thread(start: Start, arg: *mut c_void) -> *mut c_void {
    let mut thread = 0;
    let mut result = std::ptr::null_mut();
    // SAFETY: valid out-pointers, default attributes, a start routine of the
    // C type; joined here.
    unsafe {
        assert_eq!(pthread_create(&mut thread, std::ptr::null(), start, arg), 0);
        assert_eq!(pthread_join(thread, &mut result), 0);
    }
    result
}

/// A C library's thread that only sets the key passed as its argument (a
/// key made by [`key_create`], as a pointer), so that the key's destructor
/// runs as it exits.
pub extern "C" fn sets_key(key: *mut c_void) -> *mut c_void {
    // SAFETY: a key from `key_create`; a non-null value makes its destructor
    // run at thread exit. The destructors these tests give it ignore the
    // value.
    unsafe { pthread_setspecific(key as usize as c_uint, std::ptr::dangling::<c_void>()) };
    std::ptr::null_mut()
}
