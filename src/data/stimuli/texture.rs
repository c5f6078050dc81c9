//! Textures: dead leaves, pebbles, grass, bark and marble.

use std::f32::consts::PI;

use glam::Vec2;
use rand::Rng;

use super::canvas::*;
use super::colour::*;
use super::random::*;
use super::shapes::*;
use super::{N, NF};

pub(super) fn draw_texture(rng: &mut Rng8) -> Canvas {
    match rng.random_range(0..5u32) {
        0 | 1 => dead_leaves(rng),
        2 => pebbles(rng),
        3 => grass(rng),
        _ => {
            if chance(rng, 0.5) {
                bark(rng)
            } else {
                marble(rng)
            }
        }
    }
}

/// A radius from a power law `p(r) ∝ r⁻³` on `lo..hi` (scale invariance of natural images).
pub(super) fn power_law_radius(rng: &mut Rng8, lo: f32, hi: f32) -> f32 {
    let t = rng.random::<f32>();
    let (a, b) = (lo.powi(-2), hi.powi(-2));
    (a - t * (a - b)).powf(-0.5)
}

/// The dead-leaves model: discs and ellipses with power-law sizes, later ones occluding earlier.
pub(super) fn dead_leaves(rng: &mut Rng8) -> Canvas {
    let palette: Vec<Rgb> = match rng.random_range(0..3u32) {
        0 => (0..6)
            .map(|_| hsv_in(rng, (0.0, 1.0), (0.2, 0.9), (0.2, 0.95)))
            .collect(),
        1 => {
            let autumn = [
                [0.75, 0.2, 0.1],
                [0.9, 0.55, 0.1],
                [0.95, 0.8, 0.25],
                [0.45, 0.28, 0.12],
                [0.6, 0.45, 0.15],
                [0.3, 0.35, 0.12],
            ];
            autumn.iter().map(|&c| jitter(rng, c, 0.05)).collect()
        }
        _ => {
            let h = rng.random::<f32>();
            (0..5)
                .map(|_| hsv_in(rng, (h - 0.06, h + 0.06), (0.2, 0.8), (0.15, 0.95)))
                .collect()
        }
    };
    let mut cv = Canvas::filled(palette[0]);
    let hi = u(rng, 40.0, 90.0);
    for _ in 0..1100 {
        let r = power_law_radius(rng, 3.0, hi);
        let c = v(u(rng, -r, NF + r), u(rng, -r, NF + r));
        let col = pick_jitter(rng, &palette, 0.03);
        let aspect = if chance(rng, 0.6) {
            1.0
        } else {
            u(rng, 0.4, 1.0)
        };
        let shape = ellipse(c, v(r, r * aspect), u(rng, 0.0, PI));
        cv.fill(
            &shape,
            Paint::linear(
                c - v(r, r) * 0.7,
                mul(col, 1.04),
                c + v(r, r) * 0.7,
                mul(col, 0.92),
            ),
        );
    }
    cv
}

/// Gravel: shaded pebbles with soft shadows on sand.
pub(super) fn pebbles(rng: &mut Rng8) -> Canvas {
    let sand = jitter(rng, [0.55, 0.48, 0.38], 0.06);
    let field = value_noise(rng, Vec2::splat(12.0), 3, 0.6);
    let mut cv = Canvas::from_fn(|x, y| mul(sand, 0.6 + 0.5 * field[y * N + x]));
    let h = u(rng, 0.05, 0.12);
    let (lo, hi) = (u(rng, 3.0, 6.0), u(rng, 12.0, 24.0));
    for _ in 0..280 {
        let r = u(rng, lo, hi);
        let c = v(u(rng, -r, NF + r), u(rng, -r, NF + r));
        let col = hsv_in(rng, (h - 0.05, h + 0.05), (0.0, 0.35), (0.3, 0.9));
        let shape = ellipse(c, v(r, r * u(rng, 0.6, 0.95)), u(rng, 0.0, PI));
        let shadow = ellipse(c + v(r, r) * 0.15, v(r, r * 0.9), 0.0);
        cv.fill(&shadow, Paint::solid(BLACK).alpha(0.45).soft(r * 0.2));
        cv.fill(
            &shape,
            Paint::radial(c - v(r, r) * 0.35, r * 1.4, mul(col, 1.25), mul(col, 0.55)),
        );
    }
    cv
}

/// Grass: many thin tapered blades over dark green.
pub(super) fn grass(rng: &mut Rng8) -> Canvas {
    let base = jitter(rng, [0.15, 0.3, 0.08], 0.04);
    let tip = jitter(rng, [0.5, 0.7, 0.25], 0.06);
    let field = value_noise(rng, Vec2::splat(30.0), 3, 0.5);
    let mut cv = Canvas::from_fn(|x, y| mul(base, 0.6 + 0.6 * field[y * N + x]));
    let lean = u(rng, -0.2, 0.2);
    for _ in 0..800 {
        let len = u(rng, 15.0, 45.0);
        let b = v(u(rng, -10.0, NF + 10.0), u(rng, 0.0, NF + len));
        let t = b + v((lean + u(rng, -0.2, 0.2)) * len, -len);
        let w = u(rng, 1.0, 2.2);
        let k = u(rng, 0.6, 1.2);
        let blade = polygon(&[b - v(w, 0.0), b + v(w, 0.0), t]);
        cv.fill(&blade, Paint::linear(b, mul(base, k), t, mul(tip, k)));
    }
    cv
}

/// Bark: vertical streaky noise with dark fissures.
pub(super) fn bark(rng: &mut Rng8) -> Canvas {
    let light = jitter(rng, [0.55, 0.45, 0.35], 0.08);
    let dark = jitter(rng, [0.15, 0.1, 0.07], 0.03);
    let cell = v(u(rng, 5.0, 9.0), u(rng, 40.0, 80.0));
    let streaks = value_noise(rng, cell, 5, 0.6);
    let grain = value_noise(rng, Vec2::splat(3.0), 2, 0.5);
    let cut = u(rng, 0.3, 0.45);
    Canvas::from_fn(|x, y| {
        let i = y * N + x;
        let k = smoothstep(cut, cut + 0.12, streaks[i]);
        mix(dark, mul(light, 0.75 + 0.45 * grain[i] * streaks[i]), k)
    })
}

/// Marble: a light stone with dark veins (sine of a noise-perturbed coordinate).
pub(super) fn marble(rng: &mut Rng8) -> Canvas {
    let stone = hsv_in(rng, (0.0, 1.0), (0.0, 0.2), (0.75, 0.95));
    let vein = hsv_in(rng, (0.0, 1.0), (0.0, 0.4), (0.1, 0.45));
    let cell = u(rng, 80.0, 120.0);
    let field = value_noise(rng, Vec2::splat(cell), 6, 0.65);
    let fine = value_noise(rng, Vec2::splat(25.0), 4, 0.6);
    let angle = u(rng, 0.0, PI);
    let (s, c) = angle.sin_cos();
    let freq = u(rng, 0.03, 0.06);
    let turb = u(rng, 4.0, 7.0);
    let sharp = rng.random_range(5..13i32);
    Canvas::from_fn(|x, y| {
        let i = y * N + x;
        let (x, y) = (x as f32, y as f32);
        let major = (1.0 - ((x * c + y * s) * freq + field[i] * turb).sin().abs()).powi(sharp);
        let minor = (1.0
            - ((x * s - y * c) * freq * 2.3 + fine[i] * turb * 1.5)
                .sin()
                .abs())
        .powi(sharp * 2);
        let base = mul(stone, 0.88 + 0.17 * field[i]);
        mix(mix(base, vein, major), vein, minor * 0.5)
    })
}
