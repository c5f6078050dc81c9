//! The trainer: the official recipe (AdamW, batches of images × voxels sampled per image, the
//! official loss), validation median Pearson r after every epoch, early stopping, the best model
//! kept (and saved, when a path is given, every time it improves). Progress is reported as
//! [`TrainEvent`]s; the callback's `false` cancels at the next step, leaving the best model.
//!
//! Repeatable: the same seed gives the same batches and, for a new model, the same initial
//! weights. Each epoch draws from its own seeded stream, so a resumed run (from the `.nrf` it
//! saved) continues with the batches it would have had; AdamW's moment estimates restart.

use std::path::Path;
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::{SliceRandom, index};
use rand_chacha::ChaCha8Rng;

use super::TrainError;
use super::cpu_step::{LayerWeights, StepMlp};
use super::loss::official_loss;
use super::metrics::{ScoreSummary, pearson_per_voxel, summarise};
use super::training_set::TrainingSet;
use crate::model::{Nrf, NrfNet, feature_tensors};
use crate::query::{ImageQuery, QueryEngine};
use crate::space::normalise_mni;

/// How to train.
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// AdamW learning rate (official 3e-4).
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// AdamW decoupled weight decay (official 0.015).
    #[config(default = 0.015)]
    pub weight_decay: f64,
    /// Images per batch (official 32).
    #[config(default = 32)]
    pub batch_images: usize,
    /// Voxels sampled per image per batch (official 2000).
    #[config(default = 2000)]
    pub voxels_per_image: usize,
    /// Upper bound on epochs.
    #[config(default = 100)]
    pub max_epochs: usize,
    /// Validations without a better validation median r before stopping (official 5).
    #[config(default = 5)]
    pub patience: usize,
    /// Validate every this many epochs (and after the last). Very small training sets make
    /// epochs of one step, where validating after each would dominate the time.
    #[config(default = 1)]
    pub validate_every: usize,
    /// Seed of batches (and of the initial weights of new models).
    #[config(default = 0)]
    pub seed: u64,
    /// Whether the feature merger trains (false: MLP only, merger frozen).
    #[config(default = true)]
    pub train_merger: bool,
}

/// What the trainer reports.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// Before the first step: the starting model's validation scores (what training must beat).
    Started {
        /// Validation scores of the starting model.
        validation: ScoreSummary,
    },
    /// After every optimisation step.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// Loss of this batch.
        loss: f32,
        /// Image × voxel samples per second over this epoch so far.
        samples_per_second: f64,
        /// Seconds left in this epoch at the current speed.
        epoch_eta_seconds: f64,
    },
    /// After every epoch's validation.
    Validated {
        /// 1-based epoch.
        epoch: usize,
        /// Mean training loss of the epoch.
        train_loss: f32,
        /// Validation scores of this epoch.
        validation: ScoreSummary,
        /// Best validation median r so far.
        best_median_r: f32,
        /// Whether this epoch is the new best.
        improved: bool,
    },
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StopReason {
    /// `patience` validations without improvement.
    EarlyStopped,
    /// `max_epochs` reached.
    MaxEpochs,
    /// The callback asked to stop.
    Cancelled,
}

/// The result of training.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The best model (by validation median r).
    pub model: Nrf,
    /// Its epoch (0: the starting model was never beaten).
    pub best_epoch: usize,
    /// Its validation scores.
    pub best: ScoreSummary,
    /// Epochs run.
    pub epochs: usize,
    /// Why it stopped.
    pub stopped: StopReason,
}

/// Pearson r of `model` per voxel over `data`'s `rows` (`None` where r is undefined).
pub fn voxel_scores(
    model: &Nrf,
    data: &TrainingSet,
    rows: &[usize],
) -> Result<Vec<Option<f32>>, TrainError> {
    let predicted = predict_rows(model, data, rows)?;
    Ok(pearson_per_voxel(
        &predicted,
        &data.rows_of(rows),
        data.voxels(),
    ))
}

/// Validation scores of `model` on `data`'s validation rows (all voxels).
pub fn validate(
    model: &Nrf,
    data: &TrainingSet,
    rows: &[usize],
) -> Result<ScoreSummary, TrainError> {
    let scores = voxel_scores(model, data, rows)?;
    summarise(&scores).ok_or_else(|| {
        TrainError::Invalid(
            "no voxel has a defined validation r (constant responses or predictions)".into(),
        )
    })
}

/// Predictions `[rows, voxels]` of `model` at the training set's voxels.
pub fn predict_rows(
    model: &Nrf,
    data: &TrainingSet,
    rows: &[usize],
) -> Result<Vec<f32>, TrainError> {
    let engine = QueryEngine::new(model);
    let queries = rows
        .iter()
        .map(|&row| engine.prepare(model, &data.features[row]))
        .collect::<Result<Vec<_>, _>>()?;
    // All the rows at the voxels together: on the CPU the voxels are encoded once.
    Ok(ImageQuery::query_each(
        &queries,
        &data.coordinates,
        &mut |_, _| true,
    )?)
}

/// Checks everything that could fail late, before any training starts.
fn check(model: &Nrf, data: &TrainingSet, config: &TrainConfig) -> Result<(), TrainError> {
    if data.train_rows.is_empty() {
        return Err(TrainError::Invalid("no training images".into()));
    }
    if data.validation_rows.len() < 2 {
        return Err(TrainError::Invalid(format!(
            "{} validation images; at least 2 are needed to compute a correlation",
            data.validation_rows.len()
        )));
    }
    if data.voxels() == 0 {
        return Err(TrainError::Invalid("the dataset has no voxels".into()));
    }
    if config.batch_images == 0 || config.voxels_per_image == 0 {
        return Err(TrainError::Invalid(
            "batch size and voxels per image must be at least 1".into(),
        ));
    }
    if let Some(features) = data.features.first() {
        model.check_features(features)?;
    }
    Ok(())
}

/// Trains `model` on `data`. When `save_best` is given, the best model is written there
/// (atomically) every time it improves, so a cancelled or crashed run leaves it behind.
pub fn train(
    model: Nrf,
    data: &TrainingSet,
    config: &TrainConfig,
    save_best: Option<&Path>,
    events: &mut dyn FnMut(&TrainEvent) -> bool,
) -> Result<TrainOutcome, TrainError> {
    check(&model, data, config)?;
    let device = model.device();
    let autodiff = device.clone().autodiff();
    let mut net = model.net.clone().fork(&autodiff).train();
    if !config.train_merger {
        net.merger = net.merger.no_grad();
    }
    let mut optimizer = adamw(config.weight_decay);

    let start_epoch = model
        .info
        .training
        .as_ref()
        .and_then(|t| t.get("epoch"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize;
    let mut best = validate(&model, data, &data.validation_rows)?;
    if !events(&TrainEvent::Started { validation: best }) {
        return Ok(TrainOutcome {
            model,
            best_epoch: start_epoch,
            best,
            epochs: 0,
            stopped: StopReason::Cancelled,
        });
    }
    let mut best_model = model;
    let mut best_epoch = start_epoch;
    let mut since_best = 0;
    let batch = config.batch_images.min(data.train_rows.len());
    let per_image = config.voxels_per_image.min(data.voxels());
    let steps = data.train_rows.len().div_ceil(batch);
    let mut stopped = StopReason::MaxEpochs;
    let mut epochs = 0;
    // Training loss since the last validation.
    let (mut loss_sum, mut loss_steps) = (0.0f64, 0usize);
    let validate_every = config.validate_every.max(1);

    'epochs: for epoch in start_epoch + 1..=start_epoch + config.max_epochs {
        let mut rng =
            ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(0x9E37_79B9) ^ epoch as u64);
        let mut rows = data.train_rows.clone();
        rows.shuffle(&mut rng);
        let started = Instant::now();
        for (step, images) in rows.chunks(batch).enumerate() {
            let loss = train_step(
                &mut net,
                &mut optimizer,
                data,
                images,
                per_image,
                &mut rng,
                config,
                &best_model,
                &autodiff,
            )?;
            loss_sum += f64::from(loss);
            loss_steps += 1;
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            let done = step + 1;
            let event = TrainEvent::Step {
                epoch,
                step: done,
                steps,
                loss,
                samples_per_second: (done * batch * per_image) as f64 / elapsed,
                epoch_eta_seconds: elapsed / done as f64 * (steps - done) as f64,
            };
            if !events(&event) {
                stopped = StopReason::Cancelled;
                break 'epochs;
            }
        }
        epochs += 1;
        if epochs % validate_every != 0 && epochs != config.max_epochs {
            continue;
        }
        let mut current = best_model.with_net(net.valid());
        current.info.training = Some(serde_json::json!({
            "epoch": epoch,
            "seed": config.seed,
            "config": config,
            "subject": data.subject,
            "train_images": data.train_rows.len(),
        }));
        let scores = validate(&current, data, &data.validation_rows)?;
        let improved = scores.median > best.median;
        if improved {
            best = scores;
            best_epoch = epoch;
            since_best = 0;
            current
                .info
                .scores
                .insert("val_median_r".into(), f64::from(scores.median));
            if let Some(path) = save_best {
                current.save(path)?;
            }
            best_model = current;
        } else {
            since_best += 1;
        }
        let event = TrainEvent::Validated {
            epoch,
            train_loss: (loss_sum / loss_steps.max(1) as f64) as f32,
            validation: scores,
            best_median_r: best.median,
            improved,
        };
        (loss_sum, loss_steps) = (0.0, 0);
        if !events(&event) {
            stopped = StopReason::Cancelled;
            break;
        }
        if since_best >= config.patience {
            stopped = StopReason::EarlyStopped;
            break;
        }
    }
    Ok(TrainOutcome {
        model: best_model,
        best_epoch,
        best,
        epochs,
        stopped,
    })
}

/// One AdamW step on a batch of `images` (rows), each with its own `per_image` voxels.
#[allow(clippy::too_many_arguments)]
fn train_step(
    net: &mut NrfNet,
    optimizer: &mut burn::optim::ModuleOptimizer,
    data: &TrainingSet,
    images: &[usize],
    per_image: usize,
    rng: &mut ChaCha8Rng,
    config: &TrainConfig,
    model: &Nrf,
    device: &Device,
) -> Result<f32, TrainError> {
    let voxels = data.voxels();
    let b = images.len();
    let mut coords = Vec::with_capacity(b * per_image * 3);
    let mut targets = Vec::with_capacity(b * per_image);
    for &row in images {
        let responses = data.row(row);
        for v in index::sample(rng, voxels, per_image) {
            coords.extend(normalise_mni(data.coordinates[v]).to_array());
            targets.push(responses[v]);
        }
    }
    let features: Vec<_> = images.iter().map(|&r| &data.features[r]).collect();
    let (tokens, global) = feature_tensors(&features, &model.config, device);
    let coords = Tensor::<3>::from_data(TensorData::new(coords, [b, per_image, 3]), device);
    let targets = Tensor::<2>::from_data(TensorData::new(targets, [b, per_image]), device);
    let (loss, grads) = loss_and_gradients(net, tokens, global, coords, targets)?;
    let value = loss
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))?[0];
    if !value.is_finite() {
        return Err(TrainError::Invalid(format!(
            "the loss became {value}; lower the learning rate or check the responses for extreme values"
        )));
    }
    *net = optimizer.step(config.learning_rate, net.clone(), grads);
    Ok(value)
}

/// The official loss of one batch and its gradients, for a network on an autodiff device. On the
/// CPU the MLP's forward and backward take the direct path ([`super::cpu_step`]) and burn's
/// autodiff runs only the merger, from the latent's gradient; elsewhere, or with
/// `NRF_CPU_KERNEL=burn`, everything runs in burn ([`burn_loss_and_gradients`], the reference).
///
/// # Shapes
/// - `tokens`: `[B, 2, P², D]`, `global`: `[B, G]`
/// - `normalised`: `[B, N, 3]` normalised coordinates, `targets`: `[B, N]`
/// - loss: `[1]`
pub fn loss_and_gradients(
    net: &NrfNet,
    tokens: Tensor<4>,
    global: Tensor<2>,
    normalised: Tensor<3>,
    targets: Tensor<2>,
) -> Result<(Tensor<1>, GradientsParams), TrainError> {
    if direct_step_on(&net.fourier.b.clone().inner().device()) {
        direct_loss_and_gradients(net, tokens, global, normalised, targets)
    } else {
        Ok(burn_loss_and_gradients(
            net, tokens, global, normalised, targets,
        ))
    }
}

/// Whether [`loss_and_gradients`] takes the direct CPU path for a network on `device` (its
/// device without autodiff): on the CPU, unless `NRF_CPU_KERNEL=burn`.
pub fn direct_step_on(device: &Device) -> bool {
    *device == Device::flex() && !crate::device::burn_asked_for_on_cpu()
}

/// [`loss_and_gradients`] with the MLP on the direct CPU path: the latent from burn's merger
/// (tracked when the merger trains), the MLP's loss and gradients from [`StepMlp`], then the
/// merger's gradients by back-propagating the latent's gradient through burn's graph
/// (d(Σ latent ⊙ dLoss/dLatent) = the merger's share of dLoss).
fn direct_loss_and_gradients(
    net: &NrfNet,
    tokens: Tensor<4>,
    global: Tensor<2>,
    normalised: Tensor<3>,
    targets: Tensor<2>,
) -> Result<(Tensor<1>, GradientsParams), TrainError> {
    let cpu = Device::flex();
    let read = |t: Tensor<2>| -> Result<Vec<f32>, TrainError> {
        t.inner()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| TrainError::Readback(format!("{e:?}")))
    };
    let latent = net.latent(tokens, global); // [B, L]
    let [b, l] = latent.dims();
    let [_, n, _] = normalised.dims();
    let mlp = StepMlp {
        layers: net
            .mlp
            .layers
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                let [inputs, out] = layer.weight.dims();
                Ok(LayerWeights {
                    weight: read(layer.weight.val())?,
                    bias: match &layer.bias {
                        Some(bias) => read(bias.val().reshape([1, out]))?,
                        None => vec![0.0; out],
                    },
                    inputs,
                    out,
                    takes_input: index == 0 || net.mlp.latent_in.contains(&index),
                })
            })
            .collect::<Result<_, TrainError>>()?,
        fourier_b: read(net.fourier.b.clone())?,
        latent: l,
    };
    let step = mlp.loss_and_gradients(
        &read(latent.clone())?,
        &read(normalised.reshape([b * n, 3]))?,
        &read(targets)?,
        b,
    );
    let mut grads = if latent.is_tracked() {
        let upstream =
            Tensor::<2>::from_data(TensorData::new(step.latent, [b, l]), &latent.device());
        GradientsParams::from_grads((latent * upstream).sum().backward(), net)
    } else {
        GradientsParams::new()
    };
    for ((layer, weight), bias) in net.mlp.layers.iter().zip(step.weight).zip(step.bias) {
        let [inputs, out] = layer.weight.dims();
        grads.register(
            layer.weight.id,
            Tensor::<2>::from_data(TensorData::new(weight, [inputs, out]), &cpu),
        );
        if let Some(param) = &layer.bias {
            grads.register(
                param.id,
                Tensor::<1>::from_data(TensorData::new(bias, [out]), &cpu),
            );
        }
    }
    Ok((
        Tensor::from_data(TensorData::new(vec![step.loss], [1]), &cpu),
        grads,
    ))
}

/// [`loss_and_gradients`] all in burn: the reference the direct path must match.
pub fn burn_loss_and_gradients(
    net: &NrfNet,
    tokens: Tensor<4>,
    global: Tensor<2>,
    normalised: Tensor<3>,
    targets: Tensor<2>,
) -> (Tensor<1>, GradientsParams) {
    let latent = net.latent(tokens, global); // [B, L]
    let prediction = net.forward_sampled(latent, normalised); // [B, N]
    let loss = official_loss(prediction, targets); // [1]
    let grads = GradientsParams::from_grads(loss.backward(), net);
    (loss, grads)
}

/// AdamW with the official hyper-parameters (betas 0.9/0.999, eps 1e-8) and a weight decay.
pub fn adamw(weight_decay: f64) -> burn::optim::ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(weight_decay as f32)
        .init()
}
