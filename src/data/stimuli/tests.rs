//! Tests of the procedural stimuli: determinism, balance of categories, and each category
//! having the statistics it is drawn for.

use std::f32::consts::PI;

use super::*;

/// Rec. 601 luma of every pixel.
fn luma(img: &Rgb8) -> Vec<f32> {
    img.pixels
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

/// Gradient magnitude summed over cardinal (within 22.5° of horizontal or vertical) and
/// oblique directions.
fn cardinal_oblique(img: &Rgb8) -> (f64, f64) {
    let l = luma(img);
    let (mut card, mut obl) = (0.0, 0.0);
    for y in 1..N - 1 {
        for x in 1..N - 1 {
            let gx = l[y * N + x + 1] - l[y * N + x - 1];
            let gy = l[(y + 1) * N + x] - l[(y - 1) * N + x];
            let mag = f64::from(gx.hypot(gy));
            if mag < 1.0 {
                continue;
            }
            let a = gy.atan2(gx).rem_euclid(PI / 2.0);
            if !(PI / 8.0..3.0 * PI / 8.0).contains(&a) {
                card += mag;
            } else {
                obl += mag;
            }
        }
    }
    (card, obl)
}

/// Fraction of pixels with a luma gradient above 20 in each cell of a 4×4 grid.
fn edge_density(img: &Rgb8) -> [f32; 16] {
    let l = luma(img);
    let mut counts = [0u32; 16];
    let mut totals = [0u32; 16];
    for y in 1..N - 1 {
        for x in 1..N - 1 {
            let gx = l[y * N + x + 1] - l[y * N + x - 1];
            let gy = l[(y + 1) * N + x] - l[(y - 1) * N + x];
            let cell = (y * 4 / N) * 4 + x * 4 / N;
            totals[cell] += 1;
            if gx.hypot(gy) > 20.0 {
                counts[cell] += 1;
            }
        }
    }
    std::array::from_fn(|i| counts[i] as f32 / totals[i] as f32)
}

/// Fraction of the central 30 % box whose colour is skin-like (r > g > b, warm, not gray).
fn central_skin(img: &Rgb8) -> f32 {
    let (lo, hi) = (N * 35 / 100, N * 65 / 100);
    let mut skin = 0;
    for y in lo..hi {
        for x in lo..hi {
            let i = (y * N + x) * 3;
            let [r, g, b] = [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]].map(i32::from);
            if r > 60 && r > g && g > b && (25..=150).contains(&(r - b)) && g - b >= 8 {
                skin += 1;
            }
        }
    }
    skin as f32 / ((hi - lo) * (hi - lo)) as f32
}

fn samples(category: Category, count: u64) -> Vec<Rgb8> {
    (0..count).map(|i| generate(42, i, category)).collect()
}

#[test]
fn same_seed_and_index_give_identical_bytes() {
    for category in Category::ALL {
        assert_eq!(
            generate(7, 3, category),
            generate(7, 3, category),
            "{category}"
        );
    }
    assert_eq!(stimulus(11, 5), stimulus(11, 5));
}

#[test]
fn different_indices_seeds_and_categories_give_different_images() {
    for category in Category::ALL {
        assert_ne!(
            generate(7, 3, category),
            generate(7, 4, category),
            "{category}"
        );
        assert_ne!(
            generate(7, 3, category),
            generate(8, 3, category),
            "{category}"
        );
    }
    assert_ne!(
        generate(7, 3, Category::Face),
        generate(7, 3, Category::Body)
    );
}

#[test]
fn every_image_is_227_by_227_rgb() {
    for index in 0..14 {
        let (_, img) = stimulus(3, index);
        assert_eq!((img.width, img.height), (STIMULUS_SIZE, STIMULUS_SIZE));
        assert_eq!(img.pixels.len(), 227 * 227 * 3);
    }
}

#[test]
fn category_names_round_trip() {
    for category in Category::ALL {
        assert_eq!(Category::from_name(category.name()), Some(category));
    }
    assert_eq!(Category::from_name("faces"), None);
    assert_eq!(
        Category::ALL.map(Category::name),
        [
            "face", "place", "object", "body", "text", "texture", "grating"
        ]
    );
}

#[test]
fn categories_are_balanced_over_700_indices() {
    for (seed, start) in [(0u64, 0u64), (1, 3), (99, 1000)] {
        let mut counts = [0u32; 7];
        for index in start..start + 700 {
            counts[category_of(seed, index) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (80..=120).contains(c)), "{counts:?}");
    }
    let order = |seed| (0..70).map(|i| category_of(seed, i)).collect::<Vec<_>>();
    assert_eq!(order(5), order(5));
    assert_ne!(order(5), order(6));
    assert_ne!(
        order(5)[..7],
        order(5)[7..14],
        "blocks are shuffled independently"
    );
}

#[test]
fn places_have_more_cardinal_than_oblique_edges() {
    let ratio = |category| {
        let (c, o) = samples(category, 20)
            .iter()
            .map(cardinal_oblique)
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        c / o
    };
    let place = ratio(Category::Place);
    let texture = ratio(Category::Texture);
    assert!(place > 1.6, "place cardinal/oblique {place:.2}");
    assert!(
        place > texture * 1.3,
        "place {place:.2} vs texture {texture:.2}"
    );
}

#[test]
fn text_is_light_paper_with_many_dark_pixels() {
    for img in samples(Category::Text, 20) {
        let l = luma(&img);
        let mean = l.iter().sum::<f32>() / l.len() as f32;
        let dark = l.iter().filter(|&&x| x < 100.0).count() as f32 / l.len() as f32;
        assert!(mean > 170.0, "mean luma {mean}");
        assert!((0.03..0.4).contains(&dark), "dark fraction {dark}");
    }
}

#[test]
fn faces_have_more_central_skin_than_places() {
    let mean = |category| samples(category, 20).iter().map(central_skin).sum::<f32>() / 20.0;
    let face = mean(Category::Face);
    let place = mean(Category::Place);
    assert!(face > 0.4, "face skin {face:.2}");
    assert!(face > 2.0 * place, "face {face:.2} vs place {place:.2}");
}

#[test]
fn textures_have_dense_edges_everywhere() {
    let mean_min = |category| {
        samples(category, 20)
            .iter()
            .map(|img| edge_density(img).into_iter().fold(f32::INFINITY, f32::min))
            .sum::<f32>()
            / 20.0
    };
    let texture = mean_min(Category::Texture);
    let object = mean_min(Category::Object);
    assert!(texture > 0.1, "texture min cell edge density {texture:.3}");
    assert!(
        texture > 3.0 * object,
        "texture {texture:.3} vs object {object:.3}"
    );
}

#[test]
fn zero_degree_grating_varies_along_x_only() {
    let img = grating(0.0, 8.0, 0.3, 1.0);
    assert_eq!((img.width, img.height), (STIMULUS_SIZE, STIMULUS_SIZE));
    let row: &[u8] = &img.pixels[..N * 3];
    for y in 1..N {
        assert_eq!(&img.pixels[y * N * 3..(y + 1) * N * 3], row, "row {y}");
    }
    let xs: Vec<u8> = row.chunks_exact(3).map(|p| p[0]).collect();
    assert!(xs.iter().max().unwrap() - xs.iter().min().unwrap() > 200);
    assert!(row.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    let mean = xs.iter().map(|&x| f32::from(x)).sum::<f32>() / NF;
    assert!((mean - 128.0).abs() < 3.0, "mean {mean}");
    // 90° turns the bars horizontal: constant along x.
    let img = grating(90.0, 8.0, 0.3, 1.0);
    assert!(img.pixels[..N * 3].iter().all(|&p| p == img.pixels[0]));
    assert!(grating(0.0, 8.0, 0.3, 0.0).pixels.iter().all(|&p| p == 128));
}

#[test]
fn uniform_is_constant() {
    let img = uniform([10, 200, 30]);
    assert_eq!((img.width, img.height), (STIMULUS_SIZE, STIMULUS_SIZE));
    assert_eq!(img.pixels.len(), N * N * 3);
    assert!(img.pixels.chunks_exact(3).all(|p| p == [10, 200, 30]));
}

/// Writes a 7×4 grid of samples (one row per category, indices 0..4 of seed 2024) to
/// `/tmp/stimuli-preview.png`. `NRF_PREVIEW_SEED` changes the seed; `NRF_PREVIEW_CATEGORY`
/// (a category name) fills all rows with that category instead.
#[test]
#[ignore = "writes a preview image for people to look at"]
fn write_previews() {
    let seed = std::env::var("NRF_PREVIEW_SEED").map_or(2024, |s| s.parse().unwrap());
    let only = std::env::var("NRF_PREVIEW_CATEGORY")
        .ok()
        .map(|name| Category::from_name(&name).unwrap());
    let (rows, cols) = (Category::ALL.len(), 4);
    let (w, h) = (N * cols, N * rows);
    let mut grid = vec![0u8; w * h * 3];
    let start = std::time::Instant::now();
    for row in 0..rows {
        for col in 0..cols {
            let (category, index) = match only {
                Some(category) => (category, (row * cols + col) as u64),
                None => (Category::ALL[row], col as u64),
            };
            let img = generate(seed, index, category);
            for y in 0..N {
                let dst = ((row * N + y) * w + col * N) * 3;
                grid[dst..dst + N * 3].copy_from_slice(&img.pixels[y * N * 3..(y + 1) * N * 3]);
            }
        }
    }
    let per_image = start.elapsed().as_secs_f64() * 1000.0 / (rows * cols) as f64;
    eprintln!("{per_image:.2} ms per image (this build)");
    let image = image::RgbImage::from_raw(w as u32, h as u32, grid).unwrap();
    image.save("/tmp/stimuli-preview.png").unwrap();
}
