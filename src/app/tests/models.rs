//! Models: switching subjects, model files and run folders, CLIP folders, domains, slow models and the GPU.

use super::*;

#[test]
fn switching_subject_keeps_the_image_and_predicts_again() {
    let mut harness = predicting();
    let image = app(&harness).state.image.as_ref().map(|i| i.name.clone());
    let before = app(&harness).state.overlay.clone().expect("overlay");
    // The Subject list is the first combo box showing subj01 (the Fine-tune target is the other).
    harness
        .get_all_by_value("virtual subj01")
        .next()
        .expect("the Subject list")
        .click();
    harness.step();
    harness.step();
    click(&mut harness, "virtual subj03");
    assert_eq!(app(&harness).state.model, ModelSlot::Embedded(3));
    step_until(&mut harness, "subject 3's prediction", |app| {
        prediction_shown(app) && app.state.overlay.as_ref().is_some_and(|o| o.0 > before.0)
    });
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        image
    );
    let after = app(&harness).state.overlay.clone().expect("overlay");
    assert_ne!(
        after.1.volume.data, before.1.volume.data,
        "another subject's model predicts differently"
    );
}

#[test]
fn a_dropped_model_file_joins_the_subject_list_and_other_folders_are_refused() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = burn::tensor::Device::flex();
    let model = crate::embedded::default_model(3, &device).expect("model");
    let path = dir.path().join("my-subject.nrf");
    model.save(&path).expect("save");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the model file's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    assert_eq!(
        app(&harness).state.model_name(ModelSlot::Opened(0)),
        "my-subject.nrf"
    );
    assert!(
        app(&harness)
            .state
            .model_slots()
            .contains(&ModelSlot::Opened(0))
    );
    // A file describes no virtual subject: no ground truth to offer.
    assert!(
        harness
            .query_by_label("show the ground truth instead")
            .is_none()
    );

    // A folder that is not a run folder: a clear message, nothing changes.
    drop_file(&mut harness, dir.path());
    step_until(&mut harness, "the error", |app| app.state.error.is_some());
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(error.contains("experiment_config.yaml"), "{error}");
    assert_eq!(app(&harness).state.opened.len(), 1);
    assert_eq!(app(&harness).state.model, ModelSlot::Opened(0));
}

#[test]
fn models_on_clip_features_wait_for_a_clip_folder_that_fits_them() {
    let mut harness = predicting();
    // The official run folder of the reference fixture takes ViT-B/16 features; the tiny CLIP
    // folder does not give those: a clear message, the model keeps waiting, nothing else changes.
    drop_file(&mut harness, &test_data("nrf-official"));
    step_until(&mut harness, "the run folder read", |app| {
        app.state.pending_clip.is_some() || app.state.error.is_some()
    });
    assert_eq!(app(&harness).state.error, None);
    harness.get_by_label("Choose CLIP folder…");
    drop_file(&mut harness, &test_data("clip-tiny"));
    step_until(&mut harness, "the misfit refused", |app| {
        app.state.error.is_some()
    });
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(
        error.contains("clip-tiny") && error.contains("does not fit"),
        "{error}"
    );
    assert!(app(&harness).state.pending_clip.is_some());
    assert!(app(&harness).state.opened.is_empty());
    assert_eq!(app(&harness).state.model, ModelSlot::Embedded(1));
    click(&mut harness, "Cancel");
    assert!(app(&harness).state.pending_clip.is_none());

    // A run folder missing its network's weights names the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("run");
    copy_folder(&test_data("nrf-official"), &broken);
    std::fs::remove_file(broken.join("best_model/best_NRF_model.pth.tar")).expect("remove");
    drop_file(&mut harness, &broken);
    step_until(&mut harness, "the broken folder refused", |app| {
        app.state.error.is_some()
    });
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(error.contains("best_NRF_model.pth.tar"), "{error}");
    assert!(app(&harness).state.pending_clip.is_none());

    // The end-to-end fixture's model (converted from its run folder) with the CLIP folder it was
    // made with: the viewer's prediction is PyTorch's.
    drop_file(&mut harness, &test_data("nrf-e2e/model.nrf"));
    step_until(&mut harness, "the model waiting", |app| {
        app.state.pending_clip.is_some()
    });
    drop_file(&mut harness, &test_data("clip-tiny"));
    step_until(&mut harness, "the CLIP model's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    assert!(app(&harness).state.pending_clip.is_none());
    assert!(!app(&harness).state.trainable(ModelSlot::Opened(0)));
    drop_file(&mut harness, &test_data("clip-tiny/images/noise_227.png"));
    step_until(&mut harness, "the new image's prediction", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "noise_227.png")
            && prediction_shown(app)
    });
    let points = crate::npy::read_f32(test_data("nrf-e2e/coords_mni_mm.npy")).expect("points");
    let points: Vec<glam::Vec3> = points
        .data
        .chunks_exact(3)
        .map(|p| glam::Vec3::new(p[0], p[1], p[2]))
        .collect();
    let expected =
        crate::npy::read_f32(test_data("nrf-e2e/noise_227.expected_prediction.npy")).expect("npy");
    let got = app(&harness)
        .state
        .query
        .as_ref()
        .expect("query")
        .query_points(&points)
        .expect("values");
    let worst = got
        .iter()
        .zip(&expected.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst <= 1e-3, "largest difference from PyTorch {worst}");
}

#[test]
fn slow_models_show_coarse_slices_first_then_every_pixel() {
    let mut harness = predicting();
    // As if the model ran at 2 000 points/s: the slices' first step is coarse.
    app_mut(&mut harness).state.rate_per_job = Some(2_000.0);
    app_mut(&mut harness).state.slices_stale = true;
    app_mut(&mut harness).state.slices.clear();
    let mut factors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while factors.last() != Some(&1) {
        harness.step();
        let app = app(&harness);
        if let Some(factor) = app.state.slices.iter().map(|s| s.slice.factor).max()
            && factors.last() != Some(&factor)
            && !app.state.slices_stale
        {
            factors.push(factor);
        }
        assert!(Instant::now() < deadline, "slices stuck at {factors:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(factors[0] > 1, "coarse first: {factors:?}");
    assert!(factors.windows(2).all(|w| w[0] > w[1]), "{factors:?}");
}

#[test]
fn on_the_gpu_the_prediction_shown_comes_from_the_windows_device() {
    let test = "on_the_gpu_the_prediction_shown_comes_from_the_windows_device";
    let Some(render_state) = software_render_state(test) else {
        return;
    };
    let adapter = render_state.adapter.get_info().name;
    let window = render_state.clone();
    // Whether the 3D view shows the texture the query kernel wrote on the window's device.
    let overlay_from_gpu = move || {
        window
            .renderer
            .read()
            .callback_resources
            .get::<crate::app::views::volume_paint::View3dResources>()
            .map(|r| r.overlay_from_gpu)
    };
    let mut harness = build_harness(
        ViewOptions {
            subject: 1,
            device: crate::device::DeviceChoice::Gpu,
            ..Default::default()
        },
        Some(render_state),
    );
    {
        let app = app_mut(&mut harness);
        // A coarse finest level: lavapipe compiles each new kernel slowly.
        app.state.finest_spacing = 4.0;
        assert!(app.state.compute.is_gpu(), "{}", app.state.compute.report());
        assert!(
            app.state.compute.note.is_none(),
            "burn shares the window's device: {}",
            app.state.compute.report()
        );
        assert!(app.state.compute.place().starts_with("model on GPU: "));
        assert!(
            app.state.compute.place().contains(&adapter),
            "{}",
            app.state.compute.place()
        );
    }
    step_until(&mut harness, "the prediction on the GPU", prediction_shown);
    // Paint callbacks run when the harness renders.
    harness.render().expect("the window renders");
    let now = app(&harness);
    // Asserted from the level itself, not inferred: the device that computed it, the kernel
    // that ran there, and the 3D view drawing the very texture that kernel wrote.
    assert_eq!(
        now.state.overlay_device.as_ref(),
        Some(&now.state.compute.device)
    );
    assert_eq!(
        now.state.query.as_ref().map(ModelQuery::device),
        Some(now.state.compute.device.clone())
    );
    assert_eq!(
        now.state.query.as_ref().and_then(ModelQuery::gpu_kernel),
        Some(crate::query::gpu::Kernel::Fused),
        "the embedded 128-wide model runs the fused kernel"
    );
    assert!(
        now.state
            .overlay
            .as_ref()
            .is_some_and(|(_, p)| p.on_gpu.is_some()),
        "the level came with its overlay texture"
    );
    assert_eq!(overlay_from_gpu(), Some(true), "no upload for the 3D view");
    // The status bar says where the model runs.
    harness.get_by_label(&now.state.compute.place());
    // Switching image cancels the running levels: the old job is dropped at once.
    let old = now.state.overlay.clone().expect("overlay");
    let ctx = harness.ctx.clone();
    let (_, rgb) = crate::data::simulate::stimulus_of(1, 5);
    app_mut(&mut harness)
        .state
        .show_image("another".into(), rgb, &ctx);
    assert!(app(&harness).state.refinement.is_none() && app(&harness).state.overlay.is_none());
    step_until(&mut harness, "the new image's prediction", prediction_shown);
    let now = app(&harness);
    assert_ne!(now.state.overlay.as_ref().map(|o| o.0), Some(old.0));
    assert_eq!(
        now.state.overlay_device.as_ref(),
        Some(&now.state.compute.device)
    );
}

#[test]
fn a_model_without_a_domain_says_so_and_takes_one_dropped_on_the_window() {
    // The end-to-end fixture's model without its domain, as an official run folder comes.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = crate::model::Nrf::load(
        test_data("nrf-e2e/model.nrf"),
        &burn::tensor::Device::flex(),
    )
    .expect("model");
    model.domain = crate::model::Domain::Unknown;
    let path = dir.path().join("no-domain.nrf");
    model.save(&path).expect("save");
    let mut harness = predicting();
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the model waiting", |app| {
        app.state.pending_clip.is_some()
    });
    drop_file(&mut harness, &test_data("clip-tiny"));
    step_until(&mut harness, "its prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    let now = app(&harness);
    assert!(
        now.state.status_line().contains("no domain"),
        "{}",
        now.state.status_line()
    );
    assert_eq!(
        now.state.overlay.as_ref().map(|o| o.1.region),
        Some(crate::query::RegionUsed::BrainMask)
    );
    harness.get_by_label("Domain coordinates…");
    // A file that is not (N, 3) coordinates is refused with its name; nothing changes.
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"not numpy").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the bad domain refused", |app| {
        app.state.error.is_some()
    });
    let error = app_mut(&mut harness).state.error.take().unwrap_or_default();
    assert!(error.contains("bad.npy"), "{error}");
    // The NSD-processed coordinates: the views stay within them from now on.
    drop_file(
        &mut harness,
        &test_data("nsd-processed/MNI_coordinate/subj01/nsdgeneral_MNI_coordinate.npy"),
    );
    step_until(&mut harness, "the prediction within the domain", |app| {
        prediction_shown(app)
            && app.state.overlay.as_ref().map(|o| o.1.region)
                == Some(crate::query::RegionUsed::ModelDomain)
    });
    assert!(!app(&harness).state.status_line().contains("no domain"));
    assert!(app(&harness).state.error.is_none());
}

#[test]
fn an_opened_ensemble_shows_its_combined_prediction_or_its_members_spread() {
    let ensemble = crate::session::jobs::tests::ensemble_of_subjects_1_and_2();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pair.nrf");
    ensemble.save(&path).expect("save");
    let mut harness = predicting();
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the ensemble's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    let rgb = app(&harness)
        .state
        .image
        .as_ref()
        .expect("image")
        .rgb
        .clone();
    let features = crate::features::FeatureExtractor::extract(
        &crate::features::builtin::BuiltinExtractor,
        &rgb,
    )
    .expect("features");
    let points = [
        glam::Vec3::new(-40.0, -60.0, -20.0),
        glam::Vec3::new(10.0, -90.0, 0.0),
    ];
    let shown_at = |harness: &AppHarness| {
        let query = app(harness).state.query.clone().expect("query");
        query.query_points(&points).expect("values")
    };
    let close = |got: Vec<f32>, want: Vec<f32>| {
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
    };
    close(
        shown_at(&harness),
        ensemble
            .predict_points(&[&features], &points)
            .expect("ensemble"),
    );
    // Not fine-tuned in the viewer; the questions say why they are not offered.
    assert!(!app(&harness).state.trainable(ModelSlot::Opened(0)));
    click(&mut harness, "Ask the model");
    assert!(harness.query_by_label("Run localiser").is_none());

    click(&mut harness, "show its members' disagreement (s.d.)");
    step_until(&mut harness, "the members' spread", |app| {
        prediction_shown(app)
            && app
                .state
                .query
                .as_ref()
                .and_then(|q| q.ensemble())
                .map(|e| e.shows())
                == Some(crate::query::EnsembleShows::Spread)
    });
    let members = ensemble
        .member_predictions(&[&features], &points)
        .expect("members");
    close(
        shown_at(&harness),
        crate::train::ensemble::EnsembleModel::spread(&members),
    );
    let name = app(&harness).state.shown_name();
    assert!(
        name.contains("pair.nrf") && name.contains("members' s.d."),
        "{name}"
    );

    // Back on an embedded subject, the option has no meaning and the prediction is one model's.
    let ctx = harness.ctx.clone();
    app_mut(&mut harness)
        .state
        .select_model(ModelSlot::Embedded(1), &ctx);
    step_until(&mut harness, "subject 1's prediction", prediction_shown);
    assert!(
        app(&harness)
            .state
            .query
            .as_ref()
            .is_some_and(|q| q.ensemble().is_none())
    );
    assert!(!app(&harness).state.shown_name().contains("s.d."));
}
