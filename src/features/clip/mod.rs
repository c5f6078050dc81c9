//! A CLIP vision transformer in burn, built from a local Hugging Face folder
//! (`config.json`, `model.safetensors`, `preprocessor_config.json`), as the paper uses it: the
//! token maps of selected layers (`hidden_states[l + 1][:, 1:, :]`) and `image_embeds` (the
//! projection of the post-layer-normed class token, not normalised). Nothing is downloaded.
//!
//! Any ViT size works (hidden, layers, heads, patch, image size, projection, `quick_gelu` or
//! `gelu`, layer-norm eps); a full `CLIPModel` folder (with `vision_config`) works too.

pub mod cpu;

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu, sigmoid, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;

use super::preprocess::{ImageError, PreprocessConfig};
use crate::error::FileError;
use crate::state_dict::{
    NamedTensor, StateDict, WeightsError, linear_from, read_safetensors, take_tensor, transpose,
};

/// Errors from reading a CLIP folder.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// A file that cannot be read, or whose content is not usable.
    #[error(transparent)]
    File(#[from] FileError),
    /// Weights that disagree with `config.json`.
    #[error("{path}: {source} (config.json and model.safetensors disagree)")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Which tensor.
        source: WeightsError,
    },
    /// The preprocessing config.
    #[error(transparent)]
    Preprocess(#[from] ImageError),
}

/// The vision-tower sizes of `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClipVisionConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP inside each layer.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Patch edge in pixels.
    pub patch_size: usize,
    /// Input edge in pixels.
    pub image_size: usize,
    /// Output width of `visual_projection`.
    #[serde(default)]
    pub projection_dim: usize,
    /// `quick_gelu` (OpenAI CLIP) or `gelu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_act() -> String {
    "quick_gelu".into()
}

fn default_eps() -> f64 {
    1e-5
}

#[derive(Deserialize)]
struct FullConfig {
    vision_config: Option<ClipVisionConfig>,
    projection_dim: Option<usize>,
}

impl ClipVisionConfig {
    /// Patches per side.
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Reads `config.json` of a vision model or of a full CLIP model.
    pub fn from_file(path: &Path) -> Result<Self, ClipError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |message: String| -> ClipError {
            FileError::Invalid {
                path: path.to_path_buf(),
                message,
            }
            .into()
        };
        let full: FullConfig =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a CLIP config ({e})")))?;
        let mut config: ClipVisionConfig = match full.vision_config {
            Some(vision) => vision,
            None => serde_json::from_str(&text)
                .map_err(|e| bad(format!("not a CLIP vision config ({e})")))?,
        };
        if let Some(p) = full.projection_dim.filter(|_| config.projection_dim == 0) {
            config.projection_dim = p;
        }
        if config.patch_size == 0 || !config.image_size.is_multiple_of(config.patch_size) {
            return Err(bad(format!(
                "image_size {} is not a multiple of patch_size {}",
                config.image_size, config.patch_size
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        if !matches!(config.hidden_act.as_str(), "quick_gelu" | "gelu") {
            return Err(bad(format!(
                "hidden_act {:?} is not supported (quick_gelu or gelu)",
                config.hidden_act
            )));
        }
        if config.projection_dim == 0 {
            return Err(bad("projection_dim is missing".into()));
        }
        Ok(config)
    }
}

impl ClipVisionConfig {
    /// The sizes of `openai/clip-vit-base-patch16` (the paper's extractor), for benchmarks.
    pub fn vit_b16() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_attention_heads: 12,
            num_hidden_layers: 12,
            patch_size: 16,
            image_size: 224,
            projection_dim: 512,
            hidden_act: default_act(),
            layer_norm_eps: default_eps(),
        }
    }

    /// Deterministic pseudo-random weights of these sizes under HF's key names (values uniform in
    /// ±0.02, layer-norm gains 1): for timing and tests, never for features.
    pub fn random_state_dict(&self, seed: u64) -> StateDict {
        let mut state = seed.max(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04
        };
        let (h, m, p) = (self.hidden_size, self.intermediate_size, self.patch_size);
        let tokens = self.patches_per_side().pow(2) + 1;
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            (
                "vision_model.embeddings.patch_embedding.weight".into(),
                vec![h, 3, p, p],
            ),
            ("vision_model.embeddings.class_embedding".into(), vec![h]),
            (
                "vision_model.embeddings.position_embedding.weight".into(),
                vec![tokens, h],
            ),
            (
                "visual_projection.weight".into(),
                vec![self.projection_dim, h],
            ),
        ];
        let mut norms = vec![
            "vision_model.pre_layrnorm".to_string(),
            "vision_model.post_layernorm".into(),
        ];
        for n in 0..self.num_hidden_layers {
            let l = format!("vision_model.encoder.layers.{n}");
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                shapes.push((format!("{l}.self_attn.{proj}.weight"), vec![h, h]));
                shapes.push((format!("{l}.self_attn.{proj}.bias"), vec![h]));
            }
            shapes.push((format!("{l}.mlp.fc1.weight"), vec![m, h]));
            shapes.push((format!("{l}.mlp.fc1.bias"), vec![m]));
            shapes.push((format!("{l}.mlp.fc2.weight"), vec![h, m]));
            shapes.push((format!("{l}.mlp.fc2.bias"), vec![h]));
            norms.push(format!("{l}.layer_norm1"));
            norms.push(format!("{l}.layer_norm2"));
        }
        let mut dict = StateDict::new();
        for (name, shape) in shapes {
            let data = (0..shape.iter().product::<usize>())
                .map(|_| next())
                .collect();
            dict.insert(name, NamedTensor { shape, data });
        }
        for norm in norms {
            dict.insert(
                format!("{norm}.weight"),
                NamedTensor {
                    shape: vec![h],
                    data: vec![1.0; h],
                },
            );
            dict.insert(
                format!("{norm}.bias"),
                NamedTensor {
                    shape: vec![h],
                    data: vec![0.0; h],
                },
            );
        }
        dict
    }
}

/// One pre-norm transformer layer.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    layer_norm1: LayerNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    quick_gelu: bool,
}

impl EncoderLayer {
    /// # Shapes
    /// - `x`: `[B, T, H]` → `[B, T, H]`
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, h] = x.dims();
        let head_dim = h / self.heads;
        let normed = self.layer_norm1.forward(x.clone());
        let split = |y: Tensor<3>| y.reshape([b, t, self.heads, head_dim]).swap_dims(1, 2); // [B, heads, T, d]
        let q = split(self.q_proj.forward(normed.clone())) * (head_dim as f64).powf(-0.5);
        let k = split(self.k_proj.forward(normed.clone()));
        let v = split(self.v_proj.forward(normed));
        let weights = softmax(q.matmul(k.swap_dims(2, 3)), 3); // [B, heads, T, T]
        let attended = weights.matmul(v).swap_dims(1, 2).reshape([b, t, h]);
        let x = x + self.out_proj.forward(attended);
        let hidden = self.fc1.forward(self.layer_norm2.forward(x.clone()));
        let hidden = if self.quick_gelu {
            hidden.clone() * sigmoid(hidden * 1.702)
        } else {
            gelu(hidden)
        };
        x + self.fc2.forward(hidden)
    }
}

/// The CLIP vision tower with its projection.
#[derive(Module, Debug)]
pub struct ClipVision {
    /// `[3·p·p, H]`: the patch convolution as a matrix.
    patch_weight: Tensor<2>,
    /// `[1, H]`.
    class_embedding: Tensor<2>,
    /// `[T, H]` with T = patches + 1.
    position_embedding: Tensor<2>,
    pre_layrnorm: LayerNorm,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
    /// `[H, projection]`, no bias.
    visual_projection: Tensor<2>,
    /// Every layer norm's epsilon.
    eps: f64,
}

/// What the tower outputs for a batch.
#[derive(Debug, Clone)]
pub struct ClipOutput {
    /// Per selected layer: tokens without the class token, `[B, P², H]`.
    pub layer_tokens: Vec<Tensor<3>>,
    /// `[B, projection]`.
    pub image_embeds: Tensor<2>,
    /// `[B, T, H]` (class token included).
    pub last_hidden_state: Tensor<3>,
}

fn layer_norm(
    dict: &mut StateDict,
    prefix: &str,
    width: usize,
    eps: f64,
    device: &Device,
) -> Result<LayerNorm, WeightsError> {
    let mut norm = LayerNormConfig::new(width).with_epsilon(eps).init(device);
    let gamma = take_tensor(dict, &format!("{prefix}.weight"), &[width])?;
    let beta = take_tensor(dict, &format!("{prefix}.bias"), &[width])?;
    norm.gamma = Param::from_tensor(Tensor::from_data(
        TensorData::new(gamma.data, [width]),
        device,
    ));
    norm.beta = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(beta.data, [width]),
        device,
    )));
    Ok(norm)
}

impl ClipVision {
    /// Builds the tower from weights named as HF names them (`vision_model.*`,
    /// `visual_projection.weight`).
    pub fn from_state_dict(
        config: &ClipVisionConfig,
        dict: &mut StateDict,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let h = config.hidden_size;
        let p = config.patch_size;
        let tokens = config.patches_per_side().pow(2) + 1;
        let eps = config.layer_norm_eps;
        let e = "vision_model.embeddings";
        let conv = take_tensor(dict, &format!("{e}.patch_embedding.weight"), &[h, 3, p, p])?;
        // [H, 3·p·p] → [3·p·p, H] so that patches [N, 3·p·p] · W = [N, H].
        let k = 3 * p * p;
        let patch = transpose(&conv.data, h, k);
        let class = take_tensor(dict, &format!("{e}.class_embedding"), &[h])?;
        let position = take_tensor(
            dict,
            &format!("{e}.position_embedding.weight"),
            &[tokens, h],
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|n| {
                let l = format!("vision_model.encoder.layers.{n}");
                Ok(EncoderLayer {
                    layer_norm1: layer_norm(dict, &format!("{l}.layer_norm1"), h, eps, device)?,
                    q_proj: linear_from(dict, &format!("{l}.self_attn.q_proj"), (h, h), device)?,
                    k_proj: linear_from(dict, &format!("{l}.self_attn.k_proj"), (h, h), device)?,
                    v_proj: linear_from(dict, &format!("{l}.self_attn.v_proj"), (h, h), device)?,
                    out_proj: linear_from(
                        dict,
                        &format!("{l}.self_attn.out_proj"),
                        (h, h),
                        device,
                    )?,
                    layer_norm2: layer_norm(dict, &format!("{l}.layer_norm2"), h, eps, device)?,
                    fc1: linear_from(
                        dict,
                        &format!("{l}.mlp.fc1"),
                        (h, config.intermediate_size),
                        device,
                    )?,
                    fc2: linear_from(
                        dict,
                        &format!("{l}.mlp.fc2"),
                        (config.intermediate_size, h),
                        device,
                    )?,
                    heads: config.num_attention_heads,
                    quick_gelu: config.hidden_act == "quick_gelu",
                })
            })
            .collect::<Result<Vec<_>, WeightsError>>()?;
        let projection = take_tensor(
            dict,
            "visual_projection.weight",
            &[config.projection_dim, h],
        )?;
        let projection_t = transpose(&projection.data, config.projection_dim, h);
        Ok(Self {
            patch_weight: Tensor::from_data(TensorData::new(patch, [k, h]), device),
            class_embedding: Tensor::from_data(TensorData::new(class.data, [1, h]), device),
            position_embedding: Tensor::from_data(
                TensorData::new(position.data, [tokens, h]),
                device,
            ),
            pre_layrnorm: layer_norm(dict, "vision_model.pre_layrnorm", h, eps, device)?,
            layers,
            post_layernorm: layer_norm(dict, "vision_model.post_layernorm", h, eps, device)?,
            visual_projection: Tensor::from_data(
                TensorData::new(projection_t, [h, config.projection_dim]),
                device,
            ),
            eps,
        })
    }

    /// Runs the tower on preprocessed pixels, returning the tokens of `selected_layers`
    /// (0-based layer indices, as the paper's 3 and 6).
    ///
    /// # Shapes
    /// - `pixels`: `[B, 3, S, S]` normalised pixel values
    pub fn forward(&self, pixels: Tensor<4>, selected_layers: &[usize]) -> ClipOutput {
        let [b, c, s, _] = pixels.dims();
        let [k, h] = self.patch_weight.dims();
        let p = ((k / c) as f64).sqrt() as usize;
        let n = s / p;
        // Patchify in (channel, row, column) order, as the convolution weight is laid out.
        let patches = pixels
            .reshape([b, c, n, p, n, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b * n * n, k]); // [B·N², 3·p·p]
        let embedded = patches
            .matmul(self.patch_weight.clone())
            .reshape([b, n * n, h]);
        let class = self
            .class_embedding
            .clone()
            .unsqueeze_dim::<3>(0)
            .expand([b, 1, h]);
        let x = Tensor::cat(vec![class, embedded], 1)
            + self.position_embedding.clone().unsqueeze_dim(0);
        let mut x = self.pre_layrnorm.forward(x); // hidden_states[0]
        let mut layer_tokens = vec![None; selected_layers.len()];
        let t = n * n + 1;
        for (index, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x); // hidden_states[index + 1]
            for (slot, &wanted) in layer_tokens.iter_mut().zip(selected_layers) {
                if wanted == index {
                    *slot = Some(x.clone().slice([0..b, 1..t, 0..h]));
                }
            }
        }
        let pooled = self
            .post_layernorm
            .forward(x.clone().slice([0..b, 0..1, 0..h]).reshape([b, h]));
        ClipOutput {
            layer_tokens: layer_tokens
                .into_iter()
                .map(|slot| slot.unwrap_or_else(|| Tensor::zeros([b, t - 1, h], &x.device())))
                .collect(),
            image_embeds: pooled.matmul(self.visual_projection.clone()),
            last_hidden_state: x,
        }
    }
}

/// A CLIP folder ready to extract features: config, preprocessing and weights on a device.
#[derive(Debug)]
pub struct ClipFolder {
    /// Where it was read from.
    pub path: PathBuf,
    /// Tower sizes.
    pub config: ClipVisionConfig,
    /// Image preprocessing.
    pub preprocess: PreprocessConfig,
    /// The network.
    pub vision: ClipVision,
    /// On the CPU, the same network for the direct path (`None` on a GPU, for `gelu` towers,
    /// or with `NRF_CPU_KERNEL=burn`).
    pub cpu: Option<cpu::CpuClip>,
}

impl ClipFolder {
    /// Reads `config.json`, `preprocessor_config.json` and `model.safetensors` from `dir`.
    pub fn open(dir: impl AsRef<Path>, device: &Device) -> Result<Self, ClipError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(FileError::Invalid {
                path: dir.to_path_buf(),
                message: "not a CLIP folder: expected a folder with config.json, model.safetensors and preprocessor_config.json".into(),
            }
            .into());
        }
        let config = ClipVisionConfig::from_file(&dir.join("config.json"))?;
        let preprocess = PreprocessConfig::from_json_file(&dir.join("preprocessor_config.json"))?;
        if preprocess.crop != (config.image_size as u32, config.image_size as u32) {
            return Err(FileError::Invalid {
                path: dir.join("preprocessor_config.json"),
                message: format!(
                    "crop_size {:?} does not match the model's image_size {}",
                    preprocess.crop, config.image_size
                ),
            }
            .into());
        }
        let weights_path = dir.join("model.safetensors");
        let mut dict = read_safetensors(&weights_path, |k| {
            k.starts_with("vision_model.") || k.starts_with("visual_projection.")
        })
        .map_err(ClipError::File)?;
        let vision = ClipVision::from_state_dict(&config, &mut dict, device).map_err(|source| {
            ClipError::Weights {
                path: weights_path.clone(),
                source,
            }
        })?;
        Ok(Self::from_parts(
            dir.to_path_buf(),
            config,
            preprocess,
            vision,
            device,
        ))
    }

    /// A folder from its parts (a tower built elsewhere, e.g. random weights for benchmarks);
    /// on the CPU it gets the direct path too.
    pub fn from_parts(
        path: PathBuf,
        config: ClipVisionConfig,
        preprocess: PreprocessConfig,
        vision: ClipVision,
        device: &Device,
    ) -> Self {
        let direct = *device == Device::flex() && !crate::device::burn_asked_for_on_cpu();
        let cpu = if direct {
            cpu::CpuClip::from_vision(&vision)
        } else {
            None
        };
        Self {
            path,
            config,
            preprocess,
            vision,
            cpu,
        }
    }
}
