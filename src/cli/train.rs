//! `nrf train` (a new NRF on one subject's data), and what the training commands share: where
//! the data are, the schedule, the training set and a reported training run (`fit`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use nrf::data::dataset::{Dataset, Split};
use nrf::device::{DeviceChoice, compute_device};
use nrf::features::cache::FeatureCache;
use nrf::features::{FeatureExtractor, extractor_for};
use nrf::model::domain::VoxelDomain;
use nrf::model::{Domain, FeatureSpec, ModelInfo, Nrf, NrfConfig, NrfNet};
use nrf::train::trainer::{StopReason, TrainConfig, TrainEvent, train};
use nrf::train::training_set::TrainingSet;

use super::predict::DeviceArg;
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

    /// Features of the rows in `splits`, with a progress bar.
    pub fn training_set(
        &self,
        dataset: &Dataset,
        extractor: &dyn FeatureExtractor,
        splits: &[Split],
    ) -> Result<TrainingSet> {
        let cache = self.cache()?;
        let bar = ProgressBar::counting("features".into(), "images");
        let set = TrainingSet::from_dataset(
            dataset,
            extractor,
            cache.as_ref(),
            splits,
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

pub(super) fn default_cache_dir() -> Result<PathBuf> {
    nrf::features::cache::default_root()
        .context("cannot find a cache folder: set HOME or XDG_CACHE_HOME, or give --cache DIR")
}

/// A count that must be 1 or more (0 epochs would train nothing and say nothing).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 would train nothing)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// The training schedule, shared by `nrf train` and `nrf finetune`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Maximum epochs.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    pub epochs: usize,
    /// Validations without improvement before stopping.
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Validate every N epochs (for tiny training sets, whose epochs are one step).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub validate_every: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    pub batch_images: usize,
    /// Voxels sampled per image per batch.
    #[arg(long, default_value_t = 2000, value_parser = at_least_one)]
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
    /// Standard deviation of the Gaussian Fourier matrix B (official `positional_embed.gaussian.std`,
    /// 32): larger resolves finer spatial detail, smaller gives smoother maps.
    #[arg(long, default_value_t = 32.0, value_parser = positive_scale)]
    pub fourier_scale: f64,
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

/// A finite scale above 0 for `--fourier-scale`.
fn positive_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{text:?}: expected a number above 0, e.g. 32")),
    }
}

/// Fails now, not after hours of training, if `out` cannot be written.
pub(super) fn check_writable(out: &Path) -> Result<()> {
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
pub(super) fn new_model(
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
        .with_num_layers(args.layers)
        .with_fourier_scale(args.fourier_scale);
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

pub(super) fn extractor_named(
    name: &str,
    device: &burn::tensor::Device,
) -> Result<Box<dyn FeatureExtractor>> {
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
        &[Split::Train, Split::Validation],
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
pub(super) struct FitJob<'a> {
    pub(super) data: &'a DataArgs,
    /// Where the best model is written as it improves (`None`: kept in memory only).
    pub(super) out: Option<&'a Path>,
    pub(super) verb: &'a str,
    pub(super) device: &'a str,
}

/// Features of the dataset's rows in `splits` (fitting takes training and validation, never
/// test), with the training images limited to a seeded subset of `images`.
pub(super) fn prepare_set(
    data: &DataArgs,
    dataset: &Dataset,
    extractor: &dyn FeatureExtractor,
    splits: &[Split],
    images: Option<usize>,
    seed: u64,
) -> Result<TrainingSet> {
    let mut set = data.training_set(dataset, extractor, splits)?;
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
pub(super) fn fit(
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
        "{} {}×{} MLP on {} ({} training, {} validation images, {} voxels{}) on {}",
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
        match dataset.test_rows().len() {
            0 => String::new(),
            n => format!("; {n} test images held out, never read"),
        },
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

pub(super) fn clip_folder(features: &str) -> Option<&Path> {
    features.strip_prefix("clip:").map(Path::new)
}
