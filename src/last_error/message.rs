//! [`Message`]: a last error's message written into a C caller's buffer.

use std::fmt::{self, Write as _};

/// How [`LastError::message`](super::LastError::message) filled the caller's buffer.
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

/// Writes `error`'s message into `buf` as a C string (cut at a character
/// boundary if it does not fit), and says how it went.
pub(super) fn write(buf: &mut [u8], error: Option<&dyn fmt::Display>) -> Message {
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
