//! A model's domain: the MNI positions of the voxels it was trained on, with their ROI labels.
//!
//! An NRF answers anywhere, but only near its training voxels is the answer meaningful (NSD
//! models cover visual cortex). Grids and slices stay inside the domain by default; a point is
//! inside when a training voxel lies within `reach_mm` of it.

use std::collections::HashMap;

use glam::{DVec3, Vec3};

use crate::space::Grid;
use crate::volume::Mask;

/// Where a model's answers are meaningful.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// The training voxels are known.
    Voxels(VoxelDomain),
    /// Nobody said which voxels the model was trained on; callers fall back to the brain mask
    /// and say so.
    Unknown,
}

/// Training voxels with their ROI labels and a spatial index for "is this point near one".
#[derive(Debug, Clone)]
pub struct VoxelDomain {
    coords_mm: Vec<Vec3>,
    rois: Vec<Roi>,
    reach_mm: f32,
    cells: HashMap<[i32; 3], Vec<u32>>,
}

impl PartialEq for VoxelDomain {
    fn eq(&self, other: &Self) -> bool {
        self.coords_mm == other.coords_mm
            && self.rois == other.rois
            && self.reach_mm == other.reach_mm
    }
}

/// A named region and which domain voxels belong to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    /// Region name as the data spell it (e.g. `V1v`, `FFA1`).
    pub name: String,
    /// One flag per domain voxel.
    pub members: Vec<bool>,
}

/// A domain that cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DomainError {
    /// No voxels.
    #[error("a model domain needs at least one voxel")]
    Empty,
    /// A coordinate is NaN or infinite.
    #[error("domain voxel {0} has a NaN or infinite coordinate")]
    NotFinite(usize),
    /// An ROI whose membership list does not match the voxels.
    #[error("ROI {name} labels {len} voxels, but the domain has {expected}")]
    RoiLength {
        /// ROI name.
        name: String,
        /// Labels given.
        len: usize,
        /// Voxels in the domain.
        expected: usize,
    },
}

impl VoxelDomain {
    /// A domain from voxel positions (MNI mm) and ROIs. `reach_mm` defaults to the voxel spacing
    /// (the median distance to the nearest other voxel), so that every point between
    /// neighbouring voxels is inside.
    pub fn new(
        coords_mm: Vec<Vec3>,
        rois: Vec<Roi>,
        reach_mm: Option<f32>,
    ) -> Result<Self, DomainError> {
        if coords_mm.is_empty() {
            return Err(DomainError::Empty);
        }
        if let Some(bad) = coords_mm.iter().position(|p| !p.is_finite()) {
            return Err(DomainError::NotFinite(bad));
        }
        if let Some(roi) = rois.iter().find(|r| r.members.len() != coords_mm.len()) {
            return Err(DomainError::RoiLength {
                name: roi.name.clone(),
                len: roi.members.len(),
                expected: coords_mm.len(),
            });
        }
        let reach_mm = reach_mm
            .filter(|r| r.is_finite() && *r > 0.0)
            .unwrap_or_else(|| median_spacing(&coords_mm));
        let mut domain = Self {
            coords_mm,
            rois,
            reach_mm,
            cells: HashMap::new(),
        };
        domain.index();
        Ok(domain)
    }

    fn cell_of(&self, p: Vec3) -> [i32; 3] {
        let c = (p / self.reach_mm).floor();
        [c.x as i32, c.y as i32, c.z as i32]
    }

    fn index(&mut self) {
        let mut cells: HashMap<[i32; 3], Vec<u32>> = HashMap::new();
        for (n, &p) in self.coords_mm.iter().enumerate() {
            cells.entry(self.cell_of(p)).or_default().push(n as u32);
        }
        self.cells = cells;
    }

    /// Voxel positions, MNI mm.
    pub fn coords_mm(&self) -> &[Vec3] {
        &self.coords_mm
    }

    /// The ROIs, in the order the data listed them.
    pub fn rois(&self) -> &[Roi] {
        &self.rois
    }

    /// How far from a training voxel a point still counts as inside, mm.
    pub fn reach_mm(&self) -> f32 {
        self.reach_mm
    }

    /// The nearest training voxel within reach of `p`: its index and distance.
    pub fn nearest(&self, p: Vec3) -> Option<(usize, f32)> {
        let [cx, cy, cz] = self.cell_of(p);
        let mut best: Option<(usize, f32)> = None;
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let Some(members) = self.cells.get(&[cx + dx, cy + dy, cz + dz]) else {
                        continue;
                    };
                    for &n in members {
                        let d = self.coords_mm[n as usize].distance(p);
                        if d <= self.reach_mm && best.is_none_or(|(_, b)| d < b) {
                            best = Some((n as usize, d));
                        }
                    }
                }
            }
        }
        best
    }

    /// Whether a training voxel lies within reach of `p`.
    pub fn contains(&self, p: Vec3) -> bool {
        self.nearest(p).is_some()
    }

    /// Names of the ROIs of the training voxel nearest to `p` (empty outside the domain).
    pub fn roi_names_at(&self, p: Vec3) -> Vec<&str> {
        let Some((n, _)) = self.nearest(p) else {
            return Vec::new();
        };
        self.rois
            .iter()
            .filter(|r| r.members[n])
            .map(|r| r.name.as_str())
            .collect()
    }

    /// The grid voxels within reach of a training voxel. Each training voxel marks the grid
    /// voxels around it, so the cost is voxels × (reach / spacing)³, not the grid's size.
    pub fn mask_grid(&self, grid: &Grid) -> Mask {
        let mut data = vec![false; grid.len()];
        let Ok(world_to_voxel) = grid.world_to_voxel() else {
            return Mask { grid: *grid, data };
        };
        let spacing = grid.spacing_mm();
        let reach = f64::from(self.reach_mm);
        let radius = DVec3::new(reach / spacing.x, reach / spacing.y, reach / spacing.z);
        let dims = grid.dims.map(|d| d as i64);
        for p in &self.coords_mm {
            let world = p.as_dvec3();
            let centre = world_to_voxel.transform_point3(world);
            // A generous box in index space (exact for axis-aligned grids, safe for rotated ones).
            let extent = radius.max_element().ceil() as i64 + 1;
            let c = centre.round();
            let lo = |axis: usize, v: f64| ((v as i64) - extent).clamp(0, dims[axis] - 1);
            let hi = |axis: usize, v: f64| ((v as i64) + extent).clamp(0, dims[axis] - 1);
            for k in lo(2, c.z)..=hi(2, c.z) {
                for j in lo(1, c.y)..=hi(1, c.y) {
                    for i in lo(0, c.x)..=hi(0, c.x) {
                        let ijk = [i as usize, j as usize, k as usize];
                        // Same f32 distance test as `nearest`, so both agree at the boundary.
                        if grid.point(ijk).as_vec3().distance(*p) <= self.reach_mm {
                            data[grid.index(ijk)] = true;
                        }
                    }
                }
            }
        }
        Mask { grid: *grid, data }
    }
}

/// Median distance from each voxel to its nearest neighbour (sampled for large sets), or 2 mm
/// for a single voxel.
fn median_spacing(coords: &[Vec3]) -> f32 {
    if coords.len() < 2 {
        return 2.0;
    }
    // A coarse spatial hash at 4 mm finds neighbours without an O(N²) scan.
    const CELL_MM: f32 = 4.0;
    let cell = |p: Vec3| {
        let c = (p / CELL_MM).floor();
        [c.x as i32, c.y as i32, c.z as i32]
    };
    let mut cells: HashMap<[i32; 3], Vec<usize>> = HashMap::new();
    for (n, &p) in coords.iter().enumerate() {
        cells.entry(cell(p)).or_default().push(n);
    }
    let step = (coords.len() / 2000).max(1);
    let mut nearest: Vec<f32> = coords
        .iter()
        .enumerate()
        .step_by(step)
        .filter_map(|(n, &p)| {
            let [cx, cy, cz] = cell(p);
            let mut best = f32::INFINITY;
            for dz in -1..=1 {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        for &m in cells
                            .get(&[cx + dx, cy + dy, cz + dz])
                            .into_iter()
                            .flatten()
                        {
                            if m != n {
                                best = best.min(coords[m].distance(p));
                            }
                        }
                    }
                }
            }
            (best.is_finite() && best > 0.0).then_some(best)
        })
        .collect();
    if nearest.is_empty() {
        return CELL_MM;
    }
    nearest.sort_by(f32::total_cmp);
    nearest[nearest.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::BoundingBox;

    fn cube(spacing: f32, n: i32) -> Vec<Vec3> {
        let mut out = Vec::new();
        for k in 0..n {
            for j in 0..n {
                for i in 0..n {
                    out.push(Vec3::new(i as f32, j as f32, k as f32) * spacing);
                }
            }
        }
        out
    }

    #[test]
    fn reach_defaults_to_the_voxel_spacing() {
        let d = VoxelDomain::new(cube(1.8, 6), vec![], None).expect("domain");
        assert!((d.reach_mm() - 1.8).abs() < 1e-5);
        assert!(d.contains(Vec3::new(0.9, 0.9, 0.9)));
        assert!(!d.contains(Vec3::new(-2.0, 0.0, 0.0)));
        assert!(!d.contains(Vec3::new(20.0, 20.0, 20.0)));
    }

    #[test]
    fn roi_names_come_from_the_nearest_voxel() {
        let coords = vec![Vec3::ZERO, Vec3::new(2.0, 0.0, 0.0)];
        let rois = vec![
            Roi {
                name: "V1v".into(),
                members: vec![true, false],
            },
            Roi {
                name: "nsdgeneral".into(),
                members: vec![true, true],
            },
        ];
        let d = VoxelDomain::new(coords, rois, None).expect("domain");
        assert_eq!(
            d.roi_names_at(Vec3::new(0.2, 0.0, 0.0)),
            ["V1v", "nsdgeneral"]
        );
        assert_eq!(d.roi_names_at(Vec3::new(1.9, 0.0, 0.0)), ["nsdgeneral"]);
        assert!(d.roi_names_at(Vec3::new(50.0, 0.0, 0.0)).is_empty());
    }

    #[test]
    fn grid_mask_equals_pointwise_membership() {
        let d = VoxelDomain::new(cube(1.8, 5), vec![], None).expect("domain");
        let grid = Grid::over_box(
            &BoundingBox::new(Vec3::splat(-4.0).as_dvec3(), Vec3::splat(12.0).as_dvec3())
                .expect("box"),
            0.7,
        )
        .expect("grid");
        let mask = d.mask_grid(&grid);
        for n in 0..grid.len() {
            let p = grid.point(grid.ijk(n)).as_vec3();
            assert_eq!(mask.data[n], d.contains(p), "voxel {n} at {p}");
        }
        assert!(mask.count() > 0);
    }

    #[test]
    fn bad_domains_are_refused() {
        assert_eq!(
            VoxelDomain::new(vec![], vec![], None).unwrap_err(),
            DomainError::Empty
        );
        let nan = vec![Vec3::ZERO, Vec3::new(f32::NAN, 0.0, 0.0)];
        assert_eq!(
            VoxelDomain::new(nan, vec![], None).unwrap_err(),
            DomainError::NotFinite(1)
        );
        let rois = vec![Roi {
            name: "V1".into(),
            members: vec![true],
        }];
        assert!(matches!(
            VoxelDomain::new(vec![Vec3::ZERO, Vec3::ONE], rois, None),
            Err(DomainError::RoiLength { .. })
        ));
    }
}
