//! The 3D view: drag to orbit, right-drag or Shift+drag to pan, scroll to zoom, click to move
//! the crosshair to the surface under the pointer; the frame is ray-marched by
//! [`super::volume_paint`].

use std::sync::Arc;

use eframe::egui;

use crate::app::state::AppState;

/// The 3D view: drag to orbit, scroll to zoom.
pub(in crate::app) fn show(ui: &mut egui::Ui, state: &mut AppState, rect: egui::Rect) {
    let response = ui.interact(
        rect,
        ui.scope_id().with("3d"),
        egui::Sense::click_and_drag(),
    );
    if response.clicked()
        && let (Some(pointer), Some(templates)) =
            (response.interact_pointer_pos(), &state.templates)
    {
        // A click moves the crosshair to the first anatomy surface under the pointer.
        let local = pointer - rect.min;
        let ndc = glam::Vec2::new(
            local.x / rect.width() * 2.0 - 1.0,
            1.0 - local.y / rect.height() * 2.0,
        );
        let aspect = rect.width() / rect.height().max(1.0);
        if let Some(hit) = state.camera.pick_surface(aspect, ndc, &templates.brain) {
            state.at = hit.as_dvec3();
            state.slices_stale = true;
        }
    }
    let panning = response.dragged_by(egui::PointerButton::Secondary)
        || response.dragged_by(egui::PointerButton::Middle)
        || (response.dragged_by(egui::PointerButton::Primary) && ui.input(|i| i.modifiers.shift));
    if panning {
        let delta = response.drag_delta();
        state
            .camera
            .pan(delta.x, delta.y, (rect.width(), rect.height()));
    } else if response.dragged() {
        let delta = response.drag_delta();
        state.camera.azimuth_deg -= delta.x * 0.4;
        state.camera.elevation_deg =
            (state.camera.elevation_deg + delta.y * 0.4).clamp(-89.0, 89.0);
    }
    if response.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            state.camera.distance_mm =
                (state.camera.distance_mm * (1.0 - scroll * 0.002)).clamp(150.0, 1200.0);
        }
    }
    let ppp = ui.ctx().pixels_per_point();
    let frame = super::volume_paint::View3dFrame {
        options: state.frame_options(),
        style: state.style(),
        anatomy: state
            .templates
            .as_ref()
            .map(|t| (state.anatomy_version, Arc::clone(&t.brain))),
        overlay: state.shown_overlay(),
        size_px: (
            (rect.width() * ppp).round() as u32,
            (rect.height() * ppp).round() as u32,
        ),
        interactive: response.dragged(),
    };
    ui.painter()
        .add(eframe::egui_wgpu::Callback::new_paint_callback(rect, frame));
    if let Some(pending) = state.pending_prediction() {
        super::caption(ui, rect, &pending);
    }
    if state.templates.is_none() {
        ui.painter().text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "preparing the template…",
            egui::FontId::proportional(16.0),
            egui::Color32::GRAY,
        );
    }
}
