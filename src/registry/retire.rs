//! The slot protocol of [`PerLiveThread`](super::PerLiveThread): a thread's
//! value, which the thread's exit drops while readings on other threads may
//! still be looking at it.
//!
//! Each slot (one per thread index, in an
//! [`OwnedTable`](crate::thread::owned::OwnedTable)) holds its owner's value
//! in a heap node, a count of readings in progress, and a list of retired
//! nodes. The rules, which the loom models at the end of this file check:
//!
//! - **A reading counts itself before it looks.** [`pin`](Values::pin) adds
//!   one to `readers`, then loads `value`; [`unpin`](Values::unpin) takes the
//!   one away when the reading ends.
//! - **An exiting owner unlinks before it counts.** [`retire`](Values::retire)
//!   swaps `value` to null, then reads `readers` with a read-modify-write
//!   (adding 0). Both sides touch `readers` by read-modify-writes, which
//!   `readers`' modification order puts one after the other: if the reading's
//!   comes first, the owner sees the reading and frees nothing; if the
//!   owner's comes first, the reading's (acquire) synchronises with it
//!   (release), so the unlink happens before the reading loads `value`, and
//!   the reading sees no value. (Plain `SeqCst` loads would do too, but loom
//!   models `SeqCst` as acquire/release and could not check them.)
//! - **A node is freed only when no reading is counted.** An unlinked node
//!   goes on the retired list. The list is emptied (and its nodes freed) by
//!   whoever finds `readers == 0` after unlinking: the exiting owner, on its
//!   own thread (the usual case), or the slot's next owner when it claims or
//!   exits. A reading that could have seen a retired node was counted before
//!   that node was unlinked and is counted until it ends, so the count is not
//!   zero while it might still look.
//! - **The retired list has one writer at a time.** Only the slot's owners
//!   touch it, one after another (an index passes to the next thread only
//!   after the previous one's exit hook ran), and `&mut` access to the
//!   registry; so it needs no lock. Readings never touch it.
//!
//! A slot's retired nodes can wait for a next owner that never comes (the
//! index is not reused); they are freed with the registry. Memory stays
//! bounded by the threads that exited during readings.

use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use crate::thread::owned::SlotState;
use crate::thread::record::ThreadRecord;

/// A thread's value and the thread that made it.
pub(crate) struct LiveNode<T> {
    pub(crate) value: T,
    pub(crate) owner: Arc<ThreadRecord>,
    /// The next retired node; written only after the node is unlinked, while
    /// readings may still hold `&LiveNode`, hence atomic.
    next: AtomicPtr<LiveNode<T>>,
}

impl<T> LiveNode<T> {
    pub(crate) fn new(value: T, owner: Arc<ThreadRecord>) -> Box<LiveNode<T>> {
        Box::new(LiveNode {
            value,
            owner,
            next: AtomicPtr::new(ptr::null_mut()),
        })
    }
}

/// One slot's state; see the [module documentation](self).
pub(crate) struct Values<T> {
    /// The owner's node (a leaked `Box`), null if it has none.
    value: AtomicPtr<LiveNode<T>>,
    /// Readings in progress that may hold this slot's nodes.
    readers: AtomicUsize,
    /// Unlinked nodes not yet freed, newest first.
    retired: AtomicPtr<LiveNode<T>>,
}

impl<T> Default for Values<T> {
    fn default() -> Values<T> {
        Values {
            value: AtomicPtr::new(ptr::null_mut()),
            readers: AtomicUsize::new(0),
            retired: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl<T> Values<T> {
    /// The owner's node. Only for the slot's owner, which alone publishes
    /// and unlinks it: the node lives until the owner's exit.
    #[inline]
    pub(crate) fn own(&self) -> Option<&LiveNode<T>> {
        // SAFETY: a non-null pointer was published by this thread (`publish`)
        // and is unlinked and freed only by this thread's exit or with
        // `&mut` access to the registry, neither of which can happen while
        // the caller holds `&self` on its own thread.
        unsafe { self.value.load(Ordering::Acquire).as_ref() }
    }

    /// Publishes the owner's node. The slot must have none.
    pub(crate) fn publish(&self, node: Box<LiveNode<T>>) -> &LiveNode<T> {
        let node = Box::into_raw(node);
        self.value.store(node, Ordering::Release);
        // SAFETY: just published; lives as `own` says.
        unsafe { &*node }
    }

    /// Starts a reading of this slot: the owner's node, kept alive until the
    /// matching [`unpin`](Values::unpin); `None` (and nothing to unpin) if
    /// the slot has no value.
    pub(crate) fn pin(&self) -> Option<NonNull<LiveNode<T>>> {
        self.readers.fetch_add(1, Ordering::AcqRel);
        let node = NonNull::new(self.value.load(Ordering::Acquire));
        if node.is_none() {
            self.unpin();
        }
        node
    }

    /// Ends a reading begun by a successful [`pin`](Values::pin).
    pub(crate) fn unpin(&self) {
        // Release: the reading's uses of the node happen before whoever
        // then finds the count at zero frees it.
        self.readers.fetch_sub(1, Ordering::Release);
    }

    /// Unlinks the owner's node, and returns every unlinked node that no
    /// reading can hold any more, to be dropped by the caller. For the
    /// slot's owner (its exit) or the next one (its claim).
    pub(crate) fn retire(&self) -> Retired<T> {
        let node = self.value.swap(ptr::null_mut(), Ordering::AcqRel);
        if let Some(node) = NonNull::new(node) {
            // SAFETY: unlinked just now, and freed only through the retired
            // list, which this thread alone touches (module rules).
            let next = unsafe { &node.as_ref().next };
            next.store(self.retired.load(Ordering::Relaxed), Ordering::Relaxed);
            self.retired.store(node.as_ptr(), Ordering::Relaxed);
        }
        // A read-modify-write, not a load: see the module documentation.
        if self.readers.fetch_add(0, Ordering::AcqRel) == 0 {
            Retired {
                head: self.retired.swap(ptr::null_mut(), Ordering::Relaxed),
            }
        } else {
            Retired::default()
        }
    }

    /// Takes every node, current and retired.
    ///
    /// # Safety
    ///
    /// No reading may be in progress and no owner may use or retire its node
    /// until the returned nodes are dropped: the caller has exclusive access
    /// to the registry and has taken back the owner's exit hook.
    pub(crate) unsafe fn take_all(&self) -> Retired<T> {
        let _ = self.retire();
        Retired {
            head: self.retired.swap(ptr::null_mut(), Ordering::Relaxed),
        }
    }

    /// Whether the slot has a value now.
    pub(crate) fn is_set(&self) -> bool {
        !self.value.load(Ordering::Relaxed).is_null()
    }
}

impl<T> SlotState for Values<T> {
    type Leftover = Retired<T>;

    fn on_exit(&self) -> Retired<T> {
        self.retire()
    }
}

impl<T> Drop for Values<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reading and no owner is left.
        drop(unsafe { self.take_all() });
    }
}

/// Unlinked nodes that no reading holds: dropping this drops their values.
pub(crate) struct Retired<T> {
    head: *mut LiveNode<T>,
}

impl<T> Default for Retired<T> {
    fn default() -> Retired<T> {
        Retired {
            head: ptr::null_mut(),
        }
    }
}

impl<T> Iterator for Retired<T> {
    type Item = Box<LiveNode<T>>;

    fn next(&mut self) -> Option<Box<LiveNode<T>>> {
        let node = NonNull::new(self.head)?;
        // SAFETY: the chain's nodes are leaked boxes that nothing else refers
        // to (see `retire`); each is taken once, its `next` read first.
        let node = unsafe { Box::from_raw(node.as_ptr()) };
        self.head = node.next.load(Ordering::Relaxed);
        Some(node)
    }
}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        // One value's `Drop` may panic: the others are dropped all the same.
        crate::unwind::for_each(self, drop);
    }
}

/// Loom models of the reading/retiring protocol: `RUSTFLAGS="--cfg
/// threadkit_loom" cargo test --lib --release`.
#[cfg(all(test, threadkit_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{check, AtomicBool};
    use loom::sync::Arc as LoomArc;
    use loom::thread;

    /// A value that says when it has been dropped.
    struct Watched(LoomArc<AtomicBool>);

    impl Drop for Watched {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    fn record() -> Arc<ThreadRecord> {
        Arc::new(ThreadRecord::current(1))
    }

    /// The owner exits while a reading runs: the reading never sees its
    /// value dropped, and the value is dropped exactly once, by the exit or
    /// by the next owner's claim. (The checks read the drop flags through
    /// their own `Arc`s, never through a node that might be freed.)
    #[test]
    fn a_reading_never_sees_a_dropped_value() {
        check(|| {
            let slot: LoomArc<Values<Watched>> = LoomArc::new(Values::default());
            let dropped = LoomArc::new(AtomicBool::new(false));
            slot.publish(LiveNode::new(Watched(LoomArc::clone(&dropped)), record()));
            let reader = {
                let (slot, dropped) = (LoomArc::clone(&slot), LoomArc::clone(&dropped));
                thread::spawn(move || {
                    if slot.pin().is_some() {
                        assert!(!dropped.load(Ordering::Relaxed), "dropped while pinned");
                        slot.unpin();
                    }
                })
            };
            // The owner's exit.
            drop(slot.retire());
            reader.join().unwrap();
            // The next owner's claim.
            drop(slot.retire());
            assert!(
                dropped.load(Ordering::Relaxed),
                "dropped once no reading held it"
            );
        });
    }

    /// Two readings while one owner exits and the next publishes and exits:
    /// a node retired while one reading holds it is not freed by the end of
    /// the other, nor by the next owner.
    #[test]
    fn two_readings_and_two_owners() {
        check(|| {
            let slot: LoomArc<Values<Watched>> = LoomArc::new(Values::default());
            let flags = [
                LoomArc::new(AtomicBool::new(false)),
                LoomArc::new(AtomicBool::new(false)),
            ];
            let first = slot.publish(LiveNode::new(Watched(LoomArc::clone(&flags[0])), record()));
            let first = ptr::from_ref(first) as usize;
            // Made now, so that it cannot reuse the first node's address.
            let second = LiveNode::new(Watched(LoomArc::clone(&flags[1])), record());
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let (slot, flags) = (LoomArc::clone(&slot), flags.clone());
                    thread::spawn(move || {
                        if let Some(node) = slot.pin() {
                            let flag = &flags[usize::from(node.as_ptr() as usize != first)];
                            assert!(!flag.load(Ordering::Relaxed), "dropped while pinned");
                            slot.unpin();
                        }
                    })
                })
                .collect();
            drop(slot.retire());
            slot.publish(second);
            drop(slot.retire());
            for reader in readers {
                reader.join().unwrap();
            }
            drop(slot.retire());
            assert!(
                flags.iter().all(|f| f.load(Ordering::Relaxed)),
                "both dropped"
            );
        });
    }
}
