//! The viewer driven headlessly with egui_kittest: real frames, clicks and drops on the app's
//! own state, its background jobs running for real (the 3D view's paint callback has no GPU here
//! and draws nothing; the renderer has its own tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::export::ScreenshotSlot;
use super::{ModelSlot, NrfApp, ViewOptions};

type AppHarness = Harness<'static, Option<NrfApp>>;

/// The app in a 1280×820 harness (the window's default size).
fn harness(options: ViewOptions) -> AppHarness {
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 820.0))
        .build_ui_state(
            |ui, app: &mut Option<NrfApp>| {
                if let Some(app) = app {
                    app.show(ui);
                }
            },
            None,
        );
    let ctx = harness.ctx.clone();
    *harness.state_mut() = Some(NrfApp::new(
        options,
        ("test".into(), "no adapter: kittest".into()),
        &ctx,
        ScreenshotSlot::default(),
    ));
    // The first frame builds the widget tree the queries read.
    harness.step();
    harness
}

/// Clicks the widget with this label, then lets two frames pass (a popup or window that opens
/// measures itself in its first frame and is drawn in the next).
fn click(harness: &mut AppHarness, label: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.step();
}

fn app(harness: &AppHarness) -> &NrfApp {
    harness.state().as_ref().expect("app")
}

fn app_mut(harness: &mut AppHarness) -> &mut NrfApp {
    harness.state_mut().as_mut().expect("app")
}

/// Steps frames until `done` holds (background jobs answer between frames); panics with `what`
/// after five minutes.
fn step_until(harness: &mut AppHarness, what: &str, done: impl Fn(&NrfApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        harness.step();
        if done(app(harness)) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The full (1 mm) prediction and the three slices of it are on screen.
fn prediction_shown(app: &NrfApp) -> bool {
    app.query_job.is_none()
        && app.overlay_spacing == Some(1.0)
        && app.slices.len() == 3
        && app.slices_job.is_none()
        && !app.slices_stale
}

/// A file dropped on the window, as eframe hands it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(harness: &mut AppHarness, path: &Path) {
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(path.to_path_buf())));
}

fn write_face(dir: &Path) -> PathBuf {
    let (_, rgb) = crate::data::simulate::stimulus_of(1, 3);
    let path = dir.join("face.png");
    image::RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels)
        .expect("rgb")
        .save(&path)
        .expect("save");
    path
}

#[test]
fn a_dropped_image_starts_a_prediction_and_the_views_update() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    step_until(&mut harness, "the example's prediction", prediction_shown);
    let before = app(&harness).overlay_version;
    let dir = tempfile::tempdir().expect("tempdir");
    drop_file(&mut harness, &write_face(dir.path()));
    harness.step();
    assert_eq!(
        app(&harness).image.as_ref().map(|i| i.name.as_str()),
        Some("face.png")
    );
    assert!(
        app(&harness).query_job.is_some(),
        "a prediction job starts at once"
    );
    step_until(&mut harness, "the face's prediction", |app| {
        prediction_shown(app) && app.overlay_version > before
    });
    // Every level arrived (8, 4, 2, 1 mm) as a new overlay.
    assert!(app(&harness).overlay_version >= before + 4);
    assert!(app(&harness).error.is_none());
}

#[test]
fn a_bad_file_shows_an_error_and_changes_nothing() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    step_until(&mut harness, "the example's prediction", prediction_shown);
    let (name, version) = (
        app(&harness).image.as_ref().map(|i| i.name.clone()),
        app(&harness).overlay_version,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("notes.png");
    std::fs::write(&bad, b"not a picture").expect("write");
    drop_file(&mut harness, &bad);
    harness.step();
    harness.step();
    let error = app(&harness).error.clone().expect("an error message");
    assert!(error.contains("notes.png"), "{error}");
    assert_eq!(app(&harness).image.as_ref().map(|i| i.name.clone()), name);
    assert!(app(&harness).query_job.is_none());
    // The message is dismissable; the views are as they were.
    click(&mut harness, "Dismiss");
    assert!(app(&harness).error.is_none());
    assert_eq!(app(&harness).overlay_version, version);
}

#[test]
fn switching_subject_keeps_the_image_and_predicts_again() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    step_until(&mut harness, "subject 1's prediction", prediction_shown);
    let image = app(&harness).image.as_ref().map(|i| i.name.clone());
    let before = app(&harness).overlay.clone().expect("overlay");
    // The Subject list is the first combo box showing subj01 (the Fine-tune target is the other).
    harness
        .get_all_by_value("virtual subj01")
        .next()
        .expect("the Subject list")
        .click();
    harness.step();
    harness.step();
    click(&mut harness, "virtual subj03");
    assert_eq!(app(&harness).model, ModelSlot::Embedded(3));
    step_until(&mut harness, "subject 3's prediction", |app| {
        prediction_shown(app) && app.overlay.as_ref().is_some_and(|o| o.0 > before.0)
    });
    assert_eq!(app(&harness).image.as_ref().map(|i| i.name.clone()), image);
    let after = app(&harness).overlay.clone().expect("overlay");
    assert_ne!(
        after.1.volume.data, before.1.volume.data,
        "another subject's model predicts differently"
    );
}

#[test]
fn a_fine_tune_runs_plots_cancels_and_leaves_a_usable_model() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    {
        let panel = &mut app_mut(&mut harness).finetune;
        panel.set_images(6);
        panel.max_epochs = 1000;
        panel.validation_images = 4;
        panel.source = ModelSlot::Embedded(2);
    }
    click(&mut harness, "Start");
    assert!(app(&harness).finetune.running());
    step_until(&mut harness, "a few training steps", |app| {
        app.finetune.progress.loss.len() >= 3 && app.finetune.progress.validation_r.len() >= 2
    });
    click(&mut harness, "Cancel");
    step_until(&mut harness, "the cancelled fine-tune", |app| {
        !app.finetune.running()
    });
    let app_now = app(&harness);
    assert_eq!(app_now.tuned.len(), 1, "{:?}", app_now.finetune.summary);
    assert_eq!(app_now.model, ModelSlot::Tuned(0));
    assert_eq!(app_now.ab_partner, Some(ModelSlot::Embedded(2)));
    assert!(
        app_now
            .finetune
            .summary
            .as_deref()
            .is_some_and(|s| s.contains("cancelled"))
    );
    // The curves stay for the finished run.
    assert!(app_now.finetune.progress.loss.len() >= 3);
    // The new model predicts in the views.
    step_until(
        &mut harness,
        "the fine-tuned model's prediction",
        prediction_shown,
    );
    let shown = app(&harness).overlay.clone().expect("overlay");
    assert!(shown.1.volume.data.iter().all(|v| v.is_finite()));
    assert!(shown.1.inside.data.iter().any(|&i| i));
    // A/B switches to the source and back.
    click(&mut harness, "A/B: switch to virtual subj02");
    assert_eq!(app(&harness).model, ModelSlot::Embedded(2));
    assert_eq!(app(&harness).ab_partner, Some(ModelSlot::Tuned(0)));
}

#[test]
fn the_prediction_exports_as_nifti() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    step_until(&mut harness, "the prediction", prediction_shown);
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("out");
    {
        let app = app_mut(&mut harness);
        app.export.folder = folder.display().to_string();
        app.export.spacing_mm = 3.0;
    }
    click(&mut harness, "Export");
    click(&mut harness, "Prediction (NIfTI)");
    step_until(&mut harness, "the export", |app| {
        app.export.job.is_none() && app.status.starts_with("wrote")
    });
    let path = folder.join("virtual-subj01-example-object-3mm.nii.gz");
    let volume =
        crate::volume::Volume::read_nifti(&path, 0).expect("the exported NIfTI reads back");
    assert_eq!(volume.grid, crate::space::Grid::mni(3.0).expect("grid"));
    assert!(volume.data.iter().any(|&v| v != 0.0));
}
