//! Reading photos: JPEG/PNG (grey, RGBA, 16-bit all become RGB float), EXIF orientation applied.

use std::path::{Path, PathBuf};

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder as _, ImageFormat, ImageReader, Limits};

use crate::error::{Error, Result};
use crate::jpeg;
use crate::preprocess::Planar;

/// Extensions `detect` picks up when walking a directory.
const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Expands files and directories (sorted, non-recursive) into image paths.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| Error::io(input, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && has_image_extension(p))
                .collect();
            if found.is_empty() {
                return Err(Error::NoImages { path: input.clone() });
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

/// The largest image accepted, per side and in pixels: a 64-megapixel photo is 192 MB decoded
/// and 768 MB as float planes, which keeps one image well under 2 GiB; a header claiming more
/// is refused before any pixel is allocated.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The largest image accepted, in pixels (see [`MAX_IMAGE_SIDE`]).
pub const MAX_IMAGE_PIXELS: u64 = 64_000_000;
/// What the decoder itself may allocate (16-bit RGBA at the pixel limit is 512 MB).
const MAX_DECODER_ALLOC: u64 = 1 << 30;

fn open(path: &Path, bytes: Vec<u8>) -> Result<ImageReader<Cursor<Vec<u8>>>> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| Error::io(path, e))?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
        return Err(Error::NotAnImage { path: path.to_path_buf() });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    Ok(reader)
}

fn check_size(path: &Path, (width, height): (u32, u32)) -> Result<(u32, u32)> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || pixels > MAX_IMAGE_PIXELS {
        return Err(Error::ImageTooLarge { path: path.to_path_buf(), width, height });
    }
    Ok((width, height))
}

/// Reads only the header: the image's size, or why it cannot be read. Cheap, so `detect` checks
/// every input before writing anything.
pub fn probe(path: &Path) -> Result<(u32, u32)> {
    let reader = ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
        return Err(Error::NotAnImage { path: path.to_path_buf() });
    }
    let dims = reader.into_dimensions().map_err(|source| Error::Image { path: path.to_path_buf(), source })?;
    check_size(path, dims)
}

/// Decodes an image, applies its EXIF orientation, and returns it as RGB.
///
/// A JPEG cut short (which the decoder would fill with grey without a word) is an error, as is
/// an image over [`MAX_IMAGE_PIXELS`].
pub fn load(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if image::guess_format(&bytes).ok() == Some(ImageFormat::Jpeg) {
        jpeg::check_complete(&bytes).map_err(|defect| Error::Truncated { path: path.to_path_buf(), defect })?;
    }
    let reader = open(path, bytes)?;
    let failed = |source| Error::Image { path: path.to_path_buf(), source };
    let mut decoder = reader.into_decoder().map_err(failed)?;
    check_size(path, decoder.dimensions())?;
    let orientation = decoder.orientation().map_err(failed)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    image.apply_orientation(orientation);
    Ok(image)
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
