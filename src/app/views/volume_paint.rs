//! The 3D view inside egui: the ray marcher drawn through an egui-wgpu paint callback on eframe's
//! own device (as egui's `custom3d_wgpu` demo does). The renderer lives in the callback resources;
//! each frame's callback carries the camera and, when they changed, new volumes to upload.
//!
//! The ray-marched frame is kept in a texture and marched again only when something it shows
//! changed (camera, volumes, colours, size); every other UI frame — a training curve growing, the
//! pointer moving — only copies it (`shaders/blit.wgsl`). On a software adapter a frame costs
//! about 0.4 s and a copy next to nothing, so the UI keeps its frame rate. While the user drags,
//! frames are marched at half resolution and scaled up, and the full frame follows on release.

use eframe::egui;
use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor};
use std::sync::Arc;

use crate::query::GridPrediction;
use crate::render::colormap::OverlayStyle;
use crate::render::volume3d::{FrameOptions, VolumeRenderer};
use crate::volume::Volume;

/// The renderer and what it holds, kept in egui-wgpu's callback resources.
pub struct View3dResources {
    renderer: VolumeRenderer,
    anatomy_version: u64,
    overlay_version: u64,
    style: Option<OverlayStyle>,
    blit: Blit,
    cache: Option<CachedFrame>,
    /// Ray-marched frames so far (the rest of the UI's frames copied the cached one).
    pub frames_marched: u64,
    /// The last error (shown by the app).
    pub error: Option<String>,
    /// The overlay shown is the texture a WGSL kernel wrote on this device (no upload).
    pub overlay_from_gpu: bool,
}

/// What a cached frame shows: when any of it changes, the frame is marched again.
#[derive(Debug, Clone, PartialEq)]
struct FrameKey {
    anatomy_version: u64,
    overlay_version: u64,
    style: OverlayStyle,
    options: FrameOptions,
    size: (u32, u32),
}

/// The last ray-marched frame.
struct CachedFrame {
    key: FrameKey,
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

/// The pipeline that copies the cached frame into egui's pass.
struct Blit {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    format: wgpu::TextureFormat,
}

impl Blit {
    fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("blit"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../../shaders/blit.wgsl").into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blit"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline = crate::render::fullscreen_pipeline(device, "blit", &module, &layout, format);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("blit"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            pipeline,
            layout,
            sampler,
            format,
        }
    }

    /// A render target of `size` with the bind group that reads it.
    fn target(&self, device: &wgpu::Device, size: (u32, u32)) -> (wgpu::Texture, wgpu::BindGroup) {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("3d frame"),
            size: wgpu::Extent3d {
                width: size.0,
                height: size.1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: self.format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("blit"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        (texture, bind_group)
    }
}

/// Creates the renderer on eframe's device; call once at start-up.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let renderer = VolumeRenderer::new(
        &render_state.device,
        &render_state.queue,
        render_state.target_format,
    )
    .on_instance(&render_state.instance);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(View3dResources {
            renderer,
            anatomy_version: 0,
            overlay_version: 0,
            style: None,
            blit: Blit::new(&render_state.device, render_state.target_format),
            cache: None,
            frames_marched: 0,
            error: None,
            overlay_from_gpu: false,
        });
}

/// One frame of the 3D view.
pub struct View3dFrame {
    /// Camera, mode, clip planes; `origin` is filled in from the paint rectangle.
    pub options: FrameOptions,
    /// Colours.
    pub style: OverlayStyle,
    /// The anatomy with its version (uploaded when the version is new).
    pub anatomy: Option<(u64, Arc<Volume>)>,
    /// The prediction with its version (uploaded when the version is new).
    pub overlay: Option<(u64, Arc<GridPrediction>)>,
    /// The view's size in physical pixels.
    pub size_px: (u32, u32),
    /// The user is dragging: march at half resolution.
    pub interactive: bool,
}

impl CallbackTrait for View3dFrame {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(state) = resources.get_mut::<View3dResources>() else {
            return Vec::new();
        };
        if let Some((version, anatomy)) = &self.anatomy
            && *version != state.anatomy_version
        {
            state.renderer.set_anatomy(device, queue, anatomy);
            state.anatomy_version = *version;
        }
        if let Some((version, overlay)) = &self.overlay
            && *version != state.overlay_version
        {
            // A prediction a WGSL kernel computed on this (the window's) device arrives as a
            // texture already; others are uploaded from their values.
            match state.renderer.show_prediction(device, queue, overlay) {
                Ok(from_gpu) => state.overlay_from_gpu = from_gpu,
                Err(e) => state.error = Some(e.to_string()),
            }
            state.overlay_version = *version;
        }
        if state.style != Some(self.style) {
            state.renderer.set_style(device, queue, &self.style);
            state.style = Some(self.style);
        }
        if state.anatomy_version == 0 {
            return Vec::new();
        }
        let divisor = if self.interactive { 2 } else { 1 };
        let key = FrameKey {
            anatomy_version: state.anatomy_version,
            overlay_version: state.overlay_version,
            style: self.style,
            options: FrameOptions {
                origin: (0.0, 0.0),
                ..self.options.clone()
            },
            size: (
                (self.size_px.0 / divisor).clamp(1, 8192),
                (self.size_px.1 / divisor).clamp(1, 8192),
            ),
        };
        if state.cache.as_ref().is_some_and(|c| c.key == key) {
            return Vec::new();
        }
        let (texture, bind_group) = match state.cache.take() {
            Some(c) if c.key.size == key.size => (c.texture, c.bind_group),
            _ => state.blit.target(device, key.size),
        };
        if let Err(e) = state.renderer.prepare(device, &key.options, key.size) {
            state.error = Some(e.to_string());
            return Vec::new();
        }
        state.renderer.paint_into(encoder, &texture);
        state.frames_marched += 1;
        state.cache = Some(CachedFrame {
            key,
            texture,
            bind_group,
        });
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        if let Some(state) = resources.get::<View3dResources>()
            && let Some(cache) = &state.cache
        {
            render_pass.set_pipeline(&state.blit.pipeline);
            render_pass.set_bind_group(0, &cache.bind_group, &[]);
            render_pass.draw(0..3, 0..1);
        }
    }
}
