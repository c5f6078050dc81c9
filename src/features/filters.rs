//! Image filters shared by the built-in extractor and the virtual subjects' early vision:
//! square single-channel planes, separable convolution, Gaussian-pyramid reduction and
//! Freeman & Adelson's steerable G2/H2 quadrature pair (oriented, phase-invariant energy).

use super::preprocess::{Rgb8, resize_bicubic};

/// Orientations, radians.
pub(crate) const ORIENTATIONS: [f32; 4] = [
    0.0,
    std::f32::consts::FRAC_PI_4,
    std::f32::consts::FRAC_PI_2,
    3.0 * std::f32::consts::FRAC_PI_4,
];

/// A square single-channel image.
#[derive(Debug, Clone)]
pub(crate) struct Plane {
    pub(crate) size: usize,
    pub(crate) data: Vec<f32>,
}

impl Plane {
    pub(crate) fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.size + x]
    }

    /// Mean over the square `[x0, x1) × [y0, y1)`.
    pub(crate) fn mean(&self, x0: usize, x1: usize, y0: usize, y1: usize) -> f32 {
        let mut sum = 0.0;
        for y in y0..y1 {
            sum += self.data[y * self.size + x0..y * self.size + x1]
                .iter()
                .sum::<f32>();
        }
        sum / ((x1 - x0) * (y1 - y0)).max(1) as f32
    }

    /// Standard deviation over the square.
    pub(crate) fn std(&self, x0: usize, x1: usize, y0: usize, y1: usize) -> f32 {
        let m = self.mean(x0, x1, y0, y1);
        let mut sum = 0.0;
        for y in y0..y1 {
            for v in &self.data[y * self.size + x0..y * self.size + x1] {
                sum += (v - m) * (v - m);
            }
        }
        (sum / ((x1 - x0) * (y1 - y0)).max(1) as f32).sqrt()
    }
}

/// Separable convolution with clamped edges: `kx` along x, then `ky` along y.
pub(crate) fn separable(input: &Plane, kx: &[f32], ky: &[f32]) -> Plane {
    let n = input.size;
    let r = (kx.len() / 2) as isize;
    let clamp = |v: isize| v.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0.0; n * n];
    for y in 0..n {
        let row = &input.data[y * n..(y + 1) * n];
        for x in 0..n {
            let mut acc = 0.0;
            for (i, k) in kx.iter().enumerate() {
                acc += k * row[clamp(x as isize + i as isize - r)];
            }
            tmp[y * n + x] = acc;
        }
    }
    let mut out = vec![0.0; n * n];
    for y in 0..n {
        for (i, k) in ky.iter().enumerate() {
            let src = clamp(y as isize + i as isize - r) * n;
            for x in 0..n {
                out[y * n + x] += k * tmp[src + x];
            }
        }
    }
    Plane { size: n, data: out }
}

/// Blur with a 5-tap binomial kernel and keep every second pixel.
pub(crate) fn reduce(input: &Plane) -> Plane {
    const K: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];
    let blurred = separable(input, &K, &K);
    let n = input.size / 2;
    let data = (0..n * n)
        .map(|i| blurred.at(2 * (i % n), 2 * (i / n)))
        .collect();
    Plane { size: n, data }
}

/// The steerable basis, sampled at 0.67 σ per pixel over 9 taps (Freeman & Adelson 1991,
/// tables III and IV). Each basis filter is `f(x)·g(y)`.
pub(crate) struct SteerableBasis {
    /// (kernel along x, kernel along y) for G2a, G2b, G2c.
    g2: [(Vec<f32>, Vec<f32>); 3],
    /// The same for H2a, H2b, H2c, H2d.
    h2: [(Vec<f32>, Vec<f32>); 4],
}

impl SteerableBasis {
    pub(crate) fn new() -> Self {
        // The sampled second derivative is not exactly zero-sum; without this correction a
        // uniform region would give G2 energy (a DC leak).
        let zero_mean = |mut k: Vec<f32>| {
            let mean = k.iter().sum::<f32>() / k.len() as f32;
            k.iter_mut().for_each(|v| *v -= mean);
            k
        };
        let taps =
            |f: &dyn Fn(f32) -> f32| -> Vec<f32> { (-4..=4).map(|i| f(i as f32 * 0.67)).collect() };
        let gauss = |x: f32| (-x * x).exp();
        let g2_1 = |x: f32| 0.9213 * (2.0 * x * x - 1.0) * gauss(x);
        let g2_b = |x: f32| 1.843 * x * gauss(x);
        let odd = |x: f32| x * gauss(x);
        let h2_a = |x: f32| 0.9780 * (-2.254 * x + x * x * x) * gauss(x);
        let h2_b = |x: f32| 0.9780 * (-0.7515 + x * x) * gauss(x);
        Self {
            g2: [
                (zero_mean(taps(&g2_1)), taps(&gauss)),
                (taps(&g2_b), taps(&odd)),
                (taps(&gauss), zero_mean(taps(&g2_1))),
            ],
            h2: [
                (taps(&h2_a), taps(&gauss)),
                (taps(&h2_b), taps(&odd)),
                (taps(&odd), taps(&h2_b)),
                (taps(&gauss), taps(&h2_a)),
            ],
        }
    }

    /// Amplitude √(G2θ² + H2θ²) for each orientation.
    pub(crate) fn amplitudes(&self, image: &Plane) -> [Plane; 4] {
        let g: Vec<Plane> = self
            .g2
            .iter()
            .map(|(kx, ky)| separable(image, kx, ky))
            .collect();
        let h: Vec<Plane> = self
            .h2
            .iter()
            .map(|(kx, ky)| separable(image, kx, ky))
            .collect();
        ORIENTATIONS.map(|theta| {
            let (c, s) = (theta.cos(), theta.sin());
            let kg = [c * c, -2.0 * c * s, s * s];
            let kh = [c * c * c, -3.0 * c * c * s, 3.0 * c * s * s, -s * s * s];
            let data = (0..image.data.len())
                .map(|i| {
                    let even: f32 = kg.iter().zip(&g).map(|(k, p)| k * p.data[i]).sum();
                    let odd: f32 = kh.iter().zip(&h).map(|(k, p)| k * p.data[i]).sum();
                    (even * even + odd * odd).sqrt()
                })
                .collect();
            Plane {
                size: image.size,
                data,
            }
        })
    }
}

/// Resizes (shortest side `size`, PIL bicubic) and centre-crops to `size`×`size` R, G, B planes
/// in [0, 1].
pub(crate) fn rgb_planes(image: &Rgb8, size: usize) -> [Plane; 3] {
    let (w, h) = (u64::from(image.width), u64::from(image.height));
    let edge = size as u64;
    let (nw, nh) = if w <= h {
        (edge, (edge * h / w).max(edge))
    } else {
        ((edge * w / h).max(edge), edge)
    };
    let resized = resize_bicubic(image, nw as u32, nh as u32);
    let (left, top) = ((nw as usize - size) / 2, (nh as usize - size) / 2);
    std::array::from_fn(|c| Plane {
        size,
        data: (0..size * size)
            .map(|i| {
                let (x, y) = (i % size + left, i / size + top);
                f32::from(resized.pixels[(y * nw as usize + x) * 3 + c]) / 255.0
            })
            .collect(),
    })
}

/// Luminance L = 0.299R + 0.587G + 0.114B and the colour-opponent planes RG = R − G and
/// BY = B − (R + G)/2 of R, G, B planes: the built-in extractor's and both virtual front ends'.
pub(crate) fn luminance_and_opponents([r, g, b]: &[Plane; 3]) -> [Plane; 3] {
    let map = |f: &dyn Fn(usize) -> f32| Plane {
        size: r.size,
        data: (0..r.data.len()).map(f).collect(),
    };
    [
        map(&|i| 0.299 * r.data[i] + 0.587 * g.data[i] + 0.114 * b.data[i]),
        map(&|i| r.data[i] - g.data[i]),
        map(&|i| b.data[i] - 0.5 * (r.data[i] + g.data[i])),
    ]
}
