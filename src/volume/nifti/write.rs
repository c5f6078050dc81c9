//! Writing float32 NIfTI-1 (`.nii` or `.nii.gz`, atomically), with sform and qform both set as
//! nibabel and FSL read them.

use std::path::Path;

use glam::{DAffine3, DMat3, DQuat, DVec3};

use super::*;

/// NIfTI `xform` codes written by [`write_float32`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceCode {
    /// Code 1: scanner anatomical coordinates.
    ScannerAnat = 1,
    /// Code 2: aligned to some other image.
    Aligned = 2,
    /// Code 4: MNI152 space.
    Mni152 = 4,
}

/// Splits an affine's linear part into a rotation quaternion, voxel sizes and qfac, as NIfTI's
/// qform needs. Shears are dropped by taking the nearest rotation (polar decomposition).
fn qform_of(affine: &DAffine3) -> (DQuat, DVec3, f64) {
    let m = affine.matrix3;
    let zooms = DVec3::new(m.x_axis.length(), m.y_axis.length(), m.z_axis.length());
    let mut r = DMat3::from_cols(m.x_axis / zooms.x, m.y_axis / zooms.y, m.z_axis / zooms.z);
    let qfac = if r.determinant() < 0.0 {
        r.z_axis = -r.z_axis;
        -1.0
    } else {
        1.0
    };
    // Newton iteration towards the orthogonal polar factor.
    for _ in 0..20 {
        let next = (r + r.inverse().transpose()) * 0.5;
        let change = (next - r)
            .to_cols_array()
            .iter()
            .fold(0.0f64, |a, v| a.max(v.abs()));
        r = next;
        if change < 1e-15 {
            break;
        }
    }
    let mut q = DQuat::from_mat3(&r).normalize();
    if q.w < 0.0 {
        q = -q;
    }
    (q, zooms, qfac)
}

/// Builds the 348-byte little-endian NIfTI-1 header (plus the 4-byte empty extension flag) of
/// float32 data: one 3D volume, or several stacked along a fourth axis.
fn float32_header(
    dims: [usize; 3],
    volumes: usize,
    affine: &DAffine3,
    code: SpaceCode,
    range: Option<(f32, f32)>,
) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    let put =
        |h: &mut Vec<u8>, at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut h, 0, &348i32.to_le_bytes());
    let ndim = if volumes > 1 { 4 } else { 3 };
    let dim: [i16; 8] = [
        ndim,
        dims[0] as i16,
        dims[1] as i16,
        dims[2] as i16,
        volumes as i16,
        1,
        1,
        1,
    ];
    for (n, d) in dim.iter().enumerate() {
        put(&mut h, 40 + 2 * n, &d.to_le_bytes());
    }
    put(&mut h, 70, &16i16.to_le_bytes()); // datatype float32
    put(&mut h, 72, &32i16.to_le_bytes()); // bitpix
    let (quat, zooms, qfac) = qform_of(affine);
    let pixdim = [qfac, zooms.x, zooms.y, zooms.z, 1.0, 1.0, 1.0, 1.0];
    for (n, p) in pixdim.iter().enumerate() {
        put(&mut h, 76 + 4 * n, &(*p as f32).to_le_bytes());
    }
    put(&mut h, 108, &352f32.to_le_bytes()); // vox_offset
    put(&mut h, 112, &1f32.to_le_bytes()); // scl_slope
    put(&mut h, 116, &0f32.to_le_bytes()); // scl_inter
    put(&mut h, 123, &[2u8]); // xyzt_units: mm
    if let Some((lo, hi)) = range {
        put(&mut h, 124, &hi.to_le_bytes()); // cal_max
        put(&mut h, 128, &lo.to_le_bytes()); // cal_min
    }
    let descrip = format!("nrf {}", env!("CARGO_PKG_VERSION"));
    put(&mut h, 148, &descrip.as_bytes()[..descrip.len().min(79)]);
    put(&mut h, 252, &(code as i16).to_le_bytes()); // qform_code
    put(&mut h, 254, &(code as i16).to_le_bytes()); // sform_code
    let quatern = [quat.x, quat.y, quat.z];
    let t = affine.translation;
    for (n, v) in quatern.iter().chain([t.x, t.y, t.z].iter()).enumerate() {
        put(&mut h, 256 + 4 * n, &(*v as f32).to_le_bytes());
    }
    let rows = crate::space::affine_to_rows(affine);
    for (r, row) in rows.iter().take(3).enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(&mut h, 280 + 16 * r + 4 * c, &(*v as f32).to_le_bytes());
        }
    }
    put(&mut h, 344, b"n+1\0");
    h
}

/// Writes float32 NIfTI-1 (gzipped when the name ends in `.gz`) with sform and qform both set to
/// `code`, atomically (see [`crate::atomic_file`]). `data` holds `volumes` 3D volumes of `dims` one
/// after the other; more than one gives a 4D file.
pub fn write_float32(
    path: &Path,
    dims: [usize; 3],
    volumes: usize,
    affine: &DAffine3,
    code: SpaceCode,
    data: &[f32],
) -> Result<(), VolumeError> {
    if data.len() != dims.iter().product::<usize>() * volumes {
        return Err(bad(
            path,
            format!(
                "cannot write {} values as {volumes} volume(s) of {dims:?}",
                data.len()
            ),
        ));
    }
    let per_volume = dims.iter().product::<usize>().max(1);
    let parts: Vec<&[f32]> = data.chunks(per_volume).collect();
    write_float32_volumes(path, dims, affine, code, &parts)
}

/// [`write_float32`] of volumes held apart (a set's volumes need not be copied into one buffer
/// first): one 3D volume of `dims` per part, a 4D file when there are several.
pub fn write_float32_volumes(
    path: &Path,
    dims: [usize; 3],
    affine: &DAffine3,
    code: SpaceCode,
    parts: &[&[f32]],
) -> Result<(), VolumeError> {
    let per_volume = dims.iter().product::<usize>();
    if let Some(part) = parts.iter().find(|p| p.len() != per_volume) {
        return Err(bad(
            path,
            format!("cannot write {} values as a volume of {dims:?}", part.len()),
        ));
    }
    let range = parts
        .iter()
        .filter_map(|p| crate::volume::finite_range(p))
        .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)));
    let header = volumes_header(path, dims, parts.len(), affine, code, range)?;
    write_with_header(path, &header, &mut |out| {
        for part in parts {
            write_le(out, part)?;
        }
        Ok(())
    })
}

/// [`write_float32_volumes`] with the volumes made one at a time: `fill(v, buffer)` puts volume
/// `v` (0-based) into a buffer of one volume, which is written before the next is asked for, so
/// a large set streams to disk through that one buffer instead of being held whole. `range` is
/// the smallest and largest finite value over all volumes (the header's display range).
pub fn write_float32_volumes_from(
    path: &Path,
    dims: [usize; 3],
    affine: &DAffine3,
    code: SpaceCode,
    volumes: usize,
    range: Option<(f32, f32)>,
    fill: &mut dyn FnMut(usize, &mut [f32]),
) -> Result<(), VolumeError> {
    let header = volumes_header(path, dims, volumes, affine, code, range)?;
    let mut buffer = vec![0.0f32; dims.iter().product()];
    write_with_header(path, &header, &mut |out| {
        for v in 0..volumes {
            fill(v, &mut buffer);
            write_le(out, &buffer)?;
        }
        Ok(())
    })
}

/// The header of `volumes` float32 volumes of `dims`, or an error naming `path` when NIfTI-1
/// cannot hold that many.
fn volumes_header(
    path: &Path,
    dims: [usize; 3],
    volumes: usize,
    affine: &DAffine3,
    code: SpaceCode,
    range: Option<(f32, f32)>,
) -> Result<Vec<u8>, VolumeError> {
    let fits = |d: usize| (1..=i16::MAX as usize).contains(&d);
    if !(dims.iter().all(|&d| fits(d)) && fits(volumes)) {
        return Err(bad(
            path,
            format!(
                "cannot write dims {dims:?} × {volumes}: NIfTI-1 needs 1..=32767 voxels per axis"
            ),
        ));
    }
    Ok(float32_header(dims, volumes, affine, code, range))
}

/// Writes `header` then what `body` writes, gzipped when the name ends in `.gz`, atomically.
fn write_with_header(
    path: &Path,
    header: &[u8],
    body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<(), VolumeError> {
    let gzip = is_gzip_name(path);
    crate::atomic_file::write_atomically(path, |out| {
        if gzip {
            let mut gz = GzEncoder::new(out, Compression::new(6));
            gz.write_all(header)?;
            body(&mut gz)?;
            gz.finish()?;
            Ok(())
        } else {
            out.write_all(header)?;
            body(out)
        }
    })
    .map_err(|e| VolumeError::Io {
        path: e.path,
        what: e.step.to_string(),
        source: e.source,
    })
}

/// Float32 values as little-endian bytes: the memory as it is on little-endian machines.
fn write_le(out: &mut dyn Write, values: &[f32]) -> io::Result<()> {
    if cfg!(target_endian = "little") {
        out.write_all(bytemuck::cast_slice(values))
    } else {
        for chunk in values.chunks(1 << 14) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            out.write_all(&bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qform_decomposition_recovers_flips_and_rotations() {
        let rotation = DMat3::from_rotation_z(0.3) * DMat3::from_rotation_x(-0.2);
        for flip in [1.0, -1.0] {
            let m = rotation * DMat3::from_diagonal(DVec3::new(2.0 * flip, 3.0, 1.5));
            let affine = DAffine3::from_mat3_translation(m, DVec3::new(1.0, 2.0, 3.0));
            let (q, zooms, qfac) = qform_of(&affine);
            let mut z = zooms;
            if qfac < 0.0 {
                z.z = -z.z;
            }
            let rebuilt = DMat3::from_quat(q) * DMat3::from_diagonal(z);
            let err = (rebuilt - m)
                .to_cols_array()
                .iter()
                .fold(0.0f64, |a, v| a.max(v.abs()));
            assert!(err < 1e-9, "flip {flip}: error {err}");
        }
    }
}
