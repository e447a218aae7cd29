//! The bridge between burn tensors and host slices on the Flex backend (burn's `extension`
//! API): a Flex tensor is host memory, so the kernel reads inputs and weights in place and
//! hands its output back as a new Flex tensor without copies.

use burn::backend::flex::{Flex, FlexTensor, Layout};
use burn::backend::DispatchDevice;
use burn::tensor::{DType, Device, Shape, Tensor};

use super::buffers::Buffer;

/// Whether tensors on `device` are Flex tensors (host memory, f32 kernels apply).
pub(crate) fn is_flex(device: &Device) -> bool {
    matches!(device.as_dispatch(), DispatchDevice::Flex(_)) && !device.is_autodiff()
}

/// The Flex primitive of an f32 tensor, made contiguous; `None` on any other backend or dtype.
pub(crate) fn host<const D: usize>(tensor: Tensor<D>) -> Option<FlexTensor> {
    let primitive = tensor.try_into_primitive::<Flex>().ok()?;
    if primitive.dtype() != DType::F32 {
        return None;
    }
    Some(if primitive.as_slice::<f32>().is_some() { primitive } else { primitive.to_contiguous() })
}

/// The f32 elements of a primitive that [`host`] returned.
pub(crate) fn slice(tensor: &FlexTensor) -> &[f32] {
    match tensor.as_slice::<f32>() {
        Some(s) => s,
        None => unreachable!("host() returns contiguous f32 tensors only"),
    }
}

/// Wraps `values` (row-major, `shape`) as a Flex tensor; the buffer is recycled when the
/// tensor is dropped.
pub(crate) fn tensor<const D: usize>(values: Buffer, shape: [usize; D]) -> Tensor<D> {
    debug_assert_eq!(values.len(), shape.iter().product::<usize>());
    let primitive = FlexTensor::new(values.into_bytes(), Layout::contiguous(Shape::from(shape)), DType::F32);
    Tensor::from_primitive::<Flex>(primitive)
}
