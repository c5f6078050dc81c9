//! `nrf bench viewer`: what the viewer does when an image is dropped on it, timed through its own
//! background pipeline — decode the file, extract features, merge the latent, measure the
//! model's rate, then the planned 3D levels and the slices' steps side by side, as the window
//! runs them — with the model already open, on the chosen device. The first picture is the
//! moment the 3D view and all three slices show the new prediction.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use nrf::device::{ComputeDevice, compute_device};
use nrf::features::ClipExtractor;
use nrf::features::clip::{ClipFolder, ClipVision, ClipVisionConfig};
use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet};
use nrf::query::Region;
use nrf::render::colormap::{ColorMap, OverlayStyle};
use nrf::render::refine::{
    DEFAULT_LEVELS, FIRST_LEVEL_SECONDS, Levels, RefineMessage, RefinementJob,
};
use nrf::render::slice::Convention;
use nrf::session::jobs::{
    CONCURRENT_QUERY_JOBS, Cancel, ModelSource, Polled, PredictionRequest, SliceRequest, Step,
    SteppedJob, prepare_query, slice_steps, templates,
};
use nrf::session::open::{ViewerModel, read_model, with_clip};

use super::predict::DeviceArg;

/// What the viewer benchmark opens and how often it drops an image.
#[derive(Debug, Args)]
pub struct ViewerBenchArgs {
    /// Images dropped (procedural examples, each written to a PNG file and read back).
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Embedded subject whose model predicts (when no --model or --official-size is given).
    #[arg(long, default_value_t = 1)]
    pub subject: usize,
    /// A model to open instead: a .nrf file or an official run folder (with --clip when it
    /// takes CLIP features).
    #[arg(long, value_name = "M.nrf|RUN_DIR", conflicts_with = "official_size")]
    pub model: Option<PathBuf>,
    /// Local Hugging Face CLIP folder for a model on CLIP features.
    #[arg(long, value_name = "DIR")]
    pub clip: Option<PathBuf>,
    /// An official-size model with random weights instead (MLP 8 × 4096 on a ViT-B/16 CLIP
    /// tower, ~107 M + 86 M parameters; nothing is read or downloaded).
    #[arg(long)]
    pub official_size: bool,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// The finest 3D spacing, mm (the viewer's "3D detail").
    #[arg(long, default_value_t = 1.0)]
    pub finest: f64,
    /// Slice views' size in pixels, WIDTHxHEIGHT (a 2×2 layout in the default window).
    #[arg(long, default_value = "508x398", value_parser = super::render::parse_size)]
    pub slice_size: (u32, u32),
    /// How the levels are chosen: planned from the measured cost (as the viewer does), or the
    /// fixed 8 → 4 → 2 → 1 mm levels with slices at every pixel at once (as it did before),
    /// for a comparison in the same run.
    #[arg(long, value_enum, default_value_t = Schedule::Planned)]
    pub schedule: Schedule,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Levels planned from the measured cost; slices coarse first when slow.
    Planned,
    /// 8 → 4 → 2 → 1 mm (down to --finest); slices at every pixel.
    Fixed,
}

/// One 3D level or slice step, as it reached the views.
#[derive(Debug, Clone, Serialize)]
struct TimedLevel {
    /// Grid spacing (3D) in mm, or display pixels a side per queried point (slices).
    spacing_mm: f64,
    /// Points evaluated.
    points: usize,
    /// Seconds from the drop.
    seconds: f64,
}

/// One drop, timed.
#[derive(Debug, Clone, Serialize)]
struct DropTimes {
    /// Seconds from the drop to features, latent and the rate measured.
    prepare_seconds: f64,
    /// The measured rate the levels were planned from, points/s.
    points_per_second: f64,
    /// Seconds from the drop until the 3D view and all three slices show the prediction.
    first_picture_seconds: f64,
    /// The 3D levels.
    levels: Vec<TimedLevel>,
    /// The slices' steps (`spacing_mm` holds the coarseness factor).
    slice_steps: Vec<TimedLevel>,
}

#[derive(Debug, Serialize)]
struct ViewerBenchResult {
    model: String,
    schedule: Schedule,
    device: String,
    images: usize,
    threads: usize,
    /// Median over the drops.
    first_picture_seconds: f64,
    /// Median over the drops.
    prepare_seconds: f64,
    /// Median seconds to the first 3D level.
    preview_seconds: f64,
    /// Median seconds to a 3D level of 2 mm or finer.
    volume_2mm_seconds: Option<f64>,
    /// Median seconds to the finest level.
    finest_seconds: f64,
    /// The last drop's 3D levels.
    levels: Vec<TimedLevel>,
    /// The last drop's slice steps.
    slice_steps: Vec<TimedLevel>,
}

/// The model the benchmark opens (before any timing, as an open model in the window).
fn open_model(args: &ViewerBenchArgs, device: &ComputeDevice) -> Result<(String, ModelSource)> {
    if args.official_size {
        let config = NrfConfig::new();
        // Drawn at once (burn's own initialisation would be lazy and land in the timing).
        let model = Nrf {
            net: NrfNet::init_seeded(&config, 7, &device.device)?,
            config,
            info: ModelInfo::default(),
            domain: Domain::Unknown,
            source: None,
        };
        let clip_config = ClipVisionConfig::vit_b16();
        let mut dict = clip_config.random_state_dict(11);
        let vision = ClipVision::from_state_dict(&clip_config, &mut dict, &device.device)?;
        let folder = ClipFolder::from_parts(
            PathBuf::from("random-vit-b16"),
            clip_config,
            Default::default(),
            vision,
            &device.device,
        );
        let extractor = ClipExtractor::from_folder(folder, [3, 6], &device.device)?;
        let name = "official size, random weights (MLP 8 × 4096, CLIP ViT-B/16)".to_string();
        return Ok((
            name.clone(),
            ModelSource::Given(Box::new(ViewerModel {
                name,
                model,
                extractor: Arc::new(extractor),
                clip_folder: Some(PathBuf::from("random-vit-b16")),
                ensemble: None,
            })),
        ));
    }
    let Some(path) = &args.model else {
        if !(1..=nrf::embedded::SUBJECTS).contains(&args.subject) {
            bail!(
                "--subject {}: the embedded subjects are 1 to 8",
                args.subject
            );
        }
        return Ok((
            format!("embedded virtual subj{:02}", args.subject),
            ModelSource::Embedded(args.subject),
        ));
    };
    let name = path.display().to_string();
    let nrf::session::open::ModelFile { model, ensemble } =
        read_model(path, &device.device).map_err(anyhow::Error::msg)?;
    let viewer_model = if nrf::session::open::takes_builtin_features(&model) {
        ViewerModel::builtin(name.clone(), model)
    } else {
        let Some(clip) = &args.clip else {
            bail!("{name}: the model takes CLIP features; pass --clip DIR");
        };
        with_clip(name.clone(), model, clip, &device.device).map_err(anyhow::Error::msg)?
    };
    let viewer_model = ViewerModel {
        ensemble,
        ..viewer_model
    };
    Ok((name, ModelSource::Given(Box::new(viewer_model))))
}

/// `nrf bench viewer`.
pub fn viewer(args: &ViewerBenchArgs) -> Result<()> {
    if !(0.5..=16.0).contains(&args.finest) {
        bail!("--finest {}: expected 0.5 to 16 mm", args.finest);
    }
    let device = compute_device(args.device.into())?;
    eprintln!("{}", device.report());
    let (name, source) = open_model(args, &device)?;
    let templates = templates().map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let mut drops = Vec::new();
    for k in 0..args.images.max(1) {
        let (_, rgb) = nrf::data::simulate::stimulus_of(7, k as u32);
        let path = dir.path().join(format!("drop-{k}.png"));
        image::RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels)
            .context("example image")?
            .save(&path)?;
        let times = one_drop(args, &device, &source, &templates, &path)?;
        eprintln!(
            "drop {}: first picture {:.2} s; 3D levels {}",
            k + 1,
            times.first_picture_seconds,
            times
                .levels
                .iter()
                .map(|l| format!("{} mm at {:.2} s", l.spacing_mm, l.seconds))
                .collect::<Vec<_>>()
                .join(", ")
        );
        drops.push(times);
    }
    let median = |f: &dyn Fn(&DropTimes) -> Option<f64>| {
        let mut v: Vec<f64> = drops.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let last = drops.last().context("no drop")?;
    let result = ViewerBenchResult {
        model: name,
        schedule: args.schedule,
        device: device.report(),
        images: drops.len(),
        threads: rayon::current_num_threads(),
        first_picture_seconds: median(&|d| Some(d.first_picture_seconds)).unwrap_or(f64::NAN),
        prepare_seconds: median(&|d| Some(d.prepare_seconds)).unwrap_or(f64::NAN),
        preview_seconds: median(&|d| d.levels.first().map(|l| l.seconds)).unwrap_or(f64::NAN),
        volume_2mm_seconds: median(&|d| {
            d.levels
                .iter()
                .find(|l| l.spacing_mm <= 2.0)
                .map(|l| l.seconds)
        }),
        finest_seconds: median(&|d| d.levels.last().map(|l| l.seconds)).unwrap_or(f64::NAN),
        levels: last.levels.clone(),
        slice_steps: last.slice_steps.clone(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "drop → first picture {:.3} s (features, latent and rate {:.3} s; first 3D level {:.3} s), → 2 mm {}, → {} mm {:.3} s (medians of {} images, {:?} levels, {}; {})",
            result.first_picture_seconds,
            result.prepare_seconds,
            result.preview_seconds,
            result
                .volume_2mm_seconds
                .map_or_else(|| "not reached".into(), |s| format!("{s:.3} s")),
            args.finest,
            result.finest_seconds,
            result.images,
            result.schedule,
            result.model,
            result.device,
        );
    }
    Ok(())
}

/// One image dropped on the open model: the viewer's jobs, timed until the finest level and
/// the slices at every pixel are in.
fn one_drop(
    args: &ViewerBenchArgs,
    device: &ComputeDevice,
    source: &ModelSource,
    templates: &nrf::session::jobs::Templates,
    path: &std::path::Path,
) -> Result<DropTimes> {
    let started = Instant::now();
    let image = nrf::features::decode::load_rgb8(path)?;
    let prepared = prepare_query(
        PredictionRequest {
            model: source.clone(),
            images: vec![image],
            baseline: Vec::new(),
            relative_to: None,
            ensemble_shows: Default::default(),
            device: device.device.clone(),
        },
        &Cancel::default(),
    )
    .map_err(anyhow::Error::msg)?;
    let prepare_seconds = started.elapsed().as_secs_f64();
    // As in the viewer: the 3D levels and the slices share the device.
    let prepared_rate = prepared.points_per_second;
    let rate = prepared_rate / CONCURRENT_QUERY_JOBS;
    let levels = match args.schedule {
        Schedule::Planned => Levels::Planned {
            points_per_second: rate,
            finest_mm: args.finest,
            first_budget_s: FIRST_LEVEL_SECONDS,
        },
        Schedule::Fixed => Levels::Fixed(
            DEFAULT_LEVELS
                .iter()
                .copied()
                .filter(|&s| s >= args.finest)
                .collect(),
        ),
    };
    let slice_rate = (args.schedule == Schedule::Planned).then_some(rate);
    let refinement = RefinementJob::start(prepared.query.clone(), levels, Region::Domain, || {});
    let request = SliceRequest {
        query: Some(prepared.query),
        truth: None,
        volume: None,
        t1: Arc::clone(&templates.t1),
        window: templates.window,
        at: glam::DVec3::new(0.0, -80.0, 5.0),
        sizes: [args.slice_size; 3],
        style: OverlayStyle::symmetric(ColorMap::RdBuR, 1.0, 0.2),
        convention: Convention::Neurological,
    };
    let slices = SteppedJob::spawn(
        move |cancel, send| slice_steps(&request, slice_rate, cancel, send),
        || {},
    );
    let (mut levels, mut steps) = (Vec::new(), Vec::new());
    let (mut refining, mut slicing) = (true, true);
    while refining || slicing {
        let mut idle = true;
        while let Some(message) = refinement.poll() {
            idle = false;
            match message {
                RefineMessage::Level(level) => {
                    levels.push(TimedLevel {
                        spacing_mm: level.spacing_mm,
                        points: level.prediction.inside.data.iter().filter(|&&b| b).count(),
                        seconds: started.elapsed().as_secs_f64(),
                    });
                    refining = level.spacing_mm > args.finest;
                }
                RefineMessage::Failed(e) => bail!(e),
                RefineMessage::Plan(_) | RefineMessage::Progress { .. } => {}
            }
        }
        loop {
            match slices.poll() {
                Polled::Waiting => break,
                Polled::Finished => {
                    slicing = false;
                    break;
                }
                Polled::Step(Step::Level(rendered)) => {
                    idle = false;
                    steps.push(TimedLevel {
                        spacing_mm: rendered.iter().map(|s| s.factor).max().unwrap_or(1) as f64,
                        points: rendered
                            .iter()
                            .map(|s| {
                                let queried = s.inside.iter().filter(|&&b| b).count();
                                queried / (s.factor * s.factor)
                            })
                            .sum(),
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
                Polled::Step(Step::Failed(e)) => bail!(e),
                Polled::Step(Step::Progress(_)) => {}
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let first_3d = levels.first().map(|l| l.seconds);
    let first_slices = steps.first().map(|s| s.seconds);
    let first_picture_seconds = match (first_3d, first_slices) {
        (Some(a), Some(b)) => a.max(b),
        _ => bail!("the views never showed the prediction"),
    };
    Ok(DropTimes {
        prepare_seconds,
        points_per_second: prepared_rate,
        first_picture_seconds,
        levels,
        slice_steps: steps,
    })
}
