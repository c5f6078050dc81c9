//! The official NRF loss: 0.9·MSE − 0.1·(mean over images of the cosine similarity between the
//! predicted and measured responses across that image's voxels).

use burn::tensor::Tensor;

/// Weight of the mean squared error.
pub const MSE_WEIGHT: f32 = 0.9;
/// Weight of the (subtracted) mean cosine similarity.
pub const COSINE_WEIGHT: f32 = 0.1;
/// PyTorch's `cosine_similarity` guard against zero norms.
const COSINE_EPS: f32 = 1e-8;

/// # Shapes
/// - `prediction`, `target`: `[images, voxels]`
/// - output: `[1]`
pub fn official_loss(prediction: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let mse = (prediction.clone() - target.clone()).square().mean(); // [1]
    // torch.nn.functional.cosine_similarity along the voxel axis:
    // x·y / max(‖x‖·‖y‖, eps), here with each norm guarded as PyTorch ≥ 1.12 does.
    let dot = (prediction.clone() * target.clone()).sum_dim(1); // [images, 1]
    let norm_p = prediction.square().sum_dim(1).sqrt().clamp_min(COSINE_EPS);
    let norm_t = target.square().sum_dim(1).sqrt().clamp_min(COSINE_EPS);
    let cosine = (dot / (norm_p * norm_t)).mean(); // [1]
    mse * MSE_WEIGHT - cosine * COSINE_WEIGHT
}
