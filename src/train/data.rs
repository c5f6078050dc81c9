//! A dataset made ready for training: frozen features of every image (computed once, from the
//! feature cache when one is given), the response matrix, voxel coordinates and the split.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use glam::Vec3;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::TrainError;
use crate::data::dataset::Dataset;
use crate::features::cache::FeatureCache;
use crate::features::{FeatureExtractor, ImageFeatures};

/// Features, responses, coordinates and split of one subject.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// Subject name.
    pub subject: String,
    /// Extractor the features came from.
    pub extractor_id: String,
    /// Features of each row's image.
    pub features: Vec<ImageFeatures>,
    /// Responses, `[rows, voxels]` row-major.
    pub responses: Vec<f32>,
    /// Voxel positions, MNI mm.
    pub coordinates: Vec<Vec3>,
    /// Rows that train.
    pub train_rows: Vec<usize>,
    /// Rows that validate.
    pub validation_rows: Vec<usize>,
}

impl TrainingSet {
    /// Extracts (or reads from `cache`) the features of the rows of `dataset` (all, or only the
    /// validation rows for evaluation). `progress` hears `(done, total)` and returns `false` to
    /// cancel.
    pub fn from_dataset(
        dataset: &Dataset,
        extractor: &dyn FeatureExtractor,
        cache: Option<&FeatureCache>,
        only_validation: bool,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Self, TrainError> {
        let selected: Vec<usize> = if only_validation {
            dataset.validation_rows()
        } else {
            (0..dataset.rows()).collect()
        };
        let rows = selected.len();
        let done = AtomicUsize::new(0);
        let cancelled = AtomicBool::new(false);
        let features: Vec<ImageFeatures> = selected
            .par_iter()
            .map(|&row| {
                if cancelled.load(Ordering::Relaxed) {
                    return Err(TrainError::Cancelled);
                }
                let image = dataset.image(row)?;
                let features = match cache {
                    Some(cache) => cache.get_or_extract(extractor, &image)?,
                    None => extractor.extract(&image)?,
                };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if !progress(n, rows) {
                    cancelled.store(true, Ordering::Relaxed);
                }
                Ok(features)
            })
            .collect::<Result<_, TrainError>>()?;
        let responses = selected
            .iter()
            .flat_map(|&row| dataset.row(row).iter().copied())
            .collect();
        let (validation_rows, train_rows) =
            (0..rows).partition(|&i| dataset.validation[selected[i]]);
        Ok(Self {
            subject: dataset.subject.clone(),
            extractor_id: extractor.id(),
            features,
            responses,
            coordinates: dataset.coordinates.clone(),
            train_rows,
            validation_rows,
        })
    }

    /// Number of voxels.
    pub fn voxels(&self) -> usize {
        self.coordinates.len()
    }

    /// Keeps `count` training rows, chosen by a seeded shuffle (the same seed keeps the same
    /// rows, and a smaller count keeps a subset of a larger one).
    pub fn limit_training_images(&mut self, count: usize, seed: u64) {
        let mut rows = self.train_rows.clone();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x1A6E5));
        rows.truncate(count);
        rows.sort_unstable();
        self.train_rows = rows;
    }

    /// The responses of one row, `[voxels]`.
    pub fn row(&self, row: usize) -> &[f32] {
        let n = self.voxels();
        &self.responses[row * n..(row + 1) * n]
    }
}
