//! `nrf simulate`: virtual subjects shown procedural stimuli, measured with noise and processed
//! like NSD, written in the official NSD-processed layout (so the official PyTorch code could
//! train on it too), plus a `virtual/` folder with what real data never has: each subject's
//! parameters, the noise-free responses and the noise ceilings.
//!
//! Measurement: every image is shown [`REPEATS`] times; trials are shuffled into sessions of
//! [`TRIALS_PER_SESSION`]; each trial is `session gain × (truth + noise) + session offset`, with a
//! per-voxel noise level set from the voxel's signal spread and a smooth, lognormal noise-factor
//! field; trials are z-scored per voxel within each session and repeats averaged, as the
//! official pipeline does with NSD's betas. The noise ceiling is then estimated from the trials
//! by NSD's formula (Allen et al. 2022): ncsnr = √(max(0, 1 − σ²ₙ)) / σₙ with σ²ₙ the mean
//! variance across repeats, NC = 100 · ncsnr² / (ncsnr² + 1/3).
//!
//! Image ids: the `shared` images are ids 0..K (every subject sees them; they are the
//! validation ids, like NSD's shared 1000); subject n's own images follow, K + (n−1)(M−K)
//! onwards.

use std::path::{Path, PathBuf};

use glam::Vec3;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dataset::{DataError, invalid};
use super::early_vision::FrontEnd;
use super::stimuli::{self, STIMULUS_SIZE};
use super::stimulus_file::StimulusWriter;
use super::virtual_subjects::{Area, MODEL_VERSION, PointModel, VirtualSubject, Voxel};
use crate::atomic_file::write_atomically;
use crate::features::preprocess::Rgb8;
use crate::npy;

/// Presentations of every image.
pub const REPEATS: usize = 3;
/// Trials per scanning session (NSD: 750).
pub const TRIALS_PER_SESSION: usize = 750;
/// Noise standard deviation relative to a voxel's signal spread, before the noise-factor field;
/// chosen so that the median noise ceiling falls in NSD's range (see the docs).
const NOISE_LEVEL: f32 = 3.0;

/// What to simulate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimulationConfig {
    /// Number of subjects.
    pub subjects: usize,
    /// Images per subject.
    pub images: usize,
    /// Images every subject sees (the validation set).
    pub shared: usize,
    /// Seed of everything.
    pub seed: u64,
    /// The subjects' early vision (records written before it existed read as the default).
    #[serde(default)]
    pub front_end: FrontEnd,
}

/// What `simulation.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulationRecord {
    /// Model version of the virtual subjects.
    pub model_version: String,
    /// The configuration.
    pub config: SimulationConfig,
    /// Per subject: name, voxels, median estimated noise ceiling (%).
    pub subjects: Vec<SubjectSummary>,
}

/// A line per subject in the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectSummary {
    /// `subj01`…
    pub name: String,
    /// Voxels in `nsdgeneral`.
    pub voxels: usize,
    /// Voxels per ROI.
    pub roi_voxels: Vec<(String, usize)>,
    /// Median estimated noise ceiling, % (3-trial averages).
    pub median_noise_ceiling: f32,
}

/// Where the simulation is: what is being done, and how far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationProgress {
    /// 1-based subject.
    pub subject: usize,
    /// Images done for this subject.
    pub images_done: usize,
    /// Images of this subject.
    pub images: usize,
}

/// The id of every image subject `number` sees, ascending.
pub fn image_ids(config: &SimulationConfig, number: usize) -> Vec<u32> {
    let own = config.images - config.shared;
    let start = config.shared + (number - 1) * own;
    (0..config.shared)
        .chain(start..start + own)
        .map(|id| id as u32)
        .collect()
}

/// The stimulus with a given id (the same for every subject).
pub fn stimulus_of(seed: u64, id: u32) -> (stimuli::Category, crate::features::preprocess::Rgb8) {
    stimuli::stimulus(seed, u64::from(id))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), DataError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| invalid(path, format!("cannot encode JSON ({e})")))?;
    write_atomically(path, |out| {
        use std::io::Write;
        out.write_all(text.as_bytes())
    })?;
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), DataError> {
    std::fs::create_dir_all(path).map_err(|source| {
        DataError::File(crate::error::FileError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Measurement of one voxel: z-scored, repeat-averaged responses and the estimated noise
/// ceiling, from its noise-free responses (`truth[image]`).
fn measure_voxel(
    truth: &[f32],
    noise_factor: f32,
    sessions: &[usize],
    trial_images: &[usize],
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, f32) {
    let images = truth.len();
    let mean = truth.iter().sum::<f32>() / images as f32;
    let spread = (truth.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / images as f32)
        .sqrt()
        .max(1e-6);
    let noise =
        Normal::new(0.0f32, spread * NOISE_LEVEL * noise_factor).unwrap_or_else(|_| unreachable!());
    let session_count = sessions.iter().copied().max().map_or(0, |s| s + 1);
    let drift: Vec<(f32, f32)> = (0..session_count)
        .map(|_| {
            (
                (0.1 * rng.random_range(-1.0f32..1.0)).exp(),
                0.5 * spread * rng.random_range(-1.0f32..1.0),
            )
        })
        .collect();
    let mut trials: Vec<f32> = trial_images
        .iter()
        .zip(sessions)
        .map(|(&image, &session)| {
            let (gain, offset) = drift[session];
            gain * (truth[image] + noise.sample(rng)) + offset
        })
        .collect();
    // z-score within each session.
    for session in 0..session_count {
        let members: Vec<usize> = (0..trials.len())
            .filter(|&t| sessions[t] == session)
            .collect();
        let n = members.len() as f32;
        let m = members.iter().map(|&t| trials[t]).sum::<f32>() / n;
        let sd = (members
            .iter()
            .map(|&t| (trials[t] - m).powi(2))
            .sum::<f32>()
            / n)
            .sqrt()
            .max(1e-12);
        for &t in &members {
            trials[t] = (trials[t] - m) / sd;
        }
    }
    let mut sums = vec![0.0f32; images];
    let mut squares = vec![0.0f32; images];
    for (&image, &value) in trial_images.iter().zip(&trials) {
        sums[image] += value;
        squares[image] += value * value;
    }
    let r = REPEATS as f32;
    let averaged: Vec<f32> = sums.iter().map(|s| s / r).collect();
    let noise_variance = sums
        .iter()
        .zip(&squares)
        .map(|(s, q)| (q - s * s / r) / (r - 1.0))
        .sum::<f32>()
        / images as f32;
    let sigma = noise_variance.max(1e-12).sqrt();
    let ncsnr = (1.0 - noise_variance).max(0.0).sqrt() / sigma;
    let ceiling = 100.0 * ncsnr * ncsnr / (ncsnr * ncsnr + 1.0 / r);
    (averaged, ceiling)
}

/// One subject's simulated measurements of some images, in memory.
#[derive(Debug, Clone)]
pub struct Measurements {
    /// The image ids, in row order.
    pub ids: Vec<u32>,
    /// The subject's voxels (its `nsdgeneral`).
    pub voxels: Vec<Voxel>,
    /// Noise-free responses, `[images, voxels]` row-major.
    pub truth: Vec<f32>,
    /// Measured responses (repeats averaged after per-session z-scoring), `[images, voxels]`.
    pub responses: Vec<f32>,
    /// Estimated noise ceiling of each voxel, %.
    pub noise_ceilings: Vec<f32>,
}

/// Shows subject `number` (drawn from `seed`) the stimuli `ids` and measures its voxels as
/// [`simulate`] does: `on_image` hears every stimulus once (in `ids` order, for writing it),
/// `progress` after every image (returning `false` cancels: [`DataError::Cancelled`]).
/// The noise depends on the whole list, so the same ids give the same measurements.
pub fn measure_subject(
    subject: &VirtualSubject,
    seed: u64,
    number: usize,
    ids: &[u32],
    on_image: &mut dyn FnMut(u32, stimuli::Category, &Rgb8) -> Result<(), DataError>,
    progress: &(dyn Fn(SimulationProgress) -> bool + Sync),
) -> Result<Measurements, DataError> {
    let voxels = subject.voxels();
    let models: Vec<PointModel> = voxels.iter().map(|v| subject.point_model(v.mni)).collect();
    let v_count = voxels.len();
    let cancelled = std::sync::atomic::AtomicBool::new(false);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut truth = vec![0.0f32; ids.len() * v_count];
    let mut batch_start = 0;
    // Batches bound the memory of images waiting for `on_image`.
    for batch in ids.chunks(64) {
        let results: Vec<_> = batch
            .par_iter()
            .map(|&id| {
                let (category, image) = stimulus_of(seed, id);
                let field = subject.see(&image);
                let row: Vec<f32> = models.iter().map(|m| subject.response(m, &field)).collect();
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if !progress(SimulationProgress {
                    subject: number,
                    images_done: n,
                    images: ids.len(),
                }) {
                    cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                (category, image, row)
            })
            .collect();
        if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(DataError::Cancelled);
        }
        for (offset, ((category, image, row), &id)) in results.into_iter().zip(batch).enumerate() {
            on_image(id, category, &image)?;
            let r = batch_start + offset;
            truth[r * v_count..(r + 1) * v_count].copy_from_slice(&row);
        }
        batch_start += batch.len();
    }

    // Trials in shuffled sessions, then per-voxel measurement.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (number as u64) << 32 ^ 0x5EED);
    let mut trial_images: Vec<usize> = (0..ids.len())
        .flat_map(|i| std::iter::repeat_n(i, REPEATS))
        .collect();
    trial_images.shuffle(&mut rng);
    let sessions: Vec<usize> = (0..trial_images.len())
        .map(|t| t / TRIALS_PER_SESSION)
        .collect();
    let measured: Vec<(Vec<f32>, f32)> = (0..v_count)
        .into_par_iter()
        .map(|v| {
            let column: Vec<f32> = (0..ids.len()).map(|r| truth[r * v_count + v]).collect();
            let mut voxel_rng = ChaCha8Rng::seed_from_u64(
                seed.wrapping_mul(31) ^ ((number as u64) << 40) ^ v as u64,
            );
            measure_voxel(
                &column,
                subject.noise_factor(voxels[v].mni, &models[v]),
                &sessions,
                &trial_images,
                &mut voxel_rng,
            )
        })
        .collect();
    let mut responses = vec![0.0f32; ids.len() * v_count];
    for (v, (column, _)) in measured.iter().enumerate() {
        for (r, value) in column.iter().enumerate() {
            responses[r * v_count + v] = *value;
        }
    }
    Ok(Measurements {
        ids: ids.to_vec(),
        voxels,
        truth,
        responses,
        noise_ceilings: measured.iter().map(|(_, c)| *c).collect(),
    })
}

/// Runs the simulation into `out` (created if needed; files are replaced atomically). `progress`
/// hears after every image and returns `false` to cancel.
pub fn simulate(
    out: &Path,
    config: &SimulationConfig,
    progress: &(dyn Fn(SimulationProgress) -> bool + Sync),
) -> Result<SimulationRecord, DataError> {
    if config.subjects == 0 || config.images == 0 {
        return Err(invalid(
            out,
            "nothing to simulate: subjects and images must be at least 1",
        ));
    }
    if config.shared > config.images {
        return Err(invalid(
            out,
            format!(
                "{} shared images but only {} images per subject",
                config.shared, config.images
            ),
        ));
    }
    if config.shared > usize::from(u16::MAX) {
        return Err(invalid(
            out,
            "at most 65535 shared images (validation ids are uint16)",
        ));
    }
    for dir in [
        "roi_response_average",
        "MNI_coordinate",
        "stimuli",
        "virtual",
    ] {
        create_dir(&out.join(dir))?;
    }
    let shared_ids: Vec<u16> = (0..config.shared as u16).collect();
    npy::write_array(
        out.join("validation_idx.npy"),
        &[shared_ids.len()],
        &shared_ids,
    )?;

    let mut summaries = Vec::with_capacity(config.subjects);
    let mut categories: Vec<(u32, &'static str)> = Vec::new();
    for number in 1..=config.subjects {
        let name = format!("subj{number:02}");
        let ids = image_ids(config, number);
        let slots = *ids.last().unwrap_or(&0) as usize + 1;
        let mut writer = StimulusWriter::create(
            out.join("stimuli")
                .join(format!("S{number}_stimuli_227.h5py")),
            slots,
            STIMULUS_SIZE as usize,
        )?;
        let subject = VirtualSubject::new(config.seed, number)?.with_front_end(config.front_end);
        let Measurements {
            voxels,
            truth,
            responses,
            noise_ceilings: ceilings,
            ..
        } = measure_subject(
            &subject,
            config.seed,
            number,
            &ids,
            &mut |id, category, image| {
                writer.write(id as usize, image)?;
                if number == 1 || id as usize >= config.shared {
                    categories.push((id, category.name()));
                }
                Ok(())
            },
            progress,
        )?;
        writer.finish()?;
        let v_count = voxels.len();

        // Official layout: nsdgeneral (all voxels) and one file per labelled area.
        let responses_dir = out.join("roi_response_average").join(&name);
        let coords_dir = out.join("MNI_coordinate").join(&name);
        create_dir(&responses_dir)?;
        create_dir(&coords_dir)?;
        let ids_i32: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
        npy::write_array(
            responses_dir.join("image_order.npy"),
            &[ids.len()],
            &ids_i32,
        )?;
        let mut roi_names = vec!["nsdgeneral".to_string()];
        let mut roi_voxels = Vec::new();
        let write_roi = |roi: &str, members: &[usize]| -> Result<(), DataError> {
            let data: Vec<f32> = (0..ids.len())
                .flat_map(|r| members.iter().map(move |&v| (r, v)))
                .map(|(r, v)| responses[r * v_count + v])
                .collect();
            npy::write_f32(
                responses_dir.join(format!("{roi}.npy")),
                &[ids.len(), members.len()],
                &data,
            )?;
            let coords: Vec<f32> = members
                .iter()
                .flat_map(|&v| voxels[v].mni.to_array())
                .collect();
            npy::write_f32(
                coords_dir.join(format!("{roi}_MNI_coordinate.npy")),
                &[members.len(), 3],
                &coords,
            )?;
            Ok(())
        };
        let all: Vec<usize> = (0..v_count).collect();
        write_roi("nsdgeneral", &all)?;
        for area in Area::ALL {
            let members: Vec<usize> = (0..v_count)
                .filter(|&v| voxels[v].area == Some(area))
                .collect();
            if members.is_empty() {
                continue;
            }
            write_roi(area.roi_name(), &members)?;
            roi_names.push(area.roi_name().into());
            roi_voxels.push((area.roi_name().to_string(), members.len()));
        }
        write_json(&responses_dir.join("roi_names.json"), &roi_names)?;

        // What only a simulation knows.
        let virtual_dir = out.join("virtual").join(&name);
        create_dir(&virtual_dir)?;
        write_json(&virtual_dir.join("parameters.json"), &subject)?;
        npy::write_f32(
            virtual_dir.join("noise_free.npy"),
            &[ids.len(), v_count],
            &truth,
        )?;
        npy::write_f32(virtual_dir.join("noise_ceiling.npy"), &[v_count], &ceilings)?;
        let mut sorted = ceilings.clone();
        sorted.sort_by(f32::total_cmp);
        summaries.push(SubjectSummary {
            name,
            voxels: v_count,
            roi_voxels,
            median_noise_ceiling: sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
        });
    }
    categories.sort();
    categories.dedup();
    write_json(&out.join("virtual").join("stimuli.json"), &categories)?;
    let record = SimulationRecord {
        model_version: MODEL_VERSION.into(),
        config: config.clone(),
        subjects: summaries,
    };
    write_json(&out.join("virtual").join("simulation.json"), &record)?;
    Ok(record)
}

/// Reads `virtual/simulation.json` of a simulated dataset and redraws subject `number`,
/// refusing data made by another model version.
pub fn open_virtual_subject(
    root: &Path,
    number: usize,
) -> Result<(SimulationRecord, VirtualSubject), DataError> {
    let path: PathBuf = root.join("virtual").join("simulation.json");
    let text = std::fs::read_to_string(&path).map_err(|source| {
        DataError::File(crate::error::FileError::Io {
            path: path.clone(),
            source,
        })
    })?;
    let record: SimulationRecord = serde_json::from_str(&text).map_err(|e| {
        invalid(
            &path,
            format!("not a simulation record written by nrf simulate ({e})"),
        )
    })?;
    if record.model_version != MODEL_VERSION {
        return Err(invalid(
            &path,
            format!(
                "made by {}, this nrf has {MODEL_VERSION}; simulate again",
                record.model_version
            ),
        ));
    }
    if number == 0 || number > record.config.subjects {
        return Err(invalid(
            &path,
            format!(
                "subject {number} does not exist; the simulation has subjects 1 to {}",
                record.config.subjects
            ),
        ));
    }
    let subject =
        VirtualSubject::new(record.config.seed, number)?.with_front_end(record.config.front_end);
    Ok((record, subject))
}

/// The truth of `subject` for one image at MNI points.
pub fn truth_at(
    subject: &VirtualSubject,
    image: &crate::features::preprocess::Rgb8,
    points: &[Vec3],
) -> Vec<f32> {
    let field = subject.see(image);
    points
        .par_iter()
        .map(|&p| subject.response(&subject.point_model(p), &field))
        .collect()
}

/// The truth of `subject` for one image on a grid: every point inside the MNI152 brain mask
/// (others 0).
pub fn truth_on_grid(
    subject: &VirtualSubject,
    image: &crate::features::preprocess::Rgb8,
    grid: &crate::space::Grid,
) -> Result<crate::volume::Volume, DataError> {
    let mask = crate::template::brain_mask(grid)?;
    let field = subject.see(image);
    let points = grid.points();
    let data = points
        .par_iter()
        .zip(&mask.data)
        .map(|(&p, &inside)| {
            if inside {
                subject.response(&subject.point_model(p), &field)
            } else {
                0.0
            }
        })
        .collect();
    Ok(crate::volume::Volume::new(*grid, data)?)
}
