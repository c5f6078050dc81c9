//! Our own model file, `.nrf`: one safetensors file holding the weights in the official naming
//! and PyTorch layout (`merger.*`, `mlp.layers.*`, `fourier.B`), the domain
//! (`domain.coords_mm` `[N, 3]`, `domain.roi_masks` `[R, N]` u8), and JSON metadata in the
//! safetensors header (`__metadata__["nrf"]`): config, features, subject, provenance, scores.
//! Python reads it with `safetensors.safe_open`. Saving is atomic; save → load is bit-exact.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use burn::tensor::Device;
use glam::Vec3;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::official::ModelError;
use super::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet, Roi, VoxelDomain};
use crate::error::FileError;
use crate::state_dict::{NamedTensor, StateDict};

/// Version written into every file; readers refuse newer ones.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const METADATA_KEY: &str = "nrf";

#[derive(Debug, Serialize, Deserialize)]
struct FileMetadata {
    format: String,
    format_version: u32,
    nrf_version: String,
    config: NrfConfig,
    info: ModelInfo,
    domain: DomainMetadata,
}

#[derive(Debug, Serialize, Deserialize)]
struct DomainMetadata {
    known: bool,
    reach_mm: Option<f32>,
    roi_names: Vec<String>,
}

fn invalid(path: &Path, message: impl Into<String>) -> ModelError {
    FileError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
    .into()
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Whether the `nrf` metadata JSON of a file describes an ensemble rather than a single model.
pub fn is_ensemble_metadata(json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_owned))
        .is_some_and(|f| f == ENSEMBLE_FORMAT)
}

/// Whether `path` is an ensemble file (reads only its safetensors header; `false` for anything
/// unreadable, which the model readers then report properly).
pub fn is_ensemble_file(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut len = [0u8; 8];
    if path.is_dir() || file.read_exact(&mut len).is_err() {
        return false;
    }
    // A header larger than 100 MB is not one of ours.
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        return false;
    }
    let mut header = vec![0u8; n as usize];
    if file.read_exact(&mut header).is_err() {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(&header)
        .ok()
        .and_then(|h| h["__metadata__"][METADATA_KEY].as_str().map(str::to_owned))
        .is_some_and(|json| is_ensemble_metadata(&json))
}

/// The `format` an ensemble file's metadata names.
pub const ENSEMBLE_FORMAT: &str = "nrf-ensemble";

/// The `nrf` metadata JSON of a `.nrf`-style safetensors file, or `None` for anything else.
pub fn metadata_json(bytes: &[u8]) -> Option<String> {
    let (_, raw_meta) = SafeTensors::read_metadata(bytes).ok()?;
    raw_meta.metadata().as_ref()?.get(METADATA_KEY).cloned()
}

impl Nrf {
    /// Writes the model as a `.nrf` file, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let bytes = self.to_bytes(path)?;
        crate::atomic_file::write_atomically(path, |out| out.write_all(&bytes))
            .map_err(ModelError::from)
    }

    /// The bytes of the model's `.nrf` file; `path` only names it in errors.
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>, ModelError> {
        let (merger, mlp, b) = self
            .net
            .to_state_dicts()
            .map_err(|m| invalid(path, format!("cannot read the weights back: {m}")))?;
        // (name, dtype, shape, bytes)
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (prefix, dict) in [("merger", &merger), ("mlp", &mlp)] {
            for (key, t) in dict {
                tensors.push((
                    format!("{prefix}.{key}"),
                    Dtype::F32,
                    t.shape.clone(),
                    f32_bytes(&t.data),
                ));
            }
        }
        tensors.push((
            "fourier.B".into(),
            Dtype::F32,
            b.shape.clone(),
            f32_bytes(&b.data),
        ));
        let domain = match &self.domain {
            Domain::Unknown => DomainMetadata {
                known: false,
                reach_mm: None,
                roi_names: vec![],
            },
            Domain::Voxels(d) => {
                let coords: Vec<f32> = d.coords_mm().iter().flat_map(|p| p.to_array()).collect();
                tensors.push((
                    "domain.coords_mm".into(),
                    Dtype::F32,
                    vec![d.coords_mm().len(), 3],
                    f32_bytes(&coords),
                ));
                if !d.rois().is_empty() {
                    let masks: Vec<u8> = d
                        .rois()
                        .iter()
                        .flat_map(|r| r.members.iter().map(|&m| u8::from(m)))
                        .collect();
                    tensors.push((
                        "domain.roi_masks".into(),
                        Dtype::U8,
                        vec![d.rois().len(), d.coords_mm().len()],
                        masks,
                    ));
                }
                DomainMetadata {
                    known: true,
                    reach_mm: Some(d.reach_mm()),
                    roi_names: d.rois().iter().map(|r| r.name.clone()).collect(),
                }
            }
        };
        let metadata = FileMetadata {
            format: "nrf-model".into(),
            format_version: FORMAT_VERSION,
            nrf_version: env!("CARGO_PKG_VERSION").into(),
            config: self.config.clone(),
            info: self.info.clone(),
            domain,
        };
        let json = serde_json::to_string(&metadata)
            .map_err(|e| invalid(path, format!("cannot encode metadata: {e}")))?;
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| invalid(path, format!("tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let header = HashMap::from([(METADATA_KEY.to_string(), json)]);
        safetensors::tensor::serialize(views, Some(header))
            .map_err(|e| invalid(path, format!("cannot encode safetensors: {e}")))
    }

    /// Reads a `.nrf` file onto `device`.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Nrf, ModelError> {
        let path = path.as_ref();
        let bytes = crate::error::read_bytes(path)?;
        Self::from_bytes(path, &bytes, device)
    }

    /// Reads a model from the bytes of an `.nrf` file; `path` names it in errors and becomes
    /// its source.
    pub fn from_bytes(path: &Path, bytes: &[u8], device: &Device) -> Result<Nrf, ModelError> {
        let (_, raw_meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
            invalid(
                path,
                format!("not an .nrf model file (safetensors header unreadable: {e})"),
            )
        })?;
        let json = raw_meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                invalid(
                    path,
                    "safetensors file without nrf metadata: not an .nrf model",
                )
            })?;
        if is_ensemble_metadata(json) {
            return Err(invalid(
                path,
                "an ensemble of fine-tuned models (nrf finetune --ensemble), not a single model: \
                 nrf eval scores it; give one member model where a single model is needed",
            ));
        }
        let meta: FileMetadata = serde_json::from_str(json)
            .map_err(|e| invalid(path, format!("nrf metadata unreadable: {e}")))?;
        if meta.format != "nrf-model" || meta.format_version > FORMAT_VERSION {
            return Err(invalid(
                path,
                format!(
                    "format {} version {} is not one this nrf ({}) reads (nrf-model ≤ {FORMAT_VERSION})",
                    meta.format,
                    meta.format_version,
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        meta.config
            .validate()
            .map_err(|m| invalid(path, format!("config: {m}")))?;
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| invalid(path, format!("corrupt tensor data: {e}")))?;
        let mut merger = StateDict::new();
        let mut mlp = StateDict::new();
        let mut b = None;
        let mut coords = None;
        let mut roi_masks = None;
        for (name, view) in file.tensors() {
            let shape = view.shape().to_vec();
            match name.as_str() {
                "domain.roi_masks" => {
                    if view.dtype() != Dtype::U8 {
                        return Err(invalid(
                            path,
                            format!("tensor {name}: expected u8, found {:?}", view.dtype()),
                        ));
                    }
                    roi_masks = Some((shape, view.data().to_vec()));
                    continue;
                }
                _ if view.dtype() != Dtype::F32 => {
                    return Err(invalid(
                        path,
                        format!("tensor {name}: expected f32, found {:?}", view.dtype()),
                    ));
                }
                _ => {}
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let tensor = NamedTensor { shape, data };
            if let Some(key) = name.strip_prefix("merger.") {
                merger.insert(key.to_string(), tensor);
            } else if let Some(key) = name.strip_prefix("mlp.") {
                mlp.insert(key.to_string(), tensor);
            } else if name == "fourier.B" {
                b = Some(tensor);
            } else if name == "domain.coords_mm" {
                coords = Some(tensor);
            } else {
                return Err(invalid(path, format!("unexpected tensor {name}")));
            }
        }
        let b = b.ok_or_else(|| invalid(path, "tensor fourier.B is missing"))?;
        let net =
            NrfNet::from_state_dicts(&meta.config, merger, mlp, &b, device).map_err(|source| {
                ModelError::Weights {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        let domain = if meta.domain.known {
            let coords =
                coords.ok_or_else(|| invalid(path, "tensor domain.coords_mm is missing"))?;
            if coords.shape.len() != 2 || coords.shape[1] != 3 {
                return Err(invalid(
                    path,
                    format!(
                        "domain.coords_mm has shape {:?}, expected (N, 3)",
                        coords.shape
                    ),
                ));
            }
            let points: Vec<Vec3> = coords.data.chunks_exact(3).map(Vec3::from_slice).collect();
            let names = &meta.domain.roi_names;
            let rois = match roi_masks {
                None if names.is_empty() => vec![],
                None => return Err(invalid(path, "tensor domain.roi_masks is missing")),
                Some((shape, data)) => {
                    if shape != [names.len(), points.len()] {
                        return Err(invalid(
                            path,
                            format!(
                                "domain.roi_masks has shape {shape:?}, expected [{}, {}]",
                                names.len(),
                                points.len()
                            ),
                        ));
                    }
                    names
                        .iter()
                        .zip(data.chunks(points.len().max(1)))
                        .map(|(name, row)| Roi {
                            name: name.clone(),
                            members: row.iter().map(|&v| v != 0).collect(),
                        })
                        .collect()
                }
            };
            Domain::Voxels(
                VoxelDomain::new(points, rois, meta.domain.reach_mm)
                    .map_err(|e| invalid(path, e.to_string()))?,
            )
        } else {
            Domain::Unknown
        };
        Ok(Nrf {
            config: meta.config,
            net,
            info: meta.info,
            domain,
            source: Some(path.to_path_buf()),
        })
    }
}
