//! The NRF queried by our own WGSL kernels on a wgpu device: [`GpuKernel`] uploads a model's MLP
//! once for the kernel its size calls for — the register-tiled fused kernel ([`FusedQuery`], one
//! dispatch for the whole MLP, narrow models only) or the workgroup-tiled layer kernel
//! ([`TiledQuery`], one dispatch per layer, any width and depth) — and [`GpuQuery`] adds one
//! image's biases (the image's share of the input layers, from the burn query's factorisation).
//! Both kernels can write a grid straight into the 3D view's overlay texture.

use std::sync::{Arc, mpsc};

use glam::Vec3;

use super::fused_kernel::FusedQuery;
pub use super::fused_kernel::unpack;
use super::tiled_kernel::TiledQuery;
use crate::features::ImageFeatures;
use crate::gpu::GpuContext;
use crate::model::Nrf;
use crate::space::{Grid, normalise_mni};
use crate::volume::Mask;

/// Why a GPU query kernel could not run.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The kernel cannot take the request (a model too wide for it, mismatched sizes, …).
    #[error("{0}")]
    Invalid(String),
    /// The GPU failed while computing or reading back.
    #[error("GPU rendering failed: {0}")]
    Gpu(String),
}

/// Which kernel evaluates the MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Whole MLP in one dispatch, activations in registers and private arrays (layers and
    /// encoding up to [`super::fused_kernel::MAX_WIDTH`] wide).
    Fused,
    /// One dispatch per layer, weight and input tiles in workgroup memory (any width).
    Tiled,
    /// One dispatch per layer, each invocation fetching its own weight and input texels (any
    /// width): the faster form on software adapters.
    Layered,
}

impl Kernel {
    /// The kernel for a model whose widest layer or encoding is `widest` values, on a software
    /// adapter or a hardware one. Measured on lavapipe (BENCHMARKS.md, "Kernels for every model
    /// size"): the fused kernel is the fastest up to 128 wide, where it also compiles in seconds
    /// (past that its private arrays make software compiles take minutes); wider, the layered
    /// kernel beats both the workgroup-tiled one (2–2.5×) and burn-wgpu (1.25–1.3×). Hardware:
    /// unmeasured; the workgroup-tiled kernel, whose shared tiles cut texture traffic 8-fold.
    pub fn for_model(widest: usize, software: bool) -> Self {
        if widest <= FUSED_UP_TO {
            Kernel::Fused
        } else if software {
            Kernel::Layered
        } else {
            Kernel::Tiled
        }
    }
}

impl std::str::FromStr for Kernel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fused" => Ok(Self::Fused),
            "tiled" => Ok(Self::Tiled),
            "layered" => Ok(Self::Layered),
            other => Err(format!(
                "unknown kernel {other:?}: expected fused, tiled or layered"
            )),
        }
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kernel::Fused => "fused",
            Kernel::Tiled => "tiled",
            Kernel::Layered => "layered",
        })
    }
}

/// The widest model the fused kernel is chosen for by [`Kernel::for_model`].
pub const FUSED_UP_TO: usize = 128;

/// A model's MLP uploaded for one of the kernels, once: the weights for every image. Queries
/// add an image's biases ([`GpuQuery`]).
pub struct GpuKernel {
    kernel: Kernel,
    kind: KernelKind,
    /// Outputs of each layer.
    outs: Vec<usize>,
}

enum KernelKind {
    Fused(FusedQuery),
    Tiled(TiledQuery),
}

impl GpuKernel {
    /// Uploads `model`'s MLP for `kernel`.
    pub fn new(gpu: &GpuContext, model: &Nrf, kernel: Kernel) -> Result<Self, KernelError> {
        let blocks = crate::query::QueryEngine::new(model)
            .kernel_blocks()
            .map_err(|e| KernelError::Gpu(e.to_string()))?;
        Self::from_blocks(gpu, &blocks, kernel)
    }

    /// Uploads the layers of `blocks` for `kernel`.
    pub(crate) fn from_blocks(
        gpu: &GpuContext,
        blocks: &MlpBlocks,
        kernel: Kernel,
    ) -> Result<Self, KernelError> {
        let kind = match kernel {
            Kernel::Fused => KernelKind::Fused(FusedQuery::from_blocks(gpu, blocks)?),
            Kernel::Tiled => KernelKind::Tiled(TiledQuery::from_blocks(gpu, blocks, true)?),
            Kernel::Layered => KernelKind::Tiled(TiledQuery::from_blocks(gpu, blocks, false)?),
        };
        Ok(Self {
            kernel,
            kind,
            outs: blocks.layers.iter().map(|l| l.out).collect(),
        })
    }

    /// The kernel this runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// The tiled or layered kernel, when this is one (to tune its chunks).
    pub fn as_tiled_mut(&mut self) -> Option<&mut TiledQuery> {
        match &mut self.kind {
            KernelKind::Tiled(tiled) => Some(tiled),
            KernelKind::Fused(_) => None,
        }
    }

    /// Uploads one image's biases (`[out]` per layer: the bias, plus W_latent · latent for the
    /// layers that take the input) as the kernels read them.
    pub fn biases(&self, gpu: &GpuContext, biases: &[Vec<f32>]) -> Result<Biases, KernelError> {
        if biases.len() != self.outs.len()
            || biases
                .iter()
                .zip(&self.outs)
                .any(|(b, &out)| b.len() != out)
        {
            return Err(KernelError::Invalid(format!(
                "biases for layers of {:?} outputs, given {:?}",
                self.outs,
                biases.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        }
        let mut packed = Vec::new();
        for (bias, &out) in biases.iter().zip(&self.outs) {
            let mut quads = vec![0.0f32; bias_quads(out) * 4];
            quads[..out].copy_from_slice(bias);
            packed.extend(quads);
        }
        use wgpu::util::DeviceExt;
        Ok(Biases(gpu.device.create_buffer_init(
            &wgpu::util::BufferInitDescriptor {
                label: Some("query biases"),
                contents: bytemuck::cast_slice(&packed),
                usage: wgpu::BufferUsages::STORAGE,
            },
        )))
    }
}

impl std::fmt::Debug for GpuKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuKernel")
            .field("kernel", &self.kernel)
            .field("outs", &self.outs)
            .finish_non_exhaustive()
    }
}

/// A model uploaded for a kernel on the wgpu device its burn tensors live on: what a
/// [`crate::query::QueryEngine`] on a GPU runs its queries with.
#[derive(Debug)]
pub struct DeviceKernel {
    /// The device (burn's, registered by [`crate::device`]).
    pub gpu: GpuContext,
    /// The uploaded model.
    pub kernel: Arc<GpuKernel>,
}

/// Set to `fused`, `tiled`, `layered` or `burn` (burn-wgpu's own kernels) to make GPU queries
/// run that kernel instead of the measured choice, e.g. to compare them on a new GPU.
pub const KERNEL_VARIABLE: &str = "NRF_GPU_KERNEL";

/// What [`KERNEL_VARIABLE`] asks for: `None` when unset (the measured choice,
/// [`Kernel::for_model`]), `Some(None)` for burn-wgpu, `Some(Some(kernel))` for one of ours;
/// an error naming the variable for anything else.
pub fn kernel_override() -> Result<Option<Option<Kernel>>, String> {
    match std::env::var(KERNEL_VARIABLE) {
        Err(_) => Ok(None),
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) if value == "burn" => Ok(Some(None)),
        Ok(value) => value
            .parse()
            .map(|k| Some(Some(k)))
            .map_err(|e| format!("{KERNEL_VARIABLE}: {e} (or burn)")),
    }
}

/// One image's biases on the GPU, for the [`GpuKernel`] that made them.
#[derive(Debug)]
pub struct Biases(pub(crate) wgpu::Buffer);

/// Quads a layer of `out` outputs takes in the bias buffer (padded to the tiled kernel's tile, so
/// that both kernels read the same layout).
pub(crate) fn bias_quads(out: usize) -> usize {
    out.div_ceil(4)
        .next_multiple_of(super::tiled_kernel::TILE_QUADS)
}

/// Each layer's first quad in the bias buffer.
pub(crate) fn bias_offsets(outs: impl IntoIterator<Item = usize>) -> Vec<u32> {
    let mut offset = 0;
    outs.into_iter()
        .map(|out| {
            let first = offset;
            offset += bias_quads(out);
            first as u32
        })
        .collect()
}

/// One model's NRF for one image, ready to query on a GPU: an uploaded model and the image's
/// biases.
#[derive(Debug)]
pub struct GpuQuery {
    kernel: Arc<GpuKernel>,
    biases: Biases,
}

impl GpuQuery {
    /// Uploads `model` for `kernel`, with `image`'s biases (computed by the burn query's
    /// factorisation, [`crate::query::ImageQuery::layer_biases`]). Queries on a GPU device
    /// choose their kernel themselves ([`crate::query::QueryEngine::device_kernel`]); this is for
    /// comparing the kernels.
    pub fn with_kernel(
        gpu: &GpuContext,
        model: &Nrf,
        image: &ImageFeatures,
        kernel: Kernel,
    ) -> Result<Self, KernelError> {
        // One engine splits the weights for the kernel and prepares the image's biases.
        let engine = crate::query::QueryEngine::new(model);
        let failed = |e: crate::query::QueryError| KernelError::Invalid(e.to_string());
        let blocks = engine.kernel_blocks().map_err(failed)?;
        let gpu_kernel = GpuKernel::from_blocks(gpu, &blocks, kernel)?;
        let biases = engine
            .prepare(model, image)
            .and_then(|q| q.layer_biases())
            .map_err(failed)?;
        Self::from_biases(gpu, Arc::new(gpu_kernel), &biases)
    }

    /// An image's query on an uploaded model: `biases` as [`GpuKernel::biases`] takes them.
    pub fn from_biases(
        gpu: &GpuContext,
        kernel: Arc<GpuKernel>,
        biases: &[Vec<f32>],
    ) -> Result<Self, KernelError> {
        let biases = kernel.biases(gpu, biases)?;
        Ok(Self { kernel, biases })
    }

    /// The kernel this query runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel.kernel()
    }

    /// Values at MNI points (mm).
    pub fn query_points(
        &self,
        gpu: &GpuContext,
        points_mm: &[Vec3],
    ) -> Result<Vec<f32>, KernelError> {
        match &self.kernel.kind {
            KernelKind::Fused(q) => q.query_points(gpu, &self.biases, points_mm),
            KernelKind::Tiled(q) => q.query_points(gpu, &self.biases, points_mm),
        }
    }

    /// The grid's values where `inside` (0 elsewhere), each voxel packed as two f16 —
    /// (value × inside, inside) — as the 3D view's overlay texture holds them.
    pub fn query_grid_packed(
        &self,
        gpu: &GpuContext,
        grid: &Grid,
        inside: &Mask,
    ) -> Result<Vec<u32>, KernelError> {
        match &self.kernel.kind {
            KernelKind::Fused(q) => q.query_grid_packed(gpu, &self.biases, grid, inside),
            KernelKind::Tiled(q) => q.query_grid_packed(gpu, &self.biases, grid, inside),
        }
    }

    /// Evaluates the grid where `inside` a chunk at a time (`progress` after each, `(done,
    /// total)` points; `false` cancels: `None`) into a new overlay texture on the GPU; only the
    /// values come back, in grid order of the inside voxels.
    pub fn grid_with_overlay(
        &self,
        gpu: &GpuContext,
        grid: &Grid,
        inside: &Mask,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<(Vec<f32>, wgpu::Texture)>, KernelError> {
        match &self.kernel.kind {
            KernelKind::Fused(q) => q.grid_with_overlay(gpu, &self.biases, grid, inside, progress),
            KernelKind::Tiled(q) => q.grid_with_overlay(gpu, &self.biases, grid, inside, progress),
        }
    }

    /// Evaluates the grid where `inside` into a new overlay texture ([`overlay_texture`]) on
    /// `gpu`'s device; nothing comes back to the CPU. A renderer on that device adopts it
    /// (`VolumeRenderer::adopt_overlay`).
    pub fn overlay(
        &self,
        gpu: &GpuContext,
        grid: &Grid,
        inside: &Mask,
    ) -> Result<wgpu::Texture, KernelError> {
        let (packed, row) = match &self.kernel.kind {
            KernelKind::Fused(q) => q.packed_overlay(gpu, &self.biases, grid, inside)?,
            KernelKind::Tiled(q) => q.packed_overlay(gpu, &self.biases, grid, inside)?,
        };
        Ok(copy_into_overlay(gpu, &packed, grid, row))
    }
}

/// An empty overlay texture for `grid` (Rg16Float: value × inside, inside), to be filled on the
/// GPU by a query kernel ([`GpuQuery::grid_with_overlay`]).
pub fn overlay_texture(device: &wgpu::Device, grid: &Grid) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some("overlay"),
        size: wgpu::Extent3d {
            width: grid.dims[0] as u32,
            height: grid.dims[1] as u32,
            depth_or_array_layers: grid.dims[2] as u32,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D3,
        format: wgpu::TextureFormat::Rg16Float,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

/// The widest layer output or encoding of `model`'s MLP.
pub fn widest(model: &Nrf) -> usize {
    model
        .net
        .mlp
        .layers
        .iter()
        .map(|l| l.weight.val().dims()[1])
        .max()
        .unwrap_or(0)
        .max(model.config.encoding_dim())
}

/// One MLP layer's weights as the kernels read them (the latent's weights stay with the burn
/// query, which folds them into the image's biases).
pub(crate) struct LayerBlock {
    /// Outputs.
    pub out: usize,
    /// Inputs from the layer before (0 for the first layer).
    pub previous: usize,
    /// `[previous, out]` row-major: weights from the layer before's outputs.
    pub previous_weights: Vec<f32>,
    /// `[encoding, out]` row-major, for the layers that take the input (the first and
    /// `latent_in`): weights from the Fourier features.
    pub encoding_weights: Option<Vec<f32>>,
}

/// A model's MLP split into what the kernels need.
pub(crate) struct MlpBlocks {
    /// Layers, first to last (the last has one output).
    pub layers: Vec<LayerBlock>,
    /// Width of the Fourier encoding, 2F.
    pub encoding: usize,
    /// B, `[3, F]` row-major.
    pub fourier_b: Vec<f32>,
}

impl MlpBlocks {
    /// Fourier frequencies F.
    pub fn frequencies(&self) -> usize {
        self.fourier_b.len() / 3
    }

    /// The widest layer output or encoding.
    pub fn widest(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.out)
            .max()
            .unwrap_or(0)
            .max(self.encoding)
    }
}

/// A run asked for no cancel yet ended without its outputs (a cancel is the only way a run ends
/// early, so this is a bug, not an input).
pub(crate) fn uncancelled() -> KernelError {
    KernelError::Gpu("the query ended without its outputs though nothing cancelled it".into())
}

/// The inside voxels of `grid` as normalised points, and each one's word in a packed grid whose
/// rows hold `row` words.
pub(crate) fn grid_points(
    grid: &Grid,
    inside: &Mask,
    row: usize,
) -> Result<(Vec<[f32; 4]>, Vec<u32>), KernelError> {
    if inside.grid != *grid {
        return Err(KernelError::Invalid("the mask is on another grid".into()));
    }
    let [_, ny, _] = grid.dims;
    let mut points = Vec::new();
    let mut targets = Vec::new();
    for (index, _) in inside.data.iter().enumerate().filter(|(_, i)| **i) {
        let [i, j, k] = grid.ijk(index);
        points.push(texel(grid.point([i, j, k]).as_vec3()));
        targets.push(((k * ny + j) * row + i) as u32);
    }
    Ok((points, targets))
}

/// MNI points (mm) as the kernels read them ([`texel`]).
pub(crate) fn normalised_texels(points_mm: &[Vec3]) -> Vec<[f32; 4]> {
    points_mm.iter().map(|&p| texel(p)).collect()
}

/// One MNI point (mm) as the kernels read it: normalised xyz, w free.
fn texel(mm: Vec3) -> [f32; 4] {
    let n = normalise_mni(mm);
    [n.x, n.y, n.z, 0.0]
}

/// Words per row of a packed overlay grid `nx` voxels wide: 64 words = 256 bytes, the row
/// alignment of buffer-to-texture copies.
pub(crate) fn overlay_row(nx: usize) -> usize {
    nx.div_ceil(64) * 64
}

/// A zeroed buffer of `len` words (at least one) the kernels write and the CPU may read back.
pub(crate) fn packed_words(device: &wgpu::Device, label: &str, len: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (len.max(1) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

/// A new overlay texture for `grid` holding `packed` (rows of `row` words), copied on the GPU.
pub(crate) fn copy_into_overlay(
    gpu: &GpuContext,
    packed: &wgpu::Buffer,
    grid: &Grid,
    row: usize,
) -> wgpu::Texture {
    let [nx, ny, nz] = grid.dims;
    let texture = overlay_texture(&gpu.device, grid);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_texture(
        wgpu::TexelCopyBufferInfo {
            buffer: packed,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some((row * 4) as u32),
                rows_per_image: Some(ny as u32),
            },
        },
        texture.as_image_copy(),
        wgpu::Extent3d {
            width: nx as u32,
            height: ny as u32,
            depth_or_array_layers: nz as u32,
        },
    );
    gpu.queue.submit([encoder.finish()]);
    texture
}

/// Reads the first `bytes` of `source` (a `COPY_SRC` buffer) back to the CPU, after the work
/// `encoder` records.
pub(crate) fn read_back(
    gpu: &GpuContext,
    mut encoder: wgpu::CommandEncoder,
    source: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, KernelError> {
    let failed = |e: &dyn std::fmt::Display| KernelError::Gpu(e.to_string());
    let size = bytes.max(4);
    let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("query readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    if bytes > 0 {
        encoder.copy_buffer_to_buffer(source, 0, &readback, 0, bytes);
    }
    gpu.queue.submit([encoder.finish()]);
    let (sender, receiver) = mpsc::channel();
    readback.map_async(wgpu::MapMode::Read, .., move |result| {
        // The receiver waits below; a send error only means it gave up already.
        let _ = sender.send(result);
    });
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| failed(&e))?;
    receiver
        .recv()
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    let data = readback
        .get_mapped_range(..)
        .map_err(|e| failed(&e))?
        .to_vec();
    readback.unmap();
    Ok(data[..bytes as usize].to_vec())
}

/// Bind-group layout entries of the query kernels, stated rather than derived from the shaders:
/// their textures are `Rgba32Float`, which is not filterable.
pub(crate) mod layout {
    pub fn uniform(binding: u32) -> wgpu::BindGroupLayoutEntry {
        entry(
            binding,
            wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
        )
    }

    pub fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
        entry(
            binding,
            wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
        )
    }

    pub fn texture(binding: u32) -> wgpu::BindGroupLayoutEntry {
        entry(
            binding,
            wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
        )
    }

    pub fn written_texture(binding: u32) -> wgpu::BindGroupLayoutEntry {
        entry(
            binding,
            wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format: wgpu::TextureFormat::Rgba32Float,
                view_dimension: wgpu::TextureViewDimension::D2,
            },
        )
    }

    fn entry(binding: u32, ty: wgpu::BindingType) -> wgpu::BindGroupLayoutEntry {
        wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_models_take_the_fused_kernel_and_wide_ones_a_layer_kernel() {
        for software in [false, true] {
            assert_eq!(Kernel::for_model(64, software), Kernel::Fused);
            assert_eq!(Kernel::for_model(FUSED_UP_TO, software), Kernel::Fused);
        }
        assert_eq!(Kernel::for_model(FUSED_UP_TO + 1, false), Kernel::Tiled);
        assert_eq!(Kernel::for_model(4096, false), Kernel::Tiled);
        assert_eq!(Kernel::for_model(FUSED_UP_TO + 1, true), Kernel::Layered);
        assert_eq!(Kernel::for_model(4096, true), Kernel::Layered);
        // Past the fused kernel's arrays: never fused.
        let past = super::super::fused_kernel::MAX_WIDTH + 8;
        assert_ne!(Kernel::for_model(past, false), Kernel::Fused);
        for kernel in [Kernel::Fused, Kernel::Tiled, Kernel::Layered] {
            assert_eq!(kernel.to_string().parse::<Kernel>(), Ok(kernel));
        }
        let refused = "cuda".parse::<Kernel>().unwrap_err();
        assert!(refused.contains("fused, tiled or layered"), "{refused}");
    }
}
