//! Fine-tuning inside the viewer: a source model trained further on a virtual subject's images,
//! on a background thread, reporting its curves as it goes.
//!
//! The target's data are measured on the spot ([`TrainingSet::simulated`]: the images that
//! subject saw in the embedded models' simulation, with fresh measurement noise), so a fresh
//! install fine-tunes without any dataset on disk. Cancel stops at the next step and keeps the
//! best model so far, as `nrf finetune` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use super::jobs::ModelSource;
use crate::features::builtin::BuiltinExtractor;
use crate::model::Nrf;
use crate::model::domain::{Domain, VoxelDomain};
use crate::train::TrainError;
use crate::train::data::TrainingSet;
use crate::train::metrics::score_map;
use crate::train::trainer::{StopReason, TrainConfig, TrainEvent, train, voxel_scores};

/// Validation images measured for a fine-tune (of the 100 shared ones): enough for a stable
/// median r, few enough that validating stays quick.
pub const VALIDATION_IMAGES: usize = 50;

/// What to fine-tune.
pub struct FineTuneRequest {
    /// Target: embedded virtual subject (1–8).
    pub target: usize,
    /// Target training images (a seeded choice of the subject's own images).
    pub train_images: usize,
    /// Validation images (the first of the shared ones; [`VALIDATION_IMAGES`] in the viewer).
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
    /// Target virtual subject.
    pub target: usize,
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
    Done(Box<Result<FineTuned, String>>),
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
            let send = |message| {
                // A closed channel only means the UI dropped the job.
                let _ = sender.send(message);
                wake();
            };
            let result = run(request, &stop, &send).map_err(|e| match e {
                TrainError::Cancelled => "cancelled before training started".to_string(),
                e => e.to_string(),
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
    pub fn poll(&mut self) -> Option<Result<FineTuned, String>> {
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
                    return Some(Err("the fine-tune stopped without answering".into()));
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
    let layout = crate::defaults::SIMULATION;
    // The source first: a model the viewer cannot train fails before the data are measured.
    let mut model = match request.source {
        ModelSource::Embedded(k) => {
            crate::defaults::default_model(k, &burn::tensor::Device::flex())
                .map_err(|e| TrainError::Invalid(e.to_string()))?
        }
        ModelSource::Given(given) if given.is_builtin() => given.model,
        ModelSource::Given(given) => {
            return Err(TrainError::Invalid(format!(
                "{} takes CLIP features; the viewer fine-tunes models on the built-in features \
                 (fine-tune it with `nrf finetune --clip …`)",
                given.name
            )));
        }
    };
    let set = TrainingSet::simulated(
        &layout,
        request.target,
        request.train_images,
        request.validation_images,
        &BuiltinExtractor,
        &|done, total| {
            send(Message::Preparing(done, total));
            !cancel.load(Ordering::Relaxed)
        },
    )?;
    let name = format!(
        "subj{:02} from {} ({} images)",
        request.target, request.source_name, request.train_images
    );
    model.info.subject = Some(set.subject.clone());
    model.info.provenance = format!(
        "fine-tuned in the nrf {} viewer on virtual subj{:02} ({} training images of the embedded simulation, {} voxels), from {}",
        env!("CARGO_PKG_VERSION"),
        request.target,
        set.train_rows.len(),
        set.voxels(),
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
        target: request.target,
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
        }),
    })
}
