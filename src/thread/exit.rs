//! How the crate learns that a thread exits, and what it does then.
//!
//! A thread is registered ([`register`]) together with its **departure**: a
//! value that holds everything the thread's exit needs (its position and
//! record, and on Linux the functions that free the crate's buffers). The
//! departure is owned by what triggers the exit, and the exit reads nothing
//! else: no other thread-local of the crate, which std may already have
//! destroyed, or reset, by then. So the exit does not depend on the order in
//! which std destroys thread-locals, which differs between its
//! implementations (`library/std/src/sys/thread_local/`).
//!
//! # Triggers, by target family
//!
//! | target | the trigger | it runs, against `thread_local!` destructors | the main thread |
//! |---|---|---|---|
//! | Linux, glibc | a `pthread_key_create` key made while the process starts; its value is the departure | after all of them: glibc runs key destructors after `__cxa_thread_atexit_impl`'s list, lowest key first, and this key comes before std's | the guard, run by `exit` among the thread-local destructors, before `atexit` handlers |
//! | Linux, musl (and Miri) | the same key | before them: without `__cxa_thread_atexit_impl` std runs its list from a key of its own, made after this one | std runs no thread-local destructors for it: an `atexit` handler, registered at the process's first use of the guard, runs the guard's departure (not under Miri) |
//! | native thread-locals elsewhere: macOS (`_tlv_atexit`), Windows MSVC and gnullvm (std's `.CRT$XLB` callback), the BSDs (std's list) | the guard, a `thread_local!` whose value is the departure | in std's order: destructors registered after the thread's first use of the crate first, then the guard, then those registered before it | std's destructors if they run, else the `atexit` handler |
//! | OS-key thread-locals: `x86_64-pc-windows-gnu` | the guard | in std's order: keys first used later in the process first, in up to five rounds; a thread-local destroyed before the guard reads as new after | the `atexit` handler (Wine runs no TLS callbacks at process exit) |
//! | threads without destructors (wasm with atomics) | none runs | — | — |
//!
//! On every target a use of the crate after its exit for the thread falls
//! back (temporaries, the shared total): the thread is "exiting" for good.
//! Where std keeps thread-locals behind OS keys, the crate's own state is
//! among those std destroys and resets; two system TLS slots remember
//! where a thread lived once its departure has run, so that it stays
//! exiting, and a thread first met after std's destructors is exiting from
//! the start (`id::departed`). A state reset while the departure still
//! lives finds its way back to it ([`register`]).
//!
//! # Linux: a key, and no thread-local destructors
//!
//! On Linux the crate's thread-locals have **no destructors**. Each thread
//! sets the key at its first contact; made at start (an `.init_array`
//! constructor, as std's own argument handling uses), the key comes before
//! std's own cleanup key (made at std's first thread spawn) and before the
//! keys of libraries that make theirs on first use. So, with glibc, on a
//! thread's way out:
//!
//! 1. its `thread_local!` destructors run: the crate is still live for
//!    them (counts go to the thread's slot, buffers are reused, values are
//!    the thread's own);
//! 2. this key's destructor runs the departure: the thread's exit hooks,
//!    its index given back, the crate's per-thread buffers freed;
//! 3. std drops its handle of the thread; other libraries' keys run. From
//!    here on the crate falls back, and a first contact registers nothing
//!    that could be left behind: a departure made now sets the key again,
//!    and glibc runs it in its next round.
//!
//! Why not a `thread_local!` destructor: glibc walks the list of those once.
//! A thread whose first contact with the crate comes after that walk (from
//! a C library's key destructor) would register a destructor glibc never
//! runs, and glibc's 32-byte node for it is never freed — one per such
//! thread-local, per thread.
//!
//! The thread that ran the constructor (the main thread) takes the guard
//! instead: glibc runs no key destructors at `exit`. So does any thread if
//! the key could not be made.
//!
//! glibc runs up to four rounds of key destructors: a thread whose first
//! contact comes from a key destructor of the fourth round is never seen
//! exiting (its counts still arrive; its index and buffers are kept).
//!
//! A shared library that contains the crate must not be unloaded
//! (`dlclose`) while threads that used it still run: their key destructor
//! would be gone.

use std::cell::RefCell;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::thread::ThreadId;

use super::id::{self, State, Thread};
use super::record::ThreadRecord;

/// What the slow paths learn about the calling thread.
pub(crate) enum Registration {
    /// The thread holds `thread`'s index until it exits.
    Live(Thread, Arc<ThreadRecord>),
    /// The thread is exiting: it holds no index and must not write to a slot.
    Exiting {
        /// This thread's key (new if the thread never registered before).
        key: u64,
        /// Its std id, if known: for [`ThreadRecord::exiting`]. Asked of
        /// std once, when the crate first met the thread.
        id: Option<ThreadId>,
    },
}

/// Registers the calling thread if it is fresh, and says where it stands.
///
/// Registration allocates the thread's key, its [`ThreadRecord`] and its
/// index, and hands them to the thread's departure, which gives them back
/// at its exit. If no departure can be arranged (the thread is past its
/// exit), the thread is `Exiting` from the start.
#[cold]
pub(crate) fn register() -> Registration {
    match id::state() {
        State::Live(thread) => match look(|departure| departure.live.clone()).flatten() {
            Some((_, record)) => Registration::Live(thread, record),
            // Unreachable: the departure leaves `Live` before it lets go
            // of the record. Exiting is the safe answer all the same.
            None => Registration::Exiting {
                key: thread.key,
                id: None,
            },
        },
        State::Exiting { key, id, .. } => Registration::Exiting { key, id },
        State::Fresh => {
            let live = arrange(|departure| {
                if let Some(live) = &departure.live {
                    // Where std resets a destroyed thread-local, the state
                    // may read `Fresh` while the departure still holds the
                    // thread: it is still that thread.
                    id::resume(live.0);
                    return live.clone();
                }
                let key = id::new_key();
                let record = Arc::new(ThreadRecord::current(key));
                let live = (id::enter(key), record);
                departure.live = Some(live.clone());
                live
            });
            match live {
                Some((thread, record)) => Registration::Live(thread, record),
                None => {
                    // Asked once: the answer stays in the state.
                    let key = id::new_key();
                    let id = ThreadRecord::current(key).id();
                    id::enter_exiting(key, None, id);
                    Registration::Exiting { key, id }
                }
            }
        }
    }
}

/// Everything a thread's exit needs, owned by what triggers it.
#[derive(Default)]
struct Departure {
    /// The thread's position and record, while it is registered.
    live: Option<(Thread, Arc<ThreadRecord>)>,
    /// Functions that free the crate's thread-locals that own memory and
    /// have no destructor (Linux), those the thread initialised.
    closers: Vec<fn()>,
}

impl Departure {
    /// The thread's exit: its exit hooks and its index, then its buffers.
    fn run(self) {
        if let Some((thread, record)) = self.live {
            id::leave(thread, &record);
        }
        for close in self.closers {
            close();
        }
    }
}

/// Runs `f` on the calling thread's departure, making one and arming its
/// trigger if the thread has none. `None` if nothing can trigger the
/// thread's exit any more. `f` must not call back into this module.
fn arrange<R>(f: impl FnOnce(&mut Departure) -> R) -> Option<R> {
    #[cfg(target_os = "linux")]
    if let Some(key) = key::for_this_thread() {
        return key::arrange(key, f);
    }
    process_exit::arm();
    GUARD
        .try_with(|guard| Some(f(&mut *guard.0.try_borrow_mut().ok()?)))
        .ok()
        .flatten()
}

/// Runs `f` on the calling thread's departure, if it has one, arming
/// nothing.
fn look<R>(f: impl FnOnce(&Departure) -> R) -> Option<R> {
    #[cfg(target_os = "linux")]
    if let Some(key) = key::for_this_thread() {
        return key::look(key, f);
    }
    GUARD
        .try_with(|guard| Some(f(&*guard.0.try_borrow().ok()?)))
        .ok()
        .flatten()
}

thread_local! {
    /// The trigger where there is no key: a thread-local whose value is the
    /// departure, run by its destructor.
    static GUARD: Guard = const { Guard(RefCell::new(Departure { live: None, closers: Vec::new() })) };
}

struct Guard(RefCell<Departure>);

impl Guard {
    /// Runs the departure, leaving an empty one: once only.
    fn depart(&self) {
        let departure = self.0.try_borrow_mut().map(|mut d| mem::take(&mut *d));
        if let Ok(departure) = departure {
            departure.run();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.depart();
    }
}

#[cfg(target_os = "linux")]
mod key {
    use std::cell::Cell;
    use std::ffi::{c_int, c_uint, c_void};
    use std::sync::OnceLock;

    use super::Departure;

    type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;
    extern "C" {
        // POSIX, in the C library std links against.
        fn pthread_key_create(key: *mut c_uint, destructor: Destructor) -> c_int;
        fn pthread_getspecific(key: c_uint) -> *mut c_void;
        fn pthread_setspecific(key: c_uint, value: *const c_void) -> c_int;
    }

    /// The key's destructor: the thread's exit.
    unsafe extern "C" fn run(departure: *mut c_void) {
        // SAFETY: the C library passes the value `arrange` set, a
        // `Box<Departure>` leaked into the key, after clearing the key's
        // value: nothing else reaches the box any more, so it is ours.
        let departure = unsafe { Box::from_raw(departure.cast::<Departure>()) };
        departure.run();
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

    /// The key, unless the calling thread takes the guard (it ran the
    /// constructor, or there is no key).
    pub(super) fn for_this_thread() -> Option<c_uint> {
        if CONSTRUCTOR_THREAD.with(Cell::get) {
            return None;
        }
        key()
    }

    /// See [`super::arrange`]: the departure is a box the key owns.
    pub(super) fn arrange<R>(key: c_uint, f: impl FnOnce(&mut Departure) -> R) -> Option<R> {
        // SAFETY: `key` was made by `key()`.
        let mut departure = unsafe { pthread_getspecific(key) }.cast::<Departure>();
        if departure.is_null() {
            let made = Box::into_raw(Box::<Departure>::default());
            // SAFETY: as above; any non-null value makes the C library call
            // `run` at thread exit (in its next round, if it is running key
            // destructors now). It fails only for want of memory.
            if unsafe { pthread_setspecific(key, made.cast()) } != 0 {
                // SAFETY: `made` was leaked just above and never shared.
                drop(unsafe { Box::from_raw(made) });
                return None;
            }
            departure = made;
        }
        // SAFETY: the key's value is a live `Box<Departure>` that only this
        // thread reaches (a thread's key value is its own), and nothing else
        // borrows it now: `run` owns a box it took out of the key, which no
        // longer points to it, and `f` does not call back into this module.
        Some(f(unsafe { &mut *departure }))
    }

    /// See [`super::look`].
    pub(super) fn look<R>(key: c_uint, f: impl FnOnce(&Departure) -> R) -> Option<R> {
        // SAFETY: `key` was made by `key()`.
        let departure = unsafe { pthread_getspecific(key) }.cast::<Departure>();
        // SAFETY: null, or a live box of this thread's, as in `arrange`.
        unsafe { departure.as_ref() }.map(f)
    }

    thread_local! {
        /// Set on the thread that ran [`CONSTRUCTOR`]. No destructor.
        static CONSTRUCTOR_THREAD: Cell<bool> = const { Cell::new(false) };
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

/// The departure of the thread that ends the process, where std runs no
/// thread-local destructors for it (musl; Windows under Wine): an `atexit`
/// handler, registered by the process's first use of the guard.
#[cfg(all(any(unix, windows), not(miri)))]
mod process_exit {
    use std::ffi::c_int;
    use std::sync::Once;

    extern "C" {
        // C's, in the C runtime std links against.
        fn atexit(handler: extern "C" fn()) -> c_int;
    }

    /// Runs the calling thread's departure, if its guard is still there.
    /// With glibc, `exit` has run the thread's thread-local destructors
    /// before any handler: the guard is gone, and this does nothing.
    extern "C" fn depart() {
        let _ = super::GUARD.try_with(super::Guard::depart);
    }

    pub(super) fn arm() {
        static ARMED: Once = Once::new();
        ARMED.call_once(|| {
            // SAFETY: a handler of the C type. Should it fail to register,
            // the last thread's departure runs only where std runs its
            // destructors.
            let _ = unsafe { atexit(depart) };
        });
    }
}

#[cfg(not(all(any(unix, windows), not(miri))))]
mod process_exit {
    pub(super) fn arm() {}
}

/// Notes that the calling thread initialised a thread-local that owns
/// memory and has no destructor, which `close` frees (and leaves closed, see
/// [`close`]), so that the thread's exit calls it. Call it once per thread
/// per thread-local, outside hot paths. (Not deduplicated by address:
/// function pointers need not compare equal to themselves, and under Miri
/// they do not.)
///
/// Elsewhere than Linux such thread-locals free themselves (see
/// [`ExitOwned`]), and this does nothing.
pub(crate) fn watch_exit(close: fn()) {
    #[cfg(target_os = "linux")]
    arrange(|departure| departure.closers.push(close));
    #[cfg(not(target_os = "linux"))]
    let _ = close;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_thread_stays_live_and_keeps_its_key() {
        std::thread::spawn(|| {
            assert_eq!(id::current(), None);
            let Registration::Live(thread, record) = register() else {
                panic!("a running thread registers live");
            };
            assert_eq!(id::current(), Some(thread));
            assert_eq!(record.key(), thread.key);
            assert!(!record.has_exited());
            let Registration::Live(again, same) = register() else {
                panic!("a live thread stays live");
            };
            assert_eq!(again, thread);
            assert!(Arc::ptr_eq(&record, &same));
        })
        .join()
        .unwrap();
    }

    /// Every close function a thread registers runs at its exit, however
    /// many blocks own memory on it: there is no fixed number of them.
    #[test]
    #[cfg(target_os = "linux")]
    fn every_registered_close_function_runs_at_exit() {
        use std::sync::atomic::{AtomicU32, Ordering};

        static CLOSED: AtomicU32 = AtomicU32::new(0);
        fn close<const N: u32>() {
            CLOSED.fetch_or(1 << N, Ordering::Relaxed);
        }
        let closers: [fn(); 12] = [
            close::<0>,
            close::<1>,
            close::<2>,
            close::<3>,
            close::<4>,
            close::<5>,
            close::<6>,
            close::<7>,
            close::<8>,
            close::<9>,
            close::<10>,
            close::<11>,
        ];
        std::thread::spawn(move || {
            for close in closers {
                watch_exit(close);
            }
            assert_eq!(CLOSED.load(Ordering::Relaxed), 0, "not before the exit");
        })
        .join()
        .unwrap();
        assert_eq!(CLOSED.load(Ordering::Relaxed), (1 << 12) - 1);
    }
}
