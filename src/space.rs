//! MNI space: voxel↔world affines, the official NRF coordinate normalisation, regular grids at any
//! spacing and planes (slices) through any point at any orientation and pixel size.
//!
//! Conventions used everywhere in the crate:
//! - world coordinates are MNI millimetres in RAS+ (x → right, y → anterior, z → superior);
//! - a voxel index `[i, j, k]` maps to the world through an affine (`DAffine3`, as NIfTI's sform);
//! - voxel data are stored with `i` fastest (`index = i + nx·(j + ny·k)`), as in NIfTI files.

use glam::{DAffine3, DMat3, DVec3, Vec3};
use thiserror::Error;

/// Offset added to MNI millimetres before dividing by [`MNI_NORM_SCALE`] (official NRF release).
pub const MNI_NORM_OFFSET: Vec3 = Vec3::new(92.0, 126.0, 72.0);
/// Divisor that maps the MNI brain box to about `[0, 1]` on each axis (official NRF release).
pub const MNI_NORM_SCALE: Vec3 = Vec3::new(182.0, 218.0, 182.0);

/// Maps MNI millimetres to the official NRF input coordinates:
/// x' = (x+92)/182, y' = (y+126)/218, z' = (z+72)/182.
pub fn normalise_mni(mm: Vec3) -> Vec3 {
    (mm + MNI_NORM_OFFSET) / MNI_NORM_SCALE
}

/// Inverse of [`normalise_mni`]: official NRF input coordinates back to MNI millimetres.
pub fn denormalise_mni(normalised: Vec3) -> Vec3 {
    normalised * MNI_NORM_SCALE - MNI_NORM_OFFSET
}

/// Smallest grid or pixel spacing accepted, in mm.
pub const MIN_SPACING_MM: f64 = 0.1;
/// Largest grid or pixel spacing accepted, in mm.
pub const MAX_SPACING_MM: f64 = 32.0;

/// Errors from building grids and planes.
#[derive(Debug, Error, PartialEq)]
pub enum SpaceError {
    /// A spacing or pixel size that is not a finite number inside the accepted range.
    #[error(
        "spacing {0} mm is not usable: expected a finite value between {MIN_SPACING_MM} and {MAX_SPACING_MM} mm"
    )]
    BadSpacing(f64),
    /// A box whose minimum is not below its maximum on every axis, or that is not finite.
    #[error("bounding box {min:?}..{max:?} mm is empty or not finite")]
    BadBox {
        /// Lower corner, mm.
        min: DVec3,
        /// Upper corner, mm.
        max: DVec3,
    },
    /// A plane whose axes are degenerate (zero length, parallel or not finite).
    #[error("plane orientation is degenerate: normal {normal:?}, up {up:?}")]
    BadOrientation {
        /// Requested plane normal.
        normal: DVec3,
        /// Requested up direction.
        up: DVec3,
    },
    /// An affine whose linear part cannot be inverted.
    #[error("the voxel-to-world affine is singular or not finite")]
    SingularAffine,
}

fn check_spacing(spacing_mm: f64) -> Result<(), SpaceError> {
    if spacing_mm.is_finite() && (MIN_SPACING_MM..=MAX_SPACING_MM).contains(&spacing_mm) {
        Ok(())
    } else {
        Err(SpaceError::BadSpacing(spacing_mm))
    }
}

/// An axis-aligned box in world millimetres (both corners inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Lower corner, mm.
    pub min: DVec3,
    /// Upper corner, mm.
    pub max: DVec3,
}

impl BoundingBox {
    /// The box covered by the shipped ICBM152 2009a template (197×233×189 voxels at 1 mm).
    pub const MNI_TEMPLATE: BoundingBox = BoundingBox {
        min: DVec3::new(-98.0, -134.0, -72.0),
        max: DVec3::new(98.0, 98.0, 116.0),
    };

    /// A box from two corners; fails when it is empty or not finite.
    pub fn new(min: DVec3, max: DVec3) -> Result<Self, SpaceError> {
        if !(min.is_finite() && max.is_finite() && min.cmplt(max).all()) {
            return Err(SpaceError::BadBox { min, max });
        }
        Ok(Self { min, max })
    }

    /// The smallest box holding all the points; `None` for no points.
    pub fn around(points: impl IntoIterator<Item = DVec3>) -> Option<Self> {
        let mut iter = points.into_iter();
        let first = iter.next()?;
        let (min, max) = iter.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p)));
        Some(Self { min, max })
    }

    /// The box grown by `margin_mm` on every side.
    pub fn expanded(&self, margin_mm: f64) -> Self {
        Self {
            min: self.min - DVec3::splat(margin_mm),
            max: self.max + DVec3::splat(margin_mm),
        }
    }

    /// Centre of the box, mm.
    pub fn centre(&self) -> DVec3 {
        (self.min + self.max) * 0.5
    }

    /// Edge lengths, mm.
    pub fn size(&self) -> DVec3 {
        self.max - self.min
    }

    /// Whether the point lies inside (edges included).
    pub fn contains(&self, p: DVec3) -> bool {
        p.cmpge(self.min).all() && p.cmple(self.max).all()
    }
}

/// A regular 3D grid: its size in voxels and the affine from voxel index to world mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// Voxel index → world mm.
    pub affine: DAffine3,
}

impl Grid {
    /// A grid from its dimensions and voxel→world affine.
    pub fn new(dims: [usize; 3], affine: DAffine3) -> Self {
        Self { dims, affine }
    }

    /// An axis-aligned grid at `spacing_mm` whose first voxel centre is the box's lower corner and
    /// that covers the box (the last voxel centre is at or just inside the upper corner).
    pub fn over_box(bbox: &BoundingBox, spacing_mm: f64) -> Result<Self, SpaceError> {
        check_spacing(spacing_mm)?;
        let bbox = BoundingBox::new(bbox.min, bbox.max)?;
        let steps = bbox.size() / spacing_mm;
        // A tolerance so that 196/2 = 98 steps is not lost to rounding.
        let dim = |s: f64| (s + 1e-9).floor() as usize + 1;
        let dims = [dim(steps.x), dim(steps.y), dim(steps.z)];
        let affine = DAffine3::from_scale_rotation_translation(
            DVec3::splat(spacing_mm),
            glam::DQuat::IDENTITY,
            bbox.min,
        );
        Ok(Self { dims, affine })
    }

    /// The template's MNI box sampled at `spacing_mm` (1 mm gives the template's own grid).
    pub fn mni(spacing_mm: f64) -> Result<Self, SpaceError> {
        Self::over_box(&BoundingBox::MNI_TEMPLATE, spacing_mm)
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the grid has no voxels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Linear index of voxel `[i, j, k]` (i fastest).
    pub fn index(&self, [i, j, k]: [usize; 3]) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Voxel `[i, j, k]` of a linear index.
    pub fn ijk(&self, index: usize) -> [usize; 3] {
        let [nx, ny, _] = self.dims;
        [index % nx, (index / nx) % ny, index / (nx * ny)]
    }

    /// World position (mm) of a (possibly fractional) voxel index.
    pub fn voxel_to_world(&self, ijk: DVec3) -> DVec3 {
        self.affine.transform_point3(ijk)
    }

    /// The world→voxel affine; fails when the grid's affine is singular.
    pub fn world_to_voxel(&self) -> Result<DAffine3, SpaceError> {
        let det = self.affine.matrix3.determinant();
        if !(det.is_finite() && det.abs() > 1e-12 && self.affine.translation.is_finite()) {
            return Err(SpaceError::SingularAffine);
        }
        Ok(self.affine.inverse())
    }

    /// The voxel nearest to fractional voxel position `v` (from [`Self::world_to_voxel`]), or
    /// `None` when it lies outside the grid.
    pub fn nearest_voxel(&self, v: DVec3) -> Option<[usize; 3]> {
        let index = |c: f64, n: usize| {
            let c = c.round();
            (c >= 0.0 && c < n as f64).then_some(c as usize)
        };
        let [nx, ny, nz] = self.dims;
        Some([index(v.x, nx)?, index(v.y, ny)?, index(v.z, nz)?])
    }

    /// World position (mm) of voxel centre `[i, j, k]`.
    pub fn point(&self, [i, j, k]: [usize; 3]) -> DVec3 {
        self.voxel_to_world(DVec3::new(i as f64, j as f64, k as f64))
    }

    /// All voxel centres in storage order (i fastest), as f32 mm for model queries.
    pub fn points(&self) -> Vec<Vec3> {
        (0..self.len())
            .map(|n| self.point(self.ijk(n)).as_vec3())
            .collect()
    }

    /// Voxel edge lengths, mm (column norms of the affine).
    pub fn spacing_mm(&self) -> DVec3 {
        let m = self.affine.matrix3;
        DVec3::new(m.x_axis.length(), m.y_axis.length(), m.z_axis.length())
    }

    /// The world box spanned by the voxel centres.
    pub fn bounds(&self) -> BoundingBox {
        let [nx, ny, nz] = self.dims.map(|d| d.saturating_sub(1) as f64);
        let corners = [
            DVec3::new(0.0, 0.0, 0.0),
            DVec3::new(nx, 0.0, 0.0),
            DVec3::new(0.0, ny, 0.0),
            DVec3::new(0.0, 0.0, nz),
            DVec3::new(nx, ny, 0.0),
            DVec3::new(nx, 0.0, nz),
            DVec3::new(0.0, ny, nz),
            DVec3::new(nx, ny, nz),
        ];
        BoundingBox::around(corners.map(|c| self.voxel_to_world(c))).unwrap_or(BoundingBox {
            min: DVec3::ZERO,
            max: DVec3::ZERO,
        })
    }
}

/// The three canonical slice orientations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Horizontal slice at fixed z; columns run left→right (+x), rows posterior→anterior (+y).
    Axial,
    /// Frontal slice at fixed y; columns run +x, rows inferior→superior (+z).
    Coronal,
    /// Side slice at fixed x; columns run posterior→anterior (+y), rows +z.
    Sagittal,
}

impl Orientation {
    /// (column direction, row direction, normal) of the plane, as unit world vectors.
    pub fn axes(self) -> (DVec3, DVec3, DVec3) {
        match self {
            Orientation::Axial => (DVec3::X, DVec3::Y, DVec3::Z),
            Orientation::Coronal => (DVec3::X, DVec3::Z, DVec3::Y),
            Orientation::Sagittal => (DVec3::Y, DVec3::Z, DVec3::X),
        }
    }
}

/// A rectangle of pixels on a plane in world space: the sampling pattern of one slice.
///
/// Pixel `(col, row)` is centred at
/// `centre + ((col + ½) − width/2)·pixel_mm·u + ((row + ½) − height/2)·pixel_mm·v`,
/// so the centre lies in the middle of the image and pixels are square.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// World point at the centre of the image, mm.
    pub centre: DVec3,
    /// Unit direction of increasing column.
    pub u: DVec3,
    /// Unit direction of increasing row (orthogonal to `u`).
    pub v: DVec3,
    /// Edge length of a pixel, mm.
    pub pixel_mm: f64,
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Plane {
    /// A canonical slice through `point` that covers `bbox` (its extent along the plane's two axes)
    /// at `pixel_mm`, centred on the box in-plane and on `point` along the normal.
    pub fn canonical(
        orientation: Orientation,
        point: DVec3,
        bbox: &BoundingBox,
        pixel_mm: f64,
    ) -> Result<Self, SpaceError> {
        check_spacing(pixel_mm)?;
        let (u, v, n) = orientation.axes();
        let size = bbox.size();
        let centre_box = bbox.centre();
        // In-plane: the box centre; along the normal: the requested point.
        let centre = centre_box - n * n.dot(centre_box) + n * n.dot(point);
        let pixels = |extent: f64| ((extent / pixel_mm).ceil() as usize).max(1);
        Ok(Self {
            centre,
            u,
            v,
            pixel_mm,
            width: pixels(u.dot(size).abs()),
            height: pixels(v.dot(size).abs()),
        })
    }

    /// A plane of any orientation: `normal` is the plane normal, `up` the direction rows increase
    /// along (projected into the plane), `size_mm` the (width, height) it covers.
    pub fn oblique(
        centre: DVec3,
        normal: DVec3,
        up: DVec3,
        size_mm: (f64, f64),
        pixel_mm: f64,
    ) -> Result<Self, SpaceError> {
        check_spacing(pixel_mm)?;
        let bad = || SpaceError::BadOrientation { normal, up };
        let n = normal.try_normalize().ok_or_else(bad)?;
        let v = (up - n * n.dot(up)).try_normalize().ok_or_else(bad)?;
        let u = v.cross(n);
        if !(centre.is_finite() && size_mm.0 > 0.0 && size_mm.1 > 0.0) {
            return Err(bad());
        }
        let pixels = |extent: f64| ((extent / pixel_mm).ceil() as usize).max(1);
        Ok(Self {
            centre,
            u,
            v,
            pixel_mm,
            width: pixels(size_mm.0),
            height: pixels(size_mm.1),
        })
    }

    /// Unit normal of the plane (`u × v`).
    pub fn normal(&self) -> DVec3 {
        self.u.cross(self.v)
    }

    /// World position (mm) of the centre of pixel `(col, row)`.
    pub fn point(&self, col: usize, row: usize) -> DVec3 {
        let du = (col as f64 + 0.5) - self.width as f64 / 2.0;
        let dv = (row as f64 + 0.5) - self.height as f64 / 2.0;
        self.centre + self.u * (du * self.pixel_mm) + self.v * (dv * self.pixel_mm)
    }

    /// All pixel centres, row by row (column fastest), as f32 mm for model queries.
    pub fn points(&self) -> Vec<Vec3> {
        (0..self.height)
            .flat_map(|row| (0..self.width).map(move |col| (col, row)))
            .map(|(col, row)| self.point(col, row).as_vec3())
            .collect()
    }

    /// The pixel (fractional col, row) under a world point projected onto the plane.
    pub fn pixel_of(&self, p: DVec3) -> (f64, f64) {
        let d = p - self.centre;
        (
            d.dot(self.u) / self.pixel_mm + self.width as f64 / 2.0 - 0.5,
            d.dot(self.v) / self.pixel_mm + self.height as f64 / 2.0 - 0.5,
        )
    }
}

/// Builds a voxel→world affine from a 3×3 linear part and a translation (both row-major, as
/// NIfTI's `srow_*` rows).
pub fn affine_from_rows(rows: [[f64; 4]; 3]) -> DAffine3 {
    let m = DMat3::from_cols(
        DVec3::new(rows[0][0], rows[1][0], rows[2][0]),
        DVec3::new(rows[0][1], rows[1][1], rows[2][1]),
        DVec3::new(rows[0][2], rows[1][2], rows[2][2]),
    );
    DAffine3::from_mat3_translation(m, DVec3::new(rows[0][3], rows[1][3], rows[2][3]))
}

/// The affine as a 4×4 row-major matrix (nibabel's `img.affine` layout).
pub fn affine_to_rows(affine: &DAffine3) -> [[f64; 4]; 4] {
    let m = affine.matrix3;
    let t = affine.translation;
    [
        [m.x_axis.x, m.y_axis.x, m.z_axis.x, t.x],
        [m.x_axis.y, m.y_axis.y, m.z_axis.y, t.y],
        [m.x_axis.z, m.y_axis.z, m.z_axis.z, t.z],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_round_trips_and_maps_the_official_origin() {
        let p = Vec3::new(-92.0, -126.0, -72.0);
        assert_eq!(normalise_mni(p), Vec3::ZERO);
        let q = Vec3::new(12.5, -40.0, 3.0);
        assert!((denormalise_mni(normalise_mni(q)) - q).abs().max_element() < 1e-4);
    }

    #[test]
    fn template_grid_at_1mm_matches_the_template() {
        let g = Grid::mni(1.0).expect("grid");
        assert_eq!(g.dims, [197, 233, 189]);
        assert_eq!(g.point([0, 0, 0]), DVec3::new(-98.0, -134.0, -72.0));
        assert_eq!(g.point([196, 232, 188]), DVec3::new(98.0, 98.0, 116.0));
        let g2 = Grid::mni(2.0).expect("grid");
        assert_eq!(g2.dims, [99, 117, 95]);
        let g025 = Grid::mni(0.25).expect("grid");
        assert_eq!(g025.dims, [785, 929, 753]);
    }

    #[test]
    fn grid_index_and_world_round_trip() {
        let g = Grid::mni(3.0).expect("grid");
        let ijk = [5, 7, 11];
        assert_eq!(g.ijk(g.index(ijk)), ijk);
        let inv = g.world_to_voxel().expect("invertible");
        let back = inv.transform_point3(g.point(ijk));
        assert!((back - DVec3::new(5.0, 7.0, 11.0)).abs().max_element() < 1e-9);
    }

    #[test]
    fn bad_spacing_and_boxes_are_refused() {
        assert!(matches!(Grid::mni(0.0), Err(SpaceError::BadSpacing(_))));
        assert!(matches!(
            Grid::mni(f64::NAN),
            Err(SpaceError::BadSpacing(_))
        ));
        assert!(matches!(Grid::mni(100.0), Err(SpaceError::BadSpacing(_))));
        let inverted = BoundingBox {
            min: DVec3::ONE,
            max: DVec3::ZERO,
        };
        assert!(matches!(
            Grid::over_box(&inverted, 1.0),
            Err(SpaceError::BadBox { .. })
        ));
    }

    #[test]
    fn canonical_planes_pass_through_the_point_and_cover_the_box() {
        let bbox = BoundingBox::MNI_TEMPLATE;
        let p = DVec3::new(10.0, -20.0, 30.0);
        let axial = Plane::canonical(Orientation::Axial, p, &bbox, 0.5).expect("plane");
        assert_eq!((axial.width, axial.height), (392, 464));
        for (c, r) in [(0, 0), (100, 200), (391, 463)] {
            assert!((axial.point(c, r).z - 30.0).abs() < 1e-12);
        }
        // First and last pixel centres lie half a pixel inside the box.
        assert!((axial.point(0, 0).x - (-97.75)).abs() < 1e-9);
        let (col, row) = axial.pixel_of(axial.point(17, 42));
        assert!((col - 17.0).abs() < 1e-9 && (row - 42.0).abs() < 1e-9);
        let sagittal = Plane::canonical(Orientation::Sagittal, p, &bbox, 2.0).expect("plane");
        assert!(sagittal.points().iter().all(|q| (q.x - 10.0).abs() < 1e-5));
    }

    #[test]
    fn oblique_planes_are_orthonormal_and_reject_degenerate_axes() {
        let plane = Plane::oblique(
            DVec3::ZERO,
            DVec3::new(1.0, 1.0, 0.0),
            DVec3::Z,
            (100.0, 50.0),
            1.0,
        )
        .expect("plane");
        assert!((plane.u.dot(plane.v)).abs() < 1e-12);
        assert!((plane.normal() - DVec3::new(1.0, 1.0, 0.0).normalize()).length() < 1e-12);
        assert_eq!((plane.width, plane.height), (100, 50));
        assert!(Plane::oblique(DVec3::ZERO, DVec3::Z, DVec3::Z, (10.0, 10.0), 1.0).is_err());
    }

    #[test]
    fn affine_rows_round_trip() {
        let rows = [
            [-2.0, 0.1, 0.0, 117.0],
            [0.0, 1.9, -0.3, -35.0],
            [0.0, 0.3, 2.1, -7.0],
        ];
        let a = affine_from_rows(rows);
        let back = affine_to_rows(&a);
        for r in 0..3 {
            assert_eq!(back[r], rows[r]);
        }
        assert_eq!(back[3], [0.0, 0.0, 0.0, 1.0]);
    }
}
