//! Inputs and outputs several commands share: MNI points from `.npy`, and the grid behind a
//! NIfTI output.

use std::path::Path;

use anyhow::{Result, bail};
use glam::Vec3;

use nrf::npy;
use nrf::space::Grid;

/// Reads an `(N, 3)` `.npy` of MNI points in mm.
pub fn read_points(path: &Path) -> Result<Vec<Vec3>> {
    let points = npy::read_f32(path)?;
    points.expect_shape(path, "points (MNI mm)", &[None, Some(3)])?;
    Ok(points.data.chunks_exact(3).map(Vec3::from_slice).collect())
}

/// The MNI grid of `--grid MM` for a NIfTI output, refusing other output names.
pub fn nifti_grid(spacing: Option<f64>, out: &Path) -> Result<Grid> {
    let Some(spacing) = spacing else {
        bail!("give --points P.npy or --grid MM");
    };
    let name = out.to_string_lossy();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        bail!(
            "{}: --grid writes NIfTI; expected a name ending in .nii or .nii.gz",
            out.display()
        );
    }
    Ok(Grid::mni(spacing)?)
}
