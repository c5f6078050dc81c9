//! Crash safety: `nrf` killed with SIGKILL at random moments while it computes and writes
//! (`convert`, `predict --grid`, `train`, `render`, and `predict --images` filling the feature
//! cache). After every kill the file written before is intact under its name — byte for byte
//! where the command is deterministic, readable where it is not — nothing partial sits under a
//! final name, and a cache left behind by kills gives exactly the uninterrupted result.
//!
//! The moments are spread over the command's own uninterrupted run time (most land while it
//! computes, some while it writes, some after it has finished); only the outcome is checked,
//! never a time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::data;

/// One command whose output must survive kills.
struct Scenario {
    name: &'static str,
    args: Vec<String>,
    /// The file it writes.
    out: PathBuf,
    kills: usize,
    /// Whether a complete rerun writes the same bytes (then the file must always equal them).
    deterministic: bool,
}

/// What the kills of one scenario saw.
#[derive(Debug, Default)]
struct KillTally {
    /// Killed while still running.
    killed: usize,
    /// Had already finished when the kill came.
    finished: usize,
}

fn run(args: &[String]) -> Duration {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(args)
        .output()
        .expect("run nrf");
    assert!(
        output.status.success(),
        "nrf {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    start.elapsed()
}

/// Files under `dir` (recursively) that are neither `allowed` nor atomic-write temporaries.
fn unexpected_files(dir: &Path, allowed: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let temporary = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".nrf-write-"));
        if path.is_dir() {
            found.extend(unexpected_files(&path, allowed));
        } else if !temporary && !allowed.contains(&path) {
            found.push(path);
        }
    }
    found
}

/// Runs `scenario` once to completion, then `kills` times killed at a random moment, checking
/// its output after each kill with `readable`.
fn survive_kills(
    scenario: &Scenario,
    rng: &mut ChaCha8Rng,
    readable: &dyn Fn(&Path) -> Result<(), String>,
) -> KillTally {
    // The first run fills caches (features, files); the second is what the kills interrupt.
    run(&scenario.args);
    let full = run(&scenario.args);
    let reference = std::fs::read(&scenario.out).expect("the first run's output");
    readable(&scenario.out).unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
    let folder = scenario.out.parent().expect("folder");
    let mut tally = KillTally::default();
    for kill in 0..scenario.kills {
        // Spread over the run, weighted to its end, where the writing happens.
        let fraction: f64 = rng.random_range(0.0..1.0f64).sqrt() * 1.1;
        let mut child = Command::new(env!("CARGO_BIN_EXE_nrf"))
            .args(&scenario.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nrf");
        std::thread::sleep(full.mul_f64(fraction));
        match child.try_wait().expect("poll") {
            Some(_) => tally.finished += 1,
            None => {
                child.kill().expect("SIGKILL");
                tally.killed += 1;
            }
        }
        child.wait().expect("reap");
        let now = std::fs::read(&scenario.out).unwrap_or_else(|e| {
            panic!(
                "{} kill {kill} at {fraction:.2} of the run: the output is gone ({e})",
                scenario.name
            )
        });
        if scenario.deterministic {
            assert!(
                now == reference,
                "{} kill {kill} at {fraction:.2}: the output changed ({} bytes, was {})",
                scenario.name,
                now.len(),
                reference.len()
            );
        }
        readable(&scenario.out)
            .unwrap_or_else(|e| panic!("{} kill {kill} at {fraction:.2}: {e}", scenario.name));
        let stray = unexpected_files(folder, std::slice::from_ref(&scenario.out));
        assert!(
            stray.is_empty(),
            "{} kill {kill}: files left under final names: {stray:?}",
            scenario.name
        );
    }
    eprintln!(
        "{}: {} kills, {} while running, {} after it finished",
        scenario.name, scenario.kills, tally.killed, tally.finished
    );
    tally
}

/// Whether `path` loads as an `.nrf` model.
fn nrf_loads(path: &Path) -> Result<(), String> {
    nrf::model::Nrf::load(path, &burn::tensor::Device::flex())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn arg(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn convert_and_grid_predictions_survive_kills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let model = dir.path().join("models").join("official.nrf");
    std::fs::create_dir_all(model.parent().expect("folder")).expect("folder");
    let mut convert = strings(&["convert", &arg(&data("nrf-official")), "--out"]);
    convert.push(arg(&model));
    let converted = survive_kills(
        &Scenario {
            name: "nrf convert",
            args: convert,
            out: model,
            kills: 12,
            deterministic: true,
        },
        &mut rng,
        &nrf_loads,
    );

    let volume = dir.path().join("volumes").join("prediction.nii.gz");
    std::fs::create_dir_all(volume.parent().expect("folder")).expect("folder");
    let mut predict = strings(&[
        "predict",
        "--image",
        &arg(&data("legal-images/landscape_300x227.jpg")),
        "--grid",
        "2",
        "--device",
        "cpu",
        "--out",
    ]);
    predict.push(arg(&volume));
    let nifti_reads = |path: &Path| {
        nrf::volume::nifti::NiftiImage::read(path)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let predicted = survive_kills(
        &Scenario {
            name: "nrf predict --grid",
            args: predict,
            out: volume,
            kills: 14,
            deterministic: true,
        },
        &mut rng,
        &nifti_reads,
    );
    assert!(
        converted.killed + predicted.killed >= 10,
        "most kills must land while nrf runs: {converted:?} {predicted:?}"
    );
}

#[test]
fn training_and_rendering_survive_kills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(81);
    let model = dir.path().join("models").join("trained.nrf");
    std::fs::create_dir_all(model.parent().expect("folder")).expect("folder");
    let cache = dir.path().join("cache");
    let mut train = strings(&[
        "train",
        "--data",
        &arg(crate::training::small_data_dir()),
        "--subject",
        "1",
        "--epochs",
        "2",
        "--cache",
        &arg(&cache),
    ]);
    train.extend(strings(&crate::training::SMALL_TRAINING));
    train.extend(["--out".to_string(), arg(&model)]);
    let trained = survive_kills(
        &Scenario {
            name: "nrf train",
            args: train,
            out: model,
            kills: 10,
            deterministic: false,
        },
        &mut rng,
        &nrf_loads,
    );

    let picture = dir.path().join("pictures").join("render.png");
    std::fs::create_dir_all(picture.parent().expect("folder")).expect("folder");
    let mut render = strings(&[
        "render",
        "--image",
        &arg(&data("legal-images/landscape_300x227.jpg")),
        "--view",
        "axial",
        "--device",
        "cpu",
        "--out",
    ]);
    render.push(arg(&picture));
    let png_reads = |path: &Path| {
        nrf::features::decode::load_rgb8(path)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let rendered = survive_kills(
        &Scenario {
            name: "nrf render",
            args: render,
            out: picture,
            kills: 8,
            deterministic: true,
        },
        &mut rng,
        &png_reads,
    );
    assert!(
        trained.killed + rendered.killed >= 6,
        "{trained:?} {rendered:?}"
    );
}

#[test]
fn a_feature_cache_left_by_kills_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cache = dir.path().join("cache");
    let out = dir.path().join("out").join("set.npy");
    std::fs::create_dir_all(out.parent().expect("folder")).expect("folder");
    let mut predict = strings(&[
        "predict",
        "--images",
        "library:8",
        "--points",
        &arg(&data("nrf-e2e/coords_mni_mm.npy")),
        "--device",
        "cpu",
        "--cache",
        &arg(&cache),
        "--out",
    ]);
    predict.push(arg(&out));
    // Each kill starts from an empty cache, so kills land while entries are written.
    let reference_cache = dir.path().join("reference-cache");
    let mut uncached = predict.clone();
    let at = uncached.iter().position(|a| a == "--cache").expect("flag") + 1;
    uncached[at] = arg(&reference_cache);
    let full = run(&uncached);
    let reference = std::fs::read(&out).expect("reference output");
    let mut killed = 0;
    for _ in 0..10 {
        let _ = std::fs::remove_dir_all(&cache);
        let mut child = Command::new(env!("CARGO_BIN_EXE_nrf"))
            .args(&predict)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(full.mul_f64(rng.random_range(0.1..1.0)));
        if child.try_wait().expect("poll").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reap");
        // Every entry under its final name is a whole safetensors file.
        for entry in walk(&cache) {
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".safetensors") {
                let bytes = std::fs::read(&entry).expect("entry");
                safetensors::SafeTensors::deserialize(&bytes)
                    .unwrap_or_else(|e| panic!("{}: partial entry ({e})", entry.display()));
            }
        }
        // Resuming from what the kill left gives exactly the uninterrupted result.
        run(&predict);
        assert_eq!(std::fs::read(&out).expect("output"), reference);
    }
    eprintln!("feature cache: 10 kills, {killed} while running");
    assert!(killed >= 5, "{killed} of 10 kills landed while nrf ran");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}
