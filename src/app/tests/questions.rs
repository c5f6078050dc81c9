//! The Ask panel: a localiser whose t map the views show and whose peaks move the crosshair,
//! the images that drive a point (a click shows one), the pRF following the crosshair with the
//! truth's beside it, and the ROI means; answers stay with the model they came from.

use super::*;

#[test]
fn the_ask_panel_localises_ranks_maps_the_prf_and_summarises_rois() {
    let mut harness = predicting();
    click(&mut harness, "Ask the model");
    {
        let questions = &mut app_mut(&mut harness).state.questions;
        questions.a_set = "face:6".into();
        questions.b_set = "place:6".into();
        questions.top_set = "library:21".into();
    }
    click(&mut harness, "Run localiser");
    step_until(&mut harness, "the localiser's t map in the views", |app| {
        app.state.localizer_shown().is_some()
            && app.state.slices_job.is_none()
            && !app.state.slices_stale
            && app.state.slices.len() == 3
    });
    let state = &app(&harness).state;
    let shown = state.localizer_shown().expect("localiser");
    assert_eq!(
        state.shown_overlay().map(|(v, _)| v),
        Some(shown.overlay.0),
        "the views show the t map"
    );
    assert!(
        state.shown_name().contains("localiser t face:6"),
        "{}",
        state.shown_name()
    );
    let peak = glam::Vec3::from_array(shown.answer.peaks[0].position_mm);

    // A peak moves the crosshair; the images that drive it are ranked there.
    click(&mut harness, "A > B peak 1");
    assert_eq!(app(&harness).state.at.as_vec3(), peak);
    click(&mut harness, "Rank at the crosshair");
    step_until(&mut harness, "the ranked images", |app| {
        app.state.questions.top.is_some()
    });
    let top = app(&harness).state.questions.top.as_ref().expect("top");
    assert_eq!(
        top.answer.place,
        crate::session::questions::Place::Sphere {
            centre: peak,
            radius_mm: 2.0
        }
    );
    assert_eq!(
        top.thumbnails.len(),
        10,
        "five that raise it, five that lower it"
    );
    let first = top.answer.ranking.top[0].name.clone();

    // The same question over an ROI of the model's domain: faces drive the FFA-like area.
    app_mut(&mut harness).state.questions.top_roi = Some("FFA".into());
    harness.step();
    click(&mut harness, "Rank in FFA");
    step_until(&mut harness, "the ranking in FFA", |app| {
        app.state
            .questions
            .top
            .as_ref()
            .is_some_and(|t| t.answer.place == crate::session::questions::Place::Roi("FFA".into()))
    });
    let in_ffa = app(&harness).state.questions.top.as_ref().expect("top");
    let faces = in_ffa
        .answer
        .ranking
        .top
        .iter()
        .filter(|r| r.name.contains("face"))
        .count();
    assert!(faces >= 3, "{:?}", in_ffa.answer.ranking.top);
    assert!(in_ffa.thumbnails.len() == 10);
    app_mut(&mut harness).state.questions.top_roi = None;
    harness.step();
    click(&mut harness, "Rank at the crosshair");
    step_until(&mut harness, "the ranking at the peak again", |app| {
        app.state.questions.top.as_ref().is_some_and(|t| {
            matches!(
                t.answer.place,
                crate::session::questions::Place::Sphere { .. }
            )
        })
    });
    let top = app(&harness).state.questions.top.as_ref().expect("top");
    assert_eq!(
        top.answer.ranking.top[0].name, first,
        "the same ranking as before"
    );
    click(&mut harness, &format!("ranked image {first}"));
    assert_eq!(
        app(&harness).state.image.as_ref().map(|i| i.name.as_str()),
        Some(first.as_str())
    );

    // The pRF follows the crosshair, with the simulator's beside it.
    click(&mut harness, "receptive field at the crosshair");
    let v1 = glam::Vec3::new(-9.0, -86.0, 6.0);
    app_mut(&mut harness).state.move_crosshair(v1);
    step_until(&mut harness, "the pRF at the new crosshair", |app| {
        app.state
            .questions
            .prf
            .as_ref()
            .is_some_and(|p| p.answer.point == v1)
    });
    let prf = app(&harness).state.questions.prf.as_ref().expect("pRF");
    assert!(prf.picture.is_some());
    assert_eq!(
        prf.answer.truth.as_ref().map(|t| t.area.as_str()),
        Some("V1")
    );

    // The ROI means of the image shown.
    click(&mut harness, "bar chart for the image shown");
    step_until(&mut harness, "the ROI means", |app| {
        app.state.questions.roi.is_some()
    });
    let (_, image, summary) = app(&harness)
        .state
        .questions
        .roi
        .clone()
        .expect("ROI means");
    assert_eq!(
        Some(image),
        app(&harness).state.image.as_ref().map(|i| i.name.clone())
    );
    assert!(
        summary.rois.iter().any(|r| r == "FFA"),
        "{:?}",
        summary.rois
    );

    // Another model: the localiser's map is not shown under its name.
    let ctx = harness.ctx.clone();
    app_mut(&mut harness)
        .state
        .select_model(ModelSlot::Embedded(2), &ctx);
    harness.step();
    assert!(app(&harness).state.localizer_shown().is_none());
    assert!(!app(&harness).state.shown_name().contains("localiser"));
}

#[test]
fn a_bad_set_says_what_a_set_is() {
    let mut harness = predicting();
    click(&mut harness, "Ask the model");
    app_mut(&mut harness).state.questions.a_set = "dogs:3".into();
    click(&mut harness, "Run localiser");
    let error = app(&harness).state.error.clone().unwrap_or_default();
    assert!(error.contains("not an image set"), "{error}");
    assert!(app(&harness).state.questions.localizer_job.is_none());
}

#[test]
fn relative_to_the_average_image_subtracts_exactly_the_reference_mean() {
    use crate::insilico::image_set::SetSpec;
    use crate::session::jobs::{self, Cancel, ModelSource, PredictionRequest};
    let mut harness = predicting();
    click(&mut harness, "Ask the model");
    click(&mut harness, "relative to the average image");
    step_until(
        &mut harness,
        "the prediction relative to the average",
        |app| app.state.relative_to_average && prediction_shown(app),
    );
    let state = &app(&harness).state;
    assert!(state.shown_name().contains("relative to the average image"));
    let shown = state.query.clone().expect("query");
    let image = state.image.as_ref().expect("image").rgb.clone();
    assert_eq!(
        jobs::average_image_set(),
        SetSpec::parse("library:14").expect("set")
    );
    let reference: Vec<_> = jobs::average_image_set()
        .items()
        .expect("items")
        .iter()
        .map(|item| item.load().expect("image"))
        .collect();
    assert_eq!(reference.len(), 14);
    let expected = jobs::prepare_query(
        PredictionRequest {
            model: ModelSource::Embedded(1),
            images: vec![image],
            baseline: reference,
            relative_to: None,
            ensemble_shows: Default::default(),
            device: burn::tensor::Device::flex(),
        },
        &Cancel::default(),
    )
    .expect("image minus the reference mean");
    let points = [
        glam::Vec3::new(-40.0, -60.0, -20.0),
        glam::Vec3::new(10.0, -90.0, 0.0),
    ];
    let got = shown.query_points(&points).expect("shown");
    let want = expected.query.query_points(&points).expect("expected");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
}
