//! The file error every reader shares: a file that cannot be read, or whose content is not what
//! was expected. Each names the file; domain errors (`ModelError`, `ClipError`, `NpyError`) wrap it.

use std::path::PathBuf;

/// A file that cannot be read, or whose content is unusable.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The operating system refused the read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The content is not what was expected.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
}
