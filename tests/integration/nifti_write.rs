//! Writing float32 NIfTI: round trips through our reader and, when available, through nibabel.

use glam::{DAffine3, DQuat, DVec3};
use nrf::space::{BoundingBox, Grid, affine_to_rows};
use nrf::volume::{NiftiImage, SpaceCode, Volume};

use crate::support::{assert_matrix_close, python_with_nibabel, require};

fn sample_volume() -> Volume {
    // An oblique, x-flipped grid so that sform and qform are both exercised.
    let affine = DAffine3::from_scale_rotation_translation(
        DVec3::new(-2.0, 2.5, 3.0),
        DQuat::from_rotation_y(0.2) * DQuat::from_rotation_z(-0.1),
        DVec3::new(80.0, -110.0, -40.0),
    );
    let grid = Grid::new([7, 5, 4], affine);
    let data = (0..grid.len()).map(|n| n as f32 * 0.37 - 3.0).collect();
    Volume::new(grid, data).expect("volume")
}

#[test]
fn write_then_read_gives_the_same_data_and_affine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = sample_volume();
    for name in ["out.nii.gz", "out.nii"] {
        let path = dir.path().join(name);
        original
            .write_nifti(&path, SpaceCode::Mni152)
            .expect("write");
        let image = NiftiImage::read(&path).expect("read back");
        assert_eq!(image.header.sform_code, 4);
        assert_eq!(image.header.qform_code, 4);
        assert_eq!(image.header.datatype.to_string(), "<f4");
        assert_eq!(image.data, original.data, "{name} data");
        let (got, want) = (
            affine_to_rows(&image.affine),
            affine_to_rows(&original.grid.affine),
        );
        assert_matrix_close(&got, &want, 4, 1e-5, &format!("{name} sform"));
        // The qform describes the same rigid geometry.
        let (q, s) = (
            affine_to_rows(&image.header.qform_affine()),
            affine_to_rows(&original.grid.affine),
        );
        assert_matrix_close(&q, &s, 3, 1e-4, &format!("{name} qform"));
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".nrf-write-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_resampled_template_grid_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grid = Grid::over_box(
        &BoundingBox::new(
            DVec3::new(-20.0, -30.0, -10.0),
            DVec3::new(20.0, 10.0, 30.0),
        )
        .expect("box"),
        2.5,
    )
    .expect("grid");
    let volume = nrf::template::on_grid(nrf::template::TemplateImage::T1, &grid).expect("template");
    let path = dir.path().join("t1.nii.gz");
    volume.write_nifti(&path, SpaceCode::Mni152).expect("write");
    let back = Volume::read_nifti(&path, 0).expect("read");
    assert_eq!(back.grid.dims, grid.dims);
    assert_eq!(back.data, volume.data);
}

#[test]
fn written_files_open_in_nibabel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("for_nibabel.nii.gz");
    let original = sample_volume();
    original
        .write_nifti(&path, SpaceCode::Mni152)
        .expect("write");
    let script = r#"
import json, sys
import nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
data = img.get_fdata()
print(json.dumps({
    "shape": list(img.shape),
    "affine": img.affine.tolist(),
    "qform": img.get_qform().tolist(),
    "codes": [int(img.header["sform_code"]), int(img.header["qform_code"])],
    "dtype": img.get_data_dtype().str,
    "first": float(data[0, 0, 0]), "last": float(data[-1, -1, -1]),
    "mid": float(data[3, 2, 1]),
}))
"#;
    let Some(out) = require(
        "written_files_open_in_nibabel",
        python_with_nibabel(script, &[path.to_str().expect("utf-8 path")]),
    ) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json from python");
    assert_eq!(v["shape"], serde_json::json!([7, 5, 4]));
    assert_eq!(v["codes"], serde_json::json!([4, 4]));
    assert_eq!(v["dtype"], "<f4");
    let want = affine_to_rows(&original.grid.affine);
    for key in ["affine", "qform"] {
        let got: [[f64; 4]; 4] = serde_json::from_value(v[key].clone()).expect("matrix");
        assert_matrix_close(&got, &want, 4, 1e-4, &format!("nibabel {key}"));
    }
    assert_eq!(v["first"].as_f64(), Some(original.get([0, 0, 0]) as f64));
    assert_eq!(v["last"].as_f64(), Some(original.get([6, 4, 3]) as f64));
    assert_eq!(v["mid"].as_f64(), Some(original.get([3, 2, 1]) as f64));
}
