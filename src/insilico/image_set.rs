//! Image sets: a folder of images, or a category of the built-in procedural library with a count
//! and a seed. A set is a list of named items; each image is decoded (or drawn) only when its
//! features are needed, so a set of thousands of images never sits in memory.

use std::path::{Path, PathBuf};

use super::InsilicoError;
use crate::data::stimuli::{Category, category_of, generate};
use crate::features::decode::load_rgb8;
use crate::features::preprocess::{ImageError, Rgb8};

/// Seed of procedural sets when the specification names none. It is not the seed the embedded
/// models were trained on (1), so their sets are images the models have never seen.
pub const DEFAULT_SET_SEED: u64 = 2;

/// The most images a procedural set may hold.
pub const MAX_PROCEDURAL: usize = 100_000;

/// File extensions read as images (the image reader's formats).
const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"];

/// Where a set's images come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetSpec {
    /// Every image file of a folder, in file-name order.
    Folder(PathBuf),
    /// Procedural stimuli: one category (or the mixed library, `None`), `count` of them drawn
    /// from `seed`, indices `0..count` (`nrf stimuli` writes the same images).
    Procedural {
        /// The category, or `None` for the library's balanced mix.
        category: Option<Category>,
        /// How many.
        count: usize,
        /// The stream they are drawn from.
        seed: u64,
    },
}

/// One image of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetItem {
    /// Its name: the file name, or `NNNNN_category` for procedural images (as `nrf stimuli`
    /// names their files).
    pub name: String,
    /// Where it comes from.
    pub origin: ItemOrigin,
}

/// Where one image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOrigin {
    /// An image file.
    File(PathBuf),
    /// A procedural stimulus.
    Procedural {
        /// Stream.
        seed: u64,
        /// Index in the stream.
        index: u64,
        /// Category.
        category: Category,
    },
}

impl SetItem {
    /// The image's pixels: decoded from its file, or drawn.
    pub fn load(&self) -> Result<Rgb8, ImageError> {
        match &self.origin {
            ItemOrigin::File(path) => load_rgb8(path),
            ItemOrigin::Procedural {
                seed,
                index,
                category,
            } => Ok(generate(*seed, *index, *category)),
        }
    }

    /// The image's category: the procedural one, or one a file name ends with
    /// (`00012_face.png`, as `nrf stimuli` writes them); `None` otherwise.
    pub fn category(&self) -> Option<Category> {
        match &self.origin {
            ItemOrigin::Procedural { category, .. } => Some(*category),
            ItemOrigin::File(path) => {
                let stem = path.file_stem()?.to_str()?;
                Category::from_name(stem.rsplit('_').next()?)
            }
        }
    }
}

fn category_names() -> String {
    Category::ALL
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SetSpec {
    /// Parses `DIR`, `CATEGORY:N[:SEED]` or `library:N[:SEED]`. A procedural form wins over a
    /// folder of the same name only when its count parses.
    pub fn parse(spec: &str) -> Result<Self, InsilicoError> {
        let not_a_set = || InsilicoError::NotASet {
            spec: spec.to_string(),
            categories: category_names(),
        };
        let mut parts = spec.split(':');
        let head = parts.next().unwrap_or_default();
        let category = match head {
            "library" => Some(None),
            name => Category::from_name(name).map(Some),
        };
        if let (Some(category), Some(count)) = (category, parts.next()) {
            let count: usize = count.trim().parse().map_err(|_| {
                InsilicoError::Invalid(format!(
                    "{spec:?}: the count after {head}: must be a whole number of images"
                ))
            })?;
            if count == 0 || count > MAX_PROCEDURAL {
                return Err(InsilicoError::Invalid(format!(
                    "{spec:?}: a procedural set holds 1 to {MAX_PROCEDURAL} images"
                )));
            }
            let seed = match parts.next() {
                None => DEFAULT_SET_SEED,
                Some(seed) => seed.trim().parse().map_err(|_| {
                    InsilicoError::Invalid(format!(
                        "{spec:?}: the seed after the count must be a whole number"
                    ))
                })?,
            };
            if parts.next().is_some() {
                return Err(not_a_set());
            }
            return Ok(Self::Procedural {
                category,
                count,
                seed,
            });
        }
        let path = Path::new(spec);
        if path.is_dir() {
            return Ok(Self::Folder(path.to_path_buf()));
        }
        if path.exists() {
            return Err(InsilicoError::Invalid(format!(
                "{spec}: an image set is a folder of images (or CATEGORY:N), not a file"
            )));
        }
        Err(not_a_set())
    }

    /// A short description for messages and legends: `face:100 (seed 2)`, or the folder.
    pub fn label(&self) -> String {
        match self {
            Self::Folder(path) => path.display().to_string(),
            Self::Procedural {
                category,
                count,
                seed,
            } => format!(
                "{}:{count} (seed {seed})",
                category.map_or("library", Category::name)
            ),
        }
    }

    /// The set's images, in order: a folder's image files sorted by name (other files are
    /// ignored), or the procedural indices `0..count`.
    pub fn items(&self) -> Result<Vec<SetItem>, InsilicoError> {
        match self {
            Self::Procedural {
                category,
                count,
                seed,
            } => Ok((0..*count as u64)
                .map(|index| {
                    let category = category.unwrap_or_else(|| category_of(*seed, index));
                    SetItem {
                        name: format!("{index:05}_{}", category.name()),
                        origin: ItemOrigin::Procedural {
                            seed: *seed,
                            index,
                            category,
                        },
                    }
                })
                .collect()),
            Self::Folder(dir) => {
                let listing = |source| InsilicoError::Folder {
                    path: dir.clone(),
                    source,
                };
                let mut files = Vec::new();
                for entry in std::fs::read_dir(dir).map_err(listing)? {
                    let path = entry.map_err(listing)?.path();
                    let is_image = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    });
                    let hidden = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'));
                    if is_image && !hidden && path.is_file() {
                        files.push(path);
                    }
                }
                if files.is_empty() {
                    return Err(InsilicoError::EmptyFolder { path: dir.clone() });
                }
                files.sort();
                Ok(files
                    .into_iter()
                    .map(|path| SetItem {
                        name: path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        origin: ItemOrigin::File(path),
                    })
                    .collect())
            }
        }
    }
}

impl std::str::FromStr for SetSpec {
    type Err = InsilicoError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Self::parse(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procedural_specs_parse_with_and_without_a_seed() {
        assert_eq!(
            SetSpec::parse("face:20").unwrap(),
            SetSpec::Procedural {
                category: Some(Category::Face),
                count: 20,
                seed: DEFAULT_SET_SEED
            }
        );
        assert_eq!(
            SetSpec::parse("library:7:5").unwrap(),
            SetSpec::Procedural {
                category: None,
                count: 7,
                seed: 5
            }
        );
        let items = SetSpec::parse("place:3:9").unwrap().items().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].name, "00002_place");
        assert_eq!(items[2].category(), Some(Category::Place));
        assert_eq!(items[0].load().unwrap(), generate(9, 0, Category::Place));
    }

    #[test]
    fn bad_specs_say_what_a_set_is() {
        for (spec, expected) in [
            ("face:0", "1 to"),
            ("face:many", "whole number"),
            ("face:3:x", "seed"),
            ("dogs:3", "not an image set"),
            ("/no/such/folder", "not an image set"),
            ("face:3:1:2", "not an image set"),
        ] {
            let message = SetSpec::parse(spec).unwrap_err().to_string();
            assert!(message.contains(expected), "{spec}: {message}");
        }
    }

    #[test]
    fn folders_list_their_images_in_name_order_and_empty_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = SetSpec::parse(dir.path().to_str().unwrap()).unwrap();
        assert!(
            empty
                .items()
                .unwrap_err()
                .to_string()
                .contains("no image files")
        );
        for name in ["b_face.png", "a.JPG", "notes.txt", ".hidden.png"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let items = empty.items().unwrap();
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a.JPG", "b_face.png"]);
        assert_eq!(items[1].category(), Some(Category::Face));
        assert_eq!(items[0].category(), None);
        let file = dir.path().join("a.JPG");
        assert!(
            SetSpec::parse(file.to_str().unwrap())
                .unwrap_err()
                .to_string()
                .contains("not a file")
        );
    }
}
