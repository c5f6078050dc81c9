//! Colour maps and the overlay's colour scale: separate positive and negative ranges, an optional
//! symmetric range, a threshold below which the overlay is transparent or translucent, and an
//! overall opacity. The same scale drives slices (on the CPU) and the ray marcher (as a lookup
//! table uploaded to the GPU), so both agree on every colour.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A colour map: a smooth table from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColorMap {
    /// Diverging blue–white–red (matplotlib's `RdBu_r`): negative blue, positive red.
    RdBuR,
    /// Diverging cold (blue → cyan) for negative, hot (red → yellow) for positive, black at 0.
    HotCold,
    /// Sequential black → red → yellow → white.
    Hot,
    /// Sequential perceptually uniform dark blue → green → yellow (matplotlib's `viridis`).
    Viridis,
    /// Sequential black → white.
    Gray,
}

/// Control points `(position, [r, g, b])` of each map, interpolated linearly in sRGB.
fn control_points(map: ColorMap) -> &'static [(f32, [f32; 3])] {
    match map {
        // matplotlib RdBu_r at 0, 0.1, …, 1.
        ColorMap::RdBuR => &[
            (0.0, [0.020, 0.188, 0.380]),
            (0.1, [0.130, 0.400, 0.674]),
            (0.2, [0.263, 0.576, 0.765]),
            (0.3, [0.573, 0.773, 0.871]),
            (0.4, [0.820, 0.898, 0.941]),
            (0.5, [0.969, 0.969, 0.969]),
            (0.6, [0.992, 0.859, 0.780]),
            (0.7, [0.957, 0.647, 0.510]),
            (0.8, [0.839, 0.376, 0.302]),
            (0.9, [0.698, 0.094, 0.169]),
            (1.0, [0.404, 0.000, 0.122]),
        ],
        ColorMap::HotCold => &[
            (0.0, [0.6, 1.0, 1.0]),
            (0.25, [0.0, 0.5, 1.0]),
            (0.5, [0.0, 0.0, 0.3]),
            (0.5, [0.3, 0.0, 0.0]),
            (0.75, [1.0, 0.3, 0.0]),
            (1.0, [1.0, 1.0, 0.4]),
        ],
        ColorMap::Hot => &[
            (0.0, [0.04, 0.0, 0.0]),
            (0.37, [1.0, 0.0, 0.0]),
            (0.75, [1.0, 1.0, 0.0]),
            (1.0, [1.0, 1.0, 1.0]),
        ],
        // matplotlib viridis at 0, 0.125, …, 1.
        ColorMap::Viridis => &[
            (0.0, [0.267, 0.005, 0.329]),
            (0.125, [0.283, 0.141, 0.458]),
            (0.25, [0.254, 0.265, 0.530]),
            (0.375, [0.207, 0.372, 0.553]),
            (0.5, [0.164, 0.471, 0.558]),
            (0.625, [0.128, 0.567, 0.551]),
            (0.75, [0.135, 0.659, 0.518]),
            (0.875, [0.478, 0.821, 0.3181]),
            (1.0, [0.993, 0.906, 0.144]),
        ],
        ColorMap::Gray => &[(0.0, [0.0, 0.0, 0.0]), (1.0, [1.0, 1.0, 1.0])],
    }
}

impl ColorMap {
    /// Every map, in the order a menu lists them.
    pub const ALL: [ColorMap; 5] = [
        ColorMap::RdBuR,
        ColorMap::HotCold,
        ColorMap::Hot,
        ColorMap::Viridis,
        ColorMap::Gray,
    ];

    /// The name used on the command line and in menus.
    pub fn name(self) -> &'static str {
        match self {
            ColorMap::RdBuR => "rdbu_r",
            ColorMap::HotCold => "hotcold",
            ColorMap::Hot => "hot",
            ColorMap::Viridis => "viridis",
            ColorMap::Gray => "gray",
        }
    }

    /// Diverging maps put negative values on their lower half and positive on the upper.
    pub fn is_diverging(self) -> bool {
        matches!(self, ColorMap::RdBuR | ColorMap::HotCold)
    }

    /// The colour at `t` in 0..=1 (clamped), linear RGB components in 0..=1 as stored (sRGB).
    pub fn at(self, t: f32) -> [f32; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let points = control_points(self);
        let upper = points
            .iter()
            .position(|&(p, _)| p >= t)
            .unwrap_or(points.len() - 1);
        if upper == 0 {
            return points[0].1;
        }
        // With a repeated position (a hard step), the later point wins above it.
        let (p0, c0) = points[upper - 1];
        let (p1, c1) = points[upper];
        let f = if p1 > p0 { (t - p0) / (p1 - p0) } else { 1.0 };
        [0, 1, 2].map(|k| c0[k] + (c1[k] - c0[k]) * f)
    }
}

impl FromStr for ColorMap {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase().replace(['-', ' '], "_");
        ColorMap::ALL
            .into_iter()
            .find(|m| m.name() == lower || (lower == "rdbu" && *m == ColorMap::RdBuR))
            .ok_or_else(|| {
                format!(
                    "unknown colour map {s:?}; expected one of {}",
                    ColorMap::ALL.map(ColorMap::name).join(", ")
                )
            })
    }
}

/// What the overlay shows below the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum BelowThreshold {
    /// Nothing: the anatomy shows through.
    Transparent,
    /// The colour at this fraction of the opacity (users of stat-map viewers ask for this, to
    /// see sub-threshold structure without hiding the anatomy).
    Translucent(f32),
}

/// How overlay values become colours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverlayStyle {
    /// The colour map.
    pub map: ColorMap,
    /// Positive values from `positive.0` (lowest colour) to `positive.1` (full colour).
    pub positive: (f32, f32),
    /// Negative magnitudes from `negative.0` to `negative.1` (both ≥ 0); `None` hides negative
    /// values (sequential maps show only positive values unless a range is given).
    pub negative: Option<(f32, f32)>,
    /// |value| below this is below threshold.
    pub threshold: f32,
    /// What below-threshold values show.
    pub below: BelowThreshold,
    /// Overall overlay opacity, 0..=1.
    pub opacity: f32,
}

impl OverlayStyle {
    /// A symmetric style for values spanning ±`max`: diverging map, negative shown.
    pub fn symmetric(map: ColorMap, max: f32, threshold: f32) -> Self {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        Self {
            map,
            positive: (0.0, max),
            negative: Some((0.0, max)),
            threshold,
            below: BelowThreshold::Transparent,
            opacity: 1.0,
        }
    }

    /// RGBA (0..=1, not premultiplied) of one value; `None` where the overlay is transparent.
    pub fn colour(&self, value: f32) -> Option<[f32; 4]> {
        if !value.is_finite() {
            return None;
        }
        let magnitude = value.abs();
        let alpha = if magnitude >= self.threshold {
            self.opacity
        } else {
            match self.below {
                BelowThreshold::Transparent => return None,
                BelowThreshold::Translucent(fraction) => self.opacity * fraction.clamp(0.0, 1.0),
            }
        };
        let ramp = |(lo, hi): (f32, f32)| {
            if hi > lo {
                ((magnitude - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                f32::from(magnitude >= hi)
            }
        };
        let t = if value >= 0.0 {
            let f = ramp(self.positive);
            if self.map.is_diverging() {
                0.5 + 0.5 * f
            } else {
                f
            }
        } else {
            let f = ramp(self.negative?);
            if self.map.is_diverging() {
                0.5 - 0.5 * f
            } else {
                f
            }
        };
        let [r, g, b] = self.map.at(t);
        Some([r, g, b, alpha])
    }

    /// A lookup table of `n` RGBA8 entries over values from `-limit` to `+limit` (for the GPU):
    /// entry `k` is the colour of `-limit + 2·limit·k/(n−1)`; transparent entries have alpha 0.
    pub fn lookup_table(&self, n: usize, limit: f32) -> Vec<[u8; 4]> {
        (0..n)
            .map(|k| {
                let value = -limit + 2.0 * limit * k as f32 / (n.max(2) - 1) as f32;
                self.colour(value).map_or([0; 4], |c| c.map(to_u8))
            })
            .collect()
    }

    /// The largest magnitude the style distinguishes (for the lookup table's range).
    pub fn limit(&self) -> f32 {
        let neg = self.negative.map_or(0.0, |n| n.1);
        self.positive.1.max(neg).max(self.threshold).max(1e-6)
    }
}

/// The `q` quantile (0..=1) of |value| over finite values: the robust default for a colour range
/// (`None` when there is none).
pub fn quantile_abs(values: impl Iterator<Item = f32>, q: f64) -> Option<f32> {
    let mut magnitudes: Vec<f32> = values.filter(|v| v.is_finite()).map(f32::abs).collect();
    if magnitudes.is_empty() {
        return None;
    }
    magnitudes.sort_by(f32::total_cmp);
    Some(magnitudes[((magnitudes.len() - 1) as f64 * q.clamp(0.0, 1.0)) as usize])
}

/// 0..=1 to 0..=255, rounded.
pub fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_hit_their_control_points_and_parse_by_name() {
        assert_eq!(ColorMap::Gray.at(0.25), [0.25; 3]);
        assert_eq!(ColorMap::RdBuR.at(0.5), [0.969; 3]);
        assert_eq!(ColorMap::Viridis.at(1.0), [0.993, 0.906, 0.144]);
        // Below the first point clamps; NaN is the bottom colour, never a panic.
        assert_eq!(ColorMap::Hot.at(-3.0), ColorMap::Hot.at(0.0));
        assert_eq!(ColorMap::Hot.at(f32::NAN), ColorMap::Hot.at(0.0));
        // Hot/cold steps at 0.5: just above is dark red, just below dark blue.
        assert!(ColorMap::HotCold.at(0.501)[0] > ColorMap::HotCold.at(0.501)[2]);
        assert!(ColorMap::HotCold.at(0.499)[2] > ColorMap::HotCold.at(0.499)[0]);
        for map in ColorMap::ALL {
            assert_eq!(map.name().parse::<ColorMap>(), Ok(map));
        }
        assert_eq!("RdBu_r".parse::<ColorMap>(), Ok(ColorMap::RdBuR));
        let err = "jet".parse::<ColorMap>().unwrap_err();
        assert!(err.contains("viridis"), "{err}");
    }

    #[test]
    fn the_style_thresholds_and_splits_signs() {
        let mut style = OverlayStyle::symmetric(ColorMap::RdBuR, 2.0, 0.5);
        assert_eq!(style.colour(0.2), None);
        assert_eq!(style.colour(f32::NAN), None);
        let red = style.colour(2.0).unwrap();
        let blue = style.colour(-2.0).unwrap();
        assert!(red[0] > red[2] && blue[2] > blue[0]);
        assert_eq!(red[3], 1.0);
        style.below = BelowThreshold::Translucent(0.3);
        style.opacity = 0.5;
        assert!((style.colour(0.2).unwrap()[3] - 0.15).abs() < 1e-6);
        // Sequential map without a negative range hides negative values.
        let hot = OverlayStyle {
            negative: None,
            ..OverlayStyle::symmetric(ColorMap::Hot, 1.0, 0.0)
        };
        assert_eq!(hot.colour(-0.5), None);
        assert_eq!(hot.colour(1.0).unwrap()[..3], [1.0, 1.0, 1.0]);
        // The lookup table agrees with the style at its entries.
        let lut = style.lookup_table(5, 2.0);
        assert_eq!(lut[4], style.colour(2.0).unwrap().map(to_u8));
        assert_eq!(lut[2][3], to_u8(0.15));
    }
}
