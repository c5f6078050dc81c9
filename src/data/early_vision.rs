//! What a virtual subject's visual cortex sees of an image: maps of image-computable channels over
//! the visual field, blurred at a ladder of Gaussian widths, so that a population receptive field
//! (pRF) — a Gaussian over the visual field — reads its input with one interpolated lookup: the
//! pRF-weighted sum of a map equals the map blurred by the pRF's Gaussian, sampled at its centre.
//!
//! The image subtends [`IMAGE_DEG`] (8.4°, as NSD's stimuli), centred on fixation, on mean grey:
//! outside it every channel is 0. It is resized and cropped to 224 px, analysed, and pooled
//! to cells of 0.3° (28 cells across the image) on a field of 64 × 64 cells (±9.6°).
//!
//! Channels (see [`Channel`]): oriented, phase-invariant energy (Freeman & Adelson's steerable
//! G2/H2 pair) in three spatial-frequency bands (≈ 3.3, 1.7 and 0.8 cycles/°) × four
//! orientations; red–green and blue–yellow chromatic contrast; and mid-level statistics that
//! the literature links to category-selective cortex: curvature (energy spread over
//! orientations: curves and corners, as in faces and bodies), concentric structure (coarse edges
//! running around the image centre rather than away from it: a head outline, round eyes), and
//! figure–ground contrast (a local region differing from its surround). Ratios of pooled
//! energies (cardinal vs. oblique for rectilinearity, vertical vs. horizontal stripes for
//! upright elongated parts) are formed by the virtual subjects from the energy channels. One global statistic completes them: the left–right mirror symmetry of the central
//! image (faces, frontal objects).

use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::features::filters::{
    Plane, SteerableBasis, luminance_and_opponents, reduce, rgb_planes,
};
use crate::features::preprocess::Rgb8;

/// Visual angle of the image's edge, degrees (NSD shows its images at 8.4°).
pub const IMAGE_DEG: f32 = 8.4;
/// Pixels the image is analysed at.
pub(super) const ANALYSIS_PX: usize = 224;
/// Cells across the image.
pub(super) const IMAGE_CELLS: usize = 28;
/// Cells across the whole field (the image sits in the middle).
const FIELD_CELLS: usize = 64;
/// Degrees per cell.
pub const DEG_PER_CELL: f32 = IMAGE_DEG / IMAGE_CELLS as f32;
/// Gaussian widths of the blur ladder, in cells (level 0 is unblurred).
const LADDER_CELLS: [f32; 7] = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// How a virtual subject's early vision computes its channels from an image. Both give the same
/// [`Channel`]s on the same scale; they differ in the filters and nonlinearities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontEnd {
    /// Steerable G2/H2 energy on a Gaussian pyramid, local standard deviations of colour: the
    /// same filter bank as the built-in extractor (`features/filters.rs`), so the generator
    /// lies close to the built-in features (the default, as the embedded models were trained).
    #[default]
    Steerable,
    /// Complex Gabor filters at other frequencies and orientations with divisive normalisation,
    /// difference-of-Gaussians colour and figure channels (`data/gabor_vision.rs`): nothing of
    /// the built-in extractor's filters, so linear read-outs of its features are not favoured.
    Gabor,
}

impl FrontEnd {
    /// Its name in `simulation.json` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FrontEnd::Steerable => "steerable",
            FrontEnd::Gabor => "gabor",
        }
    }
}

/// The channels of a [`VisualField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Oriented energy: band 0 (fine, ≈ 3.3 c/°), 1 (≈ 1.7 c/°) or 2 (coarse, ≈ 0.8 c/°);
    /// orientation 0 = vertical stripes, 1 = 45°, 2 = horizontal stripes, 3 = 135°.
    Energy {
        /// Spatial-frequency band.
        band: usize,
        /// Orientation index.
        orientation: usize,
    },
    /// Red–green chromatic contrast (local standard deviation of R − G).
    RedGreen,
    /// Blue–yellow chromatic contrast (local standard deviation of B − (R + G)/2).
    BlueYellow,
    /// Energy present at several orientations at once (band 1): curves, corners, junctions.
    Curvature,
    /// Coarse (band 2) energy of edges running tangentially around the image centre minus that
    /// of edges running radially (positive part): concentric structure such as a head outline.
    Concentric,
    /// Absolute difference between local (0.3°) and surround (1.2°) luminance: figure–ground.
    Figure,
}

/// Spatial-frequency bands.
pub const BANDS: usize = 3;
/// Orientations per band.
pub const ORIENTATIONS: usize = 4;
/// Number of channels.
pub const CHANNELS: usize = BANDS * ORIENTATIONS + 5;

impl Channel {
    /// Position in the channel list.
    pub fn index(self) -> usize {
        match self {
            Channel::Energy { band, orientation } => band * ORIENTATIONS + orientation,
            Channel::RedGreen => 12,
            Channel::BlueYellow => 13,
            Channel::Curvature => 14,
            Channel::Concentric => 15,
            Channel::Figure => 16,
        }
    }
}

/// An image as seen over the visual field: every channel at every rung of the blur ladder.
#[derive(Debug, Clone)]
pub struct VisualField {
    /// `[rung][channel][FIELD_CELLS²]`, row 0 at the top of the field.
    ladder: Vec<Vec<Vec<f32>>>,
    /// Left–right mirror symmetry of the central image's luminance, in [0, 1].
    pub symmetry: f32,
}

/// Mean of `factor × factor` blocks of a plane.
pub(super) fn pool(plane: &Plane, factor: usize) -> Vec<f32> {
    let n = plane.size / factor;
    let mut out = vec![0.0; n * n];
    for y in 0..plane.size {
        for x in 0..plane.size {
            out[(y / factor) * n + x / factor] += plane.data[y * plane.size + x];
        }
    }
    let area = (factor * factor) as f32;
    out.iter_mut().for_each(|v| *v /= area);
    out
}

/// Standard deviation over `factor × factor` blocks.
fn pool_std(plane: &Plane, factor: usize) -> Vec<f32> {
    let mean = pool(plane, factor);
    let squares = Plane {
        size: plane.size,
        data: plane.data.iter().map(|v| v * v).collect(),
    };
    pool(&squares, factor)
        .iter()
        .zip(&mean)
        .map(|(s, m)| (s - m * m).max(0.0).sqrt())
        .collect()
}

/// Normalised 1D Gaussian taps, radius ⌈3σ⌉ (both front ends' blurs).
pub(super) fn gaussian_taps(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let taps: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = taps.iter().sum();
    taps.into_iter().map(|t| t / total).collect()
}

/// Gaussian blur with zero outside the map (nothing is shown outside the image).
fn blur_zero_padded(map: &[f32], n: usize, sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return map.to_vec();
    }
    let kernel = gaussian_taps(sigma);
    let radius = (kernel.len() / 2) as isize;
    let pass = |input: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0; n * n];
        for y in 0..n {
            for x in 0..n {
                let mut acc = 0.0;
                for (t, k) in kernel.iter().enumerate() {
                    let offset = t as isize - radius;
                    let (sx, sy) = if horizontal {
                        (x as isize + offset, y as isize)
                    } else {
                        (x as isize, y as isize + offset)
                    };
                    if (0..n as isize).contains(&sx) && (0..n as isize).contains(&sy) {
                        acc += k * input[sy as usize * n + sx as usize];
                    }
                }
                out[y * n + x] = acc;
            }
        }
        out
    };
    pass(&pass(map, true), false)
}

/// Left–right mirror correlation of the central half of a luminance plane, clamped to [0, 1].
fn mirror_symmetry(l: &Plane) -> f32 {
    let n = l.size;
    let (lo, hi) = (n / 4, 3 * n / 4);
    let mut pairs = Vec::with_capacity((hi - lo) * (hi - lo) / 2);
    for y in lo..hi {
        for x in lo..n / 2 {
            pairs.push((l.at(x, y), l.at(n - 1 - x, y)));
        }
    }
    mirror_correlation(&pairs)
}

/// Pearson correlation of mirrored value pairs, clamped to [0, 1] (0 when either side is flat):
/// the symmetry statistic of both front ends.
pub(super) fn mirror_correlation(pairs: &[(f32, f32)]) -> f32 {
    let count = pairs.len() as f32;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / count, b + y / count));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (a, b) in pairs {
        ab += (a - ma) * (b - mb);
        aa += (a - ma) * (a - ma);
        bb += (b - mb) * (b - mb);
    }
    if aa * bb <= 1e-12 {
        return 0.0;
    }
    (ab / (aa * bb).sqrt()).clamp(0.0, 1.0)
}

/// Concentric structure per image cell: energy of edges running around the image centre minus
/// that of edges running away from it (positive part), from four orientation maps over the
/// cells whose filters' angles `angle_of(o)` are measured anticlockwise with y up. A filter of
/// angle θ responds to edges running at θ + 90°, so θ = α (the cell's position angle) is
/// tangential.
pub(super) fn concentric_cells(maps: &[Vec<f32>], angle_of: &dyn Fn(usize) -> f32) -> Vec<f32> {
    (0..IMAGE_CELLS * IMAGE_CELLS)
        .map(|i| {
            let x = (i % IMAGE_CELLS) as f32 + 0.5 - IMAGE_CELLS as f32 / 2.0;
            let y = IMAGE_CELLS as f32 / 2.0 - ((i / IMAGE_CELLS) as f32 + 0.5);
            let alpha = y.atan2(x);
            let (mut tangential, mut radial) = (0.0, 0.0);
            for (o, map) in maps.iter().enumerate() {
                let c = (angle_of(o) - alpha).cos();
                tangential += map[i] * c * c;
                radial += map[i] * (1.0 - c * c);
            }
            (tangential - radial).max(0.0)
        })
        .collect()
}

/// Energy of an orientation plane pooled to image cells (band planes are 112, 56 and 28 px,
/// all multiples of the 28 cells).
fn energy_cells(plane: &Plane) -> Vec<f32> {
    pool(plane, plane.size / IMAGE_CELLS)
}

impl VisualField {
    /// Analyses an image with the default (steerable) front end (any size; resized and
    /// centre-cropped as for CLIP, then shown at 8.4°).
    pub fn analyse(image: &Rgb8) -> Self {
        Self::analyse_with(image, FrontEnd::Steerable)
    }

    /// Analyses an image with the given front end.
    pub fn analyse_with(image: &Rgb8, front_end: FrontEnd) -> Self {
        let (channels, symmetry) = match front_end {
            FrontEnd::Steerable => steerable_channels(image),
            FrontEnd::Gabor => super::gabor_vision::image_channels(image),
        };
        Self::from_image_channels(channels, symmetry)
    }

    /// The field of image channels (`[CHANNELS][IMAGE_CELLS²]`, row 0 at the image's top): the
    /// image placed in the middle of the field, every channel blurred along the ladder.
    pub(super) fn from_image_channels(image_channels: Vec<Vec<f32>>, symmetry: f32) -> Self {
        let offset = (FIELD_CELLS - IMAGE_CELLS) / 2;
        let field_channels: Vec<Vec<f32>> = image_channels
            .iter()
            .map(|channel| {
                let mut field = vec![0.0; FIELD_CELLS * FIELD_CELLS];
                for y in 0..IMAGE_CELLS {
                    for x in 0..IMAGE_CELLS {
                        field[(y + offset) * FIELD_CELLS + x + offset] =
                            channel[y * IMAGE_CELLS + x];
                    }
                }
                field
            })
            .collect();
        let ladder = LADDER_CELLS
            .iter()
            .map(|&sigma| {
                field_channels
                    .iter()
                    .map(|f| blur_zero_padded(f, FIELD_CELLS, sigma))
                    .collect()
            })
            .collect();
        Self { ladder, symmetry }
    }

    /// The pRF-weighted mean of `channel` for a Gaussian pRF centred at `centre_deg` (x right,
    /// y up, degrees from fixation) with standard deviation `sigma_deg`: bilinear in position,
    /// linear in log σ between rungs of the ladder.
    pub fn sample(&self, channel: usize, centre_deg: Vec2, sigma_deg: f32) -> f32 {
        let sigma = (sigma_deg / DEG_PER_CELL).clamp(LADDER_CELLS[1], LADDER_CELLS[6]);
        let position = log2_rung(sigma);
        let rung = (position.floor() as usize).min(LADDER_CELLS.len() - 2);
        let t = position - rung as f32;
        let lower = self.at(rung, channel, centre_deg);
        let upper = self.at(rung + 1, channel, centre_deg);
        lower + (upper - lower) * t
    }

    /// Bilinear lookup of one rung; beyond the field (±9.6°) the edge value continues, so the
    /// result stays continuous in the centre.
    fn at(&self, rung: usize, channel: usize, centre_deg: Vec2) -> f32 {
        let n = FIELD_CELLS as f32;
        let last = n - 1.0 - 1e-3;
        let fx = (centre_deg.x / DEG_PER_CELL + n / 2.0 - 0.5).clamp(0.0, last);
        let fy = (-centre_deg.y / DEG_PER_CELL + n / 2.0 - 0.5).clamp(0.0, last);
        let map = &self.ladder[rung][channel];
        let (x0, y0) = (fx as usize, fy as usize);
        let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
        let at = |x: usize, y: usize| map[y * FIELD_CELLS + x];
        let top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * tx;
        let bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * tx;
        top + (bottom - top) * ty
    }
}

/// The steerable front end's image channels (`[CHANNELS][IMAGE_CELLS²]`) and symmetry.
fn steerable_channels(image: &Rgb8) -> (Vec<Vec<f32>>, f32) {
    let [l, rg, by] = luminance_and_opponents(&rgb_planes(image, ANALYSIS_PX));

    // Bands are pyramid levels 1, 2 and 3 (112, 56 and 28 px across the image).
    let basis = SteerableBasis::new();
    let mut level = reduce(&l);
    let mut energy: Vec<[Vec<f32>; 4]> = Vec::with_capacity(BANDS);
    for band in 0..BANDS {
        if band > 0 {
            level = reduce(&level);
        }
        let amplitudes = basis.amplitudes(&level);
        energy.push(std::array::from_fn(|o| energy_cells(&amplitudes[o])));
    }
    let cells = IMAGE_CELLS * IMAGE_CELLS;
    let mut image_channels: Vec<Vec<f32>> = Vec::with_capacity(CHANNELS);
    for band in &energy {
        image_channels.extend(band.iter().cloned());
    }
    let factor = ANALYSIS_PX / IMAGE_CELLS;
    image_channels.push(pool_std(&rg, factor));
    image_channels.push(pool_std(&by, factor));
    let curvature = (0..cells)
        .map(|i| {
            let e = energy[1].each_ref().map(|m| m[i]);
            let max = e.iter().copied().fold(0.0, f32::max);
            let min = e.iter().copied().fold(f32::INFINITY, f32::min);
            if max > 0.0 {
                min / max * e.iter().sum::<f32>()
            } else {
                0.0
            }
        })
        .collect();
    image_channels.push(curvature);
    let concentric = concentric_cells(&energy[2], &|o| o as f32 * std::f32::consts::FRAC_PI_4);
    image_channels.push(concentric);
    let luminance = pool(&l, factor);
    let local = blur_zero_padded(&luminance, IMAGE_CELLS, 1.0);
    let surround = blur_zero_padded(&luminance, IMAGE_CELLS, 4.0);
    // Zero padding darkens the surround near the edges; renormalise by the blurred support.
    let support = blur_zero_padded(&vec![1.0; cells], IMAGE_CELLS, 4.0);
    let local_support = blur_zero_padded(&vec![1.0; cells], IMAGE_CELLS, 1.0);
    let figure = (0..cells)
        .map(|i| (local[i] / local_support[i] - surround[i] / support[i]).abs())
        .collect();
    image_channels.push(figure);
    debug_assert_eq!(image_channels.len(), CHANNELS);
    (image_channels, mirror_symmetry(&l))
}

/// Position on the ladder of a width in cells: rung 1 is 0.5 cells, each next rung doubles.
fn log2_rung(sigma_cells: f32) -> f32 {
    1.0 + (sigma_cells / LADDER_CELLS[1]).log2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::stimuli::{grating, uniform};

    #[test]
    fn uniform_image_has_no_energy_anywhere() {
        let field = VisualField::analyse(&uniform([128, 128, 128]));
        for c in 0..CHANNELS {
            assert!(field.sample(c, Vec2::ZERO, 1.0).abs() < 1e-4, "channel {c}");
        }
    }

    #[test]
    fn vertical_grating_drives_vertical_channels() {
        // 60 cycles per image ≈ 7 c/° is too fine for band 2; 14 cycles ≈ 1.7 c/° fits band 1.
        let field = VisualField::analyse(&grating(0.0, 14.0, 0.0, 1.0));
        let vertical = field.sample(
            Channel::Energy {
                band: 1,
                orientation: 0,
            }
            .index(),
            Vec2::ZERO,
            1.0,
        );
        let horizontal = field.sample(
            Channel::Energy {
                band: 1,
                orientation: 2,
            }
            .index(),
            Vec2::ZERO,
            1.0,
        );
        assert!(vertical > 5.0 * horizontal, "{vertical} vs {horizontal}");
        // Nothing is shown beyond the image's edge (4.2°).
        let far = field.sample(
            Channel::Energy {
                band: 1,
                orientation: 0,
            }
            .index(),
            Vec2::new(8.0, 0.0),
            0.3,
        );
        assert!(far < 1e-3 * vertical, "{far}");
    }

    #[test]
    fn large_prfs_average_over_the_image_and_its_grey_surround() {
        let field = VisualField::analyse(&grating(0.0, 14.0, 0.0, 1.0));
        let c = Channel::Energy {
            band: 1,
            orientation: 0,
        }
        .index();
        let small = field.sample(c, Vec2::ZERO, 0.3);
        let huge = field.sample(c, Vec2::ZERO, 4.8);
        assert!(huge < small && huge > 0.2 * small, "{small} {huge}");
    }

    #[test]
    fn symmetry_is_high_for_mirror_images() {
        let symmetric = grating(90.0, 6.0, 0.3, 1.0);
        assert!(VisualField::analyse(&symmetric).symmetry > 0.95);
        let lopsided = grating(0.0, 1.0, 0.0, 1.0); // one cycle: left dark, right light
        assert!(VisualField::analyse(&lopsided).symmetry < 0.2);
    }
}
