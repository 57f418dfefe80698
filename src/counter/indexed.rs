//! [`Counter`]: a slot per thread in a table, found through the crate's
//! thread index on every add; see the [module documentation](super).

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use super::tally::{self, Tally};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crate::thread::owned::{OwnedTable, SlotState};
use crate::thread::share::ThreadShare;

/// A counter that threads add to without contention; see the
/// [module documentation](super).
///
/// Usable as a `static`, a struct field or behind an `Arc`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadkit::Counter;
///
/// let hits = Arc::new(Counter::new());
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let hits = Arc::clone(&hits);
///         std::thread::spawn(move || hits.add(10))
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(hits.sum(), 40);
/// ```
pub struct Counter {
    /// Declared first so that it is dropped first: dropping it takes back
    /// the owners' exit hooks, which write to `total`.
    slots: OwnedTable<Local>,
    /// The flushed total. It lives on the heap because exit hooks write to it
    /// without borrowing the `Counter`: a scoped thread's thread-locals can be
    /// destroyed after `thread::scope` has returned and the counter has moved.
    total: OnceLock<Box<CachePadded<AtomicU64>>>,
    /// What exiting threads added straight to the total, having no slot.
    unslotted: AtomicU64,
    batch: u64,
}

/// A thread's state in a counter: its slot's counts.
#[derive(Default)]
struct Local {
    /// Only the slot's owner writes it.
    tally: Tally,
    /// The counter's total, for the exit hook; set when the slot is claimed.
    total: AtomicPtr<AtomicU64>,
}

impl SlotState for Local {
    type Leftover = ();

    /// Flushes the exiting owner's pending amount.
    fn on_exit(&self) {
        let total = self.total.load(Ordering::Relaxed);
        // SAFETY: `claim` stored the counter's total before the owner's hook
        // was registered, and the total is freed only after the counter's
        // slots, whose drop takes the hook back.
        if let Some(total) = unsafe { total.as_ref() } {
            self.tally.flush(total);
        }
    }
}

/// The default batch: how much a thread accumulates before it flushes.
pub(super) const DEFAULT_BATCH: u64 = 1024;

impl Counter {
    /// Creates a counter at zero that flushes every 1024 units.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// static ERRORS: Counter = Counter::new();
    /// ERRORS.inc();
    /// assert_eq!(ERRORS.sum(), 1);
    /// assert_eq!(ERRORS.batch(), 1024);
    /// ```
    #[must_use]
    pub const fn new() -> Counter {
        Counter::with_batch(DEFAULT_BATCH)
    }

    /// Creates a counter at zero whose threads flush once they have
    /// accumulated `batch` units (a `batch` of 0 is taken as 1: flush on every
    /// add).
    ///
    /// A larger batch makes `add` cheaper on average and
    /// [`approx`](Counter::approx) staler: it lags [`sum`](Counter::sum) by
    /// less than `batch` per running thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// static BYTES_SENT: Counter = Counter::with_batch(64 * 1024);
    /// BYTES_SENT.add(1500);
    /// assert_eq!(BYTES_SENT.approx(), 0); // still pending in this thread
    /// BYTES_SENT.flush();
    /// assert_eq!(BYTES_SENT.approx(), 1500);
    /// ```
    #[must_use]
    pub const fn with_batch(batch: u64) -> Counter {
        Counter {
            slots: OwnedTable::new(),
            total: OnceLock::new(),
            unslotted: AtomicU64::new(0),
            batch: if batch == 0 { 1 } else { batch },
        }
    }

    /// The batch size this counter flushes at.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::Counter::with_batch(0).batch(), 1);
    /// ```
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// Adds `n` (wrapping at `u64::MAX`, like `AtomicU64::fetch_add`).
    ///
    /// The fast path writes only the calling thread's slot; every `batch`
    /// units it adds the thread's pending amount to the shared total.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// let bytes = Counter::new();
    /// bytes.add(256);
    /// bytes.add(256);
    /// assert_eq!(bytes.sum(), 512);
    /// ```
    #[inline]
    pub fn add(&self, n: u64) {
        match self.slots.get() {
            Some(local) => self.add_to(local, n),
            None => self.add_slow(n),
        }
    }

    /// Adds 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let calls = threadkit::Counter::new();
    /// calls.inc();
    /// assert_eq!(calls.sum(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n` to the calling thread's own slot.
    #[inline]
    fn add_to(&self, local: &Local, n: u64) {
        if local.tally.add(n) {
            self.settle(local);
        }
    }

    #[cold]
    fn settle(&self, local: &Local) {
        local.tally.settle(self.total(), self.batch);
    }

    #[cold]
    pub(super) fn add_slow(&self, n: u64) {
        match self.claim() {
            Some(local) => self.add_to(local, n),
            // No slot: the thread is exiting, and its index may already
            // belong to another thread.
            None => tally::add_unslotted(&self.unslotted, self.total(), n),
        }
    }

    /// The calling thread's tally, claimed if need be, for a declared
    /// counter's thread-local; `None` if the thread is exiting.
    pub(super) fn claim_tally(&self) -> Option<&Tally> {
        self.claim().map(|local| &local.tally)
    }

    /// The slow half of an add to `tally`, the calling thread's own.
    pub(super) fn settle_tally(&self, tally: &Tally) {
        tally.settle(self.total(), self.batch);
    }

    /// The calling thread's slot, claimed if need be; `None` if the thread
    /// is exiting (and so may not have one).
    fn claim(&self) -> Option<&Local> {
        let total = self.total();
        let (local, ()) = self.slots.claim(|local, previous| {
            if previous {
                // The previous owner's exit hook flushed; flushing again is
                // harmless and covers a thread whose hook never ran.
                local.tally.hand_over(total);
            }
            local
                .total
                .store(std::ptr::from_ref(total).cast_mut(), Ordering::Relaxed);
        });
        local.map(|slot| slot.state())
    }

    /// Moves the calling thread's pending amount into the shared total, so
    /// that [`approx`](Counter::approx) includes it.
    ///
    /// Other threads' pending amounts are flushed by those threads (when they
    /// reach the batch size, call `flush`, or exit).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// let sent = Counter::with_batch(100);
    /// sent.add(5);
    /// assert_eq!(sent.approx(), 0);
    /// sent.flush();
    /// assert_eq!(sent.approx(), 5);
    /// ```
    pub fn flush(&self) {
        if let Some(local) = self.slots.get() {
            local.tally.flush(self.total());
        }
    }

    /// The flushed total: one atomic load, no matter how many threads.
    ///
    /// `approx()` is never more than a [`sum`](Counter::sum) that the same
    /// thread takes after it, and trails the exact sum by less than
    /// [`batch`](Counter::batch) for each running thread that has added since
    /// its last flush (exited threads have flushed).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// let events = Counter::with_batch(10);
    /// for _ in 0..25 {
    ///     events.inc();
    /// }
    /// assert_eq!(events.approx(), 20); // two full batches flushed
    /// assert_eq!(events.sum(), 25);
    /// ```
    #[inline]
    pub fn approx(&self) -> u64 {
        self.total.get().map_or(0, |total| tally::approx(total))
    }

    /// The exact count: every `add` that completed before this call, flushed
    /// or not, from running and exited threads alike.
    ///
    /// It visits one slot per thread index (at most as many as threads were
    /// alive at once) and takes no lock. While other threads add, the result
    /// includes some of their concurrent adds; for one reader, successive
    /// results never decrease.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// static JOBS: Counter = Counter::new();
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         s.spawn(|| JOBS.add(7));
    ///     }
    /// });
    /// assert_eq!(JOBS.sum(), 21);
    /// ```
    pub fn sum(&self) -> u64 {
        let tallies = self.slots.slots().map(|slot| &slot.state().tally);
        tally::sum(&self.unslotted, tallies)
    }

    /// Each thread's share of the count, with the thread it belongs to.
    ///
    /// One share per thread that owns a slot, running or exited. Counts left
    /// by exited threads whose slot another thread has since taken, and adds
    /// made during thread teardown, are reported together in one share whose
    /// [`thread_id`](ThreadShare::thread_id) is `None`. The shares add up to
    /// [`sum`](Counter::sum) when no thread is adding.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Counter;
    ///
    /// let work = Counter::new();
    /// std::thread::scope(|s| {
    ///     std::thread::Builder::new()
    ///         .name("a".into())
    ///         .spawn_scoped(s, || work.add(3))
    ///         .unwrap();
    /// });
    /// let shares = work.per_thread();
    /// assert_eq!(shares.len(), 1);
    /// assert_eq!(shares[0].thread_name(), Some("a"));
    /// assert_eq!(*shares[0].value(), 3);
    /// ```
    pub fn per_thread(&self) -> Vec<ThreadShare<u64>> {
        let unslotted = self.unslotted.load(Ordering::Relaxed);
        self.slots
            .shares(unslotted, |local| local.tally.split(), |_| ())
    }

    /// Sets the counter back to zero.
    ///
    /// The exclusive borrow means no thread is adding, so nothing is lost
    /// between reading and resetting; see [`take`](Counter::take).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut c = threadkit::Counter::new();
    /// c.add(3);
    /// c.reset();
    /// assert_eq!(c.sum(), 0);
    /// assert_eq!(c.approx(), 0);
    /// ```
    pub fn reset(&mut self) {
        *self = Counter::with_batch(self.batch);
    }

    /// Returns the exact count and sets the counter back to zero, as one
    /// step.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut c = threadkit::Counter::new();
    /// c.add(3);
    /// assert_eq!(c.take(), 3);
    /// assert_eq!(c.sum(), 0);
    /// ```
    pub fn take(&mut self) -> u64 {
        let sum = self.sum();
        self.reset();
        sum
    }

    pub(super) fn total(&self) -> &AtomicU64 {
        self.total
            .get_or_init(|| Box::new(CachePadded::new(AtomicU64::new(0))))
    }
}

// A panic cannot leave a counter half-updated: `add` runs no user code, and
// its lock is only taken on slow paths that do not panic while holding it.
impl RefUnwindSafe for Counter {}
impl UnwindSafe for Counter {}

impl Default for Counter {
    fn default() -> Counter {
        Counter::new()
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("sum", &self.sum())
            .field("approx", &self.approx())
            .field("batch", &self.batch)
            .finish()
    }
}
