//! `nrf view` (and `nrf` without a command): the arguments are checked and the files named on
//! the command line read here, so a bad one fails in the terminal with its name; then the
//! window opens (feature `viewer`; a CLI-only build says how to get it).

use std::path::PathBuf;

#[cfg(feature = "viewer")]
use anyhow::Context;
use anyhow::Result;

use super::predict::DeviceArg;

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
    /// Show each prediction relative to the average image: minus the mean prediction over 14
    /// procedural images (two per category), so what is specific to the image stands out.
    #[arg(long)]
    pub relative: bool,
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
    /// Run an in-silico localiser at once (Ask panel): sets A and B (a folder, CATEGORY:N or
    /// library:N), e.g. --localizer face:20 place:20; the crosshair then moves to its top peak,
    /// the images that drive it are ranked and its pRF is shown.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub localizer: Option<Vec<String>>,
    /// Show the pRF at this point at once (Ask panel), with the crosshair there.
    #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true,
          value_parser = super::io::parse_point, conflicts_with = "localizer")]
    pub prf_at: Option<glam::Vec3>,
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
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// `nrf view`.
pub fn view(args: ViewArgs) -> Result<()> {
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
    // Fail here, with the file's name, rather than in a dialog.
    if let Some(overlay) = &args.overlay {
        nrf::session::open::open(overlay.clone(), None, &burn::tensor::Device::flex())
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(path) = &args.model {
        let model = nrf::session::open::read_model(path, &burn::tensor::Device::flex())
            .map_err(anyhow::Error::msg)?
            .model;
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
    for set in args.localizer.iter().flatten() {
        nrf::insilico::image_set::SetSpec::parse(set)
            .map_err(|e| anyhow::anyhow!("--localizer: {e}"))?;
    }
    if let Some(point) = args.prf_at {
        nrf::insilico::top_images::check_point_in_brain(point)
            .map_err(|e| anyhow::anyhow!("--prf-at: {e}"))?;
    }
    if let Some(image) = &args.image {
        // Fail here, with the file's name, rather than in a dialog.
        nrf::features::decode::load_rgb8(image)?;
    }
    open_window(args)
}

/// Opens the window with `args` and reports its screenshot and frame rates.
#[cfg(feature = "viewer")]
fn open_window(args: ViewArgs) -> Result<()> {
    let stats = args.frame_rate.then(std::sync::Arc::default);
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
        localizer: args
            .localizer
            .as_ref()
            .and_then(|sets| Some((sets.first()?.clone(), sets.get(1)?.clone()))),
        prf_at: args.prf_at,
        relative_to_average: args.relative,
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

/// A CLI-only build has no window: says so, and what to do instead.
#[cfg(not(feature = "viewer"))]
fn open_window(_args: ViewArgs) -> Result<()> {
    anyhow::bail!(
        "this nrf was built without the viewer (cargo build --no-default-features); build it \
         with the default features for the window, or use the command-line tools: `nrf --help`"
    )
}
