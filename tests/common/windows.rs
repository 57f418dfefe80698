//! The Win32 calls the Windows teardown tests make, as a C library would:
//! a thread-local slot with no destructor, a TLS callback that runs after
//! std's, and fiber-local storage with a callback.

#![allow(dead_code)] // not every test binary uses every helper

use std::ffi::c_void;

/// A fiber-local storage callback: what a C library on Windows uses as a
/// `pthread_key_create` destructor is used on Linux.
pub type FlsCallback = unsafe extern "system" fn(*const c_void);

#[link(name = "kernel32")]
extern "system" {
    fn TlsAlloc() -> u32;
    pub fn TlsGetValue(index: u32) -> *mut c_void;
    pub fn TlsSetValue(index: u32, value: *const c_void) -> i32;
    fn FlsAlloc(callback: Option<FlsCallback>) -> u32;
    pub fn FlsSetValue(index: u32, value: *const c_void) -> i32;
    fn CreateThread(
        attributes: *const c_void,
        stack_size: usize,
        start: ThreadStart,
        parameter: *mut c_void,
        flags: u32,
        id: *mut u32,
    ) -> *mut c_void;
    fn WaitForSingleObject(handle: *mut c_void, milliseconds: u32) -> u32;
    fn CloseHandle(handle: *mut c_void) -> i32;
    fn GetCurrentProcess() -> *mut c_void;
    fn K32GetProcessMemoryInfo(
        process: *mut c_void,
        counters: *mut MemoryCounters,
        size: u32,
    ) -> i32;
}

/// `PROCESS_MEMORY_COUNTERS`.
#[repr(C)]
#[derive(Default)]
struct MemoryCounters {
    cb: u32,
    page_fault_count: u32,
    peak_working_set_size: usize,
    working_set_size: usize,
    quota_peak_paged_pool_usage: usize,
    quota_paged_pool_usage: usize,
    quota_peak_non_paged_pool_usage: usize,
    quota_non_paged_pool_usage: usize,
    pagefile_usage: usize,
    peak_pagefile_usage: usize,
}

/// The process's working set (its resident memory) in KiB.
pub fn working_set_kib() -> Option<u64> {
    let mut counters = MemoryCounters {
        cb: std::mem::size_of::<MemoryCounters>() as u32,
        ..MemoryCounters::default()
    };
    // SAFETY: the current process's pseudo-handle, and a structure of the
    // size its `cb` field says.
    let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, counters.cb) };
    (ok != 0).then_some(counters.working_set_size as u64 / 1024)
}

/// A thread's start routine, for `CreateThread`.
pub type ThreadStart = unsafe extern "system" fn(*mut c_void) -> u32;

/// Runs `start(arg)` on a thread std did not start (`CreateThread`), and
/// waits for it to end.
pub fn run_c_thread(start: ThreadStart, arg: *mut c_void) {
    // SAFETY: default attributes, a start routine of the system's type;
    // waited for and closed here.
    unsafe {
        let handle = CreateThread(std::ptr::null(), 0, start, arg, 0, std::ptr::null_mut());
        assert!(!handle.is_null());
        assert_eq!(WaitForSingleObject(handle, u32::MAX), 0);
        CloseHandle(handle);
    }
}

/// `TLS_OUT_OF_INDEXES` and `FLS_OUT_OF_INDEXES`.
const OUT_OF_INDEXES: u32 = u32::MAX;

/// A new thread-local slot, without a destructor.
pub fn tls_alloc() -> u32 {
    // SAFETY: no arguments; the result is checked.
    let index = unsafe { TlsAlloc() };
    assert_ne!(index, OUT_OF_INDEXES);
    index
}

/// A new fiber-local slot whose callback, run as a thread exits with a
/// non-null value in the slot, is `callback`.
pub fn fls_alloc(callback: FlsCallback) -> u32 {
    // SAFETY: a callback of the system's type; the result is checked.
    let index = unsafe { FlsAlloc(Some(callback)) };
    assert_ne!(index, OUT_OF_INDEXES);
    index
}

/// Sets the calling thread's value of the fiber-local slot `index`, so that
/// its callback runs as the thread exits.
pub fn fls_set(index: u32, value: *const c_void) {
    // SAFETY: a slot from `fls_alloc`.
    assert_ne!(unsafe { FlsSetValue(index, value) }, 0);
}

/// `DLL_THREAD_DETACH`, the reason a TLS callback is given as a thread exits.
pub const DLL_THREAD_DETACH: u32 = 3;

/// Puts `callback` among the executable's TLS callbacks after std's (which
/// sits in `.CRT$XLB` and runs every `thread_local!` destructor) and the
/// crate's (`.CRT$XLC`): the linker sorts the `.CRT$XL?` sections by name,
/// and the loader calls them in that order.
#[macro_export]
macro_rules! tls_callback_after_std {
    ($callback:path) => {
        #[used]
        #[link_section = ".CRT$XLD"]
        static TLS_CALLBACK_AFTER_STD: unsafe extern "system" fn(
            *mut ::std::ffi::c_void,
            u32,
            *mut ::std::ffi::c_void,
        ) = $callback;
    };
}
