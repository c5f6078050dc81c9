//! `nrf info`: describe a NIfTI file as nibabel would.

use std::path::PathBuf;

use anyhow::Result;

use nrf::space::affine_to_rows;
use nrf::volume::NiftiImage;
use nrf::volume::summary::ImageSummary;

/// Prints the summary (or JSON) of one file.
pub fn info(file: PathBuf, json: bool) -> Result<()> {
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
