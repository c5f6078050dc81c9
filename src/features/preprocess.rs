//! CLIP preprocessing that matches Hugging Face's `CLIPImageProcessor` with the PIL backend pixel
//! for pixel, on an image already decoded to 8-bit RGB as PIL and HF's `convert_rgb` do
//! ([`super::decode`]):
//!
//! 1. shortest side resized to `shortest_edge` with PIL's bicubic resampling (antialiased: the
//!    kernel widens by the scale factor when shrinking; 22-bit fixed-point taps; the horizontal
//!    pass first, rounded to uint8, then the vertical pass, rounded again);
//! 2. centre crop, `× rescale_factor`, `(x − mean) / std` per channel.
//!
//! Sizes and constants come from the model folder's `preprocessor_config.json`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors from reading or preprocessing an image; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not in any image format nrf reads.
    #[error(
        "{path}: not an image nrf can read ({detail}); expected JPEG, PNG, WebP, BMP, TIFF or GIF"
    )]
    Unrecognised {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },
    /// An image, but corrupt or truncated.
    #[error("{path}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said, and what was expected.
        message: String,
    },
    /// Width or height is zero, or the image is too large.
    #[error("{path}: {width}×{height} pixels: {reason}")]
    Size {
        /// The file.
        path: PathBuf,
        /// Width in the header.
        width: u32,
        /// Height in the header.
        height: u32,
        /// Why it is refused.
        reason: String,
    },
    /// A `preprocessor_config.json` that cannot be used.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `height × width × 3` bytes.
    pub pixels: Vec<u8>,
}

/// The preprocessing constants of a CLIP folder's `preprocessor_config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreprocessConfig {
    /// Target of the shortest side (`size.shortest_edge`).
    pub shortest_edge: u32,
    /// Centre-crop height and width (`crop_size`).
    pub crop: (u32, u32),
    /// Multiplier from uint8 to [0, 1] (`rescale_factor`).
    pub rescale_factor: f32,
    /// Per-channel mean (`image_mean`).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (`image_std`).
    pub std: [f32; 3],
}

impl Default for PreprocessConfig {
    /// OpenAI CLIP's constants (224 px).
    fn default() -> Self {
        Self {
            shortest_edge: 224,
            crop: (224, 224),
            rescale_factor: 1.0 / 255.0,
            mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            std: [0.268_629_54, 0.261_302_6, 0.275_777_1],
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeField {
    Int(u32),
    Map {
        shortest_edge: Option<u32>,
        height: Option<u32>,
        width: Option<u32>,
    },
}

#[derive(Deserialize)]
struct RawPreprocessor {
    size: Option<SizeField>,
    crop_size: Option<SizeField>,
    rescale_factor: Option<f32>,
    image_mean: Option<[f32; 3]>,
    image_std: Option<[f32; 3]>,
    do_resize: Option<bool>,
    do_center_crop: Option<bool>,
    do_normalize: Option<bool>,
    do_rescale: Option<bool>,
    resample: Option<u32>,
}

impl PreprocessConfig {
    /// Reads HF's `preprocessor_config.json`. Settings other than CLIP's usual ones (no resize,
    /// no crop, non-bicubic resampling) are refused rather than silently ignored.
    pub fn from_json_file(path: &Path) -> Result<Self, ImageError> {
        let bad = |message: String| ImageError::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawPreprocessor = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a preprocessor config ({e})")))?;
        for (name, value) in [
            ("do_resize", raw.do_resize),
            ("do_center_crop", raw.do_center_crop),
            ("do_normalize", raw.do_normalize),
            ("do_rescale", raw.do_rescale),
        ] {
            if value == Some(false) {
                return Err(bad(format!(
                    "{name} = false is not supported (CLIP preprocessing resizes, crops, rescales and normalises)"
                )));
            }
        }
        if raw.resample.is_some_and(|r| r != 3) {
            return Err(bad(format!(
                "resample = {:?}: only bicubic (3) is supported",
                raw.resample
            )));
        }
        let defaults = Self::default();
        let shortest_edge = match raw.size {
            None => defaults.shortest_edge,
            Some(SizeField::Int(s)) => s,
            Some(SizeField::Map {
                shortest_edge: Some(s),
                ..
            }) => s,
            Some(SizeField::Map { .. }) => {
                return Err(bad("size must give shortest_edge".into()));
            }
        };
        let crop = match raw.crop_size {
            None => defaults.crop,
            Some(SizeField::Int(s)) => (s, s),
            Some(SizeField::Map {
                height: Some(h),
                width: Some(w),
                ..
            }) => (h, w),
            Some(SizeField::Map { .. }) => {
                return Err(bad("crop_size must give height and width".into()));
            }
        };
        let config = Self {
            shortest_edge,
            crop,
            rescale_factor: raw.rescale_factor.unwrap_or(defaults.rescale_factor),
            mean: raw.image_mean.unwrap_or(defaults.mean),
            std: raw.image_std.unwrap_or(defaults.std),
        };
        if config.shortest_edge == 0 || config.crop.0 == 0 || config.crop.1 == 0 {
            return Err(bad("sizes must be positive".into()));
        }
        if config.std.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            return Err(bad(format!("image_std {:?} must be positive", config.std)));
        }
        Ok(config)
    }

    /// Full preprocessing of an 8-bit RGB image: `[3, crop_h, crop_w]` floats, channel-major.
    pub fn pixel_values(&self, image: &Rgb8) -> Vec<f32> {
        let (w, h) = (image.width as u64, image.height as u64);
        // HF get_resize_output_image_size(default_to_square=False): the long side is truncated.
        let edge = u64::from(self.shortest_edge);
        let (new_w, new_h) = if w <= h {
            (edge, edge * h / w)
        } else {
            (edge * w / h, edge)
        };
        let resized = resize_bicubic(image, new_w as u32, new_h as u32);
        let (crop_h, crop_w) = self.crop;
        // HF center_crop: top/left = (size − crop) // 2; pads with zeros if the image is smaller.
        let top = (i64::from(resized.height) - i64::from(crop_h)).div_euclid(2);
        let left = (i64::from(resized.width) - i64::from(crop_w)).div_euclid(2);
        let plane = (crop_h * crop_w) as usize;
        let mut out = vec![0.0f32; 3 * plane];
        for y in 0..crop_h as i64 {
            for x in 0..crop_w as i64 {
                let (sy, sx) = (y + top, x + left);
                let inside = sy >= 0
                    && sx >= 0
                    && sy < i64::from(resized.height)
                    && sx < i64::from(resized.width);
                for c in 0..3 {
                    let raw = if inside {
                        resized.pixels
                            [((sy as usize * resized.width as usize) + sx as usize) * 3 + c]
                    } else {
                        0
                    };
                    let value = f32::from(raw) * self.rescale_factor;
                    out[c * plane + y as usize * crop_w as usize + x as usize] =
                        (value - self.mean[c]) / self.std[c];
                }
            }
        }
        out
    }
}

/// PIL's fixed-point precision for 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// PIL's bicubic kernel (a = −0.5), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Taps of one output sample: first input index and 22-bit fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for bicubic along one axis.
fn taps(in_size: u32, out_size: u32) -> Vec<Taps> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    let inv = 1.0 / filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (f64::from(xx) + 0.5) * scale;
            // C's (int) truncates toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * inv))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|w| {
                    let k = if total != 0.0 { w / total } else { 0.0 };
                    let scaled = k * f64::from(1u32 << PRECISION_BITS);
                    (if k < 0.0 { scaled - 0.5 } else { scaled + 0.5 }) as i32
                })
                .collect();
            Taps {
                start: xmin as usize,
                weights,
            }
        })
        .collect()
}

/// PIL's `clip8`: a fixed-point accumulator to a byte.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// PIL `Image.resize((w, h), BICUBIC)` of an RGB image: horizontal pass (rounded to uint8),
/// then vertical pass. Axes whose size does not change are not resampled, as in PIL.
pub fn resize_bicubic(image: &Rgb8, width: u32, height: u32) -> Rgb8 {
    let (w0, h0) = (image.width as usize, image.height as usize);
    let mut current = image.pixels.clone();
    let mut cur_w = w0;
    if width != image.width {
        let taps = taps(image.width, width);
        let w1 = width as usize;
        let mut out = vec![0u8; w1 * h0 * 3];
        for y in 0..h0 {
            let row = &current[y * cur_w * 3..(y + 1) * cur_w * 3];
            for (x, t) in taps.iter().enumerate() {
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (i, &k) in t.weights.iter().enumerate() {
                        acc += i64::from(row[(t.start + i) * 3 + c]) * i64::from(k);
                    }
                    out[(y * w1 + x) * 3 + c] = clip8(acc);
                }
            }
        }
        current = out;
        cur_w = w1;
    }
    if height != image.height {
        let taps = taps(image.height, height);
        let h1 = height as usize;
        let mut out = vec![0u8; cur_w * h1 * 3];
        for (y, t) in taps.iter().enumerate() {
            for x in 0..cur_w {
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (i, &k) in t.weights.iter().enumerate() {
                        acc +=
                            i64::from(current[((t.start + i) * cur_w + x) * 3 + c]) * i64::from(k);
                    }
                    out[(y * cur_w + x) * 3 + c] = clip8(acc);
                }
            }
        }
        current = out;
    }
    Rgb8 {
        width,
        height,
        pixels: current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (inp, out) in [(300, 224), (90, 224), (227, 224), (1000, 7)] {
            for t in taps(inp, out) {
                let sum: i64 = t.weights.iter().map(|&k| i64::from(k)).sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= t.weights.len() as i64,
                    "{inp}→{out}"
                );
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let image = Rgb8 {
            width: 31,
            height: 17,
            pixels: vec![77; 31 * 17 * 3],
        };
        let out = resize_bicubic(&image, 224, 122);
        assert!(out.pixels.iter().all(|&v| v == 77));
    }
}
