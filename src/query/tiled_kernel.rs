//! The layer-by-layer GPU query: the MLP one layer per dispatch (`shaders/nrf_layer.wgsl`, with
//! weight and input tiles in workgroup memory, or register-tiled with direct texel fetches),
//! between a Fourier-encoding and a write-out dispatch (`shaders/nrf_points.wgsl`), over chunks of
//! points. Nothing in it is sized by the model, so it serves any width (the official 4096 and
//! beyond, up to the adapter's texture size) and any depth with `latent_in` skips. Activations
//! stay on the GPU between layers; only the values (or nothing, for the overlay) come back.

use glam::Vec3;
use wgpu::util::DeviceExt;

use super::gpu::{
    Biases, KernelError, LayerBlock, MlpBlocks, bias_offsets, copy_into_overlay, grid_points,
    normalised_texels, overlay_row, packed_words, read_back, uncancelled,
};
use crate::gpu::GpuContext;
use crate::space::Grid;
use crate::volume::Mask;

/// Points per workgroup tile (`TILE_POINTS` in `nrf_layer.wgsl`); chunks are multiples of it.
const TILE_POINTS: usize = 32;
/// Output quads per workgroup tile (`TILE_QUADS`); layer outputs are padded to a multiple.
pub(crate) const TILE_QUADS: usize = 8;
/// Inputs per workgroup-memory step (`STEP`); encodings are padded to a multiple.
const STEP: usize = 16;
/// Largest activation texture of a chunk: a chunk holds as many points as fit (and as the
/// adapter's 2D texture size allows).
const ACTIVATION_BYTES: usize = 64 << 20;

/// A layer's uniform block (`LayerParams` in `nrf_layer.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LayerParams {
    previous_inputs: u32,
    encoding_inputs: u32,
    relu: u32,
    bias_offset: u32,
}

/// A chunk's uniform block (`Chunk` in `nrf_points.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ChunkParams {
    count: u32,
    frequencies: u32,
    offset: u32,
    grid: u32,
}

/// One layer on the GPU.
struct TiledLayer {
    params: wgpu::Buffer,
    /// Texel (k, q): weights from previous input k to outputs 4q..4q+3; `None` for the first.
    previous_weights: Option<wgpu::TextureView>,
    /// The same from the Fourier features, for the layers that take the input.
    encoding_weights: Option<wgpu::TextureView>,
    /// Output quads, padded to [`TILE_QUADS`].
    output_texels: u32,
}

/// A model's MLP, uploaded for the tiled kernels on one GPU device (images add their biases).
pub struct TiledQuery {
    layers: Vec<TiledLayer>,
    layer_pipeline: wgpu::ComputePipeline,
    encode_pipeline: wgpu::ComputePipeline,
    finish_pipeline: wgpu::ComputePipeline,
    fourier: wgpu::Buffer,
    frequencies: u32,
    /// Texels of a point's encoding (2F padded to [`STEP`], over 4).
    encoding_texels: u32,
    /// Texels of the widest activation.
    widest_texels: u32,
    /// Points per chunk, a multiple of [`TILE_POINTS`].
    chunk_points: usize,
    /// Bound where a layer has no such block (never read: its input count is 0).
    empty: wgpu::TextureView,
}

/// Where one query's values go, on the GPU.
struct Outputs {
    /// `[points]` f32.
    values: wgpu::Buffer,
    /// Grid queries: the packed overlay words.
    packed: Option<wgpu::Buffer>,
}

impl TiledQuery {
    /// Uploads the layers of `blocks` to `gpu`, for the layer kernel with weight and input tiles
    /// in workgroup memory (`shared_tiles`) or the one where each invocation fetches its own.
    pub(crate) fn from_blocks(
        gpu: &GpuContext,
        blocks: &MlpBlocks,
        shared_tiles: bool,
    ) -> Result<Self, KernelError> {
        let device = &gpu.device;
        let texture_limit = device.limits().max_texture_dimension_2d as usize;
        let encoding_inputs = blocks.encoding.next_multiple_of(STEP);
        let mut layers = Vec::with_capacity(blocks.layers.len());
        let mut previous_padded = 0;
        let offsets = bias_offsets(blocks.layers.iter().map(|l| l.out));
        for ((index, block), &bias_offset) in blocks.layers.iter().enumerate().zip(&offsets) {
            let last = index + 1 == blocks.layers.len();
            let output_texels = block.out.div_ceil(4).next_multiple_of(TILE_QUADS);
            if output_texels.max(encoding_inputs).max(previous_padded) > texture_limit {
                return Err(KernelError::Invalid(format!(
                    "layer {index} ({} inputs, {} outputs) needs textures wider than this \
                     adapter's {texture_limit} texels",
                    block.previous, block.out
                )));
            }
            let previous_weights = (block.previous > 0)
                .then(|| weight_texture(gpu, block, &block.previous_weights, previous_padded));
            let encoding_weights = block
                .encoding_weights
                .as_ref()
                .map(|w| weight_texture(gpu, block, w, encoding_inputs));
            let params = LayerParams {
                previous_inputs: if block.previous > 0 {
                    previous_padded as u32
                } else {
                    0
                },
                encoding_inputs: if encoding_weights.is_some() {
                    encoding_inputs as u32
                } else {
                    0
                },
                relu: u32::from(!last),
                bias_offset,
            };
            layers.push(TiledLayer {
                params: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("tiled layer params"),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::UNIFORM,
                }),
                previous_weights,
                encoding_weights,
                output_texels: output_texels as u32,
            });
            previous_padded = output_texels * 4;
        }
        if blocks.layers.last().is_none_or(|l| l.out != 1) {
            return Err(KernelError::Invalid(
                "the MLP's last layer must have one output".into(),
            ));
        }
        let encoding_texels = (encoding_inputs / 4) as u32;
        let widest_texels = layers
            .iter()
            .map(|l| l.output_texels)
            .max()
            .unwrap_or(1)
            .max(encoding_texels);
        let by_memory = ACTIVATION_BYTES / (widest_texels as usize * 16);
        let chunk_points = (by_memory.min(texture_limit) / TILE_POINTS).max(1) * TILE_POINTS;
        let module = |label, source: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
        };
        let layer_module = module("nrf_layer.wgsl", LAYER_SOURCE);
        let points_module = module("nrf_points.wgsl", POINTS_SOURCE);
        let pipeline = |label, layout: &wgpu::BindGroupLayout, module, entry| {
            let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(&layout),
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let empty = device
            .create_texture(&texture_descriptor(
                "tiled empty",
                1,
                1,
                wgpu::TextureUsages::TEXTURE_BINDING,
            ))
            .create_view(&Default::default());
        Ok(Self {
            layer_pipeline: pipeline(
                "tiled layer",
                &layer_layout(device),
                &layer_module,
                if shared_tiles { "main" } else { "direct" },
            ),
            encode_pipeline: pipeline(
                "tiled encode",
                &encode_layout(device),
                &points_module,
                "encode",
            ),
            finish_pipeline: pipeline(
                "tiled finish",
                &finish_layout(device),
                &points_module,
                "finish",
            ),
            layers,
            fourier: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("fourier B"),
                contents: bytemuck::cast_slice(&blocks.fourier_b),
                usage: wgpu::BufferUsages::STORAGE,
            }),
            frequencies: blocks.frequencies() as u32,
            encoding_texels,
            widest_texels,
            chunk_points,
            empty,
        })
    }

    /// Evaluates at most `points` per submission (rounded up to a whole tile, and never more
    /// than the memory-sized default): smaller chunks answer a cancel sooner.
    pub fn limit_chunk_points(&mut self, points: usize) {
        let tiles = points.div_ceil(TILE_POINTS).max(1);
        self.chunk_points = self.chunk_points.min(tiles.saturating_mul(TILE_POINTS));
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
        let outputs = self
            .run(gpu, biases, &points, None, &mut |_, _| true)?
            .ok_or_else(uncancelled)?;
        let encoder = gpu.device.create_command_encoder(&Default::default());
        let bytes = read_back(gpu, encoder, &outputs.values, (points.len() * 4) as u64)?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes).to_vec())
    }

    /// The grid's values where `inside` (0 elsewhere), each voxel packed as two f16 —
    /// (value × inside, inside).
    pub fn query_grid_packed(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
    ) -> Result<Vec<u32>, KernelError> {
        // Unpadded rows: the words in grid order.
        let (_, packed) = self
            .run_grid(gpu, biases, grid, inside, grid.dims[0], &mut |_, _| true)?
            .ok_or_else(uncancelled)?;
        let encoder = gpu.device.create_command_encoder(&Default::default());
        let bytes = read_back(gpu, encoder, &packed, (grid.len() * 4) as u64)?;
        Ok(bytemuck::cast_slice::<u8, u32>(&bytes).to_vec())
    }

    /// Evaluates the grid where `inside` into packed overlay words (rows of the returned length,
    /// ready to copy into a texture); nothing comes back to the CPU.
    pub fn packed_overlay(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
    ) -> Result<(wgpu::Buffer, usize), KernelError> {
        let row = overlay_row(grid.dims[0]);
        let (_, packed) = self
            .run_grid(gpu, biases, grid, inside, row, &mut |_, _| true)?
            .ok_or_else(uncancelled)?;
        Ok((packed, row))
    }

    /// Evaluates the grid where `inside` chunk by chunk (`progress` after each, `(done, total)`
    /// points; `false` cancels: `None`), each value written into a new overlay texture on the
    /// GPU; only the values come back, in grid order of the inside voxels.
    pub fn grid_with_overlay(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<(Vec<f32>, wgpu::Texture)>, KernelError> {
        let row = overlay_row(grid.dims[0]);
        let Some((outputs, packed)) = self.run_grid(gpu, biases, grid, inside, row, progress)?
        else {
            return Ok(None);
        };
        let texture = copy_into_overlay(gpu, &packed, grid, row);
        let count = inside.data.iter().filter(|&&i| i).count();
        let encoder = gpu.device.create_command_encoder(&Default::default());
        let bytes = read_back(gpu, encoder, &outputs.values, (count * 4) as u64)?;
        Ok(Some((
            bytemuck::cast_slice::<u8, f32>(&bytes).to_vec(),
            texture,
        )))
    }

    /// Runs the grid's inside voxels into a packed grid whose rows hold `row` words; returns the
    /// outputs and the packed words (`None` when cancelled).
    fn run_grid(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        grid: &Grid,
        inside: &Mask,
        row: usize,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<(Outputs, wgpu::Buffer)>, KernelError> {
        let [_, ny, nz] = grid.dims;
        let (points, targets) = grid_points(grid, inside, row)?;
        let Some(mut outputs) = self.run(
            gpu,
            biases,
            &points,
            Some((&targets, row * ny * nz)),
            progress,
        )?
        else {
            return Ok(None);
        };
        let packed = outputs.packed.take().ok_or_else(uncancelled)?;
        Ok(Some((outputs, packed)))
    }

    /// Evaluates `points` (normalised xyz) chunk by chunk, waiting for each; grid queries also
    /// scatter into `grid.1` packed words at `grid.0`'s indices. `None` when cancelled.
    fn run(
        &self,
        gpu: &GpuContext,
        biases: &Biases,
        points: &[[f32; 4]],
        grid: Option<(&[u32], usize)>,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Outputs>, KernelError> {
        let device = &gpu.device;
        let count = points.len();
        let storage = |label, bytes: &[u8], extra| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | extra,
            })
        };
        let point_buffer = storage(
            "tiled points",
            bytemuck::cast_slice(if points.is_empty() {
                &[[0.0f32; 4]]
            } else {
                points
            }),
            wgpu::BufferUsages::empty(),
        );
        let values = packed_words(device, "tiled values", count);
        let (targets, packed) = match grid {
            Some((targets, len)) => (
                storage(
                    "tiled targets",
                    bytemuck::cast_slice(if targets.is_empty() { &[0u32] } else { targets }),
                    wgpu::BufferUsages::empty(),
                ),
                Some(packed_words(device, "tiled packed", len)),
            ),
            None => (
                storage("tiled targets", &[0; 4], wgpu::BufferUsages::empty()),
                None,
            ),
        };
        // Packed words no point writes stay zero: (0, 0), outside. wgpu zeroes new buffers.
        let unpacked = packed_words(device, "tiled packed (unused)", 1);
        let packed_or_unused = packed.as_ref().unwrap_or(&unpacked);

        // One chunk's textures, sized for the chunk or the whole (smaller) query.
        let rows = self
            .chunk_points
            .min(count.max(1).next_multiple_of(TILE_POINTS));
        let activation = |label| {
            device.create_texture(&texture_descriptor(
                label,
                self.widest_texels,
                rows as u32,
                wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
            ))
        };
        let encoding = device.create_texture(&texture_descriptor(
            "tiled encoding",
            self.encoding_texels,
            rows as u32,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
        ));
        let encoding = encoding.create_view(&Default::default());
        let ping_pong = [
            activation("tiled activations a"),
            activation("tiled activations b"),
        ]
        .map(|t| t.create_view(&Default::default()));
        // Layer l writes ping_pong[l % 2] and reads the other.
        let layer_groups: Vec<wgpu::BindGroup> = self
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let previous = if l == 0 {
                    &self.empty
                } else {
                    &ping_pong[(l + 1) % 2]
                };
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("tiled layer"),
                    layout: &self.layer_pipeline.get_bind_group_layout(0),
                    entries: &[
                        buffer_entry(0, &layer.params),
                        view_entry(1, previous),
                        view_entry(2, &encoding),
                        view_entry(3, layer.previous_weights.as_ref().unwrap_or(&self.empty)),
                        view_entry(4, layer.encoding_weights.as_ref().unwrap_or(&self.empty)),
                        buffer_entry(5, &biases.0),
                        view_entry(6, &ping_pong[l % 2]),
                    ],
                })
            })
            .collect();
        let last = &ping_pong[(self.layers.len() + 1) % 2];

        let mut done = 0;
        while done < count {
            let in_chunk = (count - done).min(rows);
            let chunk = ChunkParams {
                count: in_chunk as u32,
                frequencies: self.frequencies,
                offset: done as u32,
                grid: u32::from(grid.is_some()),
            };
            let chunk = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("tiled chunk"),
                contents: bytemuck::bytes_of(&chunk),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let encode_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("tiled encode"),
                layout: &self.encode_pipeline.get_bind_group_layout(0),
                entries: &[
                    buffer_entry(0, &chunk),
                    buffer_entry(1, &point_buffer),
                    buffer_entry(2, &self.fourier),
                    view_entry(3, &encoding),
                ],
            });
            let finish_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("tiled finish"),
                layout: &self.finish_pipeline.get_bind_group_layout(0),
                entries: &[
                    buffer_entry(0, &chunk),
                    view_entry(4, last),
                    buffer_entry(5, &values),
                    buffer_entry(6, &targets),
                    buffer_entry(7, packed_or_unused),
                ],
            });
            // Only the tiles holding this chunk's points.
            let tiles = in_chunk.div_ceil(TILE_POINTS) as u32;
            let mut encoder = device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.encode_pipeline);
                pass.set_bind_group(0, &encode_group, &[]);
                pass.dispatch_workgroups(
                    self.encoding_texels.div_ceil(8),
                    (tiles * TILE_POINTS as u32).div_ceil(8),
                    1,
                );
                pass.set_pipeline(&self.layer_pipeline);
                for (layer, group) in self.layers.iter().zip(&layer_groups) {
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(layer.output_texels / TILE_QUADS as u32, tiles, 1);
                }
                pass.set_pipeline(&self.finish_pipeline);
                pass.set_bind_group(0, &finish_group, &[]);
                pass.dispatch_workgroups((in_chunk as u32).div_ceil(64), 1, 1);
            }
            gpu.queue.submit([encoder.finish()]);
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| KernelError::Gpu(e.to_string()))?;
            done += in_chunk;
            if !progress(done, count) {
                return Ok(None);
            }
        }
        Ok(Some(Outputs { values, packed }))
    }
}

/// A weight texture for `block`: texel (k, q) holds the weights from input k (of `w`,
/// `[inputs, out]` row-major) to outputs 4q..4q+3; `width` inputs (padded with zeros) by the
/// layer's padded output quads.
fn weight_texture(
    gpu: &GpuContext,
    block: &LayerBlock,
    w: &[f32],
    width: usize,
) -> wgpu::TextureView {
    let out = block.out;
    let inputs = w.len() / out;
    let quads = out.div_ceil(4).next_multiple_of(TILE_QUADS);
    let mut texels = vec![[0.0f32; 4]; width * quads];
    for k in 0..inputs {
        let row = &w[k * out..(k + 1) * out];
        for (o, &value) in row.iter().enumerate() {
            texels[(o / 4) * width + k][o % 4] = value;
        }
    }
    gpu.device
        .create_texture_with_data(
            &gpu.queue,
            &texture_descriptor(
                "tiled weights",
                width as u32,
                quads as u32,
                wgpu::TextureUsages::TEXTURE_BINDING,
            ),
            wgpu::util::TextureDataOrder::LayerMajor,
            bytemuck::cast_slice(&texels),
        )
        .create_view(&Default::default())
}

fn texture_descriptor(
    label: &str,
    width: u32,
    height: u32,
    usage: wgpu::TextureUsages,
) -> wgpu::TextureDescriptor<'_> {
    wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage,
        view_formats: &[],
    }
}

fn buffer_entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

fn view_entry(binding: u32, view: &wgpu::TextureView) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::TextureView(view),
    }
}

const LAYER_SOURCE: &str = include_str!("../../shaders/nrf_layer.wgsl");
const POINTS_SOURCE: &str = include_str!("../../shaders/nrf_points.wgsl");

fn layer_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    use super::gpu::layout::*;
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("tiled layer"),
        entries: &[
            uniform(0),
            texture(1),
            texture(2),
            texture(3),
            texture(4),
            storage(5, true),
            written_texture(6),
        ],
    })
}

fn encode_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    use super::gpu::layout::*;
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("tiled encode"),
        entries: &[
            uniform(0),
            storage(1, true),
            storage(2, true),
            written_texture(3),
        ],
    })
}

fn finish_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    use super::gpu::layout::*;
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("tiled finish"),
        entries: &[
            uniform(0),
            texture(4),
            storage(5, false),
            storage(6, true),
            storage(7, false),
        ],
    })
}
