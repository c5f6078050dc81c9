//! The embedded default models: one small NRF per virtual subject of `nrf simulate --seed 1`
//! (1000 images each), trained on the built-in features, so that a fresh install predicts
//! without any download. Made by `assets/models/train_defaults.sh`; their validation scores are
//! in `assets/models/scores.tsv` and the README. They describe simulated subjects, not people.

use std::path::Path;
use std::sync::OnceLock;

use burn::tensor::Device;

use crate::data::simulate::SimulationConfig;
use crate::data::virtual_subjects::{Area, VirtualSubject};
use crate::model::official::ModelError;
use crate::model::{Domain, Nrf, Roi, VoxelDomain};

/// Number of embedded subjects.
pub const SUBJECTS: usize = 8;

/// The `.nrf` bytes of each subject, 1-based order.
const MODELS: [&[u8]; SUBJECTS] = [
    include_bytes!("../assets/models/subj01.nrf"),
    include_bytes!("../assets/models/subj02.nrf"),
    include_bytes!("../assets/models/subj03.nrf"),
    include_bytes!("../assets/models/subj04.nrf"),
    include_bytes!("../assets/models/subj05.nrf"),
    include_bytes!("../assets/models/subj06.nrf"),
    include_bytes!("../assets/models/subj07.nrf"),
    include_bytes!("../assets/models/subj08.nrf"),
];

/// Errors of [`default_model`].
#[derive(Debug, thiserror::Error)]
pub enum DefaultModelError {
    /// No such subject.
    #[error("there is no embedded virtual subject {0}; they are numbered 1 to {SUBJECTS}")]
    NoSuchSubject(usize),
    /// The embedded bytes did not decode (a broken build).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The embedded template behind the virtual subject's areas did not decode (a broken build).
    #[error(transparent)]
    Template(#[from] crate::volume::VolumeError),
}

/// Seed of the simulation the embedded models were trained on (`assets/models/train_defaults.sh`):
/// `VirtualSubject::new(SIMULATION_SEED, k)` is the subject behind model k, so its truth can be
/// shown beside the model.
pub const SIMULATION_SEED: u64 = SIMULATION.seed;

/// The simulation the embedded models were trained on (`nrf simulate --subjects 8 --images 1000
/// --shared 100 --seed 1`): fine-tuning in the viewer measures its subjects' images again.
pub const SIMULATION: SimulationConfig = SimulationConfig {
    subjects: SUBJECTS,
    images: 1000,
    shared: 100,
    seed: 1,
    front_end: crate::data::early_vision::FrontEnd::Steerable,
};

/// The embedded model of virtual subject `subject` (1-based) on `device`, its domain labelled
/// with the subject's visual areas ([`label_virtual_areas`]).
pub fn default_model(subject: usize, device: &Device) -> Result<Nrf, DefaultModelError> {
    let bytes = subject
        .checked_sub(1)
        .and_then(|i| MODELS.get(i))
        .ok_or(DefaultModelError::NoSuchSubject(subject))?;
    let name = format!("embedded default model subj{subject:02}");
    let mut model = Nrf::from_bytes(Path::new(&name), bytes, device)?;
    model.source = None;
    if let Domain::Voxels(voxels) = &model.domain
        && voxels.rois().is_empty()
    {
        // Labelled once per subject and process: every prediction and question loads the model.
        let cell = &LABELLED_DOMAINS[subject - 1];
        let labelled = match cell.get() {
            Some(labelled) => labelled.clone(),
            None => {
                let truth = VirtualSubject::new(SIMULATION_SEED, subject)?;
                cell.get_or_init(|| label_virtual_areas(voxels, &truth))
                    .clone()
            }
        };
        model.domain = Domain::Voxels(labelled);
    }
    Ok(model)
}

/// Each embedded subject's domain with its areas ([`label_virtual_areas`]), once computed.
static LABELLED_DOMAINS: [OnceLock<VoxelDomain>; SUBJECTS] = [const { OnceLock::new() }; SUBJECTS];

/// A virtual subject's domain with one ROI per visual area (V1, V2, V3, hV4, FFA, PPA, EBA,
/// LO): the voxels whose membership of it exceeds 0.5, as `nrf simulate` writes its ROI files.
/// The embedded models were trained on the whole `nsdgeneral`-like region and carry no labels;
/// the simulator knows them.
pub fn label_virtual_areas(domain: &VoxelDomain, subject: &VirtualSubject) -> VoxelDomain {
    let labels: Vec<Option<Area>> = domain
        .coords_mm()
        .iter()
        .map(|&p| subject.point_model(p).label(0.5))
        .collect();
    let rois = Area::ALL
        .iter()
        .map(|&area| Roi {
            name: area.roi_name().to_string(),
            members: labels.iter().map(|l| *l == Some(area)).collect(),
        })
        .filter(|roi| roi.members.iter().any(|&m| m))
        .collect();
    VoxelDomain::new(domain.coords_mm().to_vec(), rois, Some(domain.reach_mm()))
        .unwrap_or_else(|_| domain.clone())
}
