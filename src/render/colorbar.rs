//! A vertical colour bar appended to the right of a rendered image, labelled with the range (and
//! the threshold when the overlay hides values below it).

use image::{Rgba, RgbaImage};

use super::bitmap_font;
use super::colormap::{BelowThreshold, OverlayStyle, to_u8};

/// Width of the strip the bar adds, pixels (at label scale 1).
const STRIP: u32 = 64;

/// Values shown at the bar's bottom and top.
pub fn bar_range(style: &OverlayStyle) -> (f32, f32) {
    let top = style.positive.1;
    let bottom = match style.negative {
        Some((_, max)) => -max,
        None => style.positive.0.min(style.threshold),
    };
    (bottom, top)
}

/// A short label for a value: 3 significant digits, no exponent for usual response scales.
pub fn format_value(v: f32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 4) as usize;
    let s = format!("{v:.digits$}");
    if v > 0.0 { format!("+{s}") } else { s }
}

/// Label scale for a picture `height` pixels high.
fn scale_for(height: u32) -> u32 {
    if height >= 500 { 2 } else { 1 }
}

/// Width of the strip [`with_colorbar`] adds to a picture `height` pixels high: a figure of a
/// given size leaves it this much room.
pub fn strip_width(height: u32) -> u32 {
    STRIP * scale_for(height)
}

/// `image` with a colour bar strip on its right, on the same background.
pub fn with_colorbar(image: &RgbaImage, style: &OverlayStyle) -> RgbaImage {
    let scale = scale_for(image.height());
    let strip = strip_width(image.height());
    let (w, h) = (image.width() + strip, image.height());
    let mut out = RgbaImage::from_pixel(w, h, Rgba([0, 0, 0, 255]));
    image::imageops::replace(&mut out, image, 0, 0);
    let (bottom, top) = bar_range(style);
    let margin = (h / 10).max(bitmap_font::height(scale) + 4);
    let bar_top = margin;
    let bar_bottom = h.saturating_sub(margin).max(bar_top + 1);
    let bar_left = image.width() + 6 * scale;
    let bar_width = 12 * scale;
    let span = (bar_bottom - bar_top).max(1) as f32;
    for y in bar_top..bar_bottom {
        let value = top + (bottom - top) * (y - bar_top) as f32 / span;
        let colour = style.colour(value).map_or([40, 40, 40], |[r, g, b, a]| {
            // Show below-threshold translucency against black, as over dark anatomy.
            [r * a, g * a, b * a].map(to_u8)
        });
        for x in bar_left..bar_left + bar_width {
            out.put_pixel(x, y, Rgba([colour[0], colour[1], colour[2], 255]));
        }
    }
    let label_x = i64::from(bar_left + bar_width + 3 * scale);
    let half = i64::from(bitmap_font::height(scale) / 2);
    let mut label = |value: f32| {
        let y = bar_top as f32 + (top - value) / (top - bottom).max(1e-9) * span;
        bitmap_font::draw(
            &mut out,
            &format_value(value),
            label_x,
            y as i64 - half,
            scale,
            [230, 230, 230],
        );
    };
    label(top);
    label(bottom);
    if bottom < 0.0 && top > 0.0 && style.threshold <= 0.0 {
        label(0.0);
    }
    if style.threshold > 0.0 && matches!(style.below, BelowThreshold::Transparent) {
        label(style.threshold);
        if bottom < 0.0 {
            label(-style.threshold);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::colormap::ColorMap;

    #[test]
    fn the_bar_runs_from_the_top_colour_to_the_bottom_colour() {
        let style = OverlayStyle::symmetric(ColorMap::RdBuR, 1.0, 0.0);
        let image = RgbaImage::from_pixel(100, 200, Rgba([9, 9, 9, 255]));
        let out = with_colorbar(&image, &style);
        assert_eq!(out.width(), 164);
        assert_eq!(out.get_pixel(50, 50).0, [9, 9, 9, 255]);
        let top = out.get_pixel(110, 21).0;
        let bottom = out.get_pixel(110, 178).0;
        assert!(top[0] > top[2], "top is red: {top:?}");
        assert!(bottom[2] > bottom[0], "bottom is blue: {bottom:?}");
        assert_eq!(format_value(0.456), "+0.456");
        assert_eq!(format_value(-12.0), "-12.0");
        assert_eq!(format_value(0.0), "0");
    }
}
