//! Every kind of file nrf reads from users, each behind one reader over raw bytes, so that the
//! robustness tests (seeded mutations, in CI) and the fuzzers (`fuzz/`) cover them all through the
//! same door and cannot drift from what the program opens.
//!
//! A reader returns `Ok` with a short description of what it read, or the error the user would
//! see; it must never panic and never allocate more than the input justifies.

use std::path::Path;

use burn::tensor::Device;

/// A file format nrf reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// NIfTI-1 or NIfTI-2 in one file, gzipped or not (`.nii`, `.nii.gz`).
    Nifti,
    /// A NIfTI-1 pair: the first 348 bytes are the `.hdr`, the rest the `.img`.
    NiftiPair,
    /// A NumPy `.npy` array (as f32 and as integers).
    Npy,
    /// An `.nrf` model or ensemble (safetensors with nrf metadata).
    NrfModel,
    /// An official PyTorch checkpoint (`.pth.tar`, read through burn's reader).
    OfficialCheckpoint,
    /// An official run folder's `experiment_config.yaml`.
    RunConfig,
    /// An NSD stimulus file (HDF5 with a uint8 `stimuli` dataset).
    StimulusHdf5,
    /// An image file (JPEG, PNG, WebP, BMP, TIFF, GIF).
    Image,
    /// A plain dataset's `images.tsv`.
    PlainTable,
    /// An atlas's region names file (`index name` lines).
    AtlasNames,
}

impl InputFormat {
    /// Every format.
    pub const ALL: [InputFormat; 10] = [
        InputFormat::Nifti,
        InputFormat::NiftiPair,
        InputFormat::Npy,
        InputFormat::NrfModel,
        InputFormat::OfficialCheckpoint,
        InputFormat::RunConfig,
        InputFormat::StimulusHdf5,
        InputFormat::Image,
        InputFormat::PlainTable,
        InputFormat::AtlasNames,
    ];

    /// A short name (the fuzz target's and the test's).
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Nifti => "nifti",
            InputFormat::NiftiPair => "nifti_pair",
            InputFormat::Npy => "npy",
            InputFormat::NrfModel => "nrf_model",
            InputFormat::OfficialCheckpoint => "official_checkpoint",
            InputFormat::RunConfig => "run_config",
            InputFormat::StimulusHdf5 => "stimulus_hdf5",
            InputFormat::Image => "image",
            InputFormat::PlainTable => "plain_table",
            InputFormat::AtlasNames => "atlas_names",
        }
    }

    /// Reads `bytes` as this format. Readers that only take paths get the bytes as a file in
    /// `scratch` (an existing, writable folder the caller owns).
    pub fn read(self, bytes: &[u8], scratch: &Path) -> Result<String, String> {
        let file = |name: &str| -> Result<std::path::PathBuf, String> {
            let path = scratch.join(name);
            std::fs::write(&path, bytes).map_err(|e| format!("scratch file: {e}"))?;
            Ok(path)
        };
        let text = |e: &dyn std::fmt::Display| e.to_string();
        match self {
            InputFormat::Nifti => {
                let image = crate::volume::nifti::NiftiImage::from_bytes("input.nii", bytes)
                    .map_err(|e| text(&e))?;
                describe_nifti(image)
            }
            InputFormat::NiftiPair => {
                let split = bytes.len().min(348);
                std::fs::write(scratch.join("pair.hdr"), &bytes[..split])
                    .and_then(|()| std::fs::write(scratch.join("pair.img"), &bytes[split..]))
                    .map_err(|e| format!("scratch file: {e}"))?;
                let image = crate::volume::nifti::NiftiImage::read(scratch.join("pair.hdr"))
                    .map_err(|e| text(&e))?;
                describe_nifti(image)
            }
            InputFormat::Npy => {
                let path = file("input.npy")?;
                let floats = crate::npy::read_f32(&path).map_err(|e| text(&e));
                let integers = crate::npy::read_integers(&path).map_err(|e| text(&e));
                match (floats, integers) {
                    (Ok(a), _) => Ok(format!("f32 {:?}", a.shape)),
                    (_, Ok((shape, _))) => Ok(format!("integers {shape:?}")),
                    (Err(e), Err(_)) => Err(e),
                }
            }
            InputFormat::NrfModel => {
                let path = file("input.nrf")?;
                let device = Device::flex();
                if crate::model::checkpoint::is_ensemble_file(&path) {
                    let ensemble = crate::train::ensemble::EnsembleModel::load(&path, &device)
                        .map_err(|e| text(&e))?;
                    Ok(format!("ensemble of {}", ensemble.members.len()))
                } else {
                    let model = crate::model::Nrf::load(&path, &device).map_err(|e| text(&e))?;
                    Ok(format!("model {:?}", model.config.hidden))
                }
            }
            InputFormat::OfficialCheckpoint => {
                let path = file("input.pth.tar")?;
                let (state, _) =
                    crate::model::official::read_pth_state_dict(&path).map_err(|e| text(&e))?;
                Ok(format!("{} tensors", state.len()))
            }
            InputFormat::RunConfig => {
                let path = file("experiment_config.yaml")?;
                let (config, ..) =
                    crate::model::official::read_yaml(&path).map_err(|e| text(&e))?;
                Ok(format!("{} layers", config.num_layers))
            }
            InputFormat::StimulusHdf5 => {
                let path = file("stimuli.hdf5")?;
                let stimuli =
                    crate::data::stimulus_file::StimulusFile::open(&path).map_err(|e| text(&e))?;
                if stimuli.images > 0 {
                    stimuli.read(0).map_err(|e| text(&e))?;
                    stimuli.read(stimuli.images - 1).map_err(|e| text(&e))?;
                }
                Ok(format!("{} images", stimuli.images))
            }
            InputFormat::Image => {
                let image =
                    crate::features::decode::decode_rgb8("input", bytes).map_err(|e| text(&e))?;
                Ok(format!("{}×{}", image.width, image.height))
            }
            InputFormat::PlainTable => {
                let path = file("images.tsv")?;
                let rows = crate::data::plain::read_tsv(&path).map_err(|e| text(&e))?;
                Ok(format!("{} rows", rows.len()))
            }
            InputFormat::AtlasNames => {
                let path = file("atlas.txt")?;
                let names = crate::session::open::read_names(&path).map_err(|e| text(&e))?;
                Ok(format!("{} names", names.len()))
            }
        }
    }
}

fn describe_nifti(image: crate::volume::nifti::NiftiImage) -> Result<String, String> {
    let shape = image.header.shape.clone();
    // Turning the first volume into a resampleable grid exercises the affine checks too.
    image.into_volume(0).map_err(|e| e.to_string())?;
    Ok(format!("NIfTI {shape:?}"))
}
