//! Activation and scratch buffers recycled across layers and forward passes.
//!
//! Why: every layer's output (and each im2col/Winograd/direct scratch) used to be a fresh
//! `vec![0.0; n]` of several MiB. The allocator hands such blocks back to the OS on free, so
//! each forward pass faulted its activations in again, the kernel zeroing every page, and the
//! `calloc` zeroed the reused ones once more: on a 2-core Sapphire Rapids, `perf` put
//! `clear_page_erms` (huge-page faults) at 12% and `memset` at 7% of a yolov3-tiny forward.
//! Here a buffer goes back to a process-wide free list when its tensor is dropped (a burn
//! [`AllocationController`] that owns it) and the next layer of the same size takes it again
//! without writing it: every kernel overwrites its whole output (the unit tests poison taken
//! buffers with NaN to prove it), and scratch that must start at zero asks for it
//! ([`take_zeroed`]).
//!
//! Bounded: at most [`MAX_FREE_BYTES`] wait on the list (oldest dropped first), and a buffer is
//! reused only for a request of at least 4/5 of its size, so a small map never pins a large block.

use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use burn_std::{AccessError, AccessPolicy, AllocationController, AllocationProperty, Bytes};

/// The most bytes the free list keeps; past it the oldest buffers go back to the allocator.
/// yolov3's activations at 416 are ~240 MB per image, so batch 1-4 reuse nearly all of theirs.
pub(crate) const MAX_FREE_BYTES: usize = 1 << 30;

/// Free buffers, oldest first, and their total size in bytes.
struct FreeList {
    buffers: Vec<Vec<f32>>,
    bytes: usize,
}

impl FreeList {
    /// The smallest free buffer that holds `len` floats and is at most 5/4 of it, removed.
    fn take(&mut self, len: usize) -> Option<Vec<f32>> {
        let (i, _) = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() >= len && b.len() - b.len() / 5 <= len)
            .min_by_key(|(_, b)| b.len())?;
        let data = self.buffers.remove(i);
        self.bytes -= data.len() * size_of::<f32>();
        Some(data)
    }

    /// Keeps `data` for reuse, then drops the oldest buffers until at most `cap` bytes wait.
    fn put(&mut self, data: Vec<f32>, cap: usize) {
        let bytes = data.len() * size_of::<f32>();
        if bytes == 0 || bytes > cap {
            return;
        }
        self.bytes += bytes;
        self.buffers.push(data);
        while self.bytes > cap {
            let oldest = self.buffers.remove(0);
            self.bytes -= oldest.len() * size_of::<f32>();
        }
    }
}

static FREE: Mutex<FreeList> = Mutex::new(FreeList { buffers: Vec::new(), bytes: 0 });

fn free_list() -> std::sync::MutexGuard<'static, FreeList> {
    // A panic while the lock is held leaves the list consistent (push/remove only): go on.
    FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `len` floats of host memory, recycled when dropped. Its contents are unspecified (whatever
/// the previous user left): the caller writes every element it later reads.
#[derive(Debug)]
pub(crate) struct Buffer {
    data: Vec<f32>,
    len: usize,
}

/// A buffer of `len` floats with unspecified contents: the best-fitting free one, else new.
pub(crate) fn take(len: usize) -> Buffer {
    let reused = free_list().take(len);
    let mut buffer = Buffer { data: reused.unwrap_or_else(|| vec![0.0; len]), len };
    if cfg!(test) {
        buffer.fill(f32::NAN); // a kernel that leaves an element unwritten fails its test
    }
    buffer
}

/// A buffer of `len` zeros (scratch whose untouched part must read as zero padding).
pub(crate) fn take_zeroed(len: usize) -> Buffer {
    let mut buffer = take(len);
    buffer.fill(0.0);
    buffer
}

impl Buffer {
    /// Wraps the buffer as a Flex tensor's storage; it returns to the free list when the
    /// tensor's last view is dropped.
    #[allow(unsafe_code)]
    pub fn into_bytes(self) -> Bytes {
        let len = self.len * size_of::<f32>();
        // SAFETY: the controller exposes exactly the buffer's `len` initialised floats
        // (`Recycled::memory`), which is the byte length passed here.
        unsafe { Bytes::from_controller(Box::new(Recycled(self)), len) }
    }
}

impl Deref for Buffer {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data[..self.len]
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[..self.len]
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        free_list().put(data, MAX_FREE_BYTES);
    }
}

/// A [`Buffer`] as the storage of burn [`Bytes`]: host memory, read and written in place.
struct Recycled(Buffer);

#[allow(unsafe_code)]
impl AllocationController for Recycled {
    fn alloc_align(&self) -> usize {
        align_of::<f32>()
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Other
    }

    fn memory(&self, _policy: AccessPolicy) -> Result<&[MaybeUninit<u8>], AccessError> {
        let floats: &[f32] = &self.0;
        // SAFETY: initialised f32s viewed as (possibly uninitialised) bytes: same memory,
        // lifetime and size, and u8 has no alignment requirement.
        Ok(unsafe { std::slice::from_raw_parts(floats.as_ptr().cast(), std::mem::size_of_val(floats)) })
    }

    unsafe fn memory_mut(&mut self, _policy: AccessPolicy) -> Result<&mut [MaybeUninit<u8>], AccessError> {
        let floats: &mut [f32] = &mut self.0;
        // SAFETY: as in `memory`; the trait's caller writes only initialised bytes, and every
        // bit pattern is a valid f32.
        Ok(unsafe { std::slice::from_raw_parts_mut(floats.as_mut_ptr().cast(), std::mem::size_of_val(floats)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(sizes: &[usize]) -> FreeList {
        let mut free = FreeList { buffers: Vec::new(), bytes: 0 };
        sizes.iter().for_each(|&n| free.put(vec![0.0; n], usize::MAX));
        free
    }

    #[test]
    fn the_best_fitting_buffer_is_reused_and_small_requests_never_pin_large_ones() {
        let mut free = list(&[1000, 500, 800]);
        assert_eq!(free.take(700).map(|b| b.len()), Some(800));
        assert_eq!(free.take(700), None, "1000 is more than 5/4 of 700");
        assert_eq!(free.take(800).map(|b| b.len()), Some(1000));
        assert_eq!(free.take(400).map(|b| b.len()), Some(500));
        assert_eq!((free.buffers.len(), free.bytes), (0, 0));
    }

    #[test]
    fn the_list_stays_under_its_cap_dropping_the_oldest() {
        let mut free = list(&[]);
        for n in [100, 200, 300] {
            free.put(vec![0.0; n], 2000);
        }
        let lens: Vec<usize> = free.buffers.iter().map(Vec::len).collect();
        assert_eq!(lens, [200, 300], "100 + 200 + 300 floats is 2400 bytes: the oldest goes");
        assert_eq!(free.bytes, 2000);
        free.put(vec![0.0; 501], 2000);
        assert_eq!(free.bytes, 2000, "a buffer over the cap is not kept at all");
        free.put(vec![0.0; 100], 2000);
        let lens: Vec<usize> = free.buffers.iter().map(Vec::len).collect();
        assert_eq!((lens.as_slice(), free.bytes), ([300, 100].as_slice(), 1600));
    }

    #[test]
    fn a_dropped_tensor_gives_its_buffer_to_the_next_layer_of_that_size() {
        // A size no other test uses, so the process-wide list is not contended for it.
        let len = 3_333_331;
        let mut buffer = take(len);
        buffer.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
        let at = buffer.as_ptr();
        let tensor = super::super::flex::tensor(buffer, [1, 1, 1, len]);
        let values = tensor.clone().into_data().try_to_vec::<f32>().expect("f32 data");
        assert!(values.iter().enumerate().all(|(i, &v)| v == i as f32));
        drop(tensor);
        let again = take(len);
        assert_eq!(again.as_ptr(), at, "the same memory, not a fresh allocation");
        assert!(again.iter().all(|v| v.is_nan()), "tests poison what they take");
    }
}
