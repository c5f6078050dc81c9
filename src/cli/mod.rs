//! The `nrf` command line: argument parsing and the reporting of each subcommand.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
pub use view::ViewArgs;

mod bench;
mod bench_viewer;
mod evaluate;
mod finetune;
mod gpu;
mod info;
mod insilico;
mod io;
mod predict;
mod progress;
mod render;
mod simulate;
mod superres;
mod template;
mod train;
mod view;

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
        domain: predict::DomainArgs,
    },
    /// Predict the response to image files (or precomputed features) at points (.npy) or on a
    /// grid (NIfTI); without --model, with the embedded model of a virtual subject.
    Predict(predict::PredictArgs),
    /// Simulate virtual subjects viewing procedural stimuli, in the official NSD-processed
    /// layout (plus virtual/ with the ground truth). Virtual subjects are not real data.
    Simulate(simulate::SimulateArgs),
    /// The noise-free response of a simulated subject to any image, at points or on a grid.
    Truth(simulate::TruthArgs),
    /// Train a new NRF on one subject's data (built-in features by default).
    Train(Box<train::TrainArgs>),
    /// Fine-tune a model (e.g. another subject's) on a target subject's data, from few images.
    Finetune(Box<finetune::FinetuneArgs>),
    /// The voxel-wise ridge baseline on the same features, scored like `nrf eval`.
    Ridge(Box<evaluate::RidgeArgs>),
    /// The feature-weighted receptive field baseline (fWRF: a Gaussian pooling field per voxel
    /// over the feature maps and a ridge read-out), scored like `nrf eval`.
    Fwrf(Box<evaluate::FwrfArgs>),
    /// Score a model on a dataset's held-out images: per-voxel Pearson r, an r map, JSON.
    Eval(evaluate::EvalArgs),
    /// An in-silico localiser: two image sets (folders or procedural categories) predicted on a
    /// grid, their difference and Welch t per point, and the peaks with their ROIs.
    Localizer(Box<insilico::LocalizerArgs>),
    /// What drives a point: the images of a set that raise (and lower) the prediction most at a
    /// point, a small sphere or an ROI.
    Top(Box<insilico::TopArgs>),
    /// What a point sees: its population receptive field, mapped with contrast patches and bars
    /// and fitted with a 2D Gaussian (centre, size); on a virtual subject beside the truth's.
    Prf(Box<insilico::PrfArgs>),
    /// The mean prediction per ROI of the model's domain for each image of a set, or per
    /// category; as a table, CSV or JSON.
    Roi(Box<insilico::RoiArgs>),
    /// Super-resolution on a virtual subject: the NRF queried on a 0.9 mm grid between the
    /// 1.8 mm voxels vs trilinear upsampling of the ridge baseline, scored against the truth.
    Superres(Box<superres::SuperresArgs>),
    /// Draw an image's predicted response as PNG without a window: slices queried at the pixel
    /// size, the ray-marched 3D view (GPU adapter; software is fine), or an ortho figure.
    Render(Box<render::RenderArgs>),
    /// Open the viewer (the default when nrf runs without a command).
    View(ViewArgs),
    /// Write procedural stimuli (faces, places, objects, bodies, text, textures, gratings) as PNG.
    Stimuli(simulate::StimuliArgs),
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
        None => view::view(ViewArgs {
            image: None,
            subject: 1,
            screenshot: None,
            exit: false,
            truth: false,
            finetune_from: None,
            finetune_images: 20,
            localizer: None,
            prf_at: None,
            relative: false,
            finetune_epochs: None,
            frame_rate: false,
            exit_after: None,
            overlay: None,
            model: None,
            clip: None,
            device: predict::DeviceArg::Auto,
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
        }) => predict::convert(&dir, &out, &domain, subject),
        Some(Command::Predict(args)) => predict::predict(&args),
        Some(Command::Simulate(args)) => simulate::simulate_command(&args),
        Some(Command::Truth(args)) => simulate::truth_command(&args),
        Some(Command::Stimuli(args)) => simulate::stimuli_command(&args),
        Some(Command::Train(args)) => train::train_command(&args),
        Some(Command::Finetune(args)) => finetune::finetune_command(&args),
        Some(Command::Eval(args)) => evaluate::eval_command(&args),
        Some(Command::Localizer(args)) => insilico::localizer(&args),
        Some(Command::Top(args)) => insilico::top(&args),
        Some(Command::Prf(args)) => insilico::prf(&args),
        Some(Command::Roi(args)) => insilico::roi(&args),
        Some(Command::Ridge(args)) => evaluate::ridge_command(&args),
        Some(Command::Fwrf(args)) => evaluate::fwrf_command(&args),
        Some(Command::Superres(args)) => superres::superres_command(&args),
        Some(Command::Render(args)) => render::render(&args),
        Some(Command::View(args)) => view::view(args),
        Some(Command::Bench(BenchCommand::Query(args))) => bench::query(&args),
        Some(Command::Bench(BenchCommand::Features(args))) => bench::features(&args),
        Some(Command::Bench(BenchCommand::Train(args))) => bench::train(&args),
        Some(Command::Bench(BenchCommand::Render(args))) => bench::render(&args),
        Some(Command::Bench(BenchCommand::Viewer(args))) => bench_viewer::viewer(&args),
    }
}
