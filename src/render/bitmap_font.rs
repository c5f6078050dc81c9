//! A tiny 5×7 bitmap font for the few labels rendered images carry (orientation letters, colour
//! bar values, the "EXTRAPOLATED" mark), so offscreen images need no font files or text engine.

use image::{Rgba, RgbaImage};

/// Glyph rows, top to bottom; bit 4 is the leftmost of 5 columns.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        ' ' => [0; 7],
        _ => return None,
    })
}

/// Pixel width of `text` at `scale` (6 columns per character with spacing).
pub fn width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * 6).saturating_sub(1) * scale
}

/// Pixel height of a line at `scale`.
pub fn height(scale: u32) -> u32 {
    7 * scale
}

/// Draws `text` with its top-left corner at `(x, y)`, in `colour` with a dark one-pixel halo so it
/// reads over any background. Unknown characters draw as blanks; pixels off the image are
/// skipped.
pub fn draw(image: &mut RgbaImage, text: &str, x: i64, y: i64, scale: u32, colour: [u8; 3]) {
    let scale = i64::from(scale.max(1));
    let mut put = |px: i64, py: i64, c: [u8; 3]| {
        if px >= 0 && py >= 0 && px < i64::from(image.width()) && py < i64::from(image.height()) {
            image.put_pixel(px as u32, py as u32, Rgba([c[0], c[1], c[2], 255]));
        }
    };
    for pass in 0..2 {
        for (i, c) in text.chars().enumerate() {
            let Some(rows) = glyph(c) else { continue };
            let left = x + i as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) == 0 {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = left + col * scale + dx;
                            let py = y + r as i64 * scale + dy;
                            if pass == 0 {
                                for (ox, oy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                                    put(px + ox, py + oy, [0, 0, 0]);
                                }
                            } else {
                                put(px, py, colour);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_draw_where_asked_and_clip_at_the_edges() {
        let mut image = RgbaImage::new(20, 10);
        draw(&mut image, "L", 1, 1, 1, [255, 255, 255]);
        // L: a full left column and a full bottom row.
        for row in 1..8 {
            assert_eq!(image.get_pixel(1, row).0, [255, 255, 255, 255]);
        }
        assert_eq!(image.get_pixel(5, 7).0, [255, 255, 255, 255]);
        assert_eq!(image.get_pixel(3, 3).0[..3], [0, 0, 0]);
        assert_eq!(width("LR", 2), 22);
        // Off-image text is clipped, never a panic.
        draw(&mut image, "R-1.5", 15, 8, 3, [255, 0, 0]);
        draw(&mut image, "?", -40, -40, 1, [255, 0, 0]);
        for c in "0123456789ADEILMNOPRSTXYZ-+.= ".chars() {
            assert!(glyph(c).is_some(), "{c}");
        }
    }
}
