//! `nrf localizer`, `nrf top`, `nrf prf` and `nrf roi`: questions asked of a model (the
//! library's `insilico` module), and the image sets `nrf predict --images` shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use glam::Vec3;
use serde_json::json;

use nrf::device::{ComputeDevice, compute_device};
use nrf::embedded::SIMULATION_SEED;
use nrf::features::cache::FeatureCache;
use nrf::features::{FeatureExtractor, extractor_for};
use nrf::insilico::image_set::SetSpec;
use nrf::insilico::localizer::{peaks, welch_contrast};
use nrf::insilico::prf::{PreparedProbes, PrfProbes, fit_prf, simulator_prf, truth_responses};
use nrf::insilico::roi_summary::{roi_domain, summarise};
use nrf::insilico::set_prediction::{GridPoints, SetFeatures, extract_set, predict_set};
use nrf::insilico::top_images::{check_point_in_brain, rank_images, roi_points, sphere_points};
use nrf::model::Nrf;
use nrf::query::{QueryEngine, Region};
use nrf::volume::SpaceCode;

use super::io::{nifti_grid, parse_point};
use super::predict::{DeviceArg, DomainArgs, RegionArg, load_model};
use super::progress::ProgressBar;

/// The model a question is asked of, and where its features come from.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model: an .nrf file or an official run folder (default: the embedded model of virtual
    /// subject --subject).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Which embedded virtual subject's model to ask when --model is not given (1 to 8).
    #[arg(long, default_value_t = 1, conflicts_with = "model")]
    pub subject: usize,
    /// Local Hugging Face CLIP folder, for models trained on CLIP features.
    #[arg(long, value_name = "DIR")]
    pub clip: Option<PathBuf>,
    /// Feature cache folder (default: ~/.cache/nrf/features).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Compute features without reading or writing a cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Domain of an official model.
    #[command(flatten)]
    pub domain: DomainArgs,
}

/// A model loaded for questions, with its extractor and cache.
pub struct AskedModel {
    /// Its name in messages.
    pub name: String,
    /// The model.
    pub model: Nrf,
    /// Its query engine.
    pub engine: Arc<QueryEngine>,
    /// Its features.
    pub extractor: Box<dyn FeatureExtractor>,
    /// The feature cache, unless --no-cache.
    pub cache: Option<FeatureCache>,
    /// The embedded virtual subject behind it, when it is an embedded model.
    pub virtual_subject: Option<usize>,
    /// Where it computes.
    pub device: ComputeDevice,
}

impl ModelArgs {
    /// Loads the model, its extractor and the cache.
    pub fn load(&self) -> Result<AskedModel> {
        let device = compute_device(self.device.into())?;
        let (name, model, virtual_subject) = match &self.model {
            Some(path) => (
                path.display().to_string(),
                load_model(path, &self.domain, &device)?,
                None,
            ),
            None => (
                format!("embedded model of virtual subject {}", self.subject),
                nrf::embedded::default_model(self.subject, &device.device)?,
                Some(self.subject),
            ),
        };
        let extractor_id = model.info.features.as_ref().map(|f| f.extractor.as_str());
        let extractor = extractor_for(extractor_id, self.clip.as_deref(), &device.device)
            .with_context(|| name.clone())?;
        model.check_extractor(extractor.as_ref())?;
        let cache = if self.no_cache {
            None
        } else {
            let root = match &self.cache {
                Some(dir) => dir.clone(),
                None => super::train::default_cache_dir()?,
            };
            Some(FeatureCache::open(root)?)
        };
        let engine = QueryEngine::new(&model);
        Ok(AskedModel {
            name,
            model,
            engine,
            extractor,
            cache,
            virtual_subject,
            device,
        })
    }
}

impl AskedModel {
    /// The features of a set, with a progress bar; skipped images are named on stderr.
    pub fn set_features(&self, spec: &SetSpec) -> Result<SetFeatures> {
        let label = spec.label();
        let items = spec.items()?;
        let bar = ProgressBar::counting(format!("features {}", short(&label)), "images");
        let set = extract_set(
            &label,
            items,
            self.extractor.as_ref(),
            self.cache.as_ref(),
            &mut |done, total| {
                bar.update(done, total);
                true
            },
        )?;
        bar.finish();
        for skipped in &set.skipped {
            eprintln!("warning: skipped {}: {}", skipped.name, skipped.reason);
        }
        Ok(set)
    }

    /// Every image of `set` at `points`, with a progress bar.
    pub fn predict(
        &self,
        set: &SetFeatures,
        points: &[Vec3],
    ) -> Result<nrf::insilico::set_prediction::SetPrediction> {
        let bar = ProgressBar::counting("predicting".into(), "images");
        let prediction = predict_set(&self.model, &self.engine, set, points, &mut |d, t| {
            bar.update(d, t);
            true
        })?;
        bar.finish();
        Ok(prediction)
    }
}

/// The last 24 characters of a label, for progress bars.
fn short(label: &str) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= 24 {
        label.to_string()
    } else {
        format!("…{}", chars[chars.len() - 23..].iter().collect::<String>())
    }
}

fn parse_set(s: &str) -> Result<SetSpec, String> {
    SetSpec::parse(s).map_err(|e| e.to_string())
}

/// Writes JSON to stdout, pretty.
fn print_json(value: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn mm(p: Vec3) -> String {
    format!("{:.1}, {:.1}, {:.1}", p.x, p.y, p.z)
}

/// Arguments of `nrf localizer`.
#[derive(Debug, Args)]
pub struct LocalizerArgs {
    /// Set A: a folder of images, CATEGORY:N[:SEED] (face, place, object, body, text, texture,
    /// grating) or library:N[:SEED] (all categories mixed); procedural sets use seed 2 unless
    /// told (the embedded models were trained on seed 1).
    #[arg(long, value_parser = parse_set, value_name = "SET")]
    pub a: SetSpec,
    /// Set B, the same forms.
    #[arg(long, value_parser = parse_set, value_name = "SET")]
    pub b: SetSpec,
    /// Grid spacing, mm.
    #[arg(long, default_value_t = 2.0, value_name = "MM")]
    pub grid: f64,
    /// Which grid voxels to evaluate.
    #[arg(long, value_enum, default_value_t = RegionArg::Domain)]
    pub region: RegionArg,
    /// The t map as NIfTI (.nii or .nii.gz), 0 outside the region; written atomically.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The map of mean(A) − mean(B) as NIfTI.
    #[arg(long, value_name = "FILE")]
    pub difference: Option<PathBuf>,
    /// How many peaks (A > B) and troughs (B > A) to list.
    #[arg(long, default_value_t = 5)]
    pub peaks: usize,
    /// Least distance between two listed peaks, mm.
    #[arg(long, default_value_t = 10.0, value_name = "MM")]
    pub separation: f32,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `nrf localizer`.
pub fn localizer(args: &LocalizerArgs) -> Result<()> {
    if args.peaks == 0 && args.out.is_none() && args.difference.is_none() {
        bail!("nothing to report: give --peaks N (at least 1), --out or --difference");
    }
    let asked = args.model.load()?;
    let started = Instant::now();
    let grid_path = args.out.clone().unwrap_or_else(|| "map.nii".into());
    let grid = nifti_grid(Some(args.grid), &grid_path, 2)?;
    let at = GridPoints::new(&asked.model.domain, &grid, region(args.region))?;
    let a_set = asked.set_features(&args.a)?;
    let b_set = asked.set_features(&args.b)?;
    let a = asked.predict(&a_set, &at.points)?;
    let b = asked.predict(&b_set, &at.points)?;
    let map = welch_contrast(&a, &b)?;
    let domain = &asked.model.domain;
    let found = peaks(&map.t, &at, 1.0, args.peaks, args.separation, domain)?;
    let troughs = peaks(&map.t, &at, -1.0, args.peaks, args.separation, domain)?;
    for (path, values) in [(&args.out, &map.t), (&args.difference, &map.difference)] {
        if let Some(path) = path {
            at.volume(values, 0.0)?
                .write_nifti(path, SpaceCode::Mni152)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    let difference_at = |p: &nrf::insilico::localizer::Peak| {
        let position = Vec3::from_array(p.position_mm);
        at.points
            .iter()
            .position(|q| *q == position)
            .map_or(f32::NAN, |i| map.difference[i])
    };
    let listed = |list: &[nrf::insilico::localizer::Peak]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|p| {
                json!({"position_mm": p.position_mm, "t": p.value,
                       "difference": difference_at(p), "rois": p.rois})
            })
            .collect()
    };
    if args.json {
        return print_json(&json!({
            "model": asked.name,
            "a": {"set": args.a.label(), "images": map.n_a, "skipped": a_set.skipped.len()},
            "b": {"set": args.b.label(), "images": map.n_b, "skipped": b_set.skipped.len()},
            "grid_mm": args.grid,
            "points": at.points.len(),
            "peak": listed(&found).first(),
            "peaks": listed(&found),
            "troughs": listed(&troughs),
            "out": args.out,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    }
    println!(
        "{}: A = {} ({} images) vs B = {} ({} images), Welch t at {} points of a {} mm grid, in {:.2} s",
        asked.name,
        args.a.label(),
        map.n_a,
        args.b.label(),
        map.n_b,
        at.points.len(),
        args.grid,
        started.elapsed().as_secs_f64()
    );
    for (title, list) in [("A > B", &found), ("B > A", &troughs)] {
        println!("{title}:");
        if list.is_empty() {
            println!("  (no point)");
        }
        for p in list {
            println!(
                "  t {:+7.2}  difference {:+.4}  at {} mm  {}",
                p.value,
                difference_at(p),
                mm(Vec3::from_array(p.position_mm)),
                p.rois.join(" ")
            );
        }
    }
    for path in [&args.out, &args.difference].into_iter().flatten() {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn region(arg: RegionArg) -> Region {
    match arg {
        RegionArg::Domain => Region::Domain,
        RegionArg::Brain => Region::Brain,
        RegionArg::All => Region::Everywhere,
    }
}

/// Arguments of `nrf top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The point, MNI mm.
    #[arg(long, value_parser = parse_point, allow_hyphen_values = true, value_name = "X,Y,Z",
          required_unless_present = "roi")]
    pub point: Option<Vec3>,
    /// Average over a sphere of this radius around the point (a 2 mm lattice), mm.
    #[arg(long, default_value_t = 0.0, value_name = "MM", requires = "point")]
    pub radius: f32,
    /// Average over an ROI of the model's domain instead of a point.
    #[arg(long, conflicts_with = "point", value_name = "NAME")]
    pub roi: Option<String>,
    /// The images to rank (a folder, CATEGORY:N[:SEED] or library:N[:SEED]).
    #[arg(long, value_parser = parse_set, default_value = "library:1000", value_name = "SET")]
    pub images: SetSpec,
    /// How many images to list at each end.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Print one JSON object instead of the readable list.
    #[arg(long)]
    pub json: bool,
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `nrf top`.
pub fn top(args: &TopArgs) -> Result<()> {
    if args.k == 0 {
        bail!("--k must be at least 1 (how many images to list)");
    }
    if !(args.radius.is_finite() && (0.0..=50.0).contains(&args.radius)) {
        bail!("--radius must be between 0 and 50 mm");
    }
    let asked = args.model.load()?;
    let started = Instant::now();
    let (points, place) = match (&args.roi, args.point) {
        (Some(roi), _) => (roi_points(&asked.model.domain, roi)?, format!("ROI {roi}")),
        (None, Some(point)) => {
            check_point_in_brain(point)?;
            if let nrf::model::Domain::Voxels(d) = &asked.model.domain
                && !d.contains(point)
            {
                eprintln!(
                    "warning: {} mm lies outside the model's domain (the voxels it was trained on); its answer there is extrapolation",
                    mm(point)
                );
            }
            (
                sphere_points(point, args.radius, 2.0),
                format!("{} mm (radius {} mm)", mm(point), args.radius),
            )
        }
        (None, None) => bail!("give --point X,Y,Z or --roi NAME"),
    };
    let set = asked.set_features(&args.images)?;
    let prediction = asked.predict(&set, &points)?;
    let ranking = rank_images(&prediction, args.k)?;
    if args.json {
        return print_json(&json!({
            "model": asked.name,
            "point_mm": args.point.map(|p| p.to_array()),
            "radius_mm": args.radius,
            "roi": args.roi,
            "points": points.len(),
            "images": args.images.label(),
            "ranked": prediction.len(),
            "skipped": set.skipped.len(),
            "top": ranking.top,
            "bottom": ranking.bottom,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    }
    println!(
        "{} at {}: {} images of {} ranked in {:.2} s",
        asked.name,
        place,
        prediction.len(),
        args.images.label(),
        started.elapsed().as_secs_f64()
    );
    for (title, list) in [
        ("raise it most", &ranking.top),
        ("lower it most", &ranking.bottom),
    ] {
        println!("{title}:");
        for r in list.iter() {
            println!("  {:>3}. {:+.4}  {}", r.rank, r.value, r.name);
        }
    }
    Ok(())
}

/// Arguments of `nrf prf`.
#[derive(Debug, Args)]
pub struct PrfArgs {
    /// The point, MNI mm.
    #[arg(long, value_parser = parse_point, allow_hyphen_values = true, value_name = "X,Y,Z")]
    pub point: Vec3,
    /// Average over a sphere of this radius around the point (a 2 mm lattice), mm.
    #[arg(long, default_value_t = 0.0, value_name = "MM")]
    pub radius: f32,
    /// Also write the map (responses to the patches, the fitted centre and size) as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `nrf prf`.
pub fn prf(args: &PrfArgs) -> Result<()> {
    if !(args.radius.is_finite() && (0.0..=20.0).contains(&args.radius)) {
        bail!("--radius must be between 0 and 20 mm");
    }
    check_point_in_brain(args.point)?;
    let asked = args.model.load()?;
    let started = Instant::now();
    let points = sphere_points(args.point, args.radius, 2.0);
    let probes = Arc::new(PrfProbes::standard());
    let prepared = PreparedProbes::new(
        Arc::clone(&probes),
        &asked.model,
        &asked.engine,
        asked.extractor.as_ref(),
        asked.cache.as_ref(),
    )?;
    let responses = prepared.responses_at(&points)?;
    let fit = fit_prf(&probes, &responses)?;
    let truth = match asked.virtual_subject {
        Some(k) => {
            let subject = nrf::data::virtual_subjects::VirtualSubject::new(SIMULATION_SEED, k)?;
            let probed = fit_prf(&probes, &truth_responses(&probes, &subject, &points))?;
            Some((simulator_prf(&subject, args.point), probed))
        }
        None => None,
    };
    if let Some(out) = &args.out {
        let Some(fit) = &fit else {
            bail!("no pRF to draw: the model's responses to the probes do not vary at this point");
        };
        let truth_centre = truth.as_ref().and_then(|(_, probed)| probed.as_ref());
        let picture = nrf::insilico::prf::map_picture(fit, truth_centre, 32);
        nrf::atomic_file::write_atomically(out, |file| {
            picture
                .write_to(file, image::ImageFormat::Png)
                .map_err(std::io::Error::other)
        })
        .with_context(|| format!("writing {}", out.display()))?;
    }
    if args.json {
        return print_json(&json!({
            "model": asked.name,
            "point_mm": args.point.to_array(),
            "radius_mm": args.radius,
            "probes": probes.probes(),
            "fit": fit,
            "truth": truth.as_ref().map(|(simulator, probed)| json!({
                "simulator": simulator, "probed": probed})),
            "out": args.out,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    }
    let describe = |fit: &Option<nrf::insilico::prf::PrfFit>| match fit {
        Some(f) => format!(
            "centre ({:+.2}°, {:+.2}°), eccentricity {:.2}°, size σ {:.2}°, R² {:.2}",
            f.centre_deg[0], f.centre_deg[1], f.eccentricity_deg, f.sigma_deg, f.r2
        ),
        None => "no pRF (the responses do not vary)".into(),
    };
    println!(
        "{} at {} mm: {} probes in {:.2} s",
        asked.name,
        mm(args.point),
        probes.probes(),
        started.elapsed().as_secs_f64()
    );
    println!("  model: {}", describe(&fit));
    if let Some((simulator, probed)) = &truth {
        println!("  truth, same probes: {}", describe(probed));
        match simulator {
            Some(s) => println!(
                "  simulator: {} (membership {:.2}) centre ({:+.2}°, {:+.2}°), eccentricity {:.2}°, σ {:.2}°",
                s.area,
                s.membership,
                s.centre_deg[0],
                s.centre_deg[1],
                s.eccentricity_deg,
                s.sigma_deg
            ),
            None => println!("  simulator: not in a visual area"),
        }
    }
    if let Some(out) = &args.out {
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// Arguments of `nrf roi`.
#[derive(Debug, Args)]
pub struct RoiArgs {
    /// The images (a folder, CATEGORY:N[:SEED] or library:N[:SEED]).
    #[arg(long, value_parser = parse_set, value_name = "SET")]
    pub images: SetSpec,
    /// One row per image category (from procedural sets, or file names ending in _face, …)
    /// instead of one per image.
    #[arg(long)]
    pub by_category: bool,
    /// Write the table as CSV (atomically).
    #[arg(long, value_name = "FILE.csv")]
    pub csv: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `nrf roi`.
pub fn roi(args: &RoiArgs) -> Result<()> {
    let asked = args.model.load()?;
    let domain = roi_domain(&asked.model.domain)?;
    let set = asked.set_features(&args.images)?;
    let prediction = asked.predict(&set, domain.coords_mm())?;
    let summary = summarise(domain, &prediction, args.by_category)?;
    if let Some(path) = &args.csv {
        let csv = summary.to_csv();
        nrf::atomic_file::write_atomically(path, |file| {
            use std::io::Write;
            file.write_all(csv.as_bytes())
        })
        .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        return print_json(&serde_json::to_value(&summary)?);
    }
    print!("{}", summary.to_csv().replace(',', "\t"));
    if let Some(path) = &args.csv {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `nrf predict --images SET` and `--baseline SET`: a set (or image files) predicted at points
/// or on a grid, optionally relative to the mean over a reference set.
pub fn predict_sets(args: &super::predict::PredictArgs) -> Result<()> {
    use nrf::insilico::image_set::{ItemOrigin, SetItem};
    use nrf::insilico::set_prediction::check_set_size;
    let asked = ModelArgs {
        model: args.model.clone(),
        subject: args.subject,
        clip: args.clip.clone(),
        cache: args.cache.clone(),
        no_cache: args.no_cache,
        device: args.device,
        domain: args.domain.clone(),
    }
    .load()?;
    let started = Instant::now();
    let (set, label) = match &args.images {
        Some(spec) => (asked.set_features(spec)?, spec.label()),
        None => {
            // Image files: each must be read (no skipping what the user named).
            let items = args
                .image
                .iter()
                .map(|path| SetItem {
                    name: path.display().to_string(),
                    origin: ItemOrigin::File(path.clone()),
                })
                .collect();
            let set = extract_set(
                "the images",
                items,
                asked.extractor.as_ref(),
                asked.cache.as_ref(),
                &mut |_, _| true,
            )?;
            if let Some(skipped) = set.skipped.first() {
                bail!("{}", skipped.reason);
            }
            (set, format!("{} image file(s)", args.image.len()))
        }
    };
    let (points, grid_points) = match (&args.points, args.grid) {
        (Some(path), _) => (super::io::read_points(path)?, None),
        (None, grid) => {
            let grid = nifti_grid(grid, &args.out, set.features.len())?;
            check_set_size(set.features.len(), grid.len())?;
            let at = GridPoints::new(&asked.model.domain, &grid, region(args.region))?;
            (at.points.clone(), Some(at))
        }
    };
    let features_seconds = started.elapsed().as_secs_f64();
    let mut prediction = asked.predict(&set, &points)?;
    if let Some(baseline) = &args.baseline {
        let reference = asked.set_features(baseline)?;
        let mean = asked.predict(&reference, &points)?.mean();
        prediction = prediction.minus(&mean)?;
    }
    let predicted_seconds = started.elapsed().as_secs_f64();
    write_rows(
        &args.out,
        grid_points.as_ref(),
        prediction.len(),
        points.len(),
        &prediction.values,
    )?;
    let names_path = names_file(&args.out);
    let names: String = prediction
        .items
        .iter()
        .map(|item| format!("{}\n", item.name))
        .collect();
    nrf::atomic_file::write_atomically(&names_path, |file| {
        use std::io::Write;
        file.write_all(names.as_bytes())
    })
    .with_context(|| format!("writing {}", names_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {}: {} image(s) of {label}{} at {} points, in {seconds:.2} s (features {features_seconds:.2} s, predictions {:.2} s, writing {:.2} s) on {}; image names in order in {}",
        args.out.display(),
        prediction.len(),
        args.baseline.as_ref().map_or(String::new(), |b| format!(
            " minus the mean of {}",
            b.label()
        )),
        points.len(),
        predicted_seconds - features_seconds,
        seconds - predicted_seconds,
        asked.device.description,
        names_path.display()
    );
    Ok(())
}

/// Writes `[images × points]` values: an `(images, points)` `.npy` at points, or one NIfTI volume
/// per image when the points are a grid's.
fn write_rows(
    out: &std::path::Path,
    grid: Option<&GridPoints>,
    images: usize,
    points: usize,
    values: &[f32],
) -> Result<()> {
    match grid {
        None => nrf::npy::write_f32(out, &[images, points], values)?,
        Some(at) => at.write_nifti_series(out, values, 0.0, SpaceCode::Mni152)?,
    }
    Ok(())
}

/// `OUT.images.txt` beside an output (its .nii, .nii.gz or .npy extension replaced).
fn names_file(out: &std::path::Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = [".nii.gz", ".nii", ".npy"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(&name);
    out.with_file_name(format!("{stem}.images.txt"))
}

/// `nrf predict --model ENSEMBLE`: the ensemble's combined prediction and, with `--spread`, how
/// much its members disagree (the standard deviation of their predictions), at points or on a
/// grid over the target's voxels.
pub fn predict_ensemble(path: &std::path::Path, args: &super::predict::PredictArgs) -> Result<()> {
    use nrf::features::decode::load_rgb8;
    use nrf::train::ensemble::EnsembleModel;
    if args.images.is_some() || args.baseline.is_some() {
        bail!(
            "{}: an ensemble predicts --image files or --tokens/--global features (not --images or --baseline sets)",
            path.display()
        );
    }
    let device = compute_device(args.device.into())?;
    let ensemble = EnsembleModel::load(path, &device.device)?;
    let started = Instant::now();
    let first = ensemble
        .members
        .first()
        .with_context(|| format!("{}: an ensemble without members", path.display()))?;
    let images = match (&args.tokens, &args.global) {
        (Some(tokens), Some(global)) => nrf::features::read_features_npy(tokens, global)?,
        _ => {
            let id = first.info.features.as_ref().map(|f| f.extractor.as_str());
            let extractor = extractor_for(id, args.clip.as_deref(), &device.device)
                .with_context(|| path.display().to_string())?;
            args.image
                .iter()
                .map(|image| {
                    let rgb = load_rgb8(image)?;
                    extractor
                        .extract(&rgb)
                        .with_context(|| image.display().to_string())
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    for member in &ensemble.members {
        for features in &images {
            member.check_features(features)?;
        }
    }
    let refs: Vec<&nrf::features::ImageFeatures> = images.iter().collect();
    let (points, grid_points) = match (&args.points, args.grid) {
        (Some(points), _) => (super::io::read_points(points)?, None),
        (None, grid) => {
            let grid = nifti_grid(grid, &args.out, 2 * images.len())?;
            nrf::insilico::set_prediction::check_set_size(images.len(), grid.len())?;
            let domain = nrf::model::Domain::Voxels(ensemble.voxels.clone());
            let at = GridPoints::new(&domain, &grid, region(args.region))?;
            let points = at.points.clone();
            (points, Some(at))
        }
    };
    let members = ensemble.member_predictions(&refs, &points)?;
    let combined = ensemble.combine(&members, &points);
    let spread = args
        .spread
        .as_ref()
        .map(|_| EnsembleModel::spread(&members));
    let at = grid_points.as_ref();
    write_rows(&args.out, at, images.len(), points.len(), &combined)?;
    if let (Some(out), Some(spread)) = (&args.spread, &spread) {
        write_rows(out, at, images.len(), points.len(), spread)?;
    }
    println!(
        "wrote {}{}: {} image(s) × {} points, an ensemble of {} members, in {:.2} s",
        args.out.display(),
        args.spread.as_ref().map_or(String::new(), |s| format!(
            " and the members' spread {}",
            s.display()
        )),
        images.len(),
        points.len(),
        ensemble.members.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
