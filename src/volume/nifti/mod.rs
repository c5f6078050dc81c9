//! NIfTI-1 and NIfTI-2 reading (`.nii`, `.nii.gz`, `.hdr`/`.img` pairs; any endianness; every
//! integer and real datatype) and float32 NIfTI-1 writing.
//!
//! Written here rather than taken from the `nifti` crate because that crate reads NIfTI-1 only,
//! and `nrf info` must report the on-disk datatype and byte order exactly as nibabel does.
//! The affine is chosen as nibabel's `get_best_affine`: sform when its code is non-zero, else
//! qform when its code is non-zero, else the pixdim-only fallback centred on the volume.

mod header;
mod write;

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use glam::{DAffine3, DMat3, DQuat, DVec3};

use super::VolumeError;
use crate::space::affine_from_rows;
use header::parse_header;
pub use write::{SpaceCode, write_float32, write_float32_volumes, write_float32_volumes_from};

/// Files above this many bytes of voxel data are refused before any is read.
pub const MAX_DATA_BYTES: u64 = 16 << 30;

/// The voxel buffer reserved before any data has been read (the buffer grows as data arrive).
const READ_CHUNK: u64 = 64 << 20;

/// Byte order of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

/// The on-disk voxel type of a NIfTI file (the ones `nrf` reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// NIfTI code 2.
    U8,
    /// NIfTI code 256.
    I8,
    /// NIfTI code 4.
    I16,
    /// NIfTI code 512.
    U16,
    /// NIfTI code 8.
    I32,
    /// NIfTI code 768.
    U32,
    /// NIfTI code 1024.
    I64,
    /// NIfTI code 1280.
    U64,
    /// NIfTI code 16.
    F32,
    /// NIfTI code 64.
    F64,
}

impl ScalarKind {
    /// The kind for a NIfTI datatype code, or a description of why it is not supported.
    fn from_code(code: i16) -> Result<Self, String> {
        Ok(match code {
            2 => Self::U8,
            256 => Self::I8,
            4 => Self::I16,
            512 => Self::U16,
            8 => Self::I32,
            768 => Self::U32,
            1024 => Self::I64,
            1280 => Self::U64,
            16 => Self::F32,
            64 => Self::F64,
            1 => return Err("binary (1-bit)".into()),
            32 => return Err("complex64".into()),
            128 => return Err("RGB24".into()),
            1536 => return Err("float128".into()),
            1792 => return Err("complex128".into()),
            2048 => return Err("complex256".into()),
            2304 => return Err("RGBA32".into()),
            other => return Err(format!("unknown datatype code {other}")),
        })
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    fn numpy_code(self) -> &'static str {
        match self {
            Self::U8 => "u1",
            Self::I8 => "i1",
            Self::I16 => "i2",
            Self::U16 => "u2",
            Self::I32 => "i4",
            Self::U32 => "u4",
            Self::I64 => "i8",
            Self::U64 => "u8",
            Self::F32 => "f4",
            Self::F64 => "f8",
        }
    }
}

/// A datatype with its byte order, as numpy spells it (`<f4`, `>i2`, `|u1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataType {
    /// Scalar type.
    pub kind: ScalarKind,
    /// Byte order in the file.
    pub endian: Endian,
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let order = match (self.kind.size(), self.endian) {
            (1, _) => '|',
            (_, Endian::Little) => '<',
            (_, Endian::Big) => '>',
        };
        write!(f, "{order}{}", self.kind.numpy_code())
    }
}

/// Which NIfTI version a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NiftiVersion {
    /// 348-byte header.
    One,
    /// 540-byte header.
    Two,
}

/// The header fields `nrf` uses, widened to the NIfTI-2 types.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// NIfTI-1 or NIfTI-2.
    pub version: NiftiVersion,
    /// Voxel datatype and byte order.
    pub datatype: DataType,
    /// `dim[1..=dim[0]]`.
    pub shape: Vec<usize>,
    /// `pixdim[1..=dim[0]]` (voxel sizes, then the time step).
    pub zooms: Vec<f64>,
    /// `pixdim[0]`: the qform handedness (−1 or 1).
    pub qfac: f64,
    /// Offset of the voxel data in the data file, bytes.
    pub vox_offset: u64,
    /// Scaling slope and intercept, `None` when the slope is 0 or not finite (no scaling).
    pub scaling: Option<(f64, f64)>,
    /// qform code (0 = unset).
    pub qform_code: i32,
    /// sform code (0 = unset).
    pub sform_code: i32,
    /// `quatern_b, c, d` and `qoffset_x, y, z`.
    pub quatern: [f64; 6],
    /// `srow_x, srow_y, srow_z`.
    pub srow: [[f64; 4]; 3],
    /// Free-text description.
    pub descrip: String,
    /// Whether the data live in a separate `.img` file (`ni1`/`ni2` magic).
    pub pair: bool,
}

impl NiftiHeader {
    /// The voxel→world affine that nibabel's `img.affine` gives for this header.
    pub fn best_affine(&self) -> DAffine3 {
        if self.sform_code != 0 {
            affine_from_rows(self.srow)
        } else if self.qform_code != 0 {
            self.qform_affine()
        } else {
            self.base_affine()
        }
    }

    /// The affine described by the quaternion fields.
    pub fn qform_affine(&self) -> DAffine3 {
        let [b, c, d, qx, qy, qz] = self.quatern;
        // The quaternion is unit length with a non-negative real part; tiny negative remainders
        // from float32 storage are clamped (as nibabel does within 3 float32 epsilons).
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let rotation = DMat3::from_quat(DQuat::from_xyzw(b, c, d, a).normalize());
        let mut zooms = DVec3::new(self.zoom(0).abs(), self.zoom(1).abs(), self.zoom(2).abs());
        if self.qfac < 0.0 {
            zooms.z = -zooms.z;
        }
        DAffine3::from_mat3_translation(
            rotation * DMat3::from_diagonal(zooms),
            DVec3::new(qx, qy, qz),
        )
    }

    /// nibabel's fallback without orientation: x flipped, origin at the volume's centre.
    pub fn base_affine(&self) -> DAffine3 {
        let zooms = DVec3::new(-self.zoom(0).abs(), self.zoom(1).abs(), self.zoom(2).abs());
        let dim = |axis: usize| self.shape.get(axis).copied().unwrap_or(1) as f64;
        let origin = DVec3::new(dim(0) - 1.0, dim(1) - 1.0, dim(2) - 1.0) / 2.0;
        DAffine3::from_mat3_translation(DMat3::from_diagonal(zooms), -origin * zooms)
    }

    fn zoom(&self, axis: usize) -> f64 {
        self.zooms.get(axis).copied().unwrap_or(1.0)
    }

    /// Number of voxels in the whole file (all volumes).
    pub fn voxel_count(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// A NIfTI file read into memory: its header and its voxel values with scaling applied.
#[derive(Debug, Clone)]
pub struct NiftiImage {
    /// Where it was read from.
    pub path: PathBuf,
    /// The parsed header.
    pub header: NiftiHeader,
    /// Voxel→world affine (nibabel's choice, see [`NiftiHeader::best_affine`]).
    pub affine: DAffine3,
    /// Scaled values, i fastest, then j, k, then volumes (as stored on disk).
    pub data: Vec<f32>,
}

fn io_err(path: &Path, what: &str, err: io::Error) -> VolumeError {
    VolumeError::Io {
        path: path.to_path_buf(),
        what: what.to_string(),
        source: err,
    }
}

fn bad(path: &Path, message: impl Into<String>) -> VolumeError {
    VolumeError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn is_gzip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Opens a file, transparently decompressing gzip (by magic bytes, so a misnamed file still reads).
fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>, VolumeError> {
    let mut file = File::open(path).map_err(|e| io_err(path, "cannot open", e))?;
    let mut magic = [0u8; 2];
    let n = read_fully(&mut file, &mut magic).map_err(|e| io_err(path, "cannot read", e))?;
    drop(file);
    let file = File::open(path).map_err(|e| io_err(path, "cannot open", e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::new(MultiGzDecoder::new(
            BufReader::new(file),
        ))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}

/// Reads until the buffer is full or the stream ends; returns the bytes read.
fn read_fully(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The `.img` (or `.img.gz`) beside a `.hdr` file.
fn image_file_of_pair(path: &Path) -> Result<PathBuf, VolumeError> {
    let name = path.to_string_lossy();
    let stem = name
        .strip_suffix(".gz")
        .unwrap_or(&name)
        .strip_suffix(".hdr")
        .ok_or_else(|| {
            bad(
                path,
                "header says the data are in a separate .img file, but this file is not named .hdr",
            )
        })?;
    [".img", ".img.gz"]
        .iter()
        .map(|ext| PathBuf::from(format!("{stem}{ext}")))
        .find(|p| p.exists())
        .ok_or_else(|| {
            bad(
                path,
                format!("data file {stem}.img (or .img.gz) does not exist"),
            )
        })
}

impl NiftiImage {
    /// Reads a NIfTI-1 or NIfTI-2 file (gzipped or not) with scaling applied.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, VolumeError> {
        let path = path.as_ref();
        let reader = open_maybe_gz(path)?;
        Self::read_from(path, reader)
    }

    /// Reads a NIfTI image held in memory (gzipped or not); `name` labels errors.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, VolumeError> {
        let reader: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(MultiGzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        Self::read_from(Path::new(name), reader)
    }

    fn read_from(path: &Path, mut reader: Box<dyn Read + '_>) -> Result<Self, VolumeError> {
        let mut head = vec![0u8; 540];
        let got = read_fully(&mut reader, &mut head).map_err(|e| gz_or_io(path, e))?;
        if got == 0 {
            return Err(bad(
                path,
                "file is empty: expected a NIfTI header (348 or 540 bytes)",
            ));
        }
        head.truncate(got);
        let header = parse_header(path, &head)?;
        let count = header.voxel_count();
        let data_bytes = count
            .checked_mul(header.datatype.kind.size() as u64)
            .filter(|&b| b <= MAX_DATA_BYTES)
            .ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "header shape {:?} needs more than the {} GiB of voxel data nrf reads",
                        header.shape,
                        MAX_DATA_BYTES >> 30
                    ),
                )
            })?;
        let raw = if header.pair {
            let data_path = image_file_of_pair(path)?;
            let mut data_reader = open_maybe_gz(&data_path)?;
            skip(&mut data_reader, header.vox_offset).map_err(|e| gz_or_io(&data_path, e))?;
            read_data(&data_path, &mut data_reader, data_bytes, &header)?
        } else {
            let header_len = match header.version {
                NiftiVersion::One => 348,
                NiftiVersion::Two => 540,
            };
            if header.vox_offset < header_len {
                return Err(bad(
                    path,
                    format!(
                        "vox_offset = {} points inside the {header_len}-byte header",
                        header.vox_offset
                    ),
                ));
            }
            // Data start after the header and any extensions.
            let already = head.len() as u64;
            if header.vox_offset >= already {
                skip(&mut reader, header.vox_offset - already).map_err(|e| gz_or_io(path, e))?;
                read_data(path, &mut reader, data_bytes, &header)?
            } else {
                let start = header.vox_offset as usize;
                let mut chained = (&head[start..]).chain(reader);
                read_data(path, &mut chained, data_bytes, &header)?
            }
        };
        let data = decode(&raw, header.datatype, header.scaling);
        let affine = header.best_affine();
        Ok(Self {
            path: path.to_path_buf(),
            header,
            affine,
            data,
        })
    }

    /// Number of 3D volumes (product of the dimensions beyond the third).
    pub fn volume_count(&self) -> usize {
        self.header.shape.iter().skip(3).product()
    }

    /// Dimensions of one 3D volume (missing axes count as 1).
    pub fn spatial_dims(&self) -> [usize; 3] {
        std::array::from_fn(|axis| self.header.shape.get(axis).copied().unwrap_or(1))
    }
}

fn gz_or_io(path: &Path, err: io::Error) -> VolumeError {
    match err.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            bad(
                path,
                format!("compressed data are truncated or corrupt ({err})"),
            )
        }
        _ => io_err(path, "cannot read", err),
    }
}

fn skip(reader: &mut impl Read, bytes: u64) -> io::Result<()> {
    let skipped = io::copy(&mut reader.take(bytes), &mut io::sink())?;
    if skipped < bytes {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file ends before vox_offset",
        ));
    }
    Ok(())
}

fn read_data(
    path: &Path,
    reader: &mut impl Read,
    data_bytes: u64,
    header: &NiftiHeader,
) -> Result<Vec<u8>, VolumeError> {
    // Grow with the data actually read: a header may claim gigabytes the file does not hold, and
    // a gzipped file's length says nothing, so nothing is allocated on the header's word alone.
    let mut raw = Vec::with_capacity(data_bytes.min(READ_CHUNK) as usize);
    reader
        .take(data_bytes)
        .read_to_end(&mut raw)
        .map_err(|e| gz_or_io(path, e))?;
    let got = raw.len();
    if (got as u64) < data_bytes {
        return Err(bad(
            path,
            format!(
                "header shape {:?} of {} needs {data_bytes} bytes of voxel data, but the file holds only {got}",
                header.shape, header.datatype
            ),
        ));
    }
    Ok(raw)
}

/// Converts raw voxels to f32 with the header's scaling.
fn decode(raw: &[u8], datatype: DataType, scaling: Option<(f64, f64)>) -> Vec<f32> {
    let size = datatype.kind.size();
    let big = datatype.endian == Endian::Big;
    let word = |chunk: &[u8]| -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(chunk);
        if big {
            b[..size].reverse();
        }
        b
    };
    let value = |chunk: &[u8]| -> f64 {
        let b = word(chunk);
        match datatype.kind {
            ScalarKind::U8 => b[0] as f64,
            ScalarKind::I8 => b[0] as i8 as f64,
            ScalarKind::I16 => i16::from_le_bytes([b[0], b[1]]) as f64,
            ScalarKind::U16 => u16::from_le_bytes([b[0], b[1]]) as f64,
            ScalarKind::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            ScalarKind::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            ScalarKind::I64 => i64::from_le_bytes(b) as f64,
            ScalarKind::U64 => u64::from_le_bytes(b) as f64,
            ScalarKind::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            ScalarKind::F64 => f64::from_le_bytes(b),
        }
    };
    let (slope, inter) = scaling.unwrap_or((1.0, 0.0));
    raw.chunks_exact(size)
        .map(|chunk| (value(chunk) * slope + inter) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatype_names_follow_numpy() {
        let dt = |kind, endian| DataType { kind, endian }.to_string();
        assert_eq!(dt(ScalarKind::F32, Endian::Little), "<f4");
        assert_eq!(dt(ScalarKind::I16, Endian::Big), ">i2");
        assert_eq!(dt(ScalarKind::U8, Endian::Big), "|u1");
        assert_eq!(dt(ScalarKind::I8, Endian::Little), "|i1");
    }
}
