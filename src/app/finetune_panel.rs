//! The Fine-tune section of the side panel: choose target, source, images and what trains; Start
//! runs a [`FineTuneJob`] with live loss and validation-r curves; Cancel keeps the best so far;
//! the result joins the Subject list with an A/B toggle against its source, and can be saved.

use std::path::PathBuf;

use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints, Points};

use super::{ModelSlot, NrfApp};
use crate::session::finetune::{FineTuneJob, FineTuneProgress, FineTuneRequest, FineTuned, Target};
use crate::session::jobs::Job;
use crate::train::trainer::StopReason;

/// Training-set sizes offered: few, some, or all (a virtual subject has 900 own images; a
/// dataset folder as many as it holds).
const IMAGE_CHOICES: [(usize, &str); 3] = [(20, "20"), (200, "200"), (usize::MAX, "all")];

/// A virtual subject's own images (the rest of its 1000 are shared).
const VIRTUAL_OWN_IMAGES: usize = 900;

/// The section's state.
pub struct FineTunePanel {
    /// Whose data: a virtual subject or a dataset folder.
    pub target: Target,
    /// Model to start from.
    pub source: ModelSlot,
    /// Training images.
    pub images: usize,
    /// Whether the feature merger trains too (else the MLP only).
    pub train_merger: bool,
    /// Upper bound on epochs.
    pub max_epochs: usize,
    /// Validation images measured ([`crate::session::finetune::VALIDATION_IMAGES`]; tests use fewer).
    pub validation_images: usize,
    /// The running job.
    pub job: Option<FineTuneJob>,
    /// The curves of the last finished run (a running job holds its own).
    finished_progress: FineTuneProgress,
    /// A line about the last run's result.
    pub summary: Option<String>,
    /// Where Save writes the model shown.
    pub save_path: String,
    save_job: Option<Job<PathBuf>>,
    /// The native dialog choosing a dataset folder, on its own thread.
    folder_dialog: Option<Job<Option<PathBuf>>>,
}

impl FineTunePanel {
    /// Suggests fine-tuning `target` from the next embedded subject, on 20 images.
    pub fn new(target: usize) -> Self {
        let mut panel = Self {
            target: Target::Virtual(target),
            source: ModelSlot::Embedded(target % crate::embedded::SUBJECTS + 1),
            images: 20,
            train_merger: true,
            max_epochs: 0,
            validation_images: crate::session::finetune::VALIDATION_IMAGES,
            job: None,
            finished_progress: FineTuneProgress::default(),
            summary: None,
            save_path: String::new(),
            save_job: None,
            folder_dialog: None,
        };
        panel.set_images(20);
        panel
    }

    /// Chooses the training-set size and the epochs suggested for it.
    pub fn set_images(&mut self, images: usize) {
        self.images = images.max(1);
        self.max_epochs = FineTuneRequest::suggested_config(self.images).max_epochs;
    }

    /// Whether a fine-tune is running.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    /// The curves of the running job, or of the last run.
    pub fn progress(&self) -> &FineTuneProgress {
        self.job
            .as_ref()
            .map_or(&self.finished_progress, |job| &job.progress)
    }
}

impl NrfApp {
    /// Starts a fine-tune with the panel's choices (the source is read on the job's thread).
    pub(super) fn start_finetune(&mut self, ctx: &egui::Context) {
        let Some(source) = self.model_source(self.finetune.source) else {
            return;
        };
        let panel = &mut self.finetune;
        let config = FineTuneRequest::suggested_config(panel.images)
            .with_max_epochs(panel.max_epochs.max(1))
            .with_train_merger(panel.train_merger);
        let request = FineTuneRequest {
            target: panel.target.clone(),
            train_images: match panel.target {
                Target::Virtual(_) => panel.images.min(VIRTUAL_OWN_IMAGES),
                Target::Folder(_) => panel.images,
            },
            validation_images: panel.validation_images,
            source,
            source_name: self.model_name(self.finetune.source),
            config,
        };
        let wake = ctx.clone();
        self.finetune.job = Some(FineTuneJob::start(request, move || wake.request_repaint()));
        self.finetune.summary = None;
    }

    /// Takes the fine-tune's news; a finished model joins the Subject list and is shown.
    pub(super) fn poll_finetune(&mut self, ctx: &egui::Context) {
        if let Some(answer) = self.finetune.folder_dialog.as_ref().and_then(Job::poll) {
            self.finetune.folder_dialog = None;
            match answer {
                Ok(Some(folder)) => self.finetune.target = Target::Folder(folder),
                Ok(None) => {}
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(answer) = self.finetune.save_job.as_ref().and_then(Job::poll) {
            self.finetune.save_job = None;
            match answer {
                Ok(path) => self.status = format!("saved {}", path.display()),
                Err(e) => self.error = Some(e),
            }
        }
        let Some(job) = self.finetune.job.as_mut() else {
            return;
        };
        let Some(answer) = job.poll() else { return };
        self.finetune.finished_progress = std::mem::take(&mut job.progress);
        self.finetune.job = None;
        match answer {
            Ok(tuned) => {
                self.finetune.summary = Some(summary(&tuned));
                // e.g. `subj01-from-virtual-subj02-20-images.nrf`.
                self.finetune.save_path = format!("{}.nrf", super::export::file_stem(&tuned.name));
                let source = self.finetune.source;
                self.tuned.push(tuned);
                let slot = ModelSlot::Tuned(self.tuned.len() - 1);
                self.ab_partner = Some(source);
                self.select_model(slot, ctx);
            }
            Err(e) => self.finetune.summary = Some(e),
        }
    }

    /// The side panel's Fine-tune section.
    pub(super) fn finetune_section(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let running = self.finetune.running();
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("finetune-choices")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("target");
                    let mut choose_folder = false;
                    egui::ComboBox::from_id_salt("finetune-target")
                        .selected_text(self.finetune.target.name())
                        .show_ui(ui, |ui| {
                            for k in 1..=crate::embedded::SUBJECTS {
                                let target = Target::Virtual(k);
                                let name = target.name();
                                ui.selectable_value(&mut self.finetune.target, target, name);
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
                    if choose_folder && self.finetune.folder_dialog.is_none() {
                        let wake = ctx.clone();
                        self.finetune.folder_dialog = Some(Job::spawn(
                            || {
                                Ok(rfd::FileDialog::new()
                                    .set_title("Choose a dataset folder to fine-tune on")
                                    .pick_folder())
                            },
                            move || wake.request_repaint(),
                        ));
                    }
                    ui.end_row();
                    let label = ui.label("from");
                    let mut source = self.finetune.source;
                    egui::ComboBox::from_id_salt("finetune-source")
                        .selected_text(self.model_name(source))
                        .width(150.0)
                        .show_ui(ui, |ui| {
                            // Models on CLIP features cannot train on the virtual subjects here.
                            for slot in self.model_slots() {
                                if self.trainable(slot) {
                                    ui.selectable_value(&mut source, slot, self.model_name(slot));
                                }
                            }
                        })
                        .response
                        .labelled_by(label.id);
                    self.finetune.source = source;
                    ui.end_row();
                    ui.label("images");
                    ui.horizontal(|ui| {
                        for (count, label) in IMAGE_CHOICES {
                            if ui
                                .selectable_label(self.finetune.images == count, label)
                                .clicked()
                            {
                                self.finetune.set_images(count);
                            }
                        }
                    });
                    ui.end_row();
                    let label = ui.label("epochs ≤");
                    ui.add(egui::DragValue::new(&mut self.finetune.max_epochs).range(1..=2000))
                        .labelled_by(label.id);
                    ui.end_row();
                });
            ui.checkbox(
                &mut self.finetune.train_merger,
                "train the feature merger too",
            )
            .on_hover_text("Off: only the MLP trains, the merger stays as the source had it");
        });
        if let Target::Virtual(k) = self.finetune.target
            && self.finetune.source == ModelSlot::Embedded(k)
        {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "the source is the target's own model",
            );
        }
        ui.horizontal(|ui| {
            if running {
                let cancelling = self
                    .finetune
                    .job
                    .as_ref()
                    .is_some_and(|j| j.is_cancelling());
                if ui
                    .add_enabled(!cancelling, egui::Button::new("Cancel"))
                    .on_hover_text("Stop now, keeping the best model so far")
                    .clicked()
                    && let Some(job) = &self.finetune.job
                {
                    job.cancel();
                }
                ui.spinner();
            } else if ui.button("Start").clicked() {
                self.start_finetune(&ctx);
            }
        });
        let progress = self.finetune.progress();
        progress_lines(ui, progress, running);
        if !progress.loss.is_empty() || !progress.validation_r.is_empty() {
            curves(ui, progress);
        }
        if let Some(summary) = &self.finetune.summary {
            ui.label(summary);
        }
        if let ModelSlot::Tuned(i) = self.model {
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut self.finetune.save_path)
                        .desired_width(150.0)
                        .hint_text("file.nrf"),
                );
                let saving = self.finetune.save_job.is_some();
                if ui
                    .add_enabled(!saving, egui::Button::new("Save"))
                    .on_hover_text("Write the model shown as a .nrf file")
                    .clicked()
                    && let Some(tuned) = self.tuned.get(i)
                {
                    let model = tuned.model.clone();
                    let path = PathBuf::from(self.finetune.save_path.trim());
                    let wake = ctx.clone();
                    self.finetune.save_job = Some(Job::spawn(
                        move || save(&model, path),
                        move || wake.request_repaint(),
                    ));
                }
            });
        }
    }
}

/// Writes `model` to `path` (atomically), refusing anything but a `.nrf` name.
fn save(model: &crate::model::Nrf, path: PathBuf) -> Result<PathBuf, String> {
    if path.extension().and_then(|e| e.to_str()) != Some("nrf") {
        return Err(format!(
            "{}: give a file name ending in .nrf",
            path.display()
        ));
    }
    model.save(&path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// One line about a finished fine-tune.
fn summary(tuned: &FineTuned) -> String {
    let why = match tuned.stopped {
        StopReason::EarlyStopped => "stopped early",
        StopReason::MaxEpochs => "all epochs run",
        StopReason::Cancelled => "cancelled",
    };
    if tuned.best_epoch == 0 {
        format!(
            "no epoch beat the source (validation median r {:.3}); {why}, {:.0} s",
            tuned.start_median_r, tuned.seconds
        )
    } else {
        format!(
            "validation median r {:.3} to {:.3} (epoch {} of {}); {why}, {:.0} s",
            tuned.start_median_r,
            tuned.best_median_r,
            tuned.best_epoch,
            tuned.epochs,
            tuned.seconds
        )
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
