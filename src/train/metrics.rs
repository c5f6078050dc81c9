//! Scores of predictions against measurements: per-voxel Pearson r across images, and a median
//! that leaves out voxels where r is undefined (a constant voxel, or a constant prediction).

/// Per-voxel Pearson correlation across images.
///
/// `predicted` and `measured` are `[images, voxels]` row-major. A voxel whose measured or
/// predicted values do not vary gets `None` (r is undefined there), never NaN.
pub fn pearson_per_voxel(predicted: &[f32], measured: &[f32], voxels: usize) -> Vec<Option<f32>> {
    let images = measured.len().checked_div(voxels).unwrap_or(0);
    (0..voxels)
        .map(|v| {
            let column = |data: &[f32]| -> Vec<f64> {
                (0..images)
                    .map(|i| f64::from(data[i * voxels + v]))
                    .collect()
            };
            pearson(&column(predicted), &column(measured))
        })
        .collect()
}

/// Pearson r of two equally long series; `None` when either is constant or too short.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f32> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let (ma, mb) = (
        a[..n].iter().sum::<f64>() / n as f64,
        b[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    let scale = (aa * bb).sqrt();
    // Relative guard: a series constant up to rounding counts as constant.
    let tiny = 1e-12 * (ma.abs().max(mb.abs()).max(1.0)).powi(2) * n as f64;
    (aa > tiny && bb > tiny && scale > 0.0).then(|| (ab / scale) as f32)
}

/// Summary of per-voxel scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ScoreSummary {
    /// Median over voxels where the score is defined.
    pub median: f32,
    /// Mean over those voxels.
    pub mean: f32,
    /// Voxels with a defined score.
    pub defined: usize,
    /// Voxels left out because the score is undefined.
    pub undefined: usize,
}

/// Median and mean of the defined scores; `None` if no voxel has one.
pub fn summarise(scores: &[Option<f32>]) -> Option<ScoreSummary> {
    let mut defined: Vec<f32> = scores.iter().flatten().copied().collect();
    if defined.is_empty() {
        return None;
    }
    defined.sort_by(f32::total_cmp);
    let n = defined.len();
    let median = if n % 2 == 1 {
        defined[n / 2]
    } else {
        0.5 * (defined[n / 2 - 1] + defined[n / 2])
    };
    Some(ScoreSummary {
        median,
        mean: defined.iter().sum::<f32>() / n as f32,
        defined: n,
        undefined: scores.len() - n,
    })
}

/// Per-voxel scores as an MNI volume of `spacing_mm`: each grid point within reach of a voxel
/// (see [`VoxelDomain`]) gets its nearest voxel's score; undefined scores and points out of reach
/// are 0. Returns the volume and which points are within reach.
pub fn score_map(
    domain: &crate::model::VoxelDomain,
    scores: &[Option<f32>],
    spacing_mm: f64,
) -> Result<(crate::volume::Volume, crate::volume::Mask), crate::volume::VolumeError> {
    let grid = crate::space::Grid::mni(spacing_mm)?;
    let (data, inside): (Vec<f32>, Vec<bool>) = grid
        .points()
        .iter()
        .map(|&p| match domain.nearest(p) {
            Some((v, _)) => (scores.get(v).copied().flatten().unwrap_or(0.0), true),
            None => (0.0, false),
        })
        .unzip();
    Ok((
        crate::volume::Volume::new(grid, data)?,
        crate::volume::Mask { grid, data: inside },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_matches_hand_computed_values() {
        // x = 1..5, y = 2x + 1 → r = 1; y reversed → −1.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        assert!((pearson(&x, &y).unwrap() - 1.0).abs() < 1e-6);
        let reversed: Vec<f64> = y.iter().rev().copied().collect();
        assert!((pearson(&x, &reversed).unwrap() + 1.0).abs() < 1e-6);
        // x = [1, 2, 3], y = [1, 3, 2]: r = 0.5 by hand (cov 0.5, var 1, var 1).
        assert!((pearson(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).unwrap() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn constant_voxels_are_undefined_and_left_out_of_the_median() {
        // 3 images × 3 voxels; voxel 1 is constant.
        let measured = [1.0, 5.0, 1.0, 2.0, 5.0, 3.0, 3.0, 5.0, 2.0];
        let predicted = [1.0, 0.0, 1.0, 2.0, 1.0, 2.0, 3.0, 2.0, 3.0];
        let r = pearson_per_voxel(&predicted, &measured, 3);
        assert_eq!(r[1], None);
        assert!((r[0].unwrap() - 1.0).abs() < 1e-6);
        assert!((r[2].unwrap() - 0.5).abs() < 1e-6);
        let summary = summarise(&r).unwrap();
        assert_eq!((summary.defined, summary.undefined), (2, 1));
        assert!((summary.median - 0.75).abs() < 1e-6);
        assert!(summarise(&[None, None]).is_none());
    }
}
