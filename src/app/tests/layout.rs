//! Layouts, keyboard shortcuts, clicks in the 3D view, and the layout snapshots.

use super::*;

#[test]
fn layouts_place_the_views_they_show_without_overlap() {
    use crate::app::layout::Layout;
    let full = egui::Rect::from_min_size(egui::pos2(10.0, 20.0), egui::vec2(1000.0, 800.0));
    for (layout, name) in Layout::ALL {
        let rects: Vec<egui::Rect> = layout.rects(full).into_iter().flatten().collect();
        let expected = if matches!(layout, Layout::Single(_)) {
            1
        } else {
            4
        };
        assert_eq!(rects.len(), expected, "{name}");
        for (i, a) in rects.iter().enumerate() {
            assert!(full.contains_rect(*a), "{name}: {a:?} outside {full:?}");
            for b in &rects[i + 1..] {
                assert!(!a.intersects(b.shrink(0.5)), "{name}: {a:?} overlaps {b:?}");
            }
        }
        // The views and the strips between them cover the area (the panel has no fill), and
        // the strips lie between the views, not over them.
        let gaps = layout.gaps(full);
        for gap in &gaps {
            assert!(
                rects
                    .iter()
                    .all(|r| !r.shrink(0.5).intersects(gap.shrink(0.5)))
            );
        }
        for k in 0..=40 {
            for m in 0..=40 {
                let p = full.min + full.size() * egui::vec2(k as f32 / 40.0, m as f32 / 40.0);
                assert!(
                    rects
                        .iter()
                        .chain(&gaps)
                        .any(|r| r.expand(0.01).contains(p)),
                    "{name}: {p:?} neither in a view nor between views"
                );
            }
        }
    }
    assert_eq!(Layout::Single(3).rects(full)[3], Some(full));
}

#[test]
fn keyboard_shortcuts_switch_layout_mode_and_help() {
    use crate::app::layout::Layout;
    use crate::render::volume3d::Mode3d;
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    harness.key_press(egui::Key::L);
    harness.step();
    assert_eq!(app(&harness).state.layout, Layout::Row);
    harness.key_press(egui::Key::M);
    harness.step();
    assert_eq!(app(&harness).state.mode, Mode3d::Mip);
    harness.key_press(egui::Key::A);
    harness.step();
    assert!(!app(&harness).state.anatomy_on);
    harness.key_press(egui::Key::F1);
    harness.step();
    harness.step();
    assert!(app(&harness).help_open);
    // The help window lists the shortcuts.
    harness.get_by_label("orbit the 3D view");
}

#[test]
fn a_click_on_the_3d_view_moves_the_crosshair_to_the_surface() {
    let mut harness = predicting();
    let before = app(&harness).state.at;
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).state.layout.rects(area)[3].expect("3D view")
    };
    let pos = rect.lerp_inside(egui::vec2(0.5, 0.45));
    for pressed in [true, false] {
        harness.event(egui::Event::PointerMoved(pos));
        harness.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        harness.step();
    }
    let after = app(&harness).state.at;
    assert_ne!(after, before, "the crosshair moved");
    // It sits on the brain's surface: inside the template's brain, near its edge.
    let brain = app(&harness)
        .state
        .templates
        .as_ref()
        .expect("templates")
        .brain
        .clone();
    let v = brain
        .grid
        .world_to_voxel()
        .expect("affine")
        .transform_point3(after);
    assert!(
        brain
            .sample_voxel(v)
            .is_some_and(|g| g >= crate::render::volume3d::SURFACE_GREY)
    );
    assert!(app(&harness).state.slices_stale || app(&harness).state.slices_job.is_some());
}

#[test]
fn the_main_layouts_match_their_snapshots() {
    // Tolerance (kittest.toml): a pixel fails when its colour differs by more than kittest's
    // default distance, and up to 0.1 % of the window's pixels may fail (antialiasing and the
    // last bit of parallel sums).
    let test = "the_main_layouts_match_their_snapshots";
    let Some(render_state) = software_render_state(test) else {
        return;
    };
    let mut harness = build_harness(
        ViewOptions {
            subject: 1,
            ..Default::default()
        },
        Some(render_state),
    );
    step_until(&mut harness, "the example's prediction", prediction_shown);
    settle(&mut harness);
    harness.snapshot("viewer_2x2");
    app_mut(&mut harness).state.layout = crate::app::layout::Layout::Row;
    settle(&mut harness);
    harness.snapshot("viewer_row");
}
