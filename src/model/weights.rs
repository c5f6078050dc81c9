//! The NRF network to and from named weights (`crate::state_dict`): seeded initialisation and
//! the parts of a state dict each module takes.

use burn::tensor::Device;

use super::{FeatureMerger, Mlp, NrfConfig, NrfNet};
use crate::model::fourier::FourierFeatures;
use crate::state_dict::{
    NamedTensor, StateDict, WeightsError, fold_weight_norm, linear_from, linear_to_dict,
};

impl NrfNet {
    /// A new network whose every value comes from `seed` (independent of burn's global RNG, so
    /// concurrent runs stay repeatable): the Fourier matrix B ~ N(0, σ²) with the config's σ,
    /// and PyTorch's default `nn.Linear` initialisation, U(±1/√fan_in) for weights and biases.
    pub fn init_seeded(
        config: &NrfConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut linear = |dict: &mut StateDict, name: &str, (inp, out): (usize, usize)| {
            let bound = 1.0 / (inp.max(1) as f32).sqrt();
            let mut draw = |len: usize| -> Vec<f32> {
                (0..len).map(|_| rng.random_range(-bound..=bound)).collect()
            };
            let weight = draw(inp * out);
            let bias = draw(out);
            dict.insert(
                format!("{name}.weight"),
                NamedTensor {
                    shape: vec![out, inp],
                    data: weight,
                },
            );
            dict.insert(
                format!("{name}.bias"),
                NamedTensor {
                    shape: vec![out],
                    data: bias,
                },
            );
        };
        let project = (config.token_dim, config.token_proj_dim);
        let fuse = (config.patches() * config.token_proj_dim, config.merged_dim);
        let mut merger = StateDict::new();
        linear(&mut merger, "lin1", project);
        linear(&mut merger, "lin2", project);
        linear(&mut merger, "fuse1", fuse);
        linear(&mut merger, "fuse2", fuse);
        let mut mlp = StateDict::new();
        for (i, shape) in config.layer_shapes().into_iter().enumerate() {
            linear(&mut mlp, &format!("layers.{i}"), shape);
        }
        let normal = Normal::new(0.0f32, config.fourier_scale as f32).map_err(|_| {
            WeightsError::NotFinite {
                key: "fourier_scale".into(),
            }
        })?;
        let b = NamedTensor {
            shape: vec![3, config.fourier_features],
            data: (0..3 * config.fourier_features)
                .map(|_| normal.sample(&mut rng))
                .collect(),
        };
        Self::from_state_dicts(config, merger, mlp, &b, device)
    }

    /// Builds the network from weights named as the official modules name them:
    /// `merger` holds `lin1`, `lin2`, `fuse1`, `fuse2`; `mlp` holds `layers.{i}`;
    /// `b` is the `[3, F]` Fourier matrix. Every tensor must be used.
    pub fn from_state_dicts(
        config: &NrfConfig,
        mut merger: StateDict,
        mut mlp: StateDict,
        b: &NamedTensor,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let f = config.fourier_features;
        if b.shape != [3, f] {
            return Err(WeightsError::Shape {
                key: "B".into(),
                expected: vec![3, f],
                found: b.shape.clone(),
            });
        }
        if !b.data.iter().all(|v| v.is_finite()) {
            return Err(WeightsError::NotFinite { key: "B".into() });
        }
        fold_weight_norm(&mut mlp);
        fold_weight_norm(&mut merger);
        let project = (config.token_dim, config.token_proj_dim);
        let fuse = (config.patches() * config.token_proj_dim, config.merged_dim);
        let merger_module = FeatureMerger {
            lin1: linear_from(&mut merger, "lin1", project, device)?,
            lin2: linear_from(&mut merger, "lin2", project, device)?,
            fuse1: linear_from(&mut merger, "fuse1", fuse, device)?,
            fuse2: linear_from(&mut merger, "fuse2", fuse, device)?,
        };
        let layers = config
            .layer_shapes()
            .into_iter()
            .enumerate()
            .map(|(i, shape)| linear_from(&mut mlp, &format!("layers.{i}"), shape, device))
            .collect::<Result<Vec<_>, _>>()?;
        let leftovers: Vec<String> = merger
            .keys()
            .map(|k| format!("merger: {k}"))
            .chain(mlp.keys().map(|k| format!("mlp: {k}")))
            .collect();
        if !leftovers.is_empty() {
            return Err(WeightsError::Unexpected { keys: leftovers });
        }
        Ok(Self {
            fourier: FourierFeatures::new(&b.data, device),
            merger: merger_module,
            mlp: Mlp {
                layers,
                latent_in: config.latent_in.clone(),
            },
        })
    }

    /// The weights in the official naming: (merger, mlp, B).
    pub fn to_state_dicts(&self) -> Result<(StateDict, StateDict, NamedTensor), String> {
        let mut merger = StateDict::new();
        for (name, layer) in [
            ("lin1", &self.merger.lin1),
            ("lin2", &self.merger.lin2),
            ("fuse1", &self.merger.fuse1),
            ("fuse2", &self.merger.fuse2),
        ] {
            linear_to_dict(&mut merger, name, layer)?;
        }
        let mut mlp = StateDict::new();
        for (i, layer) in self.mlp.layers.iter().enumerate() {
            linear_to_dict(&mut mlp, &format!("layers.{i}"), layer)?;
        }
        let b = NamedTensor {
            shape: self.fourier.b.dims().to_vec(),
            data: self
                .fourier
                .b
                .to_data()
                .try_to_vec::<f32>()
                .map_err(|e| format!("B: {e:?}"))?,
        };
        Ok((merger, mlp, b))
    }
}
