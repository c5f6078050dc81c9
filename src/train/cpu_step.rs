//! The training step's MLP on the CPU without burn's op-by-op autodiff: forward and backward of
//! every image's sampled points through `gemm` products (`cpu_gemm.rs`, the door the query path
//! and the CLIP tower share), each bias pre-filled into its product's output and ReLU applied in
//! place, the official loss and its gradient written out by hand. The layers that take the MLP
//! input are factorised as in queries: the image's latent share W_latent·latent is one row per
//! image, its gradient accumulated once per image (Σ over the image's points, then one product),
//! and the Fourier features are constants (B is never trained). Fixed groups of images run in
//! parallel, their gradients summed in group order, so results do not depend on the thread count.
//!
//! burn's autodiff remains the reference it must match (`NRF_CPU_KERNEL=burn` selects it) and
//! still runs the merger: the latent's gradient computed here is handed back to it
//! ([`super::trainer::loss_and_gradients`]).

use rayon::prelude::*;

use super::loss::{COSINE_WEIGHT, MSE_WEIGHT};
use crate::cpu_gemm::{MatRef, gemm};

/// PyTorch's `cosine_similarity` guard against zero norms (as in [`super::loss`]).
const COSINE_EPS: f32 = 1e-8;

/// One linear layer's weights as the step reads them.
#[derive(Debug, Clone)]
pub(crate) struct LayerWeights {
    /// `[inputs, out]` row-major (burn's layout); inputs are `[previous, latent, γ]` for the
    /// layers that take the MLP input (previous only for `latent_in` layers), else `[previous]`.
    pub weight: Vec<f32>,
    /// `[out]` (zeros for a layer without bias).
    pub bias: Vec<f32>,
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub out: usize,
    /// Whether it takes the MLP input `[latent, γ]` (the first and `latent_in` layers).
    pub takes_input: bool,
}

impl LayerWeights {
    /// Rows of the weight that multiply the previous layer's output.
    fn previous(&self, latent: usize, encoding: usize) -> usize {
        if self.takes_input {
            self.inputs - latent - encoding
        } else {
            self.inputs
        }
    }
}

/// The MLP and the Fourier matrix, for a step.
#[derive(Debug, Clone)]
pub(crate) struct StepMlp {
    /// Layers in order; the last has one output.
    pub layers: Vec<LayerWeights>,
    /// Fourier matrix B, `[3, F]` row-major.
    pub fourier_b: Vec<f32>,
    /// Latent size L.
    pub latent: usize,
}

/// What a step computes: the loss, every layer's gradients and the latent's.
#[derive(Debug, Clone)]
pub(crate) struct StepGradients {
    /// The official loss of the batch.
    pub loss: f32,
    /// Per layer, `[inputs, out]` row-major.
    pub weight: Vec<Vec<f32>>,
    /// Per layer, `[out]`.
    pub bias: Vec<Vec<f32>>,
    /// dLoss/dLatent, `[B, L]`.
    pub latent: Vec<f32>,
}

/// Gradient values (parameters × groups of images) up to which a batch's groups of images run in
/// parallel, each into its own gradient buffers summed in group order afterwards (256 MB of
/// float32); larger
/// models take the images one after another with each product split across threads. Either
/// way the summation order depends on the sizes only, never on the thread count.
const PER_IMAGE_GRADIENT_VALUES: usize = 1 << 26;

/// Images per group when groups run in parallel (fixed, so the sums do not depend on the thread
/// count).
const IMAGES_PER_GROUP: usize = 4;

/// `c (m×n, row stride ldc) = alpha·c + a·b`, split across threads when `parallel` and large
/// enough to pay.
fn product(c: &mut [f32], ldc: usize, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, parallel: bool) {
    let work = a.rows() * a.cols() * b.cols();
    gemm(c, 0, ldc, alpha, a, b, parallel && work >= 1 << 20);
}

impl StepMlp {
    /// Fourier features γ = [sin(p·B), cos(p·B)] of normalised points `[n, 3]`, `[n, 2F]`.
    fn encode(&self, points: &[f32]) -> Vec<f32> {
        let f = self.fourier_b.len() / 3;
        let b = &self.fourier_b;
        let mut gamma = vec![0.0f32; points.len() / 3 * 2 * f];
        gamma
            .par_chunks_mut(2 * f * 256)
            .zip(points.par_chunks(3 * 256))
            .for_each(|(rows, points)| {
                for (row, p) in rows.chunks_exact_mut(2 * f).zip(points.chunks_exact(3)) {
                    for j in 0..f {
                        let projected = p[0] * b[j] + p[1] * b[f + j] + p[2] * b[2 * f + j];
                        row[j] = projected.sin();
                        row[f + j] = projected.cos();
                    }
                }
            });
        gamma
    }

    /// The official loss of a batch and its gradients.
    ///
    /// # Shapes
    /// - `latent`: `[B, L]`
    /// - `normalised`: `[B, N, 3]` normalised coordinates, each image its own points
    /// - `targets`: `[B, N]`
    pub(crate) fn loss_and_gradients(
        &self,
        latent: &[f32],
        normalised: &[f32],
        targets: &[f32],
        images: usize,
    ) -> StepGradients {
        let parameters: usize = self.layers.iter().map(|w| w.weight.len() + w.out).sum();
        let groups = images.div_ceil(IMAGES_PER_GROUP);
        let in_groups = parameters.saturating_mul(groups) <= PER_IMAGE_GRADIENT_VALUES;
        self.loss_and_gradients_by(latent, normalised, targets, images, in_groups)
    }

    /// [`Self::loss_and_gradients`], with groups of images in parallel (`in_groups`) or the images
    /// one after another with each product split across threads.
    fn loss_and_gradients_by(
        &self,
        latent: &[f32],
        normalised: &[f32],
        targets: &[f32],
        images: usize,
        in_groups: bool,
    ) -> StepGradients {
        let l = self.latent;
        let n = targets.len() / images.max(1);
        let inputs = |image: usize| ImageInputs {
            latent: &latent[image * l..(image + 1) * l],
            normalised: &normalised[image * n * 3..(image + 1) * n * 3],
            targets: &targets[image * n..(image + 1) * n],
        };
        let mut grads = self.zero_gradients(images);
        let mut loss = 0.0f64;
        if in_groups {
            // Fixed groups of images in parallel, each group's images one after another into
            // the group's own buffers (activations reused within a thread), the groups summed in
            // order.
            let starts: Vec<usize> = (0..images).step_by(IMAGES_PER_GROUP).collect();
            let per_group: Vec<(f64, StepGradients)> = starts
                .into_par_iter()
                .map_init(Scratch::default, |scratch, start| {
                    let end = (start + IMAGES_PER_GROUP).min(images);
                    let mut own = self.zero_gradients(end - start);
                    let mut group_loss = 0.0;
                    for image in start..end {
                        group_loss += self.image_step(
                            inputs(image),
                            images,
                            (&mut own, image - start),
                            false,
                            scratch,
                        );
                    }
                    (group_loss, own)
                })
                .collect();
            let mut row = 0;
            for (group_loss, own) in per_group {
                loss += group_loss;
                for (sum, part) in grads.weight.iter_mut().zip(&own.weight) {
                    sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
                }
                for (sum, part) in grads.bias.iter_mut().zip(&own.bias) {
                    sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
                }
                grads.latent[row..row + own.latent.len()].copy_from_slice(&own.latent);
                row += own.latent.len();
            }
        } else {
            // Images one after another, the products within an image split across threads.
            let mut scratch = Scratch::default();
            for image in 0..images {
                loss += self.image_step(
                    inputs(image),
                    images,
                    (&mut grads, image),
                    true,
                    &mut scratch,
                );
            }
        }
        grads.loss = loss as f32;
        grads
    }

    /// Zero gradients for `images` images' latents.
    fn zero_gradients(&self, images: usize) -> StepGradients {
        StepGradients {
            loss: 0.0,
            weight: self
                .layers
                .iter()
                .map(|layer| vec![0.0; layer.weight.len()])
                .collect(),
            bias: self
                .layers
                .iter()
                .map(|layer| vec![0.0; layer.out])
                .collect(),
            latent: vec![0.0; images * self.latent],
        }
    }

    /// One image's share of the loss (returned) and of the gradients (added to `grads.0`, its
    /// latent's at row `grads.1`); `parallel` splits the products across threads; `scratch`
    /// holds the activations between images.
    fn image_step(
        &self,
        ImageInputs {
            latent,
            normalised,
            targets,
        }: ImageInputs<'_>,
        images: usize,
        (grads, image): (&mut StepGradients, usize),
        parallel: bool,
        scratch: &mut Scratch,
    ) -> f64 {
        let n = targets.len();
        let l = self.latent;
        let gamma = self.encode(normalised); // [n, E]
        let e = gamma.len() / n.max(1);
        let last = self.layers.len() - 1;
        // Forward: each layer's output after ReLU (the last: the prediction), [n, out].
        let mut outputs = std::mem::take(&mut scratch.outputs);
        outputs.resize_with(self.layers.len(), Vec::new);
        for (index, layer) in self.layers.iter().enumerate() {
            let previous = layer.previous(l, e);
            // Bias, plus the image's latent share for layers taking the input: one row.
            let mut row = layer.bias.clone();
            if layer.takes_input {
                let rows = MatRef::new(latent, 1, l);
                let w =
                    MatRef::strided(&layer.weight, previous * layer.out, l, layer.out, layer.out);
                product(&mut row, layer.out, 1.0, rows, w, parallel);
            }
            let mut h = std::mem::take(&mut outputs[index]);
            h.clear();
            for _ in 0..n {
                h.extend_from_slice(&row);
            }
            if previous > 0 {
                let x = &outputs[index - 1];
                let w = MatRef::new(&layer.weight[..previous * layer.out], previous, layer.out);
                product(
                    &mut h,
                    layer.out,
                    1.0,
                    MatRef::new(x, n, previous),
                    w,
                    parallel,
                );
            }
            if layer.takes_input {
                let w = MatRef::strided(
                    &layer.weight,
                    (previous + l) * layer.out,
                    e,
                    layer.out,
                    layer.out,
                );
                product(
                    &mut h,
                    layer.out,
                    1.0,
                    MatRef::new(&gamma, n, e),
                    w,
                    parallel,
                );
            }
            if index < last {
                h.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            outputs[index] = h;
        }
        let prediction = &outputs[last]; // [n, 1]

        // The official loss: 0.9·mean((y − t)²) over the batch − 0.1·mean over images of cos.
        let total = (images * n) as f64;
        let (mut squared, mut dot, mut yy, mut tt) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (&y, &t) in prediction.iter().zip(targets) {
            let (y, t) = (f64::from(y), f64::from(t));
            squared += (y - t) * (y - t);
            dot += y * t;
            yy += y * y;
            tt += t * t;
        }
        let eps = f64::from(COSINE_EPS);
        let (norm_y, norm_t) = (yy.sqrt(), tt.sqrt());
        let (guarded_y, guarded_t) = (norm_y.max(eps), norm_t.max(eps));
        let cosine = dot / (guarded_y * guarded_t);
        let loss = f64::from(MSE_WEIGHT) * squared / total
            - f64::from(COSINE_WEIGHT) * cosine / images as f64;
        // dLoss/dy.
        let mse_scale = 2.0 * f64::from(MSE_WEIGHT) / total;
        let cos_scale = f64::from(COSINE_WEIGHT) / images as f64;
        // d cos / d y_i = t_i / (|y| |t|) − dot · y_i / (|y|³ |t|) (the second only while |y|
        // is above the guard, where the clamp passes the gradient).
        let along_t = 1.0 / (guarded_y * guarded_t);
        let along_y = if norm_y > eps {
            dot / (norm_y * norm_y * norm_y * guarded_t)
        } else {
            0.0
        };
        let mut g = std::mem::take(&mut scratch.g); // [n, out_last]
        g.clear();
        g.extend(prediction.iter().zip(targets).map(|(&y, &t)| {
            let (y, t) = (f64::from(y), f64::from(t));
            (mse_scale * (y - t) - cos_scale * (t * along_t - y * along_y)) as f32
        }));
        let mut before = std::mem::take(&mut scratch.before);

        // Backward, last layer first; `g` is dLoss/d(pre-activation) of `index`.
        for index in (0..=last).rev() {
            let layer = &self.layers[index];
            let previous = layer.previous(l, e);
            let out = layer.out;
            let grad_w = &mut grads.weight[index];
            // Bias and, for layers taking the input, the latent: through Σ over points of g.
            let mut column_sums = vec![0.0f32; out];
            for row in g.chunks_exact(out) {
                column_sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            grads.bias[index]
                .iter_mut()
                .zip(&column_sums)
                .for_each(|(b, s)| *b += s);
            if layer.takes_input {
                // dW_latent[L, out] += latentᵀ · Σg; dLatent[L] += W_latent · Σg.
                let sums = MatRef::new(&column_sums, 1, out);
                gemm(
                    grad_w,
                    previous * out,
                    out,
                    1.0,
                    MatRef::new(latent, 1, l).t(),
                    sums,
                    false,
                );
                let w_latent = MatRef::strided(&layer.weight, previous * out, l, out, out);
                gemm(
                    &mut grads.latent,
                    image * l,
                    l,
                    1.0,
                    sums,
                    w_latent.t(),
                    false,
                );
                // dW_γ[E, out] += γᵀ · g.
                let gamma_t = MatRef::new(&gamma, n, e).t();
                let work = n * e * out;
                gemm(
                    grad_w,
                    (previous + l) * out,
                    out,
                    1.0,
                    gamma_t,
                    MatRef::new(&g, n, out),
                    parallel && work >= 1 << 20,
                );
            }
            if previous == 0 {
                continue;
            }
            let x = &outputs[index - 1]; // [n, previous]
            // dW_previous[previous, out] += xᵀ · g.
            let work = n * previous * out;
            gemm(
                grad_w,
                0,
                out,
                1.0,
                MatRef::new(x, n, previous).t(),
                MatRef::new(&g, n, out),
                parallel && work >= 1 << 20,
            );
            // dLoss/d(pre-activation of the layer before) = g · W_previousᵀ where it was > 0.
            before.clear();
            before.resize(n * previous, 0.0);
            let w = MatRef::new(&layer.weight[..previous * out], previous, out);
            product(
                &mut before,
                previous,
                0.0,
                MatRef::new(&g, n, out),
                w.t(),
                parallel,
            );
            before
                .iter_mut()
                .zip(x)
                .for_each(|(d, &h)| *d = if h > 0.0 { *d } else { 0.0 });
            std::mem::swap(&mut g, &mut before);
        }
        *scratch = Scratch { outputs, g, before };
        loss
    }
}

/// One image's share of a batch's inputs.
struct ImageInputs<'a> {
    /// `[L]`.
    latent: &'a [f32],
    /// `[N, 3]` normalised coordinates.
    normalised: &'a [f32],
    /// `[N]`.
    targets: &'a [f32],
}

/// Buffers one thread reuses from image to image (fresh allocations of this size are fresh
/// pages from the kernel every time: a fifth of a step went to page faults).
#[derive(Debug, Default)]
struct Scratch {
    /// Each layer's output, `[n, out]`.
    outputs: Vec<Vec<f32>>,
    /// The gradient flowing back, and the one being computed.
    g: Vec<f32>,
    before: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(len: usize, f: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * f).sin() * 0.5).collect()
    }

    /// A random MLP taking [latent (4), γ (2·3)]: widths 16, 16, 1, `latent_in` at layer 1.
    fn mlp() -> StepMlp {
        let (l, e) = (4, 6);
        let shapes = [(l + e, 16, true), (16 + l + e, 16, true), (16, 1, false)];
        StepMlp {
            layers: shapes
                .iter()
                .enumerate()
                .map(|(k, &(inputs, out, takes_input))| LayerWeights {
                    weight: wave(inputs * out, 0.37 + k as f32),
                    bias: wave(out, 1.3 + k as f32),
                    inputs,
                    out,
                    takes_input,
                })
                .collect(),
            fourier_b: wave(9, 2.1),
            latent: l,
        }
    }

    /// Groups of images in parallel and images one after another give the same loss and
    /// gradients (to summation order), each the same on one thread as on many.
    #[test]
    fn both_orders_agree_on_any_thread_count() {
        let (images, n) = (9, 33);
        let mlp = mlp();
        let latent = wave(images * 4, 0.7);
        let points = wave(images * n * 3, 1.9);
        let targets = wave(images * n, 0.23);
        let run =
            |in_groups| mlp.loss_and_gradients_by(&latent, &points, &targets, images, in_groups);
        let one_thread = |in_groups| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("pool")
                .install(|| run(in_groups))
        };
        let (grouped, sequential) = (run(true), run(false));
        for (want, got) in [
            (&grouped, one_thread(true)),
            (&sequential, one_thread(false)),
        ] {
            assert_eq!(want.loss, got.loss);
            assert_eq!(want.weight, got.weight);
            assert_eq!(want.latent, got.latent);
        }
        assert!((grouped.loss - sequential.loss).abs() <= 1e-6 * sequential.loss.abs().max(1.0));
        let pairs = grouped
            .weight
            .iter()
            .chain(&grouped.bias)
            .chain(std::iter::once(&grouped.latent))
            .zip(
                sequential
                    .weight
                    .iter()
                    .chain(&sequential.bias)
                    .chain(std::iter::once(&sequential.latent)),
            );
        for (a, b) in pairs {
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
            let gap = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                gap <= 1e-5 * scale,
                "grouped vs sequential: {gap} of {scale}"
            );
        }
    }
}
