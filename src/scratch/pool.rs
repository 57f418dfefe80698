//! [`ScratchPool`]: a per-thread free list of reusable values in an owned
//! slot per thread, and [`Scratch`], the guard that gives a value back.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::reuse::Reuse;
use crate::thread::owned::{OwnedTable, Slot, SlotState};

/// How many buffers a pool keeps per thread unless told otherwise.
pub const DEFAULT_MAX_BUFFERS: usize = 4;

/// How much capacity, in bytes, each kept buffer may hold unless told
/// otherwise: 64 KiB, sized for one request's or record's working buffer
/// (a serialised message, a formatted line), so that a pool of them costs
/// little per thread. An arena holds a whole scope's allocations and keeps
/// more ([`arena::DEFAULT_MAX_BYTES`](crate::arena::DEFAULT_MAX_BYTES)).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// A per-thread pool of reusable values of type `T`; see the
/// [module documentation](super).
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
    slots: OwnedTable<Kept<T>>,
    max_buffers: usize,
    pub(super) max_bytes: usize,
}

/// A thread's state in a pool: the buffers it keeps for reuse.
struct Kept<T> {
    /// Only the slot's owner touches it, and never while user code runs (see
    /// the `Sync` impl).
    free: UnsafeCell<Free<T>>,
}

impl<T> Default for Kept<T> {
    fn default() -> Kept<T> {
        Kept {
            free: UnsafeCell::new(Free::new()),
        }
    }
}

impl<T> SlotState for Kept<T> {
    type Leftover = Free<T>;

    /// Takes out the exiting owner's buffers, to be freed.
    fn on_exit(&self) -> Free<T> {
        // SAFETY: exit hooks run on the slot's owner, never inside a pool
        // operation, and `take` runs no user code.
        unsafe { self.with_free(Free::take) }
    }
}

/// A thread's kept buffers: one inline in its slot, where the common
/// (not nested) case finds it without another pointer to follow, and the rest
/// in a vector.
struct Free<T> {
    hot: Option<T>,
    rest: Vec<T>,
}

impl<T> Default for Free<T> {
    fn default() -> Free<T> {
        Free::new()
    }
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
        mem::take(self)
    }

    fn into_values(self) -> impl Iterator<Item = T> {
        self.hot.into_iter().chain(self.rest)
    }
}

// SAFETY: `free` is touched only by the slot's owner (see
// `crate::thread::owned`: a slot changes owner only after the previous one
// has exited, through the index allocator's lock), by the owner's exit hook
// (which runs on the owner), and by `ScratchPool`'s drop, which has
// exclusive access. Values of `T` move between threads in that last case and
// on a take-over, hence `T: Send`.
unsafe impl<T: Send> Sync for Kept<T> {}

impl<T> Kept<T> {
    /// Runs `f` on the free list.
    ///
    /// # Safety
    ///
    /// The calling thread must own the slot (or be the owner running its exit
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
            slots: OwnedTable::new(),
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

    /// The calling thread's buffers, if the thread is live and owns a slot
    /// here.
    #[inline]
    fn own_slot(&self) -> Option<&Kept<T>> {
        self.slots.get()
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
    /// let mut lines = LINES.buffer();
    /// lines.push("first".to_owned());
    /// let mut other = LINES.buffer(); // a second buffer, not a panic
    /// assert!(other.is_empty());
    /// other.push("second".to_owned());
    /// ```
    #[inline]
    pub fn buffer(&self) -> Scratch<'_, T> {
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
        match self.slots.get_slot() {
            Some(slot) => {
                // SAFETY: `get_slot` returns a slot the calling thread owns,
                // and `pop` runs no user code.
                let value = unsafe { slot.state().with_free(Free::pop) };
                Lease::new(self, value.unwrap_or_default(), Some(slot))
            }
            None => self.lease_slow(),
        }
    }

    #[cold]
    fn lease_slow(&self) -> Lease<'_, T> {
        // SAFETY: the claiming thread owns the slot now, and `take` runs no
        // user code. What it takes is what a previous owner left if its exit
        // hook never ran (the hook empties the free list).
        let (slot, stale) = self
            .slots
            .claim(|kept, _| unsafe { kept.with_free(Free::take) });
        drop(stale);
        match slot {
            Some(slot) => {
                // SAFETY: the calling thread owns `slot`, and `pop` runs no
                // user code.
                let value = unsafe { slot.state().with_free(Free::pop) };
                Lease::new(self, value.unwrap_or_default(), Some(slot))
            }
            // No slot: the thread is exiting. A temporary buffer, dropped
            // when given back.
            None => Lease::new(self, T::default(), None),
        }
    }
}

impl<T: Reuse> ScratchPool<T> {
    /// Resets `value` and keeps it in `slot` if the limits allow; drops it
    /// otherwise.
    ///
    /// # Safety
    ///
    /// The calling thread must own `slot` (see [`Kept::with_free`]).
    #[inline(always)]
    unsafe fn put_back(&self, slot: &Kept<T>, mut value: T) {
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
    pub(super) fn shrink_in_place(&self, value: &mut T) {
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
        // phase: dropped after the crate's teardown for the thread (from a
        // later key destructor, say), it is dropped once the thread's index
        // may belong to another thread. Give the buffer back only if this thread still owns
        // the slot; otherwise the lease drops it.
        if self
            .lease
            .home
            .is_some_and(|home| !home.is_owned_by_caller())
        {
            self.lease.home = None;
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
    home: Option<&'a Slot<Kept<T>>>,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: Reuse> Lease<'a, T> {
    #[inline]
    fn new(pool: &'a ScratchPool<T>, value: T, home: Option<&'a Slot<Kept<T>>>) -> Lease<'a, T> {
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
            unsafe { self.pool.put_back(slot.state(), value) };
        }
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
