//! In-silico localisers: two image sets predicted at the same points, compared per point by the
//! difference of their mean predictions and Welch's t over images (unequal variances), and the
//! map's peaks as local maxima at least some distance apart.

use glam::Vec3;
use serde::Serialize;

use super::InsilicoError;
use super::set_prediction::{GridPoints, SetPrediction};
use crate::model::Domain;

/// A localiser contrast A − B at a list of points.
#[derive(Debug, Clone)]
pub struct LocalizerMap {
    /// mean(A) − mean(B), `[points]`.
    pub difference: Vec<f32>,
    /// Welch's t, `[points]` (0 where both sets are constant).
    pub t: Vec<f32>,
    /// Images in A.
    pub n_a: usize,
    /// Images in B.
    pub n_b: usize,
}

/// Mean and unbiased variance over images at each point (accumulated in f64).
fn moments(set: &SetPrediction) -> (Vec<f64>, Vec<f64>) {
    let n = set.points.len();
    let count = set.len() as f64;
    let mut mean = vec![0.0f64; n];
    for i in 0..set.len() {
        for (m, &v) in mean.iter_mut().zip(set.image(i)) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= count);
    let mut var = vec![0.0f64; n];
    for i in 0..set.len() {
        for ((s, &v), m) in var.iter_mut().zip(set.image(i)).zip(&mean) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    var.iter_mut().for_each(|s| *s /= count - 1.0);
    (mean, var)
}

/// The contrast A − B of two set predictions at the same points; each set needs two images or
/// more (a variance).
pub fn welch_contrast(a: &SetPrediction, b: &SetPrediction) -> Result<LocalizerMap, InsilicoError> {
    if a.points != b.points {
        return Err(InsilicoError::Invalid(
            "the two sets were predicted at different points".into(),
        ));
    }
    for (side, set) in [("A", a), ("B", b)] {
        if set.len() < 2 {
            return Err(InsilicoError::Invalid(format!(
                "set {side} has {} readable image(s); a t statistic needs at least 2 per set",
                set.len()
            )));
        }
    }
    let (mean_a, var_a) = moments(a);
    let (mean_b, var_b) = moments(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut difference = Vec::with_capacity(a.points.len());
    let mut t = Vec::with_capacity(a.points.len());
    for p in 0..a.points.len() {
        let d = mean_a[p] - mean_b[p];
        let se = (var_a[p] / na + var_b[p] / nb).sqrt();
        difference.push(d as f32);
        t.push(if se > 0.0 { (d / se) as f32 } else { 0.0 });
    }
    Ok(LocalizerMap {
        difference,
        t,
        n_a: a.len(),
        n_b: b.len(),
    })
}

/// A local extremum of a map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Where, MNI mm.
    pub position_mm: [f32; 3],
    /// The map's value there (t for a localiser).
    pub value: f32,
    /// The ROIs of the model's domain at the point (nearest training voxel), when known.
    pub rois: Vec<String>,
}

/// Offsets of a voxel's 26 neighbours.
fn neighbours() -> impl Iterator<Item = [i64; 3]> {
    (-1..=1).flat_map(|k| {
        (-1..=1)
            .flat_map(move |j| (-1..=1).map(move |i| [i, j, k]))
            .filter(|o| *o != [0, 0, 0])
    })
}

/// Up to `count` local maxima of `values` (given at `at.points`, the grid's inside voxels; use
/// `sign = -1` for minima), largest first, each at least `min_separation_mm` from every larger
/// one kept, labelled with `domain`'s ROIs.
pub fn peaks(
    values: &[f32],
    at: &GridPoints,
    sign: f32,
    count: usize,
    min_separation_mm: f32,
    domain: &Domain,
) -> Result<Vec<Peak>, InsilicoError> {
    if values.len() != at.points.len() {
        return Err(InsilicoError::Invalid(format!(
            "{} values for {} grid points",
            values.len(),
            at.points.len()
        )));
    }
    let grid = &at.inside.grid;
    // Grid index → position in `values`.
    let mut slot = vec![u32::MAX; grid.len()];
    let mut n = 0u32;
    for (index, inside) in at.inside.data.iter().enumerate() {
        if *inside {
            slot[index] = n;
            n += 1;
        }
    }
    let dims = grid.dims.map(|d| d as i64);
    let mut candidates: Vec<(f32, usize)> = Vec::new();
    for (index, &s) in slot.iter().enumerate() {
        if s == u32::MAX {
            continue;
        }
        let v = sign * values[s as usize];
        if !v.is_finite() || v <= 0.0 {
            continue;
        }
        let [i, j, k] = grid.ijk(index).map(|c| c as i64);
        let is_max = neighbours().all(|[di, dj, dk]| {
            let (a, b, c) = (i + di, j + dj, k + dk);
            if a < 0 || b < 0 || c < 0 || a >= dims[0] || b >= dims[1] || c >= dims[2] {
                return true;
            }
            let other = slot[grid.index([a as usize, b as usize, c as usize])];
            other == u32::MAX || {
                let w = sign * values[other as usize];
                // Ties go to the earlier voxel, so a plateau yields one peak.
                w < v || (w == v && (other as usize) > s as usize)
            }
        });
        if is_max {
            candidates.push((v, s as usize));
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Vec<Peak> = Vec::new();
    for (_, s) in candidates {
        if kept.len() >= count {
            break;
        }
        let p = at.points[s];
        if kept
            .iter()
            .any(|k| Vec3::from_array(k.position_mm).distance(p) < min_separation_mm)
        {
            continue;
        }
        let rois = match domain {
            Domain::Voxels(d) => d.roi_names_at(p).into_iter().map(String::from).collect(),
            Domain::Unknown => Vec::new(),
        };
        kept.push(Peak {
            position_mm: p.to_array(),
            value: values[s],
            rois,
        });
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insilico::image_set::{ItemOrigin, SetItem};
    use crate::query::RegionUsed;
    use crate::space::Grid;
    use crate::volume::Mask;

    fn set(rows: &[&[f32]], points: &[Vec3]) -> SetPrediction {
        SetPrediction {
            items: (0..rows.len())
                .map(|i| SetItem {
                    name: format!("{i}"),
                    origin: ItemOrigin::File(format!("{i}.png").into()),
                })
                .collect(),
            points: points.to_vec(),
            values: rows.iter().flat_map(|r| r.iter().copied()).collect(),
        }
    }

    #[test]
    fn welch_t_matches_the_formula() {
        let points = [Vec3::ZERO, Vec3::X];
        let a = set(&[&[1.0, 5.0], &[2.0, 5.0], &[3.0, 5.0]], &points);
        let b = set(&[&[0.0, 5.0], &[2.0, 5.0]], &points);
        let map = welch_contrast(&a, &b).unwrap();
        // mean A 2, var 1; mean B 1, var 2: t = 1 / sqrt(1/3 + 2/2).
        assert!((map.difference[0] - 1.0).abs() < 1e-6);
        assert!((map.t[0] - 1.0 / (1.0f32 / 3.0 + 1.0).sqrt()).abs() < 1e-6);
        assert_eq!(map.t[1], 0.0, "constant sets give t = 0, not infinity");
        let one = set(&[&[1.0, 1.0]], &points);
        assert!(
            welch_contrast(&a, &one)
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
    }

    #[test]
    fn peaks_are_separated_local_maxima_largest_first() {
        let grid = Grid::new([10, 1, 1], glam::DAffine3::IDENTITY);
        let inside = Mask {
            grid,
            data: vec![true; 10],
        };
        let points = inside.points();
        let at = GridPoints {
            inside,
            region: RegionUsed::Everywhere,
            points,
        };
        let values = [0.0, 3.0, 1.0, 0.0, 2.0, 2.5, 0.0, 1.0, 4.0, 1.0];
        let found = peaks(&values, &at, 1.0, 10, 0.0, &Domain::Unknown).unwrap();
        let xs: Vec<f32> = found.iter().map(|p| p.position_mm[0]).collect();
        assert_eq!(xs, [8.0, 1.0, 5.0]);
        let apart = peaks(&values, &at, 1.0, 10, 5.0, &Domain::Unknown).unwrap();
        assert_eq!(
            apart.len(),
            2,
            "the peak at x = 5 lies 3 mm from the larger one at x = 8"
        );
        let minima = peaks(&values.map(|v| -v), &at, -1.0, 1, 0.0, &Domain::Unknown).unwrap();
        assert_eq!(minima[0].position_mm[0], 8.0);
        assert_eq!(minima[0].value, -4.0);
    }
}
