//! A − B contrasts, in the Image section: A is the image shown or a set of images, B an image or
//! a set; the views then show mean(A) − mean(B) from the same model (the mean of the predictions,
//! not of the images).

use eframe::egui;

use super::{NrfApp, ShownImage};
use crate::features::preprocess::Rgb8;

/// The most images on one side (each costs one more MLP evaluation at every point).
pub const MAX_SET: usize = 8;

/// The two sides of a contrast.
#[derive(Default)]
pub(super) struct Contrast {
    /// A's images (empty: A is the image shown).
    pub(super) a: Vec<ShownImage>,
    /// B's images (empty: no contrast).
    pub(super) b: Vec<ShownImage>,
    /// Show A − B instead of the image shown.
    pub(super) on: bool,
}

impl Contrast {
    /// Whether the views show a contrast.
    pub(super) fn active(&self) -> bool {
        self.on && !self.b.is_empty()
    }

    /// The images of A and of B (empty: not a contrast) for a prediction, A defaulting to the
    /// image shown.
    pub(super) fn sides(&self, shown: &Rgb8) -> (Vec<Rgb8>, Vec<Rgb8>) {
        if !self.active() {
            return (vec![shown.clone()], Vec::new());
        }
        let rgb = |set: &[ShownImage]| set.iter().map(|i| i.rgb.clone()).collect::<Vec<_>>();
        let a = if self.a.is_empty() {
            vec![shown.clone()]
        } else {
            rgb(&self.a)
        };
        (a, rgb(&self.b))
    }

    /// What the prediction depends on: changes whenever it must be made again.
    fn key(&self) -> (bool, Vec<String>, Vec<String>) {
        let names = |set: &[ShownImage]| set.iter().map(|i| i.name.clone()).collect();
        (self.active(), names(&self.a), names(&self.b))
    }
}

/// Adds `image` to `set` unless it is there or the set is full; says why not.
fn add(set: &mut Vec<ShownImage>, image: &ShownImage) -> Result<(), String> {
    if set.iter().any(|i| i.name == image.name) {
        return Err(format!("{} is already in the set", image.name));
    }
    if set.len() >= MAX_SET {
        return Err(format!("a set holds at most {MAX_SET} images"));
    }
    set.push(image.clone());
    Ok(())
}

/// The names of a side, as the panel lists them.
fn names(set: &[ShownImage]) -> String {
    set.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl NrfApp {
    /// The contrast rows of the Image section.
    pub(super) fn contrast_rows(&mut self, ui: &mut egui::Ui) {
        let before = self.contrast.key();
        ui.horizontal_wrapped(|ui| {
            let Some(image) = self.image.clone() else {
                return;
            };
            if ui
                .button("Set as B")
                .on_hover_text("Keep this image as the baseline B of an A - B contrast")
                .clicked()
            {
                self.contrast.b = vec![image.clone()];
            }
            if !self.contrast.b.is_empty()
                && ui
                    .button("Add to B")
                    .on_hover_text("B becomes a set: the mean of its images' predictions")
                    .clicked()
                && let Err(e) = add(&mut self.contrast.b, &image)
            {
                self.error = Some(e);
            }
            if ui
                .button("Add to A")
                .on_hover_text(
                    "A becomes a set (the mean of its images' predictions) instead of the \
                     image shown",
                )
                .clicked()
                && let Err(e) = add(&mut self.contrast.a, &image)
            {
                self.error = Some(e);
            }
        });
        if !self.contrast.b.is_empty() {
            let a = if self.contrast.a.is_empty() {
                "the image shown".to_string()
            } else {
                names(&self.contrast.a)
            };
            ui.checkbox(&mut self.contrast.on, "show A - B")
                .on_hover_text("The mean prediction for A's images minus the mean for B's");
            ui.label(format!("A: {a}"));
            ui.label(format!("B: {}", names(&self.contrast.b)));
            if ui.button("Clear A and B").clicked() {
                self.contrast = Contrast::default();
            }
        }
        if self.contrast.key() != before && (self.contrast.active() || before.0) {
            self.range_pending = true;
            self.start_prediction(ui.ctx());
        }
    }
}
