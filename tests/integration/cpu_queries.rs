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
    let config = NrfConfig::new()
        .with_token_dim(8)
        .with_patches_per_side(2)
        .with_token_proj_dim(4)
        .with_merged_dim(8)
        .with_global_dim(6)
        .with_hidden(hidden)
        .with_num_layers(layers)
        .with_latent_in(latent_in);
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
