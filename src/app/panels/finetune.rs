//! The Fine-tune panel: choose target, source, images and what trains; Start runs the fine-tune
//! with live loss and validation-r curves; Cancel keeps the best so far; the result joins the
//! Subject list with an A/B toggle against its source, and can be saved.

use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints, Points};

use crate::app::state::{AppState, IMAGE_CHOICES, ModelSlot};
use crate::session::finetune::{FineTuneProgress, Target};

/// The Fine-tune section.
pub(super) fn show(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    let running = state.finetune.running();
    ui.add_enabled_ui(!running, |ui| {
        egui::Grid::new("finetune-choices")
            .num_columns(2)
            .show(ui, |ui| {
                let label = ui.label("target");
                let mut choose_folder = false;
                egui::ComboBox::from_id_salt("finetune-target")
                    .selected_text(state.finetune.target.name())
                    .show_ui(ui, |ui| {
                        for k in 1..=crate::embedded::SUBJECTS {
                            let target = Target::Virtual(k);
                            let name = target.name();
                            ui.selectable_value(&mut state.finetune.target, target, name);
                        }
                        choose_folder = ui
                            .selectable_label(false, "dataset folder…")
                            .on_hover_text(
                                "An NSD-processed folder (its subj01, nsdgeneral) or a plain \
                                 one (responses.nii.gz, mask.nii.gz, images.tsv)",
                            )
                            .clicked();
                    })
                    .response
                    .labelled_by(label.id);
                if choose_folder && state.finetune.folder_dialog.is_none() {
                    state.choose_finetune_folder(&ctx);
                }
                ui.end_row();
                let label = ui.label("from");
                let mut source = state.finetune.source;
                egui::ComboBox::from_id_salt("finetune-source")
                    .selected_text(state.model_name(source))
                    .width(150.0)
                    .show_ui(ui, |ui| {
                        // Models on CLIP features cannot train on the virtual subjects here.
                        for slot in state.model_slots() {
                            if state.trainable(slot) {
                                ui.selectable_value(&mut source, slot, state.model_name(slot));
                            }
                        }
                    })
                    .response
                    .labelled_by(label.id);
                state.finetune.source = source;
                ui.end_row();
                ui.label("images");
                ui.horizontal(|ui| {
                    for (count, label) in IMAGE_CHOICES {
                        if ui
                            .selectable_label(state.finetune.images == count, label)
                            .clicked()
                        {
                            state.finetune.set_images(count);
                        }
                    }
                });
                ui.end_row();
                let label = ui.label("epochs ≤");
                ui.add(egui::DragValue::new(&mut state.finetune.max_epochs).range(1..=2000))
                    .labelled_by(label.id);
                ui.end_row();
            });
        ui.checkbox(
            &mut state.finetune.train_merger,
            "train the feature merger too",
        )
        .on_hover_text("Off: only the MLP trains, the merger stays as the source had it");
    });
    if let Target::Virtual(k) = state.finetune.target
        && state.finetune.source == ModelSlot::Embedded(k)
    {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "the source is the target's own model",
        );
    }
    ui.horizontal(|ui| {
        if running {
            let cancelling = state
                .finetune
                .job
                .as_ref()
                .is_some_and(|j| j.is_cancelling());
            if ui
                .add_enabled(!cancelling, egui::Button::new("Cancel"))
                .on_hover_text("Stop now, keeping the best model so far")
                .clicked()
                && let Some(job) = &state.finetune.job
            {
                job.cancel();
            }
            ui.spinner();
        } else if ui.button("Start").clicked() {
            state.start_finetune(&ctx);
        }
    });
    let progress = state.finetune.progress();
    progress_lines(ui, progress, running);
    if !progress.loss.is_empty() || !progress.validation_r.is_empty() {
        curves(ui, progress);
    }
    if let Some(summary) = &state.finetune.summary {
        ui.label(summary);
    }
    if let ModelSlot::Tuned(i) = state.model {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut state.finetune.save_path)
                    .desired_width(150.0)
                    .hint_text("file.nrf"),
            );
            let saving = state.finetune.save_job.is_some();
            if ui
                .add_enabled(!saving, egui::Button::new("Save"))
                .on_hover_text("Write the model shown as a .nrf file")
                .clicked()
            {
                state.save_tuned(i, &ctx);
            }
        });
    }
}

/// Where the job is: preparing, or epoch, speed, ETA and best r.
fn progress_lines(ui: &mut egui::Ui, progress: &FineTuneProgress, running: bool) {
    if !running {
        return;
    }
    if let Some((done, total)) = progress.preparing {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32).text(format!(
                "measuring the target and its features: {done}/{total}"
            )),
        );
        return;
    }
    match progress.position {
        Some((epoch, step, steps)) => {
            ui.label(format!(
                "epoch {epoch}, step {step}/{steps} · {:.0} k samples/s",
                progress.samples_per_second / 1e3
            ));
            if let Some(eta) = progress.eta_seconds {
                ui.label(format!(
                    "at most {eta:.0} s left (early stopping is likely sooner)"
                ));
            }
        }
        None => {
            ui.label("validating the source on the target…");
        }
    }
    if let Some(best) = progress.best_median_r {
        ui.label(format!("best validation median r {best:.3}"));
    }
}

/// The training loss and validation median r, by epoch, each under a line with its last value.
fn curves(ui: &mut egui::Ui, progress: &FineTuneProgress) {
    if let Some([_, loss]) = progress.loss.last() {
        ui.small(format!("training loss {loss:.4}"));
    }
    Plot::new("finetune-loss")
        .height(90.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new(
                "training loss",
                PlotPoints::from(progress.loss.clone()),
            ));
        });
    if let Some([_, r]) = progress.validation_r.last() {
        ui.small(format!(
            "validation median r {r:.3} (best {:.3}; epoch 0 is the source)",
            progress.best_median_r.unwrap_or(f32::NAN)
        ));
    }
    Plot::new("finetune-r")
        .height(90.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .x_axis_label("epoch")
        .show(ui, |plot| {
            plot.line(Line::new(
                "validation median r",
                PlotPoints::from(progress.validation_r.clone()),
            ));
            plot.points(
                Points::new("", PlotPoints::from(progress.validation_r.clone())).radius(2.5),
            );
        });
}
