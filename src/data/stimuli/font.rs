//! The stroke font of the Text category: pseudo-letters made of lines, rings and half rings,
//! lower case and capitals, and random words of them.

use glam::Vec2;
use rand::Rng;

use super::canvas::*;
use super::colour::*;
use super::random::*;
use super::shapes::*;

/// Which half of a ring a stroke keeps.
#[derive(Clone, Copy)]
pub(super) enum Half {
    Top,
    Bottom,
    Left,
    Right,
}

/// One stroke of a glyph, in glyph-box units: x across the glyph width, y from the ascender
/// (0) through the x-height (0.45) to the baseline (1) and the descender (1.35).
#[derive(Clone, Copy)]
pub(super) enum Stroke {
    /// A straight stroke from `(x0, y0)` to `(x1, y1)`.
    Line(f32, f32, f32, f32),
    /// An elliptical ring centred at `(x, y)` with radii `(rx, ry)`.
    Ring(f32, f32, f32, f32),
    /// Half of such a ring.
    Arc(f32, f32, f32, f32, Half),
}

/// A pseudo-letter: its advance width relative to the glyph height, and its strokes.
pub(super) struct Glyph {
    pub(super) width: f32,
    pub(super) strokes: &'static [Stroke],
}

use Half::{Bottom, Left, Right, Top};
use Stroke::{Arc, Line, Ring as O};

/// Lower-case pseudo-letters, loosely Latin.
pub(super) static LOWER: [Glyph; 24] = [
    Glyph {
        width: 0.28,
        strokes: &[Line(0.5, 0.0, 0.5, 1.0)],
    },
    Glyph {
        width: 0.28,
        strokes: &[Line(0.5, 0.45, 0.5, 1.0), Line(0.5, 0.22, 0.5, 0.24)],
    },
    Glyph {
        width: 0.62,
        strokes: &[O(0.5, 0.725, 0.42, 0.275)],
    },
    Glyph {
        width: 0.55,
        strokes: &[
            Arc(0.6, 0.725, 0.5, 0.275, Left),
            Line(0.6, 0.45, 0.95, 0.5),
            Line(0.6, 1.0, 0.95, 0.95),
        ],
    },
    Glyph {
        width: 0.6,
        strokes: &[
            Arc(0.5, 0.725, 0.42, 0.275, Left),
            Arc(0.5, 0.725, 0.42, 0.275, Top),
            Line(0.08, 0.725, 0.92, 0.725),
            Line(0.5, 1.0, 0.9, 0.95),
        ],
    },
    Glyph {
        width: 0.6,
        strokes: &[
            Line(0.1, 0.45, 0.1, 1.0),
            Arc(0.5, 0.72, 0.4, 0.27, Top),
            Line(0.9, 0.72, 0.9, 1.0),
        ],
    },
    Glyph {
        width: 0.95,
        strokes: &[
            Line(0.06, 0.45, 0.06, 1.0),
            Arc(0.28, 0.72, 0.22, 0.27, Top),
            Arc(0.72, 0.72, 0.22, 0.27, Top),
            Line(0.5, 0.72, 0.5, 1.0),
            Line(0.94, 0.72, 0.94, 1.0),
        ],
    },
    Glyph {
        width: 0.6,
        strokes: &[
            Line(0.1, 0.45, 0.1, 0.73),
            Arc(0.5, 0.73, 0.4, 0.27, Bottom),
            Line(0.9, 0.45, 0.9, 1.0),
        ],
    },
    Glyph {
        width: 0.6,
        strokes: &[
            Line(0.1, 0.0, 0.1, 1.0),
            Arc(0.5, 0.72, 0.4, 0.27, Top),
            Line(0.9, 0.72, 0.9, 1.0),
        ],
    },
    Glyph {
        width: 0.62,
        strokes: &[O(0.42, 0.725, 0.34, 0.275), Line(0.88, 0.0, 0.88, 1.0)],
    },
    Glyph {
        width: 0.62,
        strokes: &[Line(0.12, 0.0, 0.12, 1.0), O(0.58, 0.725, 0.34, 0.275)],
    },
    Glyph {
        width: 0.62,
        strokes: &[Line(0.12, 0.45, 0.12, 1.35), O(0.58, 0.725, 0.34, 0.275)],
    },
    Glyph {
        width: 0.62,
        strokes: &[O(0.42, 0.725, 0.34, 0.275), Line(0.88, 0.45, 0.88, 1.35)],
    },
    Glyph {
        width: 0.6,
        strokes: &[O(0.42, 0.725, 0.34, 0.275), Line(0.88, 0.45, 0.88, 1.0)],
    },
    Glyph {
        width: 0.62,
        strokes: &[
            O(0.42, 0.725, 0.34, 0.275),
            Line(0.88, 0.45, 0.88, 1.15),
            Arc(0.5, 1.15, 0.38, 0.18, Bottom),
        ],
    },
    Glyph {
        width: 0.4,
        strokes: &[Line(0.45, 0.15, 0.45, 1.0), Line(0.05, 0.45, 0.85, 0.45)],
    },
    Glyph {
        width: 0.42,
        strokes: &[
            Line(0.4, 0.2, 0.4, 1.0),
            Arc(0.72, 0.2, 0.32, 0.16, Top),
            Line(0.05, 0.45, 0.8, 0.45),
        ],
    },
    Glyph {
        width: 0.45,
        strokes: &[
            Line(0.12, 0.45, 0.12, 1.0),
            Arc(0.55, 0.72, 0.43, 0.27, Top),
        ],
    },
    Glyph {
        width: 0.6,
        strokes: &[Line(0.05, 0.45, 0.5, 1.0), Line(0.5, 1.0, 0.95, 0.45)],
    },
    Glyph {
        width: 0.9,
        strokes: &[
            Line(0.03, 0.45, 0.25, 1.0),
            Line(0.25, 1.0, 0.5, 0.55),
            Line(0.5, 0.55, 0.75, 1.0),
            Line(0.75, 1.0, 0.97, 0.45),
        ],
    },
    Glyph {
        width: 0.58,
        strokes: &[Line(0.05, 0.45, 0.95, 1.0), Line(0.95, 0.45, 0.05, 1.0)],
    },
    Glyph {
        width: 0.58,
        strokes: &[
            Line(0.12, 0.0, 0.12, 1.0),
            Line(0.85, 0.45, 0.12, 0.8),
            Line(0.4, 0.68, 0.9, 1.0),
        ],
    },
    Glyph {
        width: 0.6,
        strokes: &[Line(0.05, 0.45, 0.5, 1.0), Line(0.95, 0.45, 0.3, 1.35)],
    },
    Glyph {
        width: 0.52,
        strokes: &[
            Arc(0.5, 0.59, 0.4, 0.14, Left),
            Arc(0.5, 0.86, 0.4, 0.14, Right),
            Line(0.5, 0.45, 0.9, 0.48),
            Line(0.1, 0.97, 0.5, 1.0),
        ],
    },
];

/// Capital pseudo-letters that start sentences and titles.
pub(super) static UPPER: [Glyph; 9] = [
    Glyph {
        width: 0.7,
        strokes: &[
            Line(0.1, 0.0, 0.1, 1.0),
            Line(0.9, 0.0, 0.9, 1.0),
            Line(0.1, 0.5, 0.9, 0.5),
        ],
    },
    Glyph {
        width: 0.7,
        strokes: &[Line(0.5, 0.0, 0.5, 1.0), Line(0.0, 0.0, 1.0, 0.0)],
    },
    Glyph {
        width: 0.6,
        strokes: &[
            Line(0.1, 0.0, 0.1, 1.0),
            Line(0.1, 0.0, 0.9, 0.0),
            Line(0.1, 0.5, 0.75, 0.5),
            Line(0.1, 1.0, 0.9, 1.0),
        ],
    },
    Glyph {
        width: 0.75,
        strokes: &[
            Line(0.05, 1.0, 0.5, 0.0),
            Line(0.5, 0.0, 0.95, 1.0),
            Line(0.25, 0.62, 0.75, 0.62),
        ],
    },
    Glyph {
        width: 0.75,
        strokes: &[
            Line(0.1, 1.0, 0.1, 0.0),
            Line(0.1, 0.0, 0.9, 1.0),
            Line(0.9, 1.0, 0.9, 0.0),
        ],
    },
    Glyph {
        width: 0.85,
        strokes: &[O(0.5, 0.5, 0.42, 0.5)],
    },
    Glyph {
        width: 0.3,
        strokes: &[Line(0.5, 0.0, 0.5, 1.0)],
    },
    Glyph {
        width: 0.9,
        strokes: &[
            Line(0.08, 1.0, 0.08, 0.0),
            Line(0.08, 0.0, 0.5, 0.7),
            Line(0.5, 0.7, 0.92, 0.0),
            Line(0.92, 0.0, 0.92, 1.0),
        ],
    },
    Glyph {
        width: 0.65,
        strokes: &[
            Arc(0.5, 0.25, 0.4, 0.25, Left),
            Arc(0.5, 0.75, 0.4, 0.25, Right),
            Line(0.5, 0.0, 0.9, 0.05),
            Line(0.1, 0.95, 0.5, 1.0),
        ],
    },
];

/// Font metrics: glyph height `size` (ascender to baseline) in pixels, stroke radius, ink.
pub(super) struct Font {
    pub(super) size: f32,
    pub(super) stroke: f32,
    pub(super) ink: Rgb,
}

impl Font {
    /// Horizontal advance of `glyph`, letter spacing included.
    pub(super) fn advance(&self, glyph: &Glyph) -> f32 {
        (glyph.width * 0.85 + 0.2) * self.size
    }

    /// Draws `glyph` with its box's top left at `at`.
    pub(super) fn draw(&self, cv: &mut Canvas, glyph: &Glyph, at: Vec2) {
        let w = glyph.width * 0.85 * self.size;
        let g = self.size;
        let map = |x: f32, y: f32| at + v(x * w, y * g);
        let paint = Paint::solid(self.ink);
        for stroke in glyph.strokes {
            match *stroke {
                Line(x0, y0, x1, y1) => {
                    cv.fill(&capsule(map(x0, y0), map(x1, y1), self.stroke), paint)
                }
                O(x, y, rx, ry) => cv.fill(
                    &ring(
                        ellipse(map(x, y), v(rx * w, ry * g), 0.0),
                        self.stroke * 2.0,
                    ),
                    paint,
                ),
                Arc(x, y, rx, ry, half) => {
                    let c = map(x, y);
                    let keep = match half {
                        Top => v(0.0, 1.0),
                        Bottom => v(0.0, -1.0),
                        Left => v(1.0, 0.0),
                        Right => v(-1.0, 0.0),
                    };
                    cv.fill(
                        &Inter(
                            ring(ellipse(c, v(rx * w, ry * g), 0.0), self.stroke * 2.0),
                            half_plane(c, keep),
                        ),
                        paint,
                    );
                }
            }
        }
    }
}

/// A random word of `min_len`–9 glyphs, sometimes capitalised.
pub(super) fn word(rng: &mut Rng8, capital: bool, min_len: u32) -> Vec<&'static Glyph> {
    let len = rng.random_range(min_len..10);
    (0..len)
        .map(|i| {
            if i == 0 && capital {
                &UPPER[rng.random_range(0..UPPER.len() as u32) as usize]
            } else {
                &LOWER[rng.random_range(0..LOWER.len() as u32) as usize]
            }
        })
        .collect()
}
