//! Files the user drops on the window (or names on the command line): a picture becomes the image
//! the model sees; a NIfTI volume (`.nii`, `.nii.gz`) becomes an overlay shown over the template
//! like any viewer shows a stat map, next to the prediction — or, when a names file sits beside
//! it, an atlas whose region under the cursor the status bar names; a `.nrf` model joins the
//! Subject list. Read on a background thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glam::DVec3;

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
    /// A label volume with region names.
    Atlas(Box<Atlas>),
    /// A model (`.nrf`) on the CPU, trained on the built-in features.
    Model {
        /// The file's name.
        name: String,
        /// The model.
        model: Box<crate::model::Nrf>,
    },
}

/// Reads a `.nrf` model for the viewer, which computes the built-in features only: models of
/// other features (CLIP) and ensembles are refused with what to use instead.
fn open_model(path: &Path) -> Result<crate::model::Nrf, String> {
    if path.is_dir() {
        return Err(format!(
            "{}: official run folders are trained on CLIP features, which the viewer cannot \
             compute yet; use `nrf predict --model {} --clip CLIP_DIR`",
            path.display(),
            path.display()
        ));
    }
    if crate::model::checkpoint::is_ensemble_file(path) {
        return Err(format!(
            "{}: an ensemble; the viewer shows single models (score it with `nrf eval`)",
            path.display()
        ));
    }
    let model =
        crate::model::Nrf::load(path, &burn::tensor::Device::flex()).map_err(|e| e.to_string())?;
    let builtin = crate::features::builtin::BUILTIN_ID;
    match model.info.features.as_ref().map(|f| f.extractor.as_str()) {
        Some(id) if id == builtin => Ok(model),
        other => Err(format!(
            "{}: trained on features {}; the viewer computes only `{builtin}` so far (use \
             `nrf predict --model … --clip CLIP_DIR` for it)",
            path.display(),
            other.unwrap_or("that are not recorded")
        )),
    }
}

/// A label volume (integer labels, 0 = none) and the name of each label.
#[derive(Debug, Clone)]
pub struct Atlas {
    /// The label file's name.
    pub name: String,
    /// The labels.
    pub labels: Volume,
    /// Label → region name.
    pub names: BTreeMap<u32, String>,
}

impl Atlas {
    /// The region at MNI point `p` (nearest voxel), if it has a name.
    pub fn region_at(&self, p: DVec3) -> Option<&str> {
        let grid = self.labels.grid;
        let ijk = grid.nearest_voxel(grid.world_to_voxel().ok()?.transform_point3(p))?;
        let label = self.labels.get(ijk);
        if !(label.is_finite() && label >= 1.0) {
            return None;
        }
        self.names.get(&(label.round() as u32)).map(String::as_str)
    }
}

/// The names file beside a label NIfTI: same stem, `.txt`, `.tsv` or `.csv`.
pub fn names_file(nifti: &Path) -> Option<PathBuf> {
    let name = nifti.file_name()?.to_string_lossy().to_string();
    let lower = name.to_ascii_lowercase();
    let stem_len = if lower.ends_with(".nii.gz") {
        name.len() - 7
    } else if lower.ends_with(".nii") {
        name.len() - 4
    } else {
        return None;
    };
    let stem = &name[..stem_len];
    ["txt", "tsv", "csv"]
        .iter()
        .map(|ext| nifti.with_file_name(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
}

/// Reads `index name` lines (separated by a tab, comma or spaces); `#` comments, blank lines and
/// a header line whose first field is not a number are skipped.
pub fn read_names(path: &Path) -> Result<BTreeMap<u32, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut names = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (index, name) = line
            .split_once(['\t', ','])
            .or_else(|| line.split_once(' '))
            .unwrap_or((line, ""));
        let Ok(index) = index.trim().parse::<u32>() else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        if !name.is_empty() {
            names.insert(index, name.to_string());
        }
    }
    if names.is_empty() {
        return Err(format!(
            "{}: no `index name` lines (expected e.g. `1<TAB>Left amygdala`)",
            path.display()
        ));
    }
    Ok(names)
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
    let is_model = path.is_dir()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("nrf"));
    if is_model {
        let model = open_model(&path)?;
        return Ok(Opened::Model {
            name,
            model: Box::new(model),
        });
    }
    if is_nifti(&path) {
        let volume = Volume::read_nifti(&path, 0).map_err(|e| e.to_string())?;
        if let Some(names) = names_file(&path) {
            return Ok(Opened::Atlas(Box::new(Atlas {
                name,
                labels: volume,
                names: read_names(&names)?,
            })));
        }
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
    fn a_label_volume_with_a_names_file_beside_it_is_an_atlas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("regions.nii.gz");
        let grid = crate::space::Grid::mni(8.0).expect("grid");
        // Label 2 left of the midline, 1 right of it.
        let data = grid
            .points()
            .iter()
            .map(|p| if p.x < 0.0 { 2.0 } else { 1.0 })
            .collect();
        Volume::new(grid, data)
            .expect("volume")
            .write_nifti(&path, crate::volume::nifti::SpaceCode::Mni152)
            .expect("write");
        std::fs::write(
            dir.path().join("regions.txt"),
            "# index name\nindex\tname\n1\tRight hemisphere\n2,\"Left hemisphere\"\n",
        )
        .expect("names");
        let Ok(Opened::Atlas(atlas)) = open(path) else {
            panic!("a label volume with names is an atlas");
        };
        assert_eq!(
            atlas.region_at(DVec3::new(-40.0, -20.0, 10.0)),
            Some("Left hemisphere")
        );
        assert_eq!(
            atlas.region_at(DVec3::new(40.0, -20.0, 10.0)),
            Some("Right hemisphere")
        );
        assert_eq!(atlas.region_at(DVec3::new(900.0, 0.0, 0.0)), None);
    }

    #[test]
    fn a_names_file_without_names_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.tsv");
        std::fs::write(&path, "index\tname\n").expect("write");
        let message = read_names(&path).expect_err("no names");
        assert!(message.contains("labels.tsv"), "{message}");
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
