//! How the four views share the central area.

use eframe::egui;

/// How the four views share the central area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Two by two: sagittal, coronal / axial, 3D.
    Grid,
    /// All four side by side.
    Row,
    /// One view filling the area: 0–2 the slices (sagittal, coronal, axial), 3 the 3D view.
    Single(usize),
}

impl Layout {
    /// Every layout, in the order `L` cycles through them, with its name.
    pub const ALL: [(Layout, &'static str); 6] = [
        (Layout::Grid, "2×2"),
        (Layout::Row, "row"),
        (Layout::Single(3), "3D"),
        (Layout::Single(0), "sagittal"),
        (Layout::Single(1), "coronal"),
        (Layout::Single(2), "axial"),
    ];

    pub(crate) fn next(self) -> Self {
        let at = Self::ALL.iter().position(|(l, _)| *l == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()].0
    }

    /// The strips of `full` between the views (the views cover the rest).
    pub fn gaps(self, full: egui::Rect) -> Vec<egui::Rect> {
        let views: Vec<egui::Rect> = self.rects(full).into_iter().flatten().collect();
        let mut gaps = Vec::new();
        // Between horizontally adjacent views, full height; between rows, full width.
        for a in &views {
            if let Some(b) = views
                .iter()
                .filter(|b| b.min.x > a.max.x)
                .min_by(|p, q| p.min.x.total_cmp(&q.min.x))
            {
                gaps.push(egui::Rect::from_x_y_ranges(
                    a.max.x..=b.min.x,
                    full.y_range(),
                ));
            }
            if let Some(b) = views
                .iter()
                .filter(|b| b.min.y > a.max.y)
                .min_by(|p, q| p.min.y.total_cmp(&q.min.y))
            {
                gaps.push(egui::Rect::from_x_y_ranges(
                    full.x_range(),
                    a.max.y..=b.min.y,
                ));
            }
        }
        gaps.dedup();
        gaps
    }

    /// Rectangles of the sagittal, coronal, axial and 3D views in `full` (`None`: not shown).
    pub fn rects(self, full: egui::Rect) -> [Option<egui::Rect>; 4] {
        const GAP: f32 = 4.0;
        match self {
            Layout::Grid => {
                let size = egui::vec2((full.width() - GAP) / 2.0, (full.height() - GAP) / 2.0);
                let cell = |col: f32, row: f32| {
                    Some(egui::Rect::from_min_size(
                        full.min + egui::vec2(col * (size.x + GAP), row * (size.y + GAP)),
                        size,
                    ))
                };
                [
                    cell(0.0, 0.0),
                    cell(1.0, 0.0),
                    cell(0.0, 1.0),
                    cell(1.0, 1.0),
                ]
            }
            Layout::Row => {
                let size = egui::vec2((full.width() - 3.0 * GAP) / 4.0, full.height());
                std::array::from_fn(|k| {
                    Some(egui::Rect::from_min_size(
                        full.min + egui::vec2(k as f32 * (size.x + GAP), 0.0),
                        size,
                    ))
                })
            }
            Layout::Single(view) => std::array::from_fn(|k| (k == view).then_some(full)),
        }
    }
}
