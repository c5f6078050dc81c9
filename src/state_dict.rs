//! Named weights in PyTorch layout (`Linear.weight` is `[out, in]`), the common currency of the
//! official import, our `.nrf` files, CLIP folders and the burn modules. Every mismatch is
//! reported with the key and both shapes. Neutral ground: `model` and `features` both read
//! weights through it, and it depends on neither.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::FileError;

/// One tensor: shape and row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// Tensors by name, sorted.
pub type StateDict = BTreeMap<String, NamedTensor>;

/// What is wrong with a set of weights.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    /// A tensor the model needs is absent.
    #[error("tensor {key} is missing")]
    Missing {
        /// Expected name.
        key: String,
    },
    /// A tensor has another shape than the configuration implies.
    #[error("tensor {key} has shape {found:?}, but the configuration implies {expected:?}")]
    Shape {
        /// Name.
        key: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape found.
        found: Vec<usize>,
    },
    /// Tensors that belong to nothing in the model (a different architecture).
    #[error("unexpected tensors {keys:?}: the weights do not belong to this architecture")]
    Unexpected {
        /// Names left over.
        keys: Vec<String>,
    },
    /// A value is NaN or infinite.
    #[error("tensor {key} contains NaN or infinite values")]
    NotFinite {
        /// Name.
        key: String,
    },
}

/// Removes `key` from the dict, checking its shape and values.
pub fn take_tensor(
    dict: &mut StateDict,
    key: &str,
    expected: &[usize],
) -> Result<NamedTensor, WeightsError> {
    let tensor = dict.remove(key).ok_or_else(|| WeightsError::Missing {
        key: key.to_string(),
    })?;
    if tensor.shape != expected {
        return Err(WeightsError::Shape {
            key: key.to_string(),
            expected: expected.to_vec(),
            found: tensor.shape,
        });
    }
    if !tensor.data.iter().all(|v| v.is_finite()) {
        return Err(WeightsError::NotFinite {
            key: key.to_string(),
        });
    }
    Ok(tensor)
}

/// Transposes a row-major `[rows, cols]` matrix (PyTorch `[out, in]` ↔ burn `[in, out]`).
pub fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Folds weight-norm parametrisations into plain weights, in place: `w = g · v / ‖v‖` with the
/// norm taken over each output row. Understands both PyTorch spellings:
/// `P.parametrizations.weight.original0/1` (g, v) and the legacy `P.weight_g` / `P.weight_v`.
pub fn fold_weight_norm(dict: &mut StateDict) {
    let prefixes: Vec<(String, String, String)> = dict
        .keys()
        .filter_map(|k| {
            if let Some(p) = k.strip_suffix(".parametrizations.weight.original0") {
                Some((
                    p.to_string(),
                    k.clone(),
                    format!("{p}.parametrizations.weight.original1"),
                ))
            } else {
                k.strip_suffix(".weight_g")
                    .map(|p| (p.to_string(), k.clone(), format!("{p}.weight_v")))
            }
        })
        .collect();
    for (prefix, g_key, v_key) in prefixes {
        let (Some(g), Some(v)) = (dict.get(&g_key), dict.get(&v_key)) else {
            continue;
        };
        let rows = v.shape.first().copied().unwrap_or(0);
        if rows == 0 || g.data.len() != rows {
            continue; // Left in place: the shape check will name it.
        }
        let cols = v.data.len() / rows;
        let mut weight = v.data.clone();
        for (r, row) in weight.chunks_mut(cols).enumerate() {
            let norm = row
                .iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt();
            let scale = (f64::from(g.data[r]) / norm.max(1e-30)) as f32;
            row.iter_mut().for_each(|x| *x *= scale);
        }
        let shape = v.shape.clone();
        dict.remove(&g_key);
        dict.remove(&v_key);
        dict.insert(
            format!("{prefix}.weight"),
            NamedTensor {
                shape,
                data: weight,
            },
        );
    }
}

/// Builds a burn `Linear` from `{prefix}.weight` `[out, in]` and `{prefix}.bias` `[out]`
/// (PyTorch layout), removing both from the dict.
pub fn linear_from(
    dict: &mut StateDict,
    prefix: &str,
    (inp, out): (usize, usize),
    device: &Device,
) -> Result<Linear, WeightsError> {
    let weight = take_tensor(dict, &format!("{prefix}.weight"), &[out, inp])?;
    let bias = take_tensor(dict, &format!("{prefix}.bias"), &[out])?;
    // burn keeps Linear weights as [in, out].
    let weight = Tensor::<2>::from_data(
        TensorData::new(transpose(&weight.data, out, inp), [inp, out]),
        device,
    );
    let bias = Tensor::<1>::from_data(TensorData::new(bias.data, [out]), device);
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
    })
}

/// Writes a burn `Linear` into the dict as `{prefix}.weight` `[out, in]` and `{prefix}.bias`
/// (PyTorch layout).
pub fn linear_to_dict(dict: &mut StateDict, prefix: &str, layer: &Linear) -> Result<(), String> {
    let weight = layer.weight.val();
    let [inp, out] = weight.dims();
    let values = weight
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{prefix}.weight: {e:?}"))?;
    dict.insert(
        format!("{prefix}.weight"),
        NamedTensor {
            shape: vec![out, inp],
            data: transpose(&values, inp, out),
        },
    );
    if let Some(bias) = &layer.bias {
        let values = bias
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{prefix}.bias: {e:?}"))?;
        dict.insert(
            format!("{prefix}.bias"),
            NamedTensor {
                shape: vec![out],
                data: values,
            },
        );
    }
    Ok(())
}

/// Reads a safetensors file (F32, F16 or BF16) into f32 tensors in PyTorch layout, keeping only
/// the keys that `keep` accepts.
pub fn read_safetensors(
    path: &std::path::Path,
    keep: impl Fn(&str) -> bool,
) -> Result<StateDict, FileError> {
    let bad = |message: String| FileError::invalid(path, message);
    let bytes = crate::error::read_bytes(path)?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
    let mut dict = StateDict::new();
    for (name, view) in file.tensors() {
        if !keep(&name) {
            continue;
        }
        use safetensors::Dtype;
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(bad(format!(
                    "tensor {name} has dtype {other:?}; expected F32, F16 or BF16"
                )));
            }
        };
        dict.insert(
            name.clone(),
            NamedTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(dict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_norm_folds_to_g_times_unit_rows() {
        let mut dict = StateDict::new();
        dict.insert(
            "layers.0.parametrizations.weight.original0".into(),
            NamedTensor {
                shape: vec![2, 1],
                data: vec![2.0, 10.0],
            },
        );
        dict.insert(
            "layers.0.parametrizations.weight.original1".into(),
            NamedTensor {
                shape: vec![2, 2],
                data: vec![3.0, 4.0, 0.0, -1.0],
            },
        );
        dict.insert(
            "layers.1.weight_g".into(),
            NamedTensor {
                shape: vec![1, 1],
                data: vec![1.0],
            },
        );
        dict.insert(
            "layers.1.weight_v".into(),
            NamedTensor {
                shape: vec![1, 2],
                data: vec![0.0, 5.0],
            },
        );
        fold_weight_norm(&mut dict);
        assert_eq!(dict["layers.0.weight"].data, vec![1.2, 1.6, 0.0, -10.0]);
        assert_eq!(dict["layers.0.weight"].shape, vec![2, 2]);
        assert_eq!(dict["layers.1.weight"].data, vec![0.0, 1.0]);
        assert_eq!(dict.len(), 2);
    }

    #[test]
    fn transpose_is_its_own_inverse() {
        let m: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let t = transpose(&m, 2, 3);
        assert_eq!(t, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(transpose(&t, 3, 2), m);
    }
}
