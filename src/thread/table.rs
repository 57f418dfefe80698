//! A lock-free table with one slot per thread index.
//!
//! Bucket `b` holds `2^b` slots and is allocated the first time a thread
//! whose index falls in it asks for its slot, so a table used by `n` threads
//! holds fewer than `2n` slots and never moves one once allocated: references
//! into it stay valid for as long as the table does. This is the layout of the
//! `thread_local` crate; the difference is that the indices come from
//! [`id`](super::id), whose teardown behaviour this crate
//! controls.
//!
//! All the raw-pointer work of bucket allocation lives in this file.

use std::marker::PhantomData;
use std::ptr;

use super::id::Thread;
use crate::sync::{AtomicPtr, Ordering};

/// Enough buckets for every index a `usize` can hold.
const BUCKETS: usize = usize::BITS as usize;

pub(crate) struct Table<S> {
    buckets: [AtomicPtr<S>; BUCKETS],
    /// The table owns the slots its buckets point to.
    _owns: PhantomData<Box<[S]>>,
}

impl<S> Table<S> {
    pub(crate) const fn new() -> Table<S> {
        Table {
            buckets: [const { AtomicPtr::new(ptr::null_mut()) }; BUCKETS],
            _owns: PhantomData,
        }
    }

    /// The slot of `thread`, if its bucket has been allocated.
    #[inline]
    pub(crate) fn get(&self, thread: Thread) -> Option<&S> {
        // `thread.bucket < BUCKETS` by construction; the mask lets the
        // compiler drop the bounds check.
        let bucket = self.buckets[thread.bucket % BUCKETS].load(Ordering::Acquire);
        if bucket.is_null() {
            return None;
        }
        // SAFETY: a non-null bucket pointer comes from `allocate`, with
        // `1 << thread.bucket` initialised slots, and `thread.index` is below
        // that by construction (`Thread::new`). Buckets are freed only by
        // `Drop`, which has `&mut self`, so the slot outlives `&self`.
        Some(unsafe { &*bucket.add(thread.index) })
    }

    /// Every allocated slot, in index order.
    pub(crate) fn iter(&self) -> Iter<'_, S> {
        Iter {
            table: self,
            bucket: 0,
            ptr: ptr::null_mut(),
            len: 0,
            index: 0,
        }
    }
}

/// Iterator over a table's allocated slots; see [`Table::iter`].
pub(crate) struct Iter<'a, S> {
    table: &'a Table<S>,
    /// The next bucket to load.
    bucket: usize,
    /// The bucket being walked, its length, and the next index in it.
    ptr: *mut S,
    len: usize,
    index: usize,
}

impl<'a, S> Iterator for Iter<'a, S> {
    type Item = &'a S;

    fn next(&mut self) -> Option<&'a S> {
        while self.index == self.len {
            let ptr = self.table.buckets.get(self.bucket)?.load(Ordering::Acquire);
            self.len = if ptr.is_null() { 0 } else { 1 << self.bucket };
            self.ptr = ptr;
            self.bucket += 1;
            self.index = 0;
        }
        // SAFETY: `index < len`, so `ptr` is a non-null bucket, which holds
        // `len` initialised slots that live as long as the table's borrow
        // (see `Table::get`).
        let slot = unsafe { &*self.ptr.add(self.index) };
        self.index += 1;
        Some(slot)
    }
}

impl<S: Default> Table<S> {
    /// The slot of `thread`, allocating its bucket if needed.
    pub(crate) fn get_or_alloc(&self, thread: Thread) -> &S {
        if let Some(slot) = self.get(thread) {
            return slot;
        }
        let new = allocate::<S>(1 << thread.bucket);
        let bucket = match self.buckets[thread.bucket].compare_exchange(
            ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => new,
            Err(theirs) => {
                // SAFETY: `new` came from `allocate` with this length and was
                // never shared.
                unsafe { deallocate(new, 1 << thread.bucket) };
                theirs
            }
        };
        // SAFETY: `bucket` is non-null and came from `allocate` with
        // `1 << thread.bucket` slots; see `get`.
        unsafe { &*bucket.add(thread.index) }
    }
}

impl<S> Drop for Table<S> {
    fn drop(&mut self) {
        // A slot's `Drop` may panic: the other buckets are freed all the same.
        let buckets = self.buckets.iter_mut().map(|ptr| *ptr.get_mut());
        crate::unwind::for_each(buckets.enumerate(), |(bucket, ptr)| {
            if !ptr.is_null() {
                // SAFETY: non-null buckets come from `allocate` with
                // `1 << bucket` slots, and `&mut self` means no reference into
                // them is left; each is freed once (`for_each` passes each
                // item once, panic or not).
                unsafe { deallocate(ptr, 1 << bucket) };
            }
        });
    }
}

fn allocate<S: Default>(len: usize) -> *mut S {
    let slots: Box<[S]> = (0..len).map(|_| S::default()).collect();
    Box::into_raw(slots).cast::<S>()
}

/// # Safety
///
/// `ptr` must come from `allocate` with the same `len`, and no reference to
/// its slots may be used afterwards.
unsafe fn deallocate<S>(ptr: *mut S, len: usize) {
    // SAFETY: the caller passes back exactly what `allocate` leaked.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(ptr, len)) });
}
