//! The viewer driven headlessly with egui_kittest: real frames, clicks and drops on the app's
//! own state, its background jobs running for real (the 3D view's paint callback has no GPU here
//! and draws nothing; the renderer has its own tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::state::ScreenshotSlot;
use super::{ModelSlot, NrfApp, ViewOptions};
use crate::query::ImageQuery;

type AppHarness = Harness<'static, Option<NrfApp>>;

/// The app in a 1280×820 harness (the window's default size).
fn harness(options: ViewOptions) -> AppHarness {
    build_harness(options, None)
}

/// The app in a 1280×820 harness; with a render state, frames are rendered with wgpu (the 3D
/// view's renderer installed on it, as in the window) and snapshots can be taken.
fn build_harness(
    options: ViewOptions,
    render_state: Option<eframe::egui_wgpu::RenderState>,
) -> AppHarness {
    let mut builder = Harness::builder()
        .with_size(egui::vec2(1280.0, 820.0))
        .with_pixels_per_point(1.0);
    let shared = render_state.as_ref().map(|r| SharedHandles {
        instance: r.instance.clone(),
        adapter: r.adapter.clone(),
        device: r.device.clone(),
        queue: r.queue.clone(),
    });
    if let Some(render_state) = render_state {
        super::views::volume_paint::install(&render_state);
        builder = builder.renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(
            render_state,
        ));
    }
    let mut harness = builder.build_ui_state(
        |ui, app: &mut Option<NrfApp>| {
            if let Some(app) = app {
                app.show(ui);
            }
        },
        None,
    );
    let ctx = harness.ctx.clone();
    // As the window does: the model on the render state's own device when asked for the GPU
    // (and one is there), else on the CPU.
    let compute = match (&shared, options.device) {
        (Some(shared), crate::device::DeviceChoice::Gpu) => {
            crate::device::compute_device_on(options.device, shared.clone_handles())
                .expect("the model on the render state's GPU")
        }
        _ => crate::device::ComputeDevice::cpu(None),
    };
    *harness.state_mut() = Some(NrfApp::new(
        options,
        // A fixed name: snapshots must not depend on the machine's adapter.
        ("test adapter".into(), "kittest".into()),
        compute,
        &ctx,
        ScreenshotSlot::default(),
    ));
    // The first frame builds the widget tree the queries read.
    harness.step();
    harness
}

/// A render state's wgpu handles, to share with burn as the window does.
struct SharedHandles {
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
}

impl SharedHandles {
    fn clone_handles(&self) -> crate::device::SharedGpu {
        crate::device::SharedGpu {
            instance: self.instance.clone(),
            adapter: self.adapter.clone(),
            device: self.device.clone(),
            queue: self.queue.clone(),
        }
    }
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
            app.state.status,
            app.state.error
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The full (1 mm) prediction and the three slices of it are on screen.
fn prediction_shown(app: &NrfApp) -> bool {
    app.state.query_job.is_none()
        && app.state.overlay_spacing == Some(app.state.finest_spacing)
        && app.state.slices.len() == 3
        && app.state.slices.iter().all(|s| s.slice.factor == 1)
        && app.state.restyle_job.is_none()
        && !app.state.slices_restyle
        && app.state.slices_job.is_none()
        && !app.state.slices_stale
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
    let before = app(&harness).state.overlay_version;
    let dir = tempfile::tempdir().expect("tempdir");
    drop_file(&mut harness, &write_face(dir.path()));
    step_until(&mut harness, "the face to be read", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "face.png")
    });
    assert!(
        app(&harness).state.query_job.is_some(),
        "a prediction job starts as soon as the image is read"
    );
    step_until(&mut harness, "the face's prediction", |app| {
        prediction_shown(app) && app.state.overlay_version > before
    });
    // The planned levels arrived as new overlays, the finest last.
    assert!(app(&harness).state.overlay_version > before);
    assert!(app(&harness).state.error.is_none());
}

#[test]
fn a_bad_file_shows_an_error_and_changes_nothing() {
    let mut harness = predicting();
    let (name, version) = (
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        app(&harness).state.overlay_version,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("notes.png");
    std::fs::write(&bad, b"not a picture").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the error", |app| app.state.error.is_some());
    harness.step();
    let error = app(&harness).state.error.clone().expect("an error message");
    assert!(error.contains("notes.png"), "{error}");
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        name
    );
    assert!(app(&harness).state.query_job.is_none());
    // The message is dismissable; the views are as they were.
    click(&mut harness, "Dismiss");
    assert!(app(&harness).state.error.is_none());
    assert_eq!(app(&harness).state.overlay_version, version);
}

#[test]
fn switching_subject_keeps_the_image_and_predicts_again() {
    let mut harness = predicting();
    let image = app(&harness).state.image.as_ref().map(|i| i.name.clone());
    let before = app(&harness).state.overlay.clone().expect("overlay");
    // The Subject list is the first combo box showing subj01 (the Fine-tune target is the other).
    harness
        .get_all_by_value("virtual subj01")
        .next()
        .expect("the Subject list")
        .click();
    harness.step();
    harness.step();
    click(&mut harness, "virtual subj03");
    assert_eq!(app(&harness).state.model, ModelSlot::Embedded(3));
    step_until(&mut harness, "subject 3's prediction", |app| {
        prediction_shown(app) && app.state.overlay.as_ref().is_some_and(|o| o.0 > before.0)
    });
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        image
    );
    let after = app(&harness).state.overlay.clone().expect("overlay");
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
        let panel = &mut app_mut(&mut harness).state.finetune;
        panel.set_images(6);
        panel.max_epochs = 1000;
        panel.validation_images = 4;
        panel.source = ModelSlot::Embedded(2);
    }
    click(&mut harness, "Start");
    assert!(app(&harness).state.finetune.running());
    step_until(&mut harness, "a few training steps", |app| {
        app.state.finetune.progress().loss.len() >= 3
            && app.state.finetune.progress().validation_r.len() >= 2
    });
    click(&mut harness, "Cancel");
    step_until(&mut harness, "the cancelled fine-tune", |app| {
        !app.state.finetune.running()
    });
    let app_now = app(&harness);
    assert_eq!(
        app_now.state.tuned.len(),
        1,
        "{:?}",
        app_now.state.finetune.summary
    );
    assert_eq!(app_now.state.model, ModelSlot::Tuned(0));
    assert_eq!(app_now.state.ab_partner, Some(ModelSlot::Embedded(2)));
    assert!(
        app_now
            .state
            .finetune
            .summary
            .as_deref()
            .is_some_and(|s| s.contains("cancelled"))
    );
    // The curves stay for the finished run.
    assert!(app_now.state.finetune.progress().loss.len() >= 3);
    // The new model predicts in the views.
    step_until(
        &mut harness,
        "the fine-tuned model's prediction",
        prediction_shown,
    );
    let shown = app(&harness).state.overlay.clone().expect("overlay");
    assert!(shown.1.volume.data.iter().all(|v| v.is_finite()));
    assert!(shown.1.inside.data.iter().any(|&i| i));
    // A/B switches to the source and back.
    click(&mut harness, "A/B: switch to virtual subj02");
    assert_eq!(app(&harness).state.model, ModelSlot::Embedded(2));
    assert_eq!(app(&harness).state.ab_partner, Some(ModelSlot::Tuned(0)));
}

#[test]
fn the_prediction_exports_as_nifti() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("out");
    {
        let app = app_mut(&mut harness);
        app.state.export.folder = folder.display().to_string();
        app.state.export.spacing_mm = 3.0;
    }
    click(&mut harness, "Export");
    click(&mut harness, "Prediction (NIfTI)");
    step_until(&mut harness, "the export", |app| {
        app.state.export.job.is_none() && app.state.status.starts_with("wrote")
    });
    let path = folder.join("virtual-subj01-example-object-3mm.nii.gz");
    let volume =
        crate::volume::Volume::read_nifti(&path, 0).expect("the exported NIfTI reads back");
    assert_eq!(volume.grid, crate::space::Grid::mni(3.0).expect("grid"));
    assert!(volume.data.iter().any(|&v| v != 0.0));
}

#[test]
fn the_views_export_at_twice_their_size() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("out");
    app_mut(&mut harness).state.export.folder = folder.display().to_string();
    click(&mut harness, "Export");
    click(&mut harness, "Views at 2x (PNG)");
    step_until(&mut harness, "the figure", |app| {
        app.state.export.job.is_none()
            && (app.state.status.starts_with("wrote") || app.state.error.is_some())
    });
    // Without an adapter the 3D tile stays black and the message says so (CI has lavapipe).
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Some(error) = app_mut(&mut harness).state.error.take() {
        assert!(!in_ci && error.contains("3D view is missing"), "{error}");
    }
    let picture = image::open(folder.join("virtual-subj01-example-object-views-2x.png"))
        .expect("the figure reads back")
        .to_rgba8();
    let area = app(&harness).state.views_area.expect("views drawn");
    assert_eq!(picture.height(), (area.height() * 2.0).round() as u32);
    // Twice the views' width, and a colour bar on the right.
    assert!(picture.width() > (area.width() * 2.0).round() as u32);
    // Each slice was queried at twice the pixels it has on screen.
    let request = app(&harness).state.views_request(2.0).expect("request");
    for (twice, once) in request
        .slices
        .sizes
        .iter()
        .zip(app(&harness).state.slice_sizes)
    {
        assert!(twice.0.abs_diff(2 * once.0) <= 2 && twice.1.abs_diff(2 * once.1) <= 2);
    }
    // The overlay's colours are there (a blue or red pixel: one channel well above the others).
    let coloured = picture
        .pixels()
        .filter(|p| {
            let [r, g, b, _] = p.0.map(i32::from);
            (b - r > 60 && b - g > 20) || (r - b > 60 && r - g > 20)
        })
        .count();
    assert!(coloured > 5_000, "{coloured} coloured pixels");
}

#[test]
fn a_dropped_nifti_map_is_shown_over_the_template_and_a_corrupt_one_is_refused() {
    let mut harness = predicting();
    // A 4 mm map: +3 in a 20 mm ball around the crosshair, 0 elsewhere.
    let centre = app(&harness).state.at.as_vec3();
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("zstat1.nii.gz");
    write_map(
        &map,
        4.0,
        |p| if p.distance(centre) < 20.0 { 3.0 } else { 0.0 },
    );
    drop_file(&mut harness, &map);
    step_until(&mut harness, "the map in the slices", |app| {
        app.state.show_file
            && app.state.slices_job.is_none()
            && !app.state.slices_stale
            && app.state.slices.len() == 3
    });
    let app_now = app(&harness);
    assert_eq!(
        app_now.state.shown_overlay().map(|(v, _)| v),
        app_now.state.file_overlay.as_ref().map(|(_, (v, _))| *v)
    );
    // The slices through the crosshair show the map: 3 inside the ball, nothing far from it.
    for view in &app_now.state.slices {
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
    assert!(!app(&harness).state.show_file);
    assert_eq!(
        app(&harness).state.shown_overlay().map(|(v, _)| v),
        app(&harness).state.overlay.as_ref().map(|(v, _)| *v)
    );
    // A corrupt NIfTI: a message naming it, the overlay kept.
    let bad = dir.path().join("broken.nii.gz");
    std::fs::write(&bad, b"not gzip at all").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the error", |app| app.state.error.is_some());
    let error = app(&harness).state.error.clone().unwrap_or_default();
    assert!(error.contains("broken.nii.gz"), "{error}");
    assert!(
        app(&harness)
            .state
            .file_overlay
            .as_ref()
            .is_some_and(|(name, _)| name == "zstat1.nii.gz")
    );
}

#[test]
fn layouts_place_the_views_they_show_without_overlap() {
    use super::layout::Layout;
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
        // The views and the strips between them cover the area (the panel has no fill), and
        // the strips lie between the views, not over them.
        let gaps = layout.gaps(full);
        for gap in &gaps {
            assert!(
                rects
                    .iter()
                    .all(|r| !r.shrink(0.5).intersects(gap.shrink(0.5)))
            );
        }
        for k in 0..=40 {
            for m in 0..=40 {
                let p = full.min + full.size() * egui::vec2(k as f32 / 40.0, m as f32 / 40.0);
                assert!(
                    rects
                        .iter()
                        .chain(&gaps)
                        .any(|r| r.expand(0.01).contains(p)),
                    "{name}: {p:?} neither in a view nor between views"
                );
            }
        }
    }
    assert_eq!(Layout::Single(3).rects(full)[3], Some(full));
}

#[test]
fn keyboard_shortcuts_switch_layout_mode_and_help() {
    use super::layout::Layout;
    use crate::render::volume3d::Mode3d;
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    harness.key_press(egui::Key::L);
    harness.step();
    assert_eq!(app(&harness).state.layout, Layout::Row);
    harness.key_press(egui::Key::M);
    harness.step();
    assert_eq!(app(&harness).state.mode, Mode3d::Mip);
    harness.key_press(egui::Key::A);
    harness.step();
    assert!(!app(&harness).state.anatomy_on);
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
    let first = app(&harness).state.image.as_ref().map(|i| i.name.clone());
    let red = egui::ColorImage::filled([40, 30], egui::Color32::from_rgb(200, 30, 20));
    harness.event(egui::Event::PasteImage(Arc::new(red)));
    harness.step();
    let app_now = app(&harness);
    let shown = app_now.state.image.as_ref().expect("image");
    assert_eq!(shown.name, "pasted image");
    assert_eq!((shown.rgb.width, shown.rgb.height), (40, 30));
    assert_eq!(&shown.rgb.pixels[..3], &[200, 30, 20]);
    assert!(
        app_now.state.query_job.is_some(),
        "the pasted image is predicted"
    );
    assert_eq!(
        app_now
            .state
            .recent
            .iter()
            .map(|r| Some(r.name.clone()))
            .next(),
        Some(first.clone())
    );
    // Showing the earlier image again swaps the two.
    let earlier = app_now.state.recent[0].clone();
    let ctx = harness.ctx.clone();
    app_mut(&mut harness)
        .state
        .show_image(earlier.name, earlier.rgb, &ctx);
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        first
    );
    assert_eq!(app(&harness).state.recent.len(), 1);
    assert_eq!(app(&harness).state.recent[0].name, "pasted image");
}

#[test]
fn the_status_bar_names_the_model_domains_roi_under_the_cursor() {
    let mut harness = predicting();
    // Subject 3's model with its domain labelled: voxels left of the midline are "left ROI".
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model =
        crate::embedded::default_model(3, &burn::tensor::Device::flex()).expect("model");
    let crate::model::Domain::Voxels(domain) = &model.domain else {
        panic!("the embedded models know their voxels");
    };
    let coords = domain.coords_mm().to_vec();
    let members = coords.iter().map(|p| p.x < 0.0).collect();
    model.domain = crate::model::Domain::Voxels(
        crate::model::domain::VoxelDomain::new(
            coords,
            vec![crate::model::domain::Roi {
                name: "left ROI".into(),
                members,
            }],
            Some(domain.reach_mm()),
        )
        .expect("domain"),
    );
    let path = dir.path().join("labelled.nrf");
    model.save(&path).expect("save");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the labelled model's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    // Point into the model's domain on the left of the axial slice (the crosshair's row).
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).state.layout.rects(area)[2].expect("axial view")
    };
    // Scan the left half of the axial view for a point inside the model's domain.
    let mut found = None;
    'scan: for fy in (6..19).map(|k| k as f32 / 20.0) {
        for fx in (2..10).map(|k| k as f32 / 20.0) {
            harness.hover_at(rect.lerp_inside(egui::vec2(fx, fy)));
            harness.step();
            harness.step();
            if let Some((p, Some(_))) = app(&harness).hover
                && p.x < -5.0
            {
                found = Some(p);
                break 'scan;
            }
        }
    }
    let p = found.expect("a point left of the midline inside the domain");
    assert!(p.x < 0.0);
    harness.get_by_label("left ROI");
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
    step_until(&mut harness, "the atlas", |app| app.state.atlas.is_some());
    // The overlay is untouched: an atlas names regions, it is not drawn.
    assert!(!app(&harness).state.show_file);
    // Point at the axial slice, a quarter of the way in from its left edge.
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).state.layout.rects(area)[2].expect("axial view")
    };
    harness.hover_at(rect.lerp_inside(egui::vec2(0.25, 0.5)));
    harness.step();
    harness.step();
    let (p, _) = app(&harness).hover.expect("a hovered point");
    let region = app(&harness)
        .state
        .atlas
        .as_ref()
        .and_then(|a| a.region_at(p))
        .expect("inside the atlas");
    assert!(p.x < 0.0 && region == "left half", "{p:?}: {region}");
    harness.get_by_label("left half");
}

#[test]
fn a_dropped_model_file_joins_the_subject_list_and_other_folders_are_refused() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = burn::tensor::Device::flex();
    let model = crate::embedded::default_model(3, &device).expect("model");
    let path = dir.path().join("my-subject.nrf");
    model.save(&path).expect("save");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the model file's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    assert_eq!(
        app(&harness).state.model_name(ModelSlot::Opened(0)),
        "my-subject.nrf"
    );
    assert!(
        app(&harness)
            .state
            .model_slots()
            .contains(&ModelSlot::Opened(0))
    );
    // A file describes no virtual subject: no ground truth to offer.
    assert!(
        harness
            .query_by_label("show the ground truth instead")
            .is_none()
    );

    // A folder that is not a run folder: a clear message, nothing changes.
    drop_file(&mut harness, dir.path());
    step_until(&mut harness, "the error", |app| app.state.error.is_some());
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(error.contains("experiment_config.yaml"), "{error}");
    assert_eq!(app(&harness).state.opened.len(), 1);
    assert_eq!(app(&harness).state.model, ModelSlot::Opened(0));
}

/// A file of the test data that a fresh clone carries (`tests/data`).
fn test_data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

/// Copies a folder (one level of subfolders) into `to`.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn models_on_clip_features_wait_for_a_clip_folder_that_fits_them() {
    let mut harness = predicting();
    // The official run folder of the reference fixture takes ViT-B/16 features; the tiny CLIP
    // folder does not give those: a clear message, the model keeps waiting, nothing else changes.
    drop_file(&mut harness, &test_data("nrf-official"));
    step_until(&mut harness, "the run folder read", |app| {
        app.state.pending_clip.is_some() || app.state.error.is_some()
    });
    assert_eq!(app(&harness).state.error, None);
    harness.get_by_label("Choose CLIP folder…");
    drop_file(&mut harness, &test_data("clip-tiny"));
    step_until(&mut harness, "the misfit refused", |app| {
        app.state.error.is_some()
    });
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(
        error.contains("clip-tiny") && error.contains("does not fit"),
        "{error}"
    );
    assert!(app(&harness).state.pending_clip.is_some());
    assert!(app(&harness).state.opened.is_empty());
    assert_eq!(app(&harness).state.model, ModelSlot::Embedded(1));
    click(&mut harness, "Cancel");
    assert!(app(&harness).state.pending_clip.is_none());

    // A run folder missing its network's weights names the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("run");
    copy_folder(&test_data("nrf-official"), &broken);
    std::fs::remove_file(broken.join("best_model/best_NRF_model.pth.tar")).expect("remove");
    drop_file(&mut harness, &broken);
    step_until(&mut harness, "the broken folder refused", |app| {
        app.state.error.is_some()
    });
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(error.contains("best_NRF_model.pth.tar"), "{error}");
    assert!(app(&harness).state.pending_clip.is_none());

    // The end-to-end fixture's model (converted from its run folder) with the CLIP folder it was
    // made with: the viewer's prediction is PyTorch's.
    drop_file(&mut harness, &test_data("nrf-e2e/model.nrf"));
    step_until(&mut harness, "the model waiting", |app| {
        app.state.pending_clip.is_some()
    });
    drop_file(&mut harness, &test_data("clip-tiny"));
    step_until(&mut harness, "the CLIP model's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    assert!(app(&harness).state.pending_clip.is_none());
    assert!(!app(&harness).state.trainable(ModelSlot::Opened(0)));
    drop_file(&mut harness, &test_data("clip-tiny/images/noise_227.png"));
    step_until(&mut harness, "the new image's prediction", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "noise_227.png")
            && prediction_shown(app)
    });
    let points = crate::npy::read_f32(test_data("nrf-e2e/coords_mni_mm.npy")).expect("points");
    let points: Vec<glam::Vec3> = points
        .data
        .chunks_exact(3)
        .map(|p| glam::Vec3::new(p[0], p[1], p[2]))
        .collect();
    let expected =
        crate::npy::read_f32(test_data("nrf-e2e/noise_227.expected_prediction.npy")).expect("npy");
    let got = app(&harness)
        .state
        .query
        .as_ref()
        .expect("query")
        .query_points(&points)
        .expect("values");
    let worst = got
        .iter()
        .zip(&expected.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst <= 1e-3, "largest difference from PyTorch {worst}");
}

/// Asserts that each voxel of `got` is `expected(a, b)` of the same voxel of `a` and `b`.
fn assert_voxelwise(
    got: &crate::query::GridPrediction,
    a: &crate::query::GridPrediction,
    b: &crate::query::GridPrediction,
    expected: impl Fn(f32, f32) -> f32,
) {
    for ((g, a), b) in got
        .volume
        .data
        .iter()
        .zip(&a.volume.data)
        .zip(&b.volume.data)
    {
        let want = expected(*a, *b);
        assert!((g - want).abs() < 1e-4, "{g} vs {want} from {a} and {b}");
    }
}

#[test]
fn an_a_minus_b_contrast_shows_the_difference_of_two_images() {
    let mut harness = predicting();
    let a_only = app(&harness).state.overlay.clone().expect("A");
    click(&mut harness, "Set as B");
    assert_eq!(app(&harness).state.contrast.b.len(), 1);
    let first = app(&harness).state.image.clone().expect("image");
    // A different image becomes A; then A − B is asked for.
    harness.get_by_label("face").click();
    step_until(&mut harness, "the face's prediction", |app| {
        prediction_shown(app)
            && app
                .state
                .image
                .as_ref()
                .is_some_and(|i| i.name == "example: face")
    });
    let face = app(&harness).state.overlay.clone().expect("face");
    click(&mut harness, "show A - B");
    step_until(&mut harness, "the contrast", |app| {
        prediction_shown(app)
            && app
                .state
                .query
                .as_ref()
                .is_some_and(ImageQuery::is_contrast)
    });
    let contrast = app(&harness).state.overlay.clone().expect("A − B");
    assert!(
        app(&harness).state.status.contains("A - B"),
        "{}",
        app(&harness).state.status
    );
    // The 1 mm contrast volume is the face's volume minus the first image's.
    assert_voxelwise(&contrast.1, &face.1, &a_only.1, |a, b| a - b);

    // Sets: the face joins B, so A − B = face − mean(first, face) = (face − first) / 2.
    click(&mut harness, "Add to B");
    assert_eq!(app(&harness).state.contrast.b.len(), 2);
    step_until(&mut harness, "the contrast of sets", |app| {
        prediction_shown(app)
            && app
                .state
                .overlay
                .as_ref()
                .is_some_and(|(version, _)| *version > contrast.0)
    });
    let half = app(&harness).state.overlay.clone().expect("A - mean(B)");
    assert_voxelwise(&half.1, &face.1, &a_only.1, |a, b| (a - b) / 2.0);
    // Adding an image twice is refused with a message; nothing changes.
    click(&mut harness, "Add to B");
    assert!(
        app_mut(&mut harness)
            .state
            .error
            .take()
            .is_some_and(|e| e.contains("already"))
    );
    assert_eq!(app(&harness).state.contrast.b.len(), 2);
    assert_eq!(first.name, app(&harness).state.contrast.b[0].name);
    click(&mut harness, "Clear A and B");
    step_until(&mut harness, "the face alone again", |app| {
        prediction_shown(app) && app.state.query.as_ref().is_some_and(|q| !q.is_contrast())
    });
}

#[test]
fn a_click_on_the_3d_view_moves_the_crosshair_to_the_surface() {
    let mut harness = predicting();
    let before = app(&harness).state.at;
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).state.layout.rects(area)[3].expect("3D view")
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
    let after = app(&harness).state.at;
    assert_ne!(after, before, "the crosshair moved");
    // It sits on the brain's surface: inside the template's brain, near its edge.
    let brain = app(&harness)
        .state
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
    assert!(app(&harness).state.slices_stale || app(&harness).state.slices_job.is_some());
}

/// A wgpu render state on a software adapter (lavapipe) for snapshot images; `None` (the test
/// skips, saying why) when there is none on a developer's machine — under `CI=true` it fails.
fn software_render_state(test: &str) -> Option<eframe::egui_wgpu::RenderState> {
    use eframe::egui_wgpu;
    let mut setup = egui_kittest::wgpu::default_wgpu_setup();
    // As the window opens its device: with the adapter's features, for burn to share it.
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut setup {
        create.device_descriptor =
            Arc::new(|adapter| crate::gpu::shareable_device_descriptor(adapter, "kittest"));
    }
    let state = pollster::block_on(async {
        let instance = setup.new_instance().await;
        egui_wgpu::RenderState::create(
            &egui_wgpu::WgpuConfiguration {
                wgpu_setup: setup,
                ..Default::default()
            },
            &instance,
            None,
            egui_wgpu::RendererOptions::PREDICTABLE,
        )
        .await
    });
    match state {
        Ok(state) => Some(state),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: needs a wgpu adapter under CI=true (mesa-vulkan-drivers), but {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: no wgpu adapter ({e}); install mesa-vulkan-drivers");
            None
        }
    }
}

/// Steps until the views are complete again after a change of layout or size (the slices are
/// queried again at their new pixel size).
fn settle(harness: &mut AppHarness) {
    harness.step();
    harness.step();
    step_until(harness, "the views redrawn", prediction_shown);
    // The status line carries the query's seconds, which vary from run to run.
    app_mut(harness).state.status = "virtual subj01: 1 mm volume".into();
    harness.step();
    harness.step();
}

#[test]
fn the_main_layouts_match_their_snapshots() {
    // Tolerance (kittest.toml): a pixel fails when its colour differs by more than kittest's
    // default distance, and up to 0.1 % of the window's pixels may fail (antialiasing and the
    // last bit of parallel sums).
    let test = "the_main_layouts_match_their_snapshots";
    let Some(render_state) = software_render_state(test) else {
        return;
    };
    let mut harness = build_harness(
        ViewOptions {
            subject: 1,
            ..Default::default()
        },
        Some(render_state),
    );
    step_until(&mut harness, "the example's prediction", prediction_shown);
    settle(&mut harness);
    harness.snapshot("viewer_2x2");
    app_mut(&mut harness).state.layout = super::layout::Layout::Row;
    settle(&mut harness);
    harness.snapshot("viewer_row");
}

#[test]
fn a_new_image_or_model_clears_the_previous_prediction_at_once() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    drop_file(&mut harness, &write_face(dir.path()));
    step_until(&mut harness, "the face to be read", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "face.png")
    });
    // Nothing of the example's prediction stays on screen under the face's name: the views
    // show the anatomy and say what is being computed until the face's first level arrives.
    let now = app(&harness);
    assert!(
        now.state.overlay.is_none()
            && now.state.query.is_none()
            && now.state.overlay_spacing.is_none()
    );
    assert!(
        now.state
            .slices
            .iter()
            .all(|s| !s.slice.inside.iter().any(|&i| i)),
        "slices of the anatomy alone"
    );
    let pending = now.state.pending_prediction().expect("a caption");
    assert!(
        pending.contains("virtual subj01") && pending.contains("face.png"),
        "{pending}"
    );
    step_until(&mut harness, "the face's prediction", prediction_shown);
    assert!(app(&harness).state.pending_prediction().is_none());
    // Another model: its own colour range, and the previous model's volume gone at once.
    app_mut(&mut harness).state.range = 123.0;
    let ctx = harness.ctx.clone();
    app_mut(&mut harness)
        .state
        .select_model(ModelSlot::Embedded(2), &ctx);
    let now = app(&harness);
    assert!(
        now.state.overlay.is_none() && now.state.query.is_none() && now.state.slices.is_empty()
    );
    assert!(now.state.range_pending);
    assert!(
        now.state
            .pending_prediction()
            .is_some_and(|p| p.contains("subj02"))
    );
    step_until(&mut harness, "subject 2's prediction", prediction_shown);
    assert_ne!(
        app(&harness).state.range,
        123.0,
        "the range is set from subject 2's prediction"
    );
}

#[test]
fn slow_models_show_coarse_slices_first_then_every_pixel() {
    let mut harness = predicting();
    // As if the model ran at 2 000 points/s: the slices' first step is coarse.
    app_mut(&mut harness).state.rate_per_job = Some(2_000.0);
    app_mut(&mut harness).state.slices_stale = true;
    app_mut(&mut harness).state.slices.clear();
    let mut factors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while factors.last() != Some(&1) {
        harness.step();
        let app = app(&harness);
        if let Some(factor) = app.state.slices.iter().map(|s| s.slice.factor).max()
            && factors.last() != Some(&factor)
            && !app.state.slices_stale
        {
            factors.push(factor);
        }
        assert!(Instant::now() < deadline, "slices stuck at {factors:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(factors[0] > 1, "coarse first: {factors:?}");
    assert!(factors.windows(2).all(|w| w[0] > w[1]), "{factors:?}");
}

#[test]
fn on_the_gpu_the_prediction_shown_comes_from_the_windows_device() {
    let test = "on_the_gpu_the_prediction_shown_comes_from_the_windows_device";
    let Some(render_state) = software_render_state(test) else {
        return;
    };
    let adapter = render_state.adapter.get_info().name;
    let window = render_state.clone();
    // Whether the 3D view shows the texture the query kernel wrote on the window's device.
    let overlay_from_gpu = move || {
        window
            .renderer
            .read()
            .callback_resources
            .get::<super::views::volume_paint::View3dResources>()
            .map(|r| r.overlay_from_gpu)
    };
    let mut harness = build_harness(
        ViewOptions {
            subject: 1,
            device: crate::device::DeviceChoice::Gpu,
            ..Default::default()
        },
        Some(render_state),
    );
    {
        let app = app_mut(&mut harness);
        // A coarse finest level: lavapipe compiles each new kernel slowly.
        app.state.finest_spacing = 4.0;
        assert!(app.state.compute.is_gpu(), "{}", app.state.compute.report());
        assert!(
            app.state.compute.note.is_none(),
            "burn shares the window's device: {}",
            app.state.compute.report()
        );
        assert!(app.state.compute.place().starts_with("model on GPU: "));
        assert!(
            app.state.compute.place().contains(&adapter),
            "{}",
            app.state.compute.place()
        );
    }
    step_until(&mut harness, "the prediction on the GPU", prediction_shown);
    // Paint callbacks run when the harness renders.
    harness.render().expect("the window renders");
    let now = app(&harness);
    // Asserted from the level itself, not inferred: the device that computed it, the kernel
    // that ran there, and the 3D view drawing the very texture that kernel wrote.
    assert_eq!(
        now.state.overlay_device.as_ref(),
        Some(&now.state.compute.device)
    );
    assert_eq!(
        now.state.query.as_ref().map(ImageQuery::device),
        Some(now.state.compute.device.clone())
    );
    assert_eq!(
        now.state.query.as_ref().and_then(ImageQuery::gpu_kernel),
        Some(crate::query::gpu::Kernel::Fused),
        "the embedded 128-wide model runs the fused kernel"
    );
    assert!(
        now.state
            .overlay
            .as_ref()
            .is_some_and(|(_, p)| p.on_gpu.is_some()),
        "the level came with its overlay texture"
    );
    assert_eq!(overlay_from_gpu(), Some(true), "no upload for the 3D view");
    // The status bar says where the model runs.
    harness.get_by_label(&now.state.compute.place());
    // Switching image cancels the running levels: the old job is dropped at once.
    let old = now.state.overlay.clone().expect("overlay");
    let ctx = harness.ctx.clone();
    let (_, rgb) = crate::data::simulate::stimulus_of(1, 5);
    app_mut(&mut harness)
        .state
        .show_image("another".into(), rgb, &ctx);
    assert!(app(&harness).state.refinement.is_none() && app(&harness).state.overlay.is_none());
    step_until(&mut harness, "the new image's prediction", prediction_shown);
    let now = app(&harness);
    assert_ne!(now.state.overlay.as_ref().map(|o| o.0), Some(old.0));
    assert_eq!(
        now.state.overlay_device.as_ref(),
        Some(&now.state.compute.device)
    );
}

#[test]
fn a_model_without_a_domain_says_so_and_takes_one_dropped_on_the_window() {
    // The end-to-end fixture's model without its domain, as an official run folder comes.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = crate::model::Nrf::load(
        test_data("nrf-e2e/model.nrf"),
        &burn::tensor::Device::flex(),
    )
    .expect("model");
    model.domain = crate::model::Domain::Unknown;
    let path = dir.path().join("no-domain.nrf");
    model.save(&path).expect("save");
    let mut harness = predicting();
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the model waiting", |app| {
        app.state.pending_clip.is_some()
    });
    drop_file(&mut harness, &test_data("clip-tiny"));
    step_until(&mut harness, "its prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    let now = app(&harness);
    assert!(
        now.state.status_line().contains("no domain"),
        "{}",
        now.state.status_line()
    );
    assert_eq!(
        now.state.overlay.as_ref().map(|o| o.1.region),
        Some(crate::query::RegionUsed::BrainMask)
    );
    harness.get_by_label("Domain coordinates…");
    // A file that is not (N, 3) coordinates is refused with its name; nothing changes.
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"not numpy").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the bad domain refused", |app| {
        app.state.error.is_some()
    });
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(error.contains("bad.npy"), "{error}");
    // The NSD-processed coordinates: the views stay within them from now on.
    drop_file(
        &mut harness,
        &test_data("nsd-processed/MNI_coordinate/subj01/nsdgeneral_MNI_coordinate.npy"),
    );
    step_until(&mut harness, "the prediction within the domain", |app| {
        prediction_shown(app)
            && app.state.overlay.as_ref().map(|o| o.1.region)
                == Some(crate::query::RegionUsed::ModelDomain)
    });
    assert!(!app(&harness).state.status_line().contains("no domain"));
    assert!(app(&harness).state.error.is_none());
}

#[test]
fn new_colours_recolour_the_slices_without_querying_again() {
    let mut harness = predicting();
    let before: Vec<(Vec<f32>, Vec<u8>)> = app(&harness)
        .state
        .slices
        .iter()
        .map(|v| (v.slice.values.clone(), v.slice.image.as_raw().clone()))
        .collect();
    {
        let app = app_mut(&mut harness);
        app.state.range /= 4.0;
        app.state.threshold = app.state.range / 5.0;
        app.state.restyle_slices();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        let app = app(&harness);
        assert!(app.state.slices_job.is_none(), "no query for new colours");
        if app.state.restyle_job.is_none() && !app.state.slices_restyle {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slices were never recoloured"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = &app(&harness).state.slices;
    assert_eq!(after.len(), 3);
    for (view, (values, image)) in after.iter().zip(&before) {
        assert_eq!(&view.slice.values, values, "the same values");
        assert_eq!(view.slice.factor, 1);
        assert_ne!(view.slice.image.as_raw(), image, "in the new colours");
    }
}
