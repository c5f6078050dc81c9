//! The central views, one module each: the slices (`slice`) and the ray-marched 3D view
//! (`view3d`, drawn by `volume_paint` through an egui-wgpu paint callback).

pub(super) mod slice;
pub(super) mod view3d;
pub mod volume_paint;

use eframe::egui;

/// Writes `text` across the bottom of a view.
pub(super) fn caption(ui: &egui::Ui, rect: egui::Rect, text: &str) {
    ui.painter().text(
        rect.center_bottom() - egui::vec2(0.0, 12.0),
        egui::Align2::CENTER_BOTTOM,
        text,
        egui::FontId::proportional(14.0),
        egui::Color32::LIGHT_GRAY,
    );
}
