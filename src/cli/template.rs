//! `nrf template`: write the embedded template or brain mask at any spacing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use nrf::space::Grid;
use nrf::template::{self, TemplateImage};
use nrf::volume::{SpaceCode, Volume};

use super::TemplateChoice;

/// Writes one template image on the MNI grid at `spacing` mm.
pub fn run(choice: TemplateChoice, spacing: f64, out: PathBuf) -> Result<()> {
    let grid = Grid::mni(spacing)?;
    super::io::check_grid_fits(&grid, spacing, 1)?;
    let image = match choice {
        TemplateChoice::T1 => TemplateImage::T1,
        TemplateChoice::Gm => TemplateImage::GreyMatter,
        TemplateChoice::Wm => TemplateImage::WhiteMatter,
        TemplateChoice::BrainMask => TemplateImage::BrainMask,
    };
    let volume: Volume = template::on_grid(image, &grid)?;
    if !(out.to_string_lossy().ends_with(".nii") || out.to_string_lossy().ends_with(".nii.gz")) {
        bail!(
            "{}: expected an output name ending in .nii or .nii.gz",
            out.display()
        );
    }
    volume
        .write_nifti(&out, SpaceCode::Mni152)
        .with_context(|| format!("writing the template to {}", out.display()))?;
    let [nx, ny, nz] = grid.dims;
    println!(
        "wrote {} ({nx} × {ny} × {nz} at {spacing} mm)",
        out.display()
    );
    Ok(())
}
