// The fused NRF query: one invocation evaluates the whole MLP — Fourier features, every layer,
// ReLU — for a tile of POINTS points, with the image's share of the first layer
// (W_latent · latent + b) precomputed on the host and folded into the bias.
//
// Register tiling. Each step of the inner loop reads the weights of 4 outputs at 8 inputs
// (8 texels) and the 8 inputs of each of the tile's points, then does 4 × 8 × POINTS
// multiply-adds: every weight read serves POINTS points and every input read serves 4 outputs,
// where a point-per-invocation kernel reads one weight per multiply-add. The accumulators
// (POINTS vec4s, one output quad per point) stay in registers; the activations live in the
// invocation's private arrays.
//
// Weights come from a texture, not a storage buffer: a software rasteriser (Mesa's llvmpipe /
// lavapipe) runs a storage-buffer read whose address it cannot prove uniform as a loop over the
// SIMD lanes, but fetches texels as one vector gather. Texel (k, row) holds
// the weights from input k to four consecutive outputs; each layer's block of inputs takes
// out/4 rows (see `fused_query.rs` for the table). Biases come from a storage buffer of their own
// (one vec4 per output quad), so one uploaded model serves every image: only the biases of the
// layers that take the input change with the image.
//
// The inner loop is unrolled by 8 inputs, which also keeps it far below 65 535 iterations per
// invocation, the limit at which lavapipe silently ends a loop (it counts a loop's iterations over
// the whole invocation; `FusedQuery::new` refuses models that would cross it).
//
// Points come either from a list (`mode` 0: normalised xyz in `points`) or from a grid (`mode` 1:
// voxel → world affine in `grid_*`, a per-voxel inside mask in `points`' x components). Grid mode
// also writes (value × inside, inside) packed as two f16 for the 3D view's overlay texture; so
// does `mode` 2, a list whose points each carry their word of the packed grid in w (the inside
// voxels of a grid, dispatched a chunk at a time).

// Points per invocation (the tile); the host dispatches count / POINTS invocations.
const POINTS: u32 = 4u;
// Widest layer or encoding of the model, in vec4s (a multiple of 2). The host rewrites this
// line for each model (`fused_query::specialised_source`): the arrays below are sized from it,
// and lavapipe's compile time grows steeply with their size — a kernel sized for 512-wide layers
// takes minutes to compile there, one sized for the embedded 128-wide models seconds.
const MAX_VEC4: u32 = 128u;

struct Layer {
    // First texture row of the encoding block and of the previous-output block (rows of 4
    // outputs), and the layer's first quad in `biases`.
    encoding_row: u32,
    previous_row: u32,
    bias_offset: u32,
    // Inputs of each block, padded to a multiple of 8 (0 when the block does not apply).
    encoding_inputs: u32,
    previous_inputs: u32,
    // Outputs.
    out: u32,
    _pad0: u32,
    _pad1: u32,
}

struct Params {
    // x: points, y: frequencies F, z: layers, w: mode (0 list, 1 grid, 2 scattered list)
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
@group(0) @binding(2) var weights: texture_2d<f32>;
// [3, F] row-major
@group(0) @binding(3) var<storage, read> fourier_b: array<f32>;
@group(0) @binding(4) var<storage, read> points: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> values: array<f32>;
@group(0) @binding(6) var<storage, read_write> packed: array<u32>;
// One vec4 per output quad of every layer (the image's share folded in).
@group(0) @binding(7) var<storage, read> biases: array<vec4<f32>>;

// [POINTS][MAX_VEC4] each: the Fourier encoding, the previous layer's outputs, this layer's.
var<private> encoding: array<vec4<f32>, POINTS * MAX_VEC4>;
var<private> inputs: array<vec4<f32>, POINTS * MAX_VEC4>;
var<private> outputs: array<vec4<f32>, POINTS * MAX_VEC4>;

fn normalise(mm: vec3<f32>) -> vec3<f32> {
    return (mm + vec3<f32>(92.0, 126.0, 72.0)) / vec3<f32>(182.0, 218.0, 182.0);
}

// One point's 8 inputs (two vec4s `a`, `b`) times the 8 weight texels `w*` of an output quad.
fn step8(
    a: vec4<f32>, b: vec4<f32>,
    w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>,
    w4: vec4<f32>, w5: vec4<f32>, w6: vec4<f32>, w7: vec4<f32>,
) -> vec4<f32> {
    return w0 * a.x + w1 * a.y + w2 * a.z + w3 * a.w + w4 * b.x + w5 * b.y + w6 * b.z + w7 * b.w;
}

struct Tile {
    acc0: vec4<f32>,
    acc1: vec4<f32>,
    acc2: vec4<f32>,
    acc3: vec4<f32>,
}

// tile += Σ_k W[k][quad] · x[p][k] over `count` inputs (a multiple of 8) of `x` (the encoding or
// the previous layer's outputs), weights from texture row `row`.
fn accumulate(tile: Tile, x: ptr<private, array<vec4<f32>, POINTS * MAX_VEC4>>, row: u32, count: u32) -> Tile {
    var t = tile;
    for (var k = 0u; k < count; k += 8u) {
        let w0 = textureLoad(weights, vec2<u32>(k, row), 0);
        let w1 = textureLoad(weights, vec2<u32>(k + 1u, row), 0);
        let w2 = textureLoad(weights, vec2<u32>(k + 2u, row), 0);
        let w3 = textureLoad(weights, vec2<u32>(k + 3u, row), 0);
        let w4 = textureLoad(weights, vec2<u32>(k + 4u, row), 0);
        let w5 = textureLoad(weights, vec2<u32>(k + 5u, row), 0);
        let w6 = textureLoad(weights, vec2<u32>(k + 6u, row), 0);
        let w7 = textureLoad(weights, vec2<u32>(k + 7u, row), 0);
        let v = k / 4u;
        t.acc0 += step8((*x)[v], (*x)[v + 1u], w0, w1, w2, w3, w4, w5, w6, w7);
        t.acc1 += step8((*x)[MAX_VEC4 + v], (*x)[MAX_VEC4 + v + 1u], w0, w1, w2, w3, w4, w5, w6, w7);
        t.acc2 += step8((*x)[2u * MAX_VEC4 + v], (*x)[2u * MAX_VEC4 + v + 1u], w0, w1, w2, w3, w4, w5, w6, w7);
        t.acc3 += step8((*x)[3u * MAX_VEC4 + v], (*x)[3u * MAX_VEC4 + v + 1u], w0, w1, w2, w3, w4, w5, w6, w7);
    }
    return t;
}

// Voxel (i, j, k) of the grid for a flat index.
fn grid_voxel(index: u32) -> vec3<u32> {
    let dims = params.grid_dims.xyz;
    return vec3<u32>(index % dims.x, (index / dims.x) % dims.y, index / (dims.x * dims.y));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let first = (id.x + id.y * 65535u * 64u) * POINTS;
    let count = params.counts.x;
    if first >= count {
        return;
    }
    let f = params.counts.y;
    let grid = params.counts.w == 1u;

    // The tile's points (normalised) and whether each is to be computed.
    var inside = vec4<f32>(0.0);
    for (var p = 0u; p < POINTS; p++) {
        let index = first + p;
        var xyz = vec3<f32>(0.0);
        if index < count {
            if grid {
                let voxel = vec3<f32>(grid_voxel(index));
                let world = params.grid_origin.xyz + voxel.x * params.grid_col0.xyz
                    + voxel.y * params.grid_col1.xyz + voxel.z * params.grid_col2.xyz;
                xyz = normalise(world);
                inside[p] = points[index / 4u][index % 4u];
            } else {
                xyz = points[index].xyz;
                inside[p] = 1.0;
            }
        }
        // γ(p) = [sin(pB), cos(pB)] (no 2π, as in the official code), zero-padded to 8 values.
        let base = p * MAX_VEC4;
        for (var k = 0u; k < (2u * f + 7u) / 8u * 2u; k++) {
            encoding[base + k] = vec4<f32>(0.0);
        }
        for (var k = 0u; k < f; k++) {
            let projected = xyz.x * fourier_b[k] + xyz.y * fourier_b[f + k] + xyz.z * fourier_b[2u * f + k];
            encoding[base + k / 4u][k % 4u] = sin(projected);
            encoding[base + (f + k) / 4u][(f + k) % 4u] = cos(projected);
        }
    }

    if any(inside > vec4<f32>(0.5)) {
        let layer_count = params.counts.z;
        for (var l = 0u; l < layer_count; l++) {
            let layer = layers[l];
            let quads = (layer.out + 3u) / 4u;
            for (var q = 0u; q < quads; q++) {
                let bias = biases[layer.bias_offset + q];
                var tile = Tile(bias, bias, bias, bias);
                if layer.encoding_inputs > 0u {
                    tile = accumulate(tile, &encoding, layer.encoding_row + q, layer.encoding_inputs);
                }
                if layer.previous_inputs > 0u {
                    tile = accumulate(tile, &inputs, layer.previous_row + q, layer.previous_inputs);
                }
                if l + 1u < layer_count {
                    tile = Tile(max(tile.acc0, vec4<f32>(0.0)), max(tile.acc1, vec4<f32>(0.0)),
                        max(tile.acc2, vec4<f32>(0.0)), max(tile.acc3, vec4<f32>(0.0)));
                }
                outputs[q] = tile.acc0;
                outputs[MAX_VEC4 + q] = tile.acc1;
                outputs[2u * MAX_VEC4 + q] = tile.acc2;
                outputs[3u * MAX_VEC4 + q] = tile.acc3;
            }
            // The next layer reads its inputs up to a multiple of 8: copy the outputs and zero
            // the padding (the outputs' own padding within the last quad is already zero: its
            // weights and bias are).
            let span = (layer.out + 7u) / 8u * 2u;
            for (var p = 0u; p < POINTS; p++) {
                for (var v = 0u; v < span; v++) {
                    inputs[p * MAX_VEC4 + v] = select(vec4<f32>(0.0), outputs[p * MAX_VEC4 + v], v < quads);
                }
            }
        }
    }

    let row = select(params.grid_dims.x, params.grid_dims.w, params.grid_dims.w > 0u);
    for (var p = 0u; p < POINTS; p++) {
        let index = first + p;
        if index >= count {
            break;
        }
        let result = select(0.0, inputs[p * MAX_VEC4].x, inside[p] > 0.5);
        if grid {
            // Rows may be padded (grid_dims.w values per row) so the buffer copies into a texture.
            let v = grid_voxel(index);
            let dims = params.grid_dims.xyz;
            packed[(v.z * dims.y + v.y) * row + v.x] = pack2x16float(vec2<f32>(result * inside[p], inside[p]));
        } else {
            values[index] = result;
            if params.counts.w == 2u {
                packed[bitcast<u32>(points[index].w)] = pack2x16float(vec2<f32>(result, 1.0));
            }
        }
    }
}
