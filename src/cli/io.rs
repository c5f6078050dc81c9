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
pub fn nifti_grid(spacing: Option<f64>, out: &Path, volumes: usize) -> Result<Grid> {
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
    let grid = Grid::mni(spacing)?;
    check_grid_fits(&grid, spacing, volumes)?;
    Ok(grid)
}

/// Bytes a grid query of `volumes` output volumes needs per grid voxel: the volumes (float32),
/// one more being filled, the region mask and the region's voxel indices.
const BYTES_PER_VOXEL_BESIDES_VOLUMES: u64 = 4 + 1 + 8;

/// Refuses, before anything is allocated, a grid whose volumes would not fit in the memory
/// this machine has available (`MemAvailable`, Linux; no check where it cannot be read), saying
/// what it needs and what to do instead.
pub fn check_grid_fits(grid: &Grid, spacing: f64, volumes: usize) -> Result<()> {
    let voxels = grid.len() as u64;
    let needed = (volumes as u64)
        .checked_mul(4)
        .and_then(|b| b.checked_add(BYTES_PER_VOXEL_BESIDES_VOLUMES))
        .and_then(|b| b.checked_mul(voxels));
    let Some(available) = available_memory() else {
        return Ok(());
    };
    match needed {
        Some(needed) if needed <= available => Ok(()),
        _ => {
            let [nx, ny, nz] = grid.dims;
            // The spacing at which it would fit, rounded up to a tenth of a mm.
            let ratio = needed.map_or(f64::INFINITY, |n| n as f64 / available as f64);
            let coarser = (spacing * ratio.cbrt() * 10.0).ceil() / 10.0;
            bail!(
                "a {nx}×{ny}×{nz} grid at {spacing} mm for {volumes} volume(s) needs about {:.1} GB of memory, and this machine has {:.1} GB available: use a coarser --grid (about {coarser} mm or more) or fewer images",
                needed.map_or(f64::INFINITY, |n| n as f64 / 1e9),
                available as f64 / 1e9
            );
        }
    }
}

/// The memory the kernel says is available to new work (`MemAvailable` of `/proc/meminfo`),
/// bytes; `None` where it cannot be read.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}
