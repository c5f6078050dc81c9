//! The fused GPU query (`shaders/nrf_query.wgsl`): one compute invocation per point runs the whole
//! MLP with the image's first-layer share precomputed here, so a grid is filled in one dispatch
//! instead of a chain of burn kernels with their intermediate tensors. The burn query
//! ([`crate::query`]) is the reference it must match; the CPU query stays the fallback.

use glam::{DVec3, Vec3};
use wgpu::util::DeviceExt;

use super::gpu::{
    Biases, KernelError, MlpBlocks, bias_offsets, copy_into_overlay, grid_points,
    normalised_texels, overlay_row, packed_words, read_back,
};
use crate::gpu::GpuContext;
use crate::space::Grid;
use crate::volume::Mask;

/// Mesa's software rasteriser ends any shader loop after this many iterations per invocation
/// (summed over every time the loop is entered).
const SOFTWARE_LOOP_LIMIT: usize = 65_535;

/// The widest layer or encoding the kernel's private arrays hold.
pub const MAX_WIDTH: usize = 512;

/// Points each invocation evaluates together (`POINTS` in the shader).
const POINTS_PER_INVOCATION: usize = 4;

/// Invocations per workgroup (`@workgroup_size` in the shader).
const WORKGROUP_SIZE: usize = 64;

/// Inputs per step of the kernel's inner loop; each block's inputs are padded to a multiple.
const INPUT_STEP: usize = 8;

/// One layer's entry in the kernel's layer table (matches `Layer` in the shader).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct LayerEntry {
    encoding_row: u32,
    previous_row: u32,
    bias_offset: u32,
    encoding_inputs: u32,
    previous_inputs: u32,
    out: u32,
    _pad: [u32; 2],
}

/// The kernel's uniform block (matches `Params` in the shader).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    counts: [u32; 4],
    grid_dims: [u32; 4],
    grid_origin: [f32; 4],
    grid_col0: [f32; 4],
    grid_col1: [f32; 4],
    grid_col2: [f32; 4],
}

/// A model's MLP, packed for the fused kernel on one GPU device (images add their biases).
pub struct FusedQuery {
    pipeline: wgpu::ComputePipeline,
    layers: wgpu::Buffer,
    weights: wgpu::TextureView,
    fourier: wgpu::Buffer,
    layer_count: u32,
    frequencies: u32,
}

/// The weights as the kernel reads them: texel `(k, row)` holds the weights from input `k` to
/// four consecutive outputs. Each block of a layer's inputs takes `out/4` rows of `width`
/// texels (inputs past the block's end are zero). Biases are a buffer of their own, per image
/// ([`super::gpu::Biases`]).
struct WeightTexels {
    /// `[rows][width][4]`.
    texels: Vec<[f32; 4]>,
    width: usize,
}

impl WeightTexels {
    fn rows(&self) -> usize {
        self.texels.len() / self.width
    }

    /// Appends the block `w` (`[inputs, out]` row-major, as burn stores a linear layer) as
    /// `out/4` rows; returns its first row.
    fn push_block(&mut self, w: &[f32], inputs: usize, out: usize) -> u32 {
        let first = self.rows() as u32;
        for quad in 0..out.div_ceil(4) {
            let mut row = vec![[0.0; 4]; self.width];
            for (k, texel) in row.iter_mut().enumerate().take(inputs) {
                for (lane, value) in texel.iter_mut().enumerate() {
                    let o = quad * 4 + lane;
                    if o < out {
                        *value = w[k * out + o];
                    }
                }
            }
            self.texels.extend(row);
        }
        first
    }
}

impl FusedQuery {
    /// Packs the layers of `blocks` for the kernel.
    pub(crate) fn from_blocks(gpu: &GpuContext, blocks: &MlpBlocks) -> Result<Self, KernelError> {
        let encoding = blocks.encoding;
        let widest = blocks.layers.iter().map(|l| l.out).max().unwrap_or(0);
        if widest > MAX_WIDTH || encoding > MAX_WIDTH {
            return Err(KernelError::Invalid(format!(
                "the fused kernel holds layers up to {MAX_WIDTH} wide; this model has width \
                 {widest} and a {encoding}-wide encoding (use the tiled kernel)"
            )));
        }
        // Every block's inputs are a previous layer's outputs or the encoding.
        let width = blocks.widest().max(1).next_multiple_of(INPUT_STEP);
        let mut texels = WeightTexels {
            texels: Vec::new(),
            width,
        };
        let offsets = bias_offsets(blocks.layers.iter().map(|l| l.out));
        let mut table = Vec::new();
        // Iterations of the kernel's inner loop per invocation.
        let mut inner_steps = 0usize;
        for (block, &bias_offset) in blocks.layers.iter().zip(&offsets) {
            let out = block.out;
            let mut entry = LayerEntry {
                out: out as u32,
                bias_offset,
                ..Default::default()
            };
            if block.previous > 0 {
                entry.previous_row =
                    texels.push_block(&block.previous_weights, block.previous, out);
                entry.previous_inputs = block.previous.next_multiple_of(INPUT_STEP) as u32;
            }
            if let Some(w) = &block.encoding_weights {
                entry.encoding_row = texels.push_block(w, encoding, out);
                entry.encoding_inputs = encoding.next_multiple_of(INPUT_STEP) as u32;
            }
            inner_steps += (entry.previous_inputs + entry.encoding_inputs) as usize / INPUT_STEP
                * out.div_ceil(4);
            table.push(entry);
        }
        if gpu.is_software() && inner_steps >= SOFTWARE_LOOP_LIMIT {
            return Err(KernelError::Invalid(format!(
                "this model needs {inner_steps} inner-loop steps per point, beyond the {} a \
                 software GPU (lavapipe) runs in one loop; use the tiled kernel",
                SOFTWARE_LOOP_LIMIT - 1
            )));
        }
        let limit = gpu.device.limits().max_texture_dimension_2d as usize;
        if texels.rows() > limit {
            return Err(KernelError::Invalid(format!(
                "this model's weights take {} texture rows, beyond this adapter's {limit}; use \
                 the tiled kernel",
                texels.rows()
            )));
        }
        let device = &gpu.device;
        let storage = |label, bytes: &[u8]| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let weights = device.create_texture_with_data(
            &gpu.queue,
            &wgpu::TextureDescriptor {
                label: Some("fused weights"),
                size: wgpu::Extent3d {
                    width: width as u32,
                    height: texels.rows() as u32,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            bytemuck::cast_slice(&texels.texels),
        );
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("nrf_query.wgsl"),
            source: wgpu::ShaderSource::Wgsl(specialised_source(width).into()),
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("fused nrf query"),
            bind_group_layouts: &[Some(&bind_group_layout(device))],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("fused nrf query"),
            layout: Some(&layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Ok(Self {
            pipeline,
            layers: storage("layers", bytemuck::cast_slice(&table)),
            weights: weights.create_view(&Default::default()),
            fourier: storage("fourier B", bytemuck::cast_slice(&blocks.fourier_b)),
            layer_count: table.len() as u32,
            frequencies: blocks.frequencies() as u32,
        })
    }

    /// Runs the kernel over `count` points; returns the bytes of `output_bytes` read back from the
    /// values (list mode) or packed (grid mode) buffer.
    fn run(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        params: Params,
        points: &[[f32; 4]],
        count: usize,
        packed_output: bool,
    ) -> Result<Vec<u8>, KernelError> {
        let packed = packed_words(&gpu.device, "fused packed", count);
        let (encoder, values) = self.encode(gpu, biases, params, points, count, &packed);
        let source = if packed_output { &packed } else { &values };
        read_back(gpu, encoder, source, (count * 4) as u64)
    }

    /// Records the kernel over `count` points into a new encoder, writing the packed grid into
    /// `packed` (grid and scattered-list modes). Returns the encoder and the values buffer
    /// (`count` words).
    fn encode(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        params: Params,
        points: &[[f32; 4]],
        count: usize,
        packed: &wgpu::Buffer,
    ) -> (wgpu::CommandEncoder, wgpu::Buffer) {
        let device = &gpu.device;
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fused params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let points_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("points"),
            contents: bytemuck::cast_slice(if points.is_empty() {
                &[[0.0f32; 4]]
            } else {
                points
            }),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let values = packed_words(device, "fused values", count);
        fn buffer(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("fused nrf query"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[
                buffer(0, &uniform),
                buffer(1, &self.layers),
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&self.weights),
                },
                buffer(3, &self.fourier),
                buffer(4, &points_buffer),
                buffer(5, &values),
                buffer(6, packed),
                buffer(7, &biases.0),
            ],
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let invocations = count.div_ceil(POINTS_PER_INVOCATION);
            let groups = (invocations.div_ceil(WORKGROUP_SIZE) as u32).max(1);
            let (x, y) = if groups > 65_535 {
                (65_535, groups.div_ceil(65_535))
            } else {
                (groups, 1)
            };
            pass.dispatch_workgroups(x, y, 1);
        }
        (encoder, values)
    }

    fn params(&self, count: usize, mode: u32) -> Params {
        Params {
            counts: [count as u32, self.frequencies, self.layer_count, mode],
            grid_dims: [0; 4],
            grid_origin: [0.0; 4],
            grid_col0: [0.0; 4],
            grid_col1: [0.0; 4],
            grid_col2: [0.0; 4],
        }
    }

    /// Values at MNI points (mm).
    pub fn query_points(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        points_mm: &[Vec3],
    ) -> Result<Vec<f32>, KernelError> {
        if points_mm.is_empty() {
            return Ok(Vec::new());
        }
        let points = normalised_texels(points_mm);
        let bytes = self.run(
            gpu,
            biases,
            self.params(points.len(), 0),
            &points,
            points.len(),
            false,
        )?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes).to_vec())
    }

    /// The grid's values where `inside` (0 elsewhere), each voxel packed as two f16 —
    /// (value × inside, inside) — ready to copy into the 3D view's overlay texture.
    pub fn query_grid_packed(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
    ) -> Result<Vec<u32>, KernelError> {
        if inside.grid != *grid {
            return Err(KernelError::Invalid("the mask is on another grid".into()));
        }
        let count = grid.len();
        let (params, mask) = self.grid_inputs(grid, inside, 0);
        let bytes = self.run(gpu, biases, params, &mask, count, true)?;
        Ok(bytemuck::cast_slice::<u8, u32>(&bytes).to_vec())
    }
}

impl FusedQuery {
    /// Kernel parameters and the packed inside mask of a grid query; `row` pads output rows.
    fn grid_inputs(&self, grid: &Grid, inside: &Mask, row: u32) -> (Params, Vec<[f32; 4]>) {
        let origin = grid.voxel_to_world(DVec3::ZERO);
        let column = |axis: DVec3| (grid.voxel_to_world(axis) - origin).as_vec3();
        let v4 = |v: Vec3| [v.x, v.y, v.z, 0.0];
        let mut params = self.params(grid.len(), 1);
        params.grid_dims = [
            grid.dims[0] as u32,
            grid.dims[1] as u32,
            grid.dims[2] as u32,
            row,
        ];
        params.grid_origin = v4(origin.as_vec3());
        params.grid_col0 = v4(column(DVec3::X));
        params.grid_col1 = v4(column(DVec3::Y));
        params.grid_col2 = v4(column(DVec3::Z));
        let mask = inside
            .data
            .chunks(4)
            .map(|c| {
                let mut quad = [0.0; 4];
                for (q, &i) in quad.iter_mut().zip(c) {
                    *q = if i { 1.0 } else { 0.0 };
                }
                quad
            })
            .collect();
        (params, mask)
    }

    /// Evaluates the grid where `inside` into packed overlay words (rows of the returned length,
    /// ready to copy into a texture) in one dispatch; nothing comes back to the CPU.
    pub fn packed_overlay(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
    ) -> Result<(wgpu::Buffer, usize), KernelError> {
        if inside.grid != *grid {
            return Err(KernelError::Invalid("the mask is on another grid".into()));
        }
        let [nx, ny, nz] = grid.dims;
        let row = overlay_row(nx);
        let (params, mask) = self.grid_inputs(grid, inside, row as u32);
        let packed = packed_words(&gpu.device, "fused packed", row * ny * nz);
        let (encoder, _) = self.encode(gpu, biases, params, &mask, grid.len(), &packed);
        gpu.queue.submit([encoder.finish()]);
        Ok((packed, row))
    }

    /// Evaluates the grid where `inside` a chunk at a time (`progress` after each, `(done,
    /// total)` points; `false` cancels: `None`), each value written into a new overlay texture
    /// on the GPU; only the values come back, in grid order of the inside voxels.
    pub fn grid_with_overlay(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<(Vec<f32>, wgpu::Texture)>, KernelError> {
        let [nx, ny, nz] = grid.dims;
        let row = overlay_row(nx);
        let (mut points, targets) = grid_points(grid, inside, row)?;
        // Scattered-list mode: each point carries its packed word in w.
        for (point, &target) in points.iter_mut().zip(&targets) {
            point[3] = f32::from_bits(target);
        }
        let packed = packed_words(&gpu.device, "fused packed", row * ny * nz);
        let mut values = Vec::with_capacity(points.len());
        for chunk in points.chunks(SCATTER_CHUNK_POINTS) {
            let params = self.params(chunk.len(), 2);
            let (encoder, chunk_values) =
                self.encode(gpu, biases, params, chunk, chunk.len(), &packed);
            let bytes = read_back(gpu, encoder, &chunk_values, (chunk.len() * 4) as u64)?;
            values.extend_from_slice(bytemuck::cast_slice::<u8, f32>(&bytes));
            if !progress(values.len(), points.len()) {
                return Ok(None);
            }
        }
        let texture = copy_into_overlay(gpu, &packed, grid, row);
        Ok(Some((values, texture)))
    }
}

/// Points per dispatch of [`FusedQuery::grid_with_overlay`]: a cancel or a progress report waits
/// at most one (about 0.15 s for the embedded models on lavapipe).
const SCATTER_CHUNK_POINTS: usize = 16_384;

/// The kernel's WGSL as written, sized for [`MAX_WIDTH`].
const SOURCE: &str = include_str!("../../shaders/nrf_query.wgsl");

/// The line of [`SOURCE`] that sizes its activation arrays.
const SIZE_LINE: &str = "const MAX_VEC4: u32 = 128u;";

/// The kernel's source with its activation arrays sized for layers and encodings up to `width`
/// values (a multiple of [`INPUT_STEP`]), rather than for [`MAX_WIDTH`]: on a software adapter the
/// compile time grows steeply with those arrays.
fn specialised_source(width: usize) -> String {
    SOURCE.replace(
        SIZE_LINE,
        &format!("const MAX_VEC4: u32 = {}u;", width.div_ceil(4)),
    )
}

/// The kernel's bindings, stated rather than derived from the shader: the weights texture is
/// `Rgba32Float`, which is not filterable.
fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    use super::gpu::layout::*;
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("fused nrf query"),
        entries: &[
            uniform(0),
            storage(1, true),
            texture(2),
            storage(3, true),
            storage(4, true),
            storage(5, false),
            storage(6, false),
            storage(7, true),
        ],
    })
}

/// Unpacks one grid voxel of [`super::gpu::GpuQuery::query_grid_packed`] into (value, inside).
pub fn unpack(word: u32) -> (f32, bool) {
    let weighted = half::f16::from_bits((word & 0xFFFF) as u16).to_f32();
    let inside = half::f16::from_bits((word >> 16) as u16).to_f32();
    if inside > 0.5 {
        (weighted / inside, true)
    } else {
        (0.0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_sized_for_the_model() {
        assert!(SOURCE.contains(SIZE_LINE), "the shader's size line changed");
        assert_eq!(MAX_WIDTH / 4, 128, "SIZE_LINE states MAX_WIDTH / 4");
        let source = specialised_source(136);
        assert!(source.contains("const MAX_VEC4: u32 = 34u;"));
        assert!(!source.contains(SIZE_LINE));
    }
}
