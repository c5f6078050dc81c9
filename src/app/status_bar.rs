//! The status bar: MNI position, value, ROI and atlas region under the pointer, the status line,
//! where the model runs, the adapter that draws, and the help button.

use eframe::egui;
use glam::DVec3;

use super::state::AppState;

pub(super) fn show(
    ui: &mut egui::Ui,
    state: &mut AppState,
    hover: Option<(DVec3, Option<f32>)>,
    help_open: &mut bool,
) {
    // The adapter first, from the right, so that a long status line is cut short, not overlapped.
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        if ui
            .small_button("?")
            .on_hover_text("Keyboard and mouse (F1)")
            .clicked()
        {
            *help_open = !*help_open;
        }
        ui.label(format!("GPU: {}", state.adapter))
            .on_hover_text(format!("The views are drawn on {}", state.adapter_details));
        ui.separator();
        ui.label(state.compute.place())
            .on_hover_text(state.compute.report());
        ui.separator();
        ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
            status_left(ui, state, hover);
        });
    });
}

/// MNI position and value under the pointer, then the status line.
fn status_left(ui: &mut egui::Ui, state: &AppState, hover: Option<(DVec3, Option<f32>)>) {
    match hover {
        Some((p, value)) => {
            ui.monospace(format!("MNI ({:6.1}, {:6.1}, {:6.1}) mm", p.x, p.y, p.z));
            ui.monospace(match value {
                Some(v) => format!("value {v:+.4}"),
                None => "outside the model's domain".into(),
            });
            // The ROIs the model's training voxels carry there (e.g. from NSD's ROI files).
            if let Some(query) = &state.query
                && let crate::model::Domain::Voxels(domain) = query.domain()
                && !domain.rois().is_empty()
            {
                let names = domain.roi_names_at(p.as_vec3());
                ui.separator();
                ui.label(if names.is_empty() {
                    "no ROI".to_string()
                } else {
                    names.join(", ")
                })
                .on_hover_text("ROIs of the model's training voxels here");
            }
            if let Some(atlas) = &state.atlas {
                ui.separator();
                ui.label(atlas.region_at(p).unwrap_or("–"))
                    .on_hover_text(format!("region in {}", atlas.name));
            }
        }
        None => {
            ui.monospace("MNI –");
        }
    }
    ui.separator();
    ui.add(egui::Label::new(state.status_line()).truncate());
}
