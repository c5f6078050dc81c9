//! JPEG decoding that gives PIL's pixels exactly.
//!
//! PIL decodes JPEG with libjpeg-turbo (accurate integer IDCT, "fancy" triangular chroma
//! upsampling, libjpeg's YCbCr → RGB tables). Other decoders round differently by a few levels,
//! which moved CLIP features and predictions by more than the 1e-3 the reference fixtures allow.
//! `mozjpeg-sys` builds that decoder from C source with the system C compiler (mozjpeg changes
//! only libjpeg-turbo's encoder), so the bytes here equal PIL's `Image.open(f).convert("RGB")`.
//!
//! PIL's rules are kept too: a file must reach its end-of-image marker (PIL says "image file is
//! truncated"; libjpeg would fill the rest with gray), and 4-channel files are CMYK stored with
//! Adobe's inverted polarity, which PIL always assumes.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Pixels as libjpeg delivers them, before any conversion to RGB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JpegPixels {
    /// One byte per pixel.
    Gray(Vec<u8>),
    /// Three bytes per pixel (from YCbCr or RGB files).
    Rgb(Vec<u8>),
    /// Four bytes per pixel, inverted as stored (Adobe polarity: 0 = full ink).
    InvertedCmyk(Vec<u8>),
}

/// A decoded JPEG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jpeg {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Row-major pixels.
    pub pixels: JpegPixels,
}

/// Why a JPEG was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JpegError {
    /// The header's size is zero or above the caller's limit (nothing was allocated for it).
    Size {
        /// Width in the header.
        width: u32,
        /// Height in the header.
        height: u32,
    },
    /// The bytes are not a complete, decodable JPEG.
    Corrupt(String),
}

/// Whether `bytes` start like a JPEG file (SOI marker followed by another marker).
pub(crate) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Decodes a whole JPEG file held in memory, refusing more than `max_pixels` pixels before any
/// pixel buffer is allocated.
pub(crate) fn decode(bytes: &[u8], max_pixels: u64) -> Result<Jpeg, JpegError> {
    check_complete(bytes).map_err(JpegError::Corrupt)?;
    // libjpeg reports fatal errors by unwinding out of its error handler (mozjpeg's
    // `resume_unwind`, which runs no panic hook); catching it here turns them into values.
    let outcome = catch_unwind(AssertUnwindSafe(|| decode_unchecked(bytes, max_pixels)));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("libjpeg stopped decoding");
            Err(JpegError::Corrupt(
                message
                    .trim_start_matches("libjpeg fatal error: ")
                    .to_string(),
            ))
        }
    }
}

fn decode_unchecked(bytes: &[u8], max_pixels: u64) -> Result<Jpeg, JpegError> {
    let io = |e: std::io::Error| JpegError::Corrupt(e.to_string());
    let decompress = mozjpeg::Decompress::new_mem(bytes).map_err(io)?;
    let (width, height) = decompress.size();
    let (width, height) = (
        u32::try_from(width).unwrap_or(u32::MAX),
        u32::try_from(height).unwrap_or(u32::MAX),
    );
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > max_pixels {
        return Err(JpegError::Size { width, height });
    }
    let pixels = match decompress.image().map_err(io)? {
        mozjpeg::Format::Gray(mut started) => {
            let pixels = started.read_scanlines::<u8>().map_err(io)?;
            started.finish().map_err(io)?;
            JpegPixels::Gray(pixels)
        }
        mozjpeg::Format::RGB(mut started) => {
            let pixels = started.read_scanlines::<u8>().map_err(io)?;
            started.finish().map_err(io)?;
            JpegPixels::Rgb(pixels)
        }
        mozjpeg::Format::CMYK(mut started) => {
            let pixels = started.read_scanlines::<u8>().map_err(io)?;
            started.finish().map_err(io)?;
            JpegPixels::InvertedCmyk(pixels)
        }
    };
    Ok(Jpeg {
        width,
        height,
        pixels,
    })
}

/// Walks the file's marker segments and entropy-coded scans up to the end-of-image marker, so a
/// file cut short is refused (libjpeg would decode it with the missing part gray).
fn check_complete(bytes: &[u8]) -> Result<(), String> {
    const TRUNCATED: &str = "truncated JPEG: the data ends before the end-of-image marker";
    if !is_jpeg(bytes) {
        return Err("not a JPEG file (no start-of-image marker)".to_string());
    }
    let mut pos = 2;
    loop {
        // Skip anything up to the next marker (libjpeg and PIL tolerate junk), then fill bytes.
        while pos < bytes.len() && bytes[pos] != 0xFF {
            pos += 1;
        }
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(TRUNCATED.to_string());
        };
        pos += 1;
        match marker {
            0xD9 => return Ok(()),
            // Standalone markers: restart markers, TEM, a repeated SOI, stuffed zero.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(pos..pos + 2) else {
            return Err(TRUNCATED.to_string());
        };
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if length < 2 {
            return Err(format!(
                "corrupt JPEG: marker 0xFF{marker:02X} has length {length}"
            ));
        }
        pos += length;
        if pos > bytes.len() {
            return Err(TRUNCATED.to_string());
        }
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed zero or a
            // restart marker.
            loop {
                match bytes.get(pos..pos + 2) {
                    None => return Err(TRUNCATED.to_string()),
                    Some([0xFF, next]) if *next != 0x00 && !(0xD0..=0xD7).contains(next) => break,
                    Some(_) => pos += 1,
                }
            }
        }
    }
}

/// PIL's `CMYK;I` unpacking then its CMYK → RGB conversion (Convert.c `cmyk2rgb`): channel
/// `c` with black `k` becomes `(255 − k) − c·(255 − k)/255`, rounded as PIL's `MULDIV255`.
pub(crate) fn inverted_cmyk_to_rgb(inverted: &[u8]) -> Vec<u8> {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    inverted
        .chunks_exact(4)
        .flat_map(|px| {
            let [c, m, y, k] = [px[0], px[1], px[2], px[3]].map(|v| u32::from(255 - v));
            let nk = 255 - k;
            [c, m, y].map(|v| nk.saturating_sub(muldiv255(v, nk)) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny valid JPEG (8×8 gray) written by libjpeg itself.
    fn small_jpeg() -> Vec<u8> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
        compress.set_size(8, 8);
        let mut started = compress.start_compress(Vec::new()).expect("start");
        started
            .write_scanlines(&(0..64u8).map(|v| v * 4).collect::<Vec<_>>())
            .expect("write");
        started.finish().expect("finish")
    }

    #[test]
    fn a_complete_file_decodes() {
        let jpeg = decode(&small_jpeg(), 100).expect("decodes");
        assert_eq!((jpeg.width, jpeg.height), (8, 8));
        assert!(matches!(jpeg.pixels, JpegPixels::Gray(ref p) if p.len() == 64));
    }

    #[test]
    fn every_truncation_is_refused_not_filled() {
        let bytes = small_jpeg();
        for cut in 0..bytes.len() - 1 {
            assert!(decode(&bytes[..cut], 100).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn the_size_limit_applies_before_decoding() {
        assert_eq!(
            decode(&small_jpeg(), 63),
            Err(JpegError::Size {
                width: 8,
                height: 8
            })
        );
    }

    #[test]
    fn cmyk_conversion_is_pils() {
        // Inverted storage: 255 = no ink. White, black ink, full cyan, half cyan on half black.
        let rgb = inverted_cmyk_to_rgb(&[255, 255, 255, 255, 255, 255, 255, 0, 0, 255, 255, 255]);
        assert_eq!(rgb, vec![255, 255, 255, 0, 0, 0, 0, 255, 255]);
        let rgb = inverted_cmyk_to_rgb(&[127, 255, 255, 127]);
        // k = 128: nk = 127; c = 128: 127 − round(128·127/255) = 127 − 64 = 63.
        assert_eq!(rgb, vec![63, 127, 127]);
    }
}
