//! The voxel-wise ridge baseline, as voxel-wise encoding tools fit it: the same image features
//! (token maps and global vector, flattened and z-scored per feature), one linear model per
//! voxel, and a penalty α per voxel chosen by k-fold cross-validation over a grid (the α with the
//! best mean correlation across folds).
//!
//! With far more features than images it is solved in the dual: with K = X Xᵀ = Q Λ Qᵀ, the
//! weights of voxel v are c_v = Q (Λ + α_v)⁻¹ Qᵀ y_v and a prediction is K* c_v + ȳ_v, so one
//! eigendecomposition serves every voxel and every α.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::TrainError;
use super::metrics::pearson_per_voxel;
use super::training_set::TrainingSet;
use crate::features::ImageFeatures;

/// How to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeConfig {
    /// Candidate penalties (relative to the mean eigenvalue of K, so they suit any feature
    /// scale).
    pub alphas: Vec<f64>,
    /// Cross-validation folds over the training images.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
}

impl Default for RidgeConfig {
    fn default() -> Self {
        Self {
            alphas: (-3..=4).map(|k| 10f64.powi(k)).collect(),
            folds: 5,
            seed: 0,
        }
    }
}

/// A fitted ridge model.
#[derive(Debug, Clone)]
pub struct RidgeModel {
    /// Per-feature mean and scale of the training images.
    mean: Vec<f32>,
    scale: Vec<f32>,
    /// Standardised training features, `[n, p]`.
    train_x: Tensor<2>,
    /// Dual weights, `[n, voxels]`.
    dual: Tensor<2>,
    /// Per-voxel mean response of the training images.
    mean_y: Vec<f32>,
    /// The α chosen per voxel (absolute).
    pub alphas: Vec<f32>,
    /// The candidate α values (absolute: the config's grid times the mean eigenvalue of K).
    pub alpha_grid: Vec<f32>,
}

/// The flattened features of one image: token maps, then the global vector.
fn flatten(features: &ImageFeatures) -> impl Iterator<Item = f32> + '_ {
    features.tokens.iter().chain(&features.global).copied()
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))
}

/// Eigenvalues `[n]` and eigenvectors `[n, n]` (columns) of a symmetric PSD matrix.
fn eigh(k: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
    let (u, s, _) = burn::linalg::svd::<2, 1>(k, 64);
    (s, u)
}

/// Predictions `[rows, voxels]` from a kernel block `k_star` `[rows, n]` for every voxel's α:
/// `K* Q (Λ + α)⁻¹ Qᵀ Y`, grouped by α.
fn dual_weights(
    q: &Tensor<2>,
    lambda: &[f32],
    qty: &Tensor<2>,
    voxel_alpha: &[usize],
    alphas: &[f32],
    device: &Device,
) -> Tensor<2> {
    let [n, voxels] = qty.dims();
    // Scale row i of Qᵀ Y by 1 / (λ_i + α_v) column by column: build the [n, voxels] factor.
    let factor: Vec<f32> = (0..n)
        .flat_map(|i| {
            voxel_alpha
                .iter()
                .map(move |&a| 1.0 / (lambda[i].max(0.0) + alphas[a]))
        })
        .collect();
    let factor = Tensor::<2>::from_data(TensorData::new(factor, [n, voxels]), device);
    q.clone().matmul(qty.clone() * factor) // [n, voxels]
}

impl RidgeModel {
    /// Fits on `data`'s training rows, choosing α per voxel by cross-validation.
    pub fn fit(
        data: &TrainingSet,
        config: &RidgeConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let rows = &data.train_rows;
        let n = rows.len();
        if n < config.folds.max(2) {
            return Err(TrainError::Invalid(format!(
                "{n} training images; ridge with {}-fold cross-validation needs at least {}",
                config.folds,
                config.folds.max(2)
            )));
        }
        let voxels = data.voxels();
        let p = flatten(&data.features[rows[0]]).count();
        // Standardise features with the training images' statistics.
        let mut standardised: Vec<f32> = rows
            .iter()
            .flat_map(|&r| flatten(&data.features[r]))
            .collect();
        let (mean, scale) = column_stats(&standardised, p);
        standardise(&mut standardised, &mean, &scale);
        let x = Tensor::<2>::from_data(TensorData::new(standardised, [n, p]), device);
        let k_full = x.clone().matmul(x.clone().transpose()); // [n, n]
        let k_values = to_vec(k_full.clone())?;
        let trace = (0..n).map(|i| f64::from(k_values[i * n + i])).sum::<f64>() / n as f64;
        let alphas: Vec<f32> = config.alphas.iter().map(|a| (a * trace) as f32).collect();
        let y = data.rows_of(rows);

        // Cross-validation: mean r per (α, voxel) over folds.
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
        let mut score = vec![0.0f64; alphas.len() * voxels];
        for fold in 0..config.folds {
            let held: Vec<usize> = order
                .iter()
                .copied()
                .skip(fold)
                .step_by(config.folds)
                .collect();
            let kept: Vec<usize> = (0..n).filter(|i| !held.contains(i)).collect();
            let k_values = &k_values;
            let pick = |ids: &[usize], cols: &[usize]| -> Vec<f32> {
                ids.iter()
                    .flat_map(|&i| cols.iter().map(move |&j| k_values[i * n + j]))
                    .collect()
            };
            let m = kept.len();
            let k_tt = Tensor::<2>::from_data(TensorData::new(pick(&kept, &kept), [m, m]), device);
            let k_vt = Tensor::<2>::from_data(
                TensorData::new(pick(&held, &kept), [held.len(), m]),
                device,
            );
            let (lambda, q) = eigh(k_tt);
            let lambda = to_vec(lambda)?;
            let y_t = centred_rows(&y, &kept, voxels);
            let fold_mean = y_t.1;
            let qty = q.clone().transpose().matmul(Tensor::<2>::from_data(
                TensorData::new(y_t.0, [m, voxels]),
                device,
            ));
            let measured: Vec<f32> = held
                .iter()
                .flat_map(|&i| y[i * voxels..(i + 1) * voxels].iter().copied())
                .collect();
            for a in 0..alphas.len() {
                let weights = dual_weights(&q, &lambda, &qty, &vec![a; voxels], &alphas, device);
                let mut predicted = to_vec(k_vt.clone().matmul(weights))?;
                for (i, v) in predicted.iter_mut().enumerate() {
                    *v += fold_mean[i % voxels];
                }
                for (v, r) in pearson_per_voxel(&predicted, &measured, voxels)
                    .iter()
                    .enumerate()
                {
                    score[a * voxels + v] += f64::from(r.unwrap_or(-1.0));
                }
            }
        }
        let voxel_alpha: Vec<usize> = (0..voxels)
            .map(|v| {
                (0..alphas.len())
                    .max_by(|&a, &b| score[a * voxels + v].total_cmp(&score[b * voxels + v]))
                    .unwrap_or(0)
            })
            .collect();

        // Final fit on every training image.
        let (lambda, q) = eigh(k_full);
        let lambda = to_vec(lambda)?;
        let all: Vec<usize> = (0..n).collect();
        let (centred, mean_y) = centred_rows(&y, &all, voxels);
        let qty = q.clone().transpose().matmul(Tensor::<2>::from_data(
            TensorData::new(centred, [n, voxels]),
            device,
        ));
        let dual = dual_weights(&q, &lambda, &qty, &voxel_alpha, &alphas, device);
        Ok(Self {
            mean,
            scale,
            train_x: x,
            dual,
            mean_y,
            alphas: voxel_alpha.iter().map(|&a| alphas[a]).collect(),
            alpha_grid: alphas,
        })
    }

    /// Predictions `[images, voxels]` for new images.
    pub fn predict(&self, images: &[&ImageFeatures]) -> Result<Vec<f32>, TrainError> {
        let p = self.mean.len();
        let device = self.train_x.device();
        let x: Vec<f32> = images
            .iter()
            .flat_map(|f| {
                flatten(f)
                    .zip(self.mean.iter().zip(&self.scale))
                    .map(|(v, (m, s))| (v - m) / s)
            })
            .collect();
        if x.len() != images.len() * p {
            return Err(TrainError::Invalid(format!(
                "image features have {} values, the ridge model was fitted on {p}",
                x.len() / images.len().max(1)
            )));
        }
        let x = Tensor::<2>::from_data(TensorData::new(x, [images.len(), p]), &device);
        let k_star = x.matmul(self.train_x.clone().transpose()); // [images, n]
        let mut out = to_vec(k_star.matmul(self.dual.clone()))?;
        let voxels = self.mean_y.len();
        for (i, v) in out.iter_mut().enumerate() {
            *v += self.mean_y[i % voxels];
        }
        Ok(out)
    }
}

/// Per-column mean and scale (the standard deviation, 1 where a column is constant) of a
/// `[rows, cols]` row-major matrix.
pub(super) fn column_stats(x: &[f32], cols: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = x.len() / cols.max(1);
    let mut sum = vec![0.0f64; cols];
    let mut square = vec![0.0f64; cols];
    for row in x.chunks_exact(cols) {
        for (j, &v) in row.iter().enumerate() {
            sum[j] += f64::from(v);
            square[j] += f64::from(v) * f64::from(v);
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / rows as f64) as f32).collect();
    let scale = square
        .iter()
        .zip(&mean)
        .map(|(s, &m)| {
            let var = s / rows as f64 - f64::from(m) * f64::from(m);
            if var > 1e-12 { var.sqrt() as f32 } else { 1.0 }
        })
        .collect();
    (mean, scale)
}

/// `(x − mean) / scale` per column of a `[rows, cols]` row-major matrix, in place.
pub(super) fn standardise(x: &mut [f32], mean: &[f32], scale: &[f32]) {
    for row in x.chunks_exact_mut(mean.len()) {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(scale) {
            *v = (*v - m) / s;
        }
    }
}

/// The rows `ids` of a `[rows, voxels]` matrix, centred per voxel, and the per-voxel means.
pub(super) fn centred_rows(y: &[f32], ids: &[usize], voxels: usize) -> (Vec<f32>, Vec<f32>) {
    let mut mean = vec![0.0f64; voxels];
    for &i in ids {
        for (v, m) in mean.iter_mut().enumerate() {
            *m += f64::from(y[i * voxels + v]);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / ids.len() as f64) as f32).collect();
    let centred = ids
        .iter()
        .flat_map(|&i| (0..voxels).map(move |v| (i, v)))
        .map(|(i, v)| y[i * voxels + v] - mean[v])
        .collect();
    (centred, mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    /// A training set whose responses are exact linear functions of the features.
    fn linear_set(images: usize) -> TrainingSet {
        let features: Vec<ImageFeatures> = (0..images)
            .map(|i| {
                let t = i as f32;
                let tokens = vec![t.sin(), (1.7 * t).cos(), (0.3 * t).sin(), 0.5];
                ImageFeatures::new(tokens, 1, 2, vec![(2.3 * t).sin()]).unwrap()
            })
            .collect();
        // Voxel 0 = 2·f0 − f2, voxel 1 = f1 + 3·g, voxel 2 = constant.
        let responses = features
            .iter()
            .flat_map(|f| {
                [
                    2.0 * f.tokens[0] - f.tokens[2],
                    f.tokens[1] + 3.0 * f.global[0],
                    1.0,
                ]
            })
            .collect();
        TrainingSet {
            subject: "test".into(),
            extractor_id: "test".into(),
            features,
            responses,
            coordinates: vec![Vec3::ZERO; 3],
            train_rows: (0..images - 10).collect(),
            validation_rows: (images - 10..images).collect(),
            test_rows: Vec::new(),
        }
    }

    #[test]
    fn recovers_linear_responses_and_picks_small_penalties() {
        let set = linear_set(60);
        let device = Device::flex();
        let model = RidgeModel::fit(&set, &RidgeConfig::default(), &device).unwrap();
        let held: Vec<&ImageFeatures> = set
            .validation_rows
            .iter()
            .map(|&r| &set.features[r])
            .collect();
        let predicted = model.predict(&held).unwrap();
        for (k, &row) in set.validation_rows.iter().enumerate() {
            for v in 0..2 {
                let want = set.row(row)[v];
                let got = predicted[k * 3 + v];
                assert!(
                    (got - want).abs() < 0.05,
                    "row {row} voxel {v}: {got} vs {want}"
                );
            }
            // The constant voxel predicts its mean.
            assert!((predicted[k * 3 + 2] - 1.0).abs() < 1e-4);
        }
        // Noise-free linear data: cross-validation picks one of the three weakest penalties.
        for v in 0..2 {
            assert!(model.alphas[v] <= model.alpha_grid[2], "{:?}", model.alphas);
        }
    }

    #[test]
    fn too_few_images_are_refused() {
        let mut set = linear_set(20);
        set.train_rows.truncate(3);
        let message = RidgeModel::fit(&set, &RidgeConfig::default(), &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(message.contains("3 training images"), "{message}");
    }
}
