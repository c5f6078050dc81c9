//! The NRF's MLP: Linear layers with ReLU between them and a scalar output, with the official
//! `latent_in` skip connections (the MLP input concatenated back before the listed layers).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::NrfConfig;

/// The MLP head of an NRF.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Layers in order; the last outputs one value.
    pub layers: Vec<Linear>,
    /// Layers whose input is `[previous output, MLP input]`.
    pub latent_in: Vec<usize>,
}

impl Mlp {
    /// A randomly initialised MLP of the config's sizes.
    pub fn init(config: &NrfConfig, device: &Device) -> Self {
        Self {
            layers: config
                .layer_shapes()
                .into_iter()
                .map(|(inp, out)| LinearConfig::new(inp, out).init(device))
                .collect(),
            latent_in: config.latent_in.clone(),
        }
    }

    /// # Shapes
    /// - `input`: `[N, latent + 2F]`, the latent then the Fourier encoding
    /// - output: `[N]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<1> {
        let last = self.layers.len() - 1;
        let mut x = input.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            if index > 0 && self.latent_in.contains(&index) {
                x = Tensor::cat(vec![x, input.clone()], 1);
            }
            x = layer.forward(x);
            if index < last {
                x = relu(x);
            }
        }
        x.flatten::<1>(0, 1) // [N, 1] → [N]
    }
}
