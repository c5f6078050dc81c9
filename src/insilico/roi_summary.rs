//! The mean prediction per ROI of a model's domain, for each image of a set or per category:
//! the bar chart of the viewer and `nrf roi`, exportable as CSV.

use serde::Serialize;

use super::InsilicoError;
use super::set_prediction::SetPrediction;
use crate::model::{Domain, VoxelDomain};

/// Mean predictions per ROI: one row per image (or category), one column per ROI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoiSummary {
    /// The ROIs, in the domain's order.
    pub rois: Vec<String>,
    /// Voxels per ROI.
    pub voxels: Vec<usize>,
    /// The rows.
    pub rows: Vec<RoiRow>,
}

/// One row of an [`RoiSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoiRow {
    /// An image's name, or a category's (the mean over its images).
    pub label: String,
    /// Images averaged into the row.
    pub images: usize,
    /// Mean prediction per ROI.
    pub means: Vec<f32>,
}

/// The domain of a model whose ROIs can be summarised; an error saying why not otherwise.
pub fn roi_domain(domain: &Domain) -> Result<&VoxelDomain, InsilicoError> {
    match domain {
        Domain::Voxels(d) if !d.rois().is_empty() => Ok(d),
        Domain::Voxels(_) => Err(InsilicoError::Invalid(
            "the model's domain has no ROI labels to summarise".into(),
        )),
        Domain::Unknown => Err(InsilicoError::Invalid(
            "the model's domain is unknown, so it has no ROIs (give --domain or --nsd-root for an official run folder)".into(),
        )),
    }
}

/// Per-ROI means of each image of `prediction`, which must have been predicted at the domain's
/// voxels (`domain.coords_mm()`, in order). With `by_category`, one row per image category
/// instead (images without one go to `other`).
pub fn summarise(
    domain: &VoxelDomain,
    prediction: &SetPrediction,
    by_category: bool,
) -> Result<RoiSummary, InsilicoError> {
    if prediction.points != domain.coords_mm() {
        return Err(InsilicoError::Invalid(
            "an ROI summary needs predictions at the domain's voxels".into(),
        ));
    }
    let rois = domain.rois();
    let per_image: Vec<Vec<f32>> = (0..prediction.len())
        .map(|i| {
            let values = prediction.image(i);
            rois.iter()
                .map(|roi| {
                    let (sum, n) = values
                        .iter()
                        .zip(&roi.members)
                        .filter(|(_, m)| **m)
                        .fold((0.0f64, 0usize), |(s, n), (&v, _)| {
                            (s + f64::from(v), n + 1)
                        });
                    if n == 0 {
                        f32::NAN
                    } else {
                        (sum / n as f64) as f32
                    }
                })
                .collect()
        })
        .collect();
    let rows = if by_category {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, item) in prediction.items.iter().enumerate() {
            let label = item.category().map_or("other", |c| c.name()).to_string();
            match groups.iter_mut().find(|(l, _)| *l == label) {
                Some((_, members)) => members.push(i),
                None => groups.push((label, vec![i])),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
            .into_iter()
            .map(|(label, members)| RoiRow {
                means: (0..rois.len())
                    .map(|r| {
                        members.iter().map(|&i| per_image[i][r]).sum::<f32>() / members.len() as f32
                    })
                    .collect(),
                images: members.len(),
                label,
            })
            .collect()
    } else {
        prediction
            .items
            .iter()
            .zip(per_image)
            .map(|(item, means)| RoiRow {
                label: item.name.clone(),
                images: 1,
                means,
            })
            .collect()
    };
    Ok(RoiSummary {
        rois: rois.iter().map(|r| r.name.clone()).collect(),
        voxels: rois
            .iter()
            .map(|r| r.members.iter().filter(|m| **m).count())
            .collect(),
        rows,
    })
}

/// Quotes a CSV field when it needs it.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl RoiSummary {
    /// The summary as CSV: a header `label,images,ROI…` and one line per row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("label,images");
        for roi in &self.rois {
            out.push(',');
            out.push_str(&csv_field(roi));
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&csv_field(&row.label));
            out.push_str(&format!(",{}", row.images));
            for m in &row.means {
                out.push_str(&format!(",{m}"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insilico::image_set::{ItemOrigin, SetItem};
    use crate::model::Roi;
    use glam::Vec3;

    #[test]
    fn means_per_roi_and_per_category() {
        let coords = vec![Vec3::ZERO, Vec3::X, Vec3::Y];
        let domain = VoxelDomain::new(
            coords.clone(),
            vec![
                Roi {
                    name: "V1".into(),
                    members: vec![true, true, false],
                },
                Roi {
                    name: "FFA, left".into(),
                    members: vec![false, false, true],
                },
            ],
            None,
        )
        .unwrap();
        let item = |name: &str| SetItem {
            name: name.into(),
            origin: ItemOrigin::File(name.into()),
        };
        let prediction = SetPrediction {
            items: vec![item("1_face.png"), item("2_face.png"), item("x.png")],
            points: coords,
            values: vec![1.0, 3.0, 5.0, 3.0, 5.0, 7.0, 0.0, 0.0, -1.0],
        };
        let each = summarise(&domain, &prediction, false).unwrap();
        assert_eq!(each.voxels, [2, 1]);
        assert_eq!(each.rows[0].means, [2.0, 5.0]);
        let grouped = summarise(&domain, &prediction, true).unwrap();
        assert_eq!(grouped.rows[0].label, "face");
        assert_eq!(grouped.rows[0].images, 2);
        assert_eq!(grouped.rows[0].means, [3.0, 6.0]);
        assert_eq!(grouped.rows[1].label, "other");
        let csv = grouped.to_csv();
        assert!(
            csv.starts_with("label,images,V1,\"FFA, left\"\nface,2,3,6\n"),
            "{csv}"
        );
    }
}
