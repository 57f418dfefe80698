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

mod message;
mod slots;

pub use message::Message;

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use crate::thread::instance::InstanceId;
use slots::{Alive, Slot};

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
        self.with(|error| message::write(buf, error.map(|error| error as &dyn fmt::Display)))
    }

    /// Runs `f` on this thread's slot, creating it if need be. `None` if the
    /// thread's slots are gone or borrowed.
    fn access<R>(&self, f: impl FnOnce(&mut Slot<E>) -> R) -> Option<R> {
        slots::access(self.id.get(), &self.alive, f)
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

impl<E> Drop for LastError<E> {
    /// Drops the calling thread's error now, and every other thread's on
    /// that thread's next use of any `LastError`, or when it exits.
    fn drop(&mut self) {
        slots::drop_instance(self.id.peek(), self.alive.get());
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
