//! A dataset made ready for training: frozen features of every image (computed once, from the
//! feature cache when one is given), the response matrix, voxel coordinates and the split. A set
//! made for fitting holds no test rows at all ([`TrainingSet::from_dataset`] with
//! [`Split::Train`] and [`Split::Validation`]), so nothing that fits or selects can read them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use glam::Vec3;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::TrainError;
use crate::data::dataset::{DataError, Dataset, Split};
use crate::data::simulate::{SimulationConfig, image_ids, measure_subject};
use crate::data::virtual_subjects::VirtualSubject;
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
    /// Rows that validate (early stopping, selection).
    pub validation_rows: Vec<usize>,
    /// Rows that test (scored only; empty in a set made for fitting).
    pub test_rows: Vec<usize>,
}

impl TrainingSet {
    /// Extracts (or reads from `cache`) the features of the rows of `dataset` in `splits` (the
    /// others are left out: training takes train and validation, never test; evaluation takes
    /// the split it scores). `progress` hears `(done, total)` and returns `false` to cancel.
    pub fn from_dataset(
        dataset: &Dataset,
        extractor: &dyn FeatureExtractor,
        cache: Option<&FeatureCache>,
        splits: &[Split],
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Self, TrainError> {
        let selected: Vec<usize> = (0..dataset.rows())
            .filter(|&r| splits.contains(&dataset.split[r]))
            .collect();
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
        let rows_in = |split: Split| {
            (0..rows)
                .filter(|&i| dataset.split[selected[i]] == split)
                .collect()
        };
        Ok(Self {
            subject: dataset.subject.clone(),
            extractor_id: extractor.id(),
            features,
            responses,
            coordinates: dataset.coordinates.clone(),
            train_rows: rows_in(Split::Train),
            validation_rows: rows_in(Split::Validation),
            test_rows: rows_in(Split::Test),
        })
    }

    /// A training set measured from virtual subject `number` of the simulation with `seed` and
    /// `layout`, in memory (no dataset on disk): the first `validation_images` shared images
    /// validate, `train_images` of the subject's own images (a seeded choice) train. The
    /// measurement noise is drawn as `nrf simulate` draws it, over this smaller list of images.
    /// `progress` hears `(done, total)` over simulation then feature extraction and returns
    /// `false` to cancel.
    pub fn simulated(
        layout: &SimulationConfig,
        number: usize,
        train_images: usize,
        validation_images: usize,
        extractor: &dyn FeatureExtractor,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Self, TrainError> {
        if number == 0 || number > layout.subjects {
            return Err(TrainError::Invalid(format!(
                "virtual subject {number} does not exist; the simulation has subjects 1 to {}",
                layout.subjects
            )));
        }
        let all = image_ids(layout, number);
        let (shared, own) = all.split_at(layout.shared.min(all.len()));
        if validation_images < 2 || validation_images > shared.len() {
            return Err(TrainError::Invalid(format!(
                "{validation_images} validation images asked for; between 2 and {} are shared",
                shared.len()
            )));
        }
        if train_images == 0 || train_images > own.len() {
            return Err(TrainError::Invalid(format!(
                "{train_images} training images asked for; subj{number:02} has 1 to {}",
                own.len()
            )));
        }
        let mut chosen = own.to_vec();
        chosen.shuffle(&mut ChaCha8Rng::seed_from_u64(layout.seed ^ 0x1A6E5));
        chosen.truncate(train_images);
        chosen.sort_unstable();
        let ids: Vec<u32> = shared[..validation_images]
            .iter()
            .chain(&chosen)
            .copied()
            .collect();
        let total = 2 * ids.len();
        let subject = VirtualSubject::new(layout.seed, number)
            .map_err(DataError::from)?
            .with_front_end(layout.front_end);
        let mut images = Vec::with_capacity(ids.len());
        let measured = measure_subject(
            &subject,
            layout.seed,
            number,
            &ids,
            &mut |_, _, image| {
                images.push(image.clone());
                Ok(())
            },
            &|p| progress(p.images_done, total),
        )
        .map_err(|e| match e {
            DataError::Cancelled => TrainError::Cancelled,
            e => e.into(),
        })?;
        let done = AtomicUsize::new(ids.len());
        let cancelled = AtomicBool::new(false);
        let features = images
            .par_iter()
            .map(|image| {
                if cancelled.load(Ordering::Relaxed) {
                    return Err(TrainError::Cancelled);
                }
                let features = extractor.extract(image)?;
                if !progress(done.fetch_add(1, Ordering::Relaxed) + 1, total) {
                    cancelled.store(true, Ordering::Relaxed);
                }
                Ok(features)
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        Ok(Self {
            subject: format!("subj{number:02}"),
            extractor_id: extractor.id(),
            features,
            responses: measured.responses,
            coordinates: measured.voxels.iter().map(|v| v.mni).collect(),
            train_rows: (validation_images..ids.len()).collect(),
            validation_rows: (0..validation_images).collect(),
            test_rows: Vec::new(),
        })
    }

    /// Number of voxels.
    pub fn voxels(&self) -> usize {
        self.coordinates.len()
    }

    /// The rows of one split.
    pub fn rows_in(&self, split: Split) -> &[usize] {
        match split {
            Split::Train => &self.train_rows,
            Split::Validation => &self.validation_rows,
            Split::Test => &self.test_rows,
        }
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

    /// The responses of `rows`, `[rows, voxels]` row-major (the measurements a prediction of
    /// those rows is scored against).
    pub fn rows_of(&self, rows: &[usize]) -> Vec<f32> {
        rows.iter()
            .flat_map(|&r| self.row(r).iter().copied())
            .collect()
    }

    /// The responses of one row, `[voxels]`.
    pub fn row(&self, row: usize) -> &[f32] {
        let n = self.voxels();
        &self.responses[row * n..(row + 1) * n]
    }
}
