//! Sizes of an NRF, as the official `experiment_config.yaml` names them.

use burn::config::Config;

/// Everything that fixes an NRF's shapes. Defaults are the official release's (CLIP ViT-B/16
/// features, 8 layers of width 4096), except where a field has no default.
#[derive(Config, Debug, PartialEq)]
pub struct NrfConfig {
    /// Values per token of the two token maps (`early_feat_input_dim`; 768 for ViT-B/16).
    #[config(default = 768)]
    pub token_dim: usize,
    /// Patches per side of the token grid (`num_patches`; 14 for 224 px / 16 px patches).
    #[config(default = 14)]
    pub patches_per_side: usize,
    /// Width each token is projected to before flattening (fixed at 128 in the official code).
    #[config(default = 128)]
    pub token_proj_dim: usize,
    /// Output of each token map's fuse layer (`downsample_dim`); the merged vector has twice this.
    #[config(default = 512)]
    pub merged_dim: usize,
    /// Length of the global image embedding (`higher_feat_input_dim`; 512 for ViT-B/16).
    #[config(default = 512)]
    pub global_dim: usize,
    /// Fourier frequencies F (`num_features`); the encoding has 2F values.
    #[config(default = 32)]
    pub fourier_features: usize,
    /// Standard deviation the Fourier matrix B was drawn with (`std`; kept as provenance).
    #[config(default = 32.0)]
    pub fourier_scale: f64,
    /// Linear layers in the MLP (`num_layers`), the scalar output layer included.
    #[config(default = 8)]
    pub num_layers: usize,
    /// Width of the hidden layers (`hidden_layer_dim`).
    #[config(default = 4096)]
    pub hidden: usize,
    /// Layers before which the MLP input is concatenated back (`latent_in`).
    #[config(default = "Vec::new()")]
    pub latent_in: Vec<usize>,
}

impl NrfConfig {
    /// Tokens per map (P²).
    pub fn patches(&self) -> usize {
        self.patches_per_side * self.patches_per_side
    }

    /// Length of the image latent: merged token maps (2·merged_dim) then the global embedding.
    pub fn latent_dim(&self) -> usize {
        2 * self.merged_dim + self.global_dim
    }

    /// Length of the Fourier encoding of a point (2F).
    pub fn encoding_dim(&self) -> usize {
        2 * self.fourier_features
    }

    /// Length of the MLP input: latent then encoding.
    pub fn input_dim(&self) -> usize {
        self.latent_dim() + self.encoding_dim()
    }

    /// `(in, out)` of each MLP layer, following the official `NRF_Encoder`: a layer that is
    /// followed by a `latent_in` layer outputs `hidden − input_dim` values, so that the
    /// concatenation with the input is `hidden` wide again.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let input = self.input_dim();
        let mut dims = vec![input];
        dims.extend(std::iter::repeat_n(
            self.hidden,
            self.num_layers.saturating_sub(1),
        ));
        dims.push(1);
        (0..self.num_layers)
            .map(|layer| {
                let out = if self.latent_in.contains(&(layer + 1)) {
                    dims[layer + 1].saturating_sub(input)
                } else {
                    dims[layer + 1]
                };
                (dims[layer], out)
            })
            .collect()
    }

    /// Checks that the sizes make a model: every size positive, `latent_in` layers inside the MLP
    /// (and not the first), and hidden layers wider than the input they are concatenated with.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            ("token_dim", self.token_dim),
            ("patches_per_side", self.patches_per_side),
            ("token_proj_dim", self.token_proj_dim),
            ("merged_dim", self.merged_dim),
            ("fourier_features", self.fourier_features),
            ("hidden", self.hidden),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if self.num_layers < 2 {
            return Err(format!("num_layers = {}: need at least 2", self.num_layers));
        }
        for &layer in &self.latent_in {
            if layer == 0 || layer >= self.num_layers {
                return Err(format!(
                    "latent_in layer {layer} must lie between 1 and {}",
                    self.num_layers - 1
                ));
            }
            if self.hidden <= self.input_dim() {
                return Err(format!(
                    "latent_in needs hidden ({}) wider than the input ({})",
                    self.hidden,
                    self.input_dim()
                ));
            }
        }
        Ok(())
    }

    /// Multiply-adds to answer one point once the image's share of the inputs is known:
    /// N·(2F·H + (L−2)·H² + H) for a plain MLP (DESIGN.md), counted exactly from the layers.
    pub fn query_macs_per_point(&self) -> u64 {
        let latent = self.latent_dim();
        self.layer_shapes()
            .iter()
            .enumerate()
            .map(|(layer, &(inp, out))| {
                let takes_input = layer == 0 || self.latent_in.contains(&layer);
                let per_point_in = if takes_input { inp - latent } else { inp };
                (per_point_in * out) as u64
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_shapes() {
        let config = NrfConfig::new();
        assert_eq!(config.input_dim(), 1536 + 64);
        let shapes = config.layer_shapes();
        assert_eq!(shapes.len(), 8);
        assert_eq!(shapes[0], (1600, 4096));
        assert_eq!(shapes[7], (4096, 1));
        // 2F·H + (L−2)·H² + H
        assert_eq!(
            config.query_macs_per_point(),
            64 * 4096 + 6 * 4096 * 4096 + 4096
        );
    }

    #[test]
    fn latent_in_narrows_the_layer_before() {
        let config = NrfConfig::new()
            .with_hidden(2048)
            .with_num_layers(4)
            .with_latent_in(vec![2]);
        config.validate().expect("valid");
        let shapes = config.layer_shapes();
        assert_eq!(shapes[1], (2048, 2048 - 1600));
        assert_eq!(shapes[2], (2048, 2048));
        assert!(NrfConfig::new().with_latent_in(vec![0]).validate().is_err());
    }
}
