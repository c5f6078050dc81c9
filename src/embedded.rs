//! The embedded default models: one small NRF per virtual subject of `nrf simulate --seed 1`
//! (1000 images each), trained on the built-in features, so that a fresh install predicts
//! without any download. Made by `assets/models/train_defaults.sh`; their validation scores are
//! in `assets/models/scores.tsv` and the README. They describe simulated subjects, not people.

use std::path::Path;

use burn::tensor::Device;

use crate::data::simulate::SimulationConfig;
use crate::model::Nrf;
use crate::model::official::ModelError;

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
};

/// The embedded model of virtual subject `subject` (1-based) on `device`.
pub fn default_model(subject: usize, device: &Device) -> Result<Nrf, DefaultModelError> {
    let bytes = subject
        .checked_sub(1)
        .and_then(|i| MODELS.get(i))
        .ok_or(DefaultModelError::NoSuchSubject(subject))?;
    let name = format!("embedded default model subj{subject:02}");
    let mut model = Nrf::from_bytes(Path::new(&name), bytes, device)?;
    model.source = None;
    Ok(model)
}
