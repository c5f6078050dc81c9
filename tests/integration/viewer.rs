//! The viewer in a real window: `nrf view --image … --screenshot … --exit` under Xvfb (or the
//! session's display) writes a non-blank PNG of the whole layout.

use std::process::Command;

use crate::support::require;

/// How to run a windowed command here: on the session's display, or under `xvfb-run`.
fn windowed() -> Result<Command, String> {
    if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
        return Ok(Command::new(env!("CARGO_BIN_EXE_nrf")));
    }
    let probe = Command::new("xvfb-run").arg("--help").output();
    match probe {
        Ok(_) => {
            let mut command = Command::new("xvfb-run");
            command
                .args(["-a", "-s", "-screen 0 1280x1024x24"])
                .arg(env!("CARGO_BIN_EXE_nrf"));
            Ok(command)
        }
        Err(e) => Err(format!(
            "no DISPLAY and no xvfb-run ({e}); apt-get install xvfb"
        )),
    }
}

/// Runs the viewer on a procedural face with `extra` options; returns the screenshot.
fn screenshot(test: &str, extra: &[&str]) -> Option<image::RgbaImage> {
    let mut command = require(test, windowed())?;
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("face.png");
    let (_, rgb) = nrf::data::simulate::stimulus_of(1, 3);
    image::RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels)
        .expect("rgb")
        .save(&image)
        .expect("save");
    let shot = dir.path().join("view.png");
    let output = command
        .arg("view")
        .arg("--image")
        .arg(&image)
        .args(extra)
        .arg("--screenshot")
        .arg(&shot)
        .arg("--exit")
        .output()
        .expect("run nrf view");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{log}");
    Some(image::open(&shot).expect("screenshot").to_rgba8())
}

/// Pixels strongly red or blue (the overlay's colours; the UI and anatomy are grey).
fn overlay_coloured(picture: &image::RgbaImage) -> usize {
    picture
        .pixels()
        .filter(|p| {
            let [r, g, b, _] = p.0.map(i32::from);
            (r - g).abs() > 60 || (b - g).abs() > 60
        })
        .count()
}

#[test]
fn the_viewer_shows_the_ground_truth_of_a_virtual_subject() {
    let Some(picture) = screenshot(
        "the_viewer_shows_the_ground_truth_of_a_virtual_subject",
        &["--truth"],
    ) else {
        return;
    };
    assert!(overlay_coloured(&picture) > 200);
}

#[test]
fn the_viewer_opens_predicts_and_writes_a_screenshot() {
    let Some(picture) = screenshot(
        "the_viewer_opens_predicts_and_writes_a_screenshot",
        &["--subject", "2"],
    ) else {
        return;
    };
    assert!(picture.width() >= 800 && picture.height() >= 500);
    // Not blank: many distinct colours (anatomy greys, overlay colours, UI).
    let mut colours: Vec<[u8; 4]> = picture.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 500, "only {} colours", colours.len());
    // The prediction is on screen.
    let coloured = overlay_coloured(&picture);
    assert!(coloured > 200, "only {coloured} overlay-coloured pixels");
}

#[test]
fn the_viewer_refuses_a_bad_image_before_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-an-image.png");
    std::fs::write(&bad, b"this is text").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_nrf"))
        .arg("view")
        .arg("--image")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not-an-image.png"), "{stderr}");
}
