//! The questions asked of the model shown (the Ask panel): an in-silico localiser whose t map
//! the views can show, the images that drive the crosshair's point, the point's pRF following
//! the crosshair, and the mean prediction per ROI for the image shown. Every answer keeps the
//! model it came from and is shown only while that model is.

use std::sync::Arc;

use eframe::egui;
use glam::Vec3;

use super::{AppState, ModelSlot, rgb_texture, rgba_texture};
use crate::insilico::image_set::SetSpec;
use crate::insilico::prf::map_picture;
use crate::insilico::roi_summary::RoiSummary;
use crate::query::GridPrediction;
use crate::session::SessionError;
use crate::session::jobs::Job;
use crate::session::questions::{
    self, AskedModel, LocalizerAnswer, Place, PrfAnswer, ProbedModel, TopAnswer,
};

/// Grid spacing of the viewer's localiser, mm.
pub(crate) const LOCALIZER_SPACING_MM: f64 = 2.0;

/// A localiser answer and the overlay the views show of it.
pub(crate) struct ShownLocalizer {
    pub(crate) model: ModelSlot,
    pub(crate) answer: LocalizerAnswer,
    pub(crate) overlay: (u64, Arc<GridPrediction>),
}

/// The images that drive a point, with their thumbnails (`top` then `bottom`).
pub(crate) struct ShownTop {
    pub(crate) model: ModelSlot,
    pub(crate) answer: TopAnswer,
    pub(crate) thumbnails: Vec<egui::TextureHandle>,
}

/// A pRF at a point, with its picture.
pub(crate) struct ShownPrf {
    pub(crate) model: ModelSlot,
    pub(crate) answer: PrfAnswer,
    pub(crate) picture: Option<egui::TextureHandle>,
}

/// Everything the Ask panel asks and shows.
pub(crate) struct QuestionsState {
    /// Set A of the localiser, as typed (a folder, CATEGORY:N[:SEED], library:N[:SEED]).
    pub(crate) a_set: String,
    /// Set B.
    pub(crate) b_set: String,
    pub(crate) localizer_job: Option<Job<(ModelSlot, LocalizerAnswer)>>,
    pub(crate) localizer: Option<ShownLocalizer>,
    /// Show the localiser's t map instead of the prediction.
    pub(crate) show_localizer: bool,
    /// The set ranked by "what drives this point".
    pub(crate) top_set: String,
    /// How many images at each end.
    pub(crate) top_k: usize,
    /// Rank in this ROI of the model's domain instead of at the crosshair.
    pub(crate) top_roi: Option<String>,
    pub(crate) top_job: Option<Job<(ModelSlot, TopAnswer)>>,
    pub(crate) top: Option<ShownTop>,
    /// Follow the crosshair with the pRF.
    pub(crate) prf_on: bool,
    pub(crate) probes_job: Option<Job<(ModelSlot, ProbedModel)>>,
    pub(crate) probes: Option<(ModelSlot, Arc<ProbedModel>)>,
    pub(crate) prf_job: Option<Job<(ModelSlot, PrfAnswer)>>,
    pub(crate) prf: Option<ShownPrf>,
    /// Show the mean prediction per ROI.
    pub(crate) roi_on: bool,
    pub(crate) roi_job: Option<Job<(ModelSlot, String, RoiSummary)>>,
    pub(crate) roi: Option<(ModelSlot, String, RoiSummary)>,
    /// When the localiser answers: move to its top peak, rank the images there, show its pRF
    /// (`nrf view --localizer`).
    pub(crate) follow_localizer: bool,
    /// Open the Ask section in the next frame.
    pub(crate) open_panel: bool,
}

impl Default for QuestionsState {
    fn default() -> Self {
        Self {
            a_set: "face:20".into(),
            b_set: "place:20".into(),
            localizer_job: None,
            localizer: None,
            show_localizer: false,
            top_set: "library:140".into(),
            top_k: 5,
            top_roi: None,
            top_job: None,
            top: None,
            prf_on: false,
            probes_job: None,
            probes: None,
            prf_job: None,
            prf: None,
            roi_on: false,
            roi_job: None,
            roi: None,
            follow_localizer: false,
            open_panel: false,
        }
    }
}

impl QuestionsState {
    /// Whether a question is being computed.
    pub(crate) fn busy(&self) -> bool {
        self.localizer_job.is_some()
            || self.top_job.is_some()
            || self.probes_job.is_some()
            || self.prf_job.is_some()
            || self.roi_job.is_some()
    }
}

impl AppState {
    /// The model shown, loaded for a question on a background thread.
    fn asked_model(
        &self,
    ) -> Option<(
        ModelSlot,
        impl FnOnce() -> Result<AskedModel, SessionError> + Send + 'static,
    )> {
        let source = self.model_source(self.model)?;
        let device = self.compute.device.clone();
        Some((self.model, move || AskedModel::new(source, &device)))
    }

    /// Runs the localiser A − B of the typed sets on the model shown.
    pub(crate) fn start_localizer(&mut self, ctx: &egui::Context) {
        let sets = SetSpec::parse(self.questions.a_set.trim())
            .and_then(|a| Ok((a, SetSpec::parse(self.questions.b_set.trim())?)));
        let (a, b) = match sets {
            Ok(sets) => sets,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        let Some((slot, load)) = self.asked_model() else {
            return;
        };
        let wake = ctx.clone();
        self.questions.localizer_job = Some(Job::spawn_cancellable(
            move |cancel| {
                let asked = load()?;
                let answer = questions::localizer(&asked, &a, &b, LOCALIZER_SPACING_MM, cancel)?;
                Ok((slot, answer))
            },
            move || wake.request_repaint(),
        ));
        self.status = format!(
            "localiser {} − {} on {}…",
            self.questions.a_set.trim(),
            self.questions.b_set.trim(),
            self.model_name(slot)
        );
    }

    /// Ranks the typed set at the crosshair (within 2 mm) or in the chosen ROI, on the model
    /// shown.
    pub(crate) fn start_top(&mut self, ctx: &egui::Context) {
        let set = match SetSpec::parse(self.questions.top_set.trim()) {
            Ok(set) => set,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        let Some((slot, load)) = self.asked_model() else {
            return;
        };
        let place = match &self.questions.top_roi {
            Some(roi) => Place::Roi(roi.clone()),
            None => Place::Sphere {
                centre: self.at.as_vec3(),
                radius_mm: 2.0,
            },
        };
        self.status = format!(
            "ranking {} {}…",
            self.questions.top_set.trim(),
            place.label()
        );
        let k = self.questions.top_k;
        let wake = ctx.clone();
        self.questions.top_job = Some(Job::spawn_cancellable(
            move |cancel| {
                let asked = load()?;
                Ok((
                    slot,
                    questions::top_images(&asked, &set, &place, k, cancel)?,
                ))
            },
            move || wake.request_repaint(),
        ));
    }

    /// Starts (or restarts) what the pRF needs: the probes for the model shown, then the pRF at
    /// the crosshair. Called when the crosshair or the model changes while the pRF is on.
    pub(crate) fn update_prf(&mut self, ctx: &egui::Context) {
        if !self.questions.prf_on {
            return;
        }
        let probes_ready = self
            .questions
            .probes
            .as_ref()
            .filter(|(slot, _)| *slot == self.model)
            .map(|(_, probed)| Arc::clone(probed));
        let Some(probed) = probes_ready else {
            let probes_pending = self.questions.probes_job.is_some();
            if !probes_pending && let Some((slot, load)) = self.asked_model() {
                let subject = self.truth_subject();
                let wake = ctx.clone();
                self.questions.probes_job = Some(Job::spawn(
                    move || {
                        let asked = load()?;
                        Ok((slot, questions::prepare_probes(&asked, subject)?))
                    },
                    move || wake.request_repaint(),
                ));
            }
            return;
        };
        let point = self.at.as_vec3();
        if self
            .questions
            .prf
            .as_ref()
            .is_some_and(|p| p.model == self.model && p.answer.point == point)
        {
            return;
        }
        let slot = self.model;
        let wake = ctx.clone();
        // A newer point replaces (and so cancels) the job of the previous one.
        self.questions.prf_job = Some(Job::spawn(
            move || Ok((slot, questions::prf_at(&probed, point)?)),
            move || wake.request_repaint(),
        ));
    }

    /// The mean prediction per ROI for the image shown, when asked for.
    pub(crate) fn update_roi_means(&mut self, ctx: &egui::Context) {
        if !self.questions.roi_on {
            return;
        }
        let Some(image) = &self.image else { return };
        if self
            .questions
            .roi
            .as_ref()
            .is_some_and(|(slot, name, _)| *slot == self.model && *name == image.name)
        {
            return;
        }
        let Some((slot, load)) = self.asked_model() else {
            return;
        };
        let (name, rgb) = (image.name.clone(), image.rgb.clone());
        let wake = ctx.clone();
        self.questions.roi_job = Some(Job::spawn(
            move || {
                let asked = load()?;
                let summary = questions::roi_means(&asked, &name, &rgb)?;
                Ok((slot, name, summary))
            },
            move || wake.request_repaint(),
        ));
    }

    /// Takes the questions' finished answers.
    pub(crate) fn poll_questions(&mut self, ctx: &egui::Context) {
        if let Some(answer) = self.questions.localizer_job.as_ref().and_then(Job::poll) {
            self.questions.localizer_job = None;
            match answer {
                Ok((model, answer)) => {
                    self.overlay_version += 1;
                    self.status = format!(
                        "localiser {} − {}: {} and {} images{}",
                        answer.a,
                        answer.b,
                        answer.counts.0,
                        answer.counts.1,
                        answer
                            .skipped
                            .as_ref()
                            .map_or(String::new(), |s| format!(" · {s}"))
                    );
                    let overlay = (self.overlay_version, Arc::new(answer.t_map.clone()));
                    self.questions.localizer = Some(ShownLocalizer {
                        model,
                        answer,
                        overlay,
                    });
                    self.questions.show_localizer = true;
                    self.show_file = false;
                    if let Some((_, volume)) = self.shown_overlay() {
                        self.auto_range(&volume);
                    }
                    self.slices_stale = true;
                    let top_peak = self
                        .questions
                        .localizer
                        .as_ref()
                        .and_then(|l| l.answer.peaks.first())
                        .map(|p| Vec3::from_array(p.position_mm));
                    if std::mem::take(&mut self.questions.follow_localizer)
                        && let Some(peak) = top_peak
                    {
                        self.move_crosshair(peak);
                        self.start_top(ctx);
                        self.questions.prf_on = true;
                        self.update_prf(ctx);
                    }
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(answer) = self.questions.top_job.as_ref().and_then(Job::poll) {
            self.questions.top_job = None;
            match answer {
                Ok((model, answer)) => {
                    let thumbnails = answer
                        .images
                        .iter()
                        .map(|(item, rgb)| rgb_texture(ctx, &item.name, rgb))
                        .collect();
                    self.status = format!(
                        "ranked {} {}{}",
                        answer.set,
                        answer.place.label(),
                        answer
                            .skipped
                            .as_ref()
                            .map_or(String::new(), |s| format!(" · {s}"))
                    );
                    self.questions.top = Some(ShownTop {
                        model,
                        answer,
                        thumbnails,
                    });
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(answer) = self.questions.probes_job.as_ref().and_then(Job::poll) {
            self.questions.probes_job = None;
            match answer {
                Ok((slot, probed)) => {
                    self.questions.probes = Some((slot, Arc::new(probed)));
                    self.update_prf(ctx);
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.questions.prf_on = false;
                }
            }
        }
        if let Some(answer) = self.questions.prf_job.as_ref().and_then(Job::poll) {
            self.questions.prf_job = None;
            match answer {
                Ok((model, answer)) => {
                    let picture = answer.fit.as_ref().map(|fit| {
                        let picture = map_picture(fit, None, 16);
                        rgba_texture(
                            ctx,
                            "pRF",
                            [picture.width() as usize, picture.height() as usize],
                            picture.as_raw(),
                        )
                    });
                    self.questions.prf = Some(ShownPrf {
                        model,
                        answer,
                        picture,
                    });
                    // The crosshair may have moved on meanwhile.
                    self.update_prf(ctx);
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.questions.prf_on = false;
                }
            }
        }
        if let Some(answer) = self.questions.roi_job.as_ref().and_then(Job::poll) {
            self.questions.roi_job = None;
            match answer {
                Ok(roi) => self.questions.roi = Some(roi),
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.questions.roi_on = false;
                }
            }
        }
        if self.questions.prf_on && self.questions.prf_job.is_none() {
            self.update_prf(ctx);
        }
        if self.questions.roi_on && self.questions.roi_job.is_none() {
            self.update_roi_means(ctx);
        }
    }

    /// The localiser's t map when it is shown and belongs to the model shown.
    pub(crate) fn localizer_shown(&self) -> Option<&ShownLocalizer> {
        self.questions
            .localizer
            .as_ref()
            .filter(|l| self.questions.show_localizer && l.model == self.model)
    }

    /// Moves the crosshair (slices follow).
    pub(crate) fn move_crosshair(&mut self, point: Vec3) {
        self.at = point.as_dvec3();
        self.slices_stale = true;
    }
}
