//! Every built-in architecture builds and runs with seeded random weights.

use burn::tensor::{Distribution, Tensor};
use yolo_model::{Arch, Yolo, YoloConfig};

use crate::common::cpu;

fn run_arch(arch: Arch, size: usize) -> [usize; 3] {
    let device = cpu();
    device.seed(7);
    let model = Yolo::new(YoloConfig::builtin(arch), &device);
    let x = Tensor::<4>::random([1, 3, size, size], Distribution::Uniform(0.0, 1.0), &device);
    let out = model.forward(x);
    let dims = out.dims();
    let values = out.into_data().try_into_vec::<f32>().expect("f32 output");
    assert!(values.iter().all(|v| v.is_finite()), "{}: non-finite output", arch.name());
    // Objectness and class scores are probabilities.
    assert!(values.chunks_exact(85).all(|r| r[4..].iter().all(|p| (0.0..=1.0).contains(p))));
    dims
}

#[test]
fn yolov3_runs_at_416() {
    assert_eq!(run_arch(Arch::Yolov3, 416), [1, 10647, 85]);
}

#[test]
fn yolov3_spp_runs_at_416() {
    assert_eq!(run_arch(Arch::Yolov3Spp, 416), [1, 10647, 85]);
}

#[test]
fn yolov3_tiny_runs_at_320() {
    assert_eq!(run_arch(Arch::Yolov3Tiny, 320), [1, 3 * (10 * 10 + 20 * 20), 85]);
}

#[test]
fn wrong_input_size_is_an_error() {
    let device = cpu();
    let model = Yolo::new(YoloConfig::builtin(Arch::Yolov3Tiny), &device);
    assert!(model.check_input([1, 3, 400, 416]).is_err());
    assert!(model.check_input([1, 1, 416, 416]).is_err());
    assert!(model.check_input([2, 3, 416, 416]).is_ok());
}

#[test]
fn tiny_maxpool_padding_follows_the_numerics() {
    use yolo_model::cfg::MaxPoolSpec;
    use yolo_model::ops::maxpool;
    use yolo_model::PadFill;

    let device = cpu();
    let x = Tensor::<4>::from_data([[[[-1.0f32, -2.0], [-3.0, -4.0]]]], &device);
    let spec = MaxPoolSpec { size: 2, stride: 1, padding: 1 };
    let darknet = maxpool(x.clone(), &spec, PadFill::NegInf).into_data().try_into_vec::<f32>().expect("f32");
    assert_eq!(darknet, vec![-1.0, -2.0, -3.0, -4.0]);
    let pytorch = maxpool(x, &spec, PadFill::Zero).into_data().try_into_vec::<f32>().expect("f32");
    assert_eq!(pytorch, vec![-1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn upsample_repeats_each_cell() {
    let device = cpu();
    let x = Tensor::<4>::from_data([[[[1.0f32, 2.0], [3.0, 4.0]]]], &device);
    let up = yolo_model::ops::upsample_nearest(x, 2).into_data().try_into_vec::<f32>().expect("f32");
    assert_eq!(up, vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]);
}
