//! The CLIP vision tower on the CPU without burn's op-by-op execution: the same weights, read
//! once from the burn module into row-major matrices; q, k and v fused into one product; each
//! attention head read and written in place through strided views (no split or merge copies);
//! biases pre-filled into the products' outputs, residuals accumulated into the stream, layer
//! norm and `quick_gelu` in place; matrix products by the `gemm` crate over rayon's threads.
//! burn's [`super::ClipVision::forward`] stays the reference it must match.

use rayon::prelude::*;

use super::{ClipVision, EncoderLayer};
use crate::cpu_gemm::{MatRef, gemm};

/// A layer norm's scale and shift.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn of(norm: &burn::nn::LayerNorm, eps: f64) -> Self {
        Self {
            gamma: values(norm.gamma.val()),
            beta: norm.beta.as_ref().map_or_else(
                || vec![0.0; norm.gamma.dims()[0]],
                |beta| values(beta.val()),
            ),
            eps: eps as f32,
        }
    }

    /// Normalises each `width`-wide row of `rows` into the same row of `out`.
    fn apply(&self, rows: &[f32], out: &mut [f32]) {
        let width = self.gamma.len();
        out.par_chunks_mut(width)
            .zip(rows.par_chunks(width))
            .for_each(|(out, row)| {
                let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / width as f64;
                let var = row
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / width as f64;
                let scale = 1.0 / (var + f64::from(self.eps)).sqrt();
                for ((o, &v), (&g, &b)) in out
                    .iter_mut()
                    .zip(row)
                    .zip(self.gamma.iter().zip(&self.beta))
                {
                    *o = ((f64::from(v) - mean) * scale) as f32 * g + b;
                }
            });
    }
}

/// A dense layer: weight `[in, out]` row-major, bias `[out]`.
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    fn of(linear: &burn::nn::Linear) -> Self {
        Self {
            weight: values(linear.weight.val()),
            bias: linear
                .bias
                .as_ref()
                .map_or_else(|| vec![0.0; linear.weight.dims()[1]], |b| values(b.val())),
        }
    }

    /// `out = input·W + b`, or with `residual` `out += input·W + b`, for `rows` rows: the bias
    /// goes into `out` first and the product accumulates onto it.
    fn apply(&self, input: &[f32], rows: usize, out: &mut [f32], residual: bool) {
        let outputs = self.bias.len();
        let inputs = self.weight.len() / outputs;
        out.par_chunks_mut(outputs).for_each(|row| {
            if residual {
                for (v, b) in row.iter_mut().zip(&self.bias) {
                    *v += b;
                }
            } else {
                row.copy_from_slice(&self.bias);
            }
        });
        gemm(
            out,
            0,
            outputs,
            1.0,
            MatRef::new(input, rows, inputs),
            MatRef::new(&self.weight, inputs, outputs),
            true,
        );
    }
}

/// One transformer layer's weights.
struct Layer {
    norm1: Norm,
    /// `[H, 3H]`: q (scaled by 1/√d), k, v side by side.
    qkv: Dense,
    out: Dense,
    norm2: Norm,
    fc1: Dense,
    fc2: Dense,
}

/// A burn tensor's values.
fn values<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Vec<f32> {
    // The tower's tensors are float32 (the state dict's values), so this cannot fail.
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

impl Layer {
    fn of(layer: &EncoderLayer, hidden: usize, eps: f64) -> Self {
        let head_dim = hidden / layer.heads;
        let scale = (head_dim as f32).powf(-0.5);
        let (q, k, v) = (
            Dense::of(&layer.q_proj),
            Dense::of(&layer.k_proj),
            Dense::of(&layer.v_proj),
        );
        let mut weight = Vec::with_capacity(hidden * hidden * 3);
        for row in 0..hidden {
            let span = row * hidden..(row + 1) * hidden;
            weight.extend(q.weight[span.clone()].iter().map(|w| w * scale));
            weight.extend_from_slice(&k.weight[span.clone()]);
            weight.extend_from_slice(&v.weight[span]);
        }
        let mut bias: Vec<f32> = q.bias.iter().map(|b| b * scale).collect();
        bias.extend(k.bias);
        bias.extend(v.bias);
        Self {
            norm1: Norm::of(&layer.layer_norm1, eps),
            qkv: Dense { weight, bias },
            out: Dense::of(&layer.out_proj),
            norm2: Norm::of(&layer.layer_norm2, eps),
            fc1: Dense::of(&layer.fc1),
            fc2: Dense::of(&layer.fc2),
        }
    }
}

/// The tower's weights on the CPU, for the direct path.
pub struct CpuClip {
    hidden: usize,
    heads: usize,
    patch: usize,
    /// `[3·p·p, H]`.
    patch_weight: Vec<f32>,
    /// `[H]`.
    class: Vec<f32>,
    /// `[T, H]`.
    position: Vec<f32>,
    pre_norm: Norm,
    layers: Vec<Layer>,
    post_norm: Norm,
    /// `[H, projection]`.
    projection: Vec<f32>,
    projection_dim: usize,
}

impl std::fmt::Debug for CpuClip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuClip")
            .field("hidden", &self.hidden)
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// What the direct path outputs for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuClipOutput {
    /// Per selected layer: tokens without the class token, `[B, P², H]` flattened.
    pub layer_tokens: Vec<Vec<f32>>,
    /// `[B, projection]`.
    pub image_embeds: Vec<f32>,
}

impl CpuClip {
    /// The direct path's copy of `vision`'s weights; `None` for `gelu` towers (the direct path
    /// has `quick_gelu`, which OpenAI's CLIP uses; others keep burn's path).
    pub fn from_vision(vision: &ClipVision) -> Option<Self> {
        if vision.layers.iter().any(|l| !l.quick_gelu) {
            return None;
        }
        let [k, hidden] = vision.patch_weight.dims();
        let heads = vision.layers.first().map_or(1, |l| l.heads);
        let projection_dim = vision.visual_projection.dims()[1];
        Some(Self {
            hidden,
            heads,
            patch: ((k / 3) as f64).sqrt().round() as usize,
            patch_weight: values(vision.patch_weight.clone()),
            class: values(vision.class_embedding.clone()),
            position: values(vision.position_embedding.clone()),
            pre_norm: Norm::of(&vision.pre_layrnorm, vision.eps),
            layers: vision
                .layers
                .iter()
                .map(|l| Layer::of(l, hidden, vision.eps))
                .collect(),
            post_norm: Norm::of(&vision.post_layernorm, vision.eps),
            projection: values(vision.visual_projection.clone()),
            projection_dim,
        })
    }

    /// Runs the tower on `batch` preprocessed images, returning the tokens of
    /// `selected_layers` (0-based) and the image embeddings.
    ///
    /// # Shapes
    /// - `pixels`: `[B, 3, S, S]` normalised pixel values, flattened
    pub fn forward(
        &self,
        pixels: &[f32],
        batch: usize,
        selected_layers: &[usize],
    ) -> CpuClipOutput {
        let (h, p) = (self.hidden, self.patch);
        let k = 3 * p * p;
        let size = ((pixels.len() / batch.max(1) / 3) as f64).sqrt().round() as usize;
        let n = size / p;
        let t = n * n + 1;
        let rows = batch * t;
        // Patches in (channel, row, column) order, as the convolution weight is laid out:
        // [B·N², 3·p·p].
        let mut patches = vec![0.0f32; batch * n * n * k];
        patches
            .par_chunks_mut(k)
            .enumerate()
            .for_each(|(index, patch)| {
                let (b, cell) = (index / (n * n), index % (n * n));
                let (row, col) = (cell / n, cell % n);
                for c in 0..3 {
                    for y in 0..p {
                        let from = ((b * 3 + c) * size + row * p + y) * size + col * p;
                        patch[(c * p + y) * p..(c * p + y + 1) * p]
                            .copy_from_slice(&pixels[from..from + p]);
                    }
                }
            });
        // The stream: class token and patch embeddings plus positions, [B·T, H].
        let mut x = vec![0.0f32; rows * h];
        for b in 0..batch {
            let image = &mut x[b * t * h..(b + 1) * t * h];
            image.copy_from_slice(&self.position);
            for (v, c) in image[..h].iter_mut().zip(&self.class) {
                *v += c;
            }
            gemm(
                &mut x,
                (b * t + 1) * h,
                h,
                1.0,
                MatRef::strided(&patches, b * n * n * k, n * n, k, k),
                MatRef::new(&self.patch_weight, k, h),
                true,
            );
        }
        let mut normed = vec![0.0f32; rows * h];
        self.pre_norm.apply(&x, &mut normed);
        std::mem::swap(&mut x, &mut normed); // hidden_states[0]
        let intermediate = self.layers.first().map_or(0, |l| l.fc1.bias.len());
        let mut qkv = vec![0.0f32; rows * 3 * h];
        let mut attended = vec![0.0f32; rows * h];
        let mut hidden = vec![0.0f32; rows * intermediate];
        let mut layer_tokens = vec![Vec::new(); selected_layers.len()];
        for (index, layer) in self.layers.iter().enumerate() {
            // Attention: x += softmax(q·kᵀ)·v · W_o + b_o, per image and head.
            layer.norm1.apply(&x, &mut normed);
            layer.qkv.apply(&normed, rows, &mut qkv, false);
            self.attend(&qkv, &mut attended, t);
            layer.out.apply(&attended, rows, &mut x, true);
            // MLP: x += W₂·quick_gelu(W₁·LN(x) + b₁) + b₂.
            layer.norm2.apply(&x, &mut normed);
            layer.fc1.apply(&normed, rows, &mut hidden, false);
            hidden.par_chunks_mut(4096).for_each(|chunk| {
                for v in chunk {
                    *v /= 1.0 + (-1.702 * *v).exp();
                }
            });
            layer.fc2.apply(&hidden, rows, &mut x, true);
            for (slot, &wanted) in layer_tokens.iter_mut().zip(selected_layers) {
                if wanted == index {
                    // hidden_states[index + 1] without the class token.
                    *slot = (0..batch)
                        .flat_map(|b| x[(b * t + 1) * h..(b + 1) * t * h].iter().copied())
                        .collect();
                }
            }
        }
        for slot in &mut layer_tokens {
            if slot.is_empty() {
                *slot = vec![0.0; batch * (t - 1) * h];
            }
        }
        // image_embeds: the post-normed class token, projected.
        let class_tokens: Vec<f32> = (0..batch)
            .flat_map(|b| x[b * t * h..(b * t + 1) * h].iter().copied())
            .collect();
        let mut pooled = vec![0.0f32; batch * h];
        self.post_norm.apply(&class_tokens, &mut pooled);
        let mut image_embeds = vec![0.0f32; batch * self.projection_dim];
        gemm(
            &mut image_embeds,
            0,
            self.projection_dim,
            0.0,
            MatRef::new(&pooled, batch, h),
            MatRef::new(&self.projection, h, self.projection_dim),
            false,
        );
        CpuClipOutput {
            layer_tokens,
            image_embeds,
        }
    }

    /// `attended[b·T + i, head·d..] = Σⱼ softmax(qᵢ·kⱼ) vⱼ` for every image and head, reading q, k
    /// and v where the fused product left them (`qkv`, `[B·T, 3H]`).
    fn attend(&self, qkv: &[f32], attended: &mut [f32], t: usize) {
        let h = self.hidden;
        let d = h / self.heads;
        attended
            .par_chunks_mut(t * h)
            .enumerate()
            .for_each(|(b, out)| {
                let mut scores = vec![0.0f32; t * t];
                let rows = b * t * 3 * h;
                for head in 0..self.heads {
                    let q = MatRef::strided(qkv, rows + head * d, t, d, 3 * h);
                    let k = MatRef::strided(qkv, rows + h + head * d, t, d, 3 * h);
                    let v = MatRef::strided(qkv, rows + 2 * h + head * d, t, d, 3 * h);
                    gemm(&mut scores, 0, t, 0.0, q, k.t(), false);
                    for row in scores.chunks_mut(t) {
                        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let mut sum = 0.0f32;
                        for s in row.iter_mut() {
                            *s = (*s - max).exp();
                            sum += *s;
                        }
                        for s in row.iter_mut() {
                            *s /= sum;
                        }
                    }
                    gemm(out, head * d, h, 0.0, MatRef::new(&scores, t, t), v, false);
                }
            });
    }
}
