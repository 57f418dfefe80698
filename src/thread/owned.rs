//! Owned slots: per-object state for each live thread, handed from an exited
//! thread to the next one that gets its index, with an exit hook per owner.
//!
//! [`Counter`](crate::Counter), [`ScratchPool`](crate::ScratchPool) and
//! [`LocalCache`](crate::LocalCache) keep their per-thread state in an
//! [`OwnedTable`], which does for them what each would otherwise do by hand:
//!
//! 1. find the calling thread's slot, and check that the thread owns it
//!    ([`OwnedTable::get`], the fast path: a thread-local read, a bucket load
//!    and a key compare);
//! 2. claim it for a live thread that does not own it yet, taking over from
//!    the exited previous owner ([`OwnedTable::claim`]);
//! 3. register the owner's exit hook, which runs [`SlotState::on_exit`] on
//!    the owner's thread as it exits;
//! 4. fall back when the thread is already exiting (`claim` says so, and the
//!    block does without a slot);
//! 5. take the hooks back when the object is dropped, before the slots go
//!    (`OwnedTable`'s `Drop`).
//!
//! A block supplies only what its state does when claimed and when its owner
//! exits.
//!
//! # Who touches a slot's state
//!
//! Only the slot's owner writes the state's non-atomic parts: a thread owns
//! its slot from its claim until its exit hook has run, and the crate hands
//! the thread's index to another thread only after that (the index free list
//! in [`id`](super::id) is taken after the hooks, under a lock). Readers on
//! other threads (sums, reports) read the state's atomics; the owner is
//! reported under the slot's lock, which a claim also holds.

use std::sync::Arc;

use super::record::{ExitHook, Finished, ThreadRecord};
use crate::sync::{AtomicU64, Mutex, Ordering};

/// What a block keeps in each slot of an [`OwnedTable`].
pub(crate) trait SlotState: Default {
    /// What claiming or exit takes out of the state, dropped after the
    /// protocol lets go of the slot (dropping it may run user code).
    type Leftover: Default;

    /// Takes out what the exiting owner kept. Runs on the owner's thread,
    /// from its exit hook: it must run no user code and take no lock.
    fn on_exit(&self) -> Self::Leftover;
}

/// One thread index's slot: its current owner, and the block's state.
pub(crate) struct Slot<S> {
    /// The key of the live thread that owns the slot, 0 if none. Written by
    /// the owner, in `claim`.
    key: AtomicU64,
    /// The owner's record, for reports and to take back its exit hook.
    owner: Mutex<Option<Arc<ThreadRecord>>>,
    state: S,
}

impl<S: Default> Default for Slot<S> {
    fn default() -> Slot<S> {
        Slot {
            key: AtomicU64::new(0),
            owner: Mutex::new(None),
            state: S::default(),
        }
    }
}

impl<S: SlotState> Slot<S> {
    /// The block's state, for readers on any thread.
    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    /// Makes the calling live thread (`key`, `record`) the owner.
    ///
    /// `hand_over` runs under the slot's lock with the state and whether a
    /// previous owner had the slot; it prepares the state for the new owner
    /// and returns what is to be dropped. It must run no user code.
    pub(crate) fn claim(
        &self,
        key: u64,
        record: Arc<ThreadRecord>,
        hand_over: impl FnOnce(&S, bool) -> S::Leftover,
    ) -> S::Leftover {
        let mut owner = self.owner.lock();
        let previous = owner.take();
        let leftover = hand_over(&self.state, previous.is_some());
        // A live thread's registration is never refused. If it were (the
        // thread already exiting), the next owner's `hand_over` would collect
        // what this one left.
        record.add_exit_hook(ExitHook {
            data: self.address(),
            run: run_exit::<S>,
        });
        self.key.store(key, Ordering::Relaxed);
        *owner = Some(record);
        leftover
    }

    /// Calls `f` with the state and its owner's record, with the owner held
    /// still (a concurrent claim waits).
    pub(crate) fn with_owner<R>(&self, f: impl FnOnce(&S, Option<&Arc<ThreadRecord>>) -> R) -> R {
        let owner = self.owner.lock();
        f(&self.state, owner.as_ref())
    }
}

impl<S> Slot<S> {
    /// Whether the thread with `key` owns this slot.
    #[inline(always)]
    fn is_owned_by(&self, key: u64) -> bool {
        self.key.load(Ordering::Relaxed) == key
    }

    /// Takes back the owner's exit hook. When this returns the hook is not
    /// running and will not run, so the slot may be freed.
    pub(crate) fn release(&self) {
        if let Some(record) = &*self.owner.lock() {
            record.remove_exit_hooks(self.address());
        }
    }

    /// Takes back the owner's exit hook and forgets the owner: its thread
    /// claims the slot again on its next use. With exclusive access to the
    /// table (no claim can run meanwhile).
    pub(crate) fn disown(&self) {
        let mut owner = self.owner.lock();
        if let Some(record) = owner.take() {
            record.remove_exit_hooks(self.address());
        }
        self.key.store(0, Ordering::Relaxed);
    }

    fn address(&self) -> *const () {
        std::ptr::from_ref(self).cast()
    }
}

/// The exit hook of a slot's owner.
///
/// # Safety
///
/// `data` is the address of a `Slot<S>`, valid until `finished.done()`
/// (see [`ExitHook::run`]), and this runs on the slot's owner.
unsafe fn run_exit<S: SlotState>(data: *const (), finished: &Finished<'_>) {
    // SAFETY: per this function's contract.
    let slot = unsafe { &*data.cast::<Slot<S>>() };
    let leftover = slot.state.on_exit();
    finished.done();
    // Dropped with the slot let go of: it may free the slot's own object.
    drop(leftover);
}

#[cfg(not(threadkit_loom))]
pub(crate) use table::OwnedTable;

#[cfg(not(threadkit_loom))]
mod table {
    use std::sync::Arc;

    use crossbeam_utils::CachePadded;

    use super::{Slot, SlotState};
    use crate::thread::exit::{self, Registration};
    use crate::thread::id;
    use crate::thread::share::{Part, ThreadShare};
    use crate::thread::table::Table;

    /// A table of [`Slot`]s, one per thread index, each owned by at most one
    /// live thread; see the [module documentation](super).
    pub(crate) struct OwnedTable<S> {
        slots: Table<CachePadded<Slot<S>>>,
    }

    impl<S> OwnedTable<S> {
        pub(crate) const fn new() -> OwnedTable<S> {
            OwnedTable {
                slots: Table::new(),
            }
        }

        /// Every allocated slot, owned or not.
        pub(crate) fn slots(&self) -> impl Iterator<Item = &Slot<S>> {
            self.slots.iter().map(|slot| &**slot)
        }
    }

    impl<S: SlotState> OwnedTable<S> {
        /// The calling thread's state, if the thread is live and owns its
        /// slot here.
        #[inline]
        pub(crate) fn get(&self) -> Option<&S> {
            self.get_slot().map(Slot::state)
        }

        /// The calling thread's slot, if the thread is live and owns it.
        #[inline]
        pub(crate) fn get_slot(&self) -> Option<&Slot<S>> {
            let thread = id::current()?;
            let slot = self.slots.get(thread)?;
            slot.is_owned_by(thread.key).then_some(&**slot)
        }

        /// The calling thread's slot, claimed if need be (see
        /// [`Slot::claim`] for `hand_over`), with what the claim took out;
        /// `None` if the thread is exiting and so may not have a slot.
        #[cold]
        pub(crate) fn claim(
            &self,
            hand_over: impl FnOnce(&S, bool) -> S::Leftover,
        ) -> (Option<&Slot<S>>, S::Leftover) {
            match exit::register() {
                Registration::Live(thread, record) => {
                    let slot = self.slots.get_or_alloc(thread);
                    let leftover = if slot.is_owned_by(thread.key) {
                        S::Leftover::default()
                    } else {
                        slot.claim(thread.key, record, hand_over)
                    };
                    (Some(&**slot), leftover)
                }
                Registration::Exiting { .. } => (None, S::Leftover::default()),
            }
        }

        /// The per-thread report of a block: one share per slot owner, from
        /// `split(state) = (earlier owners' part, current owner's part)`,
        /// and one share that belongs to no thread, made of `unattributed`,
        /// the earlier owners' parts, the parts of slots with no owner, and
        /// then whatever `last` adds (read after every slot). That last
        /// share is left out when it is nothing.
        pub(crate) fn shares<V: Part>(
            &self,
            unattributed: V,
            split: impl Fn(&S) -> (V, V),
            last: impl FnOnce(&mut V),
        ) -> Vec<ThreadShare<V>> {
            let mut shares = Vec::new();
            let mut unattributed = unattributed;
            for slot in self.slots() {
                slot.with_owner(|state, owner| {
                    let (earlier, current) = split(state);
                    unattributed.merge(earlier);
                    match owner {
                        Some(owner) => {
                            shares.push(ThreadShare::new(Some(Arc::clone(owner)), current));
                        }
                        None => unattributed.merge(current),
                    }
                });
            }
            last(&mut unattributed);
            if !unattributed.is_nothing() {
                shares.push(ThreadShare::new(None, unattributed));
            }
            shares
        }
    }

    impl<S> Slot<S> {
        /// Whether the calling thread is live and owns this slot: a slot
        /// found earlier may have changed hands since, if the thread has
        /// begun to exit.
        #[inline]
        pub(crate) fn is_owned_by_caller(&self) -> bool {
            id::current().is_some_and(|thread| self.is_owned_by(thread.key))
        }
    }

    impl<S> Drop for OwnedTable<S> {
        fn drop(&mut self) {
            // Owners still running (or exiting) hold exit hooks into our
            // slots; take them back before the slots are freed.
            for slot in self.slots() {
                slot.release();
            }
        }
    }
}

/// Loom models of the owned-slot protocol: `RUSTFLAGS="--cfg threadkit_loom"
/// cargo test --lib --release`. Threads stand in for the owners; which
/// thread holds which index rests on thread-locals and is played by hand
/// (the index free list's lock orders an exit before the next claim, as the
/// joins do here).
#[cfg(all(test, threadkit_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{check, AtomicBool};
    use loom::thread;

    /// A state that keeps an amount for its owner, like a counter's pending
    /// count or a pool's free list, and notices use after free.
    #[derive(Default)]
    struct Kept {
        amount: AtomicU64,
        freed: AtomicBool,
    }

    impl SlotState for Kept {
        type Leftover = u64;
        fn on_exit(&self) -> u64 {
            assert!(
                !self.freed.load(Ordering::Relaxed),
                "exit hook on a freed slot"
            );
            self.amount.swap(0, Ordering::Relaxed)
        }
    }

    fn record(key: u64) -> Arc<ThreadRecord> {
        Arc::new(ThreadRecord::current(key))
    }

    /// First owner claims, keeps 5 and exits while a reader watches; the
    /// next owner takes the slot over; then the object is dropped while
    /// that owner exits. Nothing is taken twice, nothing is lost, and no hook
    /// runs on a freed slot.
    #[test]
    fn claim_exit_hand_over_and_drop() {
        check(|| {
            let slot: Arc<Slot<Kept>> = Arc::new(Slot::default());
            let first = {
                let slot = Arc::clone(&slot);
                thread::spawn(move || {
                    let me = record(1);
                    let stale = slot.claim(1, Arc::clone(&me), |_, previous| {
                        assert!(!previous);
                        0
                    });
                    assert_eq!(stale, 0);
                    slot.state().amount.store(5, Ordering::Relaxed);
                    me.exit();
                })
            };
            let reader = {
                let slot = Arc::clone(&slot);
                thread::spawn(move || {
                    let key = slot.with_owner(|_, owner| owner.map(|o| o.key()));
                    assert!(matches!(key, None | Some(1) | Some(2)), "{key:?}");
                })
            };
            first.join().unwrap();
            // The exit hook took the 5 out; the next owner finds nothing.
            let second = record(2);
            let stale = slot.claim(2, Arc::clone(&second), |state, previous| {
                assert!(previous);
                state.amount.swap(0, Ordering::Relaxed)
            });
            assert_eq!(stale, 0);
            assert!(slot.is_owned_by(2));
            slot.state().amount.store(7, Ordering::Relaxed);
            let exiting = thread::spawn(move || second.exit());
            // Dropping the object: take the hook back, then free.
            slot.release();
            slot.state().freed.store(true, Ordering::Relaxed);
            exiting.join().unwrap();
            reader.join().unwrap();
            let left = slot.state().amount.load(Ordering::Relaxed);
            assert!(left == 0 || left == 7, "taken once or not at all: {left}");
        });
    }
}
