//! The direct CPU path of queries (`query/cpu_kernel.rs`) against burn's op-by-op query on
//! random models: every width from 1 to 4096, with and without `latent_in`, point counts that
//! do not fill a block, means and contrasts of several images, one thread and many.

use std::sync::Arc;

use burn::tensor::Device;
use glam::Vec3;
use nrf::features::ImageFeatures;
use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet};
use nrf::query::{ImageQuery, QueryEngine};

fn random_model(hidden: usize, layers: usize, latent_in: Vec<usize>, seed: u64) -> Nrf {
    let config = crate::support::small_feature_config(hidden, layers, latent_in);
    config.validate().expect("a valid config");
    Nrf {
        net: NrfNet::init_seeded(&config, seed, &Device::flex()).expect("init"),
        config,
        info: ModelInfo::default(),
        domain: Domain::Unknown,
        source: None,
    }
}

fn features(config: &NrfConfig, k: f32) -> ImageFeatures {
    let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<_>>();
    ImageFeatures::new(
        wave(2 * config.patches() * config.token_dim, 0.37 * k),
        config.patches(),
        config.token_dim,
        wave(config.global_dim, 0.91 * k),
    )
    .expect("features")
}

/// Points over the brain's box, `n` of them.
fn points(n: usize) -> Vec<Vec3> {
    (0..n)
        .map(|i| {
            let t = i as f32;
            Vec3::new(
                -70.0 + (t * 37.3) % 140.0,
                -100.0 + (t * 53.1) % 160.0,
                -40.0 + (t * 17.9) % 110.0,
            )
        })
        .collect()
}

/// One image, the mean of three, and image − mean, on an engine.
fn queries(model: &Nrf, engine: &Arc<QueryEngine>) -> Vec<ImageQuery> {
    let images: Vec<ImageFeatures> = (1..=3).map(|k| features(&model.config, k as f32)).collect();
    let prepared = engine.prepare_batch(model, &images).expect("prepare");
    let mean = ImageQuery::mean(&prepared).expect("mean");
    let contrast = prepared[0].clone().minus(&mean).expect("contrast");
    vec![prepared[0].clone(), mean, contrast]
}

fn worst_gap(want: &[f32], got: &[f32]) -> f32 {
    assert_eq!(want.len(), got.len());
    want.iter()
        .zip(got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_direct_cpu_path_equals_burn_at_every_width_and_thread_count() {
    for (hidden, layers, latent_in, count) in [
        (1, 2, vec![], 1),
        (7, 3, vec![], 37),
        (64, 4, vec![], 1031),
        (128, 4, vec![], 5000),
        (256, 6, vec![3], 777),
        (1024, 4, vec![2], 65),
        (4096, 3, vec![], 9),
    ] {
        let model = random_model(hidden, layers, latent_in.clone(), hidden as u64);
        let pts = points(count);
        let direct = QueryEngine::new(&model);
        assert!(direct.direct_cpu_path(), "width {hidden}");
        let reference = QueryEngine::burn_only(&model);
        assert!(!reference.direct_cpu_path());
        // Relative to the size of one image's values (a contrast's differences cancel).
        let single = queries(&model, &reference)[0]
            .query_points(&pts)
            .expect("burn");
        let scale = single.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (which, (fast, slow)) in ["one image", "a mean", "a contrast"].iter().zip(
            queries(&model, &direct)
                .into_iter()
                .zip(queries(&model, &reference)),
        ) {
            let want = slow.query_points(&pts).expect("burn");
            let got = fast.query_points(&pts).expect("direct");
            let worst = worst_gap(&want, &got);
            assert!(
                worst <= 1e-5 * scale,
                "width {hidden} × {layers}, latent_in {latent_in:?}, {which}: the direct path \
                 differs from burn by {worst} (one image's values up to {scale})"
            );
            // The same on one thread: blocks do not depend on the thread count.
            let one_thread = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("pool")
                .install(|| fast.query_points(&pts).expect("one thread"));
            assert_eq!(
                one_thread, got,
                "width {hidden}, {which}: one thread vs many"
            );
        }
    }
}

#[test]
fn the_direct_cpu_path_cancels_and_refuses_non_finite_points() {
    let model = random_model(64, 4, vec![], 5);
    let engine = QueryEngine::new(&model);
    let query = engine
        .prepare(&model, &features(&model.config, 1.0))
        .expect("prepare");
    let pts = points(200_000);
    let mut calls = 0;
    let cancelled = query.query_points_with_progress(&pts, &mut |_, _| {
        calls += 1;
        false
    });
    assert!(matches!(cancelled, Err(nrf::query::QueryError::Cancelled)));
    assert_eq!(calls, 1);
    let mut bad = points(3);
    bad[1].y = f32::NAN;
    assert!(query.query_points(&bad).is_err());
}

/// Several queries at the same points together ([`ImageQuery::query_each`]): the direct path
/// encodes each block once for all of them, and splits the queries between threads when the
/// points are too few to give every thread a block. Each row must equal that query alone (the
/// same arithmetic in the same order), on one thread or many, and burn's rows within 1e-5.
#[test]
fn queries_of_a_set_together_equal_each_query_alone() {
    for (hidden, layers, latent_in, count, images) in [
        (64, 4, vec![], 1031, 5),
        (128, 4, vec![], 3000, 9),
        (128, 5, vec![2], 17, 7),
        (16, 3, vec![], 1, 3),
        (8, 2, vec![], 0, 2),
    ] {
        let model = random_model(hidden, layers, latent_in.clone(), 11 + hidden as u64);
        let pts = points(count);
        let set: Vec<ImageFeatures> = (1..=images)
            .map(|k| features(&model.config, k as f32 * 0.7))
            .collect();
        let direct = QueryEngine::new(&model);
        let prepared = direct.prepare_batch(&model, &set).expect("prepare");
        // Means and contrasts are rows too.
        let mut rows = prepared.clone();
        rows.push(ImageQuery::mean(&prepared).expect("mean"));
        rows.push(
            prepared[0]
                .clone()
                .minus(&rows[rows.len() - 1])
                .expect("contrast"),
        );
        let mut reports = Vec::new();
        let together = ImageQuery::query_each(&rows, &pts, &mut |done, total| {
            reports.push((done, total));
            true
        })
        .expect("together");
        assert_eq!(together.len(), rows.len() * count);
        if count > 0 {
            assert_eq!(
                reports.last(),
                Some(&(rows.len() * count, rows.len() * count))
            );
        }
        for (i, query) in rows.iter().enumerate() {
            let alone = query.query_points(&pts).expect("alone");
            assert_eq!(
                &together[i * count..(i + 1) * count],
                &alone[..],
                "width {hidden}, {count} points, row {i}: together vs alone"
            );
        }
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool")
            .install(|| ImageQuery::query_each(&rows, &pts, &mut |_, _| true).expect("1 thread"));
        assert_eq!(one_thread, together, "width {hidden}: one thread vs many");
        let reference = QueryEngine::burn_only(&model);
        let slow = reference.prepare_batch(&model, &set).expect("prepare");
        let want = ImageQuery::query_each(&slow, &pts, &mut |_, _| true).expect("burn");
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = worst_gap(&want, &together[..images * count]);
        assert!(
            worst <= 1e-5 * scale,
            "width {hidden}: the set together differs from burn by {worst} (values up to {scale})"
        );
    }
}

#[test]
fn queries_of_a_set_cancel_and_refuse_non_finite_points() {
    let model = random_model(64, 4, vec![], 5);
    let engine = QueryEngine::new(&model);
    let set: Vec<ImageFeatures> = (1..=4).map(|k| features(&model.config, k as f32)).collect();
    let rows = engine.prepare_batch(&model, &set).expect("prepare");
    let mut calls = 0;
    let cancelled = ImageQuery::query_each(&rows, &points(100_000), &mut |_, _| {
        calls += 1;
        false
    });
    assert!(matches!(cancelled, Err(nrf::query::QueryError::Cancelled)));
    assert_eq!(calls, 1);
    let mut bad = points(3);
    bad[2].z = f32::INFINITY;
    assert!(ImageQuery::query_each(&rows, &bad, &mut |_, _| true).is_err());
    assert!(
        ImageQuery::query_each(&[], &points(3), &mut |_, _| true)
            .expect("no queries")
            .is_empty()
    );
}
