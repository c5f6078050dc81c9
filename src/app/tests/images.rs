//! Images: dropping, pasting and switching images, A − B contrasts, and what a new image clears.

use super::*;

#[test]
fn a_dropped_image_starts_a_prediction_and_the_views_update() {
    let mut harness = predicting();
    let before = app(&harness).state.overlay_version;
    let dir = tempfile::tempdir().expect("tempdir");
    drop_file(&mut harness, &write_face(dir.path()));
    step_until(&mut harness, "the face to be read", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "face.png")
    });
    assert!(
        app(&harness).state.query_job.is_some(),
        "a prediction job starts as soon as the image is read"
    );
    step_until(&mut harness, "the face's prediction", |app| {
        prediction_shown(app) && app.state.overlay_version > before
    });
    // The planned levels arrived as new overlays, the finest last.
    assert!(app(&harness).state.overlay_version > before);
    assert!(app(&harness).state.error.is_none());
}

#[test]
fn a_bad_file_shows_an_error_and_changes_nothing() {
    let mut harness = predicting();
    let (name, version) = (
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        app(&harness).state.overlay_version,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("notes.png");
    std::fs::write(&bad, b"not a picture").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the error", |app| app.state.error.is_some());
    harness.step();
    let error = app(&harness).state.error.clone().expect("an error message");
    assert!(error.contains("notes.png"), "{error}");
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        name
    );
    assert!(app(&harness).state.query_job.is_none());
    // The message is dismissable; the views are as they were.
    click(&mut harness, "Dismiss");
    assert!(app(&harness).state.error.is_none());
    assert_eq!(app(&harness).state.overlay_version, version);
}

#[test]
fn a_pasted_image_is_shown_and_earlier_images_stay_a_click_away() {
    let mut harness = harness(ViewOptions {
        subject: 1,
        ..Default::default()
    });
    let first = app(&harness).state.image.as_ref().map(|i| i.name.clone());
    let red = egui::ColorImage::filled([40, 30], egui::Color32::from_rgb(200, 30, 20));
    harness.event(egui::Event::PasteImage(Arc::new(red)));
    harness.step();
    let app_now = app(&harness);
    let shown = app_now.state.image.as_ref().expect("image");
    assert_eq!(shown.name, "pasted image");
    assert_eq!((shown.rgb.width, shown.rgb.height), (40, 30));
    assert_eq!(&shown.rgb.pixels[..3], &[200, 30, 20]);
    assert!(
        app_now.state.query_job.is_some(),
        "the pasted image is predicted"
    );
    assert_eq!(
        app_now
            .state
            .recent
            .iter()
            .map(|r| Some(r.name.clone()))
            .next(),
        Some(first.clone())
    );
    // Showing the earlier image again swaps the two.
    let earlier = app_now.state.recent[0].clone();
    let ctx = harness.ctx.clone();
    app_mut(&mut harness)
        .state
        .show_image(earlier.name, earlier.rgb, &ctx);
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.clone()),
        first
    );
    assert_eq!(app(&harness).state.recent.len(), 1);
    assert_eq!(app(&harness).state.recent[0].name, "pasted image");
}

#[test]
fn an_a_minus_b_contrast_shows_the_difference_of_two_images() {
    let mut harness = predicting();
    let a_only = app(&harness).state.overlay.clone().expect("A");
    click(&mut harness, "Set as B");
    assert_eq!(app(&harness).state.contrast.b.len(), 1);
    let first = app(&harness).state.image.clone().expect("image");
    // A different image becomes A; then A − B is asked for.
    harness.get_by_label("face").click();
    step_until(&mut harness, "the face's prediction", |app| {
        prediction_shown(app)
            && app
                .state
                .image
                .as_ref()
                .is_some_and(|i| i.name == "example: face")
    });
    let face = app(&harness).state.overlay.clone().expect("face");
    click(&mut harness, "show A - B");
    step_until(&mut harness, "the contrast", |app| {
        prediction_shown(app)
            && app
                .state
                .query
                .as_ref()
                .is_some_and(ModelQuery::is_contrast)
    });
    let contrast = app(&harness).state.overlay.clone().expect("A − B");
    assert!(
        app(&harness).state.status.contains("A - B"),
        "{}",
        app(&harness).state.status
    );
    // The 1 mm contrast volume is the face's volume minus the first image's.
    assert_voxelwise(&contrast.1, &face.1, &a_only.1, |a, b| a - b);

    // Sets: the face joins B, so A − B = face − mean(first, face) = (face − first) / 2.
    click(&mut harness, "Add to B");
    assert_eq!(app(&harness).state.contrast.b.len(), 2);
    step_until(&mut harness, "the contrast of sets", |app| {
        prediction_shown(app)
            && app
                .state
                .overlay
                .as_ref()
                .is_some_and(|(version, _)| *version > contrast.0)
    });
    let half = app(&harness).state.overlay.clone().expect("A - mean(B)");
    assert_voxelwise(&half.1, &face.1, &a_only.1, |a, b| (a - b) / 2.0);
    // Adding an image twice is refused with a message; nothing changes.
    click(&mut harness, "Add to B");
    assert!(
        app_mut(&mut harness)
            .state
            .error
            .take()
            .is_some_and(|e| e.contains("already"))
    );
    assert_eq!(app(&harness).state.contrast.b.len(), 2);
    assert_eq!(first.name, app(&harness).state.contrast.b[0].name);
    click(&mut harness, "Clear A and B");
    step_until(&mut harness, "the face alone again", |app| {
        prediction_shown(app) && app.state.query.as_ref().is_some_and(|q| !q.is_contrast())
    });
}

#[test]
fn a_new_image_or_model_clears_the_previous_prediction_at_once() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    drop_file(&mut harness, &write_face(dir.path()));
    step_until(&mut harness, "the face to be read", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "face.png")
    });
    // Nothing of the example's prediction stays on screen under the face's name: the views
    // show the anatomy and say what is being computed until the face's first level arrives.
    let now = app(&harness);
    assert!(
        now.state.overlay.is_none()
            && now.state.query.is_none()
            && now.state.overlay_spacing.is_none()
    );
    assert!(
        now.state
            .slices
            .iter()
            .all(|s| !s.slice.inside.iter().any(|&i| i)),
        "slices of the anatomy alone"
    );
    let pending = now.state.pending_prediction().expect("a caption");
    assert!(
        pending.contains("virtual subj01") && pending.contains("face.png"),
        "{pending}"
    );
    step_until(&mut harness, "the face's prediction", prediction_shown);
    assert!(app(&harness).state.pending_prediction().is_none());
    // Another model: its own colour range, and the previous model's volume gone at once.
    app_mut(&mut harness).state.range = 123.0;
    let ctx = harness.ctx.clone();
    app_mut(&mut harness)
        .state
        .select_model(ModelSlot::Embedded(2), &ctx);
    let now = app(&harness);
    assert!(
        now.state.overlay.is_none() && now.state.query.is_none() && now.state.slices.is_empty()
    );
    assert!(now.state.range_pending);
    assert!(
        now.state
            .pending_prediction()
            .is_some_and(|p| p.contains("subj02"))
    );
    step_until(&mut harness, "subject 2's prediction", prediction_shown);
    assert_ne!(
        app(&harness).state.range,
        123.0,
        "the range is set from subject 2's prediction"
    );
}

#[test]
fn new_colours_recolour_the_slices_without_querying_again() {
    let mut harness = predicting();
    let before: Vec<(Vec<f32>, Vec<u8>)> = app(&harness)
        .state
        .slices
        .iter()
        .map(|v| (v.slice.values.clone(), v.slice.image.as_raw().clone()))
        .collect();
    {
        let app = app_mut(&mut harness);
        app.state.range /= 4.0;
        app.state.threshold = app.state.range / 5.0;
        app.state.restyle_slices();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        let app = app(&harness);
        assert!(app.state.slices_job.is_none(), "no query for new colours");
        if app.state.restyle_job.is_none() && !app.state.slices_restyle {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slices were never recoloured"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = &app(&harness).state.slices;
    assert_eq!(after.len(), 3);
    for (view, (values, image)) in after.iter().zip(&before) {
        assert_eq!(&view.slice.values, values, "the same values");
        assert_eq!(view.slice.factor, 1);
        assert_ne!(view.slice.image.as_raw(), image, "in the new colours");
    }
}
