//! Counters declared with [`counter!`](crate::counter!): a [`Counter`] in a
//! `static`, plus a thread-local of its own that remembers the calling
//! thread's slot, so that an add skips the slot lookup.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr;

use super::indexed::{Counter, DEFAULT_BATCH};
use super::tally::Tally;
use crate::thread::exit::{self, Registration};
use crate::thread::record::{ExitHook, Finished};
use crate::thread::share::ThreadShare;

/// Declares counters, each in a `static` with a thread-local of its own:
/// the fastest way to count, at about the cost of a hand-written
/// `thread_local!` cell at a call site (see the [module
/// documentation](mod@crate::counter#static-counters)), with every guarantee
/// of [`Counter`].
///
/// The syntax follows `thread_local!`: attributes (doc comments included)
/// and visibility per declaration, any number of declarations, and one name
/// may be declared twice behind opposite `cfg`s. A batch
/// size other than [`Counter::new`]'s 1024 goes in parentheses after the
/// name. Each declaration makes a `static` of type [`StaticCounter<NAME>`],
/// where `NAME` is a hidden type of the same name that reaches the counter's
/// thread-local (as `lazy_static` does).
///
/// # Examples
///
/// ```
/// threadkit::counter! {
///     /// Requests served.
///     pub static REQUESTS;
///     /// Bytes received, flushed every MiB.
///     pub static BYTES(batch = 1 << 20);
/// }
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1_000 {
///                 REQUESTS.add(1);
///                 BYTES.add(256);
///             }
///         });
///     }
/// });
/// assert_eq!(REQUESTS.sum(), 4_000);
/// assert_eq!(BYTES.sum(), 1_024_000);
/// assert_eq!(BYTES.batch(), 1 << 20);
/// ```
#[macro_export]
macro_rules! counter {
    () => {};
    (
        $(#[$($attr:tt)*])*
        $vis:vis static $name:ident $(( batch = $batch:expr ))? $(; $($rest:tt)*)?
    ) => {
        $(#[$($attr)*])*
        $vis static $name: $crate::counter::StaticCounter<$name> = {
            static COUNTER: $crate::Counter =
                $crate::Counter::with_batch($crate::__counter_batch!($($batch)?));
            $crate::counter::StaticCounter::__new(&COUNTER)
        };

        // The hidden type and its impl take the declaration's `cfg`s (and
        // only those), so that declarations of one name behind opposite
        // `cfg`s work, as with `thread_local!`.
        $crate::__counter_cfgs! {
            [] [$(#[$($attr)*])*]
            /// The thread-local of the counter of the same name (a type, so
            /// that the counter's `add` names the thread-local directly and
            /// compiles to a few instructions).
            #[doc(hidden)]
            #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
            $vis struct $name {
                _private: (),
            }
        }

        $crate::__counter_cfgs! {
            [] [$(#[$($attr)*])*]
            impl $crate::counter::__private::Key for $name {
                #[inline(always)]
                fn with<R>(f: impl FnOnce(&$crate::counter::__private::Local) -> R) -> R {
                    ::std::thread_local! {
                        static LOCAL: $crate::counter::__private::Local =
                            const { $crate::counter::__private::Local::new() };
                    }
                    LOCAL.with(f)
                }
            }
        }

        $($crate::counter!($($rest)*);)?
    };
}

/// Emits the item after the two bracketed lists with the `cfg` attributes
/// of the second list (collected into the first), and no other attribute.
#[doc(hidden)]
#[macro_export]
macro_rules! __counter_cfgs {
    ([$($kept:tt)*] [] $($item:tt)*) => {
        $($kept)* $($item)*
    };
    ([$($kept:tt)*] [#[cfg $($condition:tt)*] $($attrs:tt)*] $($item:tt)*) => {
        $crate::__counter_cfgs! { [$($kept)* #[cfg $($condition)*]] [$($attrs)*] $($item)* }
    };
    ([$($kept:tt)*] [#[$($other:tt)*] $($attrs:tt)*] $($item:tt)*) => {
        $crate::__counter_cfgs! { [$($kept)*] [$($attrs)*] $($item)* }
    };
}

/// The batch of a [`counter!`](crate::counter!) declaration.
#[doc(hidden)]
#[macro_export]
macro_rules! __counter_batch {
    () => {
        $crate::counter::StaticCounter::<()>::DEFAULT_BATCH
    };
    ($batch:expr) => {
        $batch
    };
}

/// A counter declared with [`counter!`](crate::counter!).
///
/// It offers what [`Counter`] offers, with the same guarantees (exact
/// [`sum`](Self::sum), monotonic for one reader; nothing lost when a thread
/// exits; usable from thread-local destructors; the
/// [`approx`](Self::approx) bound), except `reset` and `take`, which need
/// exclusive access that a `static` cannot give. Its threads' counts live in
/// a `Counter`; a thread-local of its own remembers where the calling
/// thread's slot is, so [`add`](Self::add) is a thread-local load, an add
/// and a store to the slot, and a compare.
///
/// # Examples
///
/// ```
/// threadkit::counter! {
///     static ERRORS;
/// }
/// ERRORS.inc();
/// assert_eq!(ERRORS.sum(), 1);
/// assert_eq!(ERRORS.approx(), 0); // pending in this thread
/// ERRORS.flush();
/// assert_eq!(ERRORS.approx(), 1);
/// ```
pub struct StaticCounter<K> {
    // A reference, no interior mutability: the `static` is a constant.
    counter: &'static Counter,
    /// The thread-local, reached through `K::with` so that `add` names it
    /// directly: through a `&'static LocalKey` field, the thread-local's
    /// accessor was sometimes left as a call (2.0 ns instead of 1.0 at an
    /// `#[inline(never)]` call site, AMD EPYC).
    _key: PhantomData<K>,
}

/// Reaches a declared counter's thread-local. Not public API: implemented
/// by [`counter!`](crate::counter!).
#[doc(hidden)]
pub trait Key: 'static {
    /// Runs `f` on the calling thread's [`Local`].
    fn with<R>(f: impl FnOnce(&Local) -> R) -> R;
}

/// A declared counter's thread-local: the calling thread's tally (its slot
/// in the counter), or [`IDLE`] before the thread has one and after it
/// exits. Not public API: made by [`counter!`](crate::counter!).
#[doc(hidden)]
pub struct Local {
    tally: Cell<*const Tally>,
}

/// Where every declared counter's thread-local points before its thread has
/// a slot and after it exits. Its limit is 0, so every add through it takes
/// the slow path; what adds write into its count (racing, atomically) is
/// never read.
static IDLE: Tally = Tally::idle();

impl Local {
    /// A thread-local that points to no slot yet.
    #[must_use]
    pub const fn new() -> Local {
        Local {
            tally: Cell::new(&raw const IDLE),
        }
    }
}

impl Default for Local {
    fn default() -> Local {
        Local::new()
    }
}

impl fmt::Debug for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

impl StaticCounter<()> {
    /// [`counter!`](crate::counter!)'s batch when none is given.
    #[doc(hidden)]
    pub const DEFAULT_BATCH: u64 = DEFAULT_BATCH;
}

impl<K: Key> StaticCounter<K> {
    /// Not public API: use [`counter!`](crate::counter!).
    #[doc(hidden)]
    #[must_use]
    pub const fn __new(counter: &'static Counter) -> StaticCounter<K> {
        StaticCounter {
            counter,
            _key: PhantomData,
        }
    }

    /// Adds `n` (wrapping at `u64::MAX`); see [`Counter::add`].
    #[inline]
    pub fn add(&self, n: u64) {
        K::with(|local| {
            let tally = local.tally.get();
            // SAFETY: `IDLE`, or the thread's slot in `self.counter`, which
            // is never freed: `self` is `'static`, and a `Counter`'s slots
            // live as long as it does.
            if unsafe { &*tally }.add(n) {
                self.settle(local, tally, n);
            }
        });
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The slow half of [`add`](Self::add): a first add (join the counter),
    /// a full batch (flush), or an add after the thread's exit.
    #[cold]
    #[inline(never)]
    fn settle(&self, local: &Local, tally: *const Tally, n: u64) {
        if !ptr::eq(tally, &IDLE) {
            // SAFETY: as in `add`.
            self.counter.settle_tally(unsafe { &*tally });
            return;
        }
        // `n` went to `IDLE`: count it for real.
        match self.join(local) {
            Some(tally) => {
                if tally.add(n) {
                    self.counter.settle_tally(tally);
                }
            }
            None => self.counter.add(n),
        }
    }

    /// Claims the calling thread's slot and remembers it in the thread-local,
    /// with an exit hook that forgets it again; `None` if the thread is
    /// exiting.
    fn join(&self, local: &Local) -> Option<&'static Tally> {
        let Registration::Live(_, record) = exit::register() else {
            return None;
        };
        let tally = self.counter.claim_tally()?;
        let forget = ExitHook {
            data: ptr::from_ref(self.counter).cast(),
            run: forget_slot::<K>,
        };
        if !record.add_exit_hook(forget) {
            return None;
        }
        local.tally.set(tally);
        Some(tally)
    }

    /// Moves the calling thread's pending amount into the shared total; see
    /// [`Counter::flush`].
    pub fn flush(&self) {
        self.counter.flush();
    }

    /// The flushed total; see [`Counter::approx`].
    #[inline]
    pub fn approx(&self) -> u64 {
        self.counter.approx()
    }

    /// The exact count; see [`Counter::sum`].
    pub fn sum(&self) -> u64 {
        self.counter.sum()
    }

    /// Each thread's share; see [`Counter::per_thread`].
    pub fn per_thread(&self) -> Vec<ThreadShare<u64>> {
        self.counter.per_thread()
    }

    /// The batch size this counter flushes at.
    pub fn batch(&self) -> u64 {
        self.counter.batch()
    }
}

/// A joined thread's exit hook: points its thread-local back to [`IDLE`],
/// so that adds made after the exit (from later thread-local destructors)
/// take the slow path, which finds the thread exiting. Runs before the
/// thread's index, and so its slot, can pass to another thread.
///
/// # Safety
///
/// Runs on the joined thread (`data`, the counter's address, is only the
/// hook's name).
unsafe fn forget_slot<K: Key>(_: *const (), finished: &Finished<'_>) {
    finished.done();
    // A thread-local with nothing to drop: readable during teardown (where
    // std keeps thread-locals behind OS keys and has destroyed it, this
    // makes it anew, pointing to the idle tally as it starts).
    K::with(|local| local.tally.set(&IDLE));
}

impl<K: Key> fmt::Debug for StaticCounter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCounter")
            .field("sum", &self.sum())
            .field("approx", &self.approx())
            .field("batch", &self.batch())
            .finish()
    }
}
