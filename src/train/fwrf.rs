//! The feature-weighted receptive field baseline (fWRF; St-Yves & Naselaris 2018), as the NRF
//! paper compares against it: per voxel, a 2D Gaussian pooling field over the grid of each token
//! map (the same field for every channel) pools the image's feature maps into one vector, and a
//! linear read-out (ridge) maps that vector to the response. The field's centre and size and the
//! ridge penalty are chosen per voxel by the correlation on the validation images, over a grid of
//! candidates; the weights are fitted on the training images only, so the test images stay
//! unread, as for the NRF.
//!
//! Per candidate field the pooled features of all images are one small matrix X (`[images,
//! 2·D]`), so one eigendecomposition of XᵀX serves every voxel and every penalty, as in
//! [`super::ridge`].

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::TrainError;
use super::ridge::{centred_rows, column_stats, standardise};
use super::training_set::TrainingSet;
use crate::cpu_gemm::{MatRef, gemm};
use crate::features::ImageFeatures;

/// How to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FwrfConfig {
    /// Candidate centres per side of the image (an evenly spaced grid over it).
    pub centres_per_side: usize,
    /// Candidate field sizes: the Gaussian's σ as a fraction of the image's side.
    pub sizes: Vec<f32>,
    /// Candidate ridge penalties, relative to the mean eigenvalue of XᵀX (so they suit any
    /// feature scale).
    pub alphas: Vec<f64>,
}

impl Default for FwrfConfig {
    fn default() -> Self {
        Self {
            centres_per_side: 8,
            sizes: vec![0.04, 0.08, 0.16, 0.32, 0.64],
            alphas: (-3..=4).map(|k| 10f64.powi(k)).collect(),
        }
    }
}

/// A Gaussian pooling field over the image, in image fractions (x to the right, y down, the
/// image spanning 0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Field {
    /// Centre, left to right.
    pub x: f32,
    /// Centre, top to bottom.
    pub y: f32,
    /// Standard deviation.
    pub sigma: f32,
}

impl Field {
    /// The field's weights over a `side × side` patch grid (row-major, rows top to bottom),
    /// summing to 1, `[side²]`.
    fn weights(&self, side: usize) -> Vec<f32> {
        let at = |i: usize| (i as f32 + 0.5) / side as f32;
        let mut w: Vec<f32> = (0..side * side)
            .map(|p| {
                let (dx, dy) = (at(p % side) - self.x, at(p / side) - self.y);
                (-(dx * dx + dy * dy) / (2.0 * self.sigma * self.sigma)).exp()
            })
            .collect();
        let total: f32 = w.iter().sum();
        if total > 0.0 {
            w.iter_mut().for_each(|v| *v /= total);
        }
        w
    }
}

/// A fitted fWRF model: each voxel's field, its read-out and how well it validated.
#[derive(Debug, Clone)]
pub struct FwrfModel {
    /// The fields the voxels use, each with the training images' feature mean and scale.
    fields: Vec<FittedField>,
    /// Index into `fields` per voxel.
    voxel_field: Vec<usize>,
    /// Read-out weights on standardised pooled features, `[voxels, 2·D]`.
    weights: Vec<f32>,
    /// Per-voxel intercept (the training images' mean response).
    intercept: Vec<f32>,
    /// Patch grid side and channels per map the model was fitted on.
    side: usize,
    token_dim: usize,
    /// Each voxel's chosen penalty (absolute).
    pub alphas: Vec<f32>,
    /// Each voxel's validation r at its chosen field and penalty.
    pub validation_r: Vec<f32>,
}

/// A field with the standardisation of its pooled features.
#[derive(Debug, Clone)]
struct FittedField {
    field: Field,
    mean: Vec<f32>,
    scale: Vec<f32>,
}

/// Pooled features `[images, 2·D]` of `images` under pooling `weights` `[P²]`: for each map,
/// Σ over patches of weight × token.
fn pool(images: &[&ImageFeatures], weights: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(images.len() * 2 * images.first().map_or(0, |f| f.token_dim));
    for features in images {
        let d = features.token_dim;
        for map in 0..2 {
            let mut pooled = vec![0.0f32; d];
            for (token, &w) in features.token_map(map).chunks_exact(d).zip(weights) {
                pooled.iter_mut().zip(token).for_each(|(p, t)| *p += w * t);
            }
            out.extend(pooled);
        }
    }
    out
}

/// `[a_rows × b_cols]` = a · b, row-major.
fn matmul(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
    let mut c = vec![0.0f32; a.rows() * b.cols()];
    let work = a.rows() * a.cols() * b.cols();
    gemm(&mut c, 0, b.cols(), 0.0, a, b, work >= 1 << 22);
    c
}

/// Eigenvalues `[f]` and eigenvectors `[f, f]` (columns) of a symmetric PSD `[f, f]` matrix.
fn eigh(g: Vec<f32>, f: usize) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
    let device = Device::flex();
    let g = Tensor::<2>::from_data(TensorData::new(g, [f, f]), &device);
    let (u, s, _) = burn::linalg::svd::<2, 1>(g, 64);
    let read = |t: TensorData| {
        t.try_to_vec::<f32>()
            .map_err(|e| TrainError::Readback(format!("{e:?}")))
    };
    Ok((read(s.into_data())?, read(u.into_data())?))
}

/// Per-voxel Pearson r of `predicted` against measurements whose per-voxel centred values and
/// norms are given (`[rows, voxels]` row-major), `NaN` where undefined.
fn correlations(predicted: &[f32], centred: &[f32], norms: &[f64], voxels: usize) -> Vec<f32> {
    let rows = predicted.len() / voxels.max(1);
    let (mut sum, mut square, mut cross) = (
        vec![0.0f64; voxels],
        vec![0.0f64; voxels],
        vec![0.0f64; voxels],
    );
    for (p_row, y_row) in predicted
        .chunks_exact(voxels)
        .zip(centred.chunks_exact(voxels))
    {
        for v in 0..voxels {
            let p = f64::from(p_row[v]);
            sum[v] += p;
            square[v] += p * p;
            cross[v] += p * f64::from(y_row[v]);
        }
    }
    (0..voxels)
        .map(|v| {
            let var = square[v] - sum[v] * sum[v] / rows as f64;
            let denominator = var.max(0.0).sqrt() * norms[v];
            if denominator > 1e-12 {
                (cross[v] / denominator) as f32
            } else {
                f32::NAN
            }
        })
        .collect()
}

/// The best (r, field, penalty) per voxel so far; ties keep the earlier candidate.
#[derive(Debug, Clone)]
struct Best {
    r: Vec<f32>,
    field: Vec<usize>,
    alpha: Vec<usize>,
}

impl Best {
    fn new(voxels: usize) -> Self {
        Self {
            r: vec![f32::NEG_INFINITY; voxels],
            field: vec![0; voxels],
            alpha: vec![0; voxels],
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for v in 0..self.r.len() {
            let earlier = (other.field[v], other.alpha[v]) < (self.field[v], self.alpha[v]);
            if other.r[v] > self.r[v] || (other.r[v] == self.r[v] && earlier) {
                self.r[v] = other.r[v];
                self.field[v] = other.field[v];
                self.alpha[v] = other.alpha[v];
            }
        }
        self
    }
}

/// One candidate field's pooled, standardised training features and their eigenbasis.
struct Candidate {
    mean: Vec<f32>,
    scale: Vec<f32>,
    /// Eigenvalues of XᵀX, `[f]`, and eigenvectors, `[f, f]`.
    lambda: Vec<f32>,
    q: Vec<f32>,
    /// Qᵀ Xᵀ Y (centred), `[f, voxels]`.
    qtxty: Vec<f32>,
    /// The mean eigenvalue (the penalties' unit).
    unit: f64,
}

impl Candidate {
    fn new(
        train: &[&ImageFeatures],
        weights: &[f32],
        centred_y: &[f32],
        voxels: usize,
    ) -> Result<Self, TrainError> {
        let n = train.len();
        let mut x = pool(train, weights);
        let f = x.len() / n.max(1);
        let (mean, scale) = column_stats(&x, f);
        standardise(&mut x, &mean, &scale);
        let xm = MatRef::new(&x, n, f);
        let g = matmul(xm.t(), xm); // [f, f]
        let unit = (0..f).map(|i| f64::from(g[i * f + i])).sum::<f64>() / f.max(1) as f64;
        let (lambda, q) = eigh(g, f)?;
        let xty = matmul(xm.t(), MatRef::new(centred_y, n, voxels)); // [f, voxels]
        let qtxty = matmul(MatRef::new(&q, f, f).t(), MatRef::new(&xty, f, voxels));
        Ok(Self {
            mean,
            scale,
            lambda,
            q,
            qtxty,
            unit: unit.max(1e-12),
        })
    }

    /// Read-out weights `[f]` of voxel `v` at absolute penalty `alpha`: Q (Λ + α)⁻¹ Qᵀ Xᵀ y_v.
    fn weights(&self, v: usize, alpha: f32, voxels: usize) -> Vec<f32> {
        let f = self.lambda.len();
        let scaled: Vec<f32> = (0..f)
            .map(|i| self.qtxty[i * voxels + v] / (self.lambda[i].max(0.0) + alpha))
            .collect();
        (0..f)
            .map(|j| (0..f).map(|i| self.q[j * f + i] * scaled[i]).sum())
            .collect()
    }
}

impl FwrfModel {
    /// Fits on `data`'s training rows, choosing each voxel's field and penalty by the
    /// correlation on its validation rows. `progress(done, total)` follows the candidate fields
    /// and returns `false` to cancel.
    pub fn fit(
        data: &TrainingSet,
        config: &FwrfConfig,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Self, TrainError> {
        let (train_rows, validation_rows) = (&data.train_rows, &data.validation_rows);
        if train_rows.len() < 2 || validation_rows.len() < 2 {
            return Err(TrainError::Invalid(format!(
                "fWRF needs at least 2 training and 2 validation images ({} and {})",
                train_rows.len(),
                validation_rows.len()
            )));
        }
        if config.centres_per_side == 0 || config.sizes.is_empty() || config.alphas.is_empty() {
            return Err(TrainError::Invalid(
                "fWRF needs at least one centre, size and penalty".into(),
            ));
        }
        let first = &data.features[train_rows[0]];
        let side = (first.patches as f64).sqrt().round() as usize;
        if side * side != first.patches {
            return Err(TrainError::Invalid(format!(
                "fWRF pools over a square patch grid; these features have {} patches per map",
                first.patches
            )));
        }
        let voxels = data.voxels();
        let train: Vec<&ImageFeatures> = train_rows.iter().map(|&r| &data.features[r]).collect();
        let validation: Vec<&ImageFeatures> =
            validation_rows.iter().map(|&r| &data.features[r]).collect();
        let (centred_y, mean_y) = centred_rows(&data.responses, train_rows, voxels);
        let (centred_v, _) = centred_rows(&data.responses, validation_rows, voxels);
        let norms: Vec<f64> = (0..voxels)
            .map(|v| {
                centred_v
                    .chunks_exact(voxels)
                    .map(|row| f64::from(row[v]) * f64::from(row[v]))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        let fields = candidate_fields(config);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let cancelled = std::sync::atomic::AtomicBool::new(false);
        let best = fields
            .par_iter()
            .enumerate()
            .map(|(index, field)| -> Result<Best, TrainError> {
                if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(TrainError::Cancelled);
                }
                let weights = field.weights(side);
                let candidate = Candidate::new(&train, &weights, &centred_y, voxels)?;
                let f = candidate.lambda.len();
                let mut xv = pool(&validation, &weights);
                standardise(&mut xv, &candidate.mean, &candidate.scale);
                let z = matmul(
                    MatRef::new(&xv, validation.len(), f),
                    MatRef::new(&candidate.q, f, f),
                ); // [m, f]
                let mut best = Best::new(voxels);
                for (a, relative) in config.alphas.iter().enumerate() {
                    let alpha = (relative * candidate.unit) as f32;
                    let scaled: Vec<f32> = candidate
                        .qtxty
                        .chunks_exact(voxels)
                        .zip(&candidate.lambda)
                        .flat_map(|(row, l)| row.iter().map(move |v| v / (l.max(0.0) + alpha)))
                        .collect();
                    let predicted = matmul(
                        MatRef::new(&z, validation.len(), f),
                        MatRef::new(&scaled, f, voxels),
                    );
                    let r = correlations(&predicted, &centred_v, &norms, voxels);
                    for (v, &r) in r.iter().enumerate() {
                        if r > best.r[v] {
                            best.r[v] = r;
                            best.field[v] = index;
                            best.alpha[v] = a;
                        }
                    }
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if !progress(n, fields.len()) {
                    cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(best)
            })
            .try_reduce(|| Best::new(voxels), |a, b| Ok(a.merge(b)))?;
        // The final read-outs, one candidate at a time for the voxels that chose it (voxels whose
        // r was never defined, constant responses, keep the first candidate).
        let mut used: Vec<usize> = best.field.clone();
        used.sort_unstable();
        used.dedup();
        let f = 2 * first.token_dim;
        let mut model = Self {
            fields: Vec::with_capacity(used.len()),
            voxel_field: vec![0; voxels],
            weights: vec![0.0; voxels * f],
            intercept: mean_y,
            side,
            token_dim: first.token_dim,
            alphas: vec![0.0; voxels],
            validation_r: best
                .r
                .iter()
                .map(|r| if r.is_finite() { *r } else { f32::NAN })
                .collect(),
        };
        for (slot, &index) in used.iter().enumerate() {
            let weights = fields[index].weights(side);
            let candidate = Candidate::new(&train, &weights, &centred_y, voxels)?;
            for v in (0..voxels).filter(|&v| best.field[v] == index) {
                let alpha = (config.alphas[best.alpha[v]] * candidate.unit) as f32;
                model.weights[v * f..(v + 1) * f]
                    .copy_from_slice(&candidate.weights(v, alpha, voxels));
                model.voxel_field[v] = slot;
                model.alphas[v] = alpha;
            }
            model.fields.push(FittedField {
                field: fields[index],
                mean: candidate.mean,
                scale: candidate.scale,
            });
        }
        Ok(model)
    }

    /// Each voxel's pooling field.
    pub fn voxel_fields(&self) -> Vec<Field> {
        self.voxel_field
            .iter()
            .map(|&i| self.fields[i].field)
            .collect()
    }

    /// Predictions `[images, voxels]` for new images.
    pub fn predict(&self, images: &[&ImageFeatures]) -> Result<Vec<f32>, TrainError> {
        if let Some(bad) = images
            .iter()
            .find(|f| f.patches != self.side * self.side || f.token_dim != self.token_dim)
        {
            return Err(TrainError::Invalid(format!(
                "image features of {} patches × {} channels; the fWRF model was fitted on {} × {}",
                bad.patches,
                bad.token_dim,
                self.side * self.side,
                self.token_dim
            )));
        }
        let voxels = self.voxel_field.len();
        let f = 2 * self.token_dim;
        let mut out = vec![0.0f32; images.len() * voxels];
        for (slot, fitted) in self.fields.iter().enumerate() {
            let mut x = pool(images, &fitted.field.weights(self.side));
            standardise(&mut x, &fitted.mean, &fitted.scale);
            for v in (0..voxels).filter(|&v| self.voxel_field[v] == slot) {
                let w = &self.weights[v * f..(v + 1) * f];
                for (i, row) in x.chunks_exact(f).enumerate() {
                    out[i * voxels + v] =
                        self.intercept[v] + row.iter().zip(w).map(|(a, b)| a * b).sum::<f32>();
                }
            }
        }
        Ok(out)
    }
}

/// Every candidate field: centres on an evenly spaced grid over the image, each size.
fn candidate_fields(config: &FwrfConfig) -> Vec<Field> {
    let k = config.centres_per_side;
    let at = |i: usize| (i as f32 + 0.5) / k as f32;
    config
        .sizes
        .iter()
        .flat_map(|&sigma| {
            (0..k * k).map(move |c| Field {
                x: at(c % k),
                y: at(c / k),
                sigma,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    /// Token maps of pseudo-random values on a `side × side` grid, `d` channels.
    fn random_features(images: usize, side: usize, d: usize) -> Vec<ImageFeatures> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        (0..images)
            .map(|_| {
                let tokens = (0..2 * side * side * d).map(|_| next()).collect();
                ImageFeatures::new(tokens, side * side, d, vec![0.0]).expect("features")
            })
            .collect()
    }

    #[test]
    fn recovers_a_voxels_field_and_predicts_held_out_images() {
        let (side, d) = (8, 3);
        let features = random_features(260, side, d);
        // Voxel 0 pools around (0.3, 0.7) with σ 0.1; voxel 1 around (0.8, 0.2) with σ 0.2.
        let truths = [
            Field {
                x: 0.3125,
                y: 0.6875,
                sigma: 0.08,
            },
            Field {
                x: 0.8125,
                y: 0.1875,
                sigma: 0.16,
            },
        ];
        let readouts = [
            [1.0, -0.5, 0.3, 0.0, 0.8, -1.0],
            [0.2, 0.9, -0.7, 0.4, 0.0, 0.5],
        ];
        let responses: Vec<f32> = features
            .iter()
            .flat_map(|f| {
                truths.iter().zip(&readouts).map(move |(field, w)| {
                    let pooled = pool(&[f], &field.weights(side));
                    pooled.iter().zip(w).map(|(p, w)| p * w).sum::<f32>()
                })
            })
            .collect();
        let set = TrainingSet {
            subject: "test".into(),
            extractor_id: "test".into(),
            features,
            responses,
            coordinates: vec![Vec3::ZERO; 2],
            train_rows: (0..200).collect(),
            validation_rows: (200..230).collect(),
            test_rows: (230..260).collect(),
        };
        let model = FwrfModel::fit(&set, &FwrfConfig::default(), &|_, _| true).expect("fit");
        for (got, want) in model.voxel_fields().iter().zip(&truths) {
            assert!(
                (got.x - want.x).abs() < 1e-6 && (got.y - want.y).abs() < 1e-6,
                "{got:?} vs {want:?}"
            );
            assert_eq!(got.sigma, want.sigma, "{got:?} vs {want:?}");
        }
        let held: Vec<&ImageFeatures> = set.test_rows.iter().map(|&r| &set.features[r]).collect();
        let predicted = model.predict(&held).expect("predict");
        let measured = set.rows_of(&set.test_rows);
        for (v, r) in super::super::metrics::pearson_per_voxel(&predicted, &measured, 2)
            .iter()
            .enumerate()
        {
            let r = r.expect("defined");
            assert!(r > 0.99, "voxel {v}: test r {r}");
        }
    }

    #[test]
    fn refuses_what_cannot_be_fitted() {
        let features = random_features(10, 4, 2);
        let mut set = TrainingSet {
            subject: "test".into(),
            extractor_id: "test".into(),
            features,
            responses: vec![0.0; 10],
            coordinates: vec![Vec3::ZERO],
            train_rows: (0..9).collect(),
            validation_rows: vec![9],
            test_rows: Vec::new(),
        };
        let message = FwrfModel::fit(&set, &FwrfConfig::default(), &|_, _| true)
            .expect_err("one validation image")
            .to_string();
        assert!(message.contains("2 validation"), "{message}");
        set.validation_rows = vec![8, 9];
        set.train_rows = (0..8).collect();
        set.features = random_features(10, 3, 2)
            .into_iter()
            .map(|f| {
                ImageFeatures::new(f.tokens[..2 * 8 * 2].to_vec(), 8, 2, vec![0.0]).expect("f")
            })
            .collect();
        let message = FwrfModel::fit(&set, &FwrfConfig::default(), &|_, _| true)
            .expect_err("8 patches")
            .to_string();
        assert!(message.contains("square"), "{message}");
    }
}
