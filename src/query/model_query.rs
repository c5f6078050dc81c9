//! What the viewer shows and exports: one model's prediction ([`ImageQuery`]) or an ensemble's
//! ([`EnsembleQuery`]: its fine-tuned members' predictions combined with the per-voxel weights
//! fitted on the target subject, or how much the members disagree), behind one type
//! ([`ModelQuery`]) so the 3D refinement, the slices and the export take either.

use std::sync::Arc;

use burn::tensor::Device;
use glam::Vec3;

use super::gpu::Kernel;
use super::{
    GridPrediction, ImageQuery, PlanePrediction, QueryError, Region, RegionUsed, grid_from_points,
    plane_from_points, plane_mask, region_mask,
};
use crate::model::{Domain, InputError};
use crate::space::{Grid, Plane};
use crate::train::ensemble::EnsembleModel;
use crate::volume::Mask;

/// Points an ensemble query evaluates at a time (each member in turn): bounds memory to a few
/// vectors of this length per member.
const ENSEMBLE_CHUNK_POINTS: usize = 65_536;

/// What an ensemble's query gives at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnsembleShows {
    /// The combined prediction: Σ weight_m · member_m + intercept, with the weights of the
    /// point's nearest target voxel ([`EnsembleModel::combine_with`]).
    #[default]
    Combined,
    /// The members' disagreement: the standard deviation of their predictions
    /// ([`EnsembleModel::spread`]), where the ensemble is uncertain.
    Spread,
}

/// An ensemble's members, each prepared for the same images (an image, a set's mean or a
/// contrast), queried together.
#[derive(Debug, Clone)]
pub struct EnsembleQuery {
    ensemble: Arc<EnsembleModel>,
    /// One per member, in member order.
    members: Vec<ImageQuery>,
    /// The target subject's voxels, whose weights the combination uses.
    domain: Arc<Domain>,
    shows: EnsembleShows,
}

impl EnsembleQuery {
    /// The query of `ensemble` from its members' queries (`members[m]` prepared by member m's
    /// engine for the same images), giving what `shows` says.
    pub fn new(
        ensemble: Arc<EnsembleModel>,
        members: Vec<ImageQuery>,
        shows: EnsembleShows,
    ) -> Result<Self, QueryError> {
        if members.is_empty() || members.len() != ensemble.members.len() {
            return Err(InputError::Contrast(format!(
                "an ensemble of {} members queried with {} member queries",
                ensemble.members.len(),
                members.len()
            ))
            .into());
        }
        let domain = Arc::new(Domain::Voxels(ensemble.voxels.clone()));
        Ok(Self {
            ensemble,
            members,
            domain,
            shows,
        })
    }

    /// What this query gives.
    pub fn shows(&self) -> EnsembleShows {
        self.shows
    }

    /// Number of members.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Values at exactly these points (MNI mm), with `progress(done, total)` after each chunk
    /// (`false` cancels).
    pub fn query_points_with_progress(
        &self,
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<f32>, QueryError> {
        // A contrast's intercepts cancel (A − B of the same combination).
        let intercept = !self.is_contrast();
        let mut out = Vec::with_capacity(points_mm.len());
        for chunk in points_mm.chunks(ENSEMBLE_CHUNK_POINTS) {
            let members = self
                .members
                .iter()
                .map(|member| member.query_points(chunk))
                .collect::<Result<Vec<_>, _>>()?; // [members][chunk]
            out.extend(match self.shows {
                EnsembleShows::Combined => self.ensemble.combine_with(&members, chunk, intercept),
                EnsembleShows::Spread => EnsembleModel::spread(&members),
            });
            if !progress(out.len(), points_mm.len()) {
                return Err(QueryError::Cancelled);
            }
        }
        Ok(out)
    }

    /// Whether the members' queries are a contrast.
    pub fn is_contrast(&self) -> bool {
        self.members.iter().any(ImageQuery::is_contrast)
    }
}

/// A prediction the viewer can query anywhere: one model's, or an ensemble's.
#[derive(Debug, Clone)]
pub enum ModelQuery {
    /// One model.
    Single(ImageQuery),
    /// An ensemble of fine-tuned models.
    Ensemble(Arc<EnsembleQuery>),
}

impl From<ImageQuery> for ModelQuery {
    fn from(query: ImageQuery) -> Self {
        Self::Single(query)
    }
}

impl ModelQuery {
    /// Where its answers mean something: the model's training voxels (an ensemble's: the target
    /// subject's), or unknown.
    pub fn domain(&self) -> &Domain {
        match self {
            Self::Single(query) => query.domain(),
            Self::Ensemble(query) => &query.domain,
        }
    }

    /// The device it runs on (an ensemble's members all run on one).
    pub fn device(&self) -> Device {
        match self {
            Self::Single(query) => query.device(),
            Self::Ensemble(query) => query.members[0].device(),
        }
    }

    /// The WGSL kernel it runs on, `None` for burn queries (see [`ImageQuery::gpu_kernel`]).
    pub fn gpu_kernel(&self) -> Option<Kernel> {
        match self {
            Self::Single(query) => query.gpu_kernel(),
            Self::Ensemble(query) => query.members[0].gpu_kernel(),
        }
    }

    /// Whether some images are subtracted (a contrast, or relative to a reference set).
    pub fn is_contrast(&self) -> bool {
        match self {
            Self::Single(query) => query.is_contrast(),
            Self::Ensemble(query) => query.is_contrast(),
        }
    }

    /// The ensemble's query, when it is one.
    pub fn ensemble(&self) -> Option<&EnsembleQuery> {
        match self {
            Self::Single(_) => None,
            Self::Ensemble(query) => Some(query),
        }
    }

    /// Values at exactly these points (MNI mm), in order. Never restricted to the domain.
    pub fn query_points(&self, points_mm: &[Vec3]) -> Result<Vec<f32>, QueryError> {
        self.query_points_with_progress(points_mm, &mut |_, _| true)
    }

    /// [`Self::query_points`] with a callback after each chunk: `(done, total)`; returning
    /// `false` cancels.
    pub fn query_points_with_progress(
        &self,
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<f32>, QueryError> {
        match self {
            Self::Single(query) => query.query_points_with_progress(points_mm, progress),
            Self::Ensemble(query) => query.query_points_with_progress(points_mm, progress),
        }
    }

    /// The voxels of `grid` that a query of `region` evaluates, and which region that is.
    pub fn region_mask(
        &self,
        grid: &Grid,
        region: Region,
    ) -> Result<(Mask, RegionUsed), QueryError> {
        region_mask(self.domain(), grid, region)
    }

    /// Values on a grid (any spacing) inside `region`.
    pub fn query_grid(&self, grid: &Grid, region: Region) -> Result<GridPrediction, QueryError> {
        self.query_grid_with_progress(grid, region, &mut |_, _| true)
    }

    /// [`Self::query_grid`] with a progress callback (`(done, total)` points; `false` cancels).
    pub fn query_grid_with_progress(
        &self,
        grid: &Grid,
        region: Region,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<GridPrediction, QueryError> {
        match self {
            Self::Single(query) => query.query_grid_with_progress(grid, region, progress),
            Self::Ensemble(query) => {
                let (inside, used) = self.region_mask(grid, region)?;
                grid_from_points(
                    inside,
                    used,
                    ENSEMBLE_CHUNK_POINTS,
                    &mut |points| query.query_points_with_progress(points, &mut |_, _| true),
                    progress,
                )
            }
        }
    }

    /// The pixels of `plane` inside `region` (row-major, plane order), and which region that is.
    pub fn plane_mask(
        &self,
        plane: &Plane,
        region: Region,
    ) -> Result<(Vec<bool>, RegionUsed), QueryError> {
        plane_mask(self.domain(), plane, region)
    }

    /// Values on a slice inside `region`, queried at the plane's own pixel size, with a progress
    /// callback (`(done, total)` points; `false` cancels).
    pub fn query_plane_with_progress(
        &self,
        plane: &Plane,
        region: Region,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<PlanePrediction, QueryError> {
        match self {
            Self::Single(query) => query.query_plane_with_progress(plane, region, progress),
            Self::Ensemble(query) => {
                let (inside, used) = self.plane_mask(plane, region)?;
                plane_from_points(plane, inside, used, &mut |points| {
                    query.query_points_with_progress(points, progress)
                })
            }
        }
    }
}
