//! COCO conventions: the 80 detection classes' category ids, and image ids from an annotation
//! file, for results in COCO's format (`pycocotools`' `loadRes`).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// COCO category ids (1..=90, with gaps) of darknet's 80 classes, in `coco.names` order: the
/// table darknet's `coco_ids` and ultralytics' `coco80_to_coco91_class` both use.
pub const CATEGORY_IDS: [u32; 80] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
    67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
];

/// The category id a class is reported under: COCO's id for an 80-class model, else the
/// class index itself.
pub fn category_id(class_id: usize, classes: usize) -> u64 {
    if classes == CATEGORY_IDS.len() {
        CATEGORY_IDS.get(class_id).map_or(class_id as u64, |&id| u64::from(id))
    } else {
        class_id as u64
    }
}

#[derive(Deserialize)]
struct AnnotationImages {
    images: Vec<ImageEntry>,
}

#[derive(Deserialize)]
struct ImageEntry {
    id: u64,
    file_name: String,
}

/// Image ids by file name, from a COCO annotation file's `images` list.
#[derive(Debug, Clone, Default)]
pub struct ImageIds {
    by_name: HashMap<String, u64>,
    source: String,
}

impl ImageIds {
    /// Reads the `images` of a COCO annotation (instances) file.
    pub fn from_annotations(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let parsed: AnnotationImages = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
        let mut by_name = HashMap::with_capacity(parsed.images.len());
        for entry in parsed.images {
            // `file_name` may carry a folder (`val2017/000000000139.jpg`): match by base name.
            let base = Path::new(&entry.file_name).file_name().map(|n| n.to_string_lossy().into_owned());
            by_name.insert(base.unwrap_or(entry.file_name), entry.id);
        }
        Ok(Self { by_name, source: path.display().to_string() })
    }

    /// The id of the image at `path` (looked up by file name).
    pub fn id_of(&self, path: &Path) -> Result<u64> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.by_name
            .get(&name)
            .copied()
            .ok_or_else(|| Error::UnknownImage { path: path.to_path_buf(), annotations: self.source.clone() })
    }
}

/// The image id COCO's own file names carry (`000000000139.jpg` -> 139), as ultralytics
/// assigns them; `None` for other names.
pub fn id_from_file_name(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    let digits = stem.rsplit('_').next()?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_ids_follow_coco() {
        assert_eq!(category_id(0, 80), 1);
        assert_eq!(category_id(16, 80), 18); // dog
        assert_eq!(category_id(79, 80), 90);
        assert_eq!(category_id(2, 3), 2);
    }

    #[test]
    fn numeric_stems_are_ids() {
        assert_eq!(id_from_file_name(Path::new("val2017/000000000139.jpg")), Some(139));
        assert_eq!(id_from_file_name(Path::new("COCO_val2014_000000000042.jpg")), Some(42));
        assert_eq!(id_from_file_name(Path::new("dog.jpg")), None);
    }
}
