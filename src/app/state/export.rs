//! Exports (the Export panel's actions): a PNG screenshot of the window, the views redrawn at 2×
//! ([`crate::session::views_export`]), the current prediction as NIfTI at a chosen spacing, and
//! a fine-tuned model's validation r map as NIfTI. Every file is written off the UI thread,
//! atomically (temp + rename), into a folder the user picks; names follow the model and image
//! shown.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eframe::egui;

use super::AppState;
use crate::query::{GridPrediction, Region};
use crate::session::SessionError;
use crate::session::jobs::Job;
use crate::session::views_export;
use crate::space::Grid;
use crate::volume::nifti::SpaceCode;

/// Where a screenshot's outcome lands (it is written on a thread of its own).
pub type ScreenshotSlot = Arc<Mutex<Option<Result<PathBuf, SessionError>>>>;

/// The Export panel's settings and running exports.
pub struct ExportState {
    /// The folder files go to (created when missing).
    pub folder: String,
    /// Spacing of the exported prediction, mm.
    pub spacing_mm: f64,
    pub(crate) job: Option<Job<PathBuf>>,
    /// The native folder dialog, on its own thread.
    pub(crate) folder_dialog: Option<Job<Option<PathBuf>>>,
    pub(crate) screenshot: ScreenshotSlot,
}

impl Default for ExportState {
    fn default() -> Self {
        Self {
            folder: "nrf-exports".into(),
            spacing_mm: 2.0,
            job: None,
            folder_dialog: None,
            screenshot: Arc::default(),
        }
    }
}

/// Asks eframe for a screenshot of the window and writes it to `path` as PNG on another thread;
/// the outcome goes to `slot`. With `close`, the window closes once it is written.
pub fn request_screenshot(ctx: &egui::Context, path: PathBuf, slot: ScreenshotSlot, close: bool) {
    let context = ctx.clone();
    ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
        egui::ScreenshotCallback::new(move |image| {
            let context = context.clone();
            let slot = Arc::clone(&slot);
            let path = path.clone();
            std::thread::spawn(move || {
                let [w, h] = image.size;
                let raw: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
                let saved = image::RgbaImage::from_raw(w as u32, h as u32, raw)
                    .ok_or_else(|| {
                        SessionError::Invalid("the screenshot has the wrong size".into())
                    })
                    .and_then(|img| write_png(&path, &img))
                    .map(|()| path);
                if let Ok(mut outcome) = slot.lock() {
                    *outcome = Some(saved);
                }
                if close {
                    context.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                context.request_repaint();
            });
        }),
    ));
    ctx.request_repaint();
}

/// Writes `picture` to `path` as PNG, atomically, creating the folder.
fn write_png(path: &Path, picture: &image::RgbaImage) -> Result<(), SessionError> {
    create_parent(path)?;
    crate::atomic_file::write_atomically(path, |file| {
        picture
            .write_to(file, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| SessionError::Invalid(format!("{}: {e}", path.display())))
}

/// [`file_stem`] of a name without its suffix (`.csv`, `.nii.gz`), then the suffix again.
fn file_stem_keeping_suffix(name: &str) -> String {
    let suffix = [".nii.gz", ".csv"]
        .into_iter()
        .find(|s| name.ends_with(s))
        .unwrap_or("");
    format!("{}{suffix}", file_stem(&name[..name.len() - suffix.len()]))
}

fn create_parent(path: &Path) -> Result<(), SessionError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            SessionError::Invalid(format!("{}: cannot create the folder ({e})", dir.display()))
        }),
        _ => Ok(()),
    }
}

/// A file-name-safe version of `text`: letters, digits, `-` and `_`; runs of anything else
/// become one `-`.
pub fn file_stem(text: &str) -> String {
    let mut stem = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            stem.push(c);
        } else if !stem.ends_with('-') {
            stem.push('-');
        }
    }
    stem.trim_matches('-').to_string()
}

/// Writes `volume` as NIfTI (MNI152 space) at `path`.
fn write_volume(path: &Path, volume: &crate::volume::Volume) -> Result<PathBuf, SessionError> {
    create_parent(path)?;
    volume
        .write_nifti(path, SpaceCode::Mni152)
        .map_err(|e| SessionError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(path.to_path_buf())
}

impl AppState {
    /// The views as they are laid out now, `scale` figure pixels per point (`None` before the
    /// first frame or the template).
    pub(crate) fn views_request(&self, scale: f32) -> Option<views_export::ViewsRequest> {
        let area = self.views_area?;
        let to_pixels = |rect: egui::Rect| -> views_export::PixelRect {
            let min = (rect.min - area.min) * scale;
            let size = rect.size() * scale;
            (
                min.x.round().max(0.0) as u32,
                min.y.round().max(0.0) as u32,
                size.x.round().max(16.0) as u32,
                size.y.round().max(16.0) as u32,
            )
        };
        let rects = self.layout.rects(area).map(|r| r.map(to_pixels));
        let sizes: [(u32, u32); 3] =
            std::array::from_fn(|k| rects[k].map_or((16, 16), |(_, _, w, h)| (w, h)));
        let three_d = self
            .templates
            .as_ref()
            .map(|t| views_export::ThreeDRequest {
                anatomy: Arc::clone(&t.brain),
                overlay: self.shown_overlay().map(|(_, volume)| volume),
                options: self.frame_options(),
            });
        Some(views_export::ViewsRequest {
            size: (
                (area.width() * scale).round() as u32,
                (area.height() * scale).round() as u32,
            ),
            rects,
            slices: self.slice_request(sizes)?,
            three_d,
        })
    }

    /// The stem of exported files: model and image.
    pub(crate) fn export_stem(&self) -> String {
        let image = self.image.as_ref().map_or("no-image", |i| i.name.as_str());
        file_stem(&format!("{}-{image}", self.model_name(self.model)))
    }

    /// Where an export with this suffix goes: the folder, then model and image.
    pub(crate) fn export_path(&self, suffix: &str) -> PathBuf {
        PathBuf::from(self.export.folder.trim()).join(format!("{}{suffix}", self.export_stem()))
    }

    /// Chooses the export folder in a native dialog on its own thread.
    pub(crate) fn choose_export_folder(&mut self, ctx: &egui::Context) {
        let wake = ctx.clone();
        self.export.folder_dialog = Some(Job::spawn(
            || Ok(rfd::FileDialog::new().pick_folder()),
            move || wake.request_repaint(),
        ));
    }

    /// Writes the views redrawn at `scale` pixels per point, with a colour bar, as PNG.
    pub(crate) fn export_views(&mut self, scale: f32, ctx: &egui::Context) {
        let Some(request) = self.views_request(scale) else {
            return;
        };
        let path = self.export_path("-views-2x.png");
        let wake = ctx.clone();
        self.export.job = Some(Job::spawn(
            move || {
                let (picture, note) = views_export::render_views(request)?;
                write_png(&path, &picture)?;
                match note {
                    // Written, but say what is missing.
                    Some(note) => Err(SessionError::Invalid(format!(
                        "wrote {}, but {note}",
                        path.display()
                    ))),
                    None => Ok(path),
                }
            },
            move || wake.request_repaint(),
        ));
    }

    /// Writes the prediction shown on an MNI grid at the export spacing as NIfTI.
    pub(crate) fn export_prediction(&mut self, ctx: &egui::Context) {
        let Some(query) = self.query.clone() else {
            return;
        };
        let spacing = self.export.spacing_mm;
        let path = self.export_path(&format!("-{spacing}mm.nii.gz"));
        let wake = ctx.clone();
        self.export.job = Some(Job::spawn(
            move || {
                let grid = Grid::mni(spacing)?;
                let GridPrediction { volume, .. } = query.query_grid(&grid, Region::Domain)?;
                write_volume(&path, &volume)
            },
            move || wake.request_repaint(),
        ));
    }

    /// Writes the validation r map of the `index`-th fine-tuned model as NIfTI.
    pub(crate) fn export_r_map(&mut self, index: usize, ctx: &egui::Context) {
        let Some(tuned) = self.tuned.get(index) else {
            return;
        };
        let path = PathBuf::from(self.export.folder.trim())
            .join(format!("{}-r-map.nii.gz", file_stem(&tuned.name)));
        let map = Arc::clone(&tuned.r_map);
        let wake = ctx.clone();
        self.export.job = Some(Job::spawn(
            move || write_volume(&path, &map.volume),
            move || wake.request_repaint(),
        ));
    }

    /// Writes the localiser's t map shown as NIfTI (2 mm, 0 outside the domain).
    pub(crate) fn export_localizer(&mut self, ctx: &egui::Context) {
        let Some(shown) = self.localizer_shown() else {
            return;
        };
        let name = format!(
            "{}-localizer-{}-minus-{}-t.nii.gz",
            self.model_name(shown.model),
            shown.answer.a,
            shown.answer.b
        );
        let path = PathBuf::from(self.export.folder.trim()).join(file_stem_keeping_suffix(&name));
        let map = Arc::clone(&shown.overlay.1);
        let wake = ctx.clone();
        self.export.job = Some(Job::spawn(
            move || write_volume(&path, &map.volume),
            move || wake.request_repaint(),
        ));
    }

    /// Writes the mean prediction per ROI shown as CSV.
    pub(crate) fn export_roi_csv(&mut self, ctx: &egui::Context) {
        let Some((slot, image, summary)) = &self.questions.roi else {
            return;
        };
        let name = format!("{}-{image}-roi-means.csv", self.model_name(*slot));
        let path = PathBuf::from(self.export.folder.trim()).join(file_stem_keeping_suffix(&name));
        let csv = summary.to_csv();
        let wake = ctx.clone();
        self.export.job = Some(Job::spawn(
            move || {
                create_parent(&path)?;
                crate::atomic_file::write_atomically(&path, |file| {
                    use std::io::Write;
                    file.write_all(csv.as_bytes())
                })
                .map_err(|e| SessionError::Invalid(format!("{}: {e}", path.display())))?;
                Ok(path)
            },
            move || wake.request_repaint(),
        ));
    }

    /// Takes finished exports' outcomes.
    pub(crate) fn poll_exports(&mut self) {
        if let Some(answer) = self.export.folder_dialog.as_ref().and_then(Job::poll) {
            self.export.folder_dialog = None;
            match answer {
                Ok(Some(folder)) => self.export.folder = folder.display().to_string(),
                Ok(None) => {}
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(answer) = self.export.job.as_ref().and_then(Job::poll) {
            self.export.job = None;
            match answer {
                Ok(path) => self.status = format!("wrote {}", path.display()),
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        let outcome = self
            .export
            .screenshot
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        match outcome {
            Some(Ok(path)) => self.status = format!("wrote {}", path.display()),
            Some(Err(e)) => self.error = Some(e.to_string()),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    #[test]
    fn file_stems_keep_only_safe_characters() {
        assert_eq!(
            file_stem("subj01 from virtual subj02 (20 images)-example: face"),
            "subj01-from-virtual-subj02-20-images-example-face"
        );
        assert_eq!(file_stem("../../etc/passwd"), "etc-passwd");
        assert_eq!(file_stem("élan.png"), "lan-png");
    }
}
