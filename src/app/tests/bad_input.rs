//! The viewer under bad input: a corpus of damaged and wrong files dropped one after another.
//! Each gets one message naming it; nothing shown or opened changes; the session stays usable.

use super::*;

/// A PNG whose header claims `width × height` pixels (and holds none).
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d".to_vec();
    bytes.extend(&ihdr);
    bytes.extend(crc.sum().to_be_bytes());
    bytes
}

/// The bad-input corpus, written into `dir`: pictures, volumes, models and a run folder that
/// are empty, cut short, lying about their size, or not what their name says.
fn bad_corpus(dir: &Path) -> Vec<PathBuf> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let jpeg = std::fs::read(test_data("clip-tiny/images/landscape_300x227.jpg")).expect("jpeg");
    let nifti_gz = std::fs::read(test_data("nifti/standard.nii.gz")).expect("nifti");
    let mut nifti = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&nifti_gz[..]), &mut nifti)
        .expect("gunzip");
    let mut lying_nifti = nifti.clone();
    lying_nifti[42..44].copy_from_slice(&1000i16.to_le_bytes());
    let model = std::fs::read(test_data("nrf-e2e/model.nrf")).expect("model");
    let run_folder = dir.join("broken-run");
    std::fs::create_dir_all(run_folder.join("best_model")).expect("folder");
    std::fs::write(
        run_folder.join("experiment_config.yaml"),
        "model: [this is not: a config",
    )
    .expect("yaml");
    vec![
        write("notes.png", b"these are my notes, not a picture"),
        write("cut.jpg", &jpeg[..jpeg.len() * 2 / 3]),
        write("huge.png", &png_header(100_000, 100_000)),
        write("empty.nii", b""),
        write("cut.nii.gz", &nifti_gz[..nifti_gz.len() / 2]),
        write("lying.nii", &lying_nifti),
        write("garbage.nrf", &[0x5a; 4096]),
        write("cut.nrf", &model[..model.len() / 2]),
        write("letter.txt", b"Dear reviewer,"),
        run_folder,
    ]
}

#[test]
fn every_bad_file_gets_one_message_and_the_session_stays_usable() {
    let mut harness = predicting();
    let image = |app: &NrfApp| app.state.image.as_ref().map(|i| i.name.clone());
    let (image_before, opened_before, version_before) = (
        image(app(&harness)),
        app(&harness).state.opened.len(),
        app(&harness).state.overlay_version,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for path in bad_corpus(dir.path()) {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        drop_file(&mut harness, &path);
        step_until(&mut harness, &format!("the message about {name}"), |app| {
            app.state.error.is_some() && app.state.file_jobs.is_empty()
        });
        harness.step();
        let error = app(&harness).state.error.clone().expect("a message");
        assert!(
            error.contains(name),
            "{name}: the message does not name it: {error}"
        );
        if name == "letter.txt" {
            assert!(error.contains("NIfTI") && error.contains(".nrf"), "{error}");
        }
        assert!(!error.contains("panicked"), "{name}: {error}");
        let state = &app(&harness).state;
        assert_eq!(
            image(app(&harness)),
            image_before,
            "{name} changed the image"
        );
        assert_eq!(state.opened.len(), opened_before, "{name} opened a model");
        assert!(state.file_overlay.is_none(), "{name} became an overlay");
        assert!(state.atlas.is_none(), "{name} became an atlas");
        assert_eq!(
            state.overlay_version, version_before,
            "{name} changed the views"
        );
        click(&mut harness, "Dismiss");
        assert!(app(&harness).state.error.is_none(), "{name}: dismissed");
    }
    // Still usable: a good picture is predicted as on a fresh start.
    drop_file(&mut harness, &write_face(dir.path()));
    step_until(&mut harness, "the face's prediction", |app| {
        app.state
            .image
            .as_ref()
            .is_some_and(|i| i.name == "face.png")
            && prediction_shown(app)
            && app.state.overlay_version > version_before
    });
    assert!(app(&harness).state.error.is_none());
}
