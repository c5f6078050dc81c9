//! Ensembles of fine-tuned models: per voxel, a least-squares combination (with an intercept) of
//! the members' predictions, fitted on the target subject's training images — the idea of the
//! official `voxel_regression.py`. With K members each voxel solves a (K + 1) × (K + 1) system.
//!
//! [`EnsembleModel`] keeps the members with their combination and writes them as one file: a
//! safetensors file whose `nrf` metadata says `format: "nrf-ensemble"`, holding
//! `ensemble.weights` `[voxels, K + 1]` f32, `ensemble.coords_mm` `[voxels, 3]` f32 and each
//! member's complete `.nrf` bytes as `members.{k}` (u8). At a point that is not one of the
//! target's voxels, the nearest voxel's weights apply (within the voxels' reach; beyond it the
//! members are averaged).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use glam::Vec3;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::metrics::{ScoreSummary, pearson_per_voxel, summarise};
use super::trainer::predict_rows;
use super::training_set::TrainingSet;
use crate::error::FileError;
use crate::features::ImageFeatures;
use crate::model::checkpoint::{ENSEMBLE_FORMAT, METADATA_KEY};
use crate::model::domain::VoxelDomain;
use crate::model::official::ModelError;
use crate::model::{ModelInfo, Nrf};
use crate::query::QueryEngine;

/// Per-voxel combination weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    /// Number of members.
    pub members: usize,
    /// `[voxels, members + 1]`: one weight per member, then the intercept.
    pub weights: Vec<f32>,
}

/// Solves the small symmetric system `a x = b` (n × n, row-major) by Gaussian elimination with
/// partial pivoting; `None` when it is singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
        }
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= factor * a[col * n + k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row * n + row];
    }
    Some(x)
}

impl Ensemble {
    /// Fits the weights. `predictions[m]` and `measured` are `[images, voxels]` row-major;
    /// `ridge` (≥ 0) is added to the diagonal of the members' block, which keeps nearly
    /// identical members from producing wild weights.
    pub fn fit(
        predictions: &[Vec<f32>],
        measured: &[f32],
        voxels: usize,
        ridge: f64,
    ) -> Result<Self, TrainError> {
        let members = predictions.len();
        if members == 0 {
            return Err(TrainError::Invalid(
                "an ensemble needs at least one model".into(),
            ));
        }
        if predictions.iter().any(|p| p.len() != measured.len()) || voxels == 0 {
            return Err(TrainError::Invalid(
                "ensemble predictions and measurements differ in size".into(),
            ));
        }
        let images = measured.len() / voxels;
        let n = members + 1;
        if images < n {
            return Err(TrainError::Invalid(format!(
                "{images} images cannot fit {n} ensemble weights per voxel"
            )));
        }
        let mut weights = Vec::with_capacity(voxels * n);
        for v in 0..voxels {
            let row = |i: usize| -> Vec<f64> {
                predictions
                    .iter()
                    .map(|p| f64::from(p[i * voxels + v]))
                    .chain(std::iter::once(1.0))
                    .collect()
            };
            let mut ata = vec![0.0f64; n * n];
            let mut aty = vec![0.0f64; n];
            for i in 0..images {
                let a = row(i);
                let y = f64::from(measured[i * voxels + v]);
                for r in 0..n {
                    aty[r] += a[r] * y;
                    for c in 0..n {
                        ata[r * n + c] += a[r] * a[c];
                    }
                }
            }
            for m in 0..members {
                ata[m * n + m] += ridge;
            }
            // A voxel whose members predict constants falls back to the mean (intercept only).
            let solution = solve(ata, aty.clone(), n).unwrap_or_else(|| {
                let mut only_mean = vec![0.0; n];
                only_mean[members] = aty[members] / images as f64;
                only_mean
            });
            weights.extend(solution.iter().map(|&w| w as f32));
        }
        Ok(Self { members, weights })
    }

    /// The combined prediction `[images, voxels]` from the members' predictions.
    pub fn predict(&self, predictions: &[Vec<f32>], voxels: usize) -> Vec<f32> {
        let n = self.members + 1;
        let len = predictions.first().map_or(0, Vec::len);
        (0..len)
            .map(|k| {
                let v = k % voxels;
                let w = &self.weights[v * n..(v + 1) * n];
                predictions
                    .iter()
                    .zip(w)
                    .map(|(p, w)| p[k] * w)
                    .sum::<f32>()
                    + w[self.members]
            })
            .collect()
    }
}

/// Metadata of an ensemble file.
#[derive(Debug, Serialize, Deserialize)]
struct EnsembleMetadata {
    format: String,
    format_version: u32,
    nrf_version: String,
    members: usize,
    info: ModelInfo,
}

/// Version written into ensemble files; readers refuse newer ones.
pub const ENSEMBLE_FORMAT_VERSION: u32 = 1;

/// Fine-tuned member models and their per-voxel combination on a target subject's voxels.
#[derive(Debug)]
pub struct EnsembleModel {
    /// The members (each fine-tuned on the target).
    pub members: Vec<Nrf>,
    /// Per-voxel weights, in the order of `voxels`.
    pub combination: Ensemble,
    /// The target's voxels the weights belong to.
    pub voxels: VoxelDomain,
    /// Subject, provenance, scores.
    pub info: ModelInfo,
}

fn invalid(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Model(FileError::invalid(path, message).into())
}

impl EnsembleModel {
    /// Fits the combination of `members` on the training rows of `set` (the target subject).
    pub fn fit(members: Vec<Nrf>, set: &TrainingSet, ridge: f64) -> Result<Self, TrainError> {
        let features = members.first().and_then(|m| m.info.features.clone());
        if members.iter().any(|m| m.info.features != features) {
            return Err(TrainError::Invalid(
                "ensemble members were trained on different image features".into(),
            ));
        }
        let predictions = members
            .iter()
            .map(|m| predict_rows(m, set, &set.train_rows))
            .collect::<Result<Vec<_>, _>>()?;
        let measured = set.rows_of(&set.train_rows);
        let combination = Ensemble::fit(&predictions, &measured, set.voxels(), ridge)?;
        let voxels = VoxelDomain::new(set.coordinates.clone(), Vec::new(), None)
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        Ok(Self {
            members,
            combination,
            voxels,
            info: ModelInfo {
                subject: Some(set.subject.clone()),
                features,
                ..ModelInfo::default()
            },
        })
    }

    /// Scores the ensemble on `set`'s validation images (per-voxel Pearson r) and records the
    /// median as its `val_median_r` score.
    pub fn validate(&mut self, set: &TrainingSet) -> Result<ScoreSummary, TrainError> {
        let predicted = self.predict_rows(set, &set.validation_rows)?;
        let measured = set.rows_of(&set.validation_rows);
        let summary = summarise(&pearson_per_voxel(&predicted, &measured, set.voxels()))
            .ok_or_else(|| TrainError::Invalid("no voxel has a defined r".into()))?;
        self.info
            .scores
            .insert("val_median_r".into(), f64::from(summary.median));
        Ok(summary)
    }

    /// Combined predictions `[rows, voxels]` of `set`'s rows at its voxels.
    pub fn predict_rows(&self, set: &TrainingSet, rows: &[usize]) -> Result<Vec<f32>, TrainError> {
        let per_image: Vec<&ImageFeatures> = rows.iter().map(|&r| &set.features[r]).collect();
        self.predict_points(&per_image, &set.coordinates)
    }

    /// Each member's predictions `[images, points]` at any MNI points, in member order.
    pub fn member_predictions(
        &self,
        images: &[&ImageFeatures],
        points: &[Vec3],
    ) -> Result<Vec<Vec<f32>>, TrainError> {
        self.members
            .iter()
            .map(|member| {
                let engine = QueryEngine::new(member);
                let mut values = Vec::with_capacity(images.len() * points.len());
                for features in images {
                    values.extend(engine.prepare(member, features)?.query_points(points)?);
                }
                Ok(values)
            })
            .collect()
    }

    /// Combined predictions `[images, points]` at any MNI points: each point takes the weights of
    /// its nearest target voxel (beyond the voxels' reach, the members' mean).
    pub fn predict_points(
        &self,
        images: &[&ImageFeatures],
        points: &[Vec3],
    ) -> Result<Vec<f32>, TrainError> {
        Ok(self.combine(&self.member_predictions(images, points)?, points))
    }

    /// The combination of members' predictions `[images, points]` (as
    /// [`Self::member_predictions`] gives them) at `points`.
    pub fn combine(&self, members: &[Vec<f32>], points: &[Vec3]) -> Vec<f32> {
        self.combine_with(members, points, true)
    }

    /// [`Self::combine`]; without the `intercept` for members' predictions of a contrast A − B
    /// (or of an image relative to a reference set), where the intercepts of A and B cancel.
    pub fn combine_with(&self, members: &[Vec<f32>], points: &[Vec3], intercept: bool) -> Vec<f32> {
        let k = self.members.len();
        let n = k + 1;
        let mean_weights: Vec<f32> = (0..n)
            .map(|m| if m < k { 1.0 / k as f32 } else { 0.0 })
            .collect();
        let weights: Vec<&[f32]> = points
            .iter()
            .map(|&p| match self.voxels.nearest(p) {
                Some((v, _)) => &self.combination.weights[v * n..(v + 1) * n],
                None => mean_weights.as_slice(),
            })
            .collect();
        let len = members.first().map_or(0, Vec::len);
        let mut out = vec![0.0f32; len];
        for (m, values) in members.iter().enumerate() {
            for (i, (o, v)) in out.iter_mut().zip(values).enumerate() {
                *o += weights[i % points.len().max(1)][m] * v;
            }
        }
        if intercept {
            for (i, o) in out.iter_mut().enumerate() {
                *o += weights[i % points.len().max(1)][k];
            }
        }
        out
    }

    /// How much the members disagree: at each image and point the standard deviation of the
    /// members' predictions (`K − 1` in the denominator; 0 for one member), `[images, points]`
    /// — where an ensemble is uncertain.
    pub fn spread(members: &[Vec<f32>]) -> Vec<f32> {
        let k = members.len();
        let len = members.first().map_or(0, Vec::len);
        if k < 2 {
            return vec![0.0; len];
        }
        (0..len)
            .map(|i| {
                let mean = members.iter().map(|m| f64::from(m[i])).sum::<f64>() / k as f64;
                let var = members
                    .iter()
                    .map(|m| (f64::from(m[i]) - mean).powi(2))
                    .sum::<f64>()
                    / (k - 1) as f64;
                var.sqrt() as f32
            })
            .collect()
    }

    /// Writes the ensemble file, atomically.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let v = self.voxels.coords_mm().len();
        let n = self.members.len() + 1;
        let member_bytes = self
            .members
            .iter()
            .map(|m| m.to_bytes(path))
            .collect::<Result<Vec<_>, ModelError>>()?;
        let weights: Vec<u8> = self
            .combination
            .weights
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let coords: Vec<u8> = self
            .voxels
            .coords_mm()
            .iter()
            .flat_map(|p| p.to_array())
            .flat_map(|c| c.to_le_bytes())
            .collect();
        let mut views = vec![
            (
                "ensemble.weights".to_string(),
                TensorView::new(Dtype::F32, vec![v, n], &weights),
            ),
            (
                "ensemble.coords_mm".to_string(),
                TensorView::new(Dtype::F32, vec![v, 3], &coords),
            ),
        ];
        for (k, bytes) in member_bytes.iter().enumerate() {
            views.push((
                format!("members.{k}"),
                TensorView::new(Dtype::U8, vec![bytes.len()], bytes),
            ));
        }
        let views = views
            .into_iter()
            .map(|(name, view)| {
                view.map(|view| (name.clone(), view))
                    .map_err(|e| invalid(path, format!("tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = EnsembleMetadata {
            format: ENSEMBLE_FORMAT.into(),
            format_version: ENSEMBLE_FORMAT_VERSION,
            nrf_version: env!("CARGO_PKG_VERSION").into(),
            members: self.members.len(),
            info: self.info.clone(),
        };
        let json = serde_json::to_string(&metadata)
            .map_err(|e| invalid(path, format!("cannot encode metadata: {e}")))?;
        let header = HashMap::from([(METADATA_KEY.to_string(), json)]);
        let bytes = safetensors::tensor::serialize(views, Some(header))
            .map_err(|e| invalid(path, format!("cannot encode safetensors: {e}")))?;
        crate::atomic_file::write_atomically(path, |out| out.write_all(&bytes))
            .map_err(|e| TrainError::Model(ModelError::from(e)))
    }

    /// Reads an ensemble file onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TrainError> {
        let bytes = crate::error::read_bytes(path).map_err(ModelError::from)?;
        let json = crate::model::checkpoint::metadata_json(&bytes)
            .ok_or_else(|| invalid(path, "not an nrf ensemble file (no nrf metadata)"))?;
        let meta: EnsembleMetadata = serde_json::from_str(&json)
            .map_err(|e| invalid(path, format!("not an nrf ensemble file: {e}")))?;
        if meta.format != ENSEMBLE_FORMAT || meta.format_version > ENSEMBLE_FORMAT_VERSION {
            return Err(invalid(
                path,
                format!(
                    "format {} version {} is not one this nrf reads ({ENSEMBLE_FORMAT} ≤ {ENSEMBLE_FORMAT_VERSION})",
                    meta.format, meta.format_version
                ),
            ));
        }
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| invalid(path, format!("corrupt tensor data: {e}")))?;
        let f32s = |name: &str, columns: usize| -> Result<Vec<f32>, TrainError> {
            let view = file
                .tensor(name)
                .map_err(|_| invalid(path, format!("tensor {name} is missing")))?;
            if view.dtype() != Dtype::F32 || view.shape().len() != 2 || view.shape()[1] != columns {
                return Err(invalid(
                    path,
                    format!(
                        "tensor {name}: expected f32 [N, {columns}], found {:?} {:?}",
                        view.dtype(),
                        view.shape()
                    ),
                ));
            }
            Ok(view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let k = meta.members;
        if k == 0 {
            return Err(invalid(path, "an ensemble with no members"));
        }
        let weights = f32s("ensemble.weights", k + 1)?;
        let coords = f32s("ensemble.coords_mm", 3)?;
        if weights.len() / (k + 1) != coords.len() / 3 {
            return Err(invalid(
                path,
                format!(
                    "ensemble.weights has {} rows but ensemble.coords_mm has {}",
                    weights.len() / (k + 1),
                    coords.len() / 3
                ),
            ));
        }
        let members = (0..k)
            .map(|m| {
                let name = format!("members.{m}");
                let view = file
                    .tensor(&name)
                    .map_err(|_| invalid(path, format!("tensor {name} is missing")))?;
                let member_path = PathBuf::from(format!("{}#{name}", path.display()));
                Ok(Nrf::from_bytes(&member_path, view.data(), device)?)
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        let voxels = VoxelDomain::new(
            coords.chunks_exact(3).map(Vec3::from_slice).collect(),
            Vec::new(),
            None,
        )
        .map_err(|e| invalid(path, e.to_string()))?;
        Ok(Self {
            members,
            combination: Ensemble {
                members: k,
                weights,
            },
            voxels,
            info: meta.info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_combination_per_voxel() {
        // 6 images × 2 voxels, two members. Voxel 0 = 2·m0 − m1 + 0.5; voxel 1 = m1 + 1.
        let m0: Vec<f32> = (0..12).map(|k| ((k * 7) % 5) as f32).collect();
        let m1: Vec<f32> = (0..12).map(|k| ((k * 3) % 4) as f32 - 1.0).collect();
        let measured: Vec<f32> = (0..12)
            .map(|k| {
                if k % 2 == 0 {
                    2.0 * m0[k] - m1[k] + 0.5
                } else {
                    m1[k] + 1.0
                }
            })
            .collect();
        let ensemble = Ensemble::fit(&[m0.clone(), m1.clone()], &measured, 2, 0.0).unwrap();
        let want = [2.0, -1.0, 0.5, 0.0, 1.0, 1.0];
        for (got, want) in ensemble.weights.iter().zip(want) {
            assert!((got - want).abs() < 1e-4, "{:?}", ensemble.weights);
        }
        let combined = ensemble.predict(&[m0, m1], 2);
        for (got, want) in combined.iter().zip(&measured) {
            assert!((got - want).abs() < 1e-4);
        }
    }

    #[test]
    fn constant_members_fall_back_to_the_mean_and_bad_sizes_are_refused() {
        let constant = vec![1.0f32; 4]; // 4 images × 1 voxel
        let measured = vec![1.0, 2.0, 3.0, 6.0];
        let ensemble = Ensemble::fit(&[constant.clone(), constant], &measured, 1, 0.0).unwrap();
        assert_eq!(ensemble.weights, vec![0.0, 0.0, 3.0]);
        assert!(Ensemble::fit(&[vec![1.0; 3]], &measured, 1, 0.0).is_err());
        assert!(Ensemble::fit(&[], &measured, 1, 0.0).is_err());
    }
}
