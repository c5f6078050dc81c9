//! The keyboard and mouse: the shortcuts and the help window that lists them.

use eframe::egui;

use super::state::AppState;
use crate::render::volume3d::{Camera, Mode3d};

/// The keyboard and mouse, as the help window lists them.
const SHORTCUTS: [(&str, &str); 12] = [
    ("drag (3D)", "orbit the 3D view"),
    ("right-drag or Shift+drag (3D)", "pan the 3D view"),
    ("scroll (3D)", "zoom"),
    ("click (slice)", "move the crosshair there"),
    (
        "click (3D)",
        "move the crosshair to the surface under the pointer",
    ),
    ("B", "A/B: switch between a fine-tuned model and its source"),
    ("M", "3D: shaded / maximum-intensity projection"),
    ("A", "anatomy on / off"),
    ("R", "reset the 3D camera"),
    ("L", "next layout (2×2, row, 3D, sagittal, coronal, axial)"),
    ("Esc", "dismiss an error"),
    ("F1 or ?", "this help"),
];

/// Keyboard shortcuts (see [`SHORTCUTS`]); ignored while a text field has the focus.
pub(super) fn shortcuts(ctx: &egui::Context, state: &mut AppState, help_open: &mut bool) {
    if ctx.memory(|m| m.focused().is_some()) {
        return;
    }
    let pressed = |key| ctx.input(|i| i.key_pressed(key));
    if let Some(partner) = state.ab_partner
        && pressed(egui::Key::B)
    {
        state.ab_partner = Some(state.model);
        state.select_model(partner, ctx);
    }
    if pressed(egui::Key::M) {
        state.mode = match state.mode {
            Mode3d::Shaded => Mode3d::Mip,
            Mode3d::Mip => Mode3d::Shaded,
        };
    }
    if pressed(egui::Key::A) {
        state.anatomy_on = !state.anatomy_on;
    }
    if pressed(egui::Key::R) {
        state.camera = Camera::default();
    }
    if pressed(egui::Key::L) {
        state.layout = state.layout.next();
    }
    if pressed(egui::Key::F1) || ctx.input(|i| i.events.contains(&egui::Event::Text("?".into()))) {
        *help_open = !*help_open;
    }
    if pressed(egui::Key::Escape) {
        state.error = None;
    }
}

/// The help window (F1 or ?), listing [`SHORTCUTS`].
pub(super) fn window(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard and mouse")
        .open(open)
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for (keys, what) in SHORTCUTS {
                    ui.monospace(keys);
                    ui.label(what);
                    ui.end_row();
                }
            });
        });
}
