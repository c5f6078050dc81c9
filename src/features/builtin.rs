//! The built-in, weight-free feature extractor (`builtin-v1`): a small, deterministic model of
//! early and mid-level vision, for machines without CLIP weights and for the embedded default.
//!
//! The image is resized (shortest side 224, PIL bicubic) and centre-cropped to 224×224, then
//! split into luminance L = 0.299R + 0.587G + 0.114B and the colour-opponent channels
//! RG = R − G and BY = B − (R + G)/2 (values in [0, 1] units). Orientation energy comes from
//! Freeman & Adelson's steerable quadrature pair G2/H2 (second derivative of a Gaussian and its
//! Hilbert transform; separable basis filters, 9 taps), on a four-level Gaussian pyramid of L
//! (224, 112, 56, 28 px: periods of about 4, 8, 16 and 32 px at 224), steered to 0°, 45°, 90° and
//! 135°; the amplitude √(G2² + H2²) is phase-invariant, like a complex cell. Orientation θ = 0°
//! is the filter whose derivative runs along x: it prefers vertical stripes.
//!
//! **Token map 1 (early, per 16×16 patch of a 14×14 grid), 16 channels**: 0 mean L, 1 mean RG,
//! 2 mean BY, 3 L contrast (standard deviation), 4–7 amplitude at level 0 for 0/45/90/135°,
//! 8–11 the same at level 1, 12 edge density (mean gradient magnitude of L), 13 saturation
//! (mean √(RG² + BY²)), 14 RG contrast, 15 BY contrast.
//!
//! **Token map 2 (mid-level, each patch with its 3×3 neighbourhood of patches), 16 channels**:
//! 0–3 amplitude at level 2, 4–7 at level 3, 8 orientation dominance at level 1
//! ((max − min)/sum over orientations: rectilinear structure, as in scenes and buildings),
//! 9 orientation spread (min/max: curves, corners and texture, as in faces and bodies),
//! 10 mean L, 11 L contrast, 12 mean RG, 13 mean BY, 14 centre–surround L (patch minus
//! neighbourhood), 15 vertical–horizontal balance at level 2 ((E0 − E90)/(E0 + E90)).
//!
//! **Global vector, 32 values**: 0–2 mean R, G, B; 3–5 their standard deviations;
//! 6 mean saturation; 7 RMS contrast of L; 8 spectral slope (log-log slope of band energy across
//! the four pyramid levels, about −2 for natural images); 9–24 amplitude per level (4) and
//! orientation (4), each level normalised to sum 1; 25 edge density; 26 fraction of patches with
//! L contrast above 0.1; 27 mean L; 28 colourfulness (Hasler & Süsstrunk 2003);
//! 29 spread of patch mean L (layout); 30 top-minus-bottom mean L (sky/ground layout);
//! 31 centre-to-periphery amplitude ratio (a central object vs. an even scene).

use super::filters::{Plane, SteerableBasis, luminance_and_opponents, reduce, rgb_planes};
use super::preprocess::Rgb8;
use super::{FeatureError, FeatureExtractor, ImageFeatures};

/// Identifier stored in models trained on these features.
pub const BUILTIN_ID: &str = "builtin-v1";
/// Edge of the analysed image, pixels.
const SIZE: usize = 224;
/// Patches per side.
const GRID: usize = 14;
/// Channels per token.
const TOKEN_DIM: usize = 16;
/// Length of the global vector.
const GLOBAL_DIM: usize = 32;
/// Pyramid levels.
const LEVELS: usize = 4;

/// The built-in extractor. Stateless and deterministic: the same pixels give the same features.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinExtractor;

/// The analysed planes of one image.
struct Analysis {
    l: Plane,
    rg: Plane,
    by: Plane,
    r: Plane,
    g: Plane,
    b: Plane,
    /// `[level][orientation]`.
    amplitude: Vec<[Plane; 4]>,
    gradient: Plane,
}

fn analyse(image: &Rgb8) -> Analysis {
    let rgb = rgb_planes(image, SIZE);
    let [l, rg, by] = luminance_and_opponents(&rgb);
    let [r, g, b] = rgb;
    let map = |f: &dyn Fn(usize) -> f32| Plane {
        size: SIZE,
        data: (0..SIZE * SIZE).map(f).collect(),
    };
    let gradient = map(&|i| {
        let (x, y) = (i % SIZE, i / SIZE);
        let dx = l.at((x + 1).min(SIZE - 1), y) - l.at(x.saturating_sub(1), y);
        let dy = l.at(x, (y + 1).min(SIZE - 1)) - l.at(x, y.saturating_sub(1));
        0.5 * (dx * dx + dy * dy).sqrt()
    });
    let basis = SteerableBasis::new();
    let mut level = l.clone();
    let mut amplitude = Vec::with_capacity(LEVELS);
    for n in 0..LEVELS {
        if n > 0 {
            level = reduce(&level);
        }
        amplitude.push(basis.amplitudes(&level));
    }
    Analysis {
        l,
        rg,
        by,
        r,
        g,
        b,
        amplitude,
        gradient,
    }
}

/// `[x0, x1)` in pixels of patches `p0..p1` on a plane of `size` pixels.
fn span(p0: usize, p1: usize, size: usize) -> (usize, usize) {
    (p0 * size / GRID, p1 * size / GRID)
}

impl Analysis {
    /// Mean of a plane over patches `[px0, px1) × [py0, py1)` (whatever the plane's resolution).
    fn pooled(plane: &Plane, px: (usize, usize), py: (usize, usize)) -> f32 {
        let (x0, x1) = span(px.0, px.1, plane.size);
        let (y0, y1) = span(py.0, py.1, plane.size);
        plane.mean(x0, x1.max(x0 + 1), y0, y1.max(y0 + 1))
    }

    fn early_token(&self, px: usize, py: usize) -> [f32; TOKEN_DIM] {
        let p = ((px, px + 1), (py, py + 1));
        let (x0, x1) = span(px, px + 1, SIZE);
        let (y0, y1) = span(py, py + 1, SIZE);
        let mut t = [0.0; TOKEN_DIM];
        t[0] = Self::pooled(&self.l, p.0, p.1);
        t[1] = Self::pooled(&self.rg, p.0, p.1);
        t[2] = Self::pooled(&self.by, p.0, p.1);
        t[3] = self.l.std(x0, x1, y0, y1);
        for o in 0..4 {
            t[4 + o] = Self::pooled(&self.amplitude[0][o], p.0, p.1);
            t[8 + o] = Self::pooled(&self.amplitude[1][o], p.0, p.1);
        }
        t[12] = Self::pooled(&self.gradient, p.0, p.1);
        let mut saturation = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                saturation += self.rg.at(x, y).hypot(self.by.at(x, y));
            }
        }
        t[13] = saturation / ((x1 - x0) * (y1 - y0)) as f32;
        t[14] = self.rg.std(x0, x1, y0, y1);
        t[15] = self.by.std(x0, x1, y0, y1);
        t
    }

    fn mid_token(&self, px: usize, py: usize) -> [f32; TOKEN_DIM] {
        let wx = (px.saturating_sub(1), (px + 2).min(GRID));
        let wy = (py.saturating_sub(1), (py + 2).min(GRID));
        let mut t = [0.0; TOKEN_DIM];
        for o in 0..4 {
            t[o] = Self::pooled(&self.amplitude[2][o], wx, wy);
            t[4 + o] = Self::pooled(&self.amplitude[3][o], wx, wy);
        }
        let level1: Vec<f32> = (0..4)
            .map(|o| Self::pooled(&self.amplitude[1][o], wx, wy))
            .collect();
        let (lo, hi) = level1
            .iter()
            .fold((f32::MAX, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let sum: f32 = level1.iter().sum();
        t[8] = (hi - lo) / (sum + 1e-6);
        t[9] = lo / (hi + 1e-6);
        let (x0, x1) = span(wx.0, wx.1, SIZE);
        let (y0, y1) = span(wy.0, wy.1, SIZE);
        t[10] = self.l.mean(x0, x1, y0, y1);
        t[11] = self.l.std(x0, x1, y0, y1);
        t[12] = self.rg.mean(x0, x1, y0, y1);
        t[13] = self.by.mean(x0, x1, y0, y1);
        t[14] = Self::pooled(&self.l, (px, px + 1), (py, py + 1)) - t[10];
        let e0 = Self::pooled(&self.amplitude[2][0], wx, wy);
        let e90 = Self::pooled(&self.amplitude[2][2], wx, wy);
        t[15] = (e0 - e90) / (e0 + e90 + 1e-6);
        t
    }

    fn global(&self, early: &[[f32; TOKEN_DIM]]) -> [f32; GLOBAL_DIM] {
        let whole = |p: &Plane| p.mean(0, p.size, 0, p.size);
        let spread = |p: &Plane| p.std(0, p.size, 0, p.size);
        let mut v = [0.0; GLOBAL_DIM];
        v[0] = whole(&self.r);
        v[1] = whole(&self.g);
        v[2] = whole(&self.b);
        v[3] = spread(&self.r);
        v[4] = spread(&self.g);
        v[5] = spread(&self.b);
        v[6] = early.iter().map(|t| t[13]).sum::<f32>() / early.len() as f32;
        v[7] = spread(&self.l);
        // Band energy per level against the level's centre frequency (halving per level).
        let band: Vec<f32> = (0..LEVELS)
            .map(|n| {
                self.amplitude[n]
                    .iter()
                    .map(|a| whole(a).powi(2))
                    .sum::<f32>()
                    + 1e-12
            })
            .collect();
        let xs: Vec<f32> = (0..LEVELS)
            .map(|n| -(n as f32) * std::f32::consts::LN_2)
            .collect();
        let ys: Vec<f32> = band.iter().map(|e| e.ln()).collect();
        let (mx, my) = (xs.iter().sum::<f32>() / 4.0, ys.iter().sum::<f32>() / 4.0);
        let cov: f32 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let var: f32 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        v[8] = cov / var;
        for n in 0..LEVELS {
            let amps: Vec<f32> = self.amplitude[n].iter().map(whole).collect();
            let total: f32 = amps.iter().sum::<f32>() + 1e-6;
            for o in 0..4 {
                v[9 + 4 * n + o] = amps[o] / total;
            }
        }
        v[25] = whole(&self.gradient);
        v[26] = early.iter().filter(|t| t[3] > 0.1).count() as f32 / early.len() as f32;
        v[27] = whole(&self.l);
        let (srg, sby) = (spread(&self.rg), spread(&self.by));
        let (mrg, mby) = (whole(&self.rg), whole(&self.by));
        v[28] = srg.hypot(sby) + 0.3 * mrg.hypot(mby);
        let means: Vec<f32> = early.iter().map(|t| t[0]).collect();
        let mean_of_means = means.iter().sum::<f32>() / means.len() as f32;
        v[29] = (means
            .iter()
            .map(|m| (m - mean_of_means).powi(2))
            .sum::<f32>()
            / means.len() as f32)
            .sqrt();
        v[30] = self.l.mean(0, SIZE, 0, SIZE / 3) - self.l.mean(0, SIZE, 2 * SIZE / 3, SIZE);
        let amplitude_at = |x0: usize, x1: usize, y0: usize, y1: usize| -> f32 {
            (0..4)
                .map(|o| self.amplitude[1][o].mean(x0 / 2, x1 / 2, y0 / 2, y1 / 2))
                .sum()
        };
        let centre = amplitude_at(SIZE / 4, 3 * SIZE / 4, SIZE / 4, 3 * SIZE / 4);
        let all = amplitude_at(0, SIZE, 0, SIZE);
        // The periphery is the whole minus the centre quarter of the area.
        let periphery = (4.0 * all - centre) / 3.0;
        v[31] = centre / (periphery + 1e-6);
        v
    }
}

impl FeatureExtractor for BuiltinExtractor {
    fn id(&self) -> String {
        BUILTIN_ID.into()
    }

    fn patches(&self) -> usize {
        GRID * GRID
    }

    fn token_dim(&self) -> usize {
        TOKEN_DIM
    }

    fn global_dim(&self) -> usize {
        GLOBAL_DIM
    }

    fn extract(&self, image: &Rgb8) -> Result<ImageFeatures, FeatureError> {
        let analysis = analyse(image);
        let early: Vec<[f32; TOKEN_DIM]> = (0..GRID * GRID)
            .map(|i| analysis.early_token(i % GRID, i / GRID))
            .collect();
        let mid: Vec<[f32; TOKEN_DIM]> = (0..GRID * GRID)
            .map(|i| analysis.mid_token(i % GRID, i / GRID))
            .collect();
        let global = analysis.global(&early).to_vec();
        let tokens: Vec<f32> = early.iter().chain(&mid).flatten().copied().collect();
        ImageFeatures::new(tokens, GRID * GRID, TOKEN_DIM, global)
            .map_err(|e| FeatureError::Readback(format!("built-in features are unusable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(f: impl Fn(u32, u32) -> [u8; 3]) -> Rgb8 {
        let (width, height) = (227, 227);
        let pixels = (0..width * height)
            .flat_map(|i| f(i % width, i / width))
            .collect();
        Rgb8 {
            width,
            height,
            pixels,
        }
    }

    fn grating(vertical: bool) -> Rgb8 {
        image(|x, y| {
            let t = if vertical { x } else { y } as f32;
            let v = (127.5 + 120.0 * (t * std::f32::consts::TAU / 8.0).sin()) as u8;
            [v, v, v]
        })
    }

    fn mean_channel(f: &ImageFeatures, map: usize, channel: usize) -> f32 {
        let tokens = f.token_map(map);
        tokens.chunks(TOKEN_DIM).map(|t| t[channel]).sum::<f32>() / f.patches as f32
    }

    #[test]
    fn deterministic() {
        let img = grating(true);
        let a = BuiltinExtractor.extract(&img).expect("features");
        let b = BuiltinExtractor.extract(&img).expect("features");
        assert_eq!(a, b);
        assert_eq!((a.patches, a.token_dim, a.global_dim()), (196, 16, 32));
    }

    #[test]
    fn vertical_gratings_drive_vertical_channels() {
        let v = BuiltinExtractor.extract(&grating(true)).expect("features");
        let h = BuiltinExtractor.extract(&grating(false)).expect("features");
        // Levels 0 and 1: channels 4 and 8 are 0° (vertical stripes), 6 and 10 are 90°.
        let vertical = |f: &ImageFeatures| mean_channel(f, 0, 4) + mean_channel(f, 0, 8);
        let horizontal = |f: &ImageFeatures| mean_channel(f, 0, 6) + mean_channel(f, 0, 10);
        assert!(
            vertical(&v) > 2.0 * horizontal(&v),
            "{} vs {}",
            vertical(&v),
            horizontal(&v)
        );
        assert!(
            horizontal(&h) > 2.0 * vertical(&h),
            "{} vs {}",
            horizontal(&h),
            vertical(&h)
        );
    }

    #[test]
    fn red_drives_the_red_green_channel() {
        let red = BuiltinExtractor
            .extract(&image(|_, _| [220, 30, 30]))
            .expect("features");
        let gray = BuiltinExtractor
            .extract(&image(|_, _| [120, 120, 120]))
            .expect("features");
        assert!(mean_channel(&red, 0, 1) > 0.5);
        assert!(mean_channel(&gray, 0, 1).abs() < 1e-6);
    }
}
