//! `nrf bench query`: points per second of `query_points` on random weights of a given size,
//! on the CPU and (when present) the GPU. Compare with `../shared/bench/torch_nrf_query.py`
//! run with the same sizes in the same session.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use glam::Vec3;
use serde::Serialize;

use nrf::device::{ComputeDevice, DeviceChoice, compute_device};
use nrf::features::ImageFeatures;
use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet};
use nrf::query::QueryEngine;
use nrf::space::BoundingBox;

use super::predict::DeviceArg;

/// `--threads N`: the CPU threads the benchmark may use (rayon's pool, which burn's CPU backend
/// and the direct query path share), for scaling measurements; default: one per core.
#[derive(Debug, Clone, Copy, Args)]
pub struct ThreadsArg {
    /// CPU threads to use (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

impl ThreadsArg {
    /// Sizes the thread pool before any work starts.
    fn apply(self) -> Result<()> {
        if let Some(threads) = self.threads {
            rayon::ThreadPoolBuilder::new()
                .num_threads(usize::from(threads))
                .build_global()
                .map_err(|e| anyhow::anyhow!("cannot size the thread pool: {e}"))?;
        }
        Ok(())
    }
}

/// Sizes and repetitions of the query benchmark.
#[derive(Debug, Args)]
pub struct QueryBenchArgs {
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// MLP width.
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// MLP layers (the output layer included).
    #[arg(long, default_value_t = 6)]
    pub layers: usize,
    /// Points per query.
    #[arg(long, default_value_t = 200_000)]
    pub points: usize,
    /// Timed repetitions (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Devices to time: auto = the CPU, and the GPU when one exists.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Print one JSON object per device instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct QueryBenchResult {
    device: String,
    threads: usize,
    hidden: usize,
    layers: usize,
    points: usize,
    chunk_points: usize,
    best_seconds: f64,
    points_per_second: f64,
    gflop_per_second: f64,
}

/// Deterministic pseudo-random values in [-1, 1) (xorshift), so runs are comparable.
fn pseudo_random(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn bench_on(device: &ComputeDevice, args: &QueryBenchArgs) -> Result<QueryBenchResult> {
    let config = NrfConfig::new()
        .with_hidden(args.hidden)
        .with_num_layers(args.layers);
    config.validate().map_err(anyhow::Error::msg)?;
    let b: Vec<f32> = Tensor::<2>::random(
        [3, config.fourier_features],
        Distribution::Normal(0.0, 32.0),
        &device.device,
    )
    .into_data()
    .try_to_vec::<f32>()
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let model = Nrf {
        net: NrfNet::init(&config, &b, &device.device),
        config: config.clone(),
        info: ModelInfo::default(),
        domain: Domain::Unknown,
        source: None,
    };
    let features = ImageFeatures::new(
        pseudo_random(1, 2 * config.patches() * config.token_dim),
        config.patches(),
        config.token_dim,
        pseudo_random(2, config.global_dim),
    )?;
    let bbox = BoundingBox::MNI_TEMPLATE;
    let unit = pseudo_random(3, 3 * args.points);
    let points: Vec<Vec3> = unit
        .chunks_exact(3)
        .map(|u| {
            let t = (Vec3::from_slice(u) + 1.0) * 0.5;
            bbox.min.as_vec3() + t * bbox.size().as_vec3()
        })
        .collect();
    let engine = QueryEngine::new(&model);
    let query = engine.prepare(&model, &features)?;
    let device_name = match query.gpu_kernel() {
        Some(kernel) => format!("{} ({kernel} WGSL kernel)", device.description),
        None if engine.direct_cpu_path() => format!("{}, direct gemm path", device.description),
        None => device.description.clone(),
    };
    // Warm-up: kernels compile (GPU), buffers and threads start.
    query.query_points(&points[..engine.chunk_points().min(points.len())])?;
    let mut best = f64::INFINITY;
    for _ in 0..args.repeats.max(1) {
        let started = Instant::now();
        let values = query.query_points(&points)?;
        best = best.min(started.elapsed().as_secs_f64());
        anyhow::ensure!(
            values.len() == points.len(),
            "query returned {} values",
            values.len()
        );
    }
    let points_per_second = args.points as f64 / best;
    Ok(QueryBenchResult {
        threads: rayon::current_num_threads(),
        device: device_name,
        hidden: args.hidden,
        layers: args.layers,
        points: args.points,
        chunk_points: engine.chunk_points(),
        best_seconds: best,
        points_per_second,
        gflop_per_second: 2.0 * config.query_macs_per_point() as f64 * points_per_second / 1e9,
    })
}

/// The devices to time: one, or for `auto` the CPU and the GPU when one exists.
fn devices(choice: DeviceArg) -> Result<Vec<ComputeDevice>> {
    Ok(match choice {
        DeviceArg::Cpu => vec![compute_device(DeviceChoice::Cpu)?],
        DeviceArg::Gpu => vec![compute_device(DeviceChoice::Gpu)?],
        DeviceArg::Auto => {
            let mut list = vec![compute_device(DeviceChoice::Cpu)?];
            match compute_device(DeviceChoice::Gpu) {
                Ok(gpu) => list.push(gpu),
                Err(e) => eprintln!("GPU skipped: {e}"),
            }
            list
        }
    })
}

/// Runs the query benchmark and prints the results.
pub fn query(args: &QueryBenchArgs) -> Result<()> {
    args.threads.apply()?;
    for device in &devices(args.device)? {
        let result = bench_on(device, args)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "{} ({} CPU threads): width {} × {} layers, {} points: {:.3} s best of {}, {:.0} points/s, {:.1} GFLOP/s",
                result.device,
                result.threads,
                result.hidden,
                result.layers,
                result.points,
                result.best_seconds,
                args.repeats,
                result.points_per_second,
                result.gflop_per_second
            );
        }
    }
    Ok(())
}

/// Options of the feature-extraction benchmark.
#[derive(Debug, Args)]
pub struct FeaturesBenchArgs {
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Images to time with the built-in extractor (227×227, deterministic pseudo-random content).
    #[arg(long, default_value_t = 50)]
    pub images: usize,
    /// Batches to time through a ViT-B/16-sized CLIP tower (random weights); 0 skips CLIP.
    #[arg(long, default_value_t = 3)]
    pub clip_batches: usize,
    /// Images per CLIP batch.
    #[arg(long, default_value_t = 8)]
    pub clip_batch: usize,
    /// Devices for CLIP: auto = the CPU, and the GPU when one exists.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Print one JSON object per result instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct FeaturesBenchResult {
    extractor: String,
    device: String,
    threads: usize,
    images: usize,
    batch: usize,
    best_ms_per_image: f64,
    mean_ms_per_image: f64,
    images_per_second: f64,
}

impl FeaturesBenchResult {
    fn from_times(
        extractor: String,
        (device, threads): (String, usize),
        batch: usize,
        ms_per_image: &[f64],
    ) -> Self {
        let best = ms_per_image.iter().copied().fold(f64::INFINITY, f64::min);
        Self {
            extractor,
            device,
            threads,
            images: ms_per_image.len() * batch,
            batch,
            best_ms_per_image: best,
            mean_ms_per_image: ms_per_image.iter().sum::<f64>() / ms_per_image.len() as f64,
            images_per_second: 1e3 / best,
        }
    }

    fn print(&self, json: bool) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
        } else {
            println!(
                "{} on {} ({} CPU threads): {:.2} ms per image (best), {:.2} ms mean, {:.1} images/s, {} images in batches of {}",
                self.extractor,
                self.device,
                self.threads,
                self.best_ms_per_image,
                self.mean_ms_per_image,
                self.images_per_second,
                self.images,
                self.batch
            );
        }
        Ok(())
    }
}

/// Times a ViT-B/16-sized tower (random weights) on `device`: on the CPU first the direct tower
/// (what CPU users get), then burn's, both from the same weights and pixels.
fn bench_clip(
    device: &ComputeDevice,
    args: &FeaturesBenchArgs,
) -> Result<Vec<FeaturesBenchResult>> {
    use nrf::features::clip::cpu::CpuClip;
    use nrf::features::clip::{ClipVision, ClipVisionConfig};
    let config = ClipVisionConfig::vit_b16();
    let mut dict = config.random_state_dict(11);
    let vision = ClipVision::from_state_dict(&config, &mut dict, &device.device)?;
    let s = config.image_size;
    let batch = args.clip_batch.max(1);
    let pixels = pseudo_random(5, batch * 3 * s * s);
    let what = "clip-vit-b16 (random weights), layers 3,6 + image_embeds";
    let threads = rayon::current_num_threads();
    let mut results = Vec::new();
    let direct = (device.device == burn::tensor::Device::flex())
        .then(|| CpuClip::from_vision(&vision))
        .flatten();
    if let Some(cpu) = direct {
        let run = || -> Result<f64> {
            let started = Instant::now();
            std::hint::black_box(cpu.forward(&pixels, batch, &[3, 6]));
            Ok(started.elapsed().as_secs_f64() * 1e3 / batch as f64)
        };
        results.push(FeaturesBenchResult::from_times(
            format!("{what}, direct CPU path"),
            ("CPU".into(), threads),
            batch,
            &time_batches(args.clip_batches, run)?,
        ));
    }
    let run = || -> Result<f64> {
        let started = Instant::now();
        let input = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(pixels.clone(), [batch, 3, s, s]),
            &device.device,
        );
        let out = vision.forward(input, &[3, 6]);
        // Reading everything back makes the device finish the work being timed.
        for tokens in out.layer_tokens {
            tokens
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        out.image_embeds
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(started.elapsed().as_secs_f64() * 1e3 / batch as f64)
    };
    results.push(FeaturesBenchResult::from_times(
        format!("{what}, burn"),
        (device.description.clone(), threads),
        batch,
        &time_batches(args.clip_batches, run)?,
    ));
    Ok(results)
}

/// `run` once to warm up (kernel compilation, allocation, threads), then `batches` times.
fn time_batches(batches: usize, run: impl Fn() -> Result<f64>) -> Result<Vec<f64>> {
    run()?;
    (0..batches).map(|_| run()).collect()
}

/// Times the built-in extractor on one thread (the extractor itself is single-threaded), then a
/// ViT-B/16-sized CLIP on the chosen devices. Compare the CLIP numbers with
/// `benches/clip_vs_hf.py` run in the same session.
pub fn features(args: &FeaturesBenchArgs) -> Result<()> {
    args.threads.apply()?;
    use nrf::features::FeatureExtractor;
    use nrf::features::builtin::BuiltinExtractor;
    use nrf::features::preprocess::Rgb8;
    let noise = pseudo_random(7, 227 * 227 * 3);
    let image = Rgb8 {
        width: 227,
        height: 227,
        pixels: noise.iter().map(|v| ((v + 1.0) * 127.5) as u8).collect(),
    };
    let mut times = Vec::with_capacity(args.images);
    for _ in 0..args.images.max(1) {
        let started = Instant::now();
        BuiltinExtractor.extract(&image)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    FeaturesBenchResult::from_times(BuiltinExtractor.id(), ("CPU".into(), 1), 1, &times)
        .print(args.json)?;
    if args.clip_batches == 0 {
        return Ok(());
    }
    for device in devices(args.device)? {
        for result in bench_clip(&device, args)? {
            result.print(args.json)?;
        }
    }
    Ok(())
}

/// Sizes of the training benchmark (defaults: a 256×6 MLP with a CLIP-sized merger, the
/// official batch of 32 images × 2000 voxels).
#[derive(Debug, Args)]
pub struct TrainBenchArgs {
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// MLP width.
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// MLP layers (the output layer included).
    #[arg(long, default_value_t = 6)]
    pub layers: usize,
    /// Token width (CLIP ViT-B/16: 768).
    #[arg(long, default_value_t = 768)]
    pub token_dim: usize,
    /// Patches per side.
    #[arg(long, default_value_t = 14)]
    pub patches: usize,
    /// Fused width per token map (official 512).
    #[arg(long, default_value_t = 512)]
    pub downsample: usize,
    /// Global embedding width.
    #[arg(long, default_value_t = 512)]
    pub global_dim: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    pub images: usize,
    /// Voxels per image.
    #[arg(long, default_value_t = 2000)]
    pub voxels: usize,
    /// Timed steps (after one warm-up step); the best is reported.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Devices to time: auto = the CPU, and the GPU when one exists.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Print one JSON object per device instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct TrainBenchResult {
    device: String,
    /// `direct` (the MLP on the direct CPU path) or `burn` (all in burn's autodiff).
    path: &'static str,
    threads: usize,
    hidden: usize,
    layers: usize,
    images: usize,
    voxels: usize,
    best_step_seconds: f64,
    samples_per_second: f64,
}

fn bench_train_on(device: &ComputeDevice, args: &TrainBenchArgs) -> Result<TrainBenchResult> {
    use burn::module::Module;
    use nrf::train::trainer::{adamw, loss_and_gradients};
    let config = NrfConfig::new()
        .with_hidden(args.hidden)
        .with_num_layers(args.layers)
        .with_token_dim(args.token_dim)
        .with_patches_per_side(args.patches)
        .with_merged_dim(args.downsample)
        .with_global_dim(args.global_dim);
    config.validate().map_err(anyhow::Error::msg)?;
    let autodiff = device.device.clone().autodiff();
    let mut net = NrfNet::init_seeded(&config, 0, &device.device)?
        .fork(&autodiff)
        .train();
    let mut optimizer = adamw(0.015);
    let (b, n) = (args.images, args.voxels);
    let data = |seed, shape: Vec<usize>| {
        let len = shape.iter().product();
        burn::tensor::TensorData::new(pseudo_random(seed, len), shape)
    };
    let tokens = Tensor::<4>::from_data(
        data(1, vec![b, 2, config.patches(), config.token_dim]),
        &autodiff,
    );
    let global = Tensor::<2>::from_data(data(2, vec![b, config.global_dim]), &autodiff);
    let coords = Tensor::<3>::from_data(data(3, vec![b, n, 3]), &autodiff);
    let targets = Tensor::<2>::from_data(data(4, vec![b, n]), &autodiff);
    let mut best = f64::INFINITY;
    for step in 0..=args.steps.max(1) {
        let started = Instant::now();
        let (loss, grads) = loss_and_gradients(
            &net,
            tokens.clone(),
            global.clone(),
            coords.clone(),
            targets.clone(),
        )?;
        net = optimizer.step(3e-4, net, grads);
        // Reading the loss back makes the device finish the step being timed.
        loss.into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let seconds = started.elapsed().as_secs_f64();
        if step > 0 {
            best = best.min(seconds);
        }
    }
    Ok(TrainBenchResult {
        threads: rayon::current_num_threads(),
        device: device.description.clone(),
        path: if nrf::train::trainer::direct_step_on(&device.device) {
            "direct"
        } else {
            "burn"
        },
        hidden: args.hidden,
        layers: args.layers,
        images: b,
        voxels: n,
        best_step_seconds: best,
        samples_per_second: (b * n) as f64 / best,
    })
}

/// Times training steps (forward, official loss, backward, AdamW). Compare with
/// `../shared/bench/torch_nrf_train_step.py` in the same run (`benches/train_vs_torch.sh`).
pub fn train(args: &TrainBenchArgs) -> Result<()> {
    args.threads.apply()?;
    for device in devices(args.device)? {
        let result = bench_train_on(&device, args)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "{} ({} CPU threads, {} path): {}×{} MLP, CLIP-sized merger, batch {}×{}: {:.3} s per step (best of {}), {:.0} samples/s",
                result.device,
                result.threads,
                result.path,
                result.hidden,
                result.layers,
                result.images,
                result.voxels,
                result.best_step_seconds,
                args.steps,
                result.samples_per_second
            );
        }
    }
    Ok(())
}

/// Sizes and repetitions of the 3D rendering benchmark.
#[derive(Debug, Args)]
pub struct RenderBenchArgs {
    /// Frames timed per configuration (after one warm-up frame).
    #[arg(long, default_value_t = 10)]
    pub frames: usize,
    /// Time only the 3D view, not the grid queries.
    #[arg(long, conflicts_with = "queries_only")]
    pub frames_only: bool,
    /// Time only the queries (the fused and the tiled WGSL kernels, burn on the GPU, burn on
    /// the CPU), not the 3D view.
    #[arg(long)]
    pub queries_only: bool,
    /// Query a random model this wide instead of the embedded one (with `--queries-only`), e.g.
    /// 4096 for the official size.
    #[arg(long, requires = "queries_only")]
    pub hidden: Option<usize>,
    /// Layers of the random model.
    #[arg(long, default_value_t = 8, requires = "hidden")]
    pub layers: usize,
    /// Query this many points (spread over the brain) instead of the whole 2 mm grid.
    #[arg(long, requires = "queries_only")]
    pub points: Option<usize>,
    /// 3D view sizes to time, WIDTHxHEIGHT (repeat the flag for several), e.g. 1920x1080.
    #[arg(
        long = "size",
        value_name = "WIDTHxHEIGHT",
        value_parser = super::render::parse_size,
        default_values = ["640x480", "1280x800"],
        conflicts_with = "queries_only"
    )]
    pub sizes: Vec<(u32, u32)>,
    /// Print one JSON object per configuration instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct RenderBenchResult {
    adapter: String,
    width: u32,
    height: u32,
    /// Pixels actually ray-marched: the view's, or half of each side for the viewer's frames
    /// while the user drags (scaled up on screen).
    marched_width: u32,
    marched_height: u32,
    volume_mm: f64,
    frames: usize,
    frames_per_second: f64,
}

/// `nrf bench render`: frames per second of the ray-marched 3D view (embedded subject-1 model's
/// prediction for a procedural face over the brain template), orbiting a few degrees per frame,
/// at each `--size` (640×480 and 1280×800 unless told) — in full, and at half of each side as the viewer marches while the
/// user drags — over 2 mm and 1 mm volumes. Frames are rendered offscreen and read
/// back, so the figure includes the copy a window would not need.
pub fn render(args: &RenderBenchArgs) -> Result<()> {
    use nrf::render::colormap::{ColorMap, OverlayStyle};
    use nrf::render::volume3d::{Camera, FrameOptions, VolumeRenderer, brain_anatomy};
    let gpu = nrf::gpu::GpuContext::request()?;
    let device = compute_device(DeviceChoice::Cpu)?;
    let model = nrf::embedded::default_model(1, &device.device)?;
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
    let features =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb)?;
    let engine = QueryEngine::new(&model);
    let query = engine.prepare(&model, &features)?;
    let frames = args.frames.max(1);
    if !args.frames_only {
        match args.hidden {
            Some(hidden) => {
                let config = nrf::model::NrfConfig::new()
                    .with_hidden(hidden)
                    .with_num_layers(args.layers);
                let net = nrf::model::NrfNet::init_seeded(&config, 7, &device.device)?;
                let wide = Nrf {
                    net,
                    config,
                    info: Default::default(),
                    domain: nrf::model::Domain::Unknown,
                    source: None,
                };
                let features = random_clip_features(&wide.config);
                query_speeds(args, &gpu, &wide, &features)?;
            }
            None => query_speeds(args, &gpu, &model, &features)?,
        }
    }
    if args.queries_only {
        return Ok(());
    }
    for spacing in [2.0, 1.0] {
        let grid = nrf::space::Grid::mni(spacing)?;
        let prediction = query.query_grid(&grid, nrf::query::Region::Domain)?;
        let mut renderer = VolumeRenderer::offscreen(
            &gpu,
            &brain_anatomy(&grid)?,
            Some((&prediction.volume, &prediction.inside)),
            &OverlayStyle::symmetric(ColorMap::RdBuR, 1.0, 0.2),
        )?;
        let sizes = args
            .sizes
            .iter()
            .copied()
            .flat_map(|(w, h)| [(w, h, 1), (w, h, 2)]);
        for (view_width, view_height, divisor) in sizes {
            let (width, height) = (view_width / divisor, view_height / divisor);
            let frame = |k: usize| FrameOptions {
                camera: Camera {
                    azimuth_deg: -55.0 + 2.0 * k as f32,
                    ..Camera::default()
                },
                jitter_seed: k as f32,
                ..FrameOptions::default()
            };
            renderer.render_offscreen(&gpu.device, &gpu.queue, &frame(0), (width, height))?;
            let started = Instant::now();
            for k in 1..=frames {
                renderer.render_offscreen(&gpu.device, &gpu.queue, &frame(k), (width, height))?;
            }
            let seconds = started.elapsed().as_secs_f64();
            let result = RenderBenchResult {
                adapter: gpu.describe(),
                width: view_width,
                height: view_height,
                marched_width: width,
                marched_height: height,
                volume_mm: spacing,
                frames,
                frames_per_second: frames as f64 / seconds,
            };
            if args.json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                let how = if divisor == 1 {
                    String::new()
                } else {
                    format!(" while dragging (marched at {width}×{height})")
                };
                println!(
                    "3D {view_width}×{view_height}{how} over {spacing} mm volumes: {:.2} frames/s ({} frames) on {}",
                    result.frames_per_second, frames, result.adapter
                );
            }
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct GpuQueryResult {
    path: String,
    points: usize,
    seconds: f64,
    points_per_second: f64,
}

/// Image features of the shape `config` takes (CLIP-sized for the default config), from a
/// fixed wave: the benchmark times the MLP, not the features.
fn random_clip_features(config: &nrf::model::NrfConfig) -> ImageFeatures {
    let wave = |n: usize, k: f32| (0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<_>>();
    ImageFeatures::new(
        wave(2 * config.patches() * config.token_dim, 0.37),
        config.patches(),
        config.token_dim,
        wave(config.global_dim, 0.91),
    )
    .expect("features of the config's own shape")
}

/// Points per second of querying `model` at every point of a 2 mm whole-brain grid (or at
/// `--points` of them): the fused and the tiled WGSL kernels, the burn query on the same adapter,
/// and the burn query on the CPU. Each is timed after one warm-up run (the line says how long the
/// first run, with compiling the kernels, took). The fused kernel is skipped past 256 wide: on a
/// software adapter it compiles for minutes there.
fn query_speeds(
    args: &RenderBenchArgs,
    gpu: &nrf::gpu::GpuContext,
    model: &Nrf,
    features: &ImageFeatures,
) -> Result<()> {
    use nrf::query::gpu::{GpuQuery, Kernel, widest};
    let grid = nrf::space::Grid::mni(2.0)?;
    let mut points = grid.points();
    if let Some(n) = args.points {
        let stride = (points.len() / n.max(1)).max(1);
        points = points.into_iter().step_by(stride).take(n).collect();
    }
    let shape = format!(
        "MLP {} × {}",
        model.net.mlp.layers.len(),
        model.config.hidden
    );
    let report = |path: String, seconds: f64| -> Result<()> {
        let result = GpuQueryResult {
            path: format!("{path} ({shape})"),
            points: points.len(),
            seconds,
            points_per_second: points.len() as f64 / seconds,
        };
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "query {} points: {:.0} points/s ({:.3} s) — {}",
                result.points, result.points_per_second, seconds, result.path
            );
        }
        Ok(())
    };
    let mut kernels = vec![Kernel::Tiled, Kernel::Layered];
    if widest(model) <= 256 {
        kernels.insert(0, Kernel::Fused);
    }
    for kernel in kernels {
        let started = Instant::now();
        let query = GpuQuery::with_kernel(gpu, model, features, kernel)?;
        query.query_points(gpu, &points)?;
        let first = started.elapsed().as_secs_f64();
        let started = Instant::now();
        query.query_points(gpu, &points)?;
        let seconds = started.elapsed().as_secs_f64();
        report(
            format!(
                "{kernel} WGSL kernel on {} (first run, with compiling the kernel: {first:.1} s)",
                gpu.describe()
            ),
            seconds,
        )?;
    }
    for choice in [DeviceChoice::Gpu, DeviceChoice::Cpu] {
        let device = match compute_device(choice) {
            Ok(device) => device,
            Err(e) => {
                eprintln!("skipping the burn query on {choice:?}: {e}");
                continue;
            }
        };
        let on_device = model.on_device(&device.device);
        let engine = QueryEngine::burn_only(&on_device);
        let query = engine.prepare(&on_device, features)?;
        let started = Instant::now();
        query.query_points(&points)?;
        let first = started.elapsed().as_secs_f64();
        let started = Instant::now();
        query.query_points(&points)?;
        report(
            format!(
                "burn query on {} (first run: {first:.1} s)",
                device.description
            ),
            started.elapsed().as_secs_f64(),
        )?;
    }
    Ok(())
}
