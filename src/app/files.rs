//! Files the user drops on the window (or names on the command line): a picture becomes the image
//! the model sees; a NIfTI volume (`.nii`, `.nii.gz`) becomes an overlay shown over the template
//! like any viewer shows a stat map, next to the prediction. Read on a background thread.

use std::path::{Path, PathBuf};

use crate::features::preprocess::Rgb8;
use crate::query::{GridPrediction, RegionUsed};
use crate::volume::{Mask, Volume};

/// What a file turned out to be.
pub enum Opened {
    /// A picture, decoded.
    Image {
        /// The file's name.
        name: String,
        /// Its pixels.
        rgb: Rgb8,
    },
    /// A volume to overlay: its non-zero, finite voxels are shown.
    Overlay {
        /// The file's name.
        name: String,
        /// The values, with the voxels that carry one.
        volume: Box<GridPrediction>,
    },
}

/// Whether `path` names a NIfTI file.
pub fn is_nifti(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// Reads `path` as a NIfTI overlay or a picture, by its name; errors name the file.
pub fn open(path: PathBuf) -> Result<Opened, String> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    if is_nifti(&path) {
        let volume = Volume::read_nifti(&path, 0).map_err(|e| e.to_string())?;
        let inside = Mask {
            grid: volume.grid,
            data: volume
                .data
                .iter()
                .map(|v| v.is_finite() && *v != 0.0)
                .collect(),
        };
        if !inside.data.iter().any(|&i| i) {
            return Err(format!(
                "{}: every voxel is zero or not a number; nothing to show",
                path.display()
            ));
        }
        let data = volume
            .data
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect();
        let volume = Volume::new(volume.grid, data).map_err(|e| e.to_string())?;
        return Ok(Opened::Overlay {
            name,
            volume: Box::new(GridPrediction {
                volume,
                inside,
                region: RegionUsed::Everywhere,
            }),
        });
    }
    let rgb = crate::features::preprocess::load_rgb8(&path).map_err(|e| e.to_string())?;
    Ok(Opened::Image { name, rgb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nifti_files_are_told_by_their_names() {
        assert!(is_nifti(Path::new("/a/zstat1.nii.gz")));
        assert!(is_nifti(Path::new("MAP.NII")));
        assert!(!is_nifti(Path::new("face.png")));
        assert!(!is_nifti(Path::new("nii.gz.png")));
    }

    #[test]
    fn an_all_zero_volume_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.nii.gz");
        let grid = crate::space::Grid::mni(8.0).expect("grid");
        Volume::filled(grid, 0.0)
            .write_nifti(&path, crate::volume::nifti::SpaceCode::Mni152)
            .expect("write");
        let Err(message) = open(path) else {
            panic!("an empty overlay must be refused");
        };
        assert!(message.contains("empty.nii.gz"), "{message}");
    }
}
