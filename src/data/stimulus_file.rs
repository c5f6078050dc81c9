//! NSD stimulus files (`stimuli/S{n}_stimuli_227.h5py`): an HDF5 dataset `stimuli` of uint8
//! `(ids, 227, 227, 3)`, one gzip chunk per image, indexed by NSD image id. Read one image at a
//! time (the whole file is never loaded) and written one image at a time, through the pure-Rust
//! `rust-hdf5` crate (no system HDF5 library).

use std::path::{Path, PathBuf};

use rust_hdf5::H5File;

use crate::error::FileError;
use crate::features::preprocess::Rgb8;

/// Name of the dataset inside the file.
pub const STIMULI_DATASET: &str = "stimuli";

/// An open stimulus file: its path and shape (checked when opened).
#[derive(Debug, Clone)]
pub struct StimulusFile {
    /// The file.
    pub path: PathBuf,
    /// Number of image slots (max id + 1).
    pub images: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
}

fn invalid(path: &Path, message: impl Into<String>) -> FileError {
    FileError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl StimulusFile {
    /// Opens `path` and checks that `stimuli` is a uint8 `(N, H, W, 3)` dataset.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(FileError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let file = H5File::open(path)
            .map_err(|e| invalid(path, format!("not a readable HDF5 file ({e})")))?;
        let dataset = file.dataset(STIMULI_DATASET).map_err(|e| {
            invalid(
                path,
                format!("has no dataset {STIMULI_DATASET:?} ({e}); expected NSD stimuli"),
            )
        })?;
        let shape = dataset.shape();
        if shape.len() != 4 || shape[3] != 3 || dataset.element_size() != 1 {
            return Err(invalid(
                path,
                format!(
                    "dataset {STIMULI_DATASET:?} has shape {shape:?} with {}-byte elements; expected uint8 (images, height, width, 3)",
                    dataset.element_size()
                ),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            images: shape[0],
            height: shape[1],
            width: shape[2],
        })
    }

    /// The image with NSD id `id`, read and decompressed on its own.
    pub fn read(&self, id: usize) -> Result<Rgb8, FileError> {
        if id >= self.images {
            return Err(invalid(
                &self.path,
                format!(
                    "image id {id} is beyond the stimulus dataset, which holds ids 0 to {}",
                    self.images.saturating_sub(1)
                ),
            ));
        }
        let file = H5File::open(&self.path)
            .map_err(|e| invalid(&self.path, format!("not a readable HDF5 file ({e})")))?;
        let dataset = file
            .dataset(STIMULI_DATASET)
            .map_err(|e| invalid(&self.path, format!("dataset {STIMULI_DATASET:?}: {e}")))?;
        let pixels = dataset
            .read_slice::<u8>(&[id, 0, 0, 0], &[1, self.height, self.width, 3])
            .map_err(|e| invalid(&self.path, format!("cannot read image {id}: {e}")))?;
        Ok(Rgb8 {
            width: self.width as u32,
            height: self.height as u32,
            pixels,
        })
    }
}

/// Writes a stimulus file image by image: `(slots, size, size, 3)` uint8, one gzip chunk per
/// image; slots never written hold zeros and take no space. The file is written beside its
/// final name and renamed over it by [`StimulusWriter::finish`], so an existing file survives a
/// failed or cancelled run (the partial file is removed when the writer is dropped unfinished).
pub struct StimulusWriter {
    file: Option<H5File>,
    dataset: Option<rust_hdf5::H5Dataset>,
    path: PathBuf,
    partial: PathBuf,
    size: usize,
}

impl StimulusWriter {
    /// Creates `path` with `slots` image slots of `size × size` pixels.
    pub fn create(path: impl AsRef<Path>, slots: usize, size: usize) -> Result<Self, FileError> {
        let path = path.as_ref().to_path_buf();
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let fail = |e: rust_hdf5::Hdf5Error| invalid(&path, format!("cannot write HDF5 ({e})"));
        let file = H5File::create(&partial).map_err(fail)?;
        let dataset = file
            .new_dataset::<u8>()
            .shape([slots, size, size, 3])
            .chunk(&[1, size, size, 3])
            .deflate(4)
            .create(STIMULI_DATASET)
            .map_err(fail)?;
        Ok(Self {
            file: Some(file),
            dataset: Some(dataset),
            path,
            partial,
            size,
        })
    }

    /// Stores `image` (which must be `size × size`) at slot `id`.
    pub fn write(&mut self, id: usize, image: &Rgb8) -> Result<(), FileError> {
        if image.width as usize != self.size || image.height as usize != self.size {
            return Err(invalid(
                &self.path,
                format!(
                    "image {id} is {}×{}, the file stores {}×{}",
                    image.width, image.height, self.size, self.size
                ),
            ));
        }
        let Some(dataset) = &self.dataset else {
            return Err(invalid(&self.path, "the stimulus file is already finished"));
        };
        dataset
            .write_slice(&[id, 0, 0, 0], &[1, self.size, self.size, 3], &image.pixels)
            .map_err(|e| invalid(&self.path, format!("cannot write image {id} ({e})")))
    }

    /// Finishes the file and moves it to its final name.
    pub fn finish(mut self) -> Result<(), FileError> {
        drop(self.dataset.take());
        if let Some(file) = self.file.take() {
            file.close()
                .map_err(|e| invalid(&self.path, format!("cannot finish HDF5 file ({e})")))?;
        }
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            invalid(
                &self.path,
                format!("cannot move {} into place ({e})", self.partial.display()),
            )
        })
    }
}

impl Drop for StimulusWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            drop(self.dataset.take());
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_images_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("S1_stimuli_227.h5py");
        let image = |seed: u8| Rgb8 {
            width: 8,
            height: 8,
            pixels: (0..8 * 8 * 3)
                .map(|i| (i as u8).wrapping_mul(seed))
                .collect(),
        };
        let mut writer = StimulusWriter::create(&path, 10, 8).unwrap();
        writer.write(3, &image(3)).unwrap();
        writer.write(7, &image(7)).unwrap();
        assert!(
            writer
                .write(
                    8,
                    &Rgb8 {
                        width: 4,
                        height: 4,
                        pixels: vec![0; 48]
                    }
                )
                .is_err()
        );
        writer.finish().unwrap();
        assert!(!dir.path().join("S1_stimuli_227.h5py.partial").exists());
        let file = StimulusFile::open(&path).unwrap();
        assert_eq!((file.images, file.height, file.width), (10, 8, 8));
        assert_eq!(file.read(3).unwrap(), image(3));
        assert_eq!(file.read(7).unwrap(), image(7));
        assert!(file.read(0).unwrap().pixels.iter().all(|&v| v == 0));
        let beyond = file.read(10).unwrap_err().to_string();
        assert!(
            beyond.contains("image id 10") && beyond.contains("0 to 9"),
            "{beyond}"
        );
    }

    #[test]
    fn an_unfinished_writer_leaves_the_existing_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("S1_stimuli_227.h5py");
        std::fs::write(&path, b"previous").unwrap();
        let writer = StimulusWriter::create(&path, 4, 8).unwrap();
        drop(writer);
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_that_is_not_hdf5_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("S1_stimuli_227.h5py");
        std::fs::write(&path, b"not hdf5 at all").unwrap();
        let message = StimulusFile::open(&path).unwrap_err().to_string();
        assert!(
            message.contains("S1_stimuli_227.h5py") && message.contains("HDF5"),
            "{message}"
        );
    }
}
