//! Who the calling thread is.
//!
//! Each thread that uses the crate gets two identities:
//!
//! - a dense **index**, recycled when the thread exits, which places its slot
//!   in every [`Table`](super::table::Table) (the scheme of the `thread_local`
//!   crate: the lowest free index first, so tables stay small);
//! - a **key**, a `u64` that is never reused, which tells whether a slot's
//!   value belongs to this thread or to an exited thread that held the same
//!   index before.
//!
//! The fast path reads one `const`-initialised thread-local with no
//! destructor ([`current`]). The destructor that releases the index lives in a
//! separate guard, registered only on the slow path ([`register`]), so that the
//! common case registers nothing (the split used by `thread_local`'s
//! `thread_id.rs`).
//!
//! Teardown is a normal state here: once the guard has run, the thread is
//! [`Registration::Exiting`], [`current`] returns `None` for good, and the
//! building blocks fall back instead of touching a slot whose index another
//! thread may already hold.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::Mutex;

use super::record::ThreadRecord;
use crate::sync::{AtomicU64, Ordering};

/// A live thread's place in the tables, and its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thread {
    /// The bucket of this thread's slot: bucket `b` holds `2^b` slots.
    pub(crate) bucket: usize,
    /// The slot's index inside its bucket.
    pub(crate) index: usize,
    /// This thread's key: unique for the life of the process, never 0.
    pub(crate) key: u64,
}

impl Thread {
    fn new(id: usize, key: u64) -> Thread {
        let bucket = (usize::BITS - 1 - (id + 1).leading_zeros()) as usize;
        let index = id + 1 - (1 << bucket);
        Thread { bucket, index, key }
    }

    /// The dense index this position was made from.
    fn id(self) -> usize {
        self.index + (1 << self.bucket) - 1
    }
}

/// The calling thread's state as far as this crate knows it.
#[derive(Clone, Copy)]
enum State {
    /// The thread has not used the crate yet.
    Fresh,
    /// The thread holds an index.
    Live(Thread),
    /// The thread's guard has run (or could not be registered): the thread is
    /// exiting. `last` is where it lived, if it ever did; `id` is its std
    /// id, kept for records made while it exits (std may have dropped the
    /// thread's handle by then).
    Exiting {
        key: u64,
        last: Option<Thread>,
        id: Option<ThreadId>,
    },
}

thread_local! {
    // No destructor: readable at every point of the thread's life, teardown
    // included, and reading it registers nothing.
    static STATE: Cell<State> = const { Cell::new(State::Fresh) };
    // The destructor half: releases the index and marks the record exited.
    static GUARD: Guard = const { Guard { record: RefCell::new(None) } };
}

/// The calling thread's position, if it is live.
///
/// This is the fast path of every building block: one read of a
/// `const`-initialised thread-local that has no destructor.
#[inline]
pub(crate) fn current() -> Option<Thread> {
    // Matched inside the closure: returning the whole `State` made the
    // compiler test its tag once more, for `with`'s own error case.
    STATE.with(|state| match state.get() {
        State::Live(thread) => Some(thread),
        State::Fresh | State::Exiting { .. } => None,
    })
}

/// The calling thread's key and last position if it is exiting, without
/// registering it.
#[cold]
pub(crate) fn exiting() -> Option<(u64, Option<Thread>)> {
    match STATE.with(Cell::get) {
        State::Exiting { key, last, .. } => Some((key, last)),
        State::Fresh | State::Live(_) => None,
    }
}

/// What the slow paths learn about the calling thread.
pub(crate) enum Registration {
    /// The thread holds `thread`'s index until it exits.
    Live(Thread, Arc<ThreadRecord>),
    /// The thread is exiting: it holds no index and must not write to a slot.
    Exiting {
        /// This thread's key (new if the thread never registered before).
        key: u64,
        /// Its std id, if known: for [`ThreadRecord::exiting`].
        id: Option<ThreadId>,
    },
}

/// Registers the calling thread if it is fresh, and says where it stands.
///
/// Registration allocates the thread's key, its [`ThreadRecord`] and its
/// index, and registers the guard that gives the index back at thread exit.
/// If the guard cannot be registered because the thread's thread-locals are
/// already being destroyed, the thread is `Exiting` from the start.
#[cold]
pub(crate) fn register() -> Registration {
    match STATE.with(Cell::get) {
        State::Live(thread) => {
            match GUARD.try_with(|guard| guard.record.borrow().clone()) {
                Ok(Some(record)) => Registration::Live(thread, record),
                // Unreachable: the guard leaves `Live` before it lets go of
                // the record. Exiting is the safe answer all the same.
                _ => Registration::Exiting {
                    key: thread.key,
                    id: None,
                },
            }
        }
        State::Exiting { key, id, .. } => Registration::Exiting { key, id },
        State::Fresh => {
            let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            let record = Arc::new(ThreadRecord::current(key));
            let installed = GUARD
                .try_with(|guard| *guard.record.borrow_mut() = Some(Arc::clone(&record)))
                .is_ok();
            if installed {
                let thread = Thread::new(IDS.lock().alloc(), key);
                STATE.with(|state| state.set(State::Live(thread)));
                late_exit::watch();
                Registration::Live(thread, record)
            } else {
                let id = record.id();
                STATE.with(|state| {
                    state.set(State::Exiting {
                        key,
                        last: None,
                        id,
                    })
                });
                Registration::Exiting { key, id }
            }
        }
    }
}

/// Keys start at 1: 0 means "no owner" in the tables.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

static IDS: Mutex<IdAllocator> = Mutex::new(IdAllocator::new());

/// Hands out dense indices, lowest free first.
struct IdAllocator {
    next: usize,
    free: BinaryHeap<Reverse<usize>>,
}

impl IdAllocator {
    const fn new() -> IdAllocator {
        IdAllocator {
            next: 0,
            free: BinaryHeap::new(),
        }
    }

    fn alloc(&mut self) -> usize {
        match self.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                let id = self.next;
                self.next += 1;
                id
            }
        }
    }

    fn free(&mut self, id: usize) {
        self.free.push(Reverse(id));
    }
}

/// Gives the thread's index back when its thread-locals are destroyed.
struct Guard {
    /// Set once, at registration; taken by the thread's exit.
    record: RefCell<Option<Arc<ThreadRecord>>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(record) = self.record.get_mut().take() {
            exit(&record);
        }
    }
}

/// The thread's exit, from its guard's destructor (or, if that never runs,
/// from [`late_exit`]'s); once only, whichever runs first.
fn exit(record: &ThreadRecord) {
    let Some(last) = current() else {
        return; // already exiting
    };
    // From here on the thread writes to no slot: `current` is `None` for the
    // rest of its life, so the index can be handed to another thread.
    STATE.with(|state| {
        state.set(State::Exiting {
            key: record.key(),
            last: Some(last),
            id: record.id(),
        })
    });
    record.exit();
    IDS.lock().free(last.id());
}

/// The exit of a thread whose first contact with the crate came after its
/// thread-local destructors had run: from a `pthread_key_create`
/// destructor of a C library, say. The guard registered then is never run
/// (glibc does not look at its list of thread-local destructors again), so
/// the thread would keep its index and never be reported exited. On Linux
/// every registering thread also sets a process-wide pthread key, whose
/// destructor runs after the thread-local ones and, for a key set while
/// other keys' destructors run, in the next round (glibc runs up to four
/// rounds; a first contact in the fourth is not covered). For a thread whose
/// guard ran, it finds the thread `Exiting` and does nothing.
mod late_exit {
    #[cfg(all(target_os = "linux", not(miri)))]
    pub(super) fn watch() {
        use std::ffi::{c_int, c_uint, c_void};
        use std::sync::OnceLock;

        type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;
        extern "C" {
            // POSIX, in the C library std links against.
            fn pthread_key_create(key: *mut c_uint, destructor: Destructor) -> c_int;
            fn pthread_setspecific(key: c_uint, value: *const c_void) -> c_int;
        }

        unsafe extern "C" fn run(_: *mut c_void) {
            super::exit_late();
            super::drain_thread_locals();
        }

        static KEY: OnceLock<Option<c_uint>> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            let mut key = 0;
            // SAFETY: a valid out-pointer and a destructor of the C type.
            let created = unsafe { pthread_key_create(&mut key, Some(run)) } == 0;
            created.then_some(key)
        });
        if let Some(key) = *key {
            // SAFETY: a key made above; a non-null value makes glibc call
            // `run` at thread exit. Failure (ENOMEM) leaves the thread as it
            // was before this module.
            let _ = unsafe { pthread_setspecific(key, std::ptr::dangling::<c_void>()) };
        }
    }

    /// Elsewhere the guard's thread-local destructor is all there is.
    #[cfg(not(all(target_os = "linux", not(miri))))]
    pub(super) fn watch() {}
}

/// The crate's thread-locals that own memory and have destructors of their
/// own, as bits for [`watch_exit`].
pub(crate) mod drain {
    pub(crate) const SCRATCH_BYTES: u8 = 1;
    pub(crate) const SCRATCH_STRINGS: u8 = 2;
    pub(crate) const ARENA: u8 = 4;
    pub(crate) const LAST_ERROR: u8 = 8;
}

thread_local! {
    /// Which of [`drain`]'s thread-locals this thread has initialised. No
    /// destructor.
    static TO_DRAIN: Cell<u8> = const { Cell::new(0) };
}

/// Notes that the calling thread initialised the thread-local `what` (a
/// [`drain`] bit), and makes sure the crate's exit key runs at the thread's
/// very end (Linux), where [`drain_thread_locals`] empties it in case its
/// own destructor never runs. Called once per thread per thread-local,
/// outside hot paths.
pub(crate) fn watch_exit(what: u8) {
    TO_DRAIN.with(|to_drain| to_drain.set(to_drain.get() | what));
    late_exit::watch();
}

/// Empties, at the thread's very end, the crate's thread-locals that own
/// memory: after the thread's thread-local destructors, so a normal
/// thread's are gone already (nothing to do); a thread that first used them
/// later (from a C library's key destructor) registered destructors that
/// glibc never runs, and would leak them. Only those the thread initialised:
/// touching another now would register its destructor too late as well.
#[cfg(all(target_os = "linux", not(miri)))]
fn drain_thread_locals() {
    let what = TO_DRAIN.with(Cell::get);
    if what & drain::SCRATCH_BYTES != 0 {
        crate::scratch::drain_bytes();
    }
    if what & drain::SCRATCH_STRINGS != 0 {
        crate::scratch::drain_strings();
    }
    if what & drain::ARENA != 0 {
        crate::arena::drain_thread_local();
    }
    if what & drain::LAST_ERROR != 0 {
        crate::last_error::drain_thread_local();
    }
}

/// [`late_exit`]'s destructor: the guard's work, if the guard has not run.
#[cfg(all(target_os = "linux", not(miri)))]
fn exit_late() {
    // Not live: never registered (the key was set for `drain_thread_locals`
    // alone), or the guard ran (the usual case). Either way the guard is
    // not touched: touching it now would register its destructor too late,
    // leaving glibc a node it never frees.
    if current().is_none() {
        return;
    }
    // The record is taken out, not cloned: the guard that holds it is never
    // dropped (its destructor was registered too late to run).
    if let Ok(Some(record)) = GUARD.try_with(|guard| guard.record.borrow_mut().take()) {
        exit(&record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_map_to_buckets() {
        for (id, bucket, index) in [
            (0, 0, 0),
            (1, 1, 0),
            (2, 1, 1),
            (3, 2, 0),
            (6, 2, 3),
            (7, 3, 0),
        ] {
            let thread = Thread::new(id, 1);
            assert_eq!((thread.bucket, thread.index), (bucket, index), "id {id}");
            assert_eq!(thread.id(), id);
        }
    }

    #[test]
    fn allocator_reuses_lowest_free_id() {
        let mut ids = IdAllocator::new();
        assert_eq!([ids.alloc(), ids.alloc(), ids.alloc()], [0, 1, 2]);
        ids.free(2);
        ids.free(0);
        assert_eq!([ids.alloc(), ids.alloc(), ids.alloc()], [0, 2, 3]);
    }

    #[test]
    fn registered_thread_stays_live_and_keeps_its_key() {
        std::thread::spawn(|| {
            assert_eq!(current(), None);
            let Registration::Live(thread, record) = register() else {
                panic!("a running thread registers live");
            };
            assert_eq!(current(), Some(thread));
            assert_eq!(record.key(), thread.key);
            assert!(!record.has_exited());
        })
        .join()
        .unwrap();
    }
}
