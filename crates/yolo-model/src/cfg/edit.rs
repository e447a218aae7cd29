//! Deriving a spec from another (class count, activation), and writing a spec back
//! out as darknet cfg text (stored in converted `.bpk` files so they are self-describing).

use std::fmt::Write as _;

use super::spec::{Activation, LayerSpec, NetworkSpec};

impl NetworkSpec {
    /// The same network with `classes` classes: every `[yolo]` and its head conv change.
    pub fn with_classes(&self, classes: usize) -> NetworkSpec {
        let mut spec = self.clone();
        for i in 0..spec.layers.len() {
            let LayerSpec::Yolo(yolo) = &mut spec.layers[i] else { continue };
            yolo.classes = classes;
            let filters = yolo.anchors.len() * (classes + 5);
            if let Some(LayerSpec::Conv(head)) = i.checked_sub(1).map(|h| &mut spec.layers[h]) {
                head.filters = filters;
                spec.out_channels[i - 1] = filters;
                spec.out_channels[i] = filters;
            }
        }
        spec
    }

    /// The same network with every conv using `from` switched to `to` (yolov5-style SiLU).
    pub fn with_activation(&self, from: Activation, to: Activation) -> NetworkSpec {
        let mut spec = self.clone();
        for layer in &mut spec.layers {
            if let LayerSpec::Conv(conv) = layer {
                if conv.activation == from {
                    conv.activation = to;
                }
            }
        }
        spec
    }

    /// Darknet cfg text that parses back to this spec.
    pub fn to_cfg_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "[net]\nwidth={}\nheight={}\nchannels={}", self.width, self.height, self.channels);
        for layer in &self.layers {
            out.push('\n');
            let _ = match layer {
                LayerSpec::Conv(c) => writeln!(
                    out,
                    "[convolutional]\nbatch_normalize={}\nfilters={}\nsize={}\nstride={}\npadding={}\ngroups={}\nactivation={}",
                    u8::from(c.batch_normalize),
                    c.filters,
                    c.size,
                    c.stride,
                    c.padding,
                    c.groups,
                    Activation::name(c.activation)
                ),
                LayerSpec::MaxPool(m) => {
                    writeln!(out, "[maxpool]\nsize={}\nstride={}\npadding={}", m.size, m.stride, m.padding)
                }
                LayerSpec::Shortcut { from } => writeln!(out, "[shortcut]\nfrom={from}\nactivation=linear"),
                LayerSpec::Route { layers } => {
                    let list: Vec<String> = layers.iter().map(ToString::to_string).collect();
                    writeln!(out, "[route]\nlayers={}", list.join(","))
                }
                LayerSpec::Upsample { stride } => writeln!(out, "[upsample]\nstride={stride}"),
                LayerSpec::Yolo(y) => {
                    let anchors: Vec<String> = y.anchors.iter().map(|[w, h]| format!("{w},{h}")).collect();
                    writeln!(out, "[yolo]\nclasses={}\nnum={}\nanchors={}", y.classes, y.anchors.len(), anchors.join(","))
                }
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::cfg::parse;
    use crate::config::Arch;

    #[test]
    fn cfg_text_round_trips() {
        for arch in Arch::ALL {
            let spec = arch.spec().with_classes(3);
            let again = parse("round-trip", &spec.to_cfg_text()).expect("written cfg parses");
            assert_eq!(again, spec, "{}", arch.name());
        }
    }

    #[test]
    fn classes_change_head_filters() {
        let spec = Arch::Yolov3Tiny.spec().with_classes(3);
        assert_eq!(spec.classes(), 3);
        assert_eq!(spec.out_channels[15], 24);
        assert_eq!(spec.rows_for(416, 416), 2535);
    }
}
