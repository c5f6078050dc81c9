//! The MNI ICBM152 2009a template, embedded in the binary (so `nrf` finds it wherever it runs),
//! and the brain mask derived from its tissue probabilities.
//!
//! Files and licence: `assets/mni152-2009a/README.md`.

use crate::space::Grid;
use crate::volume::{Mask, NiftiImage, Volume, VolumeError};

const T1_NII_GZ: &[u8] = include_bytes!("../assets/mni152-2009a/t1.nii.gz");
const GM_NII_GZ: &[u8] = include_bytes!("../assets/mni152-2009a/gm.nii.gz");
const WM_NII_GZ: &[u8] = include_bytes!("../assets/mni152-2009a/wm.nii.gz");

/// A voxel belongs to the brain when its grey- plus white-matter probability exceeds this.
///
/// 0.5 keeps cortex and white matter and drops CSF, ventricles and skull: at 1 mm it selects
/// 1.73 million voxels (1.73 litres; the MNI152 average is larger than a typical single brain).
pub const BRAIN_PROBABILITY_THRESHOLD: f32 = 0.5;

/// Which template image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateImage {
    /// T1-weighted average intensity (0–255).
    T1,
    /// Grey-matter probability (0–1).
    GreyMatter,
    /// White-matter probability (0–1).
    WhiteMatter,
    /// Brain mask (0/1), see [`brain_mask`].
    BrainMask,
}

fn decode(image: TemplateImage) -> Result<Volume, VolumeError> {
    let (name, bytes, scale) = match image {
        TemplateImage::T1 => ("embedded template t1.nii.gz", T1_NII_GZ, 1.0),
        TemplateImage::GreyMatter => ("embedded template gm.nii.gz", GM_NII_GZ, 1.0 / 255.0),
        TemplateImage::WhiteMatter => ("embedded template wm.nii.gz", WM_NII_GZ, 1.0 / 255.0),
        TemplateImage::BrainMask => return Ok(brain_mask(&Grid::mni(1.0)?)?.to_volume()),
    };
    let mut volume = NiftiImage::from_bytes(name, bytes)?.into_volume(0)?;
    if scale != 1.0 {
        volume.data.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(volume)
}

/// One template image on its native 1 mm grid.
pub fn load(image: TemplateImage) -> Result<Volume, VolumeError> {
    decode(image)
}

/// One template image on any grid: resampled trilinearly (the mask is thresholded after
/// resampling the probability, so it stays 0/1); the native 1 mm grid is returned as stored.
pub fn on_grid(image: TemplateImage, grid: &Grid) -> Result<Volume, VolumeError> {
    if image == TemplateImage::BrainMask {
        return Ok(brain_mask(grid)?.to_volume());
    }
    let native = decode(image)?;
    if native.grid == *grid {
        Ok(native)
    } else {
        native.resample(grid, 0.0)
    }
}

/// Grey- plus white-matter probability (0–1) on the native 1 mm grid.
pub fn brain_probability() -> Result<Volume, VolumeError> {
    let mut sum = decode(TemplateImage::GreyMatter)?;
    let wm = decode(TemplateImage::WhiteMatter)?;
    for (s, w) in sum.data.iter_mut().zip(&wm.data) {
        *s = (*s + w).min(1.0);
    }
    Ok(sum)
}

/// [`brain_probability`], decoded once per process and shared.
pub fn brain_probability_shared() -> Result<&'static Volume, VolumeError> {
    static SHARED: std::sync::OnceLock<Result<Volume, String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| brain_probability().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|message| VolumeError::Invalid {
            path: "embedded template".into(),
            message: message.clone(),
        })
}

/// The grey-matter probability (0–1) on the native 1 mm grid, decoded once per process and
/// shared.
pub fn grey_matter_shared() -> Result<&'static Volume, VolumeError> {
    static SHARED: std::sync::OnceLock<Result<Volume, String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| decode(TemplateImage::GreyMatter).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|message| VolumeError::Invalid {
            path: "embedded template".into(),
            message: message.clone(),
        })
}

/// Whether each MNI point (mm) lies in the brain mask (trilinear probability above
/// [`BRAIN_PROBABILITY_THRESHOLD`]); points off the template are outside.
pub fn brain_mask_at(points: &[glam::Vec3]) -> Result<Vec<bool>, VolumeError> {
    let brain = brain_probability_shared()?;
    let to_voxel = brain.grid.world_to_voxel()?;
    Ok(points
        .iter()
        .map(|p| {
            brain
                .sample_voxel(to_voxel.transform_point3(p.as_dvec3()))
                .is_some_and(|v| v > BRAIN_PROBABILITY_THRESHOLD)
        })
        .collect())
}

/// The brain mask on any grid: the tissue probability resampled (trilinear) onto `grid` and
/// thresholded at [`BRAIN_PROBABILITY_THRESHOLD`].
pub fn brain_mask(grid: &Grid) -> Result<Mask, VolumeError> {
    let probability = brain_probability_shared()?.resample(grid, 0.0)?;
    Ok(probability.mask_above(BRAIN_PROBABILITY_THRESHOLD))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_grid_is_the_mni_box_at_1mm() {
        let t1 = load(TemplateImage::T1).expect("embedded T1");
        assert_eq!(t1.grid, Grid::mni(1.0).expect("grid"));
    }

    #[test]
    fn brain_mask_has_a_brain_sized_volume_at_any_spacing() {
        for spacing in [1.0, 2.0, 4.0] {
            let grid = Grid::mni(spacing).expect("grid");
            let mask = brain_mask(&grid).expect("mask");
            let litres = mask.count() as f64 * spacing.powi(3) / 1e6;
            assert!((1.65..1.8).contains(&litres), "{spacing} mm: {litres} l");
            // The centre of the brain is inside, the corner of the box is not.
            let inside = mask
                .grid
                .world_to_voxel()
                .expect("inv")
                .transform_point3(glam::DVec3::new(30.0, -20.0, 10.0));
            let ijk = inside.round().as_uvec3();
            assert!(mask.data[grid.index([ijk.x as usize, ijk.y as usize, ijk.z as usize])]);
            assert!(!mask.data[0]);
        }
    }
}
