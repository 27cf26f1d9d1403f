//! Typed errors of the core. The PyO3 glue maps each kind to one Python exception class.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written: (path, reason).
    Io(String, std::io::Error),
    /// A pattern that does not compile, or cannot serve as a pre-tokenizer.
    Pattern(String),
    /// A bad argument: vocabulary size, special tokens, thread count, …
    Value(String),
    /// A token id outside the vocabulary.
    TokenId(i64, usize),
    /// Text holding a special token that the caller did not allow.
    DisallowedSpecial(String),
    /// A file in one of our formats (or a foreign one) that is malformed: (path, line, reason).
    Format(String, usize, String),
    /// Two tokens with the same bytes: the source, the two ids and the bytes (shown).
    DuplicateToken { source: String, first: u32, second: u32, bytes: String },
    /// Invalid UTF-8 under the strict policy: (path, byte offset).
    Utf8(String, u64),
    /// The caller asked to stop (Ctrl-C).
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(path, e) => write!(f, "{path}: {e}"),
            Error::Pattern(msg) | Error::Value(msg) => write!(f, "{msg}"),
            // An id inside the range that no token has: a gap between ordinary and special ids
            // (cl100k has none at 100256).
            Error::TokenId(id, n) if *id >= 0 && (*id as u64) < *n as u64 => {
                write!(f, "token id {id} is not used by this vocabulary: no token has it (its ids run 0..{}, with gaps)", n - 1)
            }
            Error::TokenId(id, n) => {
                write!(f, "token id {id} is out of range: this vocabulary has ids 0..{}", n - 1)
            }
            Error::DisallowedSpecial(token) => write!(
                f,
                "the text contains the special token {token:?}, which is not allowed here. \
                 To encode it as a special token pass allowed_special={{{token:?}}} (or \"all\"); \
                 to encode it as ordinary text pass disallowed_special=() (or leave it out of disallowed_special)"
            ),
            Error::Format(path, line, msg) => {
                if *line > 0 {
                    write!(f, "{path}, line {line}: {msg}")
                } else {
                    write!(f, "{path}: {msg}")
                }
            }
            Error::DuplicateToken { source, first, second, bytes } => {
                write!(f, "{source}: tokens {first} and {second} have the same bytes {bytes}")
            }
            Error::Utf8(path, offset) => {
                write!(f, "{path}: invalid UTF-8 at byte offset {offset}")
            }
            Error::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn io(path: impl AsRef<std::path::Path>, e: std::io::Error) -> Self {
        Error::Io(path.as_ref().display().to_string(), e)
    }
}
