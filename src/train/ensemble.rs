//! Ensembles of fine-tuned models: per voxel, a least-squares combination (with an intercept) of
//! the members' predictions, fitted on the target subject's training images — the idea of the
//! official `voxel_regression.py`. With K members each voxel solves a (K + 1) × (K + 1) system.

use super::TrainError;

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
