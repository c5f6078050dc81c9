//! Seeded mutation tests of every reader nrf has (`nrf::formats::InputFormat`): valid files from
//! `tests/data` with bits flipped, bytes replaced, inserted, deleted or duplicated, the file cut
//! short, and header fields set to absurd values (0, −1, 2³¹, u32/u64 max…). Each case must give a
//! value or an error — never a panic — and no single allocation above [`ALLOCATION_LIMIT`] (a
//! header must not be able to claim gigabytes). The inputs the fuzzers found (`fuzz/`) are
//! replayed from `tests/data/fuzz-regressions/`.
//!
//! `NRF_MUTATION_CASES` sets the cases per format (default [`DEFAULT_CASES`]).

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use nrf::formats::InputFormat;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::alloc_watch::largest_allocation;
use crate::support::data;

/// Cases per format in the normal test run.
const DEFAULT_CASES: usize = 2000;

/// The largest single allocation any reader may make on these inputs (all under 1 MB, the
/// largest valid one decodes to well under this).
const ALLOCATION_LIMIT: usize = 256 << 20;

fn cases() -> usize {
    std::env::var("NRF_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn file(relative: &str) -> Vec<u8> {
    std::fs::read(data(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Values that break naive size arithmetic, written over header fields.
const ABSURD: [u64; 12] = [
    0,
    1,
    u64::MAX,
    0xFFFF_FFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF,
    0x7FFF,
    0x8000,
    1 << 20,
    1 << 40,
    0x7F80_0000, // +∞ as f32 bits
];

/// One mutated copy of `seed` and what was done to it. `header` is how many leading bytes hold
/// the format's header, where mutations are aimed more often.
fn mutate(seed: &[u8], header: usize, rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let mut bytes = seed.to_vec();
    let mut what = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let len = bytes.len().max(1);
        let position = match rng.random_range(0..10) {
            0..=3 => rng.random_range(0..len),
            4..=7 => rng.random_range(0..len.min(header).max(1)),
            _ => len.saturating_sub(rng.random_range(1..=512.min(len))),
        };
        match rng.random_range(0..8) {
            0 if !bytes.is_empty() => {
                let bit = rng.random_range(0..8);
                let at = position.min(bytes.len() - 1);
                bytes[at] ^= 1 << bit;
                what.push(format!("flip bit {bit} at {position}"));
            }
            1 if !bytes.is_empty() => {
                let value = rng.random();
                let at = position.min(bytes.len() - 1);
                bytes[at] = value;
                what.push(format!("byte {value} at {position}"));
            }
            2 => {
                let keep = rng.random_range(0..=bytes.len());
                bytes.truncate(keep);
                what.push(format!("cut to {keep}"));
            }
            3 => {
                let count = rng.random_range(1..=64);
                let at = position.min(bytes.len());
                let inserted: Vec<u8> = (0..count).map(|_| rng.random()).collect();
                bytes.splice(at..at, inserted);
                what.push(format!("insert {count} at {at}"));
            }
            4 if !bytes.is_empty() => {
                let at = position.min(bytes.len() - 1);
                let end = (at + rng.random_range(1..=64)).min(bytes.len());
                bytes.drain(at..end);
                what.push(format!("delete {at}..{end}"));
            }
            5 => {
                let value = ABSURD[rng.random_range(0..ABSURD.len())];
                let width = [1, 2, 4, 8][rng.random_range(0..4)];
                let big_endian = rng.random_bool(0.3);
                let encoded = if big_endian {
                    value.to_be_bytes()[8 - width..].to_vec()
                } else {
                    value.to_le_bytes()[..width].to_vec()
                };
                let at = position.min(bytes.len().saturating_sub(width));
                let end = (at + width).min(bytes.len());
                bytes[at..end].copy_from_slice(&encoded[..end - at]);
                what.push(format!("{value:#x} ({width} bytes) at {at}"));
            }
            6 if !bytes.is_empty() => {
                let at = position.min(bytes.len() - 1);
                let end = (at + rng.random_range(1..=256)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                let to = rng.random_range(0..=bytes.len());
                bytes.splice(to..to, chunk);
                what.push(format!("copy {at}..{end} to {to}"));
            }
            _ => {
                const TOKENS: [&str; 12] = [
                    "-1",
                    "0",
                    "NaN",
                    "1e308",
                    "99999999999999999999",
                    "\t",
                    "\n",
                    ",",
                    ":",
                    "[",
                    "\u{fffd}",
                    "\"",
                ];
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                let at = position.min(bytes.len());
                bytes.splice(at..at, token.bytes());
                what.push(format!("insert {token:?} at {at}"));
            }
        }
    }
    (bytes, what.join(", "))
}

/// What one format's mutation run saw.
#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    refused: usize,
    failures: Vec<String>,
}

fn run_case(format: InputFormat, bytes: &[u8], scratch: &Path) -> Result<bool, String> {
    let (outcome, largest) =
        largest_allocation(|| catch_unwind(AssertUnwindSafe(|| format.read(bytes, scratch))));
    let accepted = match outcome {
        Ok(result) => result.is_ok(),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(format!("panicked: {message}"));
        }
    };
    if largest > ALLOCATION_LIMIT {
        return Err(format!(
            "allocated {} MiB at once from {} bytes of input",
            largest >> 20,
            bytes.len()
        ));
    }
    Ok(accepted)
}

/// Runs the seeds themselves (which must read) and `cases()` mutations of them.
fn mutation_run(format: InputFormat, seeds: &[Vec<u8>], header: usize) -> Tally {
    let scratch = tempfile::tempdir().expect("scratch");
    let failure_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-failures");
    for (index, seed) in seeds.iter().enumerate() {
        let read = format.read(seed, scratch.path());
        assert!(read.is_ok(), "{} seed {index}: {read:?}", format.name());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(format.name().bytes().fold(0xC0FFEE, |h: u64, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }));
    let mut tally = Tally::default();
    for case in 0..cases() {
        let seed_index = rng.random_range(0..seeds.len());
        let (bytes, what) = mutate(&seeds[seed_index], header, &mut rng);
        match run_case(format, &bytes, scratch.path()) {
            Ok(true) => tally.accepted += 1,
            Ok(false) => tally.refused += 1,
            Err(failure) => {
                let _ = std::fs::create_dir_all(&failure_dir);
                let saved = failure_dir.join(format!("{}-{case}", format.name()));
                let _ = std::fs::write(&saved, &bytes);
                tally.failures.push(format!(
                    "case {case} (seed {seed_index}: {what}) {failure}; input saved as {}",
                    saved.display()
                ));
            }
        }
    }
    // Inputs the fuzzers found, kept as regression cases.
    let found = data(&format!("fuzz-regressions/{}", format.name()));
    if let Ok(entries) = std::fs::read_dir(&found) {
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).expect("regression case");
            if let Err(failure) = run_case(format, &bytes, scratch.path()) {
                tally
                    .failures
                    .push(format!("{}: {failure}", entry.path().display()));
            }
        }
    }
    tally
}

fn check(format: InputFormat, seeds: &[Vec<u8>], header: usize) {
    let tally = mutation_run(format, seeds, header);
    eprintln!(
        "{}: {} cases, {} read, {} refused, {} failures",
        format.name(),
        tally.accepted + tally.refused + tally.failures.len(),
        tally.accepted,
        tally.refused,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} mutated {} inputs failed:\n{}",
        tally.failures.len(),
        cases(),
        format.name(),
        tally.failures[..tally.failures.len().min(10)].join("\n")
    );
    assert!(
        tally.refused > 0,
        "no mutation was refused: the mutator is broken"
    );
}

/// The 4×5×7 uint8 NIfTI-1 of `nifti/standard.nii.gz`, uncompressed.
fn standard_nifti() -> Vec<u8> {
    gunzip(&file("nifti/standard.nii.gz"))
}

#[test]
fn nifti_reader_survives_mutations() {
    let seeds = vec![
        standard_nifti(),
        file("nifti/standard.nii.gz"),
        gunzip(&file("nifti/example_nifti2.nii.gz")),
        file("nifti/functional.nii"),
    ];
    check(InputFormat::Nifti, &seeds, 540);
}

#[test]
fn nifti_pair_reader_survives_mutations() {
    // The standard image as a pair: magic `ni1`, data from byte 0 of the `.img`.
    let single = standard_nifti();
    let mut pair = single[..348].to_vec();
    pair[344..348].copy_from_slice(b"ni1\0");
    pair[108..112].copy_from_slice(&0f32.to_le_bytes());
    pair.extend_from_slice(&single[352..]);
    check(InputFormat::NiftiPair, &[pair], 348);
}

#[test]
fn npy_reader_survives_mutations() {
    let seeds = vec![
        file("nrf-official/B.npy"),
        file("nrf-official/coords_mni_mm.npy"),
        file("nsd-processed/validation_idx.npy"),
        file("nsd-processed/roi_response_average/subj01/image_order.npy"),
    ];
    check(InputFormat::Npy, &seeds, 128);
}

#[test]
fn nrf_model_reader_survives_mutations() {
    use burn::tensor::Device;
    use nrf::model::{Domain, ModelInfo, Nrf, NrfConfig, NrfNet};
    let device = Device::flex();
    let config = NrfConfig::new()
        .with_token_dim(4)
        .with_patches_per_side(2)
        .with_global_dim(4)
        .with_merged_dim(4)
        .with_fourier_features(4)
        .with_hidden(8)
        .with_num_layers(2);
    let model = Nrf {
        net: NrfNet::init_seeded(&config, 3, &device).expect("init"),
        config,
        info: ModelInfo::default(),
        domain: Domain::Unknown,
        source: None,
    };
    let bytes = model.to_bytes(Path::new("tiny.nrf")).expect("bytes");
    check(InputFormat::NrfModel, &[bytes], 1024);
}

#[test]
fn official_checkpoint_reader_survives_mutations() {
    check(
        InputFormat::OfficialCheckpoint,
        &[file("nrf-official/best_model/best_NRF_model.pth.tar")],
        512,
    );
}

#[test]
fn run_config_reader_survives_mutations() {
    check(
        InputFormat::RunConfig,
        &[file("nrf-official/experiment_config.yaml")],
        700,
    );
}

#[test]
fn stimulus_file_reader_survives_mutations() {
    use nrf::data::stimulus_file::StimulusWriter;
    use nrf::features::preprocess::Rgb8;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stimuli.hdf5");
    let mut writer = StimulusWriter::create(&path, 3, 8).expect("create");
    for id in 0..3u8 {
        let image = Rgb8 {
            width: 8,
            height: 8,
            pixels: (0..192).map(|v| (v as u8).wrapping_mul(id + 1)).collect(),
        };
        writer.write(usize::from(id), &image).expect("write");
    }
    writer.finish().expect("finish");
    check(
        InputFormat::StimulusHdf5,
        &[std::fs::read(&path).expect("read")],
        2048,
    );
}

#[test]
fn image_reader_survives_mutations() {
    let listing = std::fs::read_dir(data("legal-images")).expect("legal images");
    let mut seeds: Vec<Vec<u8>> = listing
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|e| ["png", "jpg", "gif"].contains(&e.to_str().unwrap_or("")))
        })
        .map(|path| std::fs::read(path).expect("image"))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 14);
    check(InputFormat::Image, &seeds, 512);
}

#[test]
fn plain_table_reader_survives_mutations() {
    // The rows name images that exist (by absolute path, as a user's table may).
    let images = tempfile::tempdir().expect("tempdir");
    for name in ["a.png", "b.png", "c.png"] {
        std::fs::copy(data("legal-images/palette.png"), images.path().join(name)).expect("copy");
    }
    let at = |name: &str| images.path().join(name).display().to_string();
    let table = format!(
        "volume\timage\tsplit\n0\t{}\ttrain\n1\t{}\tvalidation\n2\t{}\ttrain\n",
        at("a.png"),
        at("b.png"),
        at("c.png")
    );
    let without_split = format!("volume\timage\n0\t{}\n1\t{}\n", at("c.png"), at("a.png"));
    check(
        InputFormat::PlainTable,
        &[table.into_bytes(), without_split.into_bytes()],
        64,
    );
}

#[test]
fn atlas_names_reader_survives_mutations() {
    let names = "# my atlas\nindex\tname\n1\tLeft amygdala\n2,Right amygdala\n3 V1\n";
    check(InputFormat::AtlasNames, &[names.as_bytes().to_vec()], 64);
}
