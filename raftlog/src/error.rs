//! Typed errors of the log. They are `Clone` because one failed flush is reported to every
//! appender that was waiting on it, so an `std::io::Error` is carried as its errno and text.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Everything that can go wrong in the log or the snapshot store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// The device is full (ENOSPC / EDQUOT).
    #[error("no space left on device while {op} {path}")]
    NoSpace {
        /// What was being done.
        op: &'static str,
        /// Which file.
        path: PathBuf,
    },
    /// Any other I/O failure (EIO included).
    #[error("I/O error while {op} {path}: {message}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Which file.
        path: PathBuf,
        /// OS error number, when there is one (libc::EIO = 5).
        errno: Option<i32>,
        /// The OS's description.
        message: String,
    },
    /// Bytes on disk are not what the log wrote.
    #[error("corrupt data in {path} at byte offset {offset}: {reason}")]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// Byte offset of the first bad byte or record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write or sync failed; the log accepts nothing more until the node restarts
    /// and recovery decides what reached the disk.
    #[error("the log failed earlier and is read-only until restart: {0}")]
    Failed(Box<LogError>),
    /// The caller asked for something the log cannot do (gap in indexes, compaction beyond the
    /// last entry, entry larger than a segment, ...).
    #[error("invalid log operation: {0}")]
    Invalid(String),
    /// A snapshot chunk failed its checksum or arrived out of order.
    #[error("snapshot {snapshot}: {reason}")]
    Snapshot {
        /// Which snapshot (directory name).
        snapshot: String,
        /// What is wrong.
        reason: String,
    },
    /// The writer task is gone (the log was closed).
    #[error("the log writer has stopped")]
    Closed,
}

impl LogError {
    /// Classifies an I/O error into `NoSpace` or `Io`, keeping the file and operation.
    pub fn io(op: &'static str, path: &Path, e: &std::io::Error) -> LogError {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => LogError::NoSpace {
                op,
                path: path.to_path_buf(),
            },
            errno => LogError::Io {
                op,
                path: path.to_path_buf(),
                errno,
                message: e.to_string(),
            },
        }
    }

    /// Same as [`LogError::io`] for glommio's error type, which wraps the OS error.
    pub fn glommio<T>(op: &'static str, path: &Path, e: glommio::GlommioError<T>) -> LogError {
        match e {
            glommio::GlommioError::IoError(e) => LogError::io(op, path, &e),
            glommio::GlommioError::EnhancedIoError { source, .. } => {
                LogError::io(op, path, &source)
            }
            other => {
                let e: std::io::Error = other.into();
                LogError::io(op, path, &e)
            }
        }
    }

    /// True for errors caused by a full device.
    pub fn is_no_space(&self) -> bool {
        match self {
            LogError::NoSpace { .. } => true,
            LogError::Failed(inner) => inner.is_no_space(),
            _ => false,
        }
    }
}

impl From<LogError> for raft::Error {
    fn from(e: LogError) -> raft::Error {
        raft::Error::Store(raft::StorageError::Other(Box::new(e)))
    }
}
