//! The spatial size of every layer's output for a given input, computed from the spec: what
//! `Yolo::check_input` uses to refuse an input (or a cfg) whose unpadded windows do not fit or
//! whose shortcuts and routes would join maps of different sizes, before burn's ops would panic.
//!
//! The cfg validation tracks strides, which cannot see a `size=3 pad=0` convolution shrinking
//! a map by two pixels; the sizes here can.

use crate::cfg::{LayerSpec, NetworkSpec};

/// `(layer, why)` for the first layer that does not fit.
pub type ShapeError = (usize, String);

/// `out = (in + padding - window) / stride + 1`, or why the window does not fit.
fn window(input: usize, padding: usize, size: usize, stride: usize) -> Result<usize, String> {
    let padded = input.checked_add(padding).ok_or("overflows")?;
    if padded < size {
        return Err(format!("has a {size}-pixel window on a {padded}-pixel (padded) map"));
    }
    Ok((padded - size) / stride + 1)
}

/// Output `[height, width]` of every layer for an `h x w` input.
pub fn map_sizes(spec: &NetworkSpec, h: usize, w: usize) -> Result<Vec<[usize; 2]>, ShapeError> {
    let mut sizes: Vec<[usize; 2]> = Vec::with_capacity(spec.layers.len());
    for (index, layer) in spec.layers.iter().enumerate() {
        let input = if index == 0 { [h, w] } else { sizes[index - 1] };
        let fail = |reason: String| (index, reason);
        let out = match layer {
            LayerSpec::Conv(c) => {
                let pad = c.padding.checked_mul(2).ok_or_else(|| fail("padding overflows".into()))?;
                [
                    window(input[0], pad, c.size, c.stride).map_err(fail)?,
                    window(input[1], pad, c.size, c.stride).map_err(fail)?,
                ]
            }
            LayerSpec::MaxPool(m) => [
                window(input[0], m.padding, m.size, m.stride).map_err(fail)?,
                window(input[1], m.padding, m.size, m.stride).map_err(fail)?,
            ],
            LayerSpec::Shortcut { from } => {
                if sizes[*from] != input {
                    return Err(fail(format!("adds layer {from}'s {:?} map to a {input:?} one", sizes[*from])));
                }
                input
            }
            LayerSpec::Route { layers } => {
                let first = sizes[layers[0]];
                if let Some(&other) = layers.iter().find(|&&l| sizes[l] != first) {
                    return Err(fail(format!(
                        "concatenates layer {}'s {first:?} map with layer {other}'s {:?}",
                        layers[0], sizes[other]
                    )));
                }
                first
            }
            LayerSpec::Upsample { stride } => {
                let scale = |v: usize| v.checked_mul(*stride).ok_or_else(|| fail("upsampled size overflows".into()));
                [scale(input[0])?, scale(input[1])?]
            }
            LayerSpec::Yolo(_) => input,
        };
        sizes.push(out);
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, YoloConfig};

    #[test]
    fn builtin_networks_fit_their_strides() {
        for arch in Arch::ALL {
            let spec = arch.spec();
            let sizes = map_sizes(&spec, 416, 320).expect("fits");
            let heads: Vec<[usize; 2]> = spec
                .layers
                .iter()
                .zip(&sizes)
                .filter(|(l, _)| matches!(l, LayerSpec::Yolo(_)))
                .map(|(_, s)| *s)
                .collect();
            assert!(heads.contains(&[13, 10]), "{arch:?}: {heads:?}");
        }
    }

    #[test]
    fn an_unpadded_conv_before_a_shortcut_is_refused() {
        let cfg = "[net]\nwidth=64\nheight=64\nchannels=3\n\
                   [convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\
                   [convolutional]\nfilters=8\nsize=3\nstride=1\npadding=0\nactivation=leaky\n\
                   [shortcut]\nfrom=-2\nactivation=linear\n\
                   [convolutional]\nfilters=18\nsize=1\nstride=1\nactivation=linear\n\
                   [yolo]\nmask=0,1,2\nanchors=10,14,23,27,37,58\nclasses=1\nnum=3\n";
        let config = YoloConfig::from_cfg("unpadded.cfg", cfg).expect("strides fit, so the cfg validates");
        let (layer, why) = map_sizes(&config.spec, 64, 64).expect_err("62x62 + 64x64");
        assert_eq!(layer, 2);
        assert!(why.contains("adds layer 0's [64, 64] map to a [62, 62] one"), "{why}");
        let device = burn::tensor::Device::flex();
        let model = crate::Yolo::new(config, &device);
        let err = model.check_input([1, 3, 64, 64]).expect_err("refused before forward");
        assert!(err.to_string().contains("layer 2"), "{err}");
    }

    #[test]
    fn a_window_larger_than_the_map_is_refused() {
        assert_eq!(window(4, 0, 5, 1), Err("has a 5-pixel window on a 4-pixel (padded) map".into()));
        assert_eq!(window(4, 1, 5, 1), Ok(1));
    }
}
