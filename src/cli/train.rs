//! `nrf train` (a new NRF on one subject's data) and `nrf eval` (per-voxel r on held-out images,
//! an r map, JSON).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use nrf::data::dataset::Dataset;
use nrf::device::{DeviceChoice, compute_device};
use nrf::features::cache::FeatureCache;
use nrf::features::{FeatureExtractor, extractor_for};
use nrf::model::domain::VoxelDomain;
use nrf::model::{Domain, FeatureSpec, ModelInfo, Nrf, NrfConfig, NrfNet};
use nrf::train::data::TrainingSet;
use nrf::train::ensemble::EnsembleModel;
use nrf::train::metrics::{pearson_per_voxel, summarise};
use nrf::train::trainer::{StopReason, TrainConfig, TrainEvent, predict_rows, train};

use super::model::{DeviceArg, load_model};
use super::progress::ProgressBar;

/// Where the training data are.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// A dataset folder: the NSD-processed layout (as `nrf simulate` writes) or a plain folder
    /// (responses.nii.gz, mask.nii.gz, images.tsv).
    #[arg(long)]
    pub data: PathBuf,
    /// Subject (`1` or `subj01`) in an NSD-processed folder.
    #[arg(long, default_value = "1")]
    pub subject: String,
    /// ROI file to use in an NSD-processed folder.
    #[arg(long, default_value = "nsdgeneral")]
    pub roi: String,
    /// Feature cache folder (default: ~/.cache/nrf/features).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Compute features without reading or writing a cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
}

impl DataArgs {
    /// Opens the dataset, whichever layout it has.
    pub fn open(&self) -> Result<Dataset> {
        let dataset = Dataset::open(&self.data, &self.subject, &self.roi)?;
        for warning in &dataset.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(dataset)
    }

    fn cache(&self) -> Result<Option<FeatureCache>> {
        if self.no_cache {
            return Ok(None);
        }
        let root = match &self.cache {
            Some(dir) => dir.clone(),
            None => default_cache_dir()?,
        };
        Ok(Some(FeatureCache::open(root)?))
    }

    /// Features of every row, with a progress bar.
    pub fn training_set(
        &self,
        dataset: &Dataset,
        extractor: &dyn FeatureExtractor,
        only_validation: bool,
    ) -> Result<TrainingSet> {
        let cache = self.cache()?;
        let bar = ProgressBar::counting("features".into(), "images");
        let set = TrainingSet::from_dataset(
            dataset,
            extractor,
            cache.as_ref(),
            only_validation,
            &|done, total| {
                bar.update(done, total);
                true
            },
        )?;
        bar.finish();
        if let Some(cache) = &cache {
            let stats = cache.stats();
            eprintln!(
                "features: {} from the cache, {} computed ({})",
                stats.hits,
                stats.misses,
                cache.root().display()
            );
        }
        Ok(set)
    }
}

fn default_cache_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("cannot find a cache folder: set HOME or XDG_CACHE_HOME, or give --cache DIR")?;
    Ok(base.join("nrf").join("features"))
}

/// The training schedule, shared by `nrf train` and `nrf finetune`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Maximum epochs.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Validations without improvement before stopping.
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Validate every N epochs (for tiny training sets, whose epochs are one step).
    #[arg(long, default_value_t = 1)]
    pub validate_every: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_images: usize,
    /// Voxels sampled per image per batch.
    #[arg(long, default_value_t = 2000)]
    pub voxels_per_image: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.015)]
    pub weight_decay: f64,
    /// Seed of the initial weights, the image subset and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ScheduleArgs {
    /// The trainer's configuration.
    pub fn config(&self) -> TrainConfig {
        TrainConfig::new()
            .with_learning_rate(self.lr)
            .with_weight_decay(self.weight_decay)
            .with_batch_images(self.batch_images)
            .with_voxels_per_image(self.voxels_per_image)
            .with_max_epochs(self.epochs)
            .with_patience(self.patience)
            .with_validate_every(self.validate_every)
            .with_seed(self.seed)
    }
}

/// Options of `nrf train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The dataset.
    #[command(flatten)]
    pub data: DataArgs,
    /// The model to write (.nrf); it is written each time validation improves.
    #[arg(long)]
    pub out: PathBuf,
    /// Image features: `builtin` (no weights needed) or `clip:FOLDER` (a local HF CLIP folder).
    #[arg(long, default_value = "builtin")]
    pub features: String,
    /// Training images to use (a seeded subset; default all).
    #[arg(long)]
    pub images: Option<usize>,
    /// MLP width.
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    /// MLP layers (the output layer included).
    #[arg(long, default_value_t = 6)]
    pub layers: usize,
    /// Width of each token map's fused vector (official `downsample_dim`).
    #[arg(long, default_value_t = 128)]
    pub merged: usize,
    /// Width each token is projected to before fusing (official 128; smaller makes small models).
    #[arg(long, default_value_t = 128)]
    pub token_proj: usize,
    /// Epochs, batches, learning rate, seed.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Continue from the model already at --out (its recorded epoch); AdamW's moments restart.
    #[arg(long)]
    pub resume: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// Fails now, not after hours of training, if `out` cannot be written.
fn check_writable(out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "{}: the folder {} does not exist",
            out.display(),
            dir.display()
        );
    }
    tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("{}: cannot write in {}", out.display(), dir.display()))?;
    Ok(())
}

/// A new model sized for the extractor, with a seeded Fourier matrix and seeded initial weights.
fn new_model(
    args: &TrainArgs,
    extractor: &dyn FeatureExtractor,
    device: &burn::tensor::Device,
) -> Result<Nrf> {
    let side = (extractor.patches() as f64).sqrt().round() as usize;
    let config = NrfConfig::new()
        .with_token_dim(extractor.token_dim())
        .with_patches_per_side(side)
        .with_global_dim(extractor.global_dim())
        .with_merged_dim(args.merged)
        .with_token_proj_dim(args.token_proj)
        .with_hidden(args.width)
        .with_num_layers(args.layers);
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(Nrf {
        net: NrfNet::init_seeded(&config, args.schedule.seed, device)?,
        config,
        info: ModelInfo {
            features: Some(FeatureSpec {
                extractor: extractor.id(),
            }),
            ..ModelInfo::default()
        },
        domain: Domain::Unknown,
        source: None,
    })
}

fn extractor_named(name: &str, device: &burn::tensor::Device) -> Result<Box<dyn FeatureExtractor>> {
    if name == "builtin" {
        return Ok(extractor_for(
            Some(nrf::features::builtin::BUILTIN_ID),
            None,
            device,
        )?);
    }
    let Some(folder) = name.strip_prefix("clip:") else {
        bail!("--features {name:?}: expected builtin or clip:FOLDER");
    };
    Ok(extractor_for(
        Some("clip:layers=3,6"),
        Some(Path::new(folder)),
        device,
    )?)
}

/// `nrf train`.
pub fn train_command(args: &TrainArgs) -> Result<()> {
    check_writable(&args.out)?;
    let device = compute_device(DeviceChoice::from(args.device))?;
    let dataset = args.data.open()?;
    let (model, extractor) = if args.resume {
        let model = Nrf::load(&args.out, &device.device)
            .with_context(|| format!("--resume: reading {}", args.out.display()))?;
        let id = model.info.features.as_ref().map(|f| f.extractor.clone());
        let extractor = extractor_for(id.as_deref(), clip_folder(&args.features), &device.device)?;
        (model, extractor)
    } else {
        let extractor = extractor_named(&args.features, &device.device)?;
        (
            new_model(args, extractor.as_ref(), &device.device)?,
            extractor,
        )
    };
    let config = args.schedule.config();
    let set = prepare_set(
        &args.data,
        &dataset,
        extractor.as_ref(),
        args.images,
        config.seed,
    )?;
    let job = FitJob {
        data: &args.data,
        out: Some(&args.out),
        verb: "trained",
        device: &device.description,
    };
    fit(model, &dataset, &set, &config, &job)?;
    Ok(())
}

/// What a training run needs besides the model and its configuration.
struct FitJob<'a> {
    data: &'a DataArgs,
    /// Where the best model is written as it improves (`None`: kept in memory only).
    out: Option<&'a Path>,
    verb: &'a str,
    device: &'a str,
}

/// Features of the dataset, with the training images limited to a seeded subset of `images`.
fn prepare_set(
    data: &DataArgs,
    dataset: &Dataset,
    extractor: &dyn FeatureExtractor,
    images: Option<usize>,
    seed: u64,
) -> Result<TrainingSet> {
    let mut set = data.training_set(dataset, extractor, false)?;
    if let Some(n) = images {
        if n > set.train_rows.len() {
            bail!(
                "--images {n}: the dataset has only {} training images",
                set.train_rows.len()
            );
        }
        set.limit_training_images(n, seed);
    }
    Ok(set)
}

/// The model's record and domain, then training with progress; returns the best model.
fn fit(
    mut model: Nrf,
    dataset: &Dataset,
    set: &TrainingSet,
    config: &TrainConfig,
    job: &FitJob,
) -> Result<Nrf> {
    model.info.subject = Some(dataset.subject.clone());
    model.info.provenance = format!(
        "{} by nrf {} on {} ({}, {} training images, {} voxels){}",
        job.verb,
        env!("CARGO_PKG_VERSION"),
        job.data.data.display(),
        dataset.subject,
        set.train_rows.len(),
        set.voxels(),
        match &model.source {
            Some(source) if job.verb != "trained" => format!(", from {}", source.display()),
            _ => String::new(),
        }
    );
    model.domain = Domain::Voxels(VoxelDomain::new(set.coordinates.clone(), Vec::new(), None)?);
    if set.train_rows.len() < config.batch_images {
        eprintln!(
            "note: {} training images, fewer than one batch of {}: batches hold all of them",
            set.train_rows.len(),
            config.batch_images
        );
    }
    eprintln!(
        "{} {}×{} MLP on {} ({} training, {} validation images, {} voxels) on {}",
        if job.verb == "trained" {
            "training"
        } else {
            "fine-tuning"
        },
        model.config.hidden,
        model.config.num_layers,
        dataset.subject,
        set.train_rows.len(),
        set.validation_rows.len(),
        set.voxels(),
        job.device
    );
    let started = Instant::now();
    let bar = ProgressBar::counting("epoch 1".into(), "steps");
    let outcome = train(model, set, config, job.out, &mut |event| {
        match event {
            TrainEvent::Started { validation } => bar.println(format!(
                "starting model: validation median r {:.4}",
                validation.median
            )),
            TrainEvent::Step {
                epoch, step, steps, ..
            } => {
                bar.set_label(format!("epoch {epoch}"));
                bar.update(*step, *steps);
            }
            TrainEvent::Validated {
                epoch,
                train_loss,
                validation,
                improved,
                ..
            } => {
                bar.println(format!(
                    "epoch {epoch}: loss {train_loss:.4}, validation median r {:.4}{}",
                    validation.median,
                    match (*improved, job.out.is_some()) {
                        (true, true) => " (best, saved)",
                        (true, false) => " (best)",
                        _ => "",
                    }
                ));
            }
        }
        true
    })?;
    bar.finish();
    let why = match outcome.stopped {
        StopReason::EarlyStopped => format!("no improvement in {} validations", config.patience),
        StopReason::MaxEpochs => "maximum epochs reached".into(),
        StopReason::Cancelled => "cancelled".into(),
    };
    let target = job
        .out
        .map_or_else(|| "the member".to_string(), |p| p.display().to_string());
    if outcome.best_epoch == 0 {
        println!(
            "no epoch beat the starting model (validation median r {:.4}); {target} left unchanged ({why})",
            outcome.best.median,
        );
    } else {
        println!(
            "{}{target}: best validation median r {:.4} at epoch {} of {} ({why}), {:.1} s",
            if job.out.is_some() { "wrote " } else { "" },
            outcome.best.median,
            outcome.best_epoch,
            outcome.epochs,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(outcome.model)
}

fn clip_folder(features: &str) -> Option<&Path> {
    features.strip_prefix("clip:").map(Path::new)
}

/// Options of `nrf eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model (.nrf or an official run folder).
    #[arg(long)]
    pub model: PathBuf,
    /// The dataset.
    #[command(flatten)]
    pub data: DataArgs,
    /// A local HF CLIP folder, for models trained on CLIP features.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Write the per-voxel r as NIfTI in MNI space (2 mm grid, nearest voxel within reach).
    #[arg(long)]
    pub r_map: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// `nrf eval`.
pub fn eval_command(args: &EvalArgs) -> Result<()> {
    let device = compute_device(DeviceChoice::from(args.device))?;
    // A single model or an ensemble file: both predict the validation rows.
    let scored = if nrf::model::checkpoint::is_ensemble_file(&args.model) {
        Scored::Ensemble(Box::new(EnsembleModel::load(&args.model, &device.device)?))
    } else {
        Scored::Single(Box::new(load_model(
            &args.model,
            &Default::default(),
            &device,
        )?))
    };
    let info = match &scored {
        Scored::Single(model) => &model.info,
        Scored::Ensemble(ensemble) => &ensemble.info,
    };
    let id = info.features.as_ref().map(|f| f.extractor.clone());
    let extractor = extractor_for(id.as_deref(), args.clip.as_deref(), &device.device)
        .with_context(|| args.model.display().to_string())?;
    let dataset = args.data.open()?;
    let set = args.data.training_set(&dataset, extractor.as_ref(), true)?;
    let rows = &set.validation_rows;
    if rows.len() < 2 {
        bail!(
            "{}: {} validation images; at least 2 are needed for a correlation",
            args.data.data.display(),
            rows.len()
        );
    }
    let predicted = match &scored {
        Scored::Single(model) => predict_rows(model, &set, rows)?,
        Scored::Ensemble(ensemble) => ensemble.predict_rows(&set, rows)?,
    };
    let report = Report {
        name: args.model.display().to_string(),
        training_images: None,
        data: &args.data,
        r_map: args.r_map.as_deref(),
        json: args.json,
    };
    report.print(&dataset, &set, &predicted)
}

/// What `nrf eval` scores.
enum Scored {
    Single(Box<Nrf>),
    Ensemble(Box<EnsembleModel>),
}

/// How to report scores of predictions on the validation rows.
struct Report<'a> {
    name: String,
    /// Images the scored model was fitted on here (ridge), if known.
    training_images: Option<usize>,
    data: &'a DataArgs,
    r_map: Option<&'a Path>,
    json: bool,
}

impl Report<'_> {
    /// Per-voxel r of `predicted` (`[validation rows, voxels]`), its summary, the
    /// noise-ceiling-normalised summary for simulated subjects, and optionally an r map.
    fn print(&self, dataset: &Dataset, set: &TrainingSet, predicted: &[f32]) -> Result<()> {
        let rows = &set.validation_rows;
        let measured = set.rows_of(rows);
        let scores = pearson_per_voxel(predicted, &measured, set.voxels());
        let summary = summarise(&scores).context("no voxel has a defined r")?;
        let ceiling = noise_ceiling(self.data, dataset, set.voxels())?;
        let normalised = ceiling.as_ref().and_then(|nc| {
            let values: Vec<Option<f32>> = scores
                .iter()
                .zip(nc)
                .map(|(r, c)| match (r, *c > 1.0) {
                    (Some(r), true) => Some(r / (c / 100.0).sqrt()),
                    _ => None,
                })
                .collect();
            summarise(&values)
        });
        if let Some(path) = self.r_map {
            write_r_map(path, set, &scores)?;
        }
        if self.json {
            println!(
                "{}",
                serde_json::json!({
                    "model": self.name,
                    "subject": dataset.subject,
                    "validation_images": rows.len(),
                    "training_images": self.training_images,
                    "voxels": set.voxels(),
                    "r": summary,
                    "r_over_sqrt_noise_ceiling": normalised,
                })
            );
            return Ok(());
        }
        println!(
            "{} on {} ({} validation images): median r {:.4}, mean r {:.4} over {} voxels{}",
            self.name,
            dataset.subject,
            rows.len(),
            summary.median,
            summary.mean,
            summary.defined,
            if summary.undefined > 0 {
                format!(
                    " ({} voxels with constant values left out)",
                    summary.undefined
                )
            } else {
                String::new()
            }
        );
        if let Some(n) = normalised {
            println!("noise-ceiling-normalised (r / √NC): median {:.4}", n.median);
        }
        Ok(())
    }
}

/// Options of `nrf ridge`.
#[derive(Debug, Args)]
pub struct RidgeArgs {
    /// The dataset.
    #[command(flatten)]
    pub data: DataArgs,
    /// Image features: `builtin` or `clip:FOLDER`.
    #[arg(long, default_value = "builtin")]
    pub features: String,
    /// Training images to use (the same seeded subset `nrf train --images` takes).
    #[arg(long)]
    pub images: Option<usize>,
    /// Cross-validation folds for the per-voxel penalty.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed of the image subset and the folds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the per-voxel r as NIfTI in MNI space (2 mm grid).
    #[arg(long)]
    pub r_map: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `nrf ridge`: the voxel-wise ridge baseline, fitted and scored like an NRF.
pub fn ridge_command(args: &RidgeArgs) -> Result<()> {
    use nrf::train::ridge::{RidgeConfig, RidgeModel};
    let device = compute_device(DeviceChoice::Cpu)?;
    let extractor = extractor_named(&args.features, &device.device)?;
    let dataset = args.data.open()?;
    let mut set = args
        .data
        .training_set(&dataset, extractor.as_ref(), false)?;
    if let Some(n) = args.images {
        if n > set.train_rows.len() {
            bail!(
                "--images {n}: the dataset has only {} training images",
                set.train_rows.len()
            );
        }
        set.limit_training_images(n, args.seed);
    }
    let started = Instant::now();
    let config = RidgeConfig {
        folds: args.folds,
        seed: args.seed,
        ..RidgeConfig::default()
    };
    let model = RidgeModel::fit(&set, &config, &device.device)?;
    let held: Vec<_> = set
        .validation_rows
        .iter()
        .map(|&r| &set.features[r])
        .collect();
    let predicted = model.predict(&held)?;
    eprintln!(
        "ridge on {} training images, {} voxels, {}-fold cross-validated α: {:.1} s",
        set.train_rows.len(),
        set.voxels(),
        args.folds,
        started.elapsed().as_secs_f64()
    );
    let report = Report {
        name: format!("ridge ({})", extractor.id()),
        training_images: Some(set.train_rows.len()),
        data: &args.data,
        r_map: args.r_map.as_deref(),
        json: args.json,
    };
    report.print(&dataset, &set, &predicted)
}

/// A simulated subject's estimated noise ceilings (%), in the dataset's voxel order.
fn noise_ceiling(args: &DataArgs, dataset: &Dataset, voxels: usize) -> Result<Option<Vec<f32>>> {
    let path = args
        .data
        .join("virtual")
        .join(&dataset.subject)
        .join("noise_ceiling.npy");
    if !path.is_file() || args.roi != "nsdgeneral" || !dataset.warnings.is_empty() {
        return Ok(None);
    }
    let nc = nrf::npy::read_f32(&path)?;
    Ok((nc.data.len() == voxels).then_some(nc.data))
}

/// The r map on a 2 mm MNI grid (see [`nrf::train::metrics::score_map`]).
fn write_r_map(path: &Path, set: &TrainingSet, scores: &[Option<f32>]) -> Result<()> {
    let domain = VoxelDomain::new(set.coordinates.clone(), Vec::new(), None)?;
    let (map, _) = nrf::train::metrics::score_map(&domain, scores, 2.0)?;
    map.write_nifti(path, nrf::volume::nifti::SpaceCode::Mni152)?;
    eprintln!("wrote {}: r map at 2 mm", path.display());
    Ok(())
}

/// What trains when fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Trainable {
    /// Merger and MLP.
    All,
    /// The MLP only; the feature merger stays frozen.
    Mlp,
}

/// Options of `nrf finetune`.
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// The source model (.nrf or an official run folder); repeat with --ensemble to fine-tune
    /// several sources and combine them per voxel.
    #[arg(long = "from", required = true)]
    pub from: Vec<PathBuf>,
    /// The target subject's data.
    #[command(flatten)]
    pub data: DataArgs,
    /// The fine-tuned model to write (.nrf; with --ensemble, an ensemble file).
    #[arg(long)]
    pub out: PathBuf,
    /// Target training images to use (a seeded subset, e.g. 20 or 200; default all).
    #[arg(long)]
    pub images: Option<usize>,
    /// What trains.
    #[arg(long, value_enum, default_value_t = Trainable::All)]
    pub train: Trainable,
    /// Fine-tune every --from model, then fit a per-voxel least-squares combination of their
    /// predictions (with an intercept) on the target's training images.
    #[arg(long)]
    pub ensemble: bool,
    /// Ridge penalty on the ensemble weights (keeps similar members from getting wild weights).
    #[arg(long, default_value_t = 1.0, requires = "ensemble")]
    pub ensemble_ridge: f64,
    /// A local HF CLIP folder, for models trained on CLIP features.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Epochs, batches, learning rate, seed.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// A source model ready for fine-tuning, with its extractor.
fn load_source(
    path: &Path,
    clip: Option<&Path>,
    device: &nrf::device::ComputeDevice,
) -> Result<(Nrf, Box<dyn FeatureExtractor>)> {
    let mut model = load_model(path, &Default::default(), device)?;
    model.source = Some(path.to_path_buf());
    // A fresh training record: epochs count from the start of this fine-tuning.
    model.info.training = None;
    model.info.scores.clear();
    let id = model.info.features.as_ref().map(|f| f.extractor.clone());
    let extractor = extractor_for(id.as_deref(), clip, &device.device)
        .with_context(|| path.display().to_string())?;
    Ok((model, extractor))
}

/// `nrf finetune`: source subjects' models trained further on a target subject's data. The
/// starting model's validation r on the target is reported first; it is kept unless training
/// beats it. With `--ensemble`, every source is fine-tuned and the results are combined per voxel.
pub fn finetune_command(args: &FinetuneArgs) -> Result<()> {
    check_writable(&args.out)?;
    if args.from.len() > 1 && !args.ensemble {
        bail!(
            "{} --from models: give --ensemble to fine-tune each and combine them, or one --from",
            args.from.len()
        );
    }
    let device = compute_device(DeviceChoice::from(args.device))?;
    let sources = args
        .from
        .iter()
        .map(|path| load_source(path, args.clip.as_deref(), &device))
        .collect::<Result<Vec<_>>>()?;
    let extractor_id = sources[0].1.id();
    if let Some((path, _)) = args
        .from
        .iter()
        .zip(&sources)
        .find(|(_, (_, e))| e.id() != extractor_id)
    {
        bail!(
            "{}: trained on features {}, but {} on {extractor_id}; ensemble members must share features",
            path.display(),
            sources[args.from.iter().position(|p| p == path).unwrap_or(0)]
                .1
                .id(),
            args.from[0].display()
        );
    }
    let dataset = args.data.open()?;
    let config = args
        .schedule
        .config()
        .with_train_merger(args.train == Trainable::All);
    let set = prepare_set(
        &args.data,
        &dataset,
        sources[0].1.as_ref(),
        args.images,
        config.seed,
    )?;
    if !args.ensemble {
        let (model, _) = sources.into_iter().next().context("no --from model")?;
        let job = FitJob {
            data: &args.data,
            out: Some(&args.out),
            verb: "fine-tuned",
            device: &device.description,
        };
        fit(model, &dataset, &set, &config, &job)?;
        return Ok(());
    }
    let mut members = Vec::with_capacity(sources.len());
    for (k, (model, _)) in sources.into_iter().enumerate() {
        eprintln!(
            "member {} of {}: {}",
            k + 1,
            args.from.len(),
            args.from[k].display()
        );
        let job = FitJob {
            data: &args.data,
            out: None,
            verb: "fine-tuned",
            device: &device.description,
        };
        members.push(fit(model, &dataset, &set, &config, &job)?);
    }
    let started = Instant::now();
    let mut ensemble = EnsembleModel::fit(members, &set, args.ensemble_ridge)?;
    let predicted = ensemble.predict_rows(&set, &set.validation_rows)?;
    let measured = set.rows_of(&set.validation_rows);
    let summary = summarise(&pearson_per_voxel(&predicted, &measured, set.voxels()))
        .context("no voxel has a defined r")?;
    ensemble.info.provenance = format!(
        "ensemble of {} models fine-tuned by nrf {} on {} ({}, {} training images, {} voxels), from {}",
        args.from.len(),
        env!("CARGO_PKG_VERSION"),
        args.data.data.display(),
        dataset.subject,
        set.train_rows.len(),
        set.voxels(),
        args.from
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    ensemble
        .info
        .scores
        .insert("val_median_r".into(), f64::from(summary.median));
    ensemble.save(&args.out)?;
    println!(
        "wrote {}: ensemble of {} fine-tuned models, validation median r {:.4} (combination fitted in {:.1} s)",
        args.out.display(),
        args.from.len(),
        summary.median,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Options of `nrf superres`.
#[derive(Debug, Args)]
pub struct SuperresArgs {
    /// The NRF trained on the subject's voxels (.nrf).
    #[arg(long)]
    pub model: PathBuf,
    /// A simulated dataset (`nrf simulate`); the truth comes from its virtual subjects.
    #[command(flatten)]
    pub data: DataArgs,
    /// Training images of the ridge baseline (the same seeded subset `nrf ridge --images` takes;
    /// default all).
    #[arg(long)]
    pub images: Option<usize>,
    /// Seed of the ridge's image subset and folds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where to compute the NRF.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// `nrf superres`: the NRF queried between a virtual subject's voxels vs trilinear upsampling of
/// the ridge baseline, both scored against the noise-free truth on held-out images.
pub fn superres_command(args: &SuperresArgs) -> Result<()> {
    use nrf::data::simulate::{open_virtual_subject, truth_at};
    use nrf::train::ridge::{RidgeConfig, RidgeModel};
    use nrf::train::superres::{BetweenVoxels, check_voxels, score};
    let number = nrf::data::dataset::normalise_subject(&args.data.subject)
        .and_then(|s| s[4..].parse::<usize>().ok())
        .with_context(|| {
            format!(
                "--subject {:?}: expected a number or subjNN",
                args.data.subject
            )
        })?;
    let (_, subject) = open_virtual_subject(&args.data.data, number)?;
    let device = compute_device(DeviceChoice::from(args.device))?;
    let model = Nrf::load(&args.model, &device.device)?;
    let id = model.info.features.as_ref().map(|f| f.extractor.clone());
    let extractor = extractor_for(id.as_deref(), None, &device.device)
        .with_context(|| args.model.display().to_string())?;
    let dataset = args.data.open()?;
    let mut set = prepare_set(
        &args.data,
        &dataset,
        extractor.as_ref(),
        args.images,
        args.seed,
    )?;
    let voxels = subject.voxels();
    check_voxels(&voxels, &set.coordinates)?;
    let between = BetweenVoxels::of(&subject, &voxels);
    eprintln!(
        "{} points between {} voxels, {} held-out images",
        between.points.len(),
        voxels.len(),
        set.validation_rows.len()
    );
    let started = Instant::now();
    let cpu = compute_device(DeviceChoice::Cpu)?;
    let ridge = RidgeModel::fit(
        &set,
        &nrf::train::ridge::RidgeConfig {
            seed: args.seed,
            ..RidgeConfig::default()
        },
        &cpu.device,
    )?;
    let rows = std::mem::take(&mut set.validation_rows);
    let held: Vec<_> = rows.iter().map(|&r| &set.features[r]).collect();
    let baseline = ridge.predict(&held)?;
    let bar = ProgressBar::counting("truth and NRF".into(), "images");
    let engine = nrf::query::QueryEngine::new(&model);
    let (mut truth_between, mut truth_voxels) = (Vec::new(), Vec::new());
    let (mut nrf_between, mut nrf_voxels) = (Vec::new(), Vec::new());
    for (done, &row) in rows.iter().enumerate() {
        let image = dataset.image(row)?;
        truth_between.extend(truth_at(&subject, &image, &between.points));
        truth_voxels.extend(truth_at(&subject, &image, &set.coordinates));
        let query = engine.prepare(&model, &set.features[row])?;
        nrf_between.extend(query.query_points(&between.points)?);
        nrf_voxels.extend(query.query_points(&set.coordinates)?);
        bar.update(done + 1, rows.len());
    }
    bar.finish();
    let scores = score(
        &between,
        set.voxels(),
        &truth_between,
        &truth_voxels,
        &nrf_between,
        &nrf_voxels,
        &baseline,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": args.model.display().to_string(),
                "subject": dataset.subject,
                "ridge_training_images": set.train_rows.len(),
                "scores": scores,
            })
        );
        return Ok(());
    }
    println!(
        "median r against the noise-free truth over {} held-out images ({:.1} s):",
        scores.images,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  between voxels (0.9 mm, {} points): NRF {:.4}, trilinear ridge {:.4}",
        scores.points, scores.nrf_between.median, scores.baseline_trilinear_between.median
    );
    println!(
        "  at the voxels ({}): NRF {:.4}, ridge {:.4}",
        set.voxels(),
        scores.nrf_at_voxels.median,
        scores.baseline_at_voxels.median
    );
    Ok(())
}
