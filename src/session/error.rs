//! The one error type of a viewing session: every library error a job can meet, passed through
//! unchanged (its message is the library's), and the session's own refusals in words. The
//! viewer shows its message; nothing is lost on the way to the UI thread.

use std::path::PathBuf;

use crate::atomic_file::AtomicWriteError;
use crate::data::dataset::DataError;
use crate::embedded::DefaultModelError;
use crate::error::FileError;
use crate::features::FeatureError;
use crate::features::clip::ClipError;
use crate::features::preprocess::ImageError;
use crate::gpu::GpuError;
use crate::model::InputError;
use crate::model::domain::DomainError;
use crate::model::official::ModelError;
use crate::query::QueryError;
use crate::render::RenderError;
use crate::space::SpaceError;
use crate::train::TrainError;
use crate::volume::VolumeError;

/// Why something the viewer asked for failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A file that cannot be read, or whose content is not usable.
    #[error(transparent)]
    File(#[from] FileError),
    /// A picture that cannot be read.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A NIfTI volume that cannot be read or resampled.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// A model file or run folder that cannot be read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An embedded model that cannot be opened.
    #[error(transparent)]
    Embedded(#[from] DefaultModelError),
    /// Inputs that do not fit the model.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A model's domain that cannot be built.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A CLIP folder that cannot be used.
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// Features that cannot be extracted.
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// A query that failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A view that cannot be drawn.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// No usable GPU adapter.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A geometry request that is not valid.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A dataset that cannot be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Training that failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A file that could not be written.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
    /// An input/output failure at a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// An in-silico experiment that failed.
    #[error(transparent)]
    Insilico(crate::insilico::InsilicoError),
    /// The job was cancelled (its result is no longer wanted).
    #[error("cancelled")]
    Cancelled,
    /// A request that cannot work, said in words (with the file it concerns).
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::insilico::InsilicoError> for SessionError {
    /// A cancelled experiment is a cancelled job (never shown); other errors pass unchanged.
    fn from(e: crate::insilico::InsilicoError) -> Self {
        match e {
            crate::insilico::InsilicoError::Cancelled => Self::Cancelled,
            e => Self::Insilico(e),
        }
    }
}
