//! Finding a GPU (hardware or a software Vulkan driver such as Mesa's lavapipe) and proving that
//! it computes, with a small compute shader whose answer is known.

use std::sync::mpsc;

use thiserror::Error;
use wgpu::util::DeviceExt;

/// Set (to anything but `0`) to make nrf behave as if the machine had no GPU adapter at all: the
/// CPU paths run and GPU-only features say what they need.
pub const NO_GPU_VARIABLE: &str = "NRF_NO_GPU";

/// Errors from finding or using a GPU adapter.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter at all: no GPU driver, and no software Vulkan driver installed.
    #[error(
        "no GPU adapter found ({0}); on Debian/Ubuntu `apt-get install mesa-vulkan-drivers` provides a software one (lavapipe)"
    )]
    NoAdapter(String),
    /// The adapter refused to open a device.
    #[error("the GPU adapter {adapter} could not open a device: {message}")]
    NoDevice {
        /// Adapter name.
        adapter: String,
        /// Driver's message.
        message: String,
    },
    /// Reading a result back from the GPU failed.
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// The GPU computed something other than the known answer.
    #[error(
        "the GPU self-test computed wrong values: {mismatches} of {len} differ (first at index {first})"
    )]
    WrongResult {
        /// Elements that differ.
        mismatches: usize,
        /// Elements computed.
        len: usize,
        /// Index of the first difference.
        first: usize,
    },
}

/// An adapter with its opened device and queue (the handles are shared: a clone is the same
/// device).
#[derive(Debug, Clone)]
pub struct GpuContext {
    /// The instance the adapter came from (burn needs it to share the device).
    pub instance: wgpu::Instance,
    /// The adapter (physical or software GPU).
    pub adapter: wgpu::Adapter,
    /// The logical device.
    pub device: wgpu::Device,
    /// The device's queue.
    pub queue: wgpu::Queue,
}

impl GpuContext {
    /// Finds the best adapter (honouring `WGPU_BACKEND`/`WGPU_ADAPTER_NAME`) and opens a device
    /// with the adapter's own features and limits, so that burn can compute on it too
    /// ([`crate::device::compute_device`]).
    pub fn request() -> Result<Self, GpuError> {
        pollster::block_on(Self::request_async())
    }

    async fn request_async() -> Result<Self, GpuError> {
        if std::env::var_os(NO_GPU_VARIABLE).is_some_and(|v| !v.is_empty() && v != "0") {
            return Err(GpuError::NoAdapter(format!("{NO_GPU_VARIABLE} is set")));
        }
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        // Vulkan/Metal/DX12 unless WGPU_BACKEND says otherwise: compute needs them, and probing
        // OpenGL makes EGL print warnings on headless machines.
        descriptor.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let instance = wgpu::Instance::new(descriptor);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::from_env()
                    .unwrap_or(wgpu::PowerPreference::HighPerformance),
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let (required_features, required_limits) = device_requirements(&adapter);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("nrf"),
                required_features,
                required_limits,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoDevice {
                adapter: adapter.get_info().name,
                message: e.to_string(),
            })?;
        Ok(Self {
            instance,
            adapter,
            device,
            queue,
        })
    }

    /// One line naming the adapter, its type and backend, e.g.
    /// `llvmpipe (LLVM 15.0.6, 256 bits) (Cpu, Vulkan)`.
    pub fn describe(&self) -> String {
        let info = self.adapter.get_info();
        format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
    }

    /// Whether the adapter is a CPU (software) implementation.
    pub fn is_software(&self) -> bool {
        self.adapter.get_info().device_type == wgpu::DeviceType::Cpu
    }

    /// Computes `a·x + y` elementwise on the GPU (`shaders/self_test.wgsl`).
    pub fn saxpy(&self, a: f32, x: &[f32], y: &[f32]) -> Result<Vec<f32>, GpuError> {
        let len = x.len().min(y.len());
        let bytes = (len.max(1) * std::mem::size_of::<f32>()) as u64;
        let device = &self.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("self_test.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../shaders/self_test.wgsl").into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("saxpy"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        struct Params {
            a: f32,
            len: u32,
        }
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::bytes_of(&Params { a, len: len as u32 }),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let storage = |label, data: &[f32]| {
            let mut padded = data[..len].to_vec();
            padded.resize(len.max(1), 0.0);
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(&padded),
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let (x_buf, y_buf) = (storage("x", x), storage("y", y));
        let out = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("out"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("saxpy"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[(0, &params), (1, &x_buf), (2, &y_buf), (3, &out)].map(
                |(binding, buffer)| wgpu::BindGroupEntry {
                    binding,
                    resource: buffer.as_entire_binding(),
                },
            ),
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups((len as u32).div_ceil(64).max(1), 1, 1);
        }
        encoder.copy_buffer_to_buffer(&out, 0, &readback, 0, bytes);
        self.queue.submit([encoder.finish()]);
        self.read_buffer(&readback, len)
    }

    /// Maps a `MAP_READ` buffer and copies out its first `len` floats.
    fn read_buffer(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, GpuError> {
        let (sender, receiver) = mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver waits below; a send error only means it gave up already.
            let _ = sender.send(result);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        receiver
            .recv()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let values = {
            let view = buffer
                .get_mapped_range(..)
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::cast_slice::<u8, f32>(&view)[..len].to_vec()
        };
        buffer.unmap();
        Ok(values)
    }

    /// Runs a SAXPY of `len` elements with exactly representable inputs and checks every result
    /// bit for bit against the CPU.
    pub fn self_test(&self, len: usize) -> Result<(), GpuError> {
        let x: Vec<f32> = (0..len).map(|i| (i % 1000) as f32 * 0.5).collect();
        let y: Vec<f32> = (0..len).map(|i| -((i % 777) as f32)).collect();
        let a = 3.0;
        let got = self.saxpy(a, &x, &y)?;
        let mismatches: Vec<usize> = (0..len)
            .filter(|&i| got.get(i) != Some(&(a * x[i] + y[i])))
            .collect();
        match mismatches.first() {
            None => Ok(()),
            Some(&first) => Err(GpuError::WrongResult {
                mismatches: mismatches.len(),
                len,
                first,
            }),
        }
    }
}

/// The features and limits a wgpu device must be opened with for burn to compute on it: the
/// adapter's own (burn picks kernels by the adapter's features), less those that only some
/// memory kinds allow.
pub fn device_requirements(adapter: &wgpu::Adapter) -> (wgpu::Features, wgpu::Limits) {
    (
        adapter.features() - wgpu::Features::MAPPABLE_PRIMARY_BUFFERS,
        adapter.limits(),
    )
}

/// A device descriptor with [`device_requirements`], for a window's (or a test's) wgpu device
/// that burn may share.
pub fn shareable_device_descriptor(
    adapter: &wgpu::Adapter,
    label: &'static str,
) -> wgpu::DeviceDescriptor<'static> {
    let (required_features, required_limits) = device_requirements(adapter);
    wgpu::DeviceDescriptor {
        label: Some(label),
        required_features,
        required_limits,
        ..Default::default()
    }
}
