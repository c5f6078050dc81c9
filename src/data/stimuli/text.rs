//! Text: pseudo-words in the stroke font ([`super::font`]) on light paper.

use glam::Vec2;
use rand::Rng;

use super::canvas::*;
use super::colour::*;
use super::font::*;
use super::random::*;
use super::shapes::*;
use super::{N, NF};

pub(super) fn draw_text(rng: &mut Rng8) -> Canvas {
    let paper = pick_jitter(
        rng,
        &[
            [0.97, 0.96, 0.93],
            [0.95, 0.93, 0.85],
            [0.92, 0.92, 0.92],
            [0.98, 0.98, 0.99],
        ],
        0.02,
    );
    let field = value_noise(rng, Vec2::splat(60.0), 4, 0.5);
    let mut cv = Canvas::from_fn(|x, y| mul(paper, 0.95 + 0.05 * field[y * N + x]));
    let ink = pick_jitter(
        rng,
        &[
            [0.08, 0.08, 0.1],
            [0.1, 0.12, 0.35],
            [0.25, 0.15, 0.1],
            [0.15, 0.15, 0.15],
        ],
        0.03,
    );
    let size = u(rng, 8.0, 15.0);
    let font = Font {
        size,
        stroke: (size * 0.06).max(0.65),
        ink,
    };
    let left = u(rng, 6.0, 20.0);
    let right = NF - u(rng, 6.0, 20.0);
    let mut y = u(rng, 4.0, 16.0);
    let pitch = size * u(rng, 1.45, 1.8);

    if chance(rng, 0.5) {
        let big = size * u(rng, 1.6, 2.2);
        let title = Font {
            size: big,
            stroke: big * u(rng, 0.07, 0.1),
            ink,
        };
        let words: Vec<Vec<&Glyph>> = (0..rng.random_range(1..4u32))
            .map(|_| word(rng, true, 3))
            .collect();
        let space = big * 0.5;
        let widths: Vec<f32> = words
            .iter()
            .map(|w| w.iter().map(|g| title.advance(g)).sum())
            .collect();
        let total = widths.iter().sum::<f32>() + space * (words.len() as f32 - 1.0);
        let mut x = if chance(rng, 0.5) {
            left
        } else {
            ((NF - total) / 2.0).max(left)
        };
        for (w, width) in words.iter().zip(&widths) {
            if x + width > right {
                break;
            }
            for g in w {
                title.draw(&mut cv, g, v(x, y));
                x += title.advance(g);
            }
            x += space;
        }
        y += big * 1.7;
    }

    let space = size * 0.5;
    let mut capital = true;
    let mut indent = 0.0;
    while y + size * 1.35 < NF - 4.0 {
        let mut x = left + indent;
        let end = if chance(rng, 0.12) {
            left + (right - left) * u(rng, 0.3, 0.8)
        } else {
            right
        };
        loop {
            let w = word(rng, capital, 1);
            let width: f32 = w.iter().map(|g| font.advance(g)).sum();
            if x + width > end {
                break;
            }
            for g in &w {
                font.draw(&mut cv, g, v(x, y));
                x += font.advance(g);
            }
            capital = chance(rng, 0.15);
            if capital {
                let dot = v(x - size * 0.1, y + size * 0.98);
                cv.fill(&circle(dot, font.stroke * 1.2), Paint::solid(ink));
            }
            x += space;
        }
        indent = if end < right { size * 1.5 } else { 0.0 };
        y += if end < right { pitch * 1.5 } else { pitch };
    }
    cv
}
