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

use std::f32::consts::{PI, TAU};
use std::ops::Range;

use glam::Vec2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::features::preprocess::Rgb8;

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

// ---------------------------------------------------------------------------------------------
// Seeding.

/// Stream tag of [`category_of`]'s permutations (kept apart from the image streams, which use
/// `category + 1` = 1..=7).
const PERMUTATION_STREAM: u64 = 0x5045_524d_5554_4531;

/// SplitMix64's finaliser: a bijective 64-bit mixing function.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit seed from three words; every word changes every bit of the result.
fn mix3(a: u64, b: u64, c: u64) -> u64 {
    splitmix(splitmix(splitmix(a) ^ b) ^ c)
}

type Rng8 = ChaCha8Rng;

/// Uniform in `lo..hi` (also when `lo == hi`).
fn u(rng: &mut Rng8, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// True with probability `p`.
fn chance(rng: &mut Rng8, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// ±1 with equal probability.
fn sign(rng: &mut Rng8) -> f32 {
    if chance(rng, 0.5) { 1.0 } else { -1.0 }
}

/// One element of `items`, uniformly.
fn pick<T: Copy>(rng: &mut Rng8, items: &[T]) -> T {
    items[rng.random_range(0..items.len() as u32) as usize]
}

// ---------------------------------------------------------------------------------------------
// Colour.

type Rgb = [f32; 3];

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// `c` scaled by `k` (shading), clamped to 0..1.
fn mul(c: Rgb, k: f32) -> Rgb {
    c.map(|x| (x * k).clamp(0.0, 1.0))
}

/// `c` with each channel moved by up to `±amount`.
fn jitter(rng: &mut Rng8, c: Rgb, amount: f32) -> Rgb {
    let mut out = c;
    for x in &mut out {
        *x = (*x + u(rng, -amount, amount)).clamp(0.0, 1.0);
    }
    out
}

/// One of `items` with each channel moved by up to `±amount`.
fn pick_jitter(rng: &mut Rng8, items: &[Rgb], amount: f32) -> Rgb {
    let c = pick(rng, items);
    jitter(rng, c, amount)
}

/// HSV to RGB; `h` in turns (wraps), `s` and `v` in 0..1.
fn hsv(h: f32, s: f32, v: f32) -> Rgb {
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
fn hsv_in(rng: &mut Rng8, h: (f32, f32), s: (f32, f32), v: (f32, f32)) -> Rgb {
    let h = u(rng, h.0, h.1);
    let s = u(rng, s.0, s.1);
    let v = u(rng, v.0, v.1);
    hsv(h, s, v)
}

fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

const WHITE: Rgb = [1.0, 1.0, 1.0];
const BLACK: Rgb = [0.0, 0.0, 0.0];

/// Skin tones from light to dark.
const SKIN: [Rgb; 6] = [
    [0.98, 0.85, 0.74],
    [0.95, 0.78, 0.64],
    [0.87, 0.68, 0.53],
    [0.76, 0.56, 0.40],
    [0.58, 0.40, 0.28],
    [0.40, 0.27, 0.19],
];

/// Hair colours: black, dark brown, brown, blond, red, gray.
const HAIR: [Rgb; 6] = [
    [0.07, 0.06, 0.05],
    [0.20, 0.13, 0.08],
    [0.38, 0.24, 0.12],
    [0.80, 0.65, 0.38],
    [0.58, 0.26, 0.10],
    [0.62, 0.62, 0.62],
];

// ---------------------------------------------------------------------------------------------
// Geometry: signed distance functions.

fn v(x: f32, y: f32) -> Vec2 {
    Vec2::new(x, y)
}

/// `p` rotated by the angle whose cosine and sine are `cs`, `sn`.
fn rotate(p: Vec2, cs: f32, sn: f32) -> Vec2 {
    v(cs * p.x - sn * p.y, sn * p.x + cs * p.y)
}

/// Unit vector at `deg` degrees from straight down (+y), positive towards +x.
fn down_dir(deg: f32) -> Vec2 {
    let (s, c) = deg.to_radians().sin_cos();
    v(s, c)
}

/// A region of the plane: negative distance inside, positive outside.
trait Shape {
    /// Signed distance (in pixels, approximate away from the boundary) from `p` to the edge.
    fn sdf(&self, p: Vec2) -> f32;
    /// A box holding every point with `sdf ≤ 0`.
    fn bounds(&self) -> (Vec2, Vec2);
}

/// A rotated ellipse.
#[derive(Clone, Copy)]
struct Ellipse {
    c: Vec2,
    r: Vec2,
    /// `1 / r` and `1 / r²`, so that distances need no divisions.
    inv: Vec2,
    inv2: Vec2,
    cs: f32,
    sn: f32,
}

fn ellipse(c: Vec2, r: Vec2, angle: f32) -> Ellipse {
    let (sn, cs) = angle.sin_cos();
    let r = r.max(Vec2::splat(1e-3));
    let inv = r.recip();
    Ellipse {
        c,
        r,
        inv,
        inv2: inv * inv,
        cs,
        sn,
    }
}

fn circle(c: Vec2, r: f32) -> Ellipse {
    ellipse(c, Vec2::splat(r), 0.0)
}

impl Shape for Ellipse {
    fn sdf(&self, p: Vec2) -> f32 {
        let d = p - self.c;
        let q = v(
            self.cs * d.x + self.sn * d.y,
            -self.sn * d.x + self.cs * d.y,
        );
        // Inigo Quilez's first-order approximation: exact on the boundary's normal to first
        // order, which is all anti-aliasing needs.
        let k0 = (q * self.inv).length();
        let k1 = (q * self.inv2).length();
        if k1 < 1e-9 {
            return -self.r.min_element();
        }
        k0 * (k0 - 1.0) / k1
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        let ex = ((self.r.x * self.cs).powi(2) + (self.r.y * self.sn).powi(2)).sqrt();
        let ey = ((self.r.x * self.sn).powi(2) + (self.r.y * self.cs).powi(2)).sqrt();
        (self.c - v(ex, ey), self.c + v(ex, ey))
    }
}

/// A rotated rectangle with rounded corners.
#[derive(Clone, Copy)]
struct RRect {
    c: Vec2,
    half: Vec2,
    radius: f32,
    cs: f32,
    sn: f32,
}

fn rrect(c: Vec2, half: Vec2, radius: f32, angle: f32) -> RRect {
    let (sn, cs) = angle.sin_cos();
    let half = half.abs();
    RRect {
        c,
        half,
        radius: radius.clamp(0.0, half.min_element()),
        cs,
        sn,
    }
}

/// The axis-aligned rectangle `x0..x1 × y0..y1`.
fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> RRect {
    rrect(
        v(x0 + x1, y0 + y1) * 0.5,
        v(x1 - x0, y1 - y0) * 0.5,
        0.0,
        0.0,
    )
}

impl Shape for RRect {
    fn sdf(&self, p: Vec2) -> f32 {
        let d = p - self.c;
        let q = v(
            self.cs * d.x + self.sn * d.y,
            -self.sn * d.x + self.cs * d.y,
        );
        let e = q.abs() - self.half + Vec2::splat(self.radius);
        e.max(Vec2::ZERO).length() + e.x.max(e.y).min(0.0) - self.radius
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        let ex = self.half.x * self.cs.abs() + self.half.y * self.sn.abs();
        let ey = self.half.x * self.sn.abs() + self.half.y * self.cs.abs();
        (self.c - v(ex, ey), self.c + v(ex, ey))
    }
}

/// A thick line segment with round caps.
#[derive(Clone, Copy)]
struct Capsule {
    a: Vec2,
    b: Vec2,
    r: f32,
}

fn capsule(a: Vec2, b: Vec2, r: f32) -> Capsule {
    Capsule { a, b, r }
}

impl Shape for Capsule {
    fn sdf(&self, p: Vec2) -> f32 {
        let pa = p - self.a;
        let ba = self.b - self.a;
        let len2 = ba.length_squared();
        let h = if len2 > 1e-12 {
            (pa.dot(ba) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (pa - ba * h).length() - self.r
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        let r = Vec2::splat(self.r);
        (self.a.min(self.b) - r, self.a.max(self.b) + r)
    }
}

/// A convex polygon (either winding).
struct Polygon {
    /// A point on each edge and the edge's outward unit normal.
    edges: Vec<(Vec2, Vec2)>,
    lo: Vec2,
    hi: Vec2,
}

fn polygon(pts: &[Vec2]) -> Polygon {
    let next = || pts.iter().cycle().skip(1);
    let area: f32 = pts
        .iter()
        .zip(next())
        .map(|(a, b)| a.x * b.y - a.y * b.x)
        .sum();
    let orient = if area >= 0.0 { 1.0 } else { -1.0 };
    let edges = pts
        .iter()
        .zip(next())
        .filter_map(|(&a, &b)| {
            let e = b - a;
            let len = e.length();
            (len > 1e-6).then(|| (a, v(e.y, -e.x) * (orient / len)))
        })
        .collect();
    let lo = pts
        .iter()
        .fold(Vec2::splat(f32::INFINITY), |m, &p| m.min(p));
    let hi = pts
        .iter()
        .fold(Vec2::splat(f32::NEG_INFINITY), |m, &p| m.max(p));
    Polygon { edges, lo, hi }
}

impl Shape for Polygon {
    fn sdf(&self, p: Vec2) -> f32 {
        if self.edges.len() < 3 {
            return f32::INFINITY;
        }
        self.edges
            .iter()
            .map(|&(a, n)| (p - a).dot(n))
            .fold(f32::NEG_INFINITY, f32::max)
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        (self.lo, self.hi)
    }
}

/// The outline of an ellipse, `thickness` wide.
#[derive(Clone, Copy)]
struct Ring {
    e: Ellipse,
    half: f32,
}

fn ring(e: Ellipse, thickness: f32) -> Ring {
    Ring {
        e,
        half: thickness * 0.5,
    }
}

impl Shape for Ring {
    fn sdf(&self, p: Vec2) -> f32 {
        self.e.sdf(p).abs() - self.half
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        let (lo, hi) = self.e.bounds();
        (lo - Vec2::splat(self.half), hi + Vec2::splat(self.half))
    }
}

/// The half plane on the side of `p` opposite to `n` (points with `(q − p)·n ≤ 0`).
#[derive(Clone, Copy)]
struct HalfPlane {
    p: Vec2,
    n: Vec2,
}

fn half_plane(p: Vec2, outward: Vec2) -> HalfPlane {
    HalfPlane {
        p,
        n: outward.normalize_or_zero(),
    }
}

impl Shape for HalfPlane {
    fn sdf(&self, q: Vec2) -> f32 {
        (q - self.p).dot(self.n)
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        (Vec2::splat(-1e6), Vec2::splat(1e6))
    }
}

/// Points inside both shapes.
struct Inter<A, B>(A, B);

impl<A: Shape, B: Shape> Shape for Inter<A, B> {
    fn sdf(&self, p: Vec2) -> f32 {
        self.0.sdf(p).max(self.1.sdf(p))
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        let (a0, a1) = self.0.bounds();
        let (b0, b1) = self.1.bounds();
        (a0.max(b0), a1.min(b1))
    }
}

/// Points inside the first shape and outside the second.
struct Diff<A, B>(A, B);

impl<A: Shape, B: Shape> Shape for Diff<A, B> {
    fn sdf(&self, p: Vec2) -> f32 {
        self.0.sdf(p).max(-self.1.sdf(p))
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        self.0.bounds()
    }
}

/// Points inside either shape.
struct Union<A, B>(A, B);

impl<A: Shape, B: Shape> Shape for Union<A, B> {
    fn sdf(&self, p: Vec2) -> f32 {
        self.0.sdf(p).min(self.1.sdf(p))
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        let (a0, a1) = self.0.bounds();
        let (b0, b1) = self.1.bounds();
        (a0.min(b0), a1.max(b1))
    }
}

// ---------------------------------------------------------------------------------------------
// Canvas.

/// How a shape is filled: a solid colour, or a linear or radial gradient from `c0` to `c1`, at
/// opacity `alpha`, with an edge `soft` pixels wide.
#[derive(Clone, Copy)]
struct Paint {
    c0: Rgb,
    c1: Rgb,
    origin: Vec2,
    axis: Vec2,
    radial: bool,
    alpha: f32,
    soft: f32,
}

impl Paint {
    fn solid(c: Rgb) -> Self {
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
    fn linear(p0: Vec2, c0: Rgb, p1: Vec2, c1: Rgb) -> Self {
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
    fn radial(centre: Vec2, radius: f32, inner: Rgb, outer: Rgb) -> Self {
        Paint {
            c1: outer,
            origin: centre,
            axis: v(1.0 / radius.max(1e-3), 0.0),
            radial: true,
            ..Paint::solid(inner)
        }
    }

    fn alpha(self, alpha: f32) -> Self {
        Paint { alpha, ..self }
    }

    fn soft(self, soft: f32) -> Self {
        Paint {
            soft: soft.max(0.25),
            ..self
        }
    }

    fn at(&self, p: Vec2) -> Rgb {
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
struct Canvas {
    px: Vec<Rgb>,
}

impl Canvas {
    fn filled(c: Rgb) -> Self {
        Canvas { px: vec![c; N * N] }
    }

    /// Pixel `(x, y)` from `f(x, y)`.
    fn from_fn(mut f: impl FnMut(usize, usize) -> Rgb) -> Self {
        let mut px = Vec::with_capacity(N * N);
        for y in 0..N {
            for x in 0..N {
                px.push(f(x, y));
            }
        }
        Canvas { px }
    }

    fn vertical(top: Rgb, bottom: Rgb) -> Self {
        Canvas::from_fn(|_, y| mix(top, bottom, (y as f32 + 0.5) / NF))
    }

    /// Blends `colour(p, i)` (pixel centre, pixel index) into the pixels covered by `shape`, at
    /// opacity `alpha`, with an edge `soft` pixels wide.
    fn fill_with(
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

    fn fill(&mut self, shape: &impl Shape, paint: Paint) {
        self.fill_with(shape, paint.soft, paint.alpha, |p, _| paint.at(p));
    }

    /// Blends `colour` over rows `rows` with opacity `smoothstep(lo, hi, field)` (clouds, veins).
    fn blend_field(&mut self, field: &[f32], colour: Rgb, lo: f32, hi: f32, rows: Range<usize>) {
        let range = rows.start.min(N) * N..rows.end.min(N) * N;
        for (px, &f) in self.px[range.clone()].iter_mut().zip(&field[range]) {
            let a = smoothstep(lo, hi, f);
            if a > 0.0 {
                *px = mix(*px, colour, a);
            }
        }
    }

    fn to_rgb8(&self) -> Rgb8 {
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
fn value_noise(rng: &mut Rng8, cell: Vec2, octaves: u32, gain: f32) -> Vec<f32> {
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
fn backdrop(rng: &mut Rng8) -> Canvas {
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
struct Frame {
    c: Vec2,
    s: f32,
    angle: f32,
    cs: f32,
    sn: f32,
}

impl Frame {
    fn new(c: Vec2, s: f32, angle: f32) -> Self {
        let (sn, cs) = angle.sin_cos();
        Frame {
            c,
            s,
            angle,
            cs,
            sn,
        }
    }

    fn at(&self, x: f32, y: f32) -> Vec2 {
        self.c + rotate(v(x, y) * self.s, self.cs, self.sn)
    }

    fn ellipse(&self, x: f32, y: f32, rx: f32, ry: f32) -> Ellipse {
        ellipse(self.at(x, y), v(rx, ry) * self.s, self.angle)
    }

    fn rrect(&self, x: f32, y: f32, hx: f32, hy: f32, radius: f32) -> RRect {
        rrect(
            self.at(x, y),
            v(hx, hy) * self.s,
            radius * self.s,
            self.angle,
        )
    }

    fn capsule(&self, a: (f32, f32), b: (f32, f32), r: f32) -> Capsule {
        capsule(self.at(a.0, a.1), self.at(b.0, b.1), r * self.s)
    }

    /// The half plane of points whose local `y` is below (`keep_below`) or above `y`.
    fn cut(&self, y: f32, keep_below: bool) -> HalfPlane {
        let n = if keep_below {
            v(0.0, -1.0)
        } else {
            v(0.0, 1.0)
        };
        half_plane(self.at(0.0, y), rotate(n, self.cs, self.sn))
    }
}

// ---------------------------------------------------------------------------------------------
// Faces.

fn draw_face(rng: &mut Rng8) -> Canvas {
    let mut cv = backdrop(rng);
    let height = NF * u(rng, 0.40, 0.70);
    let centre = v(
        NF / 2.0 + u(rng, -12.0, 12.0),
        NF / 2.0 + u(rng, -4.0, 12.0),
    );
    let f = Frame::new(centre, height / 2.0, u(rng, -0.15, 0.15));
    let a = u(rng, 0.70, 0.82); // half width of the head; half height is 1
    let skin = pick_jitter(rng, &SKIN, 0.03);
    let hair = pick_jitter(rng, &HAIR, 0.03);
    let cloth = hsv_in(rng, (0.0, 1.0), (0.2, 0.8), (0.25, 0.9));
    let style = rng.random_range(0..10u32); // 0: bald, 1..=3: long, else short

    // Shoulders, neck, hair behind the head.
    let shoulders = f.ellipse(0.0, 2.05, 1.75, 0.95);
    cv.fill(
        &shoulders,
        Paint::linear(
            f.at(0.0, 1.2),
            mul(cloth, 1.15),
            f.at(0.0, 2.6),
            mul(cloth, 0.7),
        ),
    );
    cv.fill(
        &f.rrect(0.0, 1.0, 0.3, 0.42, 0.1),
        Paint::solid(mul(skin, 0.8)),
    );
    let collar = Inter(f.ellipse(0.0, 1.25, 0.36, 0.22), f.cut(1.25, true));
    cv.fill(&collar, Paint::solid(mul(skin, 0.75)));
    if (1..=3).contains(&style) {
        let back = f.rrect(0.0, 0.4, a + 0.17, 1.2, a + 0.15);
        cv.fill(
            &back,
            Paint::linear(
                f.at(0.0, -1.0),
                mul(hair, 1.1),
                f.at(0.0, 1.5),
                mul(hair, 0.75),
            ),
        );
    } else if style != 0 {
        cv.fill(
            &f.ellipse(0.0, -0.1, a + 0.07, 1.02),
            Paint::solid(mul(hair, 0.9)),
        );
    }

    // Ears and head.
    for side in [-1.0, 1.0] {
        cv.fill(
            &f.ellipse(side * (a - 0.03), 0.08, 0.14, 0.22),
            Paint::solid(mul(skin, 0.9)),
        );
        cv.fill(
            &f.ellipse(side * (a + 0.01), 0.08, 0.06, 0.13),
            Paint::solid(mul(skin, 0.7)).soft(2.0),
        );
    }
    let head = f.ellipse(0.0, 0.0, a, 1.0);
    cv.fill(
        &head,
        Paint::linear(
            f.at(0.0, -1.0),
            mul(skin, 1.06),
            f.at(0.0, 1.0),
            mul(skin, 0.88),
        ),
    );
    let shade = f.s * 0.08;
    for side in [-1.0, 1.0] {
        let cheek = f.ellipse(side * 0.42, 0.38, 0.15, 0.1);
        cv.fill(
            &cheek,
            Paint::solid([0.95, 0.45, 0.45]).alpha(0.22).soft(shade),
        );
    }

    // Hair on top: the head cap minus a forehead ellipse.
    if style != 0 {
        let part = u(rng, -0.15, 0.15);
        let line = u(rng, -0.08, 0.12);
        let cap = Diff(
            f.ellipse(0.0, -0.08, a + 0.06, 1.04),
            f.ellipse(part, 0.3 + line, a * 0.86, 0.98),
        );
        cv.fill(
            &cap,
            Paint::linear(
                f.at(0.0, -1.1),
                mul(hair, 1.2),
                f.at(0.0, -0.3),
                mul(hair, 0.85),
            ),
        );
    }

    // Eyes.
    let ey = u(rng, -0.04, 0.1);
    let ex = u(rng, 0.29, 0.36);
    let (erx, ery) = (u(rng, 0.13, 0.16), u(rng, 0.07, 0.095));
    let iris = pick(
        rng,
        &[
            [0.35, 0.2, 0.08],
            [0.2, 0.12, 0.05],
            [0.25, 0.45, 0.7],
            [0.3, 0.5, 0.3],
            [0.45, 0.35, 0.2],
        ],
    );
    let gaze = (u(rng, -0.04, 0.04), u(rng, -0.012, 0.012));
    let dark = mul(skin, 0.25);
    let brow_raise = u(rng, 0.0, 0.08);
    let brow_slope = u(rng, -0.035, 0.03);
    for side in [-1.0, 1.0] {
        let (cx, cy) = (side * ex, ey);
        let sclera = f.ellipse(cx, cy, erx, ery);
        cv.fill(&sclera, Paint::solid([0.96, 0.95, 0.93]));
        let ir = ery * 0.95;
        let (ix, iy) = (cx + gaze.0, cy + gaze.1);
        cv.fill(
            &Inter(f.ellipse(ix, iy, ir, ir), sclera),
            Paint::radial(f.at(ix, iy), ir * f.s, mul(iris, 0.7), iris),
        );
        cv.fill(
            &Inter(f.ellipse(ix, iy, ir * 0.48, ir * 0.48), sclera),
            Paint::solid([0.03, 0.03, 0.03]),
        );
        cv.fill(
            &f.ellipse(ix - ir * 0.3, iy - ir * 0.35, ir * 0.22, ir * 0.22),
            Paint::solid(WHITE),
        );
        cv.fill(&ring(sclera, f.s * 0.016), Paint::solid(dark));
        let lid = Inter(
            ring(
                f.ellipse(cx, cy - 0.005, erx * 1.02, ery * 1.05),
                f.s * 0.035,
            ),
            f.cut(cy - ery * 0.3, false),
        );
        cv.fill(&lid, Paint::solid(mul(hair, 0.5)));
        let by = cy - ery - 0.12 - brow_raise;
        let brow = f.capsule(
            (side * (ex - 0.13), by + brow_slope),
            (side * (ex + 0.14), by - brow_slope + 0.015),
            0.035,
        );
        cv.fill(&brow, Paint::solid(mul(hair, 0.8)));
    }

    // Glasses, sometimes.
    if chance(rng, 0.15) {
        let frame_c = pick(
            rng,
            &[[0.05, 0.05, 0.05], [0.45, 0.25, 0.1], [0.6, 0.6, 0.65]],
        );
        for side in [-1.0, 1.0] {
            cv.fill(
                &ring(
                    f.ellipse(side * ex, ey + 0.01, erx * 1.55, ery * 2.0),
                    f.s * 0.03,
                ),
                Paint::solid(frame_c),
            );
        }
        let inner = ex - erx * 1.55;
        cv.fill(
            &f.capsule((-inner, ey - 0.02), (inner, ey - 0.02), 0.02),
            Paint::solid(frame_c),
        );
    }

    // Nose.
    let ny = ey + u(rng, 0.3, 0.38);
    let nose_side = sign(rng);
    cv.fill(
        &f.capsule(
            (nose_side * 0.06, ey + 0.1),
            (nose_side * 0.08, ny - 0.04),
            0.025,
        ),
        Paint::solid(mul(skin, 0.78)).soft(shade * 0.6),
    );
    cv.fill(
        &f.ellipse(0.0, ny, 0.11, 0.05),
        Paint::solid(mul(skin, 0.78)).soft(shade * 0.5),
    );
    for side in [-1.0, 1.0] {
        cv.fill(
            &f.ellipse(side * 0.045, ny + 0.01, 0.028, 0.016),
            Paint::solid(mul(skin, 0.45)),
        );
    }

    // Mouth.
    let my = ny + u(rng, 0.2, 0.28);
    let mw = u(rng, 0.18, 0.28);
    let lips = mix(skin, [0.75, 0.25, 0.25], 0.55);
    match rng.random_range(0..3u32) {
        0 => {
            let arc = Inter(
                ring(f.ellipse(0.0, my - 0.1, mw, 0.13), f.s * 0.035),
                f.cut(my - 0.06, true),
            );
            cv.fill(&arc, Paint::solid(mul(lips, 0.7)));
        }
        1 => {
            let open = Inter(f.ellipse(0.0, my - 0.04, mw, 0.13), f.cut(my - 0.04, true));
            cv.fill(&open, Paint::solid([0.4, 0.08, 0.1]));
            let teeth = Inter(
                Inter(f.ellipse(0.0, my - 0.04, mw, 0.13), f.cut(my - 0.04, true)),
                f.cut(my, false),
            );
            cv.fill(&teeth, Paint::solid([0.97, 0.96, 0.92]));
            cv.fill(
                &Inter(
                    ring(f.ellipse(0.0, my - 0.04, mw, 0.13), f.s * 0.02),
                    f.cut(my - 0.05, true),
                ),
                Paint::solid(mul(lips, 0.8)),
            );
        }
        _ => {
            cv.fill(
                &f.ellipse(0.0, my - 0.025, mw * 0.9, 0.04),
                Paint::solid(mul(lips, 0.9)),
            );
            cv.fill(
                &f.ellipse(0.0, my + 0.03, mw * 0.8, 0.05),
                Paint::solid(lips),
            );
            cv.fill(
                &f.capsule((-mw * 0.9, my), (mw * 0.9, my), 0.012),
                Paint::solid(mul(lips, 0.5)),
            );
        }
    }
    cv
}

// ---------------------------------------------------------------------------------------------
// Places.

fn draw_place(rng: &mut Rng8) -> Canvas {
    match rng.random_range(0..3u32) {
        0 => street(rng),
        1 => town(rng),
        _ => room(rng),
    }
}

/// A pinhole camera looking along +z with the vanishing point at `c` (y is up in the world).
struct Camera {
    c: Vec2,
    f: f32,
    eye: f32,
    x: f32,
}

impl Camera {
    fn p(&self, x: f32, y: f32, z: f32) -> Vec2 {
        v(
            self.c.x + self.f * (x - self.x) / z,
            self.c.y - self.f * (y - self.eye) / z,
        )
    }

    fn quad(&self, pts: [[f32; 3]; 4]) -> Polygon {
        polygon(&pts.map(|[x, y, z]| self.p(x, y, z)))
    }
}

/// Sky from the top of the image down to `horizon`, sometimes with clouds.
fn sky(rng: &mut Rng8, cv: &mut Canvas, horizon: f32) {
    let kind = rng.random_range(0..4u32);
    let (top, bottom) = match kind {
        0 | 1 => (
            jitter(rng, [0.3, 0.5, 0.85], 0.06),
            jitter(rng, [0.75, 0.85, 0.95], 0.04),
        ),
        2 => (
            jitter(rng, [0.6, 0.63, 0.68], 0.05),
            jitter(rng, [0.82, 0.83, 0.85], 0.04),
        ),
        _ => (
            jitter(rng, [0.25, 0.25, 0.5], 0.05),
            jitter(rng, [0.98, 0.7, 0.45], 0.05),
        ),
    };
    let region = rect(-2.0, -2.0, NF + 2.0, horizon + 0.5);
    cv.fill(
        &region,
        Paint::linear(v(0.0, 0.0), top, v(0.0, horizon), bottom),
    );
    if kind != 2 && chance(rng, 0.7) {
        let field = value_noise(rng, v(80.0, 30.0), 4, 0.5);
        let cut = u(rng, 0.5, 0.65);
        let rows = 0..(horizon.max(0.0) as usize).min(N);
        cv.blend_field(&field, [0.97, 0.97, 0.98], cut, cut + 0.25, rows);
    }
}

/// Noisy ground (grass, earth or pavement) from `horizon` to the bottom.
fn ground(rng: &mut Rng8, cv: &mut Canvas, horizon: f32) {
    let (c0, c1) = match rng.random_range(0..3u32) {
        0 => (
            jitter(rng, [0.2, 0.38, 0.12], 0.05),
            jitter(rng, [0.45, 0.62, 0.25], 0.05),
        ),
        1 => (
            jitter(rng, [0.4, 0.33, 0.24], 0.05),
            jitter(rng, [0.62, 0.55, 0.42], 0.05),
        ),
        _ => (
            jitter(rng, [0.38, 0.38, 0.38], 0.04),
            jitter(rng, [0.58, 0.58, 0.56], 0.04),
        ),
    };
    let field = value_noise(rng, v(40.0, 10.0), 5, 0.6);
    cv.fill_with(
        &rect(-2.0, horizon, NF + 2.0, NF + 2.0),
        1.0,
        1.0,
        |_, i| mix(c0, c1, field[i]),
    );
}

/// A building colour: brick, concrete, sandstone, plaster or painted.
fn facade_colour(rng: &mut Rng8) -> Rgb {
    let c = pick(
        rng,
        &[
            [0.6, 0.3, 0.22],
            [0.65, 0.63, 0.6],
            [0.8, 0.72, 0.55],
            [0.9, 0.88, 0.82],
            [0.5, 0.55, 0.62],
            [0.75, 0.55, 0.4],
            [0.85, 0.8, 0.6],
        ],
    );
    jitter(rng, c, 0.05)
}

/// A window glass colour: sky reflection, dark, or lit.
fn glass_colours(rng: &mut Rng8) -> (Rgb, Rgb) {
    match rng.random_range(0..3u32) {
        0 => ([0.55, 0.7, 0.85], [0.25, 0.35, 0.5]),
        1 => ([0.25, 0.27, 0.3], [0.1, 0.1, 0.12]),
        _ => ([0.95, 0.85, 0.5], [0.8, 0.6, 0.3]),
    }
}

/// A street in one-point perspective lined by buildings.
fn street(rng: &mut Rng8) -> Canvas {
    let horizon = NF * u(rng, 0.38, 0.55);
    let cam = Camera {
        c: v(NF * u(rng, 0.35, 0.65), horizon),
        f: NF * u(rng, 0.45, 0.65),
        eye: u(rng, 1.5, 2.2),
        x: u(rng, -1.5, 1.5),
    };
    let mut cv = Canvas::filled(WHITE);
    sky(rng, &mut cv, horizon);
    let pavement = jitter(rng, [0.62, 0.6, 0.57], 0.05);
    cv.fill(
        &rect(-2.0, horizon, NF + 2.0, NF + 2.0),
        Paint::linear(v(0.0, horizon), mul(pavement, 0.9), v(0.0, NF), pavement),
    );
    let road_w = u(rng, 3.0, 5.0);
    let wall = road_w + u(rng, 2.0, 4.0);
    let asphalt = jitter(rng, [0.28, 0.28, 0.3], 0.04);
    let (near, far) = (0.5, 3000.0);
    cv.fill(
        &cam.quad([
            [-road_w, 0.0, near],
            [road_w, 0.0, near],
            [road_w, 0.0, far],
            [-road_w, 0.0, far],
        ]),
        Paint::linear(v(0.0, horizon), mul(asphalt, 1.3), v(0.0, NF), asphalt),
    );
    let paint = [0.92, 0.9, 0.8];
    for side in [-1.0, 1.0] {
        let x = side * (road_w - 0.3);
        cv.fill(
            &cam.quad([
                [x - 0.08, 0.0, near],
                [x + 0.08, 0.0, near],
                [x + 0.08, 0.0, far],
                [x - 0.08, 0.0, far],
            ]),
            Paint::solid(paint),
        );
    }
    let dash = u(rng, 0.0, 6.0);
    for k in 0..40 {
        let z0 = 1.0 + dash + k as f32 * 6.0;
        cv.fill(
            &cam.quad([
                [-0.1, 0.0, z0],
                [0.1, 0.0, z0],
                [0.1, 0.0, z0 + 3.0],
                [-0.1, 0.0, z0 + 3.0],
            ]),
            Paint::solid(paint),
        );
    }

    // Buildings on both sides, painted far to near.
    struct Building {
        side: f32,
        z0: f32,
        z1: f32,
        height: f32,
        colour: Rgb,
        glass: (Rgb, Rgb),
    }
    let mut buildings = Vec::new();
    for side in [-1.0, 1.0] {
        let mut z = u(rng, 0.5, 3.0);
        while z < 160.0 {
            let depth = u(rng, 6.0, 18.0);
            let height = u(rng, 5.0, 28.0);
            let colour = facade_colour(rng);
            let glass = glass_colours(rng);
            buildings.push(Building {
                side,
                z0: z,
                z1: z + depth,
                height,
                colour,
                glass,
            });
            z += depth
                + if chance(rng, 0.2) {
                    u(rng, 1.0, 4.0)
                } else {
                    0.0
                };
        }
    }
    buildings.sort_by(|a, b| b.z0.total_cmp(&a.z0));
    for b in &buildings {
        let x = b.side * wall;
        let xo = b.side * (wall + 40.0);
        let front = mul(b.colour, 0.8);
        cv.fill(
            &cam.quad([
                [x, 0.0, b.z0],
                [xo, 0.0, b.z0],
                [xo, b.height, b.z0],
                [x, b.height, b.z0],
            ]),
            Paint::solid(front),
        );
        let side_paint = Paint::linear(
            cam.p(x, 0.0, b.z0),
            b.colour,
            cam.p(x, 0.0, b.z1),
            mul(b.colour, 0.85),
        );
        cv.fill(
            &cam.quad([
                [x, 0.0, b.z0],
                [x, b.height, b.z0],
                [x, b.height, b.z1],
                [x, 0.0, b.z1],
            ]),
            side_paint,
        );
        let ledge = mul(b.colour, 0.6);
        cv.fill(
            &cam.quad([
                [x, b.height - 0.4, b.z0],
                [x, b.height, b.z0],
                [x, b.height, b.z1],
                [x, b.height - 0.4, b.z1],
            ]),
            Paint::solid(ledge),
        );
        // Windows on the side façade.
        let mut y = 2.5;
        while y + 1.6 < b.height - 0.6 {
            let mut z = b.z0 + 1.0;
            while z + 1.4 < b.z1 - 0.5 {
                let size = cam.f * 1.4 / z;
                if size > 1.2 {
                    let w = cam.quad([
                        [x, y, z],
                        [x, y + 1.6, z],
                        [x, y + 1.6, z + 1.4],
                        [x, y, z + 1.4],
                    ]);
                    cv.fill(
                        &w,
                        Paint::linear(cam.p(x, y + 1.6, z), b.glass.0, cam.p(x, y, z), b.glass.1),
                    );
                }
                z += 3.0;
            }
            y += 3.2;
        }
        // A shop front or door at street level.
        let dz = b.z0 + u(rng, 1.0, (b.z1 - b.z0 - 2.0).max(1.0));
        cv.fill(
            &cam.quad([
                [x, 0.0, dz],
                [x, 2.2, dz],
                [x, 2.2, dz + 1.2],
                [x, 0.0, dz + 1.2],
            ]),
            Paint::solid(mul(b.colour, 0.35)),
        );
    }

    // Lamp posts.
    let lamp = [0.2, 0.2, 0.22];
    let spacing = u(rng, 10.0, 20.0);
    for side in [-1.0, 1.0] {
        let x = side * (road_w + 0.6);
        for k in (0..8).rev() {
            let z = 6.0 + u(rng, 0.0, 3.0) + k as f32 * spacing;
            let r = (cam.f * 0.09 / z).max(0.4);
            cv.fill(
                &capsule(cam.p(x, 0.0, z), cam.p(x, 5.0, z), r),
                Paint::solid(lamp),
            );
            cv.fill(
                &capsule(cam.p(x, 5.0, z), cam.p(x - side * 1.2, 5.0, z), r),
                Paint::solid(lamp),
            );
        }
    }
    cv
}

/// A frontal townscape: houses and blocks of flats on a street, under the sky.
fn town(rng: &mut Rng8) -> Canvas {
    let base = NF * u(rng, 0.55, 0.72);
    let mut cv = Canvas::filled(WHITE);
    sky(rng, &mut cv, base);
    if chance(rng, 0.4) {
        let hill = jitter(rng, [0.45, 0.55, 0.45], 0.06);
        cv.fill(
            &ellipse(
                v(NF * u(rng, 0.2, 0.8), base + 10.0),
                v(NF * u(rng, 0.4, 0.8), NF * u(rng, 0.1, 0.2)),
                0.0,
            ),
            Paint::solid(hill).soft(2.0),
        );
    }
    ground(rng, &mut cv, base);
    let mut x = -u(rng, 0.0, 25.0);
    while x < NF {
        let gap = if chance(rng, 0.3) {
            u(rng, 8.0, 25.0)
        } else {
            u(rng, 0.0, 3.0)
        };
        if chance(rng, 0.55) {
            let w = u(rng, 40.0, 75.0);
            house(rng, &mut cv, x, base, w);
            x += w;
        } else {
            let w = u(rng, 30.0, 65.0);
            block(rng, &mut cv, x, base, w);
            x += w;
        }
        if gap > 8.0 {
            let (foot, size) = (base + u(rng, 2.0, 6.0), u(rng, 25.0, 55.0));
            tree(rng, &mut cv, x + gap / 2.0, foot, size);
        }
        x += gap;
    }
    // A street in front.
    if chance(rng, 0.6) {
        let y0 = base + u(rng, 5.0, 15.0);
        let y1 = (y0 + NF * u(rng, 0.1, 0.18)).min(NF - 4.0);
        cv.fill(
            &rect(-2.0, base, NF + 2.0, y0),
            Paint::solid(jitter(rng, [0.68, 0.66, 0.62], 0.04)),
        );
        cv.fill(
            &rect(-2.0, y0, NF + 2.0, y1),
            Paint::solid(jitter(rng, [0.3, 0.3, 0.32], 0.03)),
        );
        let mid = (y0 + y1) / 2.0;
        let mut dx = -u(rng, 0.0, 20.0);
        while dx < NF {
            cv.fill(
                &rect(dx, mid - 1.0, dx + 12.0, mid + 1.0),
                Paint::solid([0.92, 0.9, 0.8]),
            );
            dx += 22.0;
        }
        cv.fill(
            &rect(-2.0, y0 - 1.0, NF + 2.0, y0 + 0.5),
            Paint::solid([0.8, 0.8, 0.78]),
        );
    } else if chance(rng, 0.6) {
        // A picket fence.
        let wood = jitter(rng, [0.92, 0.9, 0.85], 0.05);
        let (y0, y1) = (base + 4.0, base + u(rng, 18.0, 28.0));
        cv.fill(
            &rect(-2.0, y0 + 4.0, NF + 2.0, y0 + 7.0),
            Paint::solid(wood),
        );
        cv.fill(
            &rect(-2.0, y1 - 6.0, NF + 2.0, y1 - 3.0),
            Paint::solid(wood),
        );
        let mut px = u(rng, 0.0, 8.0);
        while px < NF {
            cv.fill(
                &polygon(&[
                    v(px, y1),
                    v(px + 4.0, y1),
                    v(px + 4.0, y0),
                    v(px + 2.0, y0 - 3.0),
                    v(px, y0),
                ]),
                Paint::solid(wood),
            );
            px += 8.0;
        }
    }
    cv
}

/// A house at `x..x + w` standing on `base`: walls, gabled or hipped roof, door and windows.
fn house(rng: &mut Rng8, cv: &mut Canvas, x: f32, base: f32, w: f32) {
    let wall_h = w * u(rng, 0.55, 0.9);
    let top = base - wall_h;
    let wall = facade_colour(rng);
    cv.fill(
        &rect(x, top, x + w, base),
        Paint::linear(v(x, 0.0), wall, v(x + w, 0.0), mul(wall, 0.9)),
    );
    let roof = pick_jitter(
        rng,
        &[
            [0.55, 0.2, 0.15],
            [0.35, 0.25, 0.2],
            [0.3, 0.32, 0.38],
            [0.45, 0.3, 0.2],
        ],
        0.04,
    );
    let rh = w * u(rng, 0.3, 0.55);
    let over = u(rng, 2.0, 5.0);
    if chance(rng, 0.7) {
        cv.fill(
            &polygon(&[
                v(x - over, top),
                v(x + w + over, top),
                v(x + w / 2.0, top - rh),
            ]),
            Paint::linear(
                v(0.0, top - rh),
                mul(roof, 1.15),
                v(0.0, top),
                mul(roof, 0.85),
            ),
        );
    } else {
        let inset = w * u(rng, 0.15, 0.3);
        let shape = polygon(&[
            v(x - over, top),
            v(x + w + over, top),
            v(x + w - inset, top - rh * 0.7),
            v(x + inset, top - rh * 0.7),
        ]);
        cv.fill(
            &shape,
            Paint::linear(
                v(0.0, top - rh),
                mul(roof, 1.15),
                v(0.0, top),
                mul(roof, 0.85),
            ),
        );
    }
    if chance(rng, 0.5) {
        let cx = x + w * u(rng, 0.6, 0.8);
        cv.fill(
            &rect(cx, top - rh * 0.75, cx + w * 0.08, top - rh * 0.2),
            Paint::solid(mul(wall, 0.6)),
        );
    }
    // Door.
    let door_w = w * 0.18;
    let dx = x + w * u(rng, 0.15, 0.65);
    let door_h = (wall_h * 0.55).min(30.0);
    let door = pick_jitter(
        rng,
        &[
            [0.4, 0.22, 0.1],
            [0.2, 0.3, 0.5],
            [0.55, 0.1, 0.1],
            [0.2, 0.35, 0.2],
        ],
        0.04,
    );
    cv.fill(
        &rect(dx - 1.0, base - door_h - 1.5, dx + door_w + 1.0, base),
        Paint::solid(mul(wall, 0.7)),
    );
    cv.fill(
        &rect(dx, base - door_h, dx + door_w, base),
        Paint::solid(door),
    );
    cv.fill(
        &circle(v(dx + door_w * 0.8, base - door_h * 0.5), 1.0),
        Paint::solid([0.8, 0.7, 0.3]),
    );
    // Windows left and right of the door, one or two floors.
    let (g0, g1) = glass_colours(rng);
    let win = w * 0.17;
    let floors = if wall_h > 45.0 { 2 } else { 1 };
    for f in 0..floors {
        let wy = base - wall_h * (0.55 + 0.4 * f as f32 / floors as f32).min(0.85) - win * 0.1;
        let wy = if floors == 1 {
            base - door_h * 0.95
        } else {
            wy
        };
        for wx in [x + w * 0.1, x + w * 0.72] {
            if f == 0 && (wx + win > dx - 1.0 && wx < dx + door_w + 1.0) {
                continue;
            }
            window(cv, wx, wy, win, win * 1.15, g0, g1);
        }
    }
}

/// A framed window with a cross bar at `x, y` (top left), `w × h` pixels.
fn window(cv: &mut Canvas, x: f32, y: f32, w: f32, h: f32, g0: Rgb, g1: Rgb) {
    let frame = [0.95, 0.95, 0.92];
    cv.fill(
        &rect(x - 1.2, y - 1.2, x + w + 1.2, y + h + 1.2),
        Paint::solid(frame),
    );
    cv.fill(
        &rect(x, y, x + w, y + h),
        Paint::linear(v(x, y), g0, v(x + w, y + h), g1),
    );
    cv.fill(
        &rect(x + w / 2.0 - 0.6, y, x + w / 2.0 + 0.6, y + h),
        Paint::solid(frame),
    );
    cv.fill(
        &rect(x, y + h * 0.45 - 0.6, x + w, y + h * 0.45 + 0.6),
        Paint::solid(frame),
    );
}

/// A block of flats at `x..x + w` standing on `base`, with a grid of windows.
fn block(rng: &mut Rng8, cv: &mut Canvas, x: f32, base: f32, w: f32) {
    let h = (base - 6.0).min(NF * u(rng, 0.25, 0.6));
    let top = base - h;
    let wall = facade_colour(rng);
    cv.fill(
        &rect(x, top, x + w, base),
        Paint::linear(v(x, 0.0), wall, v(x + w, 0.0), mul(wall, 0.88)),
    );
    cv.fill(
        &rect(x - 1.5, top - 2.5, x + w + 1.5, top),
        Paint::solid(mul(wall, 0.6)),
    );
    let (g0, g1) = glass_colours(rng);
    let cols = ((w - 4.0) / u(rng, 9.0, 14.0)).floor().max(1.0);
    let pitch_x = (w - 4.0) / cols;
    let pitch_y = u(rng, 11.0, 16.0);
    let (ww, wh) = (pitch_x * u(rng, 0.45, 0.7), pitch_y * u(rng, 0.45, 0.65));
    let mut y = top + 5.0;
    while y + wh < base - 8.0 {
        for c in 0..cols as u32 {
            let wx = x + 2.0 + c as f32 * pitch_x + (pitch_x - ww) / 2.0;
            cv.fill(
                &rect(wx, y, wx + ww, y + wh),
                Paint::linear(v(wx, y), g0, v(wx, y + wh), g1),
            );
        }
        y += pitch_y;
    }
    let door_w = (w * 0.2).min(12.0);
    let dx = x + (w - door_w) / 2.0;
    cv.fill(
        &rect(dx, base - 10.0, dx + door_w, base),
        Paint::solid([0.2, 0.18, 0.16]),
    );
}

/// A tree: trunk and a crown of overlapping discs; `size` is its height in pixels.
fn tree(rng: &mut Rng8, cv: &mut Canvas, x: f32, base: f32, size: f32) {
    let bark = jitter(rng, [0.35, 0.24, 0.14], 0.04);
    cv.fill(
        &capsule(v(x, base), v(x, base - size * 0.6), size * 0.05),
        Paint::solid(bark),
    );
    let leaf = jitter(rng, [0.22, 0.45, 0.18], 0.06);
    let centre = v(x, base - size * 0.65);
    for _ in 0..6 {
        let c = centre + v(u(rng, -0.22, 0.22), u(rng, -0.25, 0.15)) * size;
        let r = size * u(rng, 0.18, 0.28);
        cv.fill(
            &circle(c, r),
            Paint::radial(c - v(r, r) * 0.4, r * 1.5, mul(leaf, 1.3), mul(leaf, 0.75)),
        );
    }
}

/// A room in one-point perspective: back wall, side walls, floor, ceiling, window, door,
/// picture and furniture.
fn room(rng: &mut Rng8) -> Canvas {
    let hw = u(rng, 1.8, 2.6);
    let height = u(rng, 2.5, 3.0);
    let depth = u(rng, 4.0, 7.0);
    let eye = u(rng, 1.2, 1.7);
    let frac = u(rng, 0.35, 0.6);
    let cam = Camera {
        c: v(NF * u(rng, 0.4, 0.6), NF * u(rng, 0.42, 0.58)),
        f: frac * NF * depth / (2.0 * hw),
        eye,
        x: u(rng, -0.4, 0.4) * hw,
    };
    let wall = hsv_in(rng, (0.0, 1.0), (0.05, 0.35), (0.7, 0.95));
    let floor = pick_jitter(
        rng,
        &[
            [0.55, 0.38, 0.22],
            [0.7, 0.55, 0.38],
            [0.45, 0.45, 0.48],
            [0.6, 0.58, 0.55],
        ],
        0.05,
    );
    let ceiling = jitter(rng, [0.94, 0.93, 0.9], 0.03);
    let near = 0.3;
    let mut cv = Canvas::filled(wall);
    let d = depth;
    cv.fill(
        &cam.quad([
            [-hw, height, near],
            [hw, height, near],
            [hw, height, d],
            [-hw, height, d],
        ]),
        Paint::linear(
            cam.p(0.0, height, d),
            ceiling,
            v(cam.c.x, 0.0),
            mul(ceiling, 0.85),
        ),
    );
    cv.fill(
        &cam.quad([
            [-hw, 0.0, near],
            [hw, 0.0, near],
            [hw, 0.0, d],
            [-hw, 0.0, d],
        ]),
        Paint::linear(cam.p(0.0, 0.0, d), floor, v(cam.c.x, NF), mul(floor, 0.75)),
    );
    // Floor boards or tiles.
    let line = mul(floor, 0.7);
    let boards = if chance(rng, 0.6) {
        u(rng, 0.15, 0.3)
    } else {
        u(rng, 0.4, 0.6)
    };
    let mut bx = -hw + boards;
    while bx < hw {
        cv.fill(
            &capsule(cam.p(bx, 0.0, near * 2.0), cam.p(bx, 0.0, d), 0.5),
            Paint::solid(line).alpha(0.8),
        );
        bx += boards;
    }
    if boards > 0.35 {
        let mut z = d - boards;
        while z > near * 2.0 {
            cv.fill(
                &capsule(cam.p(-hw, 0.0, z), cam.p(hw, 0.0, z), 0.5),
                Paint::solid(line).alpha(0.8),
            );
            z -= boards;
        }
    }
    for (side, k) in [(-1.0, 0.82), (1.0, 0.9)] {
        let x = side * hw;
        let shade = Paint::linear(
            cam.p(x, eye, d),
            mul(wall, k),
            cam.p(x, eye, near * 2.0),
            mul(wall, k * 0.85),
        );
        cv.fill(
            &cam.quad([
                [x, 0.0, near],
                [x, height, near],
                [x, height, d],
                [x, 0.0, d],
            ]),
            shade,
        );
        cv.fill(
            &cam.quad([[x, 0.0, near], [x, 0.12, near], [x, 0.12, d], [x, 0.0, d]]),
            Paint::solid([0.95, 0.95, 0.93]),
        );
    }
    cv.fill(
        &polygon(&[
            cam.p(-hw, 0.0, d),
            cam.p(hw, 0.0, d),
            cam.p(hw, height, d),
            cam.p(-hw, height, d),
        ]),
        Paint::solid(wall),
    );
    cv.fill(
        &polygon(&[
            cam.p(-hw, 0.0, d),
            cam.p(hw, 0.0, d),
            cam.p(hw, 0.12, d),
            cam.p(-hw, 0.12, d),
        ]),
        Paint::solid([0.95, 0.95, 0.93]),
    );

    // A window in the back wall.
    let ww = u(rng, 0.6, 1.2);
    let wx = u(rng, -hw + ww + 0.2, hw - ww - 0.2);
    let (wy0, wy1) = (u(rng, 0.8, 1.1), u(rng, 2.0, height - 0.25));
    let frame = [0.96, 0.96, 0.94];
    let (lo, hi) = (cam.p(wx - ww, wy1, d), cam.p(wx + ww, wy0, d));
    let t = (cam.f * 0.06 / d).max(1.0);
    cv.fill(
        &rect(lo.x - t, lo.y - t, hi.x + t, hi.y + t),
        Paint::solid(frame),
    );
    let sky_top = jitter(rng, [0.45, 0.65, 0.9], 0.05);
    cv.fill(
        &rect(lo.x, lo.y, hi.x, hi.y),
        Paint::linear(lo, sky_top, v(lo.x, hi.y), [0.85, 0.9, 0.95]),
    );
    let mx = (lo.x + hi.x) / 2.0;
    cv.fill(
        &rect(mx - t * 0.5, lo.y, mx + t * 0.5, hi.y),
        Paint::solid(frame),
    );
    let my = lo.y + (hi.y - lo.y) * 0.4;
    cv.fill(
        &rect(lo.x, my - t * 0.5, hi.x, my + t * 0.5),
        Paint::solid(frame),
    );
    if chance(rng, 0.5) {
        let curtain = hsv_in(rng, (0.0, 1.0), (0.3, 0.7), (0.4, 0.8));
        let cw = (hi.x - lo.x) * 0.22;
        cv.fill(
            &rect(
                lo.x - t - cw * 0.6,
                lo.y - t * 2.0,
                lo.x + cw * 0.4,
                hi.y + t * 3.0,
            ),
            Paint::linear(
                v(lo.x - cw, 0.0),
                curtain,
                v(lo.x + cw, 0.0),
                mul(curtain, 0.7),
            ),
        );
        cv.fill(
            &rect(
                hi.x - cw * 0.4,
                lo.y - t * 2.0,
                hi.x + t + cw * 0.6,
                hi.y + t * 3.0,
            ),
            Paint::linear(
                v(hi.x - cw, 0.0),
                mul(curtain, 0.7),
                v(hi.x + cw, 0.0),
                curtain,
            ),
        );
    }

    // A door on one side wall and a picture on the other.
    let door_side = sign(rng);
    let x = door_side * hw;
    let dz = u(rng, d * 0.35, d - 1.2);
    let door = jitter(rng, [0.5, 0.32, 0.18], 0.06);
    cv.fill(
        &cam.quad([
            [x, 0.0, dz - 0.08],
            [x, 2.1, dz - 0.08],
            [x, 2.1, dz + 1.0],
            [x, 0.0, dz + 1.0],
        ]),
        Paint::solid(frame),
    );
    cv.fill(
        &cam.quad([
            [x, 0.0, dz],
            [x, 2.0, dz],
            [x, 2.0, dz + 0.92],
            [x, 0.0, dz + 0.92],
        ]),
        Paint::solid(door),
    );
    let knob = cam.p(x, 1.0, dz + 0.8);
    cv.fill(
        &circle(knob, (cam.f * 0.04 / dz).max(0.8)),
        Paint::solid([0.85, 0.75, 0.35]),
    );
    let x = -door_side * hw;
    let pz = u(rng, d * 0.3, d - 1.0);
    let (py0, py1) = (u(rng, 1.2, 1.5), u(rng, 1.8, 2.2));
    cv.fill(
        &cam.quad([
            [x, py0, pz],
            [x, py1, pz],
            [x, py1, pz + 0.8],
            [x, py0, pz + 0.8],
        ]),
        Paint::solid([0.2, 0.15, 0.1]),
    );
    let art = hsv_in(rng, (0.0, 1.0), (0.3, 0.8), (0.4, 0.9));
    cv.fill(
        &cam.quad([
            [x, py0 + 0.06, pz + 0.06],
            [x, py1 - 0.06, pz + 0.06],
            [x, py1 - 0.06, pz + 0.74],
            [x, py0 + 0.06, pz + 0.74],
        ]),
        Paint::linear(cam.p(x, py1, pz), art, cam.p(x, py0, pz), mul(art, 0.5)),
    );

    // A rug, and a cabinet or table against the back wall.
    if chance(rng, 0.5) {
        let rug = hsv_in(rng, (0.0, 1.0), (0.4, 0.8), (0.35, 0.7));
        let (rx, rz) = (u(rng, 0.6, 1.2), u(rng, 1.5, d - 1.0));
        cv.fill(
            &cam.quad([
                [-rx, 0.0, rz - 0.9],
                [rx, 0.0, rz - 0.9],
                [rx, 0.0, rz + 0.9],
                [-rx, 0.0, rz + 0.9],
            ]),
            Paint::solid(rug),
        );
    }
    let cab = pick_jitter(
        rng,
        &[[0.45, 0.3, 0.18], [0.85, 0.85, 0.82], [0.3, 0.3, 0.32]],
        0.04,
    );
    let (cw, ch, cd) = (u(rng, 0.5, 1.0), u(rng, 0.5, 0.9), u(rng, 0.4, 0.6));
    let cx = u(rng, -hw + cw, hw - cw);
    let zf = d - cd;
    cv.fill(
        &cam.quad([
            [cx - cw, ch, zf],
            [cx + cw, ch, zf],
            [cx + cw, ch, d],
            [cx - cw, ch, d],
        ]),
        Paint::solid(mul(cab, 1.15)),
    );
    let (lo, hi) = (cam.p(cx - cw, ch, zf), cam.p(cx + cw, 0.0, zf));
    cv.fill(&rect(lo.x, lo.y, hi.x, hi.y), Paint::solid(cab));
    let mid = (lo.x + hi.x) / 2.0;
    cv.fill(
        &rect(mid - 0.5, lo.y + 2.0, mid + 0.5, hi.y - 2.0),
        Paint::solid(mul(cab, 0.6)),
    );
    cv
}

// ---------------------------------------------------------------------------------------------
// Objects.

fn draw_object(rng: &mut Rng8) -> Canvas {
    let wall = hsv_in(rng, (0.0, 1.0), (0.03, 0.3), (0.55, 0.95));
    let mut cv = Canvas::vertical(mul(wall, 1.05), mul(wall, 0.85));
    let by = if chance(rng, 0.7) {
        let table_y = NF * u(rng, 0.5, 0.7);
        let table = pick_jitter(
            rng,
            &[
                [0.55, 0.38, 0.22],
                [0.72, 0.58, 0.4],
                [0.85, 0.85, 0.82],
                [0.35, 0.3, 0.28],
            ],
            0.05,
        );
        cv.fill(
            &rect(-2.0, table_y, NF + 2.0, NF + 2.0),
            Paint::linear(
                v(0.0, table_y),
                mul(table, 0.85),
                v(0.0, NF),
                mul(table, 1.1),
            ),
        );
        (table_y + NF * u(rng, 0.08, 0.2)).min(NF * 0.92)
    } else {
        NF * u(rng, 0.8, 0.92)
    };
    let bx = NF / 2.0 + u(rng, -15.0, 15.0);
    let kind = rng.random_range(0..6u32);
    // Width over height of each kind (the mug's includes its handle).
    let aspect = [1.3, 0.35, 1.0, 0.66, 0.6, 0.85][kind as usize];
    let height = (NF * u(rng, 0.45, 0.72))
        .min(by - NF * 0.06)
        .min(NF * 0.8 / aspect);
    let width = height * aspect;
    let shadow = ellipse(
        v(bx + width * 0.1, by),
        v(width * 0.6, height * 0.06 + 2.0),
        0.0,
    );
    cv.fill(&shadow, Paint::solid(BLACK).alpha(0.35).soft(height * 0.05));
    match kind {
        0 => mug(rng, &mut cv, bx, by, height),
        1 => bottle(rng, &mut cv, bx, by, height),
        2 => ball(rng, &mut cv, bx, by, height),
        3 => lamp(rng, &mut cv, bx, by, height),
        4 => chair(rng, &mut cv, bx, by, height),
        _ => fruit(rng, &mut cv, bx, by, height),
    }
    cv
}

/// A cylindrical shading across `x0..x1`: light on the left, dark on the right.
fn cylinder(x0: f32, x1: f32, c: Rgb) -> Paint {
    Paint::linear(
        v(x0 + (x1 - x0) * 0.25, 0.0),
        mul(c, 1.2),
        v(x1, 0.0),
        mul(c, 0.6),
    )
}

fn mug(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
    let w = h * u(rng, 0.8, 0.95);
    let c = hsv_in(rng, (0.0, 1.0), (0.0, 0.8), (0.45, 0.95));
    let ry = w * 0.12;
    let top = by - h;
    let hs = sign(rng);
    let handle = ring(
        ellipse(
            v(bx + hs * w * 0.5, top + h * 0.45),
            v(h * 0.24, h * 0.27),
            0.0,
        ),
        h * 0.08,
    );
    cv.fill(&handle, Paint::solid(mul(c, 0.8)));
    let body = Union(
        rect(bx - w / 2.0, top, bx + w / 2.0, by - ry),
        ellipse(v(bx, by - ry), v(w / 2.0, ry), 0.0),
    );
    cv.fill(&body, cylinder(bx - w / 2.0, bx + w / 2.0, c));
    if chance(rng, 0.5) {
        let band = hsv_in(rng, (0.0, 1.0), (0.3, 0.9), (0.3, 0.9));
        let y = top + h * u(rng, 0.3, 0.6);
        cv.fill(
            &Inter(body, rect(bx - w, y, bx + w, y + h * 0.15)),
            cylinder(bx - w / 2.0, bx + w / 2.0, band),
        );
    }
    cv.fill(
        &ellipse(v(bx, top), v(w / 2.0, ry), 0.0),
        Paint::solid(mul(c, 1.1)),
    );
    let inside = if chance(rng, 0.6) {
        [0.25, 0.13, 0.06]
    } else {
        mul(c, 0.4)
    };
    cv.fill(
        &ellipse(v(bx, top + 0.5), v(w / 2.0 - h * 0.04, ry - h * 0.03), 0.0),
        Paint::solid(inside),
    );
}

fn bottle(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
    let c = pick_jitter(
        rng,
        &[
            [0.15, 0.45, 0.2],
            [0.45, 0.22, 0.08],
            [0.2, 0.35, 0.65],
            [0.7, 0.8, 0.8],
        ],
        0.05,
    );
    let w = h * u(rng, 0.3, 0.38);
    let (x0, x1) = (bx - w / 2.0, bx + w / 2.0);
    let shoulder = by - h * 0.58;
    let body = Union(
        rrect(v(bx, by - h * 0.29), v(w / 2.0, h * 0.29), w * 0.12, 0.0),
        ellipse(v(bx, shoulder), v(w / 2.0, h * 0.15), 0.0),
    );
    cv.fill(&body, cylinder(x0, x1, c));
    let nw = w * 0.17;
    cv.fill(
        &rect(bx - nw, by - h * 0.93, bx + nw, shoulder - h * 0.08),
        cylinder(bx - nw, bx + nw, c),
    );
    let cap = hsv_in(rng, (0.0, 1.0), (0.0, 0.7), (0.2, 0.9));
    cv.fill(
        &rrect(v(bx, by - h * 0.965), v(nw * 1.2, h * 0.035), 1.0, 0.0),
        cylinder(bx - nw, bx + nw, cap),
    );
    let label = hsv_in(rng, (0.0, 1.0), (0.0, 0.5), (0.75, 1.0));
    let ly = by - h * u(rng, 0.2, 0.35);
    cv.fill(
        &rect(x0, ly - h * 0.12, x1, ly + h * 0.12),
        cylinder(x0, x1, label),
    );
    let mark = hsv_in(rng, (0.0, 1.0), (0.5, 1.0), (0.3, 0.8));
    cv.fill(
        &rect(x0, ly - h * 0.03, x1, ly + h * 0.02),
        cylinder(x0, x1, mark),
    );
    cv.fill(
        &capsule(
            v(bx - w * 0.25, by - h * 0.1),
            v(bx - w * 0.25, shoulder),
            w * 0.05,
        ),
        Paint::solid(WHITE).alpha(0.35).soft(2.0),
    );
}

fn ball(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
    let r = h / 2.0;
    let c = v(bx, by - r);
    let light = c - v(r, r) * 0.4;
    let shade = |col: Rgb| Paint::radial(light, r * 1.5, mul(col, 1.25), mul(col, 0.45));
    let disc = circle(c, r);
    match rng.random_range(0..3u32) {
        0 => {
            // Beach ball: coloured wedges.
            let colours = [
                [0.9, 0.15, 0.15],
                [0.95, 0.85, 0.2],
                [0.2, 0.45, 0.9],
                [0.95, 0.95, 0.95],
                [0.2, 0.7, 0.3],
                [0.95, 0.5, 0.1],
            ];
            let turn = rng.random::<f32>() * TAU;
            cv.fill(&disc, shade(colours[3]));
            for (k, &colour) in colours.iter().enumerate() {
                let (a0, a1) = (
                    turn + k as f32 * TAU / 6.0,
                    turn + (k + 1) as f32 * TAU / 6.0,
                );
                let wedge = polygon(&[
                    c,
                    c + v(a0.cos(), a0.sin()) * r * 2.0,
                    c + v(a1.cos(), a1.sin()) * r * 2.0,
                ]);
                cv.fill(&Inter(disc, wedge), shade(colour));
            }
            cv.fill(&circle(c, r * 0.12), shade(WHITE));
        }
        1 => {
            // Basketball.
            let orange = jitter(rng, [0.85, 0.42, 0.12], 0.04);
            cv.fill(&disc, shade(orange));
            let line = Paint::solid([0.12, 0.08, 0.06]);
            let t = r * 0.05;
            cv.fill(
                &Inter(capsule(c - v(r, 0.0), c + v(r, 0.0), t / 2.0), disc),
                line,
            );
            cv.fill(
                &Inter(capsule(c - v(0.0, r), c + v(0.0, r), t / 2.0), disc),
                line,
            );
            for s in [-1.0, 1.0] {
                cv.fill(
                    &Inter(
                        ring(
                            ellipse(c + v(s * r * 1.05, 0.0), v(r * 0.6, r * 0.95), 0.0),
                            t,
                        ),
                        disc,
                    ),
                    line,
                );
            }
        }
        _ => {
            let col = hsv_in(rng, (0.0, 1.0), (0.5, 0.9), (0.5, 0.95));
            cv.fill(&disc, shade(col));
            let band = hsv_in(rng, (0.0, 1.0), (0.0, 0.3), (0.8, 1.0));
            let tilt = u(rng, -0.6, 0.6);
            cv.fill(
                &Inter(ring(ellipse(c, v(r * 1.0, r * 0.35), tilt), r * 0.12), disc),
                shade(band),
            );
        }
    }
    cv.fill(
        &ellipse(c - v(r, r) * 0.45, v(r * 0.2, r * 0.13), -0.7),
        Paint::solid(WHITE).alpha(0.55).soft(r * 0.1),
    );
}

fn lamp(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
    let metal = pick_jitter(
        rng,
        &[[0.75, 0.75, 0.78], [0.2, 0.2, 0.22], [0.75, 0.6, 0.3]],
        0.04,
    );
    let shade = hsv_in(rng, (0.0, 1.0), (0.05, 0.6), (0.6, 0.98));
    let top = by - h;
    cv.fill(
        &ellipse(v(bx, by - h * 0.03), v(h * 0.22, h * 0.045), 0.0),
        cylinder(bx - h * 0.22, bx + h * 0.22, metal),
    );
    cv.fill(
        &rect(bx - h * 0.22, by - h * 0.05, bx + h * 0.22, by - h * 0.03),
        cylinder(bx - h * 0.22, bx + h * 0.22, metal),
    );
    cv.fill(
        &capsule(v(bx, by - h * 0.05), v(bx, top + h * 0.4), h * 0.025),
        cylinder(bx - h * 0.03, bx + h * 0.03, metal),
    );
    let glow = ellipse(v(bx, top + h * 0.52), v(h * 0.3, h * 0.12), 0.0);
    cv.fill(
        &glow,
        Paint::solid([1.0, 0.95, 0.7]).alpha(0.5).soft(h * 0.08),
    );
    let (tw, bw) = (h * u(rng, 0.14, 0.2), h * u(rng, 0.3, 0.36));
    let bottom = top + h * 0.42;
    cv.fill(
        &polygon(&[
            v(bx - tw, top),
            v(bx + tw, top),
            v(bx + bw, bottom),
            v(bx - bw, bottom),
        ]),
        cylinder(bx - bw, bx + bw, shade),
    );
    cv.fill(
        &ellipse(v(bx, bottom), v(bw, h * 0.03), 0.0),
        Paint::solid([1.0, 0.97, 0.8]),
    );
}

fn chair(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
    let wood = pick_jitter(
        rng,
        &[
            [0.55, 0.35, 0.18],
            [0.35, 0.22, 0.12],
            [0.8, 0.7, 0.55],
            [0.2, 0.2, 0.22],
        ],
        0.04,
    );
    let (yf, yb) = (by - h * 0.42, by - h * 0.52);
    let leg = h * 0.025;
    for s in [-1.0, 1.0] {
        cv.fill(
            &capsule(
                v(bx + s * h * 0.24, yb),
                v(bx + s * h * 0.24, by - h * 0.1),
                leg,
            ),
            Paint::solid(mul(wood, 0.7)),
        );
        cv.fill(
            &capsule(
                v(bx + s * h * 0.24, yb),
                v(bx + s * h * 0.24, by - h),
                leg * 1.2,
            ),
            Paint::solid(mul(wood, 0.9)),
        );
    }
    cv.fill(
        &rrect(v(bx, by - h * 0.92), v(h * 0.26, h * 0.07), h * 0.02, 0.0),
        cylinder(bx - h * 0.26, bx + h * 0.26, wood),
    );
    for k in 0..3 {
        let y = by - h * (0.8 - 0.08 * k as f32);
        cv.fill(
            &rect(bx - h * 0.24, y - h * 0.015, bx + h * 0.24, y + h * 0.015),
            Paint::solid(mul(wood, 0.85)),
        );
    }
    let seat = hsv_in(rng, (0.0, 1.0), (0.0, 0.6), (0.3, 0.8));
    let seat = if chance(rng, 0.5) { seat } else { wood };
    cv.fill(
        &polygon(&[
            v(bx - h * 0.25, yb),
            v(bx + h * 0.25, yb),
            v(bx + h * 0.31, yf),
            v(bx - h * 0.31, yf),
        ]),
        Paint::linear(v(0.0, yb), mul(seat, 1.15), v(0.0, yf), seat),
    );
    cv.fill(
        &rect(bx - h * 0.31, yf, bx + h * 0.31, yf + h * 0.04),
        Paint::solid(mul(seat, 0.7)),
    );
    for s in [-1.0, 1.0] {
        cv.fill(
            &capsule(
                v(bx + s * h * 0.28, yf + h * 0.04),
                v(bx + s * h * 0.28, by),
                leg * 1.3,
            ),
            cylinder(bx + s * h * 0.28 - leg, bx + s * h * 0.28 + leg, wood),
        );
    }
}

fn fruit(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
    let kind = rng.random_range(0..3u32);
    let col = match kind {
        0 => pick_jitter(
            rng,
            &[[0.8, 0.1, 0.1], [0.55, 0.8, 0.2], [0.9, 0.75, 0.2]],
            0.05,
        ),
        1 => jitter(rng, [0.95, 0.55, 0.1], 0.04),
        _ => jitter(rng, [0.75, 0.8, 0.25], 0.05),
    };
    let r = h * 0.42;
    let c = v(bx, by - r);
    let light = c - v(r, r) * 0.4;
    let shade = Paint::radial(light, r * 1.6, mul(col, 1.3), mul(col, 0.5));
    let mut stem_top = c.y - r;
    match kind {
        0 => {
            let body = Union(
                circle(c + v(-r * 0.2, 0.0), r * 0.85),
                circle(c + v(r * 0.2, 0.0), r * 0.85),
            );
            cv.fill(&body, shade);
            stem_top = c.y - r * 0.78;
        }
        1 => {
            cv.fill(&circle(c, r), shade);
            cv.fill(
                &circle(c - v(0.0, r * 0.85), r * 0.06),
                Paint::solid([0.35, 0.45, 0.15]),
            );
        }
        _ => {
            let top = c - v(0.0, r * 1.0);
            let body = Union(
                Union(circle(c + v(0.0, r * 0.1), r * 0.85), circle(top, r * 0.5)),
                polygon(&[
                    top - v(r * 0.48, 0.0),
                    top + v(r * 0.48, 0.0),
                    c + v(r * 0.82, 0.0),
                    c - v(r * 0.82, 0.0),
                ]),
            );
            cv.fill(&body, shade);
            stem_top = top.y - r * 0.48;
        }
    }
    if kind != 1 {
        let stem_end = v(bx + r * 0.08, stem_top - h * 0.14);
        cv.fill(
            &capsule(v(bx, stem_top + r * 0.1), stem_end, h * 0.018),
            Paint::solid([0.3, 0.2, 0.1]),
        );
        if chance(rng, 0.7) {
            let leaf = ellipse(
                stem_end + v(r * 0.25, r * 0.05),
                v(r * 0.28, r * 0.1),
                u(rng, -0.5, 0.1),
            );
            cv.fill(
                &leaf,
                Paint::linear(
                    stem_end,
                    [0.2, 0.5, 0.15],
                    stem_end + v(r * 0.5, 0.0),
                    [0.35, 0.65, 0.2],
                ),
            );
        }
    }
    cv.fill(
        &ellipse(light, v(r * 0.15, r * 0.1), -0.7),
        Paint::solid(WHITE).alpha(0.45).soft(r * 0.08),
    );
}

// ---------------------------------------------------------------------------------------------
// Bodies.

fn draw_body(rng: &mut Rng8) -> Canvas {
    let pose = rng.random_range(0..6u32);
    let side_view = matches!(pose, 1 | 5);
    let lean = u(rng, -4.0, 4.0) + if pose == 5 { 8.0 } else { 0.0 };
    // Skeleton in head-height units, hip at the origin, y down; +x is forward in side views.
    let up = -down_dir(-lean); // leaning towards +x for positive `lean`
    let perp = v(-up.y, up.x); // towards +x
    let neck = up * 2.9;
    let head = neck + up * 0.75;
    let (shoulder_w, hip_w) = if side_view { (0.25, 0.2) } else { (0.85, 0.42) };
    let shoulders = [
        neck - perp * shoulder_w - up * 0.3,
        neck + perp * shoulder_w - up * 0.3,
    ];
    let hips = [v(-hip_w, 0.1), v(hip_w, 0.1)];
    // Angles from straight down: [upper arm, forearm] and [thigh, shin] per side (0: left/far).
    let mut arms = [[0.0f32; 2]; 2];
    let mut legs = [[0.0f32; 2]; 2];
    match pose {
        0 => {
            for (i, s) in [-1.0f32, 1.0].into_iter().enumerate() {
                let a = s * u(rng, 6.0, 22.0);
                arms[i] = [a, a + s * u(rng, -10.0, 15.0)];
                let l = s * u(rng, 2.0, 9.0);
                legs[i] = [l, l - s * u(rng, 0.0, 4.0)];
            }
        }
        1 => {
            let swing = u(rng, 15.0, 30.0);
            arms[0] = [swing * 0.8, swing * 0.8 + u(rng, 20.0, 50.0)];
            arms[1] = [-swing * 0.8, -swing * 0.8 + u(rng, 10.0, 35.0)];
            legs[0] = [-swing * 0.8, -swing * 0.8 - u(rng, 15.0, 45.0)];
            legs[1] = [swing, swing * 0.2];
        }
        2 => {
            for (i, s) in [-1.0f32, 1.0].into_iter().enumerate() {
                let a = s * u(rng, 125.0, 170.0);
                arms[i] = [a, a + s * u(rng, -15.0, 20.0)];
                let l = s * u(rng, 3.0, 12.0);
                legs[i] = [l, l];
            }
        }
        3 => {
            let s = sign(rng);
            let (wave, rest) = if s < 0.0 { (0, 1) } else { (1, 0) };
            let a = s * u(rng, 95.0, 135.0);
            arms[wave] = [a, s * u(rng, 160.0, 190.0)];
            let b = -s * u(rng, 5.0, 15.0);
            arms[rest] = [b, b];
            for (i, s) in [-1.0f32, 1.0].into_iter().enumerate() {
                let l = s * u(rng, 2.0, 8.0);
                legs[i] = [l, l];
            }
        }
        4 => {
            for (i, s) in [-1.0f32, 1.0].into_iter().enumerate() {
                let a = s * u(rng, 95.0, 125.0);
                arms[i] = [a, a + s * u(rng, -10.0, 15.0)];
                let l = s * u(rng, 15.0, 28.0);
                legs[i] = [l, l - s * u(rng, 0.0, 6.0)];
            }
        }
        _ => {
            let front = u(rng, 30.0, 55.0);
            legs[1] = [front, front - u(rng, 45.0, 75.0)];
            let back = -u(rng, 20.0, 35.0);
            legs[0] = [back, back - u(rng, 45.0, 85.0)];
            arms[0] = [u(rng, 30.0, 50.0), u(rng, 110.0, 140.0)];
            arms[1] = [-u(rng, 30.0, 50.0), u(rng, 40.0, 80.0)];
        }
    }
    let arm_pts: Vec<[Vec2; 3]> = (0..2)
        .map(|i| {
            let e = shoulders[i] + down_dir(arms[i][0]) * 1.45;
            [shoulders[i], e, e + down_dir(arms[i][1]) * 1.25]
        })
        .collect();
    let leg_pts: Vec<[Vec2; 3]> = (0..2)
        .map(|i| {
            let k = hips[i] + down_dir(legs[i][0]) * 1.95;
            [hips[i], k, k + down_dir(legs[i][1]) * 1.9]
        })
        .collect();

    // Fit the figure into the image.
    let facing = sign(rng);
    let mut lo = head - Vec2::splat(0.55);
    let mut hi = head + Vec2::splat(0.55);
    for p in arm_pts.iter().chain(&leg_pts).flatten() {
        lo = lo.min(*p - Vec2::splat(0.4));
        hi = hi.max(*p + Vec2::splat(0.45));
    }
    let size = hi - lo;
    let scale = (NF * u(rng, 0.6, 0.86) / size.y).min(NF * 0.9 / size.x);
    let centre = v(NF / 2.0 + u(rng, -12.0, 12.0), NF / 2.0 + u(rng, -6.0, 6.0));
    let mid = (lo + hi) / 2.0;
    let to_img = |p: Vec2| centre + v((p.x - mid.x) * facing, p.y - mid.y) * scale;
    let feet_y = to_img(hi).y;

    // Background.
    let mut cv = match rng.random_range(0..3u32) {
        0 => backdrop(rng),
        1 => {
            let wall = hsv_in(rng, (0.0, 1.0), (0.05, 0.35), (0.6, 0.92));
            let floor = pick_jitter(
                rng,
                &[[0.55, 0.4, 0.25], [0.5, 0.5, 0.52], [0.7, 0.62, 0.5]],
                0.05,
            );
            let mut cv = Canvas::filled(wall);
            let fy = feet_y - NF * u(rng, 0.06, 0.2);
            cv.fill(
                &rect(-2.0, fy, NF + 2.0, NF + 2.0),
                Paint::linear(v(0.0, fy), mul(floor, 0.85), v(0.0, NF), floor),
            );
            cv.fill(
                &rect(-2.0, fy - 3.0, NF + 2.0, fy),
                Paint::solid(mul(wall, 0.8)),
            );
            cv
        }
        _ => {
            let mut cv = Canvas::filled(WHITE);
            let horizon = feet_y - NF * u(rng, 0.1, 0.35);
            sky(rng, &mut cv, horizon);
            ground(rng, &mut cv, horizon);
            cv
        }
    };
    let (lo_img, hi_img) = (to_img(lo), to_img(hi));
    let width = (hi_img.x - lo_img.x).abs();
    cv.fill(
        &ellipse(
            v((lo_img.x + hi_img.x) / 2.0, feet_y - 2.0),
            v(width * 0.45, NF * 0.025),
            0.0,
        ),
        Paint::solid(BLACK).alpha(0.3).soft(4.0),
    );

    // Colours.
    let silhouette = chance(rng, 0.15);
    let skin = pick_jitter(rng, &SKIN, 0.03);
    let hair = pick(rng, &HAIR);
    let shirt = hsv_in(rng, (0.0, 1.0), (0.2, 0.85), (0.3, 0.95));
    let pants = pick_jitter(
        rng,
        &[
            [0.2, 0.28, 0.5],
            [0.12, 0.12, 0.14],
            [0.65, 0.55, 0.4],
            [0.35, 0.35, 0.38],
            [0.45, 0.3, 0.2],
        ],
        0.04,
    );
    let shoes = pick_jitter(
        rng,
        &[[0.1, 0.08, 0.07], [0.9, 0.9, 0.9], [0.4, 0.25, 0.15]],
        0.03,
    );
    let long_sleeves = chance(rng, 0.5);
    let skirt = !side_view && chance(rng, 0.2);
    let ink = jitter(rng, [0.12, 0.12, 0.14], 0.05);
    let colour = |c: Rgb, depth: f32| if silhouette { ink } else { mul(c, depth) };
    let px = |l: f32| l * scale;

    let draw_leg = |cv: &mut Canvas, pts: &[Vec2; 3], depth: f32| {
        let [a, b, c] = pts.map(to_img);
        let foot = c + v(
            facing
                * if side_view {
                    0.65
                } else {
                    0.3 * (pts[2].x - pts[0].x).signum()
                },
            0.05,
        ) * scale;
        cv.fill(
            &capsule(c, foot, px(0.17)),
            Paint::solid(colour(shoes, depth)),
        );
        cv.fill(
            &capsule(b, c, px(0.24)),
            Paint::solid(colour(pants, depth * 0.95)),
        );
        cv.fill(&capsule(a, b, px(0.3)), Paint::solid(colour(pants, depth)));
    };
    let draw_arm = |cv: &mut Canvas, pts: &[Vec2; 3], depth: f32| {
        let [a, b, c] = pts.map(to_img);
        let sleeve = colour(shirt, depth);
        let fore = if long_sleeves {
            sleeve
        } else {
            colour(skin, depth)
        };
        cv.fill(&capsule(b, c, px(0.17)), Paint::solid(fore));
        cv.fill(
            &circle(c + (c - b).normalize_or_zero() * px(0.12), px(0.2)),
            Paint::solid(colour(skin, depth)),
        );
        cv.fill(&capsule(a, b, px(0.21)), Paint::solid(sleeve));
    };

    if side_view {
        draw_arm(&mut cv, &arm_pts[0], 0.75);
        draw_leg(&mut cv, &leg_pts[0], 0.75);
    } else {
        draw_leg(&mut cv, &leg_pts[0], 1.0);
        draw_leg(&mut cv, &leg_pts[1], 1.0);
    }
    // Torso and pelvis.
    let torso_pts = [
        shoulders[0] - perp * 0.12,
        shoulders[1] + perp * 0.12,
        perp * (hip_w + 0.22) + up * 0.15,
        -perp * (hip_w + 0.22) + up * 0.15,
    ]
    .map(to_img);
    cv.fill(
        &ellipse(
            to_img(v(0.0, 0.15)),
            v(px(hip_w + 0.3), px(0.4)),
            lean.to_radians() * facing,
        ),
        Paint::solid(colour(pants, 1.0)),
    );
    if skirt {
        let s = [
            -perp * (hip_w + 0.2) + up * 0.3,
            perp * (hip_w + 0.2) + up * 0.3,
            perp * (hip_w + 0.75) - up * 1.4,
            -perp * (hip_w + 0.75) - up * 1.4,
        ]
        .map(to_img);
        cv.fill(&polygon(&s), Paint::solid(colour(pants, 1.0)));
    }
    let torso = polygon(&torso_pts);
    cv.fill(
        &torso,
        Paint::linear(
            to_img(neck),
            colour(shirt, 1.1),
            to_img(Vec2::ZERO),
            colour(shirt, 0.85),
        ),
    );
    cv.fill(
        &capsule(to_img(shoulders[0]), to_img(shoulders[1]), px(0.25)),
        Paint::solid(colour(shirt, 1.05)),
    );
    cv.fill(
        &capsule(to_img(neck), to_img(neck + up * 0.4), px(0.16)),
        Paint::solid(colour(skin, 0.85)),
    );
    // Head and hair.
    let hc = to_img(head);
    let hr = px(0.5);
    cv.fill(
        &circle(hc, hr),
        Paint::radial(
            hc - v(hr, hr) * 0.3,
            hr * 1.5,
            colour(skin, 1.08),
            colour(skin, 0.85),
        ),
    );
    if !silhouette {
        let cap = Diff(
            circle(hc - v(0.0, hr * 0.08), hr * 1.06),
            ellipse(
                hc + v(facing * hr * if side_view { 0.5 } else { 0.0 }, hr * 0.45),
                v(hr * 0.95, hr * 0.9),
                0.0,
            ),
        );
        cv.fill(&cap, Paint::solid(mul(hair, 0.9)));
        if hr > 5.0 {
            let eyes: &[f32] = if side_view { &[0.55] } else { &[-0.35, 0.35] };
            for &ex in eyes {
                cv.fill(
                    &circle(hc + v(facing * ex * hr, hr * 0.05), hr * 0.09),
                    Paint::solid([0.1, 0.08, 0.06]),
                );
            }
        }
    }
    if side_view {
        draw_leg(&mut cv, &leg_pts[1], 1.0);
        draw_arm(&mut cv, &arm_pts[1], 1.0);
    } else {
        draw_arm(&mut cv, &arm_pts[0], 1.0);
        draw_arm(&mut cv, &arm_pts[1], 1.0);
    }
    cv
}

// ---------------------------------------------------------------------------------------------
// Text.

/// Which half of a ring a stroke keeps.
#[derive(Clone, Copy)]
enum Half {
    Top,
    Bottom,
    Left,
    Right,
}

/// One stroke of a glyph, in glyph-box units: x across the glyph width, y from the ascender
/// (0) through the x-height (0.45) to the baseline (1) and the descender (1.35).
#[derive(Clone, Copy)]
enum Stroke {
    /// A straight stroke from `(x0, y0)` to `(x1, y1)`.
    Line(f32, f32, f32, f32),
    /// An elliptical ring centred at `(x, y)` with radii `(rx, ry)`.
    Ring(f32, f32, f32, f32),
    /// Half of such a ring.
    Arc(f32, f32, f32, f32, Half),
}

/// A pseudo-letter: its advance width relative to the glyph height, and its strokes.
struct Glyph {
    width: f32,
    strokes: &'static [Stroke],
}

use Half::{Bottom, Left, Right, Top};
use Stroke::{Arc, Line, Ring as O};

/// Lower-case pseudo-letters, loosely Latin.
static LOWER: [Glyph; 24] = [
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
static UPPER: [Glyph; 9] = [
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
struct Font {
    size: f32,
    stroke: f32,
    ink: Rgb,
}

impl Font {
    /// Horizontal advance of `glyph`, letter spacing included.
    fn advance(&self, glyph: &Glyph) -> f32 {
        (glyph.width * 0.85 + 0.2) * self.size
    }

    /// Draws `glyph` with its box's top left at `at`.
    fn draw(&self, cv: &mut Canvas, glyph: &Glyph, at: Vec2) {
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
fn word(rng: &mut Rng8, capital: bool, min_len: u32) -> Vec<&'static Glyph> {
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

fn draw_text(rng: &mut Rng8) -> Canvas {
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

// ---------------------------------------------------------------------------------------------
// Textures.

fn draw_texture(rng: &mut Rng8) -> Canvas {
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
fn power_law_radius(rng: &mut Rng8, lo: f32, hi: f32) -> f32 {
    let t = rng.random::<f32>();
    let (a, b) = (lo.powi(-2), hi.powi(-2));
    (a - t * (a - b)).powf(-0.5)
}

/// The dead-leaves model: discs and ellipses with power-law sizes, later ones occluding earlier.
fn dead_leaves(rng: &mut Rng8) -> Canvas {
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
fn pebbles(rng: &mut Rng8) -> Canvas {
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
fn grass(rng: &mut Rng8) -> Canvas {
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
fn bark(rng: &mut Rng8) -> Canvas {
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
fn marble(rng: &mut Rng8) -> Canvas {
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

// ---------------------------------------------------------------------------------------------
// Gratings.

fn draw_grating(rng: &mut Rng8) -> Canvas {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rec. 601 luma of every pixel.
    fn luma(img: &Rgb8) -> Vec<f32> {
        img.pixels
            .chunks_exact(3)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect()
    }

    /// Gradient magnitude summed over cardinal (within 22.5° of horizontal or vertical) and
    /// oblique directions.
    fn cardinal_oblique(img: &Rgb8) -> (f64, f64) {
        let l = luma(img);
        let (mut card, mut obl) = (0.0, 0.0);
        for y in 1..N - 1 {
            for x in 1..N - 1 {
                let gx = l[y * N + x + 1] - l[y * N + x - 1];
                let gy = l[(y + 1) * N + x] - l[(y - 1) * N + x];
                let mag = f64::from(gx.hypot(gy));
                if mag < 1.0 {
                    continue;
                }
                let a = gy.atan2(gx).rem_euclid(PI / 2.0);
                if !(PI / 8.0..3.0 * PI / 8.0).contains(&a) {
                    card += mag;
                } else {
                    obl += mag;
                }
            }
        }
        (card, obl)
    }

    /// Fraction of pixels with a luma gradient above 20 in each cell of a 4×4 grid.
    fn edge_density(img: &Rgb8) -> [f32; 16] {
        let l = luma(img);
        let mut counts = [0u32; 16];
        let mut totals = [0u32; 16];
        for y in 1..N - 1 {
            for x in 1..N - 1 {
                let gx = l[y * N + x + 1] - l[y * N + x - 1];
                let gy = l[(y + 1) * N + x] - l[(y - 1) * N + x];
                let cell = (y * 4 / N) * 4 + x * 4 / N;
                totals[cell] += 1;
                if gx.hypot(gy) > 20.0 {
                    counts[cell] += 1;
                }
            }
        }
        std::array::from_fn(|i| counts[i] as f32 / totals[i] as f32)
    }

    /// Fraction of the central 30 % box whose colour is skin-like (r > g > b, warm, not gray).
    fn central_skin(img: &Rgb8) -> f32 {
        let (lo, hi) = (N * 35 / 100, N * 65 / 100);
        let mut skin = 0;
        for y in lo..hi {
            for x in lo..hi {
                let i = (y * N + x) * 3;
                let [r, g, b] =
                    [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]].map(i32::from);
                if r > 60 && r > g && g > b && (25..=150).contains(&(r - b)) && g - b >= 8 {
                    skin += 1;
                }
            }
        }
        skin as f32 / ((hi - lo) * (hi - lo)) as f32
    }

    fn samples(category: Category, count: u64) -> Vec<Rgb8> {
        (0..count).map(|i| generate(42, i, category)).collect()
    }

    #[test]
    fn same_seed_and_index_give_identical_bytes() {
        for category in Category::ALL {
            assert_eq!(
                generate(7, 3, category),
                generate(7, 3, category),
                "{category}"
            );
        }
        assert_eq!(stimulus(11, 5), stimulus(11, 5));
    }

    #[test]
    fn different_indices_seeds_and_categories_give_different_images() {
        for category in Category::ALL {
            assert_ne!(
                generate(7, 3, category),
                generate(7, 4, category),
                "{category}"
            );
            assert_ne!(
                generate(7, 3, category),
                generate(8, 3, category),
                "{category}"
            );
        }
        assert_ne!(
            generate(7, 3, Category::Face),
            generate(7, 3, Category::Body)
        );
    }

    #[test]
    fn every_image_is_227_by_227_rgb() {
        for index in 0..14 {
            let (_, img) = stimulus(3, index);
            assert_eq!((img.width, img.height), (STIMULUS_SIZE, STIMULUS_SIZE));
            assert_eq!(img.pixels.len(), 227 * 227 * 3);
        }
    }

    #[test]
    fn category_names_round_trip() {
        for category in Category::ALL {
            assert_eq!(Category::from_name(category.name()), Some(category));
        }
        assert_eq!(Category::from_name("faces"), None);
        assert_eq!(
            Category::ALL.map(Category::name),
            [
                "face", "place", "object", "body", "text", "texture", "grating"
            ]
        );
    }

    #[test]
    fn categories_are_balanced_over_700_indices() {
        for (seed, start) in [(0u64, 0u64), (1, 3), (99, 1000)] {
            let mut counts = [0u32; 7];
            for index in start..start + 700 {
                counts[category_of(seed, index) as usize] += 1;
            }
            assert!(counts.iter().all(|c| (80..=120).contains(c)), "{counts:?}");
        }
        let order = |seed| (0..70).map(|i| category_of(seed, i)).collect::<Vec<_>>();
        assert_eq!(order(5), order(5));
        assert_ne!(order(5), order(6));
        assert_ne!(
            order(5)[..7],
            order(5)[7..14],
            "blocks are shuffled independently"
        );
    }

    #[test]
    fn places_have_more_cardinal_than_oblique_edges() {
        let ratio = |category| {
            let (c, o) = samples(category, 20)
                .iter()
                .map(cardinal_oblique)
                .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
            c / o
        };
        let place = ratio(Category::Place);
        let texture = ratio(Category::Texture);
        assert!(place > 1.6, "place cardinal/oblique {place:.2}");
        assert!(
            place > texture * 1.3,
            "place {place:.2} vs texture {texture:.2}"
        );
    }

    #[test]
    fn text_is_light_paper_with_many_dark_pixels() {
        for img in samples(Category::Text, 20) {
            let l = luma(&img);
            let mean = l.iter().sum::<f32>() / l.len() as f32;
            let dark = l.iter().filter(|&&x| x < 100.0).count() as f32 / l.len() as f32;
            assert!(mean > 170.0, "mean luma {mean}");
            assert!((0.03..0.4).contains(&dark), "dark fraction {dark}");
        }
    }

    #[test]
    fn faces_have_more_central_skin_than_places() {
        let mean = |category| samples(category, 20).iter().map(central_skin).sum::<f32>() / 20.0;
        let face = mean(Category::Face);
        let place = mean(Category::Place);
        assert!(face > 0.4, "face skin {face:.2}");
        assert!(face > 2.0 * place, "face {face:.2} vs place {place:.2}");
    }

    #[test]
    fn textures_have_dense_edges_everywhere() {
        let mean_min = |category| {
            samples(category, 20)
                .iter()
                .map(|img| edge_density(img).into_iter().fold(f32::INFINITY, f32::min))
                .sum::<f32>()
                / 20.0
        };
        let texture = mean_min(Category::Texture);
        let object = mean_min(Category::Object);
        assert!(texture > 0.1, "texture min cell edge density {texture:.3}");
        assert!(
            texture > 3.0 * object,
            "texture {texture:.3} vs object {object:.3}"
        );
    }

    #[test]
    fn zero_degree_grating_varies_along_x_only() {
        let img = grating(0.0, 8.0, 0.3, 1.0);
        assert_eq!((img.width, img.height), (STIMULUS_SIZE, STIMULUS_SIZE));
        let row: &[u8] = &img.pixels[..N * 3];
        for y in 1..N {
            assert_eq!(&img.pixels[y * N * 3..(y + 1) * N * 3], row, "row {y}");
        }
        let xs: Vec<u8> = row.chunks_exact(3).map(|p| p[0]).collect();
        assert!(xs.iter().max().unwrap() - xs.iter().min().unwrap() > 200);
        assert!(row.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        let mean = xs.iter().map(|&x| f32::from(x)).sum::<f32>() / NF;
        assert!((mean - 128.0).abs() < 3.0, "mean {mean}");
        // 90° turns the bars horizontal: constant along x.
        let img = grating(90.0, 8.0, 0.3, 1.0);
        assert!(img.pixels[..N * 3].iter().all(|&p| p == img.pixels[0]));
        assert!(grating(0.0, 8.0, 0.3, 0.0).pixels.iter().all(|&p| p == 128));
    }

    #[test]
    fn uniform_is_constant() {
        let img = uniform([10, 200, 30]);
        assert_eq!((img.width, img.height), (STIMULUS_SIZE, STIMULUS_SIZE));
        assert_eq!(img.pixels.len(), N * N * 3);
        assert!(img.pixels.chunks_exact(3).all(|p| p == [10, 200, 30]));
    }

    /// Writes a 7×4 grid of samples (one row per category, indices 0..4 of seed 2024) to
    /// `/tmp/stimuli-preview.png`. `NRF_PREVIEW_SEED` changes the seed; `NRF_PREVIEW_CATEGORY`
    /// (a category name) fills all rows with that category instead.
    #[test]
    #[ignore = "writes a preview image for people to look at"]
    fn write_previews() {
        let seed = std::env::var("NRF_PREVIEW_SEED").map_or(2024, |s| s.parse().unwrap());
        let only = std::env::var("NRF_PREVIEW_CATEGORY")
            .ok()
            .map(|name| Category::from_name(&name).unwrap());
        let (rows, cols) = (Category::ALL.len(), 4);
        let (w, h) = (N * cols, N * rows);
        let mut grid = vec![0u8; w * h * 3];
        let start = std::time::Instant::now();
        for row in 0..rows {
            for col in 0..cols {
                let (category, index) = match only {
                    Some(category) => (category, (row * cols + col) as u64),
                    None => (Category::ALL[row], col as u64),
                };
                let img = generate(seed, index, category);
                for y in 0..N {
                    let dst = ((row * N + y) * w + col * N) * 3;
                    grid[dst..dst + N * 3].copy_from_slice(&img.pixels[y * N * 3..(y + 1) * N * 3]);
                }
            }
        }
        let per_image = start.elapsed().as_secs_f64() * 1000.0 / (rows * cols) as f64;
        eprintln!("{per_image:.2} ms per image (this build)");
        let image = image::RgbImage::from_raw(w as u32, h as u32, grid).unwrap();
        image.save("/tmp/stimuli-preview.png").unwrap();
    }
}
