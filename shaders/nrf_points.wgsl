// The two ends of the tiled GPU query (`render/tiled_query.rs`, layers in `nrf_layer.wgsl`):
// `encode` turns a chunk of points into their Fourier features, `finish` takes the last layer's
// value of each point to a list of values and, for a grid, into the 3D view's packed overlay.

struct Chunk {
    // Points in this chunk.
    count: u32,
    // Fourier frequencies F.
    frequencies: u32,
    // Where this chunk's first value goes in `values` / `targets`.
    offset: u32,
    // 1: also write (value, 1) as two f16 into `packed[targets[offset + p]]`.
    grid: u32,
}

@group(0) @binding(0) var<uniform> chunk: Chunk;

// encode ---------------------------------------------------------------------------------------

// Normalised xyz of every point of the query (w unused).
@group(0) @binding(1) var<storage, read> points: array<vec4<f32>>;
// B, [3, F] row-major.
@group(0) @binding(2) var<storage, read> fourier_b: array<f32>;
// Texel (v, p): values 4v..4v+3 of γ(p) = [sin(pB), cos(pB)] (no 2π, as in the official code),
// zero past 2F.
@group(0) @binding(3) var encoding: texture_storage_2d<rgba32float, write>;

fn feature(xyz: vec3<f32>, n: u32) -> f32 {
    let f = chunk.frequencies;
    if n >= 2u * f {
        return 0.0;
    }
    let k = n % f;
    let projected = xyz.x * fourier_b[k] + xyz.y * fourier_b[f + k] + xyz.z * fourier_b[2u * f + k];
    return select(sin(projected), cos(projected), n >= f);
}

// x: texel of the encoding, y: point of the chunk (the dispatch covers the encoding texture).
@compute @workgroup_size(8, 8)
fn encode(@builtin(global_invocation_id) id: vec3<u32>) {
    let v = id.x;
    let p = id.y;
    if v >= textureDimensions(encoding).x || p >= textureDimensions(encoding).y {
        return;
    }
    var xyz = vec3<f32>(0.0);
    if p < chunk.count {
        xyz = points[chunk.offset + p].xyz;
    }
    let n = 4u * v;
    textureStore(encoding, vec2<u32>(v, p),
        vec4<f32>(feature(xyz, n), feature(xyz, n + 1u), feature(xyz, n + 2u), feature(xyz, n + 3u)));
}

// finish ---------------------------------------------------------------------------------------

// The last layer's outputs: the value is the x of texel (0, p).
@group(0) @binding(4) var last: texture_2d<f32>;
@group(0) @binding(5) var<storage, read_write> values: array<f32>;
// Grid queries: the packed word each point goes to, and the packed overlay (rows padded for a
// copy into a texture; words no point writes stay (0, 0): outside).
@group(0) @binding(6) var<storage, read> targets: array<u32>;
@group(0) @binding(7) var<storage, read_write> packed: array<u32>;

@compute @workgroup_size(64)
fn finish(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if p >= chunk.count {
        return;
    }
    let value = textureLoad(last, vec2<u32>(0u, p), 0).x;
    values[chunk.offset + p] = value;
    if chunk.grid == 1u {
        packed[targets[chunk.offset + p]] = pack2x16float(vec2<f32>(value, 1.0));
    }
}
