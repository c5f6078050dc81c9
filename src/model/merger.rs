//! The feature merger of the official release: each token map is projected token by token
//! (Linear D→128), flattened, and fused (Linear P²·128 → d); the two results are concatenated
//! and L2-normalised (no tanh, as in the official forward).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::NrfConfig;

/// Merges two token maps into one unit-length vector of 2·d values.
#[derive(Module, Debug)]
pub struct FeatureMerger {
    /// Per-token projection of the first token map.
    pub lin1: Linear,
    /// Per-token projection of the second token map.
    pub lin2: Linear,
    /// Fuses the flattened first map.
    pub fuse1: Linear,
    /// Fuses the flattened second map.
    pub fuse2: Linear,
}

impl FeatureMerger {
    /// A randomly initialised merger of the config's sizes.
    pub fn init(config: &NrfConfig, device: &Device) -> Self {
        let project = LinearConfig::new(config.token_dim, config.token_proj_dim);
        let fuse = LinearConfig::new(config.patches() * config.token_proj_dim, config.merged_dim);
        Self {
            lin1: project.init(device),
            lin2: project.init(device),
            fuse1: fuse.init(device),
            fuse2: fuse.init(device),
        }
    }

    /// # Shapes
    /// - `first`, `second`: `[B, P², D]` token maps
    /// - output: `[B, 2d]`, each row of unit L2 norm
    pub fn forward(&self, first: Tensor<3>, second: Tensor<3>) -> Tensor<2> {
        let a = self
            .fuse1
            .forward(self.lin1.forward(first).flatten::<2>(1, 2)); // [B, d]
        let b = self
            .fuse2
            .forward(self.lin2.forward(second).flatten::<2>(1, 2)); // [B, d]
        let merged = Tensor::cat(vec![a, b], 1); // [B, 2d]
        // F.normalize: x / max(‖x‖, 1e-12).
        let norm = merged.clone().square().sum_dim(1).sqrt().clamp_min(1e-12); // [B, 1]
        merged / norm
    }
}
