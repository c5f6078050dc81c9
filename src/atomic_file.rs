//! Atomic file writing: bytes go to a temporary file beside the target, which is flushed to disk
//! and then renamed over the target, so a reader never sees a half-written file and an existing
//! file survives a failed write.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why an atomic write failed, with the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("{step} {path}: {source}")]
pub struct AtomicWriteError {
    /// The file being written.
    pub path: PathBuf,
    /// What was being done.
    pub step: &'static str,
    /// The underlying error.
    pub source: io::Error,
}

/// Writes `path` atomically; `fill` writes the content into a buffered writer.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
) -> Result<(), AtomicWriteError> {
    let fail = |step: &'static str| {
        let path = path.to_path_buf();
        move |source| AtomicWriteError { path, step, source }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".nrf-write-")
        .tempfile_in(&dir)
        .map_err(fail("cannot create a temporary file beside"))?;
    {
        let mut out = BufWriter::new(tmp.as_file());
        fill(&mut out).map_err(fail("cannot write"))?;
        out.flush().map_err(fail("cannot write"))?;
    }
    tmp.as_file().sync_all().map_err(fail("cannot flush"))?;
    // Temporary files are private (0600); the finished file gets the permissions of the file
    // it replaces, or the usual 0644.
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => Some(existing.permissions()),
        Err(_) => default_permissions(),
    };
    if let Some(permissions) = permissions {
        tmp.as_file()
            .set_permissions(permissions)
            .map_err(fail("cannot set the permissions of"))?;
    }
    tmp.persist(path)
        .map_err(|e| fail("cannot move the finished file into place at")(e.error))?;
    Ok(())
}

/// The mode of a new file: 0644 on Unix; elsewhere the temporary file's own is fine.
#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kept.txt");
        std::fs::write(&path, b"old").expect("write");
        let err = write_atomically(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("disk on fire"))
        })
        .expect_err("must fail");
        assert!(err.to_string().contains("kept.txt"));
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        write_atomically(&path, |out| out.write_all(b"new")).expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_readable_by_others_and_replaced_files_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.bin");
        write_atomically(&path, |out| out.write_all(b"x")).expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomically(&path, |out| out.write_all(b"y")).expect("write");
        assert_eq!(mode(&path), 0o600);
    }
}
