//! Bodies: a whole clothed human figure (or silhouette) in one of several poses.

use glam::Vec2;
use rand::Rng;

use super::NF;
use super::canvas::*;
use super::colour::*;
use super::place::{ground, sky};
use super::random::*;
use super::shapes::*;

pub(super) fn draw_body(rng: &mut Rng8) -> Canvas {
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
