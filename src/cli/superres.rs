//! `nrf superres`: super-resolution on a virtual subject, the NRF between the voxels against
//! trilinear upsampling of the ridge baseline.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use nrf::data::dataset::Split;
use nrf::device::{DeviceChoice, compute_device};
use nrf::features::extractor_for;
use nrf::model::Nrf;

use super::predict::DeviceArg;
use super::progress::ProgressBar;

use super::train::{DataArgs, prepare_set};

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
    use nrf::data::simulate::open_virtual_subject;
    use nrf::train::superres::{scored_rows, super_resolution};
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
    let set = prepare_set(
        &args.data,
        &dataset,
        extractor.as_ref(),
        &[Split::Train, Split::Validation, Split::Test],
        args.images,
        args.seed,
    )?;
    // Scored on the test images when there are some: the model's epoch was chosen on validation.
    let split = if set.test_rows.is_empty() {
        Split::Validation
    } else {
        Split::Test
    };
    eprintln!(
        "{} voxels, {} held-out ({split}) images",
        set.voxels(),
        scored_rows(&set).len()
    );
    let started = Instant::now();
    let cpu = compute_device(DeviceChoice::Cpu)?;
    let bar = ProgressBar::counting("truth and NRF".into(), "images");
    let scores = super_resolution(
        &subject,
        &model,
        &dataset,
        &set,
        args.seed,
        &cpu.device,
        &mut |done, total| bar.update(done, total),
    )?;
    bar.finish();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": args.model.display().to_string(),
                "subject": dataset.subject,
                "split": split,
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
        "  between voxels (0.9 mm, {} points): NRF {:.4}, trilinear NRF-at-voxels {:.4}, \
         trilinear ridge {:.4}",
        scores.points,
        scores.nrf_between.median,
        scores.nrf_trilinear_between.median,
        scores.baseline_trilinear_between.median
    );
    println!(
        "  the truth interpolated from the voxel centres: {:.4} (what any interpolation keeps)",
        scores.truth_trilinear_between.median
    );
    println!(
        "  at the voxels ({}): NRF {:.4}, ridge {:.4}",
        set.voxels(),
        scores.nrf_at_voxels.median,
        scores.baseline_at_voxels.median
    );
    Ok(())
}
