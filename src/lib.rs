//! `nrf`: Neural Response Functions — brain-encoding models f(image, MNI point) → response
//! (Chen et al., "Beyond Grid-Locked Voxels", ICLR 2026) — as a library behind the `nrf` viewer
//! and command-line tool.
//!
//! The library never prints or exits: every fallible call returns a typed error that names the
//! file and what was expected, and the binary reports it. `DESIGN.md` maps the modules.

#[cfg(feature = "viewer")]
pub mod app;
pub mod atomic_file;
pub(crate) mod cpu_gemm;
pub mod data;
pub mod device;
pub mod embedded;
pub mod error;
pub mod features;
pub mod formats;
pub mod gpu;
pub mod insilico;
pub mod model;
pub mod npy;
pub mod query;
pub mod render;
pub mod session;
pub mod space;
pub mod state_dict;
pub mod template;
pub mod train;
pub mod volume;
