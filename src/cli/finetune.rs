//! `nrf finetune`: source models trained further on a target subject's data, one or an
//! ensemble combined per voxel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use nrf::data::dataset::Split;
use nrf::device::{DeviceChoice, compute_device};
use nrf::features::{FeatureExtractor, extractor_for};
use nrf::model::Nrf;
use nrf::train::ensemble::EnsembleModel;

use super::predict::{DeviceArg, load_model};

use super::train::{DataArgs, FitJob, ScheduleArgs, check_writable, fit, prepare_set};

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
        &[Split::Train, Split::Validation],
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
    let summary = ensemble.validate(&set)?;
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
