//! Image features: what an NRF reads from an image.
//!
//! The paper feeds two token maps of a frozen CLIP ViT (layers 3 and 6, class token dropped) and
//! the projected image embedding. Any extractor that produces the same shapes works.

pub mod builtin;
pub mod cache;
pub mod clip;
pub mod decode;
pub(crate) mod filters;
pub(crate) mod jpeg;
pub mod preprocess;

use burn::tensor::{Device, Tensor, TensorData};
use thiserror::Error;

use clip::{ClipError, ClipFolder};
use preprocess::Rgb8;

/// Features of one image: two token maps of `patches` tokens × `token_dim` each, and a global
/// vector of `global_dim` values.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFeatures {
    /// Both token maps, map-major: `[2, patches, token_dim]` flattened.
    pub tokens: Vec<f32>,
    /// Tokens per map (P² for a P×P patch grid).
    pub patches: usize,
    /// Values per token.
    pub token_dim: usize,
    /// Global embedding, `[global_dim]`.
    pub global: Vec<f32>,
}

/// Features whose sizes do not fit together or do not fit a model.
#[derive(Debug, Error, PartialEq)]
pub enum FeatureShapeError {
    /// The token buffer length is not 2 × patches × token_dim.
    #[error("token maps hold {len} values, expected 2 × {patches} × {token_dim}")]
    TokenLength {
        /// Values given.
        len: usize,
        /// Tokens per map.
        patches: usize,
        /// Values per token.
        token_dim: usize,
    },
    /// A value is NaN or infinite.
    #[error("image features contain NaN or infinite values")]
    NotFinite,
}

impl ImageFeatures {
    /// Features from a `[2, patches, token_dim]` token buffer and a global vector.
    pub fn new(
        tokens: Vec<f32>,
        patches: usize,
        token_dim: usize,
        global: Vec<f32>,
    ) -> Result<Self, FeatureShapeError> {
        if tokens.len() != 2 * patches * token_dim {
            return Err(FeatureShapeError::TokenLength {
                len: tokens.len(),
                patches,
                token_dim,
            });
        }
        if !tokens.iter().chain(&global).all(|v| v.is_finite()) {
            return Err(FeatureShapeError::NotFinite);
        }
        Ok(Self {
            tokens,
            patches,
            token_dim,
            global,
        })
    }

    /// Length of the global vector.
    pub fn global_dim(&self) -> usize {
        self.global.len()
    }

    /// One token map (`which` = 0 or 1), `[patches, token_dim]` flattened.
    pub fn token_map(&self, which: usize) -> &[f32] {
        let len = self.patches * self.token_dim;
        &self.tokens[which * len..(which + 1) * len]
    }
}

/// Reads features precomputed in Python: token maps `(images, 2, P², D)` and global embeddings
/// `(images, G)`, both float32 (or float64) `.npy`.
pub fn read_features_npy(
    tokens_path: &std::path::Path,
    global_path: &std::path::Path,
) -> Result<Vec<ImageFeatures>, crate::npy::NpyError> {
    let tokens = crate::npy::read_f32(tokens_path)?;
    tokens.expect_shape(tokens_path, "token maps", &[None, Some(2), None, None])?;
    let global = crate::npy::read_f32(global_path)?;
    global.expect_shape(
        global_path,
        "global embeddings",
        &[Some(tokens.shape[0]), None],
    )?;
    let (images, patches, dim, g) = (
        tokens.shape[0],
        tokens.shape[2],
        tokens.shape[3],
        global.shape[1],
    );
    let per = 2 * patches * dim;
    (0..images)
        .map(|i| {
            ImageFeatures::new(
                tokens.data[i * per..(i + 1) * per].to_vec(),
                patches,
                dim,
                global.data[i * g..(i + 1) * g].to_vec(),
            )
            .map_err(|e| {
                crate::error::FileError::Invalid {
                    path: tokens_path.to_path_buf(),
                    message: format!("image {i} (with {}): {e}", global_path.display()),
                }
                .into()
            })
        })
        .collect()
}

/// Errors from extracting features.
#[derive(Debug, Error)]
pub enum FeatureError {
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] preprocess::ImageError),
    /// The CLIP folder could not be used.
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// The device failed to return results.
    #[error("reading features back from the compute device failed: {0}")]
    Readback(String),
    /// A model names an extractor this build cannot compute.
    #[error(
        "the model expects features from {0:?}, which this nrf cannot compute; give precomputed features instead"
    )]
    UnknownExtractor(String),
    /// A CLIP model needs the CLIP weights, which are not bundled.
    #[error(
        "the model was trained on CLIP features ({0}); give a local Hugging Face CLIP folder (--clip FOLDER)"
    )]
    ClipFolderNeeded(String),
}

/// The CLIP layers an extractor id names (`clip:NAME:layers=3,6`); 3 and 6 when it names none.
pub fn clip_layers(extractor_id: &str) -> Result<[usize; 2], FeatureError> {
    let Some(list) = extractor_id.split("layers=").nth(1) else {
        return Ok([3, 6]);
    };
    let layers: Vec<usize> = list
        .split(',')
        .map(|v| v.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| FeatureError::UnknownExtractor(extractor_id.into()))?;
    match layers[..] {
        [a, b] => Ok([a, b]),
        _ => Err(FeatureError::UnknownExtractor(extractor_id.into())),
    }
}

/// The extractor a model was trained with, from the id it records: the built-in one, or CLIP
/// from `clip_folder` (required for CLIP ids; an absent id is taken as official CLIP, layers 3, 6).
pub fn extractor_for(
    extractor_id: Option<&str>,
    clip_folder: Option<&std::path::Path>,
    device: &Device,
) -> Result<Box<dyn FeatureExtractor>, FeatureError> {
    let id = extractor_id.unwrap_or("clip:unrecorded:layers=3,6");
    if id == builtin::BuiltinExtractor.id() {
        return Ok(Box::new(builtin::BuiltinExtractor));
    }
    if !id.starts_with("clip:") {
        return Err(FeatureError::UnknownExtractor(id.into()));
    }
    let folder = clip_folder.ok_or_else(|| FeatureError::ClipFolderNeeded(id.into()))?;
    Ok(Box::new(ClipExtractor::open(
        folder,
        clip_layers(id)?,
        device,
    )?))
}

/// Anything that turns an image into [`ImageFeatures`] of fixed sizes.
pub trait FeatureExtractor: Send + Sync {
    /// Identifies the extractor and its settings, e.g. `clip:clip-vit-base-patch16:layers=3,6`;
    /// stored in models and feature caches.
    fn id(&self) -> String;
    /// Tokens per map.
    fn patches(&self) -> usize;
    /// Values per token.
    fn token_dim(&self) -> usize;
    /// Length of the global vector.
    fn global_dim(&self) -> usize;
    /// Features of one image.
    fn extract(&self, image: &Rgb8) -> Result<ImageFeatures, FeatureError>;
}

/// CLIP features as the paper uses them: the token maps of two layers and `image_embeds`.
#[derive(Debug)]
pub struct ClipExtractor {
    folder: ClipFolder,
    layers: [usize; 2],
    device: Device,
}

impl ClipExtractor {
    /// Opens a local HF CLIP folder on `device`, taking the tokens of `layers` (official: 3, 6).
    pub fn open(
        dir: &std::path::Path,
        layers: [usize; 2],
        device: &Device,
    ) -> Result<Self, FeatureError> {
        Self::from_folder(ClipFolder::open(dir, device)?, layers, device)
    }

    /// A CLIP tower already in memory (e.g. random weights for a benchmark), taking the tokens
    /// of `layers`; an error names `config.json` of the folder when a layer does not exist.
    pub fn from_folder(
        folder: ClipFolder,
        layers: [usize; 2],
        device: &Device,
    ) -> Result<Self, FeatureError> {
        let dir = folder.path.clone();
        if let Some(&bad) = layers
            .iter()
            .find(|&&l| l >= folder.config.num_hidden_layers)
        {
            return Err(ClipError::from(crate::error::FileError::Invalid {
                path: dir.join("config.json"),
                message: format!(
                    "layer {bad} requested, but the model has {} layers",
                    folder.config.num_hidden_layers
                ),
            })
            .into());
        }
        Ok(Self {
            folder,
            layers,
            device: device.clone(),
        })
    }

    /// Preprocessed pixel values of an image, `[3, S, S]` flattened.
    pub fn pixel_values(&self, image: &Rgb8) -> Vec<f32> {
        self.folder.preprocess.pixel_values(image)
    }

    /// Features from already preprocessed pixels (`[3, S, S]` flattened).
    pub fn extract_pixels(&self, pixels: Vec<f32>) -> Result<ImageFeatures, FeatureError> {
        if let Some(cpu) = &self.folder.cpu {
            let out = cpu.forward(&pixels, 1, &self.layers);
            let tokens = out.layer_tokens.concat();
            return ImageFeatures::new(tokens, self.patches(), self.token_dim(), out.image_embeds)
                .map_err(|e| {
                    FeatureError::Readback(format!("CLIP produced unusable features: {e}"))
                });
        }
        let s = self.folder.config.image_size;
        let input = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, s, s]), &self.device);
        let out = self.folder.vision.forward(input, &self.layers);
        let read = |t: Tensor<3>| {
            t.into_data()
                .try_to_vec::<f32>()
                .map_err(|e| FeatureError::Readback(format!("{e:?}")))
        };
        let mut tokens = Vec::new();
        for layer in out.layer_tokens {
            tokens.extend(read(layer)?);
        }
        let global = out
            .image_embeds
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| FeatureError::Readback(format!("{e:?}")))?;
        ImageFeatures::new(tokens, self.patches(), self.token_dim(), global)
            .map_err(|e| FeatureError::Readback(format!("CLIP produced unusable features: {e}")))
    }
}

impl FeatureExtractor for ClipExtractor {
    fn id(&self) -> String {
        let name = self
            .folder
            .path
            .file_name()
            .map_or_else(|| "clip".into(), |n| n.to_string_lossy().into_owned());
        format!("clip:{name}:layers={},{}", self.layers[0], self.layers[1])
    }

    fn patches(&self) -> usize {
        self.folder.config.patches_per_side().pow(2)
    }

    fn token_dim(&self) -> usize {
        self.folder.config.hidden_size
    }

    fn global_dim(&self) -> usize {
        self.folder.config.projection_dim
    }

    fn extract(&self, image: &Rgb8) -> Result<ImageFeatures, FeatureError> {
        self.extract_pixels(self.pixel_values(image))
    }
}
