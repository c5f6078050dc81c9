//! The viewer in a real window: `nrf view --image … --screenshot … --exit` under Xvfb (or the
//! session's display) writes a non-blank PNG of the whole layout.
#![cfg_attr(not(feature = "viewer"), allow(dead_code))]

use std::process::Command;

use crate::support::{data, require};

/// How to run a windowed command here: on the session's display, or under `xvfb-run`.
fn windowed() -> Result<Command, String> {
    if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
        return Ok(Command::new(env!("CARGO_BIN_EXE_nrf")));
    }
    let probe = Command::new("xvfb-run").arg("--help").output();
    match probe {
        Ok(_) => {
            let mut command = Command::new("xvfb-run");
            command
                .args(["-a", "-s", "-screen 0 1280x1024x24"])
                .arg(env!("CARGO_BIN_EXE_nrf"));
            Ok(command)
        }
        Err(e) => Err(format!(
            "no DISPLAY and no xvfb-run ({e}); apt-get install xvfb"
        )),
    }
}

/// Runs the viewer on a procedural face with `extra` options; returns the screenshot.
fn screenshot(test: &str, extra: &[&str]) -> Option<image::RgbaImage> {
    screenshot_and_log(test, extra).map(|(picture, _)| picture)
}

/// [`screenshot`], with what the viewer printed.
fn screenshot_and_log(test: &str, extra: &[&str]) -> Option<(image::RgbaImage, String)> {
    let mut command = require(test, windowed())?;
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("face.png");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
    image::RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels)
        .expect("rgb")
        .save(&image)
        .expect("save");
    let shot = dir.path().join("view.png");
    let log_path = dir.path().join("log.txt");
    let log_file = std::fs::File::create(&log_path).expect("log");
    let mut child = command
        .arg("view")
        .arg("--image")
        .arg(&image)
        .args(extra)
        .arg("--screenshot")
        .arg(&shot)
        .arg("--exit")
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("run nrf view");
    // A window that never becomes ready must fail the test, not hang the suite.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{test}: nrf view did not write its screenshot and exit within 15 minutes:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "{log}");
    Some((image::open(&shot).expect("screenshot").to_rgba8(), log))
}

/// Pixels strongly red or blue (the overlay's colours; the UI and anatomy are grey).
fn overlay_coloured(picture: &image::RgbaImage) -> usize {
    picture
        .pixels()
        .filter(|p| {
            let [r, g, b, _] = p.0.map(i32::from);
            (r - g).abs() > 60 || (b - g).abs() > 60
        })
        .count()
}

#[test]
#[cfg(feature = "viewer")]
fn the_viewer_shows_the_ground_truth_of_a_virtual_subject() {
    let Some(picture) = screenshot(
        "the_viewer_shows_the_ground_truth_of_a_virtual_subject",
        &["--truth"],
    ) else {
        return;
    };
    assert!(overlay_coloured(&picture) > 200);
}

#[test]
#[cfg(feature = "viewer")]
fn the_viewer_opens_predicts_and_writes_a_screenshot() {
    let Some((picture, log)) = screenshot_and_log(
        "the_viewer_opens_predicts_and_writes_a_screenshot",
        &["--subject", "2"],
    ) else {
        return;
    };
    // Where the model runs is said in one line (auto: the CPU unless the adapter is hardware).
    assert!(
        log.lines()
            .any(|l| l.starts_with("model on CPU: ") || l.starts_with("model on GPU: ")),
        "{log}"
    );
    assert!(picture.width() >= 800 && picture.height() >= 500);
    // Not blank: many distinct colours (anatomy greys, overlay colours, UI).
    let mut colours: Vec<[u8; 4]> = picture.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 500, "only {} colours", colours.len());
    // The prediction is on screen.
    let coloured = overlay_coloured(&picture);
    assert!(coloured > 200, "only {coloured} overlay-coloured pixels");
}

#[test]
#[cfg(feature = "viewer")]
fn the_viewer_predicts_on_the_gpu_when_asked_and_says_so() {
    let test = "the_viewer_predicts_on_the_gpu_when_asked_and_says_so";
    if crate::support::gpu_or_skip(test).is_none() {
        return;
    }
    let Some((picture, log)) = screenshot_and_log(test, &["--device", "gpu"]) else {
        return;
    };
    // The window's own adapter computes the model (a software one here, as asked).
    let line = log
        .lines()
        .find(|l| l.starts_with("model on "))
        .unwrap_or_else(|| panic!("no `model on …` line:\n{log}"));
    assert!(line.starts_with("model on GPU: "), "{line}");
    assert!(!line.contains("device of its own"), "{line}");
    let coloured = overlay_coloured(&picture);
    assert!(coloured > 200, "only {coloured} overlay-coloured pixels");
}

#[test]
fn the_viewer_refuses_a_bad_image_before_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-an-image.png");
    std::fs::write(&bad, b"this is text").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .arg("view")
        .arg("--image")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not-an-image.png"), "{stderr}");
}

#[test]
#[cfg(feature = "viewer")]
fn the_viewer_fine_tunes_at_start_and_screenshots_the_result() {
    let Some(picture) = screenshot(
        "the_viewer_fine_tunes_at_start_and_screenshots_the_result",
        // Few epochs: the test is about the flow, not the fit (a debug build trains slowly).
        &[
            "--finetune-from",
            "2",
            "--finetune-images",
            "20",
            "--finetune-epochs",
            "30",
        ],
    ) else {
        return;
    };
    // The fine-tuned model's prediction is on screen (the screenshot waits for it), and the
    // Fine-tune panel drew its curves (red loss line, validation markers).
    assert!(overlay_coloured(&picture) > 200);
}

#[test]
fn the_viewer_refuses_a_bad_model_or_overlay_before_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("broken.nrf");
    std::fs::write(&model, b"not safetensors").expect("write");
    let overlay = dir.path().join("broken.nii.gz");
    std::fs::write(&overlay, b"not gzip").expect("write");
    for (flag, path) in [("--model", &model), ("--overlay", &overlay)] {
        let output = Command::new(env!("CARGO_BIN_EXE_nrf"))
            .arg("view")
            .arg(flag)
            .arg(path)
            .output()
            .expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        assert!(stderr.contains(name.as_ref()), "{flag}: {stderr}");
    }
}

#[test]
fn the_viewer_asks_for_a_clip_folder_that_fits_before_opening() {
    let run = |args: &[&std::path::Path]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nrf"));
        command.arg("view");
        for pair in args.chunks(2) {
            command.arg(pair[0]).arg(pair[1]);
        }
        let output = command.output().expect("run");
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let flag = |f: &'static str| std::path::Path::new(f);
    // A model on CLIP features without --clip.
    let stderr = run(&[flag("--model"), &data("nrf-e2e/model.nrf")]);
    assert!(
        stderr.contains("model.nrf") && stderr.contains("--clip"),
        "{stderr}"
    );
    // The official run folder (ViT-B/16 sizes) with the tiny CLIP folder: both sizes named.
    let stderr = run(&[
        flag("--model"),
        &data("nrf-official"),
        flag("--clip"),
        &data("clip-tiny"),
    ]);
    assert!(
        stderr.contains("clip-tiny") && stderr.contains("does not fit"),
        "{stderr}"
    );
}

#[test]
fn the_viewer_refuses_bad_fine_tune_options_before_opening() {
    for (args, expected) in [
        (&["--finetune-from", "9"][..], "--finetune-from 9"),
        (
            &["--finetune-from", "2", "--finetune-images", "0"][..],
            "--finetune-images 0",
        ),
        (
            &["--finetune-from", "2", "--finetune-epochs", "0"][..],
            "--finetune-epochs 0",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_nrf"))
            .arg("view")
            .args(args)
            .output()
            .expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

mod finetune {
    //! The viewer's fine-tune job, without a window: curves arrive, Cancel keeps the best model.

    use std::time::{Duration, Instant};

    use nrf::session::finetune::{FineTuneJob, FineTuneRequest, FineTuned, Target};
    use nrf::session::jobs::ModelSource;
    use nrf::train::trainer::StopReason;

    fn request(max_epochs: usize) -> FineTuneRequest {
        FineTuneRequest {
            target: Target::Virtual(1),
            train_images: 6,
            validation_images: 4,
            source: ModelSource::Embedded(2),
            source_name: "virtual subj02".into(),
            config: FineTuneRequest::suggested_config(6)
                .with_voxels_per_image(200)
                .with_max_epochs(max_epochs)
                .with_validate_every(1)
                .with_patience(1000),
        }
    }

    /// Polls `job` until it finishes, calling `each` after every poll.
    fn finish(
        job: &mut FineTuneJob,
        mut each: impl FnMut(&FineTuneJob),
    ) -> Result<FineTuned, nrf::session::SessionError> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Some(answer) = job.poll() {
                return answer;
            }
            each(job);
            assert!(Instant::now() < deadline, "the fine-tune never finished");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn predicts(tuned: &FineTuned) {
        let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
        let features = nrf::features::FeatureExtractor::extract(
            &nrf::features::builtin::BuiltinExtractor,
            &rgb,
        )
        .expect("features");
        let engine = nrf::query::QueryEngine::new(&tuned.model);
        let query = engine.prepare(&tuned.model, &features).expect("prepare");
        let values = query
            .query_points(&[glam::Vec3::new(10.0, -90.0, 0.0)])
            .expect("query");
        assert!(values.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn a_fine_tune_reports_its_curves_and_leaves_a_usable_model() {
        let mut job = FineTuneJob::start(request(3), || {});
        let tuned = finish(&mut job, |_| {}).expect("fine-tune");
        let progress = &job.progress;
        assert_eq!(tuned.epochs, 3);
        assert_eq!(tuned.stopped, StopReason::MaxEpochs);
        assert_eq!(tuned.target, Some(1));
        // One step per epoch (6 images in batches of 32), validated after each, plus the source.
        assert_eq!(progress.loss.len(), 3);
        assert_eq!(progress.validation_r.len(), 4);
        assert_eq!(progress.validation_r[0][0], 0.0);
        assert_eq!(f64::from(tuned.start_median_r), progress.validation_r[0][1]);
        assert!(tuned.best_median_r >= tuned.start_median_r);
        assert!(progress.eta_seconds.is_some_and(|s| s >= 0.0));
        // The model now describes the target: its domain is subj01's voxels.
        assert_eq!(tuned.model.info.subject.as_deref(), Some("subj01"));
        assert!(tuned.name.contains("subj01") && tuned.name.contains("subj02"));
        predicts(&tuned);
    }

    #[test]
    fn a_fine_tune_on_a_dataset_folder_reads_it_and_describes_its_subject() {
        let data = crate::support::data("nsd-processed");
        let mut on_folder = request(2);
        on_folder.target = Target::Folder(data.clone());
        let tuned = finish(&mut FineTuneJob::start(on_folder, || {}), |_| {}).expect("fine-tune");
        assert_eq!(tuned.epochs, 2);
        // No virtual subject: nothing to show as ground truth.
        assert_eq!(tuned.target, None);
        assert_eq!(tuned.model.info.subject.as_deref(), Some("subj01"));
        assert!(tuned.model.info.provenance.contains("nsd-processed"));
        // Its domain is the folder's voxels.
        let dataset =
            nrf::data::dataset::Dataset::open_nsd(&data, "1", "nsdgeneral").expect("data");
        match &tuned.model.domain {
            nrf::model::Domain::Voxels(domain) => {
                assert_eq!(domain.coords_mm().len(), dataset.coordinates.len());
            }
            nrf::model::Domain::Unknown => panic!("the fine-tuned model has no domain"),
        }
        predicts(&tuned);
        // A folder that is no dataset: its name and what was expected.
        let empty = tempfile::tempdir().expect("tempdir");
        let mut bad = request(1);
        bad.target = Target::Folder(empty.path().to_path_buf());
        let Err(message) = finish(&mut FineTuneJob::start(bad, || {}), |_| {}) else {
            panic!("an empty folder is no dataset");
        };
        let folder = empty.path().display().to_string();
        assert!(message.to_string().contains(&folder), "{message}");
    }

    #[test]
    fn cancelling_a_fine_tune_keeps_the_best_model_so_far() {
        let mut job = FineTuneJob::start(request(10_000), || {});
        let tuned = finish(&mut job, |job| {
            if job.progress.loss.len() >= 2 {
                job.cancel();
            }
        })
        .expect("a cancelled fine-tune still answers with a model");
        assert_eq!(tuned.stopped, StopReason::Cancelled);
        assert!(tuned.epochs < 10_000);
        predicts(&tuned);
    }

    #[test]
    fn cancelling_before_training_starts_says_so() {
        let mut job = FineTuneJob::start(request(3), || {});
        job.cancel();
        let Err(message) = finish(&mut job, |_| {}) else {
            panic!("a fine-tune cancelled while measuring must not give a model");
        };
        assert!(message.to_string().contains("cancelled"), "{message}");
    }

    #[test]
    fn a_fine_tune_with_impossible_choices_fails_with_a_message() {
        let mut bad = request(3);
        bad.train_images = 5000;
        let Err(message) = finish(&mut FineTuneJob::start(bad, || {}), |_| {}) else {
            panic!("5000 training images cannot exist");
        };
        assert!(
            message.to_string().contains("5000 training images"),
            "{message}"
        );
        let mut bad = request(3);
        bad.target = Target::Virtual(9);
        let Err(message) = finish(&mut FineTuneJob::start(bad, || {}), |_| {}) else {
            panic!("there is no subject 9");
        };
        assert!(message.to_string().contains("subject 9"), "{message}");
    }
}

/// A CLI-only build (`--no-default-features`) says so instead of opening a window.
#[test]
#[cfg(not(feature = "viewer"))]
fn a_cli_only_build_says_it_has_no_viewer() {
    let output = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .arg("view")
        .output()
        .expect("nrf runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("built without the viewer"),
        "stderr: {stderr}"
    );
}
