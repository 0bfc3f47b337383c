//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading, checking or fetching data.
/// Each variant names the file or value at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stream ended or failed while reading an in-memory source.
    #[error("{what}: {source}")]
    Read {
        /// What was being read.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not in the expected format.
    #[error("{what} is not a valid {format}: {reason}")]
    Format {
        /// The file or stream.
        what: String,
        /// The format expected (".npy", "CIFAR-10 batch", …).
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file or stream has the wrong length.
    #[error("{what}: expected {expected} bytes, found {got}")]
    Length {
        /// The file or stream.
        what: String,
        /// The exact length required.
        expected: u64,
        /// The length found.
        got: u64,
    },
    /// An array element type this crate does not read.
    #[error("{what}: unsupported dtype '{descr}' (supported: u8, i32, i64, f32, f64)")]
    UnsupportedDtype {
        /// The file.
        what: String,
        /// The numpy type descriptor.
        descr: String,
    },
    /// A CSV cell that is not a number.
    #[error("{what}, line {line}, column {column}: cannot parse '{cell}' as a number")]
    Csv {
        /// The file.
        what: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The cell's text.
        cell: String,
    },
    /// Inputs disagree in size.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which size of which input.
        what: String,
        /// The size required.
        expected: String,
        /// The size given.
        got: String,
    },
    /// An input has no samples or no features.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: String,
    },
    /// NaN or an infinity where finite numbers are required.
    #[error("{what} holds a non-finite value at index {index}")]
    NonFinite {
        /// Which input.
        what: String,
        /// Flat index of the first offending value.
        index: usize,
    },
    /// An option is out of range.
    #[error("invalid {what}: {reason}")]
    InvalidParameter {
        /// The option.
        what: &'static str,
        /// The valid range.
        reason: String,
    },
    /// A checksum did not match the pinned value; the file was removed.
    #[error(
        "{what}: {algorithm} checksum mismatch (expected {expected}, got {got}); the file was deleted"
    )]
    Checksum {
        /// The file.
        what: String,
        /// "MD5" or "SHA-256".
        algorithm: &'static str,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes received.
        got: String,
    },
    /// A download failed; nothing partial was left at the destination.
    #[error(
        "download of {url} failed: {reason}\n  to install by hand, fetch that URL on a machine with network access and place the file at {manual_path}"
    )]
    Download {
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
        /// Where a manually fetched archive is picked up.
        manual_path: PathBuf,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub(crate) fn format(
        what: impl Into<String>,
        format: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::Format {
            what: what.into(),
            format,
            reason: reason.into(),
        }
    }
}
