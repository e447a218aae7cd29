//! The CPU fast path for convolutions on burn's Flex backend.
//!
//! Why: burn-flex's generic conv re-lays out the weights and converts the input to NHWC on
//! every call, and runs BatchNorm, bias and activation as separate passes. For an inference
//! model whose BatchNorm is folded ([`crate::fold`]) a darknet conv block is exactly
//! `act(W x im2col(x) + b)`: this module computes that in NCHW with one packed product per
//! band of output rows ([`gemm`], the kernel library burn-flex itself uses), bias and
//! activation fused in, reading the weights and the input in place. 1x1 convolutions need no
//! im2col at all: the image already is the column matrix. Stride-1 3x3 convolutions, most of
//! the arithmetic, use Winograd F(4x4, 3x3) or F(2x2, 3x3) ([`winograd`], chosen per layer
//! from measurements): up to 4x fewer multiplies. Layers with few input channels (the
//! first ones, where the product would be too thin) use a direct kernel ([`direct`]), which
//! can also fuse the 2x2/2 maxpool that follows a conv ([`conv_block_pooled`]).
//!
//! Darknet's maxpool and nearest upsampling have host kernels too ([`pool`], [`upsample`]).
//!
//! Other backends (wgpu, ndarray) and unfolded blocks keep burn's generic ops, which stay
//! the reference the tests compare against.

/// Defines `fn $name<'a>(args)` whose body is compiled for the best instruction set this CPU
/// has (AVX-512, AVX2+FMA, or the baseline), picked at run time by `pulp`: the kernels' loops
/// are written plainly for the compiler to vectorise, and one binary runs everywhere.
///
/// The body must sit inside pulp's `WithSimd::with_simd` to be inlined into its
/// `#[target_feature]` function; a closure or fn item called from there stayed a separate
/// SSE2 function (seen in `perf annotate`), hence the macro.
macro_rules! simd_fn {
    ($(#[$attr:meta])* fn $name:ident<$a:lifetime>($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        fn $name<$a>($($arg: $ty),*) {
            struct Kernel<$a> {
                $($arg: $ty,)*
                _lifetime: std::marker::PhantomData<&$a ()>,
            }
            impl<$a> pulp::WithSimd for Kernel<$a> {
                type Output = ();
                #[inline(always)]
                fn with_simd<S: pulp::Simd>(self, _simd: S) {
                    let Kernel { $($arg,)* .. } = self;
                    $body
                }
            }
            pulp::Arch::new().dispatch(Kernel { $($arg,)* _lifetime: std::marker::PhantomData })
        }
    };
}

mod buffers;
mod cache;
mod choice;
mod conv;
mod direct;
mod flex;
mod gemm;
mod im2col;
mod phases;
mod pool;
mod tune;
mod upsample;
mod winograd;

pub use cache::KernelCache;
pub use tune::{kernel_table, set_kernel_table, KernelTable, TableError};

use burn::backend::flex::FlexTensor;
use burn::nn::PaddingConfig2d;
use burn::tensor::Tensor;

use crate::cfg::{Activation, MaxPoolSpec};
use crate::config::PadFill;
use crate::conv_block::ConvBlock;
use choice::Pick;
use conv::{conv2d, ConvParams, Kernel};
use im2col::ConvGeometry;
use tune::LayerKey;

/// Worker threads of the CPU kernels (and of burn's Flex backend): `RAYON_NUM_THREADS`,
/// else one per core.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The instruction set the kernels' loops dispatch to on this CPU (pulp's run-time choice):
/// `avx512` (x86-64-v4), `avx2+fma` (x86-64-v3) or `baseline`.
pub fn simd_level() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    match pulp::Arch::new() {
        pulp::Arch::V4(_) => return "avx512",
        pulp::Arch::V3(_) => return "avx2+fma",
        _ => {}
    }
    "baseline"
}

/// Whether tensors on `device` run through these kernels (burn's Flex backend).
pub fn runs_on(device: &burn::tensor::Device) -> bool {
    flex::is_flex(device)
}

/// The kernel the fast path runs for a folded `kernel`x`kernel`/`stride` convolution (symmetric
/// `padding`) with `out_channels` filters on `[batch, in_channels, height, width]`, `pooled`
/// when the network fuses the maxpool after it ([`crate::Yolo::fuses_pool`]): the installed
/// table's pick for that shape, else the fixed rules' (`bench --profile` shows it).
pub fn kernel_name(
    dims: [usize; 4],
    kernel: usize,
    stride: usize,
    padding: usize,
    out_channels: usize,
    pooled: bool,
) -> &'static str {
    let [batch, in_channels, height, width] = dims;
    let g = ConvGeometry { in_channels, height, width, kernel, stride, padding };
    // As `conv_block_pooled` decides: the pool must tile this output.
    let pooled = pooled && g.pools_2x2();
    let key = LayerKey::new(&g, out_channels, batch, threads(), pooled);
    let measured = kernel_table().and_then(|t| t.get(&key));
    measured.unwrap_or_else(|| Pick::rules_for(&g, out_channels, batch, pooled)).name()
}

/// Whether a conv block with `activation` and the maxpool `pool` after it can run fused
/// ([`conv_block_pooled`]): a 2x2/2 pool without leading padding (for even maps its windows
/// tile the map, which the kernel checks per input), after an activation that may be applied
/// after pooling.
pub fn fuses(activation: Activation, pool: &MaxPoolSpec) -> bool {
    pool.size == 2 && pool.stride == 2 && pool.pads().0 == 0 && direct::pools_after_activation(activation)
}

/// The block's output through the fast path, or `None` when it does not apply (another
/// backend, BatchNorm not folded, grouped/dilated/rectangular kernels, asymmetric padding).
pub(crate) fn conv_block(block: &ConvBlock, x: &Tensor<4>) -> Option<Tensor<4>> {
    conv_block_with(block, x, kernel_table().as_deref())
}

/// [`conv_block`] with the kernel choice given: `table` (measured picks), or the rules.
fn conv_block_with(block: &ConvBlock, x: &Tensor<4>, table: Option<&KernelTable>) -> Option<Tensor<4>> {
    if block.bn.is_some() {
        return None;
    }
    Some(HostConv::new(block, x)?.compute(None, table))
}

/// The block's output through the fast path followed by darknet's maxpool `pool`, or `None`
/// where the pair does not run fused (see [`fuses`]; also when the pool does not tile this
/// output, or where [`conv_block`] would decline): the caller then runs the two apart. The
/// kernel is chosen for the pair: the fused direct kernel, or any other then the pool.
pub(crate) fn conv_block_pooled(
    block: &ConvBlock,
    x: &Tensor<4>,
    pool: &MaxPoolSpec,
    fill: PadFill,
) -> Option<Tensor<4>> {
    conv_block_pooled_with(block, x, pool, fill, kernel_table().as_deref())
}

/// [`conv_block_pooled`] with the kernel choice given: `table` (measured picks), or the rules.
fn conv_block_pooled_with(
    block: &ConvBlock,
    x: &Tensor<4>,
    pool: &MaxPoolSpec,
    fill: PadFill,
    table: Option<&KernelTable>,
) -> Option<Tensor<4>> {
    if block.bn.is_some() || !fuses(block.activation, pool) {
        return None;
    }
    let conv = HostConv::new(block, x)?;
    if !conv.g.pools_2x2() {
        return None;
    }
    let pool = pool::PoolGeometry::new(conv.g.out_height(), conv.g.out_width(), pool, fill);
    Some(conv.compute(Some(&pool), table))
}

/// The block's convolution alone (`W x + conv bias`, no BatchNorm, no activation) through
/// im2col + gemm (a plain product for 1x1), or `None` where the fast path does not apply.
///
/// For a one-off forward of an unfolded model (`Yolo::with_light_convs`, import's validation):
/// the weights are read where they are, no Winograd transform, no relayout (burn's conv copies
/// every weight tensor per call), nothing measured or cached.
pub(crate) fn conv_plain(block: &ConvBlock, x: &Tensor<4>) -> Option<Tensor<4>> {
    let conv = HostConv::new(block, x)?;
    let pick = if conv.g.is_pointwise() { Pick::Pointwise } else { Pick::Im2col };
    let mut output = buffers::take(conv.shape().iter().product());
    conv.run(pick, Activation::Linear, &mut output);
    Some(flex::tensor(output, conv.shape()))
}

/// A block's convolution as host slices, checked to be one the kernels compute.
struct HostConv<'a> {
    block: &'a ConvBlock,
    g: ConvGeometry,
    batch: usize,
    out_channels: usize,
    input: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
}

impl<'a> HostConv<'a> {
    /// `None` off the Flex backend and for grouped/dilated/rectangular kernels or asymmetric
    /// padding (burn's ops run those, and report shape errors).
    fn new(block: &'a ConvBlock, x: &Tensor<4>) -> Option<HostConv<'a>> {
        if !flex::is_flex(&x.device()) {
            return None;
        }
        let conv = &block.conv;
        let [k, kw] = conv.kernel_size;
        let padding = match &conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) if top == left && top == bottom && top == right => *top,
            PaddingConfig2d::Valid => 0,
            _ => return None,
        };
        if k != kw || conv.stride[0] != conv.stride[1] || conv.dilation != [1, 1] || conv.groups != 1 {
            return None;
        }
        let [batch, in_channels, height, width] = x.dims();
        let [out_channels, weight_in, ..] = conv.weight.dims();
        if weight_in != in_channels || height + 2 * padding < k || width + 2 * padding < k {
            return None; // let burn report the shape error
        }
        let g = ConvGeometry { in_channels, height, width, kernel: k, stride: conv.stride[0], padding };
        let bias = match &conv.bias {
            Some(b) => Some(flex::host(b.val())?),
            None => None,
        };
        Some(HostConv {
            block,
            g,
            batch,
            out_channels,
            input: flex::host(x.clone())?,
            weight: flex::host(conv.weight.val())?,
            bias,
        })
    }

    fn shape(&self) -> [usize; 4] {
        [self.batch, self.out_channels, self.g.out_height(), self.g.out_width()]
    }

    /// The block's output, pooled by `pool` when given, with the block's activation, through
    /// the kernel `table` keeps for that shape (measured now if it is new), else the rules'.
    fn compute(&self, pool: Option<&pool::PoolGeometry>, table: Option<&KernelTable>) -> Tensor<4> {
        let [batch, channels, h, w] = self.shape();
        let shape = if pool.is_some() { [batch, channels, h / 2, w / 2] } else { [batch, channels, h, w] };
        let mut output = buffers::take(shape.iter().product());
        let activation = self.block.activation;
        let run = |pick: Pick, output: &mut [f32]| match pool {
            Some(pool) => self.run_pooled(pick, activation, pool, output),
            None => self.run(pick, activation, output),
        };
        // Measuring (a new shape with a table) runs every candidate into `output`; the chosen
        // kernel then computes the result (unless it ran last), the same numbers as every later call.
        let (chosen, ran) =
            pick(&self.g, channels, batch, pool.is_some(), table, |candidate| run(candidate, &mut output));
        if ran != Some(chosen) {
            run(chosen, &mut output);
        }
        flex::tensor(output, shape)
    }

    /// The convolution's parameters as host slices, with `kernel` and `activation`.
    fn params<'k>(&'k self, kernel: Kernel<'k>, activation: Activation) -> ConvParams<'k> {
        ConvParams {
            weight: flex::slice(&self.weight),
            kernel,
            bias: self.bias.as_ref().map(flex::slice),
            out_channels: self.out_channels,
            activation,
        }
    }

    /// Runs `pick` into `output`, with `activation` fused (Winograd weights from the block's cache).
    fn run(&self, pick: Pick, activation: Activation, output: &mut [f32]) {
        let (out_channels, in_channels) = (self.out_channels, self.g.in_channels);
        let mut transformed = None;
        let kernel = Kernel::new(pick, |variant| {
            transformed.insert(self.block.cache.winograd(variant, &self.weight, out_channels, in_channels)).as_slice()
        });
        conv2d(flex::slice(&self.input), self.batch, &self.g, &self.params(kernel, activation), output);
    }

    /// Runs `pick` and the 2x2/2 maxpool `pool` into `output` (`[B, C_out, H'/2, W'/2]`):
    /// fused for [`Pick::DirectPooled`], else the convolution into a scratch map, then the pool.
    fn run_pooled(&self, pick: Pick, activation: Activation, pool: &pool::PoolGeometry, output: &mut [f32]) {
        if pick != Pick::DirectPooled {
            let mut full = buffers::take(self.shape().iter().product());
            self.run(pick, activation, &mut full);
            pool::maxpool(&full, pool, output);
            return;
        }
        let params = self.params(Kernel::Direct, activation);
        let in_len = self.g.in_channels * self.g.height * self.g.width;
        let out_len = output.len() / self.batch.max(1);
        let images = flex::slice(&self.input).chunks_exact(in_len).zip(output.chunks_exact_mut(out_len));
        for (image, out) in images.take(self.batch) {
            direct::conv_pooled(image, &self.g, &params, out);
        }
    }
}

/// The kernel for a layer, and the kernel that already computed `output` if measuring ran
/// (through `run`): the fixed rules without a table; with one, its entry, measured first when
/// the shape is new and has more than one candidate.
fn pick(
    g: &ConvGeometry,
    out_channels: usize,
    batch: usize,
    pooled: bool,
    table: Option<&KernelTable>,
    run: impl FnMut(Pick),
) -> (Pick, Option<Pick>) {
    let rules = Pick::rules_for(g, out_channels, batch, pooled);
    let Some(table) = table.filter(|_| Pick::has_alternatives(g)) else { return (rules, None) };
    let key = LayerKey::new(g, out_channels, batch, threads(), pooled);
    match table.get(&key) {
        Some(pick) => (pick, None),
        // A full table measures nothing more (it stays loadable): the rules decide.
        None if table.is_full() => (rules, None),
        None => {
            let (pick, last) = table.measure(key, run);
            (pick, Some(last))
        }
    }
}

/// Darknet maxpool through the host kernel, or `None` off the Flex backend.
pub(crate) fn maxpool(x: &Tensor<4>, spec: &MaxPoolSpec, fill: PadFill) -> Option<Tensor<4>> {
    if !flex::is_flex(&x.device()) {
        return None;
    }
    let [batch, channels, height, width] = x.dims();
    let g = pool::PoolGeometry::new(height, width, spec, fill);
    let [out_h, out_w] = g.out_dims()?;
    let input = flex::host(x.clone())?;
    let shape = [batch, channels, out_h, out_w];
    let mut output = buffers::take(shape.iter().product());
    pool::maxpool(flex::slice(&input), &g, &mut output);
    Some(flex::tensor(output, shape))
}

/// Nearest upsampling by `stride` through the host kernel, or `None` off the Flex backend.
pub(crate) fn upsample(x: &Tensor<4>, stride: usize) -> Option<Tensor<4>> {
    if !flex::is_flex(&x.device()) {
        return None;
    }
    let [batch, channels, height, width] = x.dims();
    let input = flex::host(x.clone())?;
    let shape = [batch, channels, height.checked_mul(stride)?, width.checked_mul(stride)?];
    let mut output = buffers::take(shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?);
    upsample::upsample(flex::slice(&input), height, width, stride, &mut output);
    Some(flex::tensor(output, shape))
}

#[cfg(test)]
mod tests;
