//! Reusable per-thread buffers: the allocation a hot path would make on every
//! call, made once per thread instead.
//!
//! A serializer that builds each message in a fresh `Vec<u8>` pays a `malloc`
//! and a `free` per call, plus the reallocations while the vector grows. A
//! buffer kept per thread costs neither once it has grown, and unlike a
//! buffer pool behind a `Mutex` it makes threads wait for nothing.
//!
//! ```
//! use std::io::Write;
//!
//! let len = threadkit::scratch::with_bytes(|buf| {
//!     assert!(buf.is_empty()); // always empty on entry
//!     write!(buf, "GET /{} HTTP/1.1\r\n", "index.html").unwrap();
//!     buf.len() // e.g. send it here; the capacity stays for the next call
//! });
//! assert_eq!(len, 26);
//! ```
//!
//! [`with_bytes`] and [`with_string`] lend the calling thread's `Vec<u8>` and
//! `String`; [`bytes`] and [`string`] return a guard that gives the buffer
//! back when it is dropped. For other types, declare a [`ScratchPool`]:
//!
//! ```
//! use threadkit::scratch::ScratchPool;
//!
//! struct Record { id: u32 }
//!
//! static RECORDS: ScratchPool<Vec<Record>> = ScratchPool::new();
//!
//! let ids = RECORDS.with(|batch| {
//!     batch.extend((0..10).map(|id| Record { id }));
//!     batch.iter().map(|r| r.id).sum::<u32>()
//! });
//! assert_eq!(ids, 45);
//! ```
//!
//! # The rules
//!
//! - **Empty on entry.** A buffer is [`reset`](Reuse::reset) (for a `Vec`:
//!   cleared, its elements dropped) when it is given back, so the next user on
//!   the thread — the next task of a thread pool, say — never sees what the
//!   last one left, even if that one panicked.
//! - **Reentrant.** A call nested inside another on the same pool gets a
//!   different buffer; both are kept for reuse afterwards. There is no
//!   `RefCell` to double-borrow, so no `BorrowMutError` panic.
//! - **Bounded memory.** Each pool keeps at most
//!   [`max_buffers`](ScratchPool::max_buffers) buffers per thread, each
//!   holding at most [`max_bytes`](ScratchPool::max_bytes) of capacity
//!   (defaults: [`DEFAULT_MAX_BUFFERS`] = 4 and [`DEFAULT_MAX_BYTES`] =
//!   64 KiB; choose others with [`ScratchPool::with_limits`]). A buffer
//!   that grew past the cap is shrunk to it when given back, or dropped if it
//!   cannot shrink, so one huge request does not leave every thread of a pool
//!   holding a huge buffer. A thread's buffers are freed when it exits.
//! - **Thread exit is a normal case.** After the crate's teardown for the
//!   thread ([Thread exit](crate#thread-exit)), or from any point where the
//!   thread's slot is gone, a call gets a fresh temporary buffer, dropped
//!   afterwards. Nothing panics.
//! - **Buffers stay on their thread.** The guard is `!Send`, and the
//!   closure forms lend the buffer only for the closure:
//!
//! ```compile_fail
//! // error: the guard cannot be sent to another thread
//! let buf = threadkit::scratch::bytes();
//! std::thread::spawn(move || drop(buf));
//! ```
//!
//! ```compile_fail
//! // error: the buffer cannot escape the closure
//! let escaped: &mut Vec<u8> = threadkit::scratch::with_bytes(|buf| buf);
//! ```
//!
//! # Compared with
//!
//! - A `thread_local!` `RefCell<Vec<u8>>` written by hand is the fastest
//!   single-buffer version (the benchmarks compare against it), but it panics
//!   on nested use, keeps whatever capacity the largest call left, and panics
//!   during thread teardown.
//! - A `Mutex<Vec<Vec<u8>>>` pool is shared by all threads, so they queue on
//!   its lock.
//! - A fresh `Vec::with_capacity` per call allocates and frees every time.

mod local;
mod pool;
mod reuse;

pub(crate) use local::{local_pool, Hot, LocalPool};
pub use pool::{Scratch, ScratchPool};
pub use pool::{DEFAULT_MAX_BUFFERS, DEFAULT_MAX_BYTES};
pub use reuse::Reuse;

local_pool! {
    /// The pool behind [`with_bytes`] and [`bytes`].
    static BYTES: Vec<u8> = (
        DEFAULT_MAX_BUFFERS,
        DEFAULT_MAX_BYTES,
    );
    /// The pool behind [`with_string`] and [`string`].
    static STRINGS: String = (
        DEFAULT_MAX_BUFFERS,
        DEFAULT_MAX_BYTES,
    );
}

/// The capacity, in bytes, that the calling thread keeps in the buffers of
/// [`with_bytes`], [`bytes`], [`with_string`] and [`string`]: at most
/// [`DEFAULT_MAX_BUFFERS`] buffers of each kind, each of at most
/// [`DEFAULT_MAX_BYTES`].
///
/// # Examples
///
/// ```
/// use threadkit::scratch::{self, DEFAULT_MAX_BYTES};
///
/// scratch::with_bytes(|buf| buf.reserve(10 << 20)); // one 10 MiB use
/// let kept = scratch::retained_bytes();
/// assert!(kept >= 1024 && kept <= DEFAULT_MAX_BYTES, "shrunk to the cap, and kept");
/// ```
pub fn retained_bytes() -> usize {
    BYTES.retained_bytes() + STRINGS.retained_bytes()
}

/// How many buffers holding memory the calling thread keeps for
/// [`with_bytes`], [`bytes`], [`with_string`] and [`string`].
///
/// # Examples
///
/// ```
/// use threadkit::scratch;
///
/// scratch::with_bytes(|outer| {
///     outer.push(1);
///     scratch::with_bytes(|inner| inner.push(2)); // nested: a second buffer
/// });
/// assert_eq!(scratch::retained_count(), 2);
/// ```
pub fn retained_count() -> usize {
    BYTES.retained_count() + STRINGS.retained_count()
}

/// Frees the calling thread's kept buffers of [`with_bytes`], [`bytes`],
/// [`with_string`] and [`string`] now rather than at thread exit.
///
/// # Examples
///
/// ```
/// use threadkit::scratch;
///
/// scratch::with_string(|s| s.push_str("some text"));
/// scratch::release();
/// assert_eq!(scratch::retained_bytes(), 0);
/// ```
pub fn release() {
    BYTES.release();
    STRINGS.release();
}

/// Runs `f` with an empty byte buffer of the calling thread, kept for reuse
/// afterwards.
///
/// The buffer is empty on entry, whatever the last user did with it. A
/// nested call gets a different buffer. See the [module documentation](self)
/// for the limits on what is kept.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// fn frame(payload: &[u8]) -> usize {
///     threadkit::scratch::with_bytes(|buf| {
///         buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
///         buf.write_all(payload).unwrap();
///         buf.len()
///     })
/// }
/// assert_eq!(frame(b"hello"), 9);
/// assert_eq!(frame(b""), 4);
/// ```
#[inline]
pub fn with_bytes<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    BYTES.with(f)
}

/// Runs `f` with an empty string buffer of the calling thread, kept for reuse
/// afterwards.
///
/// # Examples
///
/// ```
/// use std::fmt::Write;
///
/// let width = threadkit::scratch::with_string(|s| {
///     write!(s, "{:>8.3}", std::f64::consts::PI).unwrap();
///     s.len()
/// });
/// assert_eq!(width, 8);
/// ```
#[inline]
pub fn with_string<R>(f: impl FnOnce(&mut String) -> R) -> R {
    STRINGS.with(f)
}

/// Takes an empty byte buffer of the calling thread; it goes back when the
/// guard is dropped.
///
/// # Examples
///
/// ```
/// let mut buf = threadkit::scratch::bytes();
/// buf.extend_from_slice(b"abc");
/// assert_eq!(&buf[..], b"abc");
/// drop(buf); // back to the pool, cleared
/// assert!(threadkit::scratch::bytes().is_empty());
/// ```
#[inline]
pub fn bytes() -> Scratch<'static, Vec<u8>> {
    BYTES.buffer()
}

/// Takes an empty string buffer of the calling thread; it goes back when the
/// guard is dropped.
///
/// # Examples
///
/// ```
/// let mut s = threadkit::scratch::string();
/// s.push_str("hello");
/// assert_eq!(s.as_str(), "hello");
/// ```
#[inline]
pub fn string() -> Scratch<'static, String> {
    STRINGS.buffer()
}
