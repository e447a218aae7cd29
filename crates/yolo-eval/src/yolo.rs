//! YOLO/darknet datasets -> [`Dataset`]: `images/` beside `labels/`, one `class cx cy w h` line
//! per object (normalised to the image), an image without a label file has no objects; class
//! names from a `data.yaml` (`path`, `val`, `names` as a list or an index mapping) or given.
//!
//! Labels map to images as ultralytics maps them: the last `images` folder of the path becomes
//! `labels` and the extension `.txt`. Polygon lines (`class x1 y1 x2 y2 ...`, segmentation
//! labels) count as their bounding box, as ultralytics' detection datasets read them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::dataset::{Annotation, Category, Dataset, ImageInfo};
use crate::error::EvalError;

/// Image extensions a YOLO image folder is searched for.
const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

#[derive(Deserialize)]
struct DataYaml {
    path: Option<String>,
    val: Option<OneOrMany>,
    names: Option<Names>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    Map(BTreeMap<usize, String>),
}

/// A YOLO dataset's images and class names, before labels are read.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub images: Vec<PathBuf>,
    /// From `data.yaml`, or `None` for a bare folder (the caller supplies them).
    pub names: Option<Vec<String>>,
    pub source: String,
}

/// Reads `data.yaml` (its `val` split) or a folder holding `images/` and `labels/`.
pub fn layout(data: &Path) -> Result<Layout, EvalError> {
    if data.is_dir() {
        let images_dir = if data.join("images").is_dir() { data.join("images") } else { data.to_path_buf() };
        return Ok(Layout { images: list_images(&images_dir)?, names: None, source: data.display().to_string() });
    }
    let text = std::fs::read_to_string(data).map_err(|e| EvalError::io(data, e))?;
    let yaml: DataYaml =
        serde_yaml_ng::from_str(&text).map_err(|source| EvalError::Yaml { path: data.to_path_buf(), source })?;
    let source = data.display().to_string();
    let folder = data.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = match &yaml.path {
        Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
        Some(p) => folder.join(p),
        None => folder,
    };
    let splits = match yaml.val {
        Some(OneOrMany::One(v)) => vec![v],
        Some(OneOrMany::Many(v)) => v,
        None => return Err(EvalError::invalid(source, "no `val` split: nothing to evaluate")),
    };
    let mut images = Vec::new();
    for split in splits {
        let at = root.join(&split);
        if at.is_dir() {
            images.extend(list_images(&at)?);
        } else if at.extension().is_some_and(|e| e == "txt") {
            let list = std::fs::read_to_string(&at).map_err(|e| EvalError::io(&at, e))?;
            for line in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
                images.push(root.join(line.trim_start_matches("./")));
            }
        } else {
            return Err(EvalError::invalid(
                source,
                format!("`val: {split}` is neither a folder nor a .txt list under {}", root.display()),
            ));
        }
    }
    let names = match yaml.names {
        Some(Names::List(list)) => Some(list),
        Some(Names::Map(map)) => {
            let names: Vec<String> = map.values().cloned().collect();
            if map.keys().copied().ne(0..map.len()) {
                return Err(EvalError::invalid(source, "`names` must map 0, 1, 2, ... without gaps"));
            }
            Some(names)
        }
        None => None,
    };
    Ok(Layout { images, names, source })
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| EvalError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    if found.is_empty() {
        return Err(EvalError::invalid(dir.display().to_string(), "holds no .jpg, .jpeg or .png images"));
    }
    found.sort();
    Ok(found)
}

/// The label file of an image: its last `images` folder becomes `labels`, the extension `.txt`.
pub fn label_path(image: &Path) -> PathBuf {
    let components: Vec<Component<'_>> = image.components().collect();
    let last_images = components.iter().rposition(|c| c.as_os_str() == "images");
    let mut path: PathBuf = components
        .iter()
        .enumerate()
        .map(|(i, c)| if Some(i) == last_images { Component::Normal(std::ffi::OsStr::new("labels")) } else { *c })
        .collect();
    path.set_extension("txt");
    path
}

/// Reads an image's width and height (from its header), or says why it cannot.
pub type ImageSize<'a> = &'a dyn Fn(&Path) -> Result<(u32, u32), String>;

/// Reads every image's labels into a [`Dataset`]: image ids 1, 2, ... in list order, category
/// ids the class indices, areas the box areas, no crowd regions. `size` gives an image's width
/// and height (from its header).
pub fn load(layout: &Layout, names: &[String], size: ImageSize<'_>) -> Result<Dataset, EvalError> {
    let mut images = Vec::with_capacity(layout.images.len());
    let mut annotations = Vec::new();
    for (index, path) in layout.images.iter().enumerate() {
        let id = index as u64 + 1;
        let (width, height) = size(path).map_err(|message| EvalError::invalid(path.display().to_string(), message))?;
        let labels = label_path(path);
        let text = match std::fs::read_to_string(&labels) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(EvalError::io(&labels, e)),
        };
        for (n, line) in text.lines().enumerate() {
            let Some((class, [cx, cy, w, h])) = parse_line(&labels, n + 1, line, names.len())? else { continue };
            let (iw, ih) = (f64::from(width), f64::from(height));
            let bbox = [(cx - w / 2.0) * iw, (cy - h / 2.0) * ih, w * iw, h * ih];
            let area = bbox[2] * bbox[3];
            annotations.push(Annotation {
                id: annotations.len() as u64 + 1,
                image_id: id,
                category_id: class as u64,
                bbox,
                area,
                iscrowd: false,
            });
        }
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        images.push(ImageInfo { id, file_name, path: path.clone(), width, height });
    }
    let categories = names.iter().enumerate().map(|(i, n)| Category { id: i as u64, name: n.clone() }).collect();
    let dataset = Dataset { images, annotations, categories, source: layout.source.clone() };
    dataset.validate()?;
    Ok(dataset)
}

/// One label line: `class cx cy w h` (or a polygon), normalised; `None` for a blank line.
fn parse_line(path: &Path, line: usize, text: &str, classes: usize) -> Result<Option<(usize, [f64; 4])>, EvalError> {
    let fail = |message: String| EvalError::Label { path: path.to_path_buf(), line, message };
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.is_empty() {
        return Ok(None);
    }
    let polygon = fields.len() > 5 && fields.len() % 2 == 1;
    if fields.len() != 5 && !polygon {
        return Err(fail(format!("expected `class cx cy w h`, found {} value(s)", fields.len())));
    }
    let class: usize =
        fields[0].parse().map_err(|_| fail(format!("class `{}` is not a non-negative integer", fields[0])))?;
    if class >= classes {
        return Err(fail(format!("class {class} is out of range: the dataset has {classes} classes")));
    }
    let values = fields[1..]
        .iter()
        .map(|v| v.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| fail(format!("`{v}` is not a number"))))
        .collect::<Result<Vec<f64>, _>>()?;
    // Normalised coordinates; a little slack for rounding in exporters.
    if values.iter().any(|&v| !(-0.01..=1.01).contains(&v)) {
        return Err(fail("coordinates must be normalised to [0, 1]".into()));
    }
    let bbox = if polygon {
        let (xs, ys): (Vec<f64>, Vec<f64>) = values.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
        let (x1, x2) =
            (xs.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let (y1, y2) =
            (ys.iter().copied().fold(f64::INFINITY, f64::min), ys.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        [(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1]
    } else {
        [values[0], values[1], values[2], values[3]]
    };
    Ok(Some((class, bbox)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_paths_replace_the_last_images_folder() {
        assert_eq!(label_path(Path::new("/d/images/val/a.jpg")), PathBuf::from("/d/labels/val/a.txt"));
        assert_eq!(label_path(Path::new("images/x/images/b.png")), PathBuf::from("images/x/labels/b.txt"));
    }

    #[test]
    fn bad_label_lines_name_file_and_line() {
        let p = Path::new("labels/a.txt");
        let err = parse_line(p, 3, "0 0.5 0.5 0.2", 80).expect_err("4 values").to_string();
        assert_eq!(err, "labels/a.txt:3: expected `class cx cy w h`, found 4 value(s)");
        let err = parse_line(p, 1, "85 0.5 0.5 0.2 0.2", 80).expect_err("class").to_string();
        assert!(err.contains("labels/a.txt:1: class 85 is out of range"), "{err}");
        let err = parse_line(p, 2, "1 0.5 nan 0.2 0.2", 80).expect_err("nan").to_string();
        assert!(err.contains("`nan` is not a number"), "{err}");
        assert_eq!(parse_line(p, 4, "  ", 80).expect("blank"), None);
        let polygon = parse_line(p, 5, "2 0.1 0.2 0.3 0.2 0.3 0.6", 80).expect("polygon").expect("line");
        assert_eq!(polygon.0, 2);
        assert!((polygon.1[2] - 0.2).abs() < 1e-12 && (polygon.1[3] - 0.4).abs() < 1e-12);
    }
}
