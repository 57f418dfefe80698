//! Helpers shared by the integration tests.

#[cfg(target_os = "linux")]
pub mod pthread;
#[cfg(windows)]
pub mod windows;

/// `n` normally, `miri` under Miri, where every step is far slower: stress
/// loops keep their shape and shrink their size.
#[allow(dead_code)] // not every test binary uses it
pub fn scaled<T>(n: T, miri: T) -> T {
    if cfg!(miri) {
        miri
    } else {
        n
    }
}

/// The emulator the tests run under, from `THREADKIT_TEST_EMULATOR` (the
/// command line of cargo's runner, such as `qemu-aarch64 -L
/// /usr/aarch64-linux-gnu`, which `.ci/run` sets for the QEMU step): child
/// processes start through it, and the process's resident memory, which
/// counts the emulator's own, is not measured.
#[allow(dead_code)] // not every test binary uses it
pub fn emulator() -> Option<Vec<String>> {
    let line = std::env::var("THREADKIT_TEST_EMULATOR").ok()?;
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    (!words.is_empty()).then_some(words)
}

/// Runs `f` as the calling thread exits, after the crate's own teardown
/// (its exit hooks, its buffers freed): the position where every block must
/// fall back.
///
/// On Linux the crate's teardown runs from a pthread key made at process
/// start; `f` runs from a key made just after it (a constructor without
/// priority: the crate's has one), whose destructor glibc runs after the
/// crate's and before std's own cleanup (keys run in index order, and std
/// makes its key later). On Windows `f` runs from a TLS callback placed
/// after std's, which runs every `thread_local!` destructor, the crate's
/// guard among them. Elsewhere the crate's teardown is a `thread_local!`
/// destructor, and `f` runs from one registered now: call this before the
/// thread first touches the crate, so that std's list, last in first out,
/// destroys it after the crate's.
#[allow(dead_code)] // not every test binary uses it
pub fn after_the_crates_exit(f: impl FnOnce() + 'static) {
    let f: Box<dyn FnOnce()> = Box::new(f);
    later::push(f);
}

#[cfg(target_os = "linux")]
mod later {
    use std::ffi::{c_uint, c_void};
    use std::sync::OnceLock;

    use super::pthread::{key_create, pthread_getspecific, pthread_setspecific};

    type Jobs = Vec<Box<dyn FnOnce()>>;

    unsafe extern "C" fn run(jobs: *mut c_void) {
        // SAFETY: the value `push` set: a leaked `Box<Jobs>`, taken once
        // (glibc clears the value before it calls this).
        let jobs = unsafe { Box::from_raw(jobs.cast::<Jobs>()) };
        for job in *jobs {
            job();
        }
    }

    fn key() -> c_uint {
        static KEY: OnceLock<c_uint> = OnceLock::new();
        *KEY.get_or_init(|| key_create(run))
    }

    /// Makes the key while the process starts: after the crate's, before
    /// std's.
    #[used]
    #[link_section = ".init_array"]
    static CONSTRUCTOR: extern "C" fn() = {
        extern "C" fn make_key() {
            key();
        }
        make_key
    };

    pub(super) fn push(job: Box<dyn FnOnce()>) {
        let key = key();
        // SAFETY: the key's value is null or a leaked `Box<Jobs>` that only
        // this thread uses.
        unsafe {
            let jobs = pthread_getspecific(key).cast::<Jobs>();
            if jobs.is_null() {
                let jobs = Box::into_raw(Box::new(vec![job]));
                assert_eq!(pthread_setspecific(key, jobs.cast()), 0);
            } else {
                (*jobs).push(job);
            }
        }
    }
}

#[cfg(windows)]
mod later {
    use std::ffi::c_void;
    use std::sync::OnceLock;

    use super::windows::{tls_alloc, TlsGetValue, TlsSetValue, DLL_THREAD_DETACH};

    type Jobs = Vec<Box<dyn FnOnce()>>;

    /// A slot of the system's, which std does not touch: it is still there
    /// after std's callback has destroyed every `thread_local!`.
    fn slot() -> u32 {
        static SLOT: OnceLock<u32> = OnceLock::new();
        *SLOT.get_or_init(tls_alloc)
    }

    unsafe extern "system" fn run(_: *mut c_void, reason: u32, _: *mut c_void) {
        if reason != DLL_THREAD_DETACH {
            return;
        }
        let slot = slot();
        // SAFETY: the slot holds null or a leaked `Box<Jobs>` of this
        // thread's, taken out once (the slot is cleared first).
        let jobs = unsafe {
            let jobs = TlsGetValue(slot).cast::<Jobs>();
            if jobs.is_null() {
                return;
            }
            TlsSetValue(slot, std::ptr::null());
            Box::from_raw(jobs)
        };
        for job in *jobs {
            job();
        }
    }

    crate::tls_callback_after_std!(run);

    pub(super) fn push(job: Box<dyn FnOnce()>) {
        let slot = slot();
        // SAFETY: the slot's value is null or a leaked `Box<Jobs>` that only
        // this thread uses.
        unsafe {
            let jobs = TlsGetValue(slot).cast::<Jobs>();
            if jobs.is_null() {
                let jobs = Box::into_raw(Box::new(vec![job]));
                assert_ne!(TlsSetValue(slot, jobs.cast()), 0);
            } else {
                (*jobs).push(job);
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod later {
    use std::cell::RefCell;

    struct Jobs(RefCell<Vec<Box<dyn FnOnce()>>>);

    impl Drop for Jobs {
        fn drop(&mut self) {
            for job in self.0.take() {
                job();
            }
        }
    }

    thread_local! {
        static JOBS: Jobs = const { Jobs(RefCell::new(Vec::new())) };
    }

    pub(super) fn push(job: Box<dyn FnOnce()>) {
        JOBS.with(|jobs| jobs.0.borrow_mut().push(job));
    }
}
