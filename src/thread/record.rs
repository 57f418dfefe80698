//! What the crate knows about a thread that created per-thread state: its
//! identity for reports, whether it has exited, and the work to do when it
//! exits (its exit hooks).
//!
//! # The exit-hook protocol
//!
//! A block that keeps state for a thread registers an [`ExitHook`] with the
//! thread's record, and takes it back with
//! [`remove_exit_hooks`](ThreadRecord::remove_exit_hooks) before it frees
//! the hook's data. The rules, which the loom models at the end of this file
//! check:
//!
//! - **No lock is held while a hook runs.** [`exit`](ThreadRecord::exit)
//!   takes one hook out under the record's lock, marks it running, and runs
//!   it with the lock released. So a hook may drop another threadkit object,
//!   whose `Drop` removes its own hooks from this very record.
//! - **A hook is never run on freed data.** `remove_exit_hooks` waits while
//!   the hook it removes is marked running. A hook runs no user code while
//!   marked: it takes out what is to be dropped, calls
//!   [`Finished::done`], and only then drops it. So the wait is a few
//!   instructions long and never waits on user code, and a hook's drops may
//!   free the very object the hook belongs to.
//! - **A hook registered is run once, or removed.** After `exit` has begun,
//!   registration is refused (the caller falls back), so no hook is left
//!   behind unrun.

use std::cell::Cell;
use std::ptr;
use std::thread::ThreadId;

use crate::sync::{yield_now, AtomicBool, Mutex, Ordering};

/// What an owner can learn about the thread that created a value, and the
/// thread's exit hooks.
///
/// Shared by every value the thread creates; outlives the thread for as long
/// as one of them does.
pub(crate) struct ThreadRecord {
    key: u64,
    /// `None` for a thread first met after std dropped its handle (see
    /// [`identity`]).
    id: Option<ThreadId>,
    name: Option<Box<str>>,
    exited: AtomicBool,
    hooks: Mutex<Hooks>,
}

/// The hooks still to run, and the one running now.
struct Hooks {
    waiting: Vec<ExitHook>,
    /// The data of the hook being run, null if none.
    running: *const (),
}

// SAFETY: `running` is only compared, never dereferenced; `ExitHook` is
// `Send` (see there).
unsafe impl Send for Hooks {}

impl ThreadRecord {
    /// A record of the calling thread, which has not begun to exit.
    pub(crate) fn current(key: u64) -> ThreadRecord {
        let (id, name) = identity();
        ThreadRecord {
            key,
            id,
            name,
            exited: AtomicBool::new(false),
            hooks: Mutex::new(Hooks {
                waiting: Vec::new(),
                running: ptr::null(),
            }),
        }
    }

    /// A record for a value created by the calling thread while it exits:
    /// reported as exited, and it takes no hooks. `id` is the thread's std
    /// id as the crate learnt it when it first met the thread: std is not
    /// asked again (its handle may be gone), and the record has no name.
    pub(crate) fn exiting(key: u64, id: Option<ThreadId>) -> ThreadRecord {
        ThreadRecord {
            key,
            id,
            name: None,
            exited: AtomicBool::new(true),
            hooks: Mutex::new(Hooks {
                waiting: Vec::new(),
                running: ptr::null(),
            }),
        }
    }

    /// The thread's key (see [`Thread::key`](super::id::Thread::key)).
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    pub(crate) fn id(&self) -> Option<ThreadId> {
        self.id
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the thread has begun to exit (the crate's teardown for it
    /// has started).
    pub(crate) fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Registers `hook` to run when the thread exits. Returns `false`, and
    /// registers nothing, if the thread has already begun to exit.
    pub(crate) fn add_exit_hook(&self, hook: ExitHook) -> bool {
        let mut hooks = self.hooks.lock();
        if self.exited.load(Ordering::Relaxed) {
            return false;
        }
        hooks.waiting.push(hook);
        true
    }

    /// Unregisters every hook whose data is `data`. When this returns, no such
    /// hook is running or will run.
    ///
    /// Callable from any thread, inside another hook's drops included.
    pub(crate) fn remove_exit_hooks(&self, data: *const ()) {
        loop {
            let mut hooks = self.hooks.lock();
            hooks.waiting.retain(|hook| hook.data != data);
            if hooks.running != data {
                return;
            }
            // That hook is taking its state out, with no lock held and no
            // user code to wait for: let it finish.
            drop(hooks);
            yield_now();
        }
    }

    /// Marks the thread exited and runs its hooks, on the exiting thread.
    pub(crate) fn exit(&self) {
        // Under the lock, so that no registration slips in after the last
        // hook has been taken out (see `add_exit_hook`).
        {
            let _hooks = self.hooks.lock();
            self.exited.store(true, Ordering::Release);
        }
        loop {
            let hook = {
                let mut hooks = self.hooks.lock();
                let Some(hook) = hooks.waiting.pop() else {
                    return;
                };
                hooks.running = hook.data;
                hook
            };
            let finished = Finished {
                hooks: &self.hooks,
                done: Cell::new(false),
            };
            // SAFETY: the hook was registered and not removed, so its data is
            // still valid (its owner removes it before freeing the data), and
            // it stays valid until `finished.done()`: a removal meanwhile
            // waits for the mark set above.
            unsafe { (hook.run)(hook.data, &finished) };
            finished.done();
        }
    }
}

/// The calling thread's std id and name, if std still has them.
///
/// `std::thread::current` panics once std has dropped the thread's handle,
/// in the last step of its thread cleanup (on Linux a `pthread_key_create`
/// destructor of std's own). A C library's key destructor that runs after it
/// may be where a thread first meets the crate; there the thread has no id
/// or name to give, and the crate carries on without them. No stable std
/// function says whether the handle is gone, so the panic is caught: std's
/// panic hook still runs for it (printing its message, by default), once per
/// such thread. With `panic = "abort"` there is nothing to catch, and the
/// process aborts there (as it did before the catch).
fn identity() -> (Option<ThreadId>, Option<Box<str>>) {
    match std::panic::catch_unwind(std::thread::current) {
        Ok(thread) => (Some(thread.id()), thread.name().map(Box::from)),
        Err(_) => (None, None),
    }
}

/// Work to do on a thread's own exit, such as flushing a counter's pending
/// amount.
///
/// Whoever registers a hook must call
/// [`ThreadRecord::remove_exit_hooks`] before `data` stops being valid.
pub(crate) struct ExitHook {
    pub(crate) data: *const (),
    /// Runs the hook.
    ///
    /// # Safety
    ///
    /// `data` must be valid until `finished.done()` is called (the protocol
    /// guarantees it). An implementation must run no user code and take no
    /// lock before it calls `finished.done()`, and must not touch `data`
    /// after.
    pub(crate) run: unsafe fn(data: *const (), finished: &Finished<'_>),
}

// SAFETY: `data` is only dereferenced by `run`, which the registration
// contract above keeps sound on whichever thread runs it; the pointer itself
// is just an address.
unsafe impl Send for ExitHook {}

/// Given to a running exit hook: says when its data may be freed.
pub(crate) struct Finished<'a> {
    hooks: &'a Mutex<Hooks>,
    done: Cell<bool>,
}

impl Finished<'_> {
    /// Ends the hook's use of its data: from here on, its owner may free it.
    pub(crate) fn done(&self) {
        if !self.done.replace(true) {
            self.hooks.lock().running = ptr::null();
        }
    }
}

/// Loom models of the exit-hook protocol: `RUSTFLAGS="--cfg threadkit_loom"
/// cargo test --lib --release`.
#[cfg(all(test, threadkit_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::check;
    use loom::sync::Arc;
    use loom::thread;

    /// Hook data that knows whether it has been freed.
    struct Data {
        freed: AtomicBool,
        runs: crate::sync::AtomicUsize,
    }

    impl Data {
        fn new() -> Arc<Data> {
            Arc::new(Data {
                freed: AtomicBool::new(false),
                runs: crate::sync::AtomicUsize::new(0),
            })
        }
    }

    unsafe fn count_run(data: *const (), finished: &Finished<'_>) {
        // SAFETY: per `ExitHook::run`.
        let data = unsafe { &*data.cast::<Data>() };
        assert!(
            !data.freed.load(Ordering::Relaxed),
            "hook ran on freed data"
        );
        data.runs.fetch_add(1, Ordering::Relaxed);
        finished.done();
    }

    fn hook(data: &Arc<Data>) -> ExitHook {
        ExitHook {
            data: Arc::as_ptr(data).cast(),
            run: count_run,
        }
    }

    /// An owner dropping its object on one thread while the hook's thread
    /// exits: the hook runs at most once, never after the removal returned.
    #[test]
    fn removal_waits_for_a_running_hook() {
        check(|| {
            let record = Arc::new(ThreadRecord::current(1));
            let data = Data::new();
            assert!(record.add_exit_hook(hook(&data)));
            let dropper = {
                let (record, data) = (Arc::clone(&record), Arc::clone(&data));
                thread::spawn(move || {
                    record.remove_exit_hooks(Arc::as_ptr(&data).cast());
                    data.freed.store(true, Ordering::Relaxed);
                })
            };
            record.exit();
            dropper.join().unwrap();
            assert!(data.runs.load(Ordering::Relaxed) <= 1);
            assert!(!record.add_exit_hook(hook(&data)), "refused after exit");
        });
    }

    /// Data for a hook that, once done, removes the hooks of another object
    /// of the same thread: what dropping a `Counter` from a cache's exit hook
    /// does. With a lock held across hooks this deadlocks.
    struct Dropper {
        record: Arc<ThreadRecord>,
        other: *const (),
    }

    unsafe fn drop_other(data: *const (), finished: &Finished<'_>) {
        // SAFETY: per `ExitHook::run`.
        let data = unsafe { &*data.cast::<Dropper>() };
        let (record, other) = (Arc::clone(&data.record), data.other);
        finished.done();
        record.remove_exit_hooks(other);
    }

    #[test]
    fn a_hook_may_remove_other_hooks() {
        check(|| {
            let record = Arc::new(ThreadRecord::current(1));
            let other = Data::new();
            let dropper = Dropper {
                record: Arc::clone(&record),
                other: Arc::as_ptr(&other).cast(),
            };
            // Popped last-in first-out: the dropper runs first.
            assert!(record.add_exit_hook(hook(&other)));
            assert!(record.add_exit_hook(ExitHook {
                data: std::ptr::from_ref(&dropper).cast(),
                run: drop_other,
            }));
            let exiting = {
                let record = Arc::clone(&record);
                thread::spawn(move || record.exit())
            };
            exiting.join().unwrap();
            assert_eq!(
                other.runs.load(Ordering::Relaxed),
                0,
                "removed before it ran"
            );
            drop(dropper);
        });
    }
}
