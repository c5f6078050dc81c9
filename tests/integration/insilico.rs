//! Questions asked of the embedded model of virtual subject 1, checked against its simulator:
//! the face − place localiser finds the FFA-like area, the images that drive it are faces, the
//! pRF probes recover the simulator's retinotopy, the baseline subtracts exactly the set mean,
//! and bad inputs get clear errors.

use std::process::Command;
use std::sync::Arc;

use glam::Vec3;

use nrf::data::virtual_subjects::{Area, VirtualSubject};
use nrf::embedded::{SIMULATION_SEED, default_model};
use nrf::features::builtin::BuiltinExtractor;
use nrf::insilico::image_set::SetSpec;
use nrf::insilico::localizer::{peaks, welch_contrast};
use nrf::insilico::prf::{PreparedProbes, PrfProbes, fit_prf, simulator_prf, truth_responses};
use nrf::insilico::set_prediction::{GridPoints, SetFeatures, extract_set, predict_set};
use nrf::insilico::top_images::rank_images;
use nrf::model::Nrf;
use nrf::query::{ImageQuery, QueryEngine, Region};
use nrf::space::Grid;

fn subject_one() -> (Nrf, Arc<QueryEngine>) {
    let model = default_model(1, &burn::tensor::Device::flex()).expect("embedded model");
    let engine = QueryEngine::new(&model);
    (model, engine)
}

fn features(spec: &str) -> SetFeatures {
    let spec = SetSpec::parse(spec).expect("set");
    extract_set(
        &spec.label(),
        spec.items().expect("items"),
        &BuiltinExtractor,
        None,
        &mut |_, _| true,
    )
    .expect("features")
}

#[test]
fn face_minus_place_peaks_near_the_ffa_and_the_faces_drive_the_peak() {
    let (model, engine) = subject_one();
    let grid = Grid::mni(3.0).expect("grid");
    let at = GridPoints::new(&model.domain, &grid, Region::Domain).expect("grid points");
    let faces = predict_set(
        &model,
        &engine,
        &features("face:20"),
        &at.points,
        &mut |_, _| true,
    )
    .expect("faces");
    let places = predict_set(
        &model,
        &engine,
        &features("place:20"),
        &at.points,
        &mut |_, _| true,
    )
    .expect("places");
    let map = welch_contrast(&faces, &places).expect("contrast");
    let found = peaks(&map.t, &at, 1.0, 3, 10.0, &model.domain).expect("peaks");
    let peak = Vec3::from_array(found[0].position_mm);
    assert!(found[0].value > 5.0, "{found:?}");

    // Near the subject's FFA-like blob (its centre mirrored into the peak's hemisphere), ventral
    // temporal, and not early visual cortex.
    let truth = VirtualSubject::new(SIMULATION_SEED, 1).expect("subject");
    let ffa = truth
        .blobs
        .iter()
        .find(|b| b.area == Area::Ffa)
        .expect("FFA blob");
    let centre = Vec3::new(
        ffa.centre[0] * peak.x.signum(),
        ffa.centre[1],
        ffa.centre[2],
    );
    assert!(peak.distance(centre) < 15.0, "peak {peak} vs FFA {centre}");
    assert!(peak.z < 0.0 && (-75.0..-35.0).contains(&peak.y), "{peak}");
    let label = truth.point_model(peak).label(0.3);
    assert!(
        !matches!(label, Some(Area::V1 | Area::V2 | Area::V3)),
        "{label:?} at {peak}"
    );

    // The images that raise the peak most are mostly faces.
    let library = features("library:140");
    let at_peak = predict_set(&model, &engine, &library, &[peak], &mut |_, _| true).expect("top");
    let ranking = rank_images(&at_peak, 5).expect("ranking");
    let faces_on_top = ranking
        .top
        .iter()
        .filter(|r| r.name.ends_with("_face"))
        .count();
    assert!(faces_on_top >= 3, "{:?}", ranking.top);
}

#[test]
fn the_probes_recover_the_simulators_v1_retinotopy() {
    // Left-hemisphere V1 along the calcarine, from the pole forwards: eccentricity grows.
    let truth = VirtualSubject::new(SIMULATION_SEED, 1).expect("subject");
    let probes = PrfProbes::standard();
    let mut eccentricities = Vec::new();
    for y in [-94.0, -86.0, -79.0] {
        let point = Vec3::new(-9.0, y, 6.0);
        let simulator = simulator_prf(&truth, point).expect("a visual area");
        assert_eq!(simulator.area, "V1", "{point}");
        let fit = fit_prf(&probes, &truth_responses(&probes, &truth, &[point]))
            .expect("fit")
            .expect("a pRF");
        assert!(fit.r2 > 0.8, "{fit:?}");
        assert!(
            fit.centre_deg[0] > 0.0,
            "left V1 sees the right field: {fit:?}"
        );
        assert!(
            (fit.eccentricity_deg - simulator.eccentricity_deg).abs() < 0.3,
            "{fit:?} vs {simulator:?}"
        );
        eccentricities.push(fit.eccentricity_deg);
    }
    assert!(
        eccentricities.windows(2).all(|w| w[1] > w[0]),
        "{eccentricities:?}"
    );
}

/// The embedded model's own pRFs follow the simulator's V1 retinotopy: near the pole they lie
/// near fixation; further forward along the left calcarine they lie in the right visual field,
/// away from fixation. (Probed on a low-contrast pedestal of the same texture: a lone patch on
/// flat grey drives image-wide feature statistics out of range and the fit lands on the centre
/// whatever the point.)
#[test]
fn the_embedded_models_prfs_follow_v1_retinotopy() {
    let (model, engine) = subject_one();
    let truth = VirtualSubject::new(SIMULATION_SEED, 1).expect("subject");
    let prepared = PreparedProbes::new(
        Arc::new(PrfProbes::standard()),
        &model,
        &engine,
        &BuiltinExtractor,
        None,
    )
    .expect("probes");
    let fit_at = |point: Vec3| {
        fit_prf(
            prepared.probes(),
            &prepared.responses_at(&[point]).expect("responses"),
        )
        .expect("fit")
        .expect("a pRF")
    };
    let near_pole = fit_at(Vec3::new(-9.0, -80.0, 6.0));
    assert!(near_pole.eccentricity_deg < 1.0, "{near_pole:?}");
    for point in [Vec3::new(-10.0, -58.0, 6.0), Vec3::new(-6.0, -64.0, 4.0)] {
        let simulator = simulator_prf(&truth, point).expect("a visual area");
        assert_eq!(simulator.area, "V1", "{point}");
        assert!(simulator.eccentricity_deg > 2.5, "{simulator:?}");
        let fit = fit_at(point);
        assert!(fit.r2 > 0.5, "{point}: {fit:?}");
        assert!(
            fit.centre_deg[0] > 1.0,
            "{point}: left V1 sees the right field: {fit:?}"
        );
        assert!(
            fit.eccentricity_deg > near_pole.eccentricity_deg + 1.5,
            "{point}: {fit:?} vs near the pole {near_pole:?}"
        );
    }
}

#[test]
fn the_baseline_subtracts_exactly_the_set_mean() {
    let (model, engine) = subject_one();
    let points = [Vec3::new(-40.0, -60.0, -20.0), Vec3::new(10.0, -90.0, 0.0)];
    let images = features("body:3");
    let reference = features("library:7");
    let relative = predict_set(&model, &engine, &images, &points, &mut |_, _| true)
        .expect("images")
        .minus(
            &predict_set(&model, &engine, &reference, &points, &mut |_, _| true)
                .expect("reference")
                .mean(),
        )
        .expect("minus");
    // The same through the query layer: image − mean(reference) as one contrast query.
    let reference_queries = engine
        .prepare_batch(&model, &reference.features)
        .expect("reference queries");
    let mean = ImageQuery::mean(&reference_queries).expect("mean");
    for (i, query) in engine
        .prepare_batch(&model, &images.features)
        .expect("queries")
        .into_iter()
        .enumerate()
    {
        let expected = query
            .minus(&mean)
            .expect("contrast")
            .query_points(&points)
            .expect("values");
        for (got, want) in relative.image(i).iter().zip(&expected) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}

fn nrf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nrf"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("nrf-insilico-test-cache"),
        )
        .output()
        .expect("run nrf")
}

/// Runs nrf and asserts that it succeeded (its stderr otherwise).
fn succeeds(args: &[&str]) -> std::process::Output {
    let out = nrf(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fails_with(args: &[&str], words: &[&str]) {
    let out = nrf(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    crate::support::assert_mentions(&stderr, words);
}

#[test]
fn bad_questions_get_clear_errors() {
    let empty = tempfile::tempdir().expect("dir");
    let empty_path = empty.path().to_str().expect("utf-8");
    fails_with(
        &[
            "top",
            "--point",
            "-40,-60,-20",
            "--images",
            empty_path,
            "--device",
            "cpu",
        ],
        &["no image files", empty_path],
    );
    fails_with(
        &[
            "top", "--point", "0,0,120", "--images", "face:3", "--device", "cpu",
        ],
        &["outside the MNI brain"],
    );
    fails_with(
        &[
            "top",
            "--point",
            "-40,-60,-20",
            "--k",
            "0",
            "--device",
            "cpu",
        ],
        &["at least 1"],
    );
    fails_with(
        &["localizer", "--a", "dogs:3", "--b", "place:3"],
        &["not an image set", "face"],
    );
    fails_with(
        &[
            "localizer",
            "--a",
            "face:1",
            "--b",
            "place:3",
            "--grid",
            "6",
            "--device",
            "cpu",
        ],
        &["at least 2"],
    );
    fails_with(
        &["top", "--roi", "MT", "--device", "cpu"],
        &["no ROI", "FFA"],
    );
    // A grid that cannot fit in memory is refused up front with what it needs (0.1 mm over
    // the whole MNI box: 7 × 10⁹ voxels), not attempted.
    let image = empty.path().join("grey.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([128, 128, 128]))
        .save(&image)
        .expect("save");
    let out = empty.path().join("never-written.nii");
    fails_with(
        &[
            "predict",
            "--image",
            image.to_str().expect("utf-8"),
            "--grid",
            "0.1",
            "--region",
            "all",
            "--out",
            out.to_str().expect("utf-8"),
            "--device",
            "cpu",
        ],
        &["needs about", "GB of memory", "coarser --grid"],
    );
    assert!(!out.exists());
}

#[test]
fn unreadable_images_in_a_set_are_skipped_and_named() {
    let dir = tempfile::tempdir().expect("dir");
    for (name, category) in [
        ("a_face.png", nrf::data::stimuli::Category::Face),
        ("b_face.png", nrf::data::stimuli::Category::Face),
    ] {
        let image = nrf::data::stimuli::generate(3, name.len() as u64, category);
        image::RgbImage::from_raw(image.width, image.height, image.pixels)
            .expect("buffer")
            .save(dir.path().join(name))
            .expect("save");
    }
    std::fs::write(dir.path().join("broken.jpg"), b"not a jpeg").expect("write");
    let out = succeeds(&[
        "top",
        "--point",
        "-40,-60,-20",
        "--images",
        dir.path().to_str().expect("utf-8"),
        "--k",
        "1",
        "--json",
        "--device",
        "cpu",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped broken.jpg"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ranked"], 2);
    assert_eq!(v["skipped"], 1);
    assert_eq!(v["top"].as_array().expect("top").len(), 1);
}

#[test]
fn prf_and_localizer_report_json_and_files() {
    let dir = tempfile::tempdir().expect("dir");
    let png = dir.path().join("prf.png");
    let out = succeeds(&[
        "prf",
        "--point",
        "-9,-86,6",
        "--json",
        "--out",
        png.to_str().expect("utf-8"),
        "--device",
        "cpu",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["fit"]["sigma_deg"].as_f64().expect("sigma") > 0.0);
    assert_eq!(v["truth"]["simulator"]["area"], "V1");
    assert!(v["truth"]["probed"]["centre_deg"][0].as_f64().expect("x") > 0.0);
    assert!(image::open(&png).is_ok());

    let map = dir.path().join("t.nii.gz");
    let out = succeeds(&[
        "localizer",
        "--a",
        "face:4",
        "--b",
        "place:4",
        "--grid",
        "6",
        "--json",
        "--out",
        map.to_str().expect("utf-8"),
        "--device",
        "cpu",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["a"]["images"], 4);
    assert!(v["peak"]["t"].as_f64().expect("t") > 0.0);
    assert_eq!(
        v["peak"]["position_mm"].as_array().expect("position").len(),
        3
    );
    let volume = nrf::volume::Volume::read_nifti(&map, 0).expect("t map");
    assert_eq!(volume.grid.spacing_mm().x.abs(), 6.0);

    // ROI means per category, as CSV: one row per category, one column per area.
    let csv = dir.path().join("roi.csv");
    succeeds(&[
        "roi",
        "--images",
        "library:14",
        "--by-category",
        "--csv",
        csv.to_str().expect("utf-8"),
        "--device",
        "cpu",
    ]);
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    assert!(header.starts_with("label,images,V1,"), "{header}");
    assert!(header.contains("FFA"), "{header}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 7, "{text}");
    assert!(rows.iter().any(|r| r.starts_with("face,2,")), "{text}");
}

#[test]
fn an_ensemble_predicts_its_combination_and_the_spread_of_its_members() {
    use nrf::model::Domain;
    use nrf::train::ensemble::{Ensemble, EnsembleModel};
    let device = burn::tensor::Device::flex();
    let members: Vec<Nrf> = [1, 2]
        .iter()
        .map(|&k| default_model(k, &device).expect("model"))
        .collect();
    let Domain::Voxels(voxels) = members[0].domain.clone() else {
        panic!("the embedded model has a domain");
    };
    let count = voxels.coords_mm().len();
    let ensemble = EnsembleModel {
        combination: Ensemble {
            members: 2,
            weights: (0..count).flat_map(|_| [0.5, 0.5, 0.0]).collect(),
        },
        voxels,
        info: members[0].info.clone(),
        members,
    };
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ensemble.nrf");
    ensemble.save(&file).expect("save");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
    let image = dir.path().join("face.png");
    image::RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels.clone())
        .expect("buffer")
        .save(&image)
        .expect("save");
    let points = [Vec3::new(-40.0, -60.0, -20.0), Vec3::new(10.0, -90.0, 0.0)];
    let points_file = dir.path().join("points.npy");
    nrf::npy::write_f32(
        &points_file,
        &[2, 3],
        &points.iter().flat_map(|p| p.to_array()).collect::<Vec<_>>(),
    )
    .expect("points");
    let (mean_out, spread_out) = (dir.path().join("mean.npy"), dir.path().join("sd.npy"));
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    succeeds(&[
        "predict",
        "--model",
        &path(&file),
        "--image",
        &path(&image),
        "--points",
        &path(&points_file),
        "--out",
        &path(&mean_out),
        "--spread",
        &path(&spread_out),
        "--device",
        "cpu",
    ]);
    // Each member by itself, through the query layer.
    let features =
        nrf::features::FeatureExtractor::extract(&BuiltinExtractor, &rgb).expect("features");
    let each: Vec<Vec<f32>> = ensemble
        .members
        .iter()
        .map(|m| {
            QueryEngine::new(m)
                .prepare(m, &features)
                .expect("prepare")
                .query_points(&points)
                .expect("query")
        })
        .collect();
    let (_, mean) = crate::support::read_npy_f32(&mean_out);
    let (shape, spread) = crate::support::read_npy_f32(&spread_out);
    assert_eq!(shape, [1, 2]);
    for p in 0..2 {
        let (a, b) = (each[0][p], each[1][p]);
        assert!(
            (mean[p] - 0.5 * (a + b)).abs() < 1e-5,
            "{} vs {}",
            mean[p],
            0.5 * (a + b)
        );
        // The standard deviation of two values: |a − b| / √2.
        assert!((spread[p] - (a - b).abs() / 2f32.sqrt()).abs() < 1e-5);
    }
    // A single model has no spread to give.
    let out = nrf(&[
        "predict",
        "--image",
        &path(&image),
        "--points",
        &path(&points_file),
        "--out",
        &path(&mean_out),
        "--spread",
        &path(&spread_out),
        "--device",
        "cpu",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ensemble"));
}
