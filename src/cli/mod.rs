//! The `nrf` command line: argument parsing and the reporting of each subcommand.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

mod bench;
mod bench_viewer;
mod data;
mod gpu;
mod info;
mod io;
mod model;
mod progress;
mod render;
mod template;
mod train;

/// Neural Response Functions: look inside brain-encoding models that predict the fMRI response
/// to an image at any MNI coordinate (Chen et al., ICLR 2026).
#[derive(Debug, Parser)]
#[command(name = "nrf", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a NIfTI file: shape, voxel sizes, affine, datatype and value range.
    ///
    /// The affine is chosen as nibabel does (sform, else qform, else pixdim), and --json prints
    /// exactly the keys shape, affine, zooms, dtype, min, max, mean, comparable with nibabel's
    /// img.shape, img.affine, header.get_zooms(), get_data_dtype() and get_fdata().
    Info {
        /// A .nii or .nii.gz file (NIfTI-1 or NIfTI-2), or a .hdr of an .hdr/.img pair.
        file: PathBuf,
        /// Print one JSON object instead of the readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Find the GPU adapter nrf would use and check that it computes correctly.
    ///
    /// Without a hardware GPU, a software Vulkan driver works (Debian/Ubuntu package
    /// mesa-vulkan-drivers); WGPU_BACKEND and WGPU_ADAPTER_NAME choose among several adapters.
    Gpu,
    /// Write the embedded MNI152 2009a template, or its brain mask, at any spacing as NIfTI.
    Template {
        /// Which image to write.
        #[arg(long, value_enum, default_value_t = TemplateChoice::T1)]
        image: TemplateChoice,
        /// Voxel size of the output grid in mm (the template's own grid is 1 mm).
        #[arg(long, default_value_t = 1.0)]
        spacing: f64,
        /// Output file (.nii or .nii.gz); written atomically.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert an official NRF run folder (experiment_config.yaml, B.npy, best_model/*.pth.tar)
    /// into one .nrf model file.
    Convert {
        /// The official run folder.
        dir: PathBuf,
        /// The .nrf file to write (atomically).
        #[arg(long)]
        out: PathBuf,
        /// Subject name to record (default: the config's data_subject_list).
        #[arg(long)]
        subject: Option<String>,
        /// Where the model's domain comes from.
        #[command(flatten)]
        domain: model::DomainArgs,
    },
    /// Predict the response to image files (or precomputed features) at points (.npy) or on a
    /// grid (NIfTI); without --model, with the embedded model of a virtual subject.
    Predict(model::PredictArgs),
    /// Simulate virtual subjects viewing procedural stimuli, in the official NSD-processed
    /// layout (plus virtual/ with the ground truth). Virtual subjects are not real data.
    Simulate(data::SimulateArgs),
    /// The noise-free response of a simulated subject to any image, at points or on a grid.
    Truth(data::TruthArgs),
    /// Train a new NRF on one subject's data (built-in features by default).
    Train(Box<train::TrainArgs>),
    /// Fine-tune a model (e.g. another subject's) on a target subject's data, from few images.
    Finetune(Box<train::FinetuneArgs>),
    /// The voxel-wise ridge baseline on the same features, scored like `nrf eval`.
    Ridge(Box<train::RidgeArgs>),
    /// Score a model on a dataset's held-out images: per-voxel Pearson r, an r map, JSON.
    Eval(train::EvalArgs),
    /// Super-resolution on a virtual subject: the NRF queried on a 0.9 mm grid between the
    /// 1.8 mm voxels vs trilinear upsampling of the ridge baseline, scored against the truth.
    Superres(Box<train::SuperresArgs>),
    /// Draw an image's predicted response as PNG without a window: slices queried at the pixel
    /// size, the ray-marched 3D view (GPU adapter; software is fine), or an ortho figure.
    Render(Box<render::RenderArgs>),
    /// Open the viewer (the default when nrf runs without a command).
    View(ViewArgs),
    /// Write procedural stimuli (faces, places, objects, bodies, text, textures, gratings) as PNG.
    Stimuli(data::StimuliArgs),
    /// Measure speed.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Points per second of NRF queries on random weights (CPU, and GPU when present).
    Query(bench::QueryBenchArgs),
    /// Milliseconds per image of the built-in extractor and a ViT-B/16-sized CLIP.
    Features(bench::FeaturesBenchArgs),
    /// Samples per second of training steps (forward, loss, backward, AdamW).
    Train(bench::TrainBenchArgs),
    /// Frames per second of the ray-marched 3D view (needs a GPU adapter; software is fine).
    Render(bench::RenderBenchArgs),
    /// Seconds from dropping an image in the viewer to its first picture (3D view and slices)
    /// and each planned level, on the chosen device, for any model.
    Viewer(bench_viewer::ViewerBenchArgs),
}

/// Template images `nrf template` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateChoice {
    /// T1-weighted intensity.
    T1,
    /// Grey-matter probability (0–1).
    Gm,
    /// White-matter probability (0–1).
    Wm,
    /// Brain mask (grey + white matter probability above 0.5), 0/1.
    BrainMask,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    // A misspelt kernel is an error here, not a silent fall back to burn's kernels later.
    nrf::query::gpu::kernel_override().map_err(anyhow::Error::msg)?;
    match cli.command {
        None => view(ViewArgs {
            image: None,
            subject: 1,
            screenshot: None,
            exit: false,
            truth: false,
            finetune_from: None,
            finetune_images: 20,
            finetune_epochs: None,
            frame_rate: false,
            exit_after: None,
            overlay: None,
            model: None,
            clip: None,
            device: model::DeviceArg::Auto,
        }),
        Some(Command::Info { file, json }) => info::info(file, json),
        Some(Command::Gpu) => gpu::run(),
        Some(Command::Template {
            image,
            spacing,
            out,
        }) => template::run(image, spacing, out),
        Some(Command::Convert {
            dir,
            out,
            subject,
            domain,
        }) => model::convert(&dir, &out, &domain, subject),
        Some(Command::Predict(args)) => model::predict(&args),
        Some(Command::Simulate(args)) => data::simulate_command(&args),
        Some(Command::Truth(args)) => data::truth_command(&args),
        Some(Command::Stimuli(args)) => data::stimuli_command(&args),
        Some(Command::Train(args)) => train::train_command(&args),
        Some(Command::Finetune(args)) => train::finetune_command(&args),
        Some(Command::Eval(args)) => train::eval_command(&args),
        Some(Command::Ridge(args)) => train::ridge_command(&args),
        Some(Command::Superres(args)) => train::superres_command(&args),
        Some(Command::Render(args)) => render::render(&args),
        Some(Command::View(args)) => view(args),
        Some(Command::Bench(BenchCommand::Query(args))) => bench::query(&args),
        Some(Command::Bench(BenchCommand::Features(args))) => bench::features(&args),
        Some(Command::Bench(BenchCommand::Train(args))) => bench::train(&args),
        Some(Command::Bench(BenchCommand::Render(args))) => bench::render(&args),
        Some(Command::Bench(BenchCommand::Viewer(args))) => bench_viewer::viewer(&args),
    }
}

/// Options of `nrf view`.
#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// An image to show at once (default: an example stimulus).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Embedded virtual subject (1–8).
    #[arg(long, default_value_t = 1)]
    pub subject: usize,
    /// A model to show instead of --subject's: a .nrf file or an official run folder (models
    /// on CLIP features need --clip).
    #[arg(long, value_name = "M.nrf|RUN_DIR")]
    pub model: Option<PathBuf>,
    /// Local Hugging Face CLIP folder (config.json, model.safetensors, preprocessor_config.json)
    /// for models that take CLIP features; it can also be chosen in the window.
    #[arg(long, value_name = "DIR")]
    pub clip: Option<PathBuf>,
    /// Write a PNG of the window once the first full prediction is on screen.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Close the window after the screenshot.
    #[arg(long, requires = "screenshot")]
    pub exit: bool,
    /// Show the virtual subject's noise-free truth instead of the prediction.
    #[arg(long)]
    pub truth: bool,
    /// Start fine-tuning this embedded subject's model to --subject at once (as the Fine-tune
    /// panel's Start does); with --screenshot, the picture is taken when it has finished.
    #[arg(long, value_name = "K")]
    pub finetune_from: Option<usize>,
    /// Training images of that fine-tune.
    #[arg(long, default_value_t = 20, requires = "finetune_from")]
    pub finetune_images: usize,
    /// The most epochs of that fine-tune (default: what the Fine-tune panel suggests for the
    /// number of images, e.g. 400 for 20; it stops earlier when validation stops improving).
    #[arg(long, value_name = "N", requires = "finetune_from")]
    pub finetune_epochs: Option<usize>,
    /// A NIfTI volume (e.g. a stat map) to show over the template in place of the prediction.
    #[arg(long, value_name = "FILE.nii[.gz]")]
    pub overlay: Option<PathBuf>,
    /// Repaint continuously and print the window's frames per second when it closes (while a
    /// fine-tune trains, and otherwise): a benchmark of the UI.
    #[arg(long)]
    pub frame_rate: bool,
    /// With --frame-rate: close the window this many seconds after it opens (to time the UI
    /// while a slow model computes).
    #[arg(long, value_name = "SECONDS", requires = "frame_rate")]
    pub exit_after: Option<f64>,
    /// Where the model runs: auto = a hardware GPU (on the window's own device) when there is
    /// one, else the CPU; gpu takes a software adapter too. The views are drawn on the GPU
    /// adapter either way.
    #[arg(long, value_enum, default_value_t = model::DeviceArg::Auto)]
    pub device: model::DeviceArg,
}

/// `nrf view`.
fn view(args: ViewArgs) -> Result<()> {
    if !(1..=8).contains(&args.subject) {
        anyhow::bail!(
            "--subject {}: the embedded subjects are 1 to 8",
            args.subject
        );
    }
    if let Some(k) = args.finetune_from
        && !(1..=8).contains(&k)
    {
        anyhow::bail!("--finetune-from {k}: the embedded subjects are 1 to 8");
    }
    if !(1..=900).contains(&args.finetune_images) {
        anyhow::bail!(
            "--finetune-images {}: a virtual subject has 1 to 900 training images",
            args.finetune_images
        );
    }
    if let Some(epochs) = args.finetune_epochs
        && !(1..=10_000).contains(&epochs)
    {
        anyhow::bail!("--finetune-epochs {epochs}: expected 1 to 10000");
    }
    if let Some(seconds) = args.exit_after
        && !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0)
    {
        anyhow::bail!("--exit-after {seconds}: expected 0 to 86400 seconds");
    }
    let stats = args.frame_rate.then(std::sync::Arc::default);
    // Fail here, with the file's name, rather than in a dialog.
    if let Some(overlay) = &args.overlay {
        nrf::session::open::open(overlay.clone(), None, &burn::tensor::Device::flex())
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(path) = &args.model {
        let model = nrf::session::open::read_model(path, &burn::tensor::Device::flex())
            .map_err(anyhow::Error::msg)?;
        if !nrf::session::open::takes_builtin_features(&model) {
            let Some(clip) = &args.clip else {
                anyhow::bail!(
                    "{}: the model takes CLIP features; pass --clip DIR (a local Hugging Face \
                     CLIP folder)",
                    path.display()
                );
            };
            // The sizes only (config.json): the window reads the weights.
            nrf::session::open::check_clip_config(&model, clip).map_err(anyhow::Error::msg)?;
        }
    }
    if let Some(image) = &args.image {
        // Fail here, with the file's name, rather than in a dialog.
        nrf::features::preprocess::load_rgb8(image)?;
    }
    // Where the model runs is known once the window has its GPU device: told through a channel.
    let (report, reports) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in reports {
            eprintln!("{line}");
        }
    });
    nrf::app::run(nrf::app::ViewOptions {
        image: args.image,
        subject: args.subject,
        screenshot: args.screenshot.clone(),
        exit: args.exit,
        truth: args.truth,
        finetune: args.finetune_from.map(|k| (k, args.finetune_images)),
        finetune_epochs: args.finetune_epochs,
        frame_stats: stats.clone(),
        exit_after: args.exit_after.map(std::time::Duration::from_secs_f64),
        overlay: args.overlay.clone(),
        model: args.model.clone(),
        clip: args.clip.clone(),
        device: args.device.into(),
        device_report: Some(report),
    })
    .map_err(anyhow::Error::msg)
    .context(
        "could not open the viewer window (no display? run it in a desktop session or under \
         xvfb-run, or use the command-line tools: `nrf --help`)",
    )?;
    if let Some(path) = &args.screenshot {
        if !path.is_file() {
            anyhow::bail!("{}: no screenshot was written", path.display());
        }
        println!("wrote {}", path.display());
    }
    if let Some(stats) = stats.and_then(|s| s.lock().ok().map(|s| *s)) {
        let line = |phase: &nrf::app::PhaseFrames, when: &str| {
            format!(
                "{:.1} frames/s {when} ({} frames, slowest {:.0} ms)",
                phase.rate(),
                phase.frames,
                phase.slowest * 1000.0
            )
        };
        println!(
            "UI frames: {}, {}, {}",
            line(&stats.training, "while a fine-tune trained"),
            line(&stats.idle, "idle"),
            line(&stats.other, "while loading and predicting")
        );
    }
    Ok(())
}
