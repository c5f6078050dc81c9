// The fused NRF query: one invocation evaluates the whole MLP for one point — Fourier features,
// every layer, ReLU — with the image's share of the first layer (W_latent · latent + b)
// precomputed on the host, weights in one storage buffer (each layer transposed to [out][in] so
// an output's weights are contiguous), and the activations kept in the invocation's private
// memory (registers or on-chip scratch) instead of round trips through global memory.
//
// Inner products run 32 values per loop iteration (eight vec4 products; rows and activations
// are zero-padded to multiples of 32). Besides being faster, this keeps every loop far below
// 65 535 iterations per invocation, the limit at which Mesa's software rasteriser (lavapipe)
// silently ends a loop — it counts a loop's iterations over the whole invocation, and a 256 × 256
// layer of scalar steps crossed it. (`FusedQuery::new` refuses models that would cross it there.)
//
// Points come either from a list (`mode` 0: normalised xyz in `points`) or from a grid (`mode` 1:
// voxel → world affine in `grid_*`, a per-voxel inside mask in `points`' x components). Grid mode
// also writes (value × inside, inside) packed as two f16 for the 3D view's overlay texture.

const MAX_WIDTH: u32 = 512u;
const MAX_VEC4: u32 = 128u;

struct Layer {
    // Offsets in vec4s into `weights`: the previous output's block (rows of `previous_stride`
    // floats) and the encoding's block (rows of `encoding_stride` floats); the bias/share vector's
    // offset in floats.
    previous_offset: u32,
    encoding_offset: u32,
    bias_offset: u32,
    // Padded row lengths (multiples of 32 floats; 0 when the block does not apply).
    previous_stride: u32,
    encoding_stride: u32,
    // Outputs.
    out: u32,
    _pad: u32,
}

struct Params {
    // x: points, y: frequencies F, z: layers, w: mode (0 list, 1 grid)
    counts: vec4<u32>,
    // Grid mode: dims (xyz) and, when non-zero, the packed output's row length (w)
    grid_dims: vec4<u32>,
    // Grid mode: world = origin + i·col0 + j·col1 + k·col2 (mm)
    grid_origin: vec4<f32>,
    grid_col0: vec4<f32>,
    grid_col1: vec4<f32>,
    grid_col2: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> layers: array<Layer>;
@group(0) @binding(2) var<storage, read> weights: array<vec4<f32>>;
// [3, F] row-major
@group(0) @binding(3) var<storage, read> fourier_b: array<f32>;
@group(0) @binding(4) var<storage, read> points: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> values: array<f32>;
@group(0) @binding(6) var<storage, read_write> packed: array<u32>;

var<private> gamma: array<vec4<f32>, MAX_VEC4>;
var<private> x: array<vec4<f32>, MAX_VEC4>;
var<private> h: array<vec4<f32>, MAX_VEC4>;

fn normalise(mm: vec3<f32>) -> vec3<f32> {
    return (mm + vec3<f32>(92.0, 126.0, 72.0)) / vec3<f32>(182.0, 218.0, 182.0);
}

// Σ input[k]·weights[row + k] over `stride` floats (a multiple of 32), `row` in vec4s. One
// function per input array on purpose: lavapipe's iteration limit counts per loop, so two loops
// allow twice the work of one shared loop.
fn dot_gamma(row: u32, stride: u32) -> f32 {
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < stride / 4u; k += 8u) {
        acc += gamma[k] * weights[row + k] + gamma[k + 1u] * weights[row + k + 1u]
            + gamma[k + 2u] * weights[row + k + 2u] + gamma[k + 3u] * weights[row + k + 3u]
            + gamma[k + 4u] * weights[row + k + 4u] + gamma[k + 5u] * weights[row + k + 5u]
            + gamma[k + 6u] * weights[row + k + 6u] + gamma[k + 7u] * weights[row + k + 7u];
    }
    return acc.x + acc.y + acc.z + acc.w;
}

fn dot_x(row: u32, stride: u32) -> f32 {
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < stride / 4u; k += 8u) {
        acc += x[k] * weights[row + k] + x[k + 1u] * weights[row + k + 1u]
            + x[k + 2u] * weights[row + k + 2u] + x[k + 3u] * weights[row + k + 3u]
            + x[k + 4u] * weights[row + k + 4u] + x[k + 5u] * weights[row + k + 5u]
            + x[k + 6u] * weights[row + k + 6u] + x[k + 7u] * weights[row + k + 7u];
    }
    return acc.x + acc.y + acc.z + acc.w;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let index = id.x + id.y * 65535u * 64u;
    if index >= params.counts.x {
        return;
    }
    var p: vec3<f32>;
    var inside = 1.0;
    if params.counts.w == 1u {
        let dims = params.grid_dims.xyz;
        let i = index % dims.x;
        let j = (index / dims.x) % dims.y;
        let k = index / (dims.x * dims.y);
        let world = params.grid_origin.xyz + f32(i) * params.grid_col0.xyz
            + f32(j) * params.grid_col1.xyz + f32(k) * params.grid_col2.xyz;
        p = normalise(world);
        inside = points[index / 4u][index % 4u];
    } else {
        p = points[index].xyz;
    }

    let f = params.counts.y;
    // Zero the encoding's padding up to the next 32 values (the inner step).
    for (var k = 0u; k < (2u * f + 31u) / 32u * 8u; k++) {
        gamma[k] = vec4<f32>(0.0);
    }
    for (var k = 0u; k < f; k++) {
        let projected = p.x * fourier_b[k] + p.y * fourier_b[f + k] + p.z * fourier_b[2u * f + k];
        gamma[k / 4u][k % 4u] = sin(projected);
        gamma[(f + k) / 4u][(f + k) % 4u] = cos(projected);
    }

    var result = 0.0;
    if inside > 0.5 {
        let count = params.counts.z;
        for (var l = 0u; l < count; l++) {
            let layer = layers[l];
            for (var o = 0u; o < layer.out; o++) {
                var acc = weights[(layer.bias_offset + o) / 4u][(layer.bias_offset + o) % 4u];
                if layer.encoding_stride > 0u {
                    acc += dot_gamma(layer.encoding_offset + o * layer.encoding_stride / 4u, layer.encoding_stride);
                }
                if layer.previous_stride > 0u {
                    acc += dot_x(layer.previous_offset + o * layer.previous_stride / 4u, layer.previous_stride);
                }
                h[o / 4u][o % 4u] = select(acc, max(acc, 0.0), l + 1u < count);
            }
            // The next layer reads x up to its padded stride (a multiple of 32): copy the outputs
            // and zero the rest of that span.
            let span = (layer.out + 31u) / 32u * 8u;
            for (var k = 0u; k < span; k++) {
                x[k] = select(vec4<f32>(0.0), h[k], k * 4u < layer.out);
            }
            for (var o = layer.out; o < (layer.out + 3u) / 4u * 4u; o++) {
                x[o / 4u][o % 4u] = 0.0;
            }
        }
        result = x[0].x;
    }
    if params.counts.w == 1u {
        // Rows may be padded (grid_dims.w values per row) so the buffer copies into a texture.
        let dims = params.grid_dims.xyz;
        let row = select(dims.x, params.grid_dims.w, params.grid_dims.w > 0u);
        let i = index % dims.x;
        let j = (index / dims.x) % dims.y;
        let k = index / (dims.x * dims.y);
        packed[(k * dims.y + j) * row + i] = pack2x16float(vec2<f32>(result * inside, inside));
    } else {
        values[index] = result;
    }
}
