//! Bad NIfTI input: each case gives a clear error naming the file and what was wrong, no panic.

use std::io::Read;
use std::path::Path;

use nrf::volume::NiftiImage;

use crate::support::{assert_mentions, data};

/// The uncompressed bytes of a small valid NIfTI-1 file (4×5×7 uint8, sform code 2).
fn valid_nifti() -> Vec<u8> {
    let gz = std::fs::read(data("nifti/standard.nii.gz")).expect("fixture");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut bytes)
        .expect("gunzip");
    bytes
}

fn patched(at: usize, new: &[u8]) -> Vec<u8> {
    let mut bytes = valid_nifti();
    bytes[at..at + new.len()].copy_from_slice(new);
    bytes
}

/// Writes `bytes` to `name` in a fresh directory, reads it, and returns the error message.
fn error_for(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    let message = NiftiImage::read(&path)
        .expect_err("bad input must be refused")
        .to_string();
    assert!(
        message.contains(name),
        "error does not name the file: {message}"
    );
    message
}

#[test]
fn the_valid_base_file_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ok.nii");
    std::fs::write(&path, valid_nifti()).expect("write");
    assert_eq!(
        NiftiImage::read(&path).expect("valid").header.shape,
        vec![4, 5, 7]
    );
}

#[test]
fn missing_file() {
    let message = NiftiImage::read(Path::new("/nonexistent/dir/brain.nii.gz"))
        .expect_err("missing")
        .to_string();
    assert_mentions(&message, &["/nonexistent/dir/brain.nii.gz", "cannot open"]);
}

#[test]
fn empty_file() {
    assert_mentions(&error_for("empty.nii", &[]), &["empty"]);
}

#[test]
fn not_a_nifti_header() {
    let message = error_for(
        "text.nii",
        b"this is not a brain image at all, just some text....",
    );
    assert_mentions(&message, &["not a NIfTI file", "348", "540"]);
}

#[test]
fn wrong_magic() {
    let message = error_for("magic.nii", &patched(344, b"abc\0"));
    assert_mentions(&message, &["magic", "n+1"]);
}

#[test]
fn truncated_header() {
    let message = error_for("short.nii", &valid_nifti()[..200]);
    assert_mentions(&message, &["348-byte"]);
}

#[test]
fn truncated_gzip() {
    let gz = std::fs::read(data("nifti/neurovault_10426_statmap.nii.gz")).expect("fixture");
    let message = error_for("cut.nii.gz", &gz[..gz.len() / 2]);
    assert_mentions(&message, &["truncated"]);
}

#[test]
fn dims_that_disagree_with_the_data() {
    // dim[1] = 40 instead of 4: ten times more voxels than the file holds.
    let message = error_for("dims.nii", &patched(42, &40i16.to_le_bytes()));
    assert_mentions(&message, &["[40, 5, 7]", "1400 bytes", "only 140"]);
}

#[test]
fn bad_dimension_count() {
    let message = error_for("ndim.nii", &patched(40, &9i16.to_le_bytes()));
    assert_mentions(&message, &["dim[0] = 9"]);
}

#[test]
fn unsupported_datatypes() {
    for (code, name) in [(32i16, "complex64"), (128, "RGB24"), (1792, "complex128")] {
        let message = error_for("typed.nii", &patched(70, &code.to_le_bytes()));
        assert_mentions(&message, &["unsupported datatype", name]);
    }
}

#[test]
fn zero_voxel_size() {
    let message = error_for("zero.nii", &patched(80, &0f32.to_le_bytes()));
    assert_mentions(&message, &["pixdim[1] = 0", "positive voxel size"]);
}

#[test]
fn nan_in_the_affine() {
    // srow_x[1]; the fixture's sform code is 2, so the sform is used.
    let message = error_for("nan.nii", &patched(284, &f32::NAN.to_le_bytes()));
    assert_mentions(&message, &["sform", "NaN"]);
}

#[test]
fn big_endian_files_are_detected_and_read() {
    // anatomical.nii is big-endian int16: a sanity check that byte order is not guessed wrongly.
    let image = NiftiImage::read(data("nifti/anatomical.nii")).expect("read");
    assert_eq!(image.header.datatype.to_string(), ">i2");
}

#[test]
fn nifti2_dimensions_whose_product_overflows_are_refused() {
    // A NIfTI-2 header of 2^40 × 2^40 × 2^40 float32 voxels: the product wraps in 64 bits.
    let mut header = vec![0u8; 544];
    header[0..4].copy_from_slice(&540i32.to_le_bytes());
    header[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    header[12..14].copy_from_slice(&16i16.to_le_bytes()); // float32
    header[14..16].copy_from_slice(&32i16.to_le_bytes());
    for (n, d) in [3i64, 1 << 40, 1 << 40, 1 << 40, 1, 1, 1, 1]
        .iter()
        .enumerate()
    {
        header[16 + 8 * n..24 + 8 * n].copy_from_slice(&d.to_le_bytes());
    }
    for n in 0..8 {
        header[104 + 8 * n..112 + 8 * n].copy_from_slice(&1f64.to_le_bytes());
    }
    header[168..176].copy_from_slice(&544i64.to_le_bytes());
    let message = error_for("huge.nii", &header);
    assert_mentions(&message, &["shape", "GiB"]);
}

#[test]
fn a_header_claiming_gigabytes_allocates_only_what_the_file_holds() {
    // 1024³ uint8 voxels (1 GiB, under the read limit) claimed by a file of a few hundred bytes,
    // plain and gzipped: refused as short, without reserving the gigabyte first.
    let mut bytes = valid_nifti();
    for (n, d) in [3i16, 1024, 1024, 1024].iter().enumerate() {
        bytes[40 + 2 * n..42 + 2 * n].copy_from_slice(&d.to_le_bytes());
    }
    let mut gzipped = Vec::new();
    {
        use std::io::Write;
        let mut encoder =
            flate2::write::GzEncoder::new(&mut gzipped, flate2::Compression::default());
        encoder.write_all(&bytes).expect("gzip");
        encoder.finish().expect("gzip");
    }
    for (name, input) in [("claims.nii", &bytes), ("claims.nii.gz", &gzipped)] {
        let (result, largest) = crate::alloc_watch::largest_allocation(|| {
            NiftiImage::from_bytes(name, input).map(|_| ())
        });
        let message = result.expect_err("short data").to_string();
        assert_mentions(&message, &[name, "holds only"]);
        assert!(
            largest < 128 << 20,
            "{name}: allocated {largest} bytes at once"
        );
    }
}
