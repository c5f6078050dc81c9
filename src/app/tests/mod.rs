//! The viewer driven headlessly with egui_kittest: real frames, clicks and drops on the app's
//! own state, its background jobs running for real (the 3D view's paint callback has no GPU here
//! and draws nothing; the renderer has its own tests).

mod bad_input;
mod finetune_export;
mod images;
mod layout;
mod models;
mod overlays;
mod questions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::state::ScreenshotSlot;
use super::{ModelSlot, NrfApp, ViewOptions};
use crate::query::ModelQuery;

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
        crate::app::views::volume_paint::install(&render_state);
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
