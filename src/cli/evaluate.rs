//! `nrf eval` (per-voxel r of a model on held-out images, an r map, JSON) and `nrf ridge` (the
//! voxel-wise ridge baseline, fitted and scored the same way), and `nrf fwrf` (the feature-weighted
//! receptive field baseline). All score the test split when the dataset has one (`--split`
//! chooses), which nothing that fits or selects has read.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use nrf::data::dataset::{Dataset, Split};
use nrf::device::{DeviceChoice, compute_device};
use nrf::features::extractor_for;
use nrf::model::Nrf;
use nrf::model::domain::VoxelDomain;
use nrf::train::ensemble::EnsembleModel;
use nrf::train::metrics::{pearson_per_voxel, summarise};
use nrf::train::trainer::predict_rows;
use nrf::train::training_set::TrainingSet;

use super::predict::{DeviceArg, load_model};

use super::train::{DataArgs, extractor_named, prepare_set};

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
    /// What to score and how to report it.
    #[command(flatten)]
    pub score: ScoreArgs,
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
    let split = held_out_split(args.score.split, &dataset, &args.data.data)?;
    let set = args
        .data
        .training_set(&dataset, extractor.as_ref(), &[split])?;
    let rows = set.rows_in(split);
    let predicted = match &scored {
        Scored::Single(model) => predict_rows(model, &set, rows)?,
        Scored::Ensemble(ensemble) => ensemble.predict_rows(&set, rows)?,
    };
    let report = Report {
        name: args.model.display().to_string(),
        split,
        training_images: None,
        data: &args.data,
        r_map: args.score.r_map.as_deref(),
        json: args.score.json,
    };
    report.print(&dataset, &set, &predicted)
}

/// What `nrf eval` scores.
enum Scored {
    Single(Box<Nrf>),
    Ensemble(Box<EnsembleModel>),
}

/// What `nrf eval`, `nrf ridge` and `nrf fwrf` score, and how they report it.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The held-out images to score on [default: test when the dataset has a test split, else
    /// validation].
    #[arg(long, value_enum)]
    pub split: Option<HeldOut>,
    /// Write the per-voxel r as NIfTI in MNI space (2 mm grid, nearest voxel within reach).
    #[arg(long)]
    pub r_map: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The held-out images `nrf eval`, `nrf ridge` and `nrf fwrf` score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HeldOut {
    /// The images that chose epochs (early stopping) and penalties.
    Validation,
    /// The images nothing that fits or selects has read.
    Test,
}

/// The split to score: the one asked for, else test when the dataset has one, else validation
/// (said on stderr, since validation images chose the model's epoch). At least 2 images.
fn held_out_split(asked: Option<HeldOut>, dataset: &Dataset, folder: &Path) -> Result<Split> {
    let split = match asked {
        Some(HeldOut::Validation) => Split::Validation,
        Some(HeldOut::Test) => Split::Test,
        None if !dataset.test_rows().is_empty() => Split::Test,
        None => {
            eprintln!(
                "note: {} has no test split ({}); scoring the validation images, which chose the trained model's epoch",
                folder.display(),
                dataset.split_rule
            );
            Split::Validation
        }
    };
    let images = dataset.rows_in(split).len();
    if images < 2 {
        bail!(
            "{}: {images} {split} images ({}); at least 2 are needed for a correlation",
            folder.display(),
            dataset.split_rule
        );
    }
    Ok(split)
}

/// How to report scores of predictions on held-out rows.
struct Report<'a> {
    name: String,
    /// Which rows were scored.
    split: Split,
    /// Images the scored model was fitted on here (ridge), if known.
    training_images: Option<usize>,
    data: &'a DataArgs,
    r_map: Option<&'a Path>,
    json: bool,
}

impl Report<'_> {
    /// Per-voxel r of `predicted` (`[held-out rows, voxels]`), its summary, the
    /// noise-ceiling-normalised summary for simulated subjects, and optionally an r map.
    fn print(&self, dataset: &Dataset, set: &TrainingSet, predicted: &[f32]) -> Result<()> {
        let rows = set.rows_in(self.split);
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
                    "split": self.split,
                    "scored_images": rows.len(),
                    "training_images": self.training_images,
                    "voxels": set.voxels(),
                    "r": summary,
                    "r_over_sqrt_noise_ceiling": normalised,
                })
            );
            return Ok(());
        }
        println!(
            "{} on {} ({} {} images): median r {:.4}, mean r {:.4} over {} voxels{}",
            self.name,
            dataset.subject,
            rows.len(),
            self.split,
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
    /// What to score and how to report it (the per-voxel penalty is cross-validated within the
    /// training images).
    #[command(flatten)]
    pub score: ScoreArgs,
}

/// `nrf ridge`: the voxel-wise ridge baseline, fitted and scored like an NRF.
pub fn ridge_command(args: &RidgeArgs) -> Result<()> {
    use nrf::train::ridge::{RidgeConfig, RidgeModel};
    let device = compute_device(DeviceChoice::Cpu)?;
    let extractor = extractor_named(&args.features, &device.device)?;
    let dataset = args.data.open()?;
    let split = held_out_split(args.score.split, &dataset, &args.data.data)?;
    let set = prepare_set(
        &args.data,
        &dataset,
        extractor.as_ref(),
        &[Split::Train, split],
        args.images,
        args.seed,
    )?;
    let started = Instant::now();
    let config = RidgeConfig {
        folds: args.folds,
        seed: args.seed,
        ..RidgeConfig::default()
    };
    let model = RidgeModel::fit(&set, &config, &device.device)?;
    let held: Vec<_> = set
        .rows_in(split)
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
        split,
        training_images: Some(set.train_rows.len()),
        data: &args.data,
        r_map: args.score.r_map.as_deref(),
        json: args.score.json,
    };
    report.print(&dataset, &set, &predicted)
}

/// Options of `nrf fwrf`.
#[derive(Debug, Args)]
pub struct FwrfArgs {
    /// The dataset.
    #[command(flatten)]
    pub data: DataArgs,
    /// Image features: `builtin` or `clip:FOLDER` (their token maps are what the fields pool).
    #[arg(long, default_value = "builtin")]
    pub features: String,
    /// Training images to use (the same seeded subset `nrf train --images` takes).
    #[arg(long)]
    pub images: Option<usize>,
    /// Seed of the image subset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Candidate field centres per side of the image.
    #[arg(long, default_value_t = 8)]
    pub centres: usize,
    /// What to score and how to report it (each voxel's field and penalty are chosen on the
    /// validation images).
    #[command(flatten)]
    pub score: ScoreArgs,
}

/// `nrf fwrf`: the fWRF baseline, fitted on the training images (fields and penalties chosen on
/// the validation images) and scored like an NRF.
pub fn fwrf_command(args: &FwrfArgs) -> Result<()> {
    use nrf::train::fwrf::{FwrfConfig, FwrfModel};
    let device = compute_device(DeviceChoice::Cpu)?;
    let extractor = extractor_named(&args.features, &device.device)?;
    let dataset = args.data.open()?;
    let split = held_out_split(args.score.split, &dataset, &args.data.data)?;
    let mut splits = vec![Split::Train, Split::Validation];
    if split == Split::Test {
        splits.push(Split::Test);
    }
    let set = prepare_set(
        &args.data,
        &dataset,
        extractor.as_ref(),
        &splits,
        args.images,
        args.seed,
    )?;
    let config = FwrfConfig {
        centres_per_side: args.centres,
        ..FwrfConfig::default()
    };
    let candidates = config.centres_per_side.pow(2) * config.sizes.len();
    let started = Instant::now();
    let bar = super::progress::ProgressBar::counting("fields".into(), "candidates");
    let model = FwrfModel::fit(&set, &config, &|done, total| {
        bar.update(done, total);
        true
    })?;
    bar.finish();
    let held: Vec<_> = set
        .rows_in(split)
        .iter()
        .map(|&r| &set.features[r])
        .collect();
    let predicted = model.predict(&held)?;
    eprintln!(
        "fWRF on {} training images, {} voxels, {candidates} candidate fields × {} penalties chosen on {} validation images: {:.1} s",
        set.train_rows.len(),
        set.voxels(),
        config.alphas.len(),
        set.validation_rows.len(),
        started.elapsed().as_secs_f64()
    );
    let report = Report {
        name: format!("fWRF ({})", extractor.id()),
        split,
        training_images: Some(set.train_rows.len()),
        data: &args.data,
        r_map: args.score.r_map.as_deref(),
        json: args.score.json,
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
