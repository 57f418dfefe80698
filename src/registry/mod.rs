//! [`PerThread<T>`]: a value per thread, which the owner can iterate; and
//! [`PerLiveThread<T>`], whose values go with their threads.
//!
//! Each thread that calls [`PerThread::get_or`] gets its own `T`, created on
//! first use; whoever holds the `PerThread` can visit every thread's value,
//! learn which thread created it, and whether that thread has exited.
//!
//! # The rules
//!
//! - **A thread sees only its own value.** [`get`](PerThread::get) never
//!   returns another thread's value.
//! - **No value is lost when its thread exits.** Iteration still yields it,
//!   with [`ThreadShare::has_exited`] set, until the owner calls
//!   [`clear`](PerThread::clear), consumes the registry, or drops it.
//! - **No thread inherits an exited thread's value.** A thread that starts
//!   after another has exited gets a fresh value from its own initialiser,
//!   even when the operating system and the crate give it the same slot. (The
//!   `thread_local` crate hands the old value to the new thread instead.)
//! - **Every value is dropped exactly once**: by `clear`, by `Drop`, or by the
//!   consumer of [`into_iter`](IntoIterator::into_iter). If one value's
//!   `Drop` panics, the others are dropped all the same before the panic
//!   continues (a second panic aborts), as in std's collections.
//! - **Reentrant initialisers are safe.** If the initialiser given to
//!   `get_or` itself calls `get_or` on the same registry, the inner call
//!   creates this thread's value and returns it; when the outer initialiser
//!   returns, its value is dropped and the outer call returns the inner
//!   value. A thread never has two values.
//! - **Thread exit is a normal case.** `get` and `get_or` work while the
//!   thread exits, before or after the crate's teardown for it (see
//!   [Thread exit](crate#thread-exit)): a thread
//!   still sees the value it created while running, and a value first created
//!   during teardown is kept like any other (its entry reports
//!   `has_exited() == true`, on Linux also when the thread's first use of
//!   the crate is a C library's `pthread_key_create` destructor). Nothing
//!   panics.
//!
//! # Memory
//!
//! A `PerThread` keeps one value for every thread that ever called `get_or`
//! on it, because it promises not to lose any. With a thread pool that is one
//! value per pool thread; with a thread per connection it grows until the
//! owner calls `clear`. [`Counter`](crate::Counter) is built differently for
//! that reason: it folds an exited thread's count into the next thread that
//! takes its slot, so it stays as small as the largest number of threads
//! alive at once. When a thread's value should go with the thread
//! (connections, large buffers), use [`PerLiveThread`] instead: it drops
//! each value on its own thread as the thread exits, and hands out values
//! inside closures and readings, since no reference may outlive that drop.
//!
//! Values live in separate heap allocations, but small ones written often by
//! their threads can still share a cache line; wrap them in
//! [`crossbeam_utils::CachePadded`] to rule that out.
//!
//! # Why not `thread_local::ThreadLocal` directly
//!
//! `PerThread` has the same layout as `thread_local`'s `ThreadLocal` (a
//! bucketed table indexed by a recycled thread index; the benchmarks compare
//! the two) and adds attribution and the rules above. It keeps its own thread
//! index because `ThreadLocal::get_or`, called from a thread-local destructor
//! that runs after `thread_local`'s own, aborts the process ("cannot access a
//! Thread Local Storage value during or after destruction", a panic in a
//! destructor); and `ThreadLocal::get` returns `None` there for a value the
//! thread did create.
//!
//! # Examples
//!
//! ```
//! use std::cell::Cell;
//! use threadkit::PerThread;
//!
//! let hits: PerThread<Cell<u64>> = PerThread::new();
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| {
//!             for _ in 0..100 {
//!                 let hits = hits.get_or_default();
//!                 hits.set(hits.get() + 1);
//!             }
//!         });
//!     }
//! });
//! // Cell is not Sync, so read the values with exclusive access.
//! let mut hits = hits;
//! let total: u64 = hits.iter_mut().map(|c| c.get()).sum();
//! assert_eq!(total, 400);
//! ```

mod live;
mod retire;

pub use crate::thread::share::ThreadShare;
pub use live::{PerLiveThread, Reading};

use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::sync::{AtomicPtr, Ordering};
use crate::thread::exit::{self, Registration};
use crate::thread::id as thread_id;
use crate::thread::record::ThreadRecord;
use crate::thread::table::{self, Table};

/// A value per thread, created on first use, that the owner can iterate.
///
/// See the [module documentation](self) for the rules it keeps.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use threadkit::PerThread;
///
/// static SEEN: PerThread<AtomicUsize> = PerThread::new();
///
/// std::thread::scope(|s| {
///     for n in 1..=3 {
///         s.spawn(move || SEEN.get_or_default().fetch_add(n, Ordering::Relaxed));
///     }
/// });
/// let mut seen: Vec<usize> = SEEN.iter().map(|v| v.load(Ordering::Relaxed)).collect();
/// seen.sort();
/// assert_eq!(seen, [1, 2, 3]);
/// ```
pub struct PerThread<T: Send> {
    /// One slot per thread index; each holds the values of every thread that
    /// has held that index, newest first.
    slots: Table<Stack<T>>,
    /// Values created by threads that had already begun to exit, and so held
    /// no index.
    orphans: Stack<T>,
}

// SAFETY: moving the registry moves every value to the new thread, so `T`
// must be `Send`; nothing else in it is tied to a thread.
unsafe impl<T: Send> Send for PerThread<T> {}

// SAFETY: through `&PerThread`, a thread reaches a value mutably only if it
// created it (`get` checks the key, which no other thread has), and reaches
// other threads' values only through `iter`/`iter_entries`, which require
// `T: Sync`. Creating and dropping values elsewhere needs `T: Send`.
unsafe impl<T: Send> Sync for PerThread<T> {}

// A panic in an initialiser leaves the registry as it was (nothing is
// stored), and the crate's own locks are never held across user code.
impl<T: Send + RefUnwindSafe> RefUnwindSafe for PerThread<T> {}
impl<T: Send + UnwindSafe> UnwindSafe for PerThread<T> {}

impl<T: Send> PerThread<T> {
    /// Creates an empty registry. `const`, so it can initialise a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// static BUFFERS: PerThread<Vec<u8>> = PerThread::new();
    /// assert!(BUFFERS.get().is_none());
    /// ```
    #[must_use]
    pub const fn new() -> PerThread<T> {
        PerThread {
            slots: Table::new(),
            orphans: Stack::new(),
        }
    }

    /// Creates an empty [`PerLiveThread`]: the other policy, where each
    /// thread's value is dropped on that thread when it exits (so memory
    /// follows the threads alive), and values are reached inside closures.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::registry::PerLiveThread;
    /// use threadkit::PerThread;
    ///
    /// static CONNECTIONS: PerLiveThread<Vec<u8>> = PerThread::dropped_at_exit();
    /// std::thread::spawn(|| CONNECTIONS.with_or(|| vec![0; 4096], |c| c.len()))
    ///     .join()
    ///     .unwrap();
    /// assert!(CONNECTIONS.is_empty());
    /// ```
    #[must_use]
    pub const fn dropped_at_exit() -> PerLiveThread<T> {
        PerLiveThread::new()
    }

    /// Returns the calling thread's value, if it has one.
    ///
    /// Never creates a value and never registers anything with the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let ids = PerThread::new();
    /// assert_eq!(ids.get(), None);
    /// ids.get_or(|| 7);
    /// assert_eq!(ids.get(), Some(&7));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert_eq!(ids.get(), None));
    /// });
    /// ```
    #[inline]
    pub fn get(&self) -> Option<&T> {
        match thread_id::current() {
            Some(thread) => {
                // A live thread's value, if any, is the newest in its slot:
                // only the thread holding an index pushes to that slot.
                let node = self.slots.get(thread)?.head()?;
                (node.key == thread.key).then_some(&node.value)
            }
            None => self.get_exiting(),
        }
    }

    /// The lookup for a thread that is fresh or exiting: search by key where
    /// the thread lived, then among the orphans.
    #[cold]
    fn get_exiting(&self) -> Option<&T> {
        let (key, last) = thread_id::exiting()?;
        last.and_then(|thread| self.slots.get(thread))
            .and_then(|slot| slot.find(key))
            .or_else(|| self.orphans.find(key))
            .map(|node| &node.value)
    }

    /// Returns the calling thread's value, creating it with `create` if the
    /// thread has none.
    ///
    /// If `create` reenters `get_or` on this registry, see the
    /// [module documentation](self#the-rules): the first value to be stored
    /// is kept and the other is dropped.
    ///
    /// # Panics
    ///
    /// If `create` panics, the panic propagates and no value is stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let names = PerThread::new();
    /// let name = names.get_or(|| format!("{:?}", std::thread::current().id()));
    /// assert!(name.starts_with("ThreadId"));
    /// ```
    #[inline]
    pub fn get_or<F>(&self, create: F) -> &T
    where
        F: FnOnce() -> T,
    {
        match self.get_or_try(|| Ok::<T, std::convert::Infallible>(create())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Returns the calling thread's value, creating it with `create` if the
    /// thread has none; if `create` fails, returns its error and stores
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let parsed: PerThread<u32> = PerThread::new();
    /// assert!(parsed.get_or_try(|| "x".parse::<u32>()).is_err());
    /// assert_eq!(parsed.get(), None);
    /// assert_eq!(parsed.get_or_try(|| "42".parse::<u32>()), Ok(&42));
    /// ```
    #[inline]
    pub fn get_or_try<F, E>(&self, create: F) -> Result<&T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        match self.get() {
            Some(value) => Ok(value),
            None => self.insert(create),
        }
    }

    #[cold]
    fn insert<F, E>(&self, create: F) -> Result<&T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        let value = create()?;
        if let Some(existing) = self.get() {
            // `create` stored a value for this thread through a reentrant
            // call: that one stays, so the thread keeps a single value.
            drop(value);
            return Ok(existing);
        }
        let (slot, key, owner) = match exit::register() {
            Registration::Live(thread, record) => {
                (self.slots.get_or_alloc(thread), thread.key, record)
            }
            Registration::Exiting { key, id } => {
                let record = ThreadRecord::exiting(key, id);
                (&self.orphans, key, Arc::new(record))
            }
        };
        let node = slot.push(Box::new(Node {
            key,
            owner,
            next: ptr::null_mut(),
            value,
        }));
        Ok(&node.value)
    }

    /// Iterates over every thread's value, in no particular order.
    ///
    /// This is a live view: other threads may add values while it runs, and
    /// the iterator may or may not yield those. Values of exited threads are
    /// included.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use threadkit::PerThread;
    ///
    /// let bytes: PerThread<AtomicU64> = PerThread::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| bytes.get_or_default().fetch_add(10, Ordering::Relaxed));
    ///     s.spawn(|| bytes.get_or_default().fetch_add(20, Ordering::Relaxed));
    /// });
    /// let total: u64 = bytes.iter().map(|b| b.load(Ordering::Relaxed)).sum();
    /// assert_eq!(total, 30);
    /// ```
    pub fn iter(&self) -> Iter<'_, T>
    where
        T: Sync,
    {
        Iter {
            entries: self.iter_entries(),
        }
    }

    /// Iterates over every thread's value together with the thread that
    /// created it: its [`ThreadId`](std::thread::ThreadId), its name, and whether it has exited.
    ///
    /// A live view, like [`iter`](PerThread::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let jobs: PerThread<&str> = PerThread::new();
    /// std::thread::scope(|s| {
    ///     std::thread::Builder::new()
    ///         .name("loader".into())
    ///         .spawn_scoped(s, || {
    ///             jobs.get_or(|| "load");
    ///         })
    ///         .unwrap();
    /// });
    /// let share = jobs.iter_entries().next().unwrap();
    /// assert_eq!(share.thread_name(), Some("loader"));
    /// assert_eq!(share.into_value(), &"load");
    /// ```
    pub fn iter_entries(&self) -> Entries<'_, T>
    where
        T: Sync,
    {
        Entries {
            nodes: self.nodes(),
            _values: PhantomData,
        }
    }

    /// Iterates mutably over every thread's value, in no particular order.
    ///
    /// The exclusive borrow guarantees that no thread is using its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use threadkit::PerThread;
    ///
    /// let mut calls: PerThread<Cell<u32>> = PerThread::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| calls.get_or_default().set(5));
    /// });
    /// for c in calls.iter_mut() {
    ///     *c.get_mut() *= 2;
    /// }
    /// assert_eq!(calls.iter_mut().map(|c| c.get()).sum::<u32>(), 10);
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, T> {
        IterMut {
            nodes: self.nodes(),
            _values: PhantomData,
        }
    }

    /// Drops every thread's value, leaving the registry empty.
    ///
    /// Threads that call `get_or` afterwards create new values.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let mut cache: PerThread<Vec<u8>> = PerThread::new();
    /// cache.get_or(|| vec![1, 2, 3]);
    /// cache.clear();
    /// assert!(cache.is_empty());
    /// assert_eq!(cache.get(), None);
    /// ```
    pub fn clear(&mut self) {
        *self = PerThread::new();
    }

    /// The number of values stored, live and exited threads' alike.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let values = PerThread::new();
    /// values.get_or(|| 1);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| values.get_or(|| 2));
    /// });
    /// assert_eq!(values.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.nodes().count()
    }

    /// Whether no thread has a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let values: PerThread<u8> = PerThread::new();
    /// assert!(values.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes().next().is_none()
    }

    fn nodes(&self) -> Nodes<'_, T> {
        Nodes {
            slots: self.slots.iter(),
            orphans: Some(&self.orphans),
            next: ptr::null_mut(),
        }
    }
}

impl<T: Send + Default> PerThread<T> {
    /// Returns the calling thread's value, creating it with
    /// [`Default::default`] if the thread has none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use threadkit::PerThread;
    ///
    /// let log: PerThread<RefCell<Vec<String>>> = PerThread::new();
    /// log.get_or_default().borrow_mut().push("started".into());
    /// assert_eq!(log.get_or_default().borrow().len(), 1);
    /// ```
    #[inline]
    pub fn get_or_default(&self) -> &T {
        self.get_or(T::default)
    }
}

impl<T: Send> Default for PerThread<T> {
    fn default() -> PerThread<T> {
        PerThread::new()
    }
}

impl<T: Send + fmt::Debug> fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerThread")
            .field("local", &self.get())
            .field("len", &self.len())
            .finish()
    }
}

impl<T: Send> IntoIterator for PerThread<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    /// Consumes the registry, yielding every thread's value.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::PerThread;
    ///
    /// let parts = PerThread::new();
    /// std::thread::scope(|s| {
    ///     for n in 0..3 {
    ///         let parts = &parts;
    ///         s.spawn(move || parts.get_or(|| vec![n]));
    ///     }
    /// });
    /// let mut all: Vec<i32> = parts.into_iter().flatten().collect();
    /// all.sort();
    /// assert_eq!(all, [0, 1, 2]);
    /// ```
    fn into_iter(self) -> IntoIter<T> {
        let mut values = Vec::new();
        for slot in self.slots.iter().chain([&self.orphans]) {
            let head = slot.head.swap(ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: the registry is consumed, so nothing else refers to the
            // nodes, and the slot no longer points to them.
            let chain = unsafe { Owned::new(head) };
            values.extend(chain.map(|node| node.value));
        }
        IntoIter {
            values: values.into_iter(),
        }
    }
}

impl<'a, T: Send + Sync> IntoIterator for &'a PerThread<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Send> IntoIterator for &'a mut PerThread<T> {
    type Item = &'a mut T;
    type IntoIter = IterMut<'a, T>;

    fn into_iter(self) -> IterMut<'a, T> {
        self.iter_mut()
    }
}

/// Iterator over every thread's value; see [`PerThread::iter`].
pub struct Iter<'a, T> {
    entries: Entries<'a, T>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.entries.nodes.next().map(|node| {
            // SAFETY: as in `Entries::next`.
            unsafe { &node.as_ref().value }
        })
    }
}

impl<T> FusedIterator for Iter<'_, T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// Iterator over every thread's value and its thread, as
/// [`ThreadShare`]s; see
/// [`PerThread::iter_entries`].
pub struct Entries<'a, T> {
    nodes: Nodes<'a, T>,
    /// Yields `&T` to any thread: `Send`/`Sync` only where `&T` is.
    _values: PhantomData<&'a T>,
}

impl<'a, T> Iterator for Entries<'a, T> {
    type Item = ThreadShare<&'a T>;

    fn next(&mut self) -> Option<ThreadShare<&'a T>> {
        self.nodes.next().map(|node| {
            // SAFETY: the registry is borrowed for 'a, so its nodes live that
            // long, and `iter_entries` requires `T: Sync` for shared access
            // to other threads' values.
            let node = unsafe { node.as_ref() };
            ThreadShare::new(Some(Arc::clone(&node.owner)), &node.value)
        })
    }
}

impl<T> FusedIterator for Entries<'_, T> {}

impl<T> fmt::Debug for Entries<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries").finish_non_exhaustive()
    }
}

/// Mutable iterator over every thread's value; see [`PerThread::iter_mut`].
pub struct IterMut<'a, T> {
    nodes: Nodes<'a, T>,
    _values: PhantomData<&'a mut T>,
}

impl<'a, T> Iterator for IterMut<'a, T> {
    type Item = &'a mut T;

    fn next(&mut self) -> Option<&'a mut T> {
        // SAFETY: `iter_mut` borrows the registry exclusively for 'a, each
        // node is yielded once, and node pointers carry the provenance of
        // their `Box`, so no other reference to this value exists.
        self.nodes
            .next()
            .map(|mut node| unsafe { &mut node.as_mut().value })
    }
}

impl<T> FusedIterator for IterMut<'_, T> {}

impl<T> fmt::Debug for IterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut").finish_non_exhaustive()
    }
}

/// Owning iterator over every thread's value; see [`PerThread::into_iter`].
#[derive(Debug)]
pub struct IntoIter<T> {
    values: std::vec::IntoIter<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.values.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}

impl<T> FusedIterator for IntoIter<T> {}

/// A value, its owner, and the value pushed before it on the same slot.
struct Node<T> {
    key: u64,
    owner: Arc<ThreadRecord>,
    /// Set once, before the node is published, and never changed.
    next: *mut Node<T>,
    value: T,
}

/// A push-only stack of nodes: the values of every thread that has held one
/// thread index (or, for `orphans`, of exiting threads).
struct Stack<T> {
    head: AtomicPtr<Node<T>>,
    _owns: PhantomData<Box<Node<T>>>,
}

impl<T> Stack<T> {
    const fn new() -> Stack<T> {
        Stack {
            head: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The newest node.
    #[inline]
    fn head(&self) -> Option<&Node<T>> {
        // SAFETY: a non-null head was published by `push` (the Acquire pairs
        // with its Release) and nodes are freed only with `&mut` access to
        // the slot, so the node lives as long as `&self`.
        unsafe { self.head.load(Ordering::Acquire).as_ref() }
    }

    /// The node of the thread with `key`, if it has one here.
    fn find(&self, key: u64) -> Option<&Node<T>> {
        let mut node = self.head();
        while let Some(n) = node {
            if n.key == key {
                return Some(n);
            }
            // SAFETY: `next` was set before `n` was published and points to
            // an older node of this slot, which lives as long as the slot.
            node = unsafe { n.next.as_ref() };
        }
        None
    }

    /// Publishes `node` as the newest and returns it.
    fn push(&self, node: Box<Node<T>>) -> &Node<T> {
        let node = Box::into_raw(node);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is not yet published, so this thread is its only
            // user.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(newer) => head = newer,
            }
        }
        // SAFETY: published and never freed while the slot is borrowed.
        unsafe { &*node }
    }
}

impl<T> Default for Stack<T> {
    fn default() -> Stack<T> {
        Stack::new()
    }
}

impl<T> Drop for Stack<T> {
    fn drop(&mut self) {
        // SAFETY: with `&mut self`, no reference to the chain is left.
        let chain = unsafe { Owned::new(*self.head.get_mut()) };
        // A value's `Drop` may panic: the rest of the chain is dropped all
        // the same.
        crate::unwind::for_each(chain, drop);
    }
}

/// Takes ownership of a chain of nodes, oldest last, yielding each once.
struct Owned<T> {
    next: *mut Node<T>,
}

impl<T> Owned<T> {
    /// # Safety
    ///
    /// `head` starts a chain of nodes leaked by `Stack::push` (or is null)
    /// that nothing else refers to or will free.
    unsafe fn new(head: *mut Node<T>) -> Owned<T> {
        Owned { next: head }
    }
}

impl<T> Iterator for Owned<T> {
    type Item = Box<Node<T>>;

    fn next(&mut self) -> Option<Box<Node<T>>> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: `new`'s contract; each node is taken once, and `next` is
        // read before the node can be dropped.
        let node = unsafe { Box::from_raw(self.next) };
        self.next = node.next;
        Some(node)
    }
}

/// Walks every node of a registry: each table slot's chain, then the orphans.
struct Nodes<'a, T> {
    slots: table::Iter<'a, Stack<T>>,
    orphans: Option<&'a Stack<T>>,
    next: *mut Node<T>,
}

impl<'a, T> Iterator for Nodes<'a, T> {
    type Item = NonNull<Node<T>>;

    fn next(&mut self) -> Option<NonNull<Node<T>>> {
        while self.next.is_null() {
            let slot = self.slots.next().or_else(|| self.orphans.take())?;
            self.next = slot.head.load(Ordering::Acquire);
        }
        let node = NonNull::new(self.next)?;
        // SAFETY: `node` was published by `push` and lives as long as the
        // registry's borrow; `next` is immutable once published.
        self.next = unsafe { node.as_ref().next };
        Some(node)
    }
}
