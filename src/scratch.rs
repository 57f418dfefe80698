//! Reusable per-thread buffers: the allocation a hot path would make on every
//! call, made once per thread instead.
//!
//! A serializer that builds each message in a fresh `Vec<u8>` pays a `malloc`
//! and a `free` per call, plus the reallocations while the vector grows. A
//! buffer kept per thread costs neither once it has grown, and unlike a
//! buffer pool behind a `Mutex` it makes threads wait for nothing.
//!
//! ```
//! use std::io::Write;
//!
//! let len = threadkit::scratch::with_bytes(|buf| {
//!     assert!(buf.is_empty()); // always empty on entry
//!     write!(buf, "GET /{} HTTP/1.1\r\n", "index.html").unwrap();
//!     buf.len() // e.g. send it here; the capacity stays for the next call
//! });
//! assert_eq!(len, 26);
//! ```
//!
//! [`with_bytes`] and [`with_string`] lend the calling thread's `Vec<u8>` and
//! `String`; [`bytes`] and [`string`] return a guard that gives the buffer
//! back when it is dropped. For other types, declare a [`ScratchPool`]:
//!
//! ```
//! use threadkit::scratch::ScratchPool;
//!
//! struct Record { id: u32 }
//!
//! static RECORDS: ScratchPool<Vec<Record>> = ScratchPool::new();
//!
//! let ids = RECORDS.with(|batch| {
//!     batch.extend((0..10).map(|id| Record { id }));
//!     batch.iter().map(|r| r.id).sum::<u32>()
//! });
//! assert_eq!(ids, 45);
//! ```
//!
//! # The rules
//!
//! - **Empty on entry.** A buffer is [`reset`](Reuse::reset) (for a `Vec`:
//!   cleared, its elements dropped) when it is given back, so the next user on
//!   the thread — the next task of a thread pool, say — never sees what the
//!   last one left, even if that one panicked.
//! - **Reentrant.** A call nested inside another on the same pool gets a
//!   different buffer; both are kept for reuse afterwards. There is no
//!   `RefCell` to double-borrow, so no `BorrowMutError` panic.
//! - **Bounded memory.** Each pool keeps at most
//!   [`max_buffers`](ScratchPool::max_buffers) buffers per thread, each
//!   holding at most [`max_bytes`](ScratchPool::max_bytes) of capacity
//!   (defaults: [`DEFAULT_MAX_BUFFERS`] = 4 and [`DEFAULT_MAX_BYTES`] =
//!   64 KiB; choose others with [`ScratchPool::with_limits`]). A buffer
//!   that grew past the cap is shrunk to it when given back, or dropped if it
//!   cannot shrink, so one huge request does not leave every thread of a pool
//!   holding a huge buffer. A thread's buffers are freed when it exits.
//! - **Thread exit is a normal case.** From a `thread_local!` destructor
//!   that runs after the crate's own, or from any point where the thread's
//!   slot is gone, a call gets a fresh temporary buffer, dropped afterwards.
//!   Nothing panics.
//! - **Buffers stay on their thread.** The guard is `!Send`, and the
//!   closure forms lend the buffer only for the closure:
//!
//! ```compile_fail
//! // error: the guard cannot be sent to another thread
//! let buf = threadkit::scratch::bytes();
//! std::thread::spawn(move || drop(buf));
//! ```
//!
//! ```compile_fail
//! // error: the buffer cannot escape the closure
//! let escaped: &mut Vec<u8> = threadkit::scratch::with_bytes(|buf| buf);
//! ```
//!
//! # Compared with
//!
//! - A `thread_local!` `RefCell<Vec<u8>>` written by hand is the fastest
//!   single-buffer version (the benchmarks compare against it), but it panics
//!   on nested use, keeps whatever capacity the largest call left, and panics
//!   during thread teardown.
//! - A `Mutex<Vec<Vec<u8>>>` pool is shared by all threads, so they queue on
//!   its lock.
//! - A fresh `Vec::with_capacity` per call allocates and frees every time.

use std::cell::{RefCell, RefMut, UnsafeCell};
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::sync::{AtomicU64, Ordering};
use crate::table::Table;
use crate::thread_id::{self, ExitHook, Registration, Thread, ThreadRecord};

/// Declares built-in [`LocalPool`]s, each with its own `thread_local!`.
macro_rules! local_pool {
    ($($(#[$attr:meta])* static $name:ident: $t:ty = ($max_buffers:expr, $max_bytes:expr);)*) => {$(
        $(#[$attr])*
        static $name: $crate::scratch::LocalPool<$name::Hot> =
            $crate::scratch::LocalPool::new($max_buffers, $max_bytes);

        #[allow(non_snake_case)]
        mod $name {
            #[allow(unused_imports)] // for the value type's name
            use super::*;

            ::std::thread_local! {
                static HOT: ::std::cell::RefCell<$t> =
                    ::std::cell::RefCell::new(<$t as ::std::default::Default>::default());
            }

            pub(crate) struct Hot;

            impl $crate::scratch::Hot for Hot {
                type Value = $t;
                #[inline(always)]
                fn with<R>(f: impl FnOnce(&::std::cell::RefCell<$t>) -> R) -> Option<R> {
                    HOT.try_with(f).ok()
                }
            }
        }
    )*};
}
pub(crate) use local_pool;

/// How many buffers a pool keeps per thread unless told otherwise.
pub const DEFAULT_MAX_BUFFERS: usize = 4;

/// How much capacity, in bytes, each kept buffer may hold unless told
/// otherwise: 64 KiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

local_pool! {
    /// The pool behind [`with_bytes`] and [`bytes`].
    static BYTES: Vec<u8> = (DEFAULT_MAX_BUFFERS, DEFAULT_MAX_BYTES);
    /// The pool behind [`with_string`] and [`string`].
    static STRINGS: String = (DEFAULT_MAX_BUFFERS, DEFAULT_MAX_BYTES);
}

/// The capacity, in bytes, that the calling thread keeps in the buffers of
/// [`with_bytes`], [`bytes`], [`with_string`] and [`string`]: at most
/// [`DEFAULT_MAX_BUFFERS`] buffers of each kind, each of at most
/// [`DEFAULT_MAX_BYTES`].
///
/// # Examples
///
/// ```
/// use threadkit::scratch::{self, DEFAULT_MAX_BYTES};
///
/// scratch::with_bytes(|buf| buf.reserve(10 << 20)); // one 10 MiB use
/// let kept = scratch::retained_bytes();
/// assert!(kept >= 1024 && kept <= DEFAULT_MAX_BYTES, "shrunk to the cap, and kept");
/// ```
pub fn retained_bytes() -> usize {
    BYTES.retained_bytes() + STRINGS.retained_bytes()
}

/// How many buffers holding memory the calling thread keeps for
/// [`with_bytes`], [`bytes`], [`with_string`] and [`string`].
///
/// # Examples
///
/// ```
/// use threadkit::scratch;
///
/// scratch::with_bytes(|outer| {
///     outer.push(1);
///     scratch::with_bytes(|inner| inner.push(2)); // nested: a second buffer
/// });
/// assert_eq!(scratch::retained_count(), 2);
/// ```
pub fn retained_count() -> usize {
    BYTES.retained_count() + STRINGS.retained_count()
}

/// Frees the calling thread's kept buffers of [`with_bytes`], [`bytes`],
/// [`with_string`] and [`string`] now rather than at thread exit.
///
/// # Examples
///
/// ```
/// use threadkit::scratch;
///
/// scratch::with_string(|s| s.push_str("some text"));
/// scratch::release();
/// assert_eq!(scratch::retained_bytes(), 0);
/// ```
pub fn release() {
    BYTES.release();
    STRINGS.release();
}

/// Runs `f` with an empty byte buffer of the calling thread, kept for reuse
/// afterwards.
///
/// The buffer is empty on entry, whatever the last user did with it. A
/// nested call gets a different buffer. See the [module documentation](self)
/// for the limits on what is kept.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// fn frame(payload: &[u8]) -> usize {
///     threadkit::scratch::with_bytes(|buf| {
///         buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
///         buf.write_all(payload).unwrap();
///         buf.len()
///     })
/// }
/// assert_eq!(frame(b"hello"), 9);
/// assert_eq!(frame(b""), 4);
/// ```
#[inline]
pub fn with_bytes<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    BYTES.with(f)
}

/// Runs `f` with an empty string buffer of the calling thread, kept for reuse
/// afterwards.
///
/// # Examples
///
/// ```
/// use std::fmt::Write;
///
/// let width = threadkit::scratch::with_string(|s| {
///     write!(s, "{:>8.3}", std::f64::consts::PI).unwrap();
///     s.len()
/// });
/// assert_eq!(width, 8);
/// ```
#[inline]
pub fn with_string<R>(f: impl FnOnce(&mut String) -> R) -> R {
    STRINGS.with(f)
}

/// Takes an empty byte buffer of the calling thread; it goes back when the
/// guard is dropped.
///
/// # Examples
///
/// ```
/// let mut buf = threadkit::scratch::bytes();
/// buf.extend_from_slice(b"abc");
/// assert_eq!(&buf[..], b"abc");
/// drop(buf); // back to the pool, cleared
/// assert!(threadkit::scratch::bytes().is_empty());
/// ```
#[inline]
pub fn bytes() -> Scratch<'static, Vec<u8>> {
    BYTES.get()
}

/// Takes an empty string buffer of the calling thread; it goes back when the
/// guard is dropped.
///
/// # Examples
///
/// ```
/// let mut s = threadkit::scratch::string();
/// s.push_str("hello");
/// assert_eq!(s.as_str(), "hello");
/// ```
#[inline]
pub fn string() -> Scratch<'static, String> {
    STRINGS.get()
}

/// How a value is emptied for reuse, and how much memory it holds.
///
/// Implemented for `Vec`, `String`, `VecDeque`, `BinaryHeap`, `HashMap`,
/// `HashSet` (reset is `clear`; the size is the capacity times the entry
/// size, plus one control byte per entry for the hash tables) and
/// [`bumpalo::Bump`]. Implement it for your own types to pool them in a
/// [`ScratchPool`].
///
/// # Examples
///
/// ```
/// use threadkit::scratch::{Reuse, ScratchPool};
///
/// #[derive(Default)]
/// struct Batch {
///     keys: Vec<u64>,
///     payload: String,
/// }
///
/// impl Reuse for Batch {
///     fn reset(&mut self) {
///         self.keys.reset();
///         self.payload.reset();
///     }
///     fn heap_bytes(&self) -> usize {
///         self.keys.heap_bytes() + self.payload.heap_bytes()
///     }
///     fn shrink_to_bytes(&mut self, max_bytes: usize) {
///         self.keys.shrink_to_bytes(max_bytes / 2);
///         self.payload.shrink_to_bytes(max_bytes / 2);
///     }
/// }
///
/// static BATCHES: ScratchPool<Batch> = ScratchPool::new();
/// BATCHES.with(|b| {
///     b.keys.push(7);
///     b.payload.push_str("seven");
/// });
/// BATCHES.with(|b| assert!(b.keys.is_empty() && b.payload.is_empty()));
/// ```
pub trait Reuse {
    /// Empties the value for its next user, keeping its allocation.
    ///
    /// Called each time the value goes back to its pool. Whatever the next
    /// user must not see has to go here (for a collection: every element).
    fn reset(&mut self);

    /// An estimate of the heap memory the value keeps, in bytes, compared
    /// with the pool's [`max_bytes`](ScratchPool::max_bytes).
    fn heap_bytes(&self) -> usize;

    /// Gives memory back until [`heap_bytes`](Reuse::heap_bytes) is at most
    /// `max_bytes`, if the type can.
    ///
    /// Called on a reset value whose `heap_bytes` is over the pool's cap. If
    /// it is still over the cap afterwards, the pool drops the value. The
    /// default does nothing.
    fn shrink_to_bytes(&mut self, max_bytes: usize) {
        let _ = max_bytes;
    }
}

/// Capacity in elements that fits in `max_bytes`, for element size `size`.
fn elements_within(max_bytes: usize, size: usize) -> usize {
    max_bytes.checked_div(size).unwrap_or(usize::MAX)
}

/// `Reuse` for std collections: `clear`, and `capacity × entry` bytes.
macro_rules! reuse_collection {
    ($([$($generics:tt)*] $ty:ty, entry = $entry:expr;)*) => {$(
        impl<$($generics)*> Reuse for $ty {
            fn reset(&mut self) {
                self.clear();
            }
            fn heap_bytes(&self) -> usize {
                self.capacity().saturating_mul($entry)
            }
            fn shrink_to_bytes(&mut self, max_bytes: usize) {
                self.shrink_to(elements_within(max_bytes, $entry));
            }
        }
    )*};
}

reuse_collection! {
    [T] Vec<T>, entry = mem::size_of::<T>();
    [] String, entry = 1;
    [T] VecDeque<T>, entry = mem::size_of::<T>();
    [T: Ord] BinaryHeap<T>, entry = mem::size_of::<T>();
    // Each entry plus one control byte: the layout of std's SwissTable.
    [K: Eq + Hash, V, S: BuildHasher] HashMap<K, V, S>, entry = mem::size_of::<(K, V)>() + 1;
    [T: Eq + Hash, S: BuildHasher] HashSet<T, S>, entry = mem::size_of::<T>() + 1;
}

/// Resetting a `Bump` frees every chunk but the newest (its largest) and
/// lifts any allocation limit the last user set; a `Bump` cannot shrink, so
/// one over the cap is dropped.
impl Reuse for bumpalo::Bump {
    fn reset(&mut self) {
        bumpalo::Bump::reset(self);
        self.set_allocation_limit(None);
    }
    fn heap_bytes(&self) -> usize {
        self.allocated_bytes()
    }
}

/// A per-thread pool of reusable values of type `T`; see the
/// [module documentation](self).
///
/// Declare one as a `static` (its constructors are `const`) or keep one in a
/// struct. Each thread that uses it gets its own free list, so taking and
/// giving back a buffer takes no lock and writes no memory another thread
/// writes.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadkit::scratch::ScratchPool;
///
/// // Word counts per document, without a fresh map per document.
/// static COUNTS: ScratchPool<HashMap<String, usize>> = ScratchPool::new();
///
/// fn distinct_words(doc: &str) -> usize {
///     COUNTS.with(|counts| {
///         for word in doc.split_whitespace() {
///             *counts.entry(word.to_owned()).or_default() += 1;
///         }
///         counts.len()
///     })
/// }
/// assert_eq!(distinct_words("a b a c"), 3);
/// assert_eq!(distinct_words("x"), 1);
/// ```
pub struct ScratchPool<T> {
    slots: Table<CachePadded<Slot<T>>>,
    max_buffers: usize,
    max_bytes: usize,
}

/// One thread index's free list.
struct Slot<T> {
    /// The key of the live thread that owns `free`, 0 if none. Written by the
    /// owner, in `claim`.
    key: AtomicU64,
    /// The buffers waiting for reuse. Only the thread that holds this slot's
    /// index touches it, and never while user code runs (see the `Sync` impl).
    free: UnsafeCell<Free<T>>,
    /// The owner's record, so that dropping the pool can unregister the
    /// owner's exit hook.
    owner: Mutex<Option<Arc<ThreadRecord>>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot {
            key: AtomicU64::new(0),
            free: UnsafeCell::new(Free::new()),
            owner: Mutex::new(None),
        }
    }
}

/// A thread's kept buffers: one inline in its slot, where the common
/// (not nested) case finds it without another pointer to follow, and the rest
/// in a vector.
struct Free<T> {
    hot: Option<T>,
    rest: Vec<T>,
}

impl<T> Free<T> {
    const fn new() -> Free<T> {
        Free {
            hot: None,
            rest: Vec::new(),
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        match self.hot.take() {
            Some(value) => Some(value),
            None => self.rest.pop(),
        }
    }

    /// Keeps `value` if fewer than `max` are kept; hands it back otherwise.
    /// `max` is at least 1 and the same on every call.
    #[inline]
    fn push(&mut self, value: T, max: usize) -> Option<T> {
        // `pop` empties `hot` before `rest`, and `push` fills it first, so
        // while `hot` is empty `rest` holds fewer than `max`: no count check.
        if self.hot.is_none() {
            self.hot = Some(value);
            return None;
        }
        if self.len() >= max {
            return Some(value);
        }
        self.rest.push(value);
        None
    }

    fn len(&self) -> usize {
        usize::from(self.hot.is_some()) + self.rest.len()
    }

    fn take(&mut self) -> Free<T> {
        mem::replace(self, Free::new())
    }

    fn into_values(self) -> impl Iterator<Item = T> {
        self.hot.into_iter().chain(self.rest)
    }
}

// SAFETY: `free` is touched only by the thread holding the slot's index (the
// crate hands an index to a new thread only after the previous holder has
// stopped using it, through the allocator's lock), by that thread's exit hook
// (which runs on that thread), and by `ScratchPool::drop`, which has exclusive
// access. Values of `T` move between threads only in that last case, hence
// `T: Send`. The other fields are `Sync`.
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Slot<T> {
    /// Runs `f` on the slot's free list.
    ///
    /// # Safety
    ///
    /// The calling thread must own the slot: be live and hold the slot's
    /// index, with the slot's key its own (or be the owner running its exit
    /// hook). And `f` must run no user code — no `T` dropped, reset or
    /// measured inside it — so that it cannot reenter.
    #[inline]
    unsafe fn with_free<R>(&self, f: impl FnOnce(&mut Free<T>) -> R) -> R {
        // SAFETY: only the owner touches `free` (see the `Sync` impl), and
        // the owner holds no other reference to it: every access is a call to
        // this function, and none can be nested in another because `f` runs
        // no user code.
        f(unsafe { &mut *self.free.get() })
    }
}

impl<T> ScratchPool<T> {
    /// Creates a pool with the default limits: [`DEFAULT_MAX_BUFFERS`]
    /// buffers per thread, each keeping at most [`DEFAULT_MAX_BYTES`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::ScratchPool;
    ///
    /// static ROWS: ScratchPool<Vec<[f64; 4]>> = ScratchPool::new();
    /// assert_eq!(ROWS.max_buffers(), threadkit::scratch::DEFAULT_MAX_BUFFERS);
    /// ```
    #[must_use]
    pub const fn new() -> ScratchPool<T> {
        ScratchPool::with_limits(DEFAULT_MAX_BUFFERS, DEFAULT_MAX_BYTES)
    }

    /// Creates a pool that keeps at most `max_buffers` buffers per thread,
    /// each holding at most `max_bytes` of capacity (as measured by
    /// [`Reuse::heap_bytes`]).
    ///
    /// `max_buffers` is how deep calls can nest and still all find a kept
    /// buffer. A pool with `max_buffers == 0` keeps nothing: every call gets
    /// a new buffer, like allocating by hand.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::ScratchPool;
    ///
    /// // Image rows can be big: keep one buffer of up to 16 MiB per thread.
    /// static PIXELS: ScratchPool<Vec<u8>> = ScratchPool::with_limits(1, 16 << 20);
    /// PIXELS.with(|px| px.reserve(4 << 20));
    /// assert!(PIXELS.retained_bytes() >= 4 << 20);
    /// ```
    #[must_use]
    pub const fn with_limits(max_buffers: usize, max_bytes: usize) -> ScratchPool<T> {
        ScratchPool {
            slots: Table::new(),
            max_buffers,
            max_bytes,
        }
    }

    /// How many buffers the pool keeps per thread.
    pub fn max_buffers(&self) -> usize {
        self.max_buffers
    }

    /// How much capacity, in bytes, each kept buffer may hold.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The calling thread's slot, if the thread is live and owns one here.
    #[inline]
    fn own_slot(&self) -> Option<&Slot<T>> {
        let thread = thread_id::current()?;
        let slot = self.slots.get(thread)?;
        (slot.key.load(Ordering::Relaxed) == thread.key).then_some(&**slot)
    }

    /// How many buffers the calling thread has kept in this pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::ScratchPool;
    ///
    /// let pool: ScratchPool<String> = ScratchPool::new();
    /// assert_eq!(pool.retained_count(), 0);
    /// pool.with(|outer| pool.with(|inner| ())); // two at once
    /// assert_eq!(pool.retained_count(), 2);
    /// ```
    pub fn retained_count(&self) -> usize {
        // SAFETY: `own_slot` returns a slot the calling thread owns, and
        // `len` runs no user code.
        self.own_slot()
            .map_or(0, |slot| unsafe { slot.with_free(|free| free.len()) })
    }

    /// Gives the memory of the calling thread's kept buffers back to the
    /// allocator; the next calls start again from empty buffers.
    ///
    /// A thread's buffers are freed when it exits in any case; this is for a
    /// long-lived thread that knows it will not need them for a while.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool: threadkit::scratch::ScratchPool<Vec<u8>> = Default::default();
    /// pool.with(|buf| buf.extend_from_slice(&[0; 1000]));
    /// assert!(pool.retained_bytes() >= 1000);
    /// pool.release();
    /// assert_eq!(pool.retained_bytes(), 0);
    /// ```
    pub fn release(&self) {
        if let Some(slot) = self.own_slot() {
            // SAFETY: `own_slot` returns a slot the calling thread owns, and
            // `take` runs no user code.
            let kept = unsafe { slot.with_free(Free::take) };
            // Dropped outside `with_free`: dropping runs `T`'s destructor.
            drop(kept);
        }
    }
}

impl<T: Reuse> ScratchPool<T> {
    /// The capacity, in bytes, of the buffers the calling thread has kept in
    /// this pool: at most `max_buffers() * max_bytes()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::{ScratchPool, DEFAULT_MAX_BYTES};
    ///
    /// static FRAMES: ScratchPool<Vec<u8>> = ScratchPool::new();
    /// FRAMES.with(|buf| buf.reserve(10 << 20)); // one 10 MiB use
    /// assert!(FRAMES.retained_bytes() <= DEFAULT_MAX_BYTES);
    /// ```
    pub fn retained_bytes(&self) -> usize {
        let Some(slot) = self.own_slot() else {
            return 0;
        };
        // Move the buffers out to measure them: `heap_bytes` is user code.
        // SAFETY: `own_slot` returns a slot the calling thread owns, and
        // `take` runs no user code.
        let kept = unsafe { slot.with_free(Free::take) };
        let bytes = kept
            .hot
            .iter()
            .chain(&kept.rest)
            .map(Reuse::heap_bytes)
            .sum();
        // SAFETY: as above; `replace` runs no user code.
        let meanwhile = unsafe { slot.with_free(|free| mem::replace(free, kept)) };
        // Nothing was put back meanwhile unless `heap_bytes` itself used the
        // pool; keep what fits of that too.
        for value in meanwhile.into_values() {
            // SAFETY: the calling thread owns `slot`.
            unsafe { self.put_back(slot, value) };
        }
        bytes
    }
}

impl<T: Reuse + Default> ScratchPool<T> {
    /// Takes an empty buffer of the calling thread; it goes back to the pool
    /// when the guard is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::ScratchPool;
    ///
    /// static LINES: ScratchPool<Vec<String>> = ScratchPool::new();
    ///
    /// let mut lines = LINES.get();
    /// lines.push("first".to_owned());
    /// let mut other = LINES.get(); // a second buffer, not a panic
    /// assert!(other.is_empty());
    /// other.push("second".to_owned());
    /// ```
    #[inline]
    pub fn get(&self) -> Scratch<'_, T> {
        Scratch {
            lease: self.lease(),
        }
    }

    /// Runs `f` with an empty buffer of the calling thread, kept for reuse
    /// afterwards.
    ///
    /// The buffer goes back (reset) even if `f` panics, and a call nested
    /// inside `f` gets a different buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::ScratchPool;
    ///
    /// static IDS: ScratchPool<Vec<u64>> = ScratchPool::new();
    ///
    /// let median = IDS.with(|ids| {
    ///     ids.extend([5, 1, 4, 2, 3]);
    ///     ids.sort_unstable();
    ///     ids[ids.len() / 2]
    /// });
    /// assert_eq!(median, 3);
    /// ```
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lease().value)
    }

    /// Takes a buffer: from the calling thread's slot if it has one, else a
    /// temporary.
    #[inline]
    fn lease(&self) -> Lease<'_, T> {
        match self.own_slot() {
            Some(slot) => {
                // SAFETY: `own_slot` returns a slot the calling thread owns,
                // and `pop` runs no user code.
                let value = unsafe { slot.with_free(Free::pop) };
                Lease::new(self, value.unwrap_or_default(), Some(slot))
            }
            None => self.lease_slow(),
        }
    }

    #[cold]
    fn lease_slow(&self) -> Lease<'_, T> {
        match thread_id::register() {
            Registration::Live(thread, record) => {
                let slot = self.slots.get_or_alloc(thread);
                if slot.key.load(Ordering::Relaxed) != thread.key {
                    self.claim(slot, thread, record);
                }
                // SAFETY: the calling thread is live and owns `slot` now, and
                // `pop` runs no user code.
                let value = unsafe { slot.with_free(Free::pop) };
                Lease::new(self, value.unwrap_or_default(), Some(slot))
            }
            // No slot to use: a temporary buffer, dropped when given back.
            Registration::Exiting { .. } => Lease::new(self, T::default(), None),
        }
    }
}

impl<T: Reuse> ScratchPool<T> {
    /// Resets `value` and keeps it in `slot` if the limits allow; drops it
    /// otherwise.
    ///
    /// # Safety
    ///
    /// The calling thread must own `slot` (see [`Slot::with_free`]).
    #[inline(always)]
    unsafe fn put_back(&self, slot: &Slot<T>, mut value: T) {
        if self.max_buffers == 0 {
            return;
        }
        value.reset();
        if value.heap_bytes() > self.max_bytes {
            match self.shrink(value) {
                Some(shrunk) => value = shrunk,
                None => return,
            }
        }
        let max = self.max_buffers;
        // SAFETY: the caller owns `slot`; `push` runs no user code (it hands
        // a rejected value back instead of dropping it).
        let rejected = unsafe { slot.with_free(|free| free.push(value, max)) };
        drop(rejected);
    }
}

impl<T: Reuse + Default> ScratchPool<T> {
    /// Shrinks a value that is over the cap, or replaces it with a new one if
    /// it cannot be shrunk enough.
    #[cold]
    #[inline(never)]
    fn shrink_in_place(&self, value: &mut T) {
        value.shrink_to_bytes(self.max_bytes);
        if value.heap_bytes() > self.max_bytes {
            *value = T::default();
        }
    }
}

impl<T: Reuse> ScratchPool<T> {
    /// Shrinks a value that is over the cap, or drops it if it cannot be
    /// shrunk enough.
    #[cold]
    #[inline(never)]
    fn shrink(&self, mut value: T) -> Option<T> {
        value.shrink_to_bytes(self.max_bytes);
        (value.heap_bytes() <= self.max_bytes).then_some(value)
    }
}

impl<T> ScratchPool<T> {
    /// Makes the calling (live) thread the owner of `slot`.
    fn claim(&self, slot: &CachePadded<Slot<T>>, thread: Thread, record: Arc<ThreadRecord>) {
        let stale = {
            let mut owner = slot.owner.lock();
            // The previous owner's exit hook emptied the free list; the
            // `take` below only covers a thread whose hook never ran.
            record.add_exit_hook(ExitHook {
                data: slot_address(slot),
                run: release_on_exit::<T>,
            });
            *owner = Some(record);
            slot.key.store(thread.key, Ordering::Relaxed);
            // SAFETY: the calling thread now owns the slot, and `take` runs
            // no user code.
            unsafe { slot.with_free(Free::take) }
        };
        drop(stale);
    }
}

fn slot_address<T>(slot: &CachePadded<Slot<T>>) -> *const () {
    (&**slot as *const Slot<T>).cast()
}

/// The exit hook: frees the exiting owner's kept buffers.
///
/// # Safety
///
/// `data` must be the address of a live `Slot<T>`, and the call must be made
/// by the thread that owns the slot, with no reference to its free list live.
/// The crate runs exit hooks on the exiting thread from its own thread-local
/// destructor (never inside a pool operation), and `ScratchPool::drop`
/// unregisters the hook before freeing the slot.
unsafe fn release_on_exit<T>(data: *const ()) {
    // SAFETY: per this function's contract.
    let slot = unsafe { &*data.cast::<Slot<T>>() };
    // SAFETY: the calling thread is the slot's owner, in its exit hook, and
    // `take` runs no user code.
    let kept = unsafe { slot.with_free(Free::take) };
    drop(kept);
}

impl<T> Drop for ScratchPool<T> {
    fn drop(&mut self) {
        // Owners still running (or exiting) hold exit hooks into our slots;
        // take them back before the slots are freed.
        for slot in self.slots.iter() {
            if let Some(record) = &*slot.owner.lock() {
                record.remove_exit_hooks(slot_address(slot));
            }
        }
    }
}

impl<T> Default for ScratchPool<T> {
    fn default() -> ScratchPool<T> {
        ScratchPool::new()
    }
}

// A panic inside a user's closure leaves the pool consistent: the buffer is
// outside the free list while user code runs and goes back reset.
impl<T> RefUnwindSafe for ScratchPool<T> {}
impl<T> UnwindSafe for ScratchPool<T> {}

impl<T> fmt::Debug for ScratchPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScratchPool")
            .field("max_buffers", &self.max_buffers)
            .field("max_bytes", &self.max_bytes)
            .field("retained_count", &self.retained_count())
            .finish_non_exhaustive()
    }
}

/// A buffer taken from a [`ScratchPool`]; it goes back, reset, when dropped.
///
/// Dereferences to the buffer. It is `!Send`: a buffer goes back to the
/// thread it came from.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(threadkit::scratch::string()); // error: `*const ()` cannot be sent
/// ```
///
/// # Examples
///
/// ```
/// use threadkit::scratch::{self, Scratch};
///
/// let mut buf = scratch::bytes();
/// buf.extend_from_slice(b"keep me");
/// let owned: Vec<u8> = Scratch::into_inner(buf); // not given back
/// assert_eq!(owned, b"keep me");
/// ```
#[must_use = "the buffer goes back to the pool as soon as the guard is dropped"]
pub struct Scratch<'a, T: Reuse> {
    lease: Lease<'a, T>,
}

impl<'a, T: Reuse> Scratch<'a, T> {
    /// Keeps the buffer instead of giving it back to the pool.
    ///
    /// An associated function, like `Box::leak`, so that it does not shadow
    /// a method of the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::scratch::{self, Scratch};
    ///
    /// let mut s = scratch::string();
    /// s.push_str("owned now");
    /// let s: String = Scratch::into_inner(s);
    /// assert_eq!(s, "owned now");
    /// ```
    pub fn into_inner(this: Scratch<'a, T>) -> T {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never used or dropped again, so the value is
        // taken exactly once.
        unsafe { ManuallyDrop::take(&mut this.lease.value) }
    }
}

impl<T: Reuse> Drop for Scratch<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Unlike a lease inside `with`, a guard can outlive its thread's live
        // phase: kept in a `thread_local!` whose destructor runs after the
        // crate's, it is dropped once the thread's index may belong to
        // another thread. Give the buffer back only if this thread still owns
        // the slot; otherwise the lease drops it.
        if let Some(slot) = self.lease.home {
            let owner = slot.key.load(Ordering::Relaxed);
            if thread_id::current().is_none_or(|thread| thread.key != owner) {
                self.lease.home = None;
            }
        }
    }
}

/// A buffer out of its pool, and where it goes back.
///
/// Held only on the stack of [`ScratchPool::with`] or inside a [`Scratch`],
/// so it is dropped on the thread that took it, and while that thread still
/// owns `home` (a thread owns its slot until it exits, and cannot
/// exit inside `with`; `Scratch` checks).
struct Lease<'a, T: Reuse> {
    value: ManuallyDrop<T>,
    pool: &'a ScratchPool<T>,
    /// The slot the value goes back to; `None` for a temporary, dropped.
    home: Option<&'a Slot<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: Reuse> Lease<'a, T> {
    #[inline]
    fn new(pool: &'a ScratchPool<T>, value: T, home: Option<&'a Slot<T>>) -> Lease<'a, T> {
        Lease {
            value: ManuallyDrop::new(value),
            pool,
            home,
            _not_send: PhantomData,
        }
    }
}

impl<T: Reuse> Drop for Lease<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `value` is not used afterwards.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        if let Some(slot) = self.home {
            // SAFETY: the calling thread owns the slot (see the type's docs).
            unsafe { self.pool.put_back(slot, value) };
        }
    }
}

/// A pool whose first buffer per thread lives in a `thread_local!` of its
/// own, used in place, so that the common, non-nested call needs no table
/// lookup and moves nothing: the built-in pools behind [`with_bytes`],
/// [`with_string`] and [`arena::with`](crate::arena::with). Declared with
/// `local_pool!`.
///
/// The thread-local holds one buffer in a `RefCell`; a nested call finds it
/// borrowed (`try_borrow_mut`, never a panic) and uses the table, which holds
/// the others, up to the same total as a [`ScratchPool`]. Guards always use
/// the table.
pub(crate) struct LocalPool<H: Hot> {
    /// The other buffers.
    pool: ScratchPool<H::Value>,
    _hot: PhantomData<H>,
}

/// Access to a [`LocalPool`]'s `thread_local!`, as a type so that calls
/// through it are static and inline.
pub(crate) trait Hot: 'static {
    type Value: Reuse + Default;
    /// Runs `f` on the thread-local, or returns `None` once it is destroyed.
    fn with<R>(f: impl FnOnce(&RefCell<Self::Value>) -> R) -> Option<R>;
}

impl<H: Hot> LocalPool<H> {
    pub(crate) const fn new(max_buffers: usize, max_bytes: usize) -> LocalPool<H> {
        LocalPool {
            pool: ScratchPool::with_limits(max_buffers.saturating_sub(1), max_bytes),
            _hot: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut H::Value) -> R) -> R {
        let mut f = Some(f);
        let done = H::with(|hot| {
            let value = hot.try_borrow_mut().ok()?;
            let f = f.take()?;
            let mut value = Tidy {
                value,
                pool: &self.pool,
            };
            Some(f(&mut value.value))
        });
        match (done, f) {
            (Some(Some(result)), _) => result,
            // Nested, or the thread-local is gone: use the table.
            (_, Some(f)) => self.pool.with(f),
            (_, None) => unreachable!("`f` runs only on the path that returns its result"),
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> Scratch<'_, H::Value> {
        self.pool.get()
    }

    /// Runs `f` on the thread-local buffer if it is not in use.
    fn inspect_local<R: Default>(f: impl FnOnce(&mut H::Value) -> R) -> R {
        H::with(|hot| hot.try_borrow_mut().map(|mut value| f(&mut value)).ok())
            .flatten()
            .unwrap_or_default()
    }

    pub(crate) fn retained_count(&self) -> usize {
        Self::inspect_local(|value| usize::from(value.heap_bytes() > 0))
            + self.pool.retained_count()
    }

    pub(crate) fn retained_bytes(&self) -> usize {
        Self::inspect_local(|value| value.heap_bytes()) + self.pool.retained_bytes()
    }

    pub(crate) fn release(&self) {
        drop(Self::inspect_local(|value| Some(mem::take(value))));
        self.pool.release();
    }
}

/// Tidies the thread-local buffer of a [`LocalPool`] when its user is done
/// with it (or panics): reset, and back under the cap.
struct Tidy<'a, T: Reuse + Default> {
    value: RefMut<'a, T>,
    pool: &'a ScratchPool<T>,
}

impl<T: Reuse + Default> Drop for Tidy<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.value.reset();
        if self.value.heap_bytes() > self.pool.max_bytes {
            self.pool.shrink_in_place(&mut self.value);
        }
    }
}

impl<H: Hot> fmt::Debug for LocalPool<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPool").finish_non_exhaustive()
    }
}

impl<T: Reuse> Deref for Scratch<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.lease.value
    }
}

impl<T: Reuse> DerefMut for Scratch<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.lease.value
    }
}

impl<T: Reuse + fmt::Debug> fmt::Debug for Scratch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.lease.value, f)
    }
}
