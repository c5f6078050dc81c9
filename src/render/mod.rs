//! Rendering: colour maps and the overlay's colour scale, slice views queried at the pixel size
//! on screen, the wgpu ray-marched 3D view, a colour bar and a tiny bitmap font for labels. The
//! library renders to images (offscreen, for `nrf render`, figures and tests) and into render
//! passes (for the viewer).

pub mod bitmap_font;
pub mod colorbar;
pub mod colormap;
pub mod refine;
pub mod slice;
pub mod volume3d;

use crate::space::SpaceError;
use crate::volume::VolumeError;

/// Why a view could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A geometry request was invalid (spacing, orientation).
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The template or a volume could not be read or resampled.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// The request cannot be drawn (mismatched sizes, no anatomy for the 3D view, …).
    #[error("{0}")]
    Invalid(String),
    /// The GPU failed while rendering or reading back.
    #[error("GPU rendering failed: {0}")]
    Gpu(String),
}

/// A pipeline that draws one full-screen triangle (no vertex buffers) with `module`'s `vs_main`
/// and `fs_main` into one opaque target of `format`: the shape of both the ray marcher and the
/// viewer's copy of its cached frame.
pub fn fullscreen_pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    layout: &wgpu::BindGroupLayout,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs_main"),
            buffers: &[],
            compilation_options: Default::default(),
        },
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: Default::default(),
        }),
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        multiview_mask: None,
        cache: None,
    })
}
