//! Class names: COCO's 80 built in, or a names file (one per line).

use std::path::Path;

use crate::error::{Error, Result};

/// COCO's 80 class names in darknet's order (`coco.names`).
pub const COCO: &str = include_str!("../../../weights/coco.names");

/// Class names for a model with `classes` classes: `path` when given, else COCO's names for
/// an 80-class model and `class<N>` otherwise.
pub fn load(path: Option<&Path>, classes: usize) -> Result<Vec<String>> {
    let names: Vec<String> = match path {
        Some(path) => {
            let text = yolo_import::read_text(path, "names file")?;
            parse(&text)
        }
        None if classes == 80 => parse(COCO),
        None => return Ok((0..classes).map(|i| format!("class{i}")).collect()),
    };
    if names.len() != classes {
        let from = path.map_or("the built-in COCO names".to_string(), |p| p.display().to_string());
        return Err(Error::Names { from, found: names.len(), classes });
    }
    Ok(names)
}

/// One name per non-empty line, trimmed (a trailing `\r` or BOM included).
pub fn parse(text: &str) -> Vec<String> {
    text.trim_start_matches('\u{feff}').lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Resolves a class given by id (`16`) or by name (`dog`, case-insensitive) to its id.
pub fn resolve(spec: &str, names: &[String]) -> Result<usize> {
    let spec = spec.trim();
    let unknown = || Error::UnknownClass { name: spec.to_string(), classes: names.len() };
    if let Ok(id) = spec.parse::<usize>() {
        return if id < names.len() { Ok(id) } else { Err(unknown()) };
    }
    names.iter().position(|n| n.eq_ignore_ascii_case(spec)).ok_or_else(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_has_80_names() {
        let names = load(None, 80).expect("built in");
        assert_eq!(names[16], "dog");
        assert_eq!(names.len(), 80);
    }

    #[test]
    fn classes_resolve_by_id_or_name() {
        let names = load(None, 80).expect("built in");
        assert_eq!(resolve("16", &names).ok(), Some(16));
        assert_eq!(resolve("Dog", &names).ok(), Some(16));
        assert!(matches!(resolve("80", &names), Err(Error::UnknownClass { .. })));
        assert!(matches!(resolve("unicorn", &names), Err(Error::UnknownClass { .. })));
    }

    #[test]
    fn names_files_may_have_crlf_and_bom() {
        assert_eq!(parse("\u{feff}a\r\nb\r\n\r\n"), vec!["a", "b"]);
    }
}
