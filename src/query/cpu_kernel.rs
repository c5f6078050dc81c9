//! The NRF MLP on the CPU without burn's op-by-op execution: each block of points (a few hundred
//! rows, sized to stay in L2) goes through Fourier features, the layers' matrix products (the
//! `gemm` crate, burn's own CPU kernel), bias and ReLU in place, on its own rayon thread, so
//! queries scale with cores. It reads the same weights and per-image biases as the WGSL kernels
//! ([`MlpBlocks`], [`LayerBiases`]); burn's query stays as the reference it must match
//! (`NRF_CPU_KERNEL=burn` selects it).
//!
//! The first layer's encoding product W_γ·γ is the same for every image of a mean or contrast,
//! so it is computed once per block and each image adds only its own bias.

use glam::Vec3;
use rayon::prelude::*;

use super::LayerBiases;
use super::gpu::MlpBlocks;
use crate::space::normalise_mni;

/// Values per block buffer: a block of points is `CACHE_VALUES / widest` rows (clamped), so its
/// activations stay in a core's L2.
const CACHE_VALUES: usize = 1 << 17;

/// `c[m×n] += a[m×k] · b[k×n]`, all row-major.
///
/// # Panics
/// When a slice is shorter than its shape says (a bug in the caller, never an input).
fn matmul_add(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    crate::cpu_gemm::gemm(
        c,
        0,
        n,
        1.0,
        crate::cpu_gemm::MatRef::new(a, m, k),
        crate::cpu_gemm::MatRef::new(b, k, n),
        false,
    );
}

/// A model's MLP, ready for CPU queries.
pub(crate) struct CpuMlp {
    blocks: MlpBlocks,
    /// Rows per block.
    rows: usize,
}

impl std::fmt::Debug for CpuMlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuMlp")
            .field("layers", &self.blocks.layers.len())
            .field("rows", &self.rows)
            .finish()
    }
}

impl CpuMlp {
    /// Takes the MLP's weights.
    pub(crate) fn new(blocks: MlpBlocks) -> Self {
        let widest = blocks.widest().max(1);
        Self {
            rows: (CACHE_VALUES / widest).clamp(512, 1024),
            blocks,
        }
    }

    /// Σ weight · f(image, point) over `terms` (each image's weight and layer biases) at every
    /// point, `[points]`. `progress(done, total)` after each batch of blocks; `false` cancels
    /// (then `None`).
    pub(crate) fn query(
        &self,
        terms: &[(f32, LayerBiases)],
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Option<Vec<f32>> {
        let mut out = vec![0.0f32; points_mm.len()];
        // Several blocks per thread between progress reports.
        let batch = self.rows * 4 * rayon::current_num_threads().max(1);
        let mut done = 0;
        for (points, values) in points_mm.chunks(batch).zip(out.chunks_mut(batch)) {
            points
                .par_chunks(self.rows)
                .zip(values.par_chunks_mut(self.rows))
                .for_each(|(points, values)| self.block(terms, points, values));
            done += points.len();
            if !progress(done, points_mm.len()) {
                return None;
            }
        }
        Some(out)
    }

    /// One block of points: `values[r] = Σ_t w_t · f_t(points[r])`.
    fn block(&self, terms: &[(f32, LayerBiases)], points: &[Vec3], values: &mut [f32]) {
        let n = points.len();
        let blocks = &self.blocks;
        let f = blocks.frequencies();
        let e = blocks.encoding;
        // γ = [sin(p'B), cos(p'B)], [n, 2F].
        let mut gamma = vec![0.0f32; n * e];
        for (row, p) in gamma.chunks_exact_mut(e).zip(points) {
            let q = normalise_mni(*p);
            for j in 0..f {
                let projected = q.x * blocks.fourier_b[j]
                    + q.y * blocks.fourier_b[f + j]
                    + q.z * blocks.fourier_b[2 * f + j];
                row[j] = projected.sin();
                row[f + j] = projected.cos();
            }
        }
        let Some(first) = blocks.layers.first() else {
            return;
        };
        // The first layer's encoding product, shared by every term: [n, out0].
        let mut first_product = vec![0.0f32; n * first.out];
        if let Some(w) = &first.encoding_weights {
            matmul_add(&mut first_product, &gamma, w, n, e, first.out);
        }
        let last = blocks.layers.len() - 1;
        let mut x: Vec<f32> = Vec::new();
        let mut h: Vec<f32> = Vec::new();
        values.fill(0.0);
        for (weight, biases) in terms {
            for (index, layer) in blocks.layers.iter().enumerate() {
                let bias = &biases[index];
                h.clear();
                if index == 0 {
                    h.extend_from_slice(&first_product);
                    for row in h.chunks_exact_mut(layer.out) {
                        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                    }
                } else {
                    h.extend((0..n).flat_map(|_| bias.iter().copied()));
                    matmul_add(
                        &mut h,
                        &x,
                        &layer.previous_weights,
                        n,
                        layer.previous,
                        layer.out,
                    );
                    if let Some(w) = &layer.encoding_weights {
                        matmul_add(&mut h, &gamma, w, n, e, layer.out);
                    }
                }
                if index < last {
                    h.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                std::mem::swap(&mut x, &mut h);
            }
            // The last layer has one output: x is [n, 1].
            for (v, y) in values.iter_mut().zip(&x) {
                *v += weight * y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_add_accumulates_row_major_products() {
        // [2×3] · [3×2] added to ones.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [1.0; 4];
        matmul_add(&mut c, &a, &b, 2, 3, 2);
        assert_eq!(c, [5.0, 6.0, 11.0, 12.0]);
    }
}
