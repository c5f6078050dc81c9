//! The NRF model: Fourier features of the point, the feature merger of the image, and the MLP
//! that maps `[latent, γ(point)]` to a response, as in the official release (see DESIGN.md,
//! "The key maths"); with the model's metadata and domain.

pub mod checkpoint;
pub mod config;
pub mod domain;
pub mod fourier;
pub mod merger;
pub mod mlp;
pub mod official;
pub mod weights;

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use config::NrfConfig;
pub use domain::{Domain, Roi, VoxelDomain};
pub use fourier::FourierFeatures;
pub use merger::FeatureMerger;
pub use mlp::Mlp;

use crate::features::ImageFeatures;
use crate::space::normalise_mni;

/// The network: Fourier features, merger and MLP, on one device.
#[derive(Module, Debug)]
pub struct NrfNet {
    /// γ(p).
    pub fourier: FourierFeatures,
    /// Token maps → merged vector.
    pub merger: FeatureMerger,
    /// `[latent, γ]` → response.
    pub mlp: Mlp,
}

impl NrfNet {
    /// A randomly initialised network with the given Fourier matrix (`[3, F]` row-major).
    pub fn init(config: &NrfConfig, b_row_major: &[f32], device: &Device) -> Self {
        Self {
            fourier: FourierFeatures::new(b_row_major, device),
            merger: FeatureMerger::init(config, device),
            mlp: Mlp::init(config, device),
        }
    }

    /// Image latents: merged token maps, then the global embedding.
    ///
    /// # Shapes
    /// - `tokens`: `[B, 2, P², D]`
    /// - `global`: `[B, G]`
    /// - output: `[B, 2d + G]`
    pub fn latent(&self, tokens: Tensor<4>, global: Tensor<2>) -> Tensor<2> {
        let [b, _, p, d] = tokens.dims();
        let first = tokens
            .clone()
            .slice([0..b, 0..1, 0..p, 0..d])
            .reshape([b, p, d]);
        let second = tokens.slice([0..b, 1..2, 0..p, 0..d]).reshape([b, p, d]);
        let merged = self.merger.forward(first, second); // [B, 2d]
        Tensor::cat(vec![merged, global], 1)
    }

    /// The training forward pass: each image with its own sample of points (as the official
    /// trainer samples voxels per image).
    ///
    /// # Shapes
    /// - `latent`: `[B, L]`
    /// - `normalised`: `[B, N, 3]` normalised coordinates
    /// - output: `[B, N]`
    pub fn forward_sampled(&self, latent: Tensor<2>, normalised: Tensor<3>) -> Tensor<2> {
        let [b, n, _] = normalised.dims();
        let l = latent.dims()[1];
        let gamma = self.fourier.forward(normalised.reshape([b * n, 3])); // [B·N, 2F]
        let latent = latent
            .unsqueeze_dim::<3>(1)
            .expand([b, n, l])
            .reshape([b * n, l]);
        self.mlp
            .forward(Tensor::cat(vec![latent, gamma], 1)) // [B·N]
            .reshape([b, n])
    }

    /// The official forward pass, unfactorised: every point of every image through the whole MLP.
    ///
    /// # Shapes
    /// - `latent`: `[B, L]`
    /// - `normalised`: `[N, 3]` normalised coordinates
    /// - output: `[B, N]`
    pub fn forward(&self, latent: Tensor<2>, normalised: Tensor<2>) -> Tensor<2> {
        let [b, l] = latent.dims();
        let [n, _] = normalised.dims();
        let gamma = self.fourier.forward(normalised); // [N, 2F]
        let e = gamma.dims()[1];
        let latent = latent
            .unsqueeze_dim::<3>(1)
            .expand([b, n, l])
            .reshape([b * n, l]);
        let gamma = gamma
            .unsqueeze_dim::<3>(0)
            .expand([b, n, e])
            .reshape([b * n, e]);
        let input = Tensor::cat(vec![latent, gamma], 1); // [B·N, L + 2F]
        self.mlp.forward(input).reshape([b, n])
    }
}

/// What a model expects of its image features, so that a mismatch is caught before querying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Extractor id, e.g. `clip:openai/clip-vit-base-patch16:layers=3,6` or `builtin`.
    pub extractor: String,
}

/// Metadata that travels with a model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Extractor the model was trained with (`None` = not recorded).
    pub features: Option<FeatureSpec>,
    /// Subject the model describes (e.g. `subj01`, `virtual-3`).
    pub subject: Option<String>,
    /// How the model was made: a sentence, e.g. "converted from the official run folder …".
    pub provenance: String,
    /// Scores measured on held-out data, by name (e.g. `val_median_r`).
    pub scores: BTreeMap<String, f64>,
    /// Free-form record of how it was trained (config, seed, data), for traceability.
    pub training: Option<serde_json::Value>,
}

/// A complete model: sizes, network, metadata and domain. Cloning shares the weights' storage.
#[derive(Debug, Clone)]
pub struct Nrf {
    /// Sizes.
    pub config: NrfConfig,
    /// Weights, on some device.
    pub net: NrfNet,
    /// Provenance, features, subject, scores.
    pub info: ModelInfo,
    /// Where its answers mean something.
    pub domain: Domain,
    /// Where it was loaded from, if anywhere.
    pub source: Option<PathBuf>,
}

/// Errors from using a model with inputs that do not fit it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    /// Features of the wrong size.
    #[error(
        "image features do not fit this model: got {got}, the model expects {expected} (were they made with the extractor the model was trained with?)"
    )]
    Features {
        /// What was given.
        got: String,
        /// What the model needs.
        expected: String,
    },
    /// A point with a NaN or infinite coordinate.
    #[error("point {index} has a NaN or infinite coordinate")]
    NonFinitePoint {
        /// Position in the list.
        index: usize,
    },
    /// The compute device failed to hand results back.
    #[error("reading results back from the compute device failed: {0}")]
    Readback(String),
    /// Two images' queries that cannot be contrasted.
    #[error("cannot contrast these images: {0}")]
    Contrast(String),
}

impl Nrf {
    /// Checks features against the model's sizes.
    pub fn check_features(&self, features: &ImageFeatures) -> Result<(), InputError> {
        self.check_feature_sizes(features.patches, features.token_dim, features.global_dim())
    }

    /// Checks an extractor's output sizes against the model's, before any image is read (a CLIP
    /// folder of another size than the model was trained with).
    pub fn check_extractor(
        &self,
        extractor: &dyn crate::features::FeatureExtractor,
    ) -> Result<(), InputError> {
        self.check_feature_sizes(
            extractor.patches(),
            extractor.token_dim(),
            extractor.global_dim(),
        )
    }

    /// Checks feature sizes (tokens per map, values per token, length of the global vector)
    /// against the model's.
    pub fn check_feature_sizes(
        &self,
        patches: usize,
        token_dim: usize,
        global_dim: usize,
    ) -> Result<(), InputError> {
        let c = &self.config;
        if patches != c.patches() || token_dim != c.token_dim || global_dim != c.global_dim {
            return Err(InputError::Features {
                got: format!(
                    "2 × {patches} tokens × {token_dim} and a global vector of {global_dim}"
                ),
                expected: format!(
                    "2 × {} tokens × {} and a global vector of {}",
                    c.patches(),
                    c.token_dim,
                    c.global_dim
                ),
            });
        }
        Ok(())
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.net.fourier.b.device()
    }

    /// The same model with its weights on `device` (copied there; shared when already there).
    pub fn on_device(&self, device: &Device) -> Nrf {
        if &self.device() == device {
            return self.clone();
        }
        self.with_net(self.net.clone().to_device(device))
    }

    /// The same model with other weights (sizes, metadata and domain copied).
    pub fn with_net(&self, net: NrfNet) -> Nrf {
        Nrf {
            config: self.config.clone(),
            net,
            info: self.info.clone(),
            domain: self.domain.clone(),
            source: self.source.clone(),
        }
    }

    /// Image latents `[B, 2d + G]` for a batch of images.
    pub fn latents(&self, images: &[ImageFeatures]) -> Result<Tensor<2>, InputError> {
        for features in images {
            self.check_features(features)?;
        }
        let refs: Vec<&ImageFeatures> = images.iter().collect();
        let (tokens, global) = feature_tensors(&refs, &self.config, &self.device());
        Ok(self.net.latent(tokens, global))
    }

    /// Reference prediction through the unfactorised official forward pass: `[images][points]`.
    /// Use [`crate::query`] for speed; this is what it must match.
    pub fn predict_reference(
        &self,
        images: &[ImageFeatures],
        points_mm: &[glam::Vec3],
    ) -> Result<Vec<Vec<f32>>, InputError> {
        let normalised = normalised_points(points_mm, &self.device())?;
        let latent = self.latents(images)?;
        let values = self.net.forward(latent, normalised);
        let n = points_mm.len();
        let flat = values
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| InputError::Readback(format!("{e:?}")))?;
        Ok(flat.chunks(n.max(1)).map(<[f32]>::to_vec).collect())
    }
}

/// The token maps `[B, 2, P², D]` and global vectors `[B, G]` of images whose sizes were checked.
pub fn feature_tensors(
    images: &[&ImageFeatures],
    config: &NrfConfig,
    device: &Device,
) -> (Tensor<4>, Tensor<2>) {
    let tokens: Vec<f32> = images
        .iter()
        .flat_map(|f| f.tokens.iter().copied())
        .collect();
    let global: Vec<f32> = images
        .iter()
        .flat_map(|f| f.global.iter().copied())
        .collect();
    let b = images.len();
    (
        Tensor::from_data(
            TensorData::new(tokens, [b, 2, config.patches(), config.token_dim]),
            device,
        ),
        Tensor::from_data(TensorData::new(global, [b, config.global_dim]), device),
    )
}

/// Normalised coordinates `[N, 3]` of MNI points, refusing NaN.
pub fn normalised_points(
    points_mm: &[glam::Vec3],
    device: &Device,
) -> Result<Tensor<2>, InputError> {
    if let Some(index) = points_mm.iter().position(|p| !p.is_finite()) {
        return Err(InputError::NonFinitePoint { index });
    }
    let flat: Vec<f32> = points_mm
        .iter()
        .flat_map(|&p| normalise_mni(p).to_array())
        .collect();
    Ok(Tensor::from_data(
        TensorData::new(flat, [points_mm.len(), 3]),
        device,
    ))
}
