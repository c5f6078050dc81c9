//! A − B contrasts (set up in the Image panel): A is the image shown or a set of images, B an image or
//! a set; the views then show mean(A) − mean(B) from the same model (the mean of the predictions,
//! not of the images).

use super::ShownImage;
use crate::features::preprocess::Rgb8;
use crate::session::SessionError;

/// The most images on one side (each costs one more MLP evaluation at every point).
pub const MAX_SET: usize = 8;

/// The two sides of a contrast.
#[derive(Default)]
pub(crate) struct Contrast {
    /// A's images (empty: A is the image shown).
    pub(crate) a: Vec<ShownImage>,
    /// B's images (empty: no contrast).
    pub(crate) b: Vec<ShownImage>,
    /// Show A − B instead of the image shown.
    pub(crate) on: bool,
}

impl Contrast {
    /// Whether the views show a contrast.
    pub(crate) fn active(&self) -> bool {
        self.on && !self.b.is_empty()
    }

    /// The images of A and of B (empty: not a contrast) for a prediction, A defaulting to the
    /// image shown.
    pub(crate) fn sides(&self, shown: &Rgb8) -> (Vec<Rgb8>, Vec<Rgb8>) {
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
    pub(crate) fn key(&self) -> (bool, Vec<String>, Vec<String>) {
        let names = |set: &[ShownImage]| set.iter().map(|i| i.name.clone()).collect();
        (self.active(), names(&self.a), names(&self.b))
    }
}

/// Adds `image` to `set` unless it is there or the set is full; says why not.
pub(crate) fn add(set: &mut Vec<ShownImage>, image: &ShownImage) -> Result<(), SessionError> {
    if set.iter().any(|i| i.name == image.name) {
        return Err(SessionError::Invalid(format!(
            "{} is already in the set",
            image.name
        )));
    }
    if set.len() >= MAX_SET {
        return Err(SessionError::Invalid(format!(
            "a set holds at most {MAX_SET} images"
        )));
    }
    set.push(image.clone());
    Ok(())
}

/// The names of a side, as the panel lists them.
pub(crate) fn names(set: &[ShownImage]) -> String {
    set.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
