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

mod iter;
mod kept;
mod list;
mod live;
mod retire;

pub use crate::thread::share::ThreadShare;
pub use iter::{IntoIter, Iter, IterMut, Shares};
pub use kept::PerThread;
pub use live::{PerLiveThread, Reading};
