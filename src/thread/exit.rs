//! How the crate learns that a thread exits, and what it frees then.
//!
//! # Where the exit runs
//!
//! On Linux the crate's thread-locals have **no destructors**. A thread's
//! exit comes from a process-wide `pthread_key_create` key, made while the
//! process starts (an `.init_array` constructor, as std's own argument
//! handling uses) and set by each thread at its first contact. glibc runs key
//! destructors after every thread-local destructor of the thread, lowest key
//! first; made at start, this key comes before std's own cleanup key (made
//! at std's first thread spawn) and before the keys of libraries that make
//! theirs on first use. So, on a thread's way out:
//!
//! 1. its `thread_local!` destructors run: the crate is still live for
//!    them (counts go to the thread's slot, buffers are reused, values are
//!    the thread's own);
//! 2. this key's destructor runs the thread's exit hooks and frees the
//!    crate's per-thread buffers ([`close_thread_locals`]);
//! 3. std drops its handle of the thread; other libraries' keys run. From
//!    here on the crate falls back (temporaries, shared slots), and a first
//!    contact registers nothing that could be left behind.
//!
//! Why not a `thread_local!` destructor: glibc walks the list of those once.
//! A thread whose first contact with the crate comes after that walk (from
//! a C library's key destructor) would register a destructor glibc never
//! runs, and glibc's 32-byte node for it is never freed — one per such
//! thread-local, per thread. A key set then is simply run in the next round.
//!
//! With musl, and under Miri, std has no `__cxa_thread_atexit_impl` and runs
//! `thread_local!` destructors from a key of its own, made after this one:
//! step 1 then comes after step 2, and those destructors fall back.
//!
//! Two exceptions keep a thread-local destructor (the [`Guard`]): the
//! thread that ran the constructor (the main thread, whose key destructors
//! glibc does not run at `exit`, so that its exit hooks still run at process
//! exit, among its thread-local destructors), and any thread if the key
//! could not be made. Elsewhere than Linux the guard is all there is, and the
//! buffers keep destructors of their own.
//!
//! glibc runs up to four rounds of key destructors: a thread whose first
//! contact comes from a key destructor of the fourth round is never seen
//! exiting (its counts still arrive; its index and buffers are kept).
//!
//! A shared library that contains the crate must not be unloaded
//! (`dlclose`) while threads that used it still run: their key destructor
//! would be gone. (A thread-local destructor registered with glibc keeps
//! its library loaded until it has run; the crate's key, set for every
//! thread before this design as well, never did.)

use std::cell::{Cell, RefCell};
use std::mem;
use std::ops::{Deref, DerefMut};

/// Makes [`on_exit`] run when the calling thread exits. Returns `false` if
/// nothing can make it run any more: the thread is past its exit (Linux: the
/// key could not be set; elsewhere: its thread-locals are destroyed).
pub(crate) fn watch() -> bool {
    let keyed = key::set();
    if keyed && !key::is_constructor_thread() {
        return true;
    }
    // The guard: where there is no key, and for the main thread, whose key
    // destructor glibc does not run at `exit`.
    GUARD.try_with(|_| ()).is_ok() || keyed
}

/// The calling thread's exit: its exit hooks, then its buffers. Runs once
/// from the key, or from the guard, or both (the second finds nothing left).
fn on_exit() {
    super::id::exit();
    close_thread_locals();
}

thread_local! {
    /// A thread-local destructor that runs [`on_exit`], where the key does
    /// not (see the module documentation).
    static GUARD: Guard = const { Guard };
}

struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        on_exit();
    }
}

#[cfg(target_os = "linux")]
mod key {
    use std::cell::Cell;
    use std::ffi::{c_int, c_uint, c_void};
    use std::sync::OnceLock;

    type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;
    extern "C" {
        // POSIX, in the C library std links against.
        fn pthread_key_create(key: *mut c_uint, destructor: Destructor) -> c_int;
        fn pthread_setspecific(key: c_uint, value: *const c_void) -> c_int;
    }

    unsafe extern "C" fn run(_: *mut c_void) {
        super::on_exit();
    }

    /// The key, made on first use: by [`CONSTRUCTOR`] normally.
    fn key() -> Option<c_uint> {
        static KEY: OnceLock<Option<c_uint>> = OnceLock::new();
        *KEY.get_or_init(|| {
            let mut key = 0;
            // SAFETY: a valid out-pointer and a destructor of the C type.
            let created = unsafe { pthread_key_create(&mut key, Some(run)) } == 0;
            created.then_some(key)
        })
    }

    /// Sets the key for the calling thread, so that `run` runs when it exits
    /// (in the next round if the thread is running key destructors now).
    pub(super) fn set() -> bool {
        let Some(key) = key() else {
            return false;
        };
        // SAFETY: a key made above; any non-null value makes glibc call
        // `run` at thread exit. It fails only for want of memory.
        unsafe { pthread_setspecific(key, std::ptr::dangling::<c_void>()) == 0 }
    }

    thread_local! {
        /// Set on the thread that ran [`CONSTRUCTOR`]. No destructor.
        static CONSTRUCTOR_THREAD: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn is_constructor_thread() -> bool {
        CONSTRUCTOR_THREAD.with(Cell::get)
    }

    /// Makes the key while the process starts, before std makes its own
    /// (and before `main`), so that its destructor runs first. With a
    /// priority, so that it comes before constructors without one (the
    /// system linkers sort those after); Miri runs only the plain section.
    #[used]
    #[cfg_attr(not(miri), link_section = ".init_array.00101")]
    #[cfg_attr(miri, link_section = ".init_array")]
    static CONSTRUCTOR: extern "C" fn() = {
        // glibc passes `argc`, `argv` and `envp`, which a function of no
        // arguments may ignore (as C constructors do); Miri passes none.
        extern "C" fn make_key() {
            CONSTRUCTOR_THREAD.with(|it| it.set(true));
            key();
        }
        make_key
    };
}

/// Elsewhere the guard's thread-local destructor is all there is.
#[cfg(not(target_os = "linux"))]
mod key {
    pub(super) fn set() -> bool {
        false
    }

    pub(super) fn is_constructor_thread() -> bool {
        false
    }
}

/// How many of the crate's thread-locals own memory: the scratch byte and
/// string buffers, the arena, `LastError`'s slots.
const CLOSERS: usize = 4;

/// The functions that free them, for those the thread initialised.
type Closers = [Option<fn()>; CLOSERS];

thread_local! {
    /// How to free each of the crate's thread-locals that own memory and
    /// that this thread initialised. No destructor.
    static TO_CLOSE: Cell<Closers> = const { Cell::new([None; CLOSERS]) };
}

/// Notes that the calling thread initialised a thread-local that owns
/// memory, which `close` frees (and leaves closed, see [`close`]), and makes
/// sure the thread's exit will call it. Call it once per thread per
/// thread-local, outside hot paths. (Not deduplicated by address: function
/// pointers need not compare equal to themselves, and under Miri they do
/// not.)
pub(crate) fn watch_exit(close: fn()) {
    TO_CLOSE.with(|to_close| {
        let mut closers = to_close.get();
        // There is room: `CLOSERS` thread-locals, each registered once.
        if let Some(free) = closers.iter_mut().find(|c| c.is_none()) {
            *free = Some(close);
            to_close.set(closers);
        }
    });
    watch();
}

/// Frees the crate's thread-locals that own memory, those the thread
/// initialised, and leaves them closed: a use from here on falls back to a
/// temporary, as a use after a destructor would.
fn close_thread_locals() {
    for close in TO_CLOSE.with(Cell::get).into_iter().flatten() {
        close();
    }
}

/// A thread-local value that the thread's exit frees: in a `ManuallyDrop`
/// on Linux, so that the thread-local has no destructor (see the module
/// documentation); the value itself elsewhere, where its destructor frees
/// it.
#[derive(Default)]
pub(crate) struct ExitOwned<T>(
    #[cfg(target_os = "linux")] mem::ManuallyDrop<T>,
    #[cfg(not(target_os = "linux"))] T,
);

impl<T> ExitOwned<T> {
    pub(crate) const fn new(value: T) -> ExitOwned<T> {
        #[cfg(target_os = "linux")]
        let value = mem::ManuallyDrop::new(value);
        ExitOwned(value)
    }
}

impl<T> Deref for ExitOwned<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for ExitOwned<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Frees `cell`'s value for the thread's exit, and leaves the cell borrowed
/// for good, so that every later `try_borrow_mut` fails and its caller falls
/// back. Does nothing if the cell is borrowed now (never, at a thread's
/// exit).
pub(crate) fn close<T: Default>(cell: &RefCell<ExitOwned<T>>) {
    if let Ok(mut value) = cell.try_borrow_mut() {
        let freed = mem::take(&mut **value);
        // Forgetting a `RefMut` leaks nothing but the borrow.
        mem::forget(value);
        drop(freed);
    }
}
