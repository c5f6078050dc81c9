//! `Volume`: a 3D grid of f32 values in world space, with NIfTI reading and writing, trilinear
//! resampling from one grid to another through their affines, and masks.

pub mod nifti;
pub mod summary;

use std::io;
use std::path::{Path, PathBuf};

use glam::DVec3;
use thiserror::Error;

pub use nifti::{DataType, NiftiHeader, NiftiImage, SpaceCode};

use crate::space::{Grid, SpaceError};

/// Errors from reading, writing and building volumes. Each names the file and what was expected.
#[derive(Debug, Error)]
pub enum VolumeError {
    /// The operating system refused a read or write.
    #[error("{what} {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done ("cannot open", …).
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a NIfTI file `nrf` can use.
    #[error("{path}: {message}")]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A volume index beyond the file's volumes.
    #[error("{path}: volume {index} requested, but the file holds {count} volume(s) (0-based)")]
    NoSuchVolume {
        /// The file concerned.
        path: PathBuf,
        /// Requested index.
        index: usize,
        /// Volumes available.
        count: usize,
    },
    /// Data whose length does not match the grid.
    #[error("{len} values do not fill a {dims:?} grid ({expected} voxels)")]
    ShapeMismatch {
        /// Grid dimensions.
        dims: [usize; 3],
        /// Voxels the grid needs.
        expected: usize,
        /// Values given.
        len: usize,
    },
    /// A grid problem (singular affine, bad spacing).
    #[error(transparent)]
    Space(#[from] SpaceError),
}

/// A 3D scalar field sampled on a grid: `data[grid.index([i, j, k])]` is the value at
/// `grid.point([i, j, k])`.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Where the samples lie.
    pub grid: Grid,
    /// One value per voxel, i fastest.
    pub data: Vec<f32>,
}

impl Volume {
    /// A volume from a grid and its values; fails when the lengths differ.
    pub fn new(grid: Grid, data: Vec<f32>) -> Result<Self, VolumeError> {
        if data.len() != grid.len() {
            return Err(VolumeError::ShapeMismatch {
                dims: grid.dims,
                expected: grid.len(),
                len: data.len(),
            });
        }
        Ok(Self { grid, data })
    }

    /// A volume of one value.
    pub fn filled(grid: Grid, value: f32) -> Self {
        Self {
            data: vec![value; grid.len()],
            grid,
        }
    }

    /// Reads volume `index` (0 for 3D files) of a NIfTI file.
    pub fn read_nifti(path: impl AsRef<Path>, index: usize) -> Result<Self, VolumeError> {
        NiftiImage::read(path)?.into_volume(index)
    }

    /// Writes the volume as float32 NIfTI-1 (`.nii` or `.nii.gz`), atomically.
    pub fn write_nifti(&self, path: impl AsRef<Path>, code: SpaceCode) -> Result<(), VolumeError> {
        nifti::write_float32(
            path.as_ref(),
            self.grid.dims,
            1,
            &self.grid.affine,
            code,
            &self.data,
        )
    }

    /// Writes several volumes on one grid as a 4D float32 NIfTI-1 file, atomically.
    pub fn write_nifti_series(
        volumes: &[Volume],
        path: impl AsRef<Path>,
        code: SpaceCode,
    ) -> Result<(), VolumeError> {
        let path = path.as_ref();
        let Some(first) = volumes.first() else {
            return Err(VolumeError::Invalid {
                path: path.to_path_buf(),
                message: "no volumes to write".into(),
            });
        };
        if let Some(other) = volumes.iter().find(|v| v.grid != first.grid) {
            return Err(VolumeError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "volumes on different grids ({:?} and {:?}) cannot share one file",
                    first.grid.dims, other.grid.dims
                ),
            });
        }
        let parts: Vec<&[f32]> = volumes.iter().map(|v| v.data.as_slice()).collect();
        nifti::write_float32_volumes(path, first.grid.dims, &first.grid.affine, code, &parts)
    }

    /// Value at voxel `[i, j, k]`.
    pub fn get(&self, ijk: [usize; 3]) -> f32 {
        self.data[self.grid.index(ijk)]
    }

    /// Trilinear interpolation at a fractional voxel position; `None` outside the grid
    /// (positions within half a voxel of the edge clamp to it).
    pub fn sample_voxel(&self, p: DVec3) -> Option<f32> {
        let [nx, ny, nz] = self.grid.dims;
        let limit = |v: f64, n: usize| -> Option<f64> {
            let max = (n - 1) as f64;
            (v >= -0.5 && v <= max + 0.5).then(|| v.clamp(0.0, max))
        };
        let (x, y, z) = (limit(p.x, nx)?, limit(p.y, ny)?, limit(p.z, nz)?);
        let (x0, y0, z0) = (x.floor() as usize, y.floor() as usize, z.floor() as usize);
        let (x1, y1, z1) = (
            (x0 + 1).min(nx - 1),
            (y0 + 1).min(ny - 1),
            (z0 + 1).min(nz - 1),
        );
        let (fx, fy, fz) = (x - x0 as f64, y - y0 as f64, z - z0 as f64);
        let v = |i, j, k| self.get([i, j, k]) as f64;
        let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
        let c00 = lerp(v(x0, y0, z0), v(x1, y0, z0), fx);
        let c10 = lerp(v(x0, y1, z0), v(x1, y1, z0), fx);
        let c01 = lerp(v(x0, y0, z1), v(x1, y0, z1), fx);
        let c11 = lerp(v(x0, y1, z1), v(x1, y1, z1), fx);
        Some(lerp(lerp(c00, c10, fy), lerp(c01, c11, fy), fz) as f32)
    }

    /// Resamples onto another grid by trilinear interpolation through both affines;
    /// voxels of `target` outside this volume get `outside`.
    pub fn resample(&self, target: &Grid, outside: f32) -> Result<Volume, VolumeError> {
        let world_to_self = self.grid.world_to_voxel()?;
        // Voxel of target → voxel of self, one affine.
        let map = world_to_self * target.affine;
        let data = (0..target.len())
            .map(|n| {
                let [i, j, k] = target.ijk(n);
                let p = map.transform_point3(DVec3::new(i as f64, j as f64, k as f64));
                self.sample_voxel(p).unwrap_or(outside)
            })
            .collect();
        Ok(Volume {
            grid: *target,
            data,
        })
    }

    /// Voxels whose value is strictly above `threshold`.
    pub fn mask_above(&self, threshold: f32) -> Mask {
        Mask {
            grid: self.grid,
            data: self.data.iter().map(|&v| v > threshold).collect(),
        }
    }

    /// Smallest and largest finite values, `None` when there are none.
    pub fn finite_range(&self) -> Option<(f32, f32)> {
        finite_range(&self.data)
    }
}

/// Smallest and largest finite values of a slice, `None` when there are none.
pub fn finite_range(values: &[f32]) -> Option<(f32, f32)> {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A boolean selection of a grid's voxels (e.g. the brain, or a model's domain).
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    /// The grid the mask lives on.
    pub grid: Grid,
    /// One flag per voxel, i fastest.
    pub data: Vec<bool>,
}

impl Mask {
    /// Number of selected voxels.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&b| b).count()
    }

    /// World positions of the selected voxels, in storage order.
    pub fn points(&self) -> Vec<glam::Vec3> {
        self.data
            .iter()
            .enumerate()
            .filter(|(_, inside)| **inside)
            .map(|(n, _)| self.grid.point(self.grid.ijk(n)).as_vec3())
            .collect()
    }

    /// The mask as a 0/1 volume (for writing, or resampling).
    pub fn to_volume(&self) -> Volume {
        Volume {
            grid: self.grid,
            data: self.data.iter().map(|&b| f32::from(u8::from(b))).collect(),
        }
    }
}

impl NiftiImage {
    /// Takes volume `index` out of the file as a [`Volume`] on the file's affine.
    pub fn into_volume(self, index: usize) -> Result<Volume, VolumeError> {
        let count = self.volume_count();
        if index >= count {
            return Err(VolumeError::NoSuchVolume {
                path: self.path,
                index,
                count,
            });
        }
        let grid = Grid::new(self.spatial_dims(), self.affine);
        let len = grid.len();
        let mut data = self.data;
        data.drain(..index * len);
        data.truncate(len);
        Volume::new(grid, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::BoundingBox;
    use glam::DAffine3;

    fn linear_field(p: DVec3) -> f32 {
        (0.5 * p.x - 0.25 * p.y + 0.125 * p.z + 3.0) as f32
    }

    #[test]
    fn trilinear_resampling_reproduces_a_linear_field() {
        let source_grid = Grid::over_box(
            &BoundingBox::new(DVec3::splat(-20.0), DVec3::splat(20.0)).expect("box"),
            2.0,
        )
        .expect("grid");
        let data = (0..source_grid.len())
            .map(|n| linear_field(source_grid.point(source_grid.ijk(n))))
            .collect();
        let source = Volume::new(source_grid, data).expect("volume");
        // A rotated, finer target inside the source.
        let target = Grid::new(
            [17, 13, 11],
            DAffine3::from_scale_rotation_translation(
                DVec3::splat(0.7),
                glam::DQuat::from_rotation_z(0.4),
                DVec3::new(-5.0, -4.0, -3.0),
            ),
        );
        let out = source.resample(&target, f32::NAN).expect("resample");
        for n in 0..target.len() {
            let expected = linear_field(target.point(target.ijk(n)));
            assert!((out.data[n] - expected).abs() < 1e-4, "voxel {n}");
        }
    }

    #[test]
    fn outside_points_get_the_outside_value() {
        let grid = Grid::over_box(
            &BoundingBox::new(DVec3::ZERO, DVec3::splat(4.0)).expect("box"),
            1.0,
        )
        .expect("grid");
        let v = Volume::filled(grid, 1.0);
        let far = Grid::new([1, 1, 1], DAffine3::from_translation(DVec3::splat(100.0)));
        assert!(v.resample(&far, -7.0).expect("resample").data[0] == -7.0);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let grid = Grid::new([2, 2, 2], DAffine3::IDENTITY);
        assert!(matches!(
            Volume::new(grid, vec![0.0; 7]),
            Err(VolumeError::ShapeMismatch {
                expected: 8,
                len: 7,
                ..
            })
        ));
    }
}
