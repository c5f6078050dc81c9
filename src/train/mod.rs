//! Training: the official loss (more — the trainer, fine-tuning, ridge — lands here next).

pub mod loss;
