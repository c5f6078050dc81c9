//! Volumes and atlases dropped on the window, and what the status bar says under the cursor.

use super::*;

#[test]
fn a_dropped_nifti_map_is_shown_over_the_template_and_a_corrupt_one_is_refused() {
    let mut harness = predicting();
    // A 4 mm map: +3 in a 20 mm ball around the crosshair, 0 elsewhere.
    let centre = app(&harness).state.at.as_vec3();
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("zstat1.nii.gz");
    write_map(
        &map,
        4.0,
        |p| if p.distance(centre) < 20.0 { 3.0 } else { 0.0 },
    );
    drop_file(&mut harness, &map);
    step_until(&mut harness, "the map in the slices", |app| {
        app.state.show_file
            && app.state.slices_job.is_none()
            && !app.state.slices_stale
            && app.state.slices.len() == 3
    });
    let app_now = app(&harness);
    assert_eq!(
        app_now.state.shown_overlay().map(|(v, _)| v),
        app_now.state.file_overlay.as_ref().map(|(_, (v, _))| *v)
    );
    // The slices through the crosshair show the map: 3 inside the ball, nothing far from it.
    for view in &app_now.state.slices {
        let inside: Vec<f32> = view
            .slice
            .values
            .iter()
            .zip(&view.slice.inside)
            .filter_map(|(&v, &i)| i.then_some(v))
            .collect();
        assert!(!inside.is_empty());
        assert!(inside.iter().any(|&v| (v - 3.0).abs() < 1e-3));
        assert!(inside.iter().all(|&v| (0.0..=3.0 + 1e-3).contains(&v)));
    }
    // Unticking it shows the prediction again.
    click(&mut harness, "show zstat1.nii.gz instead");
    assert!(!app(&harness).state.show_file);
    assert_eq!(
        app(&harness).state.shown_overlay().map(|(v, _)| v),
        app(&harness).state.overlay.as_ref().map(|(v, _)| *v)
    );
    // A corrupt NIfTI: a message naming it, the overlay kept.
    let bad = dir.path().join("broken.nii.gz");
    std::fs::write(&bad, b"not gzip at all").expect("write");
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the error", |app| app.state.error.is_some());
    let error = app(&harness).state.error.clone().unwrap_or_default();
    assert!(error.contains("broken.nii.gz"), "{error}");
    assert!(
        app(&harness)
            .state
            .file_overlay
            .as_ref()
            .is_some_and(|(name, _)| name == "zstat1.nii.gz")
    );
}

#[test]
fn the_status_bar_names_the_model_domains_roi_under_the_cursor() {
    let mut harness = predicting();
    // Subject 3's model with its domain labelled: voxels left of the midline are "left ROI".
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model =
        crate::embedded::default_model(3, &burn::tensor::Device::flex()).expect("model");
    let crate::model::Domain::Voxels(domain) = &model.domain else {
        panic!("the embedded models know their voxels");
    };
    let coords = domain.coords_mm().to_vec();
    let members = coords.iter().map(|p| p.x < 0.0).collect();
    model.domain = crate::model::Domain::Voxels(
        crate::model::domain::VoxelDomain::new(
            coords,
            vec![crate::model::domain::Roi {
                name: "left ROI".into(),
                members,
            }],
            Some(domain.reach_mm()),
        )
        .expect("domain"),
    );
    let path = dir.path().join("labelled.nrf");
    model.save(&path).expect("save");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the labelled model's prediction", |app| {
        app.state.model == ModelSlot::Opened(0) && prediction_shown(app)
    });
    // Point into the model's domain on the left of the axial slice (the crosshair's row).
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).state.layout.rects(area)[2].expect("axial view")
    };
    // Scan the left half of the axial view for a point inside the model's domain.
    let mut found = None;
    'scan: for fy in (6..19).map(|k| k as f32 / 20.0) {
        for fx in (2..10).map(|k| k as f32 / 20.0) {
            harness.hover_at(rect.lerp_inside(egui::vec2(fx, fy)));
            harness.step();
            harness.step();
            if let Some((p, Some(_))) = app(&harness).hover
                && p.x < -5.0
            {
                found = Some(p);
                break 'scan;
            }
        }
    }
    let p = found.expect("a point left of the midline inside the domain");
    assert!(p.x < 0.0);
    harness.get_by_label("left ROI");
}

#[test]
fn a_dropped_atlas_names_the_region_under_the_cursor() {
    let mut harness = predicting();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("halves.nii.gz");
    write_map(&path, 4.0, |p| if p.x < 0.0 { 2.0 } else { 1.0 });
    std::fs::write(
        dir.path().join("halves.tsv"),
        "1\tright half\n2\tleft half\n",
    )
    .expect("names");
    drop_file(&mut harness, &path);
    step_until(&mut harness, "the atlas", |app| app.state.atlas.is_some());
    // The overlay is untouched: an atlas names regions, it is not drawn.
    assert!(!app(&harness).state.show_file);
    // Point at the axial slice, a quarter of the way in from its left edge.
    let rect = {
        let central = harness.ctx.content_rect();
        let area = egui::Rect::from_min_max(egui::pos2(260.0, central.min.y), central.max);
        app(&harness).state.layout.rects(area)[2].expect("axial view")
    };
    harness.hover_at(rect.lerp_inside(egui::vec2(0.25, 0.5)));
    harness.step();
    harness.step();
    let (p, _) = app(&harness).hover.expect("a hovered point");
    let region = app(&harness)
        .state
        .atlas
        .as_ref()
        .and_then(|a| a.region_at(p))
        .expect("inside the atlas");
    assert!(p.x < 0.0 && region == "left half", "{p:?}: {region}");
    harness.get_by_label("left half");
}
