//! The `errno` pattern for a C API over Rust code.
//!
//! Run with `cargo run --example ffi_last_error`. `kv_parse` is an
//! `extern "C"` function that reports failure with a status code and leaves
//! the details in a per-thread `LastError`; `kv_last_error_message` copies
//! them into a caller-provided buffer, NUL-terminated, the way C callers
//! need. `main` plays the C caller, through raw pointers only.

use std::ffi::{c_char, c_int, CStr};
use std::fmt;

use threadkit::last_error::{LastError, Message};

/// The library's error type: a code for C to switch on, and a message.
#[derive(Debug)]
enum KvError {
    MissingEquals { line: String },
    EmptyKey,
    NotUtf8,
}

impl KvError {
    fn code(&self) -> c_int {
        match self {
            KvError::MissingEquals { .. } => -1,
            KvError::EmptyKey => -2,
            KvError::NotUtf8 => -3,
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::MissingEquals { line } => write!(f, "expected `key=value`, found {line:?}"),
            KvError::EmptyKey => write!(f, "the key before `=` is empty"),
            KvError::NotUtf8 => write!(f, "input is not UTF-8"),
        }
    }
}

static LAST_ERROR: LastError<KvError> = LastError::new();

fn parse(input: &CStr) -> Result<usize, KvError> {
    let text = input.to_str().map_err(|_| KvError::NotUtf8)?;
    let mut pairs = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, _value) = line.split_once('=').ok_or_else(|| KvError::MissingEquals {
            line: line.to_string(),
        })?;
        if key.trim().is_empty() {
            return Err(KvError::EmptyKey);
        }
        pairs += 1;
    }
    Ok(pairs)
}

/// Parses `key=value` lines; returns the number of pairs, or a negative
/// error code with the details in the thread's last error.
///
/// # Safety
///
/// `input` is a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kv_parse(input: *const c_char) -> c_int {
    // SAFETY: the caller's contract.
    let input = unsafe { CStr::from_ptr(input) };
    match parse(input) {
        Ok(pairs) => {
            LAST_ERROR.clear();
            c_int::try_from(pairs).unwrap_or(c_int::MAX)
        }
        Err(error) => {
            let code = error.code();
            LAST_ERROR.set(error);
            code
        }
    }
}

/// Copies the thread's last error message into `buf` (NUL-terminated).
/// Returns its length, 0 if there is no error, or minus the buffer size
/// needed if `buf` is too small (what was written is a truncated message).
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn kv_last_error_message(buf: *mut c_char, len: usize) -> c_int {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    match LAST_ERROR.message(buf) {
        Message::NoError => 0,
        Message::Complete { len } => c_int::try_from(len).unwrap_or(c_int::MAX),
        Message::Truncated { needed, .. } => -c_int::try_from(needed).unwrap_or(c_int::MAX),
    }
}

/// What a C caller would write, spelled in Rust.
fn call(input: &CStr) {
    // SAFETY: `input` is a valid C string.
    let status = unsafe { kv_parse(input.as_ptr()) };
    if status >= 0 {
        println!("{:<24} -> {status} pairs", format!("{input:?}"));
        return;
    }
    let mut small = [0 as c_char; 24];
    // SAFETY: `small` is writable for its length.
    let written = unsafe { kv_last_error_message(small.as_mut_ptr(), small.len()) };
    // SAFETY: the function NUL-terminates what it writes.
    let message = unsafe { CStr::from_ptr(small.as_ptr()) }.to_string_lossy();
    if written < 0 {
        // Too small: retry with the size it asked for, as C callers do.
        let mut big = vec![0 as c_char; written.unsigned_abs() as usize];
        // SAFETY: `big` is writable for its length.
        unsafe { kv_last_error_message(big.as_mut_ptr(), big.len()) };
        // SAFETY: as above.
        let full = unsafe { CStr::from_ptr(big.as_ptr()) }.to_string_lossy();
        println!("{:<24} -> error {status}: {full}", format!("{input:?}"));
        println!("{:<24}    (first try, 24 bytes: {message:?})", "");
    } else {
        println!("{:<24} -> error {status}: {message}", format!("{input:?}"));
    }
}

fn main() {
    call(c"a=1\nb=2");
    call(c"a=1\nthis line has no equals sign");
    call(c"=orphan");
    call(c"\xff=1");
    // Errors are per thread: one set here is not seen by another thread.
    // SAFETY: a valid C string.
    unsafe { kv_parse(c"broken".as_ptr()) };
    std::thread::spawn(|| {
        let mut buf = [0 as c_char; 8];
        // SAFETY: `buf` is writable for its length.
        let status = unsafe { kv_last_error_message(buf.as_mut_ptr(), buf.len()) };
        println!("another thread sees status {status} (no error of its own)");
        assert_eq!(status, 0);
    })
    .join()
    .unwrap();
    assert!(LAST_ERROR.is_set());
}
