//! Shared helpers: fixture paths, the GPU harness, and the optional nibabel cross-check.

use std::path::PathBuf;
use std::process::Command;

use nrf::gpu::GpuContext;

/// Path of a file under `tests/data/`.
pub fn data(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

/// Whether we run under CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips a test (prints why and returns `None`) when a requirement is missing on a developer's
/// machine; under `CI=true` a missing requirement fails the test instead.
pub fn require<T>(test: &str, what: Result<T, String>) -> Option<T> {
    match what {
        Ok(value) => Some(value),
        Err(reason) if in_ci() => panic!("{test}: required under CI=true, but {reason}"),
        Err(reason) => {
            eprintln!("SKIPPED {test}: {reason}");
            None
        }
    }
}

/// The GPU harness: an adapter (a software one such as lavapipe is fine), or a printed skip.
pub fn gpu_or_skip(test: &str) -> Option<GpuContext> {
    require(test, GpuContext::request().map_err(|e| e.to_string()))
}

/// Runs a Python snippet that needs nibabel; `Err` says why it could not run (no Python, no
/// nibabel), and a failing script panics with its stderr.
pub fn python_with_nibabel(script: &str, args: &[&str]) -> Result<String, String> {
    let probe = Command::new("python3")
        .args(["-c", "import nibabel, numpy"])
        .output()
        .map_err(|e| format!("python3 is not available ({e})"))?;
    if !probe.status.success() {
        return Err("python3 has no nibabel/numpy (pip install nibabel numpy)".into());
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .map_err(|e| format!("python3 failed to start ({e})"))?;
    assert!(
        out.status.success(),
        "python script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads a little-endian float32 `.npy` file as (shape, values).
pub fn read_npy_f32(path: &std::path::Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = npy.shape().to_vec();
    let values = npy.into_vec::<f32>().expect("float32 npy");
    (shape, values)
}

/// Asserts two 4×4 row-major matrices agree within `tolerance` (the first `rows` rows).
pub fn assert_matrix_close(
    got: &[[f64; 4]; 4],
    want: &[[f64; 4]; 4],
    rows: usize,
    tolerance: f64,
    label: &str,
) {
    for (r, (g, w)) in got.iter().zip(want).take(rows).enumerate() {
        for (c, (a, b)) in g.iter().zip(w).enumerate() {
            assert!((a - b).abs() <= tolerance, "{label}[{r}][{c}]: {a} vs {b}");
        }
    }
}

/// Asserts an error message contains every word.
pub fn assert_mentions(message: &str, words: &[&str]) {
    for word in words {
        assert!(
            message.contains(word),
            "{message:?} should mention {word:?}"
        );
    }
}

/// A model configuration with small image features (8-wide tokens on a 2 × 2 grid, a 6-wide
/// global vector), so the MLP of `hidden` × `layers` with `latent_in` is what a test exercises.
pub fn small_feature_config(
    hidden: usize,
    layers: usize,
    latent_in: Vec<usize>,
) -> nrf::model::NrfConfig {
    nrf::model::NrfConfig::new()
        .with_token_dim(8)
        .with_patches_per_side(2)
        .with_token_proj_dim(4)
        .with_merged_dim(8)
        .with_global_dim(6)
        .with_hidden(hidden)
        .with_num_layers(layers)
        .with_latent_in(latent_in)
}
