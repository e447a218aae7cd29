//! User key-rename rules: `--remap 'REGEX=REPLACEMENT'` and `--remap-file` (one rule per
//! line, `#` comments). Applied in order after prefix stripping, before dialect matching.

use regex::Regex;

use crate::error::PytorchError;

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct RemapRule {
    pub text: String,
    pattern: Regex,
    replacement: String,
}

impl RemapRule {
    /// Parses `REGEX=REPLACEMENT` (split at the last `=` not inside the regex is ambiguous, so
    /// the first `=` splits; `$1`-style groups are allowed in the replacement).
    pub fn parse(rule: &str) -> Result<RemapRule, PytorchError> {
        let bad = |reason: &str| PytorchError::Remap { rule: rule.into(), reason: reason.into() };
        let (pattern, replacement) = rule.split_once('=').ok_or_else(|| bad("expected REGEX=REPLACEMENT"))?;
        if pattern.is_empty() {
            return Err(bad("empty pattern"));
        }
        let pattern = Regex::new(pattern).map_err(|e| bad(&e.to_string()))?;
        Ok(RemapRule { text: rule.into(), pattern, replacement: replacement.into() })
    }

    /// Parses a rules file's text.
    pub fn parse_file(text: &str) -> Result<Vec<RemapRule>, PytorchError> {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(RemapRule::parse)
            .collect()
    }

    pub fn apply(&self, key: &str) -> String {
        self.pattern.replace_all(key, self.replacement.as_str()).into_owned()
    }
}

/// Applies every rule in order to every key; returns how many keys changed.
pub fn apply_all(rules: &[RemapRule], keys: &mut [String]) -> usize {
    let mut changed = 0;
    for key in keys.iter_mut() {
        let new = rules.iter().fold(key.clone(), |k, r| r.apply(&k));
        if new != *key {
            *key = new;
            changed += 1;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_renamed_layer() {
        let rule = RemapRule::parse("old_conv_=conv_").expect("valid");
        let mut keys = vec!["module_list.0.old_conv_0.weight".to_string(), "module_list.1.x".to_string()];
        assert_eq!(apply_all(&[rule], &mut keys), 1);
        assert_eq!(keys[0], "module_list.0.conv_0.weight");
    }

    #[test]
    fn groups_and_files() {
        let rules = RemapRule::parse_file("# comment\n^net\\.(\\d+)=module_list.$1 # trailing\n\n").expect("valid");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].apply("net.3.conv_3.weight"), "module_list.3.conv_3.weight");
        assert!(RemapRule::parse("no-equals").is_err());
        assert!(RemapRule::parse("(unclosed=x").is_err());
    }
}
