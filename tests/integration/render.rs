//! Rendering: slice pixels carry the NRF value at their MNI points, left is left, golden images of
//! every view (slices on the CPU, 3D and MIP on the GPU adapter — lavapipe in CI), and what
//! happens without an adapter.
//!
//! Golden images live in `tests/golden/`; regenerate them with `NRF_UPDATE_GOLDEN=1 cargo test
//! render`. Tolerance: mean absolute difference ≤ 2 levels (of 255) and at most 1 % of pixels off
//! by more than 40 levels in any channel — room for another CPU's software rasteriser rounding
//! differently, far below any visible change of the picture.

use std::path::{Path, PathBuf};
use std::process::Command;

use glam::DVec3;
use image::RgbaImage;
use nrf::query::gpu::{GpuKernel, GpuQuery, Kernel};
use nrf::query::{QueryEngine, Region};
use nrf::render::colormap::{ColorMap, OverlayStyle};
use nrf::render::slice::{Convention, SliceDecorations, SliceLayout, render_slice};
use nrf::space::{BoundingBox, Orientation};

use crate::support::{gpu_or_skip, in_ci};

/// A stimulus image written to a temporary folder (a seeded procedural face).
fn stimulus(dir: &Path) -> PathBuf {
    let path = dir.join("face.png");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
    let image = image::RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels).expect("rgb");
    image.save(&path).expect("save stimulus");
    path
}

fn nrf_render(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nrf"));
    command.arg("render").args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("run nrf render");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Compares with `tests/golden/NAME.png` (or writes it under `NRF_UPDATE_GOLDEN=1`).
fn assert_matches_golden(name: &str, got: &RgbaImage) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.png"));
    if std::env::var("NRF_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden folder");
        got.save(&path).expect("write golden");
        return;
    }
    let want = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with NRF_UPDATE_GOLDEN=1)",
                path.display()
            )
        })
        .to_rgba8();
    assert_eq!(
        got.dimensions(),
        want.dimensions(),
        "{name}: size differs from the golden image"
    );
    let (mut sum, mut far) = (0u64, 0usize);
    for (a, b) in got.pixels().zip(want.pixels()) {
        let d = (0..3).map(|k| a.0[k].abs_diff(b.0[k])).max().unwrap_or(0);
        sum += u64::from(d);
        far += usize::from(d > 40);
    }
    let n = (got.width() * got.height()) as usize;
    let mean = sum as f64 / n as f64;
    if mean > 2.0 || far * 100 > n {
        let failed = std::env::temp_dir().join(format!("{name}.actual.png"));
        got.save(&failed).expect("save actual");
        panic!(
            "{name}: mean difference {mean:.2}, {far} of {n} pixels far off; actual image in {}",
            failed.display()
        );
    }
}

#[test]
fn slice_pixels_carry_the_nrf_value_at_their_mni_point() {
    let device = burn::tensor::Device::flex();
    let model = nrf::embedded::default_model(1, &device).expect("default model");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
    let features =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb)
            .expect("features");
    let engine = QueryEngine::new(&model);
    let query = engine.prepare(&model, &features).expect("prepare");
    for (orientation, convention) in [
        (Orientation::Axial, Convention::Neurological),
        (Orientation::Coronal, Convention::Radiological),
        (Orientation::Sagittal, Convention::Neurological),
    ] {
        let layout = SliceLayout::new(
            orientation,
            DVec3::new(20.0, -80.0, 0.0),
            &BoundingBox::MNI_TEMPLATE,
            3.0,
            convention,
        )
        .expect("layout");
        let plane = query
            .query_plane(&layout.plane, Region::Everywhere)
            .expect("plane");
        let (w, h) = layout.size();
        for (x, y) in [(0, 0), (w / 3, h / 2), (w - 1, h - 1), (w / 2, h / 5)] {
            let direct = query
                .query_points(&[layout.mni_at(x, y).as_vec3()])
                .expect("point")[0];
            let shown = plane.values[layout.plane_index(x, y)];
            assert!(
                (direct - shown).abs() <= 1e-5 * direct.abs().max(1.0),
                "{orientation:?} pixel ({x}, {y}): slice {shown} vs query {direct}"
            );
        }
    }
}

#[test]
fn left_is_left_in_both_conventions() {
    // An overlay whose value is x itself: negative (blue) on the subject's left.
    let style = OverlayStyle::symmetric(ColorMap::RdBuR, 60.0, 5.0);
    for convention in [Convention::Neurological, Convention::Radiological] {
        let layout = SliceLayout::new(
            Orientation::Axial,
            DVec3::new(0.0, -20.0, 10.0),
            &BoundingBox::MNI_TEMPLATE,
            2.0,
            convention,
        )
        .expect("layout");
        let values: Vec<f32> = layout.plane.points().iter().map(|p| p.x).collect();
        let inside = vec![true; values.len()];
        let image = render_slice(
            &layout,
            None,
            Some((&values, &inside)),
            &style,
            &SliceDecorations {
                crosshair: None,
                labels: true,
                extrapolated: false,
            },
        )
        .expect("render");
        let (w, h) = layout.size();
        let left_side_x = match convention {
            Convention::Neurological => w / 5,
            Convention::Radiological => w - w / 5,
        };
        let right_side_x = w - 1 - left_side_x;
        let on_left = image.get_pixel(left_side_x, h / 3).0;
        let on_right = image.get_pixel(right_side_x, h / 3).0;
        assert!(
            on_left[2] > on_left[0] && on_right[0] > on_right[2],
            "{convention:?}: the subject's left must be blue (x < 0): {on_left:?} / {on_right:?}"
        );
        let labels = layout.edge_labels();
        let left_label = if convention == Convention::Neurological {
            0
        } else {
            1
        };
        assert_eq!(labels[left_label], "L");
    }
}

#[test]
fn slice_views_match_their_golden_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = stimulus(dir.path());
    for view in ["axial", "coronal", "sagittal"] {
        let out = dir.path().join(format!("{view}.png"));
        let (ok, log) = nrf_render(
            &[
                "--image",
                image.to_str().expect("utf-8"),
                "--view",
                view,
                "--at",
                "20,-80,0",
                "--spacing",
                "2",
                "--device",
                "cpu",
                "--out",
                out.to_str().expect("utf-8"),
            ],
            &[],
        );
        assert!(ok, "{log}");
        let got = image::open(&out).expect("png").to_rgba8();
        assert_matches_golden(&format!("slice-{view}"), &got);
    }
}

#[test]
fn three_d_and_mip_views_match_their_golden_images() {
    if gpu_or_skip("three_d_and_mip_views_match_their_golden_images").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = stimulus(dir.path());
    for (name, extra) in [
        ("3d-shaded", vec![]),
        ("3d-mip", vec!["--mode", "mip"]),
        ("3d-cut", vec!["--cut", "1,0,0,-2", "--azimuth", "100"]),
    ] {
        let out = dir.path().join(format!("{name}.png"));
        let mut args = vec![
            "--image",
            image.to_str().expect("utf-8"),
            "--view",
            "3d",
            "--size",
            "240x180",
            "--spacing",
            "4",
            "--device",
            "cpu",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        args.extend(extra);
        let (ok, log) = nrf_render(&args, &[]);
        assert!(ok, "{log}");
        let got = image::open(&out).expect("png").to_rgba8();
        assert_eq!(
            got.dimensions(),
            (240, 180),
            "--size is the whole PNG, bar included"
        );
        assert_matches_golden(name, &got);
    }
}

#[test]
fn size_is_the_whole_picture_colour_bar_included() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = stimulus(dir.path());
    for (view, size, expected) in [
        ("axial", "300x200", (300, 200)),
        ("ortho", "640x480", (640, 480)),
    ] {
        let out = dir.path().join(format!("{view}.png"));
        let (ok, log) = nrf_render(
            &[
                "--image",
                image.to_str().expect("utf-8"),
                "--view",
                view,
                "--size",
                size,
                "--device",
                "cpu",
                "--out",
                out.to_str().expect("utf-8"),
            ],
            &[("NRF_NO_GPU", "1")],
        );
        assert!(ok, "{log}");
        let got = image::open(&out).expect("png");
        assert_eq!((got.width(), got.height()), expected, "{view} {size}");
    }
    let (ok, log) = nrf_render(
        &[
            "--image",
            image.to_str().expect("utf-8"),
            "--view",
            "axial",
            "--size",
            "70x300",
            "--out",
            "x.png",
        ],
        &[("NRF_NO_GPU", "1")],
    );
    assert!(!ok && log.contains("--no-colorbar"), "{log}");
}

#[test]
fn without_an_adapter_slices_fall_back_to_the_cpu_and_3d_names_the_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = stimulus(dir.path());
    let image = image.to_str().expect("utf-8");
    let out = dir.path().join("axial.png");
    let no_gpu = [("NRF_NO_GPU", "1")];
    let (ok, log) = nrf_render(
        &[
            "--image",
            image,
            "--view",
            "axial",
            "--spacing",
            "4",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        &no_gpu,
    );
    assert!(ok, "{log}");
    // Where the model ran, and why not on a GPU.
    assert!(
        log.lines()
            .any(|l| l.starts_with("model on CPU: ") && l.contains("NRF_NO_GPU")),
        "{log}"
    );
    assert!(out.is_file());
    let out3d = dir.path().join("3d.png");
    let (ok, log) = nrf_render(
        &[
            "--image",
            image,
            "--view",
            "3d",
            "--out",
            out3d.to_str().expect("utf-8"),
        ],
        &no_gpu,
    );
    assert!(!ok, "3D without an adapter must fail");
    assert!(
        log.contains("needs a GPU adapter") && log.contains("mesa-vulkan-drivers"),
        "{log}"
    );
    assert!(!out3d.exists(), "nothing written on failure");
    // Bad requests are named.
    let (ok, log) = nrf_render(
        &["--image", image, "--size", "10x10", "--out", "x.png"],
        &no_gpu,
    );
    assert!(!ok && log.contains("16 to 8192"), "{log}");
    let (ok, log) = nrf_render(
        &[
            "--image",
            "/no/such.png",
            "--view",
            "axial",
            "--out",
            "x.png",
        ],
        &no_gpu,
    );
    assert!(!ok && log.contains("/no/such.png"), "{log}");
    if in_ci() {
        eprintln!("(CI) ran without an adapter by NRF_NO_GPU");
    }
}

/// Largest |kernel − burn| relative to max(1, |burn|).
fn kernel_gap(
    gpu: &nrf::gpu::GpuContext,
    model: &nrf::model::Nrf,
    image: &nrf::features::ImageFeatures,
    points: &[glam::Vec3],
    kernel: Kernel,
) -> f32 {
    let engine = QueryEngine::new(model);
    let want = engine
        .prepare(model, image)
        .expect("prepare")
        .query_points(points)
        .expect("burn query");
    let query = GpuQuery::with_kernel(gpu, model, image, kernel).expect("kernel");
    assert_eq!(query.kernel(), kernel);
    let got = query.query_points(gpu, points).expect("kernel query");
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn the_wgsl_kernels_match_the_burn_query() {
    let Some(gpu) = gpu_or_skip("the_wgsl_kernels_match_the_burn_query") else {
        return;
    };
    use nrf::model::official::DomainSource;
    let device = burn::tensor::Device::flex();
    // The model-core fixture (the official PyTorch model and its features).
    let model = nrf::model::Nrf::from_official_dir(
        crate::support::data("nrf-official"),
        &DomainSource::Unknown,
        &device,
    )
    .expect("official model");
    let features = nrf::features::read_features_npy(
        &crate::support::data("nrf-official/early_features.npy"),
        &crate::support::data("nrf-official/higher_features.npy"),
    )
    .expect("features");
    let points: Vec<glam::Vec3> = (0..3000)
        .map(|i| {
            let t = i as f32;
            glam::Vec3::new(
                (t * 0.37).sin() * 70.0,
                (t * 0.11).cos() * 100.0 - 18.0,
                (t * 0.23).sin() * 60.0 + 10.0,
            )
        })
        .collect();
    for image in &features {
        for kernel in [Kernel::Fused, Kernel::Tiled, Kernel::Layered] {
            let gap = kernel_gap(&gpu, &model, image, &points, kernel);
            assert!(
                gap <= 1e-4,
                "official fixture: {kernel} kernel vs burn {gap}"
            );
        }
    }
    // The tiled kernel over many chunks (the last one partial) gives the same values.
    let biases = QueryEngine::new(&model)
        .prepare(&model, &features[0])
        .expect("prepare")
        .layer_biases()
        .expect("biases");
    let blocks = |chunk| {
        let mut kernel = GpuKernel::new(&gpu, &model, Kernel::Tiled).expect("tiled");
        kernel
            .as_tiled_mut()
            .expect("asked for the tiled kernel")
            .limit_chunk_points(chunk);
        GpuQuery::from_biases(&gpu, std::sync::Arc::new(kernel), &biases)
            .expect("biases")
            .query_points(&gpu, &points)
            .expect("tiled query")
    };
    let (whole, chunked) = (blocks(usize::MAX), blocks(100));
    assert_eq!(whole, chunked, "chunks of 128 points");
    // Random models, one with a latent_in skip connection. (Not 512 wide: on lavapipe the kernel
    // sized for it takes minutes to compile; see BENCHMARKS.md.)
    for (seed, width, layers, latent_in) in [
        (1, 64, 3, vec![]),
        (2, 256, 6, vec![]),
        (3, 192, 5, vec![2]),
    ] {
        let config = nrf::model::NrfConfig::new()
            .with_token_dim(16)
            .with_patches_per_side(14)
            .with_global_dim(32)
            .with_merged_dim(32)
            .with_hidden(width)
            .with_num_layers(layers)
            .with_latent_in(latent_in);
        config.validate().expect("a valid config");
        let net = nrf::model::NrfNet::init_seeded(&config, seed, &device).expect("init");
        let model = nrf::model::Nrf {
            net,
            config,
            info: Default::default(),
            domain: nrf::model::Domain::Unknown,
            source: None,
        };
        let (_, rgb) = nrf::data::simulate::stimulus_of(seed, 5);
        let image = nrf::features::FeatureExtractor::extract(
            &nrf::features::builtin::BuiltinExtractor,
            &rgb,
        )
        .expect("features");
        for kernel in [Kernel::Fused, Kernel::Tiled, Kernel::Layered] {
            let gap = kernel_gap(&gpu, &model, &image, &points[..500], kernel);
            assert!(
                gap <= 1e-4,
                "random model {seed} ({width} × {layers}): {kernel} kernel vs burn {gap}"
            );
        }
    }
}

#[test]
fn the_grid_queries_pack_values_inside_the_mask_only() {
    let Some(gpu) = gpu_or_skip("the_grid_queries_pack_values_inside_the_mask_only") else {
        return;
    };
    use nrf::query::gpu::unpack;
    let device = burn::tensor::Device::flex();
    let model = nrf::embedded::default_model(2, &device).expect("model");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 8);
    let image =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb)
            .expect("features");
    let grid = nrf::space::Grid::mni(8.0).expect("grid");
    let reference = QueryEngine::new(&model)
        .prepare(&model, &image)
        .expect("prepare")
        .query_grid(&grid, Region::Domain)
        .expect("grid");
    for kernel in [Kernel::Fused, Kernel::Tiled, Kernel::Layered] {
        let packed = GpuQuery::with_kernel(&gpu, &model, &image, kernel)
            .expect("kernel")
            .query_grid_packed(&gpu, &grid, &reference.inside)
            .expect("packed");
        assert_eq!(packed.len(), grid.len());
        let mut checked = 0;
        for (n, &word) in packed.iter().enumerate() {
            let (value, inside) = unpack(word);
            assert_eq!(inside, reference.inside.data[n]);
            if inside {
                // f16 storage: 3 significant digits.
                let want = reference.volume.data[n];
                assert!(
                    (value - want).abs() <= 2e-3 * want.abs().max(1.0),
                    "{kernel} kernel: {value} vs {want}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "only {checked} voxels inside the domain");
    }
}

/// Embedded subject 1's model on the CPU, prepared for a procedural image, and its device.
fn embedded_query() -> (nrf::query::ImageQuery, burn::tensor::Device) {
    let device = burn::tensor::Device::flex();
    let model = nrf::embedded::default_model(1, &device).expect("model");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 2);
    let image =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb)
            .expect("features");
    let query = QueryEngine::new(&model)
        .prepare(&model, &image)
        .expect("prepare");
    (query, device)
}

#[test]
fn refinement_sends_levels_coarse_to_fine_and_stops_when_cancelled() {
    use nrf::render::refine::{Levels, RefineMessage, RefinementJob};
    let (query, _) = embedded_query();
    let job = RefinementJob::start(
        query.clone(),
        Levels::Fixed(vec![8.0, 6.0, 4.0]),
        Region::Domain,
        || {},
    );
    let mut spacings = Vec::new();
    while let Some(message) = job.wait() {
        match message {
            RefineMessage::Level(level) => {
                // Each level equals a direct query at that spacing.
                let grid = nrf::space::Grid::mni(level.spacing_mm).expect("grid");
                let direct = query.query_grid(&grid, Region::Domain).expect("grid");
                assert_eq!(level.prediction.volume.data, direct.volume.data);
                spacings.push(level.spacing_mm);
            }
            RefineMessage::Failed(e) => panic!("{e}"),
            RefineMessage::Plan(_) | RefineMessage::Progress { .. } => {}
        }
    }
    assert_eq!(spacings, vec![8.0, 6.0, 4.0]);
    // Cancelled before it starts a 1 mm whole-brain level: it ends without sending everything.
    let job = RefinementJob::start(
        query,
        Levels::Fixed(vec![8.0, 1.0, 1.0, 1.0]),
        Region::Everywhere,
        || {},
    );
    assert!(matches!(job.next_level(), Some(Ok(_))));
    job.cancel();
    let mut rest = 0;
    while job.next_level().is_some() {
        rest += 1;
    }
    assert!(rest < 3, "cancelled job sent {rest} more levels");
}

#[test]
fn a_planned_refinement_starts_as_coarse_as_the_measured_cost_needs() {
    use nrf::render::refine::{
        FIRST_LEVEL_SECONDS, Levels, RefineMessage, RefinementJob, measure_points_per_second,
    };
    let (query, device) = embedded_query();
    let rate = measure_points_per_second(&query.clone().into()).expect("rate");
    assert!(rate.is_finite() && rate > 0.0, "{rate}");
    let run = |points_per_second: f64, finest_mm: f64| {
        let job = RefinementJob::start(
            query.clone(),
            Levels::Planned {
                points_per_second,
                finest_mm,
                first_budget_s: FIRST_LEVEL_SECONDS,
            },
            Region::Domain,
            || {},
        );
        let (mut plans, mut levels) = (Vec::new(), Vec::new());
        while let Some(message) = job.wait() {
            match message {
                RefineMessage::Plan(plan) => plans.push(plan),
                RefineMessage::Level(level) => levels.push(level),
                RefineMessage::Failed(e) => panic!("{e}"),
                RefineMessage::Progress { done, total, .. } => assert!(done <= total),
            }
        }
        (plans, levels)
    };
    // The measured rate: every level was planned before it ran, coarse to fine, down to 2 mm.
    let (plans, levels) = run(rate, 2.0);
    let spacings: Vec<f64> = levels.iter().map(|l| l.spacing_mm).collect();
    assert_eq!(plans.len(), levels.len());
    for (plan, level) in plans.iter().zip(&levels) {
        assert_eq!(plan[0].spacing_mm, level.spacing_mm);
        // Counted exactly at 4 mm, scaled from that count at other spacings.
        let points = level.prediction.inside.data.iter().filter(|&&b| b).count();
        let error = (plan[0].points as f64 - points as f64).abs() / points as f64;
        let bound = if level.spacing_mm == 4.0 { 0.0 } else { 0.25 };
        assert!(error <= bound, "{:?} planned, {points} evaluated", plan[0]);
    }
    assert!(spacings.windows(2).all(|w| w[0] > w[1]), "{spacings:?}");
    assert_eq!(spacings.last(), Some(&2.0));
    let last = levels.last().expect("a level");
    let direct = query
        .query_grid(&nrf::space::Grid::mni(2.0).expect("grid"), Region::Domain)
        .expect("grid");
    assert_eq!(last.prediction.volume.data, direct.volume.data);
    assert_eq!(last.computed_on, device);
    // A model as slow as 50 points/s starts at the coarsest level.
    let (_, slow) = run(50.0, 8.0);
    let spacings: Vec<f64> = slow.iter().map(|l| l.spacing_mm).collect();
    assert_eq!(spacings.first(), Some(&16.0), "{spacings:?}");
    assert_eq!(spacings.last(), Some(&8.0), "{spacings:?}");
}

#[test]
fn the_wgsl_kernels_fill_the_overlay_texture_on_the_gpu() {
    let Some(gpu) = gpu_or_skip("the_wgsl_kernels_fill_the_overlay_texture_on_the_gpu") else {
        return;
    };
    use nrf::render::volume3d::{FrameOptions, VolumeRenderer, brain_anatomy};
    let device = burn::tensor::Device::flex();
    let model = nrf::embedded::default_model(1, &device).expect("model");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 1);
    let image =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb)
            .expect("features");
    let grid = nrf::space::Grid::mni(4.0).expect("grid");
    let reference = QueryEngine::new(&model)
        .prepare(&model, &image)
        .expect("prepare")
        .query_grid(&grid, Region::Domain)
        .expect("grid");
    let anatomy = brain_anatomy(&grid).expect("anatomy");
    let style = OverlayStyle::symmetric(ColorMap::RdBuR, 1.0, 0.1);
    let options = FrameOptions::default();
    // Through the CPU: values uploaded from the burn query.
    let mut uploaded = VolumeRenderer::offscreen(
        &gpu,
        &anatomy,
        Some((&reference.volume, &reference.inside)),
        &style,
    )
    .expect("renderer");
    let want = uploaded
        .render_offscreen(&gpu.device, &gpu.queue, &options, (160, 120))
        .expect("render");
    // Straight from each kernel into the texture.
    let mut got = None;
    for kernel in [Kernel::Fused, Kernel::Tiled, Kernel::Layered] {
        let mut filled = VolumeRenderer::offscreen(&gpu, &anatomy, None, &style).expect("renderer");
        let texture = GpuQuery::with_kernel(&gpu, &model, &image, kernel)
            .expect("kernel")
            .overlay(&gpu, &grid, &reference.inside)
            .expect("fill");
        filled
            .adopt_overlay(&gpu.device, &gpu.queue, texture, &reference.inside)
            .expect("adopt");
        let image = filled
            .render_offscreen(&gpu.device, &gpu.queue, &options, (160, 120))
            .expect("render");
        let differing = image
            .pixels()
            .zip(want.pixels())
            .filter(|(a, b)| (0..3).any(|k| a.0[k].abs_diff(b.0[k]) > 2))
            .count();
        assert!(
            differing * 200 < (160 * 120),
            "{kernel} kernel: {differing} pixels differ"
        );
        got = Some(image);
    }
    let got = got.expect("rendered");
    // And the overlay is visible at all: the images differ from the anatomy alone.
    let mut bare = VolumeRenderer::offscreen(&gpu, &anatomy, None, &style).expect("renderer");
    let plain = bare
        .render_offscreen(&gpu.device, &gpu.queue, &options, (160, 120))
        .expect("render");
    assert_ne!(plain.as_raw(), got.as_raw());
}

#[test]
fn the_overlay_shows_whether_it_arrives_before_or_after_the_anatomy() {
    // The viewer's prediction usually arrives before its template: the empty-space skipping
    // must still let the rays see the overlay.
    let test = "the_overlay_shows_whether_it_arrives_before_or_after_the_anatomy";
    let Some(gpu) = gpu_or_skip(test) else {
        return;
    };
    use nrf::render::volume3d::{FrameOptions, VolumeRenderer, brain_anatomy};
    let grid = nrf::space::Grid::mni(4.0).expect("grid");
    let anatomy = brain_anatomy(&grid).expect("anatomy");
    // A blob of +1 in the occipital lobe, where the default camera looks.
    let inside = nrf::volume::Mask {
        grid,
        data: grid
            .points()
            .iter()
            .map(|p| (*p - glam::Vec3::new(-30.0, -85.0, 10.0)).length() < 25.0)
            .collect(),
    };
    let values = nrf::volume::Volume::new(
        grid,
        inside
            .data
            .iter()
            .map(|&i| if i { 1.0 } else { 0.0 })
            .collect(),
    )
    .expect("volume");
    let style = OverlayStyle::symmetric(ColorMap::RdBuR, 1.0, 0.1);
    let options = FrameOptions::default();
    let size = (160, 120);
    let mut usual =
        VolumeRenderer::offscreen(&gpu, &anatomy, Some((&values, &inside)), &style).expect("usual");
    let want = usual
        .render_offscreen(&gpu.device, &gpu.queue, &options, size)
        .expect("render");
    let (device, queue) = (&gpu.device, &gpu.queue);
    let mut late = VolumeRenderer::new(device, queue, wgpu::TextureFormat::Rgba8Unorm);
    late.set_overlay(device, queue, &values, &inside)
        .expect("overlay");
    late.set_anatomy(device, queue, &anatomy);
    late.set_style(device, queue, &style);
    let got = late
        .render_offscreen(device, queue, &options, size)
        .expect("render");
    assert_eq!(got.as_raw(), want.as_raw());
    // And the blob is there: dark red pixels (value +1, the top of RdBu_r).
    let red = got
        .pixels()
        .filter(|p| {
            let [r, g, b, _] = p.0.map(i32::from);
            r > 80 && r > g + 50 && r > b + 30
        })
        .count();
    assert!(red > 100, "{red} red pixels");
}

#[test]
fn a_grid_query_on_the_gpu_device_brings_its_overlay_texture() {
    let test = "a_grid_query_on_the_gpu_device_brings_its_overlay_texture";
    let Some(other_gpu) = gpu_or_skip(test) else {
        return;
    };
    use nrf::device::{DeviceChoice, compute_device, gpu_context_of};
    use nrf::render::volume3d::{FrameOptions, VolumeRenderer, brain_anatomy};
    let compute = compute_device(DeviceChoice::Gpu).expect("burn on the GPU");
    let gpu = gpu_context_of(&compute.device).expect("burn's GPU device is registered");
    let cpu_model = nrf::embedded::default_model(1, &burn::tensor::Device::flex()).expect("model");
    let model = cpu_model.on_device(&compute.device);
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 2);
    let image =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb)
            .expect("features");
    let grid = nrf::space::Grid::mni(4.0).expect("grid");
    let want = QueryEngine::new(&cpu_model)
        .prepare(&cpu_model, &image)
        .expect("prepare")
        .query_grid(&grid, Region::Domain)
        .expect("CPU grid");
    let query = QueryEngine::new(&model)
        .prepare(&model, &image)
        .expect("prepare");
    let got = query.query_grid(&grid, Region::Domain).expect("GPU grid");
    assert!(query.gpu_kernel().is_some(), "a WGSL kernel ran");
    assert!(got.on_gpu.is_some(), "the level brings its overlay texture");
    assert!(want.on_gpu.is_none());
    assert_eq!(got.inside, want.inside);
    let close = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
            .fold(0.0f32, f32::max)
    };
    let gap = close(&got.volume.data, &want.volume.data);
    assert!(gap <= 1e-4, "GPU grid vs CPU grid: {gap}");
    // Every kernel's grid pass gives the inside values and a texture.
    let inside_values: Vec<f32> = want.inside_values().collect();
    for kernel in [Kernel::Fused, Kernel::Tiled, Kernel::Layered] {
        let mut reports = 0;
        let (values, _texture) = GpuQuery::with_kernel(&gpu, &cpu_model, &image, kernel)
            .expect("kernel")
            .grid_with_overlay(&gpu, &grid, &want.inside, &mut |_, _| {
                reports += 1;
                true
            })
            .expect("grid pass")
            .expect("not cancelled");
        assert!(reports >= 1);
        let gap = close(&values, &inside_values);
        assert!(gap <= 1e-4, "{kernel} kernel's grid pass vs CPU: {gap}");
    }
    // Drawn: the kernel's texture gives the picture the uploaded CPU values give.
    let anatomy = brain_anatomy(&grid).expect("anatomy");
    let style = OverlayStyle::symmetric(ColorMap::RdBuR, 1.0, 0.1);
    let options = FrameOptions::default();
    let mut adopted = VolumeRenderer::offscreen(&gpu, &anatomy, None, &style).expect("renderer");
    assert!(
        adopted
            .show_prediction(&gpu.device, &gpu.queue, &got)
            .expect("show"),
        "the renderer on the query's device takes the texture"
    );
    let adopted = adopted
        .render_offscreen(&gpu.device, &gpu.queue, &options, (160, 120))
        .expect("render");
    let mut uploaded =
        VolumeRenderer::offscreen(&gpu, &anatomy, Some((&want.volume, &want.inside)), &style)
            .expect("renderer");
    let uploaded = uploaded
        .render_offscreen(&gpu.device, &gpu.queue, &options, (160, 120))
        .expect("render");
    let differing = adopted
        .pixels()
        .zip(uploaded.pixels())
        .filter(|(a, b)| (0..3).any(|k| a.0[k].abs_diff(b.0[k]) > 2))
        .count();
    assert!(differing * 200 < 160 * 120, "{differing} pixels differ");
    // A renderer on another device cannot take it: it uploads the values.
    let mut elsewhere =
        VolumeRenderer::offscreen(&other_gpu, &anatomy, None, &style).expect("renderer");
    assert!(
        !elsewhere
            .show_prediction(&other_gpu.device, &other_gpu.queue, &got)
            .expect("show")
    );
    // A contrast sums two images: values only, right ones.
    let (_, rgb_b) = nrf::data::simulate::stimulus_of(1, 3);
    let image_b =
        nrf::features::FeatureExtractor::extract(&nrf::features::builtin::BuiltinExtractor, &rgb_b)
            .expect("features");
    let engine = QueryEngine::new(&model);
    let contrast = engine
        .prepare(&model, &image)
        .and_then(|a| a.minus(&engine.prepare(&model, &image_b).expect("prepare")))
        .expect("contrast")
        .query_grid(&grid, Region::Domain)
        .expect("contrast grid");
    assert!(contrast.on_gpu.is_none());
    let cpu_engine = QueryEngine::new(&cpu_model);
    let want_contrast = cpu_engine
        .prepare(&cpu_model, &image)
        .and_then(|a| a.minus(&cpu_engine.prepare(&cpu_model, &image_b).expect("prepare")))
        .expect("contrast")
        .query_grid(&grid, Region::Domain)
        .expect("contrast grid");
    let gap = close(&contrast.volume.data, &want_contrast.volume.data);
    assert!(gap <= 1e-4, "GPU contrast vs CPU: {gap}");
    // A cancel ends the grid pass.
    let cancelled = query.query_grid_with_progress(&grid, Region::Domain, &mut |_, _| false);
    assert!(
        matches!(cancelled, Err(nrf::query::QueryError::Cancelled)),
        "{cancelled:?}"
    );
}

/// `nrf bench render --frames-only` times each `--size` asked for (in full and marched at half
/// of each side, over 2 and 1 mm volumes), and refuses a size it cannot draw by name.
#[test]
fn bench_render_times_the_sizes_asked_for() {
    if gpu_or_skip("bench_render_times_the_sizes_asked_for").is_none() {
        return;
    }
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nrf"))
            .args(["bench", "render", "--frames-only", "--frames", "1"])
            .args(args)
            .output()
            .expect("run nrf bench render")
    };
    let out = run(&["--size", "64x48", "--size", "32x32", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    // 2 volumes × 2 sizes × (full, half).
    assert_eq!(lines.len(), 8);
    let sizes: Vec<(u64, u64, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["width"].as_u64().expect("width"),
                l["height"].as_u64().expect("height"),
                l["marched_width"].as_u64().expect("marched"),
            )
        })
        .collect();
    assert_eq!(
        &sizes[..4],
        &[(64, 48, 64), (64, 48, 32), (32, 32, 32), (32, 32, 16)]
    );
    assert!(
        lines
            .iter()
            .all(|l| l["frames_per_second"].as_f64() > Some(0.0))
    );

    let bad = run(&["--size", "64by48"]);
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("64by48") && message.contains("WIDTHxHEIGHT"),
        "{message}"
    );
}
