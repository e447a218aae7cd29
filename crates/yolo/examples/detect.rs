//! Detect objects in a photo with the bundled COCO yolov3-tiny:
//!
//! `cargo run --release -p yolo --example detect -- weights/dog.jpg`

use yolo::{Detector, DeviceChoice};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os().nth(1).ok_or("usage: detect IMAGE")?;
    let detector = Detector::builder().device(DeviceChoice::Auto).conf(0.25).build()?;
    let info = detector.info();
    println!("{} on {}", info.architecture, info.device);
    for d in detector.detect_path(&path)? {
        let [x1, y1, x2, y2] = d.bbox;
        println!("{:<14} {:.3}  [{x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}]", d.label, d.score);
    }
    Ok(())
}
