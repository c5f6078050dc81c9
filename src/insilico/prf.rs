//! What a point sees: its population receptive field (pRF), mapped as in pRF experiments
//! (Dumoulin & Wandell 2008) but on the model. Small contrast patches on a grid over the image,
//! and bars, are shown on a low-contrast pedestal of the same texture ([`PEDESTAL`]); the
//! model's response at the point to each probe, less its response to the pedestal alone, is fitted
//! with a 2D Gaussian over the visual field (a grid search over centre and size, then a finer
//! one around the best): response ≈ gain · Σ Gaussian × aperture + baseline.
//!
//! Positions are given as fractions of the image (u right, v down, 0..1) and in degrees of
//! visual angle with the image at 8.4° as NSD shows it (x right, y up, 0 at fixation). On a
//! virtual subject the same probes can be shown to the truth, and the simulator's own pRF read
//! at the point, to check a model's retinotopy.

use std::sync::Arc;

use glam::{Vec2, Vec3};
use serde::Serialize;

use super::InsilicoError;
use crate::data::early_vision::IMAGE_DEG;
use crate::data::virtual_subjects::VirtualSubject;
use crate::features::FeatureExtractor;
use crate::features::cache::FeatureCache;
use crate::features::preprocess::Rgb8;
use crate::model::Nrf;
use crate::query::{ImageQuery, QueryEngine};

/// Side of the probe images, pixels (the procedural stimuli's size).
const PROBE_PX: usize = crate::data::stimuli::STIMULUS_SIZE as usize;
/// Patches per row and column of the probe grid.
pub const PATCH_GRID: usize = 9;
/// Bars per direction.
const BARS: usize = 8;
/// Cells per side of the apertures the fit reads.
const CELLS: usize = 24;
/// Seed of the probes' texture.
const CARRIER_SEED: u64 = 7;
/// Contrast of the texture everywhere under the probes (and alone in the baseline probe): a
/// lone patch on flat grey pushes image-wide statistics far outside anything a model was
/// trained on (the built-in extractor's centre-to-periphery amplitude ratio divides by an empty
/// periphery), and the model's response to that swamps the local one.
const PEDESTAL: f32 = 0.25;
/// Centres searched in the coarse pass, per axis, over [-0.1, 1.1] of the image.
const COARSE_CENTRES: usize = 25;
/// pRF sizes searched in the coarse pass (standard deviation, fraction of the image).
const COARSE_SIGMAS: [f32; 9] = [0.02, 0.03, 0.045, 0.07, 0.1, 0.15, 0.22, 0.33, 0.5];

/// The probe images and the contrast aperture of each: `PATCH_GRID²` patches (row-major, top
/// row first), `BARS` vertical bars (left to right), `BARS` horizontal bars (top to bottom), and
/// the pedestal alone (the "blank") last.
#[derive(Debug, Clone)]
pub struct PrfProbes {
    /// The images.
    pub images: Vec<Rgb8>,
    /// Per probe (blank excluded), its aperture averaged over `CELLS × CELLS` cells, row-major.
    apertures: Vec<Vec<f32>>,
}

/// The carrier's pixels under an aperture `a(x, y)` in [0, 1] raised from the pedestal:
/// `128 + (p + (1 − p)·a) · (carrier − 128)` with `p` = [`PEDESTAL`], and the aperture averaged
/// over the fit's cells.
fn probe_image(carrier: &Rgb8, aperture: &dyn Fn(f32, f32) -> f32) -> (Rgb8, Vec<f32>) {
    let mut pixels = Vec::with_capacity(PROBE_PX * PROBE_PX * 3);
    let mut cells = vec![0.0f32; CELLS * CELLS];
    let mut counts = vec![0u32; CELLS * CELLS];
    for y in 0..PROBE_PX {
        for x in 0..PROBE_PX {
            let u = (x as f32 + 0.5) / PROBE_PX as f32;
            let v = (y as f32 + 0.5) / PROBE_PX as f32;
            let a = aperture(u, v);
            let at = (y * PROBE_PX + x) * 3;
            for c in 0..3 {
                let contrast = PEDESTAL + (1.0 - PEDESTAL) * a;
                let value = 128.0 + contrast * (f32::from(carrier.pixels[at + c]) - 128.0);
                pixels.push(value.round().clamp(0.0, 255.0) as u8);
            }
            let cell = (y * CELLS / PROBE_PX) * CELLS + x * CELLS / PROBE_PX;
            cells[cell] += a;
            counts[cell] += 1;
        }
    }
    for (c, n) in cells.iter_mut().zip(counts) {
        *c /= n.max(1) as f32;
    }
    let image = Rgb8 {
        width: PROBE_PX as u32,
        height: PROBE_PX as u32,
        pixels,
    };
    (image, cells)
}

/// The pattern the probes show through their apertures: a procedural natural texture (dense,
/// broadband, like the images models are trained on; a checkerboard on grey is far from them
/// and draws wild extrapolations), the same for every probe.
fn carrier() -> Rgb8 {
    use crate::data::stimuli::{Category, STIMULUS_SIZE, generate};
    let texture = generate(CARRIER_SEED, 0, Category::Texture);
    debug_assert_eq!(texture.width, STIMULUS_SIZE);
    texture
}

impl PrfProbes {
    /// The standard probe set: Gaussian-windowed texture patches (σ half the grid step) on
    /// a 9 × 9 grid, and texture bars an eighth of the image wide in both directions.
    pub fn standard() -> Self {
        let mut images = Vec::new();
        let mut apertures = Vec::new();
        let step = 1.0 / PATCH_GRID as f32;
        let sigma = step / 2.0;
        let carrier = carrier();
        for row in 0..PATCH_GRID {
            for col in 0..PATCH_GRID {
                let (cu, cv) = ((col as f32 + 0.5) * step, (row as f32 + 0.5) * step);
                let (image, cells) = probe_image(&carrier, &|u, v| {
                    let d2 = (u - cu).powi(2) + (v - cv).powi(2);
                    (-d2 / (2.0 * sigma * sigma)).exp()
                });
                images.push(image);
                apertures.push(cells);
            }
        }
        let width = 1.0 / BARS as f32;
        for vertical in [true, false] {
            for bar in 0..BARS {
                let (lo, hi) = (bar as f32 * width, (bar + 1) as f32 * width);
                let (image, cells) = probe_image(&carrier, &|u, v| {
                    let along = if vertical { u } else { v };
                    f32::from(u8::from(along >= lo && along < hi))
                });
                images.push(image);
                apertures.push(cells);
            }
        }
        images.push(probe_image(&carrier, &|_, _| 0.0).0);
        Self { images, apertures }
    }

    /// Number of probes, the blank excluded.
    pub fn probes(&self) -> usize {
        self.apertures.len()
    }
}

/// A model's responses to the probes, ready to be read at any point.
#[derive(Debug, Clone)]
pub struct PreparedProbes {
    probes: Arc<PrfProbes>,
    /// One query per image of `probes` (blank last).
    queries: Vec<ImageQuery>,
}

impl PreparedProbes {
    /// Extracts the probes' features (through `cache` when given) and prepares their queries.
    pub fn new(
        probes: Arc<PrfProbes>,
        model: &Nrf,
        engine: &Arc<QueryEngine>,
        extractor: &dyn FeatureExtractor,
        cache: Option<&FeatureCache>,
    ) -> Result<Self, InsilicoError> {
        use rayon::prelude::*;
        model.check_extractor(extractor)?;
        let features = probes
            .images
            .par_iter()
            .map(|image| match cache {
                Some(cache) => cache.get_or_extract(extractor, image).map_err(Into::into),
                None => extractor.extract(image).map_err(InsilicoError::from),
            })
            .collect::<Result<Vec<_>, InsilicoError>>()?;
        let queries = engine.prepare_batch(model, &features)?;
        Ok(Self { probes, queries })
    }

    /// The probes.
    pub fn probes(&self) -> &PrfProbes {
        &self.probes
    }

    /// The mean response over `points` to each probe minus that to the blank, `[probes]`.
    pub fn responses_at(&self, points: &[Vec3]) -> Result<Vec<f32>, InsilicoError> {
        // [probes + blank, points], every probe at the points together.
        let values = ImageQuery::query_each(&self.queries, points, &mut |_, _| true)?;
        let mean = |row: &[f32]| {
            (row.iter().map(|&v| f64::from(v)).sum::<f64>() / row.len().max(1) as f64) as f32
        };
        let means: Vec<f32> = match points.len() {
            0 => vec![0.0; self.queries.len()],
            n => values.chunks_exact(n).map(mean).collect(),
        };
        let (blank, probes) = means
            .split_last()
            .ok_or_else(|| InsilicoError::Invalid("no probes".into()))?;
        Ok(probes.iter().map(|m| m - blank).collect())
    }
}

/// The truth's responses of a virtual subject to the probes at `points` (mean over points, minus
/// the blank's), `[probes]`: the same experiment on the simulated brain.
pub fn truth_responses(probes: &PrfProbes, subject: &VirtualSubject, points: &[Vec3]) -> Vec<f32> {
    use rayon::prelude::*;
    let means: Vec<f32> = probes
        .images
        .par_iter()
        .map(|image| {
            let values = subject.truth(&subject.see(image), points);
            values.iter().sum::<f32>() / values.len().max(1) as f32
        })
        .collect();
    let (blank, rest) = means.split_last().unwrap_or((&0.0, &[]));
    rest.iter().map(|v| v - blank).collect()
}

/// A fitted pRF.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrfFit {
    /// Centre as a fraction of the image: u (left → right), v (top → bottom).
    pub centre_fraction: [f32; 2],
    /// Centre in degrees, x right, y up, 0 at fixation (image 8.4° wide).
    pub centre_deg: [f32; 2],
    /// Eccentricity, degrees.
    pub eccentricity_deg: f32,
    /// Size (Gaussian standard deviation), degrees.
    pub sigma_deg: f32,
    /// Response per unit of the Gaussian-weighted aperture.
    pub gain: f32,
    /// Variance of the probe responses the Gaussian explains (0..1).
    pub r2: f32,
    /// The response to each patch minus the blank's, `PATCH_GRID × PATCH_GRID`, top row first:
    /// the raw map the fit summarises.
    pub patch_map: Vec<f32>,
}

/// Degrees (x right, y up) of an image fraction (u right, v down).
pub fn fraction_to_deg(u: f32, v: f32) -> Vec2 {
    Vec2::new((u - 0.5) * IMAGE_DEG, (0.5 - v) * IMAGE_DEG)
}

/// Pearson r of `s` against `r` and the slope, or `None` for a constant regressor.
fn correlate(s: &[f32], r: &[f32]) -> Option<(f32, f32)> {
    let n = s.len() as f32;
    let (ms, mr) = (s.iter().sum::<f32>() / n, r.iter().sum::<f32>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0f32, 0.0f32, 0.0f32);
    for (a, b) in s.iter().zip(r) {
        let (da, db) = (a - ms, b - mr);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    (sxx > 1e-12 && syy > 0.0).then(|| (sxy / (sxx * syy).sqrt(), sxy / sxx))
}

/// 1D Gaussian weights over the cell centres.
fn gaussian_1d(mu: f32, sigma: f32) -> [f32; CELLS] {
    std::array::from_fn(|i| {
        let x = (i as f32 + 0.5) / CELLS as f32;
        (-(x - mu).powi(2) / (2.0 * sigma * sigma)).exp()
    })
}

/// The best (r, slope, u, v, sigma) over the candidates: separable sums, so each candidate
/// costs probes × cells.
fn search(
    apertures: &[Vec<f32>],
    responses: &[f32],
    us: &[f32],
    vs: &[f32],
    sigmas: &[f32],
) -> Option<(f32, f32, f32, f32, f32)> {
    let mut best: Option<(f32, f32, f32, f32, f32)> = None;
    let mut rows = vec![[0.0f32; CELLS]; apertures.len()];
    let mut regressor = vec![0.0f32; apertures.len()];
    for &sigma in sigmas {
        for &u in us {
            let gx = gaussian_1d(u, sigma);
            // rows[k][y] = Σx gx(x) a_k(y, x)
            for (row, aperture) in rows.iter_mut().zip(apertures) {
                for (y, out) in row.iter_mut().enumerate() {
                    *out = aperture[y * CELLS..(y + 1) * CELLS]
                        .iter()
                        .zip(&gx)
                        .map(|(a, g)| a * g)
                        .sum();
                }
            }
            for &v in vs {
                let gy = gaussian_1d(v, sigma);
                for (s, row) in regressor.iter_mut().zip(&rows) {
                    *s = row.iter().zip(&gy).map(|(a, g)| a * g).sum();
                }
                if let Some((r, slope)) = correlate(&regressor, responses)
                    && best.is_none_or(|b| r > b.0)
                {
                    best = Some((r, slope, u, v, sigma));
                }
            }
        }
    }
    best
}

/// Fits a Gaussian pRF to the responses (`[probes]`, as [`PreparedProbes::responses_at`] gives
/// them). `None` when the responses do not vary (nothing to fit).
pub fn fit_prf(probes: &PrfProbes, responses: &[f32]) -> Result<Option<PrfFit>, InsilicoError> {
    if responses.len() != probes.probes() {
        return Err(InsilicoError::Invalid(format!(
            "{} responses for {} probes",
            responses.len(),
            probes.probes()
        )));
    }
    if responses.iter().any(|r| !r.is_finite()) {
        return Err(InsilicoError::Invalid(
            "the model's responses to the probes are not finite".into(),
        ));
    }
    let centres: Vec<f32> = (0..COARSE_CENTRES)
        .map(|i| -0.1 + 1.2 * i as f32 / (COARSE_CENTRES - 1) as f32)
        .collect();
    let Some((_, _, u0, v0, s0)) = search(
        &probes.apertures,
        responses,
        &centres,
        &centres,
        &COARSE_SIGMAS,
    ) else {
        return Ok(None);
    };
    let step = 1.2 / (COARSE_CENTRES - 1) as f32;
    let fine = |c: f32| -> Vec<f32> { (-5..=5).map(|i| c + step * i as f32 / 5.0).collect() };
    let sigmas: Vec<f32> = [0.8, 0.9, 1.0, 1.1, 1.25].iter().map(|f| s0 * f).collect();
    let Some((r, gain, u, v, sigma)) =
        search(&probes.apertures, responses, &fine(u0), &fine(v0), &sigmas)
    else {
        return Ok(None);
    };
    let centre = fraction_to_deg(u, v);
    Ok(Some(PrfFit {
        centre_fraction: [u, v],
        centre_deg: centre.to_array(),
        eccentricity_deg: centre.length(),
        sigma_deg: sigma * IMAGE_DEG,
        gain,
        r2: r.max(0.0).powi(2),
        patch_map: responses[..PATCH_GRID * PATCH_GRID].to_vec(),
    }))
}

/// The pRF map as a picture: the responses to the patches (RdBu_r, symmetric about 0, limits
/// at the 90th percentile of their magnitude), each
/// patch `cell_px` pixels wide, with the fit's 1σ circle and centre in black and, when given, a
/// second fit's (the truth's) in green.
pub fn map_picture(fit: &PrfFit, other: Option<&PrfFit>, cell_px: u32) -> image::RgbaImage {
    use crate::render::colormap::{ColorMap, to_u8};
    let size = PATCH_GRID as u32 * cell_px.max(1);
    // The colour limit at the 90th percentile of |response|: one patch far above the others
    // (an out-of-distribution answer) saturates instead of washing out the rest.
    let limit = crate::render::colormap::quantile_abs(fit.patch_map.iter().copied(), 0.9)
        .unwrap_or(1.0)
        .max(1e-12);
    let mut picture = image::RgbaImage::from_fn(size, size, |x, y| {
        let cell = (y / cell_px.max(1)) as usize * PATCH_GRID + (x / cell_px.max(1)) as usize;
        let t = (0.5 + 0.5 * fit.patch_map[cell] / limit).clamp(0.0, 1.0);
        let [r, g, b] = ColorMap::RdBuR.at(t);
        image::Rgba([to_u8(r), to_u8(g), to_u8(b), 255])
    });
    let mut draw = |f: &PrfFit, colour: [u8; 4]| {
        let centre = Vec2::from_array(f.centre_fraction) * size as f32;
        let radius = f.sigma_deg / IMAGE_DEG * size as f32;
        let mut plot = |p: Vec2| {
            if p.x >= 0.0 && p.y >= 0.0 && (p.x as u32) < size && (p.y as u32) < size {
                picture.put_pixel(p.x as u32, p.y as u32, image::Rgba(colour));
            }
        };
        for i in 0..720 {
            let angle = i as f32 / 720.0 * std::f32::consts::TAU;
            plot(centre + radius * Vec2::new(angle.cos(), angle.sin()));
        }
        for d in -6..=6 {
            plot(centre + Vec2::new(d as f32, 0.0));
            plot(centre + Vec2::new(0.0, d as f32));
        }
    };
    if let Some(other) = other {
        draw(other, [0, 160, 0, 255]);
    }
    draw(fit, [0, 0, 0, 255]);
    picture
}

/// The simulator's own pRF at a point of a virtual subject: that of the area with the largest
/// membership there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulatorPrf {
    /// The area (V1, V2, V3, hV4, FFA, PPA, EBA, LO).
    pub area: String,
    /// Its membership at the point (0..1).
    pub membership: f32,
    /// Centre, degrees (x right, y up).
    pub centre_deg: [f32; 2],
    /// Eccentricity, degrees.
    pub eccentricity_deg: f32,
    /// Size (standard deviation), degrees.
    pub sigma_deg: f32,
}

/// The simulator's pRF at `point`, `None` outside its visual areas.
pub fn simulator_prf(subject: &VirtualSubject, point: Vec3) -> Option<SimulatorPrf> {
    let model = subject.point_model(point);
    let area = model.label(0.05)?;
    let a = area.index();
    let centre = model.prf_centre[a];
    Some(SimulatorPrf {
        area: area.roi_name().to_string(),
        membership: model.membership[a],
        centre_deg: centre.to_array(),
        eccentricity_deg: centre.length(),
        sigma_deg: model.prf_sigma[a],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gaussian_prf_is_recovered_from_its_own_responses() {
        let probes = PrfProbes::standard();
        assert_eq!(probes.images.len(), probes.probes() + 1);
        // Responses of an ideal pRF at (0.7, 0.3), σ 0.08: the Gaussian-weighted aperture.
        let (cu, cv, s) = (0.7f32, 0.3f32, 0.08f32);
        let responses: Vec<f32> = probes
            .apertures
            .iter()
            .map(|a| {
                let gx = gaussian_1d(cu, s);
                let gy = gaussian_1d(cv, s);
                2.0 * (0..CELLS * CELLS)
                    .map(|i| a[i] * gx[i % CELLS] * gy[i / CELLS])
                    .sum::<f32>()
                    + 0.5
            })
            .collect();
        let fit = fit_prf(&probes, &responses).unwrap().unwrap();
        assert!((fit.centre_fraction[0] - cu).abs() < 0.011, "{fit:?}");
        assert!((fit.centre_fraction[1] - cv).abs() < 0.011, "{fit:?}");
        assert!((fit.sigma_deg / IMAGE_DEG - s).abs() < 0.015, "{fit:?}");
        assert!(fit.r2 > 0.99);
        // Upper right of fixation.
        assert!(fit.centre_deg[0] > 0.0 && fit.centre_deg[1] > 0.0);
        assert!(
            fit_prf(&probes, &vec![1.0; probes.probes()])
                .unwrap()
                .is_none()
        );
        assert!(fit_prf(&probes, &[1.0]).is_err());
    }
}
