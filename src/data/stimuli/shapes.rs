//! Shapes as signed distance functions (negative inside): ellipses, rounded rectangles,
//! capsules, convex polygons, rings, half planes, and their intersections, differences and unions.

use glam::Vec2;

pub(super) fn v(x: f32, y: f32) -> Vec2 {
    Vec2::new(x, y)
}

/// `p` rotated by the angle whose cosine and sine are `cs`, `sn`.
pub(super) fn rotate(p: Vec2, cs: f32, sn: f32) -> Vec2 {
    v(cs * p.x - sn * p.y, sn * p.x + cs * p.y)
}

/// Unit vector at `deg` degrees from straight down (+y), positive towards +x.
pub(super) fn down_dir(deg: f32) -> Vec2 {
    let (s, c) = deg.to_radians().sin_cos();
    v(s, c)
}

/// A region of the plane: negative distance inside, positive outside.
pub(super) trait Shape {
    /// Signed distance (in pixels, approximate away from the boundary) from `p` to the edge.
    fn sdf(&self, p: Vec2) -> f32;
    /// A box holding every point with `sdf ≤ 0`.
    fn bounds(&self) -> (Vec2, Vec2);
}

/// A rotated ellipse.
#[derive(Clone, Copy)]
pub(super) struct Ellipse {
    pub(super) c: Vec2,
    pub(super) r: Vec2,
    /// `1 / r` and `1 / r²`, so that distances need no divisions.
    pub(super) inv: Vec2,
    pub(super) inv2: Vec2,
    pub(super) cs: f32,
    pub(super) sn: f32,
}

pub(super) fn ellipse(c: Vec2, r: Vec2, angle: f32) -> Ellipse {
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

pub(super) fn circle(c: Vec2, r: f32) -> Ellipse {
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
pub(super) struct RRect {
    pub(super) c: Vec2,
    pub(super) half: Vec2,
    pub(super) radius: f32,
    pub(super) cs: f32,
    pub(super) sn: f32,
}

pub(super) fn rrect(c: Vec2, half: Vec2, radius: f32, angle: f32) -> RRect {
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
pub(super) fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> RRect {
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
pub(super) struct Capsule {
    pub(super) a: Vec2,
    pub(super) b: Vec2,
    pub(super) r: f32,
}

pub(super) fn capsule(a: Vec2, b: Vec2, r: f32) -> Capsule {
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
pub(super) struct Polygon {
    /// A point on each edge and the edge's outward unit normal.
    pub(super) edges: Vec<(Vec2, Vec2)>,
    pub(super) lo: Vec2,
    pub(super) hi: Vec2,
}

pub(super) fn polygon(pts: &[Vec2]) -> Polygon {
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
pub(super) struct Ring {
    pub(super) e: Ellipse,
    pub(super) half: f32,
}

pub(super) fn ring(e: Ellipse, thickness: f32) -> Ring {
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
pub(super) struct HalfPlane {
    pub(super) p: Vec2,
    pub(super) n: Vec2,
}

pub(super) fn half_plane(p: Vec2, outward: Vec2) -> HalfPlane {
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
pub(super) struct Inter<A, B>(pub(super) A, pub(super) B);

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
pub(super) struct Diff<A, B>(pub(super) A, pub(super) B);

impl<A: Shape, B: Shape> Shape for Diff<A, B> {
    fn sdf(&self, p: Vec2) -> f32 {
        self.0.sdf(p).max(-self.1.sdf(p))
    }

    fn bounds(&self) -> (Vec2, Vec2) {
        self.0.bounds()
    }
}

/// Points inside either shape.
pub(super) struct Union<A, B>(pub(super) A, pub(super) B);

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
