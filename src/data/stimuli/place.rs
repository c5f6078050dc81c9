//! Places: streets in one-point perspective, frontal townscapes and rooms.

use glam::Vec2;
use rand::Rng;

use super::canvas::*;
use super::colour::*;
use super::random::*;
use super::shapes::*;
use super::town::town;
use super::{N, NF};

pub(super) fn draw_place(rng: &mut Rng8) -> Canvas {
    match rng.random_range(0..3u32) {
        0 => street(rng),
        1 => town(rng),
        _ => room(rng),
    }
}

/// A pinhole camera looking along +z with the vanishing point at `c` (y is up in the world).
pub(super) struct Camera {
    pub(super) c: Vec2,
    pub(super) f: f32,
    pub(super) eye: f32,
    pub(super) x: f32,
}

impl Camera {
    pub(super) fn p(&self, x: f32, y: f32, z: f32) -> Vec2 {
        v(
            self.c.x + self.f * (x - self.x) / z,
            self.c.y - self.f * (y - self.eye) / z,
        )
    }

    pub(super) fn quad(&self, pts: [[f32; 3]; 4]) -> Polygon {
        polygon(&pts.map(|[x, y, z]| self.p(x, y, z)))
    }
}

/// Sky from the top of the image down to `horizon`, sometimes with clouds.
pub(super) fn sky(rng: &mut Rng8, cv: &mut Canvas, horizon: f32) {
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
pub(super) fn ground(rng: &mut Rng8, cv: &mut Canvas, horizon: f32) {
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
pub(super) fn facade_colour(rng: &mut Rng8) -> Rgb {
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
pub(super) fn glass_colours(rng: &mut Rng8) -> (Rgb, Rgb) {
    match rng.random_range(0..3u32) {
        0 => ([0.55, 0.7, 0.85], [0.25, 0.35, 0.5]),
        1 => ([0.25, 0.27, 0.3], [0.1, 0.1, 0.12]),
        _ => ([0.95, 0.85, 0.5], [0.8, 0.6, 0.3]),
    }
}

/// A street in one-point perspective lined by buildings.
pub(super) fn street(rng: &mut Rng8) -> Canvas {
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

/// A framed window with a cross bar at `x, y` (top left), `w × h` pixels.
pub(super) fn window(cv: &mut Canvas, x: f32, y: f32, w: f32, h: f32, g0: Rgb, g1: Rgb) {
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

/// A room in one-point perspective: back wall, side walls, floor, ceiling, window, door,
/// picture and furniture.
pub(super) fn room(rng: &mut Rng8) -> Canvas {
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
