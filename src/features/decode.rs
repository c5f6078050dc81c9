//! Image files to 8-bit RGB exactly as the official pipeline sees them: PIL's `Image.open`, then
//! Hugging Face's `convert_rgb` (any mode but RGB → RGBA, composited onto white, → RGB).
//!
//! - JPEG: libjpeg-turbo's decoder ([`super::jpeg`]), as PIL; CMYK with Adobe polarity.
//! - Other formats (PNG, WebP, BMP, TIFF, GIF's first frame): the `image` crate, then PIL's mode
//!   rules: 16-bit RGB(A) and gray+alpha keep the high byte (PIL's `;16B` unpackers); 16-bit gray
//!   is PIL mode `I;16`, whose conversion to RGB clips at 255 (so such images look nearly white to
//!   the model, as they do to the official code); palettes expand with their transparency.
//! - Alpha is composited onto white with PIL's integer `alpha_composite`.
//!
//! Sizes come from the header and are checked against [`MAX_IMAGE_PIXELS`] before decoding.

use std::path::Path;

use super::jpeg::{self, JpegError, JpegPixels};
use super::preprocess::{ImageError, Rgb8};

/// Images with more pixels than this are refused before decoding (PIL's decompression-bomb
/// warning starts at 89 million; 100 megapixels covers any camera image).
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;

/// The least memory a decoder may use, however small the image (its own tables and buffers).
const MIN_DECODE_BUDGET: u64 = 16 << 20;

/// Decodes an image file to 8-bit RGB as PIL + HF's `convert_rgb` would.
pub fn load_rgb8(path: impl AsRef<Path>) -> Result<Rgb8, ImageError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_at(path, &bytes)
}

/// Decodes an image held in memory (e.g. pasted from the clipboard); `name` labels errors.
pub fn decode_rgb8(name: &str, bytes: &[u8]) -> Result<Rgb8, ImageError> {
    decode_at(Path::new(name), bytes)
}

fn decode_at(path: &Path, bytes: &[u8]) -> Result<Rgb8, ImageError> {
    let size_error = |width: u32, height: u32| ImageError::Size {
        path: path.to_path_buf(),
        width,
        height,
        reason: format!("expected 1 to {} megapixels", MAX_IMAGE_PIXELS / 1_000_000),
    };
    if jpeg::is_jpeg(bytes) {
        return match jpeg::decode(bytes, MAX_IMAGE_PIXELS) {
            Ok(decoded) => Ok(jpeg_to_rgb8(decoded)),
            Err(JpegError::Size { width, height }) => Err(size_error(width, height)),
            Err(JpegError::Corrupt(message)) => Err(ImageError::Decode {
                path: path.to_path_buf(),
                message: format!("corrupt or truncated image ({message})"),
            }),
        };
    }
    if let Err(message) = check_png_palette(bytes) {
        return Err(ImageError::Decode {
            path: path.to_path_buf(),
            message: format!("corrupt image ({message})"),
        });
    }
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|source| ImageError::Io {
                path: path.to_path_buf(),
                source,
            })
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| decode_error(path, e))?;
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(size_error(width, height));
    }
    let mut reader = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // Decoders allocate for what later chunks claim too (a GIF frame may say it is larger than
    // the screen); the budget follows the header's size: 16 bytes a pixel covers RGBA16 twice.
    limits.max_alloc = Some((u64::from(width) * u64::from(height) * 16).max(MIN_DECODE_BUDGET));
    reader.limits(limits);
    // A decoder crate that panics on some corrupt file must not take the program down: the
    // panic becomes this file's error.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| ImageError::Decode {
            path: path.to_path_buf(),
            message: "corrupt image (the decoder gave up on it)".to_string(),
        })?
        .map_err(|e| decode_error(path, e))?;
    Ok(to_rgb8(decoded))
}

/// Checks a PNG's palette chunks before the `png` crate sees them (it indexes past a `PLTE`
/// whose length is not a whole number of entries, or a `tRNS` with more entries than the
/// palette — found by fuzzing): `PLTE` must hold 1 to 256 RGB entries and a palette image's
/// `tRNS` no more alpha values than there are entries. Not a PNG: nothing to check.
fn check_png_palette(bytes: &[u8]) -> Result<(), String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) {
        return Ok(());
    }
    let mut pos = SIGNATURE.len();
    let mut colour_type = None;
    let mut entries = None;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        match kind {
            b"IHDR" => colour_type = bytes.get(pos + 8 + 9).copied(),
            b"PLTE" => {
                if length == 0 || !length.is_multiple_of(3) || length > 768 {
                    return Err(format!(
                        "a PNG palette of {length} bytes; expected 1 to 256 RGB entries (3 bytes each)"
                    ));
                }
                entries = Some(length / 3);
            }
            b"tRNS" if colour_type == Some(3) && entries.is_none_or(|n| length > n) => {
                return Err(format!(
                    "a PNG transparency chunk of {length} values for a palette of {} entries",
                    entries.unwrap_or(0)
                ));
            }
            b"IDAT" | b"IEND" => return Ok(()),
            _ => {}
        }
        // Length, type, data, CRC.
        pos = pos.saturating_add(12).saturating_add(length);
    }
    Ok(())
}

fn decode_error(path: &Path, e: image::ImageError) -> ImageError {
    let message = match e {
        image::ImageError::Unsupported(u) => {
            return ImageError::Unrecognised {
                path: path.to_path_buf(),
                detail: u.to_string(),
            };
        }
        image::ImageError::Decoding(d) => format!("corrupt or truncated image ({d})"),
        image::ImageError::IoError(e) => format!("corrupt or truncated image ({e})"),
        image::ImageError::Limits(l) => format!("too large to decode ({l})"),
        other => other.to_string(),
    };
    ImageError::Decode {
        path: path.to_path_buf(),
        message,
    }
}

fn jpeg_to_rgb8(decoded: jpeg::Jpeg) -> Rgb8 {
    let pixels = match decoded.pixels {
        JpegPixels::Rgb(rgb) => rgb,
        JpegPixels::Gray(gray) => gray.iter().flat_map(|&v| [v, v, v]).collect(),
        JpegPixels::InvertedCmyk(cmyk) => jpeg::inverted_cmyk_to_rgb(&cmyk),
    };
    Rgb8 {
        width: decoded.width,
        height: decoded.height,
        pixels,
    }
}

/// PIL's `alpha_composite` of one channel value over opaque white (AlphaComposite.c with a
/// fully opaque destination, 7-bit precision).
fn over_white(value: u8, alpha: u8) -> u8 {
    if alpha == 0 {
        return 255;
    }
    const PRECISION_BITS: u32 = 7;
    let (v, a) = (u32::from(value), u32::from(alpha));
    let coef1 = a << PRECISION_BITS;
    let coef2 = (255 - a) << PRECISION_BITS;
    let tmp = v * coef1 + 255 * coef2 + (0x80 << PRECISION_BITS);
    let shifted = ((tmp >> 8) + tmp) >> 8; // SHIFTFORDIV255
    (shifted >> PRECISION_BITS).min(255) as u8
}

/// A 16-bit channel as PIL's `;16B` unpackers read it: the high byte.
fn high_byte(v: u16) -> u8 {
    (v >> 8) as u8
}

/// A 16-bit gray value as PIL's `I;16` → RGB conversion gives it: clipped at 255.
fn clipped(v: u16) -> u8 {
    v.min(255) as u8
}

/// Any decoded image to 8-bit RGB (PIL's mode rules, alpha over white, gray replicated).
fn to_rgb8(image: image::DynamicImage) -> Rgb8 {
    use image::DynamicImage as D;
    let (width, height) = (image.width(), image.height());
    let rgba: Vec<[u8; 4]> = match image {
        D::ImageLuma8(i) => i.pixels().map(|p| [p.0[0], p.0[0], p.0[0], 255]).collect(),
        D::ImageLumaA8(i) => i
            .pixels()
            .map(|p| [p.0[0], p.0[0], p.0[0], p.0[1]])
            .collect(),
        D::ImageRgb8(i) => i.pixels().map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect(),
        D::ImageRgba8(i) => i.pixels().map(|p| p.0).collect(),
        D::ImageLuma16(i) => i
            .pixels()
            .map(|p| {
                let v = clipped(p.0[0]);
                [v, v, v, 255]
            })
            .collect(),
        D::ImageLumaA16(i) => i
            .pixels()
            .map(|p| {
                let v = high_byte(p.0[0]);
                [v, v, v, high_byte(p.0[1])]
            })
            .collect(),
        D::ImageRgb16(i) => i
            .pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(high_byte);
                [r, g, b, 255]
            })
            .collect(),
        D::ImageRgba16(i) => i.pixels().map(|p| p.0.map(high_byte)).collect(),
        other => other.to_rgba8().pixels().map(|p| p.0).collect(),
    };
    let pixels = rgba
        .iter()
        .flat_map(|&[r, g, b, a]| {
            if a == 255 {
                [r, g, b]
            } else {
                [over_white(r, a), over_white(g, a), over_white(b, a)]
            }
        })
        .collect();
    Rgb8 {
        width,
        height,
        pixels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_over_white_matches_pil_at_the_ends() {
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(over_white(200, 255), 200);
        assert_eq!(over_white(0, 0), 255);
        // Half-transparent black over white is mid-gray.
        assert!((127..=128).contains(&over_white(0, 128)));
    }

    #[test]
    fn png_palettes_that_the_png_crate_would_overrun_are_refused() {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut bytes = (data.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(kind);
            bytes.extend_from_slice(data);
            bytes.extend([0; 4]); // CRC (not checked here)
            bytes
        };
        let png = |palette: usize, trns: usize| {
            let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
            bytes.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 3, 0, 0, 0]));
            bytes.extend(chunk(b"PLTE", &vec![7; palette]));
            if trns > 0 {
                bytes.extend(chunk(b"tRNS", &vec![9; trns]));
            }
            bytes.extend(chunk(b"IDAT", &[]));
            bytes
        };
        assert!(check_png_palette(&png(48, 16)).is_ok());
        assert!(check_png_palette(&png(49, 0)).is_err(), "not whole entries");
        assert!(
            check_png_palette(&png(771, 0)).is_err(),
            "more than 256 entries"
        );
        assert!(
            check_png_palette(&png(48, 17)).is_err(),
            "more alpha than entries"
        );
        assert!(check_png_palette(b"not a png").is_ok());
    }

    #[test]
    fn sixteen_bit_channels_follow_pil() {
        assert_eq!(high_byte(0x12FF), 0x12);
        assert_eq!(clipped(100), 100);
        assert_eq!(clipped(4000), 255);
    }
}
