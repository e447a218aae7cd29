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
///
/// 8-bit images are divided by 255 exactly as darknet does (`image`'s own float conversion is
/// one ulp off for some values); deeper images keep their precision.
pub fn to_planar(image: &DynamicImage) -> Planar {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let plane = width * height;
    let mut data = vec![0.0f32; 3 * plane];
    let mut fill = |i: usize, px: [f32; 3]| {
        for (c, v) in px.into_iter().enumerate() {
            data[c * plane + i] = v;
        }
    };
    match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => {
            for (i, px) in image.to_rgb8().pixels().enumerate() {
                fill(i, px.0.map(|v| f32::from(v) / 255.0));
            }
        }
        _ => {
            for (i, px) in image.to_rgb32f().pixels().enumerate() {
                fill(i, px.0);
            }
        }
    }
    Planar { width, height, data }
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, ImageBuffer, Luma, LumaA, Rgb, Rgba};

    use super::to_planar;

    #[test]
    fn grey_rgba_and_16_bit_become_rgb_in_unit_range() {
        let grey = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(2, 1, Luma([51u8])));
        assert_eq!(to_planar(&grey).data, vec![0.2; 6]);
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(1, 1, Rgba([255u8, 0, 51, 0])));
        assert_eq!(to_planar(&rgba).data, vec![1.0, 0.0, 0.2], "alpha is dropped, not composited");
        let deep = DynamicImage::ImageRgb16(ImageBuffer::from_pixel(1, 1, Rgb([65535u16, 0, 32768])));
        let p = to_planar(&deep).data;
        assert_eq!(p[0], 1.0);
        assert!((p[2] - 0.500_007_6).abs() < 1e-6, "16-bit precision is kept: {}", p[2]);
        let grey_alpha = DynamicImage::ImageLumaA8(ImageBuffer::from_pixel(1, 1, LumaA([255u8, 7])));
        assert_eq!(to_planar(&grey_alpha).data, vec![1.0; 3]);
    }
}
