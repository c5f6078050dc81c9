//! What `nrf info` reports about a NIfTI file, in the same terms as nibabel
//! (`img.shape`, `img.affine`, `header.get_zooms()`, `get_data_dtype()`, statistics of
//! `get_fdata()`).

use serde::Serialize;

use crate::space::affine_to_rows;
use crate::volume::NiftiImage;

/// A one-look description of a NIfTI file. Serialises to exactly the keys nibabel users compare:
/// `shape`, `affine`, `zooms`, `dtype`, `min`, `max`, `mean`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageSummary {
    /// Dimensions, as nibabel's `img.shape`.
    pub shape: Vec<usize>,
    /// Voxel→world matrix, 4×4 row-major, as nibabel's `img.affine`.
    pub affine: [[f64; 4]; 4],
    /// Voxel sizes (and time step for 4D), as `header.get_zooms()`.
    pub zooms: Vec<f64>,
    /// On-disk datatype as numpy spells it (`<f4`, `>i2`, `|u1`).
    pub dtype: String,
    /// Smallest scaled value (NaNs ignored; `null` when every value is NaN).
    pub min: Option<f64>,
    /// Largest scaled value (NaNs ignored).
    pub max: Option<f64>,
    /// Mean of the scaled values (NaNs ignored), accumulated in f64.
    pub mean: Option<f64>,
}

impl ImageSummary {
    /// Summarises an image already read.
    pub fn of(image: &NiftiImage) -> Self {
        let (mut lo, mut hi, mut sum, mut count) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for &v in image.data.iter().filter(|v| !v.is_nan()) {
            let v = f64::from(v);
            lo = lo.min(v);
            hi = hi.max(v);
            sum += v;
            count += 1;
        }
        let some = |v: f64| (count > 0).then_some(v);
        Self {
            shape: image.header.shape.clone(),
            affine: affine_to_rows(&image.affine),
            zooms: image.header.zooms.clone(),
            dtype: image.header.datatype.to_string(),
            min: some(lo),
            max: some(hi),
            mean: some(sum / count.max(1) as f64),
        }
    }
}
