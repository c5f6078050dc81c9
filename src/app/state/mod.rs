//! The viewer's state, apart from drawing: the images, the models, the predictions and what
//! the views show, the display settings and the background jobs, with the methods that change
//! them. Panels and views (`super::panels`, `super::views`) draw from it and act through it; the
//! frame loop (`super`) polls its jobs once per frame (`polling`).
//!
//! Everything slow — the template, the model and the image's features, the refinement of the 3D
//! volume (8 → 4 → 2 → 1 mm), the slices — runs on background threads ([`crate::session::jobs`],
//! [`crate::render::refine`]); the state only starts them and takes what they send, so the UI
//! thread never blocks.

pub(crate) mod contrast;
mod export;
mod files;
mod finetune;
mod polling;
pub(crate) mod questions;

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;
use glam::DVec3;

pub(crate) use contrast::Contrast;
pub(crate) use export::{ExportState, ScreenshotSlot, file_stem, request_screenshot};
pub(crate) use finetune::{FineTuneState, IMAGE_CHOICES};
pub(crate) use questions::QuestionsState;

use super::ViewOptions;
use super::layout::Layout;
use crate::data::stimuli;
use crate::device::ComputeDevice;
use crate::features::preprocess::Rgb8;
use crate::query::{EnsembleShows, GridPrediction, ModelQuery, Region};
use crate::render::colormap::{BelowThreshold, ColorMap, OverlayStyle, quantile_abs};
use crate::render::refine::{FIRST_LEVEL_SECONDS, Levels, RefinementJob};
use crate::render::slice::Convention;
use crate::render::volume3d::{Camera, ClipPlane, FrameOptions, Mode3d};
use crate::session::jobs::{
    self, Job, ModelSource, PredictionRequest, PreparedPrediction, RenderedSlice, SliceRequest,
    SteppedJob, Templates, TruthSource,
};
use crate::session::{finetune as finetune_job, open};

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
pub(crate) struct Cut {
    pub(crate) on: bool,
    /// Remove the side above `at_mm` (else the side below).
    pub(crate) above: bool,
    /// Where the cut is along its axis, MNI mm.
    pub(crate) at_mm: f32,
}

impl Cut {
    /// The clip plane of this cut along `axis` (0 = x, 1 = y, 2 = z).
    pub(crate) fn plane(self, axis: usize) -> ClipPlane {
        let sign = if self.above { 1.0 } else { -1.0 };
        let mut normal = glam::Vec3::ZERO;
        normal[axis] = sign;
        ClipPlane {
            normal,
            offset: sign * self.at_mm,
        }
    }
}

/// A duration for the status bar: `0.4 s`, `12 s`, `3 min 20 s`.
pub(crate) fn seconds_text(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// An RGBA picture (`width × height × 4` bytes) as a texture.
pub(crate) fn rgba_texture(
    ctx: &egui::Context,
    name: &str,
    [width, height]: [usize; 2],
    rgba: &[u8],
) -> egui::TextureHandle {
    ctx.load_texture(
        name,
        egui::ColorImage::from_rgba_unmultiplied([width, height], rgba),
        egui::TextureOptions::LINEAR,
    )
}

/// An image as a texture (thumbnails).
pub(crate) fn rgb_texture(ctx: &egui::Context, name: &str, rgb: &Rgb8) -> egui::TextureHandle {
    let rgba: Vec<u8> = rgb
        .pixels
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    rgba_texture(ctx, name, [rgb.width as usize, rgb.height as usize], &rgba)
}

/// Thumbnails kept of earlier images.
pub(crate) const RECENT_IMAGES: usize = 6;

/// An image being shown.
#[derive(Clone)]
pub(crate) struct ShownImage {
    pub(crate) name: String,
    pub(crate) rgb: Rgb8,
    pub(crate) thumbnail: egui::TextureHandle,
}

/// Slice textures and the data behind them.
pub(crate) struct SliceView {
    pub(crate) texture: egui::TextureHandle,
    pub(crate) slice: RenderedSlice,
}

/// Everything the viewer shows and computes (see the module documentation).
pub(crate) struct AppState {
    /// The adapter, short (status bar) and in full (its tooltip).
    pub(crate) adapter: String,
    pub(crate) adapter_details: String,
    /// Where the model runs.
    pub(crate) compute: ComputeDevice,
    /// The model shown.
    pub(crate) model: ModelSlot,
    /// The other side of the A/B toggle.
    pub(crate) ab_partner: Option<ModelSlot>,
    /// Models fine-tuned in this session.
    pub(crate) tuned: Vec<finetune_job::FineTuned>,
    /// Models opened in this session (files and run folders), with their feature extractors.
    pub(crate) opened: Vec<open::ViewerModel>,
    /// A model that takes CLIP features, waiting for the user to choose a CLIP folder.
    pub(crate) pending_clip: Option<(
        String,
        Box<crate::model::Nrf>,
        Option<Arc<crate::train::ensemble::EnsembleModel>>,
    )>,
    /// The CLIP folder of this session (from `--clip`, dropped or chosen), used for every model
    /// that takes CLIP features.
    pub(crate) clip_folder: Option<PathBuf>,
    pub(crate) finetune: FineTuneState,
    pub(crate) image: Option<ShownImage>,
    /// Earlier images, newest first (click to show again).
    pub(crate) recent: Vec<ShownImage>,
    /// An A − B contrast of images or sets of images.
    pub(crate) contrast: Contrast,
    pub(crate) templates: Option<Templates>,
    pub(crate) templates_job: Option<Job<Templates>>,
    pub(crate) anatomy_version: u64,
    pub(crate) query: Option<ModelQuery>,
    pub(crate) query_job: Option<Job<PreparedPrediction>>,
    /// Each query job's share of the shown query's points per second on the compute device
    /// (measured once prepared).
    pub(crate) rate_per_job: Option<f64>,
    pub(crate) refinement: Option<RefinementJob>,
    /// What the refinement is computing now, for the status bar.
    pub(crate) refinement_status: Option<String>,
    pub(crate) overlay: Option<(u64, Arc<GridPrediction>)>,
    pub(crate) overlay_spacing: Option<f64>,
    /// The device that computed the overlay shown (its levels say so).
    pub(crate) overlay_device: Option<burn::tensor::Device>,
    /// The prediction's levels set the colour range (a new image or model arrived): the first
    /// and the finest; cleared when the user sets it.
    pub(crate) range_pending: bool,
    /// Show the prediction minus the mean prediction over [`jobs::average_image_set`] (what is
    /// specific to the image), unless a contrast is shown.
    pub(crate) relative_to_average: bool,
    /// Show the virtual subject's noise-free truth instead of the prediction.
    pub(crate) show_truth: bool,
    /// For an ensemble: show how much its members disagree (their standard deviation) instead
    /// of its combined prediction.
    pub(crate) show_spread: bool,
    /// Show the fine-tuned model's validation r map instead of the prediction.
    pub(crate) show_r_map: bool,
    /// A NIfTI volume the user dropped: its name and overlay.
    pub(crate) file_overlay: Option<(String, (u64, Arc<GridPrediction>))>,
    /// Show it instead of the prediction.
    pub(crate) show_file: bool,
    /// A label atlas: the status bar names its region under the cursor.
    pub(crate) atlas: Option<Arc<open::Atlas>>,
    /// The native open dialog, on its own thread: the chosen file, or `None` when cancelled.
    pub(crate) dialog_job: Option<Job<Option<PathBuf>>>,
    /// Files being read (dropped together, or named on the command line).
    pub(crate) file_jobs: Vec<Job<open::Opened>>,
    /// A domain being read for the opened model of this index.
    pub(crate) domain_job: Option<Job<(usize, crate::model::Domain)>>,
    pub(crate) truth: Option<Arc<TruthSource>>,
    pub(crate) truth_overlay: Option<(u64, Arc<GridPrediction>)>,
    pub(crate) truth_job: Option<Job<(Arc<TruthSource>, GridPrediction)>>,
    pub(crate) overlay_version: u64,
    pub(crate) slices: Vec<SliceView>,
    pub(crate) slices_job: Option<SteppedJob<Vec<RenderedSlice>>>,
    /// The running slices job has shown a step (so a newer request may replace it).
    pub(crate) slices_job_shown: bool,
    /// What the slices job is computing now, for the status bar.
    pub(crate) slices_status: Option<String>,
    /// The slices on screen need new colours (their values stand).
    pub(crate) slices_restyle: bool,
    /// Recolouring the slices on screen.
    pub(crate) restyle_job: Option<Job<Vec<RenderedSlice>>>,
    pub(crate) slice_sizes: [(u32, u32); 3],
    pub(crate) slices_stale: bool,
    pub(crate) at: DVec3,
    pub(crate) camera: Camera,
    pub(crate) mode: Mode3d,
    /// Cut-aways of the 3D view along x, y and z.
    pub(crate) cuts: [Cut; 3],
    /// The finest spacing (mm) the 3D volume is refined to.
    pub(crate) finest_spacing: f64,
    /// Where the views were drawn in the last frame (points): the 2× figure repeats it.
    pub(crate) views_area: Option<egui::Rect>,
    pub(crate) map: ColorMap,
    pub(crate) range: f32,
    pub(crate) threshold: f32,
    pub(crate) translucent: bool,
    pub(crate) opacity: f32,
    pub(crate) convention: Convention,
    pub(crate) anatomy_on: bool,
    pub(crate) error: Option<String>,
    pub(crate) status: String,
    pub(crate) export: ExportState,
    pub(crate) layout: Layout,
    /// The questions of the Ask panel and their answers.
    pub(crate) questions: QuestionsState,
}

impl AppState {
    /// The state a window starts in, with `options`' image, model, overlay and fine-tune
    /// already asked for (they arrive from background jobs).
    pub(crate) fn new(
        options: &ViewOptions,
        (adapter, adapter_details): (String, String),
        compute: ComputeDevice,
        ctx: &egui::Context,
    ) -> Self {
        let wake = ctx.clone();
        let templates_job = Some(Job::spawn(jobs::templates, move || wake.request_repaint()));
        let mut state = Self {
            model: ModelSlot::Embedded(options.subject.clamp(1, 8)),
            ab_partner: None,
            tuned: Vec::new(),
            opened: Vec::new(),
            pending_clip: None,
            clip_folder: options.clip.clone(),
            finetune: FineTuneState::new(options.subject.clamp(1, 8)),
            adapter,
            adapter_details,
            compute,
            image: None,
            recent: Vec::new(),
            contrast: Contrast::default(),
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
            relative_to_average: options.relative_to_average,
            show_truth: options.truth,
            show_spread: false,
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
            export: ExportState::default(),
            layout: Layout::Grid,
            questions: QuestionsState::default(),
        };
        if let Some((source, images)) = options.finetune {
            state.finetune.source = ModelSlot::Embedded(source.clamp(1, 8));
            state.finetune.set_images(images);
            if let Some(epochs) = options.finetune_epochs {
                state.finetune.max_epochs = epochs;
            }
            state.start_finetune(ctx);
        }
        if let Some((a, b)) = options.localizer.clone() {
            state.questions.a_set = a;
            state.questions.b_set = b;
            state.questions.follow_localizer = true;
            state.questions.open_panel = true;
            state.start_localizer(ctx);
        }
        if let Some(point) = options.prf_at {
            state.move_crosshair(point);
            state.questions.prf_on = true;
            state.questions.open_panel = true;
        }
        for path in [options.model.clone(), options.overlay.clone()]
            .into_iter()
            .flatten()
        {
            state.open_file(path, ctx);
        }
        match options.image.clone() {
            Some(path) => state.open_file(path, ctx),
            None => {
                let (category, rgb) = stimuli::stimulus(7, 0);
                state.show_image(format!("example: {}", category.name()), rgb, ctx);
            }
        }
        state
    }

    /// The name of a model slot, as the Subject list shows it.
    pub(crate) fn model_name(&self, slot: ModelSlot) -> String {
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

    /// The model shown, and `A − B` when a contrast is (or the localiser's t when that is).
    pub(crate) fn shown_name(&self) -> String {
        if let Some(localizer) = self.localizer_shown() {
            return format!(
                "{}, localiser t {} - {}",
                self.model_name(self.model),
                localizer.answer.a,
                localizer.answer.b
            );
        }
        let contrast = if self.contrast.active() {
            ", A - B"
        } else if self.relative_to_average {
            ", relative to the average image"
        } else if self.query.as_ref().is_some_and(ModelQuery::is_contrast) {
            ", A - B"
        } else {
            ""
        };
        let spread = if self.show_spread && self.shows_ensemble() {
            ", members' s.d."
        } else {
            ""
        };
        format!("{}{contrast}{spread}", self.model_name(self.model))
    }

    /// Whether the model shown is an ensemble (its members' spread can be shown).
    pub(crate) fn shows_ensemble(&self) -> bool {
        match self.model {
            ModelSlot::Opened(i) => self.opened.get(i).is_some_and(|m| m.ensemble.is_some()),
            ModelSlot::Embedded(_) | ModelSlot::Tuned(_) => false,
        }
    }

    /// What predicts for a slot (`None`: a slot that does not exist).
    pub(crate) fn model_source(&self, slot: ModelSlot) -> Option<ModelSource> {
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
    pub(crate) fn truth_subject(&self) -> Option<usize> {
        match self.model {
            ModelSlot::Embedded(k) => Some(k),
            ModelSlot::Tuned(i) => self.tuned.get(i).and_then(|t| t.target),
            ModelSlot::Opened(_) => None,
        }
    }

    /// Every model the Subject list offers: the embedded subjects, this session's fine-tunes,
    /// then the models opened.
    pub(crate) fn model_slots(&self) -> Vec<ModelSlot> {
        (1..=crate::embedded::SUBJECTS)
            .map(ModelSlot::Embedded)
            .chain((0..self.tuned.len()).map(ModelSlot::Tuned))
            .chain((0..self.opened.len()).map(ModelSlot::Opened))
            .collect()
    }

    /// Whether the viewer can fine-tune from this model (one model on built-in features).
    pub(crate) fn trainable(&self, slot: ModelSlot) -> bool {
        match slot {
            ModelSlot::Embedded(_) | ModelSlot::Tuned(_) => true,
            ModelSlot::Opened(i) => self
                .opened
                .get(i)
                .is_some_and(|m| m.is_builtin() && m.ensemble.is_none()),
        }
    }

    /// Shows another model, keeping the image and the view.
    pub(crate) fn select_model(&mut self, slot: ModelSlot, ctx: &egui::Context) {
        if slot != self.model {
            // A and B of a fine-tune compare in one colour range; any other model has its own.
            if self.ab_partner != Some(slot) {
                self.range_pending = true;
            }
            self.model = slot;
            self.start_prediction(ctx);
        }
    }

    pub(crate) fn style(&self) -> OverlayStyle {
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

    pub(crate) fn show_image(&mut self, name: String, rgb: Rgb8, ctx: &egui::Context) {
        let thumbnail = rgb_texture(ctx, "image", &rgb);
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
    pub(crate) fn start_prediction(&mut self, ctx: &egui::Context) {
        let Some(image) = &self.image else { return };
        let Some(model) = self.model_source(self.model) else {
            return;
        };
        let (images, baseline) = self.contrast.sides(&image.rgb);
        let relative_to =
            (self.relative_to_average && baseline.is_empty()).then(jobs::average_image_set);
        let request = PredictionRequest {
            model,
            images,
            baseline,
            relative_to,
            ensemble_shows: if self.show_spread && self.shows_ensemble() {
                EnsembleShows::Spread
            } else {
                EnsembleShows::Combined
            },
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
    pub(crate) fn start_truth(&mut self, ctx: &egui::Context) {
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
    pub(crate) fn auto_range(&mut self, prediction: &GridPrediction) {
        if let Some(max) = quantile_abs(prediction.inside_values(), 0.99) {
            self.range = max.max(1e-3);
            self.threshold = self.range / 5.0;
            self.restyle_slices();
        }
    }

    /// The colours changed, not the values: slices already complete are recoloured from the
    /// values they show (no query, so a slow model keeps its slices at every pixel); slices
    /// still being computed start again with the new colours.
    pub(crate) fn restyle_slices(&mut self) {
        if self.slices_job.is_some() {
            self.slices_stale = true;
        } else {
            self.slices_restyle = true;
        }
    }

    /// Recolours the slices on screen from their values in the background.
    pub(crate) fn start_restyle(&mut self, ctx: &egui::Context) {
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
    pub(crate) fn show_slices(&mut self, rendered: Vec<RenderedSlice>, ctx: &egui::Context) {
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

    pub(crate) fn start_slices(&mut self, ctx: &egui::Context) {
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

    /// Starts the slices when they are stale (a newer request replaces a slices job once it has
    /// shown something, so at most one job waits for its first step and dragging the crosshair
    /// cannot pile work up), or recolours them when only the colours changed.
    pub(crate) fn start_pending_slices(&mut self, ctx: &egui::Context) {
        if self.slices_stale && (self.slices_job.is_none() || self.slices_job_shown) {
            self.start_slices(ctx);
        } else if self.slices_restyle && self.restyle_job.is_none() && self.slices_job.is_none() {
            self.start_restyle(ctx);
        }
    }

    /// What the slices shown now need to be drawn at `sizes` (`None` before the template is
    /// ready).
    pub(crate) fn slice_request(&self, sizes: [(u32, u32); 3]) -> Option<SliceRequest> {
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

    /// A volume shown in place of the prediction: a dropped NIfTI file, the localiser's t map,
    /// or the fine-tuned model's r map.
    pub(crate) fn volume_shown(&self) -> Option<(u64, Arc<GridPrediction>)> {
        if self.show_file
            && let Some((_, overlay)) = &self.file_overlay
        {
            return Some(overlay.clone());
        }
        if let Some(localizer) = self.localizer_shown() {
            return Some(localizer.overlay.clone());
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
    pub(crate) fn shown_overlay(&self) -> Option<(u64, Arc<GridPrediction>)> {
        if let Some(map) = self.volume_shown() {
            Some(map)
        } else if self.show_truth {
            self.truth_overlay.clone()
        } else {
            self.overlay.clone()
        }
    }

    /// How the 3D view is drawn: camera, mode, anatomy, cut-aways.
    pub(crate) fn frame_options(&self) -> FrameOptions {
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
    pub(crate) fn clip_planes(&self) -> Vec<ClipPlane> {
        (0..3)
            .filter(|&axis| self.cuts[axis].on)
            .map(|axis| self.cuts[axis].plane(axis))
            .collect()
    }

    /// Fills the 3D volume of `query` coarse to fine, down to the chosen detail, in the
    /// background, with levels planned from the query's measured cost; each level wakes the UI.
    pub(crate) fn start_refinement(&mut self, query: ModelQuery, ctx: &egui::Context) {
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

    /// The status, then what the background work computes now and how long it has left.
    pub(crate) fn status_line(&self) -> String {
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
    pub(crate) fn pending_prediction(&self) -> Option<String> {
        let waiting = (self.query_job.is_some() || self.refinement.is_some())
            && self.overlay.is_none()
            && !self.show_truth
            && self.volume_shown().is_none();
        let image = self.image.as_ref()?;
        waiting.then(|| format!("computing {} for {}…", self.shown_name(), image.name))
    }

    /// Nothing runs in the background and the views are complete.
    pub(crate) fn idle(&self) -> bool {
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
            && !self.questions.busy()
    }
}
