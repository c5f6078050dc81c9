//! The floating-point canvas the painters draw on: paints (solid, linear and radial
//! gradients), anti-aliased shape filling, value noise, backdrops and local frames.

use std::ops::Range;

use glam::Vec2;
use rand::Rng;

use crate::features::preprocess::Rgb8;

use super::colour::*;
use super::random::*;
use super::shapes::*;
use super::{N, NF, STIMULUS_SIZE};

/// How a shape is filled: a solid colour, or a linear or radial gradient from `c0` to `c1`, at
/// opacity `alpha`, with an edge `soft` pixels wide.
#[derive(Clone, Copy)]
pub(super) struct Paint {
    pub(super) c0: Rgb,
    pub(super) c1: Rgb,
    pub(super) origin: Vec2,
    pub(super) axis: Vec2,
    pub(super) radial: bool,
    pub(super) alpha: f32,
    pub(super) soft: f32,
}

impl Paint {
    pub(super) fn solid(c: Rgb) -> Self {
        Paint {
            c0: c,
            c1: c,
            origin: Vec2::ZERO,
            axis: Vec2::ZERO,
            radial: false,
            alpha: 1.0,
            soft: 1.0,
        }
    }

    /// `c0` at `p0` to `c1` at `p1`, constant across.
    pub(super) fn linear(p0: Vec2, c0: Rgb, p1: Vec2, c1: Rgb) -> Self {
        let d = p1 - p0;
        Paint {
            c0,
            c1,
            origin: p0,
            axis: d / d.length_squared().max(1e-6),
            ..Paint::solid(c0)
        }
    }

    /// `inner` at `centre` to `outer` at distance `radius` and beyond.
    pub(super) fn radial(centre: Vec2, radius: f32, inner: Rgb, outer: Rgb) -> Self {
        Paint {
            c1: outer,
            origin: centre,
            axis: v(1.0 / radius.max(1e-3), 0.0),
            radial: true,
            ..Paint::solid(inner)
        }
    }

    pub(super) fn alpha(self, alpha: f32) -> Self {
        Paint { alpha, ..self }
    }

    pub(super) fn soft(self, soft: f32) -> Self {
        Paint {
            soft: soft.max(0.25),
            ..self
        }
    }

    pub(super) fn at(&self, p: Vec2) -> Rgb {
        let d = p - self.origin;
        let t = if self.radial {
            d.length() * self.axis.x
        } else {
            d.dot(self.axis)
        };
        mix(self.c0, self.c1, t.clamp(0.0, 1.0))
    }
}

/// A 227×227 RGB image with channels in 0..1 (values outside are clamped on output).
#[derive(Clone)]
pub(super) struct Canvas {
    pub(super) px: Vec<Rgb>,
}

impl Canvas {
    pub(super) fn filled(c: Rgb) -> Self {
        Canvas { px: vec![c; N * N] }
    }

    /// Pixel `(x, y)` from `f(x, y)`.
    pub(super) fn from_fn(mut f: impl FnMut(usize, usize) -> Rgb) -> Self {
        let mut px = Vec::with_capacity(N * N);
        for y in 0..N {
            for x in 0..N {
                px.push(f(x, y));
            }
        }
        Canvas { px }
    }

    pub(super) fn vertical(top: Rgb, bottom: Rgb) -> Self {
        Canvas::from_fn(|_, y| mix(top, bottom, (y as f32 + 0.5) / NF))
    }

    /// Blends `colour(p, i)` (pixel centre, pixel index) into the pixels covered by `shape`, at
    /// opacity `alpha`, with an edge `soft` pixels wide.
    pub(super) fn fill_with(
        &mut self,
        shape: &impl Shape,
        soft: f32,
        alpha: f32,
        colour: impl Fn(Vec2, usize) -> Rgb,
    ) {
        let (lo, hi) = shape.bounds();
        // Coverage needs sdf < soft / 2; the extra pixel absorbs the approximate distances.
        let margin = 0.5 * soft + 1.0;
        let x0 = (lo.x - margin).floor().clamp(0.0, NF) as usize;
        let x1 = (hi.x + margin).ceil().clamp(0.0, NF) as usize;
        let y0 = (lo.y - margin).floor().clamp(0.0, NF) as usize;
        let y1 = (hi.y + margin).ceil().clamp(0.0, NF) as usize;
        let inv = 1.0 / soft;
        for y in y0..y1 {
            let py = y as f32 + 0.5;
            for x in x0..x1 {
                let p = v(x as f32 + 0.5, py);
                let cover = (0.5 - shape.sdf(p) * inv).clamp(0.0, 1.0) * alpha;
                if cover <= 0.0 {
                    continue;
                }
                let i = y * N + x;
                let c = colour(p, i);
                for (dst, src) in self.px[i].iter_mut().zip(c) {
                    *dst += (src - *dst) * cover;
                }
            }
        }
    }

    pub(super) fn fill(&mut self, shape: &impl Shape, paint: Paint) {
        self.fill_with(shape, paint.soft, paint.alpha, |p, _| paint.at(p));
    }

    /// Blends `colour` over rows `rows` with opacity `smoothstep(lo, hi, field)` (clouds, veins).
    pub(super) fn blend_field(
        &mut self,
        field: &[f32],
        colour: Rgb,
        lo: f32,
        hi: f32,
        rows: Range<usize>,
    ) {
        let range = rows.start.min(N) * N..rows.end.min(N) * N;
        for (px, &f) in self.px[range.clone()].iter_mut().zip(&field[range]) {
            let a = smoothstep(lo, hi, f);
            if a > 0.0 {
                *px = mix(*px, colour, a);
            }
        }
    }

    pub(super) fn to_rgb8(&self) -> Rgb8 {
        let pixels = self
            .px
            .iter()
            .flat_map(|c| c.map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8))
            .collect();
        Rgb8 {
            width: STIMULUS_SIZE,
            height: STIMULUS_SIZE,
            pixels,
        }
    }
}

/// Multi-octave value noise over the canvas (random lattice values, smoothstep-interpolated),
/// stretched to 0..1. `cell` is the lattice spacing of the first octave in pixels (x and y apart,
/// for streaky noise); each octave halves it and weighs `gain` times the previous one.
pub(super) fn value_noise(rng: &mut Rng8, cell: Vec2, octaves: u32, gain: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; N * N];
    let mut amp = 1.0;
    let mut cell = cell;
    for _ in 0..octaves {
        let gw = (NF / cell.x).ceil() as usize + 2;
        let gh = (NF / cell.y).ceil() as usize + 2;
        let grid: Vec<f32> = (0..gw * gh).map(|_| rng.random::<f32>()).collect();
        let (ox, oy) = (rng.random::<f32>(), rng.random::<f32>());
        let xs: Vec<(usize, f32)> = (0..N)
            .map(|x| {
                let f = x as f32 / cell.x + ox;
                let i = f.floor();
                (i as usize, smoothstep(0.0, 1.0, f - i))
            })
            .collect();
        for y in 0..N {
            let f = y as f32 / cell.y + oy;
            let j = f.floor();
            let ty = smoothstep(0.0, 1.0, f - j);
            let r0 = &grid[j as usize * gw..];
            let r1 = &grid[(j as usize + 1) * gw..];
            let row = &mut out[y * N..(y + 1) * N];
            for (o, &(i, tx)) in row.iter_mut().zip(&xs) {
                let a = r0[i] + (r0[i + 1] - r0[i]) * tx;
                let b = r1[i] + (r1[i + 1] - r1[i]) * tx;
                *o += amp * (a + (b - a) * ty);
            }
        }
        amp *= gain;
        cell = (cell * 0.5).max(Vec2::ONE);
    }
    let lo = out.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let scale = 1.0 / (hi - lo).max(1e-6);
    for o in &mut out {
        *o = (*o - lo) * scale;
    }
    out
}

/// A soft backdrop: a vertical gradient between two muted colours, or blurred noise.
pub(super) fn backdrop(rng: &mut Rng8) -> Canvas {
    let h = rng.random::<f32>();
    let a = hsv_in(rng, (h, h), (0.1, 0.45), (0.35, 0.9));
    let b = hsv_in(rng, (h - 0.15, h + 0.15), (0.1, 0.45), (0.25, 0.85));
    if chance(rng, 0.5) {
        Canvas::vertical(a, b)
    } else {
        let cell = u(rng, 50.0, 110.0);
        let field = value_noise(rng, Vec2::splat(cell), 3, 0.5);
        Canvas::from_fn(|x, y| mix(a, b, field[y * N + x]))
    }
}

/// A local frame: position `c`, unit length `s` pixels, rotated by `angle`.
pub(super) struct Frame {
    pub(super) c: Vec2,
    pub(super) s: f32,
    pub(super) angle: f32,
    pub(super) cs: f32,
    pub(super) sn: f32,
}

impl Frame {
    pub(super) fn new(c: Vec2, s: f32, angle: f32) -> Self {
        let (sn, cs) = angle.sin_cos();
        Frame {
            c,
            s,
            angle,
            cs,
            sn,
        }
    }

    pub(super) fn at(&self, x: f32, y: f32) -> Vec2 {
        self.c + rotate(v(x, y) * self.s, self.cs, self.sn)
    }

    pub(super) fn ellipse(&self, x: f32, y: f32, rx: f32, ry: f32) -> Ellipse {
        ellipse(self.at(x, y), v(rx, ry) * self.s, self.angle)
    }

    pub(super) fn rrect(&self, x: f32, y: f32, hx: f32, hy: f32, radius: f32) -> RRect {
        rrect(
            self.at(x, y),
            v(hx, hy) * self.s,
            radius * self.s,
            self.angle,
        )
    }

    pub(super) fn capsule(&self, a: (f32, f32), b: (f32, f32), r: f32) -> Capsule {
        capsule(self.at(a.0, a.1), self.at(b.0, b.1), r * self.s)
    }

    /// The half plane of points whose local `y` is below (`keep_below`) or above `y`.
    pub(super) fn cut(&self, y: f32, keep_below: bool) -> HalfPlane {
        let n = if keep_below {
            v(0.0, -1.0)
        } else {
            v(0.0, 1.0)
        };
        half_plane(self.at(0.0, y), rotate(n, self.cs, self.sn))
    }
}
