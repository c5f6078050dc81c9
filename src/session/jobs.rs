//! Background work of the viewer: loading a model and extracting an image's features, rendering
//! slices, preparing the template. Each job runs on its own thread and answers through a
//! channel the UI polls every frame, so the UI thread never waits. A newer request makes older
//! answers stale: the UI drops a job (and with it, its answer) when it starts another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};

use glam::DVec3;
use image::RgbaImage;

use super::open::ViewerModel;
use crate::data::virtual_subjects::VirtualSubject;
use crate::features::FeatureExtractor;
use crate::features::builtin::BuiltinExtractor;
use crate::features::preprocess::Rgb8;
use burn::tensor::Device;

use super::SessionError;
use crate::query::{
    EnsembleQuery, EnsembleShows, GridPrediction, ImageQuery, ModelQuery, QueryEngine, Region,
    RegionUsed,
};
use crate::render::colormap::OverlayStyle;
use crate::render::refine::measure_points_per_second;
use crate::render::slice::{Anatomy, Convention, SliceDecorations, SliceLayout, render_slice};
use crate::space::{BoundingBox, Grid, Orientation};
use crate::volume::Volume;

/// Set when the work's answer is no longer wanted (its job was dropped): long work checks it
/// between steps and stops.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Whether the answer is no longer wanted.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// `Err` ([`SessionError::Cancelled`], never shown) once cancelled: for `?` between steps.
    pub fn check(&self) -> Result<(), SessionError> {
        if self.is_set() {
            Err(SessionError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Runs `work` on a new thread with the token its job sets when dropped, and a function that
/// sends a message to the job (`false`, and nothing sent, once the job was dropped); `wake`
/// follows each message sent.
fn spawn_worker<M: Send + 'static>(
    work: impl FnOnce(&Cancel, &dyn Fn(M) -> bool) + Send + 'static,
    wake: impl Fn() + Send + 'static,
) -> (Receiver<M>, Cancel) {
    let (sender, receiver) = mpsc::channel();
    let cancel = Cancel::default();
    let token = cancel.clone();
    std::thread::spawn(move || {
        crate::device::yield_to_the_window();
        let send = |message| {
            if token.is_set() {
                return false;
            }
            // A closed channel only means the UI no longer wants this answer.
            let listening = sender.send(message).is_ok();
            wake();
            listening
        };
        work(&token, &send);
    });
    (receiver, cancel)
}

/// A job whose single answer arrives later; dropping it cancels the work.
pub struct Job<T> {
    receiver: Receiver<Result<T, SessionError>>,
    cancel: Cancel,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a new thread; `wake` is called when the answer is ready (a UI repaint).
    pub fn spawn(
        work: impl FnOnce() -> Result<T, SessionError> + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        Self::spawn_cancellable(move |_| work(), wake)
    }

    /// Runs `work` on a new thread, handing it the token that is set when the job is dropped.
    pub fn spawn_cancellable(
        work: impl FnOnce(&Cancel) -> Result<T, SessionError> + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (receiver, cancel) = spawn_worker(
            move |token, send| {
                send(work(token));
            },
            wake,
        );
        Self { receiver, cancel }
    }

    /// The answer, if it has arrived (never blocks).
    pub fn poll(&self) -> Option<Result<T, SessionError>> {
        match self.receiver.try_recv() {
            Ok(answer) => Some(answer),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(SessionError::Invalid(
                "the job stopped without answering".into(),
            ))),
        }
    }
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        self.cancel.set();
    }
}

/// What a job that answers in several steps has to say.
pub enum Step<T> {
    /// A result, better than the one before.
    Level(T),
    /// What it is doing now, for the status bar.
    Progress(String),
    /// It failed; nothing follows.
    Failed(String),
}

/// A job that answers in several steps (coarse, then finer); dropping it cancels the work.
pub struct SteppedJob<T> {
    receiver: Receiver<Step<T>>,
    cancel: Cancel,
}

/// What [`SteppedJob::poll`] found.
pub enum Polled<T> {
    /// A step.
    Step(Step<T>),
    /// Nothing new yet.
    Waiting,
    /// The job has finished: no more steps.
    Finished,
}

impl<T: Send + 'static> SteppedJob<T> {
    /// Runs `work` on a new thread; it sends its steps through the function it is given (which
    /// returns `false` once nobody listens) and checks the token. `wake` follows each step.
    pub fn spawn(
        work: impl FnOnce(&Cancel, &dyn Fn(Step<T>) -> bool) + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (receiver, cancel) = spawn_worker(work, wake);
        Self { receiver, cancel }
    }

    /// The next step, if one has arrived (never blocks).
    pub fn poll(&self) -> Polled<T> {
        match self.receiver.try_recv() {
            Ok(step) => Polled::Step(step),
            Err(TryRecvError::Empty) => Polled::Waiting,
            Err(TryRecvError::Disconnected) => Polled::Finished,
        }
    }
}

impl<T> Drop for SteppedJob<T> {
    fn drop(&mut self) {
        self.cancel.set();
    }
}

/// The template images the views draw on.
pub struct Templates {
    /// The brain-masked grey levels for the 3D view (1 mm).
    pub brain: Arc<Volume>,
    /// The T1 for slices (1 mm).
    pub t1: Arc<Volume>,
    /// The T1's grey window (a percentile over 7 M voxels: computed once, here).
    pub window: (f32, f32),
}

/// Prepares the templates (about a second: decoding and masking the 1 mm template).
pub fn templates() -> Result<Templates, SessionError> {
    let grid = Grid::mni(1.0)?;
    let brain = crate::render::volume3d::brain_anatomy(&grid)?;
    let t1 = crate::template::load(crate::template::TemplateImage::T1)?;
    let window = Anatomy::with_auto_window(&t1).window;
    Ok(Templates {
        brain: Arc::new(brain),
        t1: Arc::new(t1),
        window,
    })
}

/// Which model predicts.
#[derive(Clone)]
pub enum ModelSource {
    /// The embedded model of virtual subject k (1–8).
    Embedded(usize),
    /// A model in memory (opened, or fine-tuned in the viewer), with its feature extractor.
    Given(Box<ViewerModel>),
}

/// What a prediction needs: the model, the images and the device to compute on.
pub struct PredictionRequest {
    /// The model.
    pub model: ModelSource,
    /// The image, or the set A whose mean prediction is shown.
    pub images: Vec<Rgb8>,
    /// The baseline B (an image or a set): the query is then mean(A) − mean(B); empty for none.
    pub baseline: Vec<Rgb8>,
    /// With no baseline: a reference set whose mean prediction is subtracted ("relative to the
    /// average image", [`average_image_set`]); its images are drawn in the job.
    pub relative_to: Option<crate::insilico::image_set::SetSpec>,
    /// For an ensemble: its combined prediction, or how much its members disagree.
    pub ensemble_shows: EnsembleShows,
    /// Where the model runs (the viewer's compute device).
    pub device: Device,
}

/// The model of a source on `device`, and the extractor of its features (for an ensemble: its
/// first member; whoever answers for the whole ensemble reads `ViewerModel::ensemble`).
pub fn resolve_model(
    source: ModelSource,
    device: &Device,
) -> Result<(crate::model::Nrf, Arc<dyn FeatureExtractor>), SessionError> {
    Ok(match source {
        ModelSource::Embedded(subject) => (
            crate::embedded::default_model(subject, device)?,
            Arc::new(BuiltinExtractor),
        ),
        // Models opened in the viewer are read onto its device already; fine-tuned ones come
        // from training on the CPU (small: copied in milliseconds).
        ModelSource::Given(given) => (given.model.on_device(device), given.extractor),
    })
}

/// The reference set of the viewer's "relative to the average image": two images of each
/// procedural category (`library:14`, seed 2), whose mean prediction is subtracted. Small, as
/// each image costs one more MLP evaluation at every point.
pub fn average_image_set() -> crate::insilico::image_set::SetSpec {
    crate::insilico::image_set::SetSpec::Procedural {
        category: None,
        count: 14,
        seed: crate::insilico::image_set::DEFAULT_SET_SEED,
    }
}

/// Jobs that query the model at once in the viewer: the 3D levels and the slices. Each plans
/// with its share of the measured rate.
pub const CONCURRENT_QUERY_JOBS: f64 = 2.0;

/// A prediction ready to be queried anywhere, with what it costs.
pub struct PreparedPrediction {
    /// The query (one image, a mean of a set, or a contrast; of one model or an ensemble).
    pub query: ModelQuery,
    /// Points per second it runs at on its device, measured once prepared: the refinement of
    /// the volume and the slices plan their levels from it.
    pub points_per_second: f64,
}

/// The model queried for the images (one, the mean of a set, or a contrast A − B) on the
/// request's device, ready for any points, and its measured cost; for an ensemble, each member
/// queried for the same images (their features extracted once). Stops early once `cancel` is set
/// (a newer image or model).
pub fn prepare_query(
    request: PredictionRequest,
    cancel: &Cancel,
) -> Result<PreparedPrediction, SessionError> {
    let ensemble = match &request.model {
        ModelSource::Given(given) => given.ensemble.clone(),
        ModelSource::Embedded(_) => None,
    };
    let (model, extractor) = resolve_model(request.model, &request.device)?;
    let features_of = |images: &[Rgb8]| {
        let mut features = Vec::with_capacity(images.len());
        for image in images {
            cancel.check()?;
            features.push(extractor.extract(image)?);
        }
        cancel.check()?;
        Ok::<_, SessionError>(features)
    };
    let images = features_of(&request.images)?;
    let baseline = if !request.baseline.is_empty() {
        Some(features_of(&request.baseline)?)
    } else if let Some(reference) = &request.relative_to {
        let images = reference
            .items()?
            .iter()
            .map(|item| item.load())
            .collect::<Result<Vec<_>, _>>()?;
        Some(features_of(&images)?)
    } else {
        None
    };
    // One model's query of the images (minus the baseline's mean).
    let query_of = |model: &crate::model::Nrf| -> Result<ImageQuery, SessionError> {
        let engine = QueryEngine::new(model);
        let mean_of = |features: &[crate::features::ImageFeatures]| {
            cancel.check()?;
            let queries = engine.prepare_batch(model, features)?;
            match queries.len() {
                1 => queries
                    .into_iter()
                    .next()
                    .ok_or_else(|| SessionError::Invalid("no image".into())),
                _ => ImageQuery::mean(&queries).map_err(SessionError::from),
            }
        };
        let query = mean_of(&images)?;
        Ok(match &baseline {
            Some(baseline) => query.minus(&mean_of(baseline)?)?,
            None => query,
        })
    };
    let query = match ensemble {
        None => ModelQuery::Single(query_of(&model)?),
        Some(ensemble) => {
            let members = ensemble
                .members
                .iter()
                .map(|member| query_of(&member.on_device(&request.device)))
                .collect::<Result<Vec<_>, _>>()?;
            ModelQuery::Ensemble(Arc::new(EnsembleQuery::new(
                ensemble,
                members,
                request.ensemble_shows,
            )?))
        }
    };
    cancel.check()?;
    let points_per_second = measure_points_per_second(&query)?;
    Ok(PreparedPrediction {
        query,
        points_per_second,
    })
}

/// The noise-free truth of an embedded virtual subject for one image.
pub struct TruthSource {
    /// The subject, redrawn from the seed its embedded model's data were simulated with.
    pub subject: VirtualSubject,
    /// The image.
    pub image: Rgb8,
}

/// The truth source of embedded subject `number` (1–8).
pub fn truth_source(number: usize, image: Rgb8) -> Result<TruthSource, SessionError> {
    let subject = VirtualSubject::new(crate::embedded::SIMULATION_SEED, number)?;
    Ok(TruthSource { subject, image })
}

/// The truth on the MNI grid of `spacing_mm` inside the brain mask, as a grid prediction.
pub fn truth_volume(source: &TruthSource, spacing_mm: f64) -> Result<GridPrediction, SessionError> {
    let grid = Grid::mni(spacing_mm)?;
    let volume = crate::data::simulate::truth_on_grid(&source.subject, &source.image, &grid)?;
    let inside = crate::template::brain_mask(&grid)?;
    Ok(GridPrediction {
        volume,
        inside,
        region: RegionUsed::BrainMask,
        on_gpu: None,
    })
}

/// The truth at a slice's pixels inside the brain mask: (values, inside), plane order.
fn truth_on_plane(
    source: &TruthSource,
    plane: &crate::space::Plane,
) -> Result<(Vec<f32>, Vec<bool>), SessionError> {
    let points = plane.points();
    let inside = crate::template::brain_mask_at(&points)?;
    let selected: Vec<glam::Vec3> = points
        .iter()
        .zip(&inside)
        .filter_map(|(&p, &i)| i.then_some(p))
        .collect();
    let mut truth =
        crate::data::simulate::truth_at(&source.subject, &source.image, &selected).into_iter();
    let values = inside
        .iter()
        .map(|&i| if i { truth.next().unwrap_or(0.0) } else { 0.0 })
        .collect();
    Ok((values, inside))
}

/// A volume at a slice's pixels: trilinear values, inside where the nearest voxel is.
fn volume_on_plane(
    volume: &GridPrediction,
    plane: &crate::space::Plane,
) -> Result<(Vec<f32>, Vec<bool>), SessionError> {
    let grid = volume.volume.grid;
    let to_voxel = grid.world_to_voxel()?;
    Ok(plane
        .points()
        .iter()
        .map(|p| {
            let v = to_voxel.transform_point3(p.as_dvec3());
            let inside = grid
                .nearest_voxel(v)
                .is_some_and(|ijk| volume.inside.data[grid.index(ijk)]);
            match volume.volume.sample_voxel(v) {
                Some(value) if inside => (value, true),
                _ => (0.0, false),
            }
        })
        .unzip())
}

/// Slices drawn again in other colours from the values they show (no query).
pub fn recolour_slices(
    slices: Vec<RenderedSlice>,
    t1: &Volume,
    window: (f32, f32),
    style: &OverlayStyle,
    at: DVec3,
) -> Result<Vec<RenderedSlice>, SessionError> {
    let anatomy = Anatomy { volume: t1, window };
    slices
        .into_iter()
        .map(|mut slice| {
            slice.image = render_slice(
                &slice.layout,
                Some(&anatomy),
                Some((&slice.values, &slice.inside)),
                style,
                &SliceDecorations {
                    crosshair: Some(at),
                    labels: true,
                    extrapolated: false,
                },
            )?;
            Ok(slice)
        })
        .collect()
}

/// One rendered slice view with what the status bar needs to read it back.
#[derive(Clone)]
pub struct RenderedSlice {
    /// Which slice.
    pub orientation: Orientation,
    /// Display pixel ↔ MNI.
    pub layout: SliceLayout,
    /// The picture.
    pub image: RgbaImage,
    /// The predicted values at the plane's pixels (row-major, plane order) and which were
    /// evaluated.
    pub values: Vec<f32>,
    /// Pixels inside the model's domain.
    pub inside: Vec<bool>,
    /// Display pixels a side per queried point (1: every pixel queried).
    pub factor: usize,
}

/// What a slice rendering needs.
pub struct SliceRequest {
    /// The prepared query (`None`: anatomy only).
    pub query: Option<ModelQuery>,
    /// Show this truth instead of the query's prediction.
    pub truth: Option<Arc<TruthSource>>,
    /// Show this volume (e.g. an r map) instead of either, sampled trilinearly at the pixels.
    pub volume: Option<Arc<GridPrediction>>,
    /// The template.
    pub t1: Arc<Volume>,
    /// Its grey window.
    pub window: (f32, f32),
    /// Crosshair, MNI mm.
    pub at: DVec3,
    /// Pixel size of each view (sagittal, coronal, axial).
    pub sizes: [(u32, u32); 3],
    /// Colours.
    pub style: OverlayStyle,
    /// Left-right convention.
    pub convention: Convention,
}

/// Coarseness factors of the slices' steps: display pixels per side of a queried point (32: a
/// slice of 500 × 400 pixels is queried at 16 × 13 points, a first picture of an official-size
/// model on a CPU within a second).
const SLICE_FACTORS: [usize; 6] = [32, 16, 8, 4, 2, 1];

/// Seconds the slices' first step may take (their drawing comes on top).
pub const SLICES_FIRST_SECONDS: f64 = 0.1;

/// The slices' steps: the first factor whose work takes at most `budget_s` (the coarsest when
/// none does), then each finer one down to the display's own pixels (factor 1). `seconds_at_full`
/// is what all three slices take at factor 1 (queries and the domain test of every pixel); a
/// factor k does 1/k² of it.
pub fn plan_slice_factors(seconds_at_full: f64, budget_s: f64) -> Vec<usize> {
    let seconds = |k: usize| seconds_at_full / (k * k) as f64;
    let first = SLICE_FACTORS
        .iter()
        .rposition(|&k| seconds(k) <= budget_s)
        .unwrap_or(0);
    SLICE_FACTORS[first..].to_vec()
}

/// The slice views step by step: when the full-resolution slices would take longer than
/// [`SLICES_FIRST_SECONDS`] (the queries at `points_per_second`, and the domain test of every
/// pixel, timed on coarser planes), first with the NRF queried at coarse pixels (32 to 2
/// display pixels a side), then finer, then at every display pixel; each step is sent as it is
/// ready. Stops once `cancel` is set.
pub fn slice_steps(
    request: &SliceRequest,
    points_per_second: Option<f64>,
    cancel: &Cancel,
    send: &dyn Fn(Step<Vec<RenderedSlice>>) -> bool,
) {
    let factors = match (&request.query, points_per_second) {
        (Some(query), Some(rate)) if request.truth.is_none() && request.volume.is_none() => {
            // The evaluated pixels and the domain test's cost, on planes 8 times coarser, scaled.
            let probe = 8;
            let started = std::time::Instant::now();
            let masks: Vec<Vec<bool>> = layouts(request)
                .unwrap_or_default()
                .iter()
                .filter_map(|(_, l)| {
                    query
                        .plane_mask(&coarser(&l.plane, probe), Region::Domain)
                        .ok()
                })
                .map(|(mask, _)| mask)
                .collect();
            let scale = (probe * probe) as f64;
            let masking = started.elapsed().as_secs_f64() * scale;
            let inside = masks.iter().flatten().filter(|&&b| b).count() as f64 * scale;
            plan_slice_factors(masking + inside / rate.max(1e-9), SLICES_FIRST_SECONDS)
        }
        _ => vec![1],
    };
    for factor in factors {
        if factor > 1 {
            send(Step::Progress(format!(
                "slices at {factor}×{factor} pixels a point"
            )));
        }
        match render_slices(request, factor, cancel) {
            Ok(slices) => {
                if !send(Step::Level(slices)) {
                    return;
                }
            }
            Err(SessionError::Cancelled) => return,
            Err(e) => {
                send(Step::Failed(e.to_string()));
                return;
            }
        }
    }
}

/// `plane` with pixels `factor` times larger (the same centre and extent, rounded up).
fn coarser(plane: &crate::space::Plane, factor: usize) -> crate::space::Plane {
    crate::space::Plane {
        pixel_mm: plane.pixel_mm * factor as f64,
        width: plane.width.div_ceil(factor),
        height: plane.height.div_ceil(factor),
        ..*plane
    }
}

/// The prediction at `plane`'s pixels, the NRF queried at pixels `factor` times coarser and each
/// display pixel given its nearest coarse pixel's value (factor 1: every pixel queried).
fn query_on_plane(
    query: &ModelQuery,
    plane: &crate::space::Plane,
    factor: usize,
    cancel: &Cancel,
) -> Result<(Vec<f32>, Vec<bool>), SessionError> {
    let mut go_on = |_, _| !cancel.is_set();
    let cancelled = |e: crate::query::QueryError| match e {
        crate::query::QueryError::Cancelled => SessionError::Cancelled,
        other => other.into(),
    };
    if factor <= 1 {
        let prediction = query
            .query_plane_with_progress(plane, Region::Domain, &mut go_on)
            .map_err(cancelled)?;
        return Ok((prediction.values, prediction.inside));
    }
    let coarse_plane = coarser(plane, factor);
    let coarse = query
        .query_plane_with_progress(&coarse_plane, Region::Domain, &mut go_on)
        .map_err(cancelled)?;
    // Each display pixel takes its nearest coarse pixel's value and domain test (testing every
    // display pixel would cost as much as the finest step).
    Ok((0..plane.height)
        .flat_map(|row| (0..plane.width).map(move |col| (col, row)))
        .map(|(col, row)| {
            let (c, r) = coarse_plane.pixel_of(plane.point(col, row));
            let c = (c.round().max(0.0) as usize).min(coarse_plane.width - 1);
            let r = (r.round().max(0.0) as usize).min(coarse_plane.height - 1);
            let k = r * coarse_plane.width + c;
            (coarse.values[k], coarse.inside[k])
        })
        .unzip())
}

/// The three slice layouts at the request's sizes.
fn layouts(request: &SliceRequest) -> Result<Vec<(Orientation, SliceLayout)>, SessionError> {
    [
        Orientation::Sagittal,
        Orientation::Coronal,
        Orientation::Axial,
    ]
    .into_iter()
    .zip(request.sizes)
    .map(|(orientation, size)| {
        SliceLayout::fitted(
            orientation,
            request.at,
            &BoundingBox::MNI_TEMPLATE,
            (size.0.max(16), size.1.max(16)),
            request.convention,
        )
        .map(|layout| (orientation, layout))
        .map_err(SessionError::from)
    })
    .collect()
}

/// The slice views at exactly their on-screen pixel sizes, the NRF queried at every pixel
/// (`factor` 1) or at pixels `factor` times coarser; an empty error once `cancel` is set.
pub fn render_slices(
    request: &SliceRequest,
    factor: usize,
    cancel: &Cancel,
) -> Result<Vec<RenderedSlice>, SessionError> {
    let anatomy = Anatomy {
        volume: &request.t1,
        window: request.window,
    };
    layouts(request)?
        .into_iter()
        .map(|(orientation, layout)| {
            let (values, inside) = match (&request.truth, &request.query) {
                _ if request.volume.is_some() => {
                    let volume = request
                        .volume
                        .as_deref()
                        .ok_or(SessionError::Invalid("no volume".into()))?;
                    volume_on_plane(volume, &layout.plane)?
                }
                (Some(truth), _) => truth_on_plane(truth, &layout.plane)?,
                (None, Some(query)) => query_on_plane(query, &layout.plane, factor, cancel)?,
                (None, None) => {
                    let n = layout.plane.width * layout.plane.height;
                    (vec![0.0; n], vec![false; n])
                }
            };
            cancel.check()?;
            let image = render_slice(
                &layout,
                Some(&anatomy),
                Some((&values, &inside)),
                &request.style,
                &SliceDecorations {
                    crosshair: Some(request.at),
                    labels: true,
                    extrapolated: false,
                },
            )?;
            Ok(RenderedSlice {
                orientation,
                layout,
                image,
                values,
                inside,
                factor,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::train::ensemble::{Ensemble, EnsembleModel};
    use glam::Vec3;

    /// An ensemble of the embedded models of subjects 1 and 2 on subject 1's voxels, combined
    /// as 0.7 · first + 0.4 · second + 0.25 at every voxel (an intercept that a contrast must
    /// cancel).
    pub(crate) fn ensemble_of_subjects_1_and_2() -> EnsembleModel {
        let device = Device::flex();
        let members: Vec<crate::model::Nrf> = [1, 2]
            .iter()
            .map(|&k| crate::embedded::default_model(k, &device).expect("model"))
            .collect();
        let crate::model::Domain::Voxels(voxels) = members[0].domain.clone() else {
            panic!("the embedded model has a domain");
        };
        let count = voxels.coords_mm().len();
        EnsembleModel {
            combination: Ensemble {
                members: 2,
                weights: (0..count).flat_map(|_| [0.7, 0.4, 0.25]).collect(),
            },
            voxels,
            info: members[0].info.clone(),
            members,
        }
    }

    #[test]
    fn an_ensembles_query_is_its_combination_or_its_members_spread_and_contrasts_drop_the_intercept()
     {
        let ensemble = Arc::new(ensemble_of_subjects_1_and_2());
        let (_, face) = crate::data::simulate::stimulus_of(1, 3);
        let (_, other) = crate::data::simulate::stimulus_of(1, 4);
        let viewer_model = ViewerModel {
            ensemble: Some(Arc::clone(&ensemble)),
            ..ViewerModel::builtin("pair.nrf".into(), ensemble.members[0].clone())
        };
        let prepare = |baseline: Vec<Rgb8>, ensemble_shows| {
            prepare_query(
                PredictionRequest {
                    model: ModelSource::Given(Box::new(viewer_model.clone())),
                    images: vec![face.clone()],
                    baseline,
                    relative_to: None,
                    ensemble_shows,
                    device: Device::flex(),
                },
                &Cancel::default(),
            )
            .expect("prepared")
            .query
        };
        // In the FFA-like area, in V1, and between voxels.
        let points = [
            Vec3::new(-40.0, -60.0, -20.0),
            Vec3::new(10.0, -90.0, 0.0),
            Vec3::new(11.1, -88.7, 1.3),
        ];
        let features = |rgb: &Rgb8| BuiltinExtractor.extract(rgb).expect("features");
        let (face_features, other_features) = (features(&face), features(&other));
        let combined = |f: &crate::features::ImageFeatures| {
            ensemble.predict_points(&[f], &points).expect("ensemble")
        };
        let close = |got: &[f32], want: &[f32]| {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
            }
        };

        let shown = prepare(Vec::new(), EnsembleShows::Combined);
        assert!(shown.ensemble().is_some() && !shown.is_contrast());
        close(
            &shown.query_points(&points).expect("shown"),
            &combined(&face_features),
        );

        // A − B of the combination: the intercepts cancel.
        let contrast = prepare(vec![other.clone()], EnsembleShows::Combined);
        assert!(contrast.is_contrast());
        let want: Vec<f32> = combined(&face_features)
            .iter()
            .zip(combined(&other_features))
            .map(|(a, b)| a - b)
            .collect();
        close(&contrast.query_points(&points).expect("contrast"), &want);

        // The spread: the members' standard deviation, here |a − b| / √2.
        let spread = prepare(Vec::new(), EnsembleShows::Spread);
        let members = ensemble
            .member_predictions(&[&face_features], &points)
            .expect("members");
        let want: Vec<f32> = (0..points.len())
            .map(|p| (members[0][p] - members[1][p]).abs() / 2f32.sqrt())
            .collect();
        close(&spread.query_points(&points).expect("spread"), &want);
        assert!(
            want.iter().any(|&w| w > 1e-3),
            "the members differ: {want:?}"
        );

        // Grids and slices take the same values.
        let grid = crate::space::Grid::mni(8.0).expect("grid");
        let on_grid = spread.query_grid(&grid, Region::Domain).expect("grid");
        let inside: Vec<Vec3> = (0..grid.len())
            .filter(|&n| on_grid.inside.data[n])
            .map(|n| grid.point(grid.ijk(n)).as_vec3())
            .collect();
        assert!(!inside.is_empty());
        let direct = spread.query_points(&inside).expect("points");
        close(&on_grid.inside_values().collect::<Vec<_>>(), &direct);
    }

    #[test]
    fn dropping_a_job_cancels_its_work_and_its_answer_never_arrives() {
        let (stopped, stopped_rx) = mpsc::channel();
        let job = Job::spawn_cancellable(
            move |cancel| {
                let started = std::time::Instant::now();
                while !cancel.is_set() {
                    assert!(started.elapsed().as_secs() < 60, "never cancelled");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                stopped.send(()).expect("send");
                Ok(1)
            },
            || {},
        );
        assert!(job.poll().is_none());
        drop(job);
        stopped_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the work stops once its job is dropped");
    }

    #[test]
    fn a_stepped_job_sends_its_steps_and_finishes() {
        let job = SteppedJob::spawn(
            |_, send| {
                send(Step::Progress("coarse".into()));
                send(Step::Level(1));
                send(Step::Level(2));
            },
            || {},
        );
        let mut levels = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match job.poll() {
                Polled::Step(Step::Level(n)) => levels.push(n),
                Polled::Step(Step::Failed(e)) => panic!("{e}"),
                Polled::Step(Step::Progress(_)) | Polled::Waiting => {}
                Polled::Finished => break,
            }
            assert!(std::time::Instant::now() < deadline);
        }
        assert_eq!(levels, vec![1, 2]);
    }

    #[test]
    fn slices_start_coarse_when_every_pixel_would_take_too_long() {
        // Every pixel within the budget: at once. One second: a point per 2×2 pixels would
        // still take 0.25 s, so 4×4 first. Minutes: the coarsest first.
        assert_eq!(plan_slice_factors(0.01, 0.15), vec![1]);
        assert_eq!(plan_slice_factors(1.0, 0.15), vec![4, 2, 1]);
        assert_eq!(plan_slice_factors(1e4, 0.15), vec![32, 16, 8, 4, 2, 1]);
    }
}
