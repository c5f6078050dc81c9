//! The Image panel: the image shown and earlier ones, Open…, the examples, and the A − B
//! contrast rows.

use eframe::egui;

use crate::app::state::{AppState, Contrast, contrast};
use crate::data::stimuli::{self, Category};

/// The Image section.
pub(super) fn show(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    if let Some(image) = &state.image {
        ui.horizontal(|ui| {
            ui.add(egui::Image::new(&image.thumbnail).max_size(egui::vec2(96.0, 96.0)));
            ui.label(&image.name);
        });
    }
    if !state.recent.is_empty() {
        let mut chosen = None;
        ui.horizontal_wrapped(|ui| {
            for (k, recent) in state.recent.iter().enumerate() {
                let button = egui::Button::image(
                    egui::Image::new(&recent.thumbnail).max_size(egui::vec2(36.0, 36.0)),
                );
                if ui.add(button).on_hover_text(&recent.name).clicked() {
                    chosen = Some(k);
                }
            }
        });
        if let Some(k) = chosen {
            let again = state.recent.remove(k);
            state.show_image(again.name, again.rgb, &ctx);
        }
    }
    if ui
        .add_enabled(state.dialog_job.is_none(), egui::Button::new("Open…"))
        .on_hover_text("An image, a NIfTI map or atlas, or a .nrf model")
        .clicked()
    {
        state.open_dialog(&ctx, || {
            rfd::FileDialog::new()
                .set_title("Open an image, a NIfTI volume or a model")
                .add_filter(
                    "images, NIfTI, models",
                    &[
                        "png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif", "nii", "gz",
                        "nrf",
                    ],
                )
                .add_filter("all files", &["*"])
                .pick_file()
        });
    }
    contrast_rows(ui, state);
    ui.label(
        "Drop an image (or a NIfTI map to overlay, or a label map with a names file) on \
         the window, paste one (Ctrl+V), or pick an example:",
    );
    ui.horizontal_wrapped(|ui| {
        for (k, category) in Category::ALL.iter().enumerate() {
            if ui.button(category.name()).clicked() {
                let rgb = stimuli::generate(7, k as u64, *category);
                state.show_image(format!("example: {}", category.name()), rgb, &ctx);
            }
        }
    });
}

/// The contrast rows of the Image section.
fn contrast_rows(ui: &mut egui::Ui, state: &mut AppState) {
    let before = state.contrast.key();
    ui.horizontal_wrapped(|ui| {
        let Some(image) = state.image.clone() else {
            return;
        };
        if ui
            .button("Set as B")
            .on_hover_text("Keep this image as the baseline B of an A - B contrast")
            .clicked()
        {
            state.contrast.b = vec![image.clone()];
        }
        if !state.contrast.b.is_empty()
            && ui
                .button("Add to B")
                .on_hover_text("B becomes a set: the mean of its images' predictions")
                .clicked()
            && let Err(e) = contrast::add(&mut state.contrast.b, &image)
        {
            state.error = Some(e.to_string());
        }
        if ui
            .button("Add to A")
            .on_hover_text(
                "A becomes a set (the mean of its images' predictions) instead of the \
                 image shown",
            )
            .clicked()
            && let Err(e) = contrast::add(&mut state.contrast.a, &image)
        {
            state.error = Some(e.to_string());
        }
    });
    if !state.contrast.b.is_empty() {
        let a = if state.contrast.a.is_empty() {
            "the image shown".to_string()
        } else {
            contrast::names(&state.contrast.a)
        };
        ui.checkbox(&mut state.contrast.on, "show A - B")
            .on_hover_text("The mean prediction for A's images minus the mean for B's");
        ui.label(format!("A: {a}"));
        ui.label(format!("B: {}", contrast::names(&state.contrast.b)));
        if ui.button("Clear A and B").clicked() {
            state.contrast = Contrast::default();
        }
    }
    if state.contrast.key() != before && (state.contrast.active() || before.0) {
        state.range_pending = true;
        state.start_prediction(ui.ctx());
    }
}
