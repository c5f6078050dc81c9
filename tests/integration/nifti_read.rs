//! Every NIfTI fixture reads as nibabel reads it (`tests/data/nifti/expected.json`).

use nrf::volume::summary::ImageSummary;
use nrf::volume::{NiftiImage, Volume};
use serde_json::Value;

use crate::support::{assert_matrix_close, data};

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

#[test]
fn every_fixture_matches_nibabel() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(data("nifti/expected.json")).expect("expected.json"),
    )
    .expect("json");
    let files = expected.as_object().expect("object");
    assert!(files.len() >= 7);
    for (name, want) in files {
        let image = NiftiImage::read(data(&format!("nifti/{name}")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = ImageSummary::of(&image);
        let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).expect("shape");
        assert_eq!(got.shape, shape, "{name} shape");
        assert_eq!(
            got.dtype,
            want["dtype"].as_str().expect("dtype"),
            "{name} dtype"
        );
        let affine: [[f64; 4]; 4] = serde_json::from_value(want["affine"].clone()).expect("affine");
        assert_matrix_close(&got.affine, &affine, 4, 1e-5, &format!("{name} affine"));
        let zooms: Vec<f64> = serde_json::from_value(want["zooms"].clone()).expect("zooms");
        assert_eq!(got.zooms.len(), zooms.len(), "{name} zooms");
        for (g, w) in got.zooms.iter().zip(&zooms) {
            assert!(close(*g, *w, 1e-6), "{name} zooms {g} vs {w}");
        }
        for key in ["min", "max", "mean"] {
            let w = want[key].as_f64().expect("number");
            let g = match key {
                "min" => got.min,
                "max" => got.max,
                _ => got.mean,
            }
            .expect("finite values");
            assert!(close(g, w, 1e-6), "{name} {key}: {g} vs {w}");
        }
        // Sample voxels, indexed [i, j, k] or [i, j, k, t].
        let dims = image.spatial_dims();
        for sample in want["samples"].as_array().expect("samples") {
            let index: Vec<usize> = serde_json::from_value(sample["index"].clone()).expect("index");
            let value = sample["value"].as_f64().expect("value");
            let t = index.get(3).copied().unwrap_or(0);
            let flat = index[0] + dims[0] * (index[1] + dims[1] * (index[2] + dims[2] * t));
            assert!(
                close(image.data[flat] as f64, value, 1e-6),
                "{name} voxel {index:?}: {} vs {value}",
                image.data[flat]
            );
        }
    }
}

#[test]
fn a_volume_can_be_picked_from_4d_files() {
    let path = data("nifti/functional.nii");
    let all = NiftiImage::read(&path).expect("read");
    assert_eq!(all.volume_count(), 20);
    let v5 = Volume::read_nifti(&path, 5).expect("volume 5");
    assert_eq!(v5.grid.dims, [17, 21, 3]);
    // Same voxel as expected.json's sample [14, 13, 1, 5].
    assert!((v5.get([14, 13, 1]) as f64 - 3545.210391640663).abs() < 1e-3);
    let err = Volume::read_nifti(&path, 20).expect_err("only 20 volumes");
    let message = err.to_string();
    assert!(
        message.contains("functional.nii") && message.contains("20 volume"),
        "{message}"
    );
}

#[test]
fn the_x_flipped_statmap_maps_voxels_to_mni() {
    // The NeuroVault map has x = -3 mm: voxel 0 lies at x = +78 (right).
    let v = Volume::read_nifti(data("nifti/neurovault_10426_statmap.nii.gz"), 0).expect("read");
    let p = v.grid.point([0, 0, 0]);
    assert_eq!((p.x, p.y, p.z), (78.0, -112.0, -50.0));
    let q = v.grid.point([1, 0, 0]);
    assert_eq!(q.x, 75.0);
}
