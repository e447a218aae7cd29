//! The fused kernel against burn's generic conv + activation on the same Flex tensors.

use burn::nn::conv::Conv2dConfig;
use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Distribution, Tensor};

use super::choice::Pick;
use super::conv::Kernel;
use super::im2col::ConvGeometry;
use super::tune::{KernelTable, LayerKey};
use super::winograd::Variant;
use super::{conv_block, conv_block_pooled, conv_block_pooled_with, conv_block_with, maxpool, upsample};
use crate::cfg::{Activation, ConvSpec, MaxPoolSpec};
use crate::config::PadFill;
use crate::conv_block::ConvBlock;
use crate::ops::{maxpool_generic, upsample_generic};

fn block(spec: &ConvSpec, bias: bool, device: &Device) -> ConvBlock {
    // Random weights and bias (a folded block): the kernel must reproduce burn's own conv.
    let mut block = ConvBlock::new(spec, 1e-5, device);
    block.bn = None;
    let conv = Conv2dConfig::new([spec.in_channels, spec.filters], [spec.size, spec.size])
        .with_stride([spec.stride, spec.stride])
        .with_padding(PaddingConfig2d::Explicit(spec.padding, spec.padding, spec.padding, spec.padding))
        .with_bias(bias);
    block.conv = conv.init(device);
    block
}

fn spec(cin: usize, cout: usize, size: usize, stride: usize, padding: usize, activation: Activation) -> ConvSpec {
    ConvSpec { in_channels: cin, filters: cout, size, stride, padding, groups: 1, batch_normalize: true, activation }
}

/// `n` standard-normal floats from the device's seeded generator.
fn normal_values(n: usize, device: &Device) -> Vec<f32> {
    Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), device).into_data().try_into_vec::<f32>().expect("f32")
}

fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b).abs().max().into_scalar()
}

fn geometry(spec: &ConvSpec, dims: [usize; 4]) -> ConvGeometry {
    ConvGeometry {
        in_channels: dims[1],
        height: dims[2],
        width: dims[3],
        kernel: spec.size,
        stride: spec.stride,
        padding: spec.padding,
    }
}

/// Which kernel the rules pick for `spec` on `dims`, so each case below checks that it
/// still covers the path it was written for.
fn kernel_of(spec: &ConvSpec, dims: [usize; 4]) -> &'static str {
    match Pick::rules(&geometry(spec, dims), spec.filters, dims[0]) {
        Pick::WinogradF2 | Pick::WinogradF2Stacked => "F2",
        Pick::WinogradF4 | Pick::WinogradF4Stacked => "F4",
        Pick::Direct => "direct",
        Pick::Pointwise => "pointwise",
        Pick::Im2col | Pick::Im2colBands => "im2col",
        Pick::DirectPooled => "direct-pooled",
    }
}

#[test]
fn matches_generic_conv_for_darknet_geometries() {
    let device = Device::flex();
    device.seed(7);
    let cases = [
        // (kernel expected, spec, input [B, C, H, W])
        ("direct", spec(3, 16, 3, 1, 1, Activation::Leaky), [1, 3, 20, 24]),
        ("direct", spec(3, 8, 3, 1, 0, Activation::Mish), [1, 3, 9, 7]),
        ("pointwise", spec(32, 16, 1, 1, 0, Activation::Leaky), [2, 32, 13, 13]),
        ("pointwise", spec(16, 24, 1, 1, 0, Activation::Linear), [1, 16, 7, 9]),
        ("direct", spec(16, 32, 3, 2, 1, Activation::Leaky), [2, 16, 19, 22]),
        ("direct", spec(8, 8, 3, 1, 0, Activation::Relu), [1, 8, 6, 5]),
        ("direct", spec(8, 12, 3, 1, 1, Activation::Swish), [1, 8, 5, 6]),
        ("direct", spec(8, 12, 3, 1, 1, Activation::Mish), [1, 8, 5, 6]),
        ("direct", spec(8, 12, 3, 1, 1, Activation::Logistic), [1, 8, 5, 6]),
        ("im2col", spec(4, 6, 5, 2, 2, Activation::Leaky), [1, 4, 11, 10]),
        ("direct", spec(8, 10, 5, 1, 2, Activation::Leaky), [1, 8, 11, 10]),
        ("direct", spec(16, 24, 3, 1, 1, Activation::Leaky), [2, 16, 13, 13]),
        ("im2col", spec(8, 6, 3, 1, 1, Activation::Leaky), [1, 8, 9, 9]),
        // tiny's 16->32 at 208 (13 column blocks), a last column block of 2 (210 = 13 x 16 +
        // 2), batch 2, 32 x 9 = 288 taps, 64 x 9 = 576 (the most the rules give it), and 128 x 9
        // (the most it takes: a candidate only).
        ("direct", spec(16, 32, 3, 1, 1, Activation::Leaky), [1, 16, 208, 208]),
        ("direct", spec(8, 16, 3, 1, 1, Activation::Leaky), [2, 8, 40, 210]),
        ("direct", spec(32, 40, 3, 1, 1, Activation::Linear), [2, 32, 33, 35]),
        ("direct", spec(64, 24, 3, 2, 1, Activation::Leaky), [1, 64, 30, 66]),
        ("im2col", spec(128, 16, 3, 2, 1, Activation::Leaky), [1, 128, 20, 22]),
        // Several bands of the column matrix (in parallel, the last one shorter), stride 1 and 2.
        ("im2col", spec(72, 16, 3, 1, 1, Activation::Leaky), [1, 72, 130, 140]),
        ("im2col", spec(72, 16, 3, 2, 1, Activation::Leaky), [1, 72, 130, 140]),
        // Weights over 2 MiB (232 x 2304 floats): one band at a time, the product threaded.
        ("im2col", spec(256, 232, 3, 2, 1, Activation::Leaky), [1, 256, 9, 10]),
        // Winograd F(4x4) on wide maps, F(2x2) on narrow ones: odd sizes, partial tiles, a
        // 1x1 map, batch 2, several bands of tile rows.
        ("F4", spec(32, 64, 3, 1, 1, Activation::Leaky), [1, 32, 208, 208]),
        ("F4", spec(64, 64, 3, 1, 1, Activation::Leaky), [2, 64, 21, 23]),
        ("F4", spec(64, 64, 3, 1, 1, Activation::Leaky), [1, 64, 80, 400]),
        ("F2", spec(64, 72, 3, 1, 1, Activation::Linear), [1, 64, 13, 11]),
        ("F2", spec(32, 64, 3, 1, 1, Activation::Swish), [2, 32, 1, 1]),
        // Batches of small maps run stacked into one image (batch 2 above, 3 here).
        ("F2", spec(64, 72, 3, 1, 1, Activation::Leaky), [3, 64, 13, 11]),
    ];
    let table = KernelTable::new("test");
    for (expected, spec, dims) in cases {
        // Without AVX-512 the direct kernel steps aside for im2col.
        let expected = if expected == "direct" && super::simd_level() != "avx512" { "im2col" } else { expected };
        assert_eq!(kernel_of(&spec, dims), expected, "{spec:?} on {dims:?}");
        let g = geometry(&spec, dims);
        let key = LayerKey::new(&g, spec.filters, dims[0], super::threads(), false);
        for bias in [false, true] {
            let block = block(&spec, bias, &device);
            let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
            let reference = block.forward_generic(x.clone());
            let fast = conv_block(&block, &x).expect("fast path applies to a folded block on flex");
            let diff = max_diff(fast, reference.clone());
            assert!(diff < 1e-4, "{spec:?} on {dims:?}, bias {bias}: max difference {diff}");
            // Every other kernel a measured table may pick for this shape, too.
            for pick in Pick::candidates(&g, spec.filters, dims[0], false) {
                table.insert(key, pick);
                let fast = conv_block_with(&block, &x, Some(&table)).expect("fast path");
                let diff = max_diff(fast, reference.clone());
                assert!(diff < 1e-4, "{} for {spec:?} on {dims:?}, bias {bias}: max difference {diff}", pick.name());
            }
        }
    }
}

/// A table without the shape measures it once: every candidate runs, one is kept and used
/// again without measuring, and the result is the generic conv's.
#[test]
fn a_new_shape_is_measured_once_then_looked_up() {
    let device = Device::flex();
    device.seed(17);
    let table = KernelTable::new("test");
    // 3x3/1 (several candidates), then a 1x1 (one candidate: nothing to measure).
    let spec3 = spec(32, 64, 3, 1, 1, Activation::Leaky);
    let block3 = block(&spec3, true, &device);
    let x = Tensor::<4>::random([2, 32, 26, 26], Distribution::Normal(0.0, 1.0), &device);
    let reference = block3.forward_generic(x.clone());
    let first = conv_block_with(&block3, &x, Some(&table)).expect("fast path");
    assert!(max_diff(first.clone(), reference) < 1e-4);
    assert_eq!(table.len(), 1);
    assert!(table.take_changed(), "a measured shape marks the table changed");
    let key = LayerKey::new(&geometry(&spec3, [2, 32, 26, 26]), 64, 2, super::threads(), false);
    let kept = table.get(&key).expect("the shape is in the table");
    assert!(Pick::candidates(&key.geometry, 64, 2, false).contains(&kept));
    let again = conv_block_with(&block3, &x, Some(&table)).expect("fast path");
    assert!(!table.take_changed(), "a known shape is looked up, not measured");
    assert_eq!(max_diff(first, again), 0.0, "the first call's result is the kept kernel's");
    // Another batch is another shape.
    let x1 = x.clone().narrow(0, 0, 1);
    conv_block_with(&block3, &x1, Some(&table)).expect("fast path");
    assert_eq!(table.len(), 2);
    let block1 = block(&spec(32, 16, 1, 1, 0, Activation::Leaky), true, &device);
    conv_block_with(&block1, &x, Some(&table)).expect("fast path");
    assert_eq!(table.len(), 2, "1x1 layers have one kernel: nothing to measure");
    let text = table.to_text();
    assert!(text.contains(&format!(": {} | ", kept.name())), "{text}");
}

#[test]
fn reads_non_contiguous_inputs() {
    let device = Device::flex();
    let block = block(&spec(6, 5, 3, 1, 1, Activation::Leaky), true, &device);
    let x = Tensor::<4>::random([1, 9, 6, 8], Distribution::Normal(0.0, 1.0), &device).swap_dims(2, 3);
    let x = x.narrow(1, 2, 6);
    let fast = conv_block(&block, &x).expect("fast path applies");
    assert!(max_diff(fast, block.forward_generic(x)) < 1e-4);
}

#[test]
fn declines_unfolded_blocks() {
    let device = Device::flex();
    let block = ConvBlock::new(&spec(3, 4, 3, 1, 1, Activation::Leaky), 1e-5, &device);
    let x = Tensor::<4>::zeros([1, 3, 4, 4], &device);
    assert!(conv_block(&block, &x).is_none(), "BatchNorm must be folded first");
}

#[test]
fn light_forward_of_unfolded_blocks_matches_generic_ops() {
    // `forward_light` (import's validation): the bare conv through im2col or a plain product,
    // BatchNorm and activation through burn, for 3x3/1, 3x3/2 and 1x1 blocks with BatchNorm,
    // and a head conv with a bias and no BatchNorm.
    let device = Device::flex();
    let cases = [
        (spec(3, 16, 3, 1, 1, Activation::Leaky), [1, 3, 20, 18]),
        (spec(16, 32, 3, 2, 1, Activation::Leaky), [2, 16, 13, 13]),
        (spec(64, 32, 1, 1, 0, Activation::Mish), [1, 64, 7, 9]),
    ];
    for (spec, dims) in cases {
        let mut block = ConvBlock::new(&spec, 1e-5, &device);
        if let Some(bn) = block.bn.as_mut() {
            let n = spec.filters;
            bn.gamma = burn::module::Param::from_tensor(Tensor::from_floats(&normal_values(n, &device)[..], &device));
            bn.running_var =
                burn::module::RunningState::new(Tensor::<1>::random([n], Distribution::Uniform(0.5, 2.0), &device));
        }
        let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
        assert!(super::conv_plain(&block, &x).is_some(), "{spec:?}: the plain kernel applies to unfolded blocks");
        let diff = max_diff(block.forward_light(x.clone()), block.forward_generic(x));
        assert!(diff < 1e-4, "{spec:?}: {diff}");
    }
    let head = block(&spec(32, 18, 1, 1, 0, Activation::Linear), true, &device);
    let x = Tensor::<4>::random([1, 32, 5, 5], Distribution::Normal(0.0, 1.0), &device);
    assert!(max_diff(head.forward_light(x.clone()), head.forward_generic(x)) < 1e-4);
}

#[test]
fn replaced_weights_are_not_served_from_the_cache() {
    let device = Device::flex();
    device.seed(3);
    let spec = spec(32, 64, 3, 1, 1, Activation::Leaky);
    assert_eq!(kernel_of(&spec, [1, 32, 6, 6]), "F2", "the cache only serves Winograd weights");
    let mut block = block(&spec, true, &device);
    let x = Tensor::<4>::random([1, 32, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let first = conv_block(&block, &x).expect("fast path applies");
    block.conv.weight = burn::module::Param::from_tensor(block.conv.weight.val() * 2.0);
    let second = conv_block(&block, &x).expect("fast path applies");
    assert!(max_diff(second.clone(), block.forward_generic(x)) < 1e-4);
    assert!(max_diff(second, first) > 1e-2, "the doubled weights must change the output");
}

#[test]
fn maxpool_matches_generic_ops() {
    let device = Device::flex();
    device.seed(5);
    // (size, stride, padding): tiny's 2/2 and 2/1, SPP's 5/9/13, odd windows and maps.
    let specs = [(2, 2, 1), (2, 1, 1), (5, 1, 4), (9, 1, 8), (13, 1, 12), (3, 2, 2), (2, 2, 0), (3, 1, 0)];
    for (size, stride, padding) in specs {
        let spec = MaxPoolSpec { size, stride, padding };
        // Even maps take the exact-tiling fast path of 2/2 pools.
        for dims in [[2, 3, 13, 13], [1, 2, 8, 11], [2, 3, 8, 12]] {
            for fill in [PadFill::NegInf, PadFill::Zero] {
                // Negative values make the pad fill visible at the borders.
                let x = Tensor::<4>::random(dims, Distribution::Normal(-1.0, 1.0), &device);
                let fast = maxpool(&x, &spec, fill).expect("kernel applies on flex");
                let diff = max_diff(fast, maxpool_generic(x, &spec, fill));
                assert_eq!(diff, 0.0, "{spec:?} {dims:?} {fill:?}");
            }
        }
    }
}

#[test]
fn both_winograd_variants_match_im2col() {
    use super::conv::{conv2d, ConvParams};
    use super::winograd::transform_weights;

    let device = Device::flex();
    device.seed(11);
    let (cin, cout) = (24, 20);
    for (h, w) in [(1, 1), (5, 7), (26, 26), (13, 13), (9, 30)] {
        let g = ConvGeometry { in_channels: cin, height: h, width: w, kernel: 3, stride: 1, padding: 1 };
        let values = |n: usize| normal_values(n, &device);
        let (x, weight, bias) = (values(cin * h * w), values(cout * cin * 9), values(cout));
        let params = ConvParams {
            weight: &weight,
            kernel: Kernel::Im2col { banded: false },
            bias: Some(&bias),
            out_channels: cout,
            activation: Activation::Leaky,
        };
        let mut reference = vec![0.0; cout * h * w];
        conv2d(&x, 1, &g, &params, &mut reference);
        for variant in [Variant::F2, Variant::F4] {
            let u = transform_weights(variant, &weight, cout, cin);
            let mut out = vec![0.0; cout * h * w];
            conv2d(
                &x,
                1,
                &g,
                &ConvParams { kernel: Kernel::Winograd { variant, u: &u, stacked: false }, ..params },
                &mut out,
            );
            // Relative to the output scale (|y| ~ 15 here): F(4x4) rounds to ~1e-5 of it.
            let scale = reference.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
            let diff = out.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max) / scale;
            assert!(diff < 3e-5, "{variant:?} on {h}x{w}: max relative difference {diff}");
        }
    }
}

/// The direct kernel at geometries its policy does not pick (stride 2, three input channels,
/// a partial channel block, 5x5) against im2col, so its general code stays right.
#[test]
fn direct_kernel_matches_im2col_at_any_stride() {
    use super::conv::{conv2d, ConvParams};

    if super::simd_level() != "avx512" {
        eprintln!("direct kernel not run: this CPU has no AVX-512");
        return;
    }
    let device = Device::flex();
    device.seed(13);
    let values = |n: usize| normal_values(n, &device);
    // (in, out, kernel, stride, padding, height, width)
    let cases = [
        (3, 16, 3, 1, 1, 40, 50),
        (3, 13, 3, 2, 1, 41, 38),
        (32, 64, 3, 2, 1, 64, 70),
        (4, 9, 5, 2, 2, 11, 10),
        (8, 8, 3, 3, 0, 20, 23),
    ];
    for (cin, cout, k, stride, padding, h, w) in cases {
        let g = ConvGeometry { in_channels: cin, height: h, width: w, kernel: k, stride, padding };
        let (x, weight, bias) = (values(2 * cin * h * w), values(cout * cin * k * k), values(cout));
        let params = ConvParams {
            weight: &weight,
            kernel: Kernel::Im2col { banded: false },
            bias: Some(&bias),
            out_channels: cout,
            activation: Activation::Leaky,
        };
        let n = 2 * cout * g.out_height() * g.out_width();
        let (mut reference, mut out) = (vec![0.0; n], vec![0.0; n]);
        conv2d(&x, 2, &g, &params, &mut reference);
        conv2d(&x, 2, &g, &ConvParams { kernel: Kernel::Direct, ..params }, &mut out);
        let diff = reference.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{g:?} -> {cout}: max difference {diff}");
    }
}

#[test]
fn upsample_matches_generic_ops() {
    let device = Device::flex();
    device.seed(19);
    for (dims, stride) in [([1, 3, 5, 7], 2), ([2, 4, 13, 13], 2), ([1, 2, 3, 4], 3), ([1, 1, 1, 1], 4)] {
        let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
        let fast = upsample(&x, stride).expect("kernel applies on flex");
        assert_eq!(max_diff(fast, upsample_generic(x, stride)), 0.0, "{dims:?} x{stride}");
    }
}

/// A convolution and the 2x2/2 maxpool after it, run as a pair ([`conv_block_pooled`]): the
/// fused direct kernel and every other candidate (then the pool) against burn's generic conv,
/// activation and maxpool. Widths that are not a whole number of 32-column blocks, a partial
/// channel block, batch 2, 3 to 32 input channels, each activation it takes; swish and mish
/// (not monotonic), odd maps and other pools are declined.
#[test]
fn conv_and_maxpool_fused_match_generic_ops() {
    let device = Device::flex();
    device.seed(23);
    let pool = MaxPoolSpec { size: 2, stride: 2, padding: 1 };
    let cases = [
        (spec(3, 16, 3, 1, 1, Activation::Leaky), [1, 3, 40, 66]),
        (spec(16, 32, 3, 1, 1, Activation::Leaky), [2, 16, 26, 32]),
        (spec(8, 13, 3, 1, 1, Activation::Relu), [1, 8, 10, 34]),
        (spec(4, 12, 3, 1, 1, Activation::Linear), [1, 4, 6, 4]),
        (spec(32, 16, 3, 1, 1, Activation::Logistic), [1, 32, 12, 98]),
        (spec(8, 8, 3, 2, 1, Activation::Leaky), [1, 8, 16, 12]),
        (spec(6, 8, 5, 1, 2, Activation::Leaky), [2, 6, 8, 8]),
        // tiny's first layer at its real size: 416 = 13 x 32 columns, 208 pooled rows.
        (spec(3, 16, 3, 1, 1, Activation::Leaky), [1, 3, 416, 416]),
    ];
    let table = KernelTable::new("test");
    for (spec, dims) in cases {
        let g = geometry(&spec, dims);
        let key = LayerKey::new(&g, spec.filters, dims[0], super::threads(), true);
        let candidates = Pick::candidates(&g, spec.filters, dims[0], true);
        assert_eq!(
            candidates.contains(&Pick::DirectPooled),
            super::simd_level() == "avx512",
            "{spec:?} on {dims:?}: {candidates:?}"
        );
        for bias in [false, true] {
            let block = block(&spec, bias, &device);
            // Centred on zero so the activations' kinks and the pool's maxima both matter.
            let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
            let reference = maxpool_generic(block.forward_generic(x.clone()), &pool, PadFill::NegInf);
            let fast = conv_block_pooled(&block, &x, &pool, PadFill::NegInf).expect("the pair runs fused");
            let diff = max_diff(fast, reference.clone());
            assert!(diff < 1e-4, "rules for {spec:?} on {dims:?}, bias {bias}: max difference {diff}");
            for &pick in &candidates {
                table.insert(key, pick);
                let fast = conv_block_pooled_with(&block, &x, &pool, PadFill::NegInf, Some(&table)).expect("fused");
                let diff = max_diff(fast, reference.clone());
                assert!(diff < 1e-4, "{} for {spec:?} on {dims:?}, bias {bias}: max difference {diff}", pick.name());
            }
        }
    }
    // Declined: activations that dip below zero, odd maps, pools that are not 2x2/2.
    let x = Tensor::<4>::random([1, 8, 10, 10], Distribution::Normal(0.0, 1.0), &device);
    for activation in [Activation::Swish, Activation::Mish] {
        let swish = block(&spec(8, 8, 3, 1, 1, activation), true, &device);
        assert!(conv_block_pooled(&swish, &x, &pool, PadFill::NegInf).is_none(), "{activation:?}");
    }
    let leaky = block(&spec(8, 8, 3, 1, 1, Activation::Leaky), true, &device);
    let odd = Tensor::<4>::random([1, 8, 13, 10], Distribution::Normal(0.0, 1.0), &device);
    assert!(conv_block_pooled(&leaky, &odd, &pool, PadFill::NegInf).is_none(), "odd height");
    for other in [MaxPoolSpec { size: 2, stride: 1, padding: 1 }, MaxPoolSpec { size: 3, stride: 2, padding: 2 }] {
        assert!(conv_block_pooled(&leaky, &x, &other, PadFill::NegInf).is_none(), "{other:?}");
    }
}
