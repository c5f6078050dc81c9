//! Fine-tuning in the viewer (the Fine-tune panel's state and actions): target, source, images
//! and what trains; starting runs a [`FineTuneJob`] with live loss and validation-r curves; Cancel keeps the best so far;
//! the result joins the Subject list with an A/B toggle against its source, and can be saved.

use std::path::PathBuf;

use eframe::egui;

use super::{AppState, ModelSlot};
use crate::session::SessionError;
use crate::session::finetune::{FineTuneJob, FineTuneProgress, FineTuneRequest, FineTuned, Target};
use crate::session::jobs::Job;
use crate::train::trainer::StopReason;

/// Training-set sizes offered: few, some, or all (a virtual subject has 900 own images; a
/// dataset folder as many as it holds).
pub(crate) const IMAGE_CHOICES: [(usize, &str); 3] =
    [(20, "20"), (200, "200"), (usize::MAX, "all")];

/// A virtual subject's own images (the rest of its 1000 are shared).
const VIRTUAL_OWN_IMAGES: usize = 900;

/// The Fine-tune panel's choices, the running job and the last run's outcome.
pub struct FineTuneState {
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
    pub(crate) finished_progress: FineTuneProgress,
    /// A line about the last run's result.
    pub summary: Option<String>,
    /// Where Save writes the model shown.
    pub save_path: String,
    pub(crate) save_job: Option<Job<PathBuf>>,
    /// The native dialog choosing a dataset folder, on its own thread.
    pub(crate) folder_dialog: Option<Job<Option<PathBuf>>>,
}

impl FineTuneState {
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

impl AppState {
    /// Starts a fine-tune with the panel's choices (the source is read on the job's thread).
    pub(crate) fn start_finetune(&mut self, ctx: &egui::Context) {
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

    /// Chooses a dataset folder to fine-tune on, in a native dialog on its own thread.
    pub(crate) fn choose_finetune_folder(&mut self, ctx: &egui::Context) {
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

    /// Writes the `index`-th fine-tuned model to the panel's save path, off the UI thread.
    pub(crate) fn save_tuned(&mut self, index: usize, ctx: &egui::Context) {
        let Some(tuned) = self.tuned.get(index) else {
            return;
        };
        let model = tuned.model.clone();
        let path = PathBuf::from(self.finetune.save_path.trim());
        let wake = ctx.clone();
        self.finetune.save_job = Some(Job::spawn(
            move || save(&model, path),
            move || wake.request_repaint(),
        ));
    }

    /// Takes the fine-tune's news; a finished model joins the Subject list and is shown.
    pub(crate) fn poll_finetune(&mut self, ctx: &egui::Context) {
        if let Some(answer) = self.finetune.folder_dialog.as_ref().and_then(Job::poll) {
            self.finetune.folder_dialog = None;
            match answer {
                Ok(Some(folder)) => self.finetune.target = Target::Folder(folder),
                Ok(None) => {}
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(answer) = self.finetune.save_job.as_ref().and_then(Job::poll) {
            self.finetune.save_job = None;
            match answer {
                Ok(path) => self.status = format!("saved {}", path.display()),
                Err(e) => self.error = Some(e.to_string()),
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
                self.finetune.save_path = format!("{}.nrf", super::file_stem(&tuned.name));
                let source = self.finetune.source;
                self.tuned.push(tuned);
                let slot = ModelSlot::Tuned(self.tuned.len() - 1);
                self.ab_partner = Some(source);
                self.select_model(slot, ctx);
            }
            Err(e) => self.finetune.summary = Some(e.to_string()),
        }
    }
}

/// Writes `model` to `path` (atomically), refusing anything but a `.nrf` name.
fn save(model: &crate::model::Nrf, path: PathBuf) -> Result<PathBuf, SessionError> {
    if path.extension().and_then(|e| e.to_str()) != Some("nrf") {
        return Err(SessionError::Invalid(format!(
            "{}: give a file name ending in .nrf",
            path.display()
        )));
    }
    model.save(&path)?;
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
