//! Objects: one shaded mug, bottle, ball, lamp, chair or fruit on a table or backdrop.

use std::f32::consts::TAU;

use rand::Rng;

use super::NF;
use super::canvas::*;
use super::colour::*;
use super::random::*;
use super::shapes::*;

pub(super) fn draw_object(rng: &mut Rng8) -> Canvas {
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
pub(super) fn cylinder(x0: f32, x1: f32, c: Rgb) -> Paint {
    Paint::linear(
        v(x0 + (x1 - x0) * 0.25, 0.0),
        mul(c, 1.2),
        v(x1, 0.0),
        mul(c, 0.6),
    )
}

pub(super) fn mug(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
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

pub(super) fn bottle(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
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

pub(super) fn ball(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
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

pub(super) fn lamp(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
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

pub(super) fn chair(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
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

pub(super) fn fruit(rng: &mut Rng8, cv: &mut Canvas, bx: f32, by: f32, h: f32) {
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
