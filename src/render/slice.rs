//! Slice views: a canonical plane through a point, sampled at the pixel size on screen. The
//! template shows underneath; the overlay (an NRF queried at exactly these pixels' MNI points)
//! is composited over it with the overlay style; a crosshair marks the point and letters name
//! the sides (neurological convention by default, radiological on request, always labelled).
//!
//! Display orientation: rows run top to bottom from anterior (axial) or superior (coronal,
//! sagittal); columns run from the subject's left (neurological: left on the left) or right
//! (radiological); sagittal columns run posterior → anterior.

use glam::DVec3;
use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};

use super::RenderError;
use super::bitmap_font;
use super::colormap::OverlayStyle;
use crate::space::{BoundingBox, Orientation, Plane};
use crate::volume::Volume;

/// Which side of an axial or coronal slice the subject's left appears on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Convention {
    /// Left on the left (as if looking from above/behind), the default.
    #[default]
    Neurological,
    /// Left on the right (as if facing the subject), as radiologists read.
    Radiological,
}

/// Where a slice is and how it maps to display pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceLayout {
    /// The sampled plane (its pixels are the display pixels, possibly mirrored).
    pub plane: Plane,
    /// Display columns run against the plane's columns (radiological axial/coronal).
    pub flip_columns: bool,
}

impl SliceLayout {
    /// A slice of `orientation` through `at`, covering `bbox` at `pixel_mm`.
    pub fn new(
        orientation: Orientation,
        at: DVec3,
        bbox: &BoundingBox,
        pixel_mm: f64,
        convention: Convention,
    ) -> Result<Self, RenderError> {
        let plane = Plane::canonical(orientation, at, bbox, pixel_mm)?;
        let flip_columns =
            orientation != Orientation::Sagittal && convention == Convention::Radiological;
        Ok(Self {
            plane,
            flip_columns,
        })
    }

    /// A slice of `orientation` through `at` filling exactly `size` pixels: the pixel size is
    /// the one at which `bbox` fits, and the box is centred.
    pub fn fitted(
        orientation: Orientation,
        at: DVec3,
        bbox: &BoundingBox,
        size: (u32, u32),
        convention: Convention,
    ) -> Result<Self, RenderError> {
        let (u, v, _) = orientation.axes();
        let extent = bbox.size();
        let pixel_mm = (u.dot(extent).abs() / f64::from(size.0.max(1)))
            .max(v.dot(extent).abs() / f64::from(size.1.max(1)));
        let mut layout = Self::new(orientation, at, bbox, pixel_mm, convention)?;
        layout.plane.width = size.0.max(1) as usize;
        layout.plane.height = size.1.max(1) as usize;
        Ok(layout)
    }

    /// Display size (width, height) in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.plane.width as u32, self.plane.height as u32)
    }

    /// Index into the plane's row-major values of display pixel `(x, y)`.
    pub fn plane_index(&self, x: u32, y: u32) -> usize {
        let (col, row) = self.plane_pixel(x, y);
        row * self.plane.width + col
    }

    fn plane_pixel(&self, x: u32, y: u32) -> (usize, usize) {
        let col = if self.flip_columns {
            self.plane.width - 1 - x as usize
        } else {
            x as usize
        };
        (col, self.plane.height - 1 - y as usize)
    }

    /// MNI position (mm) of the centre of display pixel `(x, y)`.
    pub fn mni_at(&self, x: u32, y: u32) -> DVec3 {
        let (col, row) = self.plane_pixel(x, y);
        self.plane.point(col, row)
    }

    /// Fractional display position of an MNI point projected onto the slice.
    pub fn display_of(&self, p: DVec3) -> (f64, f64) {
        let (col, row) = self.plane.pixel_of(p);
        let x = if self.flip_columns {
            self.plane.width as f64 - 1.0 - col
        } else {
            col
        };
        (x, self.plane.height as f64 - 1.0 - row)
    }

    /// Letters for the (left, right, top, bottom) edges.
    pub fn edge_labels(&self) -> [&'static str; 4] {
        let (u, v, _) = (self.plane.u, self.plane.v, ());
        let axis_letter = |d: DVec3, positive: bool| -> &'static str {
            let d = if positive { d } else { -d };
            if d.x.abs() > 0.5 {
                if d.x > 0.0 { "R" } else { "L" }
            } else if d.y.abs() > 0.5 {
                if d.y > 0.0 { "A" } else { "P" }
            } else if d.z > 0.0 {
                "S"
            } else {
                "I"
            }
        };
        let right_positive = !self.flip_columns;
        [
            axis_letter(u, !right_positive),
            axis_letter(u, right_positive),
            axis_letter(v, true),
            axis_letter(v, false),
        ]
    }
}

/// Grey levels of the anatomy: the template sampled at the slice's pixels with a window.
#[derive(Debug, Clone)]
pub struct Anatomy<'a> {
    /// The image (e.g. the MNI152 T1).
    pub volume: &'a Volume,
    /// Values mapped to black and white.
    pub window: (f32, f32),
}

impl<'a> Anatomy<'a> {
    /// The anatomy with a robust window: the 2nd and 99.5th percentiles of its non-zero values.
    pub fn with_auto_window(volume: &'a Volume) -> Self {
        let mut values: Vec<f32> = volume
            .data
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let window = if values.is_empty() {
            (0.0, 1.0)
        } else {
            values.sort_by(f32::total_cmp);
            let at = |q: f64| values[((values.len() - 1) as f64 * q) as usize];
            (at(0.02), at(0.995))
        };
        Self { volume, window }
    }

    /// Grey level 0..=1 at MNI points (0 outside the volume).
    pub fn grey_at(&self, points: impl Iterator<Item = DVec3>) -> Result<Vec<f32>, RenderError> {
        let to_voxel = self.volume.grid.world_to_voxel()?;
        let (lo, hi) = self.window;
        let span = (hi - lo).max(1e-6);
        Ok(points
            .map(|p| {
                self.volume
                    .sample_voxel(to_voxel.transform_point3(p))
                    .map_or(0.0, |v| ((v - lo) / span).clamp(0.0, 1.0))
            })
            .collect())
    }
}

/// What a slice image shows besides the anatomy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceDecorations {
    /// Draw the crosshair through this MNI point.
    pub crosshair: Option<DVec3>,
    /// Draw orientation letters at the edges.
    pub labels: bool,
    /// Mark the image as showing the model's raw extrapolation outside its domain.
    pub extrapolated: bool,
}

/// Renders one slice: anatomy grey, overlay colours composited with their alpha, decorations.
///
/// `overlay` holds the plane's row-major values and which of them were evaluated (`None`: no
/// overlay); pixels not evaluated show the anatomy only.
pub fn render_slice(
    layout: &SliceLayout,
    anatomy: Option<&Anatomy>,
    overlay: Option<(&[f32], &[bool])>,
    style: &OverlayStyle,
    decorations: &SliceDecorations,
) -> Result<RgbaImage, RenderError> {
    let (width, height) = layout.size();
    let grey = match anatomy {
        Some(a) => {
            a.grey_at((0..height).flat_map(|y| (0..width).map(move |x| layout.mni_at(x, y))))?
        }
        None => vec![0.0; (width * height) as usize],
    };
    if let Some((values, inside)) = overlay {
        let n = layout.plane.width * layout.plane.height;
        if values.len() != n || inside.len() != n {
            return Err(RenderError::Invalid(format!(
                "overlay has {} values for a {}×{} slice",
                values.len(),
                layout.plane.width,
                layout.plane.height
            )));
        }
    }
    let mut image = RgbaImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let g = grey[(y * width + x) as usize];
            let mut rgb = [g; 3];
            if let Some((values, inside)) = overlay {
                let k = layout.plane_index(x, y);
                if inside[k]
                    && let Some([r, gg, b, a]) = style.colour(values[k])
                {
                    rgb = [
                        rgb[0] * (1.0 - a) + r * a,
                        rgb[1] * (1.0 - a) + gg * a,
                        rgb[2] * (1.0 - a) + b * a,
                    ];
                }
            }
            let [r, g, b] = rgb.map(super::colormap::to_u8);
            image.put_pixel(x, y, Rgba([r, g, b, 255]));
        }
    }
    if let Some(p) = decorations.crosshair {
        draw_crosshair(&mut image, layout, p);
    }
    let scale = if width.min(height) >= 300 { 2 } else { 1 };
    if decorations.labels {
        let [left, right, top, bottom] = layout.edge_labels();
        let h = bitmap_font::height(scale) as i64;
        let (w, hh) = (i64::from(width), i64::from(height));
        let white = [235, 235, 235];
        bitmap_font::draw(&mut image, left, 3, (hh - h) / 2, scale, white);
        let rw = bitmap_font::width(right, scale) as i64;
        bitmap_font::draw(&mut image, right, w - rw - 3, (hh - h) / 2, scale, white);
        let tw = bitmap_font::width(top, scale) as i64;
        bitmap_font::draw(&mut image, top, (w - tw) / 2, 3, scale, white);
        bitmap_font::draw(&mut image, bottom, (w - tw) / 2, hh - h - 3, scale, white);
    }
    if decorations.extrapolated {
        let h = bitmap_font::height(scale) as i64;
        bitmap_font::draw(
            &mut image,
            "EXTRAPOLATED",
            4,
            i64::from(height) - 2 * h - 8,
            scale,
            [255, 170, 0],
        );
    }
    Ok(image)
}

/// A one-pixel crosshair, blended so the image stays visible under it.
fn draw_crosshair(image: &mut RgbaImage, layout: &SliceLayout, p: DVec3) {
    let (x, y) = layout.display_of(p);
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let colour = [60.0, 200.0, 255.0];
    let mut blend = |px: i64, py: i64| {
        if px >= 0 && py >= 0 && px < w && py < h {
            let pixel = image.get_pixel_mut(px as u32, py as u32);
            for (channel, c) in pixel.0.iter_mut().zip(colour) {
                *channel = (f32::from(*channel) * 0.35 + c * 0.65) as u8;
            }
        }
    };
    if (0..w).contains(&cx) {
        (0..h).for_each(|py| blend(cx, py));
    }
    if (0..h).contains(&cy) {
        (0..w).filter(|&px| px != cx).for_each(|px| blend(px, cy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(orientation: Orientation, convention: Convention) -> SliceLayout {
        SliceLayout::new(
            orientation,
            DVec3::new(10.0, -20.0, 5.0),
            &BoundingBox::MNI_TEMPLATE,
            2.0,
            convention,
        )
        .unwrap()
    }

    #[test]
    fn neurological_axial_has_left_on_the_left_and_anterior_on_top() {
        let l = layout(Orientation::Axial, Convention::Neurological);
        let (w, h) = l.size();
        assert!(l.mni_at(0, h / 2).x < l.mni_at(w - 1, h / 2).x);
        assert!(l.mni_at(w / 2, 0).y > l.mni_at(w / 2, h - 1).y);
        assert_eq!(l.edge_labels(), ["L", "R", "A", "P"]);
        assert!((l.mni_at(3, 4).z - 5.0).abs() < 1e-9);
        // display_of inverts mni_at.
        let (x, y) = l.display_of(l.mni_at(7, 9));
        assert!((x - 7.0).abs() < 1e-9 && (y - 9.0).abs() < 1e-9);
    }

    #[test]
    fn radiological_mirrors_left_and_right_only() {
        let l = layout(Orientation::Coronal, Convention::Radiological);
        let (w, h) = l.size();
        assert!(l.mni_at(0, h / 2).x > l.mni_at(w - 1, h / 2).x);
        assert_eq!(l.edge_labels(), ["R", "L", "S", "I"]);
        let (x, y) = l.display_of(l.mni_at(7, 9));
        assert!((x - 7.0).abs() < 1e-9 && (y - 9.0).abs() < 1e-9);
        let s = layout(Orientation::Sagittal, Convention::Radiological);
        assert_eq!(s.edge_labels(), ["P", "A", "S", "I"]);
    }
}
