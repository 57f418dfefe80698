//! [`PerLiveThread<T>`]: a value per thread, dropped on its own thread when
//! that thread exits.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::NonNull;

use super::retire::{LiveNode, Values};
use crate::thread::owned::OwnedTable;
use crate::thread::share::ThreadShare;

/// A value per live thread, created on first use and dropped on its own
/// thread when that thread exits; the owner can read every live thread's
/// value.
///
/// [`PerThread`](super::PerThread) keeps an exited thread's value until the
/// owner clears it, so that nothing is lost. `PerLiveThread` is for values
/// that should go with their thread: per-thread connections, large buffers,
/// anything a thread pool would otherwise hoard. Its memory follows the
/// threads alive: an exited thread's slot is reused by the next thread.
///
/// # How it differs from `PerThread`
///
/// - A thread reaches its value inside a closure ([`with`](Self::with),
///   [`with_or`](Self::with_or)), not as a `&T` that outlives the call: the
///   thread's exit drops the value, so no reference may survive that long.
/// - Other threads read through a [`Reading`] ([`read`](Self::read)), whose
///   references end with it. If a thread exits while a reading holds its
///   value, the value is dropped after the reading ends instead of at the
///   exit: by that slot's next owner (when it first uses the registry or
///   exits), or with the registry. Keep readings short.
/// - A thread that uses the registry after the crate's teardown for it (see
///   [Thread exit](crate#thread-exit)) gets a temporary value, dropped when
///   its closure returns.
/// - A value dropped at its thread's exit runs its `Drop` during the
///   thread's teardown, as a `thread_local!` value would: a panic there
///   aborts the process. On Linux that is after the thread's
///   `thread_local!` destructors: use `try_with` on thread-locals there.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use threadkit::registry::PerLiveThread;
///
/// static DROPPED: AtomicUsize = AtomicUsize::new(0);
///
/// struct Connection(u32);
/// impl Drop for Connection {
///     fn drop(&mut self) {
///         DROPPED.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let connections = PerLiveThread::new();
/// std::thread::scope(|s| {
///     let threads: Vec<_> = (0..4)
///         .map(|n| {
///             let connections = &connections;
///             s.spawn(move || connections.with_or(|| Connection(n), |c| assert_eq!(c.0, n)))
///         })
///         .collect();
///     // `join` waits for the thread's exit (a scope's end does not wait
///     // for its thread-local destructors).
///     threads.into_iter().for_each(|t| t.join().unwrap());
/// });
/// // Each thread's connection was dropped as the thread exited.
/// assert_eq!(DROPPED.load(Ordering::Relaxed), 4);
/// assert!(connections.read().is_empty());
/// ```
pub struct PerLiveThread<T: Send> {
    slots: OwnedTable<Values<T>>,
    /// Owns `T`s, which it may drop on any thread.
    _values: PhantomData<Box<T>>,
}

// SAFETY: moving the registry moves every value to the new thread (and
// values may be dropped on other threads than their own), so `T: Send`.
unsafe impl<T: Send> Send for PerLiveThread<T> {}

// SAFETY: through `&PerLiveThread` a thread reaches only its own value
// (`with`), or other threads' values through a `Reading`, which requires
// `T: Sync`. Values are dropped on other threads than their own only with
// `T: Send`.
unsafe impl<T: Send> Sync for PerLiveThread<T> {}

// A panic in an initialiser leaves the registry as it was, and no lock is
// held across user code.
impl<T: Send + RefUnwindSafe> RefUnwindSafe for PerLiveThread<T> {}
impl<T: Send + UnwindSafe> UnwindSafe for PerLiveThread<T> {}

impl<T: Send> PerLiveThread<T> {
    /// Creates an empty registry. `const`, so it can initialise a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    ///
    /// static BUFFERS: PerLiveThread<Vec<u8>> = PerLiveThread::new();
    /// assert!(BUFFERS.with(|b| b.is_none()));
    /// ```
    #[must_use]
    pub const fn new() -> PerLiveThread<T> {
        PerLiveThread {
            slots: OwnedTable::new(),
            _values: PhantomData,
        }
    }

    /// Calls `f` with the calling thread's value, if it has one.
    ///
    /// Never creates a value and never registers anything with the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let ids = PerLiveThread::new();
    /// assert_eq!(ids.with(|id| id.copied()), None);
    /// ids.with_or(|| 7, |_| ());
    /// assert_eq!(ids.with(|id| id.copied()), Some(7));
    /// ```
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        f(self.own().map(|node| &node.value))
    }

    /// Calls `f` with the calling thread's value, creating it with `create`
    /// first if the thread has none.
    ///
    /// If `create` reenters `with_or` on this registry, the value the inner
    /// call creates is kept and the outer one is dropped: a thread never has
    /// two values. A thread that has begun to exit (its crate-side teardown
    /// done) gets a temporary value, dropped when `f` returns.
    ///
    /// # Panics
    ///
    /// If `create` panics, the panic propagates and no value is stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let scratch: PerLiveThread<std::cell::RefCell<String>> = PerLiveThread::new();
    /// let len = scratch.with_or(Default::default, |s| {
    ///     let mut s = s.borrow_mut();
    ///     s.clear();
    ///     s.push_str("hello");
    ///     s.len()
    /// });
    /// assert_eq!(len, 5);
    /// ```
    #[inline]
    pub fn with_or<R>(&self, create: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
        match self.own() {
            Some(node) => f(&node.value),
            None => self.with_new(create, f),
        }
    }

    /// [`with_or`](Self::with_or) with [`Default::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let calls: PerLiveThread<Cell<u32>> = PerLiveThread::new();
    /// calls.with_or_default(|c| c.set(c.get() + 1));
    /// assert_eq!(calls.with_or_default(|c| c.get()), 1);
    /// ```
    #[inline]
    pub fn with_or_default<R>(&self, f: impl FnOnce(&T) -> R) -> R
    where
        T: Default,
    {
        self.with_or(T::default, f)
    }

    /// The calling thread's node, if it is live and has one.
    #[inline]
    fn own(&self) -> Option<&LiveNode<T>> {
        self.slots.get().and_then(Values::own)
    }

    #[cold]
    fn with_new<R>(&self, create: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
        // Claiming frees what an earlier owner of the slot left, if no
        // reading holds it; dropped here, with no lock held.
        let (slot, leftover) = self.slots.claim(|values, _| values.retire());
        drop(leftover);
        let value = create();
        let Some(slot) = slot else {
            // Exiting: no slot to keep it in.
            return f(&value);
        };
        if let Some(node) = slot.state().own() {
            // `create` made this thread's value through a reentrant call.
            drop(value);
            return f(&node.value);
        }
        let owner = slot
            .with_owner(|_, owner| owner.cloned())
            .expect("a claimed slot has its owner");
        let node = slot.state().publish(LiveNode::new(value, owner));
        f(&node.value)
    }

    /// Starts a reading of every live thread's value. Threads may exit
    /// meanwhile: the values this reading holds stay valid until it is
    /// dropped (see the [type documentation](Self) for when they are
    /// dropped then). Values created after the reading began are not in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Barrier;
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let served: PerLiveThread<AtomicU64> = PerLiveThread::new();
    /// let (ready, done) = (Barrier::new(3), Barrier::new(3));
    /// std::thread::scope(|s| {
    ///     for n in 1..=2 {
    ///         let (served, ready, done) = (&served, &ready, &done);
    ///         s.spawn(move || {
    ///             served.with_or_default(|c| c.fetch_add(n, Ordering::Relaxed));
    ///             ready.wait();
    ///             done.wait(); // stay alive while the owner reads
    ///         });
    ///     }
    ///     ready.wait();
    ///     let reading = served.read();
    ///     let total: u64 = reading.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    ///     assert_eq!((reading.len(), total), (2, 3));
    ///     drop(reading);
    ///     done.wait();
    /// });
    /// ```
    pub fn read(&self) -> Reading<'_, T>
    where
        T: Sync,
    {
        let pinned = self
            .slots
            .slots()
            .filter_map(|slot| {
                let values = slot.state();
                values.pin().map(|node| (values, node))
            })
            .collect();
        Reading { pinned }
    }

    /// The number of live threads with a value, at one moment during the
    /// call.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let values = PerLiveThread::new();
    /// values.with_or(|| 1, |_| ());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| values.with_or(|| 2, |_| ())).join().unwrap();
    /// });
    /// // The spawned thread's value went with it.
    /// assert_eq!(values.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.slots
            .slots()
            .filter(|slot| slot.state().is_set())
            .count()
    }

    /// Whether no live thread has a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let values: PerLiveThread<u8> = PerLiveThread::new();
    /// assert!(values.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every thread's value now, on the calling thread. Threads that
    /// use the registry afterwards create new values.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    ///
    /// let mut values = PerLiveThread::new();
    /// values.with_or(|| vec![0_u8; 1024], |_| ());
    /// values.clear();
    /// assert!(values.is_empty());
    /// assert_eq!(values.with_or(Vec::new, |v| v.len()), 0);
    /// ```
    pub fn clear(&mut self) {
        let all = self.slots.slots().map(|slot| {
            // The owner's exit hook is taken back (waiting for it if it runs
            // now), so nothing else touches the slot's nodes.
            slot.disown();
            // SAFETY: `&mut self`: no reading or `with` call is in progress;
            // and the slot has no owner now.
            unsafe { slot.state().take_all() }
        });
        crate::unwind::for_each(all, drop);
    }
}

impl<T: Send> Default for PerLiveThread<T> {
    fn default() -> PerLiveThread<T> {
        PerLiveThread::new()
    }
}

impl<T: Send> fmt::Debug for PerLiveThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerLiveThread")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// A reading of every live thread's value; see [`PerLiveThread::read`].
///
/// The values it yields stay valid while it lives, even if their threads
/// exit; drop it soon, as exited threads' values wait for it.
pub struct Reading<'a, T> {
    pinned: Vec<(&'a Values<T>, NonNull<LiveNode<T>>)>,
}

impl<T> Reading<'_, T> {
    /// Every value in the reading, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.nodes().map(|node| &node.value)
    }

    /// Every value in the reading with the thread that made it (its
    /// [`ThreadId`](std::thread::ThreadId), name, and whether it has begun to
    /// exit).
    pub fn per_thread(&self) -> impl ExactSizeIterator<Item = ThreadShare<&T>> + '_ {
        self.nodes()
            .map(|node| ThreadShare::new(Some(node.owner.clone()), &node.value))
    }

    /// The number of values in the reading.
    pub fn len(&self) -> usize {
        self.pinned.len()
    }

    /// Whether the reading has no value.
    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty()
    }

    fn nodes(&self) -> impl ExactSizeIterator<Item = &LiveNode<T>> + '_ {
        self.pinned.iter().map(|(_, node)| {
            // SAFETY: pinned by `read` and unpinned only by `drop`, so the
            // node lives as long as `&self`; `read` required `T: Sync` to
            // share it with this thread.
            unsafe { node.as_ref() }
        })
    }
}

impl<T> Drop for Reading<'_, T> {
    fn drop(&mut self) {
        for (values, _) in &self.pinned {
            values.unpin();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Reading<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
