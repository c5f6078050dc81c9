// GPU self-test: out[i] = a * x[i] + y[i] for every element, the classic SAXPY.
// Used by `nrf gpu` and the GPU test harness to prove that an adapter really computes.

struct Params {
    a: f32,
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i < params.len) {
        out[i] = params.a * x[i] + y[i];
    }
}
