//! The frontal townscape of the Places category: houses, blocks of flats and trees on a street,
//! under the sky.

use super::NF;
use super::canvas::*;
use super::colour::*;
use super::place::*;
use super::random::*;
use super::shapes::*;

/// A frontal townscape: houses and blocks of flats on a street, under the sky.
pub(super) fn town(rng: &mut Rng8) -> Canvas {
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
pub(super) fn house(rng: &mut Rng8, cv: &mut Canvas, x: f32, base: f32, w: f32) {
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

/// A block of flats at `x..x + w` standing on `base`, with a grid of windows.
pub(super) fn block(rng: &mut Rng8, cv: &mut Canvas, x: f32, base: f32, w: f32) {
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
pub(super) fn tree(rng: &mut Rng8, cv: &mut Canvas, x: f32, base: f32, size: f32) {
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
