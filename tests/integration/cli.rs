//! The `nrf` binary end to end: `nrf info` against nibabel's answers, errors in one line.

use std::process::Command;

use crate::support::{data, require};

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
fn exit_after_needs_the_frame_rate_and_a_sensible_time() {
    let refused = |args: &[&str], says: &str| {
        let out = nrf(args);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(&["view", "--exit-after", "5"], "--frame-rate");
    refused(
        &["view", "--frame-rate", "--exit-after=-3"],
        "expected 0 to 86400 seconds",
    );
    refused(
        &["view", "--frame-rate", "--exit-after", "NaN"],
        "expected 0 to 86400 seconds",
    );
}

#[test]
fn a_misspelt_gpu_kernel_is_refused_with_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(["info", "/no/such/file.nii.gz"])
        .env("NRF_GPU_KERNEL", "cuda")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NRF_GPU_KERNEL") && stderr.contains("fused, tiled or layered"),
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
        vec!["convert", "--help"],
        vec!["predict", "--help"],
        vec!["bench", "query", "--help"],
        vec!["bench", "features", "--help"],
    ] {
        let out = nrf(&cmd);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn convert_then_predict_reproduces_pytorch_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("official.nrf");
    let official = data("nrf-official");
    let out = nrf(&[
        "convert",
        official.to_str().expect("utf-8"),
        "--out",
        model.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prediction = dir.path().join("prediction.npy");
    let arg = |p: &str| data(p).to_str().expect("utf-8").to_string();
    let out = nrf(&[
        "predict",
        "--model",
        model.to_str().expect("utf-8"),
        "--tokens",
        &arg("nrf-official/early_features.npy"),
        "--global",
        &arg("nrf-official/higher_features.npy"),
        "--points",
        &arg("nrf-official/coords_mni_mm.npy"),
        "--device",
        "cpu",
        "--out",
        prediction.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CPU"));
    let got = nrf::npy::read_f32(&prediction).expect("prediction");
    let want = nrf::npy::read_f32(data("nrf-official/expected_prediction.npy")).expect("expected");
    assert_eq!(got.shape, want.shape);
    let err = got
        .data
        .iter()
        .zip(&want.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err <= 1e-4, "max abs error {err}");

    // A coarse grid straight from the official folder: one volume per image, 0 outside the brain.
    let volume = dir.path().join("grid.nii.gz");
    let out = nrf(&[
        "predict",
        "--model",
        official.to_str().expect("utf-8"),
        "--tokens",
        &arg("nrf-official/early_features.npy"),
        "--global",
        &arg("nrf-official/higher_features.npy"),
        "--grid",
        "8",
        "--device",
        "cpu",
        "--out",
        volume.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("domain is unknown"));
    let image = nrf::volume::NiftiImage::read(&volume).expect("nifti");
    assert_eq!(image.header.shape, vec![25, 30, 24, 4]);
    assert!(image.data.iter().all(|v| v.is_finite()));
    assert_eq!(image.data[0], 0.0, "corner of the box is outside the brain");
    assert!(image.data.iter().filter(|&&v| v != 0.0).count() > 1000);
}

#[test]
fn predict_refuses_features_that_do_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.npy");
    nrf::npy::write_f32(&tokens, &[1, 2, 9, 32], &vec![0.0; 2 * 9 * 32]).expect("write");
    let global = dir.path().join("global.npy");
    nrf::npy::write_f32(&global, &[1, 24], &[0.0; 24]).expect("write");
    let out = nrf(&[
        "predict",
        "--model",
        data("nrf-official").to_str().expect("utf-8"),
        "--tokens",
        tokens.to_str().expect("utf-8"),
        "--global",
        global.to_str().expect("utf-8"),
        "--points",
        data("nrf-official/coords_mni_mm.npy")
            .to_str()
            .expect("utf-8"),
        "--device",
        "cpu",
        "--out",
        dir.path().join("o.npy").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tokens.npy") && stderr.contains("do not fit"),
        "{stderr}"
    );
}

#[test]
fn a_headless_prediction_that_succeeds_prints_no_error() {
    // Without XDG_RUNTIME_DIR (a server, a container) the GPU probe of --device auto used to make
    // the Vulkan driver print "error: XDG_RUNTIME_DIR is invalid or not set".
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("p.nii");
    let image = data("clip-tiny/images/noise_227.png");
    let run = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args([
            "predict",
            "--image",
            image.to_str().expect("utf-8"),
            "--grid",
            "6",
            "--out",
        ])
        .arg(&out)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run nrf");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
}

/// Whether running `nrf args` made the Vulkan loader start (it logs every instance it creates
/// under `VK_LOADER_DEBUG=all`).
fn starts_vulkan(args: &[&str]) -> bool {
    let run = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(args)
        .env("VK_LOADER_DEBUG", "all")
        .output()
        .expect("run nrf");
    assert!(
        run.status.success(),
        "nrf {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&run.stderr)
    );
    let output = String::from_utf8_lossy(&run.stderr).to_lowercase()
        + &String::from_utf8_lossy(&run.stdout).to_lowercase();
    output.contains("loader")
}

#[test]
fn commands_that_need_no_gpu_start_no_gpu_driver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let image = data("legal-images/palette.png");
    let image = image.to_str().expect("utf-8");
    let points = data("nrf-e2e/coords_mni_mm.npy");
    let points = points.to_str().expect("utf-8");
    // The control: --device auto probes the GPU, so the loader speaks when it is installed.
    let auto = ["predict", "--image", image, "--points", points, "--out"];
    let control = starts_vulkan(&[&auto[..], &[path("auto.npy").as_str()]].concat());
    if require(
        "commands_that_need_no_gpu_start_no_gpu_driver",
        if control {
            Ok(())
        } else {
            Err("no Vulkan loader logs here (not installed)".to_string())
        },
    )
    .is_none()
    {
        return;
    }
    let volume = data("nifti/standard.nii.gz");
    let official = data("nrf-official");
    let cpu_predict = [
        "predict", "--device", "cpu", "--image", image, "--points", points, "--out",
    ];
    for args in [
        vec!["info", volume.to_str().expect("utf-8")],
        vec!["template", "--spacing", "8", "--out", &path("t.nii.gz")],
        vec![
            "convert",
            official.to_str().expect("utf-8"),
            "--out",
            &path("c.nrf"),
        ],
        [&cpu_predict[..], &[path("cpu.npy").as_str()]].concat(),
    ] {
        assert!(
            !starts_vulkan(&args),
            "nrf {} started the GPU driver",
            args.join(" ")
        );
    }
}

#[test]
fn an_error_says_each_fact_once() {
    let out = nrf(&[
        "predict",
        "--image",
        "/no/such/image.png",
        "--points",
        "/no/such/points.npy",
        "--out",
        "/tmp/x.npy",
        "--device",
        "cpu",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}

#[test]
fn zero_epochs_are_refused() {
    let out = nrf(&[
        "train",
        "--data",
        "/tmp",
        "--out",
        "/tmp/m.nrf",
        "--epochs",
        "0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--epochs"), "{stderr}");
    assert!(stderr.contains("at least 1"), "{stderr}");
}

#[test]
fn a_template_or_3d_grid_too_fine_for_memory_is_refused_before_allocating() {
    // 0.1 mm over the MNI box is 7.2 billion voxels: about 120 GB, more than any test machine
    // has available (it used to abort with "memory allocation of 34245343044 bytes failed").
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("t.nii.gz");
    let run = nrf(&[
        "template",
        "--spacing",
        "0.1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    for words in ["needs about", "GB of memory", "coarser"] {
        assert!(stderr.contains(words), "{stderr}");
    }
    assert!(!stderr.contains("memory allocation"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn benchmarks_run_on_the_threads_they_are_given() {
    for threads in ["1", "2"] {
        let out = nrf(&[
            "bench",
            "query",
            "--threads",
            threads,
            "--hidden",
            "8",
            "--layers",
            "2",
            "--points",
            "999",
            "--repeats",
            "1",
            "--device",
            "cpu",
            "--json",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
        assert_eq!(result["threads"].to_string(), threads, "{stdout}");
        assert_eq!(result["points"], 999);
    }
    let out = nrf(&["bench", "query", "--threads", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}
