//! The GPU harness at work: a real compute shader on whatever adapter exists.

use crate::support::gpu_or_skip;

#[test]
fn compute_shader_runs_saxpy_exactly() {
    let Some(gpu) = gpu_or_skip("compute_shader_runs_saxpy_exactly") else {
        return;
    };
    // Small known computation, read back and checked element by element.
    let x = [1.0f32, 2.0, 3.0, 4.0, -5.5];
    let y = [10.0f32, 20.0, 30.0, 40.0, 0.25];
    let out = gpu.saxpy(2.0, &x, &y).expect("saxpy");
    assert_eq!(out, vec![12.0, 24.0, 36.0, 48.0, -10.75]);
    // And a larger one spanning many workgroups, including a partial last one.
    gpu.self_test(100_003).expect("self-test");
}
