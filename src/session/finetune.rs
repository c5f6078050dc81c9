//! Fine-tuning inside the viewer: a source model trained further on a virtual subject's images or
//! on a dataset folder, on a background thread, reporting its curves as it goes.
//!
//! A virtual subject's data are measured on the spot ([`TrainingSet::simulated`]: the images
//! that subject saw in the embedded models' simulation, with fresh measurement noise), so a fresh
//! install fine-tunes without any dataset on disk. A dataset folder is read as `nrf finetune
//! --data` reads it (the NSD-processed layout's subj01 and nsdgeneral, or a plain folder), its
//! features computed with the built-in extractor. Cancel stops at the next step and keeps the best
//! model so far, as `nrf finetune` does.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use super::SessionError;
use super::jobs::ModelSource;
use crate::data::dataset::{Dataset, Split};
use crate::features::builtin::BuiltinExtractor;
use crate::model::Nrf;
use crate::model::domain::{Domain, VoxelDomain};
use crate::train::TrainError;
use crate::train::metrics::score_map;
use crate::train::trainer::{StopReason, TrainConfig, TrainEvent, train, voxel_scores};
use crate::train::training_set::TrainingSet;

/// Validation images measured for a fine-tune (of the 100 shared ones): enough for a stable
/// median r, few enough that validating stays quick.
pub const VALIDATION_IMAGES: usize = 50;

/// Whose data a fine-tune fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An embedded virtual subject (1–8), measured in memory.
    Virtual(usize),
    /// A dataset folder: the NSD-processed layout (its subj01, nsdgeneral ROI) or a plain folder
    /// (responses.nii.gz, mask.nii.gz, images.tsv).
    Folder(PathBuf),
}

impl Target {
    /// How the panel and the result's name call it.
    pub fn name(&self) -> String {
        match self {
            Target::Virtual(k) => format!("virtual subj{k:02}"),
            Target::Folder(dir) => dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }
}

/// What to fine-tune.
pub struct FineTuneRequest {
    /// Whose data.
    pub target: Target,
    /// Training images: a seeded choice of a virtual subject's own images, or of a folder's
    /// training images (all of them when it has fewer).
    pub train_images: usize,
    /// Validation images of a virtual subject (the first of the shared ones;
    /// [`VALIDATION_IMAGES`] in the viewer); a folder's are its own validation rows.
    pub validation_images: usize,
    /// The model to start from (trained on another subject).
    pub source: ModelSource,
    /// Its name, for the result's name and provenance.
    pub source_name: String,
    /// Epochs, batches, learning rate, what trains.
    pub config: TrainConfig,
}

impl FineTuneRequest {
    /// The schedule the viewer suggests for `train_images` images, as `docs/experiments` uses:
    /// small sets get many one-step epochs, validated every few; voxels per image as the
    /// embedded models were trained.
    pub fn suggested_config(train_images: usize) -> TrainConfig {
        let (epochs, validate_every, patience) = match train_images {
            // Patience 8: the first validations often dip below the source before it is beaten.
            0..=50 => (400, 10, 8),
            51..=300 => (60, 3, 3),
            _ => (20, 1, 3),
        };
        TrainConfig::new()
            .with_voxels_per_image(500)
            .with_max_epochs(epochs)
            .with_validate_every(validate_every)
            .with_patience(patience)
            .with_seed(1)
    }
}

/// A finished fine-tune.
pub struct FineTuned {
    /// The best model (the source itself when no epoch beat it).
    pub model: Nrf,
    /// Display name, e.g. `subj01 from virtual subj02 (20 images)`.
    pub name: String,
    /// The virtual subject it now describes (`None` for a dataset folder's subject).
    pub target: Option<usize>,
    /// The source's validation median r on the target (what training had to beat).
    pub start_median_r: f32,
    /// The best validation median r.
    pub best_median_r: f32,
    /// Its epoch (0: the source was never beaten).
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Why it stopped.
    pub stopped: StopReason,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The best model's validation r per target voxel, on a 2 mm MNI grid (nearest voxel; 0
    /// where undefined), with the points within reach of a voxel.
    pub r_map: Arc<crate::query::GridPrediction>,
}

/// The curves and numbers the panel draws, updated as the job reports.
#[derive(Debug, Clone, Default)]
pub struct FineTuneProgress {
    /// Measuring the target and extracting features: (done, total) work items.
    pub preparing: Option<(usize, usize)>,
    /// Training loss per step: (epoch as a fraction, loss).
    pub loss: Vec<[f64; 2]>,
    /// Validation median r: (epoch, r), epoch 0 being the source model.
    pub validation_r: Vec<[f64; 2]>,
    /// Best validation median r so far.
    pub best_median_r: Option<f32>,
    /// Current epoch and step: (epoch, step, steps per epoch).
    pub position: Option<(usize, usize, usize)>,
    /// Image × voxel samples per second.
    pub samples_per_second: f64,
    /// Seconds left if every epoch runs (early stopping usually ends sooner).
    pub eta_seconds: Option<f64>,
}

enum Message {
    Preparing(usize, usize),
    Event(TrainEvent, f64),
    Done(Box<Result<FineTuned, SessionError>>),
}

/// A fine-tune running on its own thread.
pub struct FineTuneJob {
    receiver: Receiver<Message>,
    cancel: Arc<AtomicBool>,
    max_epochs: usize,
    /// What has been reported so far.
    pub progress: FineTuneProgress,
}

impl FineTuneJob {
    /// Starts `request`; `wake` is called whenever there is news (a UI repaint).
    pub fn start(request: FineTuneRequest, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let (sender, receiver) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let max_epochs = request.config.max_epochs;
        let stop = Arc::clone(&cancel);
        std::thread::spawn(move || {
            crate::device::yield_to_the_window();
            let send = |message| {
                // A closed channel only means the UI dropped the job.
                let _ = sender.send(message);
                wake();
            };
            let result = run(request, &stop, &send).map_err(|e| match e {
                TrainError::Cancelled => {
                    SessionError::Invalid("cancelled before training started".into())
                }
                e => e.into(),
            });
            send(Message::Done(Box::new(result)));
        });
        Self {
            receiver,
            cancel,
            max_epochs,
            progress: FineTuneProgress::default(),
        }
    }

    /// Asks the job to stop at the next step; it then finishes with the best model so far.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelling(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Takes the reports that arrived (never blocks); the result once the job has finished.
    pub fn poll(&mut self) -> Option<Result<FineTuned, SessionError>> {
        loop {
            match self.receiver.try_recv() {
                Ok(Message::Preparing(done, total)) => {
                    self.progress.preparing = Some((done, total))
                }
                Ok(Message::Event(event, seconds_per_step)) => {
                    self.record(&event, seconds_per_step);
                }
                Ok(Message::Done(result)) => return Some(*result),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    return Some(Err(SessionError::Invalid(
                        "the fine-tune stopped without answering".into(),
                    )));
                }
            }
        }
    }

    fn record(&mut self, event: &TrainEvent, seconds_per_step: f64) {
        let progress = &mut self.progress;
        match *event {
            TrainEvent::Started { validation } => {
                progress.preparing = None;
                progress
                    .validation_r
                    .push([0.0, f64::from(validation.median)]);
                progress.best_median_r = Some(validation.median);
            }
            TrainEvent::Step {
                epoch,
                step,
                steps,
                loss,
                samples_per_second,
                ..
            } => {
                let x = (epoch - 1) as f64 + step as f64 / steps as f64;
                progress.loss.push([x, f64::from(loss)]);
                progress.position = Some((epoch, step, steps));
                progress.samples_per_second = samples_per_second;
                let steps_left =
                    (self.max_epochs.saturating_sub(epoch) * steps + steps - step) as f64;
                progress.eta_seconds = Some(steps_left * seconds_per_step);
            }
            TrainEvent::Validated {
                epoch,
                validation,
                best_median_r,
                ..
            } => {
                progress
                    .validation_r
                    .push([epoch as f64, f64::from(validation.median)]);
                progress.best_median_r = Some(best_median_r);
            }
        }
    }
}

/// The job's body: measure the target, then train, reporting through `send`.
fn run(
    request: FineTuneRequest,
    cancel: &AtomicBool,
    send: &(dyn Fn(Message) + Sync),
) -> Result<FineTuned, TrainError> {
    let started = Instant::now();
    // The source first: a model the viewer cannot train fails before the data are measured.
    let mut model = match request.source {
        ModelSource::Embedded(k) => {
            crate::embedded::default_model(k, &burn::tensor::Device::flex())
                .map_err(|e| TrainError::Invalid(e.to_string()))?
        }
        ModelSource::Given(given) if given.ensemble.is_some() => {
            return Err(TrainError::Invalid(format!(
                "{} is an ensemble; the viewer fine-tunes one model (`nrf finetune --from A.nrf                  --from B.nrf --ensemble` builds ensembles)",
                given.name
            )));
        }
        // Training runs on the CPU whatever device the viewer predicts on.
        ModelSource::Given(given) if given.is_builtin() => {
            given.model.on_device(&burn::tensor::Device::flex())
        }
        ModelSource::Given(given) => {
            return Err(TrainError::Invalid(format!(
                "{} takes CLIP features; the viewer fine-tunes models on the built-in features \
                 (fine-tune it with `nrf finetune --clip …`)",
                given.name
            )));
        }
    };
    let progress = |done, total| {
        send(Message::Preparing(done, total));
        !cancel.load(Ordering::Relaxed)
    };
    let (set, described) = match &request.target {
        Target::Virtual(k) => {
            let set = TrainingSet::simulated(
                &crate::embedded::SIMULATION,
                *k,
                request.train_images,
                request.validation_images,
                &BuiltinExtractor,
                &progress,
            )?;
            let described = format!(
                "virtual subj{k:02} ({} training images of the embedded simulation, {} voxels)",
                set.train_rows.len(),
                set.voxels()
            );
            (set, described)
        }
        Target::Folder(dir) => {
            // As `nrf finetune --data` opens it, with its defaults.
            let dataset = Dataset::open(dir, "1", "nsdgeneral")?;
            let mut set = TrainingSet::from_dataset(
                &dataset,
                &BuiltinExtractor,
                None,
                &[Split::Train, Split::Validation],
                &progress,
            )?;
            if request.train_images < set.train_rows.len() {
                set.limit_training_images(request.train_images, request.config.seed);
            }
            let described = format!(
                "{} ({}, {} training images, {} voxels)",
                dir.display(),
                dataset.subject,
                set.train_rows.len(),
                set.voxels()
            );
            (set, described)
        }
    };
    let name = format!(
        "{} from {} ({} images)",
        set.subject,
        request.source_name,
        set.train_rows.len()
    );
    model.info.subject = Some(set.subject.clone());
    model.info.provenance = format!(
        "fine-tuned in the nrf {} viewer on {described}, from {}",
        env!("CARGO_PKG_VERSION"),
        request.source_name
    );
    model.info.training = None;
    model.info.scores.clear();
    let domain = VoxelDomain::new(set.coordinates.clone(), Vec::new(), None)
        .map_err(|e| TrainError::Invalid(e.to_string()))?;
    model.domain = Domain::Voxels(domain.clone());
    let mut start_median_r = f32::NAN;
    let mut last_step = Instant::now();
    let mut seconds_per_step = 0.0;
    let outcome = train(model, &set, &request.config, None, &mut |event| {
        match event {
            TrainEvent::Started { validation } => start_median_r = validation.median,
            TrainEvent::Step { .. } => {
                // A running mean over recent steps (validations excluded: they restart the clock).
                let seconds = last_step.elapsed().as_secs_f64();
                seconds_per_step = if seconds_per_step == 0.0 {
                    seconds
                } else {
                    0.8 * seconds_per_step + 0.2 * seconds
                };
            }
            TrainEvent::Validated { .. } => {}
        }
        send(Message::Event(event.clone(), seconds_per_step));
        last_step = Instant::now();
        !cancel.load(Ordering::Relaxed)
    })?;
    let scores = voxel_scores(&outcome.model, &set, &set.validation_rows)?;
    let (volume, inside) =
        score_map(&domain, &scores, 2.0).map_err(|e| TrainError::Invalid(e.to_string()))?;
    Ok(FineTuned {
        model: outcome.model,
        name,
        target: match request.target {
            Target::Virtual(k) => Some(k),
            Target::Folder(_) => None,
        },
        start_median_r,
        best_median_r: outcome.best.median,
        best_epoch: outcome.best_epoch,
        epochs: outcome.epochs,
        stopped: outcome.stopped,
        seconds: started.elapsed().as_secs_f64(),
        r_map: Arc::new(crate::query::GridPrediction {
            volume,
            inside,
            region: crate::query::RegionUsed::ModelDomain,
            on_gpu: None,
        }),
    })
}
