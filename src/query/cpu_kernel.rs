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

    /// Every query of `queries` (each a list of weighted terms, as [`Self::query`] takes) at the
    /// same points, `[queries × points]` row-major. Each block of points goes through the Fourier
    /// features and the first layer's encoding product once for all the queries: for a set of
    /// images that is most of a small model's work. With fewer blocks than threads the queries
    /// are split between threads too (each such task encodes its block itself). `progress(done,
    /// total)` counts points; `false` cancels (then `None`).
    pub(crate) fn query_each(
        &self,
        queries: &[&[(f32, LayerBiases)]],
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Option<Vec<f32>> {
        let n = points_mm.len();
        let mut out = vec![0.0f32; queries.len() * n];
        if queries.is_empty() {
            return Some(out);
        }
        let threads = rayon::current_num_threads().max(1);
        let batch = self.rows * 4 * threads;
        let mut done = 0;
        for (batch_index, points) in points_mm.chunks(batch).enumerate() {
            let start = batch_index * batch;
            let blocks = points.len().div_ceil(self.rows);
            let groups = threads.div_ceil(blocks).clamp(1, queries.len());
            let group_size = queries.len().div_ceil(groups);
            // (block, first query of its group, values [group, block rows]).
            let tasks: Vec<(usize, usize)> = (0..blocks)
                .flat_map(|b| (0..queries.len()).step_by(group_size).map(move |q| (b, q)))
                .collect();
            let results: Vec<(usize, usize, Vec<f32>)> = tasks
                .into_par_iter()
                .map(|(b, q0)| {
                    let rows = &points[b * self.rows..((b + 1) * self.rows).min(points.len())];
                    let group = &queries[q0..(q0 + group_size).min(queries.len())];
                    let encoded = self.encode(rows);
                    let mut values = vec![0.0f32; group.len() * rows.len()];
                    let mut scratch = Scratch::default();
                    for (terms, values) in group.iter().zip(values.chunks_exact_mut(rows.len())) {
                        self.accumulate(terms, &encoded, values, &mut scratch);
                    }
                    (b, q0, values)
                })
                .collect();
            for (b, q0, values) in results {
                let block_start = start + b * self.rows;
                let rows = self.rows.min(n - block_start);
                for (i, row) in values.chunks_exact(rows).enumerate() {
                    let at = (q0 + i) * n + block_start;
                    out[at..at + rows].copy_from_slice(row);
                }
            }
            done += points.len();
            if !progress(done, n) {
                return None;
            }
        }
        Some(out)
    }

    /// One block of points: `values[r] = Σ_t w_t · f_t(points[r])`.
    fn block(&self, terms: &[(f32, LayerBiases)], points: &[Vec3], values: &mut [f32]) {
        let encoded = self.encode(points);
        self.accumulate(terms, &encoded, values, &mut Scratch::default());
    }

    /// What every image shares at a block of points: the Fourier features and the first
    /// layer's encoding product.
    fn encode(&self, points: &[Vec3]) -> Encoded {
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
        // The first layer's encoding product, [n, out0].
        let mut first_product = Vec::new();
        if let Some(first) = blocks.layers.first() {
            first_product = vec![0.0f32; n * first.out];
            if let Some(w) = &first.encoding_weights {
                matmul_add(&mut first_product, &gamma, w, n, e, first.out);
            }
        }
        Encoded {
            rows: n,
            gamma,
            first_product,
        }
    }

    /// `values[r] = Σ_t w_t · f_t(point r)` over a block already encoded.
    fn accumulate(
        &self,
        terms: &[(f32, LayerBiases)],
        encoded: &Encoded,
        values: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let n = encoded.rows;
        let blocks = &self.blocks;
        let e = blocks.encoding;
        values.fill(0.0);
        let Some(last) = blocks.layers.len().checked_sub(1) else {
            return;
        };
        let Scratch { x, h } = scratch;
        for (weight, biases) in terms {
            for (index, layer) in blocks.layers.iter().enumerate() {
                let bias = &biases[index];
                h.clear();
                if index == 0 {
                    h.extend_from_slice(&encoded.first_product);
                    for row in h.chunks_exact_mut(layer.out) {
                        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                    }
                } else {
                    h.resize(n * layer.out, 0.0);
                    for row in h.chunks_exact_mut(layer.out) {
                        row.copy_from_slice(bias);
                    }
                    matmul_add(h, x, &layer.previous_weights, n, layer.previous, layer.out);
                    if let Some(w) = &layer.encoding_weights {
                        matmul_add(h, &encoded.gamma, w, n, e, layer.out);
                    }
                }
                if index < last {
                    h.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                std::mem::swap(x, h);
            }
            // The last layer has one output: x is [n, 1].
            for (v, y) in values.iter_mut().zip(x.iter()) {
                *v += weight * y;
            }
        }
    }
}

/// A block of points as every image sees it ([`CpuMlp::encode`]).
struct Encoded {
    /// Points in the block.
    rows: usize,
    /// Fourier features, `[rows, 2F]`.
    gamma: Vec<f32>,
    /// The first layer's encoding product W_γ·γ, `[rows, out0]`.
    first_product: Vec<f32>,
}

/// Activation buffers reused between the images of a block.
#[derive(Default)]
struct Scratch {
    /// The previous layer's output.
    x: Vec<f32>,
    /// The layer being computed.
    h: Vec<f32>,
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
