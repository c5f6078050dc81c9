//! Where the model runs: the CPU (burn's flex backend) or a GPU through burn-wgpu.
//!
//! `--device auto|cpu|gpu` is decided against the adapter that is really there ([`decide`], a
//! pure function so that every case is tested), and the GPU burn then computes on is that very
//! adapter: the probe's own device is handed to burn ([`compute_device`]), and the viewer hands
//! burn the device eframe draws with ([`compute_device_on`]).

use std::sync::{Mutex, OnceLock};

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuSetup;

use crate::gpu::GpuContext;

/// Where queries run, as the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A hardware GPU when one exists; otherwise (no adapter, or only a software one such as
    /// Mesa's lavapipe, which is slower than the CPU backend) the CPU.
    #[default]
    Auto,
    /// The CPU (burn's flex backend, all cores).
    Cpu,
    /// A GPU through wgpu, software adapters included; an error when there is none.
    Gpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            other => Err(format!(
                "unknown device {other:?}: expected auto, cpu or gpu"
            )),
        }
    }
}

/// The adapter a probe found: what the decision needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Discrete, integrated, virtual, CPU (software) or other.
    pub device_type: wgpu::DeviceType,
    /// Vulkan, Metal, DX12 or GL.
    pub backend: wgpu::Backend,
}

impl AdapterSummary {
    /// The summary of an adapter's information.
    pub fn from_info(info: &wgpu::AdapterInfo) -> Self {
        Self {
            name: info.name.clone(),
            device_type: info.device_type,
            backend: info.backend,
        }
    }

    /// Whether the adapter is a software rasteriser running on the CPU.
    pub fn is_software(&self) -> bool {
        self.device_type == wgpu::DeviceType::Cpu
    }

    /// E.g. `NVIDIA H200 (DiscreteGpu, Vulkan)`.
    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.name, self.device_type, self.backend)
    }
}

/// Where [`decide`] puts the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On the probed adapter.
    Gpu,
    /// On the CPU, with the reason when the user did not ask for it.
    Cpu {
        /// Why not the GPU (`None`: `--device cpu`).
        why: Option<String>,
    },
}

/// No GPU could be used for computing.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no GPU is available for computing ({0}); use --device cpu, or install mesa-vulkan-drivers for a software GPU"
)]
pub struct NoGpu(pub String);

/// Decides where the model runs from the user's choice and what the probe found (`Err`: no
/// adapter, or one that would not open a device, with the reason). `Auto` takes a hardware
/// adapter and leaves a software one to the CPU; `Gpu` takes any adapter or fails.
pub fn decide(
    choice: DeviceChoice,
    probe: Result<&AdapterSummary, &str>,
) -> Result<Placement, NoGpu> {
    match (choice, probe) {
        (DeviceChoice::Cpu, _) => Ok(Placement::Cpu { why: None }),
        (DeviceChoice::Gpu, Ok(_)) => Ok(Placement::Gpu),
        (DeviceChoice::Gpu, Err(why)) => Err(NoGpu(why.to_string())),
        (DeviceChoice::Auto, Ok(adapter)) if adapter.is_software() => Ok(Placement::Cpu {
            why: Some(format!(
                "the only GPU adapter, {}, is a software rasteriser, slower than the CPU; --device gpu uses it",
                short_name(&adapter.name)
            )),
        }),
        (DeviceChoice::Auto, Ok(_)) => Ok(Placement::Gpu),
        (DeviceChoice::Auto, Err(why)) => Ok(Placement::Cpu {
            why: Some(format!("no usable GPU adapter: {why}")),
        }),
    }
}

/// An adapter's name up to its first bracket, e.g. `llvmpipe`.
fn short_name(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name)
}

/// A burn device with what the user is told about it.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    /// The device to put tensors on.
    pub device: Device,
    /// E.g. "CPU (burn flex, 2 threads)" or "GPU (burn-wgpu on llvmpipe …)".
    pub description: String,
    /// The adapter the model runs on; `None` on the CPU.
    pub adapter: Option<AdapterSummary>,
    /// Why the model is where it is when that is not what one might expect (auto left the CPU
    /// in charge; the viewer's GPU is a device of its own).
    pub note: Option<String>,
}

impl ComputeDevice {
    /// The CPU, with the reason it was chosen (`None`: asked for).
    pub fn cpu(why: Option<String>) -> Self {
        let threads = rayon::current_num_threads();
        Self {
            device: Device::flex(),
            description: format!("CPU (burn flex, {threads} threads)"),
            adapter: None,
            note: why,
        }
    }

    fn gpu(device: Device, adapter: AdapterSummary, note: Option<String>) -> Self {
        Self {
            device,
            description: format!("GPU (burn-wgpu on {})", adapter.describe()),
            adapter: Some(adapter),
            note,
        }
    }

    /// Whether the model runs on a GPU.
    pub fn is_gpu(&self) -> bool {
        self.adapter.is_some()
    }

    /// Where the model runs, short: `model on GPU: NVIDIA H200 (DiscreteGpu, Vulkan)` or
    /// `model on CPU: 2 threads (burn flex)`.
    pub fn place(&self) -> String {
        match &self.adapter {
            Some(adapter) => format!("model on GPU: {}", adapter.describe()),
            None => format!(
                "model on CPU: {} threads (burn flex)",
                rayon::current_num_threads()
            ),
        }
    }

    /// The one line `nrf view`, `nrf render` and the viewer's status bar give: where the model
    /// runs ([`Self::place`]), and why when that may surprise.
    pub fn report(&self) -> String {
        match &self.note {
            Some(note) => format!("{}; {note}", self.place()),
            None => self.place(),
        }
    }
}

/// burn's wgpu device on the probed adapter (the probe's own device, handed to burn), and the
/// adapter; the same for the whole process.
fn probed_gpu() -> Result<(Device, AdapterSummary), String> {
    // A process registers its GPU with burn once; later calls share it.
    static GPU: OnceLock<Result<(Device, AdapterSummary), String>> = OnceLock::new();
    GPU.get_or_init(|| {
        let probe = GpuContext::request().map_err(|e| e.to_string())?;
        let adapter = AdapterSummary::from_info(&probe.adapter.get_info());
        let device = burn_on(
            probe.instance,
            probe.adapter,
            probe.device,
            probe.queue,
            adapter.backend,
        )?;
        Ok((device, adapter))
    })
    .clone()
}

/// Registers existing wgpu handles with burn (one runtime per call: call once per device), and
/// remembers them for [`gpu_context_of`].
fn burn_on(
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    backend: wgpu::Backend,
) -> Result<Device, String> {
    let handles = GpuContext {
        instance: instance.clone(),
        adapter: adapter.clone(),
        device: device.clone(),
        queue: queue.clone(),
    };
    let burn_device = Device::wgpu_options()
        .setup(WgpuSetup {
            instance,
            adapter,
            device,
            queue,
            backend,
        })
        .init()
        .map_err(|e| format!("burn could not compute on this adapter: {e}"))?;
    registered()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((burn_device.clone(), handles));
    Ok(burn_device)
}

/// Every GPU device registered with burn in this process, with its wgpu handles.
fn registered() -> &'static Mutex<Vec<(Device, GpuContext)>> {
    static REGISTERED: OnceLock<Mutex<Vec<(Device, GpuContext)>>> = OnceLock::new();
    REGISTERED.get_or_init(Default::default)
}

/// Whether `NRF_CPU_KERNEL=burn` asks for burn's op-by-op CPU paths (queries, the CLIP tower,
/// the training step) instead of the direct gemm ones: the one place that reads the variable.
pub fn burn_asked_for_on_cpu() -> bool {
    std::env::var("NRF_CPU_KERNEL").is_ok_and(|v| v == "burn")
}

/// The wgpu device and queue behind a burn GPU device from [`compute_device`] or
/// [`compute_device_on`]: our own WGSL kernels run there, on the same memory as burn's tensors
/// and the window's textures. `None` for the CPU.
pub fn gpu_context_of(device: &Device) -> Option<GpuContext> {
    registered()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .find(|(registered, _)| registered == device)
        .map(|(_, handles)| handles.clone())
}

/// The device for a choice: the probe decides ([`decide`]) and burn computes on the probed
/// adapter itself.
pub fn compute_device(choice: DeviceChoice) -> Result<ComputeDevice, NoGpu> {
    if choice == DeviceChoice::Cpu {
        return Ok(ComputeDevice::cpu(None));
    }
    let probed = probed_gpu();
    let placement = decide(
        choice,
        probed
            .as_ref()
            .map(|(_, adapter)| adapter)
            .map_err(String::as_str),
    )?;
    Ok(match (placement, probed) {
        (Placement::Gpu, Ok((device, adapter))) => ComputeDevice::gpu(device, adapter, None),
        (Placement::Cpu { why }, _) => ComputeDevice::cpu(why),
        // `decide` places on the GPU only what the probe found.
        (Placement::Gpu, Err(why)) => return Err(NoGpu(why)),
    })
}

/// Lowers the calling thread's CPU priority (nice 10) below a window's (0): background compute
/// then yields the cores to the frames when both want them, and has them to itself otherwise.
/// Linux only; elsewhere it does nothing.
// One of the crate's three `unsafe` blocks (the others: the `gemm` call of
// `query/cpu_kernel.rs`, `main.rs`'s runtime folder): the libc call that sets a thread's nice
// value (std has none).
#[allow(unsafe_code)]
pub fn yield_to_the_window() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes the nice value of the calling
    // thread only (Linux schedules threads as processes); it reads and writes no memory of ours.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Existing wgpu handles (e.g. the device a window draws with) that the model may share.
pub struct SharedGpu {
    /// The instance the adapter came from.
    pub instance: wgpu::Instance,
    /// The adapter.
    pub adapter: wgpu::Adapter,
    /// Its device, opened with the adapter's features and limits (burn needs them).
    pub device: wgpu::Device,
    /// The device's queue.
    pub queue: wgpu::Queue,
}

/// The device for a choice in a program that already draws with `shared`: the decision is
/// made on that adapter, and burn computes on that very device, so that query results can feed
/// the renderer without a copy. When burn cannot use it, a device of its own on the same kind
/// of adapter is opened instead, and [`ComputeDevice::note`] says why.
pub fn compute_device_on(choice: DeviceChoice, shared: SharedGpu) -> Result<ComputeDevice, NoGpu> {
    let adapter = AdapterSummary::from_info(&shared.adapter.get_info());
    match decide(choice, Ok(&adapter))? {
        Placement::Cpu { why } => Ok(ComputeDevice::cpu(why)),
        Placement::Gpu => match burn_on(
            shared.instance,
            shared.adapter,
            shared.device,
            shared.queue,
            adapter.backend,
        ) {
            Ok(device) => Ok(ComputeDevice::gpu(device, adapter, None)),
            Err(why) => {
                let mut own = compute_device(DeviceChoice::Gpu)?;
                own.note = Some(format!("on a device of its own, not the window's ({why})"));
                Ok(own)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(device_type: wgpu::DeviceType) -> AdapterSummary {
        AdapterSummary {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            device_type,
            backend: wgpu::Backend::Vulkan,
        }
    }

    #[test]
    fn auto_takes_a_hardware_adapter() {
        for kind in [
            wgpu::DeviceType::DiscreteGpu,
            wgpu::DeviceType::IntegratedGpu,
            wgpu::DeviceType::VirtualGpu,
        ] {
            assert_eq!(
                decide(DeviceChoice::Auto, Ok(&adapter(kind))).unwrap(),
                Placement::Gpu
            );
        }
    }

    #[test]
    fn auto_leaves_a_software_adapter_to_the_cpu_and_says_why() {
        let Placement::Cpu { why: Some(why) } =
            decide(DeviceChoice::Auto, Ok(&adapter(wgpu::DeviceType::Cpu))).unwrap()
        else {
            panic!("a software adapter must leave the model on the CPU");
        };
        assert!(
            why.contains("llvmpipe") && why.contains("software"),
            "{why}"
        );
        assert!(!why.contains("LLVM 15"), "the short name only: {why}");
    }

    #[test]
    fn auto_without_an_adapter_or_with_a_failed_probe_runs_on_the_cpu() {
        for failure in [
            "no GPU adapter found",
            "the GPU adapter X could not open a device",
        ] {
            let Placement::Cpu { why: Some(why) } =
                decide(DeviceChoice::Auto, Err(failure)).unwrap()
            else {
                panic!("no adapter must leave the model on the CPU");
            };
            assert!(why.contains(failure), "{why}");
        }
    }

    #[test]
    fn gpu_takes_any_adapter_and_fails_without_one() {
        for kind in [wgpu::DeviceType::Cpu, wgpu::DeviceType::DiscreteGpu] {
            assert_eq!(
                decide(DeviceChoice::Gpu, Ok(&adapter(kind))).unwrap(),
                Placement::Gpu
            );
        }
        let error = decide(DeviceChoice::Gpu, Err("no GPU adapter found")).unwrap_err();
        assert!(error.to_string().contains("no GPU adapter found"));
        assert!(error.to_string().contains("--device cpu"));
    }

    #[test]
    fn cpu_is_the_cpu_whatever_the_probe_found() {
        for probe in [Ok(&adapter(wgpu::DeviceType::DiscreteGpu)), Err("none")] {
            assert_eq!(
                decide(DeviceChoice::Cpu, probe).unwrap(),
                Placement::Cpu { why: None }
            );
        }
    }

    #[test]
    fn the_report_line_says_where_the_model_runs() {
        let cpu = ComputeDevice::cpu(None);
        assert!(
            cpu.report().starts_with("model on CPU: "),
            "{}",
            cpu.report()
        );
        assert!(cpu.report().contains("threads"));
        let why = ComputeDevice::cpu(Some("no usable GPU adapter: none".into()));
        assert!(why.report().ends_with("; no usable GPU adapter: none"));
        let gpu = ComputeDevice {
            adapter: Some(adapter(wgpu::DeviceType::DiscreteGpu)),
            ..ComputeDevice::cpu(None)
        };
        assert_eq!(
            gpu.report(),
            "model on GPU: llvmpipe (LLVM 15.0.6, 256 bits) (DiscreteGpu, Vulkan)"
        );
    }
}
