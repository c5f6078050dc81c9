//! The side panel's sections, one module each: each draws from the [`AppState`] and acts
//! through its methods, as egui's demo app gives each demo its own module.

mod ask;
mod display;
mod export;
mod finetune;
mod image;
mod subject;

use eframe::egui;

use super::state::AppState;

/// The side panel: collapsible sections Image, Subject, Display, Ask, Fine-tune, Export (Display
/// and Image folded when `display_open` and `image_open` are false, e.g. to leave a fine-tune's
/// curves room).
pub(super) fn side_panel(
    ui: &mut egui::Ui,
    state: &mut AppState,
    display_open: bool,
    image_open: bool,
) {
    // While a fine-tune runs from the command line, Display folds away to leave its curves room
    // (and Image too for questions asked there, to leave the Ask panel's answers room).
    for (title, open) in [
        ("Image", image_open),
        ("Subject", true),
        ("Display", display_open),
        ("Ask the model", false),
        ("Fine-tune", true),
        ("Export", false),
    ] {
        let mut header =
            egui::CollapsingHeader::new(egui::RichText::new(title).heading()).default_open(open);
        if title == "Ask the model" && std::mem::take(&mut state.questions.open_panel) {
            header = header.open(Some(true));
        }
        header.show(ui, |ui| match title {
            "Image" => image::show(ui, state),
            "Subject" => subject::show(ui, state),
            "Display" => display::show(ui, state),
            "Ask the model" => ask::show(ui, state),
            "Fine-tune" => finetune::show(ui, state),
            _ => export::show(ui, state),
        });
    }
}

/// Gives a widget without a visible label of its own an accessible name (for screen readers;
/// the kittest tests find widgets by it too).
pub(super) fn name_widget(response: &egui::Response, name: &str) {
    response
        .ctx
        .accesskit_node_builder(response.id, |node| node.set_label(name));
}
