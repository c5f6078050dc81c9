//! Predictions of a whole image set at the same points: features extracted in parallel through
//! the feature cache, latents in batches, then every image's query at the points.

use std::path::Path;
use std::sync::Arc;

use glam::Vec3;
use rayon::prelude::*;

use super::InsilicoError;
use super::image_set::SetItem;
use crate::features::cache::FeatureCache;
use crate::features::{FeatureExtractor, ImageFeatures};
use crate::model::Domain;
use crate::model::Nrf;
use crate::query::{ImageQuery, QueryEngine, QueryError, Region, RegionUsed, region_mask};
use crate::space::Grid;
use crate::volume::nifti::{SpaceCode, write_float32_volumes_from};
use crate::volume::{Mask, Volume, VolumeError, finite_range};

/// The most values (images × points) one set prediction may hold: 2 GiB of float32.
pub const MAX_SET_VALUES: usize = 1 << 29;

/// Images whose latents are computed in one batch.
const LATENT_BATCH: usize = 64;

/// A set's readable images and their features, in set order.
#[derive(Debug, Clone)]
pub struct SetFeatures {
    /// The images that were read.
    pub items: Vec<SetItem>,
    /// Their features, one per item.
    pub features: Vec<ImageFeatures>,
    /// The images that could not be read, with why (they are left out, not fatal).
    pub skipped: Vec<SkippedImage>,
}

/// An image of a set that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedImage {
    /// Its name in the set.
    pub name: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Features of every image of a set (`label` names it in errors), through `cache` when given,
/// several images at a time on the CPU's threads. Images that cannot be decoded are skipped and
/// named; a set of which none can be read is an error. `progress(done, total)` follows the
/// images; returning `false` cancels.
pub fn extract_set(
    label: &str,
    items: Vec<SetItem>,
    extractor: &dyn FeatureExtractor,
    cache: Option<&FeatureCache>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<SetFeatures, InsilicoError> {
    let total = items.len();
    let chunk = (2 * rayon::current_num_threads()).max(2);
    let mut set = SetFeatures {
        items: Vec::with_capacity(total),
        features: Vec::with_capacity(total),
        skipped: Vec::new(),
    };
    let mut done = 0;
    for block in items.chunks(chunk) {
        let results: Vec<Result<Result<ImageFeatures, String>, InsilicoError>> = block
            .par_iter()
            .map(|item| {
                let image = match item.load() {
                    Ok(image) => image,
                    Err(e) => return Ok(Err(e.to_string())),
                };
                Ok(Ok(match cache {
                    Some(cache) => cache.get_or_extract(extractor, &image)?,
                    None => extractor.extract(&image)?,
                }))
            })
            .collect();
        for (item, result) in block.iter().zip(results) {
            match result? {
                Ok(features) => {
                    set.items.push(item.clone());
                    set.features.push(features);
                }
                Err(reason) => set.skipped.push(SkippedImage {
                    name: item.name.clone(),
                    reason,
                }),
            }
        }
        done += block.len();
        if !progress(done, total) {
            return Err(InsilicoError::Cancelled);
        }
    }
    if set.items.is_empty() {
        return Err(InsilicoError::NothingReadable {
            set: label.to_string(),
            first: set
                .skipped
                .first()
                .map_or_else(|| "the set is empty".into(), |s| s.reason.clone()),
        });
    }
    Ok(set)
}

/// Every image's prediction at the same points.
#[derive(Debug, Clone)]
pub struct SetPrediction {
    /// The images, in order.
    pub items: Vec<SetItem>,
    /// The points (MNI mm).
    pub points: Vec<Vec3>,
    /// `[images × points]`, image-major.
    pub values: Vec<f32>,
}

impl SetPrediction {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Image `i`'s values at the points.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.points.len();
        &self.values[i * n..(i + 1) * n]
    }

    /// The mean over images at each point, `[points]` (accumulated in f64).
    pub fn mean(&self) -> Vec<f32> {
        let n = self.points.len();
        let mut sum = vec![0.0f64; n];
        for i in 0..self.len() {
            for (s, &v) in sum.iter_mut().zip(self.image(i)) {
                *s += f64::from(v);
            }
        }
        let count = self.len().max(1) as f64;
        sum.into_iter().map(|s| (s / count) as f32).collect()
    }

    /// Every image's values minus `baseline` at each point (e.g. [`Self::mean`] of a reference
    /// set at the same points): what is specific to each image.
    pub fn minus(mut self, baseline: &[f32]) -> Result<Self, InsilicoError> {
        if baseline.len() != self.points.len() {
            return Err(InsilicoError::Invalid(format!(
                "a baseline of {} values for {} points",
                baseline.len(),
                self.points.len()
            )));
        }
        let n = self.points.len().max(1);
        for row in self.values.chunks_mut(n) {
            for (v, b) in row.iter_mut().zip(baseline) {
                *v -= b;
            }
        }
        Ok(self)
    }
}

/// Checks that `images × points` values fit in [`MAX_SET_VALUES`], before anything is allocated.
pub fn check_set_size(images: usize, points: usize) -> Result<(), InsilicoError> {
    match images.checked_mul(points) {
        Some(values) if values <= MAX_SET_VALUES => Ok(()),
        _ => Err(InsilicoError::Invalid(format!(
            "{images} images × {points} points would need {:.1} GB; use fewer images, a coarser grid or fewer points (at most {MAX_SET_VALUES} values)",
            images as f64 * points as f64 * 4.0 / 1e9
        ))),
    }
}

/// Every image of `set` predicted by `model` at `points` (MNI mm): latents in batches, then all
/// the images at the points together ([`ImageQuery::query_each`]: on the CPU the points' encoding
/// is computed once for the whole set). `progress(done, total)` follows the images; returning
/// `false` cancels.
pub fn predict_set(
    model: &Nrf,
    engine: &Arc<QueryEngine>,
    set: &SetFeatures,
    points: &[Vec3],
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<SetPrediction, InsilicoError> {
    check_set_size(set.features.len(), points.len())?;
    let total = set.features.len();
    let mut queries = Vec::with_capacity(total);
    for batch in set.features.chunks(LATENT_BATCH) {
        queries.extend(engine.prepare_batch(model, batch)?);
    }
    let per_image = points.len().max(1);
    let values = ImageQuery::query_each(&queries, points, &mut |done, _| {
        progress(done / per_image, total)
    })
    .map_err(|e| match e {
        QueryError::Cancelled => InsilicoError::Cancelled,
        e => e.into(),
    })?;
    Ok(SetPrediction {
        items: set.items.clone(),
        points: points.to_vec(),
        values,
    })
}

/// The voxels of a grid a set is predicted at, and their positions.
#[derive(Debug, Clone)]
pub struct GridPoints {
    /// Which voxels.
    pub inside: Mask,
    /// Which region that is.
    pub region: RegionUsed,
    /// Their positions (MNI mm), in storage order.
    pub points: Vec<Vec3>,
}

impl GridPoints {
    /// The voxels of `grid` in `region` for a model whose domain is `domain`.
    pub fn new(domain: &Domain, grid: &Grid, region: Region) -> Result<Self, InsilicoError> {
        let (inside, region) = region_mask(domain, grid, region)?;
        let points = inside.points();
        Ok(Self {
            inside,
            region,
            points,
        })
    }

    /// Values at [`Self::points`] as a volume on the grid, `outside` elsewhere.
    pub fn volume(&self, values: &[f32], outside: f32) -> Result<Volume, InsilicoError> {
        if values.len() != self.points.len() {
            return Err(InsilicoError::Invalid(format!(
                "{} values for {} grid points",
                values.len(),
                self.points.len()
            )));
        }
        let mut volume = Volume::filled(self.inside.grid, outside);
        self.scatter(values, &mut volume.data);
        Ok(volume)
    }

    /// Puts `values` (one per point) at the points' voxels of `out` (one volume of the grid),
    /// leaving the other voxels as they are.
    fn scatter(&self, values: &[f32], out: &mut [f32]) {
        let slots = out
            .iter_mut()
            .zip(&self.inside.data)
            .filter(|(_, inside)| **inside);
        for ((slot, _), &v) in slots.zip(values) {
            *slot = v;
        }
    }

    /// Writes `rows` (`[images, points]`, row-major) as a 4D float32 NIfTI file of the grid,
    /// `outside` off the points, atomically: the volumes stream to disk one at a time, so a set
    /// of hundreds of images never holds its volumes whole.
    pub fn write_nifti_series(
        &self,
        path: &Path,
        rows: &[f32],
        outside: f32,
        code: SpaceCode,
    ) -> Result<(), VolumeError> {
        let points = self.points.len();
        if points == 0 || rows.is_empty() || !rows.len().is_multiple_of(points) {
            return Err(VolumeError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "{} values are not whole volumes of {points} grid points",
                    rows.len()
                ),
            });
        }
        let grid = &self.inside.grid;
        let mut range = finite_range(rows);
        if points < grid.len() && outside.is_finite() {
            range = Some(range.map_or((outside, outside), |(lo, hi)| {
                (lo.min(outside), hi.max(outside))
            }));
        }
        write_float32_volumes_from(
            path,
            grid.dims,
            &grid.affine,
            code,
            rows.len() / points,
            range,
            &mut |v, buffer| {
                buffer.fill(outside);
                self.scatter(&rows[v * points..(v + 1) * points], buffer);
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 × 3 × 2 grid with every other voxel inside.
    fn checkerboard() -> GridPoints {
        let grid = Grid::new(
            [4, 3, 2],
            glam::DAffine3::from_scale(glam::DVec3::splat(2.0)),
        );
        let inside = Mask {
            grid,
            data: (0..grid.len()).map(|i| i % 2 == 0).collect(),
        };
        let points = inside.points();
        GridPoints {
            inside,
            region: RegionUsed::Everywhere,
            points,
        }
    }

    #[test]
    fn streamed_volumes_are_the_volumes_written_whole() {
        let at = checkerboard();
        let n = at.points.len();
        // Three images; one value not finite, which the header's range leaves out.
        let mut rows: Vec<f32> = (0..3 * n).map(|i| i as f32 * 0.5 - 3.0).collect();
        rows[4] = f32::NAN;
        let dir = tempfile::tempdir().expect("tempdir");
        let streamed = dir.path().join("streamed.nii");
        at.write_nifti_series(&streamed, &rows, 0.0, SpaceCode::Mni152)
            .expect("streamed");
        let volumes: Vec<Volume> = rows
            .chunks(n)
            .map(|row| at.volume(row, 0.0).expect("volume"))
            .collect();
        let whole = dir.path().join("whole.nii");
        Volume::write_nifti_series(&volumes, &whole, SpaceCode::Mni152).expect("whole");
        let bytes = |p: &Path| std::fs::read(p).expect("read");
        assert_eq!(bytes(&streamed), bytes(&whole));
    }

    #[test]
    fn streamed_writing_refuses_rows_that_are_not_whole_volumes() {
        let at = checkerboard();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("set.nii");
        for rows in [vec![], vec![1.0; at.points.len() + 1]] {
            let message = at
                .write_nifti_series(&path, &rows, 0.0, SpaceCode::Mni152)
                .expect_err("not whole volumes")
                .to_string();
            assert!(
                message.contains("set.nii") && message.contains("not whole volumes"),
                "{message}"
            );
        }
        assert!(!path.exists());
    }
}
