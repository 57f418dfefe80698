//! The values of a [`PerThread`](super::PerThread): per table slot, a
//! push-only stack of nodes (every thread that has held the slot's index,
//! newest first), plus a stack of orphans (values of threads that had begun
//! to exit). All the raw-pointer work of `PerThread` lives in this file:
//! nodes are published with a compare-and-swap and freed only with the
//! registry's exclusive access (its `Drop`, `clear`, `into_iter`).

use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::sync::{AtomicPtr, Ordering};
use crate::thread::record::ThreadRecord;
use crate::thread::table;

/// A value, its owner, and the value pushed before it on the same slot.
pub(super) struct KeptNode<T> {
    /// The owner's key (`id::Thread::key`).
    pub(super) key: u64,
    pub(super) owner: Arc<ThreadRecord>,
    /// Set once, before the node is published, and never changed.
    next: *mut KeptNode<T>,
    pub(super) value: T,
}

impl<T> KeptNode<T> {
    pub(super) fn new(key: u64, owner: Arc<ThreadRecord>, value: T) -> Box<KeptNode<T>> {
        Box::new(KeptNode {
            key,
            owner,
            next: ptr::null_mut(),
            value,
        })
    }
}

/// A push-only stack of nodes: the values of every thread that has held one
/// thread index (or, for `orphans`, of exiting threads).
pub(super) struct ValueStack<T> {
    head: AtomicPtr<KeptNode<T>>,
    _owns: PhantomData<Box<KeptNode<T>>>,
}

impl<T> ValueStack<T> {
    pub(super) const fn new() -> ValueStack<T> {
        ValueStack {
            head: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The newest node.
    #[inline]
    pub(super) fn head(&self) -> Option<&KeptNode<T>> {
        // SAFETY: a non-null head was published by `push` (the Acquire pairs
        // with its Release) and nodes are freed only with `&mut` access to
        // the slot, so the node lives as long as `&self`.
        unsafe { self.head.load(Ordering::Acquire).as_ref() }
    }

    /// The node of the thread with `key`, if it has one here.
    pub(super) fn find(&self, key: u64) -> Option<&KeptNode<T>> {
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
    pub(super) fn push(&self, node: Box<KeptNode<T>>) -> &KeptNode<T> {
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

impl<T> ValueStack<T> {
    /// Takes every node out of the stack, newest first.
    ///
    /// # Safety
    ///
    /// Nothing else refers to the stack's nodes, now or later (the registry
    /// is being consumed).
    pub(super) unsafe fn take_all(&self) -> impl Iterator<Item = Box<KeptNode<T>>> {
        let head = self.head.swap(ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: the caller's contract; the stack no longer points to them.
        unsafe { Chain::new(head) }
    }
}

impl<T> Default for ValueStack<T> {
    fn default() -> ValueStack<T> {
        ValueStack::new()
    }
}

impl<T> Drop for ValueStack<T> {
    fn drop(&mut self) {
        // SAFETY: with `&mut self`, no reference to the chain is left.
        let chain = unsafe { Chain::new(*self.head.get_mut()) };
        // A value's `Drop` may panic: the rest of the chain is dropped all
        // the same.
        crate::unwind::for_each(chain, drop);
    }
}

/// Takes ownership of a chain of nodes, oldest last, yielding each once.
struct Chain<T> {
    next: *mut KeptNode<T>,
}

impl<T> Chain<T> {
    /// # Safety
    ///
    /// `head` starts a chain of nodes leaked by `ValueStack::push` (or is null)
    /// that nothing else refers to or will free.
    unsafe fn new(head: *mut KeptNode<T>) -> Chain<T> {
        Chain { next: head }
    }
}

impl<T> Iterator for Chain<T> {
    type Item = Box<KeptNode<T>>;

    fn next(&mut self) -> Option<Box<KeptNode<T>>> {
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
pub(super) struct Nodes<'a, T> {
    slots: table::Iter<'a, ValueStack<T>>,
    orphans: Option<&'a ValueStack<T>>,
    next: *mut KeptNode<T>,
}

impl<'a, T> Nodes<'a, T> {
    pub(super) fn new(slots: table::Iter<'a, ValueStack<T>>, orphans: &'a ValueStack<T>) -> Self {
        Nodes {
            slots,
            orphans: Some(orphans),
            next: ptr::null_mut(),
        }
    }
}

impl<'a, T> Iterator for Nodes<'a, T> {
    type Item = NonNull<KeptNode<T>>;

    fn next(&mut self) -> Option<NonNull<KeptNode<T>>> {
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
