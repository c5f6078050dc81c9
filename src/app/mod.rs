//! The desktop viewer (eframe + egui on wgpu): drop an image, see the predicted response as a
//! ray-marched 3D volume and three slices queried at their on-screen pixel size, switch subjects.
//!
//! This module is the frame loop and the layout. The state the panels and views share, with
//! the methods that change it and the polling of its background jobs, is [`state`]; each side
//! panel section is a module of [`panels`], each view one of [`views`]; [`status_bar`],
//! [`help`] (shortcuts) and [`layout`] are the rest of the window. The work without a window
//! (opening files, jobs, fine-tuning, exports) is [`crate::session`].

mod help;
pub mod layout;
mod panels;
mod state;
mod status_bar;
#[cfg(test)]
mod tests;
pub mod views;

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;
use glam::DVec3;

pub use state::ModelSlot;
use state::{AppState, ScreenshotSlot, request_screenshot};

use crate::device::{ComputeDevice, DeviceChoice, SharedGpu};
use crate::features::preprocess::Rgb8;
use crate::session::SessionError;

/// How the viewer starts.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// An image to show at once.
    pub image: Option<PathBuf>,
    /// Embedded virtual subject (1–8).
    pub subject: usize,
    /// Write a screenshot here once the first full prediction is on screen.
    pub screenshot: Option<PathBuf>,
    /// Close after the screenshot.
    pub exit: bool,
    /// Start with the virtual subject's ground truth shown instead of the prediction.
    pub truth: bool,
    /// Start a fine-tune at once: (source subject, training images); the target is `subject`.
    /// With `screenshot`, the picture is taken once it has finished and its model is shown.
    pub finetune: Option<(usize, usize)>,
    /// The most epochs of that fine-tune (`None`: the panel's suggestion for its images).
    pub finetune_epochs: Option<usize>,
    /// A NIfTI volume to show over the template at once (as if dropped on the window).
    pub overlay: Option<PathBuf>,
    /// Run the Ask panel's localiser at once on these sets (A, B); when it answers, the
    /// crosshair moves to its top peak, the images driving it are ranked and its pRF shown.
    pub localizer: Option<(String, String)>,
    /// Show the pRF at this point at once, the crosshair there.
    pub prf_at: Option<glam::Vec3>,
    /// Start with the prediction shown relative to the average image.
    pub relative_to_average: bool,
    /// A `.nrf` model or official run folder to show at once instead of the embedded subject
    /// (as if dropped).
    pub model: Option<PathBuf>,
    /// The local CLIP folder for models that take CLIP features.
    pub clip: Option<PathBuf>,
    /// Repaint continuously and record frame times here (a benchmark of the UI's frame rate).
    pub frame_stats: Option<Arc<std::sync::Mutex<FrameStats>>>,
    /// With `frame_stats`: close the window this long after its first frame (to time the UI
    /// while a slow model computes, without waiting for its last level).
    pub exit_after: Option<std::time::Duration>,
    /// Where the model runs: a hardware GPU (the window's own device) under `Auto`, the CPU
    /// otherwise; `Gpu` takes a software adapter too.
    pub device: DeviceChoice,
    /// Told, once the window is open, where the model runs ([`ComputeDevice::report`]).
    pub device_report: Option<std::sync::mpsc::Sender<String>>,
}

/// Frame times of the window, recorded when [`ViewOptions::frame_stats`] is set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameStats {
    /// Frames drawn while a fine-tune was training (after measuring its data).
    pub training: PhaseFrames,
    /// Frames drawn with nothing running in the background (views complete).
    pub idle: PhaseFrames,
    /// Frames drawn at any other time (loading, predicting, refining).
    pub other: PhaseFrames,
}

/// The frames of one phase of [`FrameStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseFrames {
    /// Frames drawn.
    pub frames: u64,
    /// Their seconds in all.
    pub seconds: f64,
    /// The longest of them, seconds: the worst the UI got.
    pub slowest: f64,
}

impl PhaseFrames {
    /// Frames per second.
    pub fn rate(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }

    fn add(&mut self, seconds: f64) {
        self.frames += 1;
        self.seconds += seconds;
        self.slowest = self.slowest.max(seconds);
    }
}

/// Makes the CPU compute threads (rayon's global pool, which burn's flex backend and our own
/// parallel loops use) run below the window ([`crate::device::yield_to_the_window`]); the
/// viewer's job threads lower themselves the same way. Only where the pool is not started yet
/// (call it first); elsewhere it does nothing.
fn yield_compute_to_the_window() {
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| crate::device::yield_to_the_window())
        .build_global();
}

/// Opens the viewer window; returns when it closes.
pub fn run(options: ViewOptions) -> Result<(), SessionError> {
    yield_compute_to_the_window();
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 820.0])
            .with_title("nrf — Neural Response Functions"),
        renderer: eframe::Renderer::Wgpu,
        // Dithering costs every pixel of every frame a noise computation; on a software
        // rasteriser that is frame rate, and the views are not gradients that band.
        dithering: false,
        wgpu_options: window_gpu_configuration(),
        ..Default::default()
    };
    let result = ScreenshotSlot::default();
    let outcome = Arc::clone(&result);
    eframe::run_native(
        "nrf",
        native,
        Box::new(move |cc| {
            let render_state = cc
                .wgpu_render_state
                .as_ref()
                .ok_or("the viewer needs a wgpu adapter")?;
            views::volume_paint::install(render_state);
            let adapter = render_state.adapter.get_info();
            let details = format!(
                "{} ({:?}, {:?}, driver {} {})",
                adapter.name,
                adapter.device_type,
                adapter.backend,
                adapter.driver,
                adapter.driver_info
            );
            // The status bar shows the name up to its first bracket, e.g. `llvmpipe`.
            let short = adapter.name.split(" (").next().unwrap_or_default();
            let adapter = (format!("{short} ({:?})", adapter.device_type), details);
            // The model computes on the window's own device when it runs on the GPU.
            let compute = crate::device::compute_device_on(
                options.device,
                SharedGpu {
                    instance: render_state.instance.clone(),
                    adapter: render_state.adapter.clone(),
                    device: render_state.device.clone(),
                    queue: render_state.queue.clone(),
                },
            )?;
            if let Some(report) = &options.device_report {
                // The receiver may have gone: the report is only for the terminal.
                let _ = report.send(compute.report());
            }
            Ok(Box::new(NrfApp::new(
                options,
                adapter,
                compute,
                &cc.egui_ctx,
                outcome,
            )))
        }),
    )
    .map_err(|e| SessionError::Invalid(e.to_string()))?;
    match result.lock().map(|mut r| r.take()) {
        Ok(Some(Err(error))) => Err(error),
        _ => Ok(()),
    }
}

/// The window's wgpu device opened with its adapter's features and limits, so that burn can
/// compute on it too ([`crate::device::compute_device_on`]).
fn window_gpu_configuration() -> eframe::egui_wgpu::WgpuConfiguration {
    let mut configuration = eframe::egui_wgpu::WgpuConfiguration::default();
    if let eframe::egui_wgpu::WgpuSetup::CreateNew(create) = &mut configuration.wgpu_setup {
        create.device_descriptor =
            Arc::new(|adapter| crate::gpu::shareable_device_descriptor(adapter, "nrf window"));
    }
    configuration
}

/// The window: the [`AppState`] it shows, and what only the frame loop needs.
pub struct NrfApp {
    options: ViewOptions,
    state: AppState,
    screenshot_requested: bool,
    /// Where the `--screenshot` picture's outcome lands (read by [`run`] after the window closes).
    screenshot_outcome: ScreenshotSlot,
    /// The MNI point and value under the pointer in the last frame's views.
    hover: Option<(DVec3, Option<f32>)>,
    /// When the previous frame began (frame statistics only).
    last_frame: Option<std::time::Instant>,
    /// The first frame's time (for [`ViewOptions::exit_after`]).
    first_frame: Option<std::time::Instant>,
    /// The help window is open.
    help_open: bool,
}

impl NrfApp {
    fn new(
        options: ViewOptions,
        adapter: (String, String),
        compute: ComputeDevice,
        ctx: &egui::Context,
        outcome: ScreenshotSlot,
    ) -> Self {
        Self {
            state: AppState::new(&options, adapter, compute, ctx),
            options,
            screenshot_requested: false,
            screenshot_outcome: outcome,
            hover: None,
            last_frame: None,
            first_frame: None,
            help_open: false,
        }
    }

    /// With [`ViewOptions::frame_stats`]: asks for the next frame at once and adds this frame's
    /// interval to the statistics.
    fn record_frame(&mut self, ctx: &egui::Context) {
        let Some(stats) = &self.options.frame_stats else {
            return;
        };
        ctx.request_repaint();
        let now = std::time::Instant::now();
        if let Some(last) = self.last_frame
            && let Ok(mut stats) = stats.lock()
        {
            let seconds = (now - last).as_secs_f64();
            let state = &self.state;
            let training = state.finetune.running() && state.finetune.progress().position.is_some();
            let phase = if training {
                &mut stats.training
            } else if state.idle() {
                &mut stats.idle
            } else {
                &mut stats.other
            };
            phase.add(seconds);
        }
        let first = *self.first_frame.get_or_insert(now);
        if self
            .options
            .exit_after
            .is_some_and(|limit| now - first >= limit)
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.last_frame = Some(now);
    }

    /// With `--screenshot`: once the views are complete, asks for the picture (once).
    fn maybe_screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.options.screenshot.clone() else {
            return;
        };
        let state = &self.state;
        let ready = state.idle()
            && state.slices.len() == 3
            && (!state.show_truth || state.truth_overlay.is_some())
            && (self.options.finetune.is_none() || matches!(state.model, ModelSlot::Tuned(_)));
        // Measuring frame rates: three seconds of idle frames first.
        let measured = self
            .options
            .frame_stats
            .as_ref()
            .is_none_or(|stats| stats.lock().is_ok_and(|s| s.idle.seconds >= 3.0));
        if !ready || !measured || self.screenshot_requested {
            return;
        }
        self.screenshot_requested = true;
        request_screenshot(
            ctx,
            path,
            Arc::clone(&self.screenshot_outcome),
            self.options.exit,
        );
    }
}

impl eframe::App for NrfApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    /// Black, as behind the views: the central panel then needs no fill of its own (one layer
    /// less for a software rasteriser to shade under the views).
    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        [0.0, 0.0, 0.0, 1.0]
    }
}

impl NrfApp {
    /// One frame of the whole window (without eframe's frame, so tests can drive it).
    fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.record_frame(&ctx);
        let state = &mut self.state;
        state.poll_jobs(&ctx);
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        for file in dropped {
            state.open_file(file.path().to_path_buf(), &ctx);
        }
        if let Some(rgb) = pasted_image(&ctx) {
            state.show_image("pasted image".into(), rgb, &ctx);
        }
        help::shortcuts(&ctx, state, &mut self.help_open);
        // While a fine-tune runs from the command line, Display folds away to leave its curves room.
        // A fine-tune's curves or the Ask panel's answers, asked for on the command line, need
        // the room: Display starts folded then.
        let asked = self.options.localizer.is_some() || self.options.prf_at.is_some();
        let display_open = self.options.finetune.is_none() && !asked;
        egui::Panel::left("controls")
            .resizable(false)
            .exact_size(260.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    panels::side_panel(ui, state, display_open, !asked);
                });
            });
        // The hover comes from the previous frame's views (panels are laid out before them).
        let last_hover = self.hover;
        egui::Panel::bottom("status").show(ui, |ui| {
            status_bar::show(ui, state, last_hover, &mut self.help_open)
        });
        let hover = egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| central_views(ui, state))
            .inner;
        if hover != self.hover {
            self.hover = hover;
            ctx.request_repaint();
        }
        state.start_pending_slices(&ctx);
        if self.help_open {
            help::window(&ctx, &mut self.help_open);
        }
        if let Some(error) = state.error.clone() {
            egui::Window::new("Error")
                .collapsible(false)
                .show(&ctx, |ui| {
                    ui.label(error);
                    if ui.button("Dismiss").clicked() {
                        state.error = None;
                    }
                });
        }
        self.maybe_screenshot(&ctx);
        if self.options.screenshot.is_some() && !self.screenshot_requested {
            // Readiness is judged once per frame: keep frames coming until it holds.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

/// The views in the central area, laid out by the state's layout; returns the point and value
/// under the pointer.
fn central_views(ui: &mut egui::Ui, state: &mut AppState) -> Option<(DVec3, Option<f32>)> {
    state.views_area = Some(ui.max_rect());
    // The panel has no fill (the window clears to black): only the strips between the views
    // are painted, not a layer under them all.
    for gap in state.layout.gaps(ui.max_rect()) {
        ui.painter().rect_filled(gap, 0.0, egui::Color32::BLACK);
    }
    let [sagittal, coronal, axial, three_d] = state.layout.rects(ui.max_rect());
    let mut hover = None;
    for (index, rect) in [sagittal, coronal, axial].into_iter().enumerate() {
        if let Some(rect) = rect
            && let Some(h) = views::slice::show(ui, state, rect, index)
        {
            hover = Some(h);
        }
    }
    if let Some(rect) = three_d {
        views::view3d::show(ui, state, rect);
    }
    hover
}

/// An image pasted into the window this frame (Ctrl+V), as RGB.
fn pasted_image(ctx: &egui::Context) -> Option<Rgb8> {
    let image = ctx.input(|i| {
        i.events.iter().find_map(|event| match event {
            egui::Event::PasteImage(image) => Some(Arc::clone(image)),
            _ => None,
        })
    })?;
    Some(Rgb8 {
        width: image.size[0] as u32,
        height: image.size[1] as u32,
        pixels: image
            .pixels
            .iter()
            .flat_map(|c| [c.r(), c.g(), c.b()])
            .collect(),
    })
}
