//! [`LastError<E>`]: an `errno`-style error slot per thread, for C APIs over
//! Rust code.
//!
//! A C function cannot return a `Result`. The usual shape is a status code,
//! with the details kept for the calling thread to fetch afterwards:
//!
//! ```
//! use std::ffi::{c_char, c_int, CStr};
//! use threadkit::last_error::{LastError, Message};
//!
//! static LAST_ERROR: LastError<String> = LastError::new();
//!
//! #[no_mangle]
//! pub extern "C" fn parse_port(text: *const c_char) -> c_int {
//!     // SAFETY: the caller passes a NUL-terminated string.
//!     let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
//!     match text.parse::<u16>() {
//!         Ok(port) => c_int::from(port),
//!         Err(e) => {
//!             LAST_ERROR.set(format!("bad port {text:?}: {e}"));
//!             -1
//!         }
//!     }
//! }
//!
//! #[no_mangle]
//! pub extern "C" fn last_error_message(buf: *mut c_char, len: usize) -> c_int {
//!     // SAFETY: the caller passes a writable buffer of `len` bytes.
//!     let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
//!     match LAST_ERROR.message(buf) {
//!         Message::NoError => 0,
//!         Message::Complete { len } => len as c_int,
//!         Message::Truncated { .. } => -1,
//!     }
//! }
//!
//! assert_eq!(parse_port(c"8080".as_ptr()), 8080);
//! assert_eq!(parse_port(c"http".as_ptr()), -1);
//! let mut buf = [0 as c_char; 128];
//! let len = last_error_message(buf.as_mut_ptr(), buf.len());
//! let message = unsafe { CStr::from_ptr(buf.as_ptr()) };
//! assert_eq!(message.to_str().unwrap(), "bad port \"http\": invalid digit found in string");
//! assert_eq!(len as usize, message.to_bytes().len());
//! ```
//!
//! # Why a typed static, not one global slot
//!
//! `errno` is one slot per thread for the whole process. A Rust library that
//! exposes a C API needs its own slot (so two libraries in one process do not
//! overwrite each other's errors) and often its own error type (an enum the
//! C side maps to codes, with a message). So [`LastError<E>`] is declared as
//! a `static` per library, generic over the error type; a
//! `Box<dyn Error + Send + Sync>` works as `E` for those who want the
//! catch-all.
//!
//! # The rules
//!
//! - **Per thread.** An error set on one thread is seen only by that
//!   thread.
//! - **Reentrant.** No borrow is held across user code (the closure given to
//!   [`with`](LastError::with), or `E`'s `Drop` and `Display`). Inside
//!   `with`, the error is on loan to the closure: a nested `with`, `take` or
//!   `is_set` on the same slot sees no error; a nested `set` or `clear`
//!   wins, and the loaned error is dropped when the closure returns;
//!   otherwise the error goes back into the slot, also if the closure panics.
//! - **Thread exit is a normal case.** The slot works in `thread_local!`
//!   destructors. Once the thread's slots are gone (after the crate's
//!   teardown for it, see [Thread exit](crate#thread-exit)), `set` drops
//!   the error instead of storing it and the slot reads as empty; nothing
//!   panics. A thread's errors are dropped when it exits.
//! - **Dropping a `LastError` frees its errors.** (A `static` is never
//!   dropped; this is for `LastError`s that are fields or locals.) The
//!   calling thread's error is dropped at once; every other thread drops its
//!   own on its next use of any `LastError`, or when it exits. Memory stays
//!   bounded by the live `LastError`s times the threads using them.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::thread::exit::{self, ExitOwned};
use crate::thread::instance::InstanceId;

/// An error slot per thread, declared as a `static`.
///
/// See the [module documentation](self) for the rules.
///
/// # Examples
///
/// ```
/// use threadkit::last_error::LastError;
///
/// static ERROR: LastError<std::io::Error> = LastError::new();
///
/// ERROR.set(std::io::Error::other("disk full"));
/// assert!(ERROR.is_set());
/// let error = ERROR.take().unwrap();
/// assert_eq!(error.to_string(), "disk full");
/// assert!(ERROR.take().is_none()); // taking empties the slot
/// ```
pub struct LastError<E> {
    id: InstanceId,
    /// Shared with every thread's slot for this instance, so that a thread
    /// can tell its slot belongs to a dropped instance.
    alive: OnceLock<Arc<Alive>>,
    _error: PhantomData<fn() -> E>,
}

impl<E: 'static> LastError<E> {
    /// Creates an error slot; each thread's starts empty.
    #[must_use]
    pub const fn new() -> LastError<E> {
        LastError {
            id: InstanceId::new(),
            alive: OnceLock::new(),
            _error: PhantomData,
        }
    }

    /// Stores `error` as the calling thread's last error, dropping any
    /// previous one.
    ///
    /// After the thread's slots are gone (late in thread exit), `error` is
    /// dropped instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::last_error::LastError;
    ///
    /// let last = LastError::new();
    /// last.set("first");
    /// last.set("second");
    /// assert_eq!(last.take(), Some("second"));
    /// ```
    pub fn set(&self, error: E) {
        let previous = self.replace(Some(error));
        drop(previous); // user code, with no borrow held
    }

    /// Takes the calling thread's last error, leaving the slot empty.
    pub fn take(&self) -> Option<E> {
        self.access(|slot| {
            let error = slot.error.take();
            if error.is_some() {
                slot.version += 1;
            }
            error
        })
        .flatten()
    }

    /// Empties the calling thread's slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::last_error::LastError;
    ///
    /// let last = LastError::new();
    /// last.set(5);
    /// last.clear();
    /// assert!(!last.is_set());
    /// ```
    pub fn clear(&self) {
        drop(self.replace(None));
    }

    /// Whether the calling thread has an error set.
    pub fn is_set(&self) -> bool {
        self.access(|slot| slot.error.is_some()).unwrap_or(false)
    }

    /// A clone of the calling thread's last error, leaving it in place.
    pub fn get(&self) -> Option<E>
    where
        E: Clone,
    {
        self.with(|error| error.cloned())
    }

    /// Calls `f` with the calling thread's last error, leaving it in place.
    ///
    /// The error is on loan to `f`: see the
    /// [module documentation](self#the-rules) for what nested calls see.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::last_error::LastError;
    ///
    /// let last: LastError<String> = LastError::new();
    /// assert_eq!(last.with(|e| e.map(String::len)), None);
    /// last.set("timeout".to_string());
    /// assert_eq!(last.with(|e| e.map(String::len)), Some(7));
    /// assert!(last.is_set()); // still there
    /// ```
    pub fn with<F, R>(&self, f: F) -> R
    where
        F: FnOnce(Option<&E>) -> R,
    {
        let loan = self
            .access(|slot| slot.error.take().map(|error| (error, slot.version)))
            .flatten();
        match loan {
            None => f(None),
            Some((error, version)) => {
                let loan = Loan {
                    slot: self,
                    error: Some(error),
                    version,
                };
                f(loan.error.as_ref())
            }
        }
    }

    /// Writes the calling thread's last error, rendered with `Display`, into
    /// `buf` as a NUL-terminated C string, and says how that went.
    ///
    /// A message that does not fit is cut at a UTF-8 character boundary so
    /// that the bytes written stay valid UTF-8, and still NUL-terminated (if
    /// `buf` has room for the NUL at all). Rendering allocates nothing. A
    /// message that contains NUL bytes reads as shorter from C.
    ///
    /// With no error set, `buf` gets an empty string.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::last_error::{LastError, Message};
    ///
    /// let last = LastError::new();
    /// let mut buf = [0xff_u8; 8];
    /// assert_eq!(last.message(&mut buf), Message::NoError);
    /// assert_eq!(buf[0], 0);
    ///
    /// last.set("no such file");
    /// assert_eq!(last.message(&mut buf), Message::Truncated { len: 7, needed: 13 });
    /// assert_eq!(&buf, b"no such\0");
    ///
    /// let mut big = [0_u8; 16];
    /// assert_eq!(last.message(&mut big), Message::Complete { len: 12 });
    /// assert_eq!(&big[..13], b"no such file\0");
    /// ```
    pub fn message(&self, buf: &mut [u8]) -> Message
    where
        E: fmt::Display,
    {
        self.with(|error| {
            let mut out = CString {
                buf,
                len: 0,
                needed: 0,
                truncated: false,
            };
            let message = match error {
                None => Message::NoError,
                Some(error) => {
                    // `CString` itself never fails; an `Err` here comes from
                    // `E`'s `Display`, and whatever it wrote so far stands.
                    let _ = write!(out, "{error}");
                    if out.truncated || out.buf.is_empty() {
                        Message::Truncated {
                            len: out.len,
                            needed: out.needed + 1,
                        }
                    } else {
                        Message::Complete { len: out.len }
                    }
                }
            };
            if let Some(nul) = out.buf.get_mut(out.len) {
                *nul = 0;
            }
            message
        })
    }

    /// Puts `error` in the slot; returns what was there (or, if the slot is
    /// gone, `error` itself) for the caller to drop.
    fn replace(&self, error: Option<E>) -> Option<E> {
        let mut error = error;
        let stored = self.access(|slot| {
            slot.version += 1;
            std::mem::replace(&mut slot.error, error.take())
        });
        match stored {
            Some(previous) => previous,
            None => error,
        }
    }

    /// Runs `f` on this thread's slot, creating it if need be. `None` if the
    /// thread's slots are gone or borrowed (never, as nothing here calls user
    /// code while borrowing them).
    fn access<R>(&self, f: impl FnOnce(&mut Slot<E>) -> R) -> Option<R> {
        let id = self.id.get();
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
                        let alive = self
                            .alive
                            .get_or_init(|| Arc::new(Alive(AtomicBool::new(true))));
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
}

/// Drops the calling thread's slots (their errors) and closes them: for the
/// thread's exit (see `thread::exit`). From here on `set` drops its error
/// and the slots read as empty, as after a thread-local destructor.
fn close_thread_local() {
    let _ = SLOTS.try_with(exit::close);
}

impl<E: 'static> Default for LastError<E> {
    fn default() -> LastError<E> {
        LastError::new()
    }
}

impl<E> fmt::Debug for LastError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastError").finish_non_exhaustive()
    }
}

/// How [`LastError::message`] filled the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// No error is set; the buffer holds an empty string (if it has room for
    /// the NUL).
    NoError,
    /// The whole message fit: `len` bytes, then the NUL.
    Complete {
        /// The message's length in bytes, without the NUL (`strlen`).
        len: usize,
    },
    /// The buffer was too small: its first `len` bytes hold the start of the
    /// message, then the NUL.
    Truncated {
        /// The bytes written, without the NUL.
        len: usize,
        /// The buffer size that would hold the whole message and its NUL.
        needed: usize,
    },
}

/// One error slot of one thread, for one `LastError<E>`.
struct Slot<E> {
    error: Option<E>,
    /// Bumped by every `set`, `clear` and successful `take`, so that a loan
    /// knows whether the slot changed while the error was out.
    version: u64,
}

/// A slot with its type erased, tagged with its `LastError`'s id.
struct Erased {
    id: u64,
    alive: Arc<Alive>,
    slot: Box<dyn Any>,
}

/// Whether a `LastError` still exists; cleared by its `Drop`.
struct Alive(AtomicBool);

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

impl<E> Drop for LastError<E> {
    /// Drops the calling thread's error now, and every other thread's on
    /// that thread's next use of any `LastError`, or when it exits.
    fn drop(&mut self) {
        let Some(alive) = self.alive.get() else {
            return; // no thread ever had a slot
        };
        alive.0.store(false, Ordering::Relaxed);
        DROPPED.fetch_add(1, Ordering::Release);
        let id = self.id.peek();
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
}

/// An error taken out for `with`, put back on drop unless the slot changed.
struct Loan<'a, E: 'static> {
    slot: &'a LastError<E>,
    error: Option<E>,
    version: u64,
}

impl<E: 'static> Drop for Loan<'_, E> {
    fn drop(&mut self) {
        let mut error = self.error.take();
        self.slot.access(|slot| {
            if slot.version == self.version && slot.error.is_none() {
                slot.error = error.take();
            }
        });
        drop(error); // superseded (or the slot is gone): user code, no borrow
    }
}

/// A byte buffer that takes a C string: at most `buf.len() - 1` bytes of
/// text, cut at a character boundary, leaving room for the NUL.
struct CString<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// The length of the whole message.
    needed: usize,
    truncated: bool,
}

impl fmt::Write for CString<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.needed += s.len();
        if self.truncated {
            return Ok(());
        }
        let room = self.buf.len().saturating_sub(1) - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        self.truncated = take < s.len();
        Ok(())
    }
}
