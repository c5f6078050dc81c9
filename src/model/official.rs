//! Import of an official NRF run folder, as the official PyTorch code writes it:
//! `experiment_config.yaml`, `B.npy` (or the path the yaml names), and
//! `best_model/best_NRF_model.pth.tar` + `best_model/best_feature_merger.pth.tar`
//! (`torch.save` of `{epoch, state_dict, optim_dict, val_corr}`), read with burn's PyTorch reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::pytorch_reader::{DType, PytorchReader};
use burn::tensor::Device;
use glam::Vec3;
use serde::Deserialize;

use super::{Domain, FeatureSpec, ModelInfo, Nrf, NrfConfig, NrfNet, Roi, VoxelDomain};
use crate::error::FileError;
use crate::state_dict::{NamedTensor, StateDict, WeightsError};

/// Errors from reading an official run folder (or our own `.nrf` files); each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file that cannot be read, or whose content is not what was expected.
    #[error(transparent)]
    File(#[from] FileError),
    /// Writing a model file failed.
    #[error(transparent)]
    Write(#[from] crate::atomic_file::AtomicWriteError),
    /// Weights that do not fit the configuration.
    #[error("{path}: {source}")]
    Weights {
        /// The checkpoint.
        path: PathBuf,
        /// Which tensor and how.
        source: WeightsError,
    },
}

impl From<crate::npy::NpyError> for ModelError {
    /// An `.npy` error already names its file: passed on as it is.
    fn from(e: crate::npy::NpyError) -> Self {
        match e {
            crate::npy::NpyError::File(e) => Self::File(e),
            crate::npy::NpyError::Write(e) => Self::Write(e),
        }
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> ModelError {
    FileError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
    .into()
}

/// The parts of `experiment_config.yaml` that shape the model.
#[derive(Debug, Deserialize)]
struct OfficialYaml {
    positional_embed: PositionalEmbed,
    model: ModelSection,
    feature_merger: MergerSection,
    #[serde(default)]
    image_embedding: Option<ImageEmbedding>,
    #[serde(default)]
    data_src: Option<DataSource>,
}

#[derive(Debug, Deserialize)]
struct PositionalEmbed {
    gaussian: Gaussian,
}

#[derive(Debug, Deserialize)]
struct Gaussian {
    #[serde(rename = "B_matrix_dir", default)]
    b_matrix: Option<String>,
    std: f64,
    num_features: usize,
}

#[derive(Debug, Deserialize)]
struct ModelSection {
    num_layers: usize,
    hidden_layer_dim: usize,
    #[serde(default)]
    latent_in: Option<Vec<usize>>,
}

#[derive(Debug, Deserialize)]
struct MergerSection {
    num_patches: usize,
    downsample_dim: usize,
    early_feat_input_dim: usize,
    higher_feat_input_dim: usize,
}

#[derive(Debug, Deserialize)]
struct ImageEmbedding {
    model_name: Option<String>,
    selected_layers: Option<Vec<usize>>,
}

#[derive(Debug, Deserialize)]
struct DataSource {
    data_subject_list: Option<Vec<serde_yaml_ng::Value>>,
}

/// Reads `experiment_config.yaml` into a config, the B path it names, and the features it used.
pub(crate) fn read_yaml(
    path: &Path,
) -> Result<(NrfConfig, Option<String>, FeatureSpec, Option<String>), ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let yaml: OfficialYaml = serde_yaml_ng::from_str(&text).map_err(|e| {
        invalid(
            path,
            format!("not an official NRF experiment config ({e}); expected sections positional_embed, model, feature_merger"),
        )
    })?;
    let config = NrfConfig::new()
        .with_token_dim(yaml.feature_merger.early_feat_input_dim)
        .with_patches_per_side(yaml.feature_merger.num_patches)
        .with_merged_dim(yaml.feature_merger.downsample_dim)
        .with_global_dim(yaml.feature_merger.higher_feat_input_dim)
        .with_fourier_features(yaml.positional_embed.gaussian.num_features)
        .with_fourier_scale(yaml.positional_embed.gaussian.std)
        .with_num_layers(yaml.model.num_layers)
        .with_hidden(yaml.model.hidden_layer_dim)
        .with_latent_in(yaml.model.latent_in.unwrap_or_default());
    config.validate().map_err(|m| invalid(path, m))?;
    let embedding = yaml.image_embedding.as_ref();
    let model_name = embedding
        .and_then(|e| e.model_name.clone())
        .unwrap_or_else(|| "openai/clip-vit-base-patch16".into());
    let layers = embedding
        .and_then(|e| e.selected_layers.clone())
        .unwrap_or_else(|| vec![3, 6]);
    let layers: Vec<String> = layers.iter().map(usize::to_string).collect();
    let features = FeatureSpec {
        extractor: format!("clip:{model_name}:layers={}", layers.join(",")),
    };
    let subject = yaml.data_src.and_then(|d| d.data_subject_list).map(|list| {
        let names: Vec<String> = list
            .iter()
            .map(|v| match v {
                serde_yaml_ng::Value::Number(n) => format!("subj{:02}", n.as_u64().unwrap_or(0)),
                other => serde_yaml_ng::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            })
            .collect();
        names.join("+")
    });
    Ok((
        config,
        yaml.positional_embed.gaussian.b_matrix,
        features,
        subject,
    ))
}

/// Where B lives: the yaml's path as written when it exists, else relative to the folder, else
/// its file name inside the folder, else `B.npy` in the folder.
fn resolve_b_path(dir: &Path, named: Option<&str>) -> Result<PathBuf, ModelError> {
    let mut tried = Vec::new();
    if let Some(named) = named {
        let named = PathBuf::from(named);
        tried.push(named.clone());
        if named.is_relative() {
            tried.push(dir.join(&named));
        }
        if let Some(name) = named.file_name() {
            tried.push(dir.join(name));
        }
    }
    tried.push(dir.join("B.npy"));
    tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        invalid(
            &dir.join("experiment_config.yaml"),
            format!("Fourier matrix B not found; looked for {}", list.join(", ")),
        )
    })
}

/// Reads the `state_dict` of an official `.pth.tar` checkpoint as f32 tensors.
pub fn read_pth_state_dict(path: &Path) -> Result<(StateDict, BTreeMap<String, f64>), ModelError> {
    if !path.is_file() {
        return Err(FileError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        }
        .into());
    }
    let reader = PytorchReader::with_top_level_key(path, "state_dict").map_err(|e| {
        invalid(
            path,
            format!("not a readable PyTorch checkpoint with a state_dict ({e})"),
        )
    })?;
    let mut dict = StateDict::new();
    for (key, tensor) in reader.into_tensors() {
        let shape = tensor.shape().to_vec();
        let bytes = tensor.read().map_err(|e| {
            invalid(
                path,
                format!("tensor {key} cannot be read ({e}); is the file truncated?"),
            )
        })?;
        let data: Vec<f32> = match tensor.dtype() {
            DType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => bytes
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            other => {
                return Err(invalid(
                    path,
                    format!("tensor {key} has dtype {other:?}; expected float32 or float64"),
                ));
            }
        };
        if data.len() != shape.iter().product::<usize>() {
            return Err(invalid(
                path,
                format!(
                    "tensor {key} of shape {shape:?} holds {} values",
                    data.len()
                ),
            ));
        }
        dict.insert(key, NamedTensor { shape, data });
    }
    // Scalars stored beside the state dict (epoch, val_corr), best effort.
    let mut scores = BTreeMap::new();
    if let Ok(meta) = PytorchReader::read_pickle_data(path, None) {
        for key in ["val_corr", "epoch"] {
            if let Some(value) = pickle_number(&meta, key) {
                scores.insert(key.to_string(), value);
            }
        }
    }
    Ok((dict, scores))
}

fn pickle_number(value: &burn::store::pytorch_reader::PickleValue, key: &str) -> Option<f64> {
    use burn::store::pytorch_reader::PickleValue;
    let PickleValue::Dict(entries) = value else {
        return None;
    };
    match entries.get(key)? {
        PickleValue::Float(f) => Some(*f),
        PickleValue::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// Where an official model's domain comes from.
#[derive(Debug, Clone, Default)]
pub enum DomainSource {
    /// No coordinates: the model's domain is unknown.
    #[default]
    Unknown,
    /// An `(N, 3)` `.npy` of MNI mm coordinates.
    Coords(PathBuf),
    /// The NSD-processed layout: `MNI_coordinate/<subject>/<roi>_MNI_coordinate.npy` and
    /// `roi_names.json` under this root; `subject` as `subj01`; `rois` the ROI files forming the
    /// domain (default `nsdgeneral`).
    NsdProcessed {
        /// Root of the processed data.
        root: PathBuf,
        /// Subject folder name.
        subject: String,
        /// ROIs that make up the domain.
        rois: Vec<String>,
    },
}

/// Reads a domain from coordinates or the NSD-processed layout.
pub fn read_domain(source: &DomainSource) -> Result<Domain, ModelError> {
    match source {
        DomainSource::Unknown => Ok(Domain::Unknown),
        DomainSource::Coords(path) => {
            let coords = read_coords(path)?;
            VoxelDomain::new(coords, vec![], None)
                .map(Domain::Voxels)
                .map_err(|e| invalid(path, e.to_string()))
        }
        DomainSource::NsdProcessed {
            root,
            subject,
            rois,
        } => read_nsd_domain(root, subject, rois),
    }
}

fn read_coords(path: &Path) -> Result<Vec<Vec3>, ModelError> {
    let array = crate::npy::read_f32(path)?;
    array.expect_shape(path, "MNI coordinates", &[None, Some(3)])?;
    Ok(array.data.chunks_exact(3).map(Vec3::from_slice).collect())
}

/// The NSD-processed domain: the union of the listed ROIs' voxels, each labelled with every
/// ROI (from `roi_names.json`, or any `*_MNI_coordinate.npy` present) it belongs to.
fn read_nsd_domain(root: &Path, subject: &str, rois: &[String]) -> Result<Domain, ModelError> {
    let folder = root.join("MNI_coordinate").join(subject);
    let file_of = |roi: &str| folder.join(format!("{roi}_MNI_coordinate.npy"));
    let mut coords: Vec<Vec3> = Vec::new();
    let mut seen: std::collections::HashMap<[u32; 3], usize> = std::collections::HashMap::new();
    let key = |p: Vec3| p.to_array().map(f32::to_bits);
    for roi in rois {
        for p in read_coords(&file_of(roi))? {
            seen.entry(key(p)).or_insert_with(|| {
                coords.push(p);
                coords.len() - 1
            });
        }
    }
    // Label names: roi_names.json (NSD-processed keeps it beside the responses,
    // roi_response_average/<subject>/; a list, or a map of name → anything), else the ROI files
    // in the coordinate folder.
    let names_path = [
        root.join("roi_response_average")
            .join(subject)
            .join("roi_names.json"),
        root.join("roi_names.json"),
    ]
    .into_iter()
    .find(|p| p.is_file());
    let mut names: Vec<String> = match &names_path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
                path: path.clone(),
                source,
            })?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
                _ => return Err(invalid(path, "expected a JSON list of ROI names")),
            }
        }
        None => Vec::new(),
    };
    if names.is_empty() {
        let entries = std::fs::read_dir(&folder).map_err(|source| FileError::Io {
            path: folder.clone(),
            source,
        })?;
        names = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix("_MNI_coordinate.npy")
                    .map(str::to_string)
            })
            .collect();
        names.sort();
    }
    for roi in rois {
        if !names.contains(roi) {
            names.insert(0, roi.clone());
        }
    }
    let mut labelled = Vec::new();
    for name in names {
        let path = file_of(&name);
        if !path.is_file() {
            continue;
        }
        let mut members = vec![false; coords.len()];
        for p in read_coords(&path)? {
            if let Some(&n) = seen.get(&key(p)) {
                members[n] = true;
            }
        }
        labelled.push(Roi { name, members });
    }
    VoxelDomain::new(coords, labelled, None)
        .map(Domain::Voxels)
        .map_err(|e| invalid(&folder, e.to_string()))
}

impl Nrf {
    /// Reads an official run folder onto `device`, with the domain from `domain`.
    pub fn from_official_dir(
        dir: impl AsRef<Path>,
        domain: &DomainSource,
        device: &Device,
    ) -> Result<Nrf, ModelError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(invalid(
                dir,
                "not an official NRF run folder: expected a folder with experiment_config.yaml, B.npy and best_model/",
            ));
        }
        let yaml_path = dir.join("experiment_config.yaml");
        let (config, b_named, features, subject) = read_yaml(&yaml_path)?;
        let b_path = resolve_b_path(dir, b_named.as_deref())?;
        let b = crate::npy::read_f32(&b_path)?;
        b.expect_shape(
            &b_path,
            "Fourier matrix B",
            &[Some(3), Some(config.fourier_features)],
        )?;
        let b = NamedTensor {
            shape: b.shape,
            data: b.data,
        };
        let mlp_path = dir.join("best_model").join("best_NRF_model.pth.tar");
        let merger_path = dir.join("best_model").join("best_feature_merger.pth.tar");
        let (mlp, mlp_scores) = read_pth_state_dict(&mlp_path)?;
        let (merger, _) = read_pth_state_dict(&merger_path)?;
        // Name the file a mismatch comes from.
        let net = NrfNet::from_state_dicts(&config, merger.clone(), mlp.clone(), &b, device)
            .map_err(|source| {
                let key_of = |e: &WeightsError| match e {
                    WeightsError::Missing { key }
                    | WeightsError::Shape { key, .. }
                    | WeightsError::NotFinite { key } => Some(key.clone()),
                    WeightsError::Unexpected { .. } => None,
                };
                let path = match key_of(&source) {
                    Some(k) if k == "B" => b_path.clone(),
                    Some(k) if k.starts_with("layers.") => mlp_path.clone(),
                    Some(_) => merger_path.clone(),
                    None => dir.join("best_model"),
                };
                ModelError::Weights { path, source }
            })?;
        let domain = read_domain(domain)?;
        Ok(Nrf {
            config,
            net,
            info: ModelInfo {
                features: Some(features),
                subject,
                provenance: format!(
                    "converted from the official NRF run folder {}",
                    dir.display()
                ),
                scores: mlp_scores,
                training: None,
            },
            domain,
            source: Some(dir.to_path_buf()),
        })
    }
}
