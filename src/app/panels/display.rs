//! The Display panel: layout, colour map, range and threshold, opacity, 3D mode and anatomy,
//! neurological or radiological convention, the crosshair, the 3D detail and the cut-aways.

use eframe::egui;

use crate::app::layout::Layout;
use crate::app::state::AppState;
use crate::render::colormap::ColorMap;
use crate::render::slice::Convention;
use crate::render::volume3d::Mode3d;

/// The Display section.
pub(super) fn show(ui: &mut egui::Ui, state: &mut AppState) {
    ui.horizontal_wrapped(|ui| {
        ui.label("layout");
        for (layout, name) in Layout::ALL {
            ui.selectable_value(&mut state.layout, layout, name);
        }
    });
    let style_before = state.style();
    let combo = egui::ComboBox::from_id_salt("cmap")
        .selected_text(state.map.name())
        .show_ui(ui, |ui| {
            for map in ColorMap::ALL {
                ui.selectable_value(&mut state.map, map, map.name());
            }
        });
    super::name_widget(&combo.response, "colour map");
    // Not clamped: maps such as a localiser's t or a dropped z map set ranges above the
    // slider's end, and typing one in works too.
    let range = ui.add(
        egui::Slider::new(&mut state.range, 0.01..=5.0)
            .clamping(egui::SliderClamping::Never)
            .text("range ±"),
    );
    let threshold =
        ui.add(egui::Slider::new(&mut state.threshold, 0.0..=state.range).text("threshold"));
    if range.changed() || threshold.changed() {
        // The user's choice: the levels still to come no longer set it.
        state.range_pending = false;
    }
    ui.checkbox(&mut state.translucent, "show below threshold, translucent");
    ui.add(egui::Slider::new(&mut state.opacity, 0.0..=1.0).text("opacity"))
        .on_hover_text("Opacity of the overlay over the anatomy");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut state.mode, Mode3d::Shaded, "shaded");
        ui.selectable_value(&mut state.mode, Mode3d::Mip, "MIP");
        ui.checkbox(&mut state.anatomy_on, "anatomy");
    });
    let convention_before = state.convention;
    ui.horizontal(|ui| {
        ui.selectable_value(
            &mut state.convention,
            Convention::Neurological,
            "neurological",
        );
        ui.selectable_value(
            &mut state.convention,
            Convention::Radiological,
            "radiological",
        );
    });
    let at_before = state.at;
    ui.horizontal(|ui| {
        ui.label("crosshair");
        for (axis, name) in ["x ", "y ", "z "].into_iter().enumerate() {
            let value = ui
                .add(
                    egui::DragValue::new(&mut state.at[axis])
                        .prefix(name)
                        .speed(0.5)
                        .range(-100.0..=100.0)
                        .max_decimals(1),
                )
                .on_hover_text("MNI mm of the slices' crosshair (or click a slice)");
            super::name_widget(&value, &format!("crosshair {name}(mm)"));
        }
    });
    if state.convention != convention_before || state.at != at_before {
        state.slices_stale = true;
    } else if state.style() != style_before {
        state.restyle_slices();
    }
    detail_row(ui, state);
    cuts_grid(ui, state);
}

/// The finest spacing of the 3D volume: coarser is quicker for large or slow views.
fn detail_row(ui: &mut egui::Ui, state: &mut AppState) {
    let before = state.finest_spacing;
    ui.horizontal(|ui| {
        ui.label("3D detail");
        for spacing in [1.0, 2.0, 4.0] {
            ui.selectable_value(&mut state.finest_spacing, spacing, format!("{spacing} mm"))
                .on_hover_text(
                    "The 3D volume is refined 8 mm, 4 mm, ... down to this spacing; slices \
                     are always queried at their pixel size",
                );
        }
    });
    if state.finest_spacing != before
        && let Some(query) = state.query.clone()
    {
        state.start_refinement(query, ui.ctx());
    }
}

/// Cut-aways of the 3D view, one per axis.
fn cuts_grid(ui: &mut egui::Ui, state: &mut AppState) {
    ui.label("3D cut-away")
        .on_hover_text("Each cut removes one side of a plane across the 3D view");
    egui::Grid::new("cuts").num_columns(3).show(ui, |ui| {
        for (axis, name) in ["x (L-R)", "y (P-A)", "z (I-S)"].into_iter().enumerate() {
            let cut = &mut state.cuts[axis];
            ui.checkbox(&mut cut.on, name);
            ui.horizontal(|ui| {
                ui.selectable_value(&mut cut.above, true, ">")
                    .on_hover_text("remove the side above");
                ui.selectable_value(&mut cut.above, false, "<")
                    .on_hover_text("remove the side below");
            });
            let value = ui.add(
                egui::DragValue::new(&mut cut.at_mm)
                    .speed(0.5)
                    .range(-100.0..=100.0)
                    .suffix(" mm"),
            );
            super::name_widget(&value, &format!("{name} cut position"));
            ui.end_row();
        }
    });
    if ui
        .button("cuts at the crosshair")
        .on_hover_text("Move the three cut planes to the crosshair")
        .clicked()
    {
        for axis in 0..3 {
            state.cuts[axis].at_mm = state.at[axis] as f32;
        }
    }
}
