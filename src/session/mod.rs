//! What a viewing session opens and computes, without a window: reading what the user drops or
//! names (`open`), the background jobs that prepare a prediction and draw slices (`jobs`),
//! fine-tuning (`finetune`), the questions asked of a model (`questions`: localiser, top
//! images, pRF, ROI means) and the views redrawn at 2× for export (`views_export`).
//!
//! No windowing crate here: the viewer (`crate::app`, feature `viewer`) drives these from its UI
//! thread, and `nrf bench viewer` and the tests drive them headless.

mod error;
pub mod finetune;
pub mod jobs;
pub mod open;
pub mod questions;
pub mod views_export;

pub use error::SessionError;
