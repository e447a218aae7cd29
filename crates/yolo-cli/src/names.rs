//! Class names: COCO's 80 built in, or a names file (one per line).

use std::path::Path;

use anyhow::{bail, Context as _};

const COCO: &str = include_str!("../../../weights/coco.names");

/// Loads class names for a model with `classes` classes.
///
/// Without a file, COCO's names are used for 80-class models and `class<N>` otherwise.
pub fn load(path: Option<&Path>, classes: usize) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read names file {}", path.display()))?;
            parse(&text)
        }
        None if classes == 80 => parse(COCO),
        None => return Ok((0..classes).map(|i| format!("class{i}")).collect()),
    };
    if names.len() != classes {
        let from = path.map_or("the built-in COCO names".to_string(), |p| p.display().to_string());
        bail!("{from} has {} names but the model has {classes} classes", names.len());
    }
    Ok(names)
}

fn parse(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn coco_has_80_names() {
        let names = super::load(None, 80).expect("built in");
        assert_eq!(names[16], "dog");
        assert_eq!(names.len(), 80);
    }
}
