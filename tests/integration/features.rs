//! Image preprocessing and CLIP against the HF/PIL reference fixture (`tests/data/clip-tiny`),
//! end to end through an NRF (`tests/data/nrf-e2e`), and bad input.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use nrf::features::FeatureExtractor;
use nrf::features::clip::ClipFolder;
use nrf::features::decode::load_rgb8;
use nrf::features::preprocess::PreprocessConfig;
use nrf::npy;

use crate::support::{assert_mentions, data, gpu_or_skip};

const IMAGES: [&str; 4] = [
    "landscape_300x227.jpg",
    "noise_227.png",
    "gray_90x120.png",
    "rgba_256x200.png",
];

fn stem(image: &str) -> &str {
    image.rsplit_once('.').map_or(image, |(s, _)| s)
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Every image, JPEG included (decoded by libjpeg-turbo's decoder as PIL does), is held to 0.02:
/// about one uint8 step after normalisation.
const PREPROCESSING_TOLERANCE: f32 = 0.02;

#[test]
fn preprocessing_matches_hf_clip_with_pil() {
    let config = PreprocessConfig::from_json_file(&data("clip-tiny/preprocessor_config.json"))
        .expect("config");
    for image in IMAGES {
        let rgb = load_rgb8(data(&format!("clip-tiny/images/{image}"))).expect("image");
        let got = config.pixel_values(&rgb);
        let want = npy::read_f32(data(&format!("clip-tiny/{}.pixel_values.npy", stem(image))))
            .expect("npy");
        assert_eq!(want.shape, vec![1, 3, 224, 224]);
        let err = max_abs(&got, &want.data);
        assert!(err <= PREPROCESSING_TOLERANCE, "{image}: max abs {err}");
    }
}

/// Legal files in every mode PIL opens (16-bit, palette with transparency, gray+alpha, 1-bit,
/// CMYK, gray, progressive and 4:2:0 JPEG, an animated GIF), each decoded to exactly the bytes
/// PIL + HF's `convert_rgb` give (`tests/data/legal-images/make.py` wrote both).
#[test]
fn every_legal_image_decodes_exactly_as_pil_does() {
    let listing: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("legal-images/pil.json")).expect("pil.json"),
    )
    .expect("json");
    let files = listing["files"].as_object().expect("files");
    assert!(files.len() >= 14, "{} files", files.len());
    for (name, info) in files {
        let rgb = load_rgb8(data(&format!("legal-images/{name}")))
            .unwrap_or_else(|e| panic!("{name} ({}): {e}", info["mode"]));
        let (shape, want) =
            npy::read_integers(data(&format!("legal-images/{name}.rgb.npy"))).expect("npy");
        assert_eq!(
            shape,
            vec![rgb.height as usize, rgb.width as usize, 3],
            "{name}"
        );
        let differing = rgb
            .pixels
            .iter()
            .zip(&want)
            .filter(|&(&got, &want)| i64::from(got) != want)
            .count();
        assert_eq!(
            differing, 0,
            "{name} ({}): {differing} values differ from PIL",
            info["mode"]
        );
    }
}

fn check_clip(device: &Device) {
    let folder = ClipFolder::open(data("clip-tiny"), device).expect("clip folder");
    for image in IMAGES {
        let pixels = npy::read_f32(data(&format!("clip-tiny/{}.pixel_values.npy", stem(image))))
            .expect("pixels");
        let input = Tensor::<4>::from_data(TensorData::new(pixels.data, [1, 3, 224, 224]), device);
        let out = folder.vision.forward(input, &[3, 6]);
        let read3 = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().expect("read");
        for (tokens, layer) in out.layer_tokens.into_iter().zip([3, 6]) {
            let want = npy::read_f32(data(&format!(
                "clip-tiny/{}.layer{layer}_tokens.npy",
                stem(image)
            )))
            .expect("npy");
            let err = max_abs(&read3(tokens), &want.data);
            assert!(err <= 1e-4, "{image} layer {layer}: {err}");
        }
        let want = npy::read_f32(data(&format!("clip-tiny/{}.image_embeds.npy", stem(image))))
            .expect("npy");
        let got = out
            .image_embeds
            .into_data()
            .try_to_vec::<f32>()
            .expect("read");
        assert!(max_abs(&got, &want.data) <= 1e-4, "{image} image_embeds");
        let want = npy::read_f32(data(&format!(
            "clip-tiny/{}.last_hidden_state.npy",
            stem(image)
        )))
        .expect("npy");
        assert!(
            max_abs(&read3(out.last_hidden_state), &want.data) <= 1e-4,
            "{image} last_hidden_state"
        );
    }
}

#[test]
fn clip_matches_hf_on_the_cpu() {
    check_clip(&Device::flex());
}

/// The direct CPU path (what CPU users get) against Hugging Face's outputs on the fixtures.
#[test]
fn the_direct_cpu_clip_matches_hf() {
    let folder = ClipFolder::open(data("clip-tiny"), &Device::flex()).expect("clip folder");
    let cpu = folder.cpu.as_ref().expect("the direct path on the CPU");
    for image in IMAGES {
        let pixels = npy::read_f32(data(&format!("clip-tiny/{}.pixel_values.npy", stem(image))))
            .expect("pixels");
        let out = cpu.forward(&pixels.data, 1, &[3, 6]);
        for (tokens, layer) in out.layer_tokens.iter().zip([3, 6]) {
            let want = npy::read_f32(data(&format!(
                "clip-tiny/{}.layer{layer}_tokens.npy",
                stem(image)
            )))
            .expect("npy");
            let err = max_abs(tokens, &want.data);
            assert!(err <= 1e-4, "{image} layer {layer}: {err}");
        }
        let want = npy::read_f32(data(&format!("clip-tiny/{}.image_embeds.npy", stem(image))))
            .expect("npy");
        let err = max_abs(&out.image_embeds, &want.data);
        assert!(err <= 1e-4, "{image} image_embeds: {err}");
    }
}

/// The direct path equals burn's on a random tower of another shape, batched or not, on one
/// thread or many.
#[test]
fn the_direct_cpu_clip_matches_burn_batched_and_on_any_thread_count() {
    use nrf::features::clip::cpu::CpuClip;
    use nrf::features::clip::{ClipVision, ClipVisionConfig};
    let config = ClipVisionConfig {
        hidden_size: 48,
        intermediate_size: 80,
        num_attention_heads: 4,
        num_hidden_layers: 3,
        patch_size: 8,
        image_size: 40,
        projection_dim: 24,
        hidden_act: "quick_gelu".into(),
        layer_norm_eps: 1e-5,
    };
    let device = Device::flex();
    let vision = ClipVision::from_state_dict(&config, &mut config.random_state_dict(4), &device)
        .expect("tower");
    let cpu = CpuClip::from_vision(&vision).expect("quick_gelu tower");
    let batch = 3;
    let pixels: Vec<f32> = (0..batch * 3 * 40 * 40)
        .map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0)
        .collect();
    let burn_out = vision.forward(
        Tensor::<4>::from_data(TensorData::new(pixels.clone(), [batch, 3, 40, 40]), &device),
        &[0, 2],
    );
    let read = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().expect("read");
    let direct = cpu.forward(&pixels, batch, &[0, 2]);
    for (got, want) in direct.layer_tokens.iter().zip(burn_out.layer_tokens) {
        let want = read(want);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max_abs(got, &want) <= 1e-5 * scale.max(1.0), "tokens");
    }
    let want = burn_out
        .image_embeds
        .into_data()
        .try_to_vec::<f32>()
        .expect("read");
    assert!(max_abs(&direct.image_embeds, &want) <= 1e-5, "embeds");
    // One image at a time gives the batch's rows; one thread gives the same as many.
    let per_image = 3 * 40 * 40;
    let second = cpu.forward(&pixels[per_image..2 * per_image], 1, &[0, 2]);
    let tokens = 25 * 48;
    assert!(
        max_abs(
            &second.layer_tokens[1],
            &direct.layer_tokens[1][tokens..2 * tokens]
        ) <= 1e-6
    );
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| cpu.forward(&pixels, batch, &[0, 2]));
    assert!(max_abs(&single.image_embeds, &direct.image_embeds) <= 1e-6);
    // A gelu tower keeps burn's path.
    let gelu = ClipVisionConfig {
        hidden_act: "gelu".into(),
        ..config.clone()
    };
    let vision =
        ClipVision::from_state_dict(&gelu, &mut gelu.random_state_dict(4), &device).expect("tower");
    assert!(CpuClip::from_vision(&vision).is_none());
}

#[test]
fn clip_matches_hf_on_the_gpu() {
    if gpu_or_skip("clip_matches_hf_on_the_gpu").is_none() {
        return;
    }
    let device = nrf::device::compute_device(nrf::device::DeviceChoice::Gpu).expect("gpu");
    check_clip(&device.device);
}

#[test]
fn clip_extractor_reports_its_sizes() {
    let extractor = nrf::features::ClipExtractor::open(&data("clip-tiny"), [3, 6], &Device::flex())
        .expect("open");
    assert_eq!(
        (
            extractor.patches(),
            extractor.token_dim(),
            extractor.global_dim()
        ),
        (196, 32, 16)
    );
    assert_eq!(extractor.id(), "clip:clip-tiny:layers=3,6");
    let rgb = load_rgb8(data("clip-tiny/images/noise_227.png")).expect("image");
    let features = extractor.extract(&rgb).expect("features");
    let want = npy::read_f32(data("clip-tiny/noise_227.layer6_tokens.npy")).expect("npy");
    assert!(max_abs(features.token_map(1), &want.data) <= 1e-3);
    assert!(
        nrf::features::ClipExtractor::open(&data("clip-tiny"), [3, 8], &Device::flex()).is_err()
    );
}

// ---- Bad input -------------------------------------------------------------------------------

fn image_error(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    let message = load_rgb8(&path).expect_err("bad image").to_string();
    assert!(message.contains(name), "{message}");
    message
}

#[test]
fn bad_images_get_clear_errors() {
    let message = image_error("notes.jpg", b"these are my notes, not a photograph");
    assert!(
        message.contains("not an image") || message.contains("corrupt"),
        "{message}"
    );
    let png = std::fs::read(data("clip-tiny/images/noise_227.png")).expect("png");
    let message = image_error("cut.png", &png[..png.len() / 2]);
    assert!(message.contains("corrupt or truncated"), "{message}");
    // A JPEG cut short is refused, as PIL refuses it, not decoded with the rest gray.
    let jpeg = std::fs::read(data("clip-tiny/images/landscape_300x227.jpg")).expect("jpeg");
    let message = image_error("cut.jpg", &jpeg[..jpeg.len() * 2 / 3]);
    assert_mentions(&message, &["truncated"]);
    // A PNG header claiming 100000×100000 pixels, and one claiming 0×0.
    let header = |w: u32, h: u32| {
        let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let mut crc_input = b"IHDR".to_vec();
        crc_input.extend(&ihdr);
        bytes.extend(ihdr);
        bytes.extend(crc32(&crc_input).to_be_bytes());
        // One small IDAT chunk, so the header parses up to the start of the pixel data.
        let idat_data = [0x78u8, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
        bytes.extend((idat_data.len() as u32).to_be_bytes());
        let mut chunk = b"IDAT".to_vec();
        chunk.extend(idat_data);
        bytes.extend(&chunk);
        bytes.extend(crc32(&chunk).to_be_bytes());
        bytes
    };
    let message = image_error("huge.png", &header(100_000, 100_000));
    assert!(
        message.contains("100000×100000") && message.contains("megapixel"),
        "{message}"
    );
    let message = image_error("empty.png", &header(0, 0));
    assert!(
        message.contains("0×0") || message.contains("corrupt"),
        "{message}"
    );
}

/// CRC-32 (IEEE), for hand-made PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn clip_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(data(&format!("clip-tiny/{name}")), dir.path().join(name)).expect("copy");
    }
    dir
}

fn clip_error(dir: &Path) -> String {
    ClipFolder::open(dir, &Device::flex())
        .expect_err("bad folder")
        .to_string()
}

#[test]
fn bad_clip_folders_get_clear_errors() {
    let dir = clip_copy();
    std::fs::remove_file(dir.path().join("model.safetensors")).expect("rm");
    let message = clip_error(dir.path());
    assert!(message.contains("model.safetensors"), "{message}");

    let dir = clip_copy();
    let config = std::fs::read_to_string(dir.path().join("config.json")).expect("read");
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"intermediate_size\": 64", "\"intermediate_size\": 48"),
    )
    .expect("write");
    let message = clip_error(dir.path());
    assert!(
        message.contains("vision_model.encoder.layers.0.mlp.fc1.weight")
            && message.contains("[64, 32]")
            && message.contains("[48, 32]"),
        "{message}"
    );
}

#[test]
fn predict_from_image_files_end_to_end() {
    // tests/data/nrf-e2e/model.nrf is `nrf convert` of the reference run folder nrf-e2e.
    let e2e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("nrf-e2e/e2e.json")).expect("json"))
            .expect("json");
    let dir = tempfile::tempdir().expect("tempdir");
    for (image, expected) in e2e["expected"].as_object().expect("map") {
        let out = dir.path().join("p.npy");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_nrf"))
            .args(["predict", "--model"])
            .arg(data("nrf-e2e/model.nrf"))
            .arg("--clip")
            .arg(data("clip-tiny"))
            .arg("--image")
            .arg(data(&format!("clip-tiny/images/{image}")))
            .arg("--points")
            .arg(data("nrf-e2e/coords_mni_mm.npy"))
            .args(["--device", "cpu", "--out"])
            .arg(&out)
            .output()
            .expect("run");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let got = npy::read_f32(&out).expect("prediction");
        let want = npy::read_f32(data(&format!(
            "nrf-e2e/{}",
            expected.as_str().expect("name")
        )))
        .expect("expected");
        assert_eq!(got.shape, vec![1, want.data.len()]);
        let err = max_abs(&got.data, &want.data);
        assert!(err <= 1e-3, "{image}: {err}");
    }
}

#[test]
fn builtin_features_survive_jpeg_reencoding() {
    use nrf::features::builtin::BuiltinExtractor;
    let original = load_rgb8(data("clip-tiny/images/landscape_300x227.jpg")).expect("image");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("again.jpg");
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    compress.set_size(original.width as usize, original.height as usize);
    compress.set_quality(90.0);
    let mut started = compress.start_compress(Vec::new()).expect("start");
    started.write_scanlines(&original.pixels).expect("encode");
    std::fs::write(&path, started.finish().expect("finish")).expect("write");
    let reencoded = load_rgb8(&path).expect("image");
    let flat = |f: nrf::features::ImageFeatures| {
        f.tokens.into_iter().chain(f.global).collect::<Vec<f32>>()
    };
    let a = flat(BuiltinExtractor.extract(&original).expect("features"));
    let b = flat(BuiltinExtractor.extract(&reencoded).expect("features"));
    let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cosine = dot / (norm(&a) * norm(&b));
    assert!(cosine >= 0.99, "cosine {cosine}");
}

/// A small random model that records the built-in extractor, saved as `.nrf`.
fn builtin_model(dir: &Path, extractor: &str) -> std::path::PathBuf {
    use nrf::model::{Domain, FeatureSpec, ModelInfo, Nrf, NrfConfig, NrfNet};
    let device = Device::flex();
    let config = NrfConfig::new()
        .with_token_dim(16)
        .with_patches_per_side(14)
        .with_global_dim(32)
        .with_merged_dim(16)
        .with_hidden(32)
        .with_num_layers(3);
    let b: Vec<f32> = (0..3 * config.fourier_features)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.01)
        .collect();
    let model = Nrf {
        net: NrfNet::init(&config, &b, &device),
        config,
        info: ModelInfo {
            features: Some(FeatureSpec {
                extractor: extractor.into(),
            }),
            ..ModelInfo::default()
        },
        domain: Domain::Unknown,
        source: None,
    };
    let path = dir.join("builtin.nrf");
    model.save(&path).expect("save");
    path
}

#[test]
fn predict_with_a_builtin_model_needs_no_clip_folder() {
    use nrf::features::builtin::BuiltinExtractor;
    use nrf::model::Nrf;
    use nrf::query::QueryEngine;
    let dir = tempfile::tempdir().expect("tempdir");
    let model_path = builtin_model(dir.path(), &BuiltinExtractor.id());
    let image = data("clip-tiny/images/noise_227.png");
    let points = data("nrf-e2e/coords_mni_mm.npy");
    let out = dir.path().join("p.npy");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(["predict", "--model"])
        .arg(&model_path)
        .arg("--image")
        .arg(&image)
        .arg("--points")
        .arg(&points)
        .args(["--device", "cpu", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got = npy::read_f32(&out).expect("prediction");

    let device = Device::flex();
    let model = Nrf::load(&model_path, &device).expect("load");
    let features = BuiltinExtractor
        .extract(&load_rgb8(&image).expect("image"))
        .expect("features");
    let coords = npy::read_f32(&points).expect("points");
    let coords: Vec<glam::Vec3> = coords
        .data
        .chunks_exact(3)
        .map(glam::Vec3::from_slice)
        .collect();
    let engine = QueryEngine::new(&model);
    let want = engine
        .prepare(&model, &features)
        .expect("prepare")
        .query_points(&coords)
        .expect("query");
    assert!(max_abs(&got.data, &want) <= 1e-6);
}

#[test]
fn predict_with_a_clip_model_but_no_clip_folder_says_what_to_give() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model_path = builtin_model(dir.path(), "clip:clip-vit-base-patch16:layers=3,6");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(["predict", "--model"])
        .arg(&model_path)
        .arg("--image")
        .arg(data("clip-tiny/images/noise_227.png"))
        .arg("--points")
        .arg(data("nrf-e2e/coords_mni_mm.npy"))
        .args(["--device", "cpu", "--out"])
        .arg(dir.path().join("p.npy"))
        .output()
        .expect("run");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--clip") && stderr.contains("builtin.nrf"),
        "{stderr}"
    );
}

/// A Hugging Face CLIP folder of `openai/clip-vit-base-patch16`'s sizes with pseudo-random
/// weights, in `dir`.
fn random_vit_b16_folder(dir: &Path) {
    use nrf::features::clip::ClipVisionConfig;
    let config = ClipVisionConfig::vit_b16();
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("clip-tiny/config.json")).expect("config"),
    )
    .expect("json");
    for (key, value) in [
        ("hidden_size", config.hidden_size),
        ("intermediate_size", config.intermediate_size),
        ("num_attention_heads", config.num_attention_heads),
        ("num_hidden_layers", config.num_hidden_layers),
        ("patch_size", config.patch_size),
        ("image_size", config.image_size),
        ("projection_dim", config.projection_dim),
    ] {
        json[key] = value.into();
    }
    std::fs::write(dir.join("config.json"), json.to_string()).expect("write config");
    std::fs::copy(
        data("clip-tiny/preprocessor_config.json"),
        dir.join("preprocessor_config.json"),
    )
    .expect("copy preprocessing");
    let dict = config.random_state_dict(11);
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = dict
        .iter()
        .map(|(name, tensor)| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                tensor.shape.clone(),
                bytemuck::cast_slice(&tensor.data),
            )
            .expect("view");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))
        .expect("write weights");
}

#[test]
fn an_official_size_model_predicts_the_same_on_the_gpu_as_on_the_cpu() {
    let test = "an_official_size_model_predicts_the_same_on_the_gpu_as_on_the_cpu";
    let Some(probe) = gpu_or_skip(test) else {
        return;
    };
    use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet};
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip-vit-b16-random");
    std::fs::create_dir(&clip).expect("mkdir");
    random_vit_b16_folder(&clip);
    // MLP 8 × 4096 on CLIP ViT-B/16 features: the size researchers train.
    let config = NrfConfig::new();
    assert_eq!((config.hidden, config.num_layers), (4096, 8));
    let model = Nrf {
        net: NrfNet::init_seeded(&config, 7, &Device::flex()).expect("init"),
        config,
        info: ModelInfo::default(),
        domain: Domain::Unknown,
        source: None,
    };
    let model_path = dir.path().join("official-size.nrf");
    model.save(&model_path).expect("save");
    drop(model);
    let points: Vec<f32> = (0..40)
        .flat_map(|i| {
            let t = i as f32;
            [
                (t * 0.37).sin() * 60.0,
                (t * 0.11).cos() * 90.0 - 18.0,
                (t * 0.23).sin() * 50.0 + 10.0,
            ]
        })
        .collect();
    let points_path = dir.path().join("points.npy");
    npy::write_f32(&points_path, &[40, 3], &points).expect("points");
    let predict = |device: &str| {
        let out = dir.path().join(format!("{device}.npy"));
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_nrf"))
            .args(["predict", "--model"])
            .arg(&model_path)
            .arg("--clip")
            .arg(&clip)
            .arg("--image")
            .arg(data("clip-tiny/images/noise_227.png"))
            .arg("--points")
            .arg(&points_path)
            .args(["--device", device, "--out"])
            .arg(&out)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "--device {device}: {stderr}");
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        (npy::read_f32(&out).expect("prediction").data, stdout)
    };
    let (cpu, _) = predict("cpu");
    let (gpu, said) = predict("gpu");
    // Said, not inferred: the GPU ran it, in the per-layer kernel wide models take.
    let kernel = if probe.is_software() {
        "(layered WGSL kernel)"
    } else {
        "(tiled WGSL kernel)"
    };
    assert!(
        said.contains("model on GPU:") && said.contains(kernel),
        "{said}"
    );
    assert_eq!(gpu.len(), 40);
    let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = max_abs(&gpu, &cpu);
    assert!(
        worst <= 1e-4 * scale,
        "GPU differs from the CPU by {worst} (values up to {scale})"
    );
}
