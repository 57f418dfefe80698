//! [`ThreadShare`]: one thread's share in a report, the type every block's
//! per-thread report is made of. In the thread layer, beside the record it
//! reads, so that the blocks and the owned-slot protocol report through it
//! without importing a block.

use std::fmt;
use std::sync::Arc;
use std::thread::ThreadId;

use super::record::ThreadRecord;

/// One thread's share in a report, and the thread it belongs to.
///
/// Every per-thread report of the crate, each block's `per_thread()`, is a
/// list of these: [`PerThread::per_thread`](crate::PerThread::per_thread)
/// yields `ThreadShare<&T>`, [`Counter::per_thread`](crate::Counter::per_thread)
/// returns `ThreadShare<u64>`, [`Histogram::per_thread`](crate::Histogram::per_thread)
/// `ThreadShare<Snapshot>`, [`LocalCache::per_thread`](crate::LocalCache::per_thread)
/// `ThreadShare<Stats>`. Blocks that reuse an exited thread's slot report
/// what such threads left in one share that belongs to no thread
/// ([`thread_id`](ThreadShare::thread_id) is `None`).
///
/// # Examples
///
/// ```
/// use threadkit::PerThread;
///
/// let values = PerThread::new();
/// let worker = std::thread::Builder::new().name("worker".into());
/// std::thread::scope(|s| {
///     worker.spawn_scoped(s, || values.get_or(|| 42)).unwrap();
/// });
/// let share = values.per_thread().next().unwrap();
/// assert_eq!((**share.value(), share.thread_name()), (42, Some("worker")));
/// assert_ne!(share.thread_id(), Some(std::thread::current().id()));
/// ```
#[derive(Clone)]
pub struct ThreadShare<V> {
    owner: Option<Arc<ThreadRecord>>,
    value: V,
}

impl<V> ThreadShare<V> {
    pub(crate) fn new(owner: Option<Arc<ThreadRecord>>, value: V) -> ThreadShare<V> {
        ThreadShare { owner, value }
    }

    /// The thread this share belongs to; `None` for what exited threads
    /// left in slots that other threads have since taken, and for a thread
    /// first met after std had dropped its thread handle (from a C library's
    /// `pthread_key_create` destructor that ran after std's thread cleanup).
    pub fn thread_id(&self) -> Option<ThreadId> {
        self.owner.as_ref().and_then(|owner| owner.id())
    }

    /// The thread's name, if it has one.
    pub fn thread_name(&self) -> Option<&str> {
        self.owner.as_ref().and_then(|owner| owner.name())
    }

    /// Whether the crate's teardown for the thread has begun (see
    /// [Thread exit](crate#thread-exit)); `true` for a share that belongs to
    /// no thread.
    pub fn has_exited(&self) -> bool {
        self.owner.as_ref().is_none_or(|owner| owner.has_exited())
    }

    /// The thread's share.
    pub fn value(&self) -> &V {
        &self.value
    }

    /// The thread's share, by value.
    pub fn into_value(self) -> V {
        self.value
    }

    /// The same thread's share, as `f` makes it of this one.
    pub(crate) fn map<W>(self, f: impl FnOnce(V) -> W) -> ThreadShare<W> {
        ThreadShare {
            owner: self.owner,
            value: f(self.value),
        }
    }
}

/// What a per-thread report is made of: each owner's part of a slot, and
/// the parts that belong to no thread, merged into one share.
pub(crate) trait Part {
    /// Adds `other` in.
    fn merge(&mut self, other: Self);
    /// Whether it holds nothing (an unattributed share that is nothing is
    /// left out of a report).
    fn is_nothing(&self) -> bool;
}

impl Part for u64 {
    fn merge(&mut self, other: u64) {
        *self = self.wrapping_add(other);
    }

    fn is_nothing(&self) -> bool {
        *self == 0
    }
}

impl<V: fmt::Debug> fmt::Debug for ThreadShare<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadShare")
            .field("thread_id", &self.thread_id())
            .field("thread_name", &self.thread_name())
            .field("has_exited", &self.has_exited())
            .field("value", &self.value)
            .finish()
    }
}
