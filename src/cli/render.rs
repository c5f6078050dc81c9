//! `nrf render`: an image's predicted response drawn without a window — slices (queried at the
//! pixel size, on the CPU or any device), the ray-marched 3D view (a GPU adapter, software is
//! fine), or all four as an ortho figure — as PNG.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use glam::{DVec3, Vec3};
use image::{Rgba, RgbaImage};

use nrf::device::compute_device;
use nrf::features::decode::load_rgb8;
use nrf::features::extractor_for;
use nrf::gpu::GpuContext;
use nrf::query::{ImageQuery, QueryEngine, Region};
use nrf::render::colorbar::with_colorbar;
use nrf::render::colormap::{BelowThreshold, ColorMap, OverlayStyle, quantile_abs};
use nrf::render::slice::{Anatomy, Convention, SliceDecorations, SliceLayout, render_slice};
use nrf::render::volume3d::{
    Camera, ClipPlane, FrameOptions, Mode3d, VolumeRenderer, brain_anatomy,
};
use nrf::space::{BoundingBox, Grid, Orientation};
use nrf::template::{TemplateImage, on_grid};
use nrf::volume::Volume;

use super::predict::DeviceArg;

/// Which view to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    /// The ray-marched 3D view.
    #[value(name = "3d")]
    ThreeD,
    /// Horizontal slice.
    Axial,
    /// Frontal slice.
    Coronal,
    /// Side slice.
    Sagittal,
    /// The three slices and the 3D view in a 2×2 figure (slices only without a GPU adapter).
    Ortho,
}

/// 3D rendering mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Shaded anatomy with the overlay near the surface.
    Shaded,
    /// Maximum-intensity projection of |prediction|.
    Mip,
}

/// Options of `nrf render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The model (.nrf or an official run folder); default: the embedded model of --subject.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Embedded virtual subject (1–8) when no --model is given.
    #[arg(long, default_value_t = 1)]
    pub subject: usize,
    /// A local HF CLIP folder, for models trained on CLIP features.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// The image whose predicted response to draw.
    #[arg(long)]
    pub image: PathBuf,
    /// What to draw.
    #[arg(long, value_enum, default_value_t = ViewArg::Ortho)]
    pub view: ViewArg,
    /// Slice position / crosshair, MNI mm as X,Y,Z (default: the peak of the prediction).
    #[arg(long, value_parser = parse_point)]
    pub at: Option<DVec3>,
    /// Slices: pixel size in mm (the model is queried at every pixel; default 1, or what fits
    /// --size). 3D: spacing of the predicted volume (default 2).
    #[arg(long)]
    pub spacing: Option<f64>,
    /// Size of the PNG, WIDTHxHEIGHT, colour bar included (3D default 640x480 plus the bar;
    /// slices default: the brain at --spacing).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Colour map: rdbu_r, hotcold, hot, viridis, gray.
    #[arg(long, default_value = "rdbu_r")]
    pub cmap: ColorMap,
    /// Values at ±RANGE get the full colours (default: the 99th percentile of |prediction|).
    #[arg(long)]
    pub range: Option<f32>,
    /// |value| below this is transparent (default: a fifth of the range).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Show below-threshold values at this fraction of the opacity instead of hiding them.
    #[arg(long)]
    pub translucent: Option<f32>,
    /// Overlay opacity, 0–1.
    #[arg(long, default_value_t = 1.0)]
    pub opacity: f32,
    /// Left on the right in axial and coronal slices.
    #[arg(long)]
    pub radiological: bool,
    /// Show the model's raw extrapolation outside its domain (marked EXTRAPOLATED).
    #[arg(long)]
    pub extrapolate: bool,
    /// No colour bar.
    #[arg(long)]
    pub no_colorbar: bool,
    /// 3D mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Shaded)]
    pub mode: ModeArg,
    /// 3D camera: degrees around the vertical (0 from behind, 90 from the right, −90 left).
    #[arg(long, default_value_t = -55.0, allow_hyphen_values = true)]
    pub azimuth: f32,
    /// 3D camera: degrees above the horizontal.
    #[arg(long, default_value_t = 20.0, allow_hyphen_values = true)]
    pub elevation: f32,
    /// 3D clip plane NX,NY,NZ,D: cuts away points with n·p > D (mm); up to three.
    #[arg(long = "cut", value_parser = parse_plane, allow_hyphen_values = true)]
    pub cuts: Vec<ClipPlane>,
    /// Where to compute the NRF.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_point(s: &str) -> Result<DVec3, String> {
    super::io::parse_point(s).map(|p| p.as_dvec3())
}

pub(super) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?}: expected WIDTHxHEIGHT, e.g. 640x480"))?;
    let parse = |t: &str| {
        t.trim()
            .parse::<u32>()
            .ok()
            .filter(|&v| (16..=8192).contains(&v))
    };
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{s:?}: width and height must be 16 to 8192 pixels")),
    }
}

fn parse_plane(s: &str) -> Result<ClipPlane, String> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?}: expected NX,NY,NZ,D, e.g. 1,0,0,0 (cut away x > 0)"))?;
    match v.as_slice() {
        [x, y, z, d] if Vec3::new(*x, *y, *z).length() > 1e-6 => Ok(ClipPlane {
            normal: Vec3::new(*x, *y, *z),
            offset: *d,
        }),
        _ => Err(format!("{s:?}: expected NX,NY,NZ,D with a non-zero normal")),
    }
}

/// `nrf render`.
pub fn render(args: &RenderArgs) -> Result<()> {
    if args.cuts.len() > 3 {
        bail!(
            "--cut: at most three clip planes ({} given)",
            args.cuts.len()
        );
    }
    if !(0.0..=1.0).contains(&args.opacity) {
        bail!("--opacity {}: expected 0 to 1", args.opacity);
    }
    let started = Instant::now();
    let device = compute_device(args.device.into())?;
    eprintln!("{}", device.report());
    let model = match &args.model {
        Some(path) => super::predict::load_model(path, &Default::default(), &device)?,
        None => nrf::embedded::default_model(args.subject, &device.device)?,
    };
    let name = args.model.as_ref().map_or_else(
        || format!("embedded default model subj{:02}", args.subject),
        |p| p.display().to_string(),
    );
    let extractor_id = model.info.features.as_ref().map(|f| f.extractor.as_str());
    let extractor =
        extractor_for(extractor_id, args.clip.as_deref(), &device.device).context(name.clone())?;
    let rgb = load_rgb8(&args.image)?;
    let features = extractor
        .extract(&rgb)
        .with_context(|| format!("extracting features of {}", args.image.display()))?;
    model
        .check_features(&features)
        .with_context(|| args.image.display().to_string())?;
    let engine = QueryEngine::new(&model);
    let query = engine.prepare(&model, &features)?;
    let region = if args.extrapolate {
        Region::Everywhere
    } else {
        Region::Domain
    };

    // The overview volume at 2 mm gives the default range, threshold and crosshair.
    let overview = query.query_grid(&Grid::mni(2.0)?, region)?;
    let inside_values = overview.inside_values();
    let range = match args.range {
        Some(r) if r > 0.0 && r.is_finite() => r,
        Some(r) => bail!("--range {r}: expected a positive number"),
        None => quantile_abs(inside_values, 0.99).unwrap_or(0.0).max(1e-6),
    };
    let style = OverlayStyle {
        threshold: args.threshold.unwrap_or(range / 5.0).max(0.0),
        below: match args.translucent {
            Some(f) => BelowThreshold::Translucent(f.clamp(0.0, 1.0)),
            None => BelowThreshold::Transparent,
        },
        opacity: args.opacity,
        ..OverlayStyle::symmetric(args.cmap, range, 0.0)
    };
    let style = if args.cmap.is_diverging() {
        style
    } else {
        OverlayStyle {
            negative: None,
            ..style
        }
    };
    let at = args
        .at
        .unwrap_or_else(|| peak(&overview.volume, &overview.inside.data));
    eprintln!(
        "{name}: range ±{range:.3}, threshold {:.3}, crosshair at ({:.0}, {:.0}, {:.0}) mm",
        style.threshold, at.x, at.y, at.z
    );

    // --size is the whole picture: the colour bar's strip comes out of its width.
    let view_size = match (args.size, args.no_colorbar) {
        (Some((w, h)), false) => {
            let strip = nrf::render::colorbar::strip_width(h);
            if w < strip + 16 {
                bail!(
                    "--size {w}x{h} leaves no room beside the {strip}-pixel colour bar: give a wider size or --no-colorbar"
                );
            }
            Some((w - strip, h))
        }
        (size, _) => size,
    };
    let image = match args.view {
        ViewArg::Axial | ViewArg::Coronal | ViewArg::Sagittal => {
            let orientation = match args.view {
                ViewArg::Axial => Orientation::Axial,
                ViewArg::Coronal => Orientation::Coronal,
                _ => Orientation::Sagittal,
            };
            let scene = SliceScene {
                args,
                templates: &SliceTemplates::default(),
                query: &query,
                region,
                style: &style,
                at,
            };
            render_slice_view(&scene, orientation, view_size)?
        }
        ViewArg::ThreeD => {
            let size = view_size.unwrap_or((640, 480));
            render_3d(args, &query, region, &style, size)?
        }
        ViewArg::Ortho => ortho(args, &query, region, &style, at, view_size)?,
    };
    let image = if args.no_colorbar {
        image
    } else {
        with_colorbar(&image, &style)
    };
    let out = &args.out;
    nrf::atomic_file::write_atomically(out, |file| {
        image
            .write_to(file, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({}×{}) in {:.2} s",
        out.display(),
        image.width(),
        image.height(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The MNI point of the largest |value| among `inside` voxels (the origin if none).
fn peak(volume: &Volume, inside: &[bool]) -> DVec3 {
    volume
        .data
        .iter()
        .zip(inside)
        .enumerate()
        .filter(|(_, (v, i))| **i && v.is_finite())
        .max_by(|a, b| a.1.0.abs().total_cmp(&b.1.0.abs()))
        .map_or(DVec3::ZERO, |(n, _)| volume.grid.point(volume.grid.ijk(n)))
}

/// What every slice of one `nrf render` shares.
#[derive(Clone, Copy)]
struct SliceScene<'a> {
    args: &'a RenderArgs,
    templates: &'a SliceTemplates,
    query: &'a ImageQuery,
    region: Region,
    style: &'a OverlayStyle,
    /// Crosshair and slice position, MNI mm.
    at: DVec3,
}

/// One slice, queried at its pixels.
fn render_slice_view(
    scene: &SliceScene,
    orientation: Orientation,
    fit: Option<(u32, u32)>,
) -> Result<RgbaImage> {
    let SliceScene {
        args,
        templates,
        query,
        region,
        style,
        at,
    } = *scene;
    let bbox = BoundingBox::MNI_TEMPLATE;
    let convention = if args.radiological {
        Convention::Radiological
    } else {
        Convention::Neurological
    };
    let layout = match (args.spacing, fit) {
        (Some(s), _) => SliceLayout::new(orientation, at, &bbox, s, convention)?,
        (None, Some(size)) => SliceLayout::fitted(orientation, at, &bbox, size, convention)?,
        (None, None) => SliceLayout::new(orientation, at, &bbox, 1.0, convention)?,
    };
    let pixel_mm = layout.plane.pixel_mm;
    let prediction = query.query_plane(&layout.plane, region)?;
    let anatomy = templates.for_pixel(pixel_mm)?;
    let decorations = SliceDecorations {
        crosshair: Some(at),
        labels: true,
        extrapolated: args.extrapolate,
    };
    Ok(render_slice(
        &layout,
        Some(&anatomy),
        Some((&prediction.values, &prediction.inside)),
        style,
        &decorations,
    )?)
}

/// The T1 under slices: at the native 1 mm, or 2 mm for coarse slices (sampling is trilinear),
/// each decoded and windowed once per run, on first use (an ortho figure draws three slices).
#[derive(Default)]
struct SliceTemplates {
    fine: std::cell::OnceCell<(Volume, (f32, f32))>,
    coarse: std::cell::OnceCell<(Volume, (f32, f32))>,
}

impl SliceTemplates {
    fn for_pixel(&self, pixel_mm: f64) -> Result<Anatomy<'_>> {
        let (cell, spacing) = if pixel_mm >= 2.0 {
            (&self.coarse, 2.0)
        } else {
            (&self.fine, 1.0)
        };
        if cell.get().is_none() {
            let t1 = on_grid(TemplateImage::T1, &Grid::mni(spacing)?)?;
            let window = Anatomy::with_auto_window(&t1).window;
            // Only this thread fills the cell, and it was empty just above.
            let _ = cell.set((t1, window));
        }
        let (volume, window) = cell.get().context("slice template")?;
        Ok(Anatomy {
            volume,
            window: *window,
        })
    }
}

/// The 3D view on a GPU adapter.
fn render_3d(
    args: &RenderArgs,
    query: &ImageQuery,
    region: Region,
    style: &OverlayStyle,
    size: (u32, u32),
) -> Result<RgbaImage> {
    // Where the model runs on a GPU, the 3D view draws on that very device: the query kernel
    // writes the overlay texture there, with no upload.
    let gpu = match nrf::device::gpu_context_of(&query.device()) {
        Some(gpu) => gpu,
        None => GpuContext::request().context(
            "the 3D view needs a GPU adapter (a software one works: on Debian/Ubuntu install \
             mesa-vulkan-drivers); slices (--view axial|coronal|sagittal) render on the CPU",
        )?,
    };
    let spacing = args.spacing.unwrap_or(2.0);
    let grid = Grid::mni(spacing)?;
    super::io::check_grid_fits(&grid, spacing, 1)?;
    let prediction = query.query_grid(&grid, region)?;
    let anatomy = brain_anatomy(&Grid::mni(spacing.clamp(0.5, 1.0))?)?;
    let mut renderer = VolumeRenderer::offscreen(&gpu, &anatomy, None, style)?;
    if renderer.show_prediction(&gpu.device, &gpu.queue, &prediction)? {
        eprintln!("3D overlay written on the GPU by the query kernel");
    }
    let options = FrameOptions {
        camera: Camera {
            azimuth_deg: args.azimuth,
            elevation_deg: args.elevation,
            ..Camera::default()
        },
        mode: match args.mode {
            ModeArg::Shaded => Mode3d::Shaded,
            ModeArg::Mip => Mode3d::Mip,
        },
        clip_planes: args.cuts.clone(),
        ..FrameOptions::default()
    };
    let image = renderer.render_offscreen(&gpu.device, &gpu.queue, &options, size)?;
    eprintln!("3D view rendered on {}", gpu.describe());
    Ok(image)
}

/// Three slices and the 3D view, 2×2 (the 3D tile says why it is missing without an adapter).
fn ortho(
    args: &RenderArgs,
    query: &ImageQuery,
    region: Region,
    style: &OverlayStyle,
    at: DVec3,
    size: Option<(u32, u32)>,
) -> Result<RgbaImage> {
    let (w, h) = size.unwrap_or((800, 800));
    // Two tiles and the gap between them fill the size exactly.
    let gap = 6;
    let tile = (w.saturating_sub(gap) / 2, h.saturating_sub(gap) / 2);
    let templates = SliceTemplates::default();
    let tiles = [
        Orientation::Sagittal,
        Orientation::Coronal,
        Orientation::Axial,
    ]
    .into_iter()
    .map(|o| {
        let scene = SliceScene {
            args,
            templates: &templates,
            query,
            region,
            style,
            at,
        };
        render_slice_view(&scene, o, Some(tile))
    })
    .collect::<Result<Vec<_>>>()?;
    let three_d = match render_3d(args, query, region, style, tile) {
        Ok(image) => image,
        Err(e) => {
            eprintln!("note: {e:#}; the ortho figure shows slices only");
            RgbaImage::from_pixel(tile.0, tile.1, Rgba([0, 0, 0, 255]))
        }
    };
    let mut out = RgbaImage::from_pixel(w, h, Rgba([0, 0, 0, 255]));
    let place = |out: &mut RgbaImage, image: &RgbaImage, col: u32, row: u32| {
        // Centre each tile in its cell.
        let x = col * (tile.0 + gap) + (tile.0.saturating_sub(image.width())) / 2;
        let y = row * (tile.1 + gap) + (tile.1.saturating_sub(image.height())) / 2;
        image::imageops::replace(out, image, i64::from(x), i64::from(y));
    };
    place(&mut out, &tiles[0], 0, 0);
    place(&mut out, &tiles[1], 1, 0);
    place(&mut out, &tiles[2], 0, 1);
    place(&mut out, &three_d, 1, 1);
    eprintln!("slices drawn on the CPU");
    Ok(out)
}
