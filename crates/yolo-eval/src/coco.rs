//! COCO instances JSON (`images`, `annotations`, `categories`) -> [`Dataset`].
//!
//! As pycocotools reads it: `iscrowd` missing means not a crowd; `area` is the segmentation
//! area the size ranges use (when missing, the box area is used, where pycocotools would stop
//! with a `KeyError`). Images are looked up by `file_name` under the images folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dataset::{Annotation, Category, Dataset, ImageInfo};
use crate::error::EvalError;

#[derive(Deserialize)]
struct Instances {
    images: Vec<RawImage>,
    #[serde(default)]
    annotations: Vec<RawAnnotation>,
    categories: Vec<RawCategory>,
}

#[derive(Deserialize)]
struct RawImage {
    id: u64,
    file_name: String,
    #[serde(default)]
    width: u32,
    #[serde(default)]
    height: u32,
}

#[derive(Deserialize)]
struct RawAnnotation {
    id: u64,
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
    area: Option<f64>,
    #[serde(default)]
    iscrowd: u8,
}

#[derive(Deserialize)]
struct RawCategory {
    id: u64,
    name: String,
}

/// Reads a COCO instances file; images are found under `images` (default: the JSON's folder,
/// then its `images/` subfolder).
pub fn load(path: &Path, images: Option<&Path>) -> Result<Dataset, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse(path, &text, images)
}

/// Parses the text of a COCO instances file read from `path`.
pub fn parse(path: &Path, text: &str, images: Option<&Path>) -> Result<Dataset, EvalError> {
    let raw: Instances =
        serde_json::from_str(text).map_err(|source| EvalError::Json { path: path.to_path_buf(), source })?;
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let roots: Vec<PathBuf> = match images {
        Some(dir) => vec![dir.to_path_buf()],
        None => vec![folder.clone(), folder.join("images")],
    };
    let source = path.display().to_string();
    let images = raw
        .images
        .into_iter()
        .map(|i| {
            let path = locate(&roots, &i.file_name).ok_or_else(|| {
                let searched: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
                EvalError::invalid(
                    source.clone(),
                    format!("image {} (id {}) not found under {}", i.file_name, i.id, searched.join(" or ")),
                )
            })?;
            Ok(ImageInfo { id: i.id, file_name: i.file_name, path, width: i.width, height: i.height })
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    let annotations = raw
        .annotations
        .into_iter()
        .map(|a| Annotation {
            id: a.id,
            image_id: a.image_id,
            category_id: a.category_id,
            bbox: a.bbox,
            area: a.area.unwrap_or(a.bbox[2] * a.bbox[3]),
            iscrowd: a.iscrowd != 0,
        })
        .collect();
    let categories = raw.categories.into_iter().map(|c| Category { id: c.id, name: c.name }).collect();
    let dataset = Dataset { images, annotations, categories, source };
    dataset.validate()?;
    Ok(dataset)
}

/// `file_name` under the first root that has it (as given, then by its base name).
fn locate(roots: &[PathBuf], file_name: &str) -> Option<PathBuf> {
    let base = Path::new(file_name).file_name().map(PathBuf::from);
    roots
        .iter()
        .flat_map(|r| [Some(r.join(file_name)), base.as_ref().map(|b| r.join(b))])
        .flatten()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, json: &str) -> PathBuf {
        std::fs::create_dir_all(dir.join("images")).expect("dir");
        std::fs::write(dir.join("images/a.jpg"), b"x").expect("image");
        let path = dir.join("instances.json");
        std::fs::write(&path, json).expect("json");
        path
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("yolo-eval-coco-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn reads_images_from_the_images_subfolder() {
        let path = write(
            &temp("ok"),
            r#"{"images":[{"id":7,"file_name":"a.jpg","width":10,"height":10}],
                "annotations":[{"id":1,"image_id":7,"category_id":18,"bbox":[1,2,3,4]}],
                "categories":[{"id":18,"name":"dog"}]}"#,
        );
        let d = load(&path, None).expect("loads");
        assert!(d.images[0].path.ends_with("images/a.jpg"));
        assert_eq!(d.annotations[0].area, 12.0);
        assert!(!d.annotations[0].iscrowd);
    }

    #[test]
    fn unknown_images_and_categories_are_named() {
        let bad_image = r#"{"images":[{"id":7,"file_name":"a.jpg"}],
            "annotations":[{"id":3,"image_id":8,"category_id":18,"bbox":[1,2,3,4],"area":1}],
            "categories":[{"id":18,"name":"dog"}]}"#;
        let err = load(&write(&temp("img"), bad_image), None).expect_err("unknown image").to_string();
        assert!(err.contains("instances.json") && err.contains("annotation 3 names image 8"), "{err}");
        let bad_cat =
            bad_image.replace("\"image_id\":8", "\"image_id\":7").replace("\"category_id\":18,", "\"category_id\":5,");
        let err = load(&write(&temp("cat"), &bad_cat), None).expect_err("unknown category").to_string();
        assert!(err.contains("annotation 3 names category 5"), "{err}");
        let missing = bad_image.replace("a.jpg", "missing.jpg");
        let err = load(&write(&temp("missing"), &missing), None).expect_err("missing image").to_string();
        assert!(err.contains("missing.jpg (id 7) not found"), "{err}");
    }
}
