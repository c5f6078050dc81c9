//! Background work of the viewer: loading a model and extracting an image's features, rendering
//! slices, preparing the template. Each job runs on its own thread and answers through a
//! channel the UI polls every frame, so the UI thread never waits. A newer request makes older
//! answers stale: the UI drops a job (and with it, its answer) when it starts another.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use glam::DVec3;
use image::RgbaImage;

use super::files::ViewerModel;
use crate::data::virtual_subjects::VirtualSubject;
use crate::features::FeatureExtractor;
use crate::features::builtin::BuiltinExtractor;
use crate::features::preprocess::Rgb8;
use crate::query::{GridPrediction, ImageQuery, QueryEngine, Region, RegionUsed};
use crate::render::colormap::OverlayStyle;
use crate::render::slice::{Anatomy, Convention, SliceDecorations, SliceLayout, render_slice};
use crate::space::{BoundingBox, Grid, Orientation};
use crate::volume::Volume;

/// A job whose single answer arrives later.
pub struct Job<T> {
    receiver: Receiver<Result<T, String>>,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a new thread; `wake` is called when the answer is ready (a UI repaint).
    pub fn spawn(
        work: impl FnOnce() -> Result<T, String> + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // A closed channel only means the UI no longer wants this answer.
            let _ = sender.send(work());
            wake();
        });
        Self { receiver }
    }

    /// The answer, if it has arrived (never blocks).
    pub fn poll(&self) -> Option<Result<T, String>> {
        match self.receiver.try_recv() {
            Ok(answer) => Some(answer),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                Some(Err("the job stopped without answering".into()))
            }
        }
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
pub fn templates() -> Result<Templates, String> {
    let grid = Grid::mni(1.0).map_err(|e| e.to_string())?;
    let brain = crate::render::volume3d::brain_anatomy(&grid).map_err(|e| e.to_string())?;
    let t1 =
        crate::template::load(crate::template::TemplateImage::T1).map_err(|e| e.to_string())?;
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

/// What a prediction needs: the model and the images.
pub struct PredictionRequest {
    /// The model.
    pub model: ModelSource,
    /// The image, or the set A whose mean prediction is shown.
    pub images: Vec<Rgb8>,
    /// The baseline B (an image or a set): the query is then mean(A) − mean(B); empty for none.
    pub baseline: Vec<Rgb8>,
}

/// The model queried for the images (one, the mean of a set, or a contrast A − B), ready for any
/// points.
pub fn prepare_query(request: PredictionRequest) -> Result<ImageQuery, String> {
    let (model, extractor): (_, Arc<dyn FeatureExtractor>) = match request.model {
        ModelSource::Embedded(subject) => (
            crate::defaults::default_model(subject, &burn::tensor::Device::flex())
                .map_err(|e| e.to_string())?,
            Arc::new(BuiltinExtractor),
        ),
        ModelSource::Given(given) => (given.model, given.extractor),
    };
    let engine = QueryEngine::new(&model);
    let mean_of = |images: &[Rgb8]| {
        let features = images
            .iter()
            .map(|image| extractor.extract(image))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let queries = engine
            .prepare_batch(&model, &features)
            .map_err(|e| e.to_string())?;
        match queries.len() {
            1 => queries
                .into_iter()
                .next()
                .ok_or_else(|| "no image".to_string()),
            _ => ImageQuery::mean(&queries).map_err(|e| e.to_string()),
        }
    };
    let query = mean_of(&request.images)?;
    if request.baseline.is_empty() {
        return Ok(query);
    }
    query
        .minus(&mean_of(&request.baseline)?)
        .map_err(|e| e.to_string())
}

/// The noise-free truth of an embedded virtual subject for one image.
pub struct TruthSource {
    /// The subject, redrawn from the seed its embedded model's data were simulated with.
    pub subject: VirtualSubject,
    /// The image.
    pub image: Rgb8,
}

/// The truth source of embedded subject `number` (1–8).
pub fn truth_source(number: usize, image: Rgb8) -> Result<TruthSource, String> {
    let subject =
        VirtualSubject::new(crate::defaults::SIMULATION_SEED, number).map_err(|e| e.to_string())?;
    Ok(TruthSource { subject, image })
}

/// The truth on the MNI grid of `spacing_mm` inside the brain mask, as a grid prediction.
pub fn truth_volume(source: &TruthSource, spacing_mm: f64) -> Result<GridPrediction, String> {
    let grid = Grid::mni(spacing_mm).map_err(|e| e.to_string())?;
    let volume = crate::data::simulate::truth_on_grid(&source.subject, &source.image, &grid)
        .map_err(|e| e.to_string())?;
    let inside = crate::template::brain_mask(&grid).map_err(|e| e.to_string())?;
    Ok(GridPrediction {
        volume,
        inside,
        region: RegionUsed::BrainMask,
    })
}

/// The truth at a slice's pixels inside the brain mask: (values, inside), plane order.
fn truth_on_plane(
    source: &TruthSource,
    plane: &crate::space::Plane,
) -> Result<(Vec<f32>, Vec<bool>), String> {
    let points = plane.points();
    let inside = crate::template::brain_mask_at(&points).map_err(|e| e.to_string())?;
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
) -> Result<(Vec<f32>, Vec<bool>), String> {
    let grid = volume.volume.grid;
    let to_voxel = grid.world_to_voxel().map_err(|e| e.to_string())?;
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

/// One rendered slice view with what the status bar needs to read it back.
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
}

/// What a slice rendering needs.
pub struct SliceRequest {
    /// The prepared query (`None`: anatomy only).
    pub query: Option<ImageQuery>,
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

/// The slice views at exactly their on-screen pixel sizes: the NRF is queried at every pixel.
pub fn render_slices(request: SliceRequest) -> Result<Vec<RenderedSlice>, String> {
    let anatomy = Anatomy {
        volume: &request.t1,
        window: request.window,
    };
    [
        Orientation::Sagittal,
        Orientation::Coronal,
        Orientation::Axial,
    ]
    .into_iter()
    .zip(request.sizes)
    .map(|(orientation, size)| {
        let layout = SliceLayout::fitted(
            orientation,
            request.at,
            &BoundingBox::MNI_TEMPLATE,
            (size.0.max(16), size.1.max(16)),
            request.convention,
        )
        .map_err(|e| e.to_string())?;
        let (values, inside) = match (&request.truth, &request.query) {
            _ if request.volume.is_some() => {
                let volume = request.volume.as_deref().ok_or("no volume")?;
                volume_on_plane(volume, &layout.plane)?
            }
            (Some(truth), _) => truth_on_plane(truth, &layout.plane)?,
            (None, Some(query)) => {
                let plane = query
                    .query_plane(&layout.plane, Region::Domain)
                    .map_err(|e| e.to_string())?;
                (plane.values, plane.inside)
            }
            (None, None) => {
                let n = layout.plane.width * layout.plane.height;
                (vec![0.0; n], vec![false; n])
            }
        };
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
        )
        .map_err(|e| e.to_string())?;
        Ok(RenderedSlice {
            orientation,
            layout,
            image,
            values,
            inside,
        })
    })
    .collect()
}
