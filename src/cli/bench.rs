//! `nrf bench query`: points per second of `query_points` on random weights of a given size,
//! on the CPU and (when present) the GPU. Compare with `../shared/bench/torch_nrf_query.py`
//! run with the same sizes in the same session.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use glam::Vec3;
use serde::Serialize;

use nrf::features::ImageFeatures;
use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet};
use nrf::query::{ComputeDevice, DeviceChoice, QueryEngine, compute_device};
use nrf::space::BoundingBox;

use super::model::DeviceArg;

/// Sizes and repetitions of the query benchmark.
#[derive(Debug, Args)]
pub struct QueryBenchArgs {
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
        device: device.description.clone(),
        hidden: args.hidden,
        layers: args.layers,
        points: args.points,
        chunk_points: engine.chunk_points(),
        best_seconds: best,
        points_per_second,
        gflop_per_second: 2.0 * config.query_macs_per_point() as f64 * points_per_second / 1e9,
    })
}

/// Runs the query benchmark and prints the results.
pub fn query(args: &QueryBenchArgs) -> Result<()> {
    let devices: Vec<ComputeDevice> = match args.device {
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
    };
    for device in &devices {
        let result = bench_on(device, args)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "{}: width {} × {} layers, {} points: {:.3} s best of {}, {:.0} points/s, {:.1} GFLOP/s",
                result.device,
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
    /// Images to time (227×227, deterministic pseudo-random content).
    #[arg(long, default_value_t = 50)]
    pub images: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct FeaturesBenchResult {
    extractor: String,
    images: usize,
    threads: usize,
    best_ms_per_image: f64,
    mean_ms_per_image: f64,
}

/// Times the built-in extractor on one thread (the extractor itself is single-threaded).
pub fn features(args: &FeaturesBenchArgs) -> Result<()> {
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
    let result = FeaturesBenchResult {
        extractor: BuiltinExtractor.id(),
        images: times.len(),
        threads: 1,
        best_ms_per_image: times.iter().copied().fold(f64::INFINITY, f64::min),
        mean_ms_per_image: times.iter().sum::<f64>() / times.len() as f64,
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "{}: {:.2} ms per 227×227 image (best), {:.2} ms mean over {} images, one thread",
            result.extractor, result.best_ms_per_image, result.mean_ms_per_image, result.images
        );
    }
    Ok(())
}
