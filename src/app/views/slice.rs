//! A slice view: the slice queried at its pixel size, drawn from its texture; a click moves the
//! crosshair, the pointer reads the position and value.

use eframe::egui;
use glam::DVec3;

use crate::app::state::AppState;

/// One slice view; a click moves the crosshair. Returns the hovered point and value.
pub(in crate::app) fn show(
    ui: &mut egui::Ui,
    state: &mut AppState,
    rect: egui::Rect,
    index: usize,
) -> Option<(DVec3, Option<f32>)> {
    let ppp = ui.ctx().pixels_per_point();
    let size = (
        (rect.width() * ppp).round().max(1.0) as u32,
        (rect.height() * ppp).round().max(1.0) as u32,
    );
    if state.slice_sizes[index] != size {
        state.slice_sizes[index] = size;
        state.slices_stale = true;
    }
    let response = ui.interact(
        rect,
        ui.scope_id().with(("slice", index)),
        egui::Sense::click(),
    );
    let view = state.slices.get(index)?;
    ui.painter().image(
        view.texture.id(),
        rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        egui::Color32::WHITE,
    );
    if let Some(pending) = state.pending_prediction() {
        super::caption(ui, rect, &pending);
    }
    let pointer = response.hover_pos()?;
    let (w, h) = view.slice.layout.size();
    let x = ((pointer.x - rect.min.x) / rect.width() * w as f32).clamp(0.0, w as f32 - 1.0) as u32;
    let y = ((pointer.y - rect.min.y) / rect.height() * h as f32).clamp(0.0, h as f32 - 1.0) as u32;
    let p = view.slice.layout.mni_at(x, y);
    let k = view.slice.layout.plane_index(x, y);
    let value = view
        .slice
        .inside
        .get(k)
        .copied()
        .unwrap_or(false)
        .then(|| view.slice.values[k]);
    if response.clicked() {
        // Keep the clicked slice's own position along its normal.
        let (_, _, normal) = view.slice.orientation.axes();
        state.at = p - normal * normal.dot(p) + normal * normal.dot(state.at);
        state.slices_stale = true;
    }
    Some((p, value))
}
