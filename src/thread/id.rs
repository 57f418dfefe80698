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
//! destructor ([`current`]). Registration ([`register`]) asks [`super::exit`]
//! to run the thread's exit, which releases the index; none of this
//! registers anything on the fast path.
//!
//! Teardown is a normal state here: once the thread's exit has run, the
//! thread is [`Registration::Exiting`], [`current`] returns `None` for good,
//! and the building blocks fall back instead of touching a slot whose index
//! another thread may already hold.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::thread::ThreadId;

use super::record::ThreadRecord;
use crate::sync::{AtomicU64, Mutex, Ordering};

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
    /// The thread's exit has run (or could not be arranged): the thread is
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
    // The record of a live thread, taken by its exit. No destructor (see
    // `super::exit`): a thread that never exits keeps it.
    static RECORD: RefCell<Option<ManuallyDrop<Arc<ThreadRecord>>>> =
        const { RefCell::new(None) };
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
/// index, and arranges for the thread's exit to give the index back. If
/// that cannot be arranged (the thread is past its exit), the thread is
/// `Exiting` from the start.
#[cold]
pub(crate) fn register() -> Registration {
    match STATE.with(Cell::get) {
        State::Live(thread) => {
            let record = RECORD.with(|record| record.borrow().as_deref().cloned());
            match record {
                Some(record) => Registration::Live(thread, record),
                // Unreachable: the exit leaves `Live` before it takes the
                // record. Exiting is the safe answer all the same.
                None => Registration::Exiting {
                    key: thread.key,
                    id: None,
                },
            }
        }
        State::Exiting { key, id, .. } => Registration::Exiting { key, id },
        State::Fresh => {
            let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            let record = Arc::new(ThreadRecord::current(key));
            if super::exit::watch() {
                let thread = Thread::new(IDS.lock().alloc(), key);
                let kept = ManuallyDrop::new(Arc::clone(&record));
                RECORD.with(|slot| *slot.borrow_mut() = Some(kept));
                STATE.with(|state| state.set(State::Live(thread)));
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

/// The thread's exit, from [`super::exit`]: runs its exit hooks and gives
/// its index back. Once only; does nothing for a thread that is not live.
pub(super) fn exit() {
    let Some(last) = current() else {
        return; // never registered, or already exiting
    };
    let record = RECORD.with(|record| record.borrow_mut().take());
    let Some(record) = record.map(ManuallyDrop::into_inner) else {
        return; // unreachable: a live thread has its record
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
