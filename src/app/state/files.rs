//! Opening what the user drops, pastes, names or picks: pictures, NIfTI overlays and atlases,
//! models and run folders, CLIP folders, domains. Each file is read on a background thread
//! ([`crate::session::open`]); a bad file shows a message and changes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;

use super::{AppState, ModelSlot};
use crate::session::jobs::Job;
use crate::session::open;

impl AppState {
    /// Reads a picture, NIfTI volume, model or CLIP folder in the background; a bad file shows
    /// a message and changes nothing.
    pub(crate) fn open_file(&mut self, path: std::path::PathBuf, ctx: &egui::Context) {
        let wake = ctx.clone();
        let clip = self.clip_folder.clone();
        let device = self.compute.device.clone();
        self.status = format!("reading {}…", path.display());
        self.file_jobs.push(Job::spawn(
            move || open::open(path, clip.as_deref(), &device),
            move || wake.request_repaint(),
        ));
    }

    /// Opens `folder`'s CLIP model for the model waiting for one (seconds: the weights are
    /// read and checked against the model in the background). The model keeps waiting until a
    /// folder fits it.
    pub(crate) fn fit_pending_clip(&mut self, folder: PathBuf, ctx: &egui::Context) {
        let Some((name, model, ensemble)) = self.pending_clip.clone() else {
            return;
        };
        let wake = ctx.clone();
        let device = self.compute.device.clone();
        self.status = format!("reading CLIP from {} for {name}…", folder.display());
        self.file_jobs.push(Job::spawn(
            move || {
                open::with_clip(name, *model, &folder, &device)
                    .map(|m| open::Opened::Model(Box::new(open::ViewerModel { ensemble, ..m })))
            },
            move || wake.request_repaint(),
        ));
    }

    /// Reads the domain `path` gives (coordinates or an NSD-processed root) for the model shown,
    /// when it came without one; the views then stay within it.
    pub(crate) fn set_domain(&mut self, path: PathBuf, ctx: &egui::Context) {
        let ModelSlot::Opened(index) = self.model else {
            self.error = Some(format!(
                "{}: a domain is for a model that came without one (an official run folder); the model shown has its own",
                path.display()
            ));
            return;
        };
        let Some(model) = self.opened.get(index).map(|m| m.model.clone()) else {
            return;
        };
        let wake = ctx.clone();
        self.status = format!("reading the domain from {}…", path.display());
        self.domain_job = Some(Job::spawn(
            move || open::read_domain_for(&model, &path).map(|domain| (index, domain)),
            move || wake.request_repaint(),
        ));
    }

    /// Runs a native open dialog on its own thread; the chosen path is opened like a dropped file.
    pub(crate) fn open_dialog(
        &mut self,
        ctx: &egui::Context,
        pick: impl FnOnce() -> Option<PathBuf> + Send + 'static,
    ) {
        let wake = ctx.clone();
        self.dialog_job = Some(Job::spawn(
            move || Ok(pick()),
            move || wake.request_repaint(),
        ));
    }

    /// Shows what a file turned out to be.
    pub(crate) fn file_opened(&mut self, opened: open::Opened, ctx: &egui::Context) {
        match opened {
            open::Opened::Image { name, rgb } => self.show_image(name, rgb, ctx),
            open::Opened::Model(model) => {
                if let Some(folder) = &model.clip_folder {
                    // A folder that worked serves the next CLIP models too.
                    self.clip_folder = Some(folder.clone());
                    if self
                        .pending_clip
                        .as_ref()
                        .is_some_and(|(n, ..)| *n == model.name)
                    {
                        self.pending_clip = None;
                    }
                }
                self.status = match &model.clip_folder {
                    Some(folder) => {
                        format!("{}: CLIP features from {}", model.name, folder.display())
                    }
                    None => format!("{}: opened", model.name),
                };
                self.opened.push(*model);
                self.select_model(ModelSlot::Opened(self.opened.len() - 1), ctx);
            }
            open::Opened::NeedsClip {
                name,
                model,
                ensemble,
            } => {
                self.status = format!("{name} takes CLIP features: choose a CLIP folder");
                self.pending_clip = Some((name, model, ensemble));
            }
            open::Opened::ClipFolder(folder) => {
                if self.pending_clip.is_some() {
                    self.fit_pending_clip(folder, ctx);
                } else {
                    self.status = format!(
                        "CLIP folder {}: used for models that take CLIP features",
                        folder.display()
                    );
                    self.clip_folder = Some(folder);
                }
            }
            open::Opened::DomainSource(path) => self.set_domain(path, ctx),
            open::Opened::Atlas(atlas) => {
                self.status = format!(
                    "atlas {}: {} regions named under the cursor",
                    atlas.name,
                    atlas.names.len()
                );
                self.atlas = Some(Arc::from(atlas));
            }
            open::Opened::Overlay { name, volume } => {
                self.overlay_version += 1;
                self.status = format!("{name}: shown instead of the prediction");
                self.file_overlay = Some((name, (self.overlay_version, Arc::from(volume))));
                self.show_file = true;
                if let Some((_, volume)) = self.shown_overlay() {
                    self.auto_range(&volume);
                }
                self.slices_stale = true;
            }
        }
    }
}
