//! What drives a point: the images of a set that raise (and that lower) the prediction most at a
//! point, a small sphere around it, or an ROI of the model's domain.

use glam::Vec3;
use serde::Serialize;

use super::InsilicoError;
use super::set_prediction::SetPrediction;
use crate::model::Domain;

/// One image of a ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// 1-based rank.
    pub rank: usize,
    /// The image's name in its set.
    pub name: String,
    /// Its index in the set prediction.
    pub index: usize,
    /// Its mean prediction over the points.
    pub value: f32,
}

/// The images that raise the prediction most (`top`, largest first) and that lower it most
/// (`bottom`, smallest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    /// The `k` largest.
    pub top: Vec<Ranked>,
    /// The `k` smallest.
    pub bottom: Vec<Ranked>,
}

/// Refuses a point that is not finite or lies outside the MNI brain mask: no model knows
/// anything there.
pub fn check_point_in_brain(point: Vec3) -> Result<(), InsilicoError> {
    let describe = || format!("{:.1},{:.1},{:.1}", point.x, point.y, point.z);
    if !point.is_finite() {
        return Err(InsilicoError::Invalid(format!(
            "the point {} is not a finite MNI position",
            describe()
        )));
    }
    let inside =
        crate::template::brain_mask_at(&[point]).map_err(|e| InsilicoError::Query(e.into()))?;
    if !inside.first().copied().unwrap_or(false) {
        return Err(InsilicoError::Invalid(format!(
            "the point {} mm lies outside the MNI brain; give a point in the brain (the model's domain, where it was trained, is best)",
            describe()
        )));
    }
    Ok(())
}

/// The points of a sphere: `centre` and every point of a `step_mm` lattice centred on it within
/// `radius_mm` (just the centre for a radius below the step).
pub fn sphere_points(centre: Vec3, radius_mm: f32, step_mm: f32) -> Vec<Vec3> {
    let reach = (radius_mm / step_mm).floor().max(0.0) as i32;
    let mut points = Vec::new();
    for k in -reach..=reach {
        for j in -reach..=reach {
            for i in -reach..=reach {
                let offset = Vec3::new(i as f32, j as f32, k as f32) * step_mm;
                if offset.length() <= radius_mm + 1e-4 {
                    points.push(centre + offset);
                }
            }
        }
    }
    if points.is_empty() {
        points.push(centre);
    }
    points
}

/// The domain voxels of ROI `name` (MNI mm); an error naming the ROIs there are otherwise.
pub fn roi_points(domain: &Domain, name: &str) -> Result<Vec<Vec3>, InsilicoError> {
    let Domain::Voxels(voxels) = domain else {
        return Err(InsilicoError::Invalid(format!(
            "the model's domain is unknown, so it has no ROI {name:?}"
        )));
    };
    let Some(roi) = voxels.rois().iter().find(|r| r.name == name) else {
        let names: Vec<&str> = voxels.rois().iter().map(|r| r.name.as_str()).collect();
        return Err(InsilicoError::Invalid(format!(
            "the model's domain has no ROI {name:?}; it has {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let points: Vec<Vec3> = voxels
        .coords_mm()
        .iter()
        .zip(&roi.members)
        .filter_map(|(p, &member)| member.then_some(*p))
        .collect();
    if points.is_empty() {
        return Err(InsilicoError::Invalid(format!(
            "ROI {name:?} has no voxels"
        )));
    }
    Ok(points)
}

/// Ranks a set by its mean prediction over the points it was predicted at: the `k` largest and
/// the `k` smallest (`k` is capped at the set's size).
pub fn rank_images(prediction: &SetPrediction, k: usize) -> Result<Ranking, InsilicoError> {
    if k == 0 {
        return Err(InsilicoError::Invalid(
            "K must be at least 1 (how many images to list)".into(),
        ));
    }
    let means: Vec<f32> = (0..prediction.len())
        .map(|i| {
            let row = prediction.image(i);
            (row.iter().map(|&v| f64::from(v)).sum::<f64>() / row.len().max(1) as f64) as f32
        })
        .collect();
    let mut order: Vec<usize> = (0..means.len()).collect();
    // Largest first; ties keep set order.
    order.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
    let k = k.min(order.len());
    let ranked = |rank: usize, index: usize| Ranked {
        rank,
        name: prediction.items[index].name.clone(),
        index,
        value: means[index],
    };
    Ok(Ranking {
        top: order[..k]
            .iter()
            .enumerate()
            .map(|(r, &i)| ranked(r + 1, i))
            .collect(),
        bottom: order
            .iter()
            .rev()
            .take(k)
            .enumerate()
            .map(|(r, &i)| ranked(r + 1, i))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insilico::image_set::{ItemOrigin, SetItem};

    #[test]
    fn spheres_hold_the_lattice_points_within_the_radius() {
        assert_eq!(sphere_points(Vec3::ONE, 0.0, 2.0), [Vec3::ONE]);
        // 1 + 6 face neighbours at radius 2 on a 2 mm lattice.
        assert_eq!(sphere_points(Vec3::ZERO, 2.0, 2.0).len(), 7);
        assert!(
            sphere_points(Vec3::ZERO, 6.0, 2.0)
                .iter()
                .all(|p| p.length() <= 6.0 + 1e-4)
        );
    }

    #[test]
    fn rankings_sort_by_the_mean_over_points_and_refuse_k_0() {
        let items = (0..4)
            .map(|i| SetItem {
                name: format!("img{i}"),
                origin: ItemOrigin::File(format!("img{i}.png").into()),
            })
            .collect();
        let prediction = SetPrediction {
            items,
            points: vec![Vec3::ZERO, Vec3::X],
            values: vec![1.0, 1.0, 5.0, 3.0, -2.0, 0.0, 0.0, 0.5],
        };
        let ranking = rank_images(&prediction, 2).unwrap();
        let names = |r: &[Ranked]| r.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&ranking.top), ["img1", "img0"]);
        assert_eq!(ranking.top[0].value, 4.0);
        assert_eq!(names(&ranking.bottom), ["img2", "img3"]);
        assert_eq!(rank_images(&prediction, 10).unwrap().top.len(), 4);
        assert!(rank_images(&prediction, 0).is_err());
    }

    #[test]
    fn points_outside_the_brain_are_refused() {
        assert!(check_point_in_brain(Vec3::new(30.0, -60.0, 0.0)).is_ok());
        let message = check_point_in_brain(Vec3::new(0.0, 0.0, 120.0))
            .unwrap_err()
            .to_string();
        assert!(message.contains("outside the MNI brain"), "{message}");
        assert!(check_point_in_brain(Vec3::NAN).is_err());
    }
}
