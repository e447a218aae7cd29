//! Kernel-ready forms of a block's weights, computed on first use and kept while the weight
//! tensor stays the same.

use std::sync::{Arc, Mutex, PoisonError};

use burn::backend::flex::FlexTensor;
use burn::tensor::Bytes;

use super::flex::slice;
use super::winograd::{transform_weights, Variant};

/// Per-block cache of the Winograd-transformed weights (`U = G g Gᵀ`).
///
/// Keyed by the identity of the weight tensor's storage, which the cache keeps alive: a
/// block whose weights are replaced (loading, folding) misses and recomputes, never reads
/// stale values. Clones share the cache, as they share the weights.
#[derive(Clone, Default)]
pub struct KernelCache(Arc<Mutex<Option<Cached>>>);

struct Cached {
    source: Arc<Bytes>,
    dims: [usize; 2],
    variant: Variant,
    winograd: Arc<Vec<f32>>,
}

impl std::fmt::Debug for KernelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelCache")
    }
}

impl KernelCache {
    /// `U` of `variant` for `weight` (`[C_out, C_in, 3, 3]`, contiguous f32).
    pub(crate) fn winograd(
        &self,
        variant: Variant,
        weight: &FlexTensor,
        out_channels: usize,
        in_channels: usize,
    ) -> Arc<Vec<f32>> {
        let source = weight.data_arc();
        let dims = [out_channels, in_channels];
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) =
            cached.as_ref().filter(|c| Arc::ptr_eq(&c.source, &source) && c.dims == dims && c.variant == variant)
        {
            return c.winograd.clone();
        }
        let winograd = Arc::new(transform_weights(variant, slice(weight), out_channels, in_channels));
        *cached = Some(Cached { source, dims, variant, winograd: winograd.clone() });
        winograd
    }
}
