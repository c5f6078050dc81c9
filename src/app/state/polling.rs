//! Taking what the background jobs have finished, once per frame: files opened, the template,
//! the prepared query, each refinement level, the truth, slices and their recolouring, the
//! fine-tune's news and the exports' outcomes.

use std::sync::Arc;

use eframe::egui;

use super::{AppState, ModelSlot, seconds_text};
use crate::render::refine::{RefineMessage, RefinementJob};
use crate::session::jobs::{self, Job, Polled, PreparedPrediction, Step, SteppedJob};

impl AppState {
    /// Takes whatever the background jobs have finished.
    pub(crate) fn poll_jobs(&mut self, ctx: &egui::Context) {
        if let Some(answer) = self.dialog_job.as_ref().and_then(Job::poll) {
            self.dialog_job = None;
            match answer {
                Ok(Some(path)) => self.open_file(path, ctx),
                Ok(None) => {}
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        let mut pending = Vec::new();
        for job in std::mem::take(&mut self.file_jobs) {
            match job.poll() {
                None => pending.push(job),
                Some(Ok(opened)) => self.file_opened(opened, ctx),
                Some(Err(e)) => {
                    self.error = Some(e.to_string());
                    self.status.clear();
                }
            }
        }
        self.file_jobs.extend(pending);
        if let Some(answer) = self.domain_job.as_ref().and_then(Job::poll) {
            self.domain_job = None;
            match answer {
                Ok((index, domain)) => {
                    if let Some(opened) = self.opened.get_mut(index) {
                        opened.model.domain = domain;
                        self.status = format!("{}: domain set", opened.name);
                        if self.model == ModelSlot::Opened(index) {
                            self.range_pending = true;
                            self.start_prediction(ctx);
                        }
                    }
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.status.clear();
                }
            }
        }
        self.poll_finetune(ctx);
        self.poll_questions(ctx);
        self.poll_exports();
        if let Some(answer) = self.templates_job.as_ref().and_then(Job::poll) {
            self.templates_job = None;
            match answer {
                Ok(templates) => {
                    self.templates = Some(templates);
                    self.anatomy_version += 1;
                    self.slices_stale = true;
                }
                Err(e) => self.error = Some(format!("template: {e}")),
            }
        }
        if let Some(answer) = self.query_job.as_ref().and_then(Job::poll) {
            self.query_job = None;
            match answer {
                Ok(PreparedPrediction {
                    query,
                    points_per_second,
                }) => {
                    // The 3D levels and the slices share the device.
                    self.rate_per_job = Some(points_per_second / jobs::CONCURRENT_QUERY_JOBS);
                    self.start_refinement(query.clone(), ctx);
                    self.query = Some(query);
                    self.overlay_spacing = None;
                    self.slices_stale = true;
                    // Slices of the anatomy alone may still be drawing: they give way at once.
                    self.slices_job = None;
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.status.clear();
                }
            }
        }
        while let Some(message) = self.refinement.as_ref().and_then(RefinementJob::poll) {
            match message {
                RefineMessage::Plan(plan) => {
                    self.refinement_status = plan.first().map(|level| {
                        let later: Vec<String> = plan[1..]
                            .iter()
                            .map(|l| format!("{}", l.spacing_mm))
                            .collect();
                        format!(
                            "3D {} mm: {} points, ~{}{}",
                            level.spacing_mm,
                            level.points,
                            seconds_text(level.seconds),
                            if later.is_empty() {
                                String::new()
                            } else {
                                format!(" (then {} mm)", later.join(", "))
                            }
                        )
                    });
                }
                RefineMessage::Progress {
                    spacing_mm,
                    done,
                    total,
                    eta_seconds,
                } => {
                    self.refinement_status = Some(format!(
                        "3D {spacing_mm} mm: {done}/{total} points, ~{} left",
                        seconds_text(eta_seconds)
                    ));
                }
                RefineMessage::Level(level) => {
                    let finest = level.spacing_mm == self.finest_spacing;
                    if self.range_pending && !self.show_truth && (self.overlay.is_none() || finest)
                    {
                        // A new image's first level sets the colour range and its finest sets it
                        // again (so the range does not depend on which levels the plan chose);
                        // the other side of an A/B switch keeps it, so that A and B compare.
                        self.auto_range(&level.prediction);
                        self.range_pending = !finest;
                    }
                    self.overlay_version += 1;
                    self.overlay = Some((self.overlay_version, Arc::new(level.prediction)));
                    self.overlay_spacing = Some(level.spacing_mm);
                    self.overlay_device = Some(level.computed_on);
                    if level.spacing_mm == self.finest_spacing {
                        self.refinement_status = None;
                    }
                    self.status = format!(
                        "{}: {} mm volume in {:.2} s",
                        self.shown_name(),
                        level.spacing_mm,
                        level.seconds
                    );
                }
                RefineMessage::Failed(e) => self.error = Some(e),
            }
            ctx.request_repaint();
        }
        if let Some(answer) = self.truth_job.as_ref().and_then(Job::poll) {
            self.truth_job = None;
            match answer {
                Ok((source, volume)) => {
                    self.auto_range(&volume);
                    self.overlay_version += 1;
                    self.truth_overlay = Some((self.overlay_version, Arc::new(volume)));
                    self.status = format!("subj{:02}: ground truth, 2 mm", source.subject.number);
                    self.truth = Some(source);
                    self.slices_stale = true;
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        while let Some(polled) = self.slices_job.as_ref().map(SteppedJob::poll) {
            match polled {
                Polled::Waiting => break,
                Polled::Finished => {
                    self.slices_job = None;
                    self.slices_status = None;
                }
                Polled::Step(Step::Progress(what)) => self.slices_status = Some(what),
                Polled::Step(Step::Failed(e)) => {
                    self.slices_job = None;
                    self.slices_status = None;
                    self.error = Some(e);
                }
                Polled::Step(Step::Level(rendered)) => {
                    self.slices_job_shown = true;
                    let coarse = rendered.iter().map(|s| s.factor).max().unwrap_or(1);
                    self.slices_status = (coarse > 1)
                        .then(|| format!("slices at {coarse}×{coarse} pixels a point, refining"));
                    self.show_slices(rendered, ctx);
                }
            }
        }
        if let Some(answer) = self.restyle_job.as_ref().and_then(Job::poll) {
            self.restyle_job = None;
            match answer {
                // Slices started since (a new plane or prediction) win over a recolouring.
                Ok(rendered) if self.slices_job.is_none() && !self.slices_stale => {
                    self.show_slices(rendered, ctx);
                }
                Ok(_) => {}
                Err(e) => self.error = Some(e.to_string()),
            }
        }
    }
}
