//! Fork safety: a child process gets new streams.
//!
//! After `fork(2)` the child has a copy of the forking thread's generator
//! and of the process seed, so without help it would repeat the parent's
//! numbers. The first time a thread seeds its generator, a `pthread_atfork`
//! child handler is registered (once per process); in a child it clears the
//! process seed and marks the forking thread's generator, the only one the
//! child has, for reseeding on its next draw, unless `rng::seed` chose its
//! stream. The draws themselves pay nothing for this.

/// Registers the child handler, once per process.
#[cfg(all(unix, not(miri)))]
pub(super) fn watch() {
    use std::ffi::c_int;
    use std::sync::Once;

    type Handler = Option<unsafe extern "C" fn()>;
    extern "C" {
        // POSIX; in the C library std links against on every Unix.
        fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> c_int;
    }

    unsafe extern "C" fn in_child() {
        super::local::forked();
    }

    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: `in_child` is a plain function that touches only atomics
        // and this thread's `Cell`s, which is allowed in a child after fork.
        // A failure (ENOMEM) leaves the process without the protection, as
        // before this module existed; nothing else depends on it.
        let _ = unsafe { pthread_atfork(None, None, Some(in_child)) };
    });
}

/// No `fork` here (or, under Miri, no foreign calls): nothing to watch.
#[cfg(not(all(unix, not(miri))))]
pub(super) fn watch() {}
