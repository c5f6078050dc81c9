//! The plain dataset layout, for users' own data:
//!
//! ```text
//! FOLDER/responses.nii[.gz]   4D, one volume per image, in MNI space (sform or qform code 4)
//! FOLDER/mask.nii[.gz]        3D on the same grid; non-zero voxels are used
//! FOLDER/images.tsv           header `volume<TAB>image[<TAB>split]`, one row per volume used;
//!                             image paths relative to the TSV;
//!                             split = train | validation | test
//! ```
//!
//! Without a `split` column every tenth row (rows 9, 19, …) validates and none tests.

use std::path::{Path, PathBuf};

use glam::Vec3;

use super::dataset::{DataError, Dataset, Split, Stimuli, invalid};
use crate::volume::nifti::NiftiImage;

/// NIfTI xform code of MNI152 space.
const MNI152_CODE: i32 = 4;

/// The first of `names` that exists in `folder`.
fn find(folder: &Path, names: &[&str]) -> Result<PathBuf, DataError> {
    names
        .iter()
        .map(|n| folder.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            invalid(
                &folder.join(names[0]),
                format!(
                    "missing; a plain dataset needs {} (see README, Datasets, for the layout)",
                    names.join(" or ")
                ),
            )
        })
}

/// One row of `images.tsv`.
pub(crate) struct TsvRow {
    volume: usize,
    image: PathBuf,
    split: Option<Split>,
}

pub(crate) fn read_tsv(path: &Path) -> Result<Vec<TsvRow>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        DataError::File(crate::error::FileError::Io {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .map(|(_, l)| l.split('\t').map(str::trim).collect())
        .unwrap_or_default();
    let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(volume_col), Some(image_col)) = (column("volume"), column("image")) else {
        return Err(invalid(
            path,
            format!(
                "header is {header:?}; expected tab-separated columns volume, image and optionally split"
            ),
        ));
    };
    let split_col = column("split");
    let base = path.parent().unwrap_or(Path::new("."));
    lines
        .map(|(n, line)| {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            let field = |c: usize| {
                fields.get(c).copied().ok_or_else(|| {
                    invalid(
                        path,
                        format!("line {}: expected {} columns", n + 1, header.len()),
                    )
                })
            };
            let volume = field(volume_col)?.parse::<usize>().map_err(|_| {
                invalid(
                    path,
                    format!(
                        "line {}: volume {:?} is not a number",
                        n + 1,
                        fields[volume_col]
                    ),
                )
            })?;
            let image = base.join(field(image_col)?);
            if !image.is_file() {
                return Err(invalid(
                    path,
                    format!("line {}: image {} does not exist", n + 1, image.display()),
                ));
            }
            let split = match split_col {
                None => None,
                Some(c) => match field(c)?.to_ascii_lowercase().as_str() {
                    "train" => Some(Split::Train),
                    "validation" | "val" => Some(Split::Validation),
                    "test" => Some(Split::Test),
                    other => {
                        return Err(invalid(
                            path,
                            format!(
                                "line {}: split {other:?}; expected train, validation or test",
                                n + 1
                            ),
                        ));
                    }
                },
            };
            Ok(TsvRow {
                volume,
                image,
                split,
            })
        })
        .collect()
}

impl Dataset {
    /// Reads a plain dataset folder (see the module documentation for the layout).
    pub fn open_plain(folder: impl AsRef<Path>) -> Result<Self, DataError> {
        let folder = folder.as_ref();
        if !folder.is_dir() {
            return Err(invalid(
                folder,
                "not a folder; expected a plain dataset folder",
            ));
        }
        let responses_path = find(folder, &["responses.nii.gz", "responses.nii"])?;
        let mask_path = find(folder, &["mask.nii.gz", "mask.nii"])?;
        let tsv_path = find(folder, &["images.tsv"])?;
        let responses = NiftiImage::read(&responses_path)?;
        let header = &responses.header;
        if header.sform_code != MNI152_CODE && header.qform_code != MNI152_CODE {
            return Err(invalid(
                &responses_path,
                format!(
                    "not in MNI space: sform code {}, qform code {}; expected code 4 (MNI152) — register the data to MNI152 first",
                    header.sform_code, header.qform_code
                ),
            ));
        }
        let mask = NiftiImage::read(&mask_path)?;
        let dims = responses.spatial_dims();
        let affine_gap = (mask.affine.matrix3 - responses.affine.matrix3)
            .to_cols_array()
            .iter()
            .chain((mask.affine.translation - responses.affine.translation).as_ref())
            .fold(0.0f64, |a, v| a.max(v.abs()));
        if mask.spatial_dims() != dims || affine_gap > 1e-3 {
            return Err(invalid(
                &mask_path,
                format!(
                    "grid {:?} does not match {} ({:?}); expected the same grid and affine",
                    mask.spatial_dims(),
                    responses_path.display(),
                    dims
                ),
            ));
        }
        let rows = read_tsv(&tsv_path)?;
        let volumes = responses.volume_count();
        if let Some(row) = rows.iter().find(|r| r.volume >= volumes) {
            return Err(invalid(
                &tsv_path,
                format!(
                    "volume {} is beyond {}, which has {volumes} volumes",
                    row.volume,
                    responses_path.display()
                ),
            ));
        }
        let per_volume = dims.iter().product::<usize>();
        let voxel_indices: Vec<usize> = (0..per_volume).filter(|&i| mask.data[i] != 0.0).collect();
        if voxel_indices.is_empty() {
            return Err(invalid(&mask_path, "the mask is empty"));
        }
        let coordinates = voxel_indices
            .iter()
            .map(|&i| {
                let ijk = glam::DVec3::new(
                    (i % dims[0]) as f64,
                    ((i / dims[0]) % dims[1]) as f64,
                    (i / (dims[0] * dims[1])) as f64,
                );
                responses.affine.transform_point3(ijk).as_vec3()
            })
            .collect::<Vec<Vec3>>();
        let mut data = Vec::with_capacity(rows.len() * voxel_indices.len());
        for row in &rows {
            let volume = &responses.data[row.volume * per_volume..(row.volume + 1) * per_volume];
            data.extend(voxel_indices.iter().map(|&i| volume[i]));
        }
        let split_rule = if rows.iter().any(|r| r.split.is_some()) {
            "the split column of images.tsv"
        } else {
            "every tenth row of images.tsv validates (no split column; none tests)"
        }
        .to_string();
        let split = rows
            .iter()
            .enumerate()
            .map(|(n, r)| {
                r.split.unwrap_or(if n % 10 == 9 {
                    Split::Validation
                } else {
                    Split::Train
                })
            })
            .collect();
        let subject = folder
            .file_name()
            .map_or_else(|| "plain".into(), |n| n.to_string_lossy().into_owned());
        let dataset = Dataset {
            root: folder.to_path_buf(),
            subject,
            coordinates,
            image_ids: rows.iter().map(|r| r.volume as u32).collect(),
            responses: data,
            split,
            split_rule,
            warnings: Vec::new(),
            stimuli: Stimuli::Files(rows.into_iter().map(|r| r.image).collect()),
        };
        Ok(dataset.with_finite_voxels(&responses_path))
    }
}
