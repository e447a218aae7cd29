//! Which algorithm computes a layer: the kernels that can ([`Pick::candidates`]), and the fixed
//! rules used when nothing was measured on this machine ([`Pick::rules`]).
//!
//! Why both: the rules are constants measured on one CPU (a 2-core Sapphire Rapids), and the
//! best kernel for a shape moves with the core count, the cache sizes and the vector width.
//! [`super::tune`] times the candidates of each layer shape where the model runs and keeps the
//! winner; the rules stay the deterministic default (tests) and break near-ties there.

use super::direct;
use super::im2col::ConvGeometry;
use super::winograd::{self, Variant};

/// Batches of maps at most this tall run Winograd stacked into one image under the rules
/// (`winograd_stacked` in conv.rs). Measured on a 2-core Sapphire Rapids, batch 8, 2 threads
/// (`bench --profile`, ms summed over the layers of a shape, per image vs stacked): tiny's
/// 512->1024 at 13 33.6 vs 29.7, 256->512 at 13 11.0 vs 9.2, 384->256 at 26 22.0 vs 19.6;
/// yolov3's 512->1024 at 13 (7 layers) 241 vs 228, 256->512 at 26 (11) 308 vs 291; but its
/// 128->256 at 52 (11) 308 vs 358 when stacked too.
const STACK_MAX_HEIGHT: usize = 32;

/// The tallest maps for which stacking is a candidate at all (the measured loss at 52 rows may
/// be a win on a CPU with a larger cache; taller maps already give wide products alone).
const STACK_TRY_HEIGHT: usize = 64;

/// The largest weight matrix (floats, 2 MiB: one core's L2) for which the rules run im2col's
/// bands in parallel with a single-threaded product each, rather than one band at a time with
/// the product split across threads. Measured on a 2-core Sapphire Rapids (ms, one layer, 2
/// threads, serial vs parallel bands): 3->16 at 416 3.2 vs 2.5; 32->64 416->208 19.3 vs 12.9
/// (gemm's own split of a 64-row product gained nothing over one thread); 64->128 11.1 vs 9.3;
/// 128->256 10.0 vs 8.3; 256->512 (1.2M floats) 7.5 vs 7.5; 512->1024 6.7 vs 8.9 (every band
/// would stream the 18 MiB of weights again).
const BAND_WEIGHTS: usize = 1 << 19;

/// One way to compute a convolution, without its data (what a kernel table stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pick {
    /// Winograd F(4x4, 3x3), one image at a time.
    WinogradF4,
    /// Winograd F(2x2, 3x3), one image at a time.
    WinogradF2,
    /// F(4x4) on the batch stacked into one tall image.
    WinogradF4Stacked,
    /// F(2x2) on the batch stacked into one tall image.
    WinogradF2Stacked,
    /// The direct register-blocked kernel ([`direct`]).
    Direct,
    /// 1x1, stride 1, no padding: one product per image.
    Pointwise,
    /// im2col in bands of rows in parallel, one single-threaded product per band.
    Im2colBands,
    /// im2col one band at a time, each product split across the threads.
    Im2col,
    /// The direct kernel with the 2x2/2 maxpool that follows fused ([`direct::conv_pooled`]):
    /// only for a layer measured or chosen together with its pool.
    DirectPooled,
}

impl Pick {
    /// Every pick, in the order a table lists them.
    pub const ALL: [Pick; 9] = [
        Pick::WinogradF4,
        Pick::WinogradF2,
        Pick::WinogradF4Stacked,
        Pick::WinogradF2Stacked,
        Pick::Direct,
        Pick::Pointwise,
        Pick::Im2colBands,
        Pick::Im2col,
        Pick::DirectPooled,
    ];

    /// The name a kernel table and `bench --profile` use.
    pub fn name(self) -> &'static str {
        match self {
            Pick::WinogradF4 => "winograd-f4",
            Pick::WinogradF2 => "winograd-f2",
            Pick::WinogradF4Stacked => "winograd-f4-stacked",
            Pick::WinogradF2Stacked => "winograd-f2-stacked",
            Pick::Direct => "direct",
            Pick::Pointwise => "pointwise",
            Pick::Im2colBands => "im2col-bands",
            Pick::Im2col => "im2col",
            Pick::DirectPooled => "direct-pooled",
        }
    }

    /// The pick named `name`.
    pub fn from_name(name: &str) -> Option<Pick> {
        Pick::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The Winograd variant this pick runs, if it is one.
    pub fn variant(self) -> Option<Variant> {
        match self {
            Pick::WinogradF4 | Pick::WinogradF4Stacked => Some(Variant::F4),
            Pick::WinogradF2 | Pick::WinogradF2Stacked => Some(Variant::F2),
            _ => None,
        }
    }

    /// Whether this pick stacks the batch into one image.
    pub fn stacked(self) -> bool {
        matches!(self, Pick::WinogradF4Stacked | Pick::WinogradF2Stacked)
    }

    /// The fixed rules, measured on a 2-core Sapphire Rapids: Winograd where
    /// [`winograd::choose`] picks a variant (stacked for batches of small maps), else the
    /// direct kernel where [`direct::applies`], else one product for 1x1, else im2col (bands in
    /// parallel for small weights).
    pub fn rules(g: &ConvGeometry, out_channels: usize, batch: usize) -> Pick {
        let stacked = batch > 1 && g.height <= STACK_MAX_HEIGHT;
        match winograd::choose(g, out_channels) {
            Some(Variant::F4) if stacked => Pick::WinogradF4Stacked,
            Some(Variant::F2) if stacked => Pick::WinogradF2Stacked,
            Some(Variant::F4) => Pick::WinogradF4,
            Some(Variant::F2) => Pick::WinogradF2,
            None if direct::applies(g, out_channels) => Pick::Direct,
            None if g.is_pointwise() => Pick::Pointwise,
            None if out_channels * g.patch_len() <= BAND_WEIGHTS => Pick::Im2colBands,
            None => Pick::Im2col,
        }
    }

    /// The rules for a layer whose output goes through a 2x2/2 maxpool that tiles it
    /// (`pooled`; the activation pools after activating, [`direct::pools_after_activation`]):
    /// the fused direct kernel where [`direct::pooled_applies`], else [`Pick::rules`] (whose
    /// kernel then runs with the pool after it).
    pub fn rules_for(g: &ConvGeometry, out_channels: usize, batch: usize, pooled: bool) -> Pick {
        if pooled && direct::pooled_applies(g, out_channels) {
            Pick::DirectPooled
        } else {
            Pick::rules(g, out_channels, batch)
        }
    }

    /// Whether any kernel but one can compute `g`: all but 1x1/1 unpadded layers, whose image
    /// already is the column matrix (one product, nothing to choose or measure).
    pub fn has_alternatives(g: &ConvGeometry) -> bool {
        !g.is_pointwise()
    }

    /// Every pick that computes `g` (followed by its 2x2/2 pool where `pooled`: any kernel
    /// then the pool, or the fused one) correctly, the rules' choice first (measured first, it
    /// sets the bar the others are cut against), then those sharing its Winograd variant, so
    /// measuring transforms each variant's weights once ([`super::cache::KernelCache`] keeps
    /// one variant).
    pub fn candidates(g: &ConvGeometry, out_channels: usize, batch: usize, pooled: bool) -> Vec<Pick> {
        if !Pick::has_alternatives(g) {
            return vec![Pick::Pointwise];
        }
        let rules = Pick::rules_for(g, out_channels, batch, pooled);
        let mut others = Vec::new();
        if winograd::supports(g) {
            let stack = batch > 1 && g.height <= STACK_TRY_HEIGHT;
            for (single, stacked) in
                [(Pick::WinogradF4, Pick::WinogradF4Stacked), (Pick::WinogradF2, Pick::WinogradF2Stacked)]
            {
                others.push(single);
                if stack {
                    others.push(stacked);
                }
            }
        }
        if direct::supports(g, out_channels) {
            others.push(Pick::Direct);
        }
        if pooled && direct::supports_pooled(g, out_channels) {
            others.push(Pick::DirectPooled);
        }
        others.extend([Pick::Im2colBands, Pick::Im2col]);
        others.retain(|&p| p != rules);
        others.sort_by_key(|p| p.variant() != rules.variant()); // stable: the rules' variant first
        let mut all = vec![rules];
        all.extend(others);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(in_channels: usize, size: usize, kernel: usize, stride: usize) -> ConvGeometry {
        ConvGeometry { in_channels, height: size, width: size, kernel, stride, padding: kernel / 2 }
    }

    #[test]
    fn candidates_start_with_the_rules_and_keep_each_winograd_variant_together() {
        for (geometry, out, batch) in
            [(g(512, 13, 3, 1), 1024, 2), (g(64, 104, 3, 1), 128, 1), (g(16, 208, 3, 1), 32, 4)]
        {
            let all = Pick::candidates(&geometry, out, batch, false);
            assert_eq!(all[0], Pick::rules(&geometry, out, batch));
            let mut seen = all.clone();
            seen.sort_by_key(|p| p.name());
            seen.dedup();
            assert_eq!(seen.len(), all.len(), "no pick twice: {all:?}");
            // The variant of each Winograd pick changes at most once along the list.
            let variants: Vec<Variant> = all.iter().filter_map(|p| p.variant()).collect();
            assert!(variants.windows(2).filter(|w| w[0] != w[1]).count() <= 1, "{all:?}");
        }
        assert_eq!(Pick::candidates(&g(256, 13, 1, 1), 512, 8, true), vec![Pick::Pointwise]);
        assert!(!Pick::has_alternatives(&g(256, 13, 1, 1)));
        // Stride 2: no Winograd; the two im2col paths at least.
        let strided = Pick::candidates(&g(64, 104, 3, 2), 128, 1, false);
        assert!(strided.iter().all(|p| p.variant().is_none()) && strided.len() >= 2, "{strided:?}");
        // The fused pool is a candidate only for a pooled layer, and only where it computes it.
        let layer = g(16, 208, 3, 1);
        assert!(!Pick::candidates(&layer, 32, 1, false).contains(&Pick::DirectPooled));
        let pooled = Pick::candidates(&layer, 32, 1, true);
        assert_eq!(pooled.contains(&Pick::DirectPooled), direct::supports_pooled(&layer, 32), "{pooled:?}");
        assert!(pooled.contains(&Pick::WinogradF4) && pooled.contains(&Pick::Im2col), "{pooled:?}");
        assert!(!Pick::candidates(&g(16, 13, 3, 1), 32, 1, true).contains(&Pick::DirectPooled), "odd maps");
    }
}
