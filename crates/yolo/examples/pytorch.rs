//! Load a PyTorch checkpoint (DataParallel, `torch.compile`, EMA containers, fp16 and every
//! dialect the importer knows) and detect in several photos with one forward pass:
//!
//! `cargo run --release -p yolo --example pytorch -- tests/fixtures/checkpoints/<file>.pt weights/dog.jpg`
//!
//! Nothing in the checkpoint is executed: the pickle is read as data.

use yolo::{Detector, DeviceChoice};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let checkpoint = args.next().ok_or("usage: pytorch CHECKPOINT IMAGE...")?;
    let images = args.map(|p| yolo::image_io::load(p.as_ref())).collect::<Result<Vec<_>, _>>()?;
    let detector = Detector::builder().weights(&checkpoint).device(DeviceChoice::Cpu).build()?;
    println!("{:#?}", detector.info());
    for (i, detections) in detector.detect_batch(&images)?.iter().enumerate() {
        println!("image {i}: {} detection(s)", detections.len());
        for d in detections {
            println!("  {:<14} {:.3}  {:?}", d.label, d.score, d.bbox);
        }
    }
    Ok(())
}
