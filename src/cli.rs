//! The `nrf` command line: argument parsing and the reporting of each subcommand.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use nrf::gpu::GpuContext;
use nrf::space::{Grid, affine_to_rows};
use nrf::summary::ImageSummary;
use nrf::template::{self, TemplateImage};
use nrf::volume::{NiftiImage, SpaceCode, Volume};

/// Neural Response Functions: look inside brain-encoding models that predict the fMRI response
/// to an image at any MNI coordinate (Chen et al., ICLR 2026).
#[derive(Debug, Parser)]
#[command(name = "nrf", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a NIfTI file: shape, voxel sizes, affine, datatype and value range.
    ///
    /// The affine is chosen as nibabel does (sform, else qform, else pixdim), and --json prints
    /// exactly the keys shape, affine, zooms, dtype, min, max, mean, comparable with nibabel's
    /// img.shape, img.affine, header.get_zooms(), get_data_dtype() and get_fdata().
    Info {
        /// A .nii or .nii.gz file (NIfTI-1 or NIfTI-2), or a .hdr of an .hdr/.img pair.
        file: PathBuf,
        /// Print one JSON object instead of the readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Find the GPU adapter nrf would use and check that it computes correctly.
    ///
    /// Without a hardware GPU, a software Vulkan driver works (Debian/Ubuntu package
    /// mesa-vulkan-drivers); WGPU_BACKEND and WGPU_ADAPTER_NAME choose among several adapters.
    Gpu,
    /// Write the embedded MNI152 2009a template, or its brain mask, at any spacing as NIfTI.
    Template {
        /// Which image to write.
        #[arg(long, value_enum, default_value_t = TemplateChoice::T1)]
        image: TemplateChoice,
        /// Voxel size of the output grid in mm (the template's own grid is 1 mm).
        #[arg(long, default_value_t = 1.0)]
        spacing: f64,
        /// Output file (.nii or .nii.gz); written atomically.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Template images `nrf template` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateChoice {
    /// T1-weighted intensity.
    T1,
    /// Grey-matter probability (0–1).
    Gm,
    /// White-matter probability (0–1).
    Wm,
    /// Brain mask (grey + white matter probability above 0.5), 0/1.
    BrainMask,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => {
            println!(
                "nrf {}: the desktop viewer is not built yet. Today nrf describes NIfTI files, \
                 checks the GPU and exports the MNI template; see `nrf --help`.",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Some(Command::Info { file, json }) => info(file, json),
        Some(Command::Gpu) => gpu(),
        Some(Command::Template {
            image,
            spacing,
            out,
        }) => write_template(image, spacing, out),
    }
}

fn info(file: PathBuf, json: bool) -> Result<()> {
    let image = NiftiImage::read(&file)?;
    let summary = ImageSummary::of(&image);
    if json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    let header = &image.header;
    let join = |values: &[String]| values.join(" × ");
    let affine_source = if header.sform_code != 0 {
        format!("sform, code {}", header.sform_code)
    } else if header.qform_code != 0 {
        format!("qform, code {}", header.qform_code)
    } else {
        "no sform or qform: from voxel sizes".to_string()
    };
    println!("{}", file.display());
    println!(
        "  format      NIfTI-{}{}",
        match header.version {
            nrf::volume::nifti::NiftiVersion::One => 1,
            nrf::volume::nifti::NiftiVersion::Two => 2,
        },
        if header.pair { " (.hdr/.img pair)" } else { "" }
    );
    println!(
        "  shape       {}",
        join(
            &summary
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        )
    );
    println!(
        "  zooms       {}",
        join(
            &summary
                .zooms
                .iter()
                .map(|z| format!("{z}"))
                .collect::<Vec<_>>()
        )
    );
    println!("  dtype       {}", summary.dtype);
    if let Some((slope, inter)) = header.scaling {
        println!("  scaling     value × {slope} + {inter}");
    }
    println!("  affine      ({affine_source})");
    for row in affine_to_rows(&image.affine) {
        println!(
            "              {}",
            row.map(|v| format!("{v:>10.4}")).join(" ")
        );
    }
    match (summary.min, summary.max, summary.mean) {
        (Some(min), Some(max), Some(mean)) => {
            println!("  values      min {min}, max {max}, mean {mean}")
        }
        _ => println!("  values      all NaN"),
    }
    if !header.descrip.is_empty() {
        println!("  descrip     {}", header.descrip);
    }
    Ok(())
}

fn gpu() -> Result<()> {
    let context = GpuContext::request()?;
    println!("adapter   {}", context.describe());
    let info = context.adapter.get_info();
    if !info.driver.is_empty() {
        println!("driver    {} {}", info.driver, info.driver_info);
    }
    if context.is_software() {
        println!("note      this is a software (CPU) adapter: correct, but slower than a GPU");
    }
    context.self_test(1 << 16)?;
    println!("self-test passed: 65536 multiply-adds computed on the GPU match the CPU exactly");
    Ok(())
}

fn write_template(choice: TemplateChoice, spacing: f64, out: PathBuf) -> Result<()> {
    let grid = Grid::mni(spacing)?;
    let image = match choice {
        TemplateChoice::T1 => TemplateImage::T1,
        TemplateChoice::Gm => TemplateImage::GreyMatter,
        TemplateChoice::Wm => TemplateImage::WhiteMatter,
        TemplateChoice::BrainMask => TemplateImage::BrainMask,
    };
    let volume: Volume = template::on_grid(image, &grid)?;
    if !(out.to_string_lossy().ends_with(".nii") || out.to_string_lossy().ends_with(".nii.gz")) {
        bail!(
            "{}: expected an output name ending in .nii or .nii.gz",
            out.display()
        );
    }
    volume
        .write_nifti(&out, SpaceCode::Mni152)
        .with_context(|| format!("writing the template to {}", out.display()))?;
    let [nx, ny, nz] = grid.dims;
    println!(
        "wrote {} ({nx} × {ny} × {nz} at {spacing} mm)",
        out.display()
    );
    Ok(())
}
