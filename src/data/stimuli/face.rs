//! Faces: a cartoon portrait seen roughly from the front.

use rand::Rng;

use super::NF;
use super::canvas::*;
use super::colour::*;
use super::random::*;
use super::shapes::*;

pub(super) fn draw_face(rng: &mut Rng8) -> Canvas {
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
