//! One view of a response dataset, whatever its layout: voxels with MNI coordinates, a response
//! matrix (images × voxels), the image behind each row (read lazily), and the split of the rows
//! into training, validation (early stopping, model selection) and test (scoring only: nothing
//! that fits or selects reads it). Readers: [`Dataset::open_nsd`] (the official NSD-processed layout, also what
//! `nrf simulate` writes) and [`Dataset::open_plain`] (a 4D NIfTI in MNI space, a mask, and a
//! TSV naming each volume's image).

use std::path::{Path, PathBuf};

use glam::Vec3;

use super::stimulus_file::StimulusFile;
use crate::error::FileError;
use crate::features::decode::load_rgb8;
use crate::features::preprocess::{ImageError, Rgb8};
use crate::npy::{self, NpyError};
use crate::volume::VolumeError;

/// Errors from reading a dataset; each names the file and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file that cannot be read or is not what was expected.
    #[error(transparent)]
    File(#[from] FileError),
    /// A NIfTI file.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// A stimulus image file.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// An `.npy` file (read or written).
    #[error(transparent)]
    Npy(#[from] NpyError),
    /// A file that could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic_file::AtomicWriteError),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> DataError {
    DataError::File(FileError::invalid(path, message))
}

/// Where a row's image comes from.
#[derive(Debug, Clone)]
pub enum Stimuli {
    /// An NSD stimulus file indexed by image id.
    Hdf5(StimulusFile),
    /// One image file per row.
    Files(Vec<PathBuf>),
}

/// What a dataset row is for, as in NSD practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Fitted on.
    Train,
    /// Early stopping and any other choice made while fitting (penalties, epochs).
    Validation,
    /// Scored only: never read by fitting or selection code.
    Test,
}

impl Split {
    /// Its name in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The seed of [`shared_test_ids`]: fixed, so every subject and every run splits NSD's shared
/// images the same way.
pub const SHARED_SPLIT_SEED: u64 = 0x5EED_7E57;

/// SplitMix64 of `id ⊕ SHARED_SPLIT_SEED`: the order [`shared_test_ids`] ranks ids in.
fn split_rank(id: i64) -> u64 {
    let mut z = (id as u64 ^ SHARED_SPLIT_SEED).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which of the held-out (shared) image ids test when a dataset has no `test_idx.npy`: the ids
/// ranked by SplitMix64(id ⊕ [`SHARED_SPLIT_SEED`]), the first half (rounded down) test, the rest
/// validate. Computed over the whole `validation_idx.npy` list, so a given id tests for every
/// subject, and exactly half of the list tests.
pub fn shared_test_ids(held_out: &[i64]) -> std::collections::HashSet<i64> {
    let mut ids = held_out.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.sort_by_key(|&id| (split_rank(id), id));
    ids.truncate(ids.len() / 2);
    ids.into_iter().collect()
}

/// A subject's responses, coordinates, images and split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it was read from.
    pub root: PathBuf,
    /// Subject name (`subj01`, or the plain dataset's folder name).
    pub subject: String,
    /// Voxel positions, MNI mm.
    pub coordinates: Vec<Vec3>,
    /// Image id of each row (NSD id, or the volume index for plain datasets).
    pub image_ids: Vec<u32>,
    /// Responses, `[rows, voxels]` row-major.
    pub responses: Vec<f32>,
    /// What each row is for.
    pub split: Vec<Split>,
    /// How the split was made, in words (which files or rule), for reports.
    pub split_rule: String,
    /// Things the reader fixed and the user should hear about (e.g. voxels dropped for NaN).
    pub warnings: Vec<String>,
    pub(crate) stimuli: Stimuli,
}

impl Dataset {
    /// Number of voxels.
    pub fn voxels(&self) -> usize {
        self.coordinates.len()
    }

    /// Number of rows (images).
    pub fn rows(&self) -> usize {
        self.image_ids.len()
    }

    /// The responses of one row, `[voxels]`.
    pub fn row(&self, row: usize) -> &[f32] {
        let n = self.voxels();
        &self.responses[row * n..(row + 1) * n]
    }

    /// The rows of one split, in order.
    pub fn rows_in(&self, split: Split) -> Vec<usize> {
        (0..self.rows())
            .filter(|&r| self.split[r] == split)
            .collect()
    }

    /// Rows used for training.
    pub fn train_rows(&self) -> Vec<usize> {
        self.rows_in(Split::Train)
    }

    /// Rows held out for validation (early stopping, selection).
    pub fn validation_rows(&self) -> Vec<usize> {
        self.rows_in(Split::Validation)
    }

    /// Rows held out for testing (scoring only).
    pub fn test_rows(&self) -> Vec<usize> {
        self.rows_in(Split::Test)
    }

    /// The image shown in `row`, read from disk now.
    pub fn image(&self, row: usize) -> Result<Rgb8, DataError> {
        match &self.stimuli {
            Stimuli::Hdf5(file) => Ok(file.read(self.image_ids[row] as usize)?),
            Stimuli::Files(paths) => Ok(load_rgb8(&paths[row])?),
        }
    }

    /// Drops voxels with any non-finite response, recording a warning with the count.
    fn drop_non_finite_voxels(&mut self, responses_path: &Path) {
        let n = self.voxels();
        let keep: Vec<bool> = (0..n)
            .map(|v| (0..self.rows()).all(|r| self.responses[r * n + v].is_finite()))
            .collect();
        let dropped = keep.iter().filter(|&&k| !k).count();
        if dropped == 0 {
            return;
        }
        self.warnings.push(format!(
            "{}: {dropped} of {n} voxels have NaN or infinite responses and were dropped",
            responses_path.display()
        ));
        self.coordinates = self
            .coordinates
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| *c)
            .collect();
        self.responses = self
            .responses
            .chunks_exact(n)
            .flat_map(|row| row.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v))
            .collect();
    }

    /// Reads a dataset folder in whichever layout it has: the NSD-processed one (when it holds
    /// `roi_response_average/`; `subject` and `roi` as in [`Dataset::open_nsd`]) or a plain one
    /// ([`Dataset::open_plain`], which has one subject and no ROI to choose).
    pub fn open(dir: impl AsRef<Path>, subject: &str, roi: &str) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        if dir.join("roi_response_average").is_dir() {
            Self::open_nsd(dir, subject, roi)
        } else {
            Self::open_plain(dir)
        }
    }

    /// Reads subject `subject` (`subj01` or `1`) of the NSD-processed layout under `root`, for
    /// one ROI (`nsdgeneral` by default):
    /// `roi_response_average/<subj>/{<roi>.npy, image_order.npy}`,
    /// `MNI_coordinate/<subj>/<roi>_MNI_coordinate.npy`, `validation_idx.npy` and
    /// `stimuli/S<n>_stimuli_227.h5py`. Rows whose id is in `validation_idx.npy` (the shared
    /// images) are held out: those also in an optional `test_idx.npy` test and the others
    /// validate; without that file [`shared_test_ids`] halves them. The rest train.
    pub fn open_nsd(root: impl AsRef<Path>, subject: &str, roi: &str) -> Result<Self, DataError> {
        let root = root.as_ref();
        let subject = normalise_subject(subject).ok_or_else(|| {
            invalid(
                root,
                format!("subject {subject:?} is not a subject name; expected e.g. subj01 or 1"),
            )
        })?;
        let number: usize = subject[4..].parse().unwrap_or(1);
        let responses_dir = root.join("roi_response_average").join(&subject);
        if !responses_dir.is_dir() {
            return Err(invalid(
                &responses_dir,
                "no such folder; expected the NSD-processed layout (roi_response_average/<subject>/)",
            ));
        }
        let order_path = responses_dir.join("image_order.npy");
        let (order_shape, order) = npy::read_integers(&order_path)?;
        if order_shape.len() != 1 {
            return Err(invalid(
                &order_path,
                format!("shape {order_shape:?}; expected a list of image ids"),
            ));
        }
        let image_ids: Vec<u32> = order
            .iter()
            .map(|&v| {
                u32::try_from(v).map_err(|_| {
                    invalid(&order_path, format!("image id {v} is not a valid NSD id"))
                })
            })
            .collect::<Result<_, _>>()?;

        let responses_path = responses_dir.join(format!("{roi}.npy"));
        let responses = npy::read_f32(&responses_path)?;
        if responses.shape.len() != 2 || responses.shape[0] != image_ids.len() {
            return Err(invalid(
                &responses_path,
                format!(
                    "responses have shape {:?}; expected ({} images in image_order.npy, voxels)",
                    responses.shape,
                    image_ids.len()
                ),
            ));
        }
        let coords_path = root
            .join("MNI_coordinate")
            .join(&subject)
            .join(format!("{roi}_MNI_coordinate.npy"));
        let coords = npy::read_f32(&coords_path)?;
        if coords.shape.len() != 2 || coords.shape[1] != 3 {
            return Err(invalid(
                &coords_path,
                format!(
                    "coordinates have shape {:?}; expected (voxels, 3)",
                    coords.shape
                ),
            ));
        }
        if coords.shape[0] != responses.shape[1] {
            return Err(invalid(
                &coords_path,
                format!(
                    "{} coordinates, but {} has {} voxels",
                    coords.shape[0],
                    responses_path.display(),
                    responses.shape[1]
                ),
            ));
        }
        let validation_path = root.join("validation_idx.npy");
        let held_out_list = npy::read_integers(&validation_path)?.1;
        let held_out: std::collections::HashSet<i64> = held_out_list.iter().copied().collect();
        let test_path = root.join("test_idx.npy");
        let (test_ids, split_rule) = if test_path.is_file() {
            let test_ids: std::collections::HashSet<i64> =
                npy::read_integers(&test_path)?.1.into_iter().collect();
            if let Some(id) = test_ids.iter().find(|id| !held_out.contains(id)) {
                return Err(invalid(
                    &test_path,
                    format!(
                        "image id {id} is not in {}; test images must be among the held-out (shared) images",
                        validation_path.display()
                    ),
                ));
            }
            (
                test_ids,
                "validation_idx.npy holds out, test_idx.npy tests".to_string(),
            )
        } else {
            (
                shared_test_ids(&held_out_list),
                format!(
                    "validation_idx.npy holds out, halved into validation and test by SplitMix64(id ^ {SHARED_SPLIT_SEED:#x})"
                ),
            )
        };
        let split: Vec<Split> = image_ids
            .iter()
            .map(|&id| {
                let id = i64::from(id);
                if !held_out.contains(&id) {
                    Split::Train
                } else if test_ids.contains(&id) {
                    Split::Test
                } else {
                    Split::Validation
                }
            })
            .collect();
        let stimulus_path = root
            .join("stimuli")
            .join(format!("S{number}_stimuli_227.h5py"));
        let stimuli = StimulusFile::open(&stimulus_path)?;
        if let Some(&beyond) = image_ids.iter().find(|&&id| id as usize >= stimuli.images) {
            return Err(invalid(
                &stimulus_path,
                format!(
                    "image id {beyond} (in {}) is beyond the stimulus dataset, which holds ids 0 to {}",
                    order_path.display(),
                    stimuli.images.saturating_sub(1)
                ),
            ));
        }
        let mut dataset = Dataset {
            root: root.to_path_buf(),
            subject,
            coordinates: coords.data.chunks_exact(3).map(Vec3::from_slice).collect(),
            split,
            split_rule,
            image_ids,
            responses: responses.data,
            warnings: Vec::new(),
            stimuli: Stimuli::Hdf5(stimuli),
        };
        dataset.drop_non_finite_voxels(&responses_path);
        Ok(dataset)
    }

    /// Drops voxels with non-finite responses (with a warning) and returns the dataset.
    pub(crate) fn with_finite_voxels(mut self, responses_path: &Path) -> Self {
        self.drop_non_finite_voxels(responses_path);
        self
    }
}

/// `subj01`, `1`, `01` → `subj01`.
pub fn normalise_subject(subject: &str) -> Option<String> {
    let digits = subject.strip_prefix("subj").unwrap_or(subject);
    let number: usize = digits.parse().ok()?;
    (number > 0).then(|| format!("subj{number:02}"))
}
