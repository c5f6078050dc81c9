//! The official NRF coordinate normalisation against the PyTorch reference fixture.

use glam::Vec3;
use nrf::space::{denormalise_mni, normalise_mni};

use crate::support::{data, read_npy_f32};

#[test]
fn normalisation_matches_the_official_fixture() {
    let (shape, mm) = read_npy_f32(&data("nrf-official/coords_mni_mm.npy"));
    let (shape_n, expected) = read_npy_f32(&data("nrf-official/coords_normalised.npy"));
    assert_eq!(shape, shape_n);
    assert_eq!(shape[1], 3);
    for (p, q) in mm.chunks_exact(3).zip(expected.chunks_exact(3)) {
        let got = normalise_mni(Vec3::from_slice(p));
        let want = Vec3::from_slice(q);
        assert!(
            (got - want).abs().max_element() <= 1e-6,
            "{p:?}: {got} vs {want}"
        );
        let back = denormalise_mni(want);
        assert!((back - Vec3::from_slice(p)).abs().max_element() <= 1e-4);
    }
}
