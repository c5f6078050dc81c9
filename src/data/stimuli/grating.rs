//! Gratings: sinusoidal gratings and plaids.

use std::f32::consts::{PI, TAU};

use rand::Rng;

use super::NF;
use super::canvas::*;
use super::colour::*;
use super::random::*;
use super::shapes::*;

pub(super) fn draw_grating(rng: &mut Rng8) -> Canvas {
    let theta = u(rng, 0.0, PI);
    let cycles = 2.0 * 10f32.powf(rng.random::<f32>());
    let phase = u(rng, 0.0, TAU);
    let contrast = u(rng, 0.3, 1.0);
    let plaid = chance(rng, 0.25).then(|| {
        (
            theta + u(rng, PI / 4.0, 3.0 * PI / 4.0),
            cycles * u(rng, 0.7, 1.4),
            u(rng, 0.0, TAU),
        )
    });
    let aperture = chance(rng, 0.35).then(|| NF * u(rng, 0.3, 0.48));
    let (a, b) = if chance(rng, 0.3) {
        let h = rng.random::<f32>();
        (hsv(h, 0.8, 0.9), hsv(h + u(rng, 0.3, 0.7), 0.8, 0.9))
    } else {
        (WHITE, BLACK)
    };
    let (st, ct) = theta.sin_cos();
    let k = TAU * cycles / NF;
    Canvas::from_fn(|x, y| {
        let p = v(x as f32 + 0.5 - NF / 2.0, y as f32 + 0.5 - NF / 2.0);
        let mut s = (k * (p.x * ct + p.y * st) + phase).sin();
        if let Some((t2, c2, p2)) = plaid {
            let (s2, c2t) = t2.sin_cos();
            s = 0.5 * (s + (TAU * c2 / NF * (p.x * c2t + p.y * s2) + p2).sin());
        }
        s *= contrast;
        if let Some(r) = aperture {
            s *= (r - p.length() + 0.5).clamp(0.0, 1.0);
        }
        mix(b, a, 0.5 + 0.5 * s)
    })
}
