//! The model core against the PyTorch reference fixture (`tests/data/nrf-official`), by hand on a
//! `latent_in` + weight-norm model, through our `.nrf` format, and on bad input.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use glam::Vec3;
use nrf::device::{DeviceChoice, compute_device};
use nrf::features::ImageFeatures;
use nrf::model::official::DomainSource;
use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet, Roi, VoxelDomain};
use nrf::npy;
use nrf::query::QueryEngine;
use nrf::query::gpu::{GpuQuery, Kernel};
use nrf::state_dict::{NamedTensor, StateDict};

use crate::support::{assert_mentions, data, gpu_or_skip};

fn official_dir() -> PathBuf {
    data("nrf-official")
}

fn fixture_features() -> Vec<ImageFeatures> {
    nrf::features::read_features_npy(
        &data("nrf-official/early_features.npy"),
        &data("nrf-official/higher_features.npy"),
    )
    .expect("features")
}

fn fixture_points() -> Vec<Vec3> {
    let points = npy::read_f32(data("nrf-official/coords_mni_mm.npy")).expect("points");
    points.data.chunks_exact(3).map(Vec3::from_slice).collect()
}

fn expected_prediction() -> Vec<Vec<f32>> {
    let e = npy::read_f32(data("nrf-official/expected_prediction.npy")).expect("expected");
    e.data.chunks(e.shape[1]).map(<[f32]>::to_vec).collect()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

/// Reference (unfactorised) and fast (factorised) predictions of a model.
fn both_predictions(
    model: &Nrf,
    images: &[ImageFeatures],
    points: &[Vec3],
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let reference = model.predict_reference(images, points).expect("reference");
    let engine = QueryEngine::new(model);
    let fast = engine
        .prepare_batch(model, images)
        .expect("prepare")
        .iter()
        .map(|q| q.query_points(points).expect("query"))
        .collect();
    (reference, fast)
}

fn check_official_parity(device: &Device) {
    let model =
        Nrf::from_official_dir(official_dir(), &DomainSource::Unknown, device).expect("import");
    assert_eq!(model.config.hidden, 64);
    assert_eq!(model.config.num_layers, 4);
    let (reference, fast) = both_predictions(&model, &fixture_features(), &fixture_points());
    let expected = expected_prediction();
    let ref_err = max_abs_diff(&reference, &expected);
    let fast_err = max_abs_diff(&fast, &expected);
    assert!(ref_err <= 1e-4, "reference vs PyTorch: {ref_err}");
    assert!(fast_err <= 1e-4, "factorised vs PyTorch: {fast_err}");
    let between = max_abs_diff(&reference, &fast);
    assert!(between <= 1e-5, "factorised vs plain forward: {between}");
}

#[test]
fn official_checkpoint_matches_pytorch_on_the_cpu() {
    check_official_parity(&Device::flex());
}

#[test]
fn official_checkpoint_matches_pytorch_on_the_gpu() {
    if gpu_or_skip("official_checkpoint_matches_pytorch_on_the_gpu").is_none() {
        return;
    }
    let device = compute_device(DeviceChoice::Gpu).expect("burn-wgpu device");
    check_official_parity(&device.device);
}

#[test]
fn gpu_queries_equal_the_cpu_at_every_width_with_latent_in() {
    let test = "gpu_queries_equal_the_cpu_at_every_width_with_latent_in";
    let Some(context) = gpu_or_skip(test) else {
        return;
    };
    let gpu = compute_device(DeviceChoice::Gpu).expect("burn-wgpu device");
    let cpu = Device::flex();
    // Small image features keep the latent cheap; the MLP is what is checked: on burn-wgpu and
    // on the tiled and layered WGSL kernels (the fused one is checked in render.rs; it stops at 512
    // wide).
    for (hidden, layers, latent_in, points) in [
        (64, 4, vec![], 512),
        (256, 5, vec![2], 256),
        (1024, 4, vec![2], 64),
        (4096, 4, vec![2], 16),
    ] {
        let config = crate::support::small_feature_config(hidden, layers, latent_in.clone());
        let b: Vec<f32> = (0..3 * config.fourier_features)
            .map(|i| ((i * 7919 % 200) as f32 - 100.0) * 0.3)
            .collect();
        let model = Nrf {
            net: NrfNet::init(&config, &b, &cpu),
            config: config.clone(),
            info: ModelInfo::default(),
            domain: Domain::Unknown,
            source: None,
        };
        let wave = |n: usize, k: f32| (0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<_>>();
        let features = ImageFeatures::new(
            wave(2 * config.patches() * config.token_dim, 0.37),
            config.patches(),
            config.token_dim,
            wave(config.global_dim, 0.91),
        )
        .expect("features");
        let pts: Vec<Vec3> = fixture_points().into_iter().cycle().take(points).collect();
        let on = |device: &Device| {
            let model = model.on_device(device);
            QueryEngine::burn_only(&model)
                .prepare(&model, &features)
                .expect("prepare")
                .query_points(&pts)
                .expect("query")
        };
        let want = on(&cpu);
        // On the GPU device a query runs the kernel its size calls for, and says so.
        let on_gpu = model.on_device(&gpu.device);
        let query = QueryEngine::new(&on_gpu)
            .prepare(&on_gpu, &features)
            .expect("prepare");
        let by_default = query.query_points(&pts).expect("query");
        assert_eq!(
            query.gpu_kernel(),
            Some(Kernel::for_model(
                hidden.max(config.encoding_dim()),
                nrf::device::gpu_context_of(&gpu.device)
                    .expect("burn's GPU device is registered")
                    .is_software()
            )),
            "width {hidden}"
        );
        let kernel = |kernel| {
            GpuQuery::with_kernel(&context, &model, &features, kernel)
                .expect("kernel")
                .query_points(&context, &pts)
                .expect("kernel query")
        };
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (path, got) in [
            ("burn-wgpu", on(&gpu.device)),
            ("the default GPU query", by_default),
            ("tiled kernel", kernel(Kernel::Tiled)),
            ("layered kernel", kernel(Kernel::Layered)),
        ] {
            assert_eq!(got.len(), want.len());
            let worst = want
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "width {hidden}, latent_in {latent_in:?}: {path} differs from the CPU by {worst} (values up to {scale})"
            );
        }
    }
}

#[test]
fn official_loss_of_the_expected_prediction() {
    let prediction = npy::read_f32(data("nrf-official/expected_prediction.npy")).expect("pred");
    let target = npy::read_f32(data("nrf-official/loss_target.npy")).expect("target");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("nrf-official/expected_loss.json")).expect("json"),
    )
    .expect("json");
    let want = json["loss_of_expected_prediction_vs_loss_target"]
        .as_f64()
        .expect("number");
    let device = Device::flex();
    let shape = [prediction.shape[0], prediction.shape[1]];
    let p = Tensor::<2>::from_data(TensorData::new(prediction.data, shape), &device);
    let t = Tensor::<2>::from_data(TensorData::new(target.data, shape), &device);
    let got = nrf::train::loss::official_loss(p, t)
        .into_data()
        .try_to_vec::<f32>()
        .expect("loss")[0];
    assert!((f64::from(got) - want).abs() <= 1e-5, "{got} vs {want}");
}

#[test]
fn convert_save_load_is_bit_exact() {
    let device = Device::flex();
    let mut model =
        Nrf::from_official_dir(official_dir(), &DomainSource::Unknown, &device).expect("import");
    model.domain = Domain::Voxels(
        VoxelDomain::new(
            fixture_points(),
            vec![Roi {
                name: "V1v".into(),
                members: (0..64).map(|i| i % 3 == 0).collect(),
            }],
            None,
        )
        .expect("domain"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.nrf");
    model.save(&path).expect("save");
    let loaded = Nrf::load(&path, &device).expect("load");
    assert_eq!(loaded.config, model.config);
    assert_eq!(loaded.info, model.info);
    assert_eq!(loaded.domain, model.domain);
    assert_eq!(
        loaded.net.to_state_dicts().expect("weights"),
        model.net.to_state_dicts().expect("weights")
    );
    let images = fixture_features();
    let points = fixture_points();
    assert_eq!(
        loaded.predict_reference(&images, &points).expect("predict"),
        model.predict_reference(&images, &points).expect("predict")
    );
}

/// Deterministic small weights.
fn weights(rows: usize, cols: usize, salt: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|n| (((n * 7 + salt * 13) % 11) as f32 - 5.0) * 0.1)
        .collect()
}

fn dense(w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    let cols = x.len();
    b.iter()
        .enumerate()
        .map(|(r, bias)| {
            bias + w[r * cols..(r + 1) * cols]
                .iter()
                .zip(x)
                .map(|(a, v)| a * v)
                .sum::<f32>()
        })
        .collect()
}

#[test]
fn latent_in_and_weight_norm_by_hand() {
    // Tokens: 2 maps × 1 patch × 2 values; merged d = 1 (so 2 merged values), global 1:
    // latent 3; F = 1 (encoding 2); input 5; hidden 7; layers 3 with latent_in [2]:
    // layer 0: 5→7, layer 1: 7→2, layer 2: [2 + 5]→1.
    let config = NrfConfig::new()
        .with_token_dim(2)
        .with_patches_per_side(1)
        .with_token_proj_dim(2)
        .with_merged_dim(1)
        .with_global_dim(1)
        .with_fourier_features(1)
        .with_num_layers(3)
        .with_hidden(7)
        .with_latent_in(vec![2]);
    assert_eq!(config.layer_shapes(), vec![(5, 7), (7, 2), (7, 1)]);
    let t = |shape: Vec<usize>, data: Vec<f32>| NamedTensor { shape, data };
    let mut merger = StateDict::new();
    for (k, name) in ["lin1", "lin2", "fuse1", "fuse2"].iter().enumerate() {
        let (out, inp) = if k < 2 { (2, 2) } else { (1, 2) };
        merger.insert(
            format!("{name}.weight"),
            t(vec![out, inp], weights(out, inp, k)),
        );
        merger.insert(
            format!("{name}.bias"),
            t(vec![out], weights(out, 1, k + 10)),
        );
    }
    let mut mlp = StateDict::new();
    // Layer 0 as a weight-norm parametrisation: w = g · v / ‖v‖ per row.
    let v0 = weights(7, 5, 20);
    let g0: Vec<f32> = (0..7).map(|r| 0.5 + r as f32 * 0.25).collect();
    mlp.insert(
        "layers.0.parametrizations.weight.original0".into(),
        t(vec![7, 1], g0.clone()),
    );
    mlp.insert(
        "layers.0.parametrizations.weight.original1".into(),
        t(vec![7, 5], v0.clone()),
    );
    mlp.insert("layers.0.bias".into(), t(vec![7], weights(7, 1, 21)));
    mlp.insert("layers.1.weight".into(), t(vec![2, 7], weights(2, 7, 22)));
    mlp.insert("layers.1.bias".into(), t(vec![2], weights(2, 1, 23)));
    mlp.insert("layers.2.weight".into(), t(vec![1, 7], weights(1, 7, 24)));
    mlp.insert("layers.2.bias".into(), t(vec![1], weights(1, 1, 25)));
    let b = t(vec![3, 1], vec![3.0, -2.0, 5.0]);
    let device = Device::flex();
    let model = Nrf {
        net: NrfNet::from_state_dicts(&config, merger.clone(), mlp.clone(), &b, &device)
            .expect("build"),
        config: config.clone(),
        info: ModelInfo::default(),
        domain: Domain::Unknown,
        source: None,
    };

    // The same computation by hand.
    let image = ImageFeatures::new(vec![0.3, -0.7, 1.1, 0.2], 1, 2, vec![0.9]).expect("features");
    let points = [Vec3::new(10.0, -20.0, 5.0), Vec3::new(-40.0, 30.0, 60.0)];
    let get = |d: &StateDict, k: &str| d[k].data.clone();
    let a = dense(
        &get(&merger, "lin1.weight"),
        &get(&merger, "lin1.bias"),
        &image.tokens[0..2],
    );
    let a = dense(
        &get(&merger, "fuse1.weight"),
        &get(&merger, "fuse1.bias"),
        &a,
    );
    let c = dense(
        &get(&merger, "lin2.weight"),
        &get(&merger, "lin2.bias"),
        &image.tokens[2..4],
    );
    let c = dense(
        &get(&merger, "fuse2.weight"),
        &get(&merger, "fuse2.bias"),
        &c,
    );
    let norm = (a[0] * a[0] + c[0] * c[0]).sqrt();
    let latent = [a[0] / norm, c[0] / norm, 0.9];
    let mut w0 = v0.clone();
    for r in 0..7 {
        let row = &mut w0[r * 5..(r + 1) * 5];
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x *= g0[r] / n);
    }
    let relu = |v: Vec<f32>| v.into_iter().map(|x| x.max(0.0)).collect::<Vec<_>>();
    let by_hand: Vec<f32> = points
        .iter()
        .map(|p| {
            let q = nrf::space::normalise_mni(*p);
            let proj = q.x * 3.0 + q.y * -2.0 + q.z * 5.0;
            let input = [latent[0], latent[1], latent[2], proj.sin(), proj.cos()];
            let h = relu(dense(&w0, &get(&mlp, "layers.0.bias"), &input));
            let h = relu(dense(
                &get(&mlp, "layers.1.weight"),
                &get(&mlp, "layers.1.bias"),
                &h,
            ));
            let skip: Vec<f32> = h.iter().chain(input.iter()).copied().collect();
            dense(
                &get(&mlp, "layers.2.weight"),
                &get(&mlp, "layers.2.bias"),
                &skip,
            )[0]
        })
        .collect();
    let (reference, fast) = both_predictions(&model, std::slice::from_ref(&image), &points);
    for (got, label) in [(&reference[0], "plain"), (&fast[0], "factorised")] {
        for (g, w) in got.iter().zip(&by_hand) {
            assert!((g - w).abs() <= 1e-5, "{label}: {g} vs {w} by hand");
        }
    }
}

#[test]
fn nsd_processed_domain_keeps_roi_labels() {
    let source = DomainSource::NsdProcessed {
        root: data("nsd-processed"),
        subject: "subj01".into(),
        rois: vec!["nsdgeneral".into()],
    };
    let Domain::Voxels(domain) = nrf::model::official::read_domain(&source).expect("domain") else {
        panic!("a known domain");
    };
    let coords = |roi: &str| {
        npy::read_f32(data(&format!(
            "nsd-processed/MNI_coordinate/subj01/{roi}_MNI_coordinate.npy"
        )))
        .expect("coords")
        .data
        .chunks_exact(3)
        .map(Vec3::from_slice)
        .collect::<Vec<_>>()
    };
    let general = coords("nsdgeneral");
    let v1v = coords("V1v");
    // Voxels listed twice (the synthetic fixture has a few) count once.
    let unique: std::collections::HashSet<[u32; 3]> = general
        .iter()
        .map(|p| p.to_array().map(f32::to_bits))
        .collect();
    assert_eq!(domain.coords_mm().len(), unique.len());
    let names: Vec<&str> = domain.rois().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["nsdgeneral", "V1v"]);
    assert_eq!(
        domain.rois()[1].members.iter().filter(|&&m| m).count(),
        v1v.len()
    );
    assert_eq!(domain.roi_names_at(v1v[0]), ["nsdgeneral", "V1v"]);
    // A model converted with this domain carries it through the .nrf file.
    let mut model = Nrf::from_official_dir(official_dir(), &DomainSource::Unknown, &Device::flex())
        .expect("import");
    model.domain = Domain::Voxels(domain.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path().join("m.nrf")).expect("save");
    let back = Nrf::load(dir.path().join("m.nrf"), &Device::flex()).expect("load");
    assert_eq!(back.domain, Domain::Voxels(domain));
}

// ---- Bad input -------------------------------------------------------------------------------

/// A writable copy of the official fixture folder.
fn official_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("ls") {
            let entry = entry.expect("entry");
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
            }
        }
    };
    copy(&official_dir(), dir.path());
    copy(
        &official_dir().join("best_model"),
        &dir.path().join("best_model"),
    );
    dir
}

fn import_error(dir: &Path) -> String {
    Nrf::from_official_dir(dir, &DomainSource::Unknown, &Device::flex())
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn missing_folder_and_checkpoint() {
    assert_mentions(
        &import_error(Path::new("/no/such/run")),
        &["/no/such/run", "official NRF run folder"],
    );
    let dir = official_copy();
    std::fs::remove_file(dir.path().join("best_model/best_NRF_model.pth.tar")).expect("rm");
    assert_mentions(
        &import_error(dir.path()),
        &["best_NRF_model.pth.tar", "no such file"],
    );
}

#[test]
fn checkpoint_that_is_not_a_zip_or_is_truncated() {
    let dir = official_copy();
    let pth = dir.path().join("best_model/best_NRF_model.pth.tar");
    let bytes = std::fs::read(&pth).expect("read");
    std::fs::write(&pth, b"this is not a pytorch checkpoint").expect("write");
    assert_mentions(
        &import_error(dir.path()),
        &["best_NRF_model.pth.tar", "PyTorch checkpoint"],
    );
    std::fs::write(&pth, &bytes[..bytes.len() / 3]).expect("write");
    assert_mentions(&import_error(dir.path()), &["best_NRF_model.pth.tar"]);
}

#[test]
fn state_dict_that_disagrees_with_the_yaml() {
    let dir = official_copy();
    let yaml = dir.path().join("experiment_config.yaml");
    let text = std::fs::read_to_string(&yaml).expect("yaml");
    std::fs::write(
        &yaml,
        text.replace("hidden_layer_dim: 64", "hidden_layer_dim: 32"),
    )
    .expect("write");
    let message = import_error(dir.path());
    assert_mentions(
        &message,
        &[
            "best_NRF_model.pth.tar",
            "layers.0.weight",
            "[64, 72]",
            "[32, 72]",
        ],
    );
}

#[test]
fn b_matrix_of_the_wrong_shape() {
    let dir = official_copy();
    npy::write_f32(dir.path().join("B.npy"), &[3, 4], &[0.0; 12]).expect("write");
    let message = import_error(dir.path());
    assert_mentions(&message, &["B.npy", "expected shape (3, 8)", "[3, 4]"]);
    assert_eq!(
        message.matches("B.npy").count(),
        1,
        "the path once: {message}"
    );
    std::fs::remove_file(dir.path().join("B.npy")).expect("rm");
    assert_mentions(&import_error(dir.path()), &["Fourier matrix B not found"]);
}

#[test]
fn features_of_the_wrong_shape_and_nan_points() {
    let model = Nrf::from_official_dir(official_dir(), &DomainSource::Unknown, &Device::flex())
        .expect("import");
    let wrong = ImageFeatures::new(vec![0.0; 2 * 9 * 32], 9, 32, vec![0.0; 24]).expect("features");
    let message = model
        .check_features(&wrong)
        .expect_err("wrong patches")
        .to_string();
    assert_mentions(&message, &["2 × 9 tokens × 32", "2 × 16 tokens × 32"]);
    let engine = QueryEngine::new(&model);
    assert!(engine.prepare(&model, &wrong).is_err());
    let query = engine
        .prepare(&model, &fixture_features()[0])
        .expect("prepare");
    let message = query
        .query_points(&[Vec3::ZERO, Vec3::new(f32::NAN, 0.0, 0.0)])
        .expect_err("NaN")
        .to_string();
    assert_mentions(&message, &["point 1", "NaN"]);
}

#[test]
fn nrf_file_with_a_missing_or_corrupt_tensor() {
    let device = Device::flex();
    let model =
        Nrf::from_official_dir(official_dir(), &DomainSource::Unknown, &device).expect("import");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.nrf");
    model.save(&path).expect("save");
    let bytes = std::fs::read(&path).expect("read");

    // Rewrite the file without one tensor, keeping the metadata.
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("parse");
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("meta");
    let kept: Vec<(String, safetensors::tensor::TensorView)> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "mlp.layers.1.bias")
        .collect();
    let without = safetensors::tensor::serialize(kept, meta.metadata().clone()).expect("serialize");
    let missing = dir.path().join("missing.nrf");
    std::fs::write(&missing, without).expect("write");
    let message = Nrf::load(&missing, &device)
        .expect_err("missing tensor")
        .to_string();
    assert_mentions(&message, &["missing.nrf", "layers.1.bias", "missing"]);

    let corrupt = dir.path().join("corrupt.nrf");
    std::fs::write(&corrupt, &bytes[..bytes.len() - 100]).expect("write");
    let message = Nrf::load(&corrupt, &device)
        .expect_err("truncated")
        .to_string();
    assert_mentions(&message, &["corrupt.nrf"]);

    let not_nrf = dir.path().join("junk.nrf");
    std::fs::write(&not_nrf, b"\x05\x00\x00\x00\x00\x00\x00\x00hello").expect("write");
    assert_mentions(
        &Nrf::load(&not_nrf, &device).expect_err("junk").to_string(),
        &["junk.nrf", "not an .nrf"],
    );
}

#[test]
fn contrasts_and_means_of_images_combine_their_predictions_everywhere() {
    use nrf::features::FeatureExtractor;
    use nrf::features::builtin::BuiltinExtractor;
    let device = burn::tensor::Device::flex();
    let model = nrf::embedded::default_model(1, &device).expect("model");
    let features = |id| {
        let (_, rgb) = nrf::data::simulate::stimulus_of(1, id);
        BuiltinExtractor.extract(&rgb).expect("features")
    };
    let engine = nrf::query::QueryEngine::new(&model);
    let a = engine.prepare(&model, &features(3)).expect("A");
    let b = engine.prepare(&model, &features(8)).expect("B");
    let points: Vec<glam::Vec3> = (0..50)
        .map(|k| glam::Vec3::new(-60.0 + 2.5 * k as f32, -80.0 + k as f32, 10.0))
        .collect();
    let (va, vb) = (
        a.query_points(&points).expect("A"),
        b.query_points(&points).expect("B"),
    );
    let contrast = a.clone().minus(&b).expect("A − B");
    assert!(contrast.is_contrast() && !a.is_contrast());
    let vc = contrast.query_points(&points).expect("A − B");
    for ((c, a), b) in vc.iter().zip(&va).zip(&vb) {
        assert!((c - (a - b)).abs() < 1e-5, "{c} vs {a} − {b}");
    }
    assert!(
        vc.iter().any(|v| v.abs() > 1e-3),
        "two different images differ somewhere"
    );
    // A grid of the contrast is the difference of the grids.
    let grid = nrf::space::Grid::mni(8.0).expect("grid");
    let region = nrf::query::Region::Domain;
    let (ga, gb, gc) = (
        a.query_grid(&grid, region).expect("A"),
        b.query_grid(&grid, region).expect("B"),
        contrast.query_grid(&grid, region).expect("A − B"),
    );
    assert_eq!(gc.inside.data, ga.inside.data);
    for ((c, a), b) in gc
        .volume
        .data
        .iter()
        .zip(&ga.volume.data)
        .zip(&gb.volume.data)
    {
        assert!((c - (a - b)).abs() < 1e-5);
    }
    // Sets: the mean of A and B is their average; mean(A, B) − mean(B) is (A − B) / 2.
    let both = nrf::query::ImageQuery::mean(&[a.clone(), b.clone()]).expect("mean");
    assert!(!both.is_contrast());
    let half = both
        .minus(&nrf::query::ImageQuery::mean(std::slice::from_ref(&b)).expect("mean"))
        .expect("contrast of sets");
    let (vm, vh) = (
        nrf::query::ImageQuery::mean(&[a.clone(), b.clone()])
            .expect("mean")
            .query_points(&points)
            .expect("mean"),
        half.query_points(&points).expect("half"),
    );
    for (((m, h), a), b) in vm.iter().zip(&vh).zip(&va).zip(&vb) {
        assert!((m - (a + b) / 2.0).abs() < 1e-5, "{m} vs mean of {a}, {b}");
        assert!((h - (a - b) / 2.0).abs() < 1e-5, "{h} vs ({a} − {b}) / 2");
    }
    assert!(nrf::query::ImageQuery::mean(&[]).is_err());
    // Another engine (another model, even the same weights) cannot be subtracted or averaged.
    let other = nrf::query::QueryEngine::new(&model)
        .prepare(&model, &features(8))
        .expect("B elsewhere");
    let error = a
        .clone()
        .minus(&other)
        .expect_err("different engines")
        .to_string();
    assert!(error.contains("different models"), "{error}");
    assert!(nrf::query::ImageQuery::mean(&[a.clone(), other]).is_err());
}
