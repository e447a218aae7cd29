//! Darknet's INI-like `.cfg` syntax: `[section]` headers and `key=value` lines, `#`/`;` comments.
//!
//! This layer knows nothing about YOLO; it only keeps every key with the line it came from so
//! that later validation can point at the exact place in the file.

use super::error::{CfgError, CfgErrorKind};

/// One `key=value` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One `[name]` section with its entries, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

/// Splits cfg text into sections. `source` names the file in errors.
pub fn parse_sections(source: &str, text: &str) -> Result<Vec<Section>, CfgError> {
    let mut sections: Vec<Section> = Vec::new();
    // A byte-order mark (Windows editors write one) is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split(['#', ';']).next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if let Some(rest) = content.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(CfgError::new(source, line, CfgErrorKind::Syntax(raw.trim().into())));
            };
            sections.push(Section { name: name.trim().to_ascii_lowercase(), line, entries: Vec::new() });
            continue;
        }
        let Some((key, value)) = content.split_once('=') else {
            return Err(CfgError::new(source, line, CfgErrorKind::Syntax(raw.trim().into())));
        };
        let Some(section) = sections.last_mut() else {
            return Err(CfgError::new(source, line, CfgErrorKind::KeyOutsideSection(key.trim().into())));
        };
        let key = key.trim().to_ascii_lowercase();
        if let Some(previous) = section.entries.iter().find(|e| e.key == key) {
            return Err(CfgError::new(source, line, CfgErrorKind::DuplicateKey { key, first_line: previous.line }));
        }
        section.entries.push(Entry { key, value: value.trim().to_string(), line });
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_and_strips_comments() {
        let text = "# top\n[net]\nwidth = 416 # comment\n\n[convolutional]\nfilters=16\n";
        let sections = parse_sections("t.cfg", text).expect("parses");
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].entries[0], Entry { key: "width".into(), value: "416".into(), line: 3 });
        assert_eq!(sections[1].line, 5);
    }

    #[test]
    fn key_before_any_section_is_an_error() {
        let err = parse_sections("t.cfg", "width=1\n").expect_err("must fail");
        assert_eq!(err.line, 1);
        assert!(err.to_string().contains("t.cfg:1"), "{err}");
    }

    #[test]
    fn garbage_line_is_an_error() {
        let err = parse_sections("t.cfg", "[net]\nwidth 416\n").expect_err("must fail");
        assert_eq!(err.line, 2);
    }
}
