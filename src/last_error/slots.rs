//! The threads' error slots behind [`LastError`](super::LastError): one
//! `thread_local!` list per thread of type-erased slots, tagged with their
//! instance's id, freed at the thread's exit and, for a dropped instance, on
//! each thread's next use of any `LastError`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::{Arc, OnceLock};

use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::thread::exit::{self, ExitOwned};

/// Runs `f` on this thread's slot of the `LastError` with `id` (and
/// `alive` flag), creating it if need be. `None` if the thread's slots are
/// gone or borrowed (never, as nothing here calls user code while
/// borrowing them).
pub(super) fn access<E: 'static, R>(
    id: u64,
    alive: &OnceLock<Arc<Alive>>,
    f: impl FnOnce(&mut Slot<E>) -> R,
) -> Option<R> {
    SLOTS
        .try_with(|slots| {
            drop_dead_slots(slots);
            let mut slots = slots.try_borrow_mut().ok()?;
            let at = match slots.iter().position(|slot| slot.id == id) {
                Some(at) => at,
                None => {
                    if !WATCHED.replace(true) {
                        // The thread's first slot: see `close_thread_local`.
                        exit::watch_exit(close_thread_local);
                    }
                    let alive = alive.get_or_init(|| Arc::new(Alive(AtomicBool::new(true))));
                    slots.push(Erased {
                        id,
                        alive: Arc::clone(alive),
                        slot: Box::new(Slot::<E> {
                            error: None,
                            version: 0,
                        }),
                    });
                    slots.len() - 1
                }
            };
            let slot = slots[at].slot.downcast_mut::<Slot<E>>()?;
            Some(f(slot))
        })
        .ok()
        .flatten()
}

/// Drops the calling thread's slots (their errors) and closes them: for the
/// thread's exit (see `thread::exit`). From here on `set` drops its error
/// and the slots read as empty, as after a thread-local destructor.
fn close_thread_local() {
    let _ = SLOTS.try_with(exit::close);
}

/// One error slot of one thread, for one `LastError<E>`.
pub(super) struct Slot<E> {
    pub(super) error: Option<E>,
    /// Bumped by every `set`, `clear` and successful `take`, so that a loan
    /// knows whether the slot changed while the error was out.
    pub(super) version: u64,
}

/// A slot with its type erased, tagged with its `LastError`'s id.
struct Erased {
    id: u64,
    alive: Arc<Alive>,
    slot: Box<dyn Any>,
}

/// Whether a `LastError` still exists; cleared by its `Drop`.
pub(super) struct Alive(AtomicBool);

/// Counts dropped `LastError`s that had slots: when it moves, each thread
/// drops its slots of dead instances on its next use of any `LastError`.
static DROPPED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's slots: one per `LastError` it has used and that was not
    /// dropped before its last look at `DROPPED` (few, so a linear search).
    /// No destructor on Linux: the thread's exit drops them.
    static SLOTS: RefCell<ExitOwned<Vec<Erased>>> = const { RefCell::new(ExitOwned::new(Vec::new())) };
    /// `DROPPED` when this thread last dropped its dead slots: outside the
    /// `RefCell`, so that the common case (nothing dropped) is a load and a
    /// compare, with no borrow. Nothing to drop.
    static SEEN: Cell<u64> = const { Cell::new(0) };
    /// Whether the thread's exit knows to drop `SLOTS` (Linux). Nothing to
    /// drop.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

/// Drops the calling thread's slots of dropped `LastError`s, if any was
/// dropped since the thread last looked. The errors are dropped after the
/// borrow ends: their `Drop` is user code and may use a `LastError`.
fn drop_dead_slots(slots: &RefCell<ExitOwned<Vec<Erased>>>) {
    // Acquire: pairs with the Release increment in `LastError::drop`, so a
    // thread that sees the new count sees the cleared `Alive` flag.
    let dropped = DROPPED.load(Ordering::Acquire);
    if SEEN.get() == dropped {
        return;
    }
    let dead: Vec<Erased> = {
        let Ok(mut slots) = slots.try_borrow_mut() else {
            return;
        };
        SEEN.set(dropped);
        let mut dead = Vec::new();
        let mut at = 0;
        while at < slots.len() {
            if slots[at].alive.0.load(Ordering::Relaxed) {
                at += 1;
            } else {
                dead.push(slots.swap_remove(at));
            }
        }
        dead
    };
    crate::unwind::for_each(dead.into_iter(), drop);
}

/// For a dropped `LastError` (with `id`, and `alive` if any thread ever had
/// a slot): drops the calling thread's error now, and marks the instance
/// dead so that every other thread drops its own on its next use of any
/// `LastError`, or when it exits.
pub(super) fn drop_instance(id: u64, alive: Option<&Arc<Alive>>) {
    let Some(alive) = alive else {
        return; // no thread ever had a slot
    };
    alive.0.store(false, Ordering::Relaxed);
    DROPPED.fetch_add(1, Ordering::Release);
    let mine = SLOTS
        .try_with(|slots| {
            let mut slots = slots.try_borrow_mut().ok()?;
            let at = slots.iter().position(|slot| slot.id == id)?;
            Some(slots.swap_remove(at))
        })
        .ok()
        .flatten();
    drop(mine); // user code, with no borrow held
}
