// One layer of the NRF's MLP over a chunk of points, workgroup-tiled: the tiled GPU query
// (`render/tiled_query.rs`) dispatches it once per layer, so it holds no per-model arrays and
// serves layers of any width and any number of layers.
//
//     output[p] = act(bias + Σ_k W_previous[k] · previous[p][k] + Σ_k W_encoding[k] · encoding[p][k])
//
// `previous` is the layer before's output (absent for the first layer), `encoding` the points'
// Fourier features (present for the first layer and the `latent_in` layers); the image's share of
// those layers (W_latent · latent) is folded into the bias on the host, once per image.
//
// Layout. Activations are Rgba32Float textures, texel (v, p) = values 4v..4v+3 of point p.
// Weights are one texture per block, texel (k, q) = the weights from input k to outputs
// 4q..4q+3. Inputs are padded to a multiple of STEP and outputs to TILE_QUADS quads, with zero
// weights and bias, so no bounds checks are needed. Textures, not storage buffers: a software
// rasteriser (lavapipe) runs a storage read at a non-uniform address one SIMD lane at a time
// but fetches texels as one gather (DESIGN.md).
//
// Tiling. A workgroup of 8 × 8 invocations computes TILE_POINTS points × TILE_QUADS output quads;
// each invocation 4 points × 1 quad (16 values in registers). Per step of STEP inputs the
// workgroup copies a [TILE_POINTS × STEP] tile of inputs and a [STEP × TILE_QUADS] tile of
// weights into workgroup memory (4 texel loads per invocation), then every invocation does
// STEP × 4 points vec4 multiply-adds from there: each loaded weight serves 32 points, each
// loaded input 32 outputs. Bias and ReLU are applied in the epilogue, before the single store.
// The step loop runs inputs / STEP times per block (256 for a 4096-wide layer), far below
// lavapipe's 65 535-iteration limit.

const TILE_POINTS: u32 = 32u;
const TILE_QUADS: u32 = 8u;
const STEP: u32 = 16u;

struct LayerParams {
    // Inputs of each block, multiples of STEP (0 when the block is absent).
    previous_inputs: u32,
    encoding_inputs: u32,
    // 1: ReLU on the outputs (every layer but the last).
    relu: u32,
    // This layer's first quad in `bias`.
    bias_offset: u32,
}

@group(0) @binding(0) var<uniform> layer: LayerParams;
@group(0) @binding(1) var previous: texture_2d<f32>;
@group(0) @binding(2) var encoding: texture_2d<f32>;
@group(0) @binding(3) var previous_weights: texture_2d<f32>;
@group(0) @binding(4) var encoding_weights: texture_2d<f32>;
// One vec4 per output quad of every layer (padded quads are zero), the image's share folded in:
// one uploaded model serves every image.
@group(0) @binding(5) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(6) var output: texture_storage_2d<rgba32float, write>;

// [TILE_POINTS][STEP / 4]: the tile's inputs, a vec4 per 4 inputs of a point.
var<workgroup> input_tile: array<vec4<f32>, 128>;
// [TILE_QUADS][STEP]: the tile's weights, a vec4 (4 outputs) per input of a quad.
var<workgroup> weight_tile: array<vec4<f32>, 128>;

struct Accumulators {
    p0: vec4<f32>,
    p1: vec4<f32>,
    p2: vec4<f32>,
    p3: vec4<f32>,
}

// One point's 4 inputs `x` times the weights of inputs `k`..`k+3` of this invocation's quad.
fn times(x: vec4<f32>, quad: u32, k: u32) -> vec4<f32> {
    let w = quad * STEP + k;
    return weight_tile[w] * x.x + weight_tile[w + 1u] * x.y + weight_tile[w + 2u] * x.z
        + weight_tile[w + 3u] * x.w;
}

// acc += the block `inputs` (count inputs) times `weights`, for this invocation's 4 points and
// quad. Called in uniform control flow: every invocation of the workgroup runs every step.
fn accumulate(
    acc_in: Accumulators,
    inputs: texture_2d<f32>,
    weights: texture_2d<f32>,
    count: u32,
    group: vec2<u32>,
    local: vec2<u32>,
    lane: u32,
) -> Accumulators {
    var acc = acc_in;
    let first_point = group.y * TILE_POINTS;
    let first_quad = group.x * TILE_QUADS;
    for (var k0 = 0u; k0 < count; k0 += STEP) {
        // 64 invocations load 128 input texels and 128 weight texels.
        for (var n = lane; n < 128u; n += 64u) {
            let p = n / (STEP / 4u);
            let v = n % (STEP / 4u);
            input_tile[n] = textureLoad(inputs, vec2<u32>(k0 / 4u + v, first_point + p), 0);
            let q = n / STEP;
            let k = n % STEP;
            weight_tile[n] = textureLoad(weights, vec2<u32>(k0 + k, first_quad + q), 0);
        }
        workgroupBarrier();
        let base = local.y * 4u * (STEP / 4u);
        for (var v = 0u; v < STEP / 4u; v++) {
            acc.p0 += times(input_tile[base + v], local.x, 4u * v);
            acc.p1 += times(input_tile[base + STEP / 4u + v], local.x, 4u * v);
            acc.p2 += times(input_tile[base + 2u * (STEP / 4u) + v], local.x, 4u * v);
            acc.p3 += times(input_tile[base + 3u * (STEP / 4u) + v], local.x, 4u * v);
        }
        workgroupBarrier();
    }
    return acc;
}

@compute @workgroup_size(8, 8)
fn main(
    @builtin(workgroup_id) group3: vec3<u32>,
    @builtin(local_invocation_id) local3: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let group = group3.xy;
    let local = local3.xy;
    let quad = group.x * TILE_QUADS + local.x;
    let b = bias[layer.bias_offset + quad];
    var acc = Accumulators(b, b, b, b);
    acc = accumulate(acc, previous, previous_weights, layer.previous_inputs, group, local, lane);
    acc = accumulate(acc, encoding, encoding_weights, layer.encoding_inputs, group, local, lane);
    if layer.relu == 1u {
        acc = Accumulators(max(acc.p0, vec4<f32>(0.0)), max(acc.p1, vec4<f32>(0.0)),
            max(acc.p2, vec4<f32>(0.0)), max(acc.p3, vec4<f32>(0.0)));
    }
    let point = group.y * TILE_POINTS + local.y * 4u;
    textureStore(output, vec2<u32>(quad, point), acc.p0);
    textureStore(output, vec2<u32>(quad, point + 1u), acc.p1);
    textureStore(output, vec2<u32>(quad, point + 2u), acc.p2);
    textureStore(output, vec2<u32>(quad, point + 3u), acc.p3);
}

// The same layer without workgroup memory: each invocation fetches its weight and input texels
// itself (8 inputs per step). On a software rasteriser, where a texel fetch is one vector gather
// and a workgroup barrier switches between the SIMD batches of the workgroup, this is the faster
// form (BENCHMARKS.md); on hardware the shared tiles cut texture traffic 8-fold.
fn accumulate_direct(
    acc_in: Accumulators,
    inputs: texture_2d<f32>,
    weights: texture_2d<f32>,
    count: u32,
    quad: u32,
    point: u32,
) -> Accumulators {
    var acc = acc_in;
    for (var k = 0u; k < count; k += 8u) {
        let w0 = textureLoad(weights, vec2<u32>(k, quad), 0);
        let w1 = textureLoad(weights, vec2<u32>(k + 1u, quad), 0);
        let w2 = textureLoad(weights, vec2<u32>(k + 2u, quad), 0);
        let w3 = textureLoad(weights, vec2<u32>(k + 3u, quad), 0);
        let w4 = textureLoad(weights, vec2<u32>(k + 4u, quad), 0);
        let w5 = textureLoad(weights, vec2<u32>(k + 5u, quad), 0);
        let w6 = textureLoad(weights, vec2<u32>(k + 6u, quad), 0);
        let w7 = textureLoad(weights, vec2<u32>(k + 7u, quad), 0);
        let v = k / 4u;
        var x = textureLoad(inputs, vec2<u32>(v, point), 0);
        var y = textureLoad(inputs, vec2<u32>(v + 1u, point), 0);
        acc.p0 += w0 * x.x + w1 * x.y + w2 * x.z + w3 * x.w + w4 * y.x + w5 * y.y + w6 * y.z + w7 * y.w;
        x = textureLoad(inputs, vec2<u32>(v, point + 1u), 0);
        y = textureLoad(inputs, vec2<u32>(v + 1u, point + 1u), 0);
        acc.p1 += w0 * x.x + w1 * x.y + w2 * x.z + w3 * x.w + w4 * y.x + w5 * y.y + w6 * y.z + w7 * y.w;
        x = textureLoad(inputs, vec2<u32>(v, point + 2u), 0);
        y = textureLoad(inputs, vec2<u32>(v + 1u, point + 2u), 0);
        acc.p2 += w0 * x.x + w1 * x.y + w2 * x.z + w3 * x.w + w4 * y.x + w5 * y.y + w6 * y.z + w7 * y.w;
        x = textureLoad(inputs, vec2<u32>(v, point + 3u), 0);
        y = textureLoad(inputs, vec2<u32>(v + 1u, point + 3u), 0);
        acc.p3 += w0 * x.x + w1 * x.y + w2 * x.z + w3 * x.w + w4 * y.x + w5 * y.y + w6 * y.z + w7 * y.w;
    }
    return acc;
}

@compute @workgroup_size(8, 8)
fn direct(
    @builtin(workgroup_id) group3: vec3<u32>,
    @builtin(local_invocation_id) local3: vec3<u32>,
) {
    let quad = group3.x * TILE_QUADS + local3.x;
    let point = group3.y * TILE_POINTS + local3.y * 4u;
    let b = bias[layer.bias_offset + quad];
    var acc = Accumulators(b, b, b, b);
    acc = accumulate_direct(acc, previous, previous_weights, layer.previous_inputs, quad, point);
    acc = accumulate_direct(acc, encoding, encoding_weights, layer.encoding_inputs, quad, point);
    if layer.relu == 1u {
        acc = Accumulators(max(acc.p0, vec4<f32>(0.0)), max(acc.p1, vec4<f32>(0.0)),
            max(acc.p2, vec4<f32>(0.0)), max(acc.p3, vec4<f32>(0.0)));
    }
    textureStore(output, vec2<u32>(quad, point), acc.p0);
    textureStore(output, vec2<u32>(quad, point + 1u), acc.p1);
    textureStore(output, vec2<u32>(quad, point + 2u), acc.p2);
    textureStore(output, vec2<u32>(quad, point + 3u), acc.p3);
}
