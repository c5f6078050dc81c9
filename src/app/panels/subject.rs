//! The Subject panel: which model the views show (embedded subjects, fine-tunes, files), opening
//! models and run folders, a CLIP folder for models that need one, a domain for models without
//! one, the A/B switch, and what to show instead of the prediction (truth, r map, a NIfTI file).

use eframe::egui;

use crate::app::state::{AppState, ModelSlot};

/// The Subject section.
pub(super) fn show(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    let mut chosen = state.model;
    let combo = egui::ComboBox::from_id_salt("subject")
        .selected_text(state.model_name(state.model))
        .width(230.0)
        .show_ui(ui, |ui| {
            for slot in state.model_slots() {
                ui.selectable_value(&mut chosen, slot, state.model_name(slot));
            }
        });
    super::name_widget(&combo.response, "model shown");
    ui.horizontal_wrapped(|ui| {
        let idle = state.dialog_job.is_none();
        if ui
            .add_enabled(idle, egui::Button::new("Open model…"))
            .on_hover_text("A .nrf model file")
            .clicked()
        {
            state.open_dialog(&ctx, || {
                rfd::FileDialog::new()
                    .set_title("Open a model")
                    .add_filter("nrf models", &["nrf"])
                    .pick_file()
            });
        }
        if ui
            .add_enabled(idle, egui::Button::new("Open run folder…"))
            .on_hover_text(
                "An official NRF run folder (experiment_config.yaml, B.npy, best_model/); \
                 its models take CLIP features",
            )
            .clicked()
        {
            state.open_dialog(&ctx, || {
                rfd::FileDialog::new()
                    .set_title("Open an official NRF run folder")
                    .pick_folder()
            });
        }
    });
    domain_rows(ui, state);
    if let Some((name, ..)) = &state.pending_clip {
        ui.label(format!(
            "{name} takes CLIP features: choose the local CLIP folder it was trained with \
             (a Hugging Face folder with config.json, model.safetensors and \
             preprocessor_config.json)."
        ));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    state.dialog_job.is_none(),
                    egui::Button::new("Choose CLIP folder…"),
                )
                .clicked()
            {
                state.open_dialog(&ctx, || {
                    rfd::FileDialog::new()
                        .set_title("Choose a CLIP folder")
                        .pick_folder()
                });
            }
            if ui.button("Cancel").clicked() {
                state.pending_clip = None;
                state.status.clear();
            }
        });
    }
    if let Some(partner) = state.ab_partner
        && ui
            .button(format!("A/B: switch to {}", state.model_name(partner)))
            .on_hover_text("Switch between the fine-tuned model and its source (key B)")
            .clicked()
    {
        chosen = partner;
    }
    if chosen != state.model {
        if Some(chosen) == state.ab_partner {
            state.ab_partner = Some(state.model);
        }
        state.select_model(chosen, &ctx);
    }
    let truth_before = state.show_truth;
    if state.truth_subject().is_some() {
        ui.checkbox(&mut state.show_truth, "show the ground truth instead")
            .on_hover_text(
                "Virtual subjects are simulated: their noise-free response to the image is known",
            );
    }
    if state.shows_ensemble()
        && ui
            .checkbox(
                &mut state.show_spread,
                "show its members' disagreement (s.d.)",
            )
            .on_hover_text(
                "The standard deviation of the ensemble members' predictions at each point:                  where the ensemble is uncertain. Off: the combined prediction.",
            )
            .changed()
    {
        state.range_pending = true;
        state.start_prediction(&ctx);
    }
    let r_map_before = (state.show_r_map, state.show_file);
    if let Some((name, _)) = &state.file_overlay {
        ui.checkbox(&mut state.show_file, format!("show {name} instead"))
            .on_hover_text("The NIfTI volume you dropped, over the template");
    }
    if matches!(state.model, ModelSlot::Tuned(_)) {
        ui.checkbox(&mut state.show_r_map, "show its validation r map")
            .on_hover_text(
                "Pearson r of the fine-tuned model on the target's validation images, per voxel",
            );
    }
    if state.show_truth != truth_before || (state.show_r_map, state.show_file) != r_map_before {
        state.slices_stale = true;
        if state.show_truth && state.truth.is_none() && state.truth_job.is_none() {
            state.start_truth(&ctx);
        }
        if let Some((_, volume)) = state.shown_overlay() {
            state.auto_range(&volume);
        }
    }
}

/// For an opened model without a domain (an official run folder): says so, and offers to
/// read one.
fn domain_rows(ui: &mut egui::Ui, state: &mut AppState) {
    let ModelSlot::Opened(index) = state.model else {
        return;
    };
    if !state
        .opened
        .get(index)
        .is_some_and(|m| matches!(m.model.domain, crate::model::Domain::Unknown))
    {
        return;
    }
    ui.label(
        "No domain: the views use the brain mask. Give the model's training voxels (an \
         (N, 3) .npy of MNI coordinates, or an NSD-processed root) to stay within them; \
         that also shrinks the work.",
    );
    let ctx = ui.ctx().clone();
    let idle = state.dialog_job.is_none() && state.domain_job.is_none();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(idle, egui::Button::new("Domain coordinates…"))
            .clicked()
        {
            state.open_dialog(&ctx, || {
                rfd::FileDialog::new()
                    .set_title("MNI coordinates of the model's voxels")
                    .add_filter("numpy (N, 3)", &["npy"])
                    .pick_file()
            });
        }
        if ui
            .add_enabled(idle, egui::Button::new("NSD-processed root…"))
            .clicked()
        {
            state.open_dialog(&ctx, || {
                rfd::FileDialog::new()
                    .set_title("The NSD-processed root (with MNI_coordinate/)")
                    .pick_folder()
            });
        }
    });
}
