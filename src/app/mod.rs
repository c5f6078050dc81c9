//! The desktop viewer (eframe + egui on wgpu): drop an image, see the predicted response as a
//! ray-marched 3D volume and three slices queried at their on-screen pixel size, switch subjects.
//!
//! Everything slow — the template, the model and the image's features, the refinement of the 3D
//! volume (8 → 4 → 2 → 1 mm), the slices — runs on background threads ([`jobs`],
//! [`crate::render::refine`]); the UI thread only polls their channels, so it never blocks.

mod contrast;
pub mod export;
mod finetune_panel;
#[cfg(test)]
mod tests;
pub mod view3d;

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;
use glam::DVec3;

use crate::session::{finetune, jobs, open};

use crate::data::stimuli::{self, Category};
use crate::device::{ComputeDevice, DeviceChoice, SharedGpu};
use crate::features::preprocess::Rgb8;
use crate::query::{GridPrediction, ImageQuery, Region};
use crate::render::colormap::{BelowThreshold, ColorMap, OverlayStyle, quantile_abs};
use crate::render::refine::{FIRST_LEVEL_SECONDS, Levels, RefineMessage, RefinementJob};
use crate::render::slice::Convention;
use crate::render::volume3d::{Camera, ClipPlane, FrameOptions, Mode3d};
use crate::session::jobs::{
    Job, ModelSource, Polled, PredictionRequest, PreparedPrediction, RenderedSlice, SliceRequest,
    Step, SteppedJob, Templates, TruthSource,
};

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

/// Which model the views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSlot {
    /// The embedded model of virtual subject k (1–8).
    Embedded(usize),
    /// The k-th model fine-tuned in this session.
    Tuned(usize),
    /// The k-th model file opened in this session.
    Opened(usize),
}

/// A cut-away of the 3D view along one MNI axis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cut {
    on: bool,
    /// Remove the side above `at_mm` (else the side below).
    above: bool,
    /// Where the cut is along its axis, MNI mm.
    at_mm: f32,
}

impl Cut {
    /// The clip plane of this cut along `axis` (0 = x, 1 = y, 2 = z).
    fn plane(self, axis: usize) -> ClipPlane {
        let sign = if self.above { 1.0 } else { -1.0 };
        let mut normal = glam::Vec3::ZERO;
        normal[axis] = sign;
        ClipPlane {
            normal,
            offset: sign * self.at_mm,
        }
    }
}

/// Gives a widget without a visible label of its own an accessible name (for screen readers;
/// the kittest tests find widgets by it too).
fn name_widget(response: &egui::Response, name: &str) {
    response
        .ctx
        .accesskit_node_builder(response.id, |node| node.set_label(name));
}

/// Opens the viewer window; returns when it closes.
pub fn run(options: ViewOptions) -> Result<(), String> {
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
    let result = export::ScreenshotSlot::default();
    let outcome = Arc::clone(&result);
    eframe::run_native(
        "nrf",
        native,
        Box::new(move |cc| {
            let render_state = cc
                .wgpu_render_state
                .as_ref()
                .ok_or("the viewer needs a wgpu adapter")?;
            view3d::install(render_state);
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
    .map_err(|e| e.to_string())?;
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
            Arc::new(|adapter| crate::device::shareable_device_descriptor(adapter, "nrf window"));
    }
    configuration
}

/// A duration for the status bar: `0.4 s`, `12 s`, `3 min 20 s`.
fn seconds_text(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// Thumbnails kept of earlier images.
const RECENT_IMAGES: usize = 6;

/// An image being shown.
#[derive(Clone)]
struct ShownImage {
    name: String,
    rgb: Rgb8,
    thumbnail: egui::TextureHandle,
}

/// Slice textures and the data behind them.
struct SliceView {
    texture: egui::TextureHandle,
    slice: RenderedSlice,
}

/// The viewer's state.
pub struct NrfApp {
    options: ViewOptions,
    /// The adapter, short (status bar) and in full (its tooltip).
    adapter: String,
    adapter_details: String,
    /// Where the model runs.
    compute: ComputeDevice,
    /// The model shown.
    model: ModelSlot,
    /// The other side of the A/B toggle.
    ab_partner: Option<ModelSlot>,
    /// Models fine-tuned in this session.
    tuned: Vec<finetune::FineTuned>,
    /// Models opened in this session (files and run folders), with their feature extractors.
    opened: Vec<open::ViewerModel>,
    /// A model that takes CLIP features, waiting for the user to choose a CLIP folder.
    pending_clip: Option<(String, Box<crate::model::Nrf>)>,
    /// The CLIP folder of this session (from `--clip`, dropped or chosen), used for every model
    /// that takes CLIP features.
    clip_folder: Option<PathBuf>,
    finetune: finetune_panel::FineTunePanel,
    image: Option<ShownImage>,
    /// Earlier images, newest first (click to show again).
    recent: Vec<ShownImage>,
    /// An A − B contrast of images or sets of images.
    contrast: contrast::Contrast,
    templates: Option<Templates>,
    templates_job: Option<Job<Templates>>,
    anatomy_version: u64,
    query: Option<ImageQuery>,
    query_job: Option<Job<PreparedPrediction>>,
    /// Each query job's share of the shown query's points per second on the compute device
    /// (measured once prepared).
    rate_per_job: Option<f64>,
    refinement: Option<RefinementJob>,
    /// What the refinement is computing now, for the status bar.
    refinement_status: Option<String>,
    overlay: Option<(u64, Arc<GridPrediction>)>,
    overlay_spacing: Option<f64>,
    /// The device that computed the overlay shown (its levels say so).
    overlay_device: Option<burn::tensor::Device>,
    /// The prediction's levels set the colour range (a new image or model arrived): the first
    /// and the finest; cleared when the user sets it.
    range_pending: bool,
    /// Show the virtual subject's noise-free truth instead of the prediction.
    show_truth: bool,
    /// Show the fine-tuned model's validation r map instead of the prediction.
    show_r_map: bool,
    /// A NIfTI volume the user dropped: its name and overlay.
    file_overlay: Option<(String, (u64, Arc<GridPrediction>))>,
    /// Show it instead of the prediction.
    show_file: bool,
    /// A label atlas: the status bar names its region under the cursor.
    atlas: Option<Arc<open::Atlas>>,
    /// The native open dialog, on its own thread: the chosen file, or `None` when cancelled.
    dialog_job: Option<Job<Option<PathBuf>>>,
    /// Files being read (dropped together, or named on the command line).
    file_jobs: Vec<Job<open::Opened>>,
    /// A domain being read for the opened model of this index.
    domain_job: Option<Job<(usize, crate::model::Domain)>>,
    truth: Option<Arc<TruthSource>>,
    truth_overlay: Option<(u64, Arc<GridPrediction>)>,
    truth_job: Option<Job<(Arc<TruthSource>, GridPrediction)>>,
    overlay_version: u64,
    slices: Vec<SliceView>,
    slices_job: Option<SteppedJob<Vec<RenderedSlice>>>,
    /// The running slices job has shown a step (so a newer request may replace it).
    slices_job_shown: bool,
    /// What the slices job is computing now, for the status bar.
    slices_status: Option<String>,
    /// The slices on screen need new colours (their values stand).
    slices_restyle: bool,
    /// Recolouring the slices on screen.
    restyle_job: Option<Job<Vec<RenderedSlice>>>,
    slice_sizes: [(u32, u32); 3],
    slices_stale: bool,
    at: DVec3,
    camera: Camera,
    mode: Mode3d,
    /// Cut-aways of the 3D view along x, y and z.
    cuts: [Cut; 3],
    /// The finest spacing (mm) the 3D volume is refined to.
    finest_spacing: f64,
    /// Where the views were drawn in the last frame (points): the 2× figure repeats it.
    views_area: Option<egui::Rect>,
    map: ColorMap,
    range: f32,
    threshold: f32,
    translucent: bool,
    opacity: f32,
    convention: Convention,
    anatomy_on: bool,
    error: Option<String>,
    status: String,
    screenshot_requested: bool,
    /// Where the `--screenshot` picture's outcome lands (read by [`run`] after the window closes).
    screenshot_outcome: export::ScreenshotSlot,
    export: export::ExportPanel,
    hover: Option<(DVec3, Option<f32>)>,
    /// When the previous frame began (frame statistics only).
    last_frame: Option<std::time::Instant>,
    /// The first frame's time (for [`ViewOptions::exit_after`]).
    first_frame: Option<std::time::Instant>,
    layout: Layout,
    help_open: bool,
}

/// The keyboard and mouse, as the help window lists them.
const SHORTCUTS: [(&str, &str); 12] = [
    ("drag (3D)", "orbit the 3D view"),
    ("right-drag or Shift+drag (3D)", "pan the 3D view"),
    ("scroll (3D)", "zoom"),
    ("click (slice)", "move the crosshair there"),
    (
        "click (3D)",
        "move the crosshair to the surface under the pointer",
    ),
    ("B", "A/B: switch between a fine-tuned model and its source"),
    ("M", "3D: shaded / maximum-intensity projection"),
    ("A", "anatomy on / off"),
    ("R", "reset the 3D camera"),
    ("L", "next layout (2×2, row, 3D, sagittal, coronal, axial)"),
    ("Esc", "dismiss an error"),
    ("F1 or ?", "this help"),
];

/// How the four views share the central area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Two by two: sagittal, coronal / axial, 3D.
    Grid,
    /// All four side by side.
    Row,
    /// One view filling the area: 0–2 the slices (sagittal, coronal, axial), 3 the 3D view.
    Single(usize),
}

impl Layout {
    /// Every layout, in the order `L` cycles through them, with its name.
    pub const ALL: [(Layout, &'static str); 6] = [
        (Layout::Grid, "2×2"),
        (Layout::Row, "row"),
        (Layout::Single(3), "3D"),
        (Layout::Single(0), "sagittal"),
        (Layout::Single(1), "coronal"),
        (Layout::Single(2), "axial"),
    ];

    fn next(self) -> Self {
        let at = Self::ALL.iter().position(|(l, _)| *l == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()].0
    }

    /// The strips of `full` between the views (the views cover the rest).
    pub fn gaps(self, full: egui::Rect) -> Vec<egui::Rect> {
        let views: Vec<egui::Rect> = self.rects(full).into_iter().flatten().collect();
        let mut gaps = Vec::new();
        // Between horizontally adjacent views, full height; between rows, full width.
        for a in &views {
            if let Some(b) = views
                .iter()
                .filter(|b| b.min.x > a.max.x)
                .min_by(|p, q| p.min.x.total_cmp(&q.min.x))
            {
                gaps.push(egui::Rect::from_x_y_ranges(
                    a.max.x..=b.min.x,
                    full.y_range(),
                ));
            }
            if let Some(b) = views
                .iter()
                .filter(|b| b.min.y > a.max.y)
                .min_by(|p, q| p.min.y.total_cmp(&q.min.y))
            {
                gaps.push(egui::Rect::from_x_y_ranges(
                    full.x_range(),
                    a.max.y..=b.min.y,
                ));
            }
        }
        gaps.dedup();
        gaps
    }

    /// Rectangles of the sagittal, coronal, axial and 3D views in `full` (`None`: not shown).
    pub fn rects(self, full: egui::Rect) -> [Option<egui::Rect>; 4] {
        const GAP: f32 = 4.0;
        match self {
            Layout::Grid => {
                let size = egui::vec2((full.width() - GAP) / 2.0, (full.height() - GAP) / 2.0);
                let cell = |col: f32, row: f32| {
                    Some(egui::Rect::from_min_size(
                        full.min + egui::vec2(col * (size.x + GAP), row * (size.y + GAP)),
                        size,
                    ))
                };
                [
                    cell(0.0, 0.0),
                    cell(1.0, 0.0),
                    cell(0.0, 1.0),
                    cell(1.0, 1.0),
                ]
            }
            Layout::Row => {
                let size = egui::vec2((full.width() - 3.0 * GAP) / 4.0, full.height());
                std::array::from_fn(|k| {
                    Some(egui::Rect::from_min_size(
                        full.min + egui::vec2(k as f32 * (size.x + GAP), 0.0),
                        size,
                    ))
                })
            }
            Layout::Single(view) => std::array::from_fn(|k| (k == view).then_some(full)),
        }
    }
}

impl NrfApp {
    fn new(
        options: ViewOptions,
        (adapter, adapter_details): (String, String),
        compute: ComputeDevice,
        ctx: &egui::Context,
        outcome: export::ScreenshotSlot,
    ) -> Self {
        let wake = ctx.clone();
        let templates_job = Some(Job::spawn(jobs::templates, move || wake.request_repaint()));
        let truth = options.truth;
        let mut app = Self {
            model: ModelSlot::Embedded(options.subject.clamp(1, 8)),
            ab_partner: None,
            tuned: Vec::new(),
            opened: Vec::new(),
            pending_clip: None,
            clip_folder: options.clip.clone(),
            finetune: finetune_panel::FineTunePanel::new(options.subject.clamp(1, 8)),
            options,
            adapter,
            adapter_details,
            compute,
            image: None,
            recent: Vec::new(),
            contrast: contrast::Contrast::default(),
            templates: None,
            templates_job,
            anatomy_version: 0,
            query: None,
            query_job: None,
            rate_per_job: None,
            refinement: None,
            refinement_status: None,
            overlay: None,
            overlay_spacing: None,
            overlay_device: None,
            range_pending: true,
            show_truth: truth,
            show_r_map: false,
            file_overlay: None,
            show_file: false,
            file_jobs: Vec::new(),
            domain_job: None,
            dialog_job: None,
            atlas: None,
            truth: None,
            truth_overlay: None,
            truth_job: None,
            overlay_version: 0,
            slices: Vec::new(),
            slices_job: None,
            slices_job_shown: false,
            slices_status: None,
            slices_restyle: false,
            restyle_job: None,
            slice_sizes: [(0, 0); 3],
            slices_stale: true,
            at: DVec3::new(0.0, -80.0, 5.0),
            camera: Camera::default(),
            mode: Mode3d::Shaded,
            cuts: [0.0, -20.0, 20.0].map(|at_mm| Cut {
                on: false,
                above: true,
                at_mm,
            }),
            finest_spacing: 1.0,
            views_area: None,
            map: ColorMap::RdBuR,
            range: 1.0,
            threshold: 0.2,
            translucent: false,
            opacity: 1.0,
            convention: Convention::Neurological,
            anatomy_on: true,
            error: None,
            status: String::new(),
            screenshot_requested: false,
            screenshot_outcome: outcome,
            export: export::ExportPanel::default(),
            hover: None,
            last_frame: None,
            first_frame: None,
            layout: Layout::Grid,
            help_open: false,
        };
        if let Some((source, images)) = app.options.finetune {
            app.finetune.source = ModelSlot::Embedded(source.clamp(1, 8));
            app.finetune.set_images(images);
            if let Some(epochs) = app.options.finetune_epochs {
                app.finetune.max_epochs = epochs;
            }
            app.start_finetune(ctx);
        }
        for path in [app.options.model.clone(), app.options.overlay.clone()]
            .into_iter()
            .flatten()
        {
            app.open_file(path, ctx);
        }
        match app.options.image.clone() {
            Some(path) => app.open_file(path, ctx),
            None => {
                let (category, rgb) = stimuli::stimulus(7, 0);
                app.show_image(format!("example: {}", category.name()), rgb, ctx);
            }
        }
        app
    }

    /// The name of a model slot, as the Subject list shows it.
    fn model_name(&self, slot: ModelSlot) -> String {
        match slot {
            ModelSlot::Embedded(k) => format!("virtual subj{k:02}"),
            ModelSlot::Tuned(i) => self
                .tuned
                .get(i)
                .map_or_else(|| "(missing)".into(), |t| t.name.clone()),
            ModelSlot::Opened(i) => self
                .opened
                .get(i)
                .map_or_else(|| "(missing)".into(), |m| m.name.clone()),
        }
    }

    /// The model shown, and `A − B` when a contrast is.
    fn shown_name(&self) -> String {
        let contrast =
            if self.query.as_ref().is_some_and(ImageQuery::is_contrast) || self.contrast.active() {
                ", A - B"
            } else {
                ""
            };
        format!("{}{contrast}", self.model_name(self.model))
    }

    /// What predicts for a slot (`None`: a slot that does not exist).
    fn model_source(&self, slot: ModelSlot) -> Option<ModelSource> {
        match slot {
            ModelSlot::Embedded(k) => Some(ModelSource::Embedded(k)),
            ModelSlot::Tuned(i) => self.tuned.get(i).map(|t| {
                ModelSource::Given(Box::new(open::ViewerModel::builtin(
                    t.name.clone(),
                    t.model.clone(),
                )))
            }),
            ModelSlot::Opened(i) => self
                .opened
                .get(i)
                .map(|m| ModelSource::Given(Box::new(m.clone()))),
        }
    }

    /// The virtual subject whose truth matches the model shown (`None` for model files).
    fn truth_subject(&self) -> Option<usize> {
        match self.model {
            ModelSlot::Embedded(k) => Some(k),
            ModelSlot::Tuned(i) => self.tuned.get(i).and_then(|t| t.target),
            ModelSlot::Opened(_) => None,
        }
    }

    /// Shows another model, keeping the image and the view.
    fn select_model(&mut self, slot: ModelSlot, ctx: &egui::Context) {
        if slot != self.model {
            // A and B of a fine-tune compare in one colour range; any other model has its own.
            if self.ab_partner != Some(slot) {
                self.range_pending = true;
            }
            self.model = slot;
            self.start_prediction(ctx);
        }
    }

    fn style(&self) -> OverlayStyle {
        let mut style = OverlayStyle::symmetric(self.map, self.range, self.threshold);
        style.opacity = self.opacity;
        if self.translucent {
            style.below = BelowThreshold::Translucent(0.35);
        }
        if !self.map.is_diverging() {
            style.negative = None;
        }
        style
    }

    /// Reads a picture, NIfTI volume, model or CLIP folder in the background; a bad file shows
    /// a message and changes nothing.
    fn open_file(&mut self, path: std::path::PathBuf, ctx: &egui::Context) {
        let wake = ctx.clone();
        let clip = self.clip_folder.clone();
        let device = self.compute.device.clone();
        self.status = format!("reading {}…", path.display());
        self.file_jobs.push(Job::spawn(
            move || open::open(path, clip.as_deref(), &device),
            move || wake.request_repaint(),
        ));
    }

    /// Opens `folder`'s CLIP model for the model waiting for one (seconds: the weights are
    /// read and checked against the model in the background). The model keeps waiting until a
    /// folder fits it.
    fn fit_pending_clip(&mut self, folder: PathBuf, ctx: &egui::Context) {
        let Some((name, model)) = self.pending_clip.clone() else {
            return;
        };
        let wake = ctx.clone();
        let device = self.compute.device.clone();
        self.status = format!("reading CLIP from {} for {name}…", folder.display());
        self.file_jobs.push(Job::spawn(
            move || {
                open::with_clip(name, *model, &folder, &device)
                    .map(|m| open::Opened::Model(Box::new(m)))
            },
            move || wake.request_repaint(),
        ));
    }

    /// Reads the domain `path` gives (coordinates or an NSD-processed root) for the model shown,
    /// when it came without one; the views then stay within it.
    fn set_domain(&mut self, path: PathBuf, ctx: &egui::Context) {
        let ModelSlot::Opened(index) = self.model else {
            self.error = Some(format!(
                "{}: a domain is for a model that came without one (an official run folder); the model shown has its own",
                path.display()
            ));
            return;
        };
        let Some(model) = self.opened.get(index).map(|m| m.model.clone()) else {
            return;
        };
        let wake = ctx.clone();
        self.status = format!("reading the domain from {}…", path.display());
        self.domain_job = Some(Job::spawn(
            move || open::read_domain_for(&model, &path).map(|domain| (index, domain)),
            move || wake.request_repaint(),
        ));
    }

    /// Runs a native open dialog on its own thread; the chosen path is opened like a dropped file.
    fn open_dialog(
        &mut self,
        ctx: &egui::Context,
        pick: impl FnOnce() -> Option<PathBuf> + Send + 'static,
    ) {
        let wake = ctx.clone();
        self.dialog_job = Some(Job::spawn(
            move || Ok(pick()),
            move || wake.request_repaint(),
        ));
    }

    /// Shows what a file turned out to be.
    fn file_opened(&mut self, opened: open::Opened, ctx: &egui::Context) {
        match opened {
            open::Opened::Image { name, rgb } => self.show_image(name, rgb, ctx),
            open::Opened::Model(model) => {
                if let Some(folder) = &model.clip_folder {
                    // A folder that worked serves the next CLIP models too.
                    self.clip_folder = Some(folder.clone());
                    if self
                        .pending_clip
                        .as_ref()
                        .is_some_and(|(n, _)| *n == model.name)
                    {
                        self.pending_clip = None;
                    }
                }
                self.status = match &model.clip_folder {
                    Some(folder) => {
                        format!("{}: CLIP features from {}", model.name, folder.display())
                    }
                    None => format!("{}: opened", model.name),
                };
                self.opened.push(*model);
                self.select_model(ModelSlot::Opened(self.opened.len() - 1), ctx);
            }
            open::Opened::NeedsClip { name, model } => {
                self.status = format!("{name} takes CLIP features: choose a CLIP folder");
                self.pending_clip = Some((name, model));
            }
            open::Opened::ClipFolder(folder) => {
                if self.pending_clip.is_some() {
                    self.fit_pending_clip(folder, ctx);
                } else {
                    self.status = format!(
                        "CLIP folder {}: used for models that take CLIP features",
                        folder.display()
                    );
                    self.clip_folder = Some(folder);
                }
            }
            open::Opened::DomainSource(path) => self.set_domain(path, ctx),
            open::Opened::Atlas(atlas) => {
                self.status = format!(
                    "atlas {}: {} regions named under the cursor",
                    atlas.name,
                    atlas.names.len()
                );
                self.atlas = Some(Arc::from(atlas));
            }
            open::Opened::Overlay { name, volume } => {
                self.overlay_version += 1;
                self.status = format!("{name}: shown instead of the prediction");
                self.file_overlay = Some((name, (self.overlay_version, Arc::from(volume))));
                self.show_file = true;
                if let Some((_, volume)) = self.shown_overlay() {
                    self.auto_range(&volume);
                }
                self.slices_stale = true;
            }
        }
    }

    fn show_image(&mut self, name: String, rgb: Rgb8, ctx: &egui::Context) {
        let rgba: Vec<u8> = rgb
            .pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let thumbnail = ctx.load_texture(
            "image",
            egui::ColorImage::from_rgba_unmultiplied(
                [rgb.width as usize, rgb.height as usize],
                &rgba,
            ),
            egui::TextureOptions::LINEAR,
        );
        if let Some(previous) = self.image.take() {
            self.recent.retain(|r| r.name != previous.name);
            self.recent.insert(0, previous);
            self.recent.truncate(RECENT_IMAGES);
        }
        self.recent.retain(|r| r.name != name);
        self.image = Some(ShownImage {
            name,
            rgb,
            thumbnail,
        });
        self.range_pending = true;
        self.start_prediction(ctx);
    }

    /// Starts (or restarts) the prediction for the current image and subject.
    fn start_prediction(&mut self, ctx: &egui::Context) {
        let Some(image) = &self.image else { return };
        let Some(model) = self.model_source(self.model) else {
            return;
        };
        let (images, baseline) = self.contrast.sides(&image.rgb);
        let request = PredictionRequest {
            model,
            images,
            baseline,
            device: self.compute.device.clone(),
        };
        let wake = ctx.clone();
        // The jobs of the prediction shown so far are dropped, which cancels them, and nothing
        // of it stays on screen: until the new one's first level arrives, the views show the
        // anatomy and say what is being computed.
        self.query_job = Some(Job::spawn_cancellable(
            move |cancel| jobs::prepare_query(request, cancel),
            move || wake.request_repaint(),
        ));
        self.refinement = None;
        self.refinement_status = None;
        self.query = None;
        self.rate_per_job = None;
        self.overlay = None;
        self.overlay_spacing = None;
        self.overlay_device = None;
        self.slices_job = None;
        self.slices_status = None;
        self.slices.clear();
        self.slices_stale = true;
        self.restyle_job = None;
        self.slices_restyle = false;
        self.status = format!("predicting with {}…", self.shown_name());
        self.truth = None;
        self.truth_overlay = None;
        self.truth_job = None;
        if self.truth_subject().is_none() {
            // A model file describes no virtual subject: there is no truth to show.
            self.show_truth = false;
        }
        if self.show_truth {
            self.start_truth(ctx);
        }
    }

    /// Computes the virtual subject's truth for the current image (2 mm volume; slices follow).
    fn start_truth(&mut self, ctx: &egui::Context) {
        let (Some(image), Some(subject)) = (&self.image, self.truth_subject()) else {
            return;
        };
        let rgb = image.rgb.clone();
        let wake = ctx.clone();
        self.truth_job = Some(Job::spawn(
            move || {
                let source = Arc::new(jobs::truth_source(subject, rgb)?);
                let volume = jobs::truth_volume(&source, 2.0)?;
                Ok((source, volume))
            },
            move || wake.request_repaint(),
        ));
        self.status = format!("computing the truth of subj{subject:02}…");
    }

    /// Sets the colour range from a volume's values (99th percentile of |value|).
    fn auto_range(&mut self, prediction: &GridPrediction) {
        if let Some(max) = quantile_abs(prediction.inside_values(), 0.99) {
            self.range = max.max(1e-3);
            self.threshold = self.range / 5.0;
            self.restyle_slices();
        }
    }

    /// The colours changed, not the values: slices already complete are recoloured from the
    /// values they show (no query, so a slow model keeps its slices at every pixel); slices
    /// still being computed start again with the new colours.
    fn restyle_slices(&mut self) {
        if self.slices_job.is_some() {
            self.slices_stale = true;
        } else {
            self.slices_restyle = true;
        }
    }

    /// Recolours the slices on screen from their values in the background.
    fn start_restyle(&mut self, ctx: &egui::Context) {
        let Some(templates) = &self.templates else {
            return;
        };
        let slices: Vec<RenderedSlice> = self.slices.iter().map(|v| v.slice.clone()).collect();
        let (t1, window) = (Arc::clone(&templates.t1), templates.window);
        let (style, at) = (self.style(), self.at);
        let wake = ctx.clone();
        self.restyle_job = Some(Job::spawn(
            move || jobs::recolour_slices(slices, &t1, window, &style, at),
            move || wake.request_repaint(),
        ));
        self.slices_restyle = false;
    }

    /// Shows rendered slices (their textures replace the ones on screen).
    fn show_slices(&mut self, rendered: Vec<RenderedSlice>, ctx: &egui::Context) {
        self.slices = rendered
            .into_iter()
            .map(|slice| {
                let image = egui::ColorImage::from_rgba_unmultiplied(
                    [slice.image.width() as usize, slice.image.height() as usize],
                    slice.image.as_raw(),
                );
                SliceView {
                    texture: ctx.load_texture(
                        format!("{:?}", slice.orientation),
                        image,
                        egui::TextureOptions::NEAREST,
                    ),
                    slice,
                }
            })
            .collect();
    }

    fn start_slices(&mut self, ctx: &egui::Context) {
        if self.slice_sizes.iter().any(|&(w, h)| w < 16 || h < 16) {
            return;
        }
        let Some(request) = self.slice_request(self.slice_sizes) else {
            return;
        };
        let wake = ctx.clone();
        let rate = self.rate_per_job;
        self.slices_job = Some(SteppedJob::spawn(
            move |cancel, send| jobs::slice_steps(&request, rate, cancel, send),
            move || wake.request_repaint(),
        ));
        self.slices_job_shown = false;
        self.slices_status = None;
        self.slices_stale = false;
        // The new slices come in the current colours.
        self.restyle_job = None;
        self.slices_restyle = false;
    }

    /// What the slices shown now need to be drawn at `sizes` (`None` before the template is
    /// ready).
    fn slice_request(&self, sizes: [(u32, u32); 3]) -> Option<SliceRequest> {
        let templates = self.templates.as_ref()?;
        Some(SliceRequest {
            query: self.query.clone(),
            truth: if self.show_truth {
                self.truth.clone()
            } else {
                None
            },
            volume: self.volume_shown().map(|(_, map)| map),
            t1: Arc::clone(&templates.t1),
            window: templates.window,
            at: self.at,
            sizes,
            style: self.style(),
            convention: self.convention,
        })
    }

    /// Takes whatever the background jobs have finished.
    fn poll_jobs(&mut self, ctx: &egui::Context) {
        if let Some(answer) = self.dialog_job.as_ref().and_then(Job::poll) {
            self.dialog_job = None;
            match answer {
                Ok(Some(path)) => self.open_file(path, ctx),
                Ok(None) => {}
                Err(e) => self.error = Some(e),
            }
        }
        let mut pending = Vec::new();
        for job in std::mem::take(&mut self.file_jobs) {
            match job.poll() {
                None => pending.push(job),
                Some(Ok(opened)) => self.file_opened(opened, ctx),
                Some(Err(e)) => {
                    self.error = Some(e);
                    self.status.clear();
                }
            }
        }
        self.file_jobs.extend(pending);
        if let Some(answer) = self.domain_job.as_ref().and_then(Job::poll) {
            self.domain_job = None;
            match answer {
                Ok((index, domain)) => {
                    if let Some(opened) = self.opened.get_mut(index) {
                        opened.model.domain = domain;
                        self.status = format!("{}: domain set", opened.name);
                        if self.model == ModelSlot::Opened(index) {
                            self.range_pending = true;
                            self.start_prediction(ctx);
                        }
                    }
                }
                Err(e) => {
                    self.error = Some(e);
                    self.status.clear();
                }
            }
        }
        self.poll_finetune(ctx);
        self.poll_exports();
        if let Some(answer) = self.templates_job.as_ref().and_then(Job::poll) {
            self.templates_job = None;
            match answer {
                Ok(templates) => {
                    self.templates = Some(templates);
                    self.anatomy_version += 1;
                    self.slices_stale = true;
                }
                Err(e) => self.error = Some(format!("template: {e}")),
            }
        }
        if let Some(answer) = self.query_job.as_ref().and_then(Job::poll) {
            self.query_job = None;
            match answer {
                Ok(PreparedPrediction {
                    query,
                    points_per_second,
                }) => {
                    // The 3D levels and the slices share the device.
                    self.rate_per_job = Some(points_per_second / jobs::CONCURRENT_QUERY_JOBS);
                    self.start_refinement(query.clone(), ctx);
                    self.query = Some(query);
                    self.overlay_spacing = None;
                    self.slices_stale = true;
                    // Slices of the anatomy alone may still be drawing: they give way at once.
                    self.slices_job = None;
                }
                Err(e) => {
                    self.error = Some(e);
                    self.status.clear();
                }
            }
        }
        while let Some(message) = self.refinement.as_ref().and_then(RefinementJob::poll) {
            match message {
                RefineMessage::Plan(plan) => {
                    self.refinement_status = plan.first().map(|level| {
                        let later: Vec<String> = plan[1..]
                            .iter()
                            .map(|l| format!("{}", l.spacing_mm))
                            .collect();
                        format!(
                            "3D {} mm: {} points, ~{}{}",
                            level.spacing_mm,
                            level.points,
                            seconds_text(level.seconds),
                            if later.is_empty() {
                                String::new()
                            } else {
                                format!(" (then {} mm)", later.join(", "))
                            }
                        )
                    });
                }
                RefineMessage::Progress {
                    spacing_mm,
                    done,
                    total,
                    eta_seconds,
                } => {
                    self.refinement_status = Some(format!(
                        "3D {spacing_mm} mm: {done}/{total} points, ~{} left",
                        seconds_text(eta_seconds)
                    ));
                }
                RefineMessage::Level(level) => {
                    let finest = level.spacing_mm == self.finest_spacing;
                    if self.range_pending && !self.show_truth && (self.overlay.is_none() || finest)
                    {
                        // A new image's first level sets the colour range and its finest sets it
                        // again (so the range does not depend on which levels the plan chose);
                        // the other side of an A/B switch keeps it, so that A and B compare.
                        self.auto_range(&level.prediction);
                        self.range_pending = !finest;
                    }
                    self.overlay_version += 1;
                    self.overlay = Some((self.overlay_version, Arc::new(level.prediction)));
                    self.overlay_spacing = Some(level.spacing_mm);
                    self.overlay_device = Some(level.computed_on);
                    if level.spacing_mm == self.finest_spacing {
                        self.refinement_status = None;
                    }
                    self.status = format!(
                        "{}: {} mm volume in {:.2} s",
                        self.shown_name(),
                        level.spacing_mm,
                        level.seconds
                    );
                }
                RefineMessage::Failed(e) => self.error = Some(e),
            }
            ctx.request_repaint();
        }
        if let Some(answer) = self.truth_job.as_ref().and_then(Job::poll) {
            self.truth_job = None;
            match answer {
                Ok((source, volume)) => {
                    self.auto_range(&volume);
                    self.overlay_version += 1;
                    self.truth_overlay = Some((self.overlay_version, Arc::new(volume)));
                    self.status = format!("subj{:02}: ground truth, 2 mm", source.subject.number);
                    self.truth = Some(source);
                    self.slices_stale = true;
                }
                Err(e) => self.error = Some(e),
            }
        }
        while let Some(polled) = self.slices_job.as_ref().map(SteppedJob::poll) {
            match polled {
                Polled::Waiting => break,
                Polled::Finished => {
                    self.slices_job = None;
                    self.slices_status = None;
                }
                Polled::Step(Step::Progress(what)) => self.slices_status = Some(what),
                Polled::Step(Step::Failed(e)) => {
                    self.slices_job = None;
                    self.slices_status = None;
                    self.error = Some(e);
                }
                Polled::Step(Step::Level(rendered)) => {
                    self.slices_job_shown = true;
                    let coarse = rendered.iter().map(|s| s.factor).max().unwrap_or(1);
                    self.slices_status = (coarse > 1)
                        .then(|| format!("slices at {coarse}×{coarse} pixels a point, refining"));
                    self.show_slices(rendered, ctx);
                }
            }
        }
        if let Some(answer) = self.restyle_job.as_ref().and_then(Job::poll) {
            self.restyle_job = None;
            match answer {
                // Slices started since (a new plane or prediction) win over a recolouring.
                Ok(rendered) if self.slices_job.is_none() && !self.slices_stale => {
                    self.show_slices(rendered, ctx);
                }
                Ok(_) => {}
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// The side panel: collapsible sections Image, Subject, Display, Fine-tune.
    fn side_panel(&mut self, ui: &mut egui::Ui) {
        // While a fine-tune runs from the command line, Display folds away to leave its curves room.
        let display_open = self.options.finetune.is_none();
        for (title, open) in [
            ("Image", true),
            ("Subject", true),
            ("Display", display_open),
            ("Fine-tune", true),
            ("Export", false),
        ] {
            egui::CollapsingHeader::new(egui::RichText::new(title).heading())
                .default_open(open)
                .show(ui, |ui| match title {
                    "Image" => self.image_section(ui),
                    "Subject" => self.subject_section(ui),
                    "Display" => self.display_section(ui),
                    "Fine-tune" => self.finetune_section(ui),
                    _ => self.export_section(ui),
                });
        }
    }

    fn image_section(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if let Some(image) = &self.image {
            ui.horizontal(|ui| {
                ui.add(egui::Image::new(&image.thumbnail).max_size(egui::vec2(96.0, 96.0)));
                ui.label(&image.name);
            });
        }
        if !self.recent.is_empty() {
            let mut chosen = None;
            ui.horizontal_wrapped(|ui| {
                for (k, recent) in self.recent.iter().enumerate() {
                    let button = egui::Button::image(
                        egui::Image::new(&recent.thumbnail).max_size(egui::vec2(36.0, 36.0)),
                    );
                    if ui.add(button).on_hover_text(&recent.name).clicked() {
                        chosen = Some(k);
                    }
                }
            });
            if let Some(k) = chosen {
                let again = self.recent.remove(k);
                self.show_image(again.name, again.rgb, &ctx);
            }
        }
        if ui
            .add_enabled(self.dialog_job.is_none(), egui::Button::new("Open…"))
            .on_hover_text("An image, a NIfTI map or atlas, or a .nrf model")
            .clicked()
        {
            self.open_dialog(&ctx, || {
                rfd::FileDialog::new()
                    .set_title("Open an image, a NIfTI volume or a model")
                    .add_filter(
                        "images, NIfTI, models",
                        &[
                            "png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif", "nii", "gz",
                            "nrf",
                        ],
                    )
                    .add_filter("all files", &["*"])
                    .pick_file()
            });
        }
        self.contrast_rows(ui);
        ui.label(
            "Drop an image (or a NIfTI map to overlay, or a label map with a names file) on \
             the window, paste one (Ctrl+V), or pick an example:",
        );
        ui.horizontal_wrapped(|ui| {
            for (k, category) in Category::ALL.iter().enumerate() {
                if ui.button(category.name()).clicked() {
                    let rgb = stimuli::generate(7, k as u64, *category);
                    self.show_image(format!("example: {}", category.name()), rgb, &ctx);
                }
            }
        });
    }

    fn subject_section(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let mut chosen = self.model;
        let combo = egui::ComboBox::from_id_salt("subject")
            .selected_text(self.model_name(self.model))
            .width(230.0)
            .show_ui(ui, |ui| {
                for slot in self.model_slots() {
                    ui.selectable_value(&mut chosen, slot, self.model_name(slot));
                }
            });
        name_widget(&combo.response, "model shown");
        ui.horizontal_wrapped(|ui| {
            let idle = self.dialog_job.is_none();
            if ui
                .add_enabled(idle, egui::Button::new("Open model…"))
                .on_hover_text("A .nrf model file")
                .clicked()
            {
                self.open_dialog(&ctx, || {
                    rfd::FileDialog::new()
                        .set_title("Open a model")
                        .add_filter("nrf models", &["nrf"])
                        .pick_file()
                });
            }
            if ui
                .add_enabled(idle, egui::Button::new("Open run folder…"))
                .on_hover_text(
                    "An official NRF run folder (experiment_config.yaml, B.npy, best_model/); \
                     its models take CLIP features",
                )
                .clicked()
            {
                self.open_dialog(&ctx, || {
                    rfd::FileDialog::new()
                        .set_title("Open an official NRF run folder")
                        .pick_folder()
                });
            }
        });
        self.domain_rows(ui);
        if let Some((name, _)) = &self.pending_clip {
            ui.label(format!(
                "{name} takes CLIP features: choose the local CLIP folder it was trained with \
                 (a Hugging Face folder with config.json, model.safetensors and \
                 preprocessor_config.json)."
            ));
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(
                        self.dialog_job.is_none(),
                        egui::Button::new("Choose CLIP folder…"),
                    )
                    .clicked()
                {
                    self.open_dialog(&ctx, || {
                        rfd::FileDialog::new()
                            .set_title("Choose a CLIP folder")
                            .pick_folder()
                    });
                }
                if ui.button("Cancel").clicked() {
                    self.pending_clip = None;
                    self.status.clear();
                }
            });
        }
        if let Some(partner) = self.ab_partner
            && ui
                .button(format!("A/B: switch to {}", self.model_name(partner)))
                .on_hover_text("Switch between the fine-tuned model and its source (key B)")
                .clicked()
        {
            chosen = partner;
        }
        if chosen != self.model {
            if Some(chosen) == self.ab_partner {
                self.ab_partner = Some(self.model);
            }
            self.select_model(chosen, &ctx);
        }
        let truth_before = self.show_truth;
        if self.truth_subject().is_some() {
            ui.checkbox(&mut self.show_truth, "show the ground truth instead")
                .on_hover_text(
                    "Virtual subjects are simulated: their noise-free response to the image is known",
                );
        }
        let r_map_before = (self.show_r_map, self.show_file);
        if let Some((name, _)) = &self.file_overlay {
            ui.checkbox(&mut self.show_file, format!("show {name} instead"))
                .on_hover_text("The NIfTI volume you dropped, over the template");
        }
        if matches!(self.model, ModelSlot::Tuned(_)) {
            ui.checkbox(&mut self.show_r_map, "show its validation r map")
                .on_hover_text(
                    "Pearson r of the fine-tuned model on the target's validation images, per voxel",
                );
        }
        if self.show_truth != truth_before || (self.show_r_map, self.show_file) != r_map_before {
            self.slices_stale = true;
            if self.show_truth && self.truth.is_none() && self.truth_job.is_none() {
                self.start_truth(&ctx);
            }
            if let Some((_, volume)) = self.shown_overlay() {
                self.auto_range(&volume);
            }
        }
    }

    /// For an opened model without a domain (an official run folder): says so, and offers to
    /// read one.
    fn domain_rows(&mut self, ui: &mut egui::Ui) {
        let ModelSlot::Opened(index) = self.model else {
            return;
        };
        if !self
            .opened
            .get(index)
            .is_some_and(|m| matches!(m.model.domain, crate::model::Domain::Unknown))
        {
            return;
        }
        ui.label(
            "No domain: the views use the brain mask. Give the model's training voxels (an \
             (N, 3) .npy of MNI coordinates, or an NSD-processed root) to stay within them; \
             that also shrinks the work.",
        );
        let ctx = ui.ctx().clone();
        let idle = self.dialog_job.is_none() && self.domain_job.is_none();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(idle, egui::Button::new("Domain coordinates…"))
                .clicked()
            {
                self.open_dialog(&ctx, || {
                    rfd::FileDialog::new()
                        .set_title("MNI coordinates of the model's voxels")
                        .add_filter("numpy (N, 3)", &["npy"])
                        .pick_file()
                });
            }
            if ui
                .add_enabled(idle, egui::Button::new("NSD-processed root…"))
                .clicked()
            {
                self.open_dialog(&ctx, || {
                    rfd::FileDialog::new()
                        .set_title("The NSD-processed root (with MNI_coordinate/)")
                        .pick_folder()
                });
            }
        });
    }

    /// A volume shown in place of the prediction: a dropped NIfTI file, or the fine-tuned
    /// model's r map.
    fn volume_shown(&self) -> Option<(u64, Arc<GridPrediction>)> {
        if self.show_file
            && let Some((_, overlay)) = &self.file_overlay
        {
            return Some(overlay.clone());
        }
        match self.model {
            ModelSlot::Tuned(i) if self.show_r_map => self
                .tuned
                .get(i)
                // Versions above any prediction's: one per fine-tuned model.
                .map(|t| (u64::MAX - i as u64, Arc::clone(&t.r_map))),
            _ => None,
        }
    }

    /// The overlay volume the 3D view shows: r map, truth or prediction.
    fn shown_overlay(&self) -> Option<(u64, Arc<GridPrediction>)> {
        if let Some(map) = self.volume_shown() {
            Some(map)
        } else if self.show_truth {
            self.truth_overlay.clone()
        } else {
            self.overlay.clone()
        }
    }

    fn display_section(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("layout");
            for (layout, name) in Layout::ALL {
                ui.selectable_value(&mut self.layout, layout, name);
            }
        });
        let style_before = self.style();
        let combo = egui::ComboBox::from_id_salt("cmap")
            .selected_text(self.map.name())
            .show_ui(ui, |ui| {
                for map in ColorMap::ALL {
                    ui.selectable_value(&mut self.map, map, map.name());
                }
            });
        name_widget(&combo.response, "colour map");
        let range = ui.add(egui::Slider::new(&mut self.range, 0.01..=5.0).text("range ±"));
        let threshold =
            ui.add(egui::Slider::new(&mut self.threshold, 0.0..=self.range).text("threshold"));
        if range.changed() || threshold.changed() {
            // The user's choice: the levels still to come no longer set it.
            self.range_pending = false;
        }
        ui.checkbox(&mut self.translucent, "show below threshold, translucent");
        ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("opacity"))
            .on_hover_text("Opacity of the overlay over the anatomy");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.mode, Mode3d::Shaded, "shaded");
            ui.selectable_value(&mut self.mode, Mode3d::Mip, "MIP");
            ui.checkbox(&mut self.anatomy_on, "anatomy");
        });
        let convention_before = self.convention;
        ui.horizontal(|ui| {
            ui.selectable_value(
                &mut self.convention,
                Convention::Neurological,
                "neurological",
            );
            ui.selectable_value(
                &mut self.convention,
                Convention::Radiological,
                "radiological",
            );
        });
        let at_before = self.at;
        ui.horizontal(|ui| {
            ui.label("crosshair");
            for (axis, name) in ["x ", "y ", "z "].into_iter().enumerate() {
                let value = ui
                    .add(
                        egui::DragValue::new(&mut self.at[axis])
                            .prefix(name)
                            .speed(0.5)
                            .range(-100.0..=100.0)
                            .max_decimals(1),
                    )
                    .on_hover_text("MNI mm of the slices' crosshair (or click a slice)");
                name_widget(&value, &format!("crosshair {name}(mm)"));
            }
        });
        if self.convention != convention_before || self.at != at_before {
            self.slices_stale = true;
        } else if self.style() != style_before {
            self.restyle_slices();
        }
        self.detail_row(ui);
        self.cuts_grid(ui);
    }

    /// The finest spacing of the 3D volume: coarser is quicker for large or slow views.
    fn detail_row(&mut self, ui: &mut egui::Ui) {
        let before = self.finest_spacing;
        ui.horizontal(|ui| {
            ui.label("3D detail");
            for spacing in [1.0, 2.0, 4.0] {
                ui.selectable_value(&mut self.finest_spacing, spacing, format!("{spacing} mm"))
                    .on_hover_text(
                        "The 3D volume is refined 8 mm, 4 mm, ... down to this spacing; slices \
                         are always queried at their pixel size",
                    );
            }
        });
        if self.finest_spacing != before
            && let Some(query) = self.query.clone()
        {
            self.start_refinement(query, ui.ctx());
        }
    }

    /// Cut-aways of the 3D view, one per axis.
    fn cuts_grid(&mut self, ui: &mut egui::Ui) {
        ui.label("3D cut-away")
            .on_hover_text("Each cut removes one side of a plane across the 3D view");
        egui::Grid::new("cuts").num_columns(3).show(ui, |ui| {
            for (axis, name) in ["x (L-R)", "y (P-A)", "z (I-S)"].into_iter().enumerate() {
                let cut = &mut self.cuts[axis];
                ui.checkbox(&mut cut.on, name);
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut cut.above, true, ">")
                        .on_hover_text("remove the side above");
                    ui.selectable_value(&mut cut.above, false, "<")
                        .on_hover_text("remove the side below");
                });
                let value = ui.add(
                    egui::DragValue::new(&mut cut.at_mm)
                        .speed(0.5)
                        .range(-100.0..=100.0)
                        .suffix(" mm"),
                );
                name_widget(&value, &format!("{name} cut position"));
                ui.end_row();
            }
        });
        if ui
            .button("cuts at the crosshair")
            .on_hover_text("Move the three cut planes to the crosshair")
            .clicked()
        {
            for axis in 0..3 {
                self.cuts[axis].at_mm = self.at[axis] as f32;
            }
        }
    }

    /// How the 3D view is drawn: camera, mode, anatomy, cut-aways.
    fn frame_options(&self) -> FrameOptions {
        FrameOptions {
            camera: self.camera,
            mode: self.mode,
            anatomy: self.anatomy_on,
            clip_planes: self.clip_planes(),
            jitter_seed: 0.0,
            ..FrameOptions::default()
        }
    }

    /// The 3D view's clip planes: the cuts switched on.
    fn clip_planes(&self) -> Vec<ClipPlane> {
        (0..3)
            .filter(|&axis| self.cuts[axis].on)
            .map(|axis| self.cuts[axis].plane(axis))
            .collect()
    }

    /// Fills the 3D volume of `query` coarse to fine, down to the chosen detail, in the
    /// background, with levels planned from the query's measured cost; each level wakes the UI.
    fn start_refinement(&mut self, query: ImageQuery, ctx: &egui::Context) {
        let wake = ctx.clone();
        let Some(points_per_second) = self.rate_per_job else {
            return;
        };
        self.refinement = Some(RefinementJob::start(
            query,
            Levels::Planned {
                points_per_second,
                finest_mm: self.finest_spacing,
                first_budget_s: FIRST_LEVEL_SECONDS,
            },
            Region::Domain,
            move || wake.request_repaint(),
        ));
    }

    /// Whether the viewer can fine-tune from this model (built-in features only).
    fn trainable(&self, slot: ModelSlot) -> bool {
        match slot {
            ModelSlot::Embedded(_) | ModelSlot::Tuned(_) => true,
            ModelSlot::Opened(i) => self
                .opened
                .get(i)
                .is_some_and(open::ViewerModel::is_builtin),
        }
    }

    /// Every model the Subject list offers: the embedded subjects, this session's fine-tunes,
    /// then the models opened.
    fn model_slots(&self) -> Vec<ModelSlot> {
        (1..=crate::embedded::SUBJECTS)
            .map(ModelSlot::Embedded)
            .chain((0..self.tuned.len()).map(ModelSlot::Tuned))
            .chain((0..self.opened.len()).map(ModelSlot::Opened))
            .collect()
    }

    fn status_bar(&mut self, ui: &mut egui::Ui, hover: Option<(DVec3, Option<f32>)>) {
        // The adapter first, from the right, so that a long status line is cut short, not overlapped.
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .small_button("?")
                .on_hover_text("Keyboard and mouse (F1)")
                .clicked()
            {
                self.help_open = !self.help_open;
            }
            ui.label(format!("GPU: {}", self.adapter))
                .on_hover_text(format!("The views are drawn on {}", self.adapter_details));
            ui.separator();
            ui.label(self.compute.place())
                .on_hover_text(self.compute.report());
            ui.separator();
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                self.status_left(ui, hover);
            });
        });
    }

    /// MNI position and value under the pointer, then the status line.
    fn status_left(&self, ui: &mut egui::Ui, hover: Option<(DVec3, Option<f32>)>) {
        match hover {
            Some((p, value)) => {
                ui.monospace(format!("MNI ({:6.1}, {:6.1}, {:6.1}) mm", p.x, p.y, p.z));
                ui.monospace(match value {
                    Some(v) => format!("value {v:+.4}"),
                    None => "outside the model's domain".into(),
                });
                // The ROIs the model's training voxels carry there (e.g. from NSD's ROI files).
                if let Some(query) = &self.query
                    && let crate::model::Domain::Voxels(domain) = query.domain()
                    && !domain.rois().is_empty()
                {
                    let names = domain.roi_names_at(p.as_vec3());
                    ui.separator();
                    ui.label(if names.is_empty() {
                        "no ROI".to_string()
                    } else {
                        names.join(", ")
                    })
                    .on_hover_text("ROIs of the model's training voxels here");
                }
                if let Some(atlas) = &self.atlas {
                    ui.separator();
                    ui.label(atlas.region_at(p).unwrap_or("–"))
                        .on_hover_text(format!("region in {}", atlas.name));
                }
            }
            None => {
                ui.monospace("MNI –");
            }
        }
        ui.separator();
        ui.add(egui::Label::new(self.status_line()).truncate());
    }

    /// The status, then what the background work computes now and how long it has left.
    fn status_line(&self) -> String {
        let no_domain = self
            .query
            .as_ref()
            .is_some_and(|q| matches!(q.domain(), crate::model::Domain::Unknown))
            .then(|| "no domain: the brain mask (give one in Subject)".to_string());
        [
            Some(&self.status).filter(|s| !s.is_empty()),
            no_domain.as_ref(),
            self.refinement_status.as_ref(),
            self.slices_status.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" · ")
    }

    /// While a new prediction has nothing on screen yet: what is being computed (the views show
    /// the anatomy alone until then, never the previous model's or image's prediction).
    fn pending_prediction(&self) -> Option<String> {
        let waiting = (self.query_job.is_some() || self.refinement.is_some())
            && self.overlay.is_none()
            && !self.show_truth
            && self.volume_shown().is_none();
        let image = self.image.as_ref()?;
        waiting.then(|| format!("computing {} for {}…", self.shown_name(), image.name))
    }

    /// Writes `text` across the bottom of a view.
    fn caption(ui: &egui::Ui, rect: egui::Rect, text: &str) {
        ui.painter().text(
            rect.center_bottom() - egui::vec2(0.0, 12.0),
            egui::Align2::CENTER_BOTTOM,
            text,
            egui::FontId::proportional(14.0),
            egui::Color32::LIGHT_GRAY,
        );
    }

    /// The 3D view: drag to orbit, scroll to zoom.
    fn view_3d(&mut self, ui: &mut egui::Ui, rect: egui::Rect) {
        let response = ui.interact(
            rect,
            ui.scope_id().with("3d"),
            egui::Sense::click_and_drag(),
        );
        if response.clicked()
            && let (Some(pointer), Some(templates)) =
                (response.interact_pointer_pos(), &self.templates)
        {
            // A click moves the crosshair to the first anatomy surface under the pointer.
            let local = pointer - rect.min;
            let ndc = glam::Vec2::new(
                local.x / rect.width() * 2.0 - 1.0,
                1.0 - local.y / rect.height() * 2.0,
            );
            let aspect = rect.width() / rect.height().max(1.0);
            if let Some(hit) = self.camera.pick_surface(aspect, ndc, &templates.brain) {
                self.at = hit.as_dvec3();
                self.slices_stale = true;
            }
        }
        let panning = response.dragged_by(egui::PointerButton::Secondary)
            || response.dragged_by(egui::PointerButton::Middle)
            || (response.dragged_by(egui::PointerButton::Primary)
                && ui.input(|i| i.modifiers.shift));
        if panning {
            let delta = response.drag_delta();
            self.camera
                .pan(delta.x, delta.y, (rect.width(), rect.height()));
        } else if response.dragged() {
            let delta = response.drag_delta();
            self.camera.azimuth_deg -= delta.x * 0.4;
            self.camera.elevation_deg =
                (self.camera.elevation_deg + delta.y * 0.4).clamp(-89.0, 89.0);
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                self.camera.distance_mm =
                    (self.camera.distance_mm * (1.0 - scroll * 0.002)).clamp(150.0, 1200.0);
            }
        }
        let ppp = ui.ctx().pixels_per_point();
        let frame = view3d::View3dFrame {
            options: self.frame_options(),
            style: self.style(),
            anatomy: self
                .templates
                .as_ref()
                .map(|t| (self.anatomy_version, Arc::clone(&t.brain))),
            overlay: self.shown_overlay(),
            size_px: (
                (rect.width() * ppp).round() as u32,
                (rect.height() * ppp).round() as u32,
            ),
            interactive: response.dragged(),
        };
        ui.painter()
            .add(eframe::egui_wgpu::Callback::new_paint_callback(rect, frame));
        if let Some(pending) = self.pending_prediction() {
            Self::caption(ui, rect, &pending);
        }
        if self.templates.is_none() {
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "preparing the template…",
                egui::FontId::proportional(16.0),
                egui::Color32::GRAY,
            );
        }
    }

    /// One slice view; a click moves the crosshair. Returns the hovered point and value.
    fn slice_view(
        &mut self,
        ui: &mut egui::Ui,
        rect: egui::Rect,
        index: usize,
    ) -> Option<(DVec3, Option<f32>)> {
        let ppp = ui.ctx().pixels_per_point();
        let size = (
            (rect.width() * ppp).round().max(1.0) as u32,
            (rect.height() * ppp).round().max(1.0) as u32,
        );
        if self.slice_sizes[index] != size {
            self.slice_sizes[index] = size;
            self.slices_stale = true;
        }
        let response = ui.interact(
            rect,
            ui.scope_id().with(("slice", index)),
            egui::Sense::click(),
        );
        let view = self.slices.get(index)?;
        ui.painter().image(
            view.texture.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            egui::Color32::WHITE,
        );
        if let Some(pending) = self.pending_prediction() {
            Self::caption(ui, rect, &pending);
        }
        let pointer = response.hover_pos()?;
        let (w, h) = view.slice.layout.size();
        let x =
            ((pointer.x - rect.min.x) / rect.width() * w as f32).clamp(0.0, w as f32 - 1.0) as u32;
        let y =
            ((pointer.y - rect.min.y) / rect.height() * h as f32).clamp(0.0, h as f32 - 1.0) as u32;
        let p = view.slice.layout.mni_at(x, y);
        let k = view.slice.layout.plane_index(x, y);
        let value = view
            .slice
            .inside
            .get(k)
            .copied()
            .unwrap_or(false)
            .then(|| view.slice.values[k]);
        if response.clicked() {
            // Keep the clicked slice's own position along its normal.
            let (_, _, normal) = view.slice.orientation.axes();
            self.at = p - normal * normal.dot(p) + normal * normal.dot(self.at);
            self.slices_stale = true;
        }
        Some((p, value))
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
            let training = self.finetune.running() && self.finetune.progress().position.is_some();
            let phase = if training {
                &mut stats.training
            } else if self.idle() {
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

    /// Keyboard shortcuts (see [`SHORTCUTS`]); ignored while a text field has the focus.
    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.memory(|m| m.focused().is_some()) {
            return;
        }
        let pressed = |key| ctx.input(|i| i.key_pressed(key));
        if let Some(partner) = self.ab_partner
            && pressed(egui::Key::B)
        {
            self.ab_partner = Some(self.model);
            self.select_model(partner, ctx);
        }
        if pressed(egui::Key::M) {
            self.mode = match self.mode {
                Mode3d::Shaded => Mode3d::Mip,
                Mode3d::Mip => Mode3d::Shaded,
            };
        }
        if pressed(egui::Key::A) {
            self.anatomy_on = !self.anatomy_on;
        }
        if pressed(egui::Key::R) {
            self.camera = Camera::default();
        }
        if pressed(egui::Key::L) {
            self.layout = self.layout.next();
        }
        if pressed(egui::Key::F1)
            || ctx.input(|i| i.events.contains(&egui::Event::Text("?".into())))
        {
            self.help_open = !self.help_open;
        }
        if pressed(egui::Key::Escape) {
            self.error = None;
        }
    }

    /// Nothing runs in the background and the views are complete.
    fn idle(&self) -> bool {
        self.templates.is_some()
            && self.query_job.is_none()
            && self.overlay_spacing == Some(self.finest_spacing)
            && self.slices_job.is_none()
            && !self.slices_stale
            && self.restyle_job.is_none()
            && !self.slices_restyle
            && self.truth_job.is_none()
            && self.file_jobs.is_empty()
            && !self.finetune.running()
    }

    fn maybe_screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.options.screenshot.clone() else {
            return;
        };
        let ready = self.idle()
            && self.slices.len() == 3
            && (!self.show_truth || self.truth_overlay.is_some())
            && (self.options.finetune.is_none() || matches!(self.model, ModelSlot::Tuned(_)));
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
        export::request_screenshot(
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
        self.poll_jobs(&ctx);
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        for file in dropped {
            self.open_file(file.path().to_path_buf(), &ctx);
        }
        let pasted = ctx.input(|i| {
            i.events.iter().find_map(|event| match event {
                egui::Event::PasteImage(image) => Some(Arc::clone(image)),
                _ => None,
            })
        });
        if let Some(image) = pasted {
            let rgb = Rgb8 {
                width: image.size[0] as u32,
                height: image.size[1] as u32,
                pixels: image
                    .pixels
                    .iter()
                    .flat_map(|c| [c.r(), c.g(), c.b()])
                    .collect(),
            };
            self.show_image("pasted image".into(), rgb, &ctx);
        }
        self.shortcuts(&ctx);
        egui::Panel::left("controls")
            .resizable(false)
            .exact_size(260.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        let mut hover = None;
        // The hover comes from the previous frame's views (panels are laid out before them).
        let last_hover = self.hover;
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui, last_hover));
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                self.views_area = Some(ui.max_rect());
                // The panel has no fill (the window clears to black): only the strips between
                // the views are painted, not a layer under them all.
                for gap in self.layout.gaps(ui.max_rect()) {
                    ui.painter().rect_filled(gap, 0.0, egui::Color32::BLACK);
                }
                let [sagittal, coronal, axial, three_d] = self.layout.rects(ui.max_rect());
                for (index, rect) in [sagittal, coronal, axial].into_iter().enumerate() {
                    if let Some(rect) = rect
                        && let Some(h) = self.slice_view(ui, rect, index)
                    {
                        hover = Some(h);
                    }
                }
                if let Some(rect) = three_d {
                    self.view_3d(ui, rect);
                }
            });
        if hover != self.hover {
            self.hover = hover;
            ctx.request_repaint();
        }
        // A newer request replaces a slices job once it has shown something (at most one
        // job waits for its first step, so dragging the crosshair cannot pile work up).
        if self.slices_stale && (self.slices_job.is_none() || self.slices_job_shown) {
            self.start_slices(&ctx);
        } else if self.slices_restyle && self.restyle_job.is_none() && self.slices_job.is_none() {
            self.start_restyle(&ctx);
        }
        if self.help_open {
            egui::Window::new("Keyboard and mouse")
                .open(&mut self.help_open)
                .collapsible(false)
                .show(&ctx, |ui| {
                    egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                        for (keys, what) in SHORTCUTS {
                            ui.monospace(keys);
                            ui.label(what);
                            ui.end_row();
                        }
                    });
                });
        }
        if let Some(error) = self.error.clone() {
            egui::Window::new("Error")
                .collapsible(false)
                .show(&ctx, |ui| {
                    ui.label(error);
                    if ui.button("Dismiss").clicked() {
                        self.error = None;
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
