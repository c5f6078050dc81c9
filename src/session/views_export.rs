//! The views drawn again, off screen, at a multiple of their size on screen, as one picture (the
//! Export section's "views at 2×"): the slices are queried anew at the finer pixel size (the NRF
//! is a function of space, so a 2× figure is sharper, not upscaled) and the 3D view is ray-marched
//! at that size on its own GPU device. Runs on a background thread.

use std::sync::Arc;

use image::{Rgba, RgbaImage};

use super::SessionError;
use super::jobs::{Cancel, SliceRequest, render_slices};
use crate::gpu::GpuContext;
use crate::query::GridPrediction;
use crate::render::colorbar::with_colorbar;
use crate::render::colormap::OverlayStyle;
use crate::render::volume3d::{FrameOptions, VolumeRenderer};
use crate::volume::Volume;

/// A pixel rectangle of the figure: left, top, width, height.
pub type PixelRect = (u32, u32, u32, u32);

/// What the 3D tile needs.
pub struct ThreeDRequest {
    /// Grey anatomy (brain-masked, 1 mm).
    pub anatomy: Arc<Volume>,
    /// The overlay volume shown, if any.
    pub overlay: Option<Arc<GridPrediction>>,
    /// Camera, mode, cut-aways, anatomy on or off.
    pub options: FrameOptions,
}

/// One figure: the views' rectangles in figure pixels and what each needs.
pub struct ViewsRequest {
    /// Figure size, pixels (the views' area times the scale).
    pub size: (u32, u32),
    /// Rectangles of the sagittal, coronal, axial and 3D views (`None`: not in the layout).
    pub rects: [Option<PixelRect>; 4],
    /// The slices, with `sizes` already those of `rects`.
    pub slices: SliceRequest,
    /// The 3D view, when the layout shows it.
    pub three_d: Option<ThreeDRequest>,
}

/// The views' picture with a colour bar on its right, and a note when the 3D tile could not be
/// drawn (no GPU adapter: it stays black).
pub fn render_views(request: ViewsRequest) -> Result<(RgbaImage, Option<String>), SessionError> {
    let (width, height) = request.size;
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        return Err(SessionError::Invalid(format!(
            "figure size {width}×{height}: expected 1 to 8192 pixels a side"
        )));
    }
    let mut out = RgbaImage::from_pixel(width, height, Rgba([0, 0, 0, 255]));
    let style = request.slices.style;
    let shows_slices = request.rects[..3].iter().any(Option::is_some);
    if shows_slices {
        let slices = render_slices(&request.slices, 1, &Cancel::default())?;
        for (slice, rect) in slices.iter().zip(&request.rects[..3]) {
            if let Some(rect) = rect {
                place(&mut out, &slice.image, *rect);
            }
        }
    }
    let mut note = None;
    if let (Some(three_d), Some(rect)) = (&request.three_d, request.rects[3]) {
        match render_3d(three_d, &style, (rect.2, rect.3)) {
            Ok(image) => place(&mut out, &image, rect),
            Err(e) => note = Some(format!("the 3D view is missing: {e}")),
        }
    }
    Ok((with_colorbar(&out, &style), note))
}

/// Copies `image` into `rect` of `out`, centred (a slice keeps its aspect inside its view).
fn place(out: &mut RgbaImage, image: &RgbaImage, (x, y, w, h): PixelRect) {
    let dx = w.saturating_sub(image.width()) / 2;
    let dy = h.saturating_sub(image.height()) / 2;
    image::imageops::replace(out, image, i64::from(x + dx), i64::from(y + dy));
}

/// The 3D view at `size`, on a GPU device of its own (the window's stays with the window).
fn render_3d(
    request: &ThreeDRequest,
    style: &OverlayStyle,
    size: (u32, u32),
) -> Result<RgbaImage, SessionError> {
    let gpu = GpuContext::request().map_err(|e| {
        SessionError::Invalid(format!(
            "{e} (a software adapter works: on Debian/Ubuntu install mesa-vulkan-drivers)"
        ))
    })?;
    let overlay = request.overlay.as_deref().map(|o| (&o.volume, &o.inside));
    let mut renderer = VolumeRenderer::offscreen(&gpu, &request.anatomy, overlay, style)?;
    renderer
        .render_offscreen(&gpu.device, &gpu.queue, &request.options, size)
        .map_err(SessionError::from)
}
