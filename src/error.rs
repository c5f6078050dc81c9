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

impl FileError {
    /// A file whose content is not what was expected.
    pub fn invalid(path: &std::path::Path, message: impl Into<String>) -> Self {
        FileError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Reads a whole file, naming it if the operating system refuses.
pub fn read_bytes(path: &std::path::Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })
}
