//! `nrf convert` and `nrf predict`: official checkpoints to `.nrf`, and predictions from
//! precomputed features at points or on a grid.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use nrf::device::{ComputeDevice, DeviceChoice, compute_device};
use nrf::features::decode::load_rgb8;
use nrf::features::{ImageFeatures, extractor_for, read_features_npy};
use nrf::model::Nrf;
use nrf::model::official::DomainSource;
use nrf::npy;
use nrf::query::{ImageQuery, QueryEngine, Region, RegionUsed};
use nrf::volume::{SpaceCode, Volume};

use super::io::{nifti_grid, read_points};
use super::progress::ProgressBar;

/// Where an official model's domain comes from (ignored for `.nrf` files, which carry theirs).
#[derive(Debug, Default, Clone, Args)]
pub struct DomainArgs {
    /// MNI coordinates (N×3 .npy, mm) of the voxels the model was trained on.
    #[arg(long, value_name = "COORDS.npy", conflicts_with = "nsd_root")]
    pub domain: Option<PathBuf>,
    /// Root of NSD-processed data (holding MNI_coordinate/ and roi_names.json): the domain is
    /// the subject's ROI voxels, each labelled with the ROIs it belongs to.
    #[arg(long, value_name = "DIR")]
    pub nsd_root: Option<PathBuf>,
    /// Subject folder under MNI_coordinate/ (default: the subject the model's config names).
    #[arg(long, value_name = "subjNN", requires = "nsd_root")]
    pub nsd_subject: Option<String>,
    /// ROIs whose voxels form the domain.
    #[arg(
        long = "nsd-roi",
        value_name = "ROI",
        default_value = "nsdgeneral",
        requires = "nsd_root"
    )]
    pub nsd_rois: Vec<String>,
}

impl DomainArgs {
    fn source(&self, subject_from_model: Option<&str>) -> Result<DomainSource> {
        if let Some(coords) = &self.domain {
            return Ok(DomainSource::Coords(coords.clone()));
        }
        let Some(root) = &self.nsd_root else {
            return Ok(DomainSource::Unknown);
        };
        let subject = self
            .nsd_subject
            .clone()
            .or_else(|| subject_from_model.map(str::to_string))
            .context("--nsd-root needs --nsd-subject (the model's config names no subject)")?;
        Ok(DomainSource::NsdProcessed {
            root: root.clone(),
            subject,
            rois: self.nsd_rois.clone(),
        })
    }
}

/// Loads a `.nrf` file, or an official run folder with its domain.
pub fn load_model(path: &Path, domain: &DomainArgs, device: &ComputeDevice) -> Result<Nrf> {
    if path.is_dir() {
        // The subject is in the folder's yaml; read the model first without a domain.
        let mut model = Nrf::from_official_dir(path, &DomainSource::Unknown, &device.device)?;
        let source = domain.source(model.info.subject.as_deref())?;
        model.domain = nrf::model::official::read_domain(&source)?;
        Ok(model)
    } else {
        if domain.domain.is_some() || domain.nsd_root.is_some() {
            bail!(
                "{}: --domain/--nsd-root apply to official run folders; an .nrf file carries its own domain",
                path.display()
            );
        }
        Ok(Nrf::load(path, &device.device)?)
    }
}

fn describe_domain(model: &Nrf) -> String {
    match &model.domain {
        nrf::model::Domain::Unknown => "unknown (grids and slices use the brain mask)".into(),
        nrf::model::Domain::Voxels(d) => format!(
            "{} voxels (reach {:.2} mm){}",
            d.coords_mm().len(),
            d.reach_mm(),
            if d.rois().is_empty() {
                String::new()
            } else {
                format!(
                    ", ROIs {}",
                    d.rois()
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        ),
    }
}

/// `nrf convert`.
pub fn convert(dir: &Path, out: &Path, domain: &DomainArgs, subject: Option<String>) -> Result<()> {
    if !dir.is_dir() {
        bail!(
            "{}: expected an official NRF run folder (with experiment_config.yaml)",
            dir.display()
        );
    }
    let device = compute_device(DeviceChoice::Cpu)?;
    let mut model = load_model(dir, domain, &device)?;
    if let Some(subject) = subject {
        model.info.subject = Some(subject);
    }
    model.save(out)?;
    let c = &model.config;
    println!(
        "wrote {}: {} layers × {} wide, F = {}, features {}, subject {}, domain {}",
        out.display(),
        c.num_layers,
        c.hidden,
        c.fourier_features,
        model
            .info
            .features
            .as_ref()
            .map_or("unknown", |f| f.extractor.as_str()),
        model.info.subject.as_deref().unwrap_or("unknown"),
        describe_domain(&model)
    );
    Ok(())
}

/// Inputs and outputs of `nrf predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model: an .nrf file or an official run folder (default: the embedded model of virtual
    /// subject --subject).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Which embedded virtual subject's model to use when --model is not given (1 to 8).
    #[arg(long, default_value_t = 1, conflicts_with = "model")]
    pub subject: usize,
    /// Image files (JPEG, PNG, WebP, BMP, TIFF, GIF); features are extracted with the model's
    /// extractor (CLIP models need --clip).
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        required_unless_present_any = ["tokens", "images"]
    )]
    pub image: Vec<PathBuf>,
    /// A set of images instead of files: a folder, CATEGORY:N[:SEED] (face, place, object,
    /// body, text, texture, grating) or library:N[:SEED]; features through the feature cache.
    /// The image names are written, in order, beside --out (NAME.images.txt).
    #[arg(long, value_name = "SET", conflicts_with_all = ["image", "tokens"],
          value_parser = |s: &str| nrf::insilico::image_set::SetSpec::parse(s).map_err(|e| e.to_string()))]
    pub images: Option<nrf::insilico::image_set::SetSpec>,
    /// Predict relative to the average image: subtract, at every point, the mean prediction
    /// over this set (e.g. library:70), so each image shows what is specific to it.
    #[arg(long, value_name = "SET", conflicts_with = "tokens",
          value_parser = |s: &str| nrf::insilico::image_set::SetSpec::parse(s).map_err(|e| e.to_string()))]
    pub baseline: Option<nrf::insilico::image_set::SetSpec>,
    /// Feature cache folder for --images and --baseline (default: ~/.cache/nrf/features).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Compute the features of --images and --baseline without a cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
    /// Local Hugging Face CLIP folder (config.json, model.safetensors, preprocessor_config.json)
    /// for models trained on CLIP features.
    #[arg(long, value_name = "DIR")]
    pub clip: Option<PathBuf>,
    /// Precomputed token maps instead of images: (images, 2, P², D) float32 .npy (e.g. CLIP
    /// layers 3 and 6 without the class token).
    #[arg(
        long,
        value_name = "T.npy",
        requires = "global",
        conflicts_with = "image"
    )]
    pub tokens: Option<PathBuf>,
    /// Precomputed global embeddings, (images, G) float32 .npy.
    #[arg(long, value_name = "G.npy", requires = "tokens")]
    pub global: Option<PathBuf>,
    /// Points to predict at, (N, 3) .npy of MNI mm; the output is (images, N) float32 .npy.
    #[arg(
        long,
        value_name = "P.npy",
        conflicts_with = "grid",
        required_unless_present = "grid"
    )]
    pub points: Option<PathBuf>,
    /// Predict on a grid of this spacing (mm) over the MNI box; the output is NIfTI, one volume
    /// per image, 0 outside the region.
    #[arg(long, value_name = "MM")]
    pub grid: Option<f64>,
    /// Which grid voxels to evaluate.
    #[arg(long, value_enum, default_value_t = RegionArg::Domain)]
    pub region: RegionArg,
    /// Output file: .npy for --points, .nii or .nii.gz for --grid.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// With an ensemble file as --model (nrf finetune --ensemble): also write how much its
    /// members disagree, the standard deviation of their predictions, in --out's format.
    #[arg(long, value_name = "FILE")]
    pub spread: Option<PathBuf>,
    /// Domain of an official model.
    #[command(flatten)]
    pub domain: DomainArgs,
}

/// `--region`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RegionArg {
    /// Near the model's training voxels (the brain mask when the domain is unknown).
    Domain,
    /// The MNI brain mask.
    Brain,
    /// Every grid voxel (raw extrapolation).
    All,
}

/// `--device`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeviceArg {
    /// A hardware GPU if one is available, else the CPU (software adapters are skipped).
    Auto,
    /// The CPU.
    Cpu,
    /// A GPU (software adapters count); fails when there is none.
    Gpu,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(arg: DeviceArg) -> Self {
        match arg {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Gpu => DeviceChoice::Gpu,
        }
    }
}

/// The model's name in messages: its path, or the embedded default.
fn model_name(args: &PredictArgs) -> String {
    match &args.model {
        Some(path) => path.display().to_string(),
        None => format!("embedded default model subj{:02}", args.subject),
    }
}

/// Features of image files, extracted as the model expects.
fn extract_features(
    model: &Nrf,
    args: &PredictArgs,
    device: &ComputeDevice,
) -> Result<Vec<ImageFeatures>> {
    let extractor_id = model.info.features.as_ref().map(|f| f.extractor.as_str());
    let extractor = extractor_for(extractor_id, args.clip.as_deref(), &device.device)
        .with_context(|| model_name(args))?;
    args.image
        .iter()
        .map(|path| {
            let rgb = load_rgb8(path)?;
            extractor.extract(&rgb).with_context(|| {
                format!(
                    "extracting {} features of {}",
                    extractor.id(),
                    path.display()
                )
            })
        })
        .collect()
}

/// `nrf predict`.
pub fn predict(args: &PredictArgs) -> Result<()> {
    if let Some(path) = &args.model
        && nrf::model::checkpoint::is_ensemble_file(path)
    {
        return super::insilico::predict_ensemble(path, args);
    }
    if let Some(spread) = &args.spread {
        bail!(
            "--spread {}: only an ensemble has members to disagree; give an ensemble file (nrf finetune --ensemble) as --model",
            spread.display()
        );
    }
    if args.images.is_some() || args.baseline.is_some() {
        return super::insilico::predict_sets(args);
    }
    let device = compute_device(args.device.into())?;
    let model = match &args.model {
        Some(path) => load_model(path, &args.domain, &device)?,
        None => nrf::embedded::default_model(args.subject, &device.device)?,
    };
    let (images, source) = match (&args.tokens, &args.global) {
        (Some(tokens), Some(global)) => (read_features_npy(tokens, global)?, tokens.clone()),
        _ => (
            extract_features(&model, args, &device)?,
            args.clip.clone().unwrap_or_default(),
        ),
    };
    for (i, image) in images.iter().enumerate() {
        model
            .check_features(image)
            .with_context(|| format!("{}: image {i}", source.display()))?;
    }
    let started = Instant::now();
    let engine = QueryEngine::new(&model);
    let queries = engine.prepare_batch(&model, &images)?;
    if let Some(points_path) = &args.points {
        let points = read_points(points_path)?;
        let mut values = Vec::with_capacity(images.len() * points.len());
        for query in &queries {
            values.extend(
                query
                    .query_points(&points)
                    .with_context(|| format!("points in {}", points_path.display()))?,
            );
        }
        npy::write_f32(&args.out, &[images.len(), points.len()], &values)?;
        println!(
            "wrote {}: {} image(s) × {} points in {:.2} s on {}",
            args.out.display(),
            images.len(),
            points.len(),
            started.elapsed().as_secs_f64(),
            ran_on(&device, queries.first())
        );
        return Ok(());
    }
    let grid = nifti_grid(args.grid, &args.out, queries.len())?;
    let spacing = grid.spacing_mm().x;
    let region = match args.region {
        RegionArg::Domain => Region::Domain,
        RegionArg::Brain => Region::Brain,
        RegionArg::All => Region::Everywhere,
    };
    let mut volumes: Vec<Volume> = Vec::with_capacity(queries.len());
    let mut used = RegionUsed::Everywhere;
    for (i, query) in queries.iter().enumerate() {
        let bar = ProgressBar::new(format!("image {}/{}", i + 1, queries.len()));
        let prediction = query.query_grid_with_progress(&grid, region, &mut |done, total| {
            bar.update(done, total);
            true
        })?;
        bar.finish();
        used = prediction.region;
        volumes.push(prediction.volume);
    }
    Volume::write_nifti_series(&volumes, &args.out, SpaceCode::Mni152)?;
    let [nx, ny, nz] = grid.dims;
    let region_text = match used {
        RegionUsed::ModelDomain => "the model's domain",
        RegionUsed::BrainMask if matches!(model.domain, nrf::model::Domain::Unknown) => {
            "the brain mask (the model's domain is unknown)"
        }
        RegionUsed::BrainMask => "the brain mask",
        RegionUsed::Everywhere => "every voxel",
    };
    println!(
        "wrote {}: {} image(s) on a {nx}×{ny}×{nz} grid at {spacing} mm over {region_text}, in {:.2} s on {}",
        args.out.display(),
        images.len(),
        started.elapsed().as_secs_f64(),
        ran_on(&device, queries.first())
    );
    Ok(())
}

/// Where the queries ran, for a closing line: the device and, on a GPU, which kernel.
fn ran_on(device: &ComputeDevice, query: Option<&ImageQuery>) -> String {
    match query.and_then(ImageQuery::gpu_kernel) {
        Some(kernel) => format!("{} ({kernel} WGSL kernel)", device.place()),
        None if query.is_some_and(ImageQuery::direct_cpu_path) => {
            format!("{}, direct gemm path", device.description)
        }
        None => device.description.clone(),
    }
}
