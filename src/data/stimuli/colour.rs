//! Colours: mixing, shading, HSV, and the skin and hair palettes.

use super::random::*;

pub(super) type Rgb = [f32; 3];

pub(super) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// `c` scaled by `k` (shading), clamped to 0..1.
pub(super) fn mul(c: Rgb, k: f32) -> Rgb {
    c.map(|x| (x * k).clamp(0.0, 1.0))
}

/// `c` with each channel moved by up to `±amount`.
pub(super) fn jitter(rng: &mut Rng8, c: Rgb, amount: f32) -> Rgb {
    let mut out = c;
    for x in &mut out {
        *x = (*x + u(rng, -amount, amount)).clamp(0.0, 1.0);
    }
    out
}

/// One of `items` with each channel moved by up to `±amount`.
pub(super) fn pick_jitter(rng: &mut Rng8, items: &[Rgb], amount: f32) -> Rgb {
    let c = pick(rng, items);
    jitter(rng, c, amount)
}

/// HSV to RGB; `h` in turns (wraps), `s` and `v` in 0..1.
pub(super) fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h = (h - h.floor()) * 6.0;
    let i = h.floor();
    let f = h - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match i as u32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// A random colour with hue (turns), saturation and value in the given ranges.
pub(super) fn hsv_in(rng: &mut Rng8, h: (f32, f32), s: (f32, f32), v: (f32, f32)) -> Rgb {
    let h = u(rng, h.0, h.1);
    let s = u(rng, s.0, s.1);
    let v = u(rng, v.0, v.1);
    hsv(h, s, v)
}

pub(super) fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

pub(super) const WHITE: Rgb = [1.0, 1.0, 1.0];
pub(super) const BLACK: Rgb = [0.0, 0.0, 0.0];

/// Skin tones from light to dark.
pub(super) const SKIN: [Rgb; 6] = [
    [0.98, 0.85, 0.74],
    [0.95, 0.78, 0.64],
    [0.87, 0.68, 0.53],
    [0.76, 0.56, 0.40],
    [0.58, 0.40, 0.28],
    [0.40, 0.27, 0.19],
];

/// Hair colours: black, dark brown, brown, blond, red, gray.
pub(super) const HAIR: [Rgb; 6] = [
    [0.07, 0.06, 0.05],
    [0.20, 0.13, 0.08],
    [0.38, 0.24, 0.12],
    [0.80, 0.65, 0.38],
    [0.58, 0.26, 0.10],
    [0.62, 0.62, 0.62],
];
