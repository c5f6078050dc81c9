//! The Export panel: the folder, and buttons for a screenshot, the views at 2×, the prediction
//! as NIfTI and a fine-tuned model's r map; the state writes each file off the UI thread.

use std::sync::Arc;

use eframe::egui;

use crate::app::state::{AppState, ModelSlot, request_screenshot};

/// The Export section.
pub(super) fn show(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    ui.horizontal(|ui| {
        ui.label("folder");
        ui.add(egui::TextEdit::singleline(&mut state.export.folder).desired_width(130.0));
        if ui
            .add_enabled(state.export.folder_dialog.is_none(), egui::Button::new("…"))
            .on_hover_text("Choose the folder")
            .clicked()
        {
            state.choose_export_folder(&ctx);
        }
    });
    let busy = state.export.job.is_some();
    if ui
        .button("Screenshot (PNG)")
        .on_hover_text("The whole window as it is now")
        .clicked()
    {
        let path = state.export_path(".png");
        request_screenshot(&ctx, path, Arc::clone(&state.export.screenshot), false);
    }
    if ui
        .add_enabled(
            !busy && state.views_area.is_some() && state.templates.is_some(),
            egui::Button::new("Views at 2x (PNG)"),
        )
        .on_hover_text(
            "The views drawn again at twice their size on screen, with a colour bar: \
             slices are queried at the finer pixels",
        )
        .clicked()
    {
        state.export_views(2.0 * ctx.pixels_per_point(), &ctx);
    }
    ui.horizontal(|ui| {
        let clicked = ui
            .add_enabled(
                !busy && state.query.is_some(),
                egui::Button::new("Prediction (NIfTI)"),
            )
            .on_hover_text("The prediction on an MNI grid of this spacing, 0 outside the domain")
            .clicked();
        let combo = egui::ComboBox::from_id_salt("export-spacing")
            .selected_text(format!("{} mm", state.export.spacing_mm))
            .width(60.0)
            .show_ui(ui, |ui| {
                for spacing in [1.0, 1.5, 2.0, 3.0] {
                    ui.selectable_value(
                        &mut state.export.spacing_mm,
                        spacing,
                        format!("{spacing} mm"),
                    );
                }
            });
        super::name_widget(&combo.response, "export spacing");
        if clicked {
            state.export_prediction(&ctx);
        }
    });
    if let ModelSlot::Tuned(i) = state.model
        && ui
            .add_enabled(!busy, egui::Button::new("r map (NIfTI)"))
            .on_hover_text("Validation r per voxel of the fine-tuned model, 2 mm")
            .clicked()
    {
        state.export_r_map(i, &ctx);
    }
    if busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("writing…");
        });
    }
}
