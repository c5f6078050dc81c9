//! Fast NRF queries: one image's latent and its share of the MLP inputs are computed once
//! ([`ImageQuery`]); then any set of points, a grid at any spacing, or a slice at any pixel size
//! costs only the point-dependent part, N·(2F·H + (L−2)·H² + H) multiply-adds, evaluated in
//! bounded-memory chunks on the CPU (burn's flex backend) or a GPU: there our own WGSL kernels
//! ([`gpu`]) on burn's very wgpu device, or burn-wgpu where none can take
//! the model.
//!
//! The factorisation: W·[latent; γ] + b = (W_latent·latent + b) + W_γ·γ, the first term once per
//! image; `latent_in` layers factorise the same way.

mod cpu_kernel;
mod fused_kernel;
pub mod gpu;
mod model_query;
mod tiled_kernel;

use std::sync::{Arc, OnceLock};

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use glam::Vec3;

use crate::features::ImageFeatures;
use crate::model::{Domain, FourierFeatures, InputError, Nrf, NrfConfig, normalised_points};
use crate::space::{Grid, Plane};
use crate::template;
use crate::volume::{Mask, Volume, VolumeError};
use cpu_kernel::CpuMlp;
use gpu::{DeviceKernel, GpuKernel, GpuQuery, Kernel, LayerBlock, MlpBlocks, kernel_override};
pub use model_query::{EnsembleQuery, EnsembleShows, ModelQuery};

/// Which points grid and slice queries evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    /// The model's domain (within reach of a training voxel); the brain mask when the model's
    /// domain is unknown.
    #[default]
    Domain,
    /// The template's brain mask.
    Brain,
    /// Every point: raw extrapolation far from the training data.
    Everywhere,
}

/// The region a query actually used (`Domain` falls back to `Brain` for unknown domains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionUsed {
    /// The model's training voxels.
    ModelDomain,
    /// The brain mask (asked for, or the domain is unknown).
    BrainMask,
    /// Everywhere.
    Everywhere,
}

/// Which region a query of `region` evaluates for a model whose domain is `domain`.
pub fn region_used(domain: &Domain, region: Region) -> RegionUsed {
    match (region, domain) {
        (Region::Everywhere, _) => RegionUsed::Everywhere,
        (Region::Brain, _) | (Region::Domain, Domain::Unknown) => RegionUsed::BrainMask,
        (Region::Domain, Domain::Voxels(_)) => RegionUsed::ModelDomain,
    }
}

/// The voxels of `grid` that a query of `region` evaluates for a model whose domain is `domain`
/// (its training voxels, or the brain mask when unknown), and which region that is.
pub fn region_mask(
    domain: &Domain,
    grid: &Grid,
    region: Region,
) -> Result<(Mask, RegionUsed), QueryError> {
    let used = region_used(domain, region);
    let inside = match (used, domain) {
        (RegionUsed::ModelDomain, Domain::Voxels(d)) => d.mask_grid(grid),
        (RegionUsed::Everywhere, _) => Mask {
            grid: *grid,
            data: vec![true; grid.len()],
        },
        _ => template::brain_mask(grid)?,
    };
    Ok((inside, used))
}

/// Errors from queries.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Bad features or points.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The brain mask could not be built.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// The caller cancelled through the progress callback.
    #[error("query cancelled")]
    Cancelled,
    /// A WGSL kernel failed on the GPU.
    #[error("the GPU query failed: {0}")]
    Gpu(String),
}

/// Values stored per chunk of points: bounds memory whatever the model width.
const CHUNK_VALUES: usize = 1 << 22;

/// One MLP layer, its weights split by what they multiply.
// burn tensors are large handles; a model has a handful of layers, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum FactorisedLayer {
    /// A layer that takes the MLP input (the first, and `latent_in` layers).
    TakesInput {
        /// `[x_in, out]` for the previous output (`latent_in` layers only).
        from_previous: Option<Tensor<2>>,
        /// `[L, out]`, applied once per image.
        from_latent: Tensor<2>,
        /// `[2F, out]`, applied per point.
        from_encoding: Tensor<2>,
        /// `[1, out]`, folded into the image's share.
        bias: Tensor<2>,
    },
    /// A plain layer on the previous output.
    Plain {
        /// `[in, out]`.
        weight: Tensor<2>,
        /// `[1, out]`.
        bias: Tensor<2>,
    },
}

/// A model prepared for fast queries on its device.
#[derive(Debug)]
pub struct QueryEngine {
    config: NrfConfig,
    fourier: FourierFeatures,
    layers: Vec<FactorisedLayer>,
    domain: Domain,
    chunk_points: usize,
    /// On a GPU: the model uploaded for our WGSL kernels at the first query, or why the burn
    /// query runs instead.
    kernel: OnceLock<Result<Arc<DeviceKernel>, String>>,
    /// On the CPU: the MLP for the direct path ([`cpu_kernel`]), or why burn's query runs.
    cpu: OnceLock<Result<Arc<CpuMlp>, String>>,
}

impl QueryEngine {
    /// Splits the model's MLP weights by input (done once per model).
    pub fn new(model: &Nrf) -> Arc<Self> {
        let config = model.config.clone();
        let latent = config.latent_dim();
        let encoding = config.encoding_dim();
        let layers = model
            .net
            .mlp
            .layers
            .iter()
            .enumerate()
            .map(|(index, linear)| {
                let weight = linear.weight.val(); // [in, out]
                let [inp, out] = weight.dims();
                let bias = match &linear.bias {
                    Some(b) => b.val().reshape([1, out]),
                    None => Tensor::zeros([1, out], &weight.device()),
                };
                let takes_input = index == 0 || config.latent_in.contains(&index);
                if !takes_input {
                    return FactorisedLayer::Plain { weight, bias };
                }
                // Input order: [previous output (latent_in layers only), latent, encoding].
                let previous = inp - latent - encoding;
                FactorisedLayer::TakesInput {
                    from_previous: (previous > 0)
                        .then(|| weight.clone().slice([0..previous, 0..out])),
                    from_latent: weight.clone().slice([previous..previous + latent, 0..out]),
                    from_encoding: weight.slice([previous + latent..inp, 0..out]),
                    bias,
                }
            })
            .collect();
        let widest = config.hidden.max(encoding).max(1);
        Arc::new(Self {
            chunk_points: (CHUNK_VALUES / widest).clamp(256, 65_536),
            fourier: model.net.fourier.clone(),
            layers,
            domain: model.domain.clone(),
            config,
            kernel: OnceLock::new(),
            cpu: OnceLock::new(),
        })
    }

    /// [`Self::new`], with queries run by burn's kernels, never ours: burn-wgpu on a GPU, burn
    /// flex on the CPU (the reference the WGSL kernels and the direct CPU path must match).
    pub fn burn_only(model: &Nrf) -> Arc<Self> {
        let engine = Self::new(model);
        // A fresh engine's cells are empty, so this sets them.
        let _ = engine.kernel.set(Err("burn-wgpu asked for".into()));
        let _ = engine.cpu.set(Err("burn flex asked for".into()));
        engine
    }

    /// The MLP's weights as the WGSL kernels read them (the latent's weights stay here: they go
    /// into each image's biases, [`ImageQuery::term_biases`]).
    pub(crate) fn kernel_blocks(&self) -> Result<MlpBlocks, QueryError> {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                Ok(match layer {
                    FactorisedLayer::TakesInput {
                        from_previous,
                        from_encoding,
                        ..
                    } => LayerBlock {
                        out: from_encoding.dims()[1],
                        previous: from_previous.as_ref().map_or(0, |w| w.dims()[0]),
                        previous_weights: match from_previous {
                            Some(w) => values_of(w)?,
                            None => Vec::new(),
                        },
                        encoding_weights: Some(values_of(from_encoding)?),
                    },
                    FactorisedLayer::Plain { weight, .. } => LayerBlock {
                        out: weight.dims()[1],
                        previous: weight.dims()[0],
                        previous_weights: values_of(weight)?,
                        encoding_weights: None,
                    },
                })
            })
            .collect::<Result<Vec<_>, QueryError>>()?;
        Ok(MlpBlocks {
            layers,
            encoding: self.config.encoding_dim(),
            fourier_b: values_of(&self.fourier.b)?,
        })
    }

    /// The WGSL kernel this engine's queries run on its GPU (uploaded at the first call), or why
    /// they run as burn queries: on the CPU, when `NRF_GPU_KERNEL=burn`, or when no kernel could
    /// take the model.
    pub fn device_kernel(&self) -> Result<&Arc<DeviceKernel>, &str> {
        self.kernel
            .get_or_init(|| {
                let gpu = crate::device::gpu_context_of(&self.fourier.b.device())
                    .ok_or_else(|| "not on a GPU".to_string())?;
                let asked = kernel_override()?;
                let blocks = self.kernel_blocks().map_err(|e| e.to_string())?;
                let kernel = match asked {
                    Some(Some(kernel)) => kernel,
                    Some(None) => return Err("burn-wgpu asked for".into()),
                    None => Kernel::for_model(blocks.widest(), gpu.is_software()),
                };
                let uploaded = GpuKernel::from_blocks(&gpu, &blocks, kernel)
                    .map_err(|e| format!("the {kernel} kernel cannot take this model: {e}"))?;
                Ok(Arc::new(DeviceKernel {
                    gpu,
                    kernel: Arc::new(uploaded),
                }))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The direct CPU path for this engine's queries (built at the first call), or why burn's
    /// query runs: not on the CPU, or `NRF_CPU_KERNEL=burn`.
    fn cpu_mlp(&self) -> Result<&Arc<CpuMlp>, &str> {
        self.cpu
            .get_or_init(|| {
                if self.fourier.b.device() != Device::flex() {
                    return Err("not on the CPU".into());
                }
                if crate::device::burn_asked_for_on_cpu() {
                    return Err("burn asked for (NRF_CPU_KERNEL=burn)".into());
                }
                let blocks = self.kernel_blocks().map_err(|e| e.to_string())?;
                Ok(Arc::new(CpuMlp::new(blocks)))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Whether CPU queries take the direct path (else burn's op-by-op query).
    pub fn direct_cpu_path(&self) -> bool {
        self.cpu_mlp().is_ok()
    }

    /// The model's sizes.
    pub fn config(&self) -> &NrfConfig {
        &self.config
    }

    /// Points evaluated per chunk.
    pub fn chunk_points(&self) -> usize {
        self.chunk_points
    }

    /// The voxels of `grid` that a query of `region` evaluates, and which region that is (the
    /// same for every image of this model).
    pub fn region_mask(
        &self,
        grid: &Grid,
        region: Region,
    ) -> Result<(Mask, RegionUsed), QueryError> {
        region_mask(&self.domain, grid, region)
    }

    /// Computes the latents of several images at once and their shares of the inputs.
    pub fn prepare_batch(
        self: &Arc<Self>,
        model: &Nrf,
        images: &[ImageFeatures],
    ) -> Result<Vec<ImageQuery>, QueryError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let latents = model.latents(images)?; // [B, L]
        let [b, l] = latents.dims();
        Ok((0..b)
            .map(|i| {
                let latent = latents.clone().slice([i..i + 1, 0..l]); // [1, L]
                let layers = self
                    .layers
                    .iter()
                    .map(|layer| match layer {
                        FactorisedLayer::TakesInput {
                            from_previous,
                            from_latent,
                            from_encoding,
                            bias,
                        } => PreparedLayer::TakesInput {
                            from_previous: from_previous.clone(),
                            from_encoding: from_encoding.clone(),
                            share: latent.clone().matmul(from_latent.clone()) + bias.clone(),
                        },
                        FactorisedLayer::Plain { weight, bias } => PreparedLayer::Plain {
                            weight: weight.clone(),
                            bias: bias.clone(),
                        },
                    })
                    .collect();
                ImageQuery {
                    engine: Arc::clone(self),
                    terms: vec![(1.0, layers)],
                    on_kernel: Arc::default(),
                    on_cpu: Arc::default(),
                }
            })
            .collect())
    }

    /// Prepares one image.
    pub fn prepare(
        self: &Arc<Self>,
        model: &Nrf,
        image: &ImageFeatures,
    ) -> Result<ImageQuery, QueryError> {
        let mut batch = self.prepare_batch(model, std::slice::from_ref(image))?;
        batch.pop().ok_or(QueryError::Cancelled)
    }
}

/// A layer with the image's share folded in.
#[allow(clippy::large_enum_variant)] // As for `FactorisedLayer`.
#[derive(Debug, Clone)]
enum PreparedLayer {
    /// A layer taking the MLP input.
    TakesInput {
        /// `[x_in, out]` for the previous output (`latent_in` layers only).
        from_previous: Option<Tensor<2>>,
        /// `[2F, out]`.
        from_encoding: Tensor<2>,
        /// `W_latent·latent + b`, `[1, out]`.
        share: Tensor<2>,
    },
    /// A plain layer.
    Plain {
        /// `[in, out]`.
        weight: Tensor<2>,
        /// `[1, out]`.
        bias: Tensor<2>,
    },
}

/// One image, ready to be queried anywhere; or the mean of a set of images
/// ([`ImageQuery::mean`]), or a contrast A − B of two of those ([`ImageQuery::minus`]).
#[derive(Debug, Clone)]
pub struct ImageQuery {
    engine: Arc<QueryEngine>,
    /// Weighted images: the value at a point is Σ weight · f(image, point), each image's
    /// prepared layers for the same model. One image has weight 1; a mean of n, 1/n each; a
    /// contrast's B side, negative weights.
    terms: Vec<(f32, Vec<PreparedLayer>)>,
    /// On a GPU with a WGSL kernel: each term's biases uploaded for it (at the first query).
    on_kernel: Arc<OnceLock<Result<KernelTerms, String>>>,
    /// On the CPU's direct path: each term's weight and biases (at the first query).
    on_cpu: Arc<OnceLock<Result<WeightedBiases, String>>>,
}

/// A tensor's values, read back to the CPU (row-major).
fn values_of(t: &Tensor<2>) -> Result<Vec<f32>, QueryError> {
    t.clone()
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| InputError::Readback(format!("{e:?}")).into())
}

/// Each image's weight and its biases uploaded for the engine's kernel.
type KernelTerms = Vec<(f32, GpuQuery)>;

/// Each layer's biases, `[out]` per layer, first layer first.
pub type LayerBiases = Vec<Vec<f32>>;

/// A grid query's result.
#[derive(Debug, Clone)]
pub struct GridPrediction {
    /// Predicted values; 0 outside `inside`.
    pub volume: Volume,
    /// The voxels that were evaluated.
    pub inside: Mask,
    /// Which region that was.
    pub region: RegionUsed,
    /// The same values already in a 3D overlay texture, when a WGSL kernel computed them on a GPU
    /// (the renderer on that device shows it without an upload:
    /// [`crate::render::volume3d::VolumeRenderer::show_prediction`]).
    pub on_gpu: Option<GpuOverlay>,
}

/// A grid prediction's overlay texture, written on the GPU by the kernel that computed it.
#[derive(Debug, Clone)]
pub struct GpuOverlay {
    /// Rg16Float (value × inside, inside), the grid's dimensions.
    pub texture: wgpu::Texture,
    /// The device it lives on, and that device's instance (devices of different instances may
    /// compare equal).
    pub device: wgpu::Device,
    /// See `device`.
    pub instance: wgpu::Instance,
    /// The grid it covers.
    pub grid: Grid,
}

impl GridPrediction {
    /// The values of the evaluated voxels, in grid order.
    pub fn inside_values(&self) -> impl Iterator<Item = f32> + '_ {
        self.volume
            .data
            .iter()
            .zip(&self.inside.data)
            .filter_map(|(&v, &i)| i.then_some(v))
    }
}

/// Each image's weight in a query and its layers' biases ([`ImageQuery::term_biases`]).
pub type WeightedBiases = Vec<(f32, LayerBiases)>;

/// A slice query's result.
#[derive(Debug, Clone)]
pub struct PlanePrediction {
    /// Row-major values (`width × height`); 0 outside `inside`.
    pub values: Vec<f32>,
    /// Which pixels were evaluated.
    pub inside: Vec<bool>,
    /// Which region that was.
    pub region: RegionUsed,
}

impl ImageQuery {
    /// The contrast A − B: this query's prediction minus `baseline`'s at every point (either
    /// may be an image or the mean of a set), for the same model (both prepared by the same
    /// [`QueryEngine`]; otherwise an error). Grids, slices and points of the result are all
    /// A − B.
    pub fn minus(mut self, baseline: &ImageQuery) -> Result<ImageQuery, QueryError> {
        if !Arc::ptr_eq(&self.engine, &baseline.engine) {
            return Err(InputError::Contrast(
                "A and B were prepared for different models (or engines)".into(),
            )
            .into());
        }
        self.terms.extend(
            baseline
                .terms
                .iter()
                .map(|(weight, layers)| (-weight, layers.clone())),
        );
        self.on_kernel = Arc::default();
        self.on_cpu = Arc::default();
        Ok(self)
    }

    /// The mean of several queries' predictions (a set of images as one query, e.g. one side of
    /// a contrast), for the same model; an error when `queries` is empty or mixes models.
    pub fn mean(queries: &[ImageQuery]) -> Result<ImageQuery, QueryError> {
        let first = queries
            .first()
            .ok_or_else(|| InputError::Contrast("the mean of no images".into()))?;
        if queries
            .iter()
            .any(|q| !Arc::ptr_eq(&q.engine, &first.engine))
        {
            return Err(InputError::Contrast(
                "the images were prepared for different models (or engines)".into(),
            )
            .into());
        }
        let share = 1.0 / queries.len() as f32;
        Ok(ImageQuery {
            engine: Arc::clone(&first.engine),
            terms: queries
                .iter()
                .flat_map(|q| q.terms.iter())
                .map(|(weight, layers)| (weight * share, layers.clone()))
                .collect(),
            on_kernel: Arc::default(),
            on_cpu: Arc::default(),
        })
    }

    /// Each image's weight in this query and its layers' biases, `[out]` per layer (the image's
    /// share W_latent · latent + b for the layers that take the input, the plain bias for the
    /// others): what the WGSL kernels take ([`gpu`]).
    pub fn term_biases(&self) -> Result<Vec<(f32, LayerBiases)>, QueryError> {
        self.terms
            .iter()
            .map(|(weight, layers)| {
                let biases = layers
                    .iter()
                    .map(|layer| match layer {
                        PreparedLayer::TakesInput { share, .. } => values_of(share),
                        PreparedLayer::Plain { bias, .. } => values_of(bias),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((*weight, biases))
            })
            .collect()
    }

    /// The layers' biases of a one-image query ([`Self::term_biases`]); an error for means and
    /// contrasts.
    pub fn layer_biases(&self) -> Result<LayerBiases, QueryError> {
        match self.term_biases()?.as_slice() {
            [(weight, biases)] if *weight == 1.0 => Ok(biases.clone()),
            _ => Err(InputError::Contrast(
                "one image's biases asked of a mean or a contrast".into(),
            )
            .into()),
        }
    }

    /// Points evaluated per chunk ([`QueryEngine::chunk_points`]).
    pub fn chunk_points(&self) -> usize {
        self.engine.chunk_points
    }

    /// The model's domain (its training voxels and their ROI labels, when known).
    pub fn domain(&self) -> &Domain {
        &self.engine.domain
    }

    /// Whether this is a contrast (some images are subtracted).
    pub fn is_contrast(&self) -> bool {
        self.terms.iter().any(|(weight, _)| *weight < 0.0)
    }

    /// The device the query runs on.
    pub fn device(&self) -> Device {
        self.engine.fourier.b.device()
    }

    /// Values at exactly these points (MNI mm), in order. Never restricted to the domain.
    pub fn query_points(&self, points_mm: &[Vec3]) -> Result<Vec<f32>, QueryError> {
        self.query_points_with_progress(points_mm, &mut |_, _| true)
    }

    /// [`Self::query_points`] with a callback after each chunk: `(done, total)`; returning
    /// `false` cancels.
    pub fn query_points_with_progress(
        &self,
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<f32>, QueryError> {
        if let Some(index) = points_mm.iter().position(|p| !p.is_finite()) {
            return Err(InputError::NonFinitePoint { index }.into());
        }
        if let Some((device_kernel, terms)) = self.kernel_terms() {
            return self.query_points_on_kernel(device_kernel, terms, points_mm, progress);
        }
        if let Some((mlp, terms)) = self.cpu_terms() {
            return mlp
                .query(terms, points_mm, progress)
                .ok_or(QueryError::Cancelled);
        }
        let device = self.device();
        let mut out = Vec::with_capacity(points_mm.len());
        for chunk in points_mm.chunks(self.engine.chunk_points) {
            let normalised = normalised_points(chunk, &device)?; // [n, 3]
            let mut sum: Option<Tensor<2>> = None; // [n, 1]
            for (weight, layers) in &self.terms {
                let values = evaluate(&self.engine, layers, normalised.clone()); // [n, 1]
                let values = if *weight == 1.0 {
                    values
                } else {
                    values.mul_scalar(*weight)
                };
                sum = Some(match sum {
                    Some(sum) => sum + values,
                    None => values,
                });
            }
            let values = values_of(
                &sum.ok_or_else(|| InputError::Contrast("a query of no images".into()))?,
            )?;
            out.extend(values);
            if !progress(out.len(), points_mm.len()) {
                return Err(QueryError::Cancelled);
            }
        }
        Ok(out)
    }

    /// Every query of `queries` at the same points (MNI mm), `[queries × points]` row-major: a
    /// set of images at a grid, validation images at a subject's voxels, probes at a point. On
    /// the direct CPU path the points' Fourier features and first-layer encoding product are
    /// computed once for all the queries of one engine; elsewhere each query runs in turn.
    /// `progress(done, total)` counts query × point values; returning `false` cancels.
    pub fn query_each(
        queries: &[ImageQuery],
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<f32>, QueryError> {
        if let Some(index) = points_mm.iter().position(|p| !p.is_finite()) {
            return Err(InputError::NonFinitePoint { index }.into());
        }
        let n = points_mm.len();
        let total = queries.len() * n;
        if let Some(first) = queries.first() {
            let one_engine = queries
                .iter()
                .all(|q| Arc::ptr_eq(&q.engine, &first.engine));
            let on_cpu: Option<Vec<&[(f32, LayerBiases)]>> = queries
                .iter()
                .map(|q| q.cpu_terms().map(|(_, terms)| terms))
                .collect();
            if let (true, Some((mlp, _)), Some(terms)) = (one_engine, first.cpu_terms(), on_cpu) {
                return mlp
                    .query_each(&terms, points_mm, &mut |done, _| {
                        progress(done * queries.len(), total)
                    })
                    .ok_or(QueryError::Cancelled);
            }
        }
        let mut out = Vec::with_capacity(total);
        for (i, query) in queries.iter().enumerate() {
            out.extend(query.query_points_with_progress(points_mm, &mut |done, _| {
                progress(i * n + done, total)
            })?);
        }
        Ok(out)
    }

    /// The WGSL kernel these queries run on, `None` when they run as burn queries (see
    /// [`QueryEngine::device_kernel`]): what computed a prediction, stated rather than inferred.
    pub fn gpu_kernel(&self) -> Option<Kernel> {
        self.kernel_terms()
            .map(|(device_kernel, _)| device_kernel.kernel.kernel())
    }

    /// The engine's kernel and each term's biases on it, uploaded at the first call; `None`
    /// when the burn query runs.
    fn kernel_terms(&self) -> Option<(&DeviceKernel, &[(f32, GpuQuery)])> {
        let device_kernel = self.engine.device_kernel().ok()?;
        let terms = self
            .on_kernel
            .get_or_init(|| {
                self.term_biases()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(weight, biases)| {
                        let query = GpuQuery::from_biases(
                            &device_kernel.gpu,
                            Arc::clone(&device_kernel.kernel),
                            &biases,
                        )
                        .map_err(|e| e.to_string())?;
                        Ok((weight, query))
                    })
                    .collect()
            })
            .as_ref()
            .ok()?;
        Some((device_kernel, terms))
    }

    /// Whether these queries take the direct CPU path ([`QueryEngine::direct_cpu_path`]).
    pub fn direct_cpu_path(&self) -> bool {
        self.engine.direct_cpu_path()
    }

    /// The direct CPU path and each term's biases, `None` when burn's query runs.
    fn cpu_terms(&self) -> Option<(&CpuMlp, &[(f32, LayerBiases)])> {
        let mlp = self.engine.cpu_mlp().ok()?;
        let terms = self
            .on_cpu
            .get_or_init(|| self.term_biases().map_err(|e| e.to_string()))
            .as_ref()
            .ok()?;
        Some((mlp, terms))
    }

    /// [`Self::query_points_with_progress`] on the WGSL kernel: Σ weight · f(image, point) over
    /// the terms, chunk by chunk.
    fn query_points_on_kernel(
        &self,
        device_kernel: &DeviceKernel,
        terms: &[(f32, GpuQuery)],
        points_mm: &[Vec3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<f32>, QueryError> {
        let mut out = Vec::with_capacity(points_mm.len());
        for chunk in points_mm.chunks(self.engine.chunk_points) {
            let mut sum = vec![0.0f32; chunk.len()];
            for (weight, query) in terms {
                let values = query
                    .query_points(&device_kernel.gpu, chunk)
                    .map_err(|e| QueryError::Gpu(e.to_string()))?;
                for (s, v) in sum.iter_mut().zip(values) {
                    *s += weight * v;
                }
            }
            out.extend(sum);
            if !progress(out.len(), points_mm.len()) {
                return Err(QueryError::Cancelled);
            }
        }
        Ok(out)
    }

    /// The voxels of `grid` that a query of `region` evaluates, and which region that is.
    pub fn region_mask(
        &self,
        grid: &Grid,
        region: Region,
    ) -> Result<(Mask, RegionUsed), QueryError> {
        self.engine.region_mask(grid, region)
    }

    /// Values on a grid (any spacing, any affine) inside `region`; memory is the output volume
    /// plus one chunk.
    pub fn query_grid(&self, grid: &Grid, region: Region) -> Result<GridPrediction, QueryError> {
        self.query_grid_with_progress(grid, region, &mut |_, _| true)
    }

    /// [`Self::query_grid`] with a progress callback (`(done, total)` points; `false` cancels).
    pub fn query_grid_with_progress(
        &self,
        grid: &Grid,
        region: Region,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<GridPrediction, QueryError> {
        let (inside, used) = self.region_mask(grid, region)?;
        if let Some((device_kernel, [(weight, query)])) = self.kernel_terms()
            && *weight == 1.0
        {
            // One image on a kernel: values and the 3D view's texture in one pass.
            let computed = query
                .grid_with_overlay(&device_kernel.gpu, grid, &inside, progress)
                .map_err(|e| QueryError::Gpu(e.to_string()))?;
            let Some((values, texture)) = computed else {
                return Err(QueryError::Cancelled);
            };
            let mut volume = Volume::filled(*grid, 0.0);
            let slots = volume
                .data
                .iter_mut()
                .zip(&inside.data)
                .filter(|(_, i)| **i);
            for ((slot, _), value) in slots.zip(values) {
                *slot = value;
            }
            return Ok(GridPrediction {
                volume,
                inside,
                region: used,
                on_gpu: Some(GpuOverlay {
                    texture,
                    device: device_kernel.gpu.device.clone(),
                    instance: device_kernel.gpu.instance.clone(),
                    grid: *grid,
                }),
            });
        }
        grid_from_points(
            inside,
            used,
            self.engine.chunk_points,
            &mut |points| self.query_points(points),
            progress,
        )
    }

    /// Values on a slice, queried at the plane's own pixel size (never interpolated).
    pub fn query_plane(
        &self,
        plane: &Plane,
        region: Region,
    ) -> Result<PlanePrediction, QueryError> {
        self.query_plane_with_progress(plane, region, &mut |_, _| true)
    }

    /// The pixels of `plane` inside `region` (row-major, plane order), and which region that is.
    pub fn plane_mask(
        &self,
        plane: &Plane,
        region: Region,
    ) -> Result<(Vec<bool>, RegionUsed), QueryError> {
        plane_mask(&self.engine.domain, plane, region)
    }

    /// [`Self::query_plane`] with a progress callback (`(done, total)` points; `false` cancels).
    pub fn query_plane_with_progress(
        &self,
        plane: &Plane,
        region: Region,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<PlanePrediction, QueryError> {
        let (inside, used) = self.plane_mask(plane, region)?;
        plane_from_points(plane, inside, used, &mut |points| {
            self.query_points_with_progress(points, progress)
        })
    }
}

/// Values at points, in order: what [`grid_from_points`] and [`plane_from_points`] fill in.
pub(crate) type PointsQuery<'a> = dyn FnMut(&[Vec3]) -> Result<Vec<f32>, QueryError> + 'a;

/// The pixels of `plane` inside `region` for a model whose domain is `domain` (row-major, plane
/// order), and which region that is.
pub fn plane_mask(
    domain: &Domain,
    plane: &Plane,
    region: Region,
) -> Result<(Vec<bool>, RegionUsed), QueryError> {
    let used = region_used(domain, region);
    let points = plane.points();
    let inside: Vec<bool> = match (used, domain) {
        (RegionUsed::ModelDomain, Domain::Voxels(d)) => {
            points.iter().map(|&p| d.contains(p)).collect()
        }
        (RegionUsed::Everywhere, _) => vec![true; points.len()],
        _ => template::brain_mask_at(&points)?,
    };
    Ok((inside, used))
}

/// A slice's prediction from the values `query` gives at its pixels `inside` (in plane order);
/// 0 elsewhere.
pub(crate) fn plane_from_points(
    plane: &Plane,
    inside: Vec<bool>,
    used: RegionUsed,
    query: &mut PointsQuery<'_>,
) -> Result<PlanePrediction, QueryError> {
    let selected: Vec<Vec3> = plane
        .points()
        .iter()
        .zip(&inside)
        .filter_map(|(&p, &i)| i.then_some(p))
        .collect();
    let values = query(&selected)?;
    let mut out = vec![0.0; inside.len()];
    let mut next = values.into_iter();
    for (slot, &i) in out.iter_mut().zip(&inside) {
        if i {
            *slot = next.next().unwrap_or(0.0);
        }
    }
    Ok(PlanePrediction {
        values: out,
        inside,
        region: used,
    })
}

/// A grid's prediction from the values `query` gives at its voxels `inside`, `chunk` points at a
/// time (memory: the volume plus one chunk), with `progress(done, total)` after each chunk
/// (`false` cancels).
pub(crate) fn grid_from_points(
    inside: Mask,
    used: RegionUsed,
    chunk: usize,
    query: &mut PointsQuery<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<GridPrediction, QueryError> {
    let grid = inside.grid;
    let indices: Vec<usize> = inside
        .data
        .iter()
        .enumerate()
        .filter_map(|(n, &b)| b.then_some(n))
        .collect();
    let mut volume = Volume::filled(grid, 0.0);
    let total = indices.len();
    let mut done = 0;
    for chunk in indices.chunks(chunk.max(1)) {
        let points: Vec<Vec3> = chunk
            .iter()
            .map(|&n| grid.point(grid.ijk(n)).as_vec3())
            .collect();
        let values = query(&points)?;
        for (&n, v) in chunk.iter().zip(values) {
            volume.data[n] = v;
        }
        done += chunk.len();
        if !progress(done, total) {
            return Err(QueryError::Cancelled);
        }
    }
    Ok(GridPrediction {
        volume,
        inside,
        region: used,
        on_gpu: None,
    })
}

/// The factorised MLP of one image's prepared `layers` on one chunk.
///
/// # Shapes
/// - `normalised`: `[n, 3]`
/// - output: `[n, 1]`
fn evaluate(engine: &QueryEngine, layers: &[PreparedLayer], normalised: Tensor<2>) -> Tensor<2> {
    let gamma = engine.fourier.forward(normalised); // [n, 2F]
    let last = layers.len() - 1;
    let mut x = gamma.clone();
    for (index, layer) in layers.iter().enumerate() {
        let h = match layer {
            PreparedLayer::TakesInput {
                from_previous,
                from_encoding,
                share,
            } => {
                // W_γ·γ + (W_latent·latent + b), the share broadcast over the chunk.
                let h = gamma.clone().matmul(from_encoding.clone()) + share.clone();
                match from_previous {
                    Some(w) => h + x.matmul(w.clone()),
                    None => h,
                }
            }
            PreparedLayer::Plain { weight, bias } => x.matmul(weight.clone()) + bias.clone(),
        }; // [n, out]
        x = if index < last { relu(h) } else { h };
    }
    x
}
