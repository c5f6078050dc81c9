//! In-silico experiments: questions asked of a model instead of data, as encoding-model papers
//! ask them — the response to whole image sets, a localiser contrast between two sets (Welch t
//! per point, as BERG's in-silico localisers), the images that drive a point most (Ratan Murty et
//! al. 2021), what a point sees (a population receptive field mapped with contrast probes) and
//! the mean response per ROI.
//!
//! Each is a library function over a [`crate::model::Nrf`] and its [`QueryEngine`]; `nrf
//! localizer`, `nrf top`, `nrf prf`, `nrf roi` and `nrf predict --images` report them, and the
//! viewer's panels show them.
//!
//! [`QueryEngine`]: crate::query::QueryEngine

pub mod image_set;
pub mod localizer;
pub mod prf;
pub mod roi_summary;
pub mod set_prediction;
pub mod top_images;

use std::path::PathBuf;

use thiserror::Error;

use crate::features::FeatureError;
use crate::features::cache::CacheError;
use crate::query::QueryError;

/// What can go wrong in an in-silico experiment.
#[derive(Debug, Error)]
pub enum InsilicoError {
    /// A set specification that names neither a folder nor a procedural category.
    #[error(
        "{spec:?} is not an image set: expected a folder of images, CATEGORY:N[:SEED] (CATEGORY one of {categories}) or library:N[:SEED]"
    )]
    NotASet {
        /// What was given.
        spec: String,
        /// The category names, listed.
        categories: String,
    },
    /// A folder without image files.
    #[error(
        "{}: no image files in this folder (expected JPEG, PNG, WebP, BMP, TIFF or GIF files)",
        path.display()
    )]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A folder that cannot be listed.
    #[error("cannot list {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not one image of a set could be read.
    #[error("no image of {set} could be read ({first})")]
    NothingReadable {
        /// The set.
        set: String,
        /// The first image's error.
        first: String,
    },
    /// Feature extraction failed.
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// The feature cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A query failed (or was cancelled).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// An argument out of its range (a point outside the brain, K = 0, too few images …).
    #[error("{0}")]
    Invalid(String),
    /// The caller cancelled through a progress callback.
    #[error("cancelled")]
    Cancelled,
}

impl From<crate::model::InputError> for InsilicoError {
    fn from(e: crate::model::InputError) -> Self {
        Self::Query(QueryError::Input(e))
    }
}
