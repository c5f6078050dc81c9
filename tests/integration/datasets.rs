//! Dataset readers: the NSD-processed fixture (values checked against numpy/h5py), the plain
//! NIfTI layout, and bad input with clear errors.

use std::path::Path;

use nrf::data::dataset::{Dataset, shared_test_ids};
use nrf::npy;

use crate::support::data;

/// A writable copy of the NSD-processed fixture.
fn nsd_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&data("nsd-processed"), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn nsd_error(root: &Path) -> String {
    Dataset::open_nsd(root, "subj01", "nsdgeneral")
        .expect_err("bad dataset")
        .to_string()
}

#[test]
fn nsd_fixture_reads_with_its_shapes_ids_split_and_coordinates() {
    let dataset = Dataset::open_nsd(data("nsd-processed"), "1", "nsdgeneral").expect("fixture");
    assert_eq!(dataset.subject, "subj01");
    assert_eq!((dataset.rows(), dataset.voxels()), (40, 300));
    assert_eq!(&dataset.image_ids[..4], &[172, 185, 263, 636]);
    assert_eq!(*dataset.image_ids.last().expect("ids"), 1118);
    // validation_idx.npy holds the 8 shared ids (< 1000) out, halved into validation and test by
    // the fixed rule (no test_idx.npy): ids 172, 263, 684 and 922 test (computed independently
    // in Python); the other 32 rows train.
    assert_eq!(dataset.test_rows(), vec![0, 2, 4, 7]);
    assert_eq!(dataset.validation_rows(), vec![1, 3, 5, 6]);
    assert_eq!(dataset.train_rows().len(), 32);
    // Values as numpy reads them.
    assert_eq!(dataset.row(3)[7], -0.160_226_45);
    assert_eq!(dataset.row(39)[299], -0.903_572_56);
    assert_eq!(dataset.coordinates[299].to_array(), [5.4, -57.6, 27.0]);
    assert!(dataset.warnings.is_empty());
    // Images as h5py reads them: pixel sums and two pixels.
    let first = dataset.image(0).expect("image 172");
    assert_eq!((first.width, first.height), (227, 227));
    assert_eq!(
        first.pixels.iter().map(|&v| u64::from(v)).sum::<u64>(),
        12_915_619
    );
    assert_eq!(&first.pixels[..3], &[137, 246, 0]);
    let at = |x: usize, y: usize| &first.pixels[(y * 227 + x) * 3..(y * 227 + x) * 3 + 3];
    assert_eq!(at(50, 100), &[85, 7, 0]);
    let last_train = dataset.image(19).expect("image 1034");
    assert_eq!(
        last_train.pixels.iter().map(|&v| u64::from(v)).sum::<u64>(),
        21_279_661
    );
    // A smaller ROI of the same subject.
    let v1v = Dataset::open_nsd(data("nsd-processed"), "subj01", "V1v").expect("V1v");
    assert_eq!(v1v.voxels(), 75);
}

#[test]
fn nsd_bad_input_gets_clear_errors() {
    let dir = nsd_copy();
    let subject = dir.path().join("roi_response_average/subj01");

    std::fs::remove_file(subject.join("image_order.npy")).expect("rm");
    let message = nsd_error(dir.path());
    assert!(message.contains("image_order.npy"), "{message}");

    let dir = nsd_copy();
    let subject = dir.path().join("roi_response_average/subj01");
    npy::write_array(subject.join("image_order.npy"), &[3], &[172i32, 185, 263]).expect("ids");
    let message = nsd_error(dir.path());
    assert!(
        message.contains("nsdgeneral.npy") && message.contains("3 images"),
        "{message}"
    );

    let dir = nsd_copy();
    let coords = dir
        .path()
        .join("MNI_coordinate/subj01/nsdgeneral_MNI_coordinate.npy");
    npy::write_f32(&coords, &[2, 3], &[0.0; 6]).expect("coords");
    let message = nsd_error(dir.path());
    assert!(
        message.contains("nsdgeneral_MNI_coordinate.npy")
            && message.contains("2 coordinates")
            && message.contains("300 voxels"),
        "{message}"
    );

    let dir = nsd_copy();
    let subject = dir.path().join("roi_response_average/subj01");
    let mut ids: Vec<i32> = npy::read_integers(subject.join("image_order.npy"))
        .expect("ids")
        .1
        .into_iter()
        .map(|v| v as i32)
        .collect();
    ids[5] = 5000;
    npy::write_array(subject.join("image_order.npy"), &[ids.len()], &ids).expect("ids");
    let message = nsd_error(dir.path());
    assert!(
        message.contains("S1_stimuli_227.h5py")
            && message.contains("image id 5000")
            && message.contains("0 to 1118"),
        "{message}"
    );
}

#[test]
fn nsd_nan_voxels_are_dropped_with_a_warning() {
    let dir = nsd_copy();
    let path = dir
        .path()
        .join("roi_response_average/subj01/nsdgeneral.npy");
    let mut responses = npy::read_f32(&path).expect("responses");
    for (row, voxel) in [(0, 10), (5, 10), (7, 20), (39, 299)] {
        responses.data[row * 300 + voxel] = f32::NAN;
    }
    npy::write_f32(&path, &responses.shape, &responses.data).expect("write");
    let dataset = Dataset::open_nsd(dir.path(), "subj01", "nsdgeneral").expect("reads");
    assert_eq!(dataset.voxels(), 297);
    assert_eq!(dataset.responses.len(), 40 * 297);
    assert!(dataset.responses.iter().all(|v| v.is_finite()));
    assert_eq!(dataset.warnings.len(), 1);
    assert!(
        dataset.warnings[0].contains("3 of 300 voxels") && dataset.warnings[0].contains("NaN"),
        "{:?}",
        dataset.warnings
    );
    // The voxel after the first dropped one moved down by one.
    let original = Dataset::open_nsd(data("nsd-processed"), "subj01", "nsdgeneral").expect("ok");
    assert_eq!(dataset.coordinates[10], original.coordinates[11]);
}

/// A plain dataset: 4 volumes on a 3×3×2 grid at 2 mm, 5 mask voxels, 4 PNG images.
fn plain_dataset(dir: &Path, sform_code: nrf::volume::nifti::SpaceCode, split: bool) {
    use glam::DAffine3;
    let affine = DAffine3::from_scale_rotation_translation(
        glam::DVec3::splat(2.0),
        glam::DQuat::IDENTITY,
        glam::DVec3::new(-2.0, -90.0, 0.0),
    );
    let dims = [3usize, 3, 2];
    let per = 18;
    let data: Vec<f32> = (0..4 * per).map(|i| i as f32 * 0.5).collect();
    nrf::volume::nifti::write_float32(
        &dir.join("responses.nii.gz"),
        dims,
        4,
        &affine,
        sform_code,
        &data,
    )
    .expect("responses");
    let mask: Vec<f32> = (0..per)
        .map(|i| {
            if [0, 4, 5, 9, 17].contains(&i) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    nrf::volume::nifti::write_float32(
        &dir.join("mask.nii"),
        dims,
        1,
        &affine,
        nrf::volume::nifti::SpaceCode::Mni152,
        &mask,
    )
    .expect("mask");
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    let mut tsv = String::from(if split {
        "volume\timage\tsplit\n"
    } else {
        "volume\timage\n"
    });
    for v in 0..4u8 {
        let name = format!("images/img{v}.png");
        image::RgbImage::from_pixel(8, 6, image::Rgb([v * 60, 10, 20]))
            .save(dir.join(&name))
            .expect("png");
        let split_field = if split {
            if v == 2 { "\tvalidation" } else { "\ttrain" }
        } else {
            ""
        };
        tsv.push_str(&format!("{v}\t{name}{split_field}\n"));
    }
    std::fs::write(dir.join("images.tsv"), tsv).expect("tsv");
}

#[test]
fn plain_layout_reads_voxels_rows_images_and_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    plain_dataset(dir.path(), nrf::volume::nifti::SpaceCode::Mni152, true);
    let dataset = Dataset::open_plain(dir.path()).expect("plain");
    assert_eq!((dataset.rows(), dataset.voxels()), (4, 5));
    // Voxel 5 of the grid is i=2, j=1, k=0 → (-2 + 4, -90 + 2, 0).
    assert_eq!(dataset.coordinates[2].to_array(), [2.0, -88.0, 0.0]);
    // Volume 3, voxel index 17: value (3 × 18 + 17) × 0.5.
    assert_eq!(dataset.row(3)[4], 35.5);
    assert_eq!(dataset.validation_rows(), vec![2]);
    let image = dataset.image(3).expect("image");
    assert_eq!((image.width, image.height, image.pixels[0]), (8, 6, 180));

    // Without a split column every tenth row validates (none of 4).
    let dir = tempfile::tempdir().expect("tempdir");
    plain_dataset(dir.path(), nrf::volume::nifti::SpaceCode::Mni152, false);
    assert!(
        Dataset::open_plain(dir.path())
            .expect("plain")
            .validation_rows()
            .is_empty()
    );
}

#[test]
fn plain_bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    plain_dataset(dir.path(), nrf::volume::nifti::SpaceCode::ScannerAnat, true);
    let message = Dataset::open_plain(dir.path())
        .expect_err("not MNI")
        .to_string();
    assert!(
        message.contains("responses.nii.gz") && message.contains("not in MNI space"),
        "{message}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    plain_dataset(dir.path(), nrf::volume::nifti::SpaceCode::Mni152, true);
    std::fs::remove_file(dir.path().join("images/img2.png")).expect("rm");
    let message = Dataset::open_plain(dir.path())
        .expect_err("missing image")
        .to_string();
    assert!(
        message.contains("images.tsv")
            && message.contains("line 4")
            && message.contains("img2.png"),
        "{message}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    plain_dataset(dir.path(), nrf::volume::nifti::SpaceCode::Mni152, true);
    std::fs::remove_file(dir.path().join("mask.nii")).expect("rm");
    let message = Dataset::open_plain(dir.path())
        .expect_err("no mask")
        .to_string();
    assert!(message.contains("mask.nii"), "{message}");
}

/// The rule that halves the shared images without a `test_idx.npy`: fixed (the same ids test for
/// every subject and run), exactly half, and documented by its seed.
#[test]
fn the_shared_image_rule_is_fixed_and_halves_the_images() {
    let ids: Vec<i64> = (0..10_000).collect();
    let tests = shared_test_ids(&ids);
    assert_eq!(tests.len(), 5_000);
    assert!(tests.iter().all(|id| ids.contains(id)));
    // Duplicates and order do not matter.
    let mut shuffled: Vec<i64> = ids.iter().rev().copied().collect();
    shuffled.extend(0..100);
    assert_eq!(shared_test_ids(&shuffled), tests);
    // Pinned (computed independently in Python): changing the rule would silently change every
    // reported test score.
    let mut first: Vec<i64> = shared_test_ids(&(0..40).collect::<Vec<_>>())
        .into_iter()
        .collect();
    first.sort_unstable();
    assert_eq!(&first[..6], &[0, 2, 3, 4, 6, 9]);
    assert_eq!(shared_test_ids(&(0..100).collect::<Vec<_>>()).len(), 50);
}

/// A `test_idx.npy` beside `validation_idx.npy` names the test images exactly; ids outside the
/// held-out images are refused, naming the file.
#[test]
fn a_test_index_file_names_the_test_images() {
    let dir = nsd_copy();
    let dataset = Dataset::open_nsd(dir.path(), "1", "nsdgeneral").expect("fixture");
    let shared: Vec<i64> = (0..8).map(|r| i64::from(dataset.image_ids[r])).collect();
    let test_path = dir.path().join("test_idx.npy");
    npy::write_array(&test_path, &[3], &[shared[1], shared[4], shared[7]]).expect("test_idx");
    let dataset = Dataset::open_nsd(dir.path(), "1", "nsdgeneral").expect("with test_idx");
    assert_eq!(dataset.test_rows(), vec![1, 4, 7]);
    assert_eq!(dataset.validation_rows(), vec![0, 2, 3, 5, 6]);
    assert_eq!(dataset.train_rows().len(), 32);
    assert!(
        dataset.split_rule.contains("test_idx.npy"),
        "{}",
        dataset.split_rule
    );

    // A training image's id in test_idx.npy.
    let train_id = i64::from(dataset.image_ids[20]);
    npy::write_array(&test_path, &[2], &[shared[0], train_id]).expect("test_idx");
    let message = nsd_error(dir.path());
    assert!(
        message.contains("test_idx.npy")
            && message.contains(&train_id.to_string())
            && message.contains("validation_idx.npy"),
        "{message}"
    );
}

#[test]
fn the_plain_split_column_takes_test_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    plain_dataset(dir.path(), nrf::volume::nifti::SpaceCode::Mni152, true);
    let tsv = dir.path().join("images.tsv");
    let text = std::fs::read_to_string(&tsv).expect("tsv");
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(n, line)| {
            if n == 4 {
                line.replace("\ttrain", "\ttest")
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(&tsv, lines.join("\n") + "\n").expect("tsv");
    let dataset = Dataset::open_plain(dir.path()).expect("plain");
    assert_eq!(dataset.test_rows(), vec![3]);
    assert_eq!(dataset.validation_rows(), vec![2]);
    assert_eq!(dataset.train_rows(), vec![0, 1]);

    std::fs::write(&tsv, text.replace("\tvalidation", "\tholdout")).expect("tsv");
    let message = Dataset::open_plain(dir.path())
        .expect_err("unknown split")
        .to_string();
    assert!(
        message.contains("images.tsv")
            && message.contains("holdout")
            && message.contains("train, validation or test"),
        "{message}"
    );
}
