//! Reading photos: JPEG/PNG (grey, RGBA, 16-bit all become RGB float), EXIF orientation applied.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use image::{DynamicImage, ImageDecoder as _, ImageReader};

use crate::preprocess::Planar;

/// Extensions `detect` picks up when walking a directory.
const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Expands files and directories (sorted, non-recursive) into image paths.
pub fn collect_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).with_context(|| format!("cannot read input {}", input.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("cannot list directory {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && has_image_extension(p))
                .collect();
            if found.is_empty() {
                bail!("directory {} holds no .jpg, .jpeg or .png files", input.display());
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads only the header: the image's size, or why it cannot be read. Cheap, so `detect` checks
/// every input before writing anything.
pub fn probe(path: &Path) -> anyhow::Result<(u32, u32)> {
    let reader = ImageReader::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?;
    if reader.format().is_none() {
        bail!("{} is not a JPEG or PNG image", path.display());
    }
    reader.into_dimensions().with_context(|| format!("cannot decode image {}", path.display()))
}

/// Decodes an image, applies its EXIF orientation, and returns it as RGB.
pub fn load(path: &Path) -> anyhow::Result<DynamicImage> {
    let decode = || -> anyhow::Result<DynamicImage> {
        let mut decoder = ImageReader::open(path)?.with_guessed_format()?.into_decoder()?;
        let orientation = decoder.orientation()?;
        let mut image = DynamicImage::from_decoder(decoder)?;
        image.apply_orientation(orientation);
        Ok(image)
    };
    decode().with_context(|| format!("cannot decode image {}", path.display()))
}

/// RGB planar floats in `[0, 1]`; alpha is dropped, grey is replicated (as darknet loads).
pub fn to_planar(image: &DynamicImage) -> Planar {
    let rgb = image.to_rgb32f();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = vec![0.0f32; 3 * width * height];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            data[c * width * height + i] = px.0[c];
        }
    }
    Planar { width, height, data }
}
