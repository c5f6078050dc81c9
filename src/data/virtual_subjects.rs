//! Virtual subjects: simulated brains whose true response to any image at any MNI point is
//! known. They are a teaching and testing device, not data: see `docs/virtual-subjects.md` for
//! the model, its literature sources and what it leaves out.
//!
//! Each subject is drawn from a seed. Its response at MNI point `m` to an image is
//!
//! ```text
//! truth(m) = g(m') · Σₐ wₐ(m') · Gₐ · driveₐ(image, pRFₐ(m'))^nₐ + b(m'),    m' = m + E(m)
//! ```
//!
//! where `E` is a smooth subject-specific displacement of a few mm (the same MNI point is not the
//! same tissue in two subjects), `wₐ` are smooth memberships of the areas V1, V2, V3 (bands
//! around the calcarine sulcus), hV4, FFA, PPA, EBA and LO (Gaussian blobs at their typical MNI
//! locations, moved per subject), `pRFₐ` a Gaussian population receptive field whose centre and
//! size vary smoothly with position (retinotopy, contralateral, upper field ventral, eccentricity
//! increasing anteriorly, size growing with eccentricity and along the hierarchy), `driveₐ`
//! the area's image-computable input (see [`super::early_vision`]), `nₐ < 1` a compressive
//! exponent, `Gₐ` a per-subject area gain, and `g`, `b` smooth gain and baseline fields.
//! Every term is a continuous function of position, so the truth can be evaluated at any point
//! and any resolution.
//!
//! Voxels lie on a 1.8 mm grid in the subject's own space, mapped to MNI through a second smooth
//! deformation `D`, and kept where the MNI152 grey-matter probability exceeds 0.5 and the visual
//! areas' summed membership is high (an `nsdgeneral`-like occipito-temporal region).

use std::f32::consts::PI;

use glam::{Vec2, Vec3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::early_vision::{BANDS, Channel, FrontEnd, ORIENTATIONS, VisualField};
use crate::volume::{Volume, VolumeError};

/// Version of the model; stored with simulated data so that `nrf truth` refuses data from
/// another version instead of silently disagreeing with it.
pub const MODEL_VERSION: &str = "virtual-subjects-v1";
/// Voxel edge in the subject's space, mm (NSD's functional resolution).
pub const VOXEL_MM: f32 = 1.8;
/// The corner of the voxel lattice in the subject's own space (lattice index 0), mm.
const LATTICE_MIN: Vec3 = Vec3::new(-66.0, -112.0, -40.0);
/// The far corner of the region the lattice covers, mm.
const LATTICE_MAX: Vec3 = Vec3::new(66.0, -20.0, 50.0);

/// The visual areas of a virtual subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Area {
    /// Primary visual cortex, along the calcarine sulcus.
    V1,
    /// Second visual area, the band around V1.
    V2,
    /// Third visual area, the band around V2.
    V3,
    /// Human V4, ventral occipital: retinotopic (upper field), colour-sensitive.
    HV4,
    /// Fusiform face area-like: curvature, mirror symmetry, a central figure.
    Ffa,
    /// Parahippocampal place area-like: rectilinear structure, peripheral layout.
    Ppa,
    /// Extrastriate body area-like: coarse upright elongated structure, curvature.
    Eba,
    /// Lateral occipital object area-like: figure–ground contrast, curvature.
    Lo,
}

impl Area {
    /// Every area, in ROI order.
    pub const ALL: [Area; 8] = [
        Area::V1,
        Area::V2,
        Area::V3,
        Area::HV4,
        Area::Ffa,
        Area::Ppa,
        Area::Eba,
        Area::Lo,
    ];

    /// ROI name as written in `roi_names.json`.
    pub fn roi_name(self) -> &'static str {
        match self {
            Area::V1 => "V1",
            Area::V2 => "V2",
            Area::V3 => "V3",
            Area::HV4 => "hV4",
            Area::Ffa => "FFA",
            Area::Ppa => "PPA",
            Area::Eba => "EBA",
            Area::Lo => "LO",
        }
    }

    /// Position in [`Area::ALL`] (the order of [`PointModel`]'s arrays).
    pub fn index(self) -> usize {
        Area::ALL.iter().position(|&a| a == self).unwrap_or(0)
    }
}

/// A category-selective or ventral area modelled as a Gaussian blob of membership.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Blob {
    /// Which area.
    pub area: Area,
    /// Centre in the right hemisphere, MNI mm (the left one mirrors x).
    pub centre: [f32; 3],
    /// Standard deviations along x, y, z, mm.
    pub sigma: [f32; 3],
    /// pRF eccentricity at the blob's centre, degrees.
    pub eccentricity: f32,
    /// pRF size (standard deviation), degrees.
    pub prf_sigma: f32,
}

/// Typical locations (right hemisphere, MNI mm). Sources in `docs/virtual-subjects.md`.
pub const CANONICAL_BLOBS: [Blob; 5] = [
    Blob {
        area: Area::HV4,
        centre: [30.0, -78.0, -13.0],
        sigma: [5.0, 6.0, 4.0],
        eccentricity: 2.0,
        prf_sigma: 1.2,
    },
    Blob {
        area: Area::Ffa,
        centre: [40.0, -53.0, -19.0],
        sigma: [5.0, 8.0, 5.0],
        eccentricity: 0.8,
        prf_sigma: 2.0,
    },
    Blob {
        area: Area::Ppa,
        centre: [26.0, -46.0, -9.0],
        sigma: [5.0, 9.0, 5.0],
        eccentricity: 4.0,
        prf_sigma: 3.0,
    },
    Blob {
        area: Area::Eba,
        centre: [48.0, -72.0, 2.0],
        sigma: [6.0, 7.0, 6.0],
        eccentricity: 1.5,
        prf_sigma: 2.5,
    },
    Blob {
        area: Area::Lo,
        centre: [41.0, -82.0, -5.0],
        sigma: [6.0, 6.0, 6.0],
        eccentricity: 1.5,
        prf_sigma: 2.0,
    },
];

/// Occipital pole (most posterior grey matter of the calcarine), MNI y, mm.
const POLE_Y: f32 = -104.0;
/// Distance of the calcarine fundus from the midline, mm.
const CALCARINE_X: f32 = 9.0;
/// Cortical width of each of V1, V2 and V3 around the calcarine, mm.
const BAND_MM: f32 = 8.0;
/// Anterior end of the early areas, mm in front of the pole.
const EARLY_EXTENT_MM: f32 = 52.0;

/// Compressive exponents of the areas (compressive spatial summation: below 1 and decreasing
/// along the hierarchy).
const EXPONENTS: [f32; 8] = [0.5, 0.45, 0.4, 0.35, 0.3, 0.3, 0.3, 0.3];
/// pRF size growth relative to V1 (V1, V2, V3).
const EARLY_SIZE_FACTOR: [f32; 3] = [1.0, 1.4, 1.9];
/// Weight of chromatic contrast in the drive of V1, V2, V3 and hV4.
const COLOUR_WEIGHT: [f32; 4] = [0.15, 0.2, 0.25, 0.9];

/// Typical magnitude of each channel (mean over a broad set of procedural stimuli, central pRF of
/// 2°), used to put channels on a common scale.
const CHANNEL_SCALE: [f32; super::early_vision::CHANNELS] = [
    0.1380, 0.1440, 0.1339, 0.1215, 0.1659, 0.1882, 0.1861, 0.1558, 0.1611, 0.1645, 0.1787, 0.1724,
    0.0158, 0.0186, 0.1749, 0.0804, 0.0463,
];

/// A smooth random scalar field of unit variance: a sum of plane waves with wavelengths
/// between `min_mm` and `max_mm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmoothField {
    /// Wave vectors (radians per mm) and phases.
    waves: Vec<([f32; 3], f32)>,
}

impl SmoothField {
    fn random(rng: &mut ChaCha8Rng, waves: usize, min_mm: f32, max_mm: f32) -> Self {
        let normal = Normal::new(0.0f32, 1.0).unwrap_or_else(|_| unreachable!());
        let waves = (0..waves)
            .map(|_| {
                let direction =
                    Vec3::new(normal.sample(rng), normal.sample(rng), normal.sample(rng))
                        .normalize_or(Vec3::X);
                let wavelength = rng.random_range(min_mm..max_mm);
                let k = direction * (2.0 * PI / wavelength);
                (k.to_array(), rng.random_range(0.0..2.0 * PI))
            })
            .collect();
        Self { waves }
    }

    /// Value at `p` (MNI mm); mean 0, variance 1 over space.
    pub fn at(&self, p: Vec3) -> f32 {
        let scale = (2.0 / self.waves.len().max(1) as f32).sqrt();
        scale
            * self
                .waves
                .iter()
                .map(|(k, phase)| (Vec3::from_array(*k).dot(p) + phase).sin())
                .sum::<f32>()
    }
}

/// A smooth displacement field: three smooth fields times an amplitude in mm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Warp {
    /// Root-mean-square displacement per axis, mm.
    pub amplitude_mm: f32,
    fields: [SmoothField; 3],
}

impl Warp {
    fn random(rng: &mut ChaCha8Rng, amplitude_mm: f32) -> Self {
        Self {
            amplitude_mm,
            fields: std::array::from_fn(|_| SmoothField::random(rng, 6, 30.0, 80.0)),
        }
    }

    /// The displacement at `p`, mm.
    pub fn at(&self, p: Vec3) -> Vec3 {
        self.amplitude_mm
            * Vec3::new(
                self.fields[0].at(p),
                self.fields[1].at(p),
                self.fields[2].at(p),
            )
    }
}

/// Everything drawn for one virtual subject (serialised into `parameters.json` for inspection;
/// a subject is always redrawn from its seed).
#[derive(Debug, Clone, Serialize)]
pub struct VirtualSubject {
    /// Model version ([`MODEL_VERSION`]).
    pub version: String,
    /// Simulation seed.
    pub seed: u64,
    /// 1-based subject number.
    pub number: usize,
    /// How its early vision computes channels from an image.
    pub front_end: FrontEnd,
    /// Functional displacement `E`: MNI point → canonical position.
    pub functional_warp: Warp,
    /// Anatomical deformation `D`: subject space → MNI.
    pub anatomical_warp: Warp,
    /// The area blobs of this subject (canonical ones moved by a few mm).
    pub blobs: Vec<Blob>,
    /// Gain per area (lognormal around 1), in [`Area::ALL`] order.
    pub area_gain: [f32; 8],
    /// Exponent per area.
    pub exponent: [f32; 8],
    /// Smooth voxel gain (log scale).
    gain_field: SmoothField,
    /// Smooth baseline.
    baseline_field: SmoothField,
    /// Smooth preferred-orientation offset.
    orientation_field: SmoothField,
    /// Smooth noise-level variation (used by the measurement model).
    pub noise_field: SmoothField,
    /// MNI152 grey-matter probability: responses are weighted by it (partial volume), so
    /// activity lies in cortex while staying continuous in space.
    #[serde(skip)]
    grey_matter: &'static Volume,
    /// World → voxel of `grey_matter`.
    #[serde(skip)]
    grey_to_voxel: glam::DAffine3,
}

/// The receptive-field model of one point: area memberships and each area's pRF.
#[derive(Debug, Clone, PartialEq)]
pub struct PointModel {
    /// Membership per area, in [`Area::ALL`] order, each in [0, 1].
    pub membership: [f32; 8],
    /// pRF centre per area, degrees (x right, y up).
    pub prf_centre: [Vec2; 8],
    /// pRF standard deviation per area, degrees.
    pub prf_sigma: [f32; 8],
    /// Preferred orientation of the early areas, radians.
    pub preferred_orientation: f32,
    /// Voxel gain (including the grey-matter probability at the point).
    pub gain: f32,
    /// Baseline (weighted by grey matter; applied in proportion to visual-area membership).
    pub baseline: f32,
}

impl PointModel {
    /// The area with the largest membership, when it exceeds `threshold`.
    pub fn label(&self, threshold: f32) -> Option<Area> {
        let (best, value) = self
            .membership
            .iter()
            .enumerate()
            .fold(
                (0, 0.0f32),
                |acc, (i, &w)| if w > acc.1 { (i, w) } else { acc },
            );
        (value > threshold).then(|| Area::ALL[best])
    }

    /// Total membership in visual areas (0 outside visual cortex).
    pub fn visual(&self) -> f32 {
        self.membership.iter().copied().fold(0.0, f32::max)
    }
}

/// A one-voxel-wide smooth step: 0 well below 0, 1 well above.
fn smooth_step(t: f32, width: f32) -> f32 {
    1.0 / (1.0 + (-t / width).exp())
}

/// Polar angle from the horizontal meridian (0..1 of a quarter turn) along the band coordinate:
/// V1 runs HM → VM, V2 back VM → HM, V3 HM → VM.
fn band_angle(band: f32) -> f32 {
    match band {
        b if b < 1.0 => b.max(0.0),
        b if b < 2.0 => 2.0 - b,
        b if b < 3.0 => b - 2.0,
        _ => 1.0,
    }
}

/// Eccentricity (degrees) of early-area cortex `d` mm in front of the occipital pole: a
/// logarithmic map with cortical magnification falling with eccentricity.
fn eccentricity(d_mm: f32) -> f32 {
    0.12 * ((d_mm.max(0.0) / 11.0).exp() - 1.0) + 0.08
}

impl VirtualSubject {
    /// Draws subject `number` (1-based) of the simulation with `seed`. Fails only if the
    /// embedded template cannot be decoded.
    pub fn new(seed: u64, number: usize) -> Result<Self, VolumeError> {
        let grey_matter = crate::template::grey_matter_shared()?;
        let grey_to_voxel = grey_matter.grid.world_to_voxel()?;
        let mut rng = ChaCha8Rng::seed_from_u64(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (number as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        let normal = Normal::new(0.0f32, 1.0).unwrap_or_else(|_| unreachable!());
        let functional_warp = Warp::random(&mut rng, 3.0);
        let anatomical_warp = Warp::random(&mut rng, 2.5);
        let blobs = CANONICAL_BLOBS
            .iter()
            .map(|blob| {
                let mut moved = *blob;
                for c in &mut moved.centre {
                    *c += 3.0 * normal.sample(&mut rng);
                }
                moved
            })
            .collect();
        let area_gain = std::array::from_fn(|_| (0.2 * normal.sample(&mut rng)).exp());
        let exponent = std::array::from_fn(|a| {
            (EXPONENTS[a] + 0.03 * normal.sample(&mut rng)).clamp(0.2, 0.7)
        });
        Ok(Self {
            version: MODEL_VERSION.into(),
            seed,
            number,
            front_end: FrontEnd::default(),
            functional_warp,
            anatomical_warp,
            blobs,
            area_gain,
            exponent,
            gain_field: SmoothField::random(&mut rng, 8, 15.0, 40.0),
            baseline_field: SmoothField::random(&mut rng, 8, 15.0, 40.0),
            orientation_field: SmoothField::random(&mut rng, 8, 8.0, 20.0),
            noise_field: SmoothField::random(&mut rng, 8, 15.0, 40.0),
            grey_matter,
            grey_to_voxel,
        })
    }

    /// The same subject seeing through `front_end` (everything else as drawn).
    pub fn with_front_end(mut self, front_end: FrontEnd) -> Self {
        self.front_end = front_end;
        self
    }

    /// What this subject's early vision makes of an image.
    pub fn see(&self, image: &crate::features::preprocess::Rgb8) -> VisualField {
        VisualField::analyse_with(image, self.front_end)
    }

    /// Grey-matter probability at an MNI point (trilinear; 0 outside the template).
    pub fn grey_matter_at(&self, mni: Vec3) -> f32 {
        self.grey_matter
            .sample_voxel(self.grey_to_voxel.transform_point3(mni.as_dvec3()))
            .unwrap_or(0.0)
    }

    /// The receptive-field model at MNI point `mni`.
    pub fn point_model(&self, mni: Vec3) -> PointModel {
        let p = mni + self.functional_warp.at(mni);
        let hemisphere = -(p.x / 3.0).tanh(); // right hemisphere → left visual field
        let mirrored = Vec3::new(p.x.abs(), p.y, p.z);

        let mut membership = [0.0f32; 8];
        let mut prf_centre = [Vec2::ZERO; 8];
        let mut prf_sigma = [1.0f32; 8];

        // Category-selective and ventral areas: blobs.
        let mut blob_max = 0.0f32;
        for blob in &self.blobs {
            let c = Vec3::from_array(blob.centre);
            let s = Vec3::from_array(blob.sigma);
            let z = (mirrored - c) / s;
            let w = (-0.5 * z.length_squared()).exp();
            let a = blob.area.index();
            membership[a] = w;
            blob_max = blob_max.max(w);
            // Eccentricity grows a little anteriorly within the blob; the vertical position
            // follows the dorsal–ventral offset.
            let ecc = (blob.eccentricity * (1.0 + 0.04 * (mirrored.y - c.y))).clamp(0.2, 8.0);
            let vertical = if blob.area == Area::HV4 {
                0.6 * ecc // hV4 sits ventrally: upper field
            } else {
                0.08 * (mirrored.z - c.z)
            };
            prf_centre[a] = Vec2::new(hemisphere * ecc, vertical);
            prf_sigma[a] = blob.prf_sigma * (1.0 + 0.02 * (mirrored - c).length());
        }

        // Early areas: bands around the calcarine sulcus.
        let d = p.y - POLE_Y;
        let calcarine_z = 2.0 + 0.2 * d;
        let u = p.z - calcarine_z;
        let r = (u * u + (mirrored.x - CALCARINE_X).powi(2)).sqrt();
        let band = r / BAND_MM;
        let envelope = smooth_step(d + 2.0, 2.0)
            * smooth_step(EARLY_EXTENT_MM - d, 3.0)
            * smooth_step(3.2 - band, 0.15)
            * (1.0 - blob_max).max(0.0);
        let ecc = eccentricity(d);
        let angle = band_angle(band) * PI / 2.0;
        let vertical_sign = -(u / 2.0).tanh(); // dorsal (u > 0) → lower field
        let centre = Vec2::new(hemisphere * angle.cos(), vertical_sign * angle.sin()) * ecc;
        for (i, area) in [Area::V1, Area::V2, Area::V3].iter().enumerate() {
            let lo = smooth_step(band - i as f32, 0.12);
            let hi = if i == 0 {
                smooth_step(1.0 - band, 0.12)
            } else {
                smooth_step(i as f32 + 1.0 - band, 0.12)
            };
            let w = envelope * if i == 0 { hi } else { lo * hi };
            membership[area.index()] = w;
            prf_centre[area.index()] = centre;
            prf_sigma[area.index()] = EARLY_SIZE_FACTOR[i] * (0.1 + 0.12 * ecc);
        }
        let radial = centre.y.atan2(centre.x);
        PointModel {
            membership,
            prf_centre,
            prf_sigma,
            preferred_orientation: radial + 0.6 * self.orientation_field.at(p),
            gain: (0.3 * self.gain_field.at(p)).exp() * self.grey_matter_at(mni),
            baseline: 0.1 * self.baseline_field.at(p) * self.grey_matter_at(mni),
        }
    }

    /// The noise-free response at a point, given its model and the image's visual field.
    pub fn response(&self, model: &PointModel, field: &VisualField) -> f32 {
        let sample = |channel: Channel, area: Area| -> f32 {
            let a = area.index();
            let c = channel.index();
            field.sample(c, model.prf_centre[a], model.prf_sigma[a]) / CHANNEL_SCALE[c]
        };
        let mut total = 0.0;
        for area in Area::ALL {
            let a = area.index();
            let w = model.membership[a];
            if w < 1e-4 {
                continue;
            }
            let drive = match area {
                Area::V1 | Area::V2 | Area::V3 => {
                    let ecc = model.prf_centre[a].length();
                    let preferred_band = ((ecc / 0.5).max(1.0).log2() * 0.7).clamp(0.0, 2.0);
                    let mut sum = 0.0;
                    let mut weights = 0.0;
                    for band in 0..BANDS {
                        let wb =
                            (-(band as f32 - preferred_band).powi(2) / (2.0 * 0.8 * 0.8)).exp();
                        for orientation in 0..ORIENTATIONS {
                            let theta = orientation as f32 * PI / 4.0;
                            let wo =
                                1.0 + 0.3 * (2.0 * (theta - model.preferred_orientation)).cos();
                            sum += wb * wo * sample(Channel::Energy { band, orientation }, area);
                            weights += wb * wo;
                        }
                    }
                    sum / weights
                        + COLOUR_WEIGHT[a]
                            * 0.5
                            * (sample(Channel::RedGreen, area) + sample(Channel::BlueYellow, area))
                }
                Area::HV4 => {
                    let energy = band_energy(&sample, area, 1);
                    energy
                        + COLOUR_WEIGHT[3]
                            * 0.5
                            * (sample(Channel::RedGreen, area) + sample(Channel::BlueYellow, area))
                        + 0.3 * sample(Channel::Curvature, area)
                }
                _ => {
                    // Category-selective areas: contrast-invariant mid-level statistics (ratios
                    // of pooled energies) combined into a selectivity, times a saturating
                    // contrast term (divisive normalisation). The constants centre each
                    // statistic on its mean over the procedural stimuli.
                    let e = |band, orientation| sample(Channel::Energy { band, orientation }, area);
                    let ratio = |num: f32, den: f32| if den > 1e-6 { num / den } else { 0.0 };
                    let contrast =
                        0.5 * (band_energy(&sample, area, 1) + band_energy(&sample, area, 2));
                    let saturation = contrast / (contrast + 0.3);
                    // Vertical-stripe (upright parts) against horizontal-stripe (horizon, floors)
                    // energy at the coarse scale.
                    let upright = ratio(e(2, 0) - e(2, 2), e(2, 0) + e(2, 2));
                    let concentric = ratio(
                        sample(Channel::Concentric, area),
                        4.0 * band_energy(&sample, area, 2),
                    );
                    let figure = sample(Channel::Figure, area).min(3.0);
                    let symmetry = field.symmetry;
                    let selectivity = match area {
                        Area::Ffa => 4.0 * (concentric - 0.25) + (symmetry - 0.3) + 1.5 * upright,
                        Area::Ppa => {
                            // Peripheral pRFs: content filling the field, horizontal layout.
                            let centre = central_energy(field);
                            let periphery = ratio(contrast, contrast + centre);
                            6.0 * (periphery - 0.2) - 2.0 * upright - 3.0 * (concentric - 0.25)
                        }
                        Area::Eba => 2.0 * upright - 2.0 * (concentric - 0.25),
                        _ => 0.5 * figure + 2.0 * (concentric - 0.25),
                    };
                    saturation * (0.5 + selectivity)
                }
            };
            total += w * self.area_gain[a] * drive.max(0.0).powf(self.exponent[a]);
        }
        model.gain * total + model.baseline * model.visual()
    }

    /// Noise-free responses to one image at many MNI points.
    pub fn truth(&self, field: &VisualField, points: &[Vec3]) -> Vec<f32> {
        points
            .iter()
            .map(|&p| self.response(&self.point_model(p), field))
            .collect()
    }

    /// The subject's voxels: a 1.8 mm grid in its own space, mapped to MNI, kept in grey matter
    /// (MNI152 probability > 0.5) within the visual areas (summed membership > `0.3`).
    pub fn voxels(&self) -> Vec<Voxel> {
        let steps = ((LATTICE_MAX - LATTICE_MIN) / VOXEL_MM).ceil().as_uvec3();
        let mut voxels = Vec::new();
        for k in 0..steps.z {
            for j in 0..steps.y {
                for i in 0..steps.x {
                    let index = glam::UVec3::new(i, j, k);
                    let mni = self.lattice_to_mni(index.as_vec3());
                    if self.grey_matter_at(mni) <= 0.5 {
                        continue;
                    }
                    let model = self.point_model(mni);
                    if model.visual() > 0.3 {
                        voxels.push(Voxel {
                            mni,
                            index,
                            area: model.label(0.5),
                        });
                    }
                }
            }
        }
        voxels
    }

    /// The MNI position of a (possibly fractional) position on the subject's voxel lattice:
    /// lattice units of [`VOXEL_MM`] in the subject's own space, through its anatomical warp.
    /// Half-integer positions are the points of a 0.9 mm grid between the voxels.
    pub fn lattice_to_mni(&self, index: Vec3) -> Vec3 {
        let own = LATTICE_MIN + index * VOXEL_MM;
        own + self.anatomical_warp.at(own)
    }

    /// A per-point noise-level multiplier (lognormal, smooth in space): early areas, with their
    /// strong, reliable responses, are measured with relatively less noise.
    pub fn noise_factor(&self, mni: Vec3, model: &PointModel) -> f32 {
        let early: f32 = model.membership[..3].iter().sum();
        (0.4 * self.noise_field.at(mni) - 0.3 * early.min(1.0)).exp()
    }
}

/// Band-1 and band-2 energy of a central 1.5° pRF, in channel-scale units.
fn central_energy(field: &VisualField) -> f32 {
    (BANDS - 2..BANDS)
        .flat_map(|band| (0..ORIENTATIONS).map(move |orientation| (band, orientation)))
        .map(|(band, orientation)| {
            let c = Channel::Energy { band, orientation }.index();
            field.sample(c, Vec2::ZERO, 1.5) / CHANNEL_SCALE[c]
        })
        .sum::<f32>()
        / (2 * ORIENTATIONS) as f32
}

/// Mean energy of one band over orientations, in channel-scale units.
fn band_energy(sample: &impl Fn(Channel, Area) -> f32, area: Area, band: usize) -> f32 {
    (0..ORIENTATIONS)
        .map(|orientation| sample(Channel::Energy { band, orientation }, area))
        .sum::<f32>()
        / ORIENTATIONS as f32
}

/// One voxel of a virtual subject.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Voxel {
    /// MNI position, mm.
    pub mni: Vec3,
    /// Position on the subject's voxel lattice (see [`VirtualSubject::lattice_to_mni`]).
    pub index: glam::UVec3,
    /// The area it belongs to, if any membership exceeds 0.5.
    pub area: Option<Area>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_subject() {
        let a = VirtualSubject::new(7, 1).expect("subject");
        let b = VirtualSubject::new(7, 1).expect("subject");
        let p = Vec3::new(12.0, -90.0, 4.0);
        assert_eq!(a.point_model(p), b.point_model(p));
        let c = VirtualSubject::new(7, 2).expect("subject");
        assert_ne!(a.point_model(p), c.point_model(p));
    }

    #[test]
    fn v1_is_along_the_calcarine_and_contralateral() {
        let subject = VirtualSubject::new(1, 1).expect("subject");
        let right = subject.point_model(Vec3::new(10.0, -90.0, 5.0));
        assert_eq!(right.label(0.5), Some(Area::V1));
        assert!(right.prf_centre[0].x < 0.0, "right V1 sees the left field");
        let left = subject.point_model(Vec3::new(-10.0, -90.0, 5.0));
        assert!(left.prf_centre[0].x > 0.0);
    }

    #[test]
    fn eccentricity_grows_anteriorly_and_prfs_with_it() {
        let subject = VirtualSubject::new(1, 1).expect("subject");
        let posterior = subject.point_model(Vec3::new(9.0, -100.0, 2.0));
        let anterior = subject.point_model(Vec3::new(9.0, -75.0, 8.0));
        assert!(anterior.prf_centre[0].length() > 3.0 * posterior.prf_centre[0].length());
        assert!(anterior.prf_sigma[0] > posterior.prf_sigma[0]);
    }

    #[test]
    fn truth_is_continuous_in_space() {
        let subject = VirtualSubject::new(3, 2).expect("subject");
        let field = VisualField::analyse(&crate::data::stimuli::grating(30.0, 12.0, 0.0, 1.0));
        let mut largest_jump = 0.0f32;
        let mut p = Vec3::new(-30.0, -100.0, -10.0);
        let step = Vec3::new(0.06, 0.05, 0.02);
        let mut last = subject.truth(&field, &[p])[0];
        for _ in 0..1000 {
            p += step;
            let v = subject.truth(&field, &[p])[0];
            largest_jump = largest_jump.max((v - last).abs());
            last = v;
        }
        assert!(largest_jump < 0.1, "{largest_jump}");
    }
}

#[cfg(test)]
mod calibration {
    use super::*;
    use crate::data::stimuli::{Category, generate};

    /// Prints the channel means behind `CHANNEL_SCALE` (run with `--ignored --nocapture`).
    #[test]
    #[ignore]
    fn print_channel_scales() {
        let mut sums = [0.0f64; super::super::early_vision::CHANNELS];
        let mut symmetry = 0.0f64;
        let mut n = 0.0;
        for category in Category::ALL {
            let mut cat_sym = 0.0;
            for i in 0..10 {
                let field = VisualField::analyse(&generate(99, i, category));
                for (c, s) in sums.iter_mut().enumerate() {
                    *s += f64::from(field.sample(c, Vec2::ZERO, 2.0));
                }
                symmetry += f64::from(field.symmetry);
                cat_sym += field.symmetry;
                n += 1.0;
            }
            println!("{category:?} symmetry {:.3}", cat_sym / 10.0);
        }
        let means: Vec<String> = sums.iter().map(|s| format!("{:.4}", s / n)).collect();
        println!("CHANNEL_SCALE = [{}]", means.join(", "));
        println!("mean symmetry = {:.3}", symmetry / n);
        for category in Category::ALL {
            let mut acc = [0.0f32; 6];
            for i in 0..10 {
                let field = VisualField::analyse(&generate(7, i, category));
                let at =
                    |c: usize, centre: Vec2, s: f32| field.sample(c, centre, s) / CHANNEL_SCALE[c];
                let e = |b: usize, o: usize, centre| at(b * 4 + o, centre, 2.0);
                let c0 = Vec2::ZERO;
                let band = |b: usize| (0..4).map(|o| e(b, o, c0)).sum::<f32>() / 4.0;
                let card = e(1, 0, c0) + e(1, 2, c0) + e(2, 0, c0) + e(2, 2, c0);
                let obl = e(1, 1, c0) + e(1, 3, c0) + e(2, 1, c0) + e(2, 3, c0);
                acc[0] += (card - obl) / (card + obl);
                acc[1] += (e(2, 0, c0) - e(2, 2, c0)) / (e(2, 0, c0) + e(2, 2, c0));
                acc[2] += at(14, c0, 2.0) / (4.0 * band(1));
                acc[3] += at(15, c0, 2.0) / (4.0 * band(2));
                let energy_at =
                    |centre: Vec2, s: f32| (4..12).map(|c| at(c, centre, s)).sum::<f32>() / 8.0;
                acc[4] += energy_at(Vec2::new(-4.0, 0.0), 3.0)
                    / (energy_at(Vec2::new(-4.0, 0.0), 3.0) + energy_at(Vec2::ZERO, 1.5));
                acc[5] += field.symmetry;
            }
            println!(
                "{:8} rect {:.3} upright {:.3} curved {:.3} concentric {:.3} periphery {:.3} symmetry {:.3}",
                category.name(),
                acc[0] / 10.0,
                acc[1] / 10.0,
                acc[2] / 10.0,
                acc[3] / 10.0,
                acc[4] / 10.0,
                acc[5] / 10.0
            );
        }
        let subject = VirtualSubject::new(1, 1).expect("subject");
        for blob in &subject.blobs {
            let model = subject.point_model(Vec3::from_array(blob.centre));
            for category in Category::ALL {
                let mean: f32 = (0..10)
                    .map(|i| {
                        subject.response(&model, &VisualField::analyse(&generate(5, i, category)))
                    })
                    .sum::<f32>()
                    / 10.0;
                print!("{:?}/{}: {mean:.3}  ", blob.area, category.name());
            }
            println!();
        }
    }
}
