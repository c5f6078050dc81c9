//! `nrf simulate` (virtual subjects in the NSD-processed layout) and `nrf truth` (a virtual
//! subject's noise-free response to any image at any points or on a grid).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use nrf::data::early_vision::FrontEnd;
use nrf::data::simulate::{
    SimulationConfig, open_virtual_subject, simulate, truth_at, truth_on_grid,
};
use nrf::features::decode::load_rgb8;
use nrf::npy;
use nrf::volume::nifti::SpaceCode;

use super::io::{nifti_grid, read_points};
use super::progress::ProgressBar;

/// Options of `nrf simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output folder (created; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of virtual subjects.
    #[arg(long, default_value_t = 8)]
    pub subjects: usize,
    /// Images per subject.
    #[arg(long, default_value_t = 1000)]
    pub images: usize,
    /// Images every subject sees (validation set, ids 0..K); default: a tenth of --images.
    #[arg(long)]
    pub shared: Option<usize>,
    /// Seed: the same seed writes byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The subjects' early vision: `steerable` shares its filter bank with the built-in
    /// extractor (the embedded models' subjects); `gabor` shares none of it (Gabor filters at
    /// other frequencies and orientations, divisive normalisation, difference-of-Gaussians
    /// colour), so the built-in features do not contain the generator. See
    /// docs/virtual-subjects.md.
    #[arg(long, value_enum, default_value_t = FrontEndArg::Steerable)]
    pub front_end: FrontEndArg,
}

/// `--front-end` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FrontEndArg {
    /// Steerable energy on a Gaussian pyramid (the built-in extractor's filters; the default).
    Steerable,
    /// Gabor filters with divisive normalisation (none of the built-in extractor's filters).
    Gabor,
}

impl From<FrontEndArg> for FrontEnd {
    fn from(arg: FrontEndArg) -> Self {
        match arg {
            FrontEndArg::Steerable => FrontEnd::Steerable,
            FrontEndArg::Gabor => FrontEnd::Gabor,
        }
    }
}

/// `nrf simulate`.
pub fn simulate_command(args: &SimulateArgs) -> Result<()> {
    let config = SimulationConfig {
        subjects: args.subjects,
        images: args.images,
        shared: args.shared.unwrap_or(args.images / 10),
        seed: args.seed,
        front_end: args.front_end.into(),
    };
    let started = Instant::now();
    let bar = ProgressBar::counting("simulating".into(), "images");
    let record = simulate(&args.out, &config, &|p| {
        bar.set_label(format!("subj{:02}", p.subject));
        bar.update(p.images_done, p.images);
        true
    })?;
    bar.finish();
    for s in &record.subjects {
        let rois: Vec<String> = s
            .roi_voxels
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        println!(
            "{}: {} voxels ({}), median noise ceiling {:.1} %",
            s.name,
            s.voxels,
            rois.join(", "),
            s.median_noise_ceiling
        );
    }
    println!(
        "wrote {} subjects × {} images ({} shared) to {} in {:.1} s (seed {}, {} front end)",
        config.subjects,
        config.images,
        config.shared,
        args.out.display(),
        started.elapsed().as_secs_f64(),
        config.seed,
        config.front_end.name()
    );
    Ok(())
}

/// Options of `nrf truth`.
#[derive(Debug, Args)]
pub struct TruthArgs {
    /// A folder written by `nrf simulate`.
    #[arg(long)]
    pub data: PathBuf,
    /// Subject number (1-based) or name (subj01).
    #[arg(long)]
    pub subject: String,
    /// The image (any format the image crate reads).
    #[arg(long)]
    pub image: PathBuf,
    /// MNI points, an (N, 3) .npy in mm.
    #[arg(long, conflicts_with = "grid", required_unless_present = "grid")]
    pub points: Option<PathBuf>,
    /// Evaluate on a grid of this spacing (mm) over the MNI box, inside the brain mask.
    #[arg(long)]
    pub grid: Option<f64>,
    /// Output: .npy for --points, .nii or .nii.gz for --grid.
    #[arg(long)]
    pub out: PathBuf,
}

/// `nrf truth`.
pub fn truth_command(args: &TruthArgs) -> Result<()> {
    let number = nrf::data::dataset::normalise_subject(&args.subject)
        .and_then(|s| s[4..].parse::<usize>().ok())
        .with_context(|| format!("--subject {:?}: expected a number or subjNN", args.subject))?;
    let (_, subject) = open_virtual_subject(&args.data, number)?;
    let image = load_rgb8(&args.image)?;
    let started = Instant::now();
    if let Some(points_path) = &args.points {
        let points = read_points(points_path)?;
        let values = truth_at(&subject, &image, &points);
        npy::write_f32(&args.out, &[values.len()], &values)?;
        println!(
            "wrote {}: truth of subj{number:02} at {} points in {:.2} s",
            args.out.display(),
            values.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let grid = nifti_grid(args.grid, &args.out, 1)?;
    let spacing = grid.spacing_mm().x;
    truth_on_grid(&subject, &image, &grid)?.write_nifti(&args.out, SpaceCode::Mni152)?;
    let [nx, ny, nz] = grid.dims;
    println!(
        "wrote {}: truth of subj{number:02} on a {nx}×{ny}×{nz} grid at {spacing} mm (brain mask; 0 outside) in {:.2} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Options of `nrf stimuli`.
#[derive(Debug, Args)]
pub struct StimuliArgs {
    /// Output folder (created); files are named <id>_<category>.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 14)]
    pub count: u64,
    /// Only this category (face, place, object, body, text, texture, grating); default: all, in
    /// the seeded order `nrf simulate` uses.
    #[arg(long)]
    pub category: Option<String>,
    /// Seed (the same as `nrf simulate --seed` gives the same images for the same ids).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First image id.
    #[arg(long, default_value_t = 0)]
    pub first: u64,
}

/// `nrf stimuli`: procedural stimuli as PNG files.
pub fn stimuli_command(args: &StimuliArgs) -> Result<()> {
    use nrf::data::stimuli::{Category, generate, stimulus};
    let only = match &args.category {
        None => None,
        Some(name) => Some(Category::from_name(name).with_context(|| {
            let names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
            format!("--category {name:?}: expected one of {}", names.join(", "))
        })?),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for id in args.first..args.first + args.count {
        let (category, image) = match only {
            Some(category) => (category, generate(args.seed, id, category)),
            None => stimulus(args.seed, id),
        };
        let path = args.out.join(format!("{id:05}_{}.png", category.name()));
        let buffer = image::RgbImage::from_raw(image.width, image.height, image.pixels)
            .context("stimulus buffer")?;
        let mut bytes = Vec::new();
        buffer
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .context("encoding PNG")?;
        nrf::atomic_file::write_atomically(&path, |out| {
            use std::io::Write;
            out.write_all(&bytes)
        })?;
    }
    println!(
        "wrote {} stimuli (seed {}) to {}",
        args.count,
        args.seed,
        args.out.display()
    );
    Ok(())
}
