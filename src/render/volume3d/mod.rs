//! The 3D view: a wgpu ray marcher (`shaders/raymarch.wgsl`) over the brain-masked MNI template
//! with an NRF prediction volume as a coloured overlay. [`VolumeRenderer`] owns the pipeline and
//! the volume textures; it draws into any render pass (an egui paint callback or an offscreen
//! texture) and [`VolumeRenderer::render_offscreen`] reads an image back.

mod camera;
mod occupancy;

use glam::{DVec3, Mat4, Vec3, Vec4};
use image::RgbaImage;
use wgpu::util::DeviceExt;

pub use camera::{Camera, SURFACE_GREY};
use occupancy::BLOCK;

use crate::render::RenderError;
use crate::render::colormap::OverlayStyle;
use crate::space::Grid;
use crate::volume::{Mask, Volume};

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
            source: wgpu::ShaderSource::Wgsl(include_str!("../../../shaders/raymarch.wgsl").into()),
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

    /// Uploads the occupancy of the anatomy and overlay ([`occupancy::occupancy`]): the
    /// texture the shader uses to skip empty space.
    fn rebuild_occupancy(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) {
        self.bind_group = None;
        let Some(grid) = self.anatomy_grid else {
            return;
        };
        let (blocks, texels) =
            occupancy::occupancy(&grid, &self.anatomy_mask, self.overlay_inside.as_ref());
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
