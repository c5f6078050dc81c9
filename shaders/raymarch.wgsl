// Front-to-back ray marching of the MNI template (shaded grey anatomy) with an NRF prediction as
// a coloured overlay. One full-screen triangle; each fragment marches its own ray in world (MNI
// mm) space.
//
// - opacity correction: per-sample alpha is 1 - (1 - a)^(step / reference step);
// - jittered ray starts (a per-pixel hash) against banding;
// - early termination once the accumulated alpha passes 0.97;
// - empty-space skipping: a coarse occupancy texture (blocks of 4 voxels, marked where anything
//   visible lies within one voxel of the block) holds each empty block's Chebyshev distance to
//   the nearest marked one, so a ray crosses a run of empty blocks in one step; its second
//   channel marks the blocks the overlay reaches, and only there is the overlay sampled;
// - gradient (Lambert + a little specular) lighting of the anatomy, from normals precomputed per
//   voxel and packed with the grey level in one RGBA texel (one fetch per sample);
// - the overlay fades with depth below the first surface hit (overlay_depth_mm), so deep blobs
//   fade unless the view cuts to them;
// - mode 1 is a maximum-intensity projection of |overlay| over the shaded anatomy;
// - up to three clip planes (world n·p > d is cut away).

struct Params {
    inv_view_proj: mat4x4<f32>,
    world_to_anatomy: mat4x4<f32>,
    world_to_overlay: mat4x4<f32>,
    // xyz: camera position (mm); w: step (mm)
    camera: vec4<f32>,
    // xyz: lower corner of the marched box (mm); w: jitter seed
    box_min: vec4<f32>,
    // xyz: upper corner (mm); w: overlay depth (mm)
    box_max: vec4<f32>,
    // xyz: direction towards the light; w: ambient term
    light: vec4<f32>,
    // x: lookup-table limit (values -x..x); y: mode (0 shaded, 1 MIP); z: overlay present;
    // w: anatomy present
    overlay: vec4<f32>,
    clip: array<vec4<f32>, 3>,
    // x, y: viewport size (px); z: maximum steps; w: gradient offset (anatomy texels)
    viewport: vec4<f32>,
    // rgb: background; a: anatomy opacity scale
    background: vec4<f32>,
    // x: occupancy block edge (anatomy voxels); y: anatomy voxel edge (mm); zw: unused
    occupancy: vec4<f32>,
    // xy: the view's top-left corner in framebuffer pixels (non-zero inside a UI)
    origin: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var anatomy: texture_3d<f32>;
@group(0) @binding(2) var overlay_values: texture_3d<f32>;
@group(0) @binding(3) var lut: texture_2d<f32>;
@group(0) @binding(4) var linear_sampler: sampler;
@group(0) @binding(5) var occupancy: texture_3d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    // A triangle covering the viewport.
    let x = f32(i32(index & 1u) * 4 - 1);
    let y = f32(i32(index >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn hash(p: vec2<f32>) -> f32 {
    let q = fract(p * vec2<f32>(0.1031, 0.1030));
    let r = q + dot(q, q.yx + 33.33);
    return fract((r.x + r.y) * r.x);
}

// The anatomy texel at a world point: rgb = outward normal packed as n·½ + ½, a = grey level.
fn anatomy_at(world: vec3<f32>) -> vec4<f32> {
    let t = (params.world_to_anatomy * vec4<f32>(world, 1.0)).xyz;
    return textureSampleLevel(anatomy, linear_sampler, t, 0.0);
}

// (value, inside) of the overlay at a world point; inside < 0.5 means no prediction there.
fn overlay_at(world: vec3<f32>) -> vec2<f32> {
    let t = (params.world_to_overlay * vec4<f32>(world, 1.0)).xyz;
    if any(t < vec3<f32>(0.0)) || any(t > vec3<f32>(1.0)) {
        return vec2<f32>(0.0, 0.0);
    }
    let s = textureSampleLevel(overlay_values, linear_sampler, t, 0.0).rg;
    // Stored premultiplied by the inside weight, so interpolation never mixes in outside zeros.
    return vec2<f32>(s.r / max(s.g, 1e-4), s.g);
}

fn overlay_colour(value: f32) -> vec4<f32> {
    let limit = params.overlay.x;
    let u = clamp(value / limit * 0.5 + 0.5, 0.0, 1.0);
    let width = f32(textureDimensions(lut).x);
    let texel = (u * (width - 1.0) + 0.5) / width;
    return textureSampleLevel(lut, linear_sampler, vec2<f32>(texel, 0.5), 0.0);
}

fn clipped(p: vec3<f32>) -> bool {
    for (var k = 0; k < 3; k++) {
        let plane = params.clip[k];
        if dot(plane.xyz, p) > plane.w && any(plane.xyz != vec3<f32>(0.0)) {
            return true;
        }
    }
    return false;
}

// The occupancy block at `world`: x is the distance (mm) along the ray to where it leaves the
// empty blocks around it, or 0 when its block holds something to see; y > 0 when the overlay
// reaches into the block. The texture's r is the block's Chebyshev distance (in blocks, /255) to
// the nearest block with something to see: a ray may cross the cube of blocks within d − 1 of
// its own in one step.
fn block_at(world: vec3<f32>, dir: vec3<f32>) -> vec2<f32> {
    let dims = vec3<f32>(textureDimensions(anatomy));
    let u = (params.world_to_anatomy * vec4<f32>(world, 1.0)).xyz * dims; // voxel units
    let block = params.occupancy.x;
    let j = floor(u / block);
    let blocks = vec3<f32>(textureDimensions(occupancy));
    var d = 1.0;
    if all(j >= vec3<f32>(0.0)) && all(j < blocks) {
        let texel = textureLoad(occupancy, vec3<i32>(j), 0);
        d = round(texel.r * 255.0);
        if d < 0.5 {
            return vec2<f32>(0.0, texel.g);
        }
    }
    // Leave the cube: per axis, the distance to the face the ray heads for.
    let du = dir / params.occupancy.y; // voxels per mm along the ray
    let upper = j + vec3<f32>(d);
    let lower = j - vec3<f32>(d - 1.0);
    let face = select(lower, upper, du > vec3<f32>(0.0)) * block;
    let moving = abs(du) >= vec3<f32>(1e-6);
    // Axes the ray does not move along never end the run.
    let run = select(vec3<f32>(1e9), (face - u) / select(vec3<f32>(1.0), du, moving), moving);
    let exit = min(min(run.x, run.y), run.z);
    return vec2<f32>(max(exit, 0.0) + 0.01, 0.0);
}

@fragment
fn fs_main(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let local = frag.xy - params.origin.xy;
    let ndc = vec2<f32>(
        local.x / params.viewport.x * 2.0 - 1.0,
        1.0 - local.y / params.viewport.y * 2.0,
    );
    let near = params.inv_view_proj * vec4<f32>(ndc, 0.0, 1.0);
    let far = params.inv_view_proj * vec4<f32>(ndc, 1.0, 1.0);
    let origin = near.xyz / near.w;
    let dir = normalize(far.xyz / far.w - origin);

    // Slab intersection with the marched box.
    let inv = 1.0 / dir;
    let t0 = (params.box_min.xyz - origin) * inv;
    let t1 = (params.box_max.xyz - origin) * inv;
    let t_enter = max(max(min(t0.x, t1.x), min(t0.y, t1.y)), max(min(t0.z, t1.z), 0.0));
    let t_exit = min(min(max(t0.x, t1.x), max(t0.y, t1.y)), max(t0.z, t1.z));
    let background = vec4<f32>(params.background.rgb, 1.0);
    if t_exit <= t_enter {
        return background;
    }

    let step = params.camera.w;
    let reference_step = 1.0;
    let depth_scale = params.box_max.w;
    let mip = params.overlay.y > 0.5;
    let has_overlay = params.overlay.z > 0.5;
    let has_anatomy = params.overlay.w > 0.5;
    let view = -dir;
    let light = normalize(params.light.xyz);

    var colour = vec3<f32>(0.0);
    var alpha = 0.0;
    var t = t_enter + hash(local + params.box_min.w) * step;
    var surface_t = -1.0;
    var mip_value = 0.0;
    var mip_found = false;
    let max_steps = i32(params.viewport.z);
    for (var i = 0; i < max_steps; i++) {
        if t > t_exit || (alpha >= 0.97 && !mip) {
            break;
        }
        let p = origin + dir * t;
        let block = block_at(p, dir);
        if block.x > 0.0 {
            t += block.x;
            continue;
        }
        if clipped(p) {
            t += step;
            continue;
        }
        var sample_alpha = 0.0;
        var sample_colour = vec3<f32>(0.0);
        if has_anatomy {
            let texel = anatomy_at(p);
            let a = texel.a;
            let opacity = smoothstep(0.08, 0.45, a) * params.background.a;
            if opacity > 0.002 {
                if surface_t < 0.0 {
                    surface_t = t;
                }
                let packed = texel.rgb * 2.0 - 1.0;
                let n = select(vec3<f32>(0.0), normalize(packed), dot(packed, packed) > 1e-6);
                let diffuse = max(dot(n, light), 0.0);
                let half_vector = normalize(light + view);
                // pow(x, 24) by squaring (cheaper than exp2 · log2 on a software rasteriser).
                let x2 = max(dot(n, half_vector), 0.0) * max(dot(n, half_vector), 0.0);
                let x8 = x2 * x2 * x2 * x2;
                let specular = x8 * x8 * x8 * 0.25;
                let grey = 0.35 + 0.6 * a;
                sample_colour = vec3<f32>(grey) * (params.light.w + (1.0 - params.light.w) * diffuse)
                    + vec3<f32>(specular);
                sample_alpha = 1.0 - pow(1.0 - min(opacity, 0.999), step / reference_step);
            }
        }
        if has_overlay && block.y > 0.0 {
            let o = overlay_at(p);
            if o.y > 0.5 {
                if mip {
                    if abs(o.x) > abs(mip_value) || !mip_found {
                        mip_value = o.x;
                        mip_found = true;
                    }
                } else {
                    let c = overlay_colour(o.x);
                    if c.a > 0.0 {
                        if surface_t < 0.0 {
                            surface_t = t;
                        }
                        let depth = t - surface_t;
                        let w = c.a * exp(-depth / max(depth_scale, 0.1));
                        sample_colour = mix(sample_colour, c.rgb, w);
                        let overlay_alpha = 1.0 - pow(1.0 - min(w * 0.6, 0.999), step / reference_step);
                        sample_alpha = max(sample_alpha, overlay_alpha);
                    }
                }
            }
        }
        // MIP keeps marching through an opaque surface to see the whole volume; the anatomy's
        // composite stops there.
        if alpha < 0.97 {
            colour += (1.0 - alpha) * sample_alpha * sample_colour;
            alpha += (1.0 - alpha) * sample_alpha;
        }
        t += step;
    }
    var out = colour + (1.0 - alpha) * params.background.rgb;
    if mip && mip_found {
        let c = overlay_colour(mip_value);
        out = mix(out * 0.6, c.rgb, c.a);
    }
    return vec4<f32>(out, 1.0);
}
