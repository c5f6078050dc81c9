//! Data: procedural stimuli, virtual subjects with known ground truth, and readers of response
//! datasets (the official NSD-processed layout and a plain NIfTI layout).

pub mod dataset;
pub mod early_vision;
mod gabor_vision;
pub mod plain;
pub mod simulate;
pub mod stimuli;
pub mod stimulus_file;
pub mod virtual_subjects;
