//! The `nrf` binary end to end: `nrf info` against nibabel's answers, errors in one line.

use std::process::Command;

use crate::support::data;

fn nrf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(args)
        .output()
        .expect("run nrf")
}

#[test]
fn info_json_has_exactly_nibabels_keys_and_values() {
    let path = data("nifti/neurovault_10426_statmap.nii.gz");
    let out = nrf(&["info", path.to_str().expect("utf-8"), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["affine", "dtype", "max", "mean", "min", "shape", "zooms"]
    );
    assert_eq!(v["shape"], serde_json::json!([53, 63, 46]));
    assert_eq!(v["dtype"], "<f4");
    assert_eq!(
        v["affine"],
        serde_json::json!([
            [-3.0, 0.0, 0.0, 78.0],
            [0.0, 3.0, 0.0, -112.0],
            [0.0, 0.0, 3.0, -50.0],
            [0.0, 0.0, 0.0, 1.0]
        ])
    );
    assert!((v["mean"].as_f64().expect("mean") - 0.022528021880439782).abs() < 1e-9);
}

#[test]
fn info_prints_a_readable_summary() {
    let path = data("nifti/example_nifti2.nii.gz");
    let out = nrf(&["info", path.to_str().expect("utf-8")]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in ["NIfTI-2", "32 × 20 × 12 × 2", "<i2", "sform"] {
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn errors_are_one_line_naming_the_file() {
    let out = nrf(&["info", "/no/such/file.nii.gz"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("/no/such/file.nii.gz"),
        "{stderr}"
    );
}

#[test]
fn template_writes_a_brain_mask_at_the_requested_spacing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("mask.nii.gz");
    let out = nrf(&[
        "template",
        "--image",
        "brain-mask",
        "--spacing",
        "4",
        "--out",
        out_path.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mask = nrf::volume::Volume::read_nifti(&out_path, 0).expect("read");
    assert_eq!(mask.grid.dims, [50, 59, 48]);
    assert!(mask.data.iter().all(|&v| v == 0.0 || v == 1.0));
    let bad = nrf(&[
        "template",
        "--spacing",
        "0",
        "--out",
        out_path.to_str().expect("utf-8"),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("spacing 0 mm"));
}

#[test]
fn every_subcommand_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["info", "--help"],
        vec!["gpu", "--help"],
        vec!["template", "--help"],
    ] {
        let out = nrf(&cmd);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}
