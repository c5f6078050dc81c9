//! The 3D view: a wgpu ray marcher (`shaders/raymarch.wgsl`) over the brain-masked MNI template
//! with an NRF prediction volume as a coloured overlay. [`VolumeRenderer`] owns the pipeline and
//! the volume textures; it draws into any render pass (an egui paint callback or an offscreen
//! texture) and [`VolumeRenderer::render_offscreen`] reads an image back.

use glam::{DVec3, Mat4, Vec3, Vec4};
use image::RgbaImage;
use wgpu::util::DeviceExt;

use super::RenderError;
use super::colormap::OverlayStyle;
use crate::space::Grid;
use crate::volume::{Mask, Volume};

/// An orbiting camera around a target point (MNI mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// The point looked at.
    pub target: Vec3,
    /// Angle around the vertical axis, degrees: 0 looks from behind (posterior), 90 from the
    /// right, −90 from the left.
    pub azimuth_deg: f32,
    /// Angle above the horizontal, degrees.
    pub elevation_deg: f32,
    /// Distance from the target, mm.
    pub distance_mm: f32,
    /// Vertical field of view, degrees.
    pub fov_deg: f32,
}

impl Default for Camera {
    /// The left hemisphere from behind and above: the visual cortex in view.
    fn default() -> Self {
        Self {
            target: Vec3::new(0.0, -18.0, 10.0),
            azimuth_deg: -55.0,
            elevation_deg: 20.0,
            distance_mm: 420.0,
            fov_deg: 30.0,
        }
    }
}

impl Camera {
    /// The camera position, mm.
    pub fn eye(&self) -> Vec3 {
        let (az, el) = (
            self.azimuth_deg.to_radians(),
            self.elevation_deg.to_radians(),
        );
        self.target
            + self.distance_mm * Vec3::new(az.sin() * el.cos(), -az.cos() * el.cos(), el.sin())
    }

    /// The vertical field of view (radians) of an image of `aspect` = width / height: `fov_deg`
    /// spans the image's shorter side, so that a tall, narrow view still shows the whole brain.
    pub fn vertical_fov(&self, aspect: f32) -> f32 {
        let fov = self.fov_deg.to_radians();
        if aspect >= 1.0 {
            fov
        } else {
            2.0 * ((fov / 2.0).tan() / aspect.max(1e-3)).atan()
        }
    }

    /// World → clip matrix for an image of `aspect` = width / height.
    pub fn view_projection(&self, aspect: f32) -> Mat4 {
        let view = glam::camera::rh::view::look_at_mat4(self.eye(), self.target, Vec3::Z);
        let near = (self.distance_mm - 200.0).max(1.0);
        let projection =
        // WebGPU's clip space: depth 0..1, y up (as Direct3D's).
            glam::camera::rh::proj::directx::perspective(
                self.vertical_fov(aspect),
                aspect.max(1e-3),
                near,
                self.distance_mm + 200.0,
            );
        projection * view
    }
}

impl Camera {
    /// Moves the camera and what it looks at together across the view, as a drag of
    /// (`dx`, `dy`) pixels (y down) on a view of `size` pixels would: the point under the
    /// pointer at the target's depth stays under it.
    pub fn pan(&mut self, dx: f32, dy: f32, size: (f32, f32)) {
        let (width, height) = (size.0.max(1.0), size.1.max(1.0));
        let forward = (self.target - self.eye()).normalize_or_zero();
        let right = forward.cross(Vec3::Z).normalize_or(Vec3::X);
        let up = right.cross(forward);
        // Millimetres per pixel in the plane through the target.
        let half_height = (self.vertical_fov(width / height) / 2.0).tan();
        let mm_per_px = 2.0 * self.distance_mm * half_height / height;
        self.target += (-dx * right + dy * up) * mm_per_px;
    }
}

/// Grey level (0..1) above which the 3D view shows the anatomy as opaque enough to count as its
/// surface when picking (the marcher's opacity ramp starts at 0.08).
pub const SURFACE_GREY: f32 = 0.1;

impl Camera {
    /// The first point along the ray through `ndc` (−1..1, y up) of an image of `aspect` where
    /// `anatomy` (grey levels 0..1 in MNI mm) reaches [`SURFACE_GREY`]: what a click on the 3D
    /// view points at. Marched on the CPU in half-millimetre steps; `None` when the ray misses.
    pub fn pick_surface(&self, aspect: f32, ndc: glam::Vec2, anatomy: &Volume) -> Option<Vec3> {
        let inverse = self.view_projection(aspect).inverse();
        let unproject = |z: f32| {
            let p = inverse * Vec4::new(ndc.x, ndc.y, z, 1.0);
            p.truncate() / p.w
        };
        let (near, far) = (unproject(0.0), unproject(1.0));
        let dir = (far - near).normalize_or_zero();
        let to_voxel = anatomy.grid.world_to_voxel().ok()?;
        let length = near.distance(far);
        const STEP_MM: f32 = 0.5;
        (0..(length / STEP_MM) as usize)
            .map(|k| near + dir * (k as f32 * STEP_MM))
            .find(|p| {
                let v = to_voxel.transform_point3(p.as_dvec3());
                anatomy.sample_voxel(v).is_some_and(|g| g >= SURFACE_GREY)
            })
    }
}

/// 3D rendering mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode3d {
    /// Shaded anatomy with the overlay blended in near the surface.
    #[default]
    Shaded,
    /// Maximum-intensity projection of |overlay| over the shaded anatomy.
    Mip,
}

/// A clip plane: points with `normal · p > offset` (mm) are cut away.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipPlane {
    /// Direction pointing into the removed half-space.
    pub normal: Vec3,
    /// Offset along the normal, mm.
    pub offset: f32,
}

/// Everything about one 3D frame besides the volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameOptions {
    /// The camera.
    pub camera: Camera,
    /// Shaded or MIP.
    pub mode: Mode3d,
    /// Up to three clip planes.
    pub clip_planes: Vec<ClipPlane>,
    /// Depth (mm) below the first surface over which the overlay fades to 1/e.
    pub overlay_depth_mm: f32,
    /// Background colour (0..1 RGB).
    pub background: [f32; 3],
    /// Jitter seed (vary per frame to average away residual noise).
    pub jitter_seed: f32,
    /// Show the anatomy.
    pub anatomy: bool,
    /// Top-left corner of the view in the target's pixels (non-zero when drawn inside a UI).
    pub origin: (f32, f32),
}

impl Default for FrameOptions {
    fn default() -> Self {
        Self {
            camera: Camera::default(),
            mode: Mode3d::Shaded,
            clip_planes: Vec::new(),
            overlay_depth_mm: 6.0,
            background: [0.0; 3],
            jitter_seed: 0.0,
            anatomy: true,
            origin: (0.0, 0.0),
        }
    }
}

/// The uniform block of `raymarch.wgsl` (all vec4/mat4, so the layout is the same everywhere).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    inv_view_proj: [[f32; 4]; 4],
    world_to_anatomy: [[f32; 4]; 4],
    world_to_overlay: [[f32; 4]; 4],
    camera: [f32; 4],
    box_min: [f32; 4],
    box_max: [f32; 4],
    light: [f32; 4],
    overlay: [f32; 4],
    clip: [[f32; 4]; 3],
    viewport: [f32; 4],
    background: [f32; 4],
    occupancy: [f32; 4],
    origin: [f32; 4],
}

/// Edge of an occupancy block, in anatomy voxels.
const BLOCK: usize = 4;

/// The largest Chebyshev distance (in blocks) the occupancy texture records.
const MAX_SKIP_BLOCKS: u8 = 32;

/// Each block's Chebyshev distance (in blocks, at most `cap`) to the nearest `filled` block, 0
/// for filled ones: a ray anywhere in a block at distance d meets nothing before it leaves the
/// cube of blocks within d − 1 of it. A breadth-first search over the 26 neighbours.
fn chebyshev_distance(filled: &[bool], dims: [usize; 3], cap: u8) -> Vec<u8> {
    let [nx, ny, nz] = dims;
    let mut distance: Vec<u8> = filled.iter().map(|&f| if f { 0 } else { cap }).collect();
    let mut frontier: Vec<usize> = (0..filled.len()).filter(|&n| filled[n]).collect();
    let mut next = Vec::new();
    for d in 1..cap {
        for &n in &frontier {
            let (i, j, k) = (n % nx, (n / nx) % ny, n / (nx * ny));
            for dk in -1i64..=1 {
                for dj in -1i64..=1 {
                    for di in -1i64..=1 {
                        let (a, b, c) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
                        if a < 0 || b < 0 || c < 0 {
                            continue;
                        }
                        let (a, b, c) = (a as usize, b as usize, c as usize);
                        if a >= nx || b >= ny || c >= nz {
                            continue;
                        }
                        let m = a + nx * (b + ny * c);
                        if distance[m] > d {
                            distance[m] = d;
                            next.push(m);
                        }
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        std::mem::swap(&mut frontier, &mut next);
        next.clear();
    }
    distance
}
/// Grey level below which the anatomy is fully transparent (the shader's smoothstep start).
const ANATOMY_VISIBLE: f32 = 0.08;
/// Entries in the colour lookup table.
const LUT_SIZE: u32 = 256;

/// The anatomy for the 3D view on `grid`: the template T1, windowed to 0..1 and faded out where
/// the grey + white matter probability is low (no skull, no CSF).
pub fn brain_anatomy(grid: &Grid) -> Result<Volume, RenderError> {
    use crate::template::{TemplateImage, brain_probability_shared, on_grid};
    let t1 = on_grid(TemplateImage::T1, grid)?;
    let brain = brain_probability_shared()?.resample(grid, 0.0)?;
    let window = super::slice::Anatomy::with_auto_window(&t1).window;
    let span = (window.1 - window.0).max(1e-6);
    let data = t1
        .data
        .iter()
        .zip(&brain.data)
        .map(|(&v, &p)| {
            let grey = ((v - window.0) / span).clamp(0.0, 1.0);
            let weight = ((p - 0.35) / 0.3).clamp(0.0, 1.0);
            grey * weight * weight * (3.0 - 2.0 * weight)
        })
        .collect();
    Ok(Volume::new(*grid, data)?)
}

/// Per voxel: the outward surface normal (minus the normalised grey-level gradient, central
/// differences) packed as `n·½ + ½` in RGB, and the grey level in A — one texel fetch gives the
/// ray marcher both. Grids are axis-aligned with positive spacing, so voxel axes are world axes.
pub fn pack_anatomy(volume: &Volume) -> Vec<[u8; 4]> {
    use super::colormap::to_u8;
    let [nx, ny, nz] = volume.grid.dims;
    let at = |i: usize, j: usize, k: usize| volume.data[i + nx * (j + ny * k)];
    let mut out = Vec::with_capacity(volume.data.len());
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let grey = at(i, j, k);
                let d = |lo: f32, hi: f32| hi - lo;
                let g = Vec3::new(
                    d(at(i.saturating_sub(1), j, k), at((i + 1).min(nx - 1), j, k)),
                    d(at(i, j.saturating_sub(1), k), at(i, (j + 1).min(ny - 1), k)),
                    d(at(i, j, k.saturating_sub(1)), at(i, j, (k + 1).min(nz - 1))),
                );
                let n = (-g).normalize_or_zero() * 0.5 + Vec3::splat(0.5);
                out.push([to_u8(n.x), to_u8(n.y), to_u8(n.z), to_u8(grey)]);
            }
        }
    }
    out
}

/// World (mm) → texture coordinates (0..1 across the grid, texel centres at (i + ½)/n).
fn world_to_texture(grid: &Grid) -> Result<Mat4, RenderError> {
    let to_voxel = grid.world_to_voxel()?;
    let dims = DVec3::new(
        grid.dims[0] as f64,
        grid.dims[1] as f64,
        grid.dims[2] as f64,
    );
    let m = glam::DMat4::from_scale(1.0 / dims)
        * glam::DMat4::from_translation(DVec3::splat(0.5))
        * glam::DMat4::from(to_voxel);
    Ok(m.as_mat4())
}

/// The overlay volume: its grid and, per voxel, (value × inside, inside) as f16 pairs.
struct OverlayTexture {
    texture: wgpu::Texture,
    world_to_texture: Mat4,
}

/// Pipeline and volume textures of the 3D view.
pub struct VolumeRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    anatomy: wgpu::Texture,
    anatomy_grid: Option<Grid>,
    occupancy: wgpu::Texture,
    overlay: Option<OverlayTexture>,
    empty_overlay: wgpu::Texture,
    lut: wgpu::Texture,
    limit: f32,
    anatomy_mask: Vec<bool>,
    /// The overlay's voxels that carry a value: the occupancy is rebuilt from it whenever the
    /// anatomy or the overlay changes, in either order.
    overlay_inside: Option<Mask>,
    bind_group: Option<wgpu::BindGroup>,
    /// The instance its device came from, when known ([`Self::on_instance`]): a device is told
    /// apart from another instance's only together with its instance (wgpu compares devices by
    /// id, and each instance numbers its own).
    instance: Option<wgpu::Instance>,
}

fn texture_3d(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    dims: [usize; 3],
    format: wgpu::TextureFormat,
    bytes: &[u8],
    bytes_per_texel: usize,
) -> wgpu::Texture {
    let size = wgpu::Extent3d {
        width: dims[0] as u32,
        height: dims[1] as u32,
        depth_or_array_layers: dims[2] as u32,
    };
    device.create_texture_with_data(
        queue,
        &wgpu::TextureDescriptor {
            label: Some(label),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D3,
            format,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        },
        wgpu::util::TextureDataOrder::LayerMajor,
        &bytes[..dims[0] * dims[1] * dims[2] * bytes_per_texel],
    )
}

impl VolumeRenderer {
    /// A renderer drawing into targets of `format`, with no volumes yet.
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, format: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("raymarch.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/raymarch.wgsl").into()),
        });
        let texture_entry = |binding, dimension| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: dimension,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("raymarch"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                texture_entry(1, wgpu::TextureViewDimension::D3),
                texture_entry(2, wgpu::TextureViewDimension::D3),
                texture_entry(3, wgpu::TextureViewDimension::D2),
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                texture_entry(5, wgpu::TextureViewDimension::D3),
            ],
        });
        let pipeline =
            crate::render::fullscreen_pipeline(device, "raymarch", &module, &layout, format);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("volume"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let one = |label| {
            texture_3d(
                device,
                queue,
                label,
                [1, 1, 1],
                wgpu::TextureFormat::R8Unorm,
                &[0],
                1,
            )
        };
        let empty_overlay = texture_3d(
            device,
            queue,
            "no overlay",
            [1, 1, 1],
            wgpu::TextureFormat::Rg16Float,
            &[0; 4],
            4,
        );
        let lut = Self::lut_texture(device, queue, &vec![[0u8; 4]; LUT_SIZE as usize]);
        Self {
            pipeline,
            layout,
            sampler,
            anatomy: one("no anatomy"),
            anatomy_grid: None,
            occupancy: one("no occupancy"),
            overlay: None,
            empty_overlay,
            lut,
            limit: 1.0,
            anatomy_mask: Vec::new(),
            overlay_inside: None,
            instance: None,
            bind_group: None,
        }
    }

    fn lut_texture(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        entries: &[[u8; 4]],
    ) -> wgpu::Texture {
        device.create_texture_with_data(
            queue,
            &wgpu::TextureDescriptor {
                label: Some("overlay colours"),
                size: wgpu::Extent3d {
                    width: entries.len() as u32,
                    height: 1,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            bytemuck::cast_slice(entries),
        )
    }

    /// A renderer for offscreen images (`Rgba8Unorm`) holding `anatomy`, an optional prediction
    /// and its colours.
    pub fn offscreen(
        gpu: &crate::gpu::GpuContext,
        anatomy: &Volume,
        overlay: Option<(&Volume, &Mask)>,
        style: &OverlayStyle,
    ) -> Result<Self, RenderError> {
        let (device, queue) = (&gpu.device, &gpu.queue);
        let mut renderer =
            Self::new(device, queue, wgpu::TextureFormat::Rgba8Unorm).on_instance(&gpu.instance);
        renderer.set_anatomy(device, queue, anatomy);
        if let Some((values, inside)) = overlay {
            renderer.set_overlay(device, queue, values, inside)?;
        }
        renderer.set_style(device, queue, style);
        Ok(renderer)
    }

    /// Uploads the anatomy (grey levels 0..1, e.g. from [`brain_anatomy`]) with its surface
    /// normals, packed per voxel as RGBA (see [`pack_anatomy`]).
    pub fn set_anatomy(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, volume: &Volume) {
        let texels = pack_anatomy(volume);
        self.anatomy = texture_3d(
            device,
            queue,
            "anatomy",
            volume.grid.dims,
            wgpu::TextureFormat::Rgba8Unorm,
            bytemuck::cast_slice(&texels),
            4,
        );
        self.anatomy_grid = Some(volume.grid);
        self.anatomy_mask = volume.data.iter().map(|&v| v > ANATOMY_VISIBLE).collect();
        self.rebuild_occupancy(device, queue);
    }

    /// Uploads a prediction volume; only `inside` voxels show.
    pub fn set_overlay(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        values: &Volume,
        inside: &Mask,
    ) -> Result<(), RenderError> {
        if values.grid != inside.grid {
            return Err(RenderError::Invalid(
                "overlay values and mask are on different grids".into(),
            ));
        }
        let texels: Vec<half::f16> = values
            .data
            .iter()
            .zip(&inside.data)
            .flat_map(|(&v, &i)| {
                let w = if i && v.is_finite() { 1.0 } else { 0.0 };
                [half::f16::from_f32(v * w), half::f16::from_f32(w)]
            })
            .collect();
        let texture = texture_3d(
            device,
            queue,
            "overlay",
            values.grid.dims,
            wgpu::TextureFormat::Rg16Float,
            bytemuck::cast_slice(&texels),
            4,
        );
        self.adopt_overlay(device, queue, texture, inside)
    }

    /// Records the instance this renderer's device came from, so that [`Self::show_prediction`]
    /// can take textures written on that device.
    pub fn on_instance(mut self, instance: &wgpu::Instance) -> Self {
        self.instance = Some(instance.clone());
        self
    }

    /// Shows a prediction: its overlay texture when a WGSL kernel wrote one on this `device` of
    /// this renderer's instance (no upload: [`crate::query::GridPrediction::on_gpu`]), its
    /// values otherwise. Returns whether the texture from the GPU was taken.
    pub fn show_prediction(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        prediction: &crate::query::GridPrediction,
    ) -> Result<bool, RenderError> {
        match &prediction.on_gpu {
            Some(filled)
                if self.instance.as_ref() == Some(&filled.instance)
                    && filled.device == *device
                    && filled.grid == prediction.volume.grid =>
            {
                self.adopt_overlay(device, queue, filled.texture.clone(), &prediction.inside)?;
                Ok(true)
            }
            _ => {
                self.set_overlay(device, queue, &prediction.volume, &prediction.inside)?;
                Ok(false)
            }
        }
    }

    /// Takes a filled overlay texture (from [`crate::query::gpu::overlay_texture`]) whose voxels are
    /// `inside`'s grid.
    pub fn adopt_overlay(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        texture: wgpu::Texture,
        inside: &Mask,
    ) -> Result<(), RenderError> {
        self.overlay = Some(OverlayTexture {
            texture,
            world_to_texture: world_to_texture(&inside.grid)?,
        });
        self.overlay_inside = Some(inside.clone());
        self.rebuild_occupancy(device, queue);
        self.bind_group = None;
        Ok(())
    }

    /// Removes the overlay.
    pub fn clear_overlay(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) {
        self.overlay = None;
        self.overlay_inside = None;
        self.rebuild_occupancy(device, queue);
    }

    /// Sets the overlay's colours.
    pub fn set_style(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, style: &OverlayStyle) {
        self.limit = style.limit();
        self.lut = Self::lut_texture(
            device,
            queue,
            &style.lookup_table(LUT_SIZE as usize, self.limit),
        );
        self.bind_group = None;
    }

    /// Marks blocks of the anatomy grid that hold visible anatomy or overlay voxels (and those
    /// the overlay reaches), with each empty block's Chebyshev distance to the nearest marked
    /// one, as the texture the shader uses to skip empty space.
    fn rebuild_occupancy(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) {
        self.bind_group = None;
        let Some(grid) = self.anatomy_grid else {
            return;
        };
        let [nx, ny, nz] = grid.dims;
        let blocks = [nx.div_ceil(BLOCK), ny.div_ceil(BLOCK), nz.div_ceil(BLOCK)];
        let block_index = |[i, j, k]: [usize; 3]| i + blocks[0] * (j + blocks[1] * k);
        let mut filled = vec![false; blocks[0] * blocks[1] * blocks[2]];
        // Blocks within one voxel of a visible voxel (trilinear samples reach that far).
        let near_blocks = |c: usize, n: usize| {
            let lo = c.saturating_sub(1) / BLOCK;
            let hi = (c + 1).min(n - 1) / BLOCK;
            lo..=hi
        };
        let mark = |filled: &mut Vec<bool>, [i, j, k]: [usize; 3]| {
            for bk in near_blocks(k, nz) {
                for bj in near_blocks(j, ny) {
                    for bi in near_blocks(i, nx) {
                        filled[block_index([bi, bj, bk])] = true;
                    }
                }
            }
        };
        for (n, &visible) in self.anatomy_mask.iter().enumerate() {
            if visible {
                mark(&mut filled, grid.ijk(n));
            }
        }
        let mut overlay_blocks = vec![false; filled.len()];
        if let Some(mask) = &self.overlay_inside
            && let Ok(to_voxel) = grid.world_to_voxel()
        {
            // An overlay voxel reaches one overlay spacing around its centre.
            let reach = mask.grid.spacing_mm() / grid.spacing_mm();
            for (n, &inside) in mask.data.iter().enumerate() {
                if !inside {
                    continue;
                }
                let p = to_voxel.transform_point3(mask.grid.point(mask.grid.ijk(n)));
                let lo = (p - reach).max(glam::DVec3::ZERO);
                let hi = p + reach;
                let range = |a: f64, b: f64, n: usize| {
                    (a as usize / BLOCK)..=((b.max(0.0) as usize).min(n - 1) / BLOCK)
                };
                for bk in range(lo.z, hi.z, nz) {
                    for bj in range(lo.y, hi.y, ny) {
                        for bi in range(lo.x, hi.x, nx) {
                            if bi < blocks[0] && bj < blocks[1] && bk < blocks[2] {
                                overlay_blocks[block_index([bi, bj, bk])] = true;
                            }
                        }
                    }
                }
            }
        }
        for (f, &o) in filled.iter_mut().zip(&overlay_blocks) {
            *f |= o;
        }
        // r: 0 where there is something to see (the march samples the block), else the number
        // of blocks to the nearest such block (the march leaves that many blocks behind in one
        // step); g: the overlay reaches the block (only there is it sampled).
        let distance = chebyshev_distance(&filled, blocks, MAX_SKIP_BLOCKS);
        let texels: Vec<u8> = distance
            .iter()
            .enumerate()
            .flat_map(|(n, &d)| [d, if overlay_blocks[n] { 255 } else { 0 }])
            .collect();
        self.occupancy = texture_3d(
            device,
            queue,
            "occupancy",
            blocks,
            wgpu::TextureFormat::Rg8Unorm,
            &texels,
            2,
        );
    }

    fn params(&self, options: &FrameOptions, size: (u32, u32)) -> Result<Params, RenderError> {
        let grid = self
            .anatomy_grid
            .ok_or_else(|| RenderError::Invalid("the 3D view needs the anatomy volume".into()))?;
        let aspect = size.0 as f32 / size.1.max(1) as f32;
        let inv_view_proj = options.camera.view_projection(aspect).inverse();
        let bounds = grid.bounds();
        let spacing = grid.spacing_mm().min_element() as f32;
        let step = spacing * 0.75;
        let world_to_anatomy = world_to_texture(&grid)?;
        let world_to_overlay = self
            .overlay
            .as_ref()
            .map_or(Mat4::IDENTITY, |o| o.world_to_texture);
        let mut clip = [[0.0f32; 4]; 3];
        for (slot, plane) in clip.iter_mut().zip(options.clip_planes.iter().take(3)) {
            let n = plane.normal.normalize_or_zero();
            *slot = [n.x, n.y, n.z, plane.offset];
        }
        let diagonal = (bounds.max - bounds.min).length() as f32;
        let light =
            (options.camera.eye() - options.camera.target).normalize() + Vec3::new(0.0, 0.0, 0.6);
        let cols = |m: Mat4| m.to_cols_array_2d();
        let v = |p: DVec3, w: f32| Vec4::from((p.as_vec3(), w)).to_array();
        Ok(Params {
            inv_view_proj: cols(inv_view_proj),
            world_to_anatomy: cols(world_to_anatomy),
            world_to_overlay: cols(world_to_overlay),
            camera: Vec4::from((options.camera.eye(), step)).to_array(),
            box_min: v(bounds.min, options.jitter_seed),
            box_max: v(bounds.max, options.overlay_depth_mm),
            light: Vec4::from((light.normalize(), 0.35)).to_array(),
            overlay: [
                self.limit,
                if options.mode == Mode3d::Mip {
                    1.0
                } else {
                    0.0
                },
                if self.overlay.is_some() { 1.0 } else { 0.0 },
                if options.anatomy { 1.0 } else { 0.0 },
            ],
            clip,
            viewport: [
                size.0 as f32,
                size.1 as f32,
                (diagonal / step).ceil() + 64.0,
                1.0,
            ],
            background: [
                options.background[0],
                options.background[1],
                options.background[2],
                1.0,
            ],
            occupancy: [BLOCK as f32, spacing, 0.0, 0.0],
            origin: [options.origin.0, options.origin.1, 0.0, 0.0],
        })
    }

    /// Binds this frame's parameters; call before [`Self::paint`].
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        options: &FrameOptions,
        size: (u32, u32),
    ) -> Result<(), RenderError> {
        let params = self.params(options, size)?;
        let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("raymarch params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let view = |t: &wgpu::Texture| t.create_view(&Default::default());
        let overlay = self
            .overlay
            .as_ref()
            .map_or(&self.empty_overlay, |o| &o.texture);
        self.bind_group = Some(device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("raymarch"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&view(&self.anatomy)),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&view(overlay)),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::TextureView(&view(&self.lut)),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: wgpu::BindingResource::TextureView(&view(&self.occupancy)),
                },
            ],
        }));
        Ok(())
    }

    /// Draws the prepared frame into `pass` (which covers the view's viewport).
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>) {
        if let Some(bind_group) = &self.bind_group {
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
    }

    /// Records the prepared frame into the whole of `target` (cleared to black first): a
    /// texture of the renderer's format, for read-back or for the viewer's cached frame.
    pub fn paint_into(&self, encoder: &mut wgpu::CommandEncoder, target: &wgpu::Texture) {
        let view = target.create_view(&Default::default());
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("3d view"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        self.paint(&mut pass);
    }

    /// Renders one frame of `size` offscreen and reads it back (the renderer's format must be
    /// `Rgba8Unorm`).
    pub fn render_offscreen(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        options: &FrameOptions,
        size: (u32, u32),
    ) -> Result<RgbaImage, RenderError> {
        let (width, height) = size;
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(RenderError::Invalid(format!(
                "image size {width}×{height}: expected 1 to 8192 pixels a side"
            )));
        }
        self.prepare(device, options, size)?;
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("3d view"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        self.paint_into(&mut encoder, &target);
        let padded = (width * 4).div_ceil(256) * 256;
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("3d readback"),
            size: u64::from(padded * height),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(height),
                },
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
        queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver waits below; a send error only means it gave up already.
            let _ = sender.send(result);
        });
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RenderError::Gpu(e.to_string()))?;
        receiver
            .recv()
            .map_err(|e| RenderError::Gpu(e.to_string()))?
            .map_err(|e| RenderError::Gpu(e.to_string()))?;
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        {
            let data = readback
                .get_mapped_range(..)
                .map_err(|e| RenderError::Gpu(e.to_string()))?;
            for row in data.chunks_exact(padded as usize) {
                pixels.extend_from_slice(&row[..(width * 4) as usize]);
            }
        }
        readback.unmap();
        RgbaImage::from_raw(width, height, pixels)
            .ok_or_else(|| RenderError::Gpu("read back a short image".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_blocks_know_their_chebyshev_distance_to_the_nearest_filled_one() {
        let dims = [9, 7, 5];
        let index = |i: usize, j: usize, k: usize| i + 9 * (j + 7 * k);
        let mut filled = vec![false; 9 * 7 * 5];
        filled[index(2, 3, 1)] = true;
        filled[index(8, 0, 4)] = true;
        let distance = chebyshev_distance(&filled, dims, 5);
        for k in 0..5usize {
            for j in 0..7usize {
                for i in 0..9usize {
                    let to = |(a, b, c): (usize, usize, usize)| {
                        i.abs_diff(a).max(j.abs_diff(b)).max(k.abs_diff(c))
                    };
                    let nearest = to((2, 3, 1)).min(to((8, 0, 4))).min(5);
                    assert_eq!(
                        usize::from(distance[index(i, j, k)]),
                        nearest,
                        "{i} {j} {k}"
                    );
                }
            }
        }
        // Nothing filled: every block is at the cap (nothing to meet within it).
        assert!(
            chebyshev_distance(&[false; 8], [2, 2, 2], 3)
                .iter()
                .all(|&d| d == 3)
        );
    }

    #[test]
    fn panning_keeps_the_point_under_the_pointer() {
        // A wide view and a tall, narrow one (whose field of view spans its width).
        for (width, height) in [(800.0, 600.0), (250.0, 780.0)] {
            pan_check(width, height);
        }
    }

    fn pan_check(width: f32, height: f32) {
        let mut camera = Camera::default();
        let aspect = width / height;
        // A point at the target's depth, 100 px right of the centre.
        let before = camera.view_projection(aspect);
        let ndc_x = 100.0 / (height * aspect / 2.0);
        let ray_point = before
            .inverse()
            .project_point3(glam::Vec3::new(ndc_x, 0.0, 0.5));
        let eye = camera.eye();
        let direction = (ray_point - eye).normalize();
        let forward = (camera.target - eye).normalize();
        let point = eye + direction * (camera.distance_mm / direction.dot(forward));
        let (distance, azimuth) = (camera.distance_mm, camera.azimuth_deg);
        camera.pan(-100.0, 0.0, (width, height));
        // Dragged 100 px left, the point is now at the centre; the view only moved sideways.
        let after = camera.view_projection(aspect).project_point3(point);
        assert!(after.x.abs() < 1e-3 && after.y.abs() < 1e-3, "{after:?}");
        assert_eq!(
            (camera.distance_mm, camera.azimuth_deg),
            (distance, azimuth)
        );
        assert!((camera.eye() - eye).dot(forward).abs() < 1e-3);
    }

    #[test]
    fn a_narrow_view_keeps_the_field_of_view_across_its_width() {
        let camera = Camera::default();
        // A point on the edge of a square view's field stays on the edge of a narrow view's.
        let square = camera.view_projection(1.0);
        let narrow = camera.view_projection(0.25);
        let edge = square
            .inverse()
            .project_point3(glam::Vec3::new(1.0, 0.0, 0.5));
        let seen = narrow.project_point3(edge);
        assert!((seen.x - 1.0).abs() < 1e-3, "{seen:?}");
        assert!((camera.vertical_fov(2.0) - camera.fov_deg.to_radians()).abs() < 1e-6);
    }

    #[test]
    fn a_pick_lands_on_the_near_surface_of_a_ball() {
        // A ball of radius 50 mm at the origin, grey 1 inside.
        let grid = Grid::mni(2.0).expect("grid");
        let data = grid
            .points()
            .iter()
            .map(|p| if p.length() < 50.0 { 1.0 } else { 0.0 })
            .collect();
        let ball = Volume::new(grid, data).expect("volume");
        let camera = Camera {
            target: Vec3::ZERO,
            ..Camera::default()
        };
        let hit = camera
            .pick_surface(4.0 / 3.0, glam::Vec2::ZERO, &ball)
            .expect("the centre ray hits the ball");
        assert!((hit.length() - 50.0).abs() < 2.5, "{hit:?}");
        // On the camera's side of the ball.
        assert!(hit.dot(camera.eye()) > 0.0);
        // A ray far off to the side misses.
        assert_eq!(
            camera.pick_surface(4.0 / 3.0, glam::Vec2::new(0.95, 0.95), &ball),
            None
        );
    }
}
