//! Integration tests, one binary (each test binary links the whole crate, so there is one).
//! Fixtures live in `tests/data/` (copied from the reference fixtures, see `tests/data/README.md`).

mod alloc_watch;
mod cli;
mod cpu_queries;
mod crash_safety;
mod datasets;
mod features;
mod gpu;
mod insilico;
mod model;
mod mutation;
mod nifti_bad_input;
mod nifti_read;
mod nifti_write;
mod normalisation;
mod render;
mod support;
mod training;
mod viewer;
mod virtual_subjects;
