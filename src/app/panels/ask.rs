//! The Ask panel: questions put to the model shown — an in-silico localiser between two image
//! sets (its t map in the views, its peaks a click from the crosshair), the images that drive
//! the crosshair's point, the point's receptive field following the crosshair, and the mean
//! prediction per ROI as a bar chart.

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot};
use glam::Vec3;

use crate::app::state::AppState;
use crate::insilico::localizer::Peak;

/// The Ask section.
pub(super) fn show(ui: &mut egui::Ui, state: &mut AppState) {
    relative_to_average(ui, state);
    ui.separator();
    if state.shows_ensemble() {
        // Its first member would answer under the ensemble's name.
        ui.label(
            "The questions are asked of one model, and this is an ensemble: choose a subject,              or open one of the models it was built from.",
        );
        return;
    }
    localizer(ui, state);
    ui.separator();
    top_images(ui, state);
    ui.separator();
    receptive_field(ui, state);
    ui.separator();
    roi_means(ui, state);
}

/// "What is specific to this image?": the prediction minus the mean over a reference set.
fn relative_to_average(ui: &mut egui::Ui, state: &mut AppState) {
    let changed = ui
        .checkbox(
            &mut state.relative_to_average,
            "relative to the average image",
        )
        .on_hover_text(format!(
            "The prediction minus the mean prediction over the procedural images {} (two of \
             each category): what is specific to this image. Each reference image costs one \
             more evaluation per point. An A − B contrast, when shown, takes its place.",
            crate::session::jobs::average_image_set().label()
        ))
        .changed();
    if changed {
        state.range_pending = true;
        state.start_prediction(ui.ctx());
    }
}

/// What a set field takes, as its tooltip.
const SET_HELP: &str = "A folder of images, CATEGORY:N (face, place, object, body, text, texture, \
                        grating) or library:N (all mixed), with an optional :SEED";

/// A labelled text field for a set.
fn set_field(ui: &mut egui::Ui, label: &str, text: &mut String, width: f32) {
    ui.label(label);
    let edit = ui
        .add(egui::TextEdit::singleline(text).desired_width(width))
        .on_hover_text(SET_HELP);
    super::name_widget(&edit, &format!("set {label}"));
}

fn localizer(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    ui.strong("Localiser: where does A beat B?");
    ui.horizontal(|ui| {
        set_field(ui, "A", &mut state.questions.a_set, 70.0);
        set_field(ui, "B", &mut state.questions.b_set, 70.0);
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                state.questions.localizer_job.is_none(),
                egui::Button::new("Run localiser"),
            )
            .on_hover_text(
                "Every image of A and B predicted on a 2 mm grid over the model's domain; the \
                 views show Welch's t of A against B",
            )
            .clicked()
        {
            state.start_localizer(&ctx);
        }
        if state.questions.localizer_job.is_some() {
            ui.spinner();
        }
    });
    let Some(shown) = &state.questions.localizer else {
        return;
    };
    if shown.model != state.model {
        ui.label(format!(
            "(the last localiser was asked of {}; run it again for this model)",
            state.model_name(shown.model)
        ));
        return;
    }
    let before = state.questions.show_localizer;
    ui.checkbox(
        &mut state.questions.show_localizer,
        format!("show t of {} − {}", shown.answer.a, shown.answer.b),
    );
    let mut go_to = None;
    for (title, list) in [
        ("A > B", &shown.answer.peaks),
        ("B > A", &shown.answer.troughs),
    ] {
        ui.label(title);
        ui.horizontal_wrapped(|ui| {
            for (n, peak) in list.iter().take(4).enumerate() {
                if peak_button(ui, peak, &format!("{title} peak {}", n + 1)) {
                    go_to = Some(Vec3::from_array(peak.position_mm));
                }
            }
        });
    }
    if ui.button("Save the t map (NIfTI)").clicked() {
        state.export_localizer(&ctx);
    }
    if let Some(point) = go_to {
        state.move_crosshair(point);
    }
    if state.questions.show_localizer != before {
        state.slices_stale = true;
        if let Some((_, volume)) = state.shown_overlay() {
            state.auto_range(&volume);
        }
    }
}

/// A peak as a button: t, position and ROIs (`name` for screen readers); true when clicked.
fn peak_button(ui: &mut egui::Ui, peak: &Peak, name: &str) -> bool {
    let [x, y, z] = peak.position_mm;
    let rois = if peak.rois.is_empty() {
        String::new()
    } else {
        format!(" {}", peak.rois.join(" "))
    };
    let response = ui
        .button(format!("t {:+.1}{rois}", peak.value))
        .on_hover_text(format!("Move the crosshair to {x:.0}, {y:.0}, {z:.0} mm"));
    super::name_widget(&response, name);
    response.clicked()
}

fn top_images(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    ui.strong("What drives this point?");
    ui.horizontal(|ui| set_field(ui, "images", &mut state.questions.top_set, 110.0));
    // The shown model's ROIs (`None` while its query is being prepared).
    let rois: Option<Vec<String>> = state.query.as_ref().map(|q| match q.domain() {
        crate::model::Domain::Voxels(d) => d.rois().iter().map(|r| r.name.clone()).collect(),
        crate::model::Domain::Unknown => Vec::new(),
    });
    if let (Some(rois), Some(roi)) = (&rois, &state.questions.top_roi)
        && !rois.contains(roi)
    {
        // The model shown has no such ROI (another model was chosen).
        state.questions.top_roi = None;
    }
    let rois = rois.unwrap_or_default();
    ui.horizontal(|ui| {
        ui.label("where");
        let where_label = |roi: &Option<String>| match roi {
            Some(name) => format!("ROI {name}"),
            None => "the crosshair".to_string(),
        };
        let combo = egui::ComboBox::from_id_salt("rank where")
            .selected_text(where_label(&state.questions.top_roi))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.questions.top_roi, None, "the crosshair");
                for roi in &rois {
                    ui.selectable_value(
                        &mut state.questions.top_roi,
                        Some(roi.clone()),
                        format!("ROI {roi}"),
                    );
                }
            });
        super::name_widget(&combo.response, "rank where");
    });
    ui.horizontal(|ui| {
        let k = ui.add(egui::DragValue::new(&mut state.questions.top_k).range(1..=12));
        super::name_widget(&k, "images listed");
        let (label, hover) = match &state.questions.top_roi {
            Some(roi) => (
                format!("Rank in {roi}"),
                format!(
                    "The images that raise and that lower the mean prediction over {roi}'s \
                     voxels most"
                ),
            ),
            None => (
                "Rank at the crosshair".to_string(),
                "The images that raise and that lower the prediction most within 2 mm of the \
                 crosshair"
                    .to_string(),
            ),
        };
        if ui
            .add_enabled(state.questions.top_job.is_none(), egui::Button::new(label))
            .on_hover_text(hover)
            .clicked()
        {
            state.start_top(&ctx);
        }
        if state.questions.top_job.is_some() {
            ui.spinner();
        }
    });
    let Some(shown) = &state.questions.top else {
        return;
    };
    if shown.model != state.model {
        ui.label(format!(
            "(ranked for {}; rank again for this model)",
            state.model_name(shown.model)
        ));
        return;
    }
    ui.label(format!(
        "{} {}:",
        shown.answer.set,
        shown.answer.place.label()
    ));
    let top = shown.answer.ranking.top.len();
    let mut chosen = None;
    for (title, range) in [("raise", 0..top), ("lower", top..shown.thumbnails.len())] {
        ui.horizontal_wrapped(|ui| {
            ui.label(title);
            for i in range {
                let ranked = if i < top {
                    &shown.answer.ranking.top[i]
                } else {
                    &shown.answer.ranking.bottom[i - top]
                };
                let button = egui::Button::image(
                    egui::Image::new(&shown.thumbnails[i]).max_size(egui::vec2(40.0, 40.0)),
                );
                let response = ui
                    .add(button)
                    .on_hover_text(format!("{}: {:+.3}", ranked.name, ranked.value));
                super::name_widget(&response, &format!("ranked image {}", ranked.name));
                if response.clicked() {
                    chosen = Some(i);
                }
            }
        });
    }
    if let Some(i) = chosen {
        let (item, rgb) = shown.answer.images[i].clone();
        state.show_image(item.name, rgb, &ctx);
    }
}

fn receptive_field(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    ui.strong("What does this point see?");
    if ui
        .checkbox(
            &mut state.questions.prf_on,
            "receptive field at the crosshair",
        )
        .on_hover_text(
            "Texture patches and bars over the image, each shown to the model; a 2D Gaussian \
             fitted to the responses at the crosshair (the image spans 8.4°, as in NSD)",
        )
        .changed()
    {
        state.update_prf(&ctx);
    }
    if !state.questions.prf_on {
        return;
    }
    if state.questions.probes_job.is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("showing the probes to the model…");
        });
    }
    let Some(shown) = state
        .questions
        .prf
        .as_ref()
        .filter(|p| p.model == state.model)
    else {
        return;
    };
    ui.horizontal(|ui| {
        if let Some(picture) = &shown.picture {
            ui.add(egui::Image::new(picture).max_size(egui::vec2(96.0, 96.0)))
                .on_hover_text(
                    "Response to a patch at each place of the image (red up, blue down), the \
                     fitted centre and 1σ circle",
                );
        }
        ui.vertical(|ui| {
            let p = shown.answer.point;
            ui.label(format!("at {:.0}, {:.0}, {:.0} mm", p.x, p.y, p.z));
            match &shown.answer.fit {
                Some(fit) => ui.label(format!(
                    "model: ({:+.1}°, {:+.1}°), σ {:.1}°, R² {:.2}",
                    fit.centre_deg[0], fit.centre_deg[1], fit.sigma_deg, fit.r2
                )),
                None => ui.label("model: no response to the probes here"),
            };
            if let Some(truth) = &shown.answer.truth {
                ui.label(format!(
                    "truth ({}): ({:+.1}°, {:+.1}°), σ {:.1}°",
                    truth.area, truth.centre_deg[0], truth.centre_deg[1], truth.sigma_deg
                ));
            }
        });
    });
}

fn roi_means(ui: &mut egui::Ui, state: &mut AppState) {
    let ctx = ui.ctx().clone();
    ui.strong("Mean per ROI");
    if ui
        .checkbox(&mut state.questions.roi_on, "bar chart for the image shown")
        .on_hover_text("The prediction averaged over each ROI of the model's domain")
        .changed()
    {
        state.update_roi_means(&ctx);
    }
    if !state.questions.roi_on {
        return;
    }
    let Some((slot, image, summary)) = &state.questions.roi else {
        if state.questions.roi_job.is_some() {
            ui.spinner();
        }
        return;
    };
    if *slot != state.model || state.image.as_ref().is_none_or(|i| i.name != *image) {
        ui.spinner();
        return;
    }
    let Some(row) = summary.rows.first() else {
        return;
    };
    let bars: Vec<Bar> = row
        .means
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            Bar::new(i as f64, f64::from(m))
                .name(&summary.rois[i])
                .width(0.7)
        })
        .collect();
    let names = summary.rois.clone();
    Plot::new("roi-means")
        .height(110.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| plot.bar_chart(BarChart::new("mean", bars)));
    if ui.button("Save as CSV").clicked() {
        state.export_roi_csv(&ctx);
    }
}
