//! Procedural stimuli: seeded, platform-stable 227×227 RGB images in seven categories, the input
//! of the virtual subjects (simulated fMRI subjects whose higher visual areas respond to the
//! mid-level statistics typical of a category).
//!
//! Every image is a pure function of `(seed, index, category)`: [`generate`] seeds its own
//! [`ChaCha8Rng`] from a mixing hash of the three, so images can be drawn in any order, in
//! parallel, and again later, byte for byte. [`category_of`] assigns categories so that each
//! block of seven consecutive indices holds every category once (in a seeded order), and
//! [`stimulus`] combines the two.
//!
//! # Categories
//!
//! - [`Category::Face`]: a cartoon portrait seen roughly from the front: skin-toned head, hair,
//!   ears, eyes (sclera, iris, pupil, highlight), eyebrows, nose shading, mouth, neck and
//!   shoulders; the head is 40–70 % of the image tall, near the centre, slightly tilted, on a
//!   blurred gradient or noise backdrop.
//! - [`Category::Place`]: a scene with rectilinear structure filling the whole image: a street in
//!   one-point perspective (road, lane marks, façades with window grids, lamp posts), a frontal
//!   townscape (sky, clouds, houses with gabled roofs, blocks of flats, trees, a road), or a room
//!   in one-point perspective (back wall, floor, ceiling, side walls, window, door, picture,
//!   furniture).
//! - [`Category::Object`]: one shaded object (mug, bottle, ball, lamp, chair or fruit) standing
//!   on a table or a studio backdrop, with a soft shadow; about half to three quarters of the
//!   image tall.
//! - [`Category::Body`]: a whole clothed human figure (or a silhouette) made of a head disc, a
//!   torso and capsule limbs in one of several poses (standing, walking, running, arms raised,
//!   waving, star jump); the head is small relative to the image, unlike faces.
//! - [`Category::Text`]: dark pseudo-letters on light paper: lines of words made of glyphs from a
//!   small stroke alphabet (lines, rings and half rings), sometimes under a larger title.
//! - [`Category::Texture`]: a dead-leaves image (occluding discs and ellipses with power-law
//!   sizes), pebbles, grass blades, bark or marble.
//! - [`Category::Grating`]: a sinusoidal grating or plaid of random orientation, 2–20 cycles per
//!   image, phase and contrast, sometimes in a circular aperture on mean gray, sometimes in two
//!   colours.
//!
//! # Drawing
//!
//! Images are painted on a small floating-point canvas (RGB display values in 0..1). Shapes are signed
//! distance functions (rotated ellipses, rotated rounded rectangles, capsules, convex polygons,
//! rings, half planes, and their intersections, differences and unions); a shape covers a pixel
//! by `clamp(0.5 − sdf / softness, 0, 1)` at the pixel centre, which anti-aliases edges (softness
//! 1 pixel) or blurs them (shadows, blush), and is evaluated only over the shape's bounding box.
//! Fills are solid, linear or radial gradients. Full-image layers are vertical gradients and
//! multi-octave value noise (sky, clouds, grass, bark, marble). The canvas is rounded and clamped
//! to bytes at the end.
//!
//! Randomness comes only from ChaCha8 (platform-independent); integer draws use `u32` bounds so
//! that 32- and 64-bit targets agree. Geometry uses `f32` arithmetic and the standard library's
//! `sin`, `cos`, `sqrt` and `powi`, so bytes are identical wherever those agree (every target we
//! build for in practice).

mod body;
mod canvas;
mod colour;
mod face;
mod font;
mod grating;
mod object;
mod place;
mod random;
mod shapes;
#[cfg(test)]
mod tests;
mod text;
mod texture;
mod town;

use std::f32::consts::TAU;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::features::preprocess::Rgb8;
use body::draw_body;
use face::draw_face;
use grating::draw_grating;
use object::draw_object;
use place::draw_place;
use random::{PERMUTATION_STREAM, mix3};
use text::draw_text;
use texture::draw_texture;

/// Width and height of every stimulus in pixels: the size of NSD's `S{n}_stimuli_227` images, so
/// procedural and real stimuli go through the same feature extraction.
pub const STIMULUS_SIZE: u32 = 227;

/// [`STIMULUS_SIZE`] as an index.
const N: usize = STIMULUS_SIZE as usize;
/// [`STIMULUS_SIZE`] as a coordinate.
const NF: f32 = STIMULUS_SIZE as f32;

/// The kinds of stimuli, each with the mid-level statistics that a category-selective visual
/// area of a virtual subject responds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// A cartoon face seen from the front (face-selective areas such as FFA and OFA).
    Face,
    /// An outdoor or indoor scene with long horizontal and vertical edges (PPA, OPA, RSC).
    Place,
    /// One shaded man-made or natural object on a table or backdrop (LOC).
    Object,
    /// A whole human figure with a small head (EBA, FBA).
    Body,
    /// Lines of dark pseudo-letters on light paper (the visual word form area).
    Text,
    /// A dense natural texture without objects (early and mid-level visual areas).
    Texture,
    /// A sinusoidal grating or plaid (early visual cortex, orientation tuning).
    Grating,
}

impl Category {
    /// Every category, in declaration order (the order of [`category_of`]'s permutations before
    /// shuffling).
    pub const ALL: [Category; 7] = [
        Category::Face,
        Category::Place,
        Category::Object,
        Category::Body,
        Category::Text,
        Category::Texture,
        Category::Grating,
    ];

    /// The lower-case name used on the command line and in files: `"face"`, `"place"`,
    /// `"object"`, `"body"`, `"text"`, `"texture"` or `"grating"`.
    pub fn name(self) -> &'static str {
        match self {
            Category::Face => "face",
            Category::Place => "place",
            Category::Object => "object",
            Category::Body => "body",
            Category::Text => "text",
            Category::Texture => "texture",
            Category::Grating => "grating",
        }
    }

    /// The category called `name` (as written by [`Category::name`]), or `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Category {
    /// Writes [`Category::name`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The category of stimulus `index` in a seeded set: cycles through a seeded permutation so that
/// every category is (nearly) equally frequent. Each aligned block of seven indices
/// (`7k .. 7k + 7`) holds every category exactly once, in an order drawn from `(seed, k)`, so any
/// run of consecutive indices is balanced to within one image per category while the order
/// carries no period.
pub fn category_of(seed: u64, index: u64) -> Category {
    let count = Category::ALL.len() as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(mix3(seed, index / count, PERMUTATION_STREAM));
    let mut order = Category::ALL;
    for i in (1..order.len()).rev() {
        // u32 bounds keep the draw identical on 32- and 64-bit platforms.
        let j = rng.random_range(0..=i as u32) as usize;
        order.swap(i, j);
    }
    order[(index % count) as usize]
}

/// Draws stimulus `index` of category `category` from the stream `seed`. Each
/// `(seed, index, category)` seeds its own ChaCha8 generator through a mixing hash, so images are
/// independent of each other and of the order in which they are drawn, and identical on every
/// platform.
pub fn generate(seed: u64, index: u64, category: Category) -> Rgb8 {
    let mut rng = ChaCha8Rng::seed_from_u64(mix3(seed, index, category as u64 + 1));
    let canvas = match category {
        Category::Face => draw_face(&mut rng),
        Category::Place => draw_place(&mut rng),
        Category::Object => draw_object(&mut rng),
        Category::Body => draw_body(&mut rng),
        Category::Text => draw_text(&mut rng),
        Category::Texture => draw_texture(&mut rng),
        Category::Grating => draw_grating(&mut rng),
    };
    canvas.to_rgb8()
}

/// Convenience: stimulus `index` of the set `seed`, that is
/// `generate(seed, index, category_of(seed, index))`, with its category.
pub fn stimulus(seed: u64, index: u64) -> (Category, Rgb8) {
    let category = category_of(seed, index);
    (category, generate(seed, index, category))
}

/// A full-field gray sinusoidal grating (a probe for orientation and spatial-frequency tuning):
/// gray level `128 + 127 · contrast · sin(2π · cycles_per_image · u / 227 + phase)`, rounded,
/// where `u` is the position along the direction `orientation_deg` measured from the image
/// centre. Orientation 0° gives vertical bars (luminance varies along x only), 90° horizontal
/// bars. `contrast` is clamped to 0..1.
pub fn grating(orientation_deg: f32, cycles_per_image: f32, phase: f32, contrast: f32) -> Rgb8 {
    let (sin, cos) = orientation_deg.to_radians().sin_cos();
    let contrast = contrast.clamp(0.0, 1.0);
    let k = TAU * cycles_per_image / NF;
    let mut pixels = Vec::with_capacity(N * N * 3);
    for y in 0..N {
        let dy = y as f32 + 0.5 - NF / 2.0;
        for x in 0..N {
            let dx = x as f32 + 0.5 - NF / 2.0;
            let s = (k * (dx * cos + dy * sin) + phase).sin();
            let g = (128.0 + 127.0 * contrast * s).round().clamp(0.0, 255.0) as u8;
            pixels.extend_from_slice(&[g, g, g]);
        }
    }
    Rgb8 {
        width: STIMULUS_SIZE,
        height: STIMULUS_SIZE,
        pixels,
    }
}

/// A uniform 227×227 image of colour `rgb` (a blank, or a baseline for contrast with
/// structured stimuli).
pub fn uniform(rgb: [u8; 3]) -> Rgb8 {
    Rgb8 {
        width: STIMULUS_SIZE,
        height: STIMULUS_SIZE,
        pixels: rgb.repeat(N * N),
    }
}
