//! Parsing a NIfTI-1 or NIfTI-2 header (either byte order) into a [`NiftiHeader`], every field
//! checked before any voxel is read.

use std::path::Path;

use super::*;

/// Reads bytes with a known byte order.
struct Fields<'a> {
    bytes: &'a [u8],
    endian: Endian,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[at..at + N]);
        if self.endian == Endian::Big {
            out.reverse();
        }
        out
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.array(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.array(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.array(at))
    }
    fn f32(&self, at: usize) -> f64 {
        f32::from_le_bytes(self.array(at)) as f64
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.array(at))
    }
    fn text(&self, at: usize, len: usize) -> String {
        let raw = &self.bytes[at..at + len];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
        String::from_utf8_lossy(&raw[..end]).trim().to_string()
    }
}

/// Parses the header from the first bytes of a file.
pub(super) fn parse_header(path: &Path, bytes: &[u8]) -> Result<NiftiHeader, VolumeError> {
    if bytes.len() < 4 {
        return Err(bad(
            path,
            format!(
                "file is {} bytes long: too short for a NIfTI header (expected 348 or 540 bytes)",
                bytes.len()
            ),
        ));
    }
    let le = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let be = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let (version, endian) = match (le, be) {
        (348, _) => (NiftiVersion::One, Endian::Little),
        (_, 348) => (NiftiVersion::One, Endian::Big),
        (540, _) => (NiftiVersion::Two, Endian::Little),
        (_, 540) => (NiftiVersion::Two, Endian::Big),
        _ => {
            return Err(bad(
                path,
                "not a NIfTI file: the header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2)",
            ));
        }
    };
    let header_len = match version {
        NiftiVersion::One => 348,
        NiftiVersion::Two => 540,
    };
    if bytes.len() < header_len {
        return Err(bad(
            path,
            format!(
                "file ends after {} bytes, inside the {header_len}-byte NIfTI header",
                bytes.len()
            ),
        ));
    }
    let f = Fields { bytes, endian };
    let (magic_at, magic_len) = match version {
        NiftiVersion::One => (344, 4),
        NiftiVersion::Two => (4, 8),
    };
    let magic = &bytes[magic_at..magic_at + magic_len];
    let pair = match (version, magic) {
        (NiftiVersion::One, b"n+1\0") => false,
        (NiftiVersion::One, b"ni1\0") => true,
        (NiftiVersion::Two, b"n+2\0\r\n\x1a\n") => false,
        (NiftiVersion::Two, b"ni2\0\r\n\x1a\n") => true,
        _ => {
            return Err(bad(
                path,
                format!(
                    "wrong magic {:?}: expected \"n+1\"/\"ni1\" (NIfTI-1) or \"n+2\"/\"ni2\" (NIfTI-2)",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
    };
    let (datatype_code, dims, pixdim) = match version {
        NiftiVersion::One => (
            f.i16(70),
            std::array::from_fn::<i64, 8, _>(|n| f.i16(40 + 2 * n) as i64),
            std::array::from_fn::<f64, 8, _>(|n| f.f32(76 + 4 * n)),
        ),
        NiftiVersion::Two => (
            f.i16(12),
            std::array::from_fn::<i64, 8, _>(|n| f.i64(16 + 8 * n)),
            std::array::from_fn::<f64, 8, _>(|n| f.f64(104 + 8 * n)),
        ),
    };
    let kind = ScalarKind::from_code(datatype_code).map_err(|name| {
        bad(
            path,
            format!(
                "unsupported datatype {name}: nrf reads integer and real (float32/float64) voxels"
            ),
        )
    })?;
    let ndim = dims[0];
    if !(1..=7).contains(&ndim) {
        return Err(bad(
            path,
            format!("dim[0] = {ndim}: expected a number of dimensions between 1 and 7"),
        ));
    }
    let ndim = ndim as usize;
    let mut shape = Vec::with_capacity(ndim);
    for (axis, &d) in dims[1..=ndim].iter().enumerate() {
        if d < 1 {
            return Err(bad(
                path,
                format!(
                    "dim[{}] = {d}: every dimension must be at least 1",
                    axis + 1
                ),
            ));
        }
        shape.push(d as usize);
    }
    // The product is checked before anything uses it: 64-bit NIfTI-2 dimensions overflow.
    let data_bytes = shape
        .iter()
        .try_fold(kind.size() as u64, |bytes, &d| bytes.checked_mul(d as u64));
    if data_bytes.is_none_or(|bytes| bytes > super::MAX_DATA_BYTES) {
        return Err(bad(
            path,
            format!(
                "header shape {shape:?} needs more than the {} GiB of voxel data nrf reads",
                super::MAX_DATA_BYTES >> 30
            ),
        ));
    }
    let zooms: Vec<f64> = pixdim[1..=ndim].iter().map(|z| z.abs()).collect();
    for (axis, z) in zooms.iter().take(3).enumerate() {
        if !(z.is_finite() && *z > 0.0) {
            return Err(bad(
                path,
                format!(
                    "voxel size pixdim[{}] = {z}: expected a positive voxel size in mm",
                    axis + 1
                ),
            ));
        }
    }
    let (vox_offset, slope, inter) = match version {
        NiftiVersion::One => (f.f32(108), f.f32(112), f.f32(116)),
        NiftiVersion::Two => (f.i64(168) as f64, f.f64(176), f.f64(184)),
    };
    if !(vox_offset.is_finite() && vox_offset >= 0.0) {
        return Err(bad(path, format!("vox_offset = {vox_offset} is not valid")));
    }
    let scaling = if slope == 0.0 || !slope.is_finite() {
        None
    } else if !inter.is_finite() {
        return Err(bad(
            path,
            format!("scl_inter = {inter} is not finite while scl_slope = {slope} is set"),
        ));
    } else {
        Some((slope, inter))
    };
    let (qform_code, sform_code, quatern, srow, descrip) = match version {
        NiftiVersion::One => (
            f.i16(252) as i32,
            f.i16(254) as i32,
            std::array::from_fn(|n| f.f32(256 + 4 * n)),
            std::array::from_fn(|r| std::array::from_fn(|c| f.f32(280 + 16 * r + 4 * c))),
            f.text(148, 80),
        ),
        NiftiVersion::Two => (
            f.i32(344),
            f.i32(348),
            std::array::from_fn(|n| f.f64(352 + 8 * n)),
            std::array::from_fn(|r| std::array::from_fn(|c| f.f64(400 + 32 * r + 8 * c))),
            f.text(240, 80),
        ),
    };
    let header = NiftiHeader {
        version,
        datatype: DataType { kind, endian },
        shape,
        zooms,
        qfac: if pixdim[0] < 0.0 { -1.0 } else { 1.0 },
        vox_offset: vox_offset as u64,
        scaling,
        qform_code,
        sform_code,
        quatern,
        srow,
        descrip,
        pair,
    };
    let affine = header.best_affine();
    let finite = affine.matrix3.to_cols_array().iter().all(|v| v.is_finite())
        && affine.translation.is_finite();
    if !finite {
        let which = if sform_code != 0 {
            "sform (srow_x/y/z)"
        } else if qform_code != 0 {
            "qform (quatern_*/qoffset_*)"
        } else {
            "pixdim"
        };
        return Err(bad(
            path,
            format!("the affine from the {which} holds NaN or infinite values"),
        ));
    }
    Ok(header)
}
