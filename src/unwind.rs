//! Bulk drops that survive a panicking `Drop`.
//!
//! std's collections keep dropping their remaining elements when one
//! element's `Drop` panics, then let the panic continue (a second panic
//! while unwinding aborts the process). The crate's own containers, which
//! drop values through raw pointers, do the same through [`for_each`].

/// Calls `f` on every item of `items`. If a call panics, the rest are still
/// passed to `f` while the panic unwinds, and then the panic continues; a
/// panic among those calls aborts, as it would in `Vec`'s drop.
pub(crate) fn for_each<I: Iterator>(items: I, f: impl FnMut(I::Item)) {
    /// Finishes the walk if it is dropped mid-way, that is, while unwinding.
    struct Rest<I: Iterator, F: FnMut(I::Item)> {
        items: I,
        f: F,
    }

    impl<I: Iterator, F: FnMut(I::Item)> Drop for Rest<I, F> {
        fn drop(&mut self) {
            for item in &mut self.items {
                (self.f)(item);
            }
        }
    }

    let mut rest = Rest { items, f };
    for item in rest.items.by_ref() {
        (rest.f)(item);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn a_panic_in_one_call_still_reaches_the_rest_and_then_unwinds() {
        let seen = Cell::new(0u32);
        let result = catch_unwind(AssertUnwindSafe(|| {
            super::for_each(0..6, |i| {
                seen.set(seen.get() | 1 << i);
                assert_ne!(i, 2, "item 2 panics");
            });
        }));
        assert!(result.is_err());
        assert_eq!(seen.get(), 0b11_1111);
    }
}
