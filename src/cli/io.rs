//! Inputs and outputs several commands share: MNI points (`X,Y,Z` or `.npy`), and the grid
//! behind a NIfTI output.

use std::path::Path;

use anyhow::{Result, bail};
use glam::Vec3;

use nrf::npy;
use nrf::space::Grid;

/// Parses a point given as `X,Y,Z` (MNI mm) on the command line.
pub fn parse_point(s: &str) -> Result<Vec3, String> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?}: expected X,Y,Z in mm, e.g. -40,-52,-18"))?;
    match v.as_slice() {
        [x, y, z] if v.iter().all(|c| c.is_finite()) => Ok(Vec3::new(*x, *y, *z)),
        _ => Err(format!("{s:?}: expected three numbers X,Y,Z")),
    }
}

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
