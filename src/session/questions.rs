//! The questions the viewer asks of the model shown, run on background threads (no windowing
//! crate): an in-silico localiser between two image sets, the images that drive a point, the
//! point's pRF, and the mean prediction per ROI. Each answer carries what it was asked of, so
//! the viewer never shows it under another model's or point's name.

use std::sync::Arc;

use burn::tensor::Device;
use glam::Vec3;

use super::SessionError;
use super::jobs::{Cancel, ModelSource, resolve_model};
use crate::data::virtual_subjects::VirtualSubject;
use crate::features::FeatureExtractor;
use crate::features::cache::{FeatureCache, default_root};
use crate::features::preprocess::Rgb8;
use crate::insilico::image_set::{SetItem, SetSpec};
use crate::insilico::localizer::{Peak, peaks, welch_contrast};
use crate::insilico::prf::{
    PreparedProbes, PrfFit, PrfProbes, SimulatorPrf, fit_prf, simulator_prf,
};
use crate::insilico::roi_summary::{RoiSummary, roi_domain, summarise};
use crate::insilico::set_prediction::{GridPoints, SetFeatures, extract_set, predict_set};
use crate::insilico::top_images::{
    Ranking, check_point_in_brain, rank_images, roi_points, sphere_points,
};
use crate::model::Nrf;
use crate::query::{GridPrediction, QueryEngine, Region};
use crate::space::Grid;

/// A model ready for questions.
pub struct AskedModel {
    /// The model, on the viewer's compute device.
    pub model: Nrf,
    /// Its query engine.
    pub engine: Arc<QueryEngine>,
    /// Its features.
    pub extractor: Arc<dyn FeatureExtractor>,
    /// The user's feature cache (`~/.cache/nrf/features`), when it can be opened: sets computed
    /// once are read back in later questions and sessions.
    pub cache: Option<FeatureCache>,
}

impl AskedModel {
    /// The model of `source` on `device`.
    pub fn new(source: ModelSource, device: &Device) -> Result<Self, SessionError> {
        if let ModelSource::Given(given) = &source
            && given.ensemble.is_some()
        {
            // Its first member would answer under the ensemble's name.
            return Err(SessionError::Invalid(format!(
                "{} is an ensemble; the questions are asked of one model (choose a subject, or                  open one of the models it was built from)",
                given.name
            )));
        }
        let (model, extractor) = resolve_model(source, device)?;
        let engine = QueryEngine::new(&model);
        Ok(Self {
            model,
            engine,
            extractor,
            cache: default_root().and_then(|root| FeatureCache::open(root).ok()),
        })
    }

    /// The features of a set (unreadable images skipped and listed); stops once cancelled.
    pub fn set_features(
        &self,
        spec: &SetSpec,
        cancel: &Cancel,
    ) -> Result<SetFeatures, SessionError> {
        Ok(extract_set(
            &spec.label(),
            spec.items()?,
            self.extractor.as_ref(),
            self.cache.as_ref(),
            &mut |_, _| !cancel.is_set(),
        )?)
    }

    fn predict(
        &self,
        set: &SetFeatures,
        points: &[Vec3],
        cancel: &Cancel,
    ) -> Result<crate::insilico::set_prediction::SetPrediction, SessionError> {
        Ok(predict_set(
            &self.model,
            &self.engine,
            set,
            points,
            &mut |_, _| !cancel.is_set(),
        )?)
    }
}

/// Images left out of a set, in words for the status bar (`None` when none were).
fn skipped_note(sets: &[&SetFeatures]) -> Option<String> {
    let names: Vec<&str> = sets
        .iter()
        .flat_map(|s| s.skipped.iter().map(|k| k.name.as_str()))
        .collect();
    (!names.is_empty()).then(|| format!("skipped unreadable images: {}", names.join(", ")))
}

/// A localiser's answer.
pub struct LocalizerAnswer {
    /// Set A and set B, as labelled.
    pub a: String,
    /// Set B.
    pub b: String,
    /// Images in each.
    pub counts: (usize, usize),
    /// Welch's t on the grid, as a volume the views show.
    pub t_map: GridPrediction,
    /// Local maxima (A > B), largest first, with their ROIs.
    pub peaks: Vec<Peak>,
    /// Local minima (B > A).
    pub troughs: Vec<Peak>,
    /// Images that could not be read, in words.
    pub skipped: Option<String>,
}

/// The localiser A − B of `asked` on a grid of `spacing_mm` over its domain.
pub fn localizer(
    asked: &AskedModel,
    a: &SetSpec,
    b: &SetSpec,
    spacing_mm: f64,
    cancel: &Cancel,
) -> Result<LocalizerAnswer, SessionError> {
    let grid = Grid::mni(spacing_mm)?;
    let at = GridPoints::new(&asked.model.domain, &grid, Region::Domain)?;
    let a_set = asked.set_features(a, cancel)?;
    let b_set = asked.set_features(b, cancel)?;
    let map = welch_contrast(
        &asked.predict(&a_set, &at.points, cancel)?,
        &asked.predict(&b_set, &at.points, cancel)?,
    )?;
    let domain = &asked.model.domain;
    Ok(LocalizerAnswer {
        a: a.label(),
        b: b.label(),
        counts: (map.n_a, map.n_b),
        peaks: peaks(&map.t, &at, 1.0, 8, 10.0, domain)?,
        troughs: peaks(&map.t, &at, -1.0, 8, 10.0, domain)?,
        t_map: GridPrediction {
            volume: at.volume(&map.t, 0.0)?,
            inside: at.inside,
            region: at.region,
            on_gpu: None,
        },
        skipped: skipped_note(&[&a_set, &b_set]),
    })
}

/// Where "what drives this point" looks.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// A sphere around a point (MNI mm).
    Sphere {
        /// The centre.
        centre: Vec3,
        /// The radius (mm).
        radius_mm: f32,
    },
    /// An ROI of the model's domain, by name.
    Roi(String),
}

impl Place {
    /// How the place reads in a sentence ("at −40, −52, −18 mm", "in FFA").
    pub fn label(&self) -> String {
        match self {
            Place::Sphere { centre, .. } => {
                format!("at {:.0}, {:.0}, {:.0} mm", centre.x, centre.y, centre.z)
            }
            Place::Roi(name) => format!("in {name}"),
        }
    }
}

/// The images that drive a place most.
pub struct TopAnswer {
    /// Where the prediction was averaged.
    pub place: Place,
    /// The set, as labelled.
    pub set: String,
    /// The ranking.
    pub ranking: Ranking,
    /// The ranked images' items and pixels: `top` then `bottom`, as in `ranking`.
    pub images: Vec<(SetItem, Rgb8)>,
    /// Images that could not be read, in words.
    pub skipped: Option<String>,
}

/// The `k` images of `set` that raise and that lower `asked`'s prediction most at `place` (the
/// mean over a sphere's points on a 2 mm lattice, or over an ROI's voxels).
pub fn top_images(
    asked: &AskedModel,
    set: &SetSpec,
    place: &Place,
    k: usize,
    cancel: &Cancel,
) -> Result<TopAnswer, SessionError> {
    let points = match place {
        Place::Sphere { centre, radius_mm } => {
            check_point_in_brain(*centre)?;
            sphere_points(*centre, *radius_mm, 2.0)
        }
        Place::Roi(name) => roi_points(&asked.model.domain, name)?,
    };
    let features = asked.set_features(set, cancel)?;
    let prediction = asked.predict(&features, &points, cancel)?;
    let ranking = rank_images(&prediction, k)?;
    let images = ranking
        .top
        .iter()
        .chain(&ranking.bottom)
        .map(|r| {
            let item = prediction.items[r.index].clone();
            let rgb = item.load()?;
            Ok((item, rgb))
        })
        .collect::<Result<Vec<_>, SessionError>>()?;
    Ok(TopAnswer {
        place: place.clone(),
        set: set.label(),
        ranking,
        images,
        skipped: skipped_note(&[&features]),
    })
}

/// A model's responses to the pRF probes, and the virtual subject behind it (for the truth's
/// pRF beside the model's), ready for any point.
pub struct ProbedModel {
    /// The probes' queries.
    pub probes: PreparedProbes,
    /// The embedded model's virtual subject, when the model is one.
    pub subject: Option<VirtualSubject>,
}

/// Prepares the pRF probes for `asked` (features through the cache), with the virtual subject
/// `truth_subject` when the model describes one.
pub fn prepare_probes(
    asked: &AskedModel,
    truth_subject: Option<usize>,
) -> Result<ProbedModel, SessionError> {
    let probes = PreparedProbes::new(
        Arc::new(PrfProbes::standard()),
        &asked.model,
        &asked.engine,
        asked.extractor.as_ref(),
        asked.cache.as_ref(),
    )?;
    let subject = truth_subject
        .map(|k| VirtualSubject::new(crate::embedded::SIMULATION_SEED, k))
        .transpose()?;
    Ok(ProbedModel { probes, subject })
}

/// A pRF at one point.
pub struct PrfAnswer {
    /// The point (MNI mm).
    pub point: Vec3,
    /// The model's fitted pRF (`None`: its responses do not vary there).
    pub fit: Option<PrfFit>,
    /// The simulator's own pRF there, on a virtual subject's visual areas.
    pub truth: Option<SimulatorPrf>,
}

/// The pRF of the probed model at `point`.
pub fn prf_at(probed: &ProbedModel, point: Vec3) -> Result<PrfAnswer, SessionError> {
    let responses = probed.probes.responses_at(&[point])?;
    Ok(PrfAnswer {
        point,
        fit: fit_prf(probed.probes.probes(), &responses)?,
        truth: probed
            .subject
            .as_ref()
            .and_then(|subject| simulator_prf(subject, point)),
    })
}

/// The mean prediction of `asked` per ROI of its domain for one image.
pub fn roi_means(asked: &AskedModel, name: &str, image: &Rgb8) -> Result<RoiSummary, SessionError> {
    let domain = roi_domain(&asked.model.domain)?;
    let features = asked.extractor.extract(image)?;
    let query = asked.engine.prepare(&asked.model, &features)?;
    let values = query.query_points(domain.coords_mm())?;
    let prediction = crate::insilico::set_prediction::SetPrediction {
        items: vec![SetItem {
            name: name.to_string(),
            origin: crate::insilico::image_set::ItemOrigin::File(name.into()),
        }],
        points: domain.coords_mm().to_vec(),
        values,
    };
    Ok(summarise(domain, &prediction, false)?)
}
