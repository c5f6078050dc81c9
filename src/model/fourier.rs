//! Gaussian Fourier features of a point: γ(p) = [sin(p′B), cos(p′B)], with p′ the officially
//! normalised MNI coordinate and B a fixed 3×F matrix (no 2π factor, as in the official code).

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

/// The Fourier encoding; B is a constant of the model, never trained.
#[derive(Module, Debug)]
pub struct FourierFeatures {
    /// `[3, F]`.
    pub b: Tensor<2>,
}

impl FourierFeatures {
    /// From B given row-major `[3, F]`.
    pub fn new(b_row_major: &[f32], device: &Device) -> Self {
        let f = b_row_major.len() / 3;
        Self {
            b: Tensor::from_data(TensorData::new(b_row_major.to_vec(), [3, f]), device),
        }
    }

    /// Number of frequencies F.
    pub fn frequencies(&self) -> usize {
        self.b.dims()[1]
    }

    /// # Shapes
    /// - `normalised`: `[N, 3]` normalised coordinates
    /// - output: `[N, 2F]`, sines then cosines
    pub fn forward(&self, normalised: Tensor<2>) -> Tensor<2> {
        let projected = normalised.matmul(self.b.clone()); // [N, F]
        Tensor::cat(vec![projected.clone().sin(), projected.cos()], 1)
    }
}
