//! The one thing every fuzz target does: hand the bytes to nrf's reader of one format, in a
//! scratch folder that lives as long as the fuzzing process.

use std::path::Path;
use std::sync::OnceLock;

use nrf::formats::InputFormat;

fn scratch() -> &'static Path {
    static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();
    SCRATCH
        .get_or_init(|| tempfile::tempdir().expect("a scratch folder for the fuzzed files"))
        .path()
}

/// Reads `bytes` as `format`; an error is a fine outcome, a panic or a crash is a finding.
pub fn read(format: InputFormat, bytes: &[u8]) {
    let _ = format.read(bytes, scratch());
}
