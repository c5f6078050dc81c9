//! Files the user drops on the window (or names on the command line): a picture becomes the image
//! the model sees; a NIfTI volume (`.nii`, `.nii.gz`) becomes an overlay shown over the template
//! like any viewer shows a stat map, next to the prediction — or, when a names file sits beside
//! it, an atlas whose region under the cursor the status bar names; a `.nrf` model or an official
//! run folder joins the Subject list — with a CLIP folder (dropped, chosen or given with `--clip`)
//! when it takes CLIP features. Read on a background thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::Device;
use glam::DVec3;

use super::SessionError;
use crate::features::builtin::{BUILTIN_ID, BuiltinExtractor};
use crate::features::clip::ClipVisionConfig;
use crate::features::preprocess::Rgb8;
use crate::features::{FeatureExtractor, extractor_for};
use crate::model::official::DomainSource;
use crate::model::{Domain, Nrf};
use crate::query::{GridPrediction, RegionUsed};
use crate::train::ensemble::EnsembleModel;
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
    /// A model (`.nrf` or official run folder) on the viewer's device, ready with its feature
    /// extractor.
    Model(Box<ViewerModel>),
    /// A model trained on CLIP features, waiting for the user to choose a CLIP folder.
    NeedsClip {
        /// The file's or folder's name.
        name: String,
        /// The model (an ensemble's first member).
        model: Box<Nrf>,
        /// The ensemble, for an ensemble file.
        ensemble: Option<Arc<EnsembleModel>>,
    },
    /// A CLIP folder (dropped or chosen): models that take CLIP features use it.
    ClipFolder(PathBuf),
    /// Where a model's answers mean something, for a model that came without (an official run
    /// folder): an `(N, 3)` `.npy` of MNI coordinates, or an NSD-processed root.
    DomainSource(PathBuf),
}

/// A model the viewer can predict with: the model and the extractor of the features it takes.
#[derive(Clone)]
pub struct ViewerModel {
    /// The file's or folder's name, as the Subject list shows it.
    pub name: String,
    /// The model, on the viewer's compute device (fine-tuned ones: on the CPU they trained on).
    pub model: Nrf,
    /// Its features: the built-in extractor, or CLIP from a local folder.
    pub extractor: Arc<dyn FeatureExtractor>,
    /// The CLIP folder the extractor reads, for CLIP models.
    pub clip_folder: Option<PathBuf>,
    /// For an ensemble file: the ensemble, whose combined prediction (or members' spread) the
    /// views show; `model` is then its first member, standing for its features and subject.
    pub ensemble: Option<Arc<EnsembleModel>>,
}

impl ViewerModel {
    /// A model on the built-in features.
    pub fn builtin(name: String, model: Nrf) -> Self {
        Self {
            name,
            model,
            extractor: Arc::new(BuiltinExtractor),
            clip_folder: None,
            ensemble: None,
        }
    }

    /// Whether it takes the built-in features (the viewer fine-tunes only those).
    pub fn is_builtin(&self) -> bool {
        self.clip_folder.is_none()
    }
}

/// Whether `path` gives a model's domain: a `.npy` file (MNI coordinates) or an NSD-processed
/// root (a folder with `MNI_coordinate/`).
pub fn is_domain_source(path: &Path) -> bool {
    if path.is_dir() {
        return path.join("MNI_coordinate").is_dir();
    }
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Reads the domain `path` gives `model`: an `(N, 3)` `.npy` of MNI mm coordinates, or an
/// NSD-processed root, whose `nsdgeneral` voxels of the model's subject (from its config, else
/// `subj01`) are taken with every ROI label found there — as `nrf convert --domain` and
/// `--nsd-root` read them.
pub fn read_domain_for(model: &Nrf, path: &Path) -> Result<Domain, SessionError> {
    let source = if path.is_dir() {
        DomainSource::NsdProcessed {
            root: path.to_path_buf(),
            subject: model
                .info
                .subject
                .clone()
                .unwrap_or_else(|| "subj01".into()),
            rois: vec!["nsdgeneral".into()],
        }
    } else {
        DomainSource::Coords(path.to_path_buf())
    };
    crate::model::official::read_domain(&source).map_err(SessionError::from)
}

/// Whether `dir` looks like a local Hugging Face CLIP folder rather than a run folder.
pub fn is_clip_folder(dir: &Path) -> bool {
    dir.join("config.json").is_file() && !dir.join("experiment_config.yaml").exists()
}

/// A model file read for the viewer: one NRF, or an ensemble of fine-tuned NRFs.
pub struct ModelFile {
    /// The model; an ensemble's first member, standing for its features and subject.
    pub model: Nrf,
    /// The ensemble, for an ensemble file.
    pub ensemble: Option<Arc<EnsembleModel>>,
}

/// Reads a `.nrf` model, an ensemble file (`nrf finetune --ensemble`) or an official run folder
/// (whose domain is then unknown: the views use the brain mask) onto `device`.
pub fn read_model(path: &Path, device: &Device) -> Result<ModelFile, SessionError> {
    if path.is_dir() {
        let model = Nrf::from_official_dir(path, &DomainSource::Unknown, device)?;
        return Ok(ModelFile {
            model,
            ensemble: None,
        });
    }
    if crate::model::checkpoint::is_ensemble_file(path) {
        let ensemble =
            EnsembleModel::load(path, device).map_err(|e| SessionError::Invalid(e.to_string()))?;
        let Some(first) = ensemble.members.first() else {
            return Err(SessionError::Invalid(format!(
                "{}: an ensemble without members",
                path.display()
            )));
        };
        return Ok(ModelFile {
            model: first.clone(),
            ensemble: Some(Arc::new(ensemble)),
        });
    }
    Ok(ModelFile {
        model: Nrf::load(path, device)?,
        ensemble: None,
    })
}

/// Whether a model takes the built-in features (otherwise CLIP's).
pub fn takes_builtin_features(model: &Nrf) -> bool {
    model.info.features.as_ref().map(|f| f.extractor.as_str()) == Some(BUILTIN_ID)
}

/// Checks, from its `config.json` alone (no weights read), that the CLIP folder gives the
/// feature sizes `model` takes.
pub fn check_clip_config(model: &Nrf, folder: &Path) -> Result<(), SessionError> {
    if !folder.is_dir() {
        return Err(SessionError::Invalid(format!(
            "{}: not a CLIP folder (expected a folder with config.json, model.safetensors and \
             preprocessor_config.json)",
            folder.display()
        )));
    }
    let config = ClipVisionConfig::from_file(&folder.join("config.json"))?;
    model
        .check_feature_sizes(
            config.patches_per_side().pow(2),
            config.hidden_size,
            config.projection_dim,
        )
        .map_err(|e| {
            SessionError::Invalid(format!(
                "{}: this CLIP model does not fit the NRF model ({e}); choose the CLIP model it \
                 was trained with",
                folder.display()
            ))
        })
}

/// Opens the CLIP folder `folder` for a model that takes CLIP features: its sizes are checked
/// first (from `config.json`), then the weights are read onto `device` (seconds for ViT-B/16).
pub fn with_clip(
    name: String,
    model: Nrf,
    folder: &Path,
    device: &Device,
) -> Result<ViewerModel, SessionError> {
    check_clip_config(&model, folder)?;
    let id = model.info.features.as_ref().map(|f| f.extractor.as_str());
    let extractor = extractor_for(id, Some(folder), device)?;
    model.check_extractor(extractor.as_ref()).map_err(|e| {
        SessionError::Invalid(format!(
            "{}: this CLIP model does not fit the NRF model ({e})",
            folder.display()
        ))
    })?;
    Ok(ViewerModel {
        name,
        model,
        extractor: Arc::from(extractor),
        clip_folder: Some(folder.to_path_buf()),
        ensemble: None,
    })
}

/// Reads a model for the viewer: on the built-in features it is ready; on CLIP features it
/// takes `clip` (the session's CLIP folder) or waits for one.
fn open_model(
    path: &Path,
    name: String,
    clip: Option<&Path>,
    device: &Device,
) -> Result<Opened, SessionError> {
    let ModelFile { model, ensemble } = read_model(path, device)?;
    if takes_builtin_features(&model) {
        return Ok(Opened::Model(Box::new(ViewerModel {
            ensemble,
            ..ViewerModel::builtin(name, model)
        })));
    }
    match clip {
        Some(folder) => Ok(Opened::Model(Box::new(ViewerModel {
            ensemble,
            ..with_clip(name, model, folder, device)?
        }))),
        None => Ok(Opened::NeedsClip {
            name,
            model: Box::new(model),
            ensemble,
        }),
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
pub fn read_names(path: &Path) -> Result<BTreeMap<u32, String>, SessionError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SessionError::Invalid(format!("{}: {e}", path.display())))?;
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
        return Err(SessionError::Invalid(format!(
            "{}: no `index name` lines (expected e.g. `1<TAB>Left amygdala`)",
            path.display()
        )));
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

/// Reads `path` by what it is: a model (`.nrf` or run folder), a CLIP folder, a NIfTI overlay
/// or atlas, or a picture. `clip` is the CLIP folder chosen earlier in the session, for models
/// that take CLIP features. Errors name the file.
pub fn open(path: PathBuf, clip: Option<&Path>, device: &Device) -> Result<Opened, SessionError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    if path.is_dir() && is_clip_folder(&path) {
        // Read the config now: a folder that is not CLIP fails here, with its name.
        ClipVisionConfig::from_file(&path.join("config.json"))?;
        return Ok(Opened::ClipFolder(path));
    }
    if is_domain_source(&path) {
        return Ok(Opened::DomainSource(path));
    }
    let is_model = path.is_dir()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("nrf"));
    if is_model {
        return open_model(&path, name, clip, device);
    }
    if is_nifti(&path) {
        let volume = Volume::read_nifti(&path, 0)?;
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
            return Err(SessionError::Invalid(format!(
                "{}: every voxel is zero or not a number; nothing to show",
                path.display()
            )));
        }
        let data = volume
            .data
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect();
        let volume = Volume::new(volume.grid, data)?;
        return Ok(Opened::Overlay {
            name,
            volume: Box::new(GridPrediction {
                volume,
                inside,
                region: RegionUsed::Everywhere,
                on_gpu: None,
            }),
        });
    }
    match crate::features::decode::load_rgb8(&path) {
        Ok(rgb) => Ok(Opened::Image { name, rgb }),
        // Not a picture either: say everything the viewer opens.
        Err(crate::features::preprocess::ImageError::Unrecognised { .. }) => {
            Err(SessionError::Invalid(format!(
                "{}: not a file the viewer opens; expected a picture (JPEG, PNG, WebP, BMP, TIFF, GIF), a NIfTI volume (.nii, .nii.gz), an .nrf model, an official run folder or a CLIP folder",
                path.display()
            )))
        }
        Err(other) => Err(other.into()),
    }
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
        let Ok(Opened::Atlas(atlas)) = open(path, None, &burn::tensor::Device::flex()) else {
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
        assert!(message.to_string().contains("labels.tsv"), "{message}");
    }

    #[test]
    fn an_all_zero_volume_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.nii.gz");
        let grid = crate::space::Grid::mni(8.0).expect("grid");
        Volume::filled(grid, 0.0)
            .write_nifti(&path, crate::volume::nifti::SpaceCode::Mni152)
            .expect("write");
        let Err(message) = open(path, None, &burn::tensor::Device::flex()) else {
            panic!("an empty overlay must be refused");
        };
        assert!(message.to_string().contains("empty.nii.gz"), "{message}");
    }
}
