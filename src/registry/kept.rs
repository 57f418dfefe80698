//! [`PerThread`]: the registry that keeps every thread's value until its
//! owner clears it; see the [module documentation](super).

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use super::iter::{IntoIter, Iter, IterMut, Shares};
use super::list::{KeptNode, Nodes, ValueStack};
use crate::thread::exit::{self, Registration};
use crate::thread::id as thread_id;
use crate::thread::record::ThreadRecord;
use crate::thread::table::Table;

/// A value per thread, created on first use, that the owner can iterate.
///
/// See the [module documentation](super) for the rules it keeps.
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
    slots: Table<ValueStack<T>>,
    /// Values created by threads that had already begun to exit, and so held
    /// no index.
    orphans: ValueStack<T>,
}

// SAFETY: moving the registry moves every value to the new thread, so `T`
// must be `Send`; nothing else in it is tied to a thread.
unsafe impl<T: Send> Send for PerThread<T> {}

// SAFETY: through `&PerThread`, a thread reaches a value mutably only if it
// created it (`get` checks the key, which no other thread has), and reaches
// other threads' values only through `iter`/`per_thread`, which require
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
            orphans: ValueStack::new(),
        }
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
    /// [module documentation](super#the-rules): the first value to be stored
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
        let node = slot.push(KeptNode::new(key, owner, value));
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
        Iter::new(self.nodes())
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
    /// let share = jobs.per_thread().next().unwrap();
    /// assert_eq!(share.thread_name(), Some("loader"));
    /// assert_eq!(share.into_value(), &"load");
    /// ```
    pub fn per_thread(&self) -> Shares<'_, T>
    where
        T: Sync,
    {
        Shares::new(self.nodes())
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
        IterMut::new(self.nodes())
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
        Nodes::new(self.slots.iter(), &self.orphans)
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
            // SAFETY: the registry is consumed, so nothing else refers to
            // its nodes.
            values.extend(unsafe { slot.take_all() }.map(|node| node.value));
        }
        IntoIter::new(values)
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
