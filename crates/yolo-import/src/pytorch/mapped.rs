//! Tensor bytes straight from a memory map of the checkpoint ([`super::PytorchOptions::map_file`]).
//!
//! Why: reading a 248 MB checkpoint into fresh heap memory makes the kernel zero every page
//! before the copy lands on it. Measured on `yolov3 import` of the DataParallel yolov3 on a
//! 2-core AMD EPYC VM (`perf record`), zeroing those fresh pages (`clear_page_erms`) was half
//! the import's CPU time, and it is what varied most run to run. A mapped file's pages are the
//! page cache's own: an f32 tensor stored uncompressed in the archive (every tensor
//! `torch.save` writes) becomes burn [`Bytes`] over its slice of the map, without a copy.
//! burn copies a tensor out of the map only if something writes to it (copy-on-write).
//!
//! The catch, and why the library leaves it off by default: a mapping follows the file, so a
//! checkpoint truncated while its tensors are in use (a trainer rewriting `best.pt` in place)
//! faults with SIGBUS where a read would have returned a clean error. `yolov3 import`, which
//! holds the model for about a second, maps the file and turns that signal into an error
//! naming the file (`yolo-cli/src/sigbus.rs`); a detector that keeps the model does not map.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::store::burn_pack::Bytes;
use burn::store::pytorch_reader::Tensor as TorchTensor;
use burn_std::AllocationProperty;

/// A read-only, private map of the whole checkpoint file.
#[derive(Debug)]
pub(crate) struct MappedFile {
    bytes: bytes::Bytes,
}

/// The address range `[start, end)` of a map, for a SIGBUS guard to recognise its faults.
pub type MappedRange = (usize, usize);

/// The range of the most recent map (0, 0 before any): atomics, so a signal handler can read
/// them.
static LAST_START: AtomicUsize = AtomicUsize::new(0);
static LAST_END: AtomicUsize = AtomicUsize::new(0);

/// The address range of the most recent checkpoint map this process made, if any: a fault
/// inside it means the checkpoint shrank while its tensors were in use. Async-signal-safe.
pub fn mapped_range() -> Option<MappedRange> {
    let (start, end) = (LAST_START.load(Ordering::SeqCst), LAST_END.load(Ordering::SeqCst));
    (start < end).then_some((start, end))
}

impl MappedFile {
    /// Maps `path`, or `None` where it cannot be mapped (not a regular file, an empty file,
    /// a platform without mmap): the tensors are then read as usual.
    #[allow(unsafe_code)]
    pub fn open(path: &Path) -> Option<MappedFile> {
        let file = File::open(path).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        // SAFETY: the map is private and read-only, so nothing this process does changes it
        // and it never writes the file. Another process changing the file underneath is the
        // documented hazard of this mode (module docs): shrinking it makes later accesses
        // fault with SIGBUS, which `yolov3 import` catches; growing or rewriting it can change
        // bytes not yet read, as a read at that moment would see them.
        let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) }.ok()?;
        let mapped = MappedFile { bytes: bytes::Bytes::from_owner(map) };
        let start = mapped.bytes.as_ptr() as usize;
        LAST_END.store(0, Ordering::SeqCst);
        LAST_START.store(start, Ordering::SeqCst);
        LAST_END.store(start + mapped.bytes.len(), Ordering::SeqCst);
        Some(mapped)
    }

    /// The tensor's bytes as a view of the map, or `None` when they are not stored as they
    /// are (then [`TorchTensor::read`] copies them), lie past the end of the map, or are not
    /// aligned for f32. A stored CRC is checked, as a read checks it.
    pub fn tensor(&self, tensor: &TorchTensor) -> io::Result<Option<Bytes>> {
        let Some(stored) = tensor.stored()? else { return Ok(None) };
        let Ok(start) = usize::try_from(stored.offset) else { return Ok(None) };
        let end = start.checked_add(tensor.byte_len()).filter(|&end| end <= self.bytes.len());
        let aligned = (self.bytes.as_ptr() as usize + start).is_multiple_of(align_of::<f32>());
        let Some(end) = end.filter(|_| aligned) else { return Ok(None) };
        let slice = self.bytes.slice(start..end);
        if stored.crc32.is_some_and(|crc32| crc32fast::hash(&slice) != crc32) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("tensor '{}': its ZIP entry fails its checksum", tensor.name),
            ));
        }
        Ok(Some(Bytes::from_shared(slice, AllocationProperty::File)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use burn::store::pytorch_reader::{DType, PytorchReader};

    #[test]
    fn every_stored_f32_tensor_is_a_view_with_the_bytes_a_read_gives() {
        // Not a fallback in disguise: each f32 tensor of a torch.save zip must come from the
        // map (Some), inside its address range, and equal what the reader copies out.
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/checkpoints/dp.pt");
        let map = MappedFile::open(&path).expect("maps the fixture");
        let (start, end) = mapped_range().expect("a range is published");
        let reader = PytorchReader::new(&path).expect("reads the fixture");
        let mut viewed = 0;
        for (name, tensor) in reader.tensors() {
            if tensor.dtype() != DType::F32 {
                continue;
            }
            let view = map.tensor(tensor).expect("no error").unwrap_or_else(|| panic!("{name}: not mapped"));
            let at = view.as_ptr() as usize;
            assert!(start <= at && at + view.len() <= end, "{name}: a view of the map");
            assert_eq!(&view[..], &tensor.read().expect("reads")[..], "{name}");
            viewed += 1;
        }
        assert!(viewed > 50, "{viewed} tensors viewed");
    }

    #[test]
    fn a_missing_or_special_file_is_not_mapped() {
        assert!(MappedFile::open(Path::new("/nonexistent/checkpoint.pt")).is_none());
        assert!(MappedFile::open(Path::new("/")).is_none());
    }
}
