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
//! destructor ([`current`]); reading it registers nothing. This file only
//! keeps the state: [`super::exit`] registers a thread ([`enter`]) together
//! with what will end it ([`leave`]), which holds the thread's position and
//! record itself, so that the exit needs no thread-local of this file.
//!
//! Teardown is a normal state here: once the thread's exit has run, the
//! thread is [`State::Exiting`], [`current`] returns `None`, and the building
//! blocks fall back instead of touching a slot whose index another thread
//! may already hold.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
    /// The position of dense index `id`, held by the thread with `key`.
    pub(super) fn new(id: usize, key: u64) -> Thread {
        let bucket = (usize::BITS - 1 - (id + 1).leading_zeros()) as usize;
        let index = id + 1 - (1 << bucket);
        Thread { bucket, index, key }
    }

    /// The dense index this position was made from.
    pub(super) fn id(self) -> usize {
        self.index + (1 << self.bucket) - 1
    }
}

/// The calling thread's state as far as this crate knows it.
#[derive(Clone, Copy)]
pub(crate) enum State {
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
    // No destructor where thread-locals are native: readable at every point
    // of the thread's life, teardown included, and reading it registers
    // nothing. (Where std keeps thread-locals behind OS keys, every one has
    // a destructor, and a later read finds it `Fresh` again: see
    // `departed`.)
    static STATE: Cell<State> = const { Cell::new(State::Fresh) };
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
    match state() {
        State::Exiting { key, last, .. } => Some((key, last)),
        State::Fresh | State::Live(_) => None,
    }
}

/// The calling thread's whole state. A state that reads fresh where std has
/// destroyed and reset it is the exiting state it was (see [`departed`]).
pub(super) fn state() -> State {
    let state = STATE.with(Cell::get);
    if let State::Fresh = state {
        if let Some(last) = departed::last() {
            let key = last.map_or_else(new_key, |last| last.key);
            enter_exiting(key, last, None);
            return State::Exiting {
                key,
                last,
                id: None,
            };
        }
    }
    state
}

/// A key for a thread met for the first time.
pub(super) fn new_key() -> u64 {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

/// Gives the calling thread, fresh until now, an index: it is live from
/// here on, until [`leave`].
pub(super) fn enter(key: u64) -> Thread {
    let thread = Thread::new(IDS.lock().alloc(), key);
    STATE.with(|state| state.set(State::Live(thread)));
    thread
}

/// Makes the calling thread live at `thread` again: for a thread whose
/// state was reset while it held `thread` (see [`super::exit`]).
pub(super) fn resume(thread: Thread) {
    STATE.with(|state| state.set(State::Live(thread)));
}

/// Marks the calling thread, fresh until now, as exiting: nothing can run
/// its exit any more. `last` is where it lived, if it did.
pub(super) fn enter_exiting(key: u64, last: Option<Thread>, id: Option<ThreadId>) {
    let exiting = State::Exiting { key, last, id };
    STATE.with(|state| state.set(exiting));
}

/// The exit of the thread that lived at `last` with `record`: runs its exit
/// hooks and gives its index back. Reads nothing of this thread's: what it
/// needs, its caller owns.
pub(super) fn leave(last: Thread, record: &ThreadRecord) {
    departed::lived(last);
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

/// Windows: what the calling thread was, once it is past its exit, in slots
/// of the system's that std does not destroy.
///
/// Where std keeps thread-locals behind OS keys (`x86_64-pc-windows-gnu`), it
/// destroys [`STATE`] with the rest as the thread exits, and a later read
/// makes it anew, fresh. From these slots such a thread is still the
/// exiting thread it was, with its key and last position (its std id went
/// with std's handle); and a thread that never used the crate before std's
/// destructors were done is met as exiting, not as a new thread whose exit
/// nothing would run. (Elsewhere [`STATE`] has no destructor and is never
/// reset.)
#[cfg(windows)]
mod departed {
    use std::ffi::c_void;
    use std::ptr;
    use std::sync::OnceLock;

    use super::Thread;

    #[link(name = "kernel32")]
    extern "system" {
        fn TlsAlloc() -> u32;
        fn TlsGetValue(index: u32) -> *mut c_void;
        fn TlsSetValue(index: u32, value: *const c_void) -> i32;
    }

    /// The two slots: the key, and what the thread was: 0 nothing yet, 1
    /// past std's destructors without having lived, `n + 2` lived at dense
    /// index `n`. `None` if the system has no slots left.
    fn slots() -> Option<[u32; 2]> {
        static SLOTS: OnceLock<Option<[u32; 2]>> = OnceLock::new();
        *SLOTS.get_or_init(|| {
            // SAFETY: no arguments; `TLS_OUT_OF_INDEXES` is `u32::MAX`.
            let [key, was] = [(); 2].map(|()| unsafe { TlsAlloc() });
            (key != u32::MAX && was != u32::MAX).then_some([key, was])
        })
    }

    fn was(slot: u32) -> usize {
        // SAFETY: a slot from `TlsAlloc`; the values are integers, never
        // dereferenced, null where the thread never set them.
        unsafe { TlsGetValue(slot) }.addr()
    }

    fn set(slot: u32, value: usize) {
        // SAFETY: as in `was`.
        unsafe { TlsSetValue(slot, ptr::without_provenance(value)) };
    }

    /// Notes that the thread that lived at `last` is leaving.
    pub(super) fn lived(last: Thread) {
        if let Some([key, was]) = slots() {
            // A key past `usize::MAX` (32-bit Windows, after 2^32 threads)
            // is kept truncated.
            set(key, last.key as usize);
            set(was, last.id() + 2);
        }
    }

    /// `Some` once the thread is past its exit: where it lived, if it did.
    pub(super) fn last() -> Option<Option<Thread>> {
        let [key, was] = slots()?;
        match self::was(was) {
            0 => None,
            1 => Some(None),
            n => Some(Some(Thread::new(n - 2, self::was(key) as u64))),
        }
    }

    /// A TLS callback of the crate's, after std's (`.CRT$XLB`, which runs
    /// every `thread_local!` destructor, the crate's guard among them): the
    /// linker sorts the `.CRT$XL?` sections by name, and the loader calls
    /// them in that order. It notes that std is done with the thread.
    #[used]
    #[link_section = ".CRT$XLC"]
    static PAST_STD: unsafe extern "system" fn(*mut c_void, u32, *mut c_void) = past_std;

    unsafe extern "system" fn past_std(_: *mut c_void, reason: u32, _: *mut c_void) {
        const DLL_THREAD_DETACH: u32 = 3;
        if reason == DLL_THREAD_DETACH {
            if let Some([_, was]) = slots() {
                if self::was(was) == 0 {
                    set(was, 1);
                }
            }
        }
    }
}

#[cfg(not(windows))]
mod departed {
    use super::Thread;

    pub(super) fn lived(_: Thread) {}

    pub(super) fn last() -> Option<Option<Thread>> {
        None
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
}
