//! Training: the official loss, the trainer (AdamW, sampled voxels, validation r, early
//! stopping), training sets built from datasets and cached features, and evaluation metrics.

mod cpu_step;
pub mod ensemble;
pub mod fwrf;
pub mod loss;
pub mod metrics;
pub mod ridge;
pub mod superres;
pub mod trainer;
pub mod training_set;

use crate::data::dataset::DataError;
use crate::features::FeatureError;
use crate::features::cache::CacheError;
use crate::model::InputError;
use crate::model::official::ModelError;
use crate::query::QueryError;

/// Why training or evaluation could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Features could not be extracted.
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// The feature cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A model could not be read or written.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Features or points do not fit the model.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The request cannot work (too few images, nothing to validate on, a diverging loss, …).
    #[error("{0}")]
    Invalid(String),
    /// The device failed to return values.
    #[error("reading values back from the compute device failed: {0}")]
    Readback(String),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}
