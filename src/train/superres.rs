//! Super-resolution on virtual subjects: a model trained on 1.8 mm voxels is scored against the
//! noise-free truth at the points of a 0.9 mm grid between the voxels (half-way positions on the
//! subject's voxel lattice), beside trilinear upsampling of a voxel-wise prediction (ridge). An
//! NRF is queried there directly; the voxel-wise model can only interpolate.

use std::collections::{HashMap, HashSet};

use glam::{IVec3, Vec3};
use serde::Serialize;

use super::TrainError;
use super::metrics::{ScoreSummary, pearson_per_voxel, summarise};
use super::ridge::{RidgeConfig, RidgeModel};
use super::training_set::TrainingSet;
use crate::data::dataset::Dataset;
use crate::data::simulate::truth_at;
use crate::data::virtual_subjects::{VirtualSubject, Voxel};
use crate::model::Nrf;
use crate::query::QueryEngine;

/// Points between a subject's voxels, each with the trilinear weights of the voxels around it.
#[derive(Debug, Clone)]
pub struct BetweenVoxels {
    /// MNI positions, mm.
    pub points: Vec<Vec3>,
    /// Per point: (voxel index, weight) of its 2, 4 or 8 surrounding voxels; weights sum to 1.
    pub corners: Vec<Vec<(usize, f32)>>,
}

impl BetweenVoxels {
    /// Every half-way lattice position (not a voxel centre) whose surrounding voxels all exist,
    /// in a fixed order.
    pub fn of(subject: &VirtualSubject, voxels: &[Voxel]) -> Self {
        let at: HashMap<IVec3, usize> = voxels
            .iter()
            .enumerate()
            .map(|(k, v)| (v.index.as_ivec3(), k))
            .collect();
        let mut seen = HashSet::new();
        let mut points = Vec::new();
        let mut corners = Vec::new();
        for voxel in voxels {
            for offset in 1..8 {
                let o = IVec3::new(offset & 1, (offset >> 1) & 1, (offset >> 2) & 1);
                let doubled = voxel.index.as_ivec3() * 2 + o;
                if !seen.insert(doubled) {
                    continue;
                }
                // Per axis, an odd doubled coordinate lies between two lattice positions.
                let axis = |c: i32| -> Vec<i32> {
                    if c % 2 == 0 {
                        vec![c / 2]
                    } else {
                        vec![(c - 1) / 2, (c + 1) / 2]
                    }
                };
                let mut around = Vec::new();
                for x in axis(doubled.x) {
                    for y in axis(doubled.y) {
                        for z in axis(doubled.z) {
                            around.push(at.get(&IVec3::new(x, y, z)).copied());
                        }
                    }
                }
                if around.iter().any(Option::is_none) {
                    continue;
                }
                let weight = 1.0 / around.len() as f32;
                corners.push(around.into_iter().flatten().map(|v| (v, weight)).collect());
                points.push(subject.lattice_to_mni(doubled.as_vec3() * 0.5));
            }
        }
        Self { points, corners }
    }

    /// Trilinear upsampling of voxel values `[images, voxels]` to these points `[images, points]`.
    pub fn interpolate(&self, values: &[f32], voxels: usize) -> Vec<f32> {
        values
            .chunks_exact(voxels.max(1))
            .flat_map(|row| {
                self.corners
                    .iter()
                    .map(move |c| c.iter().map(|&(v, w)| row[v] * w).sum::<f32>())
            })
            .collect()
    }
}

/// Checks that a dataset's voxel positions are the subject's voxels, in order.
pub fn check_voxels(voxels: &[Voxel], coordinates: &[Vec3]) -> Result<(), TrainError> {
    let same = voxels.len() == coordinates.len()
        && voxels
            .iter()
            .zip(coordinates)
            .all(|(v, c)| v.mni.distance(*c) < 1e-3);
    if same {
        Ok(())
    } else {
        Err(TrainError::Invalid(format!(
            "the dataset's {} voxels are not the virtual subject's {} voxels (another ROI, or \
             voxels dropped?): super-resolution scoring needs the full nsdgeneral set",
            coordinates.len(),
            voxels.len()
        )))
    }
}

/// Median r against the truth, per method.
#[derive(Debug, Clone, Serialize)]
pub struct SuperResolutionScores {
    /// Points between voxels scored.
    pub points: usize,
    /// Held-out images.
    pub images: usize,
    /// The NRF queried at the in-between points.
    pub nrf_between: ScoreSummary,
    /// Trilinear upsampling of the voxel-wise baseline's voxel predictions.
    pub baseline_trilinear_between: ScoreSummary,
    /// Trilinear upsampling of the NRF's own predictions at the voxel centres: against
    /// `nrf_between` it tells what querying the continuous function adds; against
    /// `baseline_trilinear_between`, which model is better with the continuity taken away.
    pub nrf_trilinear_between: ScoreSummary,
    /// Trilinear upsampling of the truth itself at the voxel centres: how much any interpolation
    /// must lose between these voxels (1 when the truth is linear between them), the room a
    /// continuous model has to do better than interpolating.
    pub truth_trilinear_between: ScoreSummary,
    /// The NRF at the voxel centres (for reference).
    pub nrf_at_voxels: ScoreSummary,
    /// The baseline at the voxel centres (for reference).
    pub baseline_at_voxels: ScoreSummary,
}

/// Per-point r across images of each method against the truth.
///
/// All arrays are `[images, points]` or `[images, voxels]` row-major.
pub fn score(
    between: &BetweenVoxels,
    voxels: usize,
    truth_between: &[f32],
    truth_at_voxels: &[f32],
    nrf_between: &[f32],
    nrf_at_voxels: &[f32],
    baseline_at_voxels: &[f32],
) -> Result<SuperResolutionScores, TrainError> {
    let points = between.points.len();
    let images = truth_at_voxels.len() / voxels.max(1);
    let summary = |pred: &[f32], truth: &[f32], n: usize| {
        summarise(&pearson_per_voxel(pred, truth, n))
            .ok_or_else(|| TrainError::Invalid("no point has a defined correlation".into()))
    };
    let trilinear = between.interpolate(baseline_at_voxels, voxels);
    let nrf_trilinear = between.interpolate(nrf_at_voxels, voxels);
    Ok(SuperResolutionScores {
        points,
        images,
        nrf_between: summary(nrf_between, truth_between, points)?,
        baseline_trilinear_between: summary(&trilinear, truth_between, points)?,
        nrf_trilinear_between: summary(&nrf_trilinear, truth_between, points)?,
        truth_trilinear_between: summary(
            &between.interpolate(truth_at_voxels, voxels),
            truth_between,
            points,
        )?,
        nrf_at_voxels: summary(nrf_at_voxels, truth_at_voxels, voxels)?,
        baseline_at_voxels: summary(baseline_at_voxels, truth_at_voxels, voxels)?,
    })
}

/// The rows a super-resolution comparison scores: the test rows when the set has them (the
/// model's epoch was chosen on the validation rows), else the validation rows.
pub fn scored_rows(set: &TrainingSet) -> &[usize] {
    if set.test_rows.is_empty() {
        &set.validation_rows
    } else {
        &set.test_rows
    }
}

/// The whole super-resolution comparison on a virtual subject: a ridge baseline fitted on `set`'s
/// training images (seeded folds, on `ridge_device`), then for each held-out image (the test
/// rows when `set` has them, else the validation rows: [`scored_rows`]) the truth, the NRF and
/// the baseline at the voxels and between them, scored with [`score`].
/// `progress(done, total)` is told after each held-out image.
pub fn super_resolution(
    subject: &VirtualSubject,
    model: &Nrf,
    dataset: &Dataset,
    set: &TrainingSet,
    ridge_seed: u64,
    ridge_device: &burn::tensor::Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SuperResolutionScores, TrainError> {
    let voxels = subject.voxels();
    check_voxels(&voxels, &set.coordinates)?;
    let between = BetweenVoxels::of(subject, &voxels);
    let ridge = RidgeModel::fit(
        set,
        &RidgeConfig {
            seed: ridge_seed,
            ..RidgeConfig::default()
        },
        ridge_device,
    )?;
    let rows = scored_rows(set);
    let held: Vec<_> = rows.iter().map(|&r| &set.features[r]).collect();
    let baseline = ridge.predict(&held)?;
    let engine = QueryEngine::new(model);
    // [images, points] and [images, voxels], row-major.
    let (mut truth_between, mut truth_voxels) = (Vec::new(), Vec::new());
    let (mut nrf_between, mut nrf_voxels) = (Vec::new(), Vec::new());
    for (done, &row) in rows.iter().enumerate() {
        let image = dataset.image(row)?;
        truth_between.extend(truth_at(subject, &image, &between.points));
        truth_voxels.extend(truth_at(subject, &image, &set.coordinates));
        let query = engine.prepare(model, &set.features[row])?;
        nrf_between.extend(query.query_points(&between.points)?);
        nrf_voxels.extend(query.query_points(&set.coordinates)?);
        progress(done + 1, rows.len());
    }
    score(
        &between,
        set.voxels(),
        &truth_between,
        &truth_voxels,
        &nrf_between,
        &nrf_voxels,
        &baseline,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::UVec3;

    fn voxel(i: u32, j: u32, k: u32, subject: &VirtualSubject) -> Voxel {
        let index = UVec3::new(i, j, k);
        Voxel {
            mni: subject.lattice_to_mni(index.as_vec3()),
            index,
            area: None,
        }
    }

    /// A 2×2×1 slab of voxels: 4 edge midpoints along x/y, 1 face centre; nothing along z.
    fn slab(subject: &VirtualSubject) -> Vec<Voxel> {
        [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)]
            .iter()
            .map(|&(i, j, k)| voxel(i, j, k, subject))
            .collect()
    }

    #[test]
    fn in_between_points_need_all_their_neighbours_and_interpolate_linearly() {
        let subject = VirtualSubject::new(1, 1).expect("subject");
        let voxels = slab(&subject);
        let between = BetweenVoxels::of(&subject, &voxels);
        assert_eq!(between.points.len(), 5);
        assert!(
            between
                .corners
                .iter()
                .all(|c| { (c.iter().map(|&(_, w)| w).sum::<f32>() - 1.0).abs() < 1e-6 })
        );
        // Values linear in the lattice position interpolate exactly: v = 2i + 3j (one image).
        let values: Vec<f32> = voxels
            .iter()
            .map(|v| 2.0 * v.index.x as f32 + 3.0 * v.index.y as f32)
            .collect();
        let up = between.interpolate(&values, voxels.len());
        let mut got = up.clone();
        got.sort_by(f32::total_cmp);
        assert_eq!(got, vec![1.0, 1.5, 2.5, 3.5, 4.0]);
        // The face centre sits half-way in MNI too (the warp is smooth over 1.8 mm).
        let centre = between.corners.iter().position(|c| c.len() == 4).unwrap();
        let mean = voxels.iter().map(|v| v.mni).sum::<Vec3>() / 4.0;
        assert!(between.points[centre].distance(mean) < 0.05);
    }

    #[test]
    fn the_nrf_upsampled_from_its_voxels_separates_continuity_from_model_quality() {
        let subject = VirtualSubject::new(1, 1).expect("subject");
        let between = BetweenVoxels::of(&subject, &slab(&subject));
        // [3 images, 4 voxels]: a truth that varies by image and voxel.
        let truth_voxels: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32).sin()).collect();
        let truth_between = between.interpolate(&truth_voxels, 4);
        // An NRF exact at the voxels and queried between them exactly as the truth there; a
        // baseline with other values at the voxels.
        let baseline: Vec<f32> = truth_voxels.iter().map(|v| v * v).collect();
        let scores = score(
            &between,
            4,
            &truth_between,
            &truth_voxels,
            &truth_between,
            &truth_voxels,
            &baseline,
        )
        .expect("scores");
        // Upsampling the NRF's voxel values gives exactly what querying it between them gave.
        assert_eq!(
            scores.nrf_trilinear_between.median,
            scores.nrf_between.median
        );
        assert!((scores.nrf_trilinear_between.median - 1.0).abs() < 1e-5);
        // This truth is linear between the voxels: interpolating it loses nothing.
        assert!((scores.truth_trilinear_between.median - 1.0).abs() < 1e-5);
        // With the NRF's voxel values equal to the baseline's, the two upsamplings agree.
        let same = score(
            &between,
            4,
            &truth_between,
            &truth_voxels,
            &truth_between,
            &baseline,
            &baseline,
        )
        .expect("scores");
        assert_eq!(
            same.nrf_trilinear_between.median,
            same.baseline_trilinear_between.median
        );
        assert!(same.nrf_trilinear_between.median < 0.999);
    }

    #[test]
    fn a_dataset_with_other_voxels_is_refused() {
        let subject = VirtualSubject::new(1, 1).expect("subject");
        let voxels = vec![voxel(0, 0, 0, &subject)];
        assert!(check_voxels(&voxels, &[voxels[0].mni]).is_ok());
        let err = check_voxels(&voxels, &[Vec3::ZERO]).unwrap_err();
        assert!(err.to_string().contains("not the virtual subject"), "{err}");
    }
}
