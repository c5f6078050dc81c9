//! Training against PyTorch (`tests/data/nrf-official/train_step`: one AdamW step of the official
//! code), and the trainer on a small virtual dataset.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use nrf::model::official::DomainSource;
use nrf::model::{Nrf, NrfNet};
use nrf::npy;
use nrf::state_dict::{StateDict, read_safetensors};
use nrf::train::trainer::{adamw, burn_loss_and_gradients, loss_and_gradients};

use crate::support::data;

/// The official model with the weights from before the step.
fn initial_model(device: &Device) -> Nrf {
    let reference = Nrf::from_official_dir(data("nrf-official"), &DomainSource::Unknown, device)
        .expect("official run folder");
    let (_, _, b) = reference.net.to_state_dicts().expect("state dicts");
    let read = |name: &str| -> StateDict {
        read_safetensors(&data(&format!("nrf-official/train_step/{name}")), |_| true)
            .expect("initial weights")
    };
    let net = NrfNet::from_state_dicts(
        &reference.config,
        read("initial_merger.safetensors"),
        read("initial_mlp.safetensors"),
        &b,
        device,
    )
    .expect("initial net");
    reference.with_net(net)
}

/// The fixture's inputs: tokens, global, coordinates `[B, N, 3]` and targets `[B, N]`.
fn inputs(device: &Device) -> (Tensor<4>, Tensor<2>, Tensor<3>, Tensor<2>) {
    let tensor = |name: &str| npy::read_f32(data(&format!("nrf-official/{name}"))).expect(name);
    let early = tensor("early_features.npy");
    let higher = tensor("higher_features.npy");
    let coords = tensor("coords_mni_mm.npy");
    let target = tensor("loss_target.npy");
    let b = early.shape[0];
    let n = coords.shape[0];
    let normalised: Vec<f32> = coords
        .data
        .chunks_exact(3)
        .flat_map(|p| nrf::space::normalise_mni(glam::Vec3::from_slice(p)).to_array())
        .collect();
    let repeated: Vec<f32> = (0..b).flat_map(|_| normalised.iter().copied()).collect();
    (
        Tensor::from_data(TensorData::new(early.data, early.shape.clone()), device),
        Tensor::from_data(TensorData::new(higher.data, higher.shape.clone()), device),
        Tensor::from_data(TensorData::new(repeated, [b, n, 3]), device),
        Tensor::from_data(TensorData::new(target.data, target.shape.clone()), device),
    )
}

/// The network's linear layers with their PyTorch names.
fn named_linears(net: &NrfNet) -> Vec<(String, &Linear)> {
    let mut out = vec![
        ("merger.lin1".to_string(), &net.merger.lin1),
        ("merger.lin2".to_string(), &net.merger.lin2),
        ("merger.fuse1".to_string(), &net.merger.fuse1),
        ("merger.fuse2".to_string(), &net.merger.fuse2),
    ];
    for (i, layer) in net.mlp.layers.iter().enumerate() {
        out.push((format!("mlp.layers.{i}"), layer));
    }
    out
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("values")
}

/// burn keeps Linear weights as `[in, out]`; PyTorch as `[out, in]`.
fn weight_as_pytorch(weight: &Param<Tensor<2>>) -> Vec<f32> {
    values(weight.val().transpose())
}

fn largest_relative_gap(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    got.iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

/// The step on the direct CPU path (what CPU training runs) and all in burn (its reference), each
/// against PyTorch's.
#[test]
fn one_adamw_step_matches_pytorch() {
    one_adamw_step_matches_pytorch_with(&|net, tokens, global, coords, targets| {
        loss_and_gradients(net, tokens, global, coords, targets).expect("direct step")
    });
    one_adamw_step_matches_pytorch_with(&burn_loss_and_gradients);
}

type StepFn = dyn Fn(&NrfNet, Tensor<4>, Tensor<2>, Tensor<3>, Tensor<2>) -> (Tensor<1>, GradientsParams)
    + Sync;

fn one_adamw_step_matches_pytorch_with(step_fn: &StepFn) {
    let device = Device::flex();
    let autodiff = device.clone().autodiff();
    let model = initial_model(&device);
    let net = model.net.clone().fork(&autodiff).train();
    let (tokens, global, coords, targets) = inputs(&autodiff);
    let (loss, grads) = step_fn(&net, tokens, global, coords, targets);
    let step: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("nrf-official/train_step/step.json")).expect("step.json"),
    )
    .expect("json");
    let loss = values(loss)[0];
    let want_loss = step["loss_before_step"].as_f64().expect("loss") as f32;
    assert!(
        (loss - want_loss).abs() < 1e-5,
        "loss {loss} vs PyTorch {want_loss}"
    );

    // Gradients, ≤ 1e-4 relative to each tensor's largest value.
    let expected = read_safetensors(
        &data("nrf-official/train_step/gradients.safetensors"),
        |_| true,
    )
    .expect("gradients");
    for (name, linear) in named_linears(&net) {
        let weight_grad = grads.get::<2>(linear.weight.id).expect("weight gradient");
        let got = values(weight_grad.transpose());
        let gap = largest_relative_gap(&got, &expected[&format!("{name}.weight")].data);
        assert!(gap <= 1e-4, "{name}.weight gradient: {gap}");
        let bias = linear.bias.as_ref().expect("bias");
        let got = values(grads.get::<1>(bias.id).expect("bias gradient"));
        let gap = largest_relative_gap(&got, &expected[&format!("{name}.bias")].data);
        assert!(gap <= 1e-4, "{name}.bias gradient: {gap}");
    }

    // One step, then the weights of best_model/ to 1e-6.
    let lr = step["lr"].as_f64().expect("lr");
    let weight_decay = step["weight_decay"].as_f64().expect("weight decay");
    let mut optimizer = adamw(weight_decay);
    let stepped = optimizer.step(lr, net.clone(), grads).valid();
    let after = Nrf::from_official_dir(data("nrf-official"), &DomainSource::Unknown, &device)
        .expect("best_model");
    for ((name, got), (_, want)) in named_linears(&stepped)
        .into_iter()
        .zip(named_linears(&after.net))
    {
        let gap = weight_as_pytorch(&got.weight)
            .iter()
            .zip(weight_as_pytorch(&want.weight))
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(gap <= 1e-6, "{name}.weight after the step: {gap}");
        let (gb, wb) = (
            values(got.bias.as_ref().expect("bias").val()),
            values(want.bias.as_ref().expect("bias").val()),
        );
        let gap = gb
            .iter()
            .zip(&wb)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(gap <= 1e-6, "{name}.bias after the step: {gap}");
    }
}

/// A small simulated subject: 150 images (30 validate), shared by the trainer tests.
fn small_set() -> &'static nrf::train::training_set::TrainingSet {
    &small_simulation().1
}

/// The folder of [`small_set`]'s simulation.
pub(crate) fn small_data_dir() -> &'static std::path::Path {
    small_simulation().0.path()
}

fn small_simulation() -> &'static (tempfile::TempDir, nrf::train::training_set::TrainingSet) {
    use nrf::data::dataset::{Dataset, Split};
    use nrf::data::simulate::{SimulationConfig, simulate};
    use nrf::features::builtin::BuiltinExtractor;
    use nrf::train::training_set::TrainingSet;
    static SET: std::sync::OnceLock<(tempfile::TempDir, TrainingSet)> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SimulationConfig {
            subjects: 1,
            images: 150,
            shared: 30,
            seed: 21,
            front_end: Default::default(),
        };
        simulate(dir.path(), &config, &|_| true).expect("simulate");
        let dataset = Dataset::open_nsd(dir.path(), "1", "nsdgeneral").expect("dataset");
        let set = TrainingSet::from_dataset(
            &dataset,
            &BuiltinExtractor,
            None,
            &[Split::Train, Split::Validation],
            &|_, _| true,
        )
        .expect("features");
        (dir, set)
    })
}

/// A small new model for built-in features.
fn small_model(seed: u64) -> Nrf {
    use nrf::features::FeatureExtractor;
    use nrf::features::builtin::BuiltinExtractor;
    use nrf::model::{Domain, FeatureSpec, ModelInfo, NrfConfig};
    let device = Device::flex();
    let config = NrfConfig::new()
        .with_token_dim(16)
        .with_patches_per_side(14)
        .with_global_dim(32)
        .with_merged_dim(32)
        .with_hidden(64)
        .with_num_layers(4);
    Nrf {
        net: NrfNet::init_seeded(&config, seed, &device).expect("init"),
        config,
        info: ModelInfo {
            features: Some(FeatureSpec {
                extractor: BuiltinExtractor.id(),
            }),
            ..ModelInfo::default()
        },
        domain: Domain::Unknown,
        source: None,
    }
}

fn small_config() -> nrf::train::trainer::TrainConfig {
    nrf::train::trainer::TrainConfig::new()
        .with_batch_images(16)
        .with_voxels_per_image(1000)
        .with_learning_rate(1e-3)
        .with_max_epochs(6)
        .with_patience(3)
        .with_seed(3)
}

#[test]
fn training_lowers_the_loss_and_raises_validation_r() {
    use nrf::train::trainer::{TrainEvent, train, validate};
    let set = small_set();
    let model = small_model(1);
    let before = validate(&model, set, &set.validation_rows)
        .expect("validate")
        .median;
    let mut losses = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("best.nrf");
    let outcome = train(model, set, &small_config(), Some(&out), &mut |event| {
        if let TrainEvent::Validated { train_loss, .. } = event {
            losses.push(*train_loss);
        }
        true
    })
    .expect("train");
    eprintln!(
        "validation median r {before:.3} → {:.3} (epoch {}), epoch losses {losses:?}",
        outcome.best.median, outcome.best_epoch
    );
    assert!(losses.last() < losses.first(), "{losses:?}");
    // Thresholds: a clear gain, and well above chance (the median over ~16 000 voxels of r on
    // 30 images is about 0 for an untrained model).
    assert!(
        outcome.best.median > before + 0.05,
        "{before} → {}",
        outcome.best.median
    );
    assert!(outcome.best.median > 0.1, "{}", outcome.best.median);
    // The saved best model is the returned one.
    let saved = Nrf::load(&out, &Device::flex()).expect("saved best");
    let again = validate(&saved, set, &set.validation_rows)
        .expect("validate")
        .median;
    assert!((again - outcome.best.median).abs() < 1e-5);
}

#[test]
fn cancelling_mid_epoch_leaves_a_loadable_best_model_and_resume_continues() {
    use nrf::train::trainer::{StopReason, TrainEvent, train};
    let set = small_set();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("best.nrf");
    let mut steps_in_epoch_2 = 0;
    let outcome = train(
        small_model(2),
        set,
        &small_config(),
        Some(&out),
        &mut |event| {
            match event {
                TrainEvent::Step { epoch: 2, .. } => {
                    steps_in_epoch_2 += 1;
                    steps_in_epoch_2 < 3 // cancel at the third step of epoch 2
                }
                _ => true,
            }
        },
    )
    .expect("train");
    assert_eq!(outcome.stopped, StopReason::Cancelled);
    assert_eq!(outcome.epochs, 1);
    let saved = Nrf::load(&out, &Device::flex()).expect("best model after cancel");
    let recorded = saved.info.training.as_ref().expect("training record")["epoch"].as_u64();
    assert_eq!(recorded, Some(1));

    // Resume from the saved model: epochs continue at 2.
    let mut epochs_seen = Vec::new();
    let resumed = train(
        saved,
        set,
        &small_config().with_max_epochs(2),
        Some(&out),
        &mut |event| {
            if let TrainEvent::Validated { epoch, .. } = event {
                epochs_seen.push(*epoch);
            }
            true
        },
    )
    .expect("resume");
    assert_eq!(epochs_seen, vec![2, 3]);
    assert!(resumed.best.median >= outcome.best.median);
}

#[test]
fn training_refuses_what_cannot_work() {
    use nrf::train::trainer::train;
    let set = small_set();
    // Features that do not fit the model.
    let mut wrong = small_model(1);
    wrong.config.token_dim = 8;
    let message = train(wrong, set, &small_config(), None, &mut |_| true)
        .expect_err("wrong features")
        .to_string();
    assert!(message.contains("features"), "{message}");
    // Nothing to validate on.
    let mut no_validation = set.clone();
    no_validation.validation_rows.truncate(1);
    let message = train(
        small_model(1),
        &no_validation,
        &small_config(),
        None,
        &mut |_| true,
    )
    .expect_err("one validation image")
    .to_string();
    assert!(message.contains("validation images"), "{message}");
    // Fewer training images than one batch: the batch shrinks to what there is.
    let mut few = set.clone();
    few.train_rows.truncate(5);
    let outcome = train(
        small_model(1),
        &few,
        &small_config().with_max_epochs(1),
        None,
        &mut |_| true,
    )
    .expect("5 images train");
    assert_eq!(outcome.epochs, 1);
}

/// `nrf train` options for a small, quick model on the CPU.
pub(crate) const SMALL_TRAINING: [&str; 14] = [
    "--width",
    "32",
    "--layers",
    "3",
    "--merged",
    "16",
    "--token-proj",
    "8",
    "--batch-images",
    "16",
    "--voxels-per-image",
    "300",
    "--device",
    "cpu",
];

/// Runs the nrf binary, returning (success, stdout, stderr).
fn nrf_cli(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(args)
        .output()
        .expect("run nrf");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn train_finetune_eval_and_ridge_from_the_command_line() {
    let data = small_data_dir().to_str().expect("utf-8 path").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let cache = cache.to_str().expect("utf-8");
    let model = dir.path().join("s1.nrf");
    let model = model.to_str().expect("utf-8");
    let small = SMALL_TRAINING;
    let mut train = vec![
        "train",
        "--data",
        &data,
        "--subject",
        "1",
        "--out",
        model,
        "--epochs",
        "2",
        "--cache",
        cache,
    ];
    train.extend(small);
    // A Fourier scale must be a number above 0; the one given is the model's.
    let mut bad_scale = train.clone();
    bad_scale.extend(["--fourier-scale", "0"]);
    let (ok, _, stderr) = nrf_cli(&bad_scale);
    assert!(
        !ok && stderr.contains("expected a number above 0"),
        "{stderr}"
    );
    train.extend(["--fourier-scale", "20"]);
    let (ok, stdout, stderr) = nrf_cli(&train);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("best validation median r"), "{stdout}");
    let trained = Nrf::load(model, &Device::flex()).expect("trained model");
    assert_eq!(trained.config.fourier_scale, 20.0);
    // The 30 shared images are halved into validation and test; test images are never read.
    let dataset = nrf::data::dataset::Dataset::open_nsd(small_data_dir(), "1", "nsdgeneral")
        .expect("dataset");
    let (validation, test) = (dataset.validation_rows().len(), dataset.test_rows().len());
    assert_eq!(validation + test, 30);
    assert!(
        stderr.contains(&format!("120 training, {validation} validation images"))
            && stderr.contains(&format!("{test} test images held out, never read")),
        "{stderr}"
    );

    let tuned = dir.path().join("tuned.nrf");
    let tuned = tuned.to_str().expect("utf-8");
    let (ok, stdout, stderr) = nrf_cli(&[
        "finetune",
        "--from",
        model,
        "--data",
        &data,
        "--subject",
        "1",
        "--images",
        "20",
        "--train",
        "mlp",
        "--epochs",
        "1",
        "--batch-images",
        "8",
        "--voxels-per-image",
        "300",
        "--out",
        tuned,
        "--cache",
        cache,
        "--device",
        "cpu",
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("20 training"), "{stderr}");
    // Either the fine-tuned model beat the source (written) or the source was kept.
    assert!(
        stdout.contains("wrote") || stdout.contains("left unchanged"),
        "{stdout}"
    );

    // Super-resolution scoring against the virtual subject's truth.
    let (ok, stdout, stderr) = nrf_cli(&[
        "superres",
        "--model",
        model,
        "--data",
        &data,
        "--subject",
        "1",
        "--images",
        "60",
        "--json",
        "--cache",
        cache,
        "--device",
        "cpu",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    let scores = &report["scores"];
    assert!(
        scores["points"].as_u64().expect("points") > 1000,
        "{stdout}"
    );
    for key in [
        "nrf_between",
        "nrf_trilinear_between",
        "baseline_trilinear_between",
        "nrf_at_voxels",
    ] {
        assert!(scores[key]["median"].is_number(), "{stdout}");
    }
    // A ridge fitted on the noisy voxels tracks the truth between them too.
    assert!(
        scores["baseline_trilinear_between"]["median"]
            .as_f64()
            .expect("r")
            > 0.2,
        "{stdout}"
    );
    let (ok, _, stderr) = nrf_cli(&[
        "superres",
        "--model",
        model,
        "--data",
        &data,
        "--subject",
        "9",
        "--cache",
        cache,
    ]);
    assert!(!ok);
    assert!(stderr.contains("subject 9 does not exist"), "{stderr}");

    // Two sources fine-tuned and combined per voxel; eval reads the ensemble file.
    let second = dir.path().join("s1b.nrf");
    let second = second.to_str().expect("utf-8");
    let (ok, _, stderr) = nrf_cli(&[
        "finetune",
        "--from",
        model,
        "--data",
        &data,
        "--out",
        second,
        "--images",
        "20",
        "--epochs",
        "1",
        "--batch-images",
        "8",
        "--voxels-per-image",
        "300",
        "--cache",
        cache,
        "--device",
        "cpu",
        "--seed",
        "5",
    ]);
    assert!(ok, "{stderr}");
    let second = if std::path::Path::new(second).exists() {
        second
    } else {
        model
    };
    let ensemble = dir.path().join("ensemble.nrf");
    let ensemble = ensemble.to_str().expect("utf-8");
    let tuning = [
        "--data",
        &data,
        "--images",
        "20",
        "--epochs",
        "1",
        "--batch-images",
        "8",
        "--voxels-per-image",
        "300",
        "--cache",
        cache,
        "--device",
        "cpu",
    ];
    let mut args = vec![
        "finetune", "--from", model, "--from", second, "--out", ensemble,
    ];
    args.extend(tuning);
    let (ok, _, stderr) = nrf_cli(&args);
    assert!(!ok, "two sources without --ensemble must be refused");
    assert!(stderr.contains("--ensemble"), "{stderr}");
    args.push("--ensemble");
    let (ok, stdout, stderr) = nrf_cli(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("ensemble of 2 fine-tuned models"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = nrf_cli(&[
        "eval", "--model", ensemble, "--data", &data, "--json", "--cache", cache, "--device", "cpu",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert!(report["r"]["median"].is_number(), "{stdout}");
    // An ensemble file predicts too: its members' combination.
    let points = dir.path().join("points.npy");
    npy::write_f32(&points, &[1, 3], &[0.0, -90.0, 0.0]).expect("points");
    let (ok, _, stderr) = nrf_cli(&[
        "predict",
        "--model",
        ensemble,
        "--image",
        &crate::support::data("clip-tiny/images/noise_227.png")
            .display()
            .to_string(),
        "--points",
        points.to_str().expect("utf-8"),
        "--out",
        dir.path().join("p.npy").to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stderr}");
    let predicted = npy::read_f32(dir.path().join("p.npy")).expect("prediction");
    assert_eq!(predicted.shape, [1, 1]);
    assert!(predicted.data[0].is_finite());

    let (ok, stdout, stderr) = nrf_cli(&[
        "eval",
        "--model",
        model,
        "--data",
        &data,
        "--subject",
        "1",
        "--json",
        "--cache",
        cache,
        "--device",
        "cpu",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["split"], "test");
    assert_eq!(report["scored_images"], test);
    assert!(
        report["r"]["median"].as_f64().expect("median") > 0.0,
        "{stdout}"
    );
    assert!(
        report["r_over_sqrt_noise_ceiling"]["median"].is_number(),
        "{stdout}"
    );
    // The validation images on request.
    let (ok, stdout, stderr) = nrf_cli(&[
        "eval",
        "--model",
        model,
        "--data",
        &data,
        "--subject",
        "1",
        "--split",
        "validation",
        "--json",
        "--cache",
        cache,
        "--device",
        "cpu",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["split"], "validation");
    assert_eq!(report["scored_images"], validation);

    let (ok, stdout, stderr) = nrf_cli(&[
        "ridge",
        "--data",
        &data,
        "--subject",
        "1",
        "--images",
        "60",
        "--json",
        "--cache",
        cache,
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["training_images"], 60);
    assert_eq!(report["split"], "test");
    assert!(
        report["r"]["median"].as_f64().expect("median") > 0.1,
        "{stdout}"
    );

    // The fWRF baseline: fields and penalties chosen on the validation images, scored on test.
    let (ok, stdout, stderr) = nrf_cli(&[
        "fwrf",
        "--data",
        &data,
        "--subject",
        "1",
        "--images",
        "60",
        "--centres",
        "3",
        "--json",
        "--cache",
        cache,
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("45 candidate fields"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["training_images"], 60);
    assert_eq!(report["split"], "test");
    assert_eq!(report["scored_images"], test);
    assert!(
        report["r"]["median"].as_f64().expect("median") > 0.05,
        "{stdout}"
    );
}

#[test]
fn training_fails_before_starting_when_the_output_cannot_be_written() {
    let data = small_data_dir().to_str().expect("utf-8 path").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no/such/folder/model.nrf");
    let (ok, _, stderr) = nrf_cli(&[
        "train",
        "--data",
        &data,
        "--out",
        missing.to_str().expect("utf-8"),
        "--no-cache",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("does not exist") && stderr.contains("no/such/folder"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("features:"),
        "failed after extracting features: {stderr}"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).expect("mkdir");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        if tempfile::NamedTempFile::new_in(&locked).is_ok() {
            eprintln!("SKIPPED read-only half: this user (root?) can write a 0555 folder");
        } else {
            let out = locked.join("model.nrf");
            let (ok, _, stderr) = nrf_cli(&[
                "train",
                "--data",
                &data,
                "--out",
                out.to_str().expect("utf-8"),
                "--no-cache",
            ]);
            assert!(!ok);
            assert!(stderr.contains("cannot write in"), "{stderr}");
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

#[test]
fn predict_without_a_model_uses_the_embedded_subject_1() {
    use nrf::features::FeatureExtractor;
    use nrf::features::builtin::BuiltinExtractor;
    use nrf::query::QueryEngine;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("p.npy");
    let image = data("clip-tiny/images/noise_227.png");
    let points = data("nrf-e2e/coords_mni_mm.npy");
    let (ok, _, stderr) = nrf_cli(&[
        "predict",
        "--image",
        image.to_str().expect("utf-8"),
        "--points",
        points.to_str().expect("utf-8"),
        "--device",
        "cpu",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stderr}");
    let got = npy::read_f32(&out).expect("prediction");
    let model = nrf::embedded::default_model(1, &Device::flex()).expect("embedded model");
    let features = BuiltinExtractor
        .extract(&nrf::features::decode::load_rgb8(&image).expect("image"))
        .expect("features");
    let coords: Vec<glam::Vec3> = npy::read_f32(&points)
        .expect("points")
        .data
        .chunks_exact(3)
        .map(glam::Vec3::from_slice)
        .collect();
    let want = QueryEngine::new(&model)
        .prepare(&model, &features)
        .expect("prepare")
        .query_points(&coords)
        .expect("query");
    let gap = got
        .data
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(gap < 1e-6, "{gap}");
    let message = nrf::embedded::default_model(9, &Device::flex())
        .expect_err("no subject 9")
        .to_string();
    assert!(message.contains("1 to 8"), "{message}");
}

#[test]
fn an_ensemble_fits_at_least_as_well_as_its_members_and_survives_a_file_round_trip() {
    use nrf::train::ensemble::EnsembleModel;
    use nrf::train::trainer::predict_rows;
    let set = small_set();
    let members = vec![small_model(11), small_model(12)];
    let rows = &set.train_rows;
    let measured: Vec<f32> = rows
        .iter()
        .flat_map(|&r| set.row(r).iter().copied())
        .collect();
    // Per-voxel sum of squared errors after the best affine fit of one member alone is at least
    // the ensemble's (least squares over a superset of combinations; no ridge).
    let sse = |pred: &[f32]| -> f64 {
        pred.iter()
            .zip(&measured)
            .map(|(p, m)| f64::from(p - m).powi(2))
            .sum()
    };
    let single = |model: &Nrf| -> f64 {
        let pred = predict_rows(model, set, rows).expect("predict");
        let affine = nrf::train::ensemble::Ensemble::fit(
            std::slice::from_ref(&pred),
            &measured,
            set.voxels(),
            0.0,
        )
        .expect("fit");
        sse(&affine.predict(&[pred], set.voxels()))
    };
    let singles = [single(&members[0]), single(&members[1])];
    let mut ensemble = EnsembleModel::fit(members, set, 0.0).expect("ensemble");
    let combined = ensemble.predict_rows(set, rows).expect("predict");
    let both = sse(&combined);
    assert!(
        both <= singles[0] * (1.0 + 1e-4) && both <= singles[1] * (1.0 + 1e-4),
        "ensemble SSE {both} vs members {singles:?}"
    );
    // Validation: the median per-voxel r on the validation images, recorded as its score.
    let summary = ensemble.validate(set).expect("validate");
    let validation = ensemble
        .predict_rows(set, &set.validation_rows)
        .expect("predict");
    let r = nrf::train::metrics::pearson_per_voxel(
        &validation,
        &set.rows_of(&set.validation_rows),
        set.voxels(),
    );
    let expected = nrf::train::metrics::summarise(&r).expect("defined r");
    assert_eq!(summary.median, expected.median);
    assert_eq!(
        ensemble.info.scores.get("val_median_r"),
        Some(&f64::from(summary.median))
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ensemble.nrf");
    ensemble.save(&path).expect("save");
    let loaded = EnsembleModel::load(&path, &Device::flex()).expect("load");
    assert_eq!(loaded.combination, ensemble.combination);
    assert_eq!(loaded.members.len(), 2);
    assert_eq!(
        loaded.info.scores.get("val_median_r"),
        Some(&f64::from(summary.median))
    );
    let again = loaded.predict_rows(set, rows).expect("predict");
    assert_eq!(again, combined);
    // A single-model reader says what the file is instead of failing obscurely.
    let err = Nrf::load(&path, &Device::flex()).expect_err("not a single model");
    assert!(err.to_string().contains("ensemble"), "{err}");
    // A truncated file is refused with its name.
    let bytes = std::fs::read(&path).expect("read");
    let cut = dir.path().join("cut.nrf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let err = EnsembleModel::load(&cut, &Device::flex()).expect_err("truncated");
    assert!(err.to_string().contains("cut.nrf"), "{err}");
}

#[test]
fn validation_can_run_every_few_epochs_and_after_the_last() {
    use nrf::train::trainer::{TrainEvent, train};
    let set = small_set();
    let config = small_config()
        .with_voxels_per_image(100)
        .with_max_epochs(5)
        .with_validate_every(2)
        .with_patience(10);
    let mut validated = Vec::new();
    let mut steps = 0;
    let outcome = train(small_model(2), set, &config, None, &mut |event| {
        match event {
            TrainEvent::Step { .. } => steps += 1,
            TrainEvent::Validated { epoch, .. } => validated.push(*epoch),
            TrainEvent::Started { .. } => {}
        }
        true
    })
    .expect("train");
    assert_eq!(validated, vec![2, 4, 5]);
    assert_eq!(outcome.epochs, 5);
    assert_eq!(steps, 5 * set.train_rows.len().div_ceil(16));
}

/// Nothing that fits or selects reads a test row: a set with NaN test rows (features and
/// responses) trains to exactly the model the same set without them gives, with finite weights.
#[test]
fn training_never_reads_a_test_row() {
    use nrf::features::ImageFeatures;
    use nrf::train::trainer::{predict_rows, train};
    let clean = small_set().clone();
    let mut poisoned = clean.clone();
    let first = &clean.features[0];
    for _ in 0..5 {
        poisoned.test_rows.push(poisoned.features.len());
        poisoned.features.push(ImageFeatures {
            tokens: vec![f32::NAN; first.tokens.len()],
            global: vec![f32::NAN; first.global.len()],
            ..first.clone()
        });
        poisoned
            .responses
            .extend(std::iter::repeat_n(f32::NAN, clean.voxels()));
    }
    let config = small_config().with_max_epochs(2);
    let outcome = |set| train(small_model(4), set, &config, None, &mut |_| true).expect("train");
    let (want, got) = (outcome(&clean), outcome(&poisoned));
    assert!(got.best.median.is_finite(), "{:?}", got.best);
    assert_eq!(got.best_epoch, want.best_epoch);
    assert_eq!(got.best.median, want.best.median);
    let rows = &clean.validation_rows;
    let (want, got) = (
        predict_rows(&want.model, &clean, rows).expect("clean"),
        predict_rows(&got.model, &poisoned, rows).expect("poisoned"),
    );
    assert!(got.iter().all(|v| v.is_finite()));
    assert_eq!(got, want, "the test rows changed the trained model");
}

/// The direct CPU training step equals burn's autodiff on random models: widths 1 to 512, with
/// and without `latent_in`, a frozen merger, point counts that fill no block; the same on one
/// thread and many.
#[test]
fn the_direct_training_step_equals_burn() {
    let device = Device::flex();
    let autodiff = device.clone().autodiff();
    for (hidden, layers, latent_in, images, points, freeze) in [
        (1, 2, vec![], 2, 5, false),
        (16, 3, vec![], 3, 37, false),
        (128, 5, vec![2], 4, 301, false),
        (128, 4, vec![], 2, 1000, true),
        (512, 3, vec![1], 2, 77, false),
    ] {
        let config = crate::support::small_feature_config(hidden, layers, latent_in.clone());
        config.validate().expect("config");
        let mut net = NrfNet::init_seeded(&config, hidden as u64, &device)
            .expect("init")
            .fork(&autodiff)
            .train();
        if freeze {
            net.merger = net.merger.no_grad();
        }
        let wave = |len: usize, f: f32| (0..len).map(|i| (i as f32 * f).sin()).collect::<Vec<_>>();
        let tensor = |values: Vec<f32>, shape: Vec<usize>| TensorData::new(values, shape);
        let tokens = Tensor::<4>::from_data(
            tensor(wave(images * 2 * 4 * 8, 0.37), vec![images, 2, 4, 8]),
            &autodiff,
        );
        let global =
            Tensor::<2>::from_data(tensor(wave(images * 6, 0.91), vec![images, 6]), &autodiff);
        let coords = Tensor::<3>::from_data(
            tensor(wave(images * points * 3, 1.7), vec![images, points, 3]),
            &autodiff,
        );
        let targets = Tensor::<2>::from_data(
            tensor(wave(images * points, 0.23), vec![images, points]),
            &autodiff,
        );
        let run = |f: &StepFn| {
            f(
                &net,
                tokens.clone(),
                global.clone(),
                coords.clone(),
                targets.clone(),
            )
        };
        let direct: &StepFn = &|n, t, g, c, y| loss_and_gradients(n, t, g, c, y).expect("direct");
        let (want_loss, want) = run(&burn_loss_and_gradients);
        let (got_loss, got) = run(direct);
        let (want_loss, got_loss) = (values(want_loss)[0], values(got_loss)[0]);
        let case =
            format!("width {hidden} × {layers}, latent_in {latent_in:?}, frozen merger {freeze}");
        assert!(
            (want_loss - got_loss).abs() <= 1e-5 * want_loss.abs().max(1.0),
            "{case}: loss {got_loss} vs burn {want_loss}"
        );
        let (_, one_thread) = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool")
            .install(|| run(direct));
        for (name, linear) in named_linears(&net) {
            let merger = name.starts_with("merger");
            let want_w = want.get::<2>(linear.weight.id);
            let got_w = got.get::<2>(linear.weight.id);
            if merger && freeze {
                assert!(
                    want_w.is_none() && got_w.is_none(),
                    "{case}: {name} is frozen"
                );
                continue;
            }
            let (want_w, got_w) = (
                values(want_w.expect("burn")),
                values(got_w.expect("direct")),
            );
            let gap = largest_relative_gap(&got_w, &want_w);
            assert!(
                gap <= 1e-5,
                "{case}: {name}.weight gradient differs by {gap}"
            );
            let bias = linear.bias.as_ref().expect("bias");
            let gap = largest_relative_gap(
                &values(got.get::<1>(bias.id).expect("direct bias")),
                &values(want.get::<1>(bias.id).expect("burn bias")),
            );
            assert!(gap <= 1e-5, "{case}: {name}.bias gradient differs by {gap}");
            let single = values(one_thread.get::<2>(linear.weight.id).expect("one thread"));
            let gap = largest_relative_gap(&single, &got_w);
            assert!(
                gap <= 1e-6,
                "{case}: {name}.weight on one thread differs by {gap}"
            );
        }
    }
}
