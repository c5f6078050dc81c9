//! The 3D view inside egui: the ray marcher drawn through an egui-wgpu paint callback on eframe's
//! own device (as egui's `custom3d_wgpu` demo does). The renderer lives in the callback resources;
//! each frame's callback carries the camera and, when they changed, new volumes to upload.

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
    /// The last error (shown by the app).
    pub error: Option<String>,
}

/// Creates the renderer on eframe's device; call once at start-up.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let renderer = VolumeRenderer::new(
        &render_state.device,
        &render_state.queue,
        render_state.target_format,
    );
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(View3dResources {
            renderer,
            anatomy_version: 0,
            overlay_version: 0,
            style: None,
            error: None,
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
    /// The view's rectangle in physical pixels: (left, top, width, height).
    pub viewport_px: (f32, f32, u32, u32),
}

impl CallbackTrait for View3dFrame {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
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
            if let Err(e) =
                state
                    .renderer
                    .set_overlay(device, queue, &overlay.volume, &overlay.inside)
            {
                state.error = Some(e.to_string());
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
        let mut options = self.options.clone();
        options.origin = (self.viewport_px.0, self.viewport_px.1);
        let size = (self.viewport_px.2.max(1), self.viewport_px.3.max(1));
        if let Err(e) = state.renderer.prepare(device, &options, size) {
            state.error = Some(e.to_string());
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        if let Some(state) = resources.get::<View3dResources>()
            && state.anatomy_version > 0
        {
            state.renderer.paint(render_pass);
        }
    }
}
