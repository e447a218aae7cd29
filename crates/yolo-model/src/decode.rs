//! Box decoding of one `[yolo]` head, on the device.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Tensor, TensorData};

use crate::config::DecodeStyle;

/// What a head needs to know to turn its raw map into boxes.
#[derive(Debug, Clone, Copy)]
pub struct HeadGeometry<'a> {
    /// Network input `[height, width]` in pixels.
    pub input_hw: [usize; 2],
    /// This head's anchors `(w, h)` in input pixels.
    pub anchors: &'a [[f32; 2]],
    pub classes: usize,
}

/// Decodes a raw head map into prediction rows.
///
/// Channels are anchor-major `[tx, ty, tw, th, obj, cls_0..]`; rows come out ordered by anchor,
/// grid row, grid column (`(a * H + y) * W + x`).
///
/// # Shapes
/// `[B, A * (5 + C), H, W] -> [B, A * H * W, 5 + C]`
pub fn decode_head(map: Tensor<4>, head: &HeadGeometry<'_>, style: DecodeStyle) -> Tensor<3> {
    let [b, _, gh, gw] = map.dims();
    let a = head.anchors.len();
    let d = 5 + head.classes;
    let n = a * gh * gw;
    let device = map.device();
    let raw = map.reshape([b, a, d, gh * gw]).swap_dims(2, 3).reshape([b, n, d]);

    // Per-row constants, built once on the host: cell offsets, anchors, and strides.
    let (sx, sy) = (head.input_hw[1] as f32 / gw as f32, head.input_hw[0] as f32 / gh as f32);
    let mut grid = Vec::with_capacity(n * 2);
    let mut anchor = Vec::with_capacity(n * 2);
    for [aw, ah] in head.anchors {
        for y in 0..gh {
            for x in 0..gw {
                grid.extend_from_slice(&[x as f32, y as f32]);
                anchor.extend_from_slice(&[*aw, *ah]);
            }
        }
    }
    let grid = Tensor::<3>::from_data(TensorData::new(grid, [1, n, 2]), &device);
    let anchor = Tensor::<3>::from_data(TensorData::new(anchor, [1, n, 2]), &device);
    let stride = Tensor::<3>::from_data(TensorData::new(vec![sx, sy], [1, 1, 2]), &device);

    let txy = raw.clone().narrow(2, 0, 2);
    let twh = raw.clone().narrow(2, 2, 2);
    let scores = sigmoid(raw.narrow(2, 4, d - 4));
    let (xy, wh) = match style {
        DecodeStyle::Classic => ((sigmoid(txy) + grid) * stride, twh.exp() * anchor),
        DecodeStyle::Yolov5 => {
            let xy = (sigmoid(txy) * 2.0 - 0.5 + grid) * stride;
            let wh = (sigmoid(twh) * 2.0).powi_scalar(2) * anchor;
            (xy, wh)
        }
    };
    Tensor::cat(vec![xy, wh, scores], 2)
}
