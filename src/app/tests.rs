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
use crate::query::ImageQuery;

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

/// Subject 1 with its example image's full prediction on screen.
fn predicting() -> AppHarness {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    step_until(&mut harness, "the example's prediction", prediction_shown);
    harness
}

/// Writes an MNI NIfTI of `spacing_mm` whose value at each point is `value(point)`.
fn write_map(path: &Path, spacing_mm: f64, value: impl Fn(glam::Vec3) -> f32) {
    let grid = crate::space::Grid::mni(spacing_mm).expect("grid");
    let data = grid.points().into_iter().map(value).collect();
    crate::volume::Volume::new(grid, data)
        .expect("volume")
        .write_nifti(path, crate::volume::nifti::SpaceCode::Mni152)
        .expect("write");
}

/// Clicks the widget with this label, then lets two frames pass (a popup or window that opens
/// measures itself in its first frame and is drawn in the next).
fn click(harness: &mut AppHarness, label: &str) {
    // Through AccessKit's click action, as a screen reader would: widgets below the fold of the
    // scrolling side panel have no on-screen position to click.
    harness.get_by_label(label).click_accesskit();
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
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        harness.step();
        if done(app(harness)) {
            return;
        }
        let app = app(harness);
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} (status: {:?}, error: {:?})",
            app.status,
            app.error
        );
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
    let mut harness = predicting();
    let before = app(&harness).overlay_version;
    let dir = tempfile::tempdir().expect("tempdir");
    drop_file(&mut harness, &write_face(dir.path()));
    step_until(&mut harness, "the face to be read", |app| {
        app.image.as_ref().is_some_and(|i| i.name == "face.png")
    });
    assert!(
        app(&harness).query_job.is_some(),
        "a prediction job starts as soon as the image is read"
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
    let mut harness = predicting();
    let (name, version) = (
        app(&harness).image.as_ref().map(|i| i.name.clone()),
        app(&harness).overlay_version,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("notes.png");
    std::fs::write(&bad, b"not a picture").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the error", |app| app.error.is_some());
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
    let mut harness = predicting();
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
        app.finetune.progress().loss.len() >= 3 && app.finetune.progress().validation_r.len() >= 2
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
    assert!(app_now.finetune.progress().loss.len() >= 3);
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
    let mut harness = predicting();
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

#[test]
fn a_dropped_nifti_map_is_shown_over_the_template_and_a_corrupt_one_is_refused() {
    let mut harness = predicting();
    // A 4 mm map: +3 in a 20 mm ball around the crosshair, 0 elsewhere.
    let centre = app(&harness).at.as_vec3();
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("zstat1.nii.gz");
    write_map(
        &map,
        4.0,
        |p| if p.distance(centre) < 20.0 { 3.0 } else { 0.0 },
    );
    drop_file(&mut harness, &map);
    step_until(&mut harness, "the map in the slices", |app| {
        app.show_file && app.slices_job.is_none() && !app.slices_stale && app.slices.len() == 3
    });
    let app_now = app(&harness);
    assert_eq!(
        app_now.shown_overlay().map(|(v, _)| v),
        app_now.file_overlay.as_ref().map(|(_, (v, _))| *v)
    );
    // The slices through the crosshair show the map: 3 inside the ball, nothing far from it.
    for view in &app_now.slices {
        let inside: Vec<f32> = view
            .slice
            .values
            .iter()
            .zip(&view.slice.inside)
            .filter_map(|(&v, &i)| i.then_some(v))
            .collect();
        assert!(!inside.is_empty());
        assert!(inside.iter().any(|&v| (v - 3.0).abs() < 1e-3));
        assert!(inside.iter().all(|&v| (0.0..=3.0 + 1e-3).contains(&v)));
    }
    // Unticking it shows the prediction again.
    click(&mut harness, "show zstat1.nii.gz instead");
    assert!(!app(&harness).show_file);
    assert_eq!(
        app(&harness).shown_overlay().map(|(v, _)| v),
        app(&harness).overlay.as_ref().map(|(v, _)| *v)
    );
    // A corrupt NIfTI: a message naming it, the overlay kept.
    let bad = dir.path().join("broken.nii.gz");
    std::fs::write(&bad, b"not gzip at all").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the error", |app| app.error.is_some());
    let error = app(&harness).error.clone().unwrap_or_default();
    assert!(error.contains("broken.nii.gz"), "{error}");
    assert!(
        app(&harness)
            .file_overlay
            .as_ref()
            .is_some_and(|(name, _)| name == "zstat1.nii.gz")
    );
}

#[test]
fn layouts_place_the_views_they_show_without_overlap() {
    use super::Layout;
    let full = egui::Rect::from_min_size(egui::pos2(10.0, 20.0), egui::vec2(1000.0, 800.0));
    for (layout, name) in Layout::ALL {
        let rects: Vec<egui::Rect> = layout.rects(full).into_iter().flatten().collect();
        let expected = if matches!(layout, Layout::Single(_)) {
            1
        } else {
            4
        };
        assert_eq!(rects.len(), expected, "{name}");
        for (i, a) in rects.iter().enumerate() {
            assert!(full.contains_rect(*a), "{name}: {a:?} outside {full:?}");
            for b in &rects[i + 1..] {
                assert!(!a.intersects(b.shrink(0.5)), "{name}: {a:?} overlaps {b:?}");
            }
        }
    }
    assert_eq!(Layout::Single(3).rects(full)[3], Some(full));
}

#[test]
fn keyboard_shortcuts_switch_layout_mode_and_help() {
    use super::Layout;
    use crate::render::volume3d::Mode3d;
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    harness.key_press(egui::Key::L);
    harness.step();
    assert_eq!(app(&harness).layout, Layout::Row);
    harness.key_press(egui::Key::M);
    harness.step();
    assert_eq!(app(&harness).mode, Mode3d::Mip);
    harness.key_press(egui::Key::A);
    harness.step();
    assert!(!app(&harness).anatomy_on);
    harness.key_press(egui::Key::F1);
    harness.step();
    harness.step();
    assert!(app(&harness).help_open);
    // The help window lists the shortcuts.
    harness.get_by_label("orbit the 3D view");
}

#[test]
fn a_pasted_image_is_shown_and_earlier_images_stay_a_click_away() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    let first = app(&harness).image.as_ref().map(|i| i.name.clone());
    let red = egui::ColorImage::filled([40, 30], egui::Color32::from_rgb(200, 30, 20));
    harness.event(egui::Event::PasteImage(Arc::new(red)));
    harness.step();
    let app_now = app(&harness);
    let shown = app_now.image.as_ref().expect("image");
    assert_eq!(shown.name, "pasted image");
    assert_eq!((shown.rgb.width, shown.rgb.height), (40, 30));
    assert_eq!(&shown.rgb.pixels[..3], &[200, 30, 20]);
    assert!(app_now.query_job.is_some(), "the pasted image is predicted");
    assert_eq!(
        app_now.recent.iter().map(|r| Some(r.name.clone())).next(),
        Some(first.clone())
    );
    // Showing the earlier image again swaps the two.
    let earlier = app_now.recent[0].clone();
    let ctx = harness.ctx.clone();
    app_mut(&mut harness).show_image(earlier.name, earlier.rgb, &ctx);
    assert_eq!(app(&harness).image.as_ref().map(|i| i.name.clone()), first);
    assert_eq!(app(&harness).recent.len(), 1);
    assert_eq!(app(&harness).recent[0].name, "pasted image");
}

#[test]
fn a_dropped_atlas_names_the_region_under_the_cursor() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("halves.nii.gz");
    write_map(&path, 4.0, |p| if p.x < 0.0 { 2.0 } else { 1.0 });
    std::fs::write(
        dir.path().join("halves.tsv"),
        "1\tright half\n2\tleft half\n",
    )
    .expect("names");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the atlas", |app| app.atlas.is_some());
    // The overlay is untouched: an atlas names regions, it is not drawn.
    assert!(!app(&harness).show_file);
    // Point at the axial slice, a quarter of the way in from its left edge.
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).layout.rects(area)[2].expect("axial view")
    };
    harness.hover_at(rect.lerp_inside(egui::vec2(0.25, 0.5)));
    harness.step();
    harness.step();
    let (p, _) = app(&harness).hover.expect("a hovered point");
    let region = app(&harness)
        .atlas
        .as_ref()
        .and_then(|a| a.region_at(p))
        .expect("inside the atlas");
    assert!(p.x < 0.0 && region == "left half", "{p:?}: {region}");
    harness.get_by_label("left half");
}

#[test]
fn a_dropped_model_file_joins_the_subject_list_and_foreign_ones_are_refused() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = burn::tensor::Device::flex();
    let model = crate::defaults::default_model(3, &device).expect("model");
    let path = dir.path().join("my-subject.nrf");
    model.save(&path).expect("save");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the model file's prediction", |app| {
        app.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    assert_eq!(
        app(&harness).model_name(ModelSlot::Opened(0)),
        "my-subject.nrf"
    );
    assert!(app(&harness).model_slots().contains(&ModelSlot::Opened(0)));
    // A file describes no virtual subject: no ground truth to offer.
    assert!(
        harness
            .query_by_label("show the ground truth instead")
            .is_none()
    );

    // A model of CLIP features, an ensemble-less folder: clear messages, nothing changes.
    let mut clip = model.clone();
    clip.info.features = Some(crate::model::FeatureSpec {
        extractor: "clip:openai/clip-vit-base-patch16:layers=3,6".into(),
    });
    let clip_path = dir.path().join("clip-model.nrf");
    clip.save(&clip_path).expect("save");
    for (bad, expected) in [
        (clip_path, "builtin-v1"),
        (dir.path().to_path_buf(), "official run folders"),
    ] {
        drop_file(&mut harness, &bad);
        step_until(&mut harness, "the error", |app| app.error.is_some());
        let error = app_mut(&mut harness).error.take().unwrap_or_default();
        assert!(error.contains(expected), "{error}");
        assert_eq!(app(&harness).opened.len(), 1);
        assert_eq!(app(&harness).model, ModelSlot::Opened(0));
    }
}

#[test]
fn an_a_minus_b_contrast_shows_the_difference_of_two_images() {
    let mut harness = predicting();
    let a_only = app(&harness).overlay.clone().expect("A");
    click(&mut harness, "Set as B");
    assert!(app(&harness).contrast_b.is_some());
    // A different image becomes A; then A − B is asked for.
    harness.get_by_label("face").click();
    step_until(&mut harness, "the face's prediction", |app| {
        prediction_shown(app)
            && app
                .image
                .as_ref()
                .is_some_and(|i| i.name == "example: face")
    });
    let face = app(&harness).overlay.clone().expect("face");
    let b_name = app(&harness)
        .contrast_b
        .as_ref()
        .map(|b| b.name.clone())
        .unwrap_or_default();
    click(&mut harness, &format!("show A - B (B: {b_name})"));
    step_until(&mut harness, "the contrast", |app| {
        prediction_shown(app) && app.query.as_ref().is_some_and(ImageQuery::is_contrast)
    });
    let contrast = app(&harness).overlay.clone().expect("A − B");
    assert!(
        app(&harness).status.contains("A - B"),
        "{}",
        app(&harness).status
    );
    // The 1 mm contrast volume is the face's volume minus the first image's.
    for ((c, a), b) in contrast
        .1
        .volume
        .data
        .iter()
        .zip(&face.1.volume.data)
        .zip(&a_only.1.volume.data)
    {
        assert!((c - (a - b)).abs() < 1e-4, "{c} vs {a} − {b}");
    }
}

#[test]
fn a_click_on_the_3d_view_moves_the_crosshair_to_the_surface() {
    let mut harness = predicting();
    let before = app(&harness).at;
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).layout.rects(area)[3].expect("3D view")
    };
    let pos = rect.lerp_inside(egui::vec2(0.5, 0.45));
    for pressed in [true, false] {
        harness.event(egui::Event::PointerMoved(pos));
        harness.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        harness.step();
    }
    let after = app(&harness).at;
    assert_ne!(after, before, "the crosshair moved");
    // It sits on the brain's surface: inside the template's brain, near its edge.
    let brain = app(&harness)
        .templates
        .as_ref()
        .expect("templates")
        .brain
        .clone();
    let v = brain
        .grid
        .world_to_voxel()
        .expect("affine")
        .transform_point3(after);
    assert!(
        brain
            .sample_voxel(v)
            .is_some_and(|g| g >= crate::render::volume3d::SURFACE_GREY)
    );
    assert!(app(&harness).slices_stale || app(&harness).slices_job.is_some());
}
