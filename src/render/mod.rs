//! Rendering: colour maps and the overlay's colour scale, slice views queried at the pixel size
//! on screen, the wgpu ray-marched 3D view, a colour bar and a tiny bitmap font for labels. The
//! library renders to images (offscreen, for `nrf render`, figures and tests) and into render
//! passes (for the viewer).

pub mod colorbar;
pub mod colormap;
pub mod fused_query;
pub mod refine;
pub mod slice;
pub mod text;
pub mod volume3d;

use crate::space::SpaceError;
use crate::volume::VolumeError;

/// Why a view could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A geometry request was invalid (spacing, orientation).
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The template or a volume could not be read or resampled.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// The request cannot be drawn (mismatched sizes, no anatomy for the 3D view, …).
    #[error("{0}")]
    Invalid(String),
    /// The GPU failed while rendering or reading back.
    #[error("GPU rendering failed: {0}")]
    Gpu(String),
}
