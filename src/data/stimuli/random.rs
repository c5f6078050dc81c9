//! Seeding: every image a pure function of `(seed, index, category)` through ChaCha8, and
//! the small random draws the painters share.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Stream tag of [`category_of`]'s permutations (kept apart from the image streams, which use
/// `category + 1` = 1..=7).
pub(super) const PERMUTATION_STREAM: u64 = 0x5045_524d_5554_4531;

/// SplitMix64's finaliser: a bijective 64-bit mixing function.
pub(super) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit seed from three words; every word changes every bit of the result.
pub(super) fn mix3(a: u64, b: u64, c: u64) -> u64 {
    splitmix(splitmix(splitmix(a) ^ b) ^ c)
}

pub(super) type Rng8 = ChaCha8Rng;

/// Uniform in `lo..hi` (also when `lo == hi`).
pub(super) fn u(rng: &mut Rng8, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut Rng8, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// ±1 with equal probability.
pub(super) fn sign(rng: &mut Rng8) -> f32 {
    if chance(rng, 0.5) { 1.0 } else { -1.0 }
}

/// One element of `items`, uniformly.
pub(super) fn pick<T: Copy>(rng: &mut Rng8, items: &[T]) -> T {
    items[rng.random_range(0..items.len() as u32) as usize]
}
