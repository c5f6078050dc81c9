//! Training against PyTorch (`tests/data/nrf-official/train_step`: one AdamW step of the official
//! code), and the trainer on a small virtual dataset.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use nrf::model::official::DomainSource;
use nrf::model::weights::{StateDict, read_safetensors};
use nrf::model::{Nrf, NrfNet};
use nrf::npy;
use nrf::train::trainer::{adamw, loss_and_gradients};

use crate::support::data;

/// The official model with the weights from before the step.
fn initial_model(device: &Device) -> Nrf {
    let reference = Nrf::from_official_dir(data("nrf-official"), &DomainSource::Unknown, device)
        .expect("official run folder");
    let (_, _, b) = reference.net.to_state_dicts().expect("state dicts");
    let read = |name: &str| -> StateDict {
        read_safetensors(&data(&format!("nrf-official/train_step/{name}")), |_| true)
            .expect("initial weights")
    };
    let net = NrfNet::from_state_dicts(
        &reference.config,
        read("initial_merger.safetensors"),
        read("initial_mlp.safetensors"),
        &b,
        device,
    )
    .expect("initial net");
    reference.with_net(net)
}

/// The fixture's inputs: tokens, global, coordinates `[B, N, 3]` and targets `[B, N]`.
fn inputs(device: &Device) -> (Tensor<4>, Tensor<2>, Tensor<3>, Tensor<2>) {
    let tensor = |name: &str| npy::read_f32(data(&format!("nrf-official/{name}"))).expect(name);
    let early = tensor("early_features.npy");
    let higher = tensor("higher_features.npy");
    let coords = tensor("coords_mni_mm.npy");
    let target = tensor("loss_target.npy");
    let b = early.shape[0];
    let n = coords.shape[0];
    let normalised: Vec<f32> = coords
        .data
        .chunks_exact(3)
        .flat_map(|p| nrf::space::normalise_mni(glam::Vec3::from_slice(p)).to_array())
        .collect();
    let repeated: Vec<f32> = (0..b).flat_map(|_| normalised.iter().copied()).collect();
    (
        Tensor::from_data(TensorData::new(early.data, early.shape.clone()), device),
        Tensor::from_data(TensorData::new(higher.data, higher.shape.clone()), device),
        Tensor::from_data(TensorData::new(repeated, [b, n, 3]), device),
        Tensor::from_data(TensorData::new(target.data, target.shape.clone()), device),
    )
}

/// The network's linear layers with their PyTorch names.
fn named_linears(net: &NrfNet) -> Vec<(String, &Linear)> {
    let mut out = vec![
        ("merger.lin1".to_string(), &net.merger.lin1),
        ("merger.lin2".to_string(), &net.merger.lin2),
        ("merger.fuse1".to_string(), &net.merger.fuse1),
        ("merger.fuse2".to_string(), &net.merger.fuse2),
    ];
    for (i, layer) in net.mlp.layers.iter().enumerate() {
        out.push((format!("mlp.layers.{i}"), layer));
    }
    out
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("values")
}

/// burn keeps Linear weights as `[in, out]`; PyTorch as `[out, in]`.
fn weight_as_pytorch(weight: &Param<Tensor<2>>) -> Vec<f32> {
    values(weight.val().transpose())
}

fn largest_relative_gap(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    got.iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

#[test]
fn one_adamw_step_matches_pytorch() {
    let device = Device::flex();
    let autodiff = device.clone().autodiff();
    let model = initial_model(&device);
    let net = model.net.clone().fork(&autodiff).train();
    let (tokens, global, coords, targets) = inputs(&autodiff);
    let (loss, grads): (Tensor<1>, GradientsParams) =
        loss_and_gradients(&net, tokens, global, coords, targets);
    let step: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("nrf-official/train_step/step.json")).expect("step.json"),
    )
    .expect("json");
    let loss = values(loss)[0];
    let want_loss = step["loss_before_step"].as_f64().expect("loss") as f32;
    assert!(
        (loss - want_loss).abs() < 1e-5,
        "loss {loss} vs PyTorch {want_loss}"
    );

    // Gradients, ≤ 1e-4 relative to each tensor's largest value.
    let expected = read_safetensors(
        &data("nrf-official/train_step/gradients.safetensors"),
        |_| true,
    )
    .expect("gradients");
    for (name, linear) in named_linears(&net) {
        let weight_grad = grads.get::<2>(linear.weight.id).expect("weight gradient");
        let got = values(weight_grad.transpose());
        let gap = largest_relative_gap(&got, &expected[&format!("{name}.weight")].data);
        assert!(gap <= 1e-4, "{name}.weight gradient: {gap}");
        let bias = linear.bias.as_ref().expect("bias");
        let got = values(grads.get::<1>(bias.id).expect("bias gradient"));
        let gap = largest_relative_gap(&got, &expected[&format!("{name}.bias")].data);
        assert!(gap <= 1e-4, "{name}.bias gradient: {gap}");
    }

    // One step, then the weights of best_model/ to 1e-6.
    let lr = step["lr"].as_f64().expect("lr");
    let weight_decay = step["weight_decay"].as_f64().expect("weight decay");
    let mut optimizer = adamw(weight_decay);
    let stepped = optimizer.step(lr, net.clone(), grads).valid();
    let after = Nrf::from_official_dir(data("nrf-official"), &DomainSource::Unknown, &device)
        .expect("best_model");
    for ((name, got), (_, want)) in named_linears(&stepped)
        .into_iter()
        .zip(named_linears(&after.net))
    {
        let gap = weight_as_pytorch(&got.weight)
            .iter()
            .zip(weight_as_pytorch(&want.weight))
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(gap <= 1e-6, "{name}.weight after the step: {gap}");
        let (gb, wb) = (
            values(got.bias.as_ref().expect("bias").val()),
            values(want.bias.as_ref().expect("bias").val()),
        );
        let gap = gb
            .iter()
            .zip(&wb)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(gap <= 1e-6, "{name}.bias after the step: {gap}");
    }
}
