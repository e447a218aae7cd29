use super::*;
use crate::config::Arch;

#[test]
fn builtin_cfgs_parse_with_known_shapes() {
    let v3 = Arch::Yolov3.spec();
    assert_eq!(v3.layers.len(), 107);
    assert_eq!(v3.heads().map(|(i, _)| i).collect::<Vec<_>>(), vec![82, 94, 106]);
    assert_eq!(v3.rows_for(416, 416), 10647);
    assert_eq!(v3.max_stride, 32);

    let spp = Arch::Yolov3Spp.spec();
    assert_eq!(spp.heads().map(|(i, _)| i).collect::<Vec<_>>(), vec![89, 101, 113]);
    assert_eq!(spp.rows_for(416, 416), 10647);

    let tiny = Arch::Yolov3Tiny.spec();
    assert_eq!(tiny.layers.len(), 24);
    assert_eq!(tiny.rows_for(416, 416), 2535);
    assert_eq!(tiny.classes(), 80);
    assert_eq!(
        tiny.heads().next().map(|(_, y)| y.anchors.clone()),
        Some(vec![[81.0, 82.0], [135.0, 169.0], [344.0, 319.0]])
    );
    assert_eq!(tiny.layers[11], LayerSpec::MaxPool(MaxPoolSpec { size: 2, stride: 1, padding: 1 }));
}

fn tiny_with(from: &str, to: &str) -> String {
    let text = Arch::Yolov3Tiny.cfg_text();
    assert!(text.contains(from), "fixture edit `{from}` must apply");
    text.replacen(from, to, 1)
}

fn err_of(text: &str) -> CfgError {
    parse("my.cfg", text).expect_err("cfg must be refused")
}

#[test]
fn head_filters_must_match_classes() {
    let err = err_of(&tiny_with("classes=80", "classes=3"));
    assert!(matches!(err.kind, CfgErrorKind::HeadFilters { layer: 15, filters: 255, expected: 24 }), "{err}");
    assert!(err.to_string().starts_with("my.cfg:"), "{err}");
}

#[test]
fn unsupported_section_and_key_name_their_line() {
    let err = err_of(&tiny_with("[upsample]", "[reorg]"));
    assert!(matches!(err.kind, CfgErrorKind::UnsupportedSection(ref s) if s == "reorg"), "{err}");
    let line = Arch::Yolov3Tiny.cfg_text().lines().position(|l| l.starts_with("[upsample]")).map(|p| p + 1);
    assert_eq!(Some(err.line), line);

    let err = err_of(&tiny_with("[upsample]\n", "[upsample]\nfoo=1\n"));
    assert!(matches!(err.kind, CfgErrorKind::UnsupportedKey { .. }), "{err}");
}

#[test]
fn references_must_point_backwards() {
    let err = err_of(&tiny_with("layers = -1, 8", "layers = -1, 30"));
    assert!(matches!(err.kind, CfgErrorKind::BadReference { layer: 20, target: 30 }), "{err}");
}

#[test]
fn route_of_different_sizes_is_refused() {
    let err = err_of(&tiny_with("layers = -1, 8", "layers = -1, 6"));
    assert!(matches!(err.kind, CfgErrorKind::RouteSizes { .. }), "{err}");
}

#[test]
fn bad_values_are_refused() {
    let err = err_of(&tiny_with("filters=16", "filters=sixteen"));
    assert!(matches!(err.kind, CfgErrorKind::BadValue { .. }), "{err}");
    let err = err_of(&tiny_with("activation=leaky", "activation=gelu"));
    assert!(matches!(err.kind, CfgErrorKind::Unsupported { .. }), "{err}");
    let err = err_of(&tiny_with("mask = 3,4,5", "mask = 3,4,9"));
    assert!(matches!(err.kind, CfgErrorKind::MaskOutOfRange { index: 9, .. }), "{err}");
}

#[test]
fn shortcut_channels_must_match() {
    let text = "[net]\nwidth=64\nheight=64\n[convolutional]\nfilters=8\nsize=1\n[convolutional]\nfilters=4\nsize=1\n[shortcut]\nfrom=-2\n";
    let err = err_of(text);
    assert!(matches!(err.kind, CfgErrorKind::ShortcutChannels { layer: 2, expected: 4, found: 8 }), "{err}");
}

#[test]
fn a_net_without_yolo_is_refused() {
    let err = err_of("[net]\n[convolutional]\nfilters=8\nsize=1\n");
    assert_eq!(err.kind, CfgErrorKind::NoYoloLayer);
}
